use super::*;

fn ask(store: &MemoryStore, t: MessageType, key: &str, value: &str) -> (MessageType, String) {
    let reply = store
        .handle(&Message::new(t, key.to_owned(), value.to_owned()))
        .unwrap();
    assert_eq!(&reply.uri()[..], key.as_bytes(), "replies carry the key");
    let content = String::from_utf8(reply.content().to_vec()).unwrap();
    (reply.message_type, content)
}

#[test]
fn messages_become_readme_replies() {
    use MessageType as T;
    let s = MemoryStore::default();
    let ok = |text: &str| (T::OK, text.to_owned());
    let not_found = (T::NOT_FOUND, "not found".to_owned());
    assert_eq!(ask(&s, T::REQUEST_URI, "k", ""), not_found);
    assert_eq!(ask(&s, T::UPDATE_URI, "k", "v"), not_found);
    assert_eq!(ask(&s, T::DELETE_URI, "k", ""), not_found);
    assert_eq!(ask(&s, T::CREATE_URI, "k", "vvv"), ok("stored"));
    assert_eq!(s.usage(), (1, 4));
    assert_eq!(
        ask(&s, T::CREATE_URI, "k", "x"),
        (T::ERROR, "cannot overwrite".to_owned())
    );
    assert_eq!(
        ask(&s, T::REQUEST_URI, "k", ""),
        (T::RESPOND_URI, "vvv".to_owned())
    );
    assert_eq!(ask(&s, T::UPDATE_URI, "k", "vvvvv"), ok("stored"));
    assert_eq!(s.usage(), (1, 6));
    assert_eq!(ask(&s, T::CREATE_URI, "kk", "ab"), ok("stored"));
    assert_eq!(s.usage(), (2, 10));
    assert_eq!(ask(&s, T::DELETE_URI, "k", ""), ok("deleted"));
    assert_eq!(s.usage(), (1, 4));
    assert!(s.handle(&Message::new(T::PUBLISH_URI, "kk", "")).is_none());
    // Clones share the map.
    assert_eq!(ask(&s.clone(), T::REQUEST_URI, "kk", "").1, "ab");
    let full = MemoryStore::new().max_keys(1);
    assert_eq!(ask(&full, T::CREATE_URI, "a", ""), ok("stored"));
    assert_eq!(
        ask(&full, T::CREATE_URI, "b", ""),
        (T::ERROR, "store full".to_owned())
    );
}

/// The same replies through the trait (what `readme_routes_with` runs),
/// and the two store-only ones.
#[tokio::test]
async fn any_store_answers_the_same() {
    use MessageType as T;
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new().max_keys(1));
    let run = |t: T, key: &'static str, value: &'static str| {
        let m = Message::new(t, key, value);
        handle(&store, &m).map(|f| async move {
            let r = f.await;
            assert_eq!(&r.uri()[..], key.as_bytes());
            (
                r.message_type,
                String::from_utf8(r.content().to_vec()).unwrap(),
            )
        })
    };
    let ok = |text: &str| (T::OK, text.to_owned());
    assert_eq!(run(T::CREATE_URI, "k", "v").unwrap().await, ok("stored"));
    assert_eq!(
        run(T::CREATE_URI, "k", "w").unwrap().await,
        (T::ERROR, "cannot overwrite".to_owned())
    );
    assert_eq!(
        run(T::CREATE_URI, "j", "w").unwrap().await,
        (T::ERROR, "store full".to_owned())
    );
    assert_eq!(
        run(T::REQUEST_URI, "k", "").unwrap().await,
        (T::RESPOND_URI, "v".to_owned())
    );
    assert_eq!(run(T::UPDATE_URI, "k", "vv").unwrap().await, ok("stored"));
    assert_eq!(
        run(T::REQUEST_URI, "k", "").unwrap().await,
        (T::RESPOND_URI, "vv".to_owned())
    );
    assert_eq!(run(T::DELETE_URI, "k", "").unwrap().await, ok("deleted"));
    assert_eq!(
        run(T::REQUEST_URI, "k", "").unwrap().await,
        (T::NOT_FOUND, "not found".to_owned())
    );
    assert!(run(T::PUBLISH_URI, "k", "").is_none());
    let error = |e: StoreError| {
        let r = reply(Bytes::from_static(b"k"), Err(e));
        (
            r.message_type,
            String::from_utf8(r.content().to_vec()).unwrap(),
        )
    };
    assert_eq!(
        error(StoreError::Unavailable("connection refused".into())),
        (T::ERROR, "store unavailable".to_owned()),
        "the cause stays in the log"
    );
    assert_eq!(
        error(StoreError::Tampered),
        (T::ERROR, "store value failed authentication".to_owned())
    );
}

#[tokio::test]
async fn the_memory_store_keeps_the_contract() {
    crate::testing::check_kv_store(&MemoryStore::new().max_keys(4).max_bytes(300), 4, 300).await;
    crate::testing::check_kv_store(&MemoryStore::new().max_keys(3).max_bytes(12), 3, 12).await;
}

#[test]
fn the_default_limits_are_large_enough_for_real_values() {
    let s = MemoryStore::default();
    let big = vec![b'x'; 2 * 1024 * 1024];
    assert!(s.create_now(b"big", &big).is_ok());
    assert_eq!(s.usage(), (1, 3 + big.len()));
    assert_eq!(STORE_MAX_BYTES, 64 * 1024 * 1024);
    assert_eq!(STORE_MAX_KEYS, 256 * 1024);
}

#[test]
fn errors_have_their_predicates_and_reply_types() {
    crate::predicates::check(
        StoreError::PREDICATES,
        &[
            (StoreError::Exists, &["is_exists"]),
            (StoreError::NotFound, &["is_not_found"]),
            (StoreError::Full, &["is_full"]),
            (StoreError::Unavailable("down".into()), &["is_unavailable"]),
            (StoreError::Tampered, &["is_tampered"]),
        ],
    );
    assert_eq!(StoreError::NotFound.reply_type(), MessageType::NOT_FOUND);
    assert_eq!(StoreError::Full.reply_type(), MessageType::ERROR);
    assert_eq!(StoreError::Tampered.reply_type(), MessageType::ERROR);
}

#[test]
fn the_log_line_has_every_cause() {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);
    let e = StoreError::Unavailable(Box::new(Outer(std::io::Error::other("inner"))));
    assert_eq!(
        ErrorChain(&e).to_string(),
        "store unavailable: outer: inner"
    );
}

/// A store that breaks one rule, for `check_kv_store` to catch.
struct Broken {
    inner: MemoryStore,
    fault: Fault,
}

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Create overwrites an existing key.
    Overwrites,
    /// Create of an existing key says "full", not "exists".
    WrongError,
    /// Keys that are not UTF-8 cannot be stored.
    TextKeysOnly,
}

impl KvStore for Broken {
    fn create(&self, key: Bytes, value: Bytes) -> BoxFuture<Result<(), StoreError>> {
        let exists = self.inner.get_now(&key).is_ok();
        match self.fault {
            Fault::Overwrites if exists => return self.inner.update(key, value),
            Fault::WrongError if exists => return Box::pin(async { Err(StoreError::Full) }),
            Fault::TextKeysOnly if std::str::from_utf8(&key).is_err() => {
                return Box::pin(async { Err(StoreError::Full) })
            }
            _ => {}
        }
        self.inner.create(key, value)
    }
    fn get(&self, key: Bytes) -> BoxFuture<Result<Bytes, StoreError>> {
        self.inner.get(key)
    }
    fn update(&self, key: Bytes, value: Bytes) -> BoxFuture<Result<(), StoreError>> {
        self.inner.update(key, value)
    }
    fn delete(&self, key: Bytes) -> BoxFuture<Result<(), StoreError>> {
        self.inner.delete(key)
    }
}

/// `check_kv_store` told 4 keys and 300 bytes, of a store that has
/// `keys` and `bytes` and `fault`.
async fn check_broken(keys: usize, bytes: usize, fault: Fault) {
    let inner = MemoryStore::new().max_keys(keys).max_bytes(bytes);
    crate::testing::check_kv_store(&Broken { inner, fault }, 4, 300).await;
}

#[tokio::test]
async fn the_contract_passes_the_store_it_wraps() {
    check_broken(4, 300, Fault::None).await;
}

#[tokio::test]
#[should_panic(expected = "create of an existing key")]
async fn the_contract_catches_a_store_that_overwrites() {
    check_broken(4, 300, Fault::Overwrites).await;
}

#[tokio::test]
#[should_panic(expected = "create of an existing key: got Err(Full)")]
async fn the_contract_catches_the_wrong_error() {
    check_broken(4, 300, Fault::WrongError).await;
}

#[tokio::test]
#[should_panic(expected = "create binary")]
async fn the_contract_catches_a_store_of_text_keys_only() {
    check_broken(4, 300, Fault::TextKeysOnly).await;
}

#[tokio::test]
#[should_panic(expected = "create past the bytes")]
async fn the_contract_catches_limits_other_than_stated() {
    check_broken(4, 301, Fault::None).await;
}

#[tokio::test]
#[should_panic(expected = "create past the keys")]
async fn the_contract_catches_keys_other_than_stated() {
    check_broken(5, 300, Fault::None).await;
}

#[test]
fn stores_print_their_usage_and_limits_not_their_secrets() {
    let s = MemoryStore::new().max_keys(3).max_bytes(10);
    s.create_now(b"k", b"vv").unwrap();
    assert_eq!(
        format!("{s:?}"),
        "MemoryStore { keys: 1, bytes: 3, max_keys: 3, max_bytes: 10 }"
    );
    #[cfg(feature = "redis")]
    {
        let r = RedisStore::new("redis://:hunter2@127.0.0.1:6379")
            .unwrap()
            .name("chat")
            .max_keys(7)
            .secret([9u8; 32])
            .unwrap();
        let shown = format!("{r:?}");
        assert!(shown.starts_with("RedisStore {"), "{shown}");
        for part in ["framewire:{chat}:", "sealed: true", "max_keys: 7", "6379"] {
            assert!(shown.contains(part), "{part} in {shown}");
        }
        assert!(!shown.contains("hunter2"), "{shown}");
        let plain = format!("{:?}", RedisStore::new("redis://127.0.0.1").unwrap());
        assert!(
            plain.contains("sealed: false") && plain.contains("framewire:{framewire}:"),
            "{plain}"
        );
    }
}
