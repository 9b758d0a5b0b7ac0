//! One test per row of the contract's one-to-one transition table, driven through the harness
//! (latency L = 20 ms; devices connect at 0; every expected value below is derived by hand from
//! the contract and docs/semantics.md, with the timeline in the comments).

mod common;

use callcore::lifecycle::Event;
use callcore::{ErrorCode, RejectStatus, Request, Status};
use common::*;

/// alex (1 device) and bob (2 devices), connected at 0; at 100 alex calls bob.
/// Timeline: initiate reaches the switchboard at 120 (created, `initiated`); the answer and
/// both incoming calls arrive at 140; both acks reach the switchboard at 160 (`ringing`, first
/// ack only); `outgoing_call_ringing` reaches alex at 180.
fn alex_calls_bob(
) -> (callcore::testing::harness::Harness, callcore::UserId, callcore::UserId, callcore::SessionId) {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(2);
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(140, MAX_STEPS);
    let session = session_of(&h, dev(alex, 0), id);
    (h, alex, bob, session)
}

#[test]
fn row_initiate_creates_initiated_and_rings_each_connected_device() {
    let (mut h, alex, bob, session) = alex_calls_bob();
    assert_eq!(status(&h, session), Status::Initiated, "no ack has arrived by 140");
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received"]);
    assert_eq!(names(&h, dev(bob, 1)), ["incoming_call_received"]);
    assert!(names(&h, dev(alex, 0)).is_empty(), "the initiator gets the answer, no callback");
    h.run_until(159, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Initiated, "acks arrive at 160");
}

#[test]
fn row_initiate_to_involved_receiver_is_busy() {
    let (mut h, _alex, bob, first) = alex_calls_bob();
    let carol = h.add_connected_user(1);
    // carol connects at 140 (now); she calls bob at 500, who is being rung by alex's call.
    let id = at(&mut h, 500, dev(carol, 0), call_user(bob));
    h.run_until(600, MAX_STEPS);
    let second = session_of(&h, dev(carol, 0), id);
    assert_eq!(status(&h, second), Status::Busy);
    // The row goes from no call straight to busy: one status change, none through `initiated`.
    let changes: Vec<_> =
        h.changes.iter().filter(|c| c.session == second).map(|c| (c.from, c.to, c.event)).collect();
    assert_eq!(changes, [(None, Status::Busy, Some(Event::ReceiverBusy))]);
    let answered = h.answer(dev(carol, 0), id).expect("answered").expect("the initiate succeeds");
    assert_eq!(answered.status, Status::Busy, "the call object as it is when the answer is sent");
    assert_eq!(names(&h, dev(carol, 0)), ["outgoing_call_rejected busy"]);
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received"], "bob gets nothing for carol's call");
    assert_eq!(status(&h, first), Status::Ringing, "the first call is untouched");
}

#[test]
fn row_first_ack_moves_to_ringing_and_tells_the_initiator() {
    let (mut h, alex, _bob, session) = alex_calls_bob();
    h.run_until(160, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Ringing);
    assert!(names(&h, dev(alex, 0)).is_empty(), "ringing reaches alex at 180");
    h.run_until(180, MAX_STEPS);
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing"], "once, though two devices acked");
}

#[test]
fn row_accept_tells_initiator_and_cancels_other_devices() {
    let (mut h, alex, bob, session) = alex_calls_bob();
    let id = at(&mut h, 1000, dev(bob, 0), accept(session));
    h.run_until(1040, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Accepted);
    assert_eq!(answer_code(&h, dev(bob, 0), id), Ok(()));
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_accepted"]);
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received"]);
    assert_eq!(
        names(&h, dev(bob, 1)),
        ["incoming_call_received", "incoming_call_cancelled answered_elsewhere"]
    );
}

#[test]
fn row_reject_rejected() {
    let (mut h, alex, bob, session) = alex_calls_bob();
    let id = at(&mut h, 1000, dev(bob, 1), reject(session, RejectStatus::Rejected));
    h.run_until(1040, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Rejected);
    assert_eq!(answer_code(&h, dev(bob, 1), id), Ok(()));
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_rejected rejected"]);
    assert_eq!(
        names(&h, dev(bob, 0)),
        ["incoming_call_received", "incoming_call_cancelled declined_elsewhere"]
    );
    assert_eq!(names(&h, dev(bob, 1)), ["incoming_call_received"]);
}

#[test]
fn row_reject_busy() {
    let (mut h, alex, bob, session) = alex_calls_bob();
    at(&mut h, 1000, dev(bob, 0), reject(session, RejectStatus::Busy));
    h.run_until(1040, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Busy);
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_rejected busy"]);
    assert_eq!(
        names(&h, dev(bob, 1)),
        ["incoming_call_received", "incoming_call_cancelled declined_elsewhere"]
    );
}

#[test]
fn row_cancel_by_initiator() {
    let (mut h, alex, bob, session) = alex_calls_bob();
    let id = at(&mut h, 1000, dev(alex, 0), Request::cancel(session));
    h.run_until(1040, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Cancelled);
    assert_eq!(answer_code(&h, dev(alex, 0), id), Ok(()));
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing"], "the canceller gets success only");
    for d in [dev(bob, 0), dev(bob, 1)] {
        assert_eq!(names(&h, d), ["incoming_call_received", "incoming_call_cancelled cancelled"]);
    }
}

#[test]
fn row_ring_timeout_makes_unanswered() {
    let (mut h, alex, bob, session) = alex_calls_bob();
    // Created at 120; the default ring timeout of 45000 fires at 45120.
    h.run_until(45_119, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Ringing);
    h.run_until(45_140, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Unanswered);
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_rejected unanswered"]);
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received", "incoming_call_cancelled unanswered"]);
}

#[test]
fn row_per_call_ring_timeout() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let request = Request::Initiate {
        to: callcore::Receiver::User(bob),
        call_type: callcore::CallType::Video,
        ring_timeout_ms: Some(2_000),
    };
    let id = at(&mut h, 100, dev(alex, 0), request);
    // Created at 120: the call's own timeout fires at 2120.
    h.run_until(2_119, MAX_STEPS);
    let session = session_of(&h, dev(alex, 0), id);
    assert_eq!(status(&h, session), Status::Ringing);
    h.run_until(2_120, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Unanswered);
}

#[test]
fn row_initiator_rejects_unanswered() {
    let (mut h, alex, bob, session) = alex_calls_bob();
    let id = at(&mut h, 1000, dev(alex, 0), reject(session, RejectStatus::Unanswered));
    h.run_until(1040, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Unanswered);
    assert_eq!(answer_code(&h, dev(alex, 0), id), Ok(()));
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing"], "the initiator asked: no callback");
    assert_eq!(names(&h, dev(bob, 1)), ["incoming_call_received", "incoming_call_cancelled unanswered"]);
}

#[test]
fn row_end_by_initiator_tells_the_accepting_device() {
    let (mut h, alex, bob, session) = alex_calls_bob();
    at(&mut h, 1000, dev(bob, 0), accept(session));
    let id = at(&mut h, 2000, dev(alex, 0), end(session));
    h.run_until(2040, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Ended);
    assert_eq!(answer_code(&h, dev(alex, 0), id), Ok(()));
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_accepted"]);
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received", "call_ended hangup"]);
    assert_eq!(
        names(&h, dev(bob, 1)),
        ["incoming_call_received", "incoming_call_cancelled answered_elsewhere"],
        "nothing after a terminal callback"
    );
}

#[test]
fn row_end_by_receiver_tells_every_initiator_device() {
    let mut h = harness();
    let alex = h.add_connected_user(2);
    let bob = h.add_connected_user(1);
    let id = at(&mut h, 100, dev(alex, 1), call_user(bob));
    h.run_until(140, MAX_STEPS);
    let session = session_of(&h, dev(alex, 1), id);
    at(&mut h, 1000, dev(bob, 0), accept(session));
    at(&mut h, 2000, dev(bob, 0), end(session));
    h.run_until(2040, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Ended);
    let expected = ["outgoing_call_ringing", "outgoing_call_accepted", "call_ended hangup"];
    assert_eq!(names(&h, dev(alex, 0)), expected, "the other initiator device too");
    assert_eq!(names(&h, dev(alex, 1)), expected);
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received"]);
}

#[test]
fn row_initiator_gone_past_grace_cancels() {
    let (mut h, alex, bob, session) = alex_calls_bob();
    h.run_until(1000, MAX_STEPS);
    h.disconnect(dev(alex, 0));
    // The switchboard learns at 1020; the grace of 10000 runs out at 11020.
    h.run_until(11_019, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Ringing, "within the grace nothing happens");
    h.run_until(11_040, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Cancelled);
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received", "incoming_call_cancelled connection_lost"]);
}

#[test]
fn row_party_gone_past_grace_ends_accepted_call() {
    let (mut h, alex, bob, session) = alex_calls_bob();
    at(&mut h, 1000, dev(bob, 0), accept(session));
    h.run_until(2000, MAX_STEPS);
    h.disconnect(dev(bob, 0));
    h.disconnect(dev(bob, 1));
    // Learned at 2020; grace out at 12020; alex hears of it at 12040.
    h.run_until(12_019, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Accepted);
    h.run_until(12_040, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Ended);
    assert_eq!(
        names(&h, dev(alex, 0)),
        ["outgoing_call_ringing", "outgoing_call_accepted", "call_ended connection_lost"]
    );
}

#[test]
fn receiver_gone_while_ringing_stays_rung_until_the_ring_timeout() {
    let (mut h, alex, bob, session) = alex_calls_bob();
    h.run_until(1000, MAX_STEPS);
    h.disconnect(dev(bob, 0));
    h.disconnect(dev(bob, 1));
    h.run_until(20_000, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Ringing, "docs/semantics.md: only the initiator's loss cancels");
    h.run_until(45_140, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Unanswered);
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_rejected unanswered"]);
}

#[test]
fn a_reject_whose_status_does_not_fit_the_role_is_not_allowed() {
    let (mut h, alex, bob, session) = alex_calls_bob();
    let by_receiver = at(&mut h, 1000, dev(bob, 0), reject(session, RejectStatus::Cancelled));
    let unanswered_by_receiver = h.command(dev(bob, 0), reject(session, RejectStatus::Unanswered));
    let by_initiator = h.command(dev(alex, 0), reject(session, RejectStatus::Rejected));
    let busy_by_initiator = h.command(dev(alex, 0), reject(session, RejectStatus::Busy));
    h.run_until(1100, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(bob, 0), by_receiver), Err(ErrorCode::NotAllowed));
    assert_eq!(answer_code(&h, dev(bob, 0), unanswered_by_receiver), Err(ErrorCode::NotAllowed));
    assert_eq!(answer_code(&h, dev(alex, 0), by_initiator), Err(ErrorCode::NotAllowed));
    assert_eq!(answer_code(&h, dev(alex, 0), busy_by_initiator), Err(ErrorCode::NotAllowed));
    assert_eq!(status(&h, session), Status::Ringing, "nothing changed");
}
