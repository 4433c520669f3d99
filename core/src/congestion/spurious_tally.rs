//! The bookkeeping every controller's undo shares: a recovery period may be taken back only
//! when every congestion event raised in it turned out spurious (all its lost packets were
//! acknowledged afterwards). An ECN-CE mark is never reported spurious, so a period with one
//! is never undone.

use std::time::Instant;

use super::SpuriousCongestion;

/// The congestion events of one recovery period and how many of them were reported spurious.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SpuriousTally {
    /// When the period began.
    period_start: Instant,
    /// Congestion events raised since, the first included.
    events: u32,
    /// Of those, the ones reported spurious.
    spurious: u32,
}

impl SpuriousTally {
    /// A recovery period opened at `now` by its first congestion event.
    pub(super) fn new(now: Instant) -> Self {
        Self {
            period_start: now,
            events: 1,
            spurious: 0,
        }
    }

    /// Another congestion event in the period.
    pub(super) fn note_event(&mut self) {
        self.events = self.events.saturating_add(1);
    }

    /// `event` was reported spurious; returns whether every event of the period now has been.
    /// A report about an event from before the period counts for nothing.
    pub(super) fn on_spurious(&mut self, event: &SpuriousCongestion) -> bool {
        if event.declared_at < self.period_start {
            return false;
        }
        self.spurious = self.spurious.saturating_add(1);
        self.spurious >= self.events
    }
}

/// Takes the state saved in `slot` once `event` completes its period's tally (reached through
/// `tally`); leaves it, and returns `None`, otherwise.
pub(super) fn take_if_spurious<T>(
    slot: &mut Option<T>,
    event: &SpuriousCongestion,
    tally: impl FnOnce(&mut T) -> &mut SpuriousTally,
) -> Option<T> {
    let complete = slot
        .as_mut()
        .is_some_and(|saved| tally(saved).on_spurious(event));
    if complete { slot.take() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::test_epoch;

    #[test]
    fn a_period_is_spurious_once_every_event_is() {
        let t0 = test_epoch();
        let later = t0 + std::time::Duration::from_millis(5);
        let report = |at| SpuriousCongestion {
            declared_at: at,
            sent_time: t0,
        };
        let mut tally = SpuriousTally::new(later);
        tally.note_event();
        assert!(!tally.on_spurious(&report(t0)), "from before the period");
        assert!(!tally.on_spurious(&report(later)));
        assert!(tally.on_spurious(&report(later)));
    }
}
