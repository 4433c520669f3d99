//! Admission control in the simulator: how long real handshakes take on every named path (what
//! the default `handshake_timeout` must cover), and real clients connecting while a server is
//! flooded with Initials.

use std::time::{Duration, Instant};

use weir_core::config::{EndpointConfig, ServerConfig};
use weir_core::connection::{ConnectionError, Event};
use weir_core::endpoint::{ConnectionHandle, Endpoint};
use weir_core::sim::presets::PRESETS;
use weir_core::sim::{Scenario, Simulator};
use weir_tests::{App, EndpointNode, addr, epoch};

/// A client application that connects at `start` and records when the handshake completed.
struct Dialer {
    start: Instant,
    server: std::net::SocketAddr,
    dialed: bool,
    connected: Option<Instant>,
    closed: Option<(Instant, ConnectionError)>,
}

impl App for Dialer {
    fn on_event(&mut self, now: Instant, _: &mut Endpoint, _: ConnectionHandle, event: Event) {
        match event {
            Event::Connected => {
                self.connected.get_or_insert(now);
            }
            Event::Closed(error) => {
                self.closed.get_or_insert((now, error));
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, now: Instant, endpoint: &mut Endpoint) {
        if !self.dialed && now >= self.start {
            self.dialed = true;
            endpoint.connect(now, self.server).expect("connect");
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!self.dialed).then_some(self.start)
    }
}

/// Records when each server connection completed its handshake.
#[derive(Default)]
struct Acceptor {
    connected: Vec<Instant>,
    timed_out: usize,
}

impl App for Acceptor {
    fn on_event(&mut self, now: Instant, _: &mut Endpoint, _: ConnectionHandle, event: Event) {
        match event {
            Event::Connected => self.connected.push(now),
            Event::Closed(ConnectionError::HandshakeTimedOut(_)) => {
                self.timed_out += 1;
            }
            _ => {}
        }
    }
}

/// How one client's handshake ended, timed from its start.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// The server completed the handshake after this long.
    Connected(Duration),
    /// It never did; the client gave up after this long, for this reason.
    Failed(Duration, ConnectionError),
}

/// How handshakes end on `scenario`, for clients starting at `starts` (time since the epoch,
/// spread over the path's schedule), with the server's `handshake_timeout` set to `limit`.
fn handshakes(
    scenario: &Scenario,
    starts: &[Duration],
    seed: u64,
    limit: Duration,
) -> Vec<Outcome> {
    starts
        .iter()
        .enumerate()
        .map(|(k, &start)| {
            let t0 = epoch();
            let mut sim = Simulator::new(seed + k as u64, t0);
            let server = Endpoint::new(
                t0,
                EndpointConfig::insecure_fixed(seed * 1000 + 2 * k as u64),
                Some(ServerConfig {
                    handshake_timeout: limit,
                    ..ServerConfig::default()
                }),
            )
            .expect("server");
            let client = Endpoint::new(
                t0,
                EndpointConfig::insecure_fixed(seed * 1000 + 2 * k as u64 + 1),
                None,
            )
            .expect("client");
            let dialer = Dialer {
                start: t0 + start,
                server: addr(2),
                dialed: false,
                connected: None,
                closed: None,
            };
            let c = sim
                .add_node(addr(1), EndpointNode::new(client, dialer))
                .expect("node");
            let s = sim
                .add_node(addr(2), EndpointNode::new(server, Acceptor::default()))
                .expect("node");
            // The forward direction (the flow under test) runs server → client.
            scenario.install(&mut sim, s, c).expect("links");
            sim.run_until(start + Duration::from_secs(120))
                .expect("simulation");
            let begun = t0 + start;
            let done = sim
                .node_mut::<EndpointNode<Acceptor>>(s)
                .and_then(|n| n.app.connected.first().copied());
            let closed = sim
                .node_mut::<EndpointNode<Dialer>>(c)
                .and_then(|n| n.app.closed.clone());
            match (done, closed) {
                (Some(done), _) => Outcome::Connected(done - begun),
                (None, Some((at, error))) => Outcome::Failed(at - begun, error),
                (None, None) => panic!(
                    "{}: the client neither connected nor gave up",
                    scenario.name
                ),
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The default `handshake_timeout` (10 s without a word from the client) leaves at least 98 %
/// of handshakes on every named path exactly as they are without the limit; it changes only
/// those whose client went silent for over 10 s in a loss burst (on the paths through the 2G
/// tunnel: the link's Gilbert–Elliott bursts span many packets, and a handshaking client sends
/// one per probe timeout). Each of those either still completes (the client's repeated first
/// Initial starts over) or learns at once, from a stateless reset, that the server gave up:
/// none is left waiting for its idle timeout. Clients start at times spread over the paths'
/// schedules (outages every 15 s).
#[test]
fn the_default_handshake_timeout_spares_real_handshakes_on_every_preset() {
    let starts: Vec<Duration> = (0..100).map(|k| Duration::from_millis(k * 293)).collect();
    let limit = ServerConfig::default().handshake_timeout;
    for (name, _) in PRESETS {
        let scenario = Scenario::preset(name).expect("preset");
        let unlimited = handshakes(&scenario, &starts, 1, Duration::from_secs(600));
        let limited = handshakes(&scenario, &starts, 1, limit);
        let changed: Vec<(&Outcome, &Outcome)> = limited
            .iter()
            .zip(&unlimited)
            .filter(|(with, without)| with != without && matches!(without, Outcome::Connected(_)))
            .collect();
        assert!(
            changed.len() * 50 <= starts.len(),
            "{name}: the limit changed {changed:?}"
        );
        for (with, without) in &changed {
            assert!(
                matches!(
                    with,
                    Outcome::Connected(_) | Outcome::Failed(_, ConnectionError::Reset)
                ),
                "{name}: {with:?} with the limit, {without:?} without"
            );
        }
        let mut done: Vec<Duration> = limited
            .iter()
            .filter_map(|o| match o {
                Outcome::Connected(d) => Some(*d),
                Outcome::Failed(..) => None,
            })
            .collect();
        done.sort();
        println!(
            "{name:>10}: {}/{} handshakes, p50 {:?}, p99 {:?}, max {:?}; {} changed by the limit: {changed:?}",
            done.len(),
            limited.len(),
            percentile(&done, 0.5),
            percentile(&done, 0.99),
            done[done.len() - 1],
            changed.len()
        );
    }
}
