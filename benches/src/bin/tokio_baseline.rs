//! The alternative people would write instead of a discrete-event simulator: one tokio task per
//! device and one for the switchboard, talking over mpsc channels, on a current-thread runtime
//! with paused time (virtual time jumps to the next timer whenever every task waits). Each task
//! wraps a callcore machine: the device tasks a `Client`, the switchboard task the `Switchboard`.
//!
//! ```sh
//! cargo run --release -p callcore-benches --bin tokio_baseline -- --users 10000 --duration-s 3600 --seed 1
//! ```
//!
//! The workload is callsim's default population profile without its faults, groups and second
//! devices: each user has one device, connected at the start, and starts calls as a Poisson
//! process (2 an hour) during `--duration-s`, to a user drawn at random. A rung user answers with
//! probability 0.7 after 2–15 s, declines with probability 0.1 after the same delay, and else
//! lets it ring (the 45 s ring timeout ends it unanswered); the caller hangs up 30–600 s
//! (log-uniform) after it hears the accept. Every message takes `--latency-ms` (default 20) one
//! way, FIFO. Every random choice derives from `--seed`. The run ends when every call is over.
//! `benches/tokio_baseline_profile.json` is the callsim profile of the same workload:
//! `callsim run --profile benches/tokio_baseline_profile.json --users N --duration-s S --seed X`.
//!
//! Prints one line of `key=value` figures (calls by status, machine inputs, wall time).

#![forbid(unsafe_code)]

use callcore::client::Input as ClientInput;
use callcore::client::{self, Client};
use callcore::switchboard::Input as SbInput;
use callcore::switchboard::{self, Switchboard, Timer};
use callcore::ConnectionId;
use callcore::{
    CallType, CallbackKind, ClientMsg, Config, DeviceId, Receiver, RejectStatus, Request, ServerMsg,
    SessionId, Status, UserId,
};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::{sleep_until, Duration, Instant};

const CALLS_PER_USER_PER_HOUR: f64 = 2.0;
const ANSWER_PROBABILITY: f64 = 0.7;
const REJECT_PROBABILITY: f64 = 0.1;
const ANSWER_DELAY_MS: (u64, u64) = (2_000, 15_000);
const TALK_MS: (u64, u64) = (30_000, 600_000);

struct Args {
    users: u32,
    duration_s: u64,
    seed: u64,
    latency_ms: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { users: 10_000, duration_s: 3_600, seed: 1, latency_ms: 20 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |_| format!("{flag}: not a number: {value}");
        match flag.as_str() {
            "--users" => args.users = value.parse().map_err(bad)?,
            "--duration-s" => args.duration_s = value.parse().map_err(bad)?,
            "--seed" => args.seed = value.parse().map_err(bad)?,
            "--latency-ms" => args.latency_ms = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag {flag} (--users, --duration-s, --seed, --latency-ms)")),
        }
    }
    if args.users < 2 {
        return Err("--users must be at least 2".into());
    }
    Ok(args)
}

/// SplitMix64: a small seeded generator; every stream is keyed by the seed and what it decides.
#[derive(Clone, Copy)]
struct Rng(u64);

impl Rng {
    fn keyed(seed: u64, a: u64, b: u64) -> Self {
        let mut r = Rng(seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.rotate_left(32));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, (min, max): (u64, u64)) -> u64 {
        min + self.next() % (max - min + 1)
    }

    /// Log-uniform within `min..=max` (most values short, some long), as callsim draws talk time.
    fn log_range(&mut self, (min, max): (u64, u64)) -> u64 {
        let (lo, hi) = ((min as f64).ln(), (max as f64).ln());
        ((lo + self.unit() * (hi - lo)).exp() as u64).clamp(min, max)
    }

    /// Exponential with the given mean.
    fn exp_ms(&mut self, mean_ms: f64) -> u64 {
        (-(1.0 - self.unit()).ln() * mean_ms) as u64
    }
}

/// To the switchboard: a message, due at `at`.
enum Up {
    Connect(DeviceId),
    Msg(DeviceId, ClientMsg),
    Stop,
}

/// A message in flight, delivered at `at`.
struct Flight<T> {
    at: Instant,
    msg: T,
}

#[derive(Default, Clone, Copy)]
struct Totals {
    inputs: u64,
    messages: u64,
    callbacks: u64,
    commands: u64,
    by_status: [u64; 8],
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.inputs += o.inputs;
        self.messages += o.messages;
        self.callbacks += o.callbacks;
        self.commands += o.commands;
        for (a, b) in self.by_status.iter_mut().zip(o.by_status) {
            *a += b;
        }
    }
}

fn ms_since(start: Instant) -> u64 {
    Instant::now().duration_since(start).as_millis() as u64
}

async fn switchboard_task(
    config: Config,
    users: u32,
    start: Instant,
    latency: Duration,
    mut rx: UnboundedReceiver<Flight<Up>>,
    devices: Vec<UnboundedSender<Flight<ServerMsg>>>,
) -> Totals {
    let mut sb = Switchboard::new(config);
    for _ in 0..users {
        sb.add_user();
    }
    let mut totals = Totals::default();
    let mut inbox: VecDeque<Flight<Up>> = VecDeque::new();
    let mut timers: BinaryHeap<Reverse<(u64, Timer)>> = BinaryHeap::new();
    loop {
        let next_msg = inbox.front().map(|f| f.at);
        let next_timer = timers.peek().map(|Reverse((at, _))| start + Duration::from_millis(*at));
        let next = next_msg.into_iter().chain(next_timer).min();
        tokio::select! {
            biased;
            flight = rx.recv() => match flight {
                Some(f) => inbox.push_back(f),
                None => return totals,
            },
            () = sleep_until(next.unwrap_or(start)), if next.is_some() => {
                let now = ms_since(start);
                // Timers due at or before the first message's time go first.
                if next_timer.is_some_and(|t| next_msg.is_none_or(|m| t < m)) {
                    let Some(Reverse((_, timer))) = timers.pop() else { continue };
                    totals.inputs += 1;
                    let _ = sb.handle_input(now, SbInput::Timer(timer));
                } else {
                    let Some(flight) = inbox.pop_front() else { continue };
                    totals.inputs += 1;
                    match flight.msg {
                        Up::Connect(device) => {
                            let _ = sb.handle_input(now, SbInput::Connected { device, conn: ConnectionId(0) });
                        }
                        Up::Msg(device, msg) => {
                            let _ = sb.handle_input(now, SbInput::Message { from: device, msg });
                        }
                        Up::Stop => return totals,
                    }
                }
                while let Some(output) = sb.poll_output() {
                    match output {
                        switchboard::Output::Send { to, msg } => {
                            totals.messages += 1;
                            let at = Instant::now() + latency;
                            let _ = devices[to.user.0 as usize].send(Flight { at, msg });
                        }
                        switchboard::Output::SetTimer { timer, at_ms } => timers.push(Reverse((at_ms, timer))),
                        switchboard::Output::CancelTimer { .. } | switchboard::Output::Push(_) => {}
                        switchboard::Output::Status(change) => {
                            if change.to.is_terminal() {
                                totals.by_status[change.to.index()] += 1;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What a virtual user does next on its own.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Act {
    Call,
    Accept(SessionId),
    Decline(SessionId),
    HangUp(SessionId),
    Timeout(client::Timer),
}

struct Device {
    client: Client,
    user: u32,
    users: u32,
    seed: u64,
    rng: Rng,
    start: Instant,
    end_calls_ms: u64,
    latency: Duration,
    up: UnboundedSender<Flight<Up>>,
    acts: BinaryHeap<Reverse<(u64, Act)>>,
    totals: Totals,
}

impl Device {
    fn drain(&mut self, now: u64) {
        while let Some(output) = self.client.poll_output() {
            match output {
                client::Output::Send(msg) => {
                    self.totals.messages += 1;
                    let at = Instant::now() + self.latency;
                    let _ = self.up.send(Flight { at, msg: Up::Msg(self.client.device(), msg) });
                }
                client::Output::Callback(cb) => {
                    self.totals.callbacks += 1;
                    self.decide(now, cb.kind, cb.call.session);
                }
                client::Output::SetTimer { timer, at_ms } => {
                    self.acts.push(Reverse((at_ms, Act::Timeout(timer))))
                }
                client::Output::Answer { .. } | client::Output::CancelTimer { .. } => {}
            }
        }
    }

    fn decide(&mut self, now: u64, kind: CallbackKind, session: SessionId) {
        let mut rng = Rng::keyed(self.seed, session.0, u64::from(self.user));
        match kind {
            CallbackKind::IncomingCallReceived => {
                let roll = rng.unit();
                let at = now + rng.range(ANSWER_DELAY_MS);
                if roll < ANSWER_PROBABILITY {
                    self.acts.push(Reverse((at, Act::Accept(session))));
                } else if roll < ANSWER_PROBABILITY + REJECT_PROBABILITY {
                    self.acts.push(Reverse((at, Act::Decline(session))));
                }
            }
            CallbackKind::OutgoingCallAccepted => {
                self.acts.push(Reverse((now + rng.log_range(TALK_MS), Act::HangUp(session))));
            }
            _ => {}
        }
    }

    fn act(&mut self, now: u64, act: Act) {
        let request = match act {
            Act::Call => {
                let mean_ms = 3_600_000.0 / CALLS_PER_USER_PER_HOUR;
                let next = now + self.rng.exp_ms(mean_ms);
                if next < self.end_calls_ms {
                    self.acts.push(Reverse((next, Act::Call)));
                }
                let other = self.rng.next() % u64::from(self.users - 1);
                let callee = if other as u32 >= self.user { other as u32 + 1 } else { other as u32 };
                let to = Receiver::User(UserId(callee));
                Request::Initiate { to, call_type: CallType::Audio, ring_timeout_ms: None }
            }
            Act::Accept(session) => Request::Accept { session },
            Act::Decline(session) => Request::Reject { session, status: RejectStatus::Rejected },
            Act::HangUp(session) => Request::End { session },
            Act::Timeout(timer) => {
                self.totals.inputs += 1;
                let _ = self.client.handle_input(now, ClientInput::Timer(timer));
                return;
            }
        };
        self.totals.inputs += 1;
        self.totals.commands += 1;
        let _ = self.client.handle_input(now, ClientInput::Command(request));
    }
}

async fn device_task(mut d: Device, mut rx: UnboundedReceiver<Flight<ServerMsg>>) -> Totals {
    let _ = d.client.handle_input(0, ClientInput::Connected(ConnectionId(0)));
    let _ = d.up.send(Flight { at: Instant::now() + d.latency, msg: Up::Connect(d.client.device()) });
    let first = d.rng.exp_ms(3_600_000.0 / CALLS_PER_USER_PER_HOUR);
    if first < d.end_calls_ms {
        d.acts.push(Reverse((first, Act::Call)));
    }
    let mut inbox: VecDeque<Flight<ServerMsg>> = VecDeque::new();
    loop {
        let next_msg = inbox.front().map(|f| f.at);
        let next_act = d.acts.peek().map(|Reverse((at, _))| d.start + Duration::from_millis(*at));
        let next = next_msg.into_iter().chain(next_act).min();
        tokio::select! {
            biased;
            flight = rx.recv() => match flight {
                Some(f) => inbox.push_back(f),
                None => return d.totals,
            },
            () = sleep_until(next.unwrap_or(d.start)), if next.is_some() => {
                let now = ms_since(d.start);
                if next_act.is_some_and(|a| next_msg.is_none_or(|m| a < m)) {
                    let Some(Reverse((_, act))) = d.acts.pop() else { continue };
                    d.act(now, act);
                } else {
                    let Some(flight) = inbox.pop_front() else { continue };
                    d.totals.inputs += 1;
                    let _ = d.client.handle_input(now, ClientInput::Message(flight.msg));
                }
                d.drain(now);
            }
        }
    }
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("tokio_baseline: {e}");
            std::process::exit(2);
        }
    };
    let wall = std::time::Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let totals = runtime.block_on(run(&args));
    let wall_s = wall.elapsed().as_secs_f64();
    let calls: u64 = totals.by_status.iter().sum();
    let mut line = format!(
        "users={} duration_s={} seed={} latency_ms={} calls={calls}",
        args.users, args.duration_s, args.seed, args.latency_ms
    );
    for status in Status::ALL.iter().filter(|s| s.is_terminal()) {
        line.push_str(&format!(" {}={}", status.name(), totals.by_status[status.index()]));
    }
    line.push_str(&format!(
        " commands={} messages={} callbacks={} inputs={} wall_s={wall_s:.3} ns_per_input={:.0}",
        totals.commands,
        totals.messages,
        totals.callbacks,
        totals.inputs,
        wall_s * 1e9 / totals.inputs.max(1) as f64
    ));
    println!("{line}");
}

async fn run(args: &Args) -> Totals {
    let config = Config::default();
    let start = Instant::now();
    let latency = Duration::from_millis(args.latency_ms);
    let end_calls_ms = args.duration_s * 1_000;
    let (up_tx, up_rx) = unbounded_channel();
    let mut senders = Vec::with_capacity(args.users as usize);
    let mut handles = Vec::with_capacity(args.users as usize);
    for user in 0..args.users {
        let (tx, rx) = unbounded_channel();
        senders.push(tx);
        let device = Device {
            client: Client::new(DeviceId::new(UserId(user), 0), config),
            user,
            users: args.users,
            seed: args.seed,
            rng: Rng::keyed(args.seed, u64::MAX, u64::from(user)),
            start,
            end_calls_ms,
            latency,
            up: up_tx.clone(),
            acts: BinaryHeap::new(),
            totals: Totals::default(),
        };
        handles.push(tokio::spawn(device_task(device, rx)));
    }
    let sb = tokio::spawn(switchboard_task(config, args.users, start, latency, up_rx, senders));
    // Every call is over by the last start + answer delay + talk + ring timeout + latencies.
    let settle_ms = ANSWER_DELAY_MS.1 + TALK_MS.1 + config.ring_timeout_ms + 10 * args.latency_ms + 1_000;
    tokio::time::sleep(Duration::from_millis(end_calls_ms + settle_ms)).await;
    let _ = up_tx.send(Flight { at: Instant::now(), msg: Up::Stop });
    let mut totals = sb.await.expect("the switchboard task");
    for handle in handles {
        totals.add(&handle.await.expect("a device task"));
    }
    totals
}
