//! Estimation and adaptation (issue 13) proven in the simulator: a game flow beside a bulk
//! download on one connection ([`weir_core::sim::mixed`]), with the default adaptive strategy
//! against no adaptation and the seed's tiers, over fixed paths and named schedules.

use std::time::Duration;

use weir_core::adapt::{AdaptConfig, PolicyChoice, SeedTiers};
use weir_core::config::TransportConfig;
use weir_core::sim::Scenario;
use weir_core::sim::flows::BulkAmount;
use weir_core::sim::mixed::{MixedRun, MixedSpec, run_mixed};
use weir_core::sim::runs::{BulkSpec, run_bulk};
use weir_core::sim::schedules;
use weir_tests::epoch;

fn mixed(scenario: &Scenario, adapt: AdaptConfig, seconds: u64) -> MixedRun {
    mixed_with(scenario, adapt, seconds, |_| {})
}

fn mixed_with(
    scenario: &Scenario,
    adapt: AdaptConfig,
    seconds: u64,
    tweak: impl FnOnce(&mut TransportConfig),
) -> MixedRun {
    let mut transport = TransportConfig {
        adapt,
        ..TransportConfig::default()
    };
    tweak(&mut transport);
    let spec = MixedSpec::new(transport, Duration::from_secs(seconds));
    run_mixed(epoch(), scenario, 1, &spec).expect("simulation")
}

fn schedule(name: &str) -> Scenario {
    schedules::named(name).expect("a named schedule")
}

/// On the LTE preset (20 Mbit/s, 50 ms, a 200 ms buffer) a game beside a download waits behind
/// the download's queue: BBR's window allows a bandwidth-delay product of it. The default
/// strategy sees the game's messages and turns the queue guard on. Measured (seed 1, 30 s):
/// game p50 / p99 40.7 / 94.7 ms against 74.5 / 112.3 ms without adaptation; download 18.98
/// against 18.97 Mbit/s.
#[test]
fn the_queue_guard_keeps_a_game_fast_beside_a_download() {
    let lte = Scenario::preset("lte").expect("preset");
    let adaptive = mixed(&lte, AdaptConfig::default(), 30);
    let plain = mixed(&lte, AdaptConfig::off(), 30);
    assert!(
        adaptive.game_delay_p50 * 10 <= plain.game_delay_p50 * 7,
        "p50 {:?} vs {:?}",
        adaptive.game_delay_p50,
        plain.game_delay_p50
    );
    assert!(
        adaptive.game_delay_p99 * 10 <= plain.game_delay_p99 * 9,
        "p99 {:?} vs {:?}",
        adaptive.game_delay_p99,
        plain.game_delay_p99
    );
    assert!(
        adaptive.bulk_bytes * 100 >= plain.bulk_bytes * 97,
        "download {} vs {}",
        adaptive.bulk_bytes,
        plain.bulk_bytes
    );
    assert!(adaptive.game_late() <= plain.game_late() + 5);
    let guard = adaptive
        .strategy_changes
        .iter()
        .find(|(_, c)| c.new.queue_guard)
        .expect("the guard went on");
    assert!(guard.0 < Duration::from_secs(3), "at {:?}", guard.0);
    assert!(
        adaptive
            .sender_stats
            .as_ref()
            .is_some_and(|s| s.queue_cap.is_some())
    );
}

/// A bulk transfer alone sends no real-time message: the guard stays off and the controller
/// keeps its whole window; and a game that stops leaves the guard on for at most the 2 s window
/// plus the selector's confirmation (1 s) — here it stops at about 10 s and the guard goes off
/// by 13.5 s while the download goes on.
#[test]
fn the_guard_is_only_on_while_real_time_messages_flow() {
    let lte = Scenario::preset("lte").expect("preset");
    let spec = BulkSpec {
        transport: TransportConfig::default(),
        start: Duration::ZERO,
        amount: BulkAmount::For(Duration::from_secs(10)),
        sample_every: None,
        tls: false,
    };
    let runs = run_bulk(epoch(), &lte, 1, &[spec], Duration::from_secs(15)).expect("simulation");
    let bulk = &runs.flows[0];
    assert!(
        bulk.strategy_changes.is_empty(),
        "{:?}",
        bulk.strategy_changes
    );
    let stats = bulk.stats.as_ref().expect("stats");
    assert!(!stats.strategy.queue_guard);
    assert_eq!(stats.queue_cap, None);

    let mut spec = MixedSpec::new(TransportConfig::default(), Duration::from_secs(15));
    spec.game_duration = Duration::from_secs(10);
    let game = run_mixed(epoch(), &lte, 1, &spec).expect("simulation");
    let guard: Vec<(Duration, bool)> = game
        .strategy_changes
        .iter()
        .map(|(at, c)| (*at, c.new.queue_guard))
        .collect();
    assert!(matches!(guard.first(), Some((_, true))), "{guard:?}");
    let (off_at, on) = *guard.last().expect("changes");
    // The selector keeps each strategy at least `min_dwell` (5 s): a change of another knob
    // shortly before holds the guard on until that has passed (with ECN on, the run's FEC
    // follows the measured loss down at 8.7 s, and the guard goes off at 13.8 s).
    let adapt = AdaptConfig::default();
    let held_until = guard.iter().rev().nth(1).map_or(Duration::ZERO, |(at, _)| {
        *at + adapt.min_dwell + adapt.evaluate_interval
    });
    let bound = Duration::from_millis(13_500).max(held_until);
    assert!(!on && off_at <= bound, "{guard:?}");
}

/// The commute schedule goes from Wi-Fi into a 2G tunnel (with a 2 s outage) and back at 20 s.
/// The tunnel's queue leaves the smoothed RTT at seconds, and RFC 9002's probe timeout (smoothed
/// RTT + 4 × rttvar) at over 6 s: two probes lost in the tunnel's last burst kept the connection
/// silent until 33 s. With the probe interval capped at `max_probe_timeout` (3 s) even above that
/// base, the game is back within two seconds of the Wi-Fi (measured: 61 messages on time in
/// 21–22 s, 60 in 22–23 s).
#[test]
fn a_path_that_comes_back_is_used_within_the_probe_cap() {
    let run = mixed(&schedule("commute"), AdaptConfig::off(), 40);
    let on_time = |at: u64| {
        run.timeline
            .iter()
            .find(|p| p.at == Duration::from_secs(at))
            .map_or(0, |p| p.game_on_time)
    };
    assert!(on_time(23) - on_time(22) >= 55, "{:?}", run.timeline);
}

/// On each named schedule the default strategy keeps at least 95 % of the seed's tiers'
/// download and loses or delivers late at most a quarter more game messages, changing strategy
/// at most 12 times in 80 s. Measured (seed 1; default / seed tiers): train-tunnel 14.90 / 13.65
/// Mbit/s, lost or late 769 / 1157, p99 542 ms / 1.44 s; commute 32.54 / 31.59 Mbit/s, 620 /
/// 636, p99 25 ms / 2.82 s; wifi-handover 22.60 / 23.41 Mbit/s, 80 / 97, p99 54 / 116 ms.
#[test]
fn the_default_strategy_holds_its_own_against_the_seed_tiers() {
    for name in ["train-tunnel", "commute", "wifi-handover"] {
        let scenario = schedule(name);
        let seconds = 80;
        let weir = mixed(&scenario, AdaptConfig::default(), seconds);
        let seed = mixed(
            &scenario,
            AdaptConfig::with_policy(PolicyChoice::SeedTiers),
            seconds,
        );
        assert!(
            weir.bulk_bytes * 100 >= seed.bulk_bytes * 95,
            "{name}: download {} vs {}",
            weir.bulk_bytes,
            seed.bulk_bytes
        );
        assert!(
            weir.game_late() * 100 <= seed.game_late() * 125,
            "{name}: lost or late {} vs {}",
            weir.game_late(),
            seed.game_late()
        );
        assert!(
            weir.strategy_changes.len() <= 12,
            "{name}: {:?}",
            weir.strategy_changes
        );
    }
}

/// Issue 13's evidence on the train ride (30 s Wi-Fi, 20 s of 2G in a tunnel, 30 s LTE; a 60 Hz
/// game beside a download for 80 s, as `weir sim --schedule train-tunnel --compare` runs it):
/// the adaptive default is within 5 % of the best fixed tier on every figure — the game's
/// median and 99th-percentile delay, the messages lost or late, the download — and loses fewer
/// messages than every one. Measured (seed 1): 31.15 ms / 542 ms, 769 lost or late, 14.90
/// Mbit/s; the tiers 30.99–31.05 ms, 546 ms – 1.43 s, 1084–1216, 3.56–14.86 Mbit/s.
#[test]
fn on_the_train_ride_the_default_is_within_five_percent_of_the_best_fixed_tier() {
    use weir_core::estimate::QualityGrade;
    let scenario = schedule("train-tunnel");
    let max = TransportConfig::default().datagram_ceiling();
    let adapts: Vec<AdaptConfig> = std::iter::once(AdaptConfig::default())
        .chain(
            [
                QualityGrade::Excellent,
                QualityGrade::Good,
                QualityGrade::Fair,
                QualityGrade::Poor,
            ]
            .map(|grade| AdaptConfig::fixed(&SeedTiers::tier(grade, max))),
        )
        .collect();
    let runs: Vec<MixedRun> = std::thread::scope(|scope| {
        let handles: Vec<_> = adapts
            .iter()
            .map(|adapt| scope.spawn(|| mixed(&scenario, adapt.clone(), 80)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a run"))
            .collect()
    });
    let (weir, tiers) = runs.split_first().expect("runs");
    let best = |f: &dyn Fn(&MixedRun) -> f64| tiers.iter().map(f).fold(f64::INFINITY, f64::min);
    let secs = |d: Duration| d.as_secs_f64();
    for (what, ours, theirs) in [
        (
            "p50",
            secs(weir.game_delay_p50),
            best(&|r| secs(r.game_delay_p50)),
        ),
        (
            "p99",
            secs(weir.game_delay_p99),
            best(&|r| secs(r.game_delay_p99)),
        ),
        (
            "lost or late",
            weir.game_late() as f64,
            best(&|r| r.game_late() as f64),
        ),
        (
            "download",
            -weir.bulk_goodput_bps(),
            best(&|r| -r.bulk_goodput_bps()),
        ),
    ] {
        // (Downloads negated: lower is better for every figure.)
        assert!(
            ours <= theirs + theirs.abs() * 0.05,
            "{what}: {ours} against the best tier's {theirs}"
        );
    }
    for tier in tiers {
        assert!(weir.game_late() < tier.game_late(), "{}", tier.game_late());
    }
    // BBR followed the tunnel's drop (in several steps: 300-fold, a sixtieth at most each), and
    // the connection's statistics say so.
    let drops = weir.sender_stats.as_ref().map_or(0, |s| s.capacity_drops);
    assert!(drops >= 2, "{drops} capacity drops");
}

/// A path that alternates every second between good Wi-Fi and a slow lossy link, for a minute:
/// the selector's confirmation (1 s) and dwell time (5 s) hold the strategy through the
/// flapping. Measured (seed 1): 2 changes in the minute with weir's policy, 3 with the seed's
/// tiers.
#[test]
fn a_path_alternating_every_second_does_not_make_the_strategy_flap() {
    use weir_core::sim::{Bitrate, LinkConfig, LossModel, Schedule};
    let good = LinkConfig::bottleneck(Bitrate::from_mbps(30), Duration::from_millis(10), 150_000);
    let bad = LinkConfig {
        loss: LossModel::Random { p: 0.05 },
        ..LinkConfig::bottleneck(Bitrate::from_mbps(1), Duration::from_millis(150), 40_000)
    };
    let mut schedule = Schedule::new();
    for second in 1..60 {
        let link = if second % 2 == 1 { &bad } else { &good };
        schedule = schedule.at(Duration::from_secs(second), link.clone());
    }
    let scenario = Scenario {
        name: "flapping".into(),
        description: "Wi-Fi and a lossy 1 Mbit/s link, a second each".into(),
        forward: good.clone(),
        reverse: good,
        forward_schedule: schedule.clone(),
        reverse_schedule: schedule,
    };
    let run = mixed(&scenario, AdaptConfig::default(), 60);
    let seed = mixed(
        &scenario,
        AdaptConfig::with_policy(PolicyChoice::SeedTiers),
        60,
    );
    println!(
        "changes in a minute: weir {}, seed tiers {}",
        run.strategy_changes.len(),
        seed.strategy_changes.len()
    );
    assert!(
        run.strategy_changes.len() <= 4,
        "{} changes: {:?}",
        run.strategy_changes.len(),
        run.strategy_changes
    );
    assert!(
        seed.strategy_changes.len() <= 12,
        "{:?}",
        seed.strategy_changes
    );
}

/// A datagram size pinned (or chosen) below the configured maximum applies once the handshake
/// is confirmed: the packets after it are no larger, unreliable messages that no longer fit are
/// refused with the new maximum (`Connection::max_datagram_size` follows), and those already
/// queued would be dropped and counted (`dropped_resized`) rather than left to block the queue.
/// Measured: 300-byte messages, 99 916 bytes in 302 packets, all delivered; 700-byte messages,
/// 3 sent before the switch (delivered), 298 refused after, none queued at the switch.
#[test]
fn a_smaller_datagram_size_applies_after_the_handshake() {
    use weir_core::adapt::Pins;
    use weir_core::sim::game::{GameSpec, GameTransport, run_game};
    use weir_core::sim::runs::bottleneck;
    let pinned = AdaptConfig {
        pins: Pins {
            datagram_size: Some(576),
            ..Pins::default()
        },
        ..AdaptConfig::default()
    };
    let scenario = bottleneck(10.0, Duration::from_millis(40), 0.0, 1.0);
    let run = |size: usize| {
        let mut spec = GameSpec::new(
            GameTransport::Datagrams {
                ttl: Duration::from_secs(1),
            },
            60,
            size,
            Duration::from_secs(5),
        );
        spec.config = TransportConfig {
            adapt: pinned.clone(),
            ..TransportConfig::default()
        };
        run_game(epoch(), &scenario, 1, &spec).expect("simulation")
    };
    // 300-byte messages fit: every one arrives, in packets of at most 576 bytes after the
    // handshake (its few 1200-byte packets keep the mean above 576 only slightly).
    let small = run(300);
    let stats = small.sender_stats.as_ref().expect("stats");
    assert_eq!(stats.strategy.datagram_size, 576);
    assert_eq!(small.receiver.received, small.sent);
    let offered = small.forward.offered;
    assert!(
        offered.bytes < offered.packets * 600,
        "{} bytes in {} packets",
        offered.bytes,
        offered.packets
    );
    // 700-byte messages do not fit 576-byte packets: refused from then on, none stuck.
    let large = run(700);
    assert!(large.refused > 250, "refused {}", large.refused);
    let datagrams = large.sender_stats.as_ref().expect("stats").datagrams;
    println!(
        "small: {} B in {} packets; large: sent {} refused {} received {} {datagrams:?}",
        offered.bytes, offered.packets, large.sent, large.refused, large.receiver.received
    );
    assert_eq!(
        large.receiver.received + datagrams.dropped_resized + datagrams.expired,
        large.sent,
        "{datagrams:?}"
    );
}

/// A handover: 1.5 s without a path (20 – 21.5 s), then LTE. While real-time messages flow the
/// probe interval is capped at 250 ms (`TransportConfig::realtime_max_probe_timeout`), so the
/// game resumes within a few hundred milliseconds of the path coming back, whatever the probe
/// backoff reached during the outage; with the 3 s cap alone it waits for the next
/// backed-off probe in most runs (measured over seeds 1–6, with adaptation: nothing on time
/// in 21 – 22 s in four of them, 143–161 messages lost or late against 79–84).
#[test]
fn a_game_resumes_within_a_few_hundred_milliseconds_of_a_handover() {
    let scenario = schedule("wifi-handover");
    let per_second = |run: &MixedRun, at: u64| {
        let total = |s: u64| {
            run.timeline
                .iter()
                .find(|p| p.at == Duration::from_secs(s))
                .map_or(0, |p| p.game_on_time)
        };
        total(at) - total(at - 1)
    };
    for adapt in [AdaptConfig::default(), AdaptConfig::off()] {
        let run = mixed(&scenario, adapt.clone(), 30);
        // 21.5 – 22 s is half a second of 60 Hz messages: most of them on time.
        assert!(
            per_second(&run, 22) >= 20,
            "{adapt:?}: {} on time in 21 – 22 s",
            per_second(&run, 22)
        );
        assert!(per_second(&run, 23) >= 55, "{adapt:?}");
        // The timeline's per-second delays: nothing arrives during the outage, and the
        // second after it is back to LTE's one-way delay.
        let delay = |at: u64| {
            run.timeline
                .iter()
                .find(|p| p.at == Duration::from_secs(at))
                .and_then(|p| p.game_delay)
        };
        assert!(delay(21).map_or(0, |d| d.messages) <= 5, "{adapt:?}");
        let after = delay(23).expect("messages in 22 – 23 s");
        assert!(
            after.p50 < Duration::from_millis(60),
            "{adapt:?}: {after:?}"
        );
        assert!(after.max >= after.p50);
    }
    // Where the backed-off probes fall depends on when the last packet before the outage
    // left, so the counterfactual is taken over seeds: with the cap every seed resumes within
    // 21 – 22 s; without it, most wait for the next backed-off probe (measured, seeds 1–6:
    // 36–39 on time with the cap; 0 in four seeds without it, 47 and 50 in the other two).
    let on_time_after = |seed: u64, cap: bool| {
        let mut transport = TransportConfig {
            adapt: AdaptConfig::default(),
            ..TransportConfig::default()
        };
        if !cap {
            transport.realtime_max_probe_timeout = None;
        }
        let spec = MixedSpec::new(transport, Duration::from_secs(30));
        let run = run_mixed(epoch(), &scenario, seed, &spec).expect("simulation");
        per_second(&run, 22)
    };
    let mut missed = 0;
    for seed in 1..=6 {
        assert!(on_time_after(seed, true) >= 20, "seed {seed}, with the cap");
        if on_time_after(seed, false) < 20 {
            missed += 1;
        }
    }
    assert!(
        missed >= 3,
        "without the real-time cap the backed-off probes miss the path's return in only {missed} of 6 seeds"
    );
}

/// A game flow alone never fills its path: its strategy keeps full-size datagrams and no
/// compression (only the queue guard comes on, for its real-time messages). Before the policy
/// asked for half a second of measured slots, the connection's first delivery-rate sample —
/// its first packet, sent before it ever ran out of data, so not marked application-limited —
/// read as a 0.18 Mbit/s bottleneck and took a 60 Hz game on a 10 Mbit/s link down to
/// 512-byte datagrams and zstd.
#[test]
fn a_game_alone_is_not_taken_for_a_slow_bottleneck() {
    use weir_core::lanes::{Compression, DeliveryMode, LaneConfig};
    use weir_core::sim::game::{GameSpec, GameTransport, run_game};
    use weir_core::sim::runs::bottleneck;
    let scenario = bottleneck(10.0, Duration::from_millis(40), 0.0, 1.0);
    let spec = GameSpec::new(
        GameTransport::Lane {
            config: LaneConfig::new(DeliveryMode::Unreliable),
            deadline: Some(Duration::from_millis(400)),
        },
        60,
        64,
        Duration::from_secs(20),
    );
    let run = run_game(epoch(), &scenario, 1, &spec).expect("simulation");
    let stats = run.sender_stats.as_ref().expect("stats");
    assert_eq!(stats.datagram_size, 1452, "{:?}", run.strategy_changes);
    assert_eq!(stats.strategy.compression, Compression::None);
    assert!(stats.strategy.queue_guard);
    assert_eq!(run.strategy_changes.len(), 1, "{:?}", run.strategy_changes);
}
