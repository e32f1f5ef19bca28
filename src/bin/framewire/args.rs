//! The command line: every subcommand and option, parsed by clap.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use framewire::{MessageType, Profile};

use crate::auth::AuthArgs;
use crate::bench;
use crate::tls::{ClientTlsArgs, ServeTlsArgs};

#[derive(Parser)]
#[command(
    name = "framewire",
    version,
    about = "Framed binary messaging, wire-compatible with netaio 0.0.9"
)]
pub struct Cli {
    /// Log lines on stderr as text or as one JSON object each.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve netaio's readme route contract: echo, an in-memory key-value
    /// store, subscribe / publish / broadcast.
    Serve {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8888")]
        addr: SocketAddr,
        #[command(flatten)]
        auth: AuthArgs,
        /// Per-user keys and permissions from this TOML file (see README);
        /// instead of one shared --secret.
        #[arg(long, conflicts_with_all = ["secret", "secret_file"])]
        users: Option<PathBuf>,
        /// Frame profile: netaio (default) or wide.
        #[arg(long, default_value = "netaio")]
        profile: Profile,
        /// Connections served at once.
        #[arg(long, default_value_t = 10_000)]
        max_connections: usize,
        /// Connections served at once from one address.
        #[arg(long, default_value_t = 256)]
        max_connections_per_address: usize,
        #[command(flatten)]
        tls: ServeTlsArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Serve Prometheus metrics at http://HOST:PORT/metrics (port 0
        /// picks one; `metrics on HOST:PORT` is printed once ready).
        #[arg(long, value_name = "HOST:PORT")]
        metrics: Option<SocketAddr>,
    },
    /// Serve the same route contract over UDP, as a netaio UDPNode: one
    /// frame per datagram, optional multicast group and peer management.
    Node(Box<crate::node::NodeArgs>),
    /// The bare baseline server `framewire bench` measures against (started
    /// by it as a child process).
    #[command(hide = true)]
    BenchBaseline {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        #[command(flatten)]
        auth: AuthArgs,
        #[command(flatten)]
        tls: ServeTlsArgs,
        /// Serve UDP echo instead (`bench --scenario node`).
        #[arg(long)]
        udp: bool,
    },
    /// Send one message (default REQUEST_URI) and print the reply's content.
    /// Exit status: 0 success, 1 error reply, 2 usage, connection or timeout.
    Request {
        #[command(flatten)]
        conn: ConnArgs,
        /// The uri.
        uri: String,
        /// Message type: a netaio name (REQUEST_URI, CREATE_URI, ...), the
        /// same without `_URI` (CREATE), or a number.
        #[arg(long = "type", default_value = "REQUEST_URI", value_parser = parse_type)]
        message_type: MessageType,
        /// Content as text; `-` reads it from stdin (bytes as they are).
        #[arg(long, conflicts_with = "content_file")]
        content: Option<String>,
        /// Content read from a file.
        #[arg(long)]
        content_file: Option<PathBuf>,
        /// Send it this many times, printing one reply per line.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Print the reply as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Publish CONTENT to TOPIC (PUBLISH_URI `pub/TOPIC`); without CONTENT
    /// (or with `-`), stdin is the content.
    Publish {
        #[command(flatten)]
        conn: ConnArgs,
        /// The topic.
        topic: String,
        /// The content (default: stdin).
        content: Option<String>,
        /// With stdin: one message per line (without its newline).
        #[arg(long)]
        lines: bool,
        /// Publish it this many times.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Seconds between publishes (with --count).
        #[arg(long, default_value_t = 0.0)]
        interval: f64,
    },
    /// Subscribe to TOPIC... and print each notification's content as it
    /// arrives.
    Subscribe {
        #[command(flatten)]
        conn: ConnArgs,
        /// The topics.
        #[arg(required = true, num_args = 1..)]
        topics: Vec<String>,
        /// Exit after this many notifications (over all topics).
        #[arg(long)]
        count: Option<u64>,
        /// Join queue group NAME on each topic: each notification goes to
        /// one member of the group (across every instance), while plain
        /// subscribers get them all.
        #[arg(long, value_name = "NAME")]
        group: Option<String>,
        /// Print each notification as one JSON object.
        #[arg(long, conflicts_with = "raw")]
        json: bool,
        /// Write each notification's content as it came: no newline added.
        #[arg(long)]
        raw: bool,
        /// Prefix each line with the time it arrived (Unix seconds).
        #[arg(long, conflicts_with = "raw")]
        timestamp: bool,
    },
    /// Print a shell completion script (`framewire completions bash >
    /// /etc/bash_completion.d/framewire`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Round-trip times to a server over framewire's keepalive ping
    /// (against a netaio server, which has no ping, over echo: it says so).
    /// Exit status 2 when the server never answers.
    Ping {
        #[command(flatten)]
        conn: ConnArgs,
        /// Pings to send.
        #[arg(long, default_value_t = 5)]
        count: u32,
        /// Seconds between pings.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
    },
    /// Load-test framewire against a bare baseline server in the same run
    /// (and optionally an external server), printing figures and ratios.
    Bench(BenchArgs),
}

/// `framewire serve` among others: one instance of several on a
/// backplane, and a netaio peer.
#[derive(Args, Clone)]
pub struct ClusterArgs {
    /// Relay publish and broadcast to the other instances through this
    /// Redis: redis://[:PASSWORD@]HOST:PORT, or rediss://... for TLS.
    /// Other local users can read command lines: with a password, prefer
    /// --backplane-url-file or FRAMEWIRE_BACKPLANE_URL. Without it the
    /// server is one process.
    #[arg(
        long,
        value_name = "URL",
        env = "FRAMEWIRE_BACKPLANE_URL",
        hide_env_values = true,
        group = "redis_url"
    )]
    pub backplane: Option<String>,
    /// Read the --backplane url from this file (surrounding whitespace
    /// ignored).
    #[arg(long, value_name = "PATH", group = "redis_url")]
    pub backplane_url_file: Option<PathBuf>,
    /// The cluster key, from this file (at least 16 bytes; one trailing
    /// newline ignored; e.g. `head -c 32 /dev/urandom`): every relayed
    /// message is authenticated with it (HMAC-SHA256) and anything on the
    /// channel without it is refused. Every instance needs the same key.
    /// The FRAMEWIRE_BACKPLANE_SECRET environment variable may hold the key
    /// instead.
    #[arg(long, value_name = "PATH", requires = "redis_url")]
    pub backplane_secret_file: Option<PathBuf>,
    /// Run the backplane without a cluster key: anyone who can PUBLISH on
    /// the Redis channel can then make this server send its clients forged
    /// messages. Only for a Redis nobody else can reach.
    #[arg(long, requires = "redis_url", conflicts_with = "backplane_secret_file")]
    pub backplane_insecure: bool,
    /// Trust the CA certificates in this PEM file (instead of the system's
    /// roots) for a rediss:// backplane.
    #[arg(long, value_name = "PATH", requires = "redis_url")]
    pub backplane_ca: Option<PathBuf>,
    /// This instance's name on the backplane (default: random).
    #[arg(long, value_name = "NAME", requires = "redis_url")]
    pub instance_id: Option<String>,
    /// The Redis pub/sub channel instances share.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "framewire",
        requires = "redis_url"
    )]
    pub backplane_channel: String,
    /// Relay through a Redis stream of about N entries
    /// (framewire:{CHANNEL}:stream) instead of pub/sub: an instance whose
    /// connection to Redis broke reads on from where it was, and what is
    /// published while Redis restarts waits and goes out after (0: pub/sub,
    /// which loses both).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        requires = "redis_url"
    )]
    pub backplane_stream: usize,
    /// Notifications kept per topic (at most 256 KiB of them; 64 MiB in
    /// all), so a framewire client that reconnects or fails over resumes
    /// its subscriptions from where it was and gets what it missed, or is
    /// told how much it lost (0: keep none). netaio clients are unaffected.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub history: usize,
    /// Manage netaio peers (netaio's manage_peers_automatically): answer
    /// ADVERTISE_PEER with PEER_DISCOVERED, forget peers on DISCONNECT.
    #[arg(long)]
    pub peers: bool,
    /// The app id peers must announce (the messages' uri).
    #[arg(long, value_name = "ID", default_value = "netaio", requires = "peers")]
    pub app_id: String,
    /// The name in this server's peer data (a packify dict {'name': NAME}).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "framewire",
        requires = "peers"
    )]
    pub peer_name: String,
}

/// `framewire bench` options.
#[derive(Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value = "all")]
    pub scenario: bench::Scenario,
    /// Payload sizes in bytes (repeat or comma-separate).
    #[arg(long = "size", value_delimiter = ',', default_values_t = [64usize, 1024])]
    pub sizes: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
    /// Connections (pipeline), or connections to hold (idle).
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Frames in flight per connection (pipeline).
    #[arg(long, default_value_t = 128)]
    pub depth: usize,
    /// Subscriber connections (fanout).
    #[arg(long, default_value_t = 100)]
    pub subscribers: usize,
    /// Sign and verify everything (every server and client), as given.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Also measure this external server (e.g. a netaio server), HOST:PORT.
    #[arg(long)]
    pub target: Option<String>,
    /// Repeat each measurement and report the median.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// One JSON object per figure.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV: a header line, then one line per figure.
    #[arg(long)]
    pub csv: bool,
    /// Run each measurement until this many messages (echo round trips,
    /// pipelined replies, fan-out publishes) instead of for --duration.
    #[arg(long, value_name = "N")]
    pub messages: Option<u64>,
    /// Run every server and client over TLS (the bench makes its own
    /// certificates); adds the handshake scenario to `all`.
    #[arg(long)]
    pub tls: bool,
    /// Fan-out also against redis-server and nats-server (both on the
    /// PATH, started as children on free loopback ports), each through its
    /// own pub/sub protocol under the same closed-loop load; the client
    /// scenario also measures redis-rs' multiplexed connection (C tasks
    /// of GET) beside a raw pipelined RESP client against redis-server.
    #[arg(long)]
    pub peers: bool,
    /// Worker threads of every server child: TOKIO_WORKER_THREADS for
    /// framewire and the baseline, GOMAXPROCS for nats-server (redis-server
    /// has one). Default: each server's own (one per core). The load
    /// generator keeps its own default.
    #[arg(long, value_name = "N")]
    pub server_threads: Option<usize>,
}

/// Where and how to connect.
#[derive(Args)]
pub struct ConnArgs {
    /// Server address, HOST:PORT, or several instances of one service as
    /// HOST:PORT,HOST:PORT (the first that answers is used).
    pub addr: String,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Seconds to wait for the connection and for each reply.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Frame profile: netaio (default) or wide.
    #[arg(long, default_value = "netaio")]
    pub profile: Profile,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    /// Manage netaio peers with this app id: advertise on connect (as
    /// {'name': 'framewire-cli'}) and say DISCONNECT when done.
    #[arg(long, value_name = "ID")]
    pub app_id: Option<String>,
}

pub fn parse_type(s: &str) -> Result<MessageType, String> {
    MessageType::from_name(s)
        .or_else(|| MessageType::from_name(&format!("{s}_URI")))
        .ok_or_else(|| format!("unknown message type {s:?}"))
}
