use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::congestion::test_epoch;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A test payload that remembers who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packet {
    id: usize,
    size: usize,
}

impl PacketSize for Packet {
    fn packet_size(&self) -> usize {
        self.size
    }
}

fn packet(id: usize, size: usize) -> Packet {
    Packet { id, size }
}

/// Drives the shaper as the module documentation says until it has nothing to wait for;
/// returns `(time since t0, id)` of every release.
fn drain(shaper: &mut Shaper<Packet>, t0: Instant, mut now: Instant) -> Vec<(Duration, usize)> {
    let mut sent = Vec::new();
    loop {
        while let Some(p) = shaper.dequeue(now) {
            sent.push((now - t0, p.id));
        }
        match shaper.poll_timeout() {
            Some(at) => {
                assert!(at > now, "poll_timeout must move forward after a drain");
                now = at;
            }
            None => return sent,
        }
    }
}

/// 1000 B/s with a 1000-byte burst and 3 levels: one byte per millisecond.
fn slow(t0: Instant) -> Shaper<Packet> {
    let config = ShaperConfig {
        priorities: 3,
        ..ShaperConfig::new(1000, 1000)
    };
    Shaper::new(config, t0)
}

#[test]
fn the_burst_leaves_at_once_then_the_rate_paces() {
    let t0 = test_epoch();
    let mut shaper = slow(t0);
    for id in 0..5 {
        shaper.enqueue(t0, packet(id, 400), 0, None).unwrap();
    }
    assert_eq!((shaper.len(), shaper.queued_bytes()), (5, 2000));
    // 1000 bytes of burst: two 400-byte packets now (200 tokens left), then one per 400 ms
    // less the leftover: the third needs 200 more bytes = 200 ms.
    assert_eq!(
        drain(&mut shaper, t0, t0),
        [
            (ms(0), 0),
            (ms(0), 1),
            (ms(200), 2),
            (ms(600), 3),
            (ms(1000), 4)
        ]
    );
    let stats = shaper.stats();
    assert_eq!((stats.enqueued, stats.sent, stats.sent_bytes), (5, 5, 2000));
    assert!(shaper.is_empty());
    assert_eq!(shaper.poll_timeout(), None);
}

#[test]
fn poll_timeout_is_exact_and_dequeue_early_returns_nothing() {
    let t0 = test_epoch();
    let mut shaper = slow(t0);
    shaper.enqueue(t0, packet(0, 1000), 0, None).unwrap();
    shaper.enqueue(t0, packet(1, 500), 0, None).unwrap();
    assert_eq!(shaper.poll_timeout(), Some(t0), "ready now");
    assert_eq!(shaper.dequeue(t0).map(|p| p.id), Some(0));
    assert_eq!(shaper.poll_timeout(), Some(t0 + ms(500)));
    assert_eq!(shaper.dequeue(t0 + ms(499)), None);
    assert_eq!(shaper.poll_timeout(), Some(t0 + ms(500)));
    assert_eq!(shaper.dequeue(t0 + ms(500)).map(|p| p.id), Some(1));
}

#[test]
fn idle_time_refills_only_up_to_the_burst() {
    let t0 = test_epoch();
    let mut shaper = slow(t0);
    let later = t0 + Duration::from_secs(3600);
    for id in 0..4 {
        shaper.enqueue(later, packet(id, 500), 0, None).unwrap();
    }
    // An hour idle is still only 1000 bytes of burst.
    let sent = drain(&mut shaper, t0, later);
    let hour = Duration::from_secs(3600);
    assert_eq!(
        sent,
        [
            (hour, 0),
            (hour, 1),
            (hour + ms(500), 2),
            (hour + ms(1000), 3)
        ]
    );
}

#[test]
fn higher_priority_first_fifo_within_a_level() {
    let t0 = test_epoch();
    let mut shaper = slow(t0);
    // The bucket is emptied first so that the order, not the burst, decides.
    shaper.enqueue(t0, packet(99, 1000), 0, None).unwrap();
    assert_eq!(shaper.dequeue(t0).map(|p| p.id), Some(99));
    for (id, priority) in [(0, 0), (1, 2), (2, 1), (3, 2), (4, 0), (5, 1)] {
        shaper.enqueue(t0, packet(id, 100), priority, None).unwrap();
    }
    let order: Vec<usize> = drain(&mut shaper, t0, t0)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(order, [1, 3, 2, 5, 0, 4]);
}

#[test]
fn the_head_of_the_highest_level_is_not_overtaken() {
    let t0 = test_epoch();
    let mut shaper = slow(t0);
    shaper.enqueue(t0, packet(99, 800), 0, None).unwrap();
    assert!(shaper.dequeue(t0).is_some());
    // 200 tokens left: a 600-byte game packet must wait 400 ms; a 100-byte bulk packet could go
    // now but does not overtake it.
    shaper.enqueue(t0, packet(0, 100), 0, None).unwrap();
    shaper.enqueue(t0, packet(1, 600), 2, None).unwrap();
    assert_eq!(shaper.dequeue(t0), None);
    assert_eq!(drain(&mut shaper, t0, t0), [(ms(400), 1), (ms(500), 0)]);
}

#[test]
fn packets_that_cannot_meet_their_deadline_are_dropped_and_counted() {
    let t0 = test_epoch();
    let mut shaper = slow(t0);
    shaper.enqueue(t0, packet(99, 1000), 0, None).unwrap();
    assert!(shaper.dequeue(t0).is_some());
    // Needs 500 ms of tokens but must leave within 300 ms: dropped as soon as that is known.
    shaper
        .enqueue(t0, packet(0, 500), 2, Some(t0 + ms(300)))
        .unwrap();
    // Makes it exactly at its deadline: 100 ms of tokens, deadline 100 ms.
    shaper
        .enqueue(t0, packet(1, 100), 1, Some(t0 + ms(100)))
        .unwrap();
    // Expires in the queue behind it.
    shaper
        .enqueue(t0, packet(2, 100), 1, Some(t0 + ms(150)))
        .unwrap();
    shaper.enqueue(t0, packet(3, 100), 0, None).unwrap();
    // poll_timeout already skips the doomed head.
    assert_eq!(shaper.poll_timeout(), Some(t0 + ms(100)));
    assert_eq!(drain(&mut shaper, t0, t0), [(ms(100), 1), (ms(200), 3)]);
    let stats = shaper.stats();
    assert_eq!((stats.enqueued, stats.sent, stats.dropped_late), (5, 3, 2));
    // Already late on arrival: accepted and counted as dropped at once.
    shaper
        .enqueue(t0 + ms(500), packet(4, 10), 0, Some(t0 + ms(499)))
        .unwrap();
    assert_eq!(shaper.stats().dropped_late, 3);
    assert!(shaper.is_empty());
}

#[test]
fn bounded_by_packets_and_bytes() {
    let t0 = test_epoch();
    let config = ShaperConfig {
        max_queued_packets: Some(2),
        max_queued_bytes: None,
        ..ShaperConfig::new(1000, 1000)
    };
    let mut shaper = Shaper::new(config, t0);
    shaper.enqueue(t0, packet(0, 10), 0, None).unwrap();
    shaper.enqueue(t0, packet(1, 10), 0, None).unwrap();
    let err = shaper.enqueue(t0, packet(2, 10), 3, None).unwrap_err();
    assert_eq!(
        err,
        ShaperError::QueueFull {
            size: 10,
            queued_bytes: 20,
            queued_packets: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "shaper queue full: a 10-byte packet does not fit beside 2 packets (20 bytes)"
    );
    assert_eq!(shaper.stats().rejected_full, 1);
    assert_eq!(shaper.len(), 2);

    let config = ShaperConfig {
        max_queued_packets: None,
        max_queued_bytes: Some(1500),
        ..ShaperConfig::new(1000, 1000)
    };
    let mut shaper = Shaper::new(config, t0);
    shaper.enqueue(t0, packet(0, 1000), 0, None).unwrap();
    shaper
        .enqueue(t0, packet(1, 500), 0, Some(t0 + ms(10)))
        .unwrap();
    assert!(matches!(
        shaper.enqueue(t0, packet(2, 1), 0, None),
        Err(ShaperError::QueueFull {
            size: 1,
            queued_bytes: 1500,
            ..
        })
    ));
    // A packet already late is counted as dropped, not refused for want of room.
    shaper
        .enqueue(t0 + ms(1), packet(4, 100), 0, Some(t0))
        .unwrap();
    assert_eq!(shaper.stats().rejected_full, 1);
    assert_eq!(shaper.stats().dropped_late, 1);
    // Once packet 1 has expired, enqueue drops it to make room.
    shaper
        .enqueue(t0 + ms(11), packet(3, 500), 0, None)
        .unwrap();
    assert_eq!(shaper.queued_bytes(), 1500);
    assert_eq!(shaper.stats().dropped_late, 2);
}

#[test]
fn invalid_packets_are_refused() {
    let t0 = test_epoch();
    let mut shaper = slow(t0);
    let err = shaper.enqueue(t0, packet(0, 1001), 0, None).unwrap_err();
    assert_eq!(
        err,
        ShaperError::TooLarge {
            size: 1001,
            burst: 1000
        }
    );
    let err = shaper.enqueue(t0, packet(0, 10), 3, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "priority 3 does not exist (the shaper has 3 levels)"
    );
    assert_eq!(shaper.stats().rejected_invalid, 2);
    assert_eq!(shaper.stats().enqueued, 0);
    // Zero levels means one.
    let shaper = Shaper::<Packet>::new(
        ShaperConfig {
            priorities: 0,
            ..ShaperConfig::new(1, 1)
        },
        t0,
    );
    assert_eq!(shaper.config().priorities, 1);
}

#[test]
fn zero_rate_releases_the_burst_only_until_the_rate_is_raised() {
    let t0 = test_epoch();
    let mut shaper = Shaper::new(ShaperConfig::new(0, 1000), t0);
    for id in 0..3 {
        shaper.enqueue(t0, packet(id, 400), 0, None).unwrap();
    }
    assert_eq!(drain(&mut shaper, t0, t0), [(ms(0), 0), (ms(0), 1)]);
    assert_eq!(shaper.poll_timeout(), None);
    assert_eq!(shaper.dequeue(t0 + Duration::from_secs(1000)), None);
    // 1000 B/s from 1000 s on: 200 tokens left, 200 more in 200 ms.
    shaper.set_rate(t0 + Duration::from_secs(1000), 1000);
    assert_eq!(shaper.config().rate, 1000);
    assert_eq!(
        shaper.poll_timeout(),
        Some(t0 + Duration::from_secs(1000) + ms(200))
    );
    assert_eq!(shaper.bucket().tokens(), 200);
}

#[test]
fn time_running_backwards_is_harmless() {
    let t0 = test_epoch() + Duration::from_secs(10);
    let mut shaper = slow(t0);
    shaper.enqueue(t0, packet(0, 1000), 0, None).unwrap();
    shaper.enqueue(t0, packet(1, 1000), 0, None).unwrap();
    assert!(shaper.dequeue(t0).is_some());
    assert_eq!(shaper.dequeue(t0 - Duration::from_secs(5)), None);
    assert_eq!(shaper.poll_timeout(), Some(t0 + Duration::from_secs(1)));
}

#[test]
fn payload_types_report_their_size() {
    assert_eq!(vec![0u8; 7].packet_size(), 7);
    assert_eq!(Bytes::from_static(b"abc").packet_size(), 3);
    assert_eq!(BytesMut::from(&b"ab"[..]).packet_size(), 2);
    assert_eq!((&b"abcd"[..]).packet_size(), 4);
    assert_eq!([0u8; 5].packet_size(), 5);
    assert_eq!(vec![0u8; 6].into_boxed_slice().packet_size(), 6);
    assert_eq!(std::sync::Arc::<[u8]>::from(&b"x"[..]).packet_size(), 1);
}

#[derive(Debug, Clone)]
enum Op {
    Enqueue {
        size: u16,
        priority: u8,
        deadline_ms: Option<u16>,
    },
    Advance(u16),
    Wait,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1u16..=1500, 0u8..4, prop::option::of(0u16..2000))
            .prop_map(|(size, priority, deadline_ms)| Op::Enqueue { size, priority, deadline_ms }),
        2 => (0u16..300).prop_map(Op::Advance),
        2 => Just(Op::Wait),
    ]
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    at: Instant,
    size: u64,
    priority: u8,
    /// Sequence numbers (one counter for enqueues and releases) of its enqueue and release.
    enqueued: u64,
    released: u64,
}

/// What the proptest remembers of each packet: priority, deadline, enqueue sequence number.
type Meta = Vec<(u8, Option<Instant>, u64)>;

/// Releases everything due at `now`, checking deadlines.
fn release(shaper: &mut Shaper<Packet>, now: Instant, seq: &mut u64, meta: &Meta) -> Vec<Sent> {
    let mut sent = Vec::new();
    while let Some(p) = shaper.dequeue(now) {
        let (priority, deadline, enqueued) = meta[p.id];
        assert!(
            deadline.is_none_or(|d| d >= now),
            "released after its deadline"
        );
        *seq += 1;
        sent.push(Sent {
            at: now,
            size: p.size as u64,
            priority,
            enqueued,
            released: *seq,
        });
    }
    sent
}

proptest! {
    /// Over any window the shaper releases at most rate × window + burst bytes; no packet
    /// leaves after its deadline; a lower-priority packet never leaves while a higher one that
    /// is sent later waits, and a level is FIFO; the bounds hold and the counters add up.
    #[test]
    fn rate_priority_deadline_and_bound_invariants(
        rate in 1_000u64..2_000_000,
        burst in 1_500u64..10_000,
        priorities in 1u8..=4,
        max_bytes in prop::option::of(1_500u64..20_000),
        max_packets in prop::option::of(1usize..40),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let t0 = test_epoch();
        let config = ShaperConfig {
            rate,
            burst,
            priorities,
            max_queued_bytes: max_bytes,
            max_queued_packets: max_packets,
        };
        let mut shaper = Shaper::new(config, t0);
        let mut now = t0;
        let mut seq = 0u64;
        let mut meta = Meta::new();
        let mut sent: Vec<Sent> = Vec::new();
        for op in ops {
            match op {
                Op::Enqueue { size, priority, deadline_ms } => {
                    let deadline = deadline_ms.map(|d| now + Duration::from_millis(u64::from(d)));
                    let id = meta.len();
                    seq += 1;
                    meta.push((priority, deadline, seq));
                    let result =
                        shaper.enqueue(now, packet(id, usize::from(size)), priority, deadline);
                    match result {
                        Ok(()) => {}
                        Err(ShaperError::QueueFull { size, queued_bytes, queued_packets }) => {
                            let packets_full = max_packets.is_some_and(|m| queued_packets >= m);
                            let bytes_full = max_bytes.is_some_and(|m| queued_bytes + size > m);
                            prop_assert!(packets_full || bytes_full);
                        }
                        Err(ShaperError::NoSuchPriority { .. }) => {
                            prop_assert!(priority >= priorities);
                        }
                        Err(ShaperError::TooLarge { .. }) => {
                            prop_assert!(u64::from(size) > burst);
                        }
                    }
                }
                Op::Advance(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    sent.extend(release(&mut shaper, now, &mut seq, &meta));
                }
                Op::Wait => {
                    if let Some(at) = shaper.poll_timeout() {
                        now = now.max(at);
                    }
                    sent.extend(release(&mut shaper, now, &mut seq, &meta));
                }
            }
            prop_assert!(max_packets.is_none_or(|m| shaper.len() <= m));
            prop_assert!(max_bytes.is_none_or(|m| shaper.queued_bytes() <= m));
            let stats = shaper.stats();
            prop_assert_eq!(stats.enqueued, stats.sent + stats.dropped_late + shaper.len() as u64);
        }
        // Everything left either leaves or is dropped.
        loop {
            sent.extend(release(&mut shaper, now, &mut seq, &meta));
            match shaper.poll_timeout() {
                Some(at) => {
                    prop_assert!(at > now);
                    now = at;
                }
                None => break,
            }
        }
        prop_assert!(shaper.is_empty());
        let stats = shaper.stats();
        prop_assert_eq!(stats.enqueued, stats.sent + stats.dropped_late);
        prop_assert_eq!(stats.sent, sent.len() as u64);
        // The rate: every window between two releases.
        for (i, first) in sent.iter().enumerate() {
            let mut bytes = 0u128;
            for last in &sent[i..] {
                bytes += u128::from(last.size);
                let window = (last.at - first.at).as_nanos();
                let allowed = u128::from(rate) * window / 1_000_000_000 + u128::from(burst);
                prop_assert!(bytes <= allowed, "{} bytes in {} ns", bytes, window);
            }
        }
        // Priority and FIFO, for every later release b of an earlier one a: if b was already
        // queued when a left, b's priority is not higher; within a level, enqueue order.
        for (i, a) in sent.iter().enumerate() {
            for b in &sent[i + 1..] {
                if b.enqueued < a.released {
                    prop_assert!(
                        b.priority <= a.priority,
                        "priority {} left while {} waited", a.priority, b.priority
                    );
                }
                if b.priority == a.priority {
                    prop_assert!(b.enqueued > a.enqueued, "FIFO broken within a level");
                }
            }
        }
    }
}
