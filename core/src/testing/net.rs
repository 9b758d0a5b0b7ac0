//! The network between devices and the switchboard, as every driver in this crate's tests and
//! the simulator models it: the rules in one place, pure and without randomness. The caller
//! says how long each message it sends takes (the simulator draws it from its seeded generator,
//! [`crate::testing::harness::Harness`] passes a fixed one) and keeps its own event queue; a
//! [`Link`] says when each item arrives and whether it still arrives.
//!
//! The rules, for each device:
//! - **FIFO per connection and direction.** An item sent at `now` with latency `l` arrives at
//!   `max(now + l, the previous arrival the same way)`: it never overtakes one sent earlier.
//! - **Connection epochs.** Every connect and every disconnect starts a new epoch; the epoch of
//!   a connect is that connection's token ([`ConnectionId`]), handed to both machines. A message
//!   belongs to the connection it was sent on, and arrives only if that connection is still the
//!   device's current one and up: a disconnect (or a connect that replaces the connection) loses
//!   whatever is in flight, both ways.
//! - **The switchboard learns of connection changes one latency later**, on the device's upstream
//!   (FIFO with its messages). What the switchboard sends goes on the connection it last learned
//!   of: sent before it learns of a reconnect, it is lost.
//!
//! ```
//! use callcore::testing::net::Link;
//! let mut link = Link::default();
//! let up = link.connect(0, 30); // the device connects at 0; the switchboard learns at 30
//! assert_eq!(up.learned_at_ms, 30);
//! let request = link.send_up(1, 5); // sent at 1, but not before the connect is learned
//! assert_eq!(request.at_ms, 30);
//! link.learned_connect(up.conn);
//! let answer = link.send_down(30, 10);
//! assert!(link.arrives(answer.conn));
//! link.disconnect(35, 10); // the answer, due at 40, is lost
//! assert!(!link.arrives(answer.conn) && !link.arrives(request.conn));
//! ```

use crate::ids::ConnectionId;

/// Set in [`Link`]'s state while its connection is up.
const UP: u32 = 1 << 31;

/// The epochs a link counts before it wraps to 0 (2^31): a device would have to connect a
/// billion times while one message is in flight for two connections to be confused.
pub const EPOCHS: u32 = UP;

/// One device's connection to the switchboard, as the network sees it: 24 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// The current epoch (low 31 bits) and whether its connection is up ([`UP`]).
    state: u32,
    /// The connection the switchboard last learned of: what it sends goes on it.
    switchboard_conn: u32,
    /// Arrival time of the last item sent towards the switchboard.
    up_last_ms: u64,
    /// Arrival time of the last message sent towards the device.
    down_last_ms: u64,
}

/// Something sent on a link: when it arrives, and the connection it belongs to (ask
/// [`Link::arrives`] at that time whether it still arrives).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    /// When it arrives (or would have).
    pub at_ms: u64,
    /// The connection it was sent on.
    pub conn: ConnectionId,
}

/// A connection change: the connection it is about, for both machines, and when the
/// switchboard learns of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// The connection that came up or went down.
    pub conn: ConnectionId,
    /// When the switchboard learns of it (one latency later, FIFO with the device's messages).
    pub learned_at_ms: u64,
}

impl Link {
    /// The current epoch: the token of the current connection while it is up.
    #[inline]
    pub fn epoch(&self) -> u32 {
        self.state & !UP
    }

    /// Whether the device's connection is up.
    #[inline]
    pub fn is_up(&self) -> bool {
        self.state & UP != 0
    }

    /// The device's connection comes up at `now_ms` (replacing the current one, if up): a new
    /// epoch, whose number is the new connection's token. The switchboard learns of it
    /// `latency_ms` later, never before the device's earlier messages.
    #[inline]
    pub fn connect(&mut self, now_ms: u64, latency_ms: u64) -> Change {
        let epoch = (self.epoch() + 1) % EPOCHS;
        self.state = epoch | UP;
        let learned_at_ms = self.up_arrival(now_ms, latency_ms);
        Change { conn: ConnectionId(epoch), learned_at_ms }
    }

    /// The device's connection drops at `now_ms`: a new epoch, so that whatever is in flight
    /// either way is lost. The change names the connection that closed (the current epoch: a
    /// link that was down names its last epoch, which the machines ignore as stale). The
    /// switchboard learns of it `latency_ms` later, never before the device's earlier messages.
    #[inline]
    pub fn disconnect(&mut self, now_ms: u64, latency_ms: u64) -> Change {
        let conn = ConnectionId(self.epoch());
        self.state = (self.epoch() + 1) % EPOCHS;
        let learned_at_ms = self.up_arrival(now_ms, latency_ms);
        Change { conn, learned_at_ms }
    }

    /// The switchboard learned (now) that connection `conn` came up: what it sends from now on
    /// goes on that connection.
    #[inline]
    pub fn learned_connect(&mut self, conn: ConnectionId) {
        self.switchboard_conn = conn.0;
    }

    /// The device sends a message at `now_ms` that takes `latency_ms`: on its current epoch's
    /// connection, arriving no earlier than the device's previous item.
    #[inline]
    pub fn send_up(&mut self, now_ms: u64, latency_ms: u64) -> Sent {
        let at_ms = self.up_arrival(now_ms, latency_ms);
        Sent { at_ms, conn: ConnectionId(self.epoch()) }
    }

    /// The switchboard sends the device a message at `now_ms` that takes `latency_ms`: on the
    /// connection it last learned of, arriving no earlier than its previous one to the device.
    #[inline]
    pub fn send_down(&mut self, now_ms: u64, latency_ms: u64) -> Sent {
        self.down_last_ms = (now_ms + latency_ms).max(self.down_last_ms);
        Sent { at_ms: self.down_last_ms, conn: ConnectionId(self.switchboard_conn) }
    }

    /// Whether a message sent on `conn` arrives now: `conn` is still the device's connection,
    /// and up. Otherwise it was lost in flight.
    #[inline]
    pub fn arrives(&self, conn: ConnectionId) -> bool {
        self.state == conn.0 | UP
    }

    #[inline]
    fn up_arrival(&mut self, now_ms: u64, latency_ms: u64) -> u64 {
        self.up_last_ms = (now_ms + latency_ms).max(self.up_last_ms);
        self.up_last_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Link>(), 24, "a simulator's device holds one");
    }

    #[test]
    fn a_later_message_never_overtakes_an_earlier_one() {
        let mut link = Link::default();
        link.connect(0, 0);
        assert_eq!(link.send_up(0, 60).at_ms, 60);
        assert_eq!(link.send_up(1, 5).at_ms, 60, "clamped to the earlier arrival");
        assert_eq!(link.send_up(100, 5).at_ms, 105);
        assert_eq!(link.send_down(0, 5).at_ms, 5, "directions are independent");
        assert_eq!(link.send_down(1, 1).at_ms, 5);
    }

    #[test]
    fn connection_changes_travel_upstream_with_the_messages() {
        let mut link = Link::default();
        let up = link.connect(0, 50);
        assert_eq!((up.conn, up.learned_at_ms), (ConnectionId(1), 50));
        link.send_up(10, 100);
        let down = link.disconnect(20, 5);
        assert_eq!((down.conn, down.learned_at_ms), (ConnectionId(1), 110), "after the message");
    }

    #[test]
    fn tokens_count_connects_and_disconnects() {
        let mut link = Link::default();
        assert!(!link.is_up() && link.epoch() == 0);
        assert_eq!(link.connect(0, 1).conn, ConnectionId(1));
        assert_eq!(link.disconnect(0, 1).conn, ConnectionId(1));
        assert_eq!(link.disconnect(0, 1).conn, ConnectionId(2), "a stale close names the last epoch");
        assert_eq!(link.connect(0, 1).conn, ConnectionId(4));
        assert_eq!(link.connect(0, 1).conn, ConnectionId(5), "a connect may replace a connection");
        assert!(link.is_up() && link.epoch() == 5);
    }

    #[test]
    fn a_drop_loses_what_is_in_flight_both_ways() {
        let mut link = Link::default();
        let first = link.connect(0, 10);
        link.learned_connect(first.conn);
        let (up, down) = (link.send_up(0, 10), link.send_down(0, 10));
        assert!(link.arrives(up.conn) && link.arrives(down.conn));
        link.disconnect(5, 10);
        assert!(!link.arrives(up.conn) && !link.arrives(down.conn));
        link.connect(6, 10);
        assert!(!link.arrives(up.conn) && !link.arrives(down.conn), "not on the new connection");
        let sent_down = link.send_down(6, 10);
        assert!(!link.arrives(sent_down.conn), "sent before the switchboard learned of it");
    }

    #[test]
    fn nothing_arrives_on_a_link_that_is_down() {
        let mut link = Link::default();
        let sent = link.send_up(0, 1);
        assert!(!link.arrives(sent.conn), "never connected");
        link.connect(0, 1);
        link.disconnect(0, 1);
        let sent = link.send_up(0, 1);
        assert!(!link.arrives(sent.conn), "sent while down");
    }

    #[test]
    fn epochs_wrap_below_the_up_bit() {
        let mut link = Link { state: EPOCHS - 1, ..Link::default() };
        assert_eq!(link.connect(0, 1).conn, ConnectionId(0));
        assert!(link.is_up() && link.epoch() == 0);
    }
}
