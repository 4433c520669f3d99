//! Compression through the lanes, frame by frame: what the sender compresses (only with codecs
//! the peer announced, only when it shrinks, per lane, per message, per strategy) and what the
//! receiver does with envelopes a hostile peer crafts (a counted drop of that message, never a
//! panic nor a connection error).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::wire::frame::{DeliveryMode, LaneFrame, LaneHeader};

#[allow(clippy::disallowed_methods)] // a test epoch: only durations are added to it
fn epoch() -> Instant {
    Instant::now()
}

const ONE_WAY: Duration = Duration::from_millis(10);
const PACKET: usize = 1100;

fn peer(config: &LanesConfig) -> PeerLanes {
    PeerLanes {
        max_lanes: config.max_lanes,
        max_message_size: config.max_message_size,
        lane_window: config.lane_receive_window,
        window: config.receive_window,
        decompress: config.decompress,
        zstd_dictionary: config.zstd_dictionary.as_ref().map_or(0, |d| d.id()),
    }
}

/// A sender set up for a receiver with `rx`'s configuration, and that receiver.
pub(super) fn pair(tx: &LanesConfig, rx: &LanesConfig) -> (Lanes, Lanes) {
    let mut sender = Lanes::new(tx);
    sender.set_peer(peer(rx));
    let mut receiver = Lanes::new(rx);
    receiver.set_peer(peer(tx));
    (sender, receiver)
}

/// Moves everything `tx` has to send to `rx`, packet by packet; returns the bytes of frames.
pub(super) fn transfer(tx: &mut Lanes, rx: &mut Lanes, now: Instant) -> usize {
    let mut total = 0;
    loop {
        let mut frames = Vec::new();
        let mut record = LanesSent::default();
        loop {
            let room = PACKET - frames.len();
            if !tx.write_frame(now, &mut frames, room, &mut record) {
                break;
            }
        }
        if frames.is_empty() {
            return total;
        }
        tx.end_packet();
        total += frames.len();
        for frame in Iter::new(Bytes::from(frames)) {
            if let Ok(Frame::Lane(f)) = frame {
                rx.on_frame(now, &f, ONE_WAY).expect("a genuine frame");
            }
        }
        tx.on_acked(&record);
    }
}

/// A game-ish text message that compresses well.
fn text(n: usize) -> Bytes {
    let mut out = Vec::new();
    let mut i = 0u32;
    while out.len() < n {
        out.extend_from_slice(format!("{{\"id\":{i},\"x\":{},\"hp\":100}},", i * 3).as_bytes());
        i += 1;
    }
    out.truncate(n);
    out.into()
}

fn read_all(rx: &mut Lanes, now: Instant) -> Vec<Message> {
    std::iter::from_fn(|| rx.recv(now, None)).collect()
}

#[test]
fn compressed_messages_cross_whole_and_fragmented_in_every_codec() {
    let config = LanesConfig::default();
    let (mut tx, mut rx) = pair(&config, &config);
    let now = epoch();
    let lanes = [
        (0, DeliveryMode::ReliableOrdered, Compression::Zstd(3)),
        (1, DeliveryMode::Unreliable, Compression::Lz4),
        (2, DeliveryMode::ReliableUnordered, Compression::Zstd(19)),
    ];
    let mut sent = Vec::new();
    for (lane, mode, compression) in lanes {
        tx.configure(lane, LaneConfig::new(mode).with_compression(compression))
            .expect("config");
        for len in [40, 900, 20_000] {
            let data = text(len + lane as usize);
            tx.send(now, lane, data.clone(), SendOptions::default())
                .expect("send");
            sent.push((lane, data));
        }
    }
    let wire = transfer(&mut tx, &mut rx, now);
    let got = read_all(&mut rx, now);
    assert_eq!(got.len(), sent.len());
    for (lane, data) in &sent {
        assert!(
            got.iter().any(|m| m.lane == *lane && m.data == *data),
            "lane {lane}: {} bytes not delivered intact",
            data.len()
        );
    }
    let total: usize = sent.iter().map(|(_, d)| d.len()).sum();
    assert!(wire * 4 < total, "{wire} bytes of frames for {total}");
    let (txs, rxs) = (tx.stats(), rx.stats());
    // The 40-byte messages may not shrink: those go raw.
    assert!(txs.compressed_messages_sent >= 6);
    assert_eq!(txs.compressed_messages_sent + txs.compression_skipped, 9);
    assert_eq!(txs.bytes_sent, total as u64);
    assert!(txs.compression_saved_bytes > total as u64 * 3 / 4);
    assert_eq!(
        rxs.compressed_messages_received,
        txs.compressed_messages_sent
    );
    assert_eq!(rxs.bytes_received, total as u64);
    assert_eq!(rxs.decompression_failed, 0);
}

#[test]
fn a_sender_compresses_only_with_what_the_peer_announced() {
    let now = epoch();
    let lz4_only = LanesConfig {
        decompress: CodecSet {
            lz4: true,
            zstd: false,
        },
        ..LanesConfig::default()
    };
    let (mut tx, mut rx) = pair(&LanesConfig::default(), &lz4_only);
    tx.configure(
        0,
        LaneConfig::default().with_compression(Compression::Zstd(3)),
    )
    .expect("config");
    let data = text(2000);
    // The lane's zstd: not announced, sent raw.
    tx.send(now, 0, data.clone(), SendOptions::default())
        .expect("send");
    // This message's lz4: announced.
    let lz4 = SendOptions::default().with_compression(Compression::Lz4);
    tx.send(now, 0, data.clone(), lz4).expect("send");
    transfer(&mut tx, &mut rx, now);
    let got = read_all(&mut rx, now);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|m| m.data == data));
    let stats = tx.stats();
    assert_eq!(
        (stats.compressed_messages_sent, stats.compression_skipped),
        (1, 1)
    );
    assert_eq!(rx.stats().compressed_messages_received, 1);

    // A peer that announced nothing (an older weir) never meets the COMPRESSED bit.
    let none = LanesConfig {
        decompress: CodecSet::NONE,
        ..LanesConfig::default()
    };
    let (mut tx, mut rx) = pair(&LanesConfig::default(), &none);
    tx.send(now, 0, data.clone(), lz4).expect("send");
    transfer(&mut tx, &mut rx, now);
    assert_eq!(read_all(&mut rx, now)[0].data, data);
    assert_eq!(tx.stats().compressed_messages_sent, 0);
}

#[test]
fn dictionaries_are_used_only_when_both_ends_hold_the_same() {
    let now = epoch();
    let samples: Vec<Bytes> = (0..200).map(|i| text(100 + i % 50)).collect();
    let trained = zstd::dict::from_samples(&samples, 2048).expect("trainable");
    let with = |bytes: &[u8]| LanesConfig {
        zstd_dictionary: Some(ZstdDictionary::new(bytes.to_vec())),
        ..LanesConfig::default()
    };
    let same = with(&trained);
    let message = text(120);
    let zstd = SendOptions::default().with_compression(Compression::Zstd(3));

    let (mut tx, mut rx) = pair(&same, &same);
    tx.send(now, 0, message.clone(), zstd).expect("send");
    let with_dictionary = transfer(&mut tx, &mut rx, now);
    assert_eq!(read_all(&mut rx, now)[0].data, message);
    assert_eq!(tx.stats().compressed_messages_sent, 1);

    // Different dictionaries: plain zstd, which this short message does not shrink with.
    let other = with(b"another dictionary, another game".as_slice());
    let (mut tx, mut rx) = pair(&same, &other);
    tx.send(now, 0, message.clone(), zstd).expect("send");
    let without = transfer(&mut tx, &mut rx, now);
    assert_eq!(read_all(&mut rx, now)[0].data, message);
    assert!(
        with_dictionary + 30 < without,
        "{with_dictionary} bytes with the dictionary, {without} without"
    );
    assert_eq!(rx.stats().decompression_failed, 0);
}

#[test]
fn adaptive_lanes_follow_the_strategy_compression_and_pinned_or_fixed_ones_do_not() {
    let now = epoch();
    let config = LanesConfig::default();
    let (mut tx, mut rx) = pair(&config, &config);
    tx.configure(1, LaneConfig::default().pinned())
        .expect("config");
    tx.configure(2, LaneConfig::default().with_compression(Compression::None))
        .expect("config");
    tx.set_strategy(FecLevel::None, None, Compression::Zstd(3));
    let data = text(3000);
    for lane in 0..3 {
        tx.send(now, lane, data.clone(), SendOptions::default())
            .expect("send");
    }
    transfer(&mut tx, &mut rx, now);
    assert_eq!(read_all(&mut rx, now).len(), 3);
    assert_eq!(tx.stats().compressed_messages_sent, 1);
    // Back to none: the next message on lane 0 goes raw.
    tx.set_strategy(FecLevel::None, None, Compression::None);
    tx.send(now, 0, data, SendOptions::default()).expect("send");
    assert_eq!(tx.stats().compressed_messages_sent, 1);
}

/// A crafted compressed LANE frame holding `envelope` whole.
fn compressed_frame(lane: u64, seq: u64, envelope: &[u8]) -> LaneFrame {
    LaneFrame {
        header: LaneHeader {
            lane: VarInt::saturating_from_u64(lane),
            mode: DeliveryMode::Unreliable,
            sequence: VarInt::saturating_from_u64(seq),
            offset: VarInt::ZERO,
            fragment: None,
            deadline_ms: None,
            copy: false,
            compressed: true,
            len: envelope.len(),
            explicit_len: true,
        },
        data: Bytes::copy_from_slice(envelope),
    }
}

#[test]
fn bombs_and_lies_are_counted_drops_of_their_message_only() {
    let now = epoch();
    let config = LanesConfig {
        max_message_size: 64 << 10,
        ..LanesConfig::default()
    };
    let mut rx = Lanes::new(&config);
    let zeros = vec![0u8; 1 << 20];
    let bomb = compression::compress(Compression::Zstd(19), None, &zeros).expect("shrinks");
    let lz4_bomb = compression::compress(Compression::Lz4, None, &zeros).expect("shrinks");
    let good = text(5000);
    let good_envelope = compression::compress(Compression::Lz4, None, &good).expect("shrinks");
    let mut corrupt = good_envelope.to_vec();
    let last = corrupt.len() - 1;
    corrupt[last / 2] ^= 0xff;
    corrupt.truncate(last);
    let frames: [&[u8]; 6] = [
        &bomb,
        &lz4_bomb,
        &[9, 10, 1, 2, 3],
        &corrupt,
        &[],
        &good_envelope,
    ];
    for (seq, envelope) in frames.iter().enumerate() {
        rx.on_frame(now, &compressed_frame(4, seq as u64, envelope), ONE_WAY)
            .expect("a bad envelope is no connection error");
    }
    let got = read_all(&mut rx, now);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].sequence, &got[0].data), (5, &good));
    let stats = rx.stats();
    assert_eq!(stats.decompression_failed, 5);
    assert_eq!(stats.compressed_messages_received, 1);
    let errors: Vec<(u64, DecompressError)> = std::iter::from_fn(|| rx.poll_event())
        .filter_map(|e| match e {
            LaneEvent::Undecodable {
                lane: 4,
                sequence,
                error,
            } => Some((sequence, error)),
            _ => None,
        })
        .collect();
    let too_large = DecompressError::TooLarge {
        len: 1 << 20,
        max: 64 << 10,
    };
    assert_eq!(errors[0], (0, too_large));
    assert_eq!(errors[1], (1, too_large));
    assert_eq!(errors[2], (2, DecompressError::UnknownCodec(9)));
    assert!(matches!(
        errors[3],
        (
            3,
            DecompressError::Corrupt(Codec::Lz4) | DecompressError::LengthMismatch { .. }
        )
    ));
    assert_eq!(errors[4], (4, DecompressError::Truncated));
}

#[test]
fn a_codec_this_end_never_announced_is_a_counted_drop() {
    let now = epoch();
    let config = LanesConfig {
        decompress: CodecSet::NONE,
        ..LanesConfig::default()
    };
    let mut rx = Lanes::new(&config);
    let data = text(2000);
    let lz4 = compression::compress(Compression::Lz4, None, &data).expect("shrinks");
    let dictionary = ZstdDictionary::new(text(500));
    let with_dict =
        compression::compress(Compression::Zstd(3), Some(&dictionary), &data).expect("shrinks");
    rx.on_frame(now, &compressed_frame(0, 0, &lz4), ONE_WAY)
        .expect("no connection error");
    assert!(rx.recv(now, None).is_none());
    // Zstd announced, but no dictionary held.
    let mut rx = Lanes::new(&LanesConfig::default());
    rx.on_frame(now, &compressed_frame(0, 0, &with_dict), ONE_WAY)
        .expect("no connection error");
    assert!(rx.recv(now, None).is_none());
    assert_eq!(rx.stats().decompression_failed, 1);
    let events: Vec<LaneEvent> = std::iter::from_fn(|| rx.poll_event()).collect();
    assert!(events.contains(&LaneEvent::Undecodable {
        lane: 0,
        sequence: 0,
        error: DecompressError::Unannounced(Codec::ZstdDictionary),
    }));
}

#[test]
fn lane_and_dictionary_settings_are_validated() {
    let bad = LaneConfig::default().with_compression(Compression::Zstd(23));
    assert_eq!(bad.validate(), Err(LaneConfigError::ZstdLevel(23)));
    let big = LanesConfig {
        zstd_dictionary: Some(ZstdDictionary::new(vec![
            0u8;
            compression::MAX_DICTIONARY_SIZE
                + 1
        ])),
        ..LanesConfig::default()
    };
    assert_eq!(
        big.validate(),
        Err(LaneConfigError::DictionarySize(
            compression::MAX_DICTIONARY_SIZE + 1
        ))
    );
}
