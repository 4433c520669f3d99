use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::*;
use crate::congestion::test_epoch;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 60 Hz.
const TICK: Duration = Duration::from_micros(16_667);

/// A message on the wire: when it arrives (since the test epoch), its number, its send time.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    at: Duration,
    sequence: u64,
    sent: Duration,
}

/// Message `n` of a 60 Hz stream sent at `n × TICK` that spends `transit` on the way.
fn arrival(n: u64, transit: Duration) -> Arrival {
    let sent = TICK * u32::try_from(n).unwrap();
    Arrival {
        at: sent + transit,
        sequence: n,
        sent,
    }
}

/// What a driven buffer did.
#[derive(Debug, Default)]
struct Run {
    /// Every message played, in order, with the `now` of the pop that returned it and the
    /// number of start-overs until then.
    played: Vec<(Played<u64>, Instant, u64)>,
    /// The statistics after every step of the loop, by time since the epoch.
    snapshots: Vec<(Duration, JitterStats)>,
    /// What each push returned.
    pushed: Vec<(u64, Pushed)>,
}

impl Run {
    fn sequences(&self) -> Vec<u64> {
        self.played.iter().map(|(p, _, _)| p.sequence).collect()
    }
}

/// Checks a played message against the ones before it: sequence order, playout instants that
/// never go back and never lie in the future, and — between two messages played on time with
/// no start over between — a spacing the slew rates allow.
fn record(run: &mut Run, config: &JitterConfig, played: Played<u64>, now: Instant, resyncs: u64) {
    assert_eq!(played.payload, played.sequence);
    assert!(played.at <= now, "played before its time");
    if let Some((last, last_now, last_resyncs)) = run.played.last() {
        assert!(played.sequence > last.sequence, "out of sequence order");
        assert_eq!(played.skipped, played.sequence - last.sequence - 1);
        assert!(played.at >= last.at, "playout went back");
        let prompt = played.at == now && last.at == *last_now;
        let same_epoch = *last_resyncs == resyncs;
        if prompt && same_epoch && played.sent_at >= last.sent_at {
            let media = (played.sent_at - last.sent_at).as_secs_f64();
            let real = (played.at - last.at).as_secs_f64();
            let slack = 2e-9;
            assert!(
                real + slack >= media / (1.0 + config.max_speedup),
                "playout ran too fast: {media} s of sender time in {real} s"
            );
            if config.max_slowdown < 1.0 {
                assert!(
                    real - slack <= media / (1.0 - config.max_slowdown),
                    "playout ran too slow: {media} s of sender time in {real} s"
                );
            }
        }
    }
    run.played.push((played, now, resyncs));
}

/// Drives a buffer as the module documentation says: at each step push what arrived, drain
/// `pop`, then sleep until the next arrival or `poll_timeout`. Checks on the way that
/// `poll_timeout` is never in the past after a drain and that `pop` at `poll_timeout` returns
/// a message.
fn drive(config: JitterConfig, mut arrivals: Vec<Arrival>) -> (JitterBuffer<u64>, Run) {
    arrivals.sort_by_key(|a| a.at);
    let t0 = test_epoch();
    let mut buffer = JitterBuffer::new(config).unwrap();
    let mut out = Run::default();
    let mut next = 0;
    let mut now = t0;
    loop {
        while let Some(a) = arrivals.get(next).filter(|a| t0 + a.at <= now) {
            let result = buffer.push(now, a.sequence, a.sent, a.sequence);
            out.pushed.push((a.sequence, result));
            next += 1;
        }
        while let Some(p) = buffer.pop(now) {
            record(&mut out, &config, p, now, buffer.stats().resyncs);
        }
        out.snapshots.push((now - t0, buffer.stats()));
        let timeout = buffer.poll_timeout();
        assert!(
            timeout.is_none_or(|t| t > now),
            "poll_timeout in the past after a drain"
        );
        let arrival = arrivals.get(next).map(|a| t0 + a.at);
        match (arrival, timeout) {
            (_, Some(t)) if arrival.is_none_or(|a| t < a) => {
                now = t;
                let p = buffer
                    .pop(now)
                    .expect("pop at poll_timeout returns a message");
                record(&mut out, &config, p, now, buffer.stats().resyncs);
            }
            (Some(a), _) => now = a,
            (None, _) => break,
        }
    }
    let stats = buffer.stats();
    assert_eq!(
        stats.pushed,
        stats.played + stats.late + stats.duplicate + stats.outliers + stats.overflowed,
        "every message accounted for: {stats:?}"
    );
    assert_eq!(stats.played as usize, out.played.len());
    (buffer, out)
}

#[test]
fn constant_transit_plays_at_fixed_spacing() {
    // A delay fixed from the start: every message plays exactly 40 + 20 ms after it was sent.
    let config = JitterConfig {
        min_delay: ms(20),
        initial_delay: ms(20),
        ..JitterConfig::default()
    };
    let arrivals = (0..600).map(|n| arrival(n, ms(40))).collect();
    let (buffer, run) = drive(config, arrivals);
    assert_eq!(run.sequences(), (0..600).collect::<Vec<_>>());
    let first = run.played[0].0.at;
    for (i, (p, _, _)) in run.played.iter().enumerate() {
        assert_eq!(p.at - first, TICK * i as u32, "message {i}");
        assert_eq!(p.skipped, 0);
    }
    let stats = buffer.stats();
    assert_eq!((stats.late, stats.skipped, stats.duplicate), (0, 0, 0));
    assert_eq!(stats.playout_delay, ms(20));
    assert_eq!(stats.jitter, Duration::ZERO);

    // The default configuration starts at 50 ms and sheds it at 1.05× speed down to the
    // measured jitter (none): after that, again a fixed spacing, and no message was late.
    let arrivals = (0..600).map(|n| arrival(n, ms(40))).collect();
    let (buffer, run) = drive(JitterConfig::default(), arrivals);
    assert_eq!(run.played.len(), 600);
    let stats = buffer.stats();
    assert_eq!((stats.late, stats.playout_delay), (0, Duration::ZERO));
    let settled: Vec<Instant> = run.played[200..].iter().map(|(p, _, _)| p.at).collect();
    for pair in settled.windows(2) {
        assert_eq!(pair[1] - pair[0], TICK);
    }
}

/// Runs a 60 Hz stream for `secs` seconds whose transit is 30 ms plus a jitter drawn by
/// `jitter`; returns the mean playout delay and the share of late messages from `settle`
/// seconds on.
fn jittered(
    config: JitterConfig,
    secs: u64,
    settle: u64,
    seed: u64,
    jitter: impl Fn(&mut Pcg64Mcg) -> Duration,
) -> (Duration, f64, JitterBuffer<u64>, Run) {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let n = secs * 60;
    let arrivals = (0..n)
        .map(|i| arrival(i, ms(30) + jitter(&mut rng)))
        .collect();
    let (buffer, run) = drive(config, arrivals);
    let settle = Duration::from_secs(settle);
    let after: Vec<&JitterStats> = run
        .snapshots
        .iter()
        .filter(|(at, _)| *at >= settle)
        .map(|(_, s)| s)
        .collect();
    let mean = after.iter().map(|s| s.playout_delay).sum::<Duration>() / after.len() as u32;
    let first = after.first().unwrap();
    let last = after.last().unwrap();
    let late = (last.late - first.late) as f64 / (last.pushed - first.pushed) as f64;
    (mean, late, buffer, run)
}

#[test]
fn random_jitter_converges_to_the_percentile() {
    // Uniform jitter of 0–40 ms: the 95th percentile is 38 ms.
    let uniform = |rng: &mut Pcg64Mcg| Duration::from_nanos(rng.random_range(0..40_000_000));
    let (mean, late, buffer, run) = jittered(JitterConfig::default(), 120, 20, 1, uniform);
    assert!(
        mean > ms(36) && mean < ms(40),
        "mean playout delay {mean:?}, expected about 38 ms"
    );
    assert!(
        late > 0.035 && late < 0.07,
        "late share {late}, expected about 5 %"
    );
    for (at, s) in run
        .snapshots
        .iter()
        .filter(|(at, _)| *at >= Duration::from_secs(20))
    {
        assert!(
            s.playout_delay > ms(30) && s.playout_delay < ms(42),
            "at {at:?}: {s:?}"
        );
    }
    let stats = buffer.stats();
    assert!(stats.jitter > ms(34) && stats.jitter <= ms(40), "{stats:?}");
    assert_eq!((stats.outliers, stats.resyncs, stats.overflowed), (0, 0, 0));
    // Every late message is a skipped sequence number and nothing else was skipped (but the
    // last message, if late, is never skipped over).
    assert!(stats.skipped <= stats.late && stats.skipped + 1 >= stats.late);

    // Exponential jitter (mean 10 ms, skewed like a queue) at the 99th percentile over a
    // longer window: 46 ms.
    let exponential = |rng: &mut Pcg64Mcg| {
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        Duration::from_secs_f64(-u.ln() * 0.010)
    };
    let config = JitterConfig {
        percentile: 0.99,
        window: 1024,
        ..JitterConfig::default()
    };
    let (mean, late, _, _) = jittered(config, 300, 30, 2, exponential);
    assert!(
        mean > ms(42) && mean < ms(51),
        "mean playout delay {mean:?}, expected about 46 ms"
    );
    assert!(
        late > 0.005 && late < 0.02,
        "late share {late}, expected about 1 %"
    );
}

#[test]
fn reordering_within_the_playout_delay_is_absorbed() {
    // Up to 25 ms of jitter at 60 Hz swaps neighbours often; a 30 ms floor on the playout
    // delay covers all of it.
    let config = JitterConfig {
        min_delay: ms(30),
        ..JitterConfig::default()
    };
    let mut rng = Pcg64Mcg::seed_from_u64(3);
    let arrivals: Vec<Arrival> = (0..3000)
        .map(|n| {
            arrival(
                n,
                ms(40) + Duration::from_nanos(rng.random_range(0..25_000_000)),
            )
        })
        .collect();
    let swapped = arrivals.windows(2).filter(|w| w[1].at < w[0].at).count();
    assert!(swapped > 100, "only {swapped} neighbours swapped");
    let (buffer, run) = drive(config, arrivals);
    assert_eq!(run.sequences(), (0..3000).collect::<Vec<_>>());
    let stats = buffer.stats();
    assert_eq!((stats.late, stats.skipped, stats.played), (0, 0, 3000));
}

#[test]
fn duplicates_are_counted_and_played_once() {
    // Every message twice: a copy 5 ms later (usually still held) and one 300 ms later (long
    // played); every third a third copy at once.
    let mut arrivals = Vec::new();
    for n in 0..500 {
        let a = arrival(n, ms(40));
        arrivals.push(a);
        arrivals.push(Arrival {
            at: a.at + ms(5),
            ..a
        });
        arrivals.push(Arrival {
            at: a.at + ms(300),
            ..a
        });
        if n % 3 == 0 {
            arrivals.push(a);
        }
    }
    let (buffer, run) = drive(JitterConfig::default(), arrivals);
    assert_eq!(run.sequences(), (0..500).collect::<Vec<_>>());
    let stats = buffer.stats();
    assert_eq!(stats.duplicate, 2 * 500 + 167);
    assert_eq!((stats.late, stats.outliers), (0, 0));
    let duplicates = run
        .pushed
        .iter()
        .filter(|(_, r)| *r == Pushed::Duplicate)
        .count();
    assert_eq!(duplicates, 2 * 500 + 167);
}

#[test]
fn duplicates_of_played_messages_are_remembered_for_128() {
    let t0 = test_epoch();
    let config = JitterConfig {
        initial_delay: Duration::ZERO,
        ..JitterConfig::default()
    };
    let mut buffer = JitterBuffer::new(config).unwrap();
    for n in 0..200u64 {
        let at = t0 + TICK * n as u32;
        assert_eq!(buffer.push(at, n, TICK * n as u32, n), Pushed::Queued);
        assert_eq!(buffer.pop(at).map(|p| p.sequence), Some(n));
    }
    let now = t0 + TICK * 200;
    // 199 − 72 = 127 behind the last played: remembered.
    assert_eq!(buffer.push(now, 72, TICK * 72, 72), Pushed::Duplicate);
    assert_eq!(buffer.push(now, 199, TICK * 199, 199), Pushed::Duplicate);
    // 128 behind: forgotten, so merely late.
    assert_eq!(buffer.push(now, 71, TICK * 71, 71), Pushed::Late);
    let stats = buffer.stats();
    assert_eq!((stats.duplicate, stats.late, stats.played), (2, 1, 200));
}

#[test]
fn losses_are_skipped_without_stalling() {
    // Every fifth message lost, and a burst of 30 (half a second).
    let lost = |n: u64| n % 5 == 2 || (300..330).contains(&n);
    let config = JitterConfig {
        min_delay: ms(20),
        initial_delay: ms(20),
        ..JitterConfig::default()
    };
    let arrivals = (0..600)
        .filter(|&n| !lost(n))
        .map(|n| arrival(n, ms(40)))
        .collect();
    let (buffer, run) = drive(config, arrivals);
    let expected: Vec<u64> = (0..600).filter(|&n| !lost(n)).collect();
    assert_eq!(run.sequences(), expected);
    // Each message plays on time, whatever was missing before it.
    for (p, _, _) in &run.played {
        assert_eq!(p.at - run.played[0].0.at, TICK * p.sequence as u32);
    }
    let stats = buffer.stats();
    assert_eq!(stats.skipped, (0..600).filter(|&n| lost(n)).count() as u64);
    assert_eq!(stats.late, 0);
    assert_eq!(run.played[run.played.len() - 1].0.skipped, 0);
    let after_burst = run
        .played
        .iter()
        .find(|(p, _, _)| p.sequence == 330)
        .unwrap();
    assert_eq!(after_burst.0.skipped, 30);
}

#[test]
fn late_messages_are_dropped_and_counted() {
    // 40 ms transit and a 20 ms delay: message 100 comes 30 ms late (after its playout time,
    // before the next one's), message 200 half a second late (long after newer ones).
    let config = JitterConfig {
        min_delay: ms(20),
        initial_delay: ms(20),
        max_delay: ms(20),
        ..JitterConfig::default()
    };
    let arrivals = (0..300)
        .map(|n| match n {
            100 => arrival(n, ms(70)),
            200 => arrival(n, ms(540)),
            _ => arrival(n, ms(40)),
        })
        .collect();
    let (buffer, run) = drive(config, arrivals);
    let late: Vec<u64> = run
        .pushed
        .iter()
        .filter(|(_, r)| *r == Pushed::Late)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(late, [100, 200]);
    let stats = buffer.stats();
    assert_eq!((stats.late, stats.skipped, stats.played), (2, 2, 298));
    // Neither moved the playout (the second did not even enter the estimate).
    assert_eq!(stats.playout_delay, ms(20));
}

#[test]
fn a_wild_timestamp_is_an_outlier_and_a_lasting_step_resyncs() {
    let t0 = test_epoch();
    let mut buffer = JitterBuffer::new(JitterConfig::default()).unwrap();
    let mut now = t0;
    let mut n = 0u64;
    // A steady stream at 40 ms transit for 2 s, played as it goes.
    let mut step = |buffer: &mut JitterBuffer<u64>, now: &mut Instant, clock_step: i64| {
        let sent = Duration::from_secs(100) + TICK * n as u32;
        let sent = if clock_step >= 0 {
            sent + Duration::from_secs(clock_step.unsigned_abs())
        } else {
            sent.saturating_sub(Duration::from_secs(clock_step.unsigned_abs()))
        };
        *now = t0 + TICK * n as u32 + ms(40);
        let result = buffer.push(*now, n, sent, n);
        while buffer.pop(*now).is_some() {}
        n += 1;
        result
    };
    for _ in 0..120 {
        step(&mut buffer, &mut now, 0);
    }
    let before = buffer.stats();
    assert_eq!(before.played + u64::try_from(buffer.len()).unwrap(), 120);

    // One message stamped a day ahead, one at the end of time: outliers, nothing moves.
    assert_eq!(
        buffer.push(now, 1_000, Duration::from_secs(86_400), 0),
        Pushed::Outlier
    );
    assert_eq!(buffer.push(now, 1_001, Duration::MAX, 0), Pushed::Outlier);
    for _ in 0..60 {
        assert_eq!(step(&mut buffer, &mut now, 0), Pushed::Queued);
    }
    let after = buffer.stats();
    assert_eq!((after.outliers, after.resyncs), (2, 0));
    assert_eq!(after.playout_delay, before.playout_delay);

    // The sender's clock jumps ten seconds ahead for good: outliers for a second, then the
    // buffer starts over and plays again.
    let mut results = Vec::new();
    for _ in 0..180 {
        results.push(step(&mut buffer, &mut now, 10));
    }
    let stats = buffer.stats();
    assert_eq!(stats.resyncs, 1);
    let outliers = results.iter().filter(|r| **r == Pushed::Outlier).count();
    assert!((60..=62).contains(&outliers), "{outliers} outliers");
    assert!(results[70..].iter().all(|r| *r == Pushed::Queued));
    let played = stats.played;

    // And back by twenty: late for a second, then again a start over.
    for _ in 0..180 {
        step(&mut buffer, &mut now, -10);
    }
    let stats = buffer.stats();
    assert_eq!(stats.resyncs, 2);
    assert!(stats.played > played + 100, "{stats:?}");
    assert_eq!(
        stats.pushed,
        stats.played
            + stats.late
            + stats.duplicate
            + stats.outliers
            + stats.overflowed
            + buffer.len() as u64
    );
}

#[test]
fn a_start_over_releases_what_was_held_at_once() {
    // Half a second of delay holds 30 messages; the sender's clock steps back by 10 s and the
    // buffer starts over after 50 ms (8 arrivals): what it held is due at once, in order,
    // instead of 10 s later under the new clock.
    let config = JitterConfig {
        min_delay: ms(500),
        initial_delay: ms(500),
        max_delay: ms(500),
        resync_after: ms(50),
        ..JitterConfig::default()
    };
    let arrivals = (0..600)
        .map(|n| {
            let a = arrival(n, ms(40));
            if n < 300 {
                Arrival {
                    sent: a.sent + Duration::from_secs(10),
                    ..a
                }
            } else {
                a
            }
        })
        .collect();
    let (buffer, run) = drive(config, arrivals);
    let stats = buffer.stats();
    assert_eq!(stats.resyncs, 1);
    assert_eq!(stats.played + stats.late, 600, "{stats:?}");
    assert_eq!(stats.late, 7, "the misfits before the start over");
    // No pause longer than the half second the new clock waits before its first message.
    for pair in run.played.windows(2) {
        let gap = pair[1].1 - pair[0].1;
        assert!(gap <= ms(501), "a {gap:?} pause");
    }
    let resync_at = run.played.iter().position(|(_, _, r)| *r == 1).unwrap();
    let (first_after, _, _) = &run.played[resync_at];
    assert!(first_after.sequence < 300, "the held messages come first");
}

#[test]
fn the_delay_grows_gradually_when_the_path_slows_down() {
    // Transit steps from 40 to 140 ms; the delay follows at 0.9× playout speed (checked by
    // `record` for every pair of messages) and settles at the new floor.
    let config = JitterConfig {
        min_delay: ms(10),
        initial_delay: ms(10),
        ..JitterConfig::default()
    };
    let arrivals = (0..1200)
        .map(|n| arrival(n, if n < 300 { ms(40) } else { ms(140) }))
        .collect();
    let (buffer, run) = drive(config, arrivals);
    let stats = buffer.stats();
    // The step was below max_delay: followed without a start over, at the cost of the
    // messages that came while the playout slowed down.
    assert_eq!((stats.resyncs, stats.outliers), (0, 0));
    assert!(stats.late > 0 && stats.late < 100, "{stats:?}");
    assert_eq!(stats.playout_delay, ms(10));
    let last = run.played.len() - 1;
    let (a, b) = (&run.played[last - 1].0, &run.played[last].0);
    assert_eq!(b.at - a.at, TICK);
}

#[test]
fn playout_time_is_the_sender_time_being_played() {
    let t0 = test_epoch();
    let config = JitterConfig {
        initial_delay: ms(30),
        min_delay: ms(30),
        ..JitterConfig::default()
    };
    let mut buffer = JitterBuffer::new(config).unwrap();
    assert_eq!(buffer.playout_time(t0), None);
    assert_eq!(buffer.poll_timeout(), None);
    // Sent at 1 s of the sender's clock, arrived 50 ms later: plays at 1 s + 80 ms.
    let arrived = t0 + ms(1050);
    assert_eq!(buffer.push(arrived, 0, ms(1000), 0), Pushed::Queued);
    assert_eq!(buffer.poll_timeout(), Some(arrived + ms(30)));
    assert_eq!(buffer.playout_time(arrived), Some(ms(970)));
    assert_eq!(buffer.playout_time(arrived + ms(30)), Some(ms(1000)));
    assert!(buffer.pop(arrived + ms(29)).is_none());
    let played = buffer.pop(arrived + ms(35)).unwrap();
    assert_eq!((played.at, played.sent_at), (arrived + ms(30), ms(1000)));
    assert!(buffer.is_empty());
}

#[test]
fn a_bad_configuration_is_refused() {
    let config = JitterConfig {
        percentile: 0.0,
        ..JitterConfig::default()
    };
    assert_eq!(
        JitterBuffer::<u64>::new(config).unwrap_err(),
        JitterConfigError::Percentile(0.0)
    );
}

/// Checks the bounds and the accounting after every push of a flood.
fn check_bounded(buffer: &JitterBuffer<u64>, max_depth: usize, window: usize) {
    assert!(buffer.len() <= max_depth);
    assert!(buffer.window_len() <= window);
    let s = buffer.stats();
    assert_eq!(
        s.pushed,
        s.played + s.late + s.duplicate + s.outliers + s.overflowed + buffer.len() as u64
    );
}

#[test]
fn depth_and_memory_stay_bounded_under_a_flood() {
    let t0 = test_epoch();
    let config = JitterConfig {
        max_depth: 64,
        window: 128,
        ..JitterConfig::default()
    };
    let mut rng = Pcg64Mcg::seed_from_u64(4);
    // Random sequence numbers with plausible send times, never played: everything is held
    // until it overflows.
    let mut buffer = JitterBuffer::new(config).unwrap();
    for i in 0..100_000u32 {
        let now = t0 + Duration::from_micros(10) * i;
        let sequence = rng.random_range(0..1 << 20);
        let sent = Duration::from_micros(10) * i;
        let _ = buffer.push(now, sequence, sent, sequence);
        check_bounded(&buffer, 64, 128);
    }
    let stats = buffer.stats();
    assert_eq!(buffer.len(), 64);
    assert_eq!(
        stats.overflowed + stats.duplicate,
        100_000 - 64,
        "{stats:?}"
    );
    // The survivors are the newest: the highest numbers pushed.
    assert!(buffer.held_sequences()[0] > (1 << 20) - 2_000);

    // Random everything: sequence numbers, send times, arrival steps.
    let mut buffer = JitterBuffer::new(config).unwrap();
    let mut now = t0;
    for _ in 0..100_000 {
        now += Duration::from_micros(rng.random_range(0..2_000));
        let sequence = rng.random();
        let sent = Duration::from_nanos(rng.random_range(0..u64::MAX));
        let _ = buffer.push(now, sequence, sent, sequence);
        check_bounded(&buffer, 64, 128);
        while buffer.pop(now).is_some() {}
    }
}

#[test]
fn the_oldest_message_overflows_first() {
    let t0 = test_epoch();
    let config = JitterConfig {
        max_depth: 3,
        ..JitterConfig::default()
    };
    let mut buffer = JitterBuffer::new(config).unwrap();
    for n in [5u64, 3, 9] {
        assert_eq!(buffer.push(t0, n, ms(100), n), Pushed::Queued);
    }
    assert_eq!(buffer.push(t0, 7, ms(100), 7), Pushed::Queued);
    assert_eq!(buffer.held_sequences(), [5, 7, 9]);
    assert_eq!(buffer.push(t0, 1, ms(100), 1), Pushed::Overflow);
    assert_eq!(buffer.held_sequences(), [5, 7, 9]);
    assert_eq!(buffer.stats().overflowed, 2);
}

#[derive(Debug, Clone)]
enum Op {
    /// The next message arrives (if any is left).
    Arrive,
    /// A message with a random number and send time arrives.
    Wild { sequence: u64, sent_ms: u64 },
    /// Time passes; then drain `pop`.
    Wait(u16),
    /// Sleep until `poll_timeout`; `pop` must return a message.
    Timeout,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => Just(Op::Arrive),
        1 => (0u64..600, 0u64..100_000).prop_map(|(sequence, sent_ms)| Op::Wild { sequence, sent_ms }),
        3 => (0u16..200).prop_map(Op::Wait),
        3 => Just(Op::Timeout),
    ]
}

fn config() -> impl Strategy<Value = JitterConfig> {
    (
        (0.5f64..=1.0, 1usize..64, 1usize..32),
        (0u64..30, 0u64..50, 0u64..200),
        (0.01f64..=1.0, 0.01f64..=1.0, 1u64..2000),
    )
        .prop_map(
            |((percentile, window, max_depth), (min, initial, max), (down, up, resync))| {
                JitterConfig {
                    percentile,
                    window,
                    max_depth,
                    min_delay: ms(min),
                    initial_delay: ms(min + initial),
                    max_delay: ms(min + initial + max),
                    max_slowdown: down,
                    max_speedup: up,
                    resync_after: ms(resync),
                }
            },
        )
}

proptest! {
    /// Whatever arrives, in whatever order, and however the buffer is driven: messages play in
    /// sequence order, each at most once, at playout instants that never go back and are never
    /// in the future; `pop` at `poll_timeout` yields a message; the depth bound holds; every
    /// message pushed is accounted for once.
    #[test]
    fn playout_order_bounds_and_accounting(
        config in config(),
        // Per message: extra transit (ms), copies sent, delay of the second copy (10 ms).
        messages in prop::collection::vec((0u64..150, prop_oneof![1 => Just(0u8), 6 => Just(1), 2 => Just(2)], 0u8..30), 1..300),
        ops in prop::collection::vec(op(), 1..600),
    ) {
        let t0 = test_epoch();
        let mut arrivals: Vec<Arrival> = Vec::new();
        for (n, &(extra, copies, later)) in messages.iter().enumerate() {
            let a = arrival(n as u64, ms(20 + extra));
            // 0: lost; 1: once; 2: twice, the copy `later` × 10 ms after.
            for copy in 0..copies {
                arrivals.push(Arrival { at: a.at + ms(u64::from(copy * later) * 10), ..a });
            }
        }
        arrivals.sort_by_key(|a| a.at);
        let mut buffer = JitterBuffer::new(config).unwrap();
        let mut next = 0;
        let mut now = t0;
        let mut played: Vec<Played<u64>> = Vec::new();
        let mut skipped = 0;
        for op in ops {
            match op {
                Op::Arrive => {
                    if let Some(a) = arrivals.get(next) {
                        now = now.max(t0 + a.at);
                        let result = buffer.push(now, a.sequence, a.sent, a.sequence);
                        if let Some(last) = played.last()
                            && a.sequence <= last.sequence
                        {
                            prop_assert!(matches!(result, Pushed::Late | Pushed::Duplicate));
                        }
                        next += 1;
                    }
                }
                Op::Wild { sequence, sent_ms } => {
                    let _ = buffer.push(now, sequence, ms(sent_ms), sequence);
                }
                Op::Wait(d) => now += ms(u64::from(d)),
                Op::Timeout => {
                    match buffer.poll_timeout() {
                        Some(at) => {
                            now = now.max(at);
                            let p = buffer.pop(now);
                            prop_assert!(p.is_some(), "nothing at poll_timeout");
                            if let Some(p) = p {
                                skipped += p.skipped;
                                played.push(p);
                            }
                        }
                        None => prop_assert!(buffer.is_empty()),
                    }
                }
            }
            // Drain; check the order of everything played so far.
            while let Some(p) = buffer.pop(now) {
                skipped += p.skipped;
                played.push(p);
            }
            if let Some(t) = buffer.poll_timeout() {
                prop_assert!(t > now, "poll_timeout in the past after a drain");
            } else {
                prop_assert!(buffer.is_empty());
            }
            prop_assert!(buffer.len() <= config.max_depth);
            prop_assert!(buffer.window_len() <= config.window);
            let s = buffer.stats();
            prop_assert_eq!(
                s.pushed,
                s.played + s.late + s.duplicate + s.outliers + s.overflowed + buffer.len() as u64
            );
            prop_assert_eq!(s.played as usize, played.len());
            prop_assert_eq!(s.skipped, skipped);
        }
        for pair in played.windows(2) {
            prop_assert!(pair[0].sequence < pair[1].sequence);
            prop_assert!(pair[0].at <= pair[1].at);
            prop_assert_eq!(pair[1].skipped, pair[1].sequence - pair[0].sequence - 1);
        }
        for p in &played {
            prop_assert_eq!(p.payload, p.sequence);
            prop_assert!(p.at <= now);
        }
    }
}
