//! Reproducers of what the fuzzers found in callcore, each as the test that passes once the core
//! is fixed. Open findings are `#[ignore]`d so that the suite stays green meanwhile (run them
//! with `cargo test --test findings -- --ignored`); fixed ones run as regressions. Each names
//! its finding in `docs/fuzzing.md`.

use callcore::client::Input as ClientInput;
use callcore::client::Output;
use callcore::switchboard::Input as SbInput;
use callcore::testing::harness::Harness;
use callcore::testing::invariants::{check_convergence, CallbackLedger};
use callcore::ConnectionId;
use callcore::{
    CallType, CallView, CallbackKind, Client, Config, DeviceId, Notice, Receiver, RejectReason, Request,
    ServerMsg, SessionId, Status, UserId,
};

/// F1 (fixed in 1b79958): a device whose accept timed out (its answer arrived after `request_timeout_ms`) drops
/// the late answer, and with it the only message the switchboard sends that device about its
/// own accept: once quiet, the device still sees the call ringing while the switchboard (and
/// the caller) have it accepted. Invariant 4 (convergence) breaks.
#[test]
fn a_device_whose_accept_timed_out_still_converges() {
    // Found before the media session existed: the call is to stay accepted once quiet.
    let config = Config { request_timeout_ms: 30, session_start_timeout_ms: None, ..Config::default() };
    let mut h = Harness::new(config, 20); // an answer takes 40 ms: later than the timeout
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let (a, b) = (DeviceId::new(alex, 0), DeviceId::new(bob, 0));
    h.run_until(100, 1_000);
    h.command(
        a,
        Request::Initiate { to: Receiver::User(bob), call_type: CallType::Audio, ring_timeout_ms: None },
    );
    h.run_until(1_000, 1_000);
    let session = h.switchboard.user_calls(alex)[0];
    let id = h.command(b, Request::Accept { session });
    h.run_until_quiet(1_000);

    assert_eq!(h.answer(b, id).map(|r| r.map(|v| v.status)), Some(Err(callcore::ErrorCode::Timeout)));
    assert_eq!(h.switchboard.call(session).unwrap().status(), Status::Accepted);
    assert_eq!(h.clients[&a].call(session).unwrap().status, Status::Accepted);
    assert_eq!(check_convergence(&h.switchboard, h.clients.values()), Ok(()));
}

/// F4 (fixed in 5f8d024): an initiator's device whose initiate answer was lost (it disconnected just after the
/// request reached the switchboard) reconnects after the call was accepted. The switchboard's
/// snapshot, which arrives before the resent request's answer, carries the call with
/// `outgoing_call_accepted`, but the client recorded a call it did not know yet silently: no
/// device of the initiator ever raised `outgoing_call_accepted`, though the user was in the call.
/// In callsim this left calls nobody hung up (invariant 3).
#[test]
fn an_initiator_that_missed_its_answer_still_hears_the_accept() {
    // Found before the media session existed: the call is to stay accepted once quiet.
    let mut h = Harness::new(Config { session_start_timeout_ms: None, ..Config::default() }, 20);
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let (a, b) = (DeviceId::new(alex, 0), DeviceId::new(bob, 0));
    h.run_until(100, 1_000);
    h.command(
        a,
        Request::Initiate { to: Receiver::User(bob), call_type: CallType::Audio, ring_timeout_ms: None },
    );
    h.run_until(130, 1_000); // the request reached the switchboard at 120; its answer is due at 140
    h.disconnect(a);
    h.run_until(1_000, 1_000);
    let session = h.switchboard.user_calls(alex)[0];
    h.command(b, Request::Accept { session });
    h.run_until(2_000, 1_000);
    h.connect(a);
    h.run_until_quiet(1_000);

    assert_eq!(h.switchboard.call(session).unwrap().status(), Status::Accepted);
    assert_eq!(h.clients[&a].call(session).unwrap().status, Status::Accepted);
    // The call rang (bob's device acknowledged at 160) while alex was away: both are missed.
    assert_eq!(h.callback_names(a), ["outgoing_call_ringing", "outgoing_call_accepted"]);
}

/// F5 (from a4accd3, fixed in a021079): the dedup window marked an empty slot with
/// request id 0, so a request with id 0 from a device that had sent nothing yet matched an empty
/// slot and was answered as a repeat: `Ok` with the call object of session 0, whoever's call it
/// is. Clients number requests from 1, so only a malformed or hostile client sends id 0; the
/// contract asks for an error or a counted drop, not another user's call object.
#[test]
fn request_id_zero_is_not_answered_with_someone_elses_call() {
    use callcore::switchboard::Output;
    use callcore::{ClientMsg, ErrorCode, RequestId, Switchboard};
    let mut sb = Switchboard::new(Config::default());
    let (alex, bob, eve) = (sb.add_user(), sb.add_user(), sb.add_user());
    let (a, e) = (DeviceId::new(alex, 0), DeviceId::new(eve, 0));
    sb.handle_input(0, SbInput::Connected { device: a, conn: ConnectionId(0) }).unwrap();
    sb.handle_input(0, SbInput::Connected { device: e, conn: ConnectionId(0) }).unwrap();
    let initiate =
        Request::Initiate { to: Receiver::User(bob), call_type: CallType::Audio, ring_timeout_ms: None };
    sb.handle_input(
        10,
        SbInput::Message {
            from: a,
            msg: ClientMsg::Request { id: RequestId(1), request: initiate, answered_below: RequestId(0) },
        },
    )
    .unwrap();
    while sb.poll_output().is_some() {}

    let end = Request::End { session: SessionId(12345) };
    let dropped = sb
        .handle_input(
            20,
            SbInput::Message {
                from: e,
                msg: ClientMsg::Request { id: RequestId(0), request: end, answered_below: RequestId(0) },
            },
        )
        .is_err();
    let mut answers = Vec::new();
    while let Some(output) = sb.poll_output() {
        if let Output::Send { to, msg: ServerMsg::Answer { result, .. } } = output {
            answers.push((to, result.map(|v| v.map(|v| (v.initiator, v.receiver)))));
        }
    }
    // Either dropped, or judged as a new request (`call_not_found`): never alex's call.
    assert!(dropped || answers == [(e, Err(ErrorCode::CallNotFound))], "eve got {answers:?}");
}

/// F7: a call the switchboard still keeps, but no longer in the receiver's audience list (it
/// holds the newest `CALLS_PER_USER_MAX` = 8), is left out of the snapshot; the client took
/// "absent" for "evicted", raised `incoming_call_cancelled connection_lost` and kept its stale
/// `ringing` view while the switchboard had `unanswered`: once quiet, invariant 4 failed. Here bob's phone rings for alex's first call and goes offline;
/// the call and 8 more calls to bob end unanswered; bob reconnects within the first call's
/// retention.
/// Fixed in 155d6c7: the client cannot know the real reason, so it raises `connection_lost`,
/// and stops vouching for the call's status (it leaves `calls()`), so the views converge.
#[test]
fn a_call_left_out_of_the_audience_list_still_converges() {
    let mut h = Harness::new(Config::default(), 20);
    let alex = h.add_connected_user(1);
    let bob = h.add_connected_user(1);
    let (a, b) = (DeviceId::new(alex, 0), DeviceId::new(bob, 0));
    h.run_until(100, 1_000);
    let call = Request::Initiate {
        to: Receiver::User(bob),
        call_type: CallType::Audio,
        ring_timeout_ms: Some(1_000),
    };
    h.command(a, call);
    h.run_until(500, 1_000);
    let first = h.clients[&b].calls().next().expect("bob's phone rang").session;
    h.disconnect(b);
    for i in 1..=8 {
        h.run_until(2_000 * i, 1_000);
        h.command(a, call);
    }
    h.run_until(20_000, 10_000);
    h.connect(b);
    h.run_until(21_000, 10_000);

    assert_eq!(h.switchboard.call(first).map(|c| c.status()), Some(Status::Unanswered));
    assert_eq!(h.callback_names(b), ["incoming_call_received", "incoming_call_cancelled connection_lost"]);
    assert_eq!(h.clients[&b].call(first), None);
    assert_eq!(check_convergence(&h.switchboard, h.clients.values()), Ok(()));
}

fn view(session: u64, initiator: u32, receiver: u32, status: Status) -> CallView {
    CallView {
        session: SessionId(session),
        initiator: UserId(initiator),
        receiver: Receiver::User(UserId(receiver)),
        call_type: CallType::Audio,
        status,
        reason: None,
        created_at_ms: 0,
        ringing_at_ms: None,
        accepted_at_ms: None,
        terminal_at_ms: None,
    }
}

/// Feeds the notices to a connected client of user 1 and checks its callbacks with the ledger.
fn callbacks_are_legal(notices: &[Notice]) -> Result<(), callcore::testing::invariants::Violation> {
    let device = DeviceId::new(UserId(1), 0);
    let mut client = Client::new(device, Config::default());
    client.handle_input(0, ClientInput::Connected(ConnectionId(0))).unwrap();
    let mut ledger = CallbackLedger::new();
    for notice in notices {
        let _ = client.handle_input(0, ClientInput::Message(ServerMsg::Notify(*notice)));
        while let Some(output) = client.poll_output() {
            if let Output::Callback(cb) = output {
                let outgoing = cb.call.initiator == device.user;
                ledger.observe(device, cb.call.session, outgoing, cb.kind)?;
            }
        }
    }
    Ok(())
}

/// F2 (a) (fixed in 1b79958): the client raised whatever callback a notice names, even one that does not fit its
/// role: told `outgoing_call_ringing` about a call user 0 made to it, it raised it.
#[test]
fn a_callback_of_the_wrong_role_is_dropped() {
    let incoming = view(7, 0, 1, Status::Ringing);
    let notice = Notice { call: incoming, callback: Some(CallbackKind::OutgoingCallRinging) };
    assert_eq!(callbacks_are_legal(&[notice]), Ok(()));
}

/// F2 (b) (fixed in 1b79958): after `outgoing_call_accepted`, a notice naming
/// `outgoing_call_rejected` was raised too (a call once accepted is never rejected).
#[test]
fn rejected_after_accepted_is_dropped() {
    let accepted = view(7, 1, 0, Status::Accepted);
    let rejected = view(7, 1, 0, Status::Rejected);
    let notices = [
        Notice { call: accepted, callback: Some(CallbackKind::OutgoingCallAccepted) },
        Notice { call: rejected, callback: Some(CallbackKind::OutgoingCallRejected(RejectReason::Rejected)) },
    ];
    assert_eq!(callbacks_are_legal(&notices), Ok(()));
}

/// F6 (callsim, fixed in efb74a0): a step at a time near `u64::MAX` parsed, and the default end
/// of the run (`last step + ring timeout + grace + 1000`) overflowed: a panic with overflow checks
/// on, and in a release build a wrapped, tiny end, so `callsim replay` printed PASS without
/// running the step.
#[cfg(feature = "sim")]
#[test]
fn a_step_at_the_end_of_time_does_not_overflow_the_run_end() {
    let text = r#"{"format":1,"name":"n","users":{"a":{},"b":{}},"steps":[
      {"at_ms":18446744073709551615,"user":"a","do":"initiate","to":{"user":"b"},"call_type":"audio","call":"c1"}]}"#;
    if let Ok(s) = callsim::scenario::parse(text, std::path::Path::new("t.json")) {
        let end = std::panic::catch_unwind(|| callsim::scenario::run_until_ms(&s));
        assert!(matches!(end, Ok(end) if end >= s.steps[0].at_ms), "the run's end: {end:?}");
    }
}
