//! Named network scenarios: the paths weir's users sit on.
//!
//! The numbers are representative of each kind of access network, not measurements of one; they
//! exist so that tests, benchmarks and `weir sim` share the same vocabulary of bad networks.

use std::time::Duration;

use super::config::{LinkConfig, Schedule};
use super::loss::{GilbertElliott, LossModel};
use super::network::{SimError, Simulator};
use super::rate::Bitrate;
use super::{LinkId, NodeId};

/// A two-way path: the *forward* direction carries the flow under test (server → player), the
/// *reverse* direction its feedback.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Short name, as given to `weir sim --preset`.
    pub name: String,
    /// One line describing the path.
    pub description: String,
    /// Parameters of the forward direction at the start.
    pub forward: LinkConfig,
    /// Parameters of the reverse direction at the start.
    pub reverse: LinkConfig,
    /// Changes of the forward direction over time.
    pub forward_schedule: Schedule,
    /// Changes of the reverse direction over time.
    pub reverse_schedule: Schedule,
}

/// Names and one-line descriptions of the presets.
pub const PRESETS: &[(&str, &str)] = &[
    ("lan", "wired LAN: 1 Gbit/s, 0.5 ms RTT"),
    (
        "wifi",
        "home Wi-Fi: 40 Mbit/s, 10 ms RTT, 4 ms jitter, short loss bursts, deep AP buffer",
    ),
    (
        "lte",
        "LTE phone: 20/5 Mbit/s, 50 ms RTT, 10 ms jitter, bufferbloated base station",
    ),
    (
        "lossy",
        "10 Mbit/s, 50 ms RTT, 1% random loss, 1 BDP buffer",
    ),
    (
        "2g",
        "EDGE: 200/100 kbit/s, 300 ms RTT, 40 ms jitter, 2% bursty loss",
    ),
    (
        "2g-tunnel",
        "2G in a tunnel: 64/32 kbit/s, 600 ms RTT, 10% bursty loss, 3 s outages every 15 s",
    ),
    (
        "satellite",
        "geostationary satellite: 20/2 Mbit/s, 600 ms RTT, 0.1% loss",
    ),
    (
        "commute",
        "Wi-Fi for 10 s, then 2G in a tunnel for 10 s (with an outage), then Wi-Fi again",
    ),
];

/// Bandwidth-delay product in bytes.
pub fn bdp_bytes(rate: Bitrate, rtt: Duration) -> usize {
    usize::try_from(rate.bytes_in(rtt)).unwrap_or(usize::MAX)
}

pub(super) fn link(
    rate_kbps: u64,
    one_way_ms: u64,
    queue: Duration,
    jitter_ms: u64,
    loss: LossModel,
) -> LinkConfig {
    let rate = Bitrate::from_kbps(rate_kbps);
    LinkConfig {
        delay: Duration::from_millis(one_way_ms),
        jitter: Duration::from_millis(jitter_ms),
        loss,
        rate: Some(rate),
        queue_bytes: bdp_bytes(rate, queue),
        ..LinkConfig::default()
    }
}

pub(super) fn bursty(loss: f64, burst: f64) -> LossModel {
    // The presets' constants are valid Gilbert parameters; fall back to random loss of the same
    // rate rather than fail if one is ever edited out of range.
    GilbertElliott::from_loss_and_burst(loss, burst)
        .map_or(LossModel::Random { p: loss }, LossModel::GilbertElliott)
}

pub(super) fn outage(mut config: LinkConfig) -> LinkConfig {
    config.loss = LossModel::Outage;
    config
}

impl Scenario {
    /// A scenario with the same parameters both ways and no schedule.
    pub fn symmetric(
        name: impl Into<String>,
        description: impl Into<String>,
        link: LinkConfig,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            forward: link.clone(),
            reverse: link,
            forward_schedule: Schedule::new(),
            reverse_schedule: Schedule::new(),
        }
    }

    /// The preset called `name` (see [`PRESETS`]).
    pub fn preset(name: &str) -> Option<Self> {
        let description = PRESETS.iter().find(|(n, _)| *n == name)?.1;
        let ms = Duration::from_millis;
        let (forward, reverse, forward_schedule, reverse_schedule) = match name {
            "lan" => {
                let l = link(1_000_000, 0, ms(1), 0, LossModel::None);
                let l = LinkConfig {
                    delay: Duration::from_micros(250),
                    ..l
                };
                (l.clone(), l, Schedule::new(), Schedule::new())
            }
            "wifi" => {
                let l = wifi();
                (l.clone(), l, Schedule::new(), Schedule::new())
            }
            "lte" => (
                link(20_000, 25, ms(200), 10, LossModel::Random { p: 0.001 }),
                link(5_000, 25, ms(200), 10, LossModel::Random { p: 0.001 }),
                Schedule::new(),
                Schedule::new(),
            ),
            "lossy" => {
                let l = link(10_000, 25, ms(50), 0, LossModel::Random { p: 0.01 });
                (l.clone(), l, Schedule::new(), Schedule::new())
            }
            "2g" => (
                link(200, 150, ms(1200), 40, bursty(0.02, 3.0)),
                link(100, 150, ms(1200), 40, bursty(0.02, 3.0)),
                Schedule::new(),
                Schedule::new(),
            ),
            "2g-tunnel" => {
                let (f, r) = tunnel();
                (
                    f.clone(),
                    r.clone(),
                    outages(&f, 15, 3, 120),
                    outages(&r, 15, 3, 120),
                )
            }
            "satellite" => (
                link(20_000, 300, ms(600), 5, LossModel::Random { p: 0.001 }),
                link(2_000, 300, ms(600), 5, LossModel::Random { p: 0.001 }),
                Schedule::new(),
                Schedule::new(),
            ),
            "commute" => {
                let w = wifi();
                let (tf, tr) = tunnel();
                let schedule = |t: &LinkConfig| {
                    Schedule::new()
                        .at(Duration::from_secs(10), t.clone())
                        .at(Duration::from_secs(14), outage(t.clone()))
                        .at(Duration::from_secs(16), t.clone())
                        .at(Duration::from_secs(20), w.clone())
                };
                (w.clone(), w.clone(), schedule(&tf), schedule(&tr))
            }
            _ => return None,
        };
        Some(Self {
            name: name.to_owned(),
            description: description.to_owned(),
            forward,
            reverse,
            forward_schedule,
            reverse_schedule,
        })
    }

    /// Round-trip propagation delay (without queueing or jitter).
    pub fn base_rtt(&self) -> Duration {
        self.forward.delay + self.reverse.delay
    }

    /// Forward bandwidth-delay product at the start, if the forward direction has a rate.
    pub fn bdp_bytes(&self) -> Option<usize> {
        Some(bdp_bytes(self.forward.rate?, self.base_rtt()))
    }

    /// Adds the scenario's two links between `forward_from` and `forward_to`, with their
    /// schedules; returns (forward, reverse).
    pub fn install(
        &self,
        sim: &mut Simulator,
        forward_from: NodeId,
        forward_to: NodeId,
    ) -> Result<(LinkId, LinkId), SimError> {
        let (forward, reverse) = sim.connect(
            forward_from,
            forward_to,
            self.forward.clone(),
            self.reverse.clone(),
        )?;
        sim.schedule(forward, &self.forward_schedule)?;
        sim.schedule(reverse, &self.reverse_schedule)?;
        Ok((forward, reverse))
    }
}

pub(super) fn wifi() -> LinkConfig {
    // 100 ms of buffer at 40 Mbit/s: consumer access points queue deeply.
    link(40_000, 5, Duration::from_millis(100), 4, bursty(0.005, 2.0))
}

pub(super) fn tunnel() -> (LinkConfig, LinkConfig) {
    let f = link(64, 300, Duration::from_millis(2400), 100, bursty(0.10, 6.0));
    let r = link(32, 300, Duration::from_millis(2400), 100, bursty(0.10, 6.0));
    (f, r)
}

/// `config` with total outages of `length_s` seconds every `period_s` seconds, up to `until_s`.
fn outages(config: &LinkConfig, period_s: u64, length_s: u64, until_s: u64) -> Schedule {
    (1..=until_s / period_s).fold(Schedule::new(), |s, k| {
        let start = Duration::from_secs(k * period_s - length_s);
        s.at(start, outage(config.clone()))
            .at(start + Duration::from_secs(length_s), config.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_builds_and_validates() {
        for (name, _) in PRESETS {
            let s = Scenario::preset(name).unwrap_or_else(|| panic!("preset {name} missing"));
            assert_eq!(s.name, *name);
            s.forward.validate().expect("forward valid");
            s.reverse.validate().expect("reverse valid");
            s.forward_schedule
                .validate()
                .expect("forward schedule valid");
            s.reverse_schedule
                .validate()
                .expect("reverse schedule valid");
        }
        assert!(Scenario::preset("nope").is_none());
    }

    #[test]
    fn bdp_of_lossy_preset() {
        let s = Scenario::preset("lossy").expect("preset");
        assert_eq!(s.base_rtt(), Duration::from_millis(50));
        // 10 Mbit/s × 50 ms = 62 500 bytes.
        assert_eq!(s.bdp_bytes(), Some(62_500));
        assert_eq!(s.forward.queue_bytes, 62_500);
    }

    #[test]
    fn tunnel_has_periodic_outages() {
        let s = Scenario::preset("2g-tunnel").expect("preset");
        let at = |secs| {
            s.forward_schedule
                .config_at(Duration::from_secs(secs))
                .map(|c| c.loss)
        };
        assert_eq!(at(13), Some(LossModel::Outage));
        assert_eq!(at(16), Some(s.forward.loss));
    }
}
