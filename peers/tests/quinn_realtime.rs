//! quinn-proto's real-time baselines over weir's simulator: KCP's echo test and a game flow over
//! streams and datagrams, with the figures' full runs as an ignored report.

use std::time::Duration;

use weir_core::sim::{LinkConfig, LossModel};
use weir_peers::{
    EchoReport, GameReport, GameRun, PeerError, QuinnGameTransport, quinn_echo, quinn_game,
};

const ECHO_INTERVAL: Duration = Duration::from_millis(20);
const ECHO_SIZE: usize = 64;

/// A link with only a fixed one-way delay.
fn clean(one_way_ms: u64) -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(one_way_ms),
        ..LinkConfig::default()
    }
}

/// A fixed one-way delay and independent random loss.
fn lossy(one_way_ms: u64, loss: f64) -> LinkConfig {
    LinkConfig {
        loss: LossModel::Random { p: loss },
        ..clean(one_way_ms)
    }
}

/// KCP's test network, as weir's `tests/tests/realtime.rs` builds it (its
/// `LatencySimulator(10, 60, 125)`): 10 % random loss each way, each packet's one-way delay
/// drawn uniformly from 30–62.5 ms independently of the others (every packet takes the
/// "reordered" path with no extra hold, so packets overtake one another).
fn kcp_link() -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(30),
        jitter: Duration::from_micros(32_500),
        loss: LossModel::Random { p: 0.1 },
        reorder: 1.0,
        reorder_delay: Duration::ZERO,
        ..LinkConfig::default()
    }
}

fn echo(link: LinkConfig, seed: u64, count: u64) -> Result<EchoReport, PeerError> {
    quinn_echo(link.clone(), link, seed, count, ECHO_INTERVAL, ECHO_SIZE)
}

fn ms(x: f64) -> Duration {
    Duration::from_secs_f64(x / 1000.0)
}

#[test]
fn echo_round_trip_is_the_path_delay_on_a_clean_link() -> Result<(), PeerError> {
    let r = echo(clean(25), 1, 150)?;
    assert_eq!(r.error, None);
    assert_eq!((r.sent, r.echoed), (150, 150), "{r:?}");
    // Nothing waits: no Nagle, no pacing delay at 25 packets per second, the echo leaves in the
    // packet that acknowledges the message.
    assert!(
        r.mean >= ms(50.0) && r.mean <= ms(56.0),
        "mean {:?}",
        r.mean
    );
    assert!(r.p50 >= ms(50.0) && r.p50 <= ms(51.0), "p50 {:?}", r.p50);
    assert!(r.max <= ms(51.0), "max {:?}", r.max);
    // 150 × 64 B of payload each way, and at most a few hundred bytes of overhead per packet.
    assert!(r.bytes_on_wire > 2 * 150 * 64, "{}", r.bytes_on_wire);
    assert!(r.bytes_on_wire < 150_000, "{}", r.bytes_on_wire);
    Ok(())
}

#[test]
fn echo_delivers_everything_over_kcp_loss_and_pays_for_it() -> Result<(), PeerError> {
    let count = 300;
    let base = echo(clean(25), 1, count)?;
    let r = echo(kcp_link(), 1, count)?;
    assert_eq!(r.error, None);
    assert_eq!((r.sent, r.echoed), (count, count), "{r:?}");
    // 30–62.5 ms each way: no round trip below 60 ms, and loss recovery on top.
    assert!(r.p50 >= ms(60.0), "p50 {:?}", r.p50);
    assert!(r.mean > base.mean, "{:?} vs clean {:?}", r.mean, base.mean);
    assert!(r.mean > ms(80.0), "mean {:?}", r.mean);
    assert!(r.p99 > r.p50 && r.max >= r.p99, "{r:?}");
    // The retransmissions cost bytes.
    assert!(r.bytes_on_wire > base.bytes_on_wire, "{r:?}");
    Ok(())
}

#[test]
fn echo_is_reproducible() -> Result<(), PeerError> {
    let a = echo(kcp_link(), 3, 100)?;
    let b = echo(kcp_link(), 3, 100)?;
    let c = echo(kcp_link(), 4, 100)?;
    assert_eq!(a, b);
    assert_ne!(a, c, "the seed matters");
    Ok(())
}

fn game(
    link: LinkConfig,
    transport: QuinnGameTransport,
    seconds: u64,
    deadline: Option<Duration>,
) -> Result<GameReport, PeerError> {
    quinn_game(
        link.clone(),
        link,
        1,
        transport,
        60,
        200,
        Duration::from_secs(seconds),
        deadline,
    )
}

/// 50 ms one way and a 60 Hz tick of 16.7 ms: the age is a sawtooth from 50 to 66.7 ms.
fn assert_clean_sawtooth(r: &GameReport) {
    let tick = 1000.0 / 60.0;
    assert_eq!(r.error, None);
    assert_eq!(r.refused, 0, "{r:?}");
    assert_eq!(r.received, r.sent, "{r:?}");
    assert_eq!(r.on_time, r.sent, "all within 60 ms: {r:?}");
    assert_eq!(r.on_time_share, 1.0);
    // 4 s of samples after the 1 s warm-up.
    assert!((3990..=4000).contains(&r.age_samples), "{r:?}");
    assert!(r.age_p50 >= ms(50.0), "{r:?}");
    assert!(
        r.age_p50 <= ms(50.0 + tick / 2.0 + 1.0),
        "p50 {:?}",
        r.age_p50
    );
    assert!(r.age_p99 <= ms(50.0 + tick + 2.0), "p99 {:?}", r.age_p99);
    assert!(r.age_max <= ms(50.0 + tick + 2.0), "max {:?}", r.age_max);
}

#[test]
fn game_datagrams_on_a_clean_link_are_as_fresh_as_the_path() -> Result<(), PeerError> {
    let r = game(clean(50), QuinnGameTransport::Datagrams, 5, Some(ms(60.0)))?;
    // 5 s at 60 Hz (the last tick at 4.983 s; a tick of 16 666 666 ns leaves room for one more).
    assert!((300..=301).contains(&r.sent), "{r:?}");
    assert_clean_sawtooth(&r);
    Ok(())
}

#[test]
fn game_stream_per_message_on_a_clean_link_is_as_fresh_too() -> Result<(), PeerError> {
    let r = game(
        clean(50),
        QuinnGameTransport::StreamPerMessage,
        5,
        Some(ms(60.0)),
    )?;
    assert!((300..=301).contains(&r.sent), "{r:?}");
    assert_clean_sawtooth(&r);
    Ok(())
}

#[test]
fn game_datagrams_lose_what_the_link_loses() -> Result<(), PeerError> {
    let clean_run = game(clean(50), QuinnGameTransport::Datagrams, 10, None)?;
    let r = game(lossy(50, 0.02), QuinnGameTransport::Datagrams, 10, None)?;
    assert_eq!(r.error, None);
    assert_eq!(r.refused, 0);
    let share = r.received as f64 / r.sent as f64;
    // 600 messages through 2 % loss: 12 expected lost (σ ≈ 3.4), none retransmitted.
    assert!((0.96..=0.995).contains(&share), "{share}: {r:?}");
    assert_eq!(r.on_time_share, share, "no deadline: every arrival counts");
    // A lost snapshot leaves the previous one in place for another tick.
    assert!(
        r.age_max >= clean_run.age_max + ms(10.0),
        "{:?} vs {:?}",
        r.age_max,
        clean_run.age_max
    );
    Ok(())
}

#[test]
fn game_stream_per_message_delivers_every_message_through_loss() -> Result<(), PeerError> {
    let r = game(
        lossy(50, 0.02),
        QuinnGameTransport::StreamPerMessage,
        10,
        Some(ms(120.0)),
    )?;
    assert_eq!(r.error, None);
    assert_eq!(r.refused, 0);
    assert_eq!(r.received, r.sent, "{r:?}");
    // A retransmission takes at least another round trip: those messages miss 120 ms.
    assert!(r.on_time < r.received, "{r:?}");
    assert!(r.on_time_share > 0.95, "{r:?}");
    Ok(())
}

#[test]
fn game_measures_from_the_warm_up_to_the_end_of_sending() -> Result<(), PeerError> {
    let mut run = GameRun::new(
        clean(50),
        clean(50),
        2,
        QuinnGameTransport::Datagrams,
        30,
        200,
        Duration::from_secs(4),
        None,
    );
    run.warmup = Duration::from_secs(2);
    let r = run.quinn()?;
    let connected = r.connected_at.expect("connected");
    // A 30 Hz tick is 33 333 333 ns, so 120 ticks end 40 ns short of 4 s: one more fits (as
    // with weir's sender, which schedules the same way).
    assert_eq!(r.sent, 121);
    assert_eq!(r.received, 121);
    // Samples cover [handshake + 2 s, handshake + 4 s): 2000 ms.
    assert!((1999..=2000).contains(&r.age_samples), "{r:?}");
    // The run drained 2 s after the sending window.
    assert!(r.elapsed >= connected + Duration::from_secs(6), "{r:?}");
    // 30 Hz: the sawtooth runs from 50 to 83.3 ms.
    assert!(r.age_max <= ms(84.0) && r.age_max >= ms(82.0), "{r:?}");
    Ok(())
}

fn print_echo(label: &str, r: &EchoReport) {
    println!(
        "{label} seed {}: {}/{} echoed, mean {:.1} ms, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, \
         {} bytes on the wire{}",
        r.seed,
        r.echoed,
        r.sent,
        r.mean.as_secs_f64() * 1e3,
        r.p50.as_secs_f64() * 1e3,
        r.p99.as_secs_f64() * 1e3,
        r.max.as_secs_f64() * 1e3,
        r.bytes_on_wire,
        r.error
            .as_ref()
            .map_or(String::new(), |e| format!(" (closed: {e})")),
    );
}

fn print_game(label: &str, r: &GameReport) {
    println!(
        "{label} {} ({}): sent {} refused {} received {} ({:.2} %), on time {:.2} %{}, \
         age p50 {:.1} ms p99 {:.1} ms max {:.1} ms mean {:.1} ms, {} bytes on the wire{}",
        r.transport,
        r.stack,
        r.sent,
        r.refused,
        r.received,
        100.0 * r.received as f64 / (r.sent + r.refused).max(1) as f64,
        100.0 * r.on_time_share,
        r.deadline.map_or(String::new(), |d| format!(
            " (deadline {} ms)",
            d.as_millis()
        )),
        r.age_p50.as_secs_f64() * 1e3,
        r.age_p99.as_secs_f64() * 1e3,
        r.age_max.as_secs_f64() * 1e3,
        r.mean_age.as_secs_f64() * 1e3,
        r.bytes_on_wire,
        r.error
            .as_ref()
            .map_or(String::new(), |e| format!(" (closed: {e})")),
    );
}

/// The figures' full runs:
/// `cargo test --release -p weir-peers --test quinn_realtime -- --ignored --nocapture`.
#[test]
#[ignore = "report: prints quinn's real-time figures"]
fn report_quinn_realtime() -> Result<(), PeerError> {
    println!("(a) KCP test: 3000 × 64 B every 20 ms, one bidirectional stream, quinn/cubic");
    for seed in 1..=2 {
        let r = echo(kcp_link(), seed, 3000)?;
        print_echo("  kcp link", &r);
    }
    let transports = [
        QuinnGameTransport::StreamPerMessage,
        QuinnGameTransport::Datagrams,
    ];
    println!("(b) 60 Hz × 200 B, 50 ms each way, 2 % random loss each way, 60 s, seed 1");
    for transport in transports {
        let link = lossy(50, 0.02);
        let r = quinn_game(
            link.clone(),
            link,
            1,
            transport,
            60,
            200,
            Duration::from_secs(60),
            None,
        )?;
        print_game("  ", &r);
    }
    println!("(c) 30 Hz × 200 B, 50 ms each way, 5 % random loss each way, 60 s, seed 1");
    for transport in transports {
        let link = lossy(50, 0.05);
        let r = quinn_game(
            link.clone(),
            link,
            1,
            transport,
            30,
            200,
            Duration::from_secs(60),
            Some(Duration::from_millis(120)),
        )?;
        print_game("  ", &r);
    }
    Ok(())
}
