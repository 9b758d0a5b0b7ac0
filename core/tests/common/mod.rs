//! Shared helpers for the integration tests: a harness with the contract's default latency of 20 ms
//! and short names for commands.

#![allow(dead_code)]

use callcore::testing::harness::Harness;
use callcore::{
    CallType, Config, DeviceId, ErrorCode, GroupId, Receiver, RejectStatus, Request, RequestId, SessionId,
    Status, UserId,
};

/// One-way latency used by the tests (the scenario format's default).
pub const L: u64 = 20;
/// Bound on the steps of one run: far above any test's needs, so a livelock fails fast.
pub const MAX_STEPS: usize = 100_000;

/// The contract's defaults but for the media session: the tests of the rules that came before
/// it (contract version 1) run, like version-1 scenario files, without a session start timeout.
/// The media session's own tests (`media.rs`) use the default.
pub fn harness() -> Harness {
    Harness::new(Config { session_start_timeout_ms: None, ..Config::default() }, L)
}

pub fn harness_with(config: Config) -> Harness {
    Harness::new(config, L)
}

pub fn dev(user: UserId, index: u16) -> DeviceId {
    DeviceId::new(user, index)
}

/// Runs the harness to `at_ms`, then issues the command on `device`.
pub fn at(h: &mut Harness, at_ms: u64, device: DeviceId, request: Request) -> RequestId {
    h.run_until(at_ms, MAX_STEPS);
    h.command(device, request)
}

pub fn initiate(to: Receiver) -> Request {
    Request::Initiate { to, call_type: CallType::Audio, ring_timeout_ms: None }
}

pub fn call_user(user: UserId) -> Request {
    initiate(Receiver::User(user))
}

/// An audio call to `group` that rings for `ring_timeout_ms` (not the config's default).
pub fn call_group_ringing(group: GroupId, ring_timeout_ms: u64) -> Request {
    Request::Initiate {
        to: Receiver::Group(group),
        call_type: CallType::Audio,
        ring_timeout_ms: Some(ring_timeout_ms),
    }
}

pub fn accept(session: SessionId) -> Request {
    Request::Accept { session }
}

pub fn reject(session: SessionId, status: RejectStatus) -> Request {
    Request::Reject { session, status }
}

pub fn end(session: SessionId) -> Request {
    Request::End { session }
}

/// The session id the answer to `id` on `device` carried.
pub fn session_of(h: &Harness, device: DeviceId, id: RequestId) -> SessionId {
    h.answer(device, id).expect("answered").expect("succeeded").session
}

pub fn status(h: &Harness, session: SessionId) -> Status {
    h.switchboard.call(session).expect("retained").status()
}

pub fn answer_code(h: &Harness, device: DeviceId, id: RequestId) -> Result<(), ErrorCode> {
    h.answer(device, id).expect("answered").map(|_| ())
}

pub fn names(h: &Harness, device: DeviceId) -> Vec<String> {
    h.callback_names(device)
}

/// A one-to-one audio call object as a switchboard would send it, for feeding a client directly.
pub fn one_to_one_view(
    session: u64,
    initiator: UserId,
    receiver: UserId,
    status: Status,
) -> callcore::CallView {
    callcore::CallView {
        session: SessionId(session),
        initiator,
        receiver: Receiver::User(receiver),
        call_type: CallType::Audio,
        status,
        reason: None,
        created_at_ms: 0,
        ringing_at_ms: None,
        accepted_at_ms: None,
        terminal_at_ms: None,
    }
}
