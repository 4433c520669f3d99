//! The reassembly buffer: trimming, ordering, the small-piece policy and its memory bound.

use bytes::Bytes;
use proptest::prelude::*;

use crate::streams::assembler::{Assembler, SMALL, TooFragmented};

const NO_LIMIT: usize = usize::MAX;

fn drain(a: &mut Assembler) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = a.read(usize::MAX) {
        out.extend_from_slice(&chunk);
    }
    out
}

fn bytes(range: std::ops::Range<u8>) -> Bytes {
    Bytes::from(range.collect::<Vec<u8>>())
}

#[test]
fn in_order_data_is_handed_out_zero_copy() {
    let mut a = Assembler::default();
    let datagram = Bytes::from(vec![9u8; 1200]);
    let frame = datagram.slice(100..1100);
    a.insert(0, frame.clone(), NO_LIMIT).expect("in bounds");
    let got = a.read(usize::MAX).expect("readable");
    assert_eq!(got.as_ptr(), frame.as_ptr(), "the datagram's own bytes");
    assert_eq!((a.read_offset(), a.buffered()), (1000, 0));
}

#[test]
fn overlaps_and_duplicates_are_trimmed() {
    let mut a = Assembler::default();
    a.insert(10, bytes(10..20), NO_LIMIT).expect("ok");
    a.insert(30, bytes(30..40), NO_LIMIT).expect("ok");
    assert!(!a.has_readable());
    assert_eq!(a.contiguous_end(), 0);
    // Covers both chunks and the gaps around them.
    a.insert(5, bytes(5..45), NO_LIMIT).expect("ok");
    a.insert(12, bytes(12..18), NO_LIMIT).expect("duplicate");
    assert_eq!(a.buffered(), 40);
    a.insert(0, bytes(0..7), NO_LIMIT).expect("ok");
    assert_eq!(a.contiguous_end(), 45);
    assert_eq!(drain(&mut a), (0..45).collect::<Vec<u8>>());
    // Data below the read offset is ignored.
    a.insert(0, bytes(0..45), NO_LIMIT).expect("old");
    assert_eq!(a.buffered(), 0);
    assert_eq!(a.ranges(), 1);
}

#[test]
fn reads_respect_max_len() {
    let mut a = Assembler::default();
    a.insert(0, Bytes::from(vec![1u8; 600]), NO_LIMIT)
        .expect("ok");
    assert_eq!(a.read(100).map(|b| b.len()), Some(100));
    assert_eq!(a.read(1000).map(|b| b.len()), Some(500));
    assert!(a.read(10).is_none());
}

#[test]
fn tiny_reversed_frames_merge_into_few_chunks() {
    // 20 000 one-byte frames in reverse order: one range, and chunks of at least SMALL bytes
    // (the frames are copied and merged), so the held memory stays near the data size.
    let mut a = Assembler::default();
    let datagram = Bytes::from(vec![7u8; 1200]);
    let n = 20_000u64;
    for offset in (1..n).rev() {
        a.insert(offset, datagram.slice(0..1), 4)
            .expect("one range + the gap at 0");
    }
    assert_eq!(a.ranges(), 1);
    assert!(
        a.chunks() <= (2 * n as usize) / SMALL + 1,
        "{} chunks",
        a.chunks()
    );
    a.insert(0, datagram.slice(0..1), 4).expect("fills the gap");
    assert_eq!(drain(&mut a).len(), n as usize);
}

#[test]
fn tiny_frames_with_gaps_hit_the_fragment_bound() {
    let mut a = Assembler::default();
    let datagram = Bytes::from(vec![7u8; 1200]);
    let mut failed = None;
    for k in 0..5_000u64 {
        if let Err(e) = a.insert(2 * k + 1, datagram.slice(0..1), 64) {
            failed = Some((k, e));
            break;
        }
    }
    let (k, e) = failed.expect("the bound is hit");
    assert_eq!(e, TooFragmented { ranges: 65 });
    assert_eq!(k, 64);
    assert!(a.chunks() <= 64);
    assert_eq!(a.buffered(), 64);
}

#[test]
fn small_pieces_do_not_pin_their_datagrams() {
    let mut a = Assembler::default();
    let datagram = Bytes::from(vec![1u8; 1200]);
    a.insert(100, datagram.slice(0..10), NO_LIMIT).expect("ok");
    // The stored piece is a copy: the datagram is referenced only by us.
    assert!(datagram.is_unique());
    // Large pieces stay zero-copy.
    a.insert(1000, datagram.slice(0..SMALL), NO_LIMIT)
        .expect("ok");
    assert!(!datagram.is_unique());
}

/// Splits `data` into frames at `cuts`, adds duplicates and overlapping frames, shuffles.
fn frames_of(
    data: &[u8],
    cuts: &[usize],
    extra: &[(usize, usize)],
    order: &[usize],
) -> Vec<(u64, Bytes)> {
    let datagram = Bytes::copy_from_slice(data);
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.extend([0, data.len()]);
    points.sort_unstable();
    points.dedup();
    let mut frames: Vec<(u64, Bytes)> = points
        .windows(2)
        .map(|w| (w[0] as u64, datagram.slice(w[0]..w[1])))
        .collect();
    for &(start, len) in extra {
        let start = start % (data.len() + 1);
        let end = (start + len).min(data.len());
        frames.push((start as u64, datagram.slice(start..end)));
    }
    // A deterministic shuffle driven by `order`.
    for (i, &j) in order.iter().enumerate() {
        let n = frames.len();
        frames.swap(i % n, j % n);
    }
    frames
}

proptest! {
    /// Random writes split into random frames, delivered in random order with duplicates and
    /// overlaps, reassemble to exactly the bytes written, with reads interleaved.
    #[test]
    fn reassembles_exactly(
        data in proptest::collection::vec(any::<u8>(), 1..3000),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
        extra in proptest::collection::vec((any::<usize>(), 0usize..700), 0..15),
        order in proptest::collection::vec(any::<usize>(), 0..80),
        read_sizes in proptest::collection::vec(1usize..600, 1..20),
    ) {
        let mut a = Assembler::default();
        let mut out = Vec::new();
        let frames = frames_of(&data, &cuts, &extra, &order);
        for (k, (offset, frame)) in frames.into_iter().enumerate() {
            a.insert(offset, frame, NO_LIMIT).expect("no bound");
            let max = read_sizes[k % read_sizes.len()];
            if let Some(chunk) = a.read(max) {
                prop_assert!(chunk.len() <= max);
                out.extend_from_slice(&chunk);
            }
        }
        out.extend(drain(&mut a));
        prop_assert_eq!(out, data);
        prop_assert_eq!(a.buffered(), 0);
        prop_assert_eq!(a.ranges(), 1);
    }

    /// Whatever the arrival pattern, chunks stay within the policy's bound: at most
    /// 2 × bytes / SMALL + 1 per disjoint range.
    #[test]
    fn chunk_count_is_bounded(
        frames in proptest::collection::vec((0u64..4000, 1usize..40), 1..400),
    ) {
        let datagram = Bytes::from(vec![3u8; 1200]);
        let mut a = Assembler::default();
        for (offset, len) in frames {
            a.insert(offset, datagram.slice(0..len), NO_LIMIT).expect("no bound");
            // No two adjacent contiguous chunks are both small (the front one, split by a
            // read, aside): k chunks in a run of n bytes means n >= (k - 1) / 2 * SMALL.
            let bound = 2 * a.buffered() as usize / SMALL + a.ranges() + 1;
            prop_assert!(a.chunks() <= bound, "{} chunks > {}", a.chunks(), bound);
        }
    }
}
