//! The caller-side helpers for driving many machines fast: cache hints, a lent output queue
//! and shrinking an idle client. None of them may change what a machine does.

mod common;

use callcore::client::Input as ClientInput;
use callcore::switchboard::Timer;
use callcore::{
    client, CallType, Client, ClientMsg, DeviceId, GroupId, Notice, Receiver, RejectStatus, Request,
    RequestId, ServerMsg, SessionId, Status, UserId,
};
use common::*;
use std::collections::VecDeque;

/// A harness in the middle of things: alex (two devices) calls bob, who is being rung; carol
/// calls dave, who accepted.
fn busy_harness() -> (callcore::testing::harness::Harness, SessionId, SessionId) {
    let mut h = harness();
    let alex = h.add_connected_user(2);
    let bob = h.add_connected_user(1);
    let carol = h.add_connected_user(1);
    let dave = h.add_connected_user(1);
    let ringing = at(&mut h, 10, dev(alex, 0), call_user(bob));
    let talking = at(&mut h, 10, dev(carol, 0), call_user(dave));
    h.run_until(200, MAX_STEPS);
    let (ringing, talking) = (session_of(&h, dev(alex, 0), ringing), session_of(&h, dev(carol, 0), talking));
    at(&mut h, 200, dev(dave, 0), accept(talking));
    h.run_until(400, MAX_STEPS);
    assert_eq!(status(&h, ringing), Status::Ringing);
    assert_eq!(status(&h, talking), Status::Accepted);
    (h, ringing, talking)
}

/// Every message and timer kind, about live calls, unknown calls and unknown users.
fn inputs(ringing: SessionId, talking: SessionId) -> Vec<(DeviceId, ClientMsg)> {
    let unknown_session = SessionId(u64::MAX);
    let mut out = Vec::new();
    for from in [DeviceId::new(UserId(0), 0), DeviceId::new(UserId(0), 1), DeviceId::new(UserId(9_999), 15)] {
        for session in [ringing, talking, unknown_session] {
            out.push((from, ClientMsg::Ack { session }));
            out.push((
                from,
                ClientMsg::Request {
                    id: RequestId(7),
                    request: accept(session),
                    answered_below: RequestId(0),
                },
            ));
            out.push((
                from,
                ClientMsg::Request { id: RequestId(8), request: end(session), answered_below: RequestId(0) },
            ));
            let request = reject(session, RejectStatus::Busy);
            out.push((from, ClientMsg::Request { id: RequestId(9), request, answered_below: RequestId(0) }));
        }
        for to in [Receiver::User(UserId(1)), Receiver::User(UserId(u32::MAX)), Receiver::Group(GroupId(3))] {
            let request = Request::Initiate { to, call_type: CallType::Video, ring_timeout_ms: None };
            out.push((from, ClientMsg::Request { id: RequestId(10), request, answered_below: RequestId(0) }));
        }
    }
    out
}

#[test]
fn cache_hints_change_nothing_and_accept_any_input() {
    let (h, ringing, talking) = busy_harness();
    let before = format!("{:?}", h.switchboard);
    let clients_before = format!("{:?}", h.clients);
    for (from, msg) in inputs(ringing, talking) {
        h.switchboard.prefetch_message(from, &msg);
        h.switchboard.prefetch_message_buffers(from, &msg);
    }
    for user in [UserId(0), UserId(3), UserId(9_999), UserId(u32::MAX)] {
        h.switchboard.prefetch_user(user);
        h.switchboard.prefetch_timer(Timer::Grace(user));
        h.switchboard.prefetch_timer_buffers(Timer::Grace(user));
    }
    for session in [ringing, talking, SessionId(u64::MAX), SessionId(0)] {
        for timer in [Timer::Ring(session), Timer::Evict(session)] {
            h.switchboard.prefetch_timer(timer);
            h.switchboard.prefetch_timer_buffers(timer);
        }
    }
    for client in h.clients.values() {
        client.prefetch();
        client.prefetch_buffers();
    }
    assert_eq!(format!("{:?}", h.switchboard), before, "a hint changed the switchboard");
    assert_eq!(format!("{:?}", h.clients), clients_before, "a hint changed a client");
}

/// Feeds the same inputs to two copies of a client, one draining its own queue and one
/// through a lent queue; returns what each produced.
fn outputs_both_ways(client: &Client, inputs: &[ServerMsg]) -> (Vec<client::Output>, Vec<client::Output>) {
    let (mut own, mut lent) = (client.clone(), client.clone());
    let (mut from_own, mut from_lent) = (Vec::new(), Vec::new());
    let mut buffer = VecDeque::new();
    for (i, msg) in inputs.iter().enumerate() {
        let now = 1_000 + i as u64;
        let _ = own.handle_input(now, ClientInput::Message(msg.clone()));
        from_own.extend(std::iter::from_fn(|| own.poll_output()));
        lent.swap_outputs(&mut buffer);
        let _ = lent.handle_input(now, ClientInput::Message(msg.clone()));
        from_lent.extend(std::iter::from_fn(|| lent.poll_output()));
        lent.swap_outputs(&mut buffer);
        assert!(buffer.is_empty(), "the lent queue comes back drained");
    }
    (from_own, from_lent)
}

#[test]
fn a_lent_output_queue_carries_exactly_the_clients_outputs() {
    let (h, ringing, talking) = busy_harness();
    let bob = h.clients[&dev(UserId(1), 0)].clone();
    let mut view = h.switchboard.call(ringing).expect("live").view();
    view.status = Status::Accepted;
    let mut ended = view;
    ended.status = Status::Ended;
    let notices = [
        ServerMsg::Notify(Notice { call: view, callback: None }),
        ServerMsg::Notify(Notice {
            call: ended,
            callback: Some(callcore::CallbackKind::CallEnded(callcore::EndReason::Hangup)),
        }),
        ServerMsg::Notify(Notice { call: h.switchboard.call(talking).expect("live").view(), callback: None }),
    ];
    let (own, lent) = outputs_both_ways(&bob, &notices);
    assert!(!own.is_empty(), "the inputs made the client say something");
    assert_eq!(own, lent);
}

#[test]
fn outputs_queued_before_a_swap_move_with_their_queue() {
    let (mut h, _, _) = busy_harness();
    let carol = h.clients.get_mut(&dev(UserId(2), 0)).expect("known");
    let _ = carol.poll_output();
    carol.handle_input(5_000, ClientInput::Command(call_user(UserId(3)))).expect("room for a request");
    let mut buffer = VecDeque::new();
    carol.swap_outputs(&mut buffer);
    assert_eq!(carol.poll_output(), None, "the queued outputs left with the queue");
    assert!(matches!(buffer.pop_front(), Some(client::Output::Send(ClientMsg::Request { .. }))));
}

#[test]
fn shrinking_an_idle_client_changes_nothing_it_does() {
    let (mut h, ringing, _) = busy_harness();
    at(&mut h, 500, dev(UserId(0), 0), reject(ringing, RejectStatus::Cancelled));
    h.run_until(700, MAX_STEPS);
    assert_eq!(status(&h, ringing), Status::Cancelled);
    let alex = h.clients[&dev(UserId(0), 0)].clone();
    let mut shrunk = alex.clone();
    shrunk.shrink_to_fit();
    assert_eq!(format!("{shrunk:?}"), format!("{alex:?}"));
    let view = h.switchboard.call(ringing).expect("retained").view();
    let late = [ServerMsg::Notify(Notice { call: view, callback: None })];
    let (a, _) = outputs_both_ways(&alex, &late);
    let (b, _) = outputs_both_ways(&shrunk, &late);
    assert_eq!(a, b);
}
