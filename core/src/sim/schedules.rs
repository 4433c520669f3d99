//! Named time-varying paths: [`Scenario`]s whose links change at fixed virtual times, as given
//! to `weir sim --schedule NAME`.
//!
//! Each phase reuses the access networks of [`super::presets`] where one fits; a user's own
//! schedule comes from a text file ([`super::schedule_file`]).
//!
//! Bottleneck queues are two bandwidth-delay products of the phase's own rate and RTT unless
//! the phase is a preset's link: deep enough that a single loss-based flow can keep the link
//! busy (one BDP is the classic minimum), shallow enough that bufferbloat stays within two RTTs.
//! Each direction's queue is sized from its own rate.

use std::time::Duration;

use super::config::{LinkConfig, Schedule};
use super::loss::LossModel;
use super::presets::{Scenario, bursty, link, outage, wifi};

/// Names and one-line descriptions of the named schedules.
pub const SCHEDULES: &[(&str, &str)] = &[
    (
        "train-tunnel",
        "30 s Wi-Fi (30 Mbit/s, 20 ms RTT, 0.1% loss), 20 s 2G in a tunnel (100/50 kbit/s, \
         600 ms RTT, 8% bursty loss), then 30 s LTE (12/4 Mbit/s, 60 ms RTT, 0.5% loss)",
    ),
    (
        "commute",
        "Wi-Fi for 10 s, then 2G in a tunnel for 10 s (with an outage), then Wi-Fi again",
    ),
    (
        "wifi-handover",
        "20 s home Wi-Fi, a 1.5 s handover outage, then LTE (20/5 Mbit/s, 50 ms RTT)",
    ),
];

/// The named schedule `name` (see [`SCHEDULES`]).
pub fn named(name: &str) -> Option<Scenario> {
    let description = SCHEDULES.iter().find(|(n, _)| *n == name)?.1;
    let (forward, reverse) = match name {
        "train-tunnel" => train_tunnel(),
        "wifi-handover" => wifi_handover()?,
        // The commute preset already changes over time: the schedule of that name is it.
        "commute" => {
            let preset = Scenario::preset("commute")?;
            (
                Phases::from_scenario(&preset.forward, &preset.forward_schedule),
                Phases::from_scenario(&preset.reverse, &preset.reverse_schedule),
            )
        }
        _ => return None,
    };
    Some(Scenario {
        name: name.to_owned(),
        description: description.to_owned(),
        forward: forward.start,
        reverse: reverse.start,
        forward_schedule: forward.later,
        reverse_schedule: reverse.later,
    })
}

/// One direction: the link at the start and its later changes.
struct Phases {
    start: LinkConfig,
    later: Schedule,
}

impl Phases {
    fn from_scenario(start: &LinkConfig, later: &Schedule) -> Self {
        Self {
            start: start.clone(),
            later: later.clone(),
        }
    }

    /// `phases` in order: the first one starts at 0, each next one at the given time.
    fn of(first: LinkConfig, then: impl IntoIterator<Item = (Duration, LinkConfig)>) -> Self {
        Self {
            start: first,
            later: then
                .into_iter()
                .fold(Schedule::new(), |s, (at, config)| s.at(at, config)),
        }
    }
}

/// The train-tunnel path of issue 13: exact rates, RTTs and losses; queues of two BDPs.
fn train_tunnel() -> (Phases, Phases) {
    let secs = Duration::from_secs;
    let ms = Duration::from_millis;
    // (down kbit/s, up kbit/s, RTT ms, loss): Wi-Fi is symmetric; the phones' uplinks are the
    // slower direction on 2G (EDGE: about half) and LTE (about a third).
    let wifi = |kbps| link(kbps, 10, ms(2 * 20), 0, LossModel::Random { p: 0.001 });
    // 8 % long-run loss in bursts of 3 packets on average (Gilbert–Elliott).
    let tunnel = |kbps| link(kbps, 300, ms(2 * 600), 0, bursty(0.08, 3.0));
    let lte = |kbps| link(kbps, 30, ms(2 * 60), 0, LossModel::Random { p: 0.005 });
    let forward = Phases::of(
        wifi(30_000),
        [(secs(30), tunnel(100)), (secs(50), lte(12_000))],
    );
    let reverse = Phases::of(
        wifi(30_000),
        [(secs(30), tunnel(50)), (secs(50), lte(4_000))],
    );
    (forward, reverse)
}

/// Home Wi-Fi, a handover gap with nothing getting through, then the LTE preset's links.
fn wifi_handover() -> Option<(Phases, Phases)> {
    let lte = Scenario::preset("lte")?;
    let gap = Duration::from_millis(20_000);
    let back = Duration::from_millis(21_500);
    let w = wifi();
    let phases =
        |after: LinkConfig| Phases::of(w.clone(), [(gap, outage(w.clone())), (back, after)]);
    Some((phases(lte.forward), phases(lte.reverse)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Bitrate, GilbertElliott};

    #[test]
    fn every_schedule_builds_and_validates() {
        for (name, _) in SCHEDULES {
            let s = named(name).unwrap_or_else(|| panic!("schedule {name} missing"));
            assert_eq!(s.name, *name);
            s.forward.validate().expect("forward valid");
            s.reverse.validate().expect("reverse valid");
            s.forward_schedule.validate().expect("forward schedule");
            s.reverse_schedule.validate().expect("reverse schedule");
            assert!(!s.forward_schedule.changes().is_empty(), "{name} changes");
        }
        assert!(named("nope").is_none());
    }

    #[test]
    fn train_tunnel_phases_are_exact() {
        let s = named("train-tunnel").expect("named");
        let at = |secs| {
            s.forward_schedule
                .config_at(Duration::from_secs(secs))
                .unwrap_or(&s.forward)
                .clone()
        };
        let wifi = at(29);
        assert_eq!(wifi.rate, Some(Bitrate::from_mbps(30)));
        assert_eq!(wifi.delay * 2, Duration::from_millis(20));
        assert_eq!(wifi.loss, LossModel::Random { p: 0.001 });
        assert_eq!(wifi.queue_bytes, 150_000);
        let tunnel = at(30);
        assert_eq!(tunnel.rate, Some(Bitrate::from_kbps(100)));
        assert_eq!(tunnel.delay * 2, Duration::from_millis(600));
        let ge = GilbertElliott::from_loss_and_burst(0.08, 3.0).expect("valid");
        assert_eq!(tunnel.loss, LossModel::GilbertElliott(ge));
        assert!((tunnel.loss.mean_loss() - 0.08).abs() < 1e-12);
        assert_eq!(tunnel.queue_bytes, 15_000);
        let lte = at(50);
        assert_eq!(lte.rate, Some(Bitrate::from_mbps(12)));
        assert_eq!(lte.delay * 2, Duration::from_millis(60));
        assert_eq!(lte.loss, LossModel::Random { p: 0.005 });
        assert_eq!(s.forward_schedule.changes().len(), 2);
        assert_eq!(
            s.reverse_schedule.changes()[1].1.rate,
            Some(Bitrate::from_mbps(4))
        );
    }

    #[test]
    fn wifi_handover_has_a_short_outage() {
        let s = named("wifi-handover").expect("named");
        let loss_at = |ms| {
            s.forward_schedule
                .config_at(Duration::from_millis(ms))
                .map_or(s.forward.loss, |c| c.loss)
        };
        assert_ne!(loss_at(19_999), LossModel::Outage);
        assert_eq!(loss_at(20_000), LossModel::Outage);
        assert_eq!(loss_at(21_499), LossModel::Outage);
        assert_ne!(loss_at(21_500), LossModel::Outage);
    }
}
