//! The 16-byte header every message of the simulator's game and echo flows starts with (weir's
//! and quinn's alike): its sequence number and its send time, both big-endian `u64`s, the time
//! in nanoseconds since the run's epoch. One writer and one reader, so that the stacks compared
//! measure the same bytes the same way.

use std::time::{Duration, Instant};

/// Bytes of the header; messages are at least this long.
pub const LEN: usize = 16;

/// Writes message `seq`'s header, sent at `at`, into the start of `msg` (as much of it as fits:
/// callers make messages at least [`LEN`] bytes long).
pub fn write(msg: &mut [u8], seq: u64, epoch: Instant, at: Instant) {
    let sent = u64::try_from(at.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX);
    let mut header = [0u8; LEN];
    header[..8].copy_from_slice(&seq.to_be_bytes());
    header[8..].copy_from_slice(&sent.to_be_bytes());
    let n = msg.len().min(LEN);
    msg[..n].copy_from_slice(&header[..n]);
}

/// The sequence number and the send time (since the epoch) of `msg`, or `None` when it is
/// shorter than a header.
pub fn read(msg: &[u8]) -> Option<(u64, Duration)> {
    let seq = u64::from_be_bytes(msg.get(..8)?.try_into().ok()?);
    let sent = u64::from_be_bytes(msg.get(8..LEN)?.try_into().ok()?);
    Some((seq, Duration::from_nanos(sent)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_reads_back_and_a_short_message_has_none() {
        let epoch = crate::congestion::test_epoch();
        let mut msg = [0xaau8; 20];
        write(&mut msg, 7, epoch, epoch + Duration::from_micros(1500));
        assert_eq!(read(&msg), Some((7, Duration::from_micros(1500))));
        assert_eq!(msg[16..], [0xaa; 4], "the rest is left alone");
        assert_eq!(read(&msg[..15]), None);
        // A send time before the epoch reads as the epoch.
        write(&mut msg, 1, epoch + Duration::from_secs(1), epoch);
        assert_eq!(read(&msg), Some((1, Duration::ZERO)));
    }
}
