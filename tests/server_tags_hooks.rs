//! Connection tags, send-to-tag, direct sends, the connection list, and the
//! join / leave hooks.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use framewire::server::{Context, Server};
use framewire::{Message, MessageType};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_tags_then_send_to_tag() {
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let (join_log, leave_log) = (events.clone(), events.clone());
    let server = Server::builder()
        // hisock-style login: uri = name, content = group.
        .on(
            (MessageType::REQUEST_URI, "login"),
            |msg: Message, ctx: Context| async move {
                let group = String::from_utf8_lossy(msg.content()).into_owned();
                ctx.add_tag(format!("group:{group}"));
                ctx.add_tag(format!("id:{}", ctx.id()));
                Message::ok("login", ctx.tags().join(","))
            },
        )
        .on(
            (MessageType::PUBLISH_URI, "group"),
            |msg: Message, ctx: Context| async move {
                let group = String::from_utf8_lossy(msg.content()).into_owned();
                let note = Message::new(MessageType::NOTIFY_URI, "group", format!("to {group}"));
                let n = ctx
                    .server()
                    .send_to_tag(&format!("group:{group}"), note)
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(Message::ok("group", n.to_string()))
            },
        )
        .on_join(move |info, _srv| join_log.lock().unwrap().push(format!("join {}", info.id)))
        .on_leave(move |info, _srv| {
            leave_log
                .lock()
                .unwrap()
                .push(format!("leave {} {}", info.id, info.tags.len()))
        })
        .build();
    let srv = start(server).await;
    let mut a = connect(srv.addr).await;
    let mut b = connect(srv.addr).await;
    let mut c = connect(srv.addr).await;
    for (conn, group) in [(&mut a, "red"), (&mut b, "red"), (&mut c, "blue")] {
        let r = call(conn, Message::new(MessageType::REQUEST_URI, "login", group)).await;
        assert!(std::str::from_utf8(r.content())
            .unwrap()
            .contains(&format!("group:{group}")));
    }
    let r = call(
        &mut c,
        Message::new(MessageType::PUBLISH_URI, "group", "red"),
    )
    .await;
    assert_eq!(r, Message::ok("group", "2"));
    for conn in [&mut a, &mut b] {
        assert_eq!(
            recv(conn).await,
            Message::new(MessageType::NOTIFY_URI, "group", "to red")
        );
    }

    // The registry lists all three with their tags; a direct send works.
    let list = srv.handle.connections();
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|i| i.tags.len() == 2));
    let b_id = list[1].id;
    srv.handle
        .send_to(b_id, Message::new(MessageType::NOTIFY_URI, "direct", ""))
        .unwrap();
    assert_eq!(&recv(&mut b).await.uri()[..], b"direct");

    // Disconnect by id; the leave hook sees its tags.
    assert!(srv.handle.disconnect(b_id));
    assert!(until_closed(&mut b).await.is_empty());
    eventually("b removed", || srv.handle.connection_count() == 2).await;
    assert!(!srv.handle.disconnect(b_id));
    drop((a, c));
    eventually("all left", || events.lock().unwrap().len() == 6).await;
    let log = events.lock().unwrap().clone();
    assert_eq!(log.iter().filter(|e| e.starts_with("join")).count(), 3);
    assert!(log.contains(&format!("leave {b_id} 2")));
    srv.stop().await;
}
