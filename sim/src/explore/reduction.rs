//! Partial-order reduction: of the moves that only touch one device and must happen at the
//! current ms, the search takes them before anything else, instead of in every order with
//! the other events of that ms.
//!
//! **The moves it concerns.** A device's *local* moves are the delivery of the first message
//! the switchboard sent it (`Move::Down`) and the firing of one of its client's timers. They
//! read and write only that device: its client, the items it sends up (put at the back of its
//! queue, sent now, so due a ms later at the earliest), its client's timers (set a ms later
//! at the earliest), its part of the callback ledger and its answered requests. They never
//! change the switchboard, another device, `now` (they happen at `now`) or the count of
//! requests made (only a command counts one).
//!
//! **When it applies.** At a state where an event of this ms has already happened (so no
//! command or fault may run at this ms any more), where no eviction fires at this ms (an
//! eviction forgets the callback ledger's entries of every device), and where device `d` has
//! a local move that *must* happen at this ms (a message whose latest arrival is now, or a
//! client timer due now), the search takes only `d`'s local moves of this ms: the persistent
//! set `T`. Of such devices, the one of least rank under the world's symmetries is chosen
//! ([`super::symmetry::Symmetry::canonical`]; without symmetries, the first in world order):
//! the choice is a function of the state, and the same choice, relabelled, in every state of
//! a class, so a search expands a class alike whichever of its states it meets first (the
//! depth-first search on every core meets them in no fixed order). Any device's set is
//! persistent; the rank only makes the pick canonical.
//!
//! **Why it is sound and complete for what is checked.** While a move of `T` is pending, no
//! move can take time past this ms (it bounds `latest`, see [`super::time`]) and no command or
//! fault is possible; so every path from the state that does not take a move of `T` is a
//! sequence `α` of events of this ms: deliveries to the switchboard, switchboard timers other
//! than evictions, and local moves of other devices. Each of those is independent of each move
//! of `T`: they touch disjoint parts of the state (a switchboard input may append to `d`'s
//! queue of messages, behind the head `T` takes), neither disables the other, and in either
//! order they give the same state. Nothing in `α` can enable another local move of `d` at this
//! ms (what `α` sends `d` is due a ms later). Such a `T` is a *persistent set* (Godefroid,
//! *Partial-Order Methods for the Verification of Concurrent Systems*, 1996), and the state
//! graph is acyclic and finite ([`super::time`], "Finiteness"). Then, by induction on a path's
//! length: every path of the full graph to a state `q` that has taken the pending move of `T`
//! can be reordered, by swapping independent neighbours, into a path that takes it first and
//! reaches the same `q`; so every quiet state (where liveness is judged; nothing is pending
//! there) is reached by the reduced search, and every transition of the full graph that breaks
//! an invariant is taken by it too, from a state that agrees on everything the check reads (a
//! switchboard check reads the switchboard, the ledgers of statuses, pushes and media, `now`
//! and the requests made; a device's check reads that device).
//!
//! **What it changes.** Fewer states and transitions: the intermediate states of the orders
//! that were cut. The quiet states are exactly the same (a test compares their numbers with
//! and without the reduction in the small named worlds). A counterexample is a shortest path
//! of the reduced graph, which may take a pending local move the full graph's shortest path
//! leaves out, so it can be a few moves longer; `--no-reduction` searches the full graph. The
//! search in the simulator's order (the one that makes counterexamples replay exactly) does
//! not reduce: there the order of the events of a ms is fixed by their scheduling numbers,
//! which every move changes.

use super::state::{Move, State, TimerRef};
use super::world::World;

/// Keeps, of `moves` (all of `state`'s), only the persistent set of the device whose local
/// moves must happen now, where the reduction applies (module docs); else keeps them all.
pub fn reduce(state: &State, world: &World, moves: &mut Vec<Move>) {
    let Some(device) = state.forced_device(world) else { return };
    moves.retain(|mv| match *mv {
        Move::Down(d) => d == device,
        Move::Fire(_, TimerRef::Client(d, _)) => d == device,
        _ => false,
    });
    debug_assert!(!moves.is_empty(), "the forced device's local moves are among the moves");
}
