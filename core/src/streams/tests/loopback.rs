//! Property tests over a client and a server talking through a lossy, reordering "wire", and a
//! check that the sender never exceeds the credit it was given.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::{Packet, build, deliver, endpoint, epoch, open_limits, pair};
use crate::streams::{
    Dir, PeerLimits, ReadError, Side, StreamId, StreamsConfig, StreamsSent, StreamsState,
    WriteError,
};
use crate::wire::frame::{Frame, Iter};

/// The bytes `sender` sends on `id` in a run with `seed` (both ends can compute them).
fn payload(seed: u64, id: StreamId, sender: Side, max_len: usize) -> Vec<u8> {
    let mut rng =
        Pcg64Mcg::seed_from_u64(seed ^ (id.into_inner() << 8) ^ u64::from(sender.is_client()));
    let len = rng.random_range(0..=max_len);
    (0..len).map(|_| rng.random()).collect()
}

/// One end and its application.
struct Peer {
    s: StreamsState,
    side: Side,
    /// Streams still to open: (direction, priority).
    to_open: Vec<(Dir, i32)>,
    /// Streams we send on: bytes written so far.
    out: BTreeMap<StreamId, usize>,
    finished: BTreeSet<StreamId>,
    /// Streams we receive on: bytes read, and whether the end was read.
    inbox: BTreeMap<StreamId, (Vec<u8>, bool)>,
}

impl Peer {
    fn new(s: StreamsState, side: Side, to_open: Vec<(Dir, i32)>) -> Self {
        Self {
            s,
            side,
            to_open,
            out: BTreeMap::new(),
            finished: BTreeSet::new(),
            inbox: BTreeMap::new(),
        }
    }

    /// The application's turn: open, accept, write, read.
    fn app(&mut self, rng: &mut Pcg64Mcg, seed: u64, max_len: usize) {
        let now = epoch();
        while let Some(&(dir, priority)) = self.to_open.last() {
            let Ok(id) = self.s.open(dir, priority) else {
                break;
            };
            self.to_open.pop();
            self.out.insert(id, 0);
            if dir == Dir::Bi {
                self.inbox.insert(id, (Vec::new(), false));
            }
        }
        for dir in Dir::ALL {
            while let Some(id) = self.s.accept(dir) {
                self.inbox.insert(id, (Vec::new(), false));
                if dir == Dir::Bi {
                    self.out.insert(id, 0);
                    self.s
                        .set_priority(id, rng.random_range(-2..=2))
                        .expect("open");
                }
            }
        }
        for (&id, written) in self.out.iter_mut() {
            let data = payload(seed, id, self.side, max_len);
            while *written < data.len() {
                let n = rng.random_range(1..=data.len() - *written);
                let chunk = &data[*written..*written + n];
                let result = if rng.random_bool(0.5) {
                    self.s.write(id, chunk)
                } else {
                    self.s.write_chunk(id, Bytes::copy_from_slice(chunk))
                };
                match result {
                    Ok(k) => *written += k,
                    Err(WriteError::Blocked) => break,
                    Err(e) => panic!("{id:?}: {e}"),
                }
            }
            if *written == data.len() && self.finished.insert(id) {
                self.s.finish(id).expect("not finished yet");
            }
        }
        // A slow reader sometimes: flow control must hold the sender back.
        if rng.random_bool(0.3) {
            return;
        }
        for (&id, (data, ended)) in self.inbox.iter_mut() {
            while !*ended {
                match self.s.read(now, id, rng.random_range(1..3000)) {
                    Ok(Some(chunk)) => data.extend_from_slice(&chunk),
                    Ok(None) => *ended = true,
                    Err(ReadError::Blocked) => break,
                    Err(e) => panic!("{id:?}: {e}"),
                }
            }
        }
    }

    fn done_receiving(&self, seed: u64, max_len: usize, peer: Side, expected: usize) -> bool {
        self.inbox.len() == expected
            && self
                .inbox
                .iter()
                .all(|(&id, (data, ended))| *ended && *data == payload(seed, id, peer, max_len))
    }
}

/// A packet on the wire.
struct InFlight {
    from: usize,
    packet: Packet,
}

fn plan(rng: &mut Pcg64Mcg, n: usize) -> Vec<(Dir, i32)> {
    (0..n)
        .map(|_| {
            let dir = if rng.random_bool(0.5) {
                Dir::Bi
            } else {
                Dir::Uni
            };
            (dir, rng.random_range(-3..=3))
        })
        .collect()
}

/// Runs a transfer with `streams` client streams and a few server streams over a wire that
/// loses `loss` of the packets, reorders them, and sometimes reports a delivered packet lost.
fn run(seed: u64, streams: usize, loss: f64, max_len: usize, concurrency: u64) {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let config = StreamsConfig {
        max_concurrent_bidi: concurrency,
        max_concurrent_uni: concurrency,
        stream_receive_window: 4096,
        max_stream_receive_window: 32_768,
        receive_window: 16_384,
        max_receive_window: 65_536,
        stream_send_buffer: 8192,
        send_buffer: 40_000,
        max_fragments_per_stream: 512,
        max_fragments: 4096,
        closed_stream_ranges: 64,
    };
    let (client, server) = pair(&config);
    let client_plan = plan(&mut rng, streams);
    let server_plan = plan(&mut rng, streams / 4);
    let mut peers = [
        Peer::new(client, Side::Client, client_plan.clone()),
        Peer::new(server, Side::Server, server_plan.clone()),
    ];
    // Streams each side will receive on: the peer's, plus its own bidirectional ones.
    let expect_in = |own: &[(Dir, i32)], theirs: &[(Dir, i32)]| {
        theirs.len() + own.iter().filter(|(d, _)| *d == Dir::Bi).count()
    };
    let expected = [
        expect_in(&client_plan, &server_plan),
        expect_in(&server_plan, &client_plan),
    ];
    let mut wire: Vec<InFlight> = Vec::new();
    for step in 0..200_000 {
        for (k, peer) in peers.iter_mut().enumerate() {
            peer.app(&mut rng, seed, max_len);
            assert!(peer.s.send_buffered() <= config.send_buffer);
            assert!(peer.s.recv_buffered() <= config.max_receive_window);
            if wire.len() < 64 && rng.random_bool(0.8) {
                let max = rng.random_range(40..1500);
                match build(&mut peer.s, max) {
                    Some(packet) => wire.push(InFlight { from: k, packet }),
                    // `has_pending` is exact: room for a frame and nothing written means
                    // nothing was pending.
                    None if max >= 60 => assert!(!peer.s.has_pending(), "seed {seed}"),
                    None => {}
                }
            }
        }
        if !wire.is_empty() && rng.random_bool(0.7) {
            let i = rng.random_range(0..wire.len());
            let InFlight { from, packet } = wire.swap_remove(i);
            let [a, b] = &mut peers;
            let (sender, receiver) = if from == 0 { (a, b) } else { (b, a) };
            if rng.random_bool(loss) {
                sender.s.on_lost(&packet.sent);
            } else {
                deliver(&mut receiver.s, &packet.payload)
                    .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
                if rng.random_bool(0.05) {
                    // Duplicated by the network.
                    deliver(&mut receiver.s, &packet.payload).expect("duplicates are harmless");
                }
                if rng.random_bool(0.03) {
                    // Declared lost although it arrived (spurious loss).
                    sender.s.on_lost(&packet.sent);
                } else {
                    sender.s.on_acked(&packet.sent);
                }
            }
        }
        let quiet = wire.is_empty() && peers.iter().all(|p| !p.s.has_pending());
        let received = peers[0].done_receiving(seed, max_len, Side::Server, expected[0])
            && peers[1].done_receiving(seed, max_len, Side::Client, expected[1]);
        if quiet && received && peers.iter().all(|p| p.to_open.is_empty()) {
            for p in &peers {
                assert_eq!(p.s.send_buffered(), 0, "send memory released");
                assert_eq!(p.s.recv_buffered(), 0, "receive memory released");
                assert_eq!(p.s.open_streams(), 0, "stream state released");
            }
            return;
        }
    }
    panic!("seed {seed}: transfer did not complete");
}

#[test]
fn loopback_without_loss() {
    run(1, 16, 0.0, 20_000, 100);
}

#[test]
fn loopback_with_heavy_loss_and_few_concurrent_streams() {
    run(2, 16, 0.3, 5_000, 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every stream delivers exactly its bytes, in order, once, whatever the loss, reordering,
    /// duplication, priorities and packet sizes; memory and stream state are released at the
    /// end.
    #[test]
    fn loopback_delivers_every_stream_exactly(
        seed in any::<u64>(),
        streams in 1usize..=16,
        loss in 0.0f64..0.25,
        max_len in 0usize..30_000,
        concurrency in 1u64..8,
    ) {
        run(seed, streams, loss, max_len, concurrency);
    }

    /// The sender never sends beyond the credit it was given (connection and stream), whatever
    /// the writes, packet sizes, losses and credit updates.
    #[test]
    fn sender_respects_flow_control(ops in proptest::collection::vec(any::<(u8, u16, u16)>(), 1..300)) {
        let limits = PeerLimits { max_data: 500, max_stream_data_bidi_remote: 300, max_stream_data_uni: 200, ..open_limits() };
        let mut s = endpoint(Side::Client, &StreamsConfig::default(), &limits);
        let mut ids = Vec::new();
        let mut conn_limit = limits.max_data;
        let mut stream_limit: BTreeMap<StreamId, u64> = BTreeMap::new();
        let mut highest: BTreeMap<StreamId, u64> = BTreeMap::new();
        let mut in_flight: Vec<StreamsSent> = Vec::new();
        for (op, a, b) in ops {
            match op % 6 {
                0 if ids.len() < 8 => {
                    let dir = if a % 2 == 0 { Dir::Bi } else { Dir::Uni };
                    let id = s.open(dir, i32::from(b % 3)).expect("allowed");
                    ids.push(id);
                    stream_limit.insert(id, if dir == Dir::Bi { 300 } else { 200 });
                }
                1 if !ids.is_empty() => {
                    let id = ids[usize::from(a) % ids.len()];
                    let _ = s.write(id, &vec![0; usize::from(b % 2000)]);
                }
                2 => {
                    conn_limit = conn_limit.max(u64::from(a));
                    s.on_max_data(u64::from(a));
                }
                3 if !ids.is_empty() => {
                    let id = ids[usize::from(a) % ids.len()];
                    let limit = stream_limit.get_mut(&id).expect("known");
                    *limit = (*limit).max(u64::from(b));
                    s.on_max_stream_data(id, u64::from(b)).expect("our stream");
                }
                4 if !in_flight.is_empty() => {
                    let sent = in_flight.swap_remove(usize::from(a) % in_flight.len());
                    if b % 2 == 0 { s.on_lost(&sent) } else { s.on_acked(&sent) }
                }
                _ => {
                    if let Some(p) = build(&mut s, 30 + usize::from(a % 1500)) {
                        for frame in Iter::new(p.payload.clone()) {
                            if let Ok(Frame::Stream(f)) = frame {
                                let id = StreamId::from_varint(f.id);
                                let end = f.offset.into_inner() + f.data.len() as u64;
                                prop_assert!(end <= stream_limit[&id], "stream credit");
                                let h = highest.entry(id).or_default();
                                *h = (*h).max(end);
                            }
                        }
                        prop_assert!(highest.values().sum::<u64>() <= conn_limit, "connection credit");
                        in_flight.push(p.sent);
                    }
                }
            }
        }
    }
}
