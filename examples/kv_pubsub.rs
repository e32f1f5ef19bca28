//! netaio's readme server (echo, a key-value store, subscribe / publish /
//! broadcast) built from the library: the same routes `framewire serve`
//! runs: `framewire::server::readme_routes`.
//!
//! Run: `cargo run --example kv_pubsub` (listens on 127.0.0.1:8888; Ctrl-C
//! stops it gracefully).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8888").await?;
    println!("listening on {}", listener.local_addr()?);
    let server = framewire::server::readme_routes(framewire::server::Server::builder()).build();
    server
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
