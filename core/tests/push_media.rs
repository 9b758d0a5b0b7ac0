//! Contract version 2 through the switchboard's API: push ringing of offline devices and the
//! media session. Every expectation is derived by hand from the contract with a one-way latency
//! of 20 ms (a request sent at T reaches the switchboard at T + 20; what it sends then reaches a
//! device at T + 40). The scenario files 319–361 cover the same rules and their races in the
//! conformance suite; these tests pin what the files cannot see: the push outputs' data, the
//! counters, the registration API and the order of the media session's error checks.

mod common;

use callcore::push::{Push, PushKind};
use callcore::{CancelReason, Config, ErrorCode, Reason, Request, Status};
use common::*;

/// alex (one device, connected) and bob (two devices: 0 connected, 1 offline and registered for
/// push from before the run, as an embedder restores registrations).
fn alex_and_pushed_bob(
    config: Config,
) -> (callcore::testing::harness::Harness, callcore::UserId, callcore::UserId) {
    let mut h = harness_with(config);
    let alex = h.add_connected_user(1);
    let bob = h.add_user(2);
    h.connect(dev(bob, 0));
    h.switchboard.set_push_registration(dev(bob, 1), true).expect("a known device");
    h.run_until(50, MAX_STEPS);
    (h, alex, bob)
}

#[test]
fn a_registered_offline_device_is_pushed_ring_at_creation_and_cancel_when_answered_elsewhere() {
    let (mut h, alex, bob) = alex_and_pushed_bob(Config::default());
    // Created at 120: bob/1 is registered and not connected, so it is pushed `ring` then (once);
    // bob/0 is connected (no push), alex is the initiator (no push).
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(200, MAX_STEPS);
    let session = session_of(&h, dev(alex, 0), id);
    assert_eq!(h.pushes, [Push { to: dev(bob, 1), session, kind: PushKind::Ring }]);
    // bob accepts on device 0 at 1000 (at the switchboard at 1020): the call stops ringing bob,
    // and bob/1, pushed and never connected since, is pushed `cancel answered_elsewhere`, the
    // reason `incoming_call_cancelled` would have carried on it.
    at(&mut h, 1000, dev(bob, 0), accept(session));
    h.run_until(1100, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Accepted);
    assert_eq!(
        h.pushes[1..],
        [Push { to: dev(bob, 1), session, kind: PushKind::Cancel(CancelReason::AnsweredElsewhere) }]
    );
    let stats = h.switchboard.stats();
    assert_eq!((stats.pushes_ring, stats.pushes_cancel), (1, 1));
    // bob/1 connecting now raises nothing for the call (its push cancel told the phone).
    h.connect(dev(bob, 1));
    h.run_until(1200, MAX_STEPS);
    assert!(names(&h, dev(bob, 1)).is_empty(), "{:?}", names(&h, dev(bob, 1)));
    assert_eq!(h.pushes.len(), 2, "no push to a device that connected");
}

#[test]
fn a_pushed_device_that_connects_while_rung_is_rung_by_its_snapshot_and_owed_no_cancel() {
    let (mut h, alex, bob) = alex_and_pushed_bob(Config::default());
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(200, MAX_STEPS);
    let session = session_of(&h, dev(alex, 0), id);
    // The woken app connects at 500 (learned at 520): the snapshot rings it (at 540).
    h.connect(dev(bob, 1));
    h.run_until(600, MAX_STEPS);
    assert_eq!(names(&h, dev(bob, 1)), ["incoming_call_received"]);
    // alex cancels at 1000 (1020): bob's devices are told by notice, and no push `cancel` goes out.
    at(&mut h, 1000, dev(alex, 0), reject(session, callcore::RejectStatus::Cancelled));
    h.run_until(1100, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Cancelled);
    assert_eq!(names(&h, dev(bob, 1)), ["incoming_call_received", "incoming_call_cancelled cancelled"]);
    assert_eq!(h.pushes.len(), 1, "only the ring: {:?}", h.pushes);
}

#[test]
fn registration_is_a_request_that_answers_ok_and_needs_a_connection() {
    let mut h = harness_with(Config::default());
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    h.run_until(50, MAX_STEPS);
    // Twice: idempotent, both ok (a success without a call object).
    let first = at(&mut h, 100, dev(bob, 0), Request::RegisterPush);
    let second = at(&mut h, 110, dev(bob, 0), Request::RegisterPush);
    h.run_until(200, MAX_STEPS);
    assert_eq!(
        (h.answer_code(dev(bob, 0), first), h.answer_code(dev(bob, 0), second)),
        (Some(Ok(())), Some(Ok(())))
    );
    assert!(h.switchboard.is_push_registered(dev(bob, 0)));
    // Offline, the client answers not_connected itself; the registration outlives the
    // connection and the reconnect grace (10 s).
    h.disconnect(dev(bob, 0));
    let offline = at(&mut h, 300, dev(bob, 0), Request::UnregisterPush);
    assert_eq!(h.answer_code(dev(bob, 0), offline), Some(Err(ErrorCode::NotConnected)));
    let id = at(&mut h, 20_000, dev(alex, 0), call_user(bob));
    h.run_until(20_100, MAX_STEPS);
    let session = session_of(&h, dev(alex, 0), id);
    assert_eq!(h.pushes, [Push { to: dev(bob, 0), session, kind: PushKind::Ring }]);
    // Unregistered (while connected), the device gets no push for the next call.
    at(&mut h, 20_200, dev(alex, 0), reject(session, callcore::RejectStatus::Cancelled));
    h.connect(dev(bob, 0));
    h.run_until(20_300, MAX_STEPS);
    let off = at(&mut h, 20_400, dev(bob, 0), Request::UnregisterPush);
    h.run_until(20_500, MAX_STEPS);
    assert_eq!(h.answer_code(dev(bob, 0), off), Some(Ok(())));
    h.disconnect(dev(bob, 0));
    let pushes_before = h.pushes.len();
    at(&mut h, 21_000, dev(alex, 0), call_user(bob));
    h.run_until(21_100, MAX_STEPS);
    assert_eq!(h.pushes.len(), pushes_before, "{:?}", &h.pushes[pushes_before..]);
}

#[test]
fn a_participant_that_does_not_start_its_session_in_time_leaves_with_no_media() {
    let config = Config { session_start_timeout_ms: Some(1_000), ..Config::default() };
    let mut h = harness_with(config);
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(200, MAX_STEPS);
    let session = session_of(&h, dev(alex, 0), id);
    // Accepted at 520: both parties' start timeouts are due at 1520.
    at(&mut h, 500, dev(bob, 0), accept(session));
    // alex starts at 600 (620): ok; again at 700 (720): not_allowed, it started already.
    let start = at(&mut h, 600, dev(alex, 0), Request::start_session(session));
    let again = at(&mut h, 700, dev(alex, 0), Request::start_session(session));
    h.run_until(1519, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), start), Ok(()));
    assert_eq!(answer_code(&h, dev(alex, 0), again), Err(ErrorCode::NotAllowed));
    assert_eq!(status(&h, session), Status::Accepted, "not due before 1520");
    // At 1520 bob, who never started, leaves with no_media: a one-to-one call ends, reason
    // no_media; bob's accepting device and alex's device get call_ended no_media at 1540.
    h.run_until(1600, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Ended);
    assert_eq!(h.switchboard.call(session).unwrap().view().reason, Some(Reason::NoMedia));
    assert_eq!(
        names(&h, dev(alex, 0)),
        ["outgoing_call_ringing", "outgoing_call_accepted", "call_ended no_media"]
    );
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received", "call_ended no_media"]);
    assert_eq!(h.switchboard.stats().session_timeouts, 1);
    // On the ended call: bob, who never started, gets invalid_state; alex, who started, gets
    // not_allowed (the rights are checked before the status).
    let late_bob = at(&mut h, 2000, dev(bob, 0), Request::start_session(session));
    let late_alex = at(&mut h, 2000, dev(alex, 0), Request::start_session(session));
    h.run_until(2100, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(bob, 0), late_bob), Err(ErrorCode::InvalidState));
    assert_eq!(answer_code(&h, dev(alex, 0), late_alex), Err(ErrorCode::NotAllowed));
}

#[test]
fn without_a_session_start_timeout_an_accepted_call_stays_accepted() {
    // Contract version 1 (and a format-1 scenario): no media session timeout.
    let mut h = harness(); // session_start_timeout_ms: None
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(200, MAX_STEPS);
    let session = session_of(&h, dev(alex, 0), id);
    at(&mut h, 500, dev(bob, 0), accept(session));
    h.run_until(600_000, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Accepted);
    assert_eq!(h.switchboard.stats().session_timeouts, 0);
}
