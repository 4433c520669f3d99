//! `weir sim --flow game`: every lane mode keeps its promise on a lossy, reordering path, loss
//! repair shows in the share on time, and the other transports are measured the same way.

use clap::{Parser, ValueEnum};

use super::*;
use crate::{Cli, Command};

/// 100 ms RTT, 10 % random loss, and 10 % of the packets held back 50 ms (three 60 Hz ticks),
/// for 10 s.
const LOSSY_REORDERING: &[&str] = &[
    "--rtt",
    "100ms",
    "--loss",
    "10%",
    "--reorder",
    "10%",
    "--reorder-delay",
    "50ms",
    "--duration",
    "10s",
];

/// 100 ms RTT and 10 % random loss for 10 s.
const LOSSY: &[&str] = &["--rtt", "100ms", "--loss", "10%", "--duration", "10s"];

const MS: Duration = Duration::from_millis(1);

fn sim_args(path: &[&str], flow: &[&str]) -> SimArgs {
    let argv = ["weir", "sim", "--flow", "game"]
        .into_iter()
        .chain(path.iter().copied())
        .chain(flow.iter().copied());
    let Command::Sim(args) = Cli::try_parse_from(argv).expect("arguments parse").command else {
        unreachable!("a sim command")
    };
    args
}

/// A game flow run as `weir sim` runs it: the figures, the on-time deadline and the report.
struct Game {
    run: GameRun,
    transport: GameTransport,
    deadline: Option<Duration>,
    report: String,
}

impl Game {
    fn new(path: &[&str], flow: &[&str]) -> Self {
        let outcome = simulate(&sim_args(path, flow)).expect("the run completes");
        let report = report::render(&outcome);
        let FlowOutcome::Game {
            run,
            transport,
            deadline,
            ..
        } = outcome.flow
        else {
            unreachable!("a game flow")
        };
        Self {
            run: *run,
            transport,
            deadline,
            report,
        }
    }

    fn received(&self) -> u64 {
        self.run.receiver.received
    }

    fn age(&self, q: f64) -> Duration {
        let fresh = self.run.receiver.freshness().expect("messages arrived");
        fresh.age_quantile(q)
    }

    fn on_time_share(&self) -> f64 {
        let fresh = self.run.receiver.freshness().expect("messages arrived");
        fresh.on_time_share(self.run.sent)
    }
}

#[test]
fn an_unreliable_sequenced_lane_drops_what_it_must_and_never_goes_back() {
    let sequenced = Game::new(LOSSY_REORDERING, &["--mode", "unreliable-sequenced"]);
    let unordered = Game::new(LOSSY_REORDERING, &["--mode", "unreliable"]);
    // 10 s at 60 Hz (the tick rounds down to the nanosecond: one more fits).
    assert_eq!(sequenced.run.sent, 601);
    // The path does reorder: the plain unreliable lane hands over late messages after newer
    // ones (55 here); the sequenced lane drops them instead (54), and the lost ones (~10 %).
    assert!(unordered.run.receiver.out_of_order > 20);
    assert_eq!(sequenced.run.receiver.out_of_order, 0);
    assert!(sequenced.run.receiver_lanes.stale_receiving > 20);
    assert!(
        sequenced.received() < sequenced.run.sent * 85 / 100,
        "{} of {}",
        sequenced.received(),
        sequenced.run.sent
    );
    // One way 50 ms, a tick 17 ms: the newest state stays within a few ticks of it (109 ms).
    assert!(sequenced.age(0.99) < 150 * MS, "{:?}", sequenced.age(0.99));
    assert!(sequenced.report.contains("age of newest state p50/p99/max"));
}

#[test]
fn a_reliable_ordered_lane_delivers_everything_in_order_at_a_cost_in_age() {
    let ordered = Game::new(LOSSY_REORDERING, &["--mode", "reliable-ordered"]);
    let rx = &ordered.run.receiver;
    assert_eq!((rx.received, rx.out_of_order), (ordered.run.sent, 0));
    assert!(ordered.run.sender_lanes.fragments_retransmitted > 30);
    // No deadline: every arrival is on time, and the report has no on-time line.
    assert_eq!(ordered.deadline, None);
    assert!(!ordered.report.contains("on time"));
    // Each loss holds back the messages behind it for a round trip or more (666 ms here).
    assert!(ordered.age(0.99) > 300 * MS, "{:?}", ordered.age(0.99));
}

#[test]
fn the_other_lane_modes_keep_their_promises() {
    let unordered = Game::new(LOSSY_REORDERING, &["--mode", "reliable-unordered"]);
    assert_eq!(unordered.received(), unordered.run.sent);
    assert!(unordered.run.receiver.out_of_order > 20);
    let sequenced = Game::new(LOSSY_REORDERING, &["--mode", "reliable-sequenced"]);
    assert_eq!(sequenced.run.receiver.out_of_order, 0);
    assert!(sequenced.received() < sequenced.run.sent);
}

#[test]
fn redundancy_raises_the_share_on_time_and_shows_its_cost() {
    let at = |redundancy: &str| {
        Game::new(
            LOSSY,
            &[
                "--tick-rate",
                "30",
                "--mode",
                "unreliable",
                "--deadline",
                "120ms",
                "--redundancy",
                redundancy,
                // The mechanism alone: no strategy adds FEC to the baseline.
                "--adapt",
                "off",
            ],
        )
    };
    let (plain, repaired) = (at("0"), at("2"));
    assert_eq!(plain.deadline, Some(120 * MS));
    // About 0.88 without copies, 0.98 with two.
    assert!(
        repaired.on_time_share() > plain.on_time_share() + 0.05,
        "{} vs {}",
        repaired.on_time_share(),
        plain.on_time_share()
    );
    assert!(repaired.run.receiver_lanes.repaired_messages > 0);
    assert_eq!(plain.run.receiver_lanes.repaired_messages, 0);
    let payload = repaired.run.sent * 200;
    // Two copies of every message while unacknowledged: about twice the payload.
    assert!(repaired.run.sender_lanes.redundant_bytes_sent > payload);
    assert_eq!(plain.run.sender_lanes.redundant_bytes_sent, 0);
    for line in [
        "received on time (≤ 120.00 ms)",
        "repaired without a round trip",
        "redundant copies sent",
        "bytes on the wire, forward",
        "unreliable lane, deadline 120.00 ms, redundancy 2",
    ] {
        assert!(
            repaired.report.contains(line),
            "{line}:\n{}",
            repaired.report
        );
    }
}

#[test]
fn datagrams_and_the_stream_are_measured_the_same_way() {
    let datagrams = Game::new(LOSSY, &[]);
    assert_eq!(
        datagrams.transport,
        GameTransport::Datagrams { ttl: 500 * MS }
    );
    assert_eq!(datagrams.deadline, Some(500 * MS));
    assert!(datagrams.age(0.5) > 50 * MS);
    // --deadline is the datagrams' time to live too.
    let short = Game::new(LOSSY, &["--mode", "datagram", "--deadline", "120ms"]);
    assert_eq!(short.transport, GameTransport::Datagrams { ttl: 120 * MS });
    // --reliable is --mode stream; a deadline only sets what counts as on time.
    let alias = Game::new(LOSSY, &["--reliable"]);
    let stream = Game::new(LOSSY, &["--mode", "stream", "--deadline", "200ms"]);
    assert_eq!(stream.transport, GameTransport::Stream { priority: 10 });
    assert_eq!(alias.transport, stream.transport);
    assert_eq!(alias.received(), stream.received());
    assert_eq!(alias.age(0.99), stream.age(0.99));
    assert_eq!(stream.received(), stream.run.sent);
    assert!(stream.run.receiver.on_time() < stream.received());
}

#[test]
fn loss_repair_needs_a_lane() {
    let args = sim_args(LOSSY, &["--mode", "datagram", "--redundancy", "1"]);
    let err = simulate(&args).err().expect("refused");
    assert!(matches!(err, CliError::LaneOnly("datagram")), "{err}");
    let too_many = ["weir", "sim", "--flow", "game", "--redundancy", "5"];
    assert!(Cli::try_parse_from(too_many).is_err());
    let both = ["weir", "sim", "--reliable", "--mode", "unreliable"];
    assert!(Cli::try_parse_from(both).is_err());
}

#[test]
fn mode_names_are_the_flag_values() {
    for mode in GameMode::value_variants() {
        let value = mode.to_possible_value().expect("not skipped");
        assert_eq!(value.get_name(), mode.name());
    }
}
