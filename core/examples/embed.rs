//! Embedding the two roles by hand: one switchboard (a signalling server's) and one client per
//! device (an app's), wired with in-memory queues instead of sockets, and a clock that the loop
//! moves to the next due timer. Alex calls Bob, Bob's phone rings, Bob accepts and later hangs up;
//! the program prints every callback the applications get.
//!
//! `cargo run -p callcore --example embed`

use callcore::{client, switchboard, CallType, Client, ClientMsg, Config, ConnectionId, DeviceId, Receiver};
use callcore::{Request, ServerMsg, Switchboard};
use std::collections::{BTreeMap, VecDeque};

/// Everything in flight or waiting: messages each way, and both roles' timers by due time.
#[derive(Default)]
struct Wires {
    to_server: VecDeque<(DeviceId, ClientMsg)>,
    to_devices: VecDeque<(DeviceId, ServerMsg)>,
    server_timers: BTreeMap<(u64, u64), switchboard::Timer>,
    device_timers: BTreeMap<(u64, u64), (usize, client::Timer)>,
    seq: u64,
}

impl Wires {
    /// Drains the switchboard after an input: what it sends, which timers it wants.
    fn drain_server(&mut self, server: &mut Switchboard) {
        while let Some(output) = server.poll_output() {
            match output {
                switchboard::Output::Send { to, msg } => self.to_devices.push_back((to, msg)),
                switchboard::Output::SetTimer { timer, at_ms } => {
                    self.seq += 1;
                    self.server_timers.insert((at_ms, self.seq), timer);
                }
                // Hand a push to the push service (APNs, FCM); nobody here is offline.
                switchboard::Output::Push(push) => println!("push for {}: {}", push.to, push.kind),
                // A timer that is no longer due is a no-op when it fires: no need to remove it.
                switchboard::Output::CancelTimer { .. } | switchboard::Output::Status(_) => {}
            }
        }
    }

    /// Drains client `i` after an input: what it sends, its timers, and what the app gets.
    fn drain_client(&mut self, i: usize, device: &mut Client, now_ms: u64) {
        while let Some(output) = device.poll_output() {
            match output {
                client::Output::Send(msg) => self.to_server.push_back((device.device(), msg)),
                client::Output::Callback(callback) => {
                    println!("{now_ms:>6} ms  {}: {callback}", device.device())
                }
                client::Output::Answer { id, result, .. } => {
                    let answer = result
                        .map(|call| call.map_or("done".to_string(), |c| c.status.to_string()))
                        .map_err(|code| code.name());
                    println!("{now_ms:>6} ms  {}: answer to {id}: {answer:?}", device.device());
                }
                client::Output::SetTimer { timer, at_ms } => {
                    self.seq += 1;
                    self.device_timers.insert((at_ms, self.seq), (i, timer));
                }
                client::Output::CancelTimer { .. } => {}
            }
        }
    }

    /// Delivers every message in flight (at once: this network has no latency) until both sides
    /// are quiet. Bounded, so that a livelock fails instead of hanging.
    fn deliver(&mut self, server: &mut Switchboard, devices: &mut [Client], now_ms: u64) {
        for _ in 0..1_000 {
            if let Some((from, msg)) = self.to_server.pop_front() {
                let _ = server.handle_input(now_ms, switchboard::Input::Message { from, msg });
                self.drain_server(server);
            } else if let Some((to, msg)) = self.to_devices.pop_front() {
                let i = devices.iter().position(|d| d.device() == to).expect("a known device");
                let _ = devices[i].handle_input(now_ms, client::Input::Message(msg));
                self.drain_client(i, &mut devices[i], now_ms);
            } else {
                return;
            }
        }
        panic!("no quiet after 1000 deliveries");
    }

    /// Fires every timer due by `until_ms`, in time order, delivering what each causes.
    fn run_timers(&mut self, server: &mut Switchboard, devices: &mut [Client], until_ms: u64) {
        loop {
            let server_next = self.server_timers.keys().next().copied().filter(|k| k.0 <= until_ms);
            let device_next = self.device_timers.keys().next().copied().filter(|k| k.0 <= until_ms);
            match (server_next, device_next) {
                (Some(s), d) if d.is_none_or(|d| s <= d) => {
                    let timer = self.server_timers.remove(&s).expect("present");
                    let _ = server.handle_input(s.0, switchboard::Input::Timer(timer));
                    self.drain_server(server);
                    self.deliver(server, devices, s.0);
                }
                (_, Some(d)) => {
                    let (i, timer) = self.device_timers.remove(&d).expect("present");
                    let _ = devices[i].handle_input(d.0, client::Input::Timer(timer));
                    self.drain_client(i, &mut devices[i], d.0);
                    self.deliver(server, devices, d.0);
                }
                (_, None) => return,
            }
        }
    }
}

fn main() {
    let config = Config::default();
    let mut server = Switchboard::new(config);
    let (alex, bob) = (server.add_user(), server.add_user());
    let mut devices =
        [Client::new(DeviceId::new(alex, 0), config), Client::new(DeviceId::new(bob, 0), config)];
    let mut wires = Wires::default();

    // Both apps connect (their first connection: token 1), then the server accepts them.
    let conn = ConnectionId(1);
    for (i, device) in devices.iter_mut().enumerate() {
        let _ = device.handle_input(0, client::Input::Connected(conn));
        wires.drain_client(i, device, 0);
        let _ = server.handle_input(0, switchboard::Input::Connected { device: device.device(), conn });
        wires.drain_server(&mut server);
    }
    wires.deliver(&mut server, &mut devices, 0);

    // Alex calls Bob at 1 s; Bob's phone rings and acknowledges; Alex hears it ringing.
    let to = Receiver::User(bob);
    let _ = devices[0].handle_input(1_000, client::Input::Command(Request::initiate(to, CallType::Video)));
    wires.drain_client(0, &mut devices[0], 1_000);
    wires.deliver(&mut server, &mut devices, 1_000);
    let session = devices[1].calls().next().expect("bob's phone knows the call").session;

    // Bob accepts at 4 s; both start their media session (the vendor's `startSession`) within
    // the session start timeout (20 s by default); Bob hangs up at 64 s.
    let steps = [
        (4_000, 1, Request::accept(session)),
        (4_500, 1, Request::start_session(session)),
        (4_600, 0, Request::start_session(session)),
        (64_000, 1, Request::end(session)),
    ];
    for (at_ms, i, request) in steps {
        wires.run_timers(&mut server, &mut devices, at_ms);
        let _ = devices[i].handle_input(at_ms, client::Input::Command(request));
        wires.drain_client(i, &mut devices[i], at_ms);
        wires.deliver(&mut server, &mut devices, at_ms);
    }
    // Let every timer run out (request timeouts that were answered, the call's retention).
    wires.run_timers(&mut server, &mut devices, u64::MAX);
    println!("calls created: {}, still kept: {}", server.stats().created, server.record_count());
}
