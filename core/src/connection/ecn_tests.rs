use super::*;

fn counts(ect0: u64, ect1: u64, ce: u64) -> EcnCounts {
    EcnCounts { ect0, ect1, ce }
}

/// An ECN state that sent `n` marked packets in the data space.
fn sent(n: u64) -> Ecn {
    let mut ecn = Ecn::new(true);
    for _ in 0..n {
        let marked = ecn.codepoint().is_some();
        ecn.on_packet_sent(SpaceId::Data, marked);
    }
    ecn
}

#[test]
fn testing_marks_ten_packets_then_waits() {
    let ecn = sent(TESTING_PACKETS - 1);
    assert_eq!(ecn.codepoint(), Some(EcnCodepoint::Ect0));
    let ecn = sent(TESTING_PACKETS + 5);
    assert_eq!(ecn.stats().state, EcnState::Unknown);
    assert_eq!(ecn.codepoint(), None);
    assert_eq!(ecn.stats().packets_sent_ect0, TESTING_PACKETS);
}

#[test]
fn counts_that_cover_the_marked_packets_validate() {
    let mut ecn = sent(TESTING_PACKETS);
    assert_eq!(
        ecn.on_ack(SpaceId::Data, Some(&counts(3, 0, 0)), 3, true),
        None
    );
    assert_eq!(ecn.stats().state, EcnState::Capable);
    assert_eq!(ecn.codepoint(), Some(EcnCodepoint::Ect0));
}

#[test]
fn ce_increase_is_reported_once_per_increase() {
    let mut ecn = sent(6);
    assert_eq!(
        ecn.on_ack(SpaceId::Data, Some(&counts(2, 0, 1)), 3, true),
        Some(1)
    );
    assert_eq!(
        ecn.on_ack(SpaceId::Data, Some(&counts(3, 0, 1)), 1, true),
        None
    );
    assert_eq!(
        ecn.on_ack(SpaceId::Data, Some(&counts(3, 0, 3)), 2, true),
        Some(2)
    );
    let stats = ecn.stats();
    assert_eq!((stats.ce_reported, stats.ce_congestion_events), (3, 2));
    assert_eq!(stats.state, EcnState::Capable);
}

#[test]
fn missing_counts_fail_validation() {
    let mut ecn = sent(4);
    // An ACK of unmarked packets only needs no counts.
    assert_eq!(ecn.on_ack(SpaceId::Initial, None, 0, true), None);
    assert_eq!(ecn.stats().state, EcnState::Testing);
    ecn.on_ack(SpaceId::Data, None, 2, true);
    assert_eq!(ecn.stats().state, EcnState::Failed(EcnFailure::NotReported));
    assert_eq!(ecn.codepoint(), None);
    assert_eq!(ecn.stats().validation_failures, 1);
}

#[test]
fn bleached_counts_fail_validation() {
    let mut ecn = sent(4);
    ecn.on_ack(SpaceId::Data, Some(&counts(1, 0, 0)), 2, true);
    assert_eq!(
        ecn.stats().state,
        EcnState::Failed(EcnFailure::Undercounted)
    );
}

#[test]
fn decreasing_counts_fail_validation() {
    let mut ecn = sent(6);
    ecn.on_ack(SpaceId::Data, Some(&counts(3, 0, 1)), 4, true);
    assert_eq!(ecn.stats().state, EcnState::Capable);
    ecn.on_ack(SpaceId::Data, Some(&counts(2, 0, 5)), 1, true);
    assert_eq!(
        ecn.stats().state,
        EcnState::Failed(EcnFailure::CountsDecreased)
    );
    // Nothing the peer says afterwards is a congestion event.
    assert_eq!(
        ecn.on_ack(SpaceId::Data, Some(&counts(9, 0, 9)), 1, true),
        None
    );
    assert_eq!(ecn.stats().validation_failures, 1);
}

#[test]
fn counts_above_packets_sent_fail_validation() {
    let mut ecn = sent(3);
    ecn.on_ack(SpaceId::Data, Some(&counts(3, 0, 1)), 1, true);
    assert_eq!(
        ecn.stats().state,
        EcnState::Failed(EcnFailure::CountsExceedSent)
    );
    let mut ecn = sent(3);
    ecn.on_ack(SpaceId::Data, Some(&counts(1, 1, 0)), 1, true);
    assert_eq!(
        ecn.stats().state,
        EcnState::Failed(EcnFailure::CountsExceedSent)
    );
    // Huge counts saturate instead of overflowing.
    let mut ecn = sent(3);
    ecn.on_ack(SpaceId::Data, Some(&counts(u64::MAX, 0, u64::MAX)), 1, true);
    assert_eq!(
        ecn.stats().state,
        EcnState::Failed(EcnFailure::CountsExceedSent)
    );
}

#[test]
fn reordered_acks_are_not_compared() {
    let mut ecn = sent(6);
    ecn.on_ack(SpaceId::Data, Some(&counts(4, 0, 0)), 4, true);
    // An older frame (its largest not new) with lower counts is no failure.
    assert_eq!(
        ecn.on_ack(SpaceId::Data, Some(&counts(2, 0, 0)), 1, false),
        None
    );
    assert_eq!(ecn.stats().state, EcnState::Capable);
}

#[test]
fn losing_every_testing_packet_fails_validation() {
    let mut ecn = sent(TESTING_PACKETS);
    ecn.on_marked_lost(TESTING_PACKETS - 1);
    assert_eq!(ecn.stats().state, EcnState::Unknown);
    ecn.on_marked_lost(1);
    assert_eq!(
        ecn.stats().state,
        EcnState::Failed(EcnFailure::TestPacketsLost)
    );
    // Once validated, losses are congestion, not a verdict on ECN.
    let mut ecn = sent(TESTING_PACKETS);
    ecn.on_ack(SpaceId::Data, Some(&counts(1, 0, 0)), 1, true);
    ecn.on_marked_lost(TESTING_PACKETS);
    assert_eq!(ecn.stats().state, EcnState::Capable);
}

#[test]
fn received_codepoints_are_counted_per_space_and_reported() {
    let mut ecn = Ecn::new(true);
    assert_eq!(ecn.ack_counts(SpaceId::Data), None);
    assert!(!ecn.on_packet_received(SpaceId::Data, None));
    assert_eq!(ecn.ack_counts(SpaceId::Data), None);
    assert!(!ecn.on_packet_received(SpaceId::Data, Some(EcnCodepoint::Ect0)));
    assert!(ecn.on_packet_received(SpaceId::Data, Some(EcnCodepoint::Ce)));
    assert!(!ecn.on_packet_received(SpaceId::Initial, Some(EcnCodepoint::Ect1)));
    assert_eq!(ecn.ack_counts(SpaceId::Data), Some(counts(1, 0, 1)));
    assert_eq!(ecn.ack_counts(SpaceId::Initial), Some(counts(0, 1, 0)));
    assert_eq!(ecn.ack_counts(SpaceId::Handshake), None);
    assert_eq!(ecn.stats().received, counts(1, 1, 1));
}

#[test]
fn off_marks_nothing_and_reports_nothing() {
    let mut ecn = Ecn::new(false);
    assert_eq!(ecn.codepoint(), None);
    assert!(!ecn.on_packet_received(SpaceId::Data, Some(EcnCodepoint::Ce)));
    assert_eq!(ecn.ack_counts(SpaceId::Data), None);
    assert_eq!(
        ecn.on_ack(SpaceId::Data, Some(&counts(0, 0, 5)), 0, true),
        None
    );
    assert_eq!(ecn.stats().state, EcnState::Off);
}
