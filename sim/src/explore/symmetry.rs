//! Symmetry reduction: states that differ only by a relabelling of interchangeable users are
//! one state.
//!
//! **Which users are interchangeable.** A permutation `σ` of the users is a symmetry of the
//! world when it maps the world onto itself: every user `u` has the plan of `σ(u)` (devices,
//! commands, push registration, and the alphabet with every user it calls relabelled by `σ`),
//! and `σ` maps every group's members onto the same members. The symmetries found this way form
//! a group `G` ([`Symmetry::of`]); in the three-member group world with equal plans it is all
//! six permutations, in `busy-3` and `waiting-3` the swap of the two callers, in the two-user
//! worlds (a caller and a callee) only the identity.
//!
//! **The canonical form.** A state's fingerprint is the least, over `σ` in `G`, of the hash of
//! its text relabelled by `σ`: every user id `k` written as `σ(k)`, the users' records, the
//! devices' parts and the commands left put in the order of the new ids, a client timer's device
//! index mapped with its user, and the lists whose order comes from the ids sorted (the timers,
//! the callback ledger's entries, and the receivers of a call: its parties after the initiator,
//! whom the switchboard seats in the group's order). Two states get the same fingerprint when
//! (but for hash collisions) one is the other relabelled.
//!
//! **Why it is sound.** The machines and the checks treat user ids as names: no rule compares
//! two ids by size or reads one as a number, the checks are the same for every user, and the
//! world's symmetries map the script's moves onto moves. So for `σ` in `G` the successors of a
//! relabelled state are the relabelled successors, and a relabelled quiet state or violation is
//! one of the same kind. The one place where the machines keep an order that comes from the ids
//! is the order of a call's receivers (the group's member order) and what follows it: the order
//! in which one input's messages and pushes to different devices are emitted. Those go on
//! different connections, whose queues are independent, so their relative order is no part of
//! a state; no rule of the switchboard picks a receiver by its position (they are rung,
//! stopped and told alike). Hence sorting the receivers merges states that behave alike. With
//! the partial-order reduction on as well, the search expands from each state its reduced
//! successors; since the full graph is symmetric, every quiet state and every violation of the
//! full graph is still reached up to relabelling (induction on the longest path from a state,
//! as in [`super::reduction`]).
//!
//! **Where it is not applied.** Across users whose plans differ or who play different roles in
//! a group (no permutation of them is a symmetry); across the devices of one user (a client's
//! request ids and the switchboard's per-device answers are kept in device order, and the
//! worlds give every device of a user the same plan, but relabelling device indexes is not done
//! here); in the worlds with push registrations or the media session's timeout (their ledgers
//! are written in an order of users this module does not relabel); and in the search in the
//! simulator's order (the ranks of scheduling numbers follow device order). There `G` is the
//! identity alone and a state's fingerprint is the hash of its text.
//!
//! **How it is checked.** `sim/tests/explore.rs` counts, in worlds with symmetries, the orbits
//! of the full graph's states (their least relabelled fingerprints, from a search without the
//! reduction) and compares them with the states and quiet states of the reduced search.

use super::state::Parts;
use super::world::{Cmd, World};
use callcore::{Receiver, UserId};
use memchr::memmem;
use std::collections::BTreeSet;
use std::fmt::Write;
use std::sync::LazyLock;
use xxhash_rust::xxh3::xxh3_128;

/// Separates the parts of a state's text (no machine's text has it).
const SEP: char = '\u{1f}';

/// The symmetries of a world: permutations of its users that map it onto itself.
#[derive(Clone, Debug)]
pub struct Symmetry {
    /// Each symmetry `σ` as `perm[u] = σ(u)`, the identity first.
    perms: Vec<Vec<u32>>,
    /// For each symmetry, its inverse.
    inverses: Vec<Vec<u32>>,
    /// For each symmetry, the device index each device index becomes.
    devices: Vec<Vec<u16>>,
    /// For each symmetry, the device index each new device index comes from.
    devices_inverse: Vec<Vec<u16>>,
    /// Each user's device indexes.
    user_devices: Vec<std::ops::Range<usize>>,
}

impl Symmetry {
    /// The identity alone: every state is its own class.
    pub fn identity(world: &World) -> Symmetry {
        let users = world.users.len();
        let perm: Vec<u32> = (0..users as u32).collect();
        let devices: Vec<u16> = (0..world.device_count() as u16).collect();
        let mut user_devices = Vec::with_capacity(users);
        let mut next = 0;
        for plan in &world.users {
            user_devices.push(next..next + usize::from(plan.devices));
            next += usize::from(plan.devices);
        }
        Symmetry {
            perms: vec![perm.clone()],
            inverses: vec![perm],
            devices: vec![devices.clone()],
            devices_inverse: vec![devices],
            user_devices,
        }
    }

    /// Every symmetry of `world` (module docs), or the identity alone where symmetry is not
    /// applied (push registrations, the media session's timeout).
    pub fn of(world: &World) -> Symmetry {
        let mut sym = Symmetry::identity(world);
        if world.config.session_start_timeout_ms.is_some() || world.users.iter().any(|u| u.push) {
            return sym;
        }
        let n = world.users.len() as u32;
        let mut first_device = Vec::new();
        let mut next = 0u16;
        for u in &world.users {
            first_device.push(next);
            next += u.devices;
        }
        for perm in permutations(n).into_iter().filter(|p| is_symmetry(world, p)) {
            if perm.iter().enumerate().all(|(u, &v)| u as u32 == v) {
                continue; // the identity is first already
            }
            let mut inverse = vec![0; perm.len()];
            for (u, &v) in perm.iter().enumerate() {
                inverse[v as usize] = u as u32;
            }
            let mut devices = Vec::new();
            for (u, plan) in world.users.iter().enumerate() {
                let to = first_device[perm[u] as usize];
                devices.extend((0..plan.devices).map(|i| to + i));
            }
            let mut devices_inverse = vec![0; devices.len()];
            for (d, &e) in devices.iter().enumerate() {
                devices_inverse[e as usize] = d as u16;
            }
            sym.perms.push(perm);
            sym.inverses.push(inverse);
            sym.devices.push(devices);
            sym.devices_inverse.push(devices_inverse);
        }
        sym
    }

    /// How many symmetries (1: the identity alone).
    pub fn size(&self) -> usize {
        self.perms.len()
    }

    /// The fingerprint of a state's `parts`: the least hash of its relabelled texts.
    ///
    /// Only the symmetries that put the users in the least order of their keys are tried
    /// ([`Symmetry::user_key`]: what a user's own texts say, whatever the labels): relabelling
    /// a state by `τ` relabels those symmetries by `τ` too, so the least hash is the same, and
    /// once users differ, one or two symmetries are hashed instead of all.
    pub fn fingerprint(&self, parts: &Parts) -> u128 {
        self.canonical(parts).0
    }

    /// The fingerprint of a state's `parts` ([`Symmetry::fingerprint`]) and each device's
    /// rank: its least new index under the symmetries that give the least hash (empty for the
    /// identity alone: each device's own index). A device in a state and its image in the
    /// state relabelled have the same rank, so a choice among devices by rank is the same
    /// choice, relabelled, whichever state of the class makes it.
    pub fn canonical(&self, parts: &Parts) -> (u128, Vec<u16>) {
        let mut text = String::with_capacity(8192);
        if self.size() == 1 {
            write_in_order(parts, &mut text);
            return (xxh3_128(text.as_bytes()), Vec::new());
        }
        let keys: Vec<u64> = (0..self.user_devices.len()).map(|u| self.user_key(parts, u)).collect();
        // Each symmetry's order of the keys (by new id); the least order and who gives it.
        let orders: Vec<Vec<u64>> =
            self.inverses.iter().map(|inverse| inverse.iter().map(|&u| keys[u as usize]).collect()).collect();
        let least = orders.iter().min().cloned().unwrap_or_default();
        let mut best = u128::MAX;
        let mut ranks = Vec::new();
        let mut scratch = String::with_capacity(4096);
        for k in (0..self.size()).filter(|&k| orders[k] == least) {
            text.clear();
            self.write_relabelled(parts, k, &mut text, &mut scratch);
            let hash = xxh3_128(text.as_bytes());
            if hash < best {
                (best, ranks) = (hash, self.devices[k].clone());
            } else if hash == best {
                ranks.iter_mut().zip(&self.devices[k]).for_each(|(rank, &new)| *rank = (*rank).min(new));
            }
        }
        (best, ranks)
    }

    /// A hash of what user `u`'s own texts say (its record, its devices' parts, its commands
    /// left), with every user id written as "this user" or "another": the same for `u` in a
    /// state and for `σ(u)` in the state relabelled by `σ`.
    fn user_key(&self, parts: &Parts, u: usize) -> u64 {
        let mut text = String::with_capacity(4096);
        let mask = |k: usize| Some(u32::from(k != u));
        relabel_after(&parts.users[u], &USER, mask, &mut text);
        for d in self.user_devices[u].clone() {
            text.push(SEP);
            relabel_after(&parts.devices[d], &USER, mask, &mut text);
        }
        let _ = write!(text, "{}{}", SEP, parts.commands_left[u]);
        xxhash_rust::xxh3::xxh3_64(text.as_bytes())
    }

    /// Writes `parts` relabelled by the `k`-th symmetry, in the canonical order.
    fn write_relabelled(&self, parts: &Parts, k: usize, out: &mut String, scratch: &mut String) {
        let (perm, inverse) = (&self.perms[k], &self.inverses[k]);
        // Every symmetry maps each group onto its own members: the lists stay as the world has
        // them (the order of a call's receivers, which follows them, is sorted below).
        out.push_str(&parts.groups);
        out.push(SEP);
        scratch.clear();
        relabel_users(&parts.shared, perm, scratch);
        sort_receivers(scratch, out);
        out.push(SEP);
        for &u in inverse {
            relabel_users(&parts.users[u as usize], perm, out);
            out.push(SEP);
        }
        for &d in &self.devices_inverse[k] {
            relabel_users(&parts.devices[d as usize], perm, out);
            out.push(SEP);
        }
        let relabel_all = |items: &[String], devices: Option<&[u16]>| {
            let mut all: Vec<String> = items
                .iter()
                .map(|item| {
                    let mut users = String::with_capacity(item.len());
                    relabel_users(item, perm, &mut users);
                    match devices {
                        Some(map) => {
                            let mut both = String::with_capacity(users.len());
                            relabel_client_timer(&users, map, &mut both);
                            both
                        }
                        None => users,
                    }
                })
                .collect();
            all.sort_unstable();
            all
        };
        for timer in relabel_all(&parts.timers, Some(&self.devices[k])) {
            out.push_str(&timer);
            out.push(SEP);
        }
        for entry in relabel_all(&parts.callbacks, None) {
            out.push_str(&entry);
            out.push(SEP);
        }
        out.push_str(&parts.rest);
        out.push(SEP);
        for &u in inverse {
            let _ = write!(out, "{},", parts.commands_left[u as usize]);
        }
    }
}

/// Writes `parts` as they are (the identity's text; lists in the state's own order).
fn write_in_order(parts: &Parts, out: &mut String) {
    out.push_str(&parts.groups);
    out.push(SEP);
    out.push_str(&parts.shared);
    out.push(SEP);
    for part in parts.users.iter().chain(&parts.devices).chain(&parts.timers).chain(&parts.callbacks) {
        out.push_str(part);
        out.push(SEP);
    }
    out.push_str(&parts.rest);
    out.push(SEP);
    for c in &parts.commands_left {
        let _ = write!(out, "{c},");
    }
}

/// Every permutation of `0..n`, in lexicographic order (n is at most `USERS_MAX`).
fn permutations(n: u32) -> Vec<Vec<u32>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut all = Vec::new();
    for rest in permutations(n - 1) {
        for at in 0..=rest.len() {
            let mut p = rest.clone();
            p.insert(at, n - 1);
            all.push(p);
        }
    }
    all.sort();
    all
}

/// Whether `perm` maps `world` onto itself (module docs).
fn is_symmetry(world: &World, perm: &[u32]) -> bool {
    let relabel = |cmd: &Cmd| match *cmd {
        Cmd::Initiate(Receiver::User(UserId(k))) => Cmd::Initiate(Receiver::User(UserId(perm[k as usize]))),
        other => other,
    };
    let plans = world.users.iter().enumerate().all(|(u, plan)| {
        let image = &world.users[perm[u] as usize];
        image.devices == plan.devices
            && image.commands_max == plan.commands_max
            && image.push == plan.push
            && image.alphabet == plan.alphabet.iter().map(relabel).collect::<Vec<_>>()
    });
    let groups = world.groups.iter().all(|g| {
        let members: BTreeSet<u32> = g.iter().copied().collect();
        let image: BTreeSet<u32> = g.iter().map(|&m| perm[m as usize]).collect();
        members == image
    });
    plans && groups
}

/// The searchers for the tokens after which an id is relabelled (built once: building one
/// costs more than a search through a state's text).
static USER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("UserId("));
static CLIENT: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("Client("));
static PARTIES: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("parties: ["));

/// Copies `text` to `out` with the number `k` after each match of `finder` written as `map(k)`
/// (a number outside the map is kept).
fn relabel_after(
    text: &str,
    finder: &memmem::Finder<'_>,
    map: impl Fn(usize) -> Option<u32>,
    out: &mut String,
) {
    let token = finder.needle();
    let mut rest = text;
    while let Some(at) = finder.find(rest.as_bytes()) {
        let start = at + token.len();
        out.push_str(&rest[..start]);
        let digits = rest[start..].bytes().take_while(u8::is_ascii_digit).count();
        match rest[start..start + digits].parse::<usize>().ok().and_then(&map) {
            Some(k) => {
                let _ = write!(out, "{k}");
            }
            None => out.push_str(&rest[start..start + digits]),
        }
        rest = &rest[start + digits..];
    }
    out.push_str(rest);
}

/// Every `UserId(k)` written as `UserId(perm[k])`.
fn relabel_users(text: &str, perm: &[u32], out: &mut String) {
    relabel_after(text, &USER, |k| perm.get(k).copied(), out);
}

/// A client timer's device index (`Client(d, ...)`) written as `devices[d]`.
fn relabel_client_timer(text: &str, devices: &[u16], out: &mut String) {
    relabel_after(text, &CLIENT, |d| devices.get(d).map(|&e| u32::from(e)), out);
}

/// Copies `text` to `out` with the receivers of every call (its parties after the first, the
/// initiator) sorted by user id.
fn sort_receivers(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(at) = PARTIES.find(rest.as_bytes()) {
        let start = at + PARTIES.needle().len();
        out.push_str(&rest[..start]);
        let len = list_len(&rest[start..]);
        let mut items = split_top(&rest[start..start + len]);
        if items.len() > 2 {
            items[1..].sort_by_key(|p| party_user(p));
        }
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(item);
        }
        rest = &rest[start + len..];
    }
    out.push_str(rest);
}

/// Bytes of `text` before the `]` that closes the list it starts inside.
fn list_len(text: &str) -> usize {
    let mut depth = 0usize;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'[' | b'(' | b'{' => depth += 1,
            b']' | b')' | b'}' if depth == 0 => return i,
            b']' | b')' | b'}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

/// The items of a list's text, split at the `, ` between them.
fn split_top(list: &str) -> Vec<&str> {
    let (mut items, mut depth, mut from) = (Vec::new(), 0usize, 0);
    let b = list.as_bytes();
    for i in 0..b.len() {
        match b[i] {
            b'[' | b'(' | b'{' => depth += 1,
            b']' | b')' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 && b.get(i + 1) == Some(&b' ') => {
                items.push(&list[from..i]);
                from = i + 2;
            }
            _ => {}
        }
    }
    if from < list.len() {
        items.push(&list[from..]);
    }
    items
}

/// The user id of a party's text (`Party { user: UserId(k), ...`).
fn party_user(party: &str) -> u32 {
    const TOKEN: &str = "user: UserId(";
    party.find(TOKEN).map_or(u32::MAX, |at| {
        let start = at + TOKEN.len();
        let digits = party[start..].bytes().take_while(u8::is_ascii_digit).count();
        party[start..start + digits].parse().unwrap_or(u32::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::{permutations, relabel_users, sort_receivers, split_top, Symmetry};
    use crate::explore::World;

    #[test]
    fn the_worlds_have_the_symmetries_their_plans_give() {
        let size = |name: &str| Symmetry::of(&World::named(name).unwrap()).size();
        // A caller and a callee: nothing to swap.
        assert_eq!(size("one-call"), 1);
        // Two callers of the third user: swap them.
        assert_eq!(size("busy-3"), 2);
        assert_eq!(size("waiting-3"), 2);
        // Three members of one group, commands 2, 1, 1: swap the last two.
        assert_eq!(size("group-3"), 2);
        let mut equal = World::named("group-3").unwrap();
        equal.users.iter_mut().for_each(|u| u.commands_max = 3);
        assert_eq!(Symmetry::of(&equal).size(), 6, "every permutation of three equal members");
        // Push and media worlds: not applied.
        assert_eq!(size("push"), 1);
        assert_eq!(size("media"), 1);
    }

    #[test]
    fn permutations_are_all_there_once() {
        let all = permutations(3);
        assert_eq!(all.len(), 6);
        assert_eq!(all[0], vec![0, 1, 2]);
        let set: std::collections::BTreeSet<_> = all.into_iter().collect();
        assert_eq!(set.len(), 6);
    }

    #[test]
    fn user_ids_are_relabelled_and_receivers_sorted() {
        let mut out = String::new();
        relabel_users("a UserId(0) b UserId(2) c UserId(12)", &[2, 0, 1], &mut out);
        assert_eq!(out, "a UserId(2) b UserId(1) c UserId(12)", "an id outside the map is kept");
        let text = "x parties: [Party { user: UserId(2), d: Some(D { user: UserId(2) }) }, \
                    Party { user: UserId(1), d: None }, Party { user: UserId(0), d: None }], y";
        let mut sorted = String::new();
        sort_receivers(text, &mut sorted);
        assert_eq!(
            sorted,
            "x parties: [Party { user: UserId(2), d: Some(D { user: UserId(2) }) }, \
             Party { user: UserId(0), d: None }, Party { user: UserId(1), d: None }], y",
            "the initiator stays first"
        );
        assert_eq!(split_top("A { x: [1, 2] }, B(3), C"), vec!["A { x: [1, 2] }", "B(3)", "C"]);
    }
}
