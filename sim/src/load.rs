//! `callsim load`: a population profile driven through real WebSocket connections to a live
//! server (`callcore-server serve`), in real time, and the checks that can be made from outside.
//!
//! Each virtual user is one device: one [`Phone`] of the client SDK, and one task that plays the
//! profile: it starts calls (a Poisson process), answers, declines, cancels and hangs up after
//! the profile's delays, and drops its connection at random (the SDK reconnects). Every delay of
//! the profile is multiplied by `time_scale` and every rate divided by it, so a virtual hour can
//! run in seconds; the ring timeout travels with each initiate, scaled too.
//!
//! After the load phase (no new calls, no drops) the driver waits until the server holds no
//! call that is not terminal, then checks: each device's callbacks form a legal sequence
//! (invariant 5, [`CallbackLedger`]); every call reached a terminal status and nothing is stuck
//! (invariants 2 and 3, from the server's admin state); every device's view equals the
//! server's (invariant 4).

use crate::profile::Profile;
use crate::rng::{SimRng, Stream};
use crate::stats::{Percentiles, Samples};
use callcore::testing::invariants::CallbackLedger;
use callcore::{
    CallType, CallbackKind, ErrorCode, GroupId, Receiver, RejectStatus, Request, SessionId, Status, UserId,
};
use callcore_live::admin::{metric, Admin};
use callcore_live::auth::Secret;
use callcore_live::sdk::{Callbacks, Options as PhoneOptions, Phone, SdkError};
use callcore_live::GroupSpec;
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Connections opened at once while the population connects.
pub const CONNECTS_IN_FLIGHT_MAX: usize = 64;
/// Actions (accept, reject, cancel, end) one virtual user keeps scheduled at most.
pub const ACTIONS_PER_USER_MAX: usize = 64;
/// Samples of each latency kept (later ones are dropped and counted).
pub const SAMPLES_MAX: usize = 8_000_000;
/// How long a user waits before trying a command again that found no connection, ms.
const RETRY_MS: u64 = 200;
/// How often the driver polls the server while it waits for calls to end, in milliseconds.
const SETTLE_POLL_MS: u64 = 200;

/// What a load run does.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The server's WebSocket URL (`ws://127.0.0.1:8080/ws`).
    pub server: String,
    /// Virtual users (one device each).
    pub users: u32,
    /// Length of the load phase, in real seconds.
    pub duration_s: u64,
    /// Every delay of the profile is multiplied by this, every rate divided by it.
    pub time_scale: f64,
    /// How users behave (the profile's network latency and partitions do not apply here: the
    /// network is real).
    pub profile: Profile,
    /// The seed of every random choice.
    pub seed: u64,
    /// The server's signing secret, to make each user's token.
    pub secret: Secret,
    /// The server's admin token.
    pub admin_token: String,
    /// Prefix of the users' UIDs (`<prefix><index>`), so that runs against one server do not meet.
    pub uid_prefix: String,
    /// The reconnect grace the server runs with, in milliseconds (bounds the wait for calls
    /// to end).
    pub reconnect_grace_ms: u64,
}

/// What a load run measured and found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadReport {
    /// Virtual users.
    pub users: u32,
    /// Length of the load phase, seconds.
    pub duration_s: u64,
    /// Wall time of the load phase, seconds.
    pub load_wall_s: f64,
    /// Calls the users started (initiates answered with a call).
    pub calls_started: u64,
    /// Initiates answered with a call, per second of the load phase.
    pub calls_per_s: f64,
    /// Calls that ended after an accept (initiate, ring, accept, end), per second.
    pub setups_per_s: f64,
    /// The server's calls by final status (and `in_progress`).
    pub calls_by_status: BTreeMap<String, u64>,
    /// Requests answered, by code (`ok` or the contract's error code).
    pub answers: BTreeMap<String, u64>,
    /// From a command to its answer, at the device, in microseconds.
    pub request_us: Percentiles,
    /// From the caller's initiate to the callee's `incoming_call_received`, in microseconds.
    pub ring_us: Percentiles,
    /// Connections the server held at once: at the end of the load phase (some may be
    /// reconnecting then) or once every call ended, whichever is more.
    pub connections_held: u64,
    /// Connections dropped on purpose (and reopened by the SDK).
    pub drops: u64,
    /// Calls a user skipped because it was still in one.
    pub skipped: u64,
    /// The server process's CPU time during the load phase, seconds (when it reports it).
    pub server_cpu_s: Option<f64>,
    /// The server's CPU use during the load phase, in percent of one core.
    pub server_cpu_percent: Option<f64>,
    /// The server process's peak resident memory, bytes.
    pub server_peak_memory_bytes: Option<u64>,
    /// Wall time until every call was terminal after the load phase, seconds.
    pub settle_wall_s: f64,
    /// Broken invariants, each with what broke (empty: none).
    pub violations: Vec<String>,
}

/// Why a load run could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The admin endpoints failed.
    #[error("admin endpoint: {0}")]
    Admin(#[from] callcore_live::admin::AdminError),
    /// A user could not connect.
    #[error("user {uid} could not connect: {error}")]
    Connect {
        /// The user.
        uid: String,
        /// Why.
        error: SdkError,
    },
    /// Making a token failed.
    #[error("token: {0}")]
    Token(String),
    /// The options do not make sense.
    #[error("{0}")]
    Options(String),
}

/// What one user's task hands back.
struct UserResult {
    phone: Phone,
    callbacks: Option<Callbacks>,
    ledger: CallbackLedger,
    violations: Vec<String>,
    request_us: Vec<u32>,
    answers: BTreeMap<&'static str, u64>,
    started: Vec<(SessionId, Instant)>,
    rung: Vec<(SessionId, Instant)>,
    drops: u64,
    skipped: u64,
    /// What this device saw and did, per call (the newest `HISTORY_CALLS_MAX` calls), to print
    /// with a violation: `+ms` since the start, then the callback, answer or drop.
    history: BTreeMap<SessionId, Vec<String>>,
    /// Drops of the connection, `+ms` since the start.
    drop_times: Vec<u64>,
}

/// Calls whose history one device keeps.
const HISTORY_CALLS_MAX: usize = 16;
/// Entries kept per call in a history.
const HISTORY_ENTRIES_MAX: usize = 32;

impl UserResult {
    fn note(&mut self, session: SessionId, at_ms: u64, what: String) {
        if !self.history.contains_key(&session) && self.history.len() >= HISTORY_CALLS_MAX {
            self.history.pop_first();
        }
        let entries = self.history.entry(session).or_default();
        if entries.len() < HISTORY_ENTRIES_MAX {
            entries.push(format!("+{at_ms} {what}"));
        }
    }

    /// A violation, with what the device saw of the call and its drops around it.
    fn violation(&mut self, v: &callcore::testing::invariants::Violation, session: SessionId) {
        let history = self.history.get(&session).map(|h| h.join("; ")).unwrap_or_default();
        let drops: Vec<String> = self.drop_times.iter().rev().take(6).map(|t| format!("+{t}")).collect();
        self.violations.push(format!("{v} [device saw: {history}] [its last drops: {}]", drops.join(" ")));
    }
}

/// The shared, read-only setting of every user task.
struct Ctx {
    options: LoadOptions,
    ids: Vec<UserId>,
    group_of: Vec<Option<GroupId>>,
    start: Instant,
    stop_at: Instant,
    settle_at: Instant,
}

fn scaled(ms: u64, scale: f64) -> Duration {
    Duration::from_secs_f64((ms as f64 * scale / 1000.0).max(0.0))
}

fn push_us(samples: &mut Vec<u32>, since: Instant) {
    if samples.len() < SAMPLES_MAX {
        samples.push(u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
}

/// Runs a load against a server. Bounded in time: the load phase, then at most the settle
/// bound (ring timeout, answer delay, talk time and the reconnect grace, scaled, plus margins).
pub async fn run(options: LoadOptions) -> Result<LoadReport, LoadError> {
    if options.users < 2 || !(options.time_scale > 0.0 && options.time_scale <= 1.0) {
        return Err(LoadError::Options(String::from("need at least 2 users and a time scale in (0, 1]")));
    }
    let admin = Admin::new(&options.server, Some(options.admin_token.clone()))?;
    let uids: Vec<String> = (0..options.users).map(|i| format!("{}{i}", options.uid_prefix)).collect();
    let group_of = make_groups(&admin, &options, &uids).await?;
    let phones = connect_all(&options, &uids).await?;
    let ids: Vec<UserId> = phones.iter().map(|(phone, _)| phone.device().user).collect();
    let before = admin.metrics().await.ok();
    let profile = &options.profile;
    let settle = profile.config.ring_timeout_ms.max(profile.cancel_after_ms.max)
        + profile.answer_delay_ms.max
        + profile.talk_ms.max;
    let start = Instant::now();
    let stop_at = start + Duration::from_secs(options.duration_s);
    let settle_at = stop_at
        + scaled(settle, options.time_scale)
        + Duration::from_millis(options.reconnect_grace_ms)
        + Duration::from_secs(5);
    let ctx = Arc::new(Ctx { options: options.clone(), ids, group_of, start, stop_at, settle_at });
    let tasks: Vec<_> = phones
        .into_iter()
        .enumerate()
        .map(|(i, (phone, callbacks))| tokio::spawn(user_task(ctx.clone(), i, phone, callbacks)))
        .collect();
    tokio::time::sleep_until(stop_at).await;
    let load_wall_s = start.elapsed().as_secs_f64();
    let after = admin.metrics().await.ok();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(result) = task.await {
            results.push(result);
        }
    }
    let settled = settle_server(&admin, settle_at).await?;
    let settle_wall_s = (Instant::now() - stop_at).as_secs_f64();
    let mut report =
        report(&options, results, &settled, load_wall_s, before.as_deref(), after.as_deref()).await;
    report.settle_wall_s = settle_wall_s;
    report.connections_held = report.connections_held.max(settled.connected.len() as u64);
    Ok(report)
}

/// Creates the profile's groups (every user in one), through the admin endpoint.
async fn make_groups(
    admin: &Admin,
    options: &LoadOptions,
    uids: &[String],
) -> Result<Vec<Option<GroupId>>, LoadError> {
    let mut group_of = vec![None; uids.len()];
    if options.profile.group_share <= 0.0 {
        return Ok(group_of);
    }
    let mut rng = SimRng::stream(options.seed, Stream::Setup);
    let size = options.profile.group_size;
    let mut first = 0;
    for g in 0..uids.len() {
        if first >= uids.len() {
            break;
        }
        let n = usize::try_from(rng.range(size.min.max(2), size.max.max(2))).unwrap_or(2);
        let last = (first + n).min(uids.len());
        if last - first < 2 {
            break;
        }
        let spec =
            GroupSpec { name: format!("{}g{g}", options.uid_prefix), members: uids[first..last].to_vec() };
        let id = admin.add_group(&spec).await?;
        for slot in &mut group_of[first..last] {
            *slot = Some(id);
        }
        first = last;
    }
    Ok(group_of)
}

/// Connects every user, a bounded number at a time.
async fn connect_all(options: &LoadOptions, uids: &[String]) -> Result<Vec<(Phone, Callbacks)>, LoadError> {
    let phone_options = PhoneOptions { config: options.profile.config, ..PhoneOptions::default() };
    let mut tokens = Vec::with_capacity(uids.len());
    for uid in uids {
        tokens.push(options.secret.token(uid, 0, 24 * 3600).map_err(|e| LoadError::Token(e.to_string()))?);
    }
    let server = options.server.clone();
    let connects = futures_util::stream::iter(tokens.into_iter().enumerate().map(|(i, token)| {
        let server = server.clone();
        async move { (i, Phone::connect(&server, &token, phone_options).await) }
    }))
    .buffered(CONNECTS_IN_FLIGHT_MAX);
    let connected: Vec<_> = connects.collect().await;
    let mut phones = Vec::with_capacity(uids.len());
    for (i, result) in connected {
        match result {
            Ok(phone) => phones.push(phone),
            Err(error) => return Err(LoadError::Connect { uid: uids[i].clone(), error }),
        }
    }
    Ok(phones)
}

/// One virtual user: plays the profile until the load phase ends, then answers what is still
/// going on until its calls are over (or the settle bound).
async fn user_task(ctx: Arc<Ctx>, index: usize, phone: Phone, mut callbacks: Callbacks) -> UserResult {
    let options = &ctx.options;
    let profile = &options.profile;
    let scale = options.time_scale;
    let me = phone.device();
    let mut arrivals = SimRng::keyed(options.seed, Stream::Arrivals, index as u64);
    let mut faults = SimRng::keyed(options.seed, Stream::Faults, index as u64);
    let call_mean_s = 3600.0 * scale / profile.calls_per_user_per_hour.max(1e-9);
    let drop_mean_s = 3600.0 * scale / profile.disconnects_per_device_per_hour.max(1e-9);
    let mut next_call = Instant::now() + Duration::from_secs_f64(arrivals.exp_f64(call_mean_s).min(1e6));
    let mut next_drop = Instant::now() + Duration::from_secs_f64(faults.exp_f64(drop_mean_s).min(1e6));
    let mut actions: BTreeMap<(Instant, u64), (SessionId, Request)> = BTreeMap::new();
    let mut seq = 0u64;
    let mut live: BTreeMap<SessionId, bool> = BTreeMap::new(); // session -> outgoing
    let mut r = UserResult {
        phone: phone.clone(),
        callbacks: None,
        ledger: CallbackLedger::new(),
        violations: Vec::new(),
        request_us: Vec::new(),
        answers: BTreeMap::new(),
        started: Vec::new(),
        rung: Vec::new(),
        drops: 0,
        skipped: 0,
        history: BTreeMap::new(),
        drop_times: Vec::new(),
    };
    let ms =
        |at: Instant| u64::try_from(at.saturating_duration_since(ctx.start).as_millis()).unwrap_or(u64::MAX);
    // Bounded: every round waits for something, and the loop ends at the settle bound.
    loop {
        let now = Instant::now();
        let loading = now < ctx.stop_at;
        if !loading && live.is_empty() && actions.is_empty() || now >= ctx.settle_at {
            break;
        }
        let mut wake = ctx.settle_at;
        if loading {
            wake = wake.min(next_call).min(next_drop).min(ctx.stop_at);
        }
        if let Some((&(at, _), _)) = actions.first_key_value() {
            wake = wake.min(at);
        }
        tokio::select! {
            callback = callbacks.recv() => {
                let Some(callback) = callback else { break };
                let session = callback.call.session;
                let outgoing = callback.call.initiator == me.user;
                r.note(session, ms(Instant::now()), format!("{} ({})", callback.kind, callback.call.status));
                if let Err(v) = r.ledger.observe(me, session, outgoing, callback.kind) {
                    r.violation(&v, session);
                }
                match callback.kind {
                    CallbackKind::IncomingCallReceived => {
                        r.rung.push((session, Instant::now()));
                        live.insert(session, false);
                        let mut decide = SimRng::keyed(options.seed, Stream::Decisions, session.0 ^ (u64::from(me.user.0) << 40));
                        let delay = scaled(decide.range(profile.answer_delay_ms.min, profile.answer_delay_ms.max), scale);
                        let roll = decide.unit();
                        let request = if roll < profile.answer_probability {
                            Some(Request::accept(session))
                        } else if roll < profile.answer_probability + profile.reject_probability {
                            let busy = decide.chance(profile.reject_busy_share);
                            let status = if busy { RejectStatus::Busy } else { RejectStatus::Rejected };
                            Some(Request::Reject { session, status })
                        } else {
                            None
                        };
                        if let Some(request) = request {
                            schedule(&mut actions, &mut seq, Instant::now() + delay, session, request);
                        }
                    }
                    CallbackKind::OutgoingCallAccepted => {
                        let mut decide = SimRng::keyed(options.seed, Stream::Decisions, session.0);
                        let talk = log_uniform(&mut decide, profile.talk_ms.min, profile.talk_ms.max);
                        actions.retain(|_, (s, _)| *s != session);
                        // The initiator starts its media session at once (contract version 2).
                        schedule(&mut actions, &mut seq, Instant::now(), session, Request::start_session(session));
                        schedule(&mut actions, &mut seq, Instant::now() + scaled(talk, scale), session, Request::end(session));
                    }
                    kind if kind.is_terminal() => {
                        live.remove(&session);
                        actions.retain(|_, (s, _)| *s != session);
                    }
                    _ => {}
                }
            }
            () = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                if let Some(entry) = actions.first_entry() {
                    if entry.key().0 <= now {
                        let (session, request) = entry.remove();
                        let t0 = Instant::now();
                        let answer = phone.request(request).await;
                        push_us(&mut r.request_us, t0);
                        count(&mut r.answers, &answer);
                        r.note(session, ms(t0), format!("{} -> {}", request_name(&request), answer_name(&answer)));
                        // Not connected (the connection dropped a moment ago) or no answer in
                        // time: the user tries again shortly, as a person would.
                        if let Err(SdkError::Code(ErrorCode::NotConnected | ErrorCode::Timeout)) = answer {
                            let at = Instant::now() + Duration::from_millis(RETRY_MS);
                            schedule(&mut actions, &mut seq, at, session, request);
                            continue;
                        }
                        match (request, &answer) {
                            // A session start changes nothing for the user's plans (refused:
                            // the call ended meanwhile, which its callback says).
                            (Request::StartSession { .. }, _) => {}
                            // A member who joined a group call hangs up after its own talk
                            // time (the initiator's end is only its leave there).
                            (Request::Accept { .. }, Ok(Some(call))) => {
                                // The accepter starts its media session at once (contract v2).
                                schedule(&mut actions, &mut seq, Instant::now(), session, Request::start_session(session));
                                if matches!(call.receiver, Receiver::Group(_)) {
                                    let key = session.0 ^ (u64::from(me.user.0) << 40) ^ 1;
                                    let mut decide = SimRng::keyed(options.seed, Stream::Decisions, key);
                                    let talk = log_uniform(&mut decide, profile.talk_ms.min, profile.talk_ms.max);
                                    let at = Instant::now() + scaled(talk, scale);
                                    schedule(&mut actions, &mut seq, at, session, Request::end(session));
                                }
                            }
                            // Declined, cancelled, hung up, or refused: this user is out of it.
                            _ => {
                                live.remove(&session);
                            }
                        }
                        continue;
                    }
                }
                if loading && now >= next_drop {
                    next_drop = now + Duration::from_secs_f64(faults.exp_f64(drop_mean_s).min(1e6));
                    phone.drop_connection().await;
                    r.drops += 1;
                    r.drop_times.push(ms(now));
                    if r.drop_times.len() > HISTORY_ENTRIES_MAX {
                        r.drop_times.remove(0);
                    }
                }
                if loading && now >= next_call {
                    next_call = now + Duration::from_secs_f64(arrivals.exp_f64(call_mean_s).min(1e6));
                    if !live.is_empty() {
                        r.skipped += 1;
                        continue;
                    }
                    let request = pick_call(&ctx, index, &mut arrivals);
                    let t0 = Instant::now();
                    let answer = phone.request(request).await;
                    push_us(&mut r.request_us, t0);
                    count(&mut r.answers, &answer);
                    if let Ok(Some(call)) = &answer {
                        r.note(call.session, ms(t0), format!("initiate -> ok ({})", call.status));
                    }
                    if let Ok(Some(call)) = answer {
                        r.started.push((call.session, t0));
                        if !call.status.is_terminal() {
                            live.insert(call.session, true);
                            if arrivals.chance(profile.cancel_probability) {
                                let after = arrivals.range(profile.cancel_after_ms.min, profile.cancel_after_ms.max);
                                schedule(&mut actions, &mut seq, t0 + scaled(after, scale), call.session, Request::cancel(call.session));
                            }
                        }
                    }
                }
            }
        }
        if actions.len() > ACTIONS_PER_USER_MAX {
            actions.pop_last();
        }
    }
    r.callbacks = Some(callbacks);
    r
}

fn schedule(
    actions: &mut BTreeMap<(Instant, u64), (SessionId, Request)>,
    seq: &mut u64,
    at: Instant,
    session: SessionId,
    request: Request,
) {
    *seq += 1;
    actions.insert((at, *seq), (session, request));
}

/// A log-uniform draw in `min..=max` (most calls short, some long).
fn log_uniform(rng: &mut SimRng, min: u64, max: u64) -> u64 {
    let (lo, hi) = ((min.max(1)) as f64, (max.max(min).max(1)) as f64);
    (lo * (hi / lo).powf(rng.unit())).round() as u64
}

/// The next call of user `index`: its group, or another user, with the profile's shares and
/// the ring timeout scaled.
fn pick_call(ctx: &Ctx, index: usize, rng: &mut SimRng) -> Request {
    let profile = &ctx.options.profile;
    let to = match ctx.group_of[index] {
        Some(group) if rng.chance(profile.group_share) => Receiver::Group(group),
        _ => {
            let n = ctx.ids.len() as u64;
            let mut other = rng.below(n - 1) as usize;
            if other >= index {
                other += 1;
            }
            Receiver::User(ctx.ids[other])
        }
    };
    let call_type = if rng.chance(profile.video_share) { CallType::Video } else { CallType::Audio };
    let ring = scaled(profile.config.ring_timeout_ms, ctx.options.time_scale).as_millis();
    let ring_timeout_ms = Some(u64::try_from(ring).unwrap_or(u64::MAX).max(1));
    Request::Initiate { to, call_type, ring_timeout_ms }
}

/// The request's `do` name as it travels (`initiate`, `accept`, `reject`, `end`, and any kind
/// the core adds later), for a device's history.
fn request_name(request: &Request) -> String {
    let value = serde_json::to_value(request).unwrap_or_default();
    value["do"].as_str().unwrap_or("request").to_owned()
}

fn answer_name(answer: &Result<Option<callcore::CallView>, SdkError>) -> String {
    match answer {
        Ok(Some(call)) => format!("ok ({})", call.status),
        Ok(None) => "ok".to_owned(),
        Err(SdkError::Code(code)) => code.name().to_owned(),
        Err(e) => e.to_string(),
    }
}

fn count(answers: &mut BTreeMap<&'static str, u64>, answer: &Result<Option<callcore::CallView>, SdkError>) {
    let name = match answer {
        Ok(_) => "ok",
        Err(SdkError::Code(code)) => code.name(),
        Err(_) => "sdk_error",
    };
    *answers.entry(name).or_default() += 1;
}

/// Waits (bounded by `until`) until the server holds no call that is not terminal.
async fn settle_server(admin: &Admin, until: Instant) -> Result<callcore_live::StateDump, LoadError> {
    loop {
        let open = admin.open_state().await?.calls.len();
        if open == 0 || Instant::now() >= until {
            return Ok(admin.state().await?);
        }
        tokio::time::sleep(Duration::from_millis(SETTLE_POLL_MS)).await;
    }
}

async fn report(
    options: &LoadOptions,
    results: Vec<UserResult>,
    state: &callcore_live::StateDump,
    load_wall_s: f64,
    before: Option<&str>,
    after: Option<&str>,
) -> LoadReport {
    let mut report = LoadReport {
        users: options.users,
        duration_s: options.duration_s,
        load_wall_s,
        ..LoadReport::default()
    };
    let mut request_us = Samples::default();
    let mut started: HashMap<SessionId, Instant> = HashMap::new();
    let mut rung: Vec<(SessionId, Instant)> = Vec::new();
    let server_calls: HashMap<SessionId, Status> =
        state.calls.iter().map(|c| (c.session, c.status)).collect();
    // Invariants 2 and 3: nothing stuck, every call terminal once the load stopped.
    for call in state.calls.iter().filter(|c| !c.status.is_terminal()) {
        report
            .violations
            .push(format!("invariant 3: call {} still {} after the load stopped", call.session, call.status));
    }
    let terminal: u64 = state.stats.terminal.iter().sum();
    if terminal != state.stats.created {
        report
            .violations
            .push(format!("invariant 7: {} calls created, {terminal} terminal", state.stats.created));
    }
    for mut r in results {
        let me = r.phone.device();
        // Callbacks raised after the user's task ended (late snapshots) are checked too.
        let mut late = 0;
        let Some(mut callbacks) = r.callbacks.take() else { continue };
        while let Ok(Some(callback)) = tokio::time::timeout(Duration::from_millis(1), callbacks.recv()).await
        {
            late += 1;
            let outgoing = callback.call.initiator == me.user;
            let session = callback.call.session;
            r.note(session, u64::MAX, format!("{} ({}) after the run", callback.kind, callback.call.status));
            if let Err(v) = r.ledger.observe(me, session, outgoing, callback.kind) {
                r.violation(&v, session);
            }
            if late > callcore::CLIENT_CALLS_MAX * 8 {
                break;
            }
        }
        report.violations.append(&mut r.violations);
        // Invariant 4: the device's view equals the server's for every call both keep.
        for view in r.phone.calls().await {
            if let Some(&status) = server_calls.get(&view.session) {
                if status != view.status {
                    report.violations.push(format!(
                        "invariant 4: device {me} sees {} as {}, the server as {status}",
                        view.session, view.status
                    ));
                }
            }
        }
        for us in r.request_us {
            request_us.push(u64::from(us));
        }
        for (name, n) in r.answers {
            *report.answers.entry(name.to_owned()).or_default() += n;
        }
        started.extend(r.started);
        rung.extend(r.rung);
        report.drops += r.drops;
        report.skipped += r.skipped;
        r.phone.close().await;
    }
    let mut ring_us = Samples::default();
    for (session, at) in rung {
        if let Some(&t0) = started.get(&session) {
            ring_us.push(u64::try_from(at.saturating_duration_since(t0).as_micros()).unwrap_or(u64::MAX));
        }
    }
    report.request_us = request_us.percentiles();
    report.ring_us = ring_us.percentiles();
    report.calls_started = started.len() as u64;
    report.calls_per_s = report.calls_started as f64 / load_wall_s.max(1e-9);
    for status in Status::ALL.into_iter().filter(|s| s.is_terminal()) {
        report.calls_by_status.insert(status.name().to_owned(), state.stats.terminal[status.index()]);
    }
    report.calls_by_status.insert(String::from("in_progress"), state.stats.in_progress());
    report.setups_per_s = state.stats.terminal[Status::Ended.index()] as f64 / load_wall_s.max(1e-9);
    if let Some(after) = after {
        report.connections_held = metric(after, "callcore_connections").map_or(0, |v| v as u64);
        report.server_peak_memory_bytes =
            metric(after, "process_resident_memory_peak_bytes").map(|v| v as u64);
        if let (Some(a), Some(b)) = (
            metric(after, "process_cpu_seconds_total"),
            before.and_then(|b| metric(b, "process_cpu_seconds_total")),
        ) {
            report.server_cpu_s = Some(a - b);
            report.server_cpu_percent = Some(100.0 * (a - b) / load_wall_s.max(1e-9));
        }
    }
    report
}

impl LoadReport {
    /// The report as the command line prints it.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "callsim load: {} users, {} s of load ({:.1} s wall), then {:.1} s until every call ended",
            self.users, self.duration_s, self.load_wall_s, self.settle_wall_s
        );
        let _ = writeln!(
            out,
            "calls: {} started, {:.0} calls/s, {:.0} complete setups/s (initiate, ring, accept, end)",
            self.calls_started, self.calls_per_s, self.setups_per_s
        );
        for (status, n) in &self.calls_by_status {
            let _ = writeln!(out, "  {status:<12} {n:>9}");
        }
        let answers: Vec<String> = self.answers.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "answers: {}", answers.join(", "));
        let _ = writeln!(out, "latency (us)          count      p50      p99      max");
        for (name, p) in [("request to answer", &self.request_us), ("initiate to ring", &self.ring_us)] {
            let _ = writeln!(out, "  {name:<17} {:>9} {:>8} {:>8} {:>8}", p.count, p.p50, p.p99, p.max);
        }
        let _ = writeln!(
            out,
            "connections held: {}; dropped on purpose: {}; calls skipped (user busy): {}",
            self.connections_held, self.drops, self.skipped
        );
        match (self.server_cpu_s, self.server_cpu_percent, self.server_peak_memory_bytes) {
            (Some(cpu), Some(pct), Some(mem)) => {
                let _ = writeln!(
                    out,
                    "server: {cpu:.1} s CPU ({pct:.0}% of one core), peak memory {:.1} MiB",
                    mem as f64 / (1024.0 * 1024.0)
                );
            }
            _ => {
                let _ = writeln!(out, "server: CPU and memory not reported");
            }
        }
        if self.violations.is_empty() {
            let _ = writeln!(
                out,
                "checks: callback legality, terminal statuses, nothing stuck, convergence: 0 violations"
            );
        } else {
            let _ = writeln!(out, "checks: {} violations", self.violations.len());
            for v in self.violations.iter().take(20) {
                let _ = writeln!(out, "  {v}");
            }
        }
        out
    }
}
