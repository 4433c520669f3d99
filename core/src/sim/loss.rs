//! Random and bursty (Gilbert–Elliott) packet loss.

use rand::RngExt;
use rand_pcg::Pcg64Mcg;

use super::config::LinkConfigError;

/// How a link loses packets on the medium (after the bottleneck queue, so a lost packet has
/// still used link capacity, as on a radio link).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum LossModel {
    /// No random loss.
    #[default]
    None,
    /// Independent (Bernoulli) loss: every packet is lost with probability `p`.
    Random {
        /// Loss probability, in `[0, 1]`.
        p: f64,
    },
    /// Bursty loss from a two-state Markov chain.
    GilbertElliott(GilbertElliott),
    /// The link is down: every packet is lost (a tunnel, a dead zone).
    Outage,
}

impl LossModel {
    /// Long-run fraction of packets this model loses.
    pub fn mean_loss(&self) -> f64 {
        match self {
            Self::None => 0.0,
            Self::Random { p } => *p,
            Self::GilbertElliott(ge) => ge.mean_loss(),
            Self::Outage => 1.0,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), LinkConfigError> {
        match self {
            Self::None | Self::Outage => Ok(()),
            Self::Random { p } => check_probability("loss", *p),
            Self::GilbertElliott(ge) => ge.validate(),
        }
    }
}

/// The Gilbert–Elliott burst-loss model.
///
/// The channel is either *good* or *bad*. Before each packet it changes state (good → bad with
/// probability `p_good_to_bad`, bad → good with `p_bad_to_good`); the packet is then lost with
/// the loss probability of the state it is in. With `loss_in_bad = 1` and `loss_in_good = 0` this
/// is the simple Gilbert model, whose loss bursts have a geometric length with mean
/// `1 / p_bad_to_good` packets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Probability of moving from the good to the bad state, per packet.
    pub p_good_to_bad: f64,
    /// Probability of moving from the bad to the good state, per packet.
    pub p_bad_to_good: f64,
    /// Loss probability while good.
    pub loss_in_good: f64,
    /// Loss probability while bad.
    pub loss_in_bad: f64,
}

impl GilbertElliott {
    /// A simple Gilbert model (lose everything while bad, nothing while good) with the given
    /// long-run loss rate and mean burst length in packets.
    ///
    /// `mean_loss` must be in `[0, 1)` and `mean_burst` at least 1.
    pub fn from_loss_and_burst(mean_loss: f64, mean_burst: f64) -> Result<Self, LinkConfigError> {
        check_probability("burst loss rate", mean_loss)?;
        if mean_loss >= 1.0 {
            return Err(LinkConfigError::Probability {
                what: "burst loss rate",
                value: mean_loss,
            });
        }
        if !(mean_burst >= 1.0 && mean_burst.is_finite()) {
            return Err(LinkConfigError::BurstLength(mean_burst));
        }
        let p_bad_to_good = 1.0 / mean_burst;
        // Stationary P(bad) = p / (p + r) = mean_loss  ⇒  p = r · loss / (1 − loss).
        let p_good_to_bad = (p_bad_to_good * mean_loss / (1.0 - mean_loss)).min(1.0);
        Ok(Self {
            p_good_to_bad,
            p_bad_to_good,
            loss_in_good: 0.0,
            loss_in_bad: 1.0,
        })
    }

    /// Long-run probability of being in the bad state.
    pub fn stationary_bad(&self) -> f64 {
        let total = self.p_good_to_bad + self.p_bad_to_good;
        if total == 0.0 {
            0.0
        } else {
            self.p_good_to_bad / total
        }
    }

    /// Long-run fraction of packets lost.
    pub fn mean_loss(&self) -> f64 {
        let bad = self.stationary_bad();
        bad * self.loss_in_bad + (1.0 - bad) * self.loss_in_good
    }

    /// Mean number of consecutive packets spent in the bad state.
    pub fn mean_bad_run(&self) -> f64 {
        1.0 / self.p_bad_to_good
    }

    fn validate(&self) -> Result<(), LinkConfigError> {
        check_probability("good→bad transition", self.p_good_to_bad)?;
        check_probability("bad→good transition", self.p_bad_to_good)?;
        check_probability("loss in good state", self.loss_in_good)?;
        check_probability("loss in bad state", self.loss_in_bad)
    }
}

/// Which loss process dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LossVerdict {
    Kept,
    Random,
    Burst,
    Outage,
}

/// The per-link state of a loss model.
#[derive(Debug, Clone, Default)]
pub(crate) struct LossState {
    bad: bool,
}

impl LossState {
    pub(crate) fn decide(&mut self, model: &LossModel, rng: &mut Pcg64Mcg) -> LossVerdict {
        match model {
            LossModel::None => LossVerdict::Kept,
            LossModel::Outage => LossVerdict::Outage,
            LossModel::Random { p } => {
                if rng.random_bool(*p) {
                    LossVerdict::Random
                } else {
                    LossVerdict::Kept
                }
            }
            LossModel::GilbertElliott(ge) => {
                let flip = if self.bad {
                    ge.p_bad_to_good
                } else {
                    ge.p_good_to_bad
                };
                if rng.random_bool(flip) {
                    self.bad = !self.bad;
                }
                let p = if self.bad {
                    ge.loss_in_bad
                } else {
                    ge.loss_in_good
                };
                if rng.random_bool(p) {
                    LossVerdict::Burst
                } else {
                    LossVerdict::Kept
                }
            }
        }
    }
}

pub(crate) fn check_probability(what: &'static str, value: f64) -> Result<(), LinkConfigError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(LinkConfigError::Probability { what, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn gilbert_parameters_reproduce_loss_and_burst() {
        let ge = GilbertElliott::from_loss_and_burst(0.05, 4.0).expect("valid parameters");
        assert!((ge.mean_loss() - 0.05).abs() < 1e-12);
        assert!((ge.mean_bad_run() - 4.0).abs() < 1e-12);
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        assert!(GilbertElliott::from_loss_and_burst(1.0, 2.0).is_err());
        assert!(GilbertElliott::from_loss_and_burst(0.1, 0.5).is_err());
        assert!(LossModel::Random { p: 1.5 }.validate().is_err());
        assert!(LossModel::Random { p: f64::NAN }.validate().is_err());
    }

    #[test]
    fn no_loss_model_never_draws() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let mut state = LossState::default();
        for _ in 0..1000 {
            assert_eq!(state.decide(&LossModel::None, &mut rng), LossVerdict::Kept);
        }
    }
}
