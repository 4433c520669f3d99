//! The rate at which the application queues real-time messages, as the bytes they will take on
//! the wire: what the strategy can spend on repairing them is bounded by it (see
//! [`WeirPolicy`](crate::adapt::WeirPolicy)).

use std::time::{Duration, Instant};

/// What one small message costs on the wire beyond its own bytes when it leaves in a packet of
/// its own, as a game's messages at 30–60 Hz do: a short header with an 8-byte connection ID
/// and a 4-byte packet number (13), the AEAD tag (16), a lane or datagram frame header (about
/// 6) and the UDP/IPv4 headers (28).
pub const MESSAGE_WIRE_OVERHEAD: u64 = 64;

/// The span each rate covers: a whole second, so a 60 Hz tick counts the same each time.
const WINDOW: Duration = Duration::from_secs(1);

/// Real-time messages queued per second, in wire bytes (each message's length and
/// [`MESSAGE_WIRE_OVERHEAD`]): the last whole second's total, or, within the first second, what
/// was queued so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RealtimeDemand {
    /// The current second: when it began and the wire bytes queued since.
    current: Option<(Instant, u64)>,
    /// The previous second's total.
    previous: Option<u64>,
}

impl RealtimeDemand {
    /// A message of `len` bytes queued at `now`.
    pub fn record(&mut self, now: Instant, len: u64) {
        self.roll(now);
        let wire = len.saturating_add(MESSAGE_WIRE_OVERHEAD);
        match &mut self.current {
            Some((_, bytes)) => *bytes = bytes.saturating_add(wire),
            None => self.current = Some((now, wire)),
        }
    }

    /// Starts a new second when the current one is over (an idle one in between counts as
    /// none queued).
    fn roll(&mut self, now: Instant) {
        let Some((start, bytes)) = self.current else {
            return;
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed < WINDOW {
            return;
        }
        if elapsed < 2 * WINDOW {
            self.previous = Some(bytes);
            self.current = Some((start + WINDOW, 0));
        } else {
            self.previous = Some(0);
            self.current = None;
        }
    }

    /// The wire bytes per second of real-time messages as of `now`, or `None` before any.
    pub fn rate(&self, now: Instant) -> Option<u64> {
        let mut at_now = *self;
        at_now.roll(now);
        match (at_now.previous, at_now.current) {
            (Some(previous), _) => Some(previous),
            // Within the first second: what was queued so far, over a whole second (a floor,
            // never an extrapolation of a burst).
            (None, Some((_, bytes))) => Some(bytes),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_60_hz_game_of_64_byte_messages_needs_about_61_kbit_s() {
        let t = crate::congestion::test_epoch();
        let mut d = RealtimeDemand::default();
        assert_eq!(d.rate(t), None);
        for i in 0..180u64 {
            d.record(t + ms(i * 1000 / 60), 64);
        }
        // 60 messages of 64 + 64 bytes a second.
        assert_eq!(d.rate(t + ms(2999)), Some(60 * 128));
        // An idle second counts as nothing, and so does a longer silence.
        assert_eq!(d.rate(t + ms(4500)), Some(0));
        assert_eq!(d.rate(t + ms(60_000)), Some(0));
    }

    #[test]
    fn the_first_second_reports_what_was_queued_so_far() {
        let t = crate::congestion::test_epoch();
        let mut d = RealtimeDemand::default();
        d.record(t, 100);
        d.record(t + ms(500), 100);
        assert_eq!(d.rate(t + ms(600)), Some(2 * 164));
    }
}
