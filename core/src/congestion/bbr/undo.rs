//! Undoing a spurious loss (draft-ietf-ccwg-bbr-06 §5.5.11, in weir's terms): the connection
//! reports a congestion event all of whose lost packets were acknowledged afterwards
//! ([`SpuriousCongestion`]). When every event of the recovery period was such a false alarm,
//! BBR puts back what the losses took: the short-term bounds (`bw_shortterm`,
//! `inflight_shortterm`) and `inflight_longterm` as they were when the period began
//! (SaveStateUponLoss), the cwnd saved on entering recovery, and the full-pipe count, so that
//! a Startup or a probe the "losses" ended can find the rate again (as Linux's BBR resets
//! its full-bandwidth detection on undo). The losses of the current loss round no longer count
//! for the short-term model or the random-loss estimate.
//!
//! Not done: the draft also returns to the state the loss left (ProbeBW_UP, Startup); weir
//! lets the state machine carry on from where it is, and the restored bounds let the next
//! probe go as far as the last.

use std::time::Instant;

use super::Bbr;
use crate::congestion::SpuriousCongestion;
use crate::congestion::spurious_tally::{SpuriousTally, take_if_spurious};

/// What a recovery period's losses may have reduced, saved when it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BbrUndo {
    tally: SpuriousTally,
    bw_shortterm: u64,
    inflight_shortterm: u64,
    inflight_longterm: u64,
}

impl Bbr {
    /// A congestion event at `now`: the first of a recovery period saves the state to undo
    /// (`new_period`), later ones are counted against it.
    pub(super) fn note_undo_event(&mut self, now: Instant, new_period: bool) {
        if new_period {
            self.undo = Some(BbrUndo {
                tally: SpuriousTally::new(now),
                bw_shortterm: self.bw_shortterm,
                inflight_shortterm: self.inflight_shortterm,
                inflight_longterm: self.inflight_longterm,
            });
        } else if let Some(undo) = self.undo.as_mut() {
            undo.tally.note_event();
        }
    }

    /// A congestion event turned out spurious; see the module documentation. Returns whether
    /// the period's reductions were undone.
    pub(super) fn undo_spurious(&mut self, event: &SpuriousCongestion) -> bool {
        let Some(undo) = take_if_spurious(&mut self.undo, event, |u| &mut u.tally) else {
            return false;
        };
        self.bw_shortterm = self.bw_shortterm.max(undo.bw_shortterm);
        self.inflight_shortterm = self.inflight_shortterm.max(undo.inflight_shortterm);
        self.inflight_longterm = self.inflight_longterm.max(undo.inflight_longterm);
        self.bound_bw_for_model();
        self.is_loss_in_round = false;
        self.loss_round_lost = 0;
        self.loss_since_last_ack = false;
        self.reset_full_bw();
        if self.recovery_start.take().is_some() {
            self.restore_cwnd();
        }
        self.spurious_undos += 1;
        true
    }
}
