//! Every error code of the contract, the order in which checks apply (docs/semantics.md), and
//! bad input that is dropped with a typed error instead of a panic.

mod common;

use callcore::client::Input as ClientInput;
use callcore::switchboard::Input as SbInput;
use callcore::ConnectionId;
use callcore::{
    ClientError, ClientMsg, DeviceId, ErrorCode, GroupId, Receiver, RejectStatus, Request, RequestId,
    ServerMsg, SessionId, Status, Switchboard, SwitchboardError, UserId,
};
use common::*;

#[test]
fn not_connected_is_answered_by_the_client_at_once() {
    let mut h = harness();
    let alex = h.add_user(1);
    let bob = h.add_connected_user(1);
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    assert_eq!(h.answers[&(dev(alex, 0), id)].at_ms, 100, "no round trip");
    assert_eq!(answer_code(&h, dev(alex, 0), id), Err(ErrorCode::NotConnected));
}

#[test]
fn invalid_receiver_unknown_user_unknown_group_or_self() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let unknown_user = at(&mut h, 100, dev(alex, 0), call_user(UserId(999)));
    let unknown_group = h.command(dev(alex, 0), initiate(Receiver::Group(GroupId(7))));
    let itself = h.command(dev(alex, 0), call_user(alex));
    h.run_until(200, MAX_STEPS);
    for id in [unknown_user, unknown_group, itself] {
        assert_eq!(answer_code(&h, dev(alex, 0), id), Err(ErrorCode::InvalidReceiver));
    }
    assert_eq!(h.switchboard.stats().created, 0);
}

#[test]
fn already_in_call_for_an_involved_initiator_and_glare() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    // Glare: both call each other at 100; alex's request is scheduled first, so it reaches the
    // switchboard first (both at 120) and rings; bob, now being rung, gets already_in_call.
    let a = at(&mut h, 100, dev(alex, 0), call_user(bob));
    let b = h.command(dev(bob, 0), call_user(alex));
    h.run_until(200, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), a), Ok(()));
    assert_eq!(answer_code(&h, dev(bob, 0), b), Err(ErrorCode::AlreadyInCall));
    assert_eq!(status(&h, session_of(&h, dev(alex, 0), a)), Status::Ringing);
    // The initiator itself cannot start a second call while the first rings.
    let carol = h.add_connected_user(1);
    let again = at(&mut h, 300, dev(alex, 0), call_user(carol));
    h.run_until(400, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), again), Err(ErrorCode::AlreadyInCall));
}

#[test]
fn call_not_found_for_unknown_session() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let id = at(&mut h, 100, dev(alex, 0), accept(SessionId(u64::MAX)));
    h.run_until(200, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), id), Err(ErrorCode::CallNotFound));
}

#[test]
fn not_allowed_for_strangers_and_wrong_roles() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let eve = h.add_connected_user(1);
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(200, MAX_STEPS);
    let s = session_of(&h, dev(alex, 0), id);
    let cases = [
        (dev(eve, 0), accept(s)),
        (dev(eve, 0), reject(s, RejectStatus::Rejected)),
        (dev(eve, 0), Request::cancel(s)),
        (dev(eve, 0), end(s)),
        (dev(bob, 0), Request::cancel(s)),
        (dev(alex, 0), reject(s, RejectStatus::Rejected)),
        (dev(alex, 0), accept(s)),
    ];
    let ids: Vec<_> = cases.iter().map(|&(d, r)| (d, at(&mut h, 300, d, r))).collect();
    h.run_until(400, MAX_STEPS);
    for (d, id) in ids {
        assert_eq!(answer_code(&h, d, id), Err(ErrorCode::NotAllowed), "{d:?}");
    }
    assert_eq!(status(&h, s), Status::Ringing, "invariant 6: nothing changed");
}

#[test]
fn invalid_state_accept_after_cancel_end_of_ringing_call_and_terminal_calls() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(200, MAX_STEPS);
    let s = session_of(&h, dev(alex, 0), id);
    let end_ringing = at(&mut h, 300, dev(bob, 0), end(s));
    let end_ringing_initiator = h.command(dev(alex, 0), end(s));
    h.run_until(400, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(bob, 0), end_ringing), Err(ErrorCode::InvalidState));
    assert_eq!(answer_code(&h, dev(alex, 0), end_ringing_initiator), Err(ErrorCode::InvalidState));
    at(&mut h, 500, dev(alex, 0), Request::cancel(s));
    let after_cancel = at(&mut h, 600, dev(bob, 0), accept(s));
    let reject_after = h.command(dev(bob, 0), reject(s, RejectStatus::Rejected));
    let cancel_again = h.command(dev(alex, 0), Request::cancel(s));
    h.run_until(700, MAX_STEPS);
    for (d, id) in [(dev(bob, 0), after_cancel), (dev(bob, 0), reject_after), (dev(alex, 0), cancel_again)] {
        assert_eq!(answer_code(&h, d, id), Err(ErrorCode::InvalidState));
    }
}

#[test]
fn timeout_when_the_answer_never_comes() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    // The request leaves at 100; alex disconnects at 110 (before it arrives at 120: lost) and
    // never comes back: the client answers timeout at 100 + 10000.
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(110, MAX_STEPS);
    h.disconnect(dev(alex, 0));
    h.run_until(10_099, MAX_STEPS);
    assert!(h.answer(dev(alex, 0), id).is_none());
    h.run_until(10_100, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), id), Err(ErrorCode::Timeout));
    assert_eq!(h.switchboard.stats().created, 0, "the request was lost in flight");
}

#[test]
fn retry_after_reconnect_is_answered_once_without_acting_twice() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    // alex's initiate reaches the switchboard at 120 (created); the answer would reach alex at
    // 140 but alex disconnects at 130, losing it. alex reconnects at 200: the client resends the
    // request (arrives 220, a repeat: same answer, no second call).
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(130, MAX_STEPS);
    h.disconnect(dev(alex, 0));
    h.run_until(200, MAX_STEPS);
    h.connect(dev(alex, 0));
    h.run_until(300, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), id), Ok(()));
    assert_eq!(h.switchboard.stats().created, 1, "acted once");
    assert_eq!(h.switchboard.stats().repeats, 1);
    assert_eq!(h.clients[&dev(alex, 0)].stats().resent, 1);
}

#[test]
fn every_request_lost_in_one_disconnect_gets_its_original_answer_on_retry() {
    let mut h = harness();
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    // At 100 alex sends request 1 (call bob) and nine more (call bob again: each is answered
    // already_in_call, since request 1 makes alex involved). They reach the switchboard at 120;
    // the answers would reach alex at 140, but alex disconnects at 130 and loses them all. At 200
    // alex reconnects and resends all ten (arriving at 220): the switchboard still remembers every
    // answer, since alex's device had them all outstanding, and answers each from memory without
    // acting again (contract v2: however many were lost). So request 1 gets its call, not
    // `timeout`: no ghost call that rings bob while alex's app thinks it failed.
    let first = at(&mut h, 100, dev(alex, 0), call_user(bob));
    let rest: Vec<_> = (0..9).map(|_| h.command(dev(alex, 0), call_user(bob))).collect();
    h.run_until(130, MAX_STEPS);
    h.disconnect(dev(alex, 0));
    h.run_until(200, MAX_STEPS);
    h.connect(dev(alex, 0));
    h.run_until(300, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), first), Ok(()), "the initiate gets its call");
    for id in &rest {
        assert_eq!(answer_code(&h, dev(alex, 0), *id), Err(ErrorCode::AlreadyInCall), "request {id:?}");
    }
    assert_eq!(h.switchboard.stats().created, 1, "acted once");
    assert_eq!(h.switchboard.stats().repeats, 10, "all ten answered from memory");
    assert_eq!(h.switchboard.stats().answers_forgotten, 0);
    assert_eq!(h.clients[&dev(alex, 0)].stats().resent, 10);
    assert_eq!(h.clients[&dev(alex, 0)].stats().timeouts, 0);
}

/// Regression (fuzz finding, `harness_run`, 2026-11-25): with a request timeout of 0 every
/// request times out at once, and the client remembers only the last few timed-out requests. The
/// answer to an accept that had fallen out of them was dropped, so the accepting device saw the
/// call ringing while the switchboard had it accepted (invariant 4), and nothing else would ever
/// tell it: the accepting device gets the answer and no notice. An answer to a request the client
/// issued but no longer remembers still carries the switchboard's word on the call: the view
/// takes it, silently.
#[test]
fn a_forgotten_late_answer_still_updates_the_view() {
    let config = callcore::Config { request_timeout_ms: 0, ..callcore::Config::default() };
    let mut h = harness_with(config);
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    // alex calls at 0: created at 20, bob rings at 40 (and acks), ringing at 60.
    at(&mut h, 0, dev(alex, 0), call_user(bob));
    h.run_until(100, MAX_STEPS);
    let session = h.switchboard.calls().next().map(|c| c.view().session).expect("one call");
    assert_eq!(h.clients[&dev(bob, 0)].call(session).map(|v| v.status), Some(Status::Ringing));
    // At 100 bob accepts, then asks 16 hopeless things (calling himself); every request times
    // out at 100, so the accept's is the oldest of 17 timed-out requests when the answers come
    // back at 140.
    h.command(dev(bob, 0), accept(session));
    for _ in 0..16 {
        h.command(dev(bob, 0), call_user(bob));
    }
    h.run_until(200, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Accepted);
    assert_eq!(h.clients[&dev(bob, 0)].call(session).map(|v| v.status), Some(Status::Accepted));
    callcore::testing::invariants::check_convergence(&h.switchboard, h.clients.values()).expect("converged");
    let stats = h.clients[&dev(bob, 0)].stats();
    assert_eq!((stats.timeouts, stats.late_answers, stats.dropped), (17, 17, 0));
}

#[test]
fn bad_input_to_the_switchboard_is_a_typed_error_and_counted() {
    let mut sb = Switchboard::new(callcore::Config::default());
    let alex = sb.add_user();
    let ghost = DeviceId::new(UserId(42), 0);
    let request =
        ClientMsg::Request { id: RequestId(1), request: call_user(alex), answered_below: RequestId(0) };
    assert_eq!(
        sb.handle_input(0, SbInput::Connected { device: ghost, conn: ConnectionId(0) }),
        Err(SwitchboardError::UnknownUser(UserId(42)))
    );
    let far = DeviceId::new(alex, 999);
    assert_eq!(
        sb.handle_input(0, SbInput::Connected { device: far, conn: ConnectionId(0) }),
        Err(SwitchboardError::DeviceOutOfRange(far))
    );
    let phone = DeviceId::new(alex, 0);
    assert_eq!(
        sb.handle_input(0, SbInput::Message { from: phone, msg: request }),
        Err(SwitchboardError::DeviceNotConnected(phone))
    );
    assert_eq!(
        sb.handle_input(0, SbInput::Disconnected { device: phone, conn: ConnectionId(0) }),
        Err(SwitchboardError::AlreadyDisconnected(phone))
    );
    sb.handle_input(10, SbInput::Connected { device: phone, conn: ConnectionId(0) }).unwrap();
    let ack = ClientMsg::Ack { session: SessionId(5) };
    assert_eq!(
        sb.handle_input(10, SbInput::Message { from: phone, msg: ack }),
        Err(SwitchboardError::AckUnknownCall(SessionId(5)))
    );
    assert_eq!(
        sb.handle_input(5, SbInput::Message { from: phone, msg: request }),
        Err(SwitchboardError::TimeWentBackwards { now_ms: 5, last_ms: 10 })
    );
    // Request 3 then a repeat of 1, never seen and older than the newest: stale.
    let three =
        ClientMsg::Request { id: RequestId(3), request: call_user(alex), answered_below: RequestId(0) };
    sb.handle_input(20, SbInput::Message { from: phone, msg: three }).unwrap();
    assert_eq!(
        sb.handle_input(20, SbInput::Message { from: phone, msg: request }),
        Err(SwitchboardError::StaleRequest { device: phone, request: RequestId(1) })
    );
    assert_eq!(sb.stats().dropped, 7);
    assert_eq!(sb.stats().errors[ErrorCode::InvalidReceiver.index()], 1, "request 3 called itself");
}

#[test]
fn bad_input_to_the_client_is_a_typed_error_and_counted() {
    let config = callcore::Config::default();
    let mut client = callcore::Client::new(DeviceId::new(UserId(0), 0), config);
    let answer = ServerMsg::Answer { id: RequestId(9), result: Err(ErrorCode::Timeout) };
    assert_eq!(client.handle_input(0, ClientInput::Message(answer.clone())), Err(ClientError::NotConnected));
    client.handle_input(0, ClientInput::Connected(ConnectionId(0))).unwrap();
    assert_eq!(
        client.handle_input(0, ClientInput::Message(answer)),
        Err(ClientError::UnknownRequest(RequestId(9)))
    );
    // A notice about a call between two other users: a message for the wrong device.
    let view = one_to_one_view(1, UserId(5), UserId(6), Status::Initiated);
    let notice =
        callcore::Notice { call: view, callback: Some(callcore::CallbackKind::IncomingCallReceived) };
    assert_eq!(
        client.handle_input(0, ClientInput::Message(ServerMsg::Notify(notice))),
        Err(ClientError::NotMyCall(SessionId(1)))
    );
    assert_eq!(client.calls().count(), 0, "nothing recorded");
    assert_eq!(client.poll_output(), None, "nothing raised");
    assert_eq!(client.stats().dropped, 3);
}

/// Regression (fuzz finding F1): an accept whose answer arrives after the request timeout. The
/// application hears `timeout` once; the late answer is not announced again, but the device's
/// view takes its call object so that it converges on the switchboard's (invariant 4).
#[test]
fn a_late_answer_updates_the_view_without_a_second_answer() {
    let config = callcore::Config { request_timeout_ms: 30, ..callcore::Config::default() };
    let mut h = harness_with(config); // a round trip takes 40 ms, longer than the timeout
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let id = at(&mut h, 100, dev(alex, 0), call_user(bob));
    h.run_until(1_000, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), id), Err(ErrorCode::Timeout), "the initiate timed out too");
    let s = h.switchboard.user_calls(alex)[0];
    let accept_id = at(&mut h, 1_000, dev(bob, 0), accept(s));
    h.run_until(1_100, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(bob, 0), accept_id), Err(ErrorCode::Timeout));
    assert_eq!(h.answers[&(dev(bob, 0), accept_id)].at_ms, 1_030, "answered once, at the timeout");
    assert_eq!(h.clients[&dev(bob, 0)].stats().late_answers, 1);
    assert_eq!(h.clients[&dev(bob, 0)].call(s).map(|v| v.status), Some(Status::Accepted));
    callcore::testing::invariants::check_convergence(&h.switchboard, h.clients.values()).unwrap();
}

/// Regression (fuzz finding F2): a notice naming a callback that does not fit the device's role,
/// or "rejected" after "accepted", is dropped with a typed error instead of being raised.
#[test]
fn a_notice_with_an_illegal_callback_is_dropped() {
    use callcore::{CallbackKind, RejectReason};
    let me = UserId(1);
    let mut client = callcore::Client::new(DeviceId::new(me, 0), callcore::Config::default());
    client.handle_input(0, ClientInput::Connected(ConnectionId(0))).unwrap();
    let view = |initiator: u32, receiver: u32, status| {
        one_to_one_view(7, UserId(initiator), UserId(receiver), status)
    };
    let notify = |call, callback| ServerMsg::Notify(callcore::Notice { call, callback: Some(callback) });
    // Someone else's call to me, but "outgoing ringing": wrong role.
    let wrong_role = notify(view(0, 1, Status::Ringing), CallbackKind::OutgoingCallRinging);
    assert_eq!(
        client.handle_input(0, ClientInput::Message(wrong_role)),
        Err(ClientError::IllegalCallback {
            session: SessionId(7),
            callback: CallbackKind::OutgoingCallRinging
        })
    );
    // My call, accepted, then "rejected".
    let accepted = notify(view(1, 0, Status::Accepted), CallbackKind::OutgoingCallAccepted);
    let rejected = CallbackKind::OutgoingCallRejected(RejectReason::Rejected);
    let mut client = callcore::Client::new(DeviceId::new(me, 0), callcore::Config::default());
    client.handle_input(0, ClientInput::Connected(ConnectionId(0))).unwrap();
    client.handle_input(0, ClientInput::Message(accepted)).unwrap();
    assert_eq!(
        client.handle_input(1, ClientInput::Message(notify(view(1, 0, Status::Rejected), rejected))),
        Err(ClientError::IllegalCallback { session: SessionId(7), callback: rejected })
    );
    let raised: Vec<_> = std::iter::from_fn(|| client.poll_output())
        .filter_map(|o| match o {
            callcore::client::Output::Callback(cb) => Some(cb.kind),
            _ => None,
        })
        .collect();
    assert_eq!(raised, [CallbackKind::OutgoingCallAccepted]);
}

/// Regression (fuzz finding F5): request id 0 (clients number from 1) matched an empty slot of
/// the dedup window and was answered as a repeat with someone else's call. It is dropped as a
/// stale request instead, and nothing is answered.
#[test]
fn request_id_zero_is_dropped_not_answered_from_an_empty_slot() {
    let mut sb = Switchboard::new(callcore::Config::default());
    let alex = sb.add_user();
    let bob = sb.add_user();
    let eve = sb.add_user();
    let (a, e) = (DeviceId::new(alex, 0), DeviceId::new(eve, 0));
    sb.handle_input(0, SbInput::Connected { device: a, conn: ConnectionId(0) }).unwrap();
    sb.handle_input(0, SbInput::Connected { device: e, conn: ConnectionId(0) }).unwrap();
    let call = ClientMsg::Request { id: RequestId(1), request: call_user(bob), answered_below: RequestId(0) };
    sb.handle_input(1, SbInput::Message { from: a, msg: call }).unwrap();
    while sb.poll_output().is_some() {}
    let zero =
        ClientMsg::Request { id: RequestId(0), request: accept(SessionId(0)), answered_below: RequestId(0) };
    assert_eq!(
        sb.handle_input(2, SbInput::Message { from: e, msg: zero }),
        Err(SwitchboardError::StaleRequest { device: e, request: RequestId(0) })
    );
    assert_eq!(sb.poll_output(), None, "nothing is sent to eve");
}

/// Regression (fuzz, client target): with `call_retention_ms` = 0, a call that turned terminal
/// inside a snapshot was pruned before the snapshot's next entry named it again, which then
/// looked new and raised `outgoing_call_accepted` a second time. Nothing is pruned at the ms it
/// turned terminal.
#[test]
fn a_snapshot_naming_a_call_twice_raises_its_callbacks_once() {
    use callcore::{CallbackKind, EndReason, Notice};
    let config = callcore::Config { call_retention_ms: 0, ..callcore::Config::default() };
    let me = UserId(1);
    let mut client = callcore::Client::new(DeviceId::new(me, 0), config);
    client.handle_input(0, ClientInput::Connected(ConnectionId(0))).unwrap();
    let view = |session: u64, status| one_to_one_view(session, me, UserId(3), status);
    let ended = Some(CallbackKind::CallEnded(EndReason::Hangup));
    // My own call 5 is known (ringing); the snapshot says it ended, names call 6 (making the
    // client look for room), then names call 5 again, with a stale status (malformed input).
    client
        .handle_input(
            0,
            ClientInput::Message(ServerMsg::Notify(Notice {
                call: view(5, Status::Ringing),
                callback: None,
            })),
        )
        .unwrap();
    let snapshot = vec![
        Notice { call: view(5, Status::Ended), callback: ended },
        Notice { call: view(6, Status::Ringing), callback: Some(CallbackKind::OutgoingCallRinging) },
        Notice { call: view(5, Status::Ringing), callback: ended },
    ];
    client.handle_input(0, ClientInput::Message(ServerMsg::Snapshot(snapshot))).unwrap();
    let raised: Vec<_> = std::iter::from_fn(|| client.poll_output())
        .filter_map(|o| match o {
            callcore::client::Output::Callback(cb) => Some((cb.call.session.0, cb.kind)),
            _ => None,
        })
        .collect();
    assert_eq!(
        raised,
        [
            (5, CallbackKind::OutgoingCallAccepted),
            (5, CallbackKind::CallEnded(EndReason::Hangup)),
            (6, CallbackKind::OutgoingCallRinging)
        ]
    );
}

/// A group larger than `GROUP_MEMBERS_MAX` (256) distinct members is refused with a typed
/// error, not a panic; duplicates are merged before counting, so 256 members named twice
/// each make a group.
#[test]
fn a_group_beyond_the_member_limit_is_an_error() {
    let mut sb = Switchboard::new(callcore::Config::default());
    let users: Vec<_> = (0..257).map(|_| sb.add_user()).collect();
    assert_eq!(sb.add_group(&users), Err(SwitchboardError::GroupTooLarge));
    assert_eq!(SwitchboardError::GroupTooLarge.to_string(), "a group has more than 256 distinct members");
    let twice: Vec<_> = users[..256].iter().chain(&users[..256]).copied().collect();
    let group = sb.add_group(&twice).expect("256 distinct members");
    assert_eq!(sb.group_members(group).map(<[_]>::len), Some(256));
}
