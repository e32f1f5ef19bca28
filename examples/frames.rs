//! Encodes a few netaio frames, prints them as hex, decodes them back from
//! one byte stream fed in small chunks, and shows what a damaged frame does.
//!
//! Run: `cargo run --release --example frames`

use bytes::BytesMut;
use framewire::{wire, AuthFields, FrameConfig, Message, MessageType, Profile};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn main() -> Result<(), framewire::Error> {
    let mut auth = AuthFields::new();
    auth.insert("nonce", [0u8; 16]);
    let messages = [
        Message::new(MessageType::REQUEST_URI, "echo", "hello"),
        Message::respond("echo", "hello"),
        Message::error("invalid message"),
        Message::new(
            MessageType::custom(42).expect("custom type"),
            "chat/room",
            "hi all",
        )
        .with_auth(auth),
    ];

    let mut stream = BytesMut::new();
    for msg in &messages {
        let start = stream.len();
        msg.encode(Profile::Netaio, &mut stream)?;
        println!(
            "{:<12} {:>3} bytes  {}",
            msg.message_type,
            stream.len() - start,
            hex(&stream[start..])
        );
    }

    // Damage the body of the third frame: its checksum no longer matches.
    let third = messages[..2]
        .iter()
        .map(|m| m.to_bytes(Profile::Netaio).map(|b| b.len()))
        .sum::<Result<usize, _>>()?;
    let last = third + messages[2].to_bytes(Profile::Netaio)?.len() - 1;
    stream[last] ^= 0x20;

    // Feed the stream 7 bytes at a time, as a socket might deliver it.
    println!();
    let cfg = FrameConfig::new(Profile::Netaio);
    let mut buf = BytesMut::new();
    for chunk in stream.chunks(7) {
        buf.extend_from_slice(chunk);
        loop {
            match wire::decode_frame(&mut buf, &cfg) {
                Ok(Some(m)) => println!(
                    "decoded {:<12} uri={:?} content={:?} auth={:?}",
                    m.message_type,
                    String::from_utf8_lossy(m.uri()),
                    String::from_utf8_lossy(m.content()),
                    m.auth
                ),
                Ok(None) => break,
                Err(e) if e.is_recoverable() => println!("skipped a damaged frame: {e}"),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
