//! Group calls, rule by rule (contract "Group calls" and docs/semantics.md "Group calls").
//! Latency 20 ms; users connect at 0. A call initiated at 100 is created at 120; incoming calls
//! arrive at 140; the first ack reaches the switchboard at 160.

mod common;

use callcore::testing::harness::Harness;
use callcore::{ErrorCode, GroupId, Part, Receiver, RejectStatus, Request, SessionId, Status, UserId};
use common::*;

/// alex, bob, carol, dave in group "team"; alex calls the team at 100.
fn team_call() -> (Harness, [UserId; 4], GroupId, SessionId) {
    let mut h = harness();
    let users = [0, 1, 2, 3].map(|_| h.add_connected_user(1));
    let team = h.add_group(&users);
    let id = at(&mut h, 100, dev(users[0], 0), initiate(Receiver::Group(team)));
    h.run_until(200, MAX_STEPS);
    let session = session_of(&h, dev(users[0], 0), id);
    (h, users, team, session)
}

fn part(h: &Harness, session: SessionId, user: UserId) -> Part {
    let call = h.switchboard.call(session).expect("retained");
    call.parties().iter().find(|p| p.user == user).expect("a party").part
}

#[test]
fn every_other_member_rings_and_first_ack_rings_the_initiator_once() {
    let (h, [alex, bob, carol, dave], _, session) = team_call();
    assert_eq!(status(&h, session), Status::Ringing);
    for u in [bob, carol, dave] {
        assert_eq!(names(&h, dev(u, 0)), ["incoming_call_received"]);
    }
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing"]);
}

#[test]
fn only_a_member_may_call_the_group() {
    let mut h = harness();
    let members = [h.add_connected_user(1), h.add_connected_user(1)];
    let stranger = h.add_connected_user(1);
    let team = h.add_group(&members);
    let id = at(&mut h, 100, dev(stranger, 0), initiate(Receiver::Group(team)));
    h.run_until(200, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(stranger, 0), id), Err(ErrorCode::NotAMember));
    assert_eq!(h.switchboard.stats().created, 0);
}

#[test]
fn first_accept_accepts_later_accept_joins_and_ring_timeout_stops_the_rest() {
    let (mut h, [alex, bob, carol, dave], _, session) = team_call();
    at(&mut h, 1000, dev(bob, 0), accept(session));
    h.run_until(1100, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Accepted);
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_accepted"]);
    at(&mut h, 2000, dev(carol, 0), accept(session));
    h.run_until(2100, MAX_STEPS);
    assert_eq!(part(&h, session, carol), Part::Joined);
    assert_eq!(
        names(&h, dev(alex, 0)),
        ["outgoing_call_ringing", "outgoing_call_accepted"],
        "no second accepted"
    );
    // Ring timeout at 120 + 45000: dave, still ringing, is stopped; the call stays accepted.
    h.run_until(45_140, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Accepted);
    assert_eq!(part(&h, session, dave), Part::NotReached);
    assert_eq!(names(&h, dev(dave, 0)), ["incoming_call_received", "incoming_call_cancelled unanswered"]);
    let late = at(&mut h, 46_000, dev(dave, 0), accept(session));
    h.run_until(46_100, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(dave, 0), late), Err(ErrorCode::InvalidState));
}

#[test]
fn ending_leaves_until_fewer_than_two_remain_then_ringers_are_cancelled() {
    let (mut h, [alex, bob, carol, dave], _, session) = team_call();
    at(&mut h, 1000, dev(bob, 0), accept(session));
    at(&mut h, 1100, dev(carol, 0), accept(session));
    // Participants: alex, bob, carol. alex leaves: two remain, the call goes on.
    let left = at(&mut h, 2000, dev(alex, 0), end(session));
    h.run_until(2100, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), left), Ok(()));
    assert_eq!(status(&h, session), Status::Accepted);
    assert_eq!(part(&h, session, alex), Part::Left);
    assert_eq!(h.switchboard.involvement(alex).count(), 0, "contract v2: the initiator who left is free");
    // Having left, alex is no longer a participant: its end again is a non-participant's.
    let again = at(&mut h, 2200, dev(alex, 0), end(session));
    h.run_until(2300, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), again), Err(ErrorCode::NotAllowed));
    // bob leaves: carol is the last one; dave still rings.
    at(&mut h, 3000, dev(bob, 0), end(session));
    h.run_until(3100, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Ended);
    assert_eq!(names(&h, dev(carol, 0)), ["incoming_call_received", "call_ended hangup"]);
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received"], "the leaver gets its answer only");
    assert_eq!(names(&h, dev(dave, 0)), ["incoming_call_received", "incoming_call_cancelled cancelled"]);
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_accepted"], "alex had left");
    // Contract, group calls: once accepted, a member who is not a participant gets not_allowed
    // for end "whatever the call's status is by then"; carol, still joined when it ended, asks
    // about a terminal call: invalid_state.
    let by_leaver = at(&mut h, 4000, dev(alex, 0), end(session));
    let by_ringer = h.command(dev(dave, 0), end(session));
    let by_last = h.command(dev(carol, 0), end(session));
    h.run_until(4100, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), by_leaver), Err(ErrorCode::NotAllowed));
    assert_eq!(answer_code(&h, dev(dave, 0), by_ringer), Err(ErrorCode::NotAllowed));
    assert_eq!(answer_code(&h, dev(carol, 0), by_last), Err(ErrorCode::InvalidState));
}

/// Contract v2, involvement: a user is involved while the call is not terminal and it is its
/// initiator "until it leaves the call", is being rung, or has joined it. An initiator who left
/// a group call that goes on is free, and so is a member who left.
#[test]
fn the_initiator_and_a_member_who_left_a_group_call_that_goes_on_are_free() {
    let (mut h, [alex, bob, carol, dave], _, session) = team_call();
    at(&mut h, 1000, dev(bob, 0), accept(session));
    at(&mut h, 1100, dev(carol, 0), accept(session));
    at(&mut h, 1200, dev(dave, 0), accept(session));
    at(&mut h, 2000, dev(alex, 0), end(session));
    at(&mut h, 2000, dev(bob, 0), end(session));
    h.run_until(2100, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Accepted, "carol and dave go on");
    // alex calls at 3000: created at 3020 (alex is free), rung at 3040, acknowledged at 3060.
    let first = h.add_connected_user(1);
    let by_alex = at(&mut h, 3000, dev(alex, 0), call_user(first));
    // Someone else calls bob at 4000: created at 4020, acknowledged at 4060.
    let second = h.add_connected_user(1);
    let to_bob = at(&mut h, 4000, dev(second, 0), call_user(bob));
    h.run_until(4100, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), by_alex), Ok(()));
    assert_eq!(status(&h, session_of(&h, dev(alex, 0), by_alex)), Status::Ringing);
    assert_eq!(status(&h, session_of(&h, dev(second, 0), to_bob)), Status::Ringing, "bob left: free");
    assert_eq!(status(&h, session), Status::Accepted, "the group call is untouched");
}

/// The same, with the initiator being called: a call to alex after it left rings it.
#[test]
fn the_initiator_who_left_a_group_call_that_goes_on_can_be_rung() {
    let (mut h, [alex, bob, carol, _dave], _, session) = team_call();
    at(&mut h, 1000, dev(bob, 0), accept(session));
    at(&mut h, 1100, dev(carol, 0), accept(session));
    at(&mut h, 2000, dev(alex, 0), end(session));
    let outsider = h.add_connected_user(1);
    let to_alex = at(&mut h, 3000, dev(outsider, 0), call_user(alex));
    h.run_until(3100, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Accepted, "bob and carol go on");
    assert_eq!(status(&h, session_of(&h, dev(outsider, 0), to_alex)), Status::Ringing);
    assert_eq!(
        names(&h, dev(alex, 0)),
        ["outgoing_call_ringing", "outgoing_call_accepted", "incoming_call_received"]
    );
}

#[test]
fn every_rung_member_declining_rejects_the_call() {
    let (mut h, [alex, bob, carol, dave], _, session) = team_call();
    at(&mut h, 1000, dev(bob, 0), reject(session, RejectStatus::Rejected));
    at(&mut h, 1000, dev(carol, 0), reject(session, RejectStatus::Busy));
    h.run_until(1100, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Ringing, "dave still rings");
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing"]);
    at(&mut h, 1200, dev(dave, 0), reject(session, RejectStatus::Rejected));
    h.run_until(1300, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Rejected, "group: declines (busy too) make it rejected");
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_rejected rejected"]);
}

#[test]
fn members_already_in_a_call_are_busy_and_not_rung_all_busy_is_busy() {
    let mut h = harness();
    let [alex, bob, carol, erin, dan] = [0, 1, 2, 3, 4].map(|_| h.add_connected_user(1));
    let team = h.add_group(&[alex, bob, carol]);
    let duo = h.add_group(&[dan, bob]);
    // bob calls erin at 100 (created at 120): from then on bob is involved.
    at(&mut h, 100, dev(bob, 0), call_user(erin));
    let id = at(&mut h, 300, dev(alex, 0), initiate(Receiver::Group(team)));
    h.run_until(400, MAX_STEPS);
    let session = session_of(&h, dev(alex, 0), id);
    assert_eq!(part(&h, session, bob), Part::Busy);
    assert_eq!(part(&h, session, carol), Part::Ringing);
    assert_eq!(status(&h, session), Status::Ringing, "carol rings and acked");
    assert_eq!(names(&h, dev(bob, 0)), ["outgoing_call_ringing"], "his own call only: not rung");
    // dan's group has one other member, bob, who is busy: the call is busy at once.
    let id = at(&mut h, 500, dev(dan, 0), initiate(Receiver::Group(duo)));
    h.run_until(600, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(dan, 0), id), Ok(()));
    assert_eq!(status(&h, session_of(&h, dev(dan, 0), id)), Status::Busy);
    assert_eq!(names(&h, dev(dan, 0)), ["outgoing_call_rejected busy"]);
}

/// Contract: a member marked busy "is not rung and not involved": it has no part in the call, so
/// its accept or reject is `not_allowed`, like a stranger's (docs/semantics.md, errors). A member
/// who was rung and declined with status busy has answered: its later accept is `invalid_state`.
#[test]
fn a_member_marked_busy_has_no_part_one_who_declined_busy_has_answered() {
    let mut h = harness();
    let [alex, bob, carol, dave, erin] = [0, 1, 2, 3, 4].map(|_| h.add_connected_user(1));
    let team = h.add_group(&[alex, bob, carol, dave]);
    // bob calls erin at 100 (created at 120): from then on bob is involved.
    at(&mut h, 100, dev(bob, 0), call_user(erin));
    // alex calls the team at 300 (created at 320): bob is marked busy, carol and dave ring.
    let id = at(&mut h, 300, dev(alex, 0), initiate(Receiver::Group(team)));
    h.run_until(400, MAX_STEPS);
    let session = session_of(&h, dev(alex, 0), id);
    assert_eq!(part(&h, session, bob), Part::Busy);
    let bob_accepts = at(&mut h, 500, dev(bob, 0), accept(session));
    let bob_rejects = at(&mut h, 500, dev(bob, 0), reject(session, RejectStatus::Rejected));
    at(&mut h, 600, dev(carol, 0), reject(session, RejectStatus::Busy));
    h.run_until(700, MAX_STEPS);
    let carol_accepts = at(&mut h, 800, dev(carol, 0), accept(session));
    h.run_until(900, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(bob, 0), bob_accepts), Err(ErrorCode::NotAllowed));
    assert_eq!(answer_code(&h, dev(bob, 0), bob_rejects), Err(ErrorCode::NotAllowed));
    assert_eq!(answer_code(&h, dev(carol, 0), carol_accepts), Err(ErrorCode::InvalidState));
    assert_eq!(part(&h, session, bob), Part::Busy, "the refused requests changed nothing");
    assert_eq!(part(&h, session, carol), Part::Busy);
    assert_eq!(status(&h, session), Status::Ringing, "dave still rings");
}

#[test]
fn cancel_before_accept_and_cancel_after_accept() {
    let (mut h, [alex, bob, _carol, dave], _, session) = team_call();
    at(&mut h, 1000, dev(alex, 0), Request::cancel(session));
    h.run_until(1100, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Cancelled);
    assert_eq!(names(&h, dev(dave, 0)), ["incoming_call_received", "incoming_call_cancelled cancelled"]);
    let late = at(&mut h, 1200, dev(bob, 0), accept(session));
    h.run_until(1300, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(bob, 0), late), Err(ErrorCode::InvalidState));

    // Contract v2: after an accept, the initiator's cancel is its leave. bob accepts (1020);
    // alex's cancel (1120) leaves bob alone: the call ends, bob gets call_ended hangup, carol
    // and dave, still ringing, incoming_call_cancelled cancelled; alex gets its answer only.
    let (mut h, [alex, bob, carol, dave], _, session) = team_call();
    at(&mut h, 1000, dev(bob, 0), accept(session));
    let cancel = at(&mut h, 1100, dev(alex, 0), Request::cancel(session));
    h.run_until(1200, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), cancel), Ok(()));
    assert_eq!(status(&h, session), Status::Ended);
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_accepted"]);
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received", "call_ended hangup"]);
    for u in [carol, dave] {
        assert_eq!(names(&h, dev(u, 0)), ["incoming_call_received", "incoming_call_cancelled cancelled"]);
    }

    // With two members in the call, the initiator's give-up (reject unanswered) is its leave and
    // the call goes on; its cancel after that is a non-participant's: not_allowed.
    let (mut h, [alex, bob, carol, _dave], _, session) = team_call();
    at(&mut h, 1000, dev(bob, 0), accept(session));
    at(&mut h, 1000, dev(carol, 0), accept(session));
    let give_up = at(&mut h, 1100, dev(alex, 0), reject(session, RejectStatus::Unanswered));
    let again = at(&mut h, 1300, dev(alex, 0), Request::cancel(session));
    h.run_until(1400, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(alex, 0), give_up), Ok(()));
    assert_eq!(answer_code(&h, dev(alex, 0), again), Err(ErrorCode::NotAllowed));
    assert_eq!(status(&h, session), Status::Accepted);
    assert_eq!(part(&h, session, alex), Part::Left);
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received"], "bob and carol go on");
}

/// Contract v2, group details: when every rung member declined with status busy (or was marked
/// busy) and nobody accepted, the call is busy; one decline with status rejected makes it rejected.
#[test]
fn every_rung_member_declining_busy_makes_the_call_busy() {
    let (mut h, [alex, bob, carol, dave], _, session) = team_call();
    for u in [bob, carol, dave] {
        at(&mut h, 1000, dev(u, 0), reject(session, RejectStatus::Busy));
    }
    h.run_until(1100, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Busy);
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_rejected busy"]);
    assert_eq!(names(&h, dev(dave, 0)), ["incoming_call_received"], "the last decliner: its answer");

    let (mut h, [alex, bob, carol, dave], _, session) = team_call();
    at(&mut h, 1000, dev(bob, 0), reject(session, RejectStatus::Busy));
    at(&mut h, 1000, dev(carol, 0), reject(session, RejectStatus::Rejected));
    at(&mut h, 1000, dev(dave, 0), reject(session, RejectStatus::Busy));
    h.run_until(1100, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Rejected);
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_rejected rejected"]);
}

#[test]
fn ring_timeout_before_any_accept_is_unanswered() {
    let (mut h, [alex, bob, ..], _, session) = team_call();
    h.run_until(45_140, MAX_STEPS);
    assert_eq!(status(&h, session), Status::Unanswered);
    assert_eq!(names(&h, dev(alex, 0)), ["outgoing_call_ringing", "outgoing_call_rejected unanswered"]);
    assert_eq!(names(&h, dev(bob, 0)), ["incoming_call_received", "incoming_call_cancelled unanswered"]);
}

/// Contract, group calls: once accepted, "the initiator and every member who accepted are the
/// call's participants", and `not_allowed` covers "a non-participant ends". Before any accept, a
/// member's end is "end a ringing call": `invalid_state`.
#[test]
fn ending_an_accepted_group_call_without_having_joined_is_not_allowed() {
    let (mut h, [_alex, bob, carol, dave], _, session) = team_call();
    let outsider = h.add_connected_user(1);
    let before_accept = at(&mut h, 500, dev(dave, 0), end(session));
    at(&mut h, 1000, dev(bob, 0), accept(session));
    let by_stranger = at(&mut h, 1100, dev(outsider, 0), end(session));
    let by_ringer = h.command(dev(carol, 0), end(session));
    h.run_until(1200, MAX_STEPS);
    assert_eq!(answer_code(&h, dev(dave, 0), before_accept), Err(ErrorCode::InvalidState));
    assert_eq!(answer_code(&h, dev(outsider, 0), by_stranger), Err(ErrorCode::NotAllowed));
    assert_eq!(answer_code(&h, dev(carol, 0), by_ringer), Err(ErrorCode::NotAllowed));
    assert_eq!(status(&h, session), Status::Accepted, "nothing changed");
}
