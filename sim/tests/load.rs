//! `callsim load` against a server started in this process on 127.0.0.1:0: a short, scaled run
//! of 1,000 users with random connection drops must report zero violations.

#![cfg(feature = "live")]

use callcore_live::auth::Secret;
use callcore_live::clock::TokioClock;
use callcore_live::limits::Limits;
use callcore_live::server::{Server, ServerConfig};
use callsim::load::{run, LoadOptions};
use callsim::profile::Profile;
use std::sync::Arc;
use std::time::Duration;

/// The reconnect grace the server runs with here, ms (short, so that the run settles soon).
const GRACE_MS: u64 = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_scaled_load_of_a_thousand_users_with_drops_has_no_violation() {
    // A secret made for this run: never a constant.
    let seed = format!("{:?}-{}", std::time::SystemTime::now(), std::process::id());
    let mut bytes = seed.into_bytes();
    bytes.resize(48, b'=');
    let secret = Secret::new(bytes).expect("48 bytes");
    let admin_token = format!("admin-{}", std::process::id());
    let core = callcore::Config { reconnect_grace_ms: GRACE_MS, ..callcore::Config::default() };
    let config = ServerConfig {
        addr: "127.0.0.1:0".parse().expect("an address"),
        limits: Limits::default(),
        core,
        secret: secret.clone(),
        admin_token: Some(admin_token.clone()),
        groups: Vec::new(),
        architecture: Default::default(),
        push_sender: std::sync::Arc::new(callcore_live::push::LogSender),
    };
    let server = Server::start(config, Arc::new(TokioClock::new())).await.expect("the server starts");
    let profile = Profile { disconnects_per_device_per_hour: 2.0, config: core, ..Profile::default() };
    let options = LoadOptions {
        server: format!("ws://{}/ws", server.local_addr()),
        users: 1_000,
        duration_s: 30,
        time_scale: 0.01,
        profile,
        seed: 1,
        secret,
        admin_token,
        uid_prefix: String::from("u"),
        reconnect_grace_ms: GRACE_MS,
    };
    let report = tokio::time::timeout(Duration::from_secs(180), run(options))
        .await
        .expect("the run ends within its bound")
        .expect("the run runs");
    println!("{}", report.to_text());
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert!(report.calls_started > 1_000, "the load made calls: {}", report.calls_started);
    assert!(report.drops > 100, "connections were dropped: {}", report.drops);
    assert_eq!(report.connections_held, 1_000);
    assert_eq!(report.calls_by_status["in_progress"], 0);
    server.shutdown();
    tokio::time::timeout(Duration::from_secs(30), server.join()).await.expect("stops").expect("cleanly");
}
