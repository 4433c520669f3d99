//! Flow control (RFC 9000 §4): the receive windows we grant, which return credit as the
//! application reads and auto-tune toward 2 × BDP (DESIGN.md §3), and the send credit the peer
//! grants us. The same two types serve one stream and the whole connection.

use std::time::{Duration, Instant};

use crate::wire::VarInt;

/// A window update doubles the window when the previous update is younger than this many RTTs:
/// the application then consumes a whole window in less than the time it takes to tell the
/// peer about it, so the window is below the bandwidth-delay product and limits throughput
/// (DESIGN.md §3: windows grow toward 2 × BDP, within configured bounds).
const AUTOTUNE_RTTS: u32 = 2;

/// A receive window: how many bytes the peer may send, in total, on a stream or a connection.
///
/// `received` counts the bytes the peer used (the highest offset, or the final size, RFC 9000
/// §4.5), `consumed` the bytes the application took (read, or discarded), `advertised` the
/// limit the peer knows. An update is due when less than half a window of credit is left
/// (`advertised - consumed <= window / 2`); it announces `consumed + window`.
#[derive(Debug, Clone)]
pub(crate) struct RecvWindow {
    window: u64,
    max_window: u64,
    received: u64,
    consumed: u64,
    advertised: u64,
    last_update: Option<Instant>,
    pending: bool,
}

impl RecvWindow {
    /// A window of `window` bytes (already advertised, in the transport parameters) that may
    /// grow to `max_window`.
    pub(crate) fn new(window: u64, max_window: u64) -> Self {
        let window = window.min(VarInt::MAX.into_inner());
        Self {
            window,
            max_window: max_window.max(window),
            received: 0,
            consumed: 0,
            advertised: window,
            last_update: None,
            pending: false,
        }
    }

    /// The current window size.
    #[cfg(test)]
    pub(crate) fn window(&self) -> u64 {
        self.window
    }

    /// The limit the peer was given.
    pub(crate) fn advertised(&self) -> u64 {
        self.advertised
    }

    /// Bytes the peer used.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// Whether the peer may have used `total` bytes.
    pub(crate) fn allows(&self, total: u64) -> bool {
        total <= self.advertised
    }

    /// Records that the peer used `total` bytes (no check: call [`allows`](Self::allows)
    /// first); returns the increase.
    pub(crate) fn receive_to(&mut self, total: u64) -> u64 {
        let increase = total.saturating_sub(self.received);
        self.received += increase;
        increase
    }

    /// The application consumed `n` more bytes. Returns whether a window update became due.
    ///
    /// With `tune` (the time and the smoothed RTT) the window doubles, up to its maximum, when
    /// the previous update was less than [`AUTOTUNE_RTTS`] RTTs ago. Without it (credit
    /// released by a reset or a stop, not by reading) the window keeps its size.
    pub(crate) fn consume(&mut self, n: u64, tune: Option<(Instant, Duration)>) -> bool {
        self.consumed = self.consumed.saturating_add(n).min(self.received);
        if self.pending || !self.update_due() {
            return false;
        }
        self.autotune(tune);
        self.pending = true;
        true
    }

    /// An update is being queued at `tune`'s time: double the window, up to its maximum, when
    /// the previous update was less than [`AUTOTUNE_RTTS`] RTTs ago.
    fn autotune(&mut self, tune: Option<(Instant, Duration)>) {
        let Some((now, rtt)) = tune else {
            return;
        };
        let fast = self
            .last_update
            .is_some_and(|last| now.saturating_duration_since(last) < rtt * AUTOTUNE_RTTS);
        if fast {
            self.double();
        }
        self.last_update = Some(now);
    }

    /// Doubles the window, up to its maximum.
    fn double(&mut self) {
        self.window = self.window.saturating_mul(2).min(self.max_window);
    }

    fn update_due(&self) -> bool {
        self.advertised.saturating_sub(self.consumed) <= self.window / 2
            && self.next_limit() > self.advertised
    }

    /// The limit an update sent now would announce.
    pub(crate) fn next_limit(&self) -> u64 {
        self.consumed
            .saturating_add(self.window)
            .min(VarInt::MAX.into_inner())
            .max(self.advertised)
    }

    /// Whether an update waits to be sent.
    pub(crate) fn is_pending(&self) -> bool {
        self.pending
    }

    /// Takes the pending update: the limit to send, recorded as advertised.
    pub(crate) fn take_update(&mut self) -> u64 {
        self.pending = false;
        self.advertised = self.next_limit();
        self.advertised
    }

    /// The frame carrying an update was lost: send one again, with the current limit.
    pub(crate) fn requeue(&mut self) {
        self.pending = true;
    }

    /// The peer says it is blocked at `limit` (DATA_BLOCKED, STREAM_DATA_BLOCKED): queue an
    /// update if we can give more (it missed one, or the application read since), and double
    /// the window (with `tune`; up to its maximum). The peer had data to send and the
    /// application was reading, so the window, not either end, held the transfer back. The
    /// read-pace test of [`consume`](Self::consume) alone misses this on a lossy path: a hole
    /// holds reading back for a round trip or more, so updates come less often than every two
    /// RTTs however small the window (at 25 % loss, 100 Mbit/s × 100 ms, a 256 KiB window took
    /// ten seconds to reach the BDP). A peer that claims to be blocked when it is not gains at
    /// most the configured maximum, which a fast honest sender reaches anyway.
    pub(crate) fn on_peer_blocked(&mut self, limit: u64, tune: Option<(Instant, Duration)>) {
        if self.next_limit() > limit {
            if let (false, Some((now, _))) = (self.pending, tune) {
                self.double();
                self.last_update = Some(now);
            }
            self.pending = true;
        }
    }
}

/// The credit the peer grants: its MAX_DATA or MAX_STREAM_DATA limit and what we used of it,
/// with the DATA_BLOCKED / STREAM_DATA_BLOCKED bookkeeping (sent once per limit value,
/// RFC 9000 §4.1).
#[derive(Debug, Clone, Default)]
pub(crate) struct SendCredit {
    limit: u64,
    used: u64,
    blocked_at: Option<u64>,
    blocked_pending: bool,
}

impl SendCredit {
    /// Credit up to `limit` bytes.
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// The peer's limit.
    #[cfg(test)]
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes used.
    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    /// Bytes still allowed.
    pub(crate) fn available(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    /// The peer raised its limit to `limit` (smaller values are stale and ignored, RFC 9000
    /// §4.1). Returns whether the limit grew.
    pub(crate) fn raise(&mut self, limit: u64) -> bool {
        if limit <= self.limit {
            return false;
        }
        self.limit = limit;
        true
    }

    /// Uses `n` bytes (at most [`available`](Self::available)).
    pub(crate) fn consume(&mut self, n: u64) {
        debug_assert!(n <= self.available());
        self.used = self.used.saturating_add(n);
    }

    /// We have data the credit does not allow: queue a *_BLOCKED frame unless one was already
    /// queued for this limit. Returns whether one was queued now.
    pub(crate) fn on_blocked(&mut self) -> bool {
        if self.available() > 0 || self.blocked_at == Some(self.limit) {
            return false;
        }
        self.blocked_at = Some(self.limit);
        self.blocked_pending = true;
        true
    }

    /// Whether a *_BLOCKED frame waits to be sent (and is still true).
    pub(crate) fn blocked_pending(&self) -> bool {
        self.blocked_pending && self.available() == 0
    }

    /// Takes the pending *_BLOCKED frame: the limit it reports.
    pub(crate) fn take_blocked(&mut self) -> Option<u64> {
        let pending = self.blocked_pending();
        self.blocked_pending = false;
        pending.then_some(self.limit)
    }

    /// The frame carrying a *_BLOCKED was lost: queue it again if we are still blocked at the
    /// limit it reported.
    pub(crate) fn requeue_blocked(&mut self) {
        if self.available() == 0 && self.blocked_at == Some(self.limit) {
            self.blocked_pending = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(100);

    #[allow(clippy::disallowed_methods)] // tests need a base instant
    fn epoch() -> Instant {
        Instant::now()
    }

    #[test]
    fn update_is_due_when_half_the_window_is_consumed() {
        let now = epoch();
        let mut w = RecvWindow::new(100, 100);
        assert!(w.allows(100) && !w.allows(101));
        assert_eq!(w.receive_to(80), 80);
        assert_eq!(w.receive_to(60), 0);
        assert!(!w.consume(49, Some((now, RTT))));
        assert!(w.consume(1, Some((now, RTT))));
        assert!(w.is_pending());
        // Pending updates are not queued twice.
        assert!(!w.consume(10, Some((now, RTT))));
        assert_eq!(w.take_update(), 160);
        assert_eq!(w.advertised(), 160);
        assert!(!w.is_pending());
        // Consumption never exceeds what was received.
        w.consume(1000, None);
        assert_eq!(w.next_limit(), 180);
    }

    #[test]
    fn window_doubles_when_updates_come_faster_than_two_rtts() {
        let t0 = epoch();
        let mut w = RecvWindow::new(100, 350);
        let mut t = t0;
        let mut total = 0;
        for expected in [100, 200, 350, 350] {
            w.receive_to(total + w.window());
            total += w.window();
            assert!(w.consume(w.window(), Some((t, RTT))));
            assert_eq!(w.window(), expected);
            w.take_update();
            t += RTT; // next update one RTT later: fast
        }
        // Slow consumption (updates 2 RTTs apart or more) keeps the window.
        let mut w = RecvWindow::new(100, 1000);
        let mut t = t0;
        for _ in 0..3 {
            let r = w.received();
            w.receive_to(r + 100);
            assert!(w.consume(100, Some((t, RTT))));
            w.take_update();
            t += RTT * 2;
        }
        assert_eq!(w.window(), 100);
        // Credit released without reading never tunes.
        let mut w = RecvWindow::new(100, 1000);
        w.receive_to(100);
        assert!(w.consume(100, None));
        w.take_update();
        w.receive_to(200);
        assert!(w.consume(100, None));
        assert_eq!(w.window(), 100);
    }

    #[test]
    fn peer_blocked_requeues_only_when_more_credit_exists() {
        let mut w = RecvWindow::new(100, 100);
        w.on_peer_blocked(100, None);
        assert!(!w.is_pending());
        w.receive_to(100);
        w.consume(10, None);
        w.on_peer_blocked(100, None);
        assert!(w.is_pending());
        assert_eq!(w.take_update(), 110);
        w.on_peer_blocked(90, None); // the peer missed our update
        assert!(w.is_pending());
    }

    #[test]
    fn a_blocked_peer_doubles_the_window_however_slowly_reading_goes() {
        let mut w = RecvWindow::new(100, 300);
        let mut t = crate::congestion::test_epoch();
        w.receive_to(100);
        // Reading is held back by a hole for many round trips: no update is "fast".
        t += RTT * 10;
        w.consume(60, Some((t, RTT)));
        assert_eq!(w.window(), 100);
        assert_eq!(w.take_update(), 160);
        w.receive_to(160);
        w.consume(10, Some((t, RTT)));
        w.on_peer_blocked(160, Some((t, RTT)));
        assert!(w.is_pending());
        assert_eq!(w.window(), 200);
        assert_eq!(w.take_update(), 270);
        // Not again while an update is pending; then up to the maximum.
        t += RTT * 10;
        w.receive_to(270);
        w.consume(100, Some((t, RTT)));
        assert!(w.is_pending());
        w.on_peer_blocked(270, Some((t, RTT)));
        assert_eq!(w.window(), 200);
        assert_eq!(w.take_update(), 370);
        w.receive_to(370);
        w.consume(10, Some((t, RTT)));
        w.on_peer_blocked(370, Some((t, RTT)));
        assert_eq!(w.window(), 300);
    }

    #[test]
    fn blocked_is_reported_once_per_limit() {
        let mut c = SendCredit::new(10);
        assert!(!c.on_blocked());
        c.consume(10);
        assert!(c.on_blocked());
        assert!(!c.on_blocked());
        assert_eq!(c.take_blocked(), Some(10));
        assert_eq!(c.take_blocked(), None);
        c.requeue_blocked();
        assert_eq!(c.take_blocked(), Some(10));
        assert!(!c.raise(5));
        assert!(c.raise(20));
        // A lost report for an old limit is not re-sent.
        c.requeue_blocked();
        assert!(!c.blocked_pending());
        c.consume(10);
        assert!(c.on_blocked());
        assert!(c.raise(30));
        assert!(!c.blocked_pending(), "credit arrived: the report is stale");
        assert_eq!((c.limit(), c.used(), c.available()), (30, 20, 10));
    }
}
