use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::congestion::test_epoch;
use crate::wire::VarInt;
use crate::wire::frame::FecRepair;

const RTT: Duration = Duration::from_millis(100);

fn symbol(index: usize, len: usize) -> Bytes {
    (0..len)
        .map(|k| (k * 31 + index * 7 + 1) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Sends `lens.len()` symbols through an encoder at `level` (one packet each, 1 ms apart) and
/// returns the repairs of the group.
fn encode_group(level: FecLevel, lens: &[usize]) -> Vec<FecRepair> {
    let t0 = test_epoch();
    let mut e = FecEncoder::new(3, level);
    for (i, &len) in lens.iter().enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        assert_eq!(e.next_source(), (0, i as u8));
        e.on_source(now, symbol(i, len), i as u64, None, RTT);
    }
    // A short group closes by time.
    e.on_timeout(t0 + RTT / 2, RTT);
    // One repair per packet: a group's repairs never share one.
    let mut repairs = Vec::new();
    let mut packet = lens.len() as u64;
    assert!(e.take_repair(t0, packet - 1, 1500).is_none() || lens.is_empty());
    while let Some(r) = e.take_repair(t0, packet, 1500) {
        repairs.push(r);
        assert!(e.take_repair(t0, packet, 1500).is_none());
        packet += 1;
    }
    repairs
}

#[test]
fn levels_have_their_documented_shapes() {
    assert_eq!(FecLevel::None.shape(), None);
    assert_eq!(FecLevel::Low.shape(), Some((8, 1)));
    assert_eq!(FecLevel::Medium.shape(), Some((4, 1)));
    assert_eq!(FecLevel::High.shape(), Some((4, 2)));
    assert_eq!(FecLevel::High.nominal_overhead(), 0.5);
    for level in FecLevel::ALL {
        assert_eq!(level.name().parse::<FecLevel>(), Ok(level));
    }
    assert!("extreme".parse::<FecLevel>().is_err());
}

/// Every way of losing up to `repairs` sources of a full group is repaired, at every level.
#[test]
fn every_level_rebuilds_its_documented_number_of_losses() {
    for level in [FecLevel::Low, FecLevel::Medium, FecLevel::High] {
        let (sources, repairs) = level.shape().unwrap();
        let lens: Vec<usize> = (0..usize::from(sources)).map(|i| 40 + i * 37).collect();
        let shards = encode_group(level, &lens);
        assert_eq!(shards.len(), usize::from(repairs), "{level}");
        for lost in 1u32..(1 << sources) {
            if lost.count_ones() > u32::from(repairs) {
                continue;
            }
            let mut d = FecDecoder::new(1 << 20);
            let mut rebuilt = Vec::new();
            for (i, &len) in lens.iter().enumerate() {
                if lost & (1 << i) == 0 {
                    assert!(d.on_source(3, 0, i as u8, &symbol(i, len)).is_none());
                }
            }
            for r in &shards {
                if let Some(got) = d.on_repair(3, r) {
                    rebuilt.extend(got.symbols);
                }
            }
            let expected: Vec<Bytes> = (0..lens.len())
                .filter(|i| lost & (1 << i) != 0)
                .map(|i| symbol(i, lens[i]))
                .collect();
            assert_eq!(rebuilt, expected, "{level}, lost {lost:b}");
            assert_eq!(d.bytes(), 0, "a finished group keeps nothing");
        }
    }
}

/// One loss more than the repairs is not rebuilt (and not made up).
#[test]
fn too_many_losses_rebuild_nothing() {
    let lens = [100, 200, 300, 400];
    let shards = encode_group(FecLevel::High, &lens);
    let mut d = FecDecoder::new(1 << 20);
    assert!(d.on_source(3, 0, 0, &symbol(0, 100)).is_none());
    for r in &shards[..1] {
        assert!(d.on_repair(3, r).is_none());
    }
    assert!(d.bytes() > 0);
}

/// A group closes early when half an RTT passes, and by its earliest deadline less the
/// one-way delay; repairs never go in the packet of the group's last source.
#[test]
fn groups_close_in_time_and_repairs_wait_for_the_next_packet() {
    let t0 = test_epoch();
    let mut e = FecEncoder::new(0, FecLevel::Low);
    assert!(!e.on_source(t0, symbol(0, 50), 7, None, RTT));
    assert_eq!(e.next_timeout(), Some(t0 + RTT / 2));
    assert!(e.wrote_in(7) && !e.wrote_in(8));
    assert!(!e.on_timeout(t0 + RTT / 4, RTT));
    assert!(e.on_timeout(t0 + RTT / 2, RTT));
    assert!(!e.has_repair(7) && e.has_repair(8));
    let r = e.take_repair(t0 + RTT / 2 + Duration::from_millis(3), 8, 1500);
    let r = r.expect("a repair for the next packet");
    assert_eq!((r.sources, r.repairs, r.index), (1, 1, 0));
    assert_eq!(r.age_ms, VarInt::from_u32(53));

    // A deadline 80 ms away closes the group by 80 - 50 - 2 = 28 ms.
    let mut e = FecEncoder::new(0, FecLevel::Medium);
    let deadline = t0 + Duration::from_millis(80);
    e.on_source(t0, symbol(0, 50), 1, Some(deadline), RTT);
    assert_eq!(e.next_timeout(), Some(t0 + Duration::from_millis(28)));
    // A deadline already too close closes the group at once.
    let mut e = FecEncoder::new(0, FecLevel::Medium);
    assert!(e.on_source(t0, symbol(0, 50), 1, Some(t0 + RTT / 4), RTT));
    // Repairs past use are dropped.
    assert!(e.has_repairs());
    e.on_timeout(t0 + 2 * RTT, RTT);
    assert!(!e.has_repairs());
}

/// Switching the level closes the open group with the old shape.
#[test]
fn a_level_change_closes_the_open_group() {
    let t0 = test_epoch();
    let mut e = FecEncoder::new(0, FecLevel::High);
    e.on_source(t0, symbol(0, 50), 1, None, RTT);
    e.on_source(t0, symbol(1, 60), 2, None, RTT);
    e.set_level(FecLevel::None, RTT);
    let r = e
        .take_repair(t0, 3, 1500)
        .expect("repairs of the closed group");
    assert_eq!((r.sources, r.repairs), (2, 2));
    assert_eq!(e.next_source(), (1, 0));
}

fn repair(group: u64, sources: u8, repairs: u8, index: u8, len: usize) -> FecRepair {
    FecRepair {
        lane: VarInt::ZERO,
        group: VarInt::saturating_from_u64(group),
        sources,
        repairs,
        index,
        age_ms: VarInt::ZERO,
        shard: Bytes::from(vec![0xa5; len]),
    }
}

/// Repairs for groups that never existed, with absurd or inconsistent shapes, and floods of
/// sources: dropped and counted, and the held bytes stay within the budget.
#[test]
fn lies_are_dropped_within_the_budget() {
    let mut d = FecDecoder::new(16 << 10);
    for bad in [
        repair(1, 0, 1, 0, 10),
        repair(1, 33, 1, 0, 10),
        repair(1, 4, 0, 0, 10),
        repair(1, 4, 17, 0, 10),
        repair(1, 4, 2, 2, 10),
        repair(1, 4, 2, 0, 11),
        repair(1, 4, 2, 0, 0),
    ] {
        assert!(d.on_repair(0, &bad).is_none());
    }
    assert_eq!(d.dropped, 7);
    assert!(d.on_repair(0, &repair(2, 4, 2, 0, 100)).is_none());
    assert!(d.on_repair(0, &repair(2, 3, 2, 1, 100)).is_none());
    assert_eq!(d.dropped, 8);
    // Sources the group does not have room for.
    assert!(d.on_source(0, 2, 40, b"x").is_none());
    assert_eq!(d.dropped, 9);
    // A source longer than the group's shards cannot be in it: nothing is made up.
    d.on_source(0, 2, 1, &[7; 200]);
    d.on_source(0, 2, 2, &[7; 20]);
    d.on_source(0, 2, 3, &[7; 20]);
    assert!(d.on_repair(0, &repair(2, 4, 2, 1, 100)).is_none());
    assert_eq!(d.dropped, 10);
    // A flood of groups that never complete.
    for group in 0..100_000u64 {
        d.on_source(group % 7, group, (group % 4) as u8, &[1; 1000]);
        d.on_repair(group % 7, &repair(group, 4, 1, 0, 1002));
        assert!(d.bytes() <= 16 << 10);
    }
    assert!(d.groups_held() <= 1024);
}

proptest! {
    /// Any source lengths, any losses within the repairs: the lost sources come back intact.
    #[test]
    fn arbitrary_groups_rebuild(
        level in prop::sample::select(vec![FecLevel::Low, FecLevel::Medium, FecLevel::High]),
        lens in prop::collection::vec(0usize..1200, 1..=8),
        lost in any::<u8>(),
    ) {
        let (sources, repairs) = level.shape().unwrap();
        let lens: Vec<usize> = lens.into_iter().take(usize::from(sources)).collect();
        let shards = encode_group(level, &lens);
        // A group closed short (the encoder saw fewer sources) still says how many it had.
        prop_assert!(shards.iter().all(|r| usize::from(r.sources) == lens.len()));
        let lost: Vec<usize> = (0..lens.len()).filter(|i| lost & (1 << i) != 0).collect();
        let mut d = FecDecoder::new(1 << 20);
        let mut rebuilt = Vec::new();
        for (i, &len) in lens.iter().enumerate() {
            if !lost.contains(&i) {
                d.on_source(0, 0, i as u8, &symbol(i, len));
            }
        }
        for r in &shards {
            let mut r = r.clone();
            r.lane = VarInt::ZERO;
            if let Some(got) = d.on_repair(0, &r) {
                rebuilt.extend(got.symbols);
            }
        }
        if lost.len() <= usize::from(repairs) {
            let expected: Vec<Bytes> = lost.iter().map(|&i| symbol(i, lens[i])).collect();
            prop_assert_eq!(rebuilt, expected);
        } else {
            prop_assert!(rebuilt.is_empty());
        }
    }
}
