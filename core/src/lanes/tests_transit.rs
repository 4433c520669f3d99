//! Messages that could not arrive by their deadline are given up before they are sent (see
//! [`Lanes::set_transit`]); the ones already on their way keep their whole time.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::tests_compression::{pair, transfer};
use super::*;

#[allow(clippy::disallowed_methods)] // a test epoch: only durations are added to it
fn epoch() -> Instant {
    Instant::now()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_message_that_cannot_arrive_in_time_is_given_up_unsent() {
    let now = epoch();
    let config = LanesConfig::default();
    let (mut tx, mut rx) = pair(&config, &config);
    tx.configure(1, LaneConfig::new(DeliveryMode::Unreliable))
        .expect("a lane");
    // 300 ms to reach the peer, 400 ms to live: sent.
    tx.set_transit(ms(300));
    let options = |deadline| SendOptions::default().with_deadline(Some(deadline));
    tx.send(now, 1, Bytes::from_static(b"fresh"), options(now + ms(400)))
        .expect("queued");
    assert!(transfer(&mut tx, &mut rx, now) > 0);
    assert_eq!(
        rx.recv(now, None).map(|m| m.data),
        Some(Bytes::from_static(b"fresh"))
    );
    // The queue grew: 500 ms to the peer. A message with 400 ms to live is not sent, and its
    // timer gives it up at once.
    tx.set_transit(ms(500));
    tx.send(
        now,
        1,
        Bytes::from_static(b"doomed"),
        options(now + ms(400)),
    )
    .expect("queued");
    assert!(tx.next_timeout().is_some_and(|at| at <= now));
    assert_eq!(transfer(&mut tx, &mut rx, now), 0);
    tx.on_timeout(now);
    let stats = tx.stats();
    assert_eq!((stats.expired_sending, stats.given_up_in_transit), (1, 1));
    assert!(matches!(
        tx.poll_event(),
        Some(LaneEvent::Expired {
            lane: 1,
            sequence: 1
        })
    ));
    // Without a transit estimate (or with a short one) the deadline alone counts.
    tx.set_transit(Duration::ZERO);
    tx.send(
        now,
        1,
        Bytes::from_static(b"late but alive"),
        options(now + ms(400)),
    )
    .expect("queued");
    assert!(transfer(&mut tx, &mut rx, now + ms(399)) > 0);
}

#[test]
fn a_message_on_its_way_keeps_its_whole_time() {
    let now = epoch();
    let config = LanesConfig::default();
    let (mut tx, _rx) = pair(&config, &config);
    tx.configure(1, LaneConfig::new(DeliveryMode::ReliableOrdered))
        .expect("a lane");
    let options = SendOptions::default().with_deadline(Some(now + ms(400)));
    tx.send(now, 1, Bytes::from_static(b"sent"), options)
        .expect("queued");
    // Sent but not acknowledged: the frames reach `rx`, the ACK never comes back.
    let mut frames = Vec::new();
    let mut record = LanesSent::default();
    assert!(tx.write_frame(now, &mut frames, 1100, &mut record));
    tx.end_packet();
    // A transit that would doom an unsent message does not give up one already sent.
    tx.set_transit(ms(500));
    tx.on_timeout(now + ms(100));
    assert_eq!(tx.stats().expired_sending, 0);
    // Its deadline still does.
    tx.on_timeout(now + ms(400));
    assert_eq!(tx.stats().expired_sending, 1);
    assert_eq!(tx.stats().given_up_in_transit, 0);
}
