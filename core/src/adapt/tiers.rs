//! The seed's four strategy tiers as a policy.

use std::borrow::Cow;

use super::{
    CompressionChoice, Decision, MIN_STRATEGY_DATAGRAM, Policy, PolicyInput, Strategy,
    TransportChoice,
};
use crate::congestion::ControllerKind;
use crate::estimate::QualityGrade;
use crate::lanes::FecLevel;

/// The seed's policy: the quality score's grade picks one of four fixed tiers, each knob set
/// for the whole tier. The seed's own tables are not in this workspace; these are weir's
/// reading of them:
///
/// | grade | transport | controller | datagram | compression | FEC | batch |
/// |---|---|---|---|---|---|---|
/// | excellent (≥ 80) | QUIC | BBR | full | none | none | lane's own |
/// | good (60–80) | UDP | BBR | full | lz4 | low | lane's own |
/// | fair (35–60) | UDP | CUBIC | 1024 B | zstd-3 | medium | 2 400 B |
/// | poor (< 35) | TCP | NewReno | 576 B | zstd-9 | high | 1 200 B |
///
/// A tier is left only when the score passes the boundary by [`TIER_MARGIN`] points, so that a
/// score sitting on a boundary does not flap between two tiers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeedTiers {
    grade: Option<QualityGrade>,
}

/// Points past a grade boundary before [`SeedTiers`] changes tier.
pub const TIER_MARGIN: f64 = 5.0;

impl SeedTiers {
    /// The policy, before its first decision.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tier of `grade` for a path carrying datagrams of up to `max_datagram_size`.
    pub fn tier(grade: QualityGrade, max_datagram_size: u16) -> Strategy {
        let size = |n: u16| {
            n.clamp(
                MIN_STRATEGY_DATAGRAM,
                max_datagram_size.max(MIN_STRATEGY_DATAGRAM),
            )
        };
        match grade {
            QualityGrade::Excellent => Strategy {
                transport: TransportChoice::Quic,
                controller: ControllerKind::Bbr,
                datagram_size: size(max_datagram_size),
                batch_bytes: None,
                compression: CompressionChoice::None,
                fec: FecLevel::None,
                queue_guard: false,
            },
            QualityGrade::Good => Strategy {
                transport: TransportChoice::Udp,
                controller: ControllerKind::Bbr,
                datagram_size: size(max_datagram_size),
                batch_bytes: None,
                compression: CompressionChoice::Lz4,
                fec: FecLevel::Low,
                queue_guard: false,
            },
            QualityGrade::Fair => Strategy {
                transport: TransportChoice::Udp,
                controller: ControllerKind::Cubic,
                datagram_size: size(1024),
                batch_bytes: Some(2400),
                compression: CompressionChoice::Zstd(3),
                fec: FecLevel::Medium,
                queue_guard: false,
            },
            QualityGrade::Poor => Strategy {
                transport: TransportChoice::Tcp,
                controller: ControllerKind::NewReno,
                datagram_size: size(576),
                batch_bytes: Some(1200),
                compression: CompressionChoice::Zstd(9),
                fec: FecLevel::High,
                queue_guard: false,
            },
        }
    }
}

/// The grade of `total`, staying at `held` unless `total` is [`TIER_MARGIN`] past its bounds.
fn sticky_grade(held: Option<QualityGrade>, total: f64) -> QualityGrade {
    let plain = QualityGrade::of(total);
    let Some(held) = held else {
        return plain;
    };
    if plain == held {
        return held;
    }
    // Only move if the score is clearly in the new band.
    let shifted = if plain > held {
        QualityGrade::of(total - TIER_MARGIN)
    } else {
        QualityGrade::of(total + TIER_MARGIN)
    };
    if shifted == held { held } else { plain }
}

impl Policy for SeedTiers {
    fn name(&self) -> &str {
        "seed-tiers"
    }

    fn decide(&mut self, input: &PolicyInput<'_>) -> Decision {
        let Some(quality) = input.estimates.quality else {
            return Decision::keep(input.current, "no estimates yet");
        };
        let grade = sticky_grade(self.grade, quality.total);
        self.grade = Some(grade);
        Decision {
            strategy: Self::tier(grade, input.max_datagram_size),
            reason: Cow::Owned(format!("quality {:.0}: {grade} tier", quality.total)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_on_a_boundary_keeps_its_tier() {
        use QualityGrade::*;
        assert_eq!(sticky_grade(None, 79.0), Good);
        assert_eq!(sticky_grade(Some(Good), 81.0), Good);
        assert_eq!(sticky_grade(Some(Good), 85.0), Excellent);
        assert_eq!(sticky_grade(Some(Excellent), 76.0), Excellent);
        assert_eq!(sticky_grade(Some(Excellent), 74.9), Good);
        // A fall across two bands goes straight to the lower one.
        assert_eq!(sticky_grade(Some(Excellent), 20.0), Poor);
    }

    #[test]
    fn tiers_respect_the_path_size() {
        let poor = SeedTiers::tier(QualityGrade::Poor, 1200);
        assert_eq!(poor.datagram_size, 576);
        let fair = SeedTiers::tier(QualityGrade::Fair, 800);
        assert_eq!(fair.datagram_size, 800);
        let excellent = SeedTiers::tier(QualityGrade::Excellent, 1452);
        assert_eq!(excellent.datagram_size, 1452);
    }
}
