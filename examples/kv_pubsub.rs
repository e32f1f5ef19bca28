//! netaio's readme server (echo, a key-value store, subscribe / publish /
//! broadcast) built from the library: the same routes `framewire serve`
//! runs, in `src/bin/framewire/routes.rs`.
//!
//! Run: `cargo run --example kv_pubsub` (listens on 127.0.0.1:8888; Ctrl-C
//! stops it gracefully).

#[path = "../src/bin/framewire/routes.rs"]
mod routes;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8888").await?;
    println!("listening on {}", listener.local_addr()?);
    let server = routes::routes(framewire::server::Server::builder()).build();
    server
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
