//! `callcore-server`: the signalling server (`serve`) and a development token maker (`token`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use callcore_live::auth::Secret;
use callcore_live::clock::TokioClock;
use callcore_live::limits::Limits;
use callcore_live::server::{Server, ServerConfig};
use callcore_live::{Architecture, GroupSpec};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// The callcore signalling server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve devices over WebSocket.
    Serve(Serve),
    /// Print a development token for a user's device.
    Token(Token),
}

/// Where the signing secret comes from: the environment or a file. There is no default.
#[derive(Args, Debug)]
struct SecretArgs {
    /// The signing secret (at least 32 bytes).
    #[arg(long, env = "CALLCORE_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// A file holding the signing secret.
    #[arg(long, env = "CALLCORE_SECRET_FILE")]
    secret_file: Option<PathBuf>,
}

impl SecretArgs {
    fn load(&self) -> Result<Secret, String> {
        match (&self.secret, &self.secret_file) {
            (Some(secret), _) => Secret::new(secret.as_bytes()).map_err(|e| e.to_string()),
            (None, Some(path)) => Secret::from_file(path).map_err(|e| e.to_string()),
            (None, None) => Err(String::from(
                "no signing secret: set CALLCORE_SECRET (32 bytes or more) or CALLCORE_SECRET_FILE",
            )),
        }
    }
}

#[derive(Args, Debug)]
struct Serve {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[command(flatten)]
    secret: SecretArgs,
    /// The admin endpoints' bearer token (without one they are off).
    #[arg(long, env = "CALLCORE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// A JSON file of groups: `[{"name": "team", "members": ["alex", "bob"]}]`.
    #[arg(long)]
    groups: Option<PathBuf>,
    /// A JSON file of limits (any subset of their names; the rest keep their defaults).
    #[arg(long)]
    limits: Option<PathBuf>,
    /// A JSON file of the call settings (`ring_timeout_ms`, `reconnect_grace_ms`, ...).
    #[arg(long)]
    config: Option<PathBuf>,
    /// `actor` (one task owns the switchboard) or `mutex` (every connection task locks it: the
    /// obvious design, kept as a baseline to compare with).
    #[arg(long, default_value = "actor", value_parser = parse_architecture)]
    architecture: Architecture,
    /// POST every push (contract version 2: a device registered for push and offline when a
    /// call rings its user) as JSON to this http:// URL; without it, pushes are logged.
    #[arg(long)]
    push_webhook: Option<String>,
}

fn parse_architecture(s: &str) -> Result<Architecture, String> {
    match s {
        "actor" => Ok(Architecture::Actor),
        "mutex" => Ok(Architecture::Mutex),
        _ => Err(String::from("expected actor or mutex")),
    }
}

#[derive(Args, Debug)]
struct Token {
    /// The user's UID.
    uid: String,
    /// The device's index.
    #[arg(long, default_value_t = 0)]
    device: u16,
    /// How long the token is valid, in seconds.
    #[arg(long, default_value_t = 86_400)]
    ttl_s: u64,
    #[command(flatten)]
    secret: SecretArgs,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Token(token) => token
            .secret
            .load()
            .and_then(|secret| secret.token(&token.uid, token.device, token.ttl_s).map_err(|e| e.to_string()))
            .map(|token| println!("{token}")),
        Command::Serve(serve) => run(serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callcore-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Serve) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let mut config = ServerConfig {
        addr: args.addr,
        limits: args.limits.as_deref().map(read_json::<Limits>).transpose()?.unwrap_or_default(),
        core: args.config.as_deref().map(read_json).transpose()?.unwrap_or_default(),
        secret: args.secret.load()?,
        admin_token: args.admin_token,
        groups: args.groups.as_deref().map(read_json::<Vec<GroupSpec>>).transpose()?.unwrap_or_default(),
        architecture: args.architecture,
        push_sender: std::sync::Arc::new(callcore_live::push::LogSender),
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        if let Some(url) = &args.push_webhook {
            let webhook = callcore_live::push::WebhookSender::start(url).map_err(|e| e.to_string())?;
            config.push_sender = std::sync::Arc::new(webhook);
        }
        let server = Server::start(config, Arc::new(TokioClock::new())).await.map_err(|e| e.to_string())?;
        wait_for_signal().await;
        tracing::info!("shutting down");
        server.shutdown();
        server.join().await.map_err(|e| e.to_string())
    })
}

/// Waits for ctrl-c or, on Unix, SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
