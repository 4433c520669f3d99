//! The per-connection send-rate limit (`TransportConfig::rate_limit`) over the simulator: a
//! connection on a path far faster than its limit sends at the limit, retransmissions
//! included, and one without a limit takes the path.

use std::time::Duration;

use weir_core::config::{RateLimit, TransportConfig};
use weir_core::sim::flows::BulkAmount;
use weir_core::sim::runs::{BulkRun, BulkSpec, bottleneck, run_bulk};
use weir_tests::epoch;

const MS: Duration = Duration::from_millis(1);
/// How long each transfer runs, from the start of the simulation.
const RUN: Duration = Duration::from_secs(10);
/// The wire rate is measured from here to [`RUN`] (past the start-up, and past a handshake
/// that loss delays by a probe timeout or two).
const STEADY: Duration = Duration::from_secs(3);
/// 1 MB/s (8 Mbit/s), on a 100 Mbit/s path.
const LIMIT: u64 = 1_000_000;

/// A bulk transfer that never runs out of data over 100 Mbit/s, 40 ms, with `loss` random
/// loss, stopped at `until`.
fn transfer(rate_limit: Option<RateLimit>, loss: f64, until: Duration) -> BulkRun {
    let spec = BulkSpec {
        transport: TransportConfig {
            rate_limit,
            ..TransportConfig::default()
        },
        start: Duration::ZERO,
        amount: BulkAmount::Bytes(1 << 40),
        sample_every: None,
        tls: false,
    };
    let scenario = bottleneck(100.0, 40 * MS, loss, 1.0);
    let runs = run_bulk(epoch(), &scenario, 11, &[spec], until).expect("simulation");
    runs.flows[0].clone()
}

/// The sender's rate on the wire (UDP payload bytes sent per second) from [`STEADY`] to
/// [`RUN`]: the simulation is deterministic, so the run stopped at `STEADY` is the first part
/// of the run stopped at `RUN`, and the difference of their counters is what was sent in
/// between.
fn wire_rate(rate_limit: Option<RateLimit>, loss: f64) -> (f64, BulkRun) {
    let sent = |run: &BulkRun| run.stats.as_ref().expect("stats").bytes_sent;
    let early = transfer(rate_limit, loss, STEADY);
    let run = transfer(rate_limit, loss, RUN);
    let rate = sent(&run).saturating_sub(sent(&early)) as f64 / (RUN - STEADY).as_secs_f64();
    (rate, run)
}

/// Stream bytes the receiver read per second from [`STEADY`] to [`RUN`].
fn goodput(run: &BulkRun) -> f64 {
    run.received_between(STEADY, RUN) as f64 / (RUN - STEADY).as_secs_f64()
}

/// The most the limit lets out over the measurement: the rate, and a bucket that may have
/// been full when it began.
fn ceiling(limit: RateLimit) -> f64 {
    LIMIT as f64 + limit.burst as f64 / (RUN - STEADY).as_secs_f64()
}

#[test]
fn a_limited_connection_sends_at_its_limit_on_a_fast_path() {
    let limit = RateLimit::new(LIMIT);
    let (wire, limited) = wire_rate(Some(limit), 0.0);
    let read = goodput(&limited);
    println!("limited: {wire:.0} B/s on the wire, {read:.0} B/s read");
    // Never above the limit; at most a few percent below it (the pacer and the limit wait for
    // a full datagram's tokens).
    assert!(
        wire <= ceiling(limit) && wire >= 0.97 * LIMIT as f64,
        "{wire:.0} B/s on the wire"
    );
    // What the reader gets: the limit less the packets' headers and tags.
    assert!(
        read <= LIMIT as f64 && read >= 0.94 * LIMIT as f64,
        "{read:.0} B/s read"
    );
    let unlimited = transfer(None, 0.0, RUN);
    let free = goodput(&unlimited);
    println!("unlimited: {free:.0} B/s read");
    assert!(free > 5.0 * LIMIT as f64, "{free:.0} B/s without a limit");
}

#[test]
fn retransmissions_count_against_the_limit() {
    let limit = RateLimit::new(LIMIT);
    let (wire, run) = wire_rate(Some(limit), 0.03);
    let stats = run.stats.as_ref().expect("stats");
    let read = goodput(&run);
    println!(
        "3% loss: {wire:.0} B/s on the wire, {read:.0} B/s read, {} bytes retransmitted",
        stats.stream_bytes_retransmitted
    );
    assert!(
        stats.stream_bytes_retransmitted > 100_000,
        "loss makes retransmissions"
    );
    // Retransmissions leave under the same limit: the wire rate stays at it, and what the
    // reader gets is the limit less what was lost.
    assert!(
        wire <= ceiling(limit) && wire >= 0.95 * LIMIT as f64,
        "{wire:.0} B/s on the wire"
    );
    assert!(read <= 0.98 * LIMIT as f64, "{read:.0} B/s read");
}
