//! The statig lifecycle machine agrees with the contract's table (exported as data), terminal
//! states absorb every event, and the generated state diagram in docs/ matches the code.

use callcore::lifecycle::{CallMachine, Event};
use callcore::table::{mermaid, Actor, GROUP, ONE_TO_ONE};
use callcore::Status;

/// A machine driven to `status` along the shortest path of the table.
fn machine_in(status: Status) -> CallMachine {
    let mut m = CallMachine::new();
    let path: &[Event] = match status {
        Status::Initiated => &[],
        Status::Ringing => &[Event::Ack],
        Status::Accepted => &[Event::Accept],
        Status::Rejected => &[Event::Reject],
        Status::Busy => &[Event::ReceiverBusy],
        Status::Cancelled => &[Event::Cancel],
        Status::Unanswered => &[Event::RingTimeout],
        Status::Ended => &[Event::Accept, Event::End],
    };
    for &e in path {
        assert!(m.handle(e));
    }
    assert_eq!(m.status(), status);
    m
}

#[test]
fn every_row_of_the_table_is_a_transition_of_the_machine() {
    let mut checked = 0;
    for row in ONE_TO_ONE.iter().chain(GROUP) {
        let Some(event) = row.event else {
            assert_eq!(CallMachine::new().status(), row.to, "creation gives {}", row.to);
            checked += 1;
            continue;
        };
        let froms = if row.from.is_empty() { &[Status::Initiated][..] } else { row.from };
        for &from in froms {
            let mut m = machine_in(from);
            assert!(m.handle(event), "{from} takes {event:?}");
            assert_eq!(m.status(), row.to, "{from} --{event:?}--> {}", row.to);
            checked += 1;
        }
    }
    // 14 one-to-one rows (two of them the v2 cancel and give-up of an accepted call), 7 of them
    // for both initiated and ringing; 4 group rows, two of them (all declined, all declined
    // busy) for both.
    assert_eq!(checked, 14 + 7 + 4 + 2);
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
fn terminal_states_absorb_every_event() {
    for status in Status::ALL.into_iter().filter(|s| s.is_terminal()) {
        for event in Event::ALL {
            let mut m = machine_in(status);
            assert!(!m.handle(event), "{status} refuses {event:?}");
            assert_eq!(m.status(), status);
        }
    }
}

#[test]
fn events_outside_the_table_are_refused_without_change() {
    let refused = [
        (Status::Initiated, Event::End),
        (Status::Ringing, Event::End),
        (Status::Ringing, Event::ReceiverBusy),
        (Status::Accepted, Event::Reject),
        (Status::Accepted, Event::RejectBusy),
        (Status::Accepted, Event::AllDeclined),
        (Status::Accepted, Event::AllDeclinedBusy),
        (Status::Accepted, Event::InitiatorLost),
    ];
    for (status, event) in refused {
        let mut m = machine_in(status);
        assert!(!m.handle(event), "{status} refuses {event:?}");
        assert_eq!(m.status(), status);
    }
    // Allowed without a status change: a second ack while ringing; a join and the stop of the
    // remaining ringers while accepted (group calls).
    for (status, event) in [
        (Status::Ringing, Event::Ack),
        (Status::Accepted, Event::Accept),
        (Status::Accepted, Event::RingTimeout),
    ] {
        let mut m = machine_in(status);
        assert!(m.handle(event));
        assert_eq!(m.status(), status);
    }
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
