//! A softphone in the terminal: connect as one user, call another, answer, hang up.
//!
//! ```text
//! softphone --token <token> [--server ws://127.0.0.1:8080/ws]
//! ```
//!
//! Then type `call bob`, `accept`, `reject`, `cancel`, `end`, `calls` or `quit`. Callbacks print as
//! they arrive. Once a call is accepted on this side (the caller hears `outgoing_call_accepted`, the
//! callee's accept succeeds) the softphone starts its media session, as a real app starts its audio:
//! without it the server would end the call `no_media` after its session start timeout. The
//! README's "Try it live" runs two of them, alex and bob.

#![forbid(unsafe_code)]

use callcore::{CallType, CallView, Receiver, SessionId};
use callcore_live::protocol::{Found, Name};
use callcore_live::sdk::{Options, Phone};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Lines of input the softphone reads before it stops (a bound on its loop).
const LINES_MAX: usize = 100_000;

fn usage() -> ! {
    eprintln!("usage: softphone --token <token> [--server ws://127.0.0.1:8080/ws]");
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut server, mut token) = (String::from("ws://127.0.0.1:8080/ws"), None);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--server", Some(value)) => server = value,
            ("--token", Some(value)) => token = Some(value),
            _ => usage(),
        }
    }
    let Some(token) = token else { usage() };
    let (phone, mut callbacks) = match Phone::connect(&server, &token, Options::default()).await {
        Ok(connected) => connected,
        Err(e) => {
            eprintln!("softphone: {e}");
            std::process::exit(1)
        }
    };
    println!("connected as user {} (device {}); type `help`", phone.device().user, phone.device().index);
    let mut current: Option<SessionId> = None;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    for _ in 0..LINES_MAX {
        tokio::select! {
            callback = callbacks.recv() => {
                let Some(callback) = callback else { break };
                println!("<< {} (call {}, {})", callback.kind, callback.call.session.0, callback.call.status);
                current = Some(callback.call.session);
                if callback.kind == callcore::CallbackKind::OutgoingCallAccepted {
                    start_media(&phone, callback.call.session).await;
                }
            }
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                if !command(&phone, line.trim(), &mut current).await {
                    break;
                }
            }
        }
    }
    phone.close().await;
}

/// Runs one typed command; `false` to quit.
async fn command(phone: &Phone, line: &str, current: &mut Option<SessionId>) -> bool {
    let mut words = line.split_whitespace();
    let answer = match (words.next(), words.next()) {
        (Some("quit" | "exit"), _) => return false,
        (Some("call"), Some(uid)) => match phone.lookup(Name::Uid(uid.to_owned())).await {
            Some(Found::User(id)) => phone.initiate(Receiver::User(id), CallType::Audio).await,
            _ => {
                println!("!! no user {uid} (a user exists once it has connected)");
                return true;
            }
        },
        (Some("calls"), _) => {
            for call in phone.calls().await {
                println!("   call {}: {}", call.session.0, call.status);
            }
            return true;
        }
        (Some(verb @ ("accept" | "reject" | "cancel" | "end")), _) => {
            let Some(session) = *current else {
                println!("!! no call yet");
                return true;
            };
            match verb {
                "accept" => phone.accept(session).await,
                "reject" => phone.reject(session).await,
                "cancel" => phone.cancel(session).await,
                _ => phone.end(session).await,
            }
        }
        (None, _) => return true,
        _ => {
            println!("commands: call <uid>, accept, reject, cancel, end, calls, quit");
            return true;
        }
    };
    match answer {
        Ok(CallView { session, status, .. }) => {
            *current = Some(session);
            println!("ok: call {} is {status}", session.0);
            if line.starts_with("accept") && status == callcore::Status::Accepted {
                start_media(phone, session).await;
            }
        }
        Err(e) => println!("!! {e}"),
    }
    true
}

/// Starts this side's media session of an accepted call (the vendor's `startSession`).
async fn start_media(phone: &Phone, session: SessionId) {
    match phone.start_session(session).await {
        Ok(_) => println!("ok: media session started (call {})", session.0),
        Err(e) => println!("!! media session: {e}"),
    }
}
