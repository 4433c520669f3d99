//! Lanes under fuzzed frames ([`lanes`]): a sender and a receiver joined by a fuzzed channel
//! that loses, duplicates, reorders and corrupts their packets, with a stranger's crafted lane
//! frames mixed in, and oracles on every delivery mode's contract and on the receiver's memory.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;

use super::{Input, epoch};
use crate::lanes::{
    CodecSet, Compression, DeliveryMode, FecLevel, LaneConfig, Lanes, LanesConfig, LanesSent,
    PeerLanes, SendOptions,
};
use crate::wire::VarInt;
use crate::wire::frame::{
    FecRepair, FecSource, Fragment, Frame, Iter, LaneFrame, LaneHeader, LaneSkip,
};

/// Lanes the bodies use.
const LANES: u64 = 4;
/// Room for frames in one packet.
const PACKET: usize = 1200;
/// Most records one input holds.
const MAX_RECORDS: usize = 400;

/// What [`lanes`] reached, so that tests can check that inputs go deep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LanesReached {
    /// Messages the sender queued.
    pub sent: u64,
    /// Messages the receiver delivered.
    pub delivered: u64,
    /// Packets that crossed the channel.
    pub packets: u64,
    /// Crafted frames the receiver was handed.
    pub crafted: u64,
    /// Whether the receiver closed with a protocol error (only crafted frames may cause one).
    pub closed: bool,
    /// Lost packets the receiver rebuilt from FEC repairs.
    pub fec_recovered: u64,
}

/// Small limits, so that inputs reach them.
fn config() -> LanesConfig {
    LanesConfig {
        max_lanes: LANES,
        max_message_size: 8 * 1024,
        lane_receive_window: 32 * 1024,
        receive_window: 64 * 1024,
        reassembly_buffer: 16 * 1024,
        unreliable_receive_buffer: 8 * 1024,
        reassembly_timeout: Duration::from_millis(500),
        send_buffer: 64 * 1024,
        redundancy_budget: 300,
        fec_buffer: 8 * 1024,
        ..LanesConfig::default()
    }
}

/// A sender's packet in the channel: its frames and its record.
struct InFlight {
    frames: Vec<u8>,
    record: LanesSent,
}

/// The sender and receiver lanes, the channel, and what the oracles track.
///
/// Input: a byte per lane with its mode (low 3 bits, modulo 5), redundancy (bits 4–5) and FEC
/// level (bits 6–7: none, low, medium, high), then
/// records of `op, argument`: op 0 sends a message of `argument × 37` bytes on lane
/// `argument % 4` (bit 7 of op: with a deadline of `argument` ms); 1 builds a packet; 2
/// delivers the oldest packet in the channel (bit 7: duplicated), 3 loses it, 4 delivers the
/// newest (reordering), 5 flips a byte in the oldest before delivering it; 6 lets `argument`
/// ms pass; 7 reads every lane; 8 hands the receiver a crafted LANE frame built from the next
/// bytes; 9 a crafted LANE_SKIP; 10 returns the receiver's control frames to the sender; 11 a
/// crafted FEC_REPAIR; 12 a crafted FEC_SOURCE around a crafted LANE frame.
///
/// Oracles: no panic; the receiver's reassembly, unread-message and flow-control usage never
/// exceed their limits; a message is delivered at most once, intact (its bytes are a pattern of
/// its lane and number: FEC rebuilds packets exactly), never after a newer one on a sequenced
/// lane, and in order on a reliable-ordered lane; only crafted frames may make the receiver
/// close; FEC symbols held stay within `fec_buffer`.
pub fn lanes(data: &[u8]) {
    lanes_reached(data);
}

/// [`lanes`], reporting how far the input got.
pub fn lanes_reached(data: &[u8]) -> LanesReached {
    let mut input = Input(data);
    let mut now = epoch();
    let config = config();
    let peer = PeerLanes {
        max_lanes: config.max_lanes,
        max_message_size: config.max_message_size,
        lane_window: config.lane_receive_window,
        window: config.receive_window,
        decompress: CodecSet::ALL,
        zstd_dictionary: 0,
    };
    let mut tx = Lanes::new(&config);
    tx.set_peer(peer);
    let mut rx = Lanes::new(&config);
    rx.set_peer(peer);
    let mut modes = HashMap::new();
    for lane in 0..LANES {
        let b = input.u8();
        let mode = DeliveryMode::ALL[usize::from(b & 0x07) % 5];
        let redundancy = (b >> 4) & 0x03;
        let fec = FecLevel::ALL[usize::from(b >> 6)];
        // Bit 3 compresses (the messages' pattern repeats every 256 bytes): lz4 on even lanes,
        // zstd on odd ones.
        let compression = match (b & 0x08 != 0, lane % 2) {
            (false, _) => Compression::None,
            (true, 0) => Compression::Lz4,
            (true, _) => Compression::Zstd(1),
        };
        let lane_config = LaneConfig::new(mode)
            .with_redundancy(redundancy)
            .with_fec(fec)
            .with_compression(compression);
        if tx.configure(lane, lane_config).is_ok() {
            modes.insert(lane, mode);
        }
    }
    let mut channel: VecDeque<InFlight> = VecDeque::new();
    let mut reached = LanesReached::default();
    let mut delivered: HashSet<(u64, u64)> = HashSet::new();
    let mut last: HashMap<u64, u64> = HashMap::new();
    let mut next_seq: HashMap<u64, u64> = HashMap::new();
    // Lanes a crafted frame reached: their bytes and order are the stranger's to choose.
    let mut tainted: HashSet<u64> = HashSet::new();
    let one_way = Duration::from_millis(10);
    for _ in 0..MAX_RECORDS {
        let Some(op) = input.byte() else {
            break;
        };
        let arg = input.u8();
        match op & 0x0f {
            0 => {
                let lane = u64::from(arg) % LANES;
                let seq = next_seq.get(&lane).copied().unwrap_or(0);
                let len = usize::from(arg) * 37;
                let deadline =
                    (op & 0x80 != 0).then(|| now + Duration::from_millis(u64::from(arg)));
                let options = SendOptions::default().with_deadline(deadline);
                if tx.send(now, lane, message(lane, seq, len), options).is_ok() {
                    next_seq.insert(lane, seq + 1);
                    reached.sent += 1;
                }
            }
            1 => {
                let mut frames = Vec::new();
                let mut record = LanesSent::default();
                tx.write_control_frames(&mut frames, PACKET, &mut record);
                loop {
                    let room = PACKET.saturating_sub(frames.len());
                    if !tx.write_frame(now, &mut frames, room, &mut record) {
                        break;
                    }
                }
                if !frames.is_empty() {
                    let room = PACKET.saturating_sub(frames.len());
                    tx.write_copies(now, &mut frames, room, &mut record);
                    tx.end_packet();
                    channel.push_back(InFlight { frames, record });
                }
            }
            2..=5 => {
                let packet = if op & 0x0f == 4 {
                    channel.pop_back()
                } else {
                    channel.pop_front()
                };
                let Some(mut packet) = packet else {
                    continue;
                };
                if op & 0x0f == 3 {
                    tx.on_lost(&packet.record);
                    continue;
                }
                if op & 0x0f == 5 && !packet.frames.is_empty() {
                    // Corruption the integrity tag would catch: the packet is lost.
                    let at = usize::from(arg) % packet.frames.len();
                    packet.frames[at] ^= 0x5a;
                    tx.on_lost(&packet.record);
                    continue;
                }
                let copies = if op & 0x80 != 0 { 2 } else { 1 };
                for _ in 0..copies {
                    if !deliver(&mut rx, now, &packet.frames, one_way, &mut reached) {
                        return reached;
                    }
                }
                tx.on_acked(&packet.record);
                reached.packets += 1;
            }
            6 => {
                now += Duration::from_millis(u64::from(arg));
                tx.on_timeout(now);
                rx.on_timeout(now);
            }
            7 => {
                while let Some(m) = rx.recv(now, None) {
                    let mode = modes.get(&m.lane).copied().unwrap_or_default();
                    assert!(
                        delivered.insert((m.lane, m.sequence)),
                        "message {}/{} delivered twice",
                        m.lane,
                        m.sequence
                    );
                    reached.delivered += 1;
                    if tainted.contains(&m.lane) {
                        continue;
                    }
                    assert_eq!(
                        m.data,
                        message(m.lane, m.sequence, m.data.len()),
                        "message {}/{} corrupted",
                        m.lane,
                        m.sequence
                    );
                    if let Some(&prev) = last.get(&m.lane) {
                        match mode {
                            DeliveryMode::ReliableOrdered => {
                                assert!(m.sequence > prev, "lane {} out of order", m.lane)
                            }
                            DeliveryMode::ReliableSequenced | DeliveryMode::UnreliableSequenced => {
                                assert!(
                                    m.sequence > prev,
                                    "sequenced lane {} delivered {} after {prev}",
                                    m.lane,
                                    m.sequence
                                );
                            }
                            DeliveryMode::ReliableUnordered | DeliveryMode::Unreliable => {}
                        }
                    }
                    let prev = last.get(&m.lane).copied().unwrap_or(0);
                    last.insert(m.lane, prev.max(m.sequence));
                }
            }
            8 => {
                let mut p = Input(input.take(usize::from(arg) % 48));
                let lane = u64::from(p.u8()) % (LANES + 1);
                let mode = DeliveryMode::ALL[usize::from(p.u8()) % 5];
                let seq = u64::from(p.u8());
                let offset = u64::from(p.u8()) * 97;
                let fragment = (p.u8() & 1 == 1).then(|| Fragment {
                    message_len: VarInt::saturating_from_u64(u64::from(p.u8()) * 41),
                    offset: VarInt::saturating_from_u64(u64::from(p.u8())),
                });
                let data = Bytes::copy_from_slice(p.0);
                tainted.insert(lane);
                let frame = Frame::Lane(LaneFrame {
                    header: LaneHeader {
                        lane: VarInt::saturating_from_u64(lane),
                        mode,
                        sequence: VarInt::saturating_from_u64(seq),
                        offset: VarInt::saturating_from_u64(offset),
                        fragment,
                        deadline_ms: None,
                        copy: false,
                        compressed: false,
                        len: data.len(),
                        explicit_len: true,
                    },
                    data,
                });
                let mut buf = Vec::new();
                frame.encode(&mut buf);
                reached.crafted += 1;
                // The encoder may write a frame the decoder refuses (a fragment past its
                // message): then it never reaches the lanes, as on the wire.
                if !deliver_crafted(&mut rx, now, &buf, one_way, &mut reached) {
                    return reached;
                }
            }
            9 => {
                let lane = u64::from(arg) % (LANES + 1);
                tainted.insert(lane);
                let skip = Frame::LaneSkip(LaneSkip {
                    lane: VarInt::saturating_from_u64(lane),
                    sequence: VarInt::saturating_from_u64(u64::from(input.u8())),
                    offset: VarInt::saturating_from_u64(u64::from(input.u8()) * 113),
                });
                let mut buf = Vec::new();
                skip.encode(&mut buf);
                reached.crafted += 1;
                if !deliver_crafted(&mut rx, now, &buf, one_way, &mut reached) {
                    return reached;
                }
            }
            11 => {
                let mut p = Input(input.take(usize::from(arg) % 64));
                let lane = u64::from(p.u8()) % (LANES + 1);
                tainted.insert(lane);
                let repair = Frame::FecRepair(FecRepair {
                    lane: VarInt::saturating_from_u64(lane),
                    group: VarInt::saturating_from_u64(u64::from(p.u8())),
                    sources: p.u8() % 40,
                    repairs: p.u8() % 20,
                    index: p.u8() % 4,
                    age_ms: VarInt::saturating_from_u64(u64::from(p.u8())),
                    shard: Bytes::copy_from_slice(p.0),
                });
                let mut buf = Vec::new();
                repair.encode(&mut buf);
                reached.crafted += 1;
                if !deliver_crafted(&mut rx, now, &buf, one_way, &mut reached) {
                    return reached;
                }
            }
            12 => {
                let mut p = Input(input.take(usize::from(arg) % 48));
                let lane = u64::from(p.u8()) % (LANES + 1);
                tainted.insert(lane);
                let group = u64::from(p.u8());
                let index = p.u8() % 10;
                let mode = DeliveryMode::ALL[usize::from(p.u8()) % 5];
                let seq = u64::from(p.u8());
                let data = Bytes::copy_from_slice(p.0);
                let mut payload = Vec::new();
                Frame::Lane(LaneFrame {
                    header: LaneHeader {
                        lane: VarInt::saturating_from_u64(lane),
                        mode,
                        sequence: VarInt::saturating_from_u64(seq),
                        offset: VarInt::saturating_from_u64(seq * 300),
                        fragment: None,
                        deadline_ms: None,
                        copy: false,
                        compressed: false,
                        len: data.len(),
                        explicit_len: true,
                    },
                    data,
                })
                .encode(&mut payload);
                let source = Frame::FecSource(FecSource {
                    lane: VarInt::saturating_from_u64(lane),
                    group: VarInt::saturating_from_u64(group),
                    index,
                    payload: payload.into(),
                });
                let mut buf = Vec::new();
                source.encode(&mut buf);
                reached.crafted += 1;
                if !deliver_crafted(&mut rx, now, &buf, one_way, &mut reached) {
                    return reached;
                }
            }
            10 => {
                let mut frames = Vec::new();
                let mut record = LanesSent::default();
                rx.write_control_frames(&mut frames, PACKET, &mut record);
                for frame in Iter::new(Bytes::from(frames)).map_while(Result::ok) {
                    match frame {
                        Frame::MaxLaneData { lane, max } => {
                            tx.on_max_lane_data(lane.into_inner(), max.into_inner());
                        }
                        Frame::MaxLanesData(max) => tx.on_max_lanes_data(max.into_inner()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        check(&rx, &config);
        reached.fec_recovered = rx.stats().fec_recovered;
    }
    reached
}

/// The bytes of message `seq` of `lane`, `len` long.
fn message(lane: u64, seq: u64, len: usize) -> Bytes {
    (0..len)
        .map(|k| (k as u64 ^ seq.wrapping_mul(131) ^ lane.wrapping_mul(7919)) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Hands the receiver the lane frames of a sender's packet. A genuine packet must never make
/// it close.
fn deliver(
    rx: &mut Lanes,
    now: std::time::Instant,
    frames: &[u8],
    one_way: Duration,
    reached: &mut LanesReached,
) -> bool {
    for frame in Iter::new(Bytes::copy_from_slice(frames)) {
        let frame = frame.expect("the sender writes frames the decoder reads");
        let result = match &frame {
            Frame::Lane(f) => rx.on_frame(now, f, one_way),
            Frame::LaneSkip(s) => rx.on_skip(s),
            Frame::FecSource(f) => rx.on_fec_source(now, f, one_way),
            Frame::FecRepair(f) => rx.on_fec_repair(now, f, one_way),
            Frame::MaxLaneData { .. } | Frame::MaxLanesData(_) => Ok(()),
            other => panic!("unexpected frame {other:?} from the lanes"),
        };
        if let Err(e) = result {
            assert!(
                reached.crafted > 0,
                "a genuine packet closed the receiver: {e}"
            );
            reached.closed = true;
            return false;
        }
    }
    true
}

/// Hands the receiver crafted frames; a violation closes it (and ends the run).
fn deliver_crafted(
    rx: &mut Lanes,
    now: std::time::Instant,
    buf: &[u8],
    one_way: Duration,
    reached: &mut LanesReached,
) -> bool {
    for frame in Iter::new(Bytes::copy_from_slice(buf)).map_while(Result::ok) {
        let result = match &frame {
            Frame::Lane(f) => rx.on_frame(now, f, one_way),
            Frame::LaneSkip(s) => rx.on_skip(s),
            Frame::FecSource(f) => rx.on_fec_source(now, f, one_way),
            Frame::FecRepair(f) => rx.on_fec_repair(now, f, one_way),
            _ => Ok(()),
        };
        if result.is_err() {
            reached.closed = true;
            return false;
        }
    }
    true
}

/// The receiver's memory stays within its limits.
fn check(rx: &Lanes, config: &LanesConfig) {
    let usage = rx.usage();
    assert!(
        usage.partial_bytes <= config.reassembly_buffer,
        "reassembly {usage:?}"
    );
    assert!(
        usage.unreliable_ready_bytes <= config.unreliable_receive_buffer,
        "unread {usage:?}"
    );
    assert!(usage.conn_received <= usage.conn_window, "credit {usage:?}");
    assert!(usage.fec_bytes as u64 <= config.fec_buffer, "fec {usage:?}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Two reliable lanes, one of each unreliable kind; a script that sends, builds, loses,
    /// duplicates, reorders and reads.
    fn script() -> Vec<u8> {
        let mut s = vec![0x00, 0x21, 0x03, 0x14];
        for k in 0..40u8 {
            s.extend([0x00, k.wrapping_mul(7) % 200, 0x01, 0, 0x02, 0]);
            if k % 5 == 0 {
                s.extend([0x01, 0, 0x03, 0, 0x01, 0, 0x04, 0, 0x82, 0]);
            }
            s.extend([0x06, 20, 0x07, 0, 0x0a, 0]);
        }
        for _ in 0..40 {
            s.extend([0x06, 200, 0x01, 0, 0x02, 0, 0x07, 0, 0x0a, 0]);
        }
        s
    }

    #[test]
    fn a_script_goes_deep_and_keeps_the_contracts() {
        let reached = lanes_reached(&script());
        assert!(reached.sent >= 39, "{reached:?}");
        // Lanes 0 and 1 are reliable (about 20 messages); the unreliable ones lose some.
        assert!(reached.delivered >= 20, "{reached:?}");
        assert!(!reached.closed, "{reached:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_inputs_keep_the_oracles(data in proptest::collection::vec(any::<u8>(), 0..800)) {
            lanes(&data);
        }
    }
}
