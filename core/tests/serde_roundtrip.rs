//! Everything that crosses a boundary round-trips through JSON unchanged: messages, call
//! objects, callbacks, configs, errors, outputs, lifecycle states.

use callcore::lifecycle::State;
use callcore::testing::harness::Harness;
use callcore::{client, switchboard, Config, ErrorCode, Receiver, Request, RequestId, ServerMsg};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let json = serde_json::to_string(value).expect("serializes");
    let back: T = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(&back, value, "{json}");
}

#[test]
fn every_output_of_a_full_call_round_trips() {
    let mut h = Harness::new(Config::default(), 20);
    let alex = h.add_connected_user(2);
    let bob = h.add_connected_user(1);
    let team = h.add_group(&[alex, bob]);
    h.run_until(100, 1_000);
    let id = h.command(
        callcore::DeviceId::new(alex, 0),
        Request::Initiate {
            to: Receiver::Group(team),
            call_type: callcore::CallType::Video,
            ring_timeout_ms: Some(9_000),
        },
    );
    h.run_until(200, 1_000);
    let s = h.answer(callcore::DeviceId::new(alex, 0), id).unwrap().unwrap().session;
    h.command(callcore::DeviceId::new(bob, 0), Request::Accept { session: s });
    h.run_until(300, 1_000);
    h.command(callcore::DeviceId::new(bob, 0), Request::End { session: s });
    h.run_until_quiet(10_000);
    assert!(!h.changes.is_empty());
    for change in &h.changes {
        round_trip(change);
    }
    for callbacks in h.callbacks.values() {
        for cb in callbacks {
            round_trip(cb);
        }
    }
    for answer in h.answers.values() {
        round_trip(&answer.result);
        round_trip(&answer.request);
    }
}

#[test]
fn messages_configs_errors_and_states_round_trip() {
    round_trip(&Config { call_waiting: true, ..Config::default() });
    for code in ErrorCode::ALL {
        round_trip(&code);
        assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{}\"", code.name()));
    }
    round_trip(&ServerMsg::Answer { id: RequestId(4), result: Err(ErrorCode::NotAllowed) });
    round_trip(&ServerMsg::Snapshot(vec![]));
    round_trip(&switchboard::Output::SetTimer {
        timer: switchboard::Timer::Grace(callcore::UserId(3)),
        at_ms: 9,
    });
    round_trip(&client::Output::CancelTimer { timer: client::Timer::Request(RequestId(2)) });
    round_trip(&State::Ringing {});
    round_trip(&callcore::lifecycle::Event::PartyLost);
    assert_eq!(serde_json::to_string(&callcore::Status::Unanswered).unwrap(), "\"unanswered\"");
}

#[test]
fn config_rejects_unknown_fields_and_fills_defaults() {
    let config: Config = serde_json::from_str(r#"{"ring_timeout_ms": 5}"#).unwrap();
    assert_eq!(config.ring_timeout_ms, 5);
    assert_eq!(config.reconnect_grace_ms, 10_000);
    assert!(serde_json::from_str::<Config>(r#"{"ring_timeout": 5}"#).is_err());
}

/// Pins the per-device and per-message sizes that bound the memory of a million-user population
/// (a change that grows them shows up here, before it shows up as a slower, bigger simulation).
#[test]
fn per_device_and_per_message_sizes_stay_small() {
    // 232: with a simulator's 24-byte link, a device in exactly 256 bytes, two whole pairs of
    // cache lines (`docs/performance.md`, "Eighth round"; it was 280).
    assert!(std::mem::size_of::<callcore::Client>() <= 232, "{}", std::mem::size_of::<callcore::Client>());
    assert!(std::mem::size_of::<callcore::CallView>() <= 80);
    assert!(std::mem::size_of::<ServerMsg>() <= 96);
}
