//! A constant-bit-rate probe flow: a source that sends numbered, timestamped datagrams at a
//! fixed rate and a sink that measures what arrived.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hdrhistogram::Histogram;

use super::Node;
use super::rate::Bitrate;
use super::stats::{Volume, micros, new_delay_histogram};
use crate::{EcnCodepoint, Transmit};

const MAGIC: &[u8; 4] = b"WPRB";
const SEQ_AT: usize = 4;
const TIME_AT: usize = 12;
const FILL_AT: usize = 20;
const CHECKSUM_LEN: usize = 4;
/// Smallest probe datagram: magic, sequence number, send time and checksum.
pub const MIN_PROBE_SIZE: usize = FILL_AT + CHECKSUM_LEN;
/// Largest probe datagram (the largest UDP payload over IPv4).
pub const MAX_PROBE_SIZE: usize = 65_507;
/// Sequence numbers the sink tracks for duplicate detection; higher ones count as malformed,
/// which bounds the sink's memory to 16 MiB of bitmap.
const MAX_TRACKED_SEQ: u64 = 1 << 27;

/// A probe configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// The datagram size is outside what the probe can carry.
    #[error("probe datagrams must be {MIN_PROBE_SIZE}..={MAX_PROBE_SIZE} bytes, got {0}")]
    PacketSize(usize),
    /// A zero rate sends nothing.
    #[error("the probe rate must be above 0 bit/s")]
    ZeroRate,
}

/// Sends `packet_size`-byte datagrams to one destination at a constant bit rate.
///
/// Datagram *k* leaves at `start + k × interval`, where the interval is the time `rate` takes to
/// carry one datagram's UDP payload, until `duration` has passed. Send times are derived from
/// the sequence number, so the flow never drifts however late it is polled.
#[derive(Debug, Clone)]
pub struct CbrSource {
    destination: SocketAddr,
    packet_size: usize,
    interval: Duration,
    epoch: Instant,
    start: Instant,
    total: u64,
    sent: u64,
}

impl CbrSource {
    /// A source that starts at `start` and sends for `duration`. Timestamps in the datagrams
    /// count from `start`, which must be the `epoch` given to the [`ProbeSink`].
    pub fn new(
        destination: SocketAddr,
        rate: Bitrate,
        packet_size: usize,
        start: Instant,
        duration: Duration,
    ) -> Result<Self, ProbeError> {
        if !(MIN_PROBE_SIZE..=MAX_PROBE_SIZE).contains(&packet_size) {
            return Err(ProbeError::PacketSize(packet_size));
        }
        if rate.bps() == 0 {
            return Err(ProbeError::ZeroRate);
        }
        let interval = rate.transmit_time(packet_size);
        let total = u64::try_from(duration.as_nanos().div_ceil(interval.as_nanos().max(1)))
            .unwrap_or(u64::MAX);
        Ok(Self {
            destination,
            packet_size,
            interval,
            epoch: start,
            start,
            total,
            sent: 0,
        })
    }

    /// Datagrams sent so far.
    pub fn sent(&self) -> Volume {
        Volume {
            packets: self.sent,
            bytes: self.sent * self.packet_size as u64,
        }
    }

    /// Datagrams the source sends in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Time between two datagrams.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Size of each datagram.
    pub fn packet_size(&self) -> usize {
        self.packet_size
    }

    fn due(&self, seq: u64) -> Option<Instant> {
        if seq >= self.total {
            return None;
        }
        let offset = self.interval.as_nanos().checked_mul(u128::from(seq))?;
        self.start
            .checked_add(Duration::from_nanos(u64::try_from(offset).ok()?))
    }

    fn write(&self, seq: u64, sent_at: Instant, buf: &mut Vec<u8>) {
        let since = u64::try_from(sent_at.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(u64::MAX);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&seq.to_be_bytes());
        buf.extend_from_slice(&since.to_be_bytes());
        let fill = self.packet_size - MIN_PROBE_SIZE;
        buf.extend((0..fill).map(|i| (seq as usize).wrapping_add(i) as u8));
        let checksum = crc32c::crc32c(buf);
        buf.extend_from_slice(&checksum.to_be_bytes());
    }
}

impl Node for CbrSource {
    fn handle_datagram(
        &mut self,
        _now: Instant,
        _from: SocketAddr,
        _ecn: Option<EcnCodepoint>,
        _datagram: BytesMut,
    ) {
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let due = self.due(self.sent)?;
        if due > now {
            return None;
        }
        self.write(self.sent, due, buf);
        self.sent += 1;
        Some(Transmit {
            destination: self.destination,
            size: buf.len(),
            segment_size: None,
            ecn: None,
        })
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.due(self.sent)
    }
}

/// Receives probe datagrams and measures loss, duplication, reordering, corruption and one-way
/// delay.
#[derive(Debug, Clone)]
pub struct ProbeSink {
    epoch: Instant,
    seen: Vec<u64>,
    highest: Option<u64>,
    received: Volume,
    duplicates: u64,
    reordered: u64,
    malformed: u64,
    one_way_us: Histogram<u64>,
    one_way_min: Option<Duration>,
    one_way_max: Duration,
    one_way_total: Duration,
    first_arrival: Option<Instant>,
    last_arrival: Option<Instant>,
}

/// What a [`ProbeSink`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    /// Distinct datagrams received intact.
    pub received: Volume,
    /// Extra copies of datagrams already received.
    pub duplicates: u64,
    /// Datagrams that arrived after one with a higher sequence number.
    pub reordered: u64,
    /// Datagrams that failed the checksum (corrupted in flight) or were not probes.
    pub malformed: u64,
    /// Highest sequence number received.
    pub highest_seq: Option<u64>,
    /// Smallest one-way delay (exact).
    pub one_way_min: Duration,
    /// Mean one-way delay (exact).
    pub one_way_mean: Duration,
    /// Median one-way delay (3 significant digits).
    pub one_way_p50: Duration,
    /// 95th-percentile one-way delay (3 significant digits).
    pub one_way_p95: Duration,
    /// 99th-percentile one-way delay (3 significant digits).
    pub one_way_p99: Duration,
    /// Largest one-way delay (exact).
    pub one_way_max: Duration,
    /// When the first datagram arrived.
    pub first_arrival: Option<Instant>,
    /// When the last datagram arrived.
    pub last_arrival: Option<Instant>,
}

impl ProbeSink {
    /// A sink for a [`CbrSource`] whose `start` was `epoch`.
    pub fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            seen: Vec::new(),
            highest: None,
            received: Volume::default(),
            duplicates: 0,
            reordered: 0,
            malformed: 0,
            one_way_us: new_delay_histogram(),
            one_way_min: None,
            one_way_max: Duration::ZERO,
            one_way_total: Duration::ZERO,
            first_arrival: None,
            last_arrival: None,
        }
    }

    /// The measurements so far.
    pub fn report(&self) -> ProbeReport {
        let mean = match u32::try_from(self.received.packets) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.one_way_total / n,
            Err(_) => Duration::from_secs_f64(
                self.one_way_total.as_secs_f64() / self.received.packets as f64,
            ),
        };
        // The histogram reports the top of a bucket; keep quantiles within the exact extremes.
        let min = self.one_way_min.unwrap_or_default();
        let quantile = |q| {
            Duration::from_micros(self.one_way_us.value_at_quantile(q)).clamp(min, self.one_way_max)
        };
        ProbeReport {
            received: self.received,
            duplicates: self.duplicates,
            reordered: self.reordered,
            malformed: self.malformed,
            highest_seq: self.highest,
            one_way_min: min,
            one_way_mean: mean,
            one_way_p50: quantile(0.5),
            one_way_p95: quantile(0.95),
            one_way_p99: quantile(0.99),
            one_way_max: self.one_way_max,
            first_arrival: self.first_arrival,
            last_arrival: self.last_arrival,
        }
    }

    /// Parses a probe datagram: (sequence number, send time since the epoch).
    fn parse(datagram: &[u8]) -> Option<(u64, Duration)> {
        let body_len = datagram.len().checked_sub(CHECKSUM_LEN)?;
        if body_len < FILL_AT {
            return None;
        }
        let (body, checksum) = datagram.split_at(body_len);
        if crc32c::crc32c(body).to_be_bytes() != checksum || !body.starts_with(MAGIC) {
            return None;
        }
        let seq = u64::from_be_bytes(body.get(SEQ_AT..TIME_AT)?.try_into().ok()?);
        let nanos = u64::from_be_bytes(body.get(TIME_AT..FILL_AT)?.try_into().ok()?);
        Some((seq, Duration::from_nanos(nanos)))
    }

    /// Marks `seq` as seen; `false` if it was already.
    fn mark(&mut self, seq: u64) -> bool {
        let word = (seq / 64) as usize;
        let bit = 1u64 << (seq % 64);
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        let fresh = self.seen[word] & bit == 0;
        self.seen[word] |= bit;
        fresh
    }
}

impl Node for ProbeSink {
    fn handle_datagram(
        &mut self,
        now: Instant,
        _from: SocketAddr,
        _ecn: Option<EcnCodepoint>,
        datagram: BytesMut,
    ) {
        let Some((seq, sent)) = Self::parse(&datagram).filter(|(seq, _)| *seq < MAX_TRACKED_SEQ)
        else {
            self.malformed += 1;
            return;
        };
        if !self.mark(seq) {
            self.duplicates += 1;
            return;
        }
        self.received.add(datagram.len());
        if self.highest.is_some_and(|h| seq < h) {
            self.reordered += 1;
        }
        self.highest = self.highest.max(Some(seq));
        let one_way = now.saturating_duration_since(self.epoch + sent);
        self.one_way_us.saturating_record(micros(one_way));
        self.one_way_total += one_way;
        self.one_way_min = Some(self.one_way_min.map_or(one_way, |m| m.min(one_way)));
        self.one_way_max = self.one_way_max.max(one_way);
        self.first_arrival.get_or_insert(now);
        self.last_arrival = Some(now);
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, _buf: &mut Vec<u8>) -> Option<Transmit> {
        None
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // tests need some base instant; the probe adds to it
    fn epoch() -> Instant {
        Instant::now()
    }

    #[test]
    fn source_paces_exactly() {
        let t0 = epoch();
        let dst = "10.0.0.2:1".parse().expect("address");
        let mut src = CbrSource::new(
            dst,
            Bitrate::from_kbps(80),
            100,
            t0,
            Duration::from_millis(35),
        )
        .expect("valid probe");
        // 100 bytes at 80 kbit/s: one datagram every 10 ms, four in 35 ms.
        assert_eq!(src.interval(), Duration::from_millis(10));
        assert_eq!(src.total(), 4);
        let mut buf = Vec::new();
        assert!(src.poll_transmit(t0, &mut buf).is_some());
        buf.clear();
        assert!(src.poll_transmit(t0, &mut buf).is_none());
        assert_eq!(src.poll_timeout(), Some(t0 + Duration::from_millis(10)));
        let late = t0 + Duration::from_millis(100);
        let mut n = 0;
        while src.poll_transmit(late, &mut buf).is_some() {
            buf.clear();
            n += 1;
        }
        assert_eq!(n, 3);
        assert_eq!(src.poll_timeout(), None);
    }

    #[test]
    fn sink_detects_duplicates_reordering_and_corruption() {
        let t0 = epoch();
        let dst = "10.0.0.2:1".parse().expect("address");
        let src = CbrSource::new(dst, Bitrate::from_mbps(1), 64, t0, Duration::from_secs(1))
            .expect("valid probe");
        let packet = |seq: u64| {
            let mut buf = Vec::new();
            src.write(seq, t0, &mut buf);
            BytesMut::from(&buf[..])
        };
        let mut sink = ProbeSink::new(t0);
        let at = t0 + Duration::from_millis(5);
        sink.handle_datagram(at, dst, None, packet(1));
        sink.handle_datagram(at, dst, None, packet(0));
        sink.handle_datagram(at, dst, None, packet(1));
        let mut bad = packet(2);
        bad[30] ^= 0x10;
        sink.handle_datagram(at, dst, None, bad);
        sink.handle_datagram(at, dst, None, BytesMut::from(&b"short"[..]));
        let r = sink.report();
        assert_eq!(r.received.packets, 2);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.reordered, 1);
        assert_eq!(r.malformed, 2);
        assert_eq!(r.one_way_min, Duration::from_millis(5));
        assert_eq!(r.highest_seq, Some(1));
    }

    #[test]
    fn bad_configuration_is_rejected() {
        let t0 = epoch();
        let dst = "10.0.0.2:1".parse().expect("address");
        let one_sec = Duration::from_secs(1);
        assert_eq!(
            CbrSource::new(dst, Bitrate::from_mbps(1), 10, t0, one_sec).err(),
            Some(ProbeError::PacketSize(10))
        );
        assert_eq!(
            CbrSource::new(dst, Bitrate::from_bps(0), 100, t0, one_sec).err(),
            Some(ProbeError::ZeroRate)
        );
    }
}
