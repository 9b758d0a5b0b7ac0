//! Disconnects, reconnect snapshots (missed callbacks raised once), late devices, call waiting,
//! and bounded memory. Latency 20 ms; timelines in the comments, derived by hand.

mod common;

use callcore::testing::harness::Harness;
use callcore::{CallbackKind, CancelReason, Config, DeviceId, RejectStatus, SessionId, Status, UserId};
use common::*;

/// alex calls bob at 100: created 120, bob rings at 140, ringing at 160, alex hears it at 180.
#[test]
fn a_device_that_missed_a_cancel_raises_it_once_on_reconnect() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(500, MAX_STEPS);
    let s = session_of(&h, dev(alex, 0), id);
    h.disconnect(dev(bob, 0));
    at(&mut h, 1000, dev(alex, 0), callcore::Request::cancel(s));
    h.run_until(2000, MAX_STEPS);
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received"], "the cancel was lost");
    h.connect(dev(bob, 0));
    // Learned at 2020, snapshot arrives at 2040.
    h.run_until(2040, MAX_STEPS);
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received", "incoming_call_cancelled cancelled"]);
    h.disconnect(dev(bob, 0));
    h.run_until(3000, MAX_STEPS);
    h.connect(dev(bob, 0));
    h.run_until(4000, MAX_STEPS);
    assert_eq!(
        names(&h, dev(bob, 0)),
        ["incoming_call_received", "incoming_call_cancelled cancelled"],
        "a second snapshot raises nothing twice"
    );
}

#[test]
fn an_initiator_that_missed_the_accept_raises_it_on_reconnect() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(500, MAX_STEPS);
    let s = session_of(&h, dev(alex, 0), id);
    h.disconnect(dev(alex, 0));
    at(&mut h, 1000, dev(bob, 0), accept(s));
    h.run_until(3000, MAX_STEPS);
    h.connect(dev(alex, 0));
    h.run_until(3040, MAX_STEPS);
    assert_eq!(status(&h, s), Status::Accepted, "within the grace the call goes on");
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_accepted"]);
}

#[test]
fn an_initiator_that_missed_accept_and_end_raises_both_in_order() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(500, MAX_STEPS);
    let s = session_of(&h, dev(alex, 0), id);
    h.disconnect(dev(alex, 0));
    at(&mut h, 1000, dev(bob, 0), accept(s));
    at(&mut h, 2000, dev(bob, 0), end(s));
    h.run_until(3000, MAX_STEPS);
    h.connect(dev(alex, 0));
    h.run_until(3040, MAX_STEPS);
    assert_eq!(
        names(&h, dev(alex, 0)),
        ["outgoing_call_ringing", "outgoing_call_accepted", "call_ended hangup"]
    );
}

#[test]
fn a_device_that_connects_while_the_call_rings_is_rung_then() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_user(2);
    h.connect(dev(bob, 0));
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(500, MAX_STEPS);
    let s = session_of(&h, dev(alex, 0), id);
    h.connect(dev(bob, 1));
    // Learned at 520, snapshot with the ring at 540.
    h.run_until(540, MAX_STEPS);
    assert_eq!(names(&h, dev(bob, 1)), ["incoming_call_received"]);
    at(&mut h, 1000, dev(bob, 1), accept(s));
    h.run_until(1100, MAX_STEPS);
    assert_eq!(status(&h, s), Status::Accepted);
    assert_eq!(
        names(&h, dev(bob, 0)),
        ["incoming_call_received", "incoming_call_cancelled answered_elsewhere"]
    );
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_accepted"], "ringing once");
}

#[test]
fn a_never_acknowledged_call_rings_the_late_device_and_its_ack_moves_it_to_ringing() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_user(1);
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(1000, MAX_STEPS);
    let s = session_of(&h, dev(alex, 0), id);
    assert_eq!(status(&h, s), Status::Initiated);
    h.connect(dev(bob, 0));
    // Learned 1020, snapshot 1040, ack 1060, alex hears ringing at 1080.
    h.run_until(1060, MAX_STEPS);
    assert_eq!(status(&h, s), Status::Ringing);
    h.run_until(1080, MAX_STEPS);
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing"]);
}

#[test]
fn convergence_after_churn() {
    let mut h = harness();
    let alex = h.add_connected_user(2);
    let bob = h.add_connected_user(2);
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(300, MAX_STEPS);
    let s = session_of(&h, dev(alex, 0), id);
    h.disconnect(dev(alex, 1));
    h.disconnect(dev(bob, 1));
    at(&mut h, 400, dev(bob, 0), accept(s));
    h.run_until(600, MAX_STEPS);
    h.connect(dev(alex, 1));
    at(&mut h, 700, dev(alex, 0), end(s));
    h.run_until(900, MAX_STEPS);
    h.connect(dev(bob, 1));
    h.run_until(2000, MAX_STEPS);
    callcore::testing::invariants::check_convergence(&h.switchboard, h.clients.values()).unwrap();
    for d in [dev(alex, 0), dev(alex, 1), dev(bob, 0), dev(bob, 1)] {
        assert_eq!(h.clients[&d].call(s).map(|v| v.status), Some(Status::Ended), "{d:?}");
    }
}

#[test]
fn call_waiting_rings_an_involved_user_and_accepting_busies_the_other_ring() {
    let mut h = harness_with(Config { call_waiting: true, ..Config::default() });
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let carol = h.add_connected_user(1);
    let first = at(&mut h, 100, dev(alex, 0), call_user(bob));
    let second = at(&mut h, 200, dev(carol, 0), call_user(bob));
    h.run_until(400, MAX_STEPS);
    let (s1, s2) = (session_of(&h, dev(alex, 0), first), session_of(&h, dev(carol, 0), second));
    assert_eq!(status(&h, s2), Status::Ringing, "call waiting: not busy");
    at(&mut h, 1000, dev(bob, 0), accept(s2));
    h.run_until(1100, MAX_STEPS);
    assert_eq!(status(&h, s2), Status::Accepted);
    assert_eq!(status(&h, s1), Status::Busy);
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_rejected busy"]);
    assert_eq!(
        names(&h, dev(bob, 0)),
        ["incoming_call_received", "incoming_call_received", "incoming_call_cancelled declined_elsewhere"]
    );
}

#[test]
fn call_waiting_never_joins_two_calls() {
    let mut h = harness_with(Config { call_waiting: true, ..Config::default() });
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let carol = h.add_connected_user(1);
    let first = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(300, MAX_STEPS);
    let s1 = session_of(&h, dev(alex, 0), first);
    at(&mut h, 300, dev(bob, 0), accept(s1));
    let second = at(&mut h, 400, dev(carol, 0), call_user(bob));
    h.run_until(600, MAX_STEPS);
    let s2 = session_of(&h, dev(carol, 0), second);
    assert_eq!(status(&h, s2), Status::Ringing, "bob, in a call, is rung by the second");
    let refused = at(&mut h, 700, dev(bob, 0), accept(s2));
    h.run_until(800, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(bob, 0), refused), Err(callcore::ErrorCode::AlreadyInCall));
    let declined = at(&mut h, 900, dev(bob, 0), reject(s2, RejectStatus::Busy));
    h.run_until(1000, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(bob, 0), declined), Ok(()));
    assert_eq!(status(&h, s2), Status::Busy);
}

/// Call waiting forbids joining two calls (invariant 1), nothing more. The initiator of a call
/// still ringing counts as joined in it (it will be in the call the moment someone accepts), so
/// its accept of a waiting call is refused; once it has left a group call that goes on, that call
/// can no longer make it join two, so its accept succeeds (docs/semantics.md).
#[test]
fn call_waiting_the_initiator_of_a_ringing_call_cannot_accept_one_who_left_can() {
    let mut h = harness_with(Config { call_waiting: true, ..Config::default() });
    let [alex, bob, carol, dave] = [0, 1, 2, 3].map(|_| h.add_connected_user(1));
    let team = h.add_group(&[alex, bob, carol]);
    // alex's group call is created at 120 and rings bob and carol; dave's call to alex (created
    // at 220) rings alex too, call waiting.
    let group = at(&mut h, 100, dev(alex, 0), initiate(callcore::Receiver::Group(team)));
    let waiting = at(&mut h, 200, dev(dave, 0), call_user(alex));
    h.run_until(400, MAX_STEPS);
    let (g, c) = (session_of(&h, dev(alex, 0), group), session_of(&h, dev(dave, 0), waiting));
    assert_eq!(status(&h, c), Status::Ringing, "call waiting: alex is rung while calling");
    let refused = at(&mut h, 500, dev(alex, 0), accept(c));
    h.run_until(600, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), refused), Err(callcore::ErrorCode::AlreadyInCall));
    assert_eq!(status(&h, c), Status::Ringing, "the refused accept changed nothing");
    // bob and carol join; alex leaves at 1000 (at the switchboard at 1020): the call goes on.
    at(&mut h, 700, dev(bob, 0), accept(g));
    at(&mut h, 800, dev(carol, 0), accept(g));
    at(&mut h, 1000, dev(alex, 0), end(g));
    h.run_until(1100, MAX_STEPS);
    assert_eq!(status(&h, g), Status::Accepted, "bob and carol go on");
    let accepted = at(&mut h, 1200, dev(alex, 0), accept(c));
    h.run_until(1300, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), accepted), Ok(()));
    assert_eq!(status(&h, c), Status::Accepted);
    assert_eq!(names(&h, dev(dave, 0)), ["outgoing_call_ringing", "outgoing_call_accepted"]);
    callcore::testing::invariants::check_involvement(&h.switchboard, alex).unwrap();
}

#[test]
fn memory_stays_bounded_under_an_endless_workload() {
    // 2000 calls, one every 100 ms, each cancelled 50 ms after it is created; with a retention
    // of 1000 ms at most ~ (1000 + 150) / 100 + 1 = 12.5 records can be alive: bound 20.
    let config = Config { call_retention_ms: 1_000, ..Config::default() };
    let mut h = harness_with(config);
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let mut peak = 0;
    for i in 0..2_000u64 {
        let t = 100 + i * 100;
        let id = at(&mut h, t, dev(alex, 0), call_user(bob));
        h.run_until(t + 40, MAX_STEPS);
        let s = session_of(&h, dev(alex, 0), id);
        at(&mut h, t + 50, dev(alex, 0), callcore::Request::cancel(s));
        peak = peak.max(h.switchboard.record_count());
    }
    h.run_until_quiet(MAX_STEPS);
    assert!(peak <= 20, "peak records {peak}");
    assert_eq!(h.switchboard.record_count(), 0, "all evicted once quiet");
    assert_eq!(h.switchboard.stats().evicted, 2_000);
    assert!(h.clients[&dev(alex, 0)].calls().count() <= callcore::CLIENT_CALLS_MAX);
}

/// Regression (found by the property test): a device's record of a call it was done with was
/// pruned a retention after the device's own terminal callback while the call itself still
/// ran; the call's later end then looked new and raised a second terminal callback.
#[test]
fn a_device_done_with_a_live_call_never_raises_for_it_again() {
    let config = Config { call_retention_ms: 15_000, ..Config::default() };
    let mut h = harness_with(config);
    let [alex, bob, carol, dave] = [0, 1, 2, 3].map(|_| h.add_connected_user(1));
    let team = h.add_group(&[alex, bob, carol]);
    let request = call_group_ringing(team, 2_000);
    // Created at 120; bob joins at 1020; the ring timeout at 2120 stops carol (not reached).
    let id = at(&mut h, 100, dev(alex, 0), request);
    h.run_until(200, MAX_STEPS);
    let s = session_of(&h, dev(alex, 0), id);
    at(&mut h, 1000, dev(bob, 0), accept(s));
    h.run_until(2200, MAX_STEPS);
    assert_eq!(status(&h, s), Status::Accepted);
    assert_eq!(names(&h, dev(carol, 0)), ["incoming_call_received", "incoming_call_cancelled unanswered"]);
    // 20 s on (past carol's retention), carol's new call makes her client tidy its view; then
    // alex leaves and the team call ends: carol's device already closed it.
    at(&mut h, 21_000, dev(carol, 0), call_user(dave));
    at(&mut h, 21_000, dev(alex, 0), end(s));
    h.run_until(21_100, MAX_STEPS);
    assert_eq!(status(&h, s), Status::Ended);
    assert_eq!(
        names(&h, dev(carol, 0)),
        ["incoming_call_received", "incoming_call_cancelled unanswered", "outgoing_call_ringing"]
    );
}

/// Regression (fuzz finding F4): the initiating device loses the answer to its initiate (it
/// disconnects at 130; the answer was due at 140), bob accepts at 500 (created 120, accepted 520),
/// alex reconnects at 1000: the snapshot (1040) carries alex's own live call, which the device
/// must raise (`outgoing_call_ringing`, then `outgoing_call_accepted`) though it never got the call object; the resent
/// initiate is answered from memory (`ok`) without a second call.
#[test]
fn an_initiator_that_lost_its_answer_hears_the_accept_from_the_snapshot() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(130, MAX_STEPS);
    h.disconnect(dev(alex, 0));
    h.run_until(400, MAX_STEPS);
    let s = h.switchboard.user_calls(alex)[0];
    at(&mut h, 500, dev(bob, 0), accept(s));
    h.run_until(1_000, MAX_STEPS);
    assert_eq!(status(&h, s), Status::Accepted);
    h.connect(dev(alex, 0));
    h.run_until(1_040, MAX_STEPS);
    // The call rang (bob's device acknowledged at 160) while alex was away: both are missed.
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_accepted"]);
    assert_eq!(answer_code(&h, dev(alex, 0), id), Ok(()));
    assert_eq!(h.switchboard.stats().created, 1);
}

/// Regression (fuzz finding F7): bob's phone rings for alex's call (ring timeout 1000 ms), goes
/// offline at 500; that call and eight more to bob end unanswered while it is away, so the first
/// falls out of bob's audience list (`CALLS_PER_USER_MAX` = 8), though the switchboard retains it.
/// On reconnect the snapshot leaves it out: the device closes it (`connection_lost`, the real
/// reason being unknown to it) and stops vouching for its status, so the views still converge.
#[test]
fn a_call_left_out_of_the_snapshot_is_closed_and_no_longer_vouched_for() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let request = callcore::Request::Initiate {
        to: callcore::Receiver::User(bob),
        call_type: callcore::CallType::Audio,
        ring_timeout_ms: Some(1_000),
    };
    let id = at(&mut h, 100, dev(alex, 0), request);
    h.run_until(500, MAX_STEPS);
    let first = session_of(&h, dev(alex, 0), id);
    h.disconnect(dev(bob, 0));
    for i in 1..=8 {
        at(&mut h, 2_000 * i, dev(alex, 0), request);
    }
    h.run_until(20_000, MAX_STEPS);
    assert_eq!(h.switchboard.user_calls(bob).len(), callcore::CALLS_PER_USER_MAX);
    assert!(!h.switchboard.user_calls(bob).contains(&first), "the first call fell out of the list");
    assert_eq!(status(&h, first), Status::Unanswered, "but it is still retained");
    h.connect(dev(bob, 0));
    h.run_until(21_000, MAX_STEPS);
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received", "incoming_call_cancelled connection_lost"]);
    assert_eq!(h.clients[&dev(bob, 0)].call(first), None, "no longer vouched for");
    callcore::testing::invariants::check_convergence(&h.switchboard, h.clients.values()).unwrap();
}

/// The set-up of fuzz findings F11 and F12: a group call that bob/0 knows as over for it
/// (bob declined on bob/1) but which goes on ringing carol, and which bob/0's reconnect snapshot
/// (at 2140) leaves out, since eight newer calls pushed it out of bob's audience list. Retention
/// 1 s; run until 2400. Returns the harness, alex, bob, carol and the group call.
fn group_call_left_out_of_bobs_snapshot() -> (Harness, UserId, UserId, UserId, SessionId) {
    let config = Config { call_retention_ms: 1_000, ..Config::default() };
    let mut h = harness_with(config);
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(2);
    let carol = h.add_connected_user(1);
    let team = h.add_group(&[alex, bob, carol]);
    // 0: alex calls the team (ring timeout 60 s): created at 20, rings bob and carol at 40.
    let id = at(&mut h, 0, dev(alex, 0), call_group_ringing(team, 60_000));
    h.run_until(100, MAX_STEPS);
    let group_call = session_of(&h, dev(alex, 0), id);
    // 100: bob declines on bob/1 (at the switchboard at 120); bob/0 hears declined_elsewhere at
    // 140. carol still rings, so the call goes on.
    at(&mut h, 100, dev(bob, 1), reject(group_call, RejectStatus::Rejected));
    // 200: bob calls carol, who is involved: busy at once, eight times. The group call is now
    // the oldest of nine in bob's audience list and falls out of it. The busy calls are
    // evicted a retention (1 s) after 220.
    h.run_until(200, MAX_STEPS);
    for _ in 0..callcore::CALLS_PER_USER_MAX {
        h.command(dev(bob, 0), call_user(carol));
    }
    // 2000/2100: bob/0 reconnects; the snapshot (at 2140) names no call: bob/0 stops vouching
    // for the group call (it had raised its terminal callback already: nothing is raised).
    h.run_until(2_000, MAX_STEPS);
    h.disconnect(dev(bob, 0));
    h.run_until(2_100, MAX_STEPS);
    h.connect(dev(bob, 0));
    h.run_until(2_400, MAX_STEPS);
    assert_eq!(h.clients[&dev(bob, 0)].call(group_call), None, "left out of the snapshot");
    (h, alex, bob, carol, group_call)
}

/// The callbacks `device` raised about `session`, in order.
fn callbacks_about(h: &Harness, device: DeviceId, session: SessionId) -> Vec<CallbackKind> {
    h.callbacks[&device].iter().filter(|c| c.call.session == session).map(|c| c.kind).collect()
}

/// Regression (fuzz finding F11, `harness_run`): a device declined a group call on its other
/// device, then its user made enough calls that the group call fell out of the user's audience
/// list (the newest `CALLS_PER_USER_MAX`). A reconnect's snapshot left the call out, so the
/// device stopped vouching for it, and a retention later dropped it from its view, as if the
/// switchboard had evicted it. But the call was still ringing the others, and its ring timeout
/// sent the user `incoming_call_cancelled declined_elsewhere` again: the device, not knowing the
/// call any more, raised a second terminal callback (invariant 5). A call dropped from the view
/// while it may still be live is remembered, so a later notice raises nothing.
#[test]
fn a_call_left_out_of_a_snapshot_and_dropped_raises_nothing_when_it_ends() {
    let (mut h, _alex, bob, carol, group_call) = group_call_left_out_of_bobs_snapshot();
    // 5000: another busy call; its notice makes room in bob/0's view, which drops the group call
    // (seen over at 2140, a retention ago).
    at(&mut h, 5_000, dev(bob, 0), call_user(carol));
    // 60020: the group call's ring timeout: unanswered. bob's devices are told again.
    h.run_until(61_000, MAX_STEPS);
    assert_eq!(status(&h, group_call), Status::Unanswered);
    assert_eq!(
        callbacks_about(&h, dev(bob, 0), group_call),
        [
            CallbackKind::IncomingCallReceived,
            CallbackKind::IncomingCallCancelled(CancelReason::DeclinedElsewhere)
        ]
    );
}

/// Regression (fuzz finding F12, `harness_run`): F11 again, with one more notice in between. After
/// the snapshot left the group call out, a live notice about it (the call accepted by another
/// member) made the device vouch for the call again, so the call was no longer marked as left
/// out, and a retention later it was dropped from the view without being remembered. When the
/// call ended, the device took the notice for a new call and raised a second terminal callback
/// (invariant 5). A call dropped while its status is not terminal is now remembered too.
#[test]
fn a_call_left_out_of_a_snapshot_then_named_again_and_dropped_raises_nothing_when_it_ends() {
    let (mut h, alex, bob, carol, group_call) = group_call_left_out_of_bobs_snapshot();
    // 2500: carol accepts (at the switchboard at 2520); bob's devices are told at 2540, so
    // bob/0 vouches for the call again (accepted), and raises nothing: it is done with it.
    at(&mut h, 2_500, dev(carol, 0), accept(group_call));
    h.run_until(3_000, MAX_STEPS);
    assert_eq!(h.clients[&dev(bob, 0)].call(group_call).map(|v| v.status), Some(Status::Accepted));
    // 5000: a busy call (carol is in the group call) makes room in bob/0's view, which drops
    // the group call: seen over at 2140, a retention (1 s) ago.
    at(&mut h, 5_000, dev(bob, 0), call_user(carol));
    h.run_until(5_100, MAX_STEPS);
    // 6000: alex hangs up; carol is alone, so the call ends, and bob's devices are told again.
    at(&mut h, 6_000, dev(alex, 0), end(group_call));
    h.run_until(7_000, MAX_STEPS);
    assert_eq!(status(&h, group_call), Status::Ended);
    assert_eq!(
        callbacks_about(&h, dev(bob, 0), group_call),
        [
            CallbackKind::IncomingCallReceived,
            CallbackKind::IncomingCallCancelled(CancelReason::DeclinedElsewhere)
        ]
    );
}

/// A real transport may process the close of a device's old connection after the device has
/// reconnected. The close names its connection: the switchboard ignores and counts it, and the
/// device stays connected, its user out of any grace (the bug a close without a token had: the
/// live device taken down, and its calls lost once the grace ran out).
#[test]
fn a_stale_close_after_a_reconnect_is_ignored_and_counted() {
    use callcore::switchboard::{Input, Output, Timer};
    use callcore::{ConnectionId, Switchboard, SwitchboardError};
    let mut sb = Switchboard::new(Config::default());
    let alex = sb.add_user();
    let phone = DeviceId::new(alex, 0);
    let (old, new) = (ConnectionId(1), ConnectionId(2));
    sb.handle_input(0, Input::Connected { device: phone, conn: old }).unwrap();
    // The device reconnects (connection 2) before the server processed the close of connection 1.
    sb.handle_input(10, Input::Connected { device: phone, conn: new }).unwrap();
    while sb.poll_output().is_some() {}
    let stale = sb.handle_input(20, Input::Disconnected { device: phone, conn: old });
    assert_eq!(stale, Err(SwitchboardError::StaleConnection { device: phone, conn: old }));
    assert!(sb.is_connected(phone), "the live connection stays up");
    assert_eq!(sb.poll_output(), None, "no grace timer: nothing happened");
    assert_eq!((sb.stats().stale_closes, sb.stats().dropped), (1, 1));
    // The close of the current connection is the real one: the user's grace starts.
    sb.handle_input(30, Input::Disconnected { device: phone, conn: new }).unwrap();
    assert!(!sb.is_connected(phone));
    let grace_ms = Config::default().reconnect_grace_ms;
    assert_eq!(sb.poll_output(), Some(Output::SetTimer { timer: Timer::Grace(alex), at_ms: 30 + grace_ms }));
}

/// The client side of the same race: the app's transport reports the old connection's close
/// after the new one came up; the client stays connected and counts the drop.
#[test]
fn a_client_ignores_the_close_of_a_connection_it_no_longer_uses() {
    use callcore::client::Input;
    use callcore::{Client, ClientError, ConnectionId};
    let mut phone = Client::new(DeviceId::new(UserId(0), 0), Config::default());
    phone.handle_input(0, Input::Connected(ConnectionId(1))).unwrap();
    phone.handle_input(10, Input::Connected(ConnectionId(2))).unwrap();
    let stale = phone.handle_input(20, Input::Disconnected(ConnectionId(1)));
    assert_eq!(stale, Err(ClientError::StaleConnection(ConnectionId(1))));
    assert!(phone.is_connected());
    assert_eq!(phone.stats().dropped, 1);
    phone.handle_input(30, Input::Disconnected(ConnectionId(2))).unwrap();
    assert!(!phone.is_connected());
}
