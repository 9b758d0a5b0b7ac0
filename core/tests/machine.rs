//! The statig lifecycle machine is the one place where the status rules live; these tests hold it
//! to the contract's table (exported as data in `callcore::table`): every row is a transition of
//! the machine, and every reachable (status, event, role) triple of a one-to-one call gets what
//! the table and the contract's order of checks say: the row's status, `not_allowed` for a role
//! that has no row for the event, `invalid_state` for one that has a row but not in this status.
//! The generated state diagram in docs/ matches the code.

use callcore::lifecycle::{CallMachine, Effect, Event, Facts, Role, Verdict};
use callcore::table::{mermaid, Actor, Row, GROUP, ONE_TO_ONE};
use callcore::{ErrorCode, Part, Status};

/// A one-to-one call: the other party is the one participant besides the requester.
const ONE_TO_ONE_FACTS: Facts = Facts {
    group: false,
    others_joined: 1,
    others_ringing: true,
    others_rejected: false,
    others_accepted: false,
    joined_elsewhere: false,
    session_started: false,
};

fn feed(m: &mut CallMachine, event: Event, role: Role, facts: Facts) -> Verdict {
    m.handle(event, role, facts)
}

/// A one-to-one call's machine driven to `status` along the shortest path of the table.
fn machine_in(status: Option<Status>) -> CallMachine {
    let mut m = CallMachine::new();
    let ringing = Role::Receiver(Part::Ringing);
    let f = ONE_TO_ONE_FACTS;
    let path: &[(Event, Role, Facts)] = match status {
        None => &[],
        Some(Status::Initiated) => &[(Event::Create, Role::Initiator, f)],
        Some(Status::Ringing) => &[(Event::Create, Role::Initiator, f), (Event::Ack, ringing, f)],
        Some(Status::Accepted) => &[(Event::Create, Role::Initiator, f), (Event::Accept, ringing, f)],
        Some(Status::Rejected) => &[(Event::Create, Role::Initiator, f), (Event::Reject, ringing, f)],
        Some(Status::Busy) => &[(Event::Create, Role::Initiator, Facts { others_ringing: false, ..f })],
        Some(Status::Cancelled) => {
            &[(Event::Create, Role::Initiator, f), (Event::Cancel, Role::Initiator, f)]
        }
        Some(Status::Unanswered) => {
            &[(Event::Create, Role::Initiator, f), (Event::RingTimeout, Role::Switchboard, f)]
        }
        Some(Status::Ended) => &[
            (Event::Create, Role::Initiator, f),
            (Event::Accept, ringing, f),
            (Event::End, Role::Initiator, f),
        ],
    };
    for &(event, role, facts) in path {
        assert!(feed(&mut m, event, role, facts).outcome.is_ok(), "{event:?} by {role:?}");
    }
    assert_eq!(m.status(), status);
    m
}

/// The roles that may make a row's input (as the table names them), in the machine's terms.
fn actors(by: Actor, event: Option<Event>) -> Vec<Role> {
    match (by, event) {
        (Actor::Initiator, _) => vec![Role::Initiator],
        (Actor::Receiver | Actor::ReceiverDevice, _) => vec![Role::Receiver(Part::Ringing)],
        (Actor::EitherParty, _) => vec![Role::Initiator, Role::Receiver(Part::Joined)],
        // A connection lost for good: the switchboard acts, about the party that is gone.
        (Actor::Switchboard, Some(Event::InitiatorLost)) => vec![Role::Initiator],
        (Actor::Switchboard, Some(Event::PartyLost)) => vec![Role::Initiator, Role::Receiver(Part::Joined)],
        // A session start timeout: the switchboard acts, about the participant that did not start.
        (Actor::Switchboard, Some(Event::SessionTimeout)) => {
            vec![Role::Initiator, Role::Receiver(Part::Joined)]
        }
        (Actor::Switchboard, _) => vec![Role::Switchboard],
    }
}

/// The event the switchboard feeds for a row, and the facts that make the row apply.
fn input_of(row: &Row, group: bool) -> (Event, Facts) {
    let f = Facts { group, ..ONE_TO_ONE_FACTS };
    let nobody_else = Facts { others_ringing: false, others_accepted: false, others_rejected: false, ..f };
    match row.event {
        None => (Event::Create, f),
        Some(Event::ReceiverBusy) => (Event::Create, Facts { others_ringing: false, ..f }),
        Some(Event::AllDeclined) => (Event::Reject, nobody_else),
        Some(Event::AllDeclinedBusy) => (Event::RejectBusy, nobody_else),
        // A group's participant leaves without ending the call: two others remain.
        Some(Event::SessionTimeout) if row.to == Status::Accepted => {
            (Event::SessionTimeout, Facts { others_joined: 2, ..f })
        }
        Some(event) => (event, f),
    }
}

#[test]
fn every_row_of_the_table_is_a_transition_of_the_machine() {
    let mut checked = 0;
    let rows = ONE_TO_ONE.iter().map(|r| (r, false)).chain(GROUP.iter().map(|r| (r, true)));
    for (row, group) in rows {
        let (event, facts) = input_of(row, group);
        let froms: Vec<Option<Status>> =
            if row.from.is_empty() { vec![None] } else { row.from.iter().map(|&s| Some(s)).collect() };
        for from in froms {
            for role in actors(row.by, row.event) {
                let mut m = machine_in(from);
                let verdict = feed(&mut m, event, role, facts);
                assert!(verdict.outcome.is_ok(), "{from:?} --{event:?} by {role:?}--> {verdict:?}");
                assert_eq!(m.status(), Some(row.to), "{from:?} --{event:?} by {role:?}--> {}", row.to);
                let changed = from != Some(row.to);
                let reported = row.event.unwrap_or(Event::Create);
                assert_eq!(verdict.reported, changed.then_some(reported), "{from:?} --{event:?}");
                checked += 1;
            }
        }
    }
    // One-to-one: 16 rows, 7 of them for both initiated and ringing; end, the loss of an
    // accepted call's party, the session start and its timeout each for both parties; group: 5
    // rows, two of them for both statuses, the session timeout for both parties.
    assert_eq!(checked, (16 + 7 + 1 + 1 + 1 + 1) + (5 + 2 + 1));
}

/// Roles a one-to-one call can meet in `status` (the receiver's part follows the status).
fn reachable_roles(status: Option<Status>) -> Vec<Role> {
    let mut roles = vec![Role::Initiator, Role::Stranger, Role::Switchboard];
    let receiver = match status {
        None => None,
        Some(Status::Initiated | Status::Ringing | Status::Cancelled | Status::Unanswered) => {
            Some(Part::Ringing)
        }
        Some(Status::Accepted) => Some(Part::Joined),
        Some(Status::Rejected) => Some(Part::Rejected),
        Some(Status::Busy) => Some(Part::Busy),
        Some(Status::Ended) => {
            roles.push(Role::InitiatorLeft);
            roles.push(Role::Receiver(Part::Left));
            Some(Part::Joined)
        }
    };
    roles.extend(receiver.map(Role::Receiver));
    roles
}

/// What the table and the contract's order of checks say a request gets: the row's status if a
/// row lets the role make it in this status; `invalid_state` if the role has a row for it in some
/// other status (or its part no longer allows it: it answered already); else `not_allowed`.
fn expected(status: Option<Status>, event: Event, role: Role) -> Result<Status, ErrorCode> {
    let rows = ONE_TO_ONE.iter().filter(|r| r.event == Some(event));
    if let Some(row) = rows
        .clone()
        .find(|r| status.is_some_and(|s| r.from.contains(&s)) && actors(r.by, r.event).contains(&role))
    {
        return Ok(row.to);
    }
    let has_right = |by: Actor| match by {
        Actor::Initiator => matches!(role, Role::Initiator | Role::InitiatorLeft),
        Actor::Receiver | Actor::ReceiverDevice => matches!(role, Role::Receiver(_)),
        Actor::EitherParty => !matches!(role, Role::Stranger | Role::Switchboard),
        Actor::Switchboard => role == Role::Switchboard,
    };
    if rows.clone().any(|r| has_right(r.by)) {
        Err(ErrorCode::InvalidState)
    } else {
        Err(ErrorCode::NotAllowed)
    }
}

#[test]
fn every_request_in_every_status_by_every_role_gets_what_the_table_says() {
    let requests = [
        Event::Accept,
        Event::Reject,
        Event::RejectBusy,
        Event::Cancel,
        Event::GiveUp,
        Event::End,
        Event::StartSession,
    ];
    let statuses = Status::ALL.into_iter().map(Some);
    let mut checked = 0;
    for status in statuses {
        for role in reachable_roles(status) {
            for event in requests {
                let mut m = machine_in(status);
                let verdict = feed(&mut m, event, role, ONE_TO_ONE_FACTS);
                let got = verdict.outcome.map(|_| m.status().expect("created"));
                assert_eq!(got, expected(status, event, role), "{status:?} --{event:?} by {role:?}");
                if got.is_err() {
                    assert_eq!(m.status(), status, "a refused request changes nothing");
                }
                checked += 1;
            }
        }
    }
    // 7 statuses with 4 reachable roles, ended with 6 (the two who left included); 7 requests.
    assert_eq!(checked, (7 * 4 + 6) * 7);
}

#[test]
fn acks_and_timers_follow_the_table_and_change_nothing_elsewhere() {
    let ringing = Role::Receiver(Part::Ringing);
    for status in Status::ALL {
        let mut m = machine_in(Some(status));
        let ack = feed(&mut m, Event::Ack, ringing, ONE_TO_ONE_FACTS);
        let after_ack = if status == Status::Initiated { Status::Ringing } else { status };
        assert_eq!((ack.outcome.is_ok(), m.status()), (true, Some(after_ack)), "ack in {status}");
        let mut m = machine_in(Some(status));
        let stranger = feed(&mut m, Event::Ack, Role::Stranger, ONE_TO_ONE_FACTS);
        assert_eq!(stranger.outcome, Err(ErrorCode::NotAllowed), "a stranger's ack in {status}");
        let mut m = machine_in(Some(status));
        let timeout = feed(&mut m, Event::RingTimeout, Role::Switchboard, ONE_TO_ONE_FACTS);
        let alerting = matches!(status, Status::Initiated | Status::Ringing);
        let after = if alerting { Status::Unanswered } else { status };
        assert_eq!((timeout.outcome.is_ok(), m.status()), (true, Some(after)), "ring timeout in {status}");
    }
}

#[test]
fn creation_is_a_transition_into_initiated_or_busy() {
    let mut m = CallMachine::new();
    assert_eq!(m.status(), None, "no status before the creation");
    let v = feed(&mut m, Event::Create, Role::Initiator, ONE_TO_ONE_FACTS);
    assert_eq!(
        (v.outcome, v.reported, m.status()),
        (Ok(Effect::Ring), Some(Event::Create), Some(Status::Initiated))
    );
    let mut m = CallMachine::new();
    let v = feed(&mut m, Event::Create, Role::Initiator, Facts { others_ringing: false, ..ONE_TO_ONE_FACTS });
    assert_eq!(
        (v.outcome, v.reported, m.status()),
        (Ok(Effect::Nothing), Some(Event::ReceiverBusy), Some(Status::Busy))
    );
    let mut m = CallMachine::new();
    assert!(feed(&mut m, Event::Accept, Role::Receiver(Part::Ringing), ONE_TO_ONE_FACTS).outcome.is_err());
    assert_eq!(m.status(), None, "nothing but the creation makes a call");
}

/// Group rules that depend on the other members: a decline ends the call only when nobody else
/// rings or accepted; a leave ends it only when fewer than two remain; a non-participant's end
/// is `not_allowed` even after the call ended; an accept while joined elsewhere is
/// `already_in_call`, after the role and status checks.
#[test]
fn group_rules_read_the_facts_about_the_other_members() {
    let ringing = Role::Receiver(Part::Ringing);
    let group = Facts { group: true, ..ONE_TO_ONE_FACTS };
    let mut m = machine_in(Some(Status::Ringing));
    let v = feed(&mut m, Event::Reject, ringing, group);
    assert_eq!((v.outcome, m.status()), (Ok(Effect::Decline), Some(Status::Ringing)), "others still ring");

    let mut m = machine_in(Some(Status::Accepted));
    let v = feed(&mut m, Event::End, Role::Initiator, Facts { others_joined: 2, ..group });
    assert_eq!((v.outcome, m.status()), (Ok(Effect::Leave), Some(Status::Accepted)), "two remain");
    let v = feed(&mut m, Event::Cancel, Role::InitiatorLeft, group);
    assert_eq!(v.outcome, Err(ErrorCode::NotAllowed), "a cancel after leaving, like an end");

    let mut m = machine_in(Some(Status::Ended));
    for role in
        [Role::InitiatorLeft, Role::Receiver(Part::Left), Role::Receiver(Part::NotReached), Role::NotRung]
    {
        assert_eq!(feed(&mut m, Event::End, role, group).outcome, Err(ErrorCode::NotAllowed), "{role:?}");
    }
    assert_eq!(
        feed(&mut m, Event::End, Role::Receiver(Part::Joined), group).outcome,
        Err(ErrorCode::InvalidState)
    );
    assert_eq!(feed(&mut m, Event::Cancel, Role::InitiatorLeft, group).outcome, Err(ErrorCode::InvalidState));

    let elsewhere = Facts { joined_elsewhere: true, ..group };
    let mut m = machine_in(Some(Status::Ringing));
    assert_eq!(feed(&mut m, Event::Accept, ringing, elsewhere).outcome, Err(ErrorCode::AlreadyInCall));
    assert_eq!(feed(&mut m, Event::Accept, Role::NotRung, elsewhere).outcome, Err(ErrorCode::NotAllowed));
    let mut m = machine_in(Some(Status::Accepted));
    let joined = Role::Receiver(Part::Joined);
    assert_eq!(feed(&mut m, Event::Accept, joined, elsewhere).outcome, Err(ErrorCode::InvalidState));
}

#[test]
fn the_table_names_who_may_act_as_the_contract_does() {
    let by = |input: &str| ONE_TO_ONE.iter().find(|r| r.input == input).expect(input).by;
    assert_eq!(by("accept"), Actor::Receiver);
    assert_eq!(by("reject, status rejected"), Actor::Receiver);
    assert_eq!(by("reject, status cancelled (= cancel)"), Actor::Initiator);
    assert_eq!(by("reject, status unanswered"), Actor::Initiator);
    assert_eq!(by("ring timeout fires"), Actor::Switchboard);
    assert_eq!(by("end"), Actor::EitherParty);
}

#[test]
fn state_diagram_snapshot() {
    insta::assert_snapshot!(mermaid());
}

#[test]
fn docs_state_machine_holds_the_generated_diagram() {
    let doc = include_str!("../../docs/state-machine.md");
    let block = format!("```mermaid\n{}```", mermaid());
    assert!(
        doc.contains(&block),
        "docs/state-machine.md is out of date: regenerate it with \
         `cargo run -p callcore --example state_diagram > docs/state-machine.md`"
    );
}

/// Invariant 6 reads who may act from the table's rows: the initiator's cancel and the receiver's
/// accept pass; an accept made by the initiator, or a cancel by the receiver, is a violation.
#[test]
fn the_authority_check_reads_the_table() {
    use callcore::switchboard::StatusChange;
    use callcore::testing::harness::Harness;
    use callcore::testing::invariants::check_authority;
    use callcore::{CallType, Config, DeviceId, Receiver, Request, SessionId, UserId};
    let mut h = Harness::new(Config::default(), 20);
    let (alex, bob) = (h.add_connected_user(1), h.add_connected_user(1));
    h.command(DeviceId::new(alex, 0), Request::initiate(Receiver::User(bob), CallType::Audio));
    h.run_until(1_000, 100);
    let call = h.switchboard.call(SessionId(0)).expect("the call");
    let change = |event, by: UserId| StatusChange {
        session: SessionId(0),
        from: Some(Status::Ringing),
        to: Status::Accepted,
        event: Some(event),
        by: Some(by),
        at_ms: 0,
    };
    assert!(check_authority(&change(Event::Accept, bob), &call).is_ok());
    assert!(check_authority(&change(Event::Cancel, alex), &call).is_ok());
    assert_eq!(check_authority(&change(Event::Accept, alex), &call).map_err(|v| v.invariant), Err(6));
    assert_eq!(check_authority(&change(Event::Cancel, bob), &call).map_err(|v| v.invariant), Err(6));
    assert_eq!(check_authority(&change(Event::End, UserId(9)), &call).map_err(|v| v.invariant), Err(6));
}

/// The ring phase ends with the call, or with a one-to-one call's accept; a group call's members
/// may still join after the first accept, until the ring timeout.
#[test]
fn the_machine_says_when_the_ring_phase_is_over() {
    let ringing = Role::Receiver(Part::Ringing);
    let group = Facts { group: true, ..ONE_TO_ONE_FACTS };
    let over = |status, event, role, facts| feed(&mut machine_in(Some(status)), event, role, facts).ring_over;
    assert!(over(Status::Ringing, Event::Accept, ringing, ONE_TO_ONE_FACTS));
    assert!(!over(Status::Ringing, Event::Accept, ringing, group));
    assert!(over(Status::Ringing, Event::Cancel, Role::Initiator, group));
    assert!(over(Status::Initiated, Event::RingTimeout, Role::Switchboard, ONE_TO_ONE_FACTS));
    assert!(!over(Status::Initiated, Event::Ack, ringing, ONE_TO_ONE_FACTS));
    assert!(!over(Status::Accepted, Event::RingTimeout, Role::Switchboard, group), "no status change");
}

#[test]
fn a_participant_starts_its_session_once_and_only_one_that_did_not_start_times_out() {
    let started = Facts { session_started: true, ..ONE_TO_ONE_FACTS };
    for role in [Role::Initiator, Role::Receiver(Part::Joined)] {
        // Accepted: a second start (from any device of the user) is not_allowed; the status stays.
        let mut m = machine_in(Some(Status::Accepted));
        let again = feed(&mut m, Event::StartSession, role, started);
        assert_eq!((again.outcome, m.status()), (Err(ErrorCode::NotAllowed), Some(Status::Accepted)));
        // A timeout for a participant that started is moot.
        let moot = feed(&mut m, Event::SessionTimeout, role, started);
        assert_eq!(
            (moot.outcome, moot.reported, m.status()),
            (Ok(Effect::Nothing), None, Some(Status::Accepted))
        );
        // One that did not start leaves; in a one-to-one call the call ends, reported as the timeout.
        let timeout = feed(&mut m, Event::SessionTimeout, role, ONE_TO_ONE_FACTS);
        assert_eq!(
            (timeout.outcome, timeout.reported, m.status()),
            (Ok(Effect::Leave), Some(Event::SessionTimeout), Some(Status::Ended))
        );
        // Ended: not_allowed for one that started (checked first), invalid_state for one that did not.
        let late = feed(&mut m, Event::StartSession, role, started);
        assert_eq!(late.outcome, Err(ErrorCode::NotAllowed));
        let late = feed(&mut m, Event::StartSession, role, ONE_TO_ONE_FACTS);
        assert_eq!(late.outcome, Err(ErrorCode::InvalidState));
    }
    // A group: a timeout with two others joined is a leave that keeps the call accepted.
    let mut m = machine_in(Some(Status::Accepted));
    let group = Facts { group: true, others_joined: 2, ..ONE_TO_ONE_FACTS };
    let v = feed(&mut m, Event::SessionTimeout, Role::Receiver(Part::Joined), group);
    assert_eq!((v.outcome, v.reported, m.status()), (Ok(Effect::Leave), None, Some(Status::Accepted)));
    // A group member not (or no longer) a participant may not start a session.
    for role in
        [Role::Receiver(Part::Ringing), Role::Receiver(Part::Left), Role::InitiatorLeft, Role::NotRung]
    {
        let v = feed(&mut m, Event::StartSession, role, group);
        assert_eq!(v.outcome, Err(ErrorCode::NotAllowed), "{role:?}");
    }
}
