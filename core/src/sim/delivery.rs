//! Recorded packet-delivery traces in the Mahimahi format: a bottleneck whose capacity follows a
//! measured cellular link instead of a fixed rate.
//!
//! Mahimahi's `mm-link` reads one *delivery opportunity* per line: an integer timestamp in
//! milliseconds since the start of the trace at which the link can carry one MTU's worth — 1500
//! bytes — across the bottleneck. Timestamps never decrease; a millisecond that carries several
//! packets repeats its timestamp on several lines. Accounting is by byte: one opportunity can carry
//! several small packets whose sizes sum to 1500 bytes, and a larger packet uses up the rest of one
//! opportunity and continues in the next. An opportunity with nothing queued at its instant is
//! wasted. At the end of the file the trace wraps around: the opportunity after the last one is
//! the first one again, shifted by the last timestamp (the trace's *period*), so a file holding
//! just `1` is a fixed 12 Mbit/s link (one 1500-byte packet per millisecond).
//!
//! [`DeliveryTrace::parse`] is bounded and never panics: it refuses empty traces, lines that are
//! not a non-negative integer, decreasing timestamps, a trace whose period is zero (it would
//! deliver infinitely fast) and traces over [`MAX_TRACE_LINES`] lines, each with the line number.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::rate::Bitrate;
use super::units::shorten;

/// Bytes one delivery opportunity carries (Mahimahi's MTU-sized packet).
pub const OPPORTUNITY_BYTES: usize = 1500;

/// Longest trace accepted: ten million opportunities is 80 MB in memory and over two hours of a
/// saturated 12 Mbit/s link, more than any recorded trace we know of.
pub const MAX_TRACE_LINES: usize = 10_000_000;

/// A packet-delivery trace: the times at which the bottleneck may carry
/// [`OPPORTUNITY_BYTES`], repeating with the trace's period.
///
/// Cloning is cheap (the timestamps are shared).
#[derive(Clone, PartialEq, Eq)]
pub struct DeliveryTrace {
    /// Non-decreasing opportunity times in milliseconds; never empty; the last one is positive.
    millis: Arc<[u64]>,
}

/// A trace that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryTraceError {
    /// No opportunity at all.
    #[error("the trace holds no delivery opportunity")]
    Empty,
    /// A line that is not a non-negative integer number of milliseconds.
    #[error("line {line}: `{text}` is not a whole number of milliseconds")]
    NotANumber {
        /// 1-based line number.
        line: usize,
        /// The line (shortened when long).
        text: String,
    },
    /// A timestamp smaller than the one before it.
    #[error("line {line}: timestamp {millis} ms is earlier than the previous one ({previous} ms)")]
    Decreasing {
        /// 1-based line number.
        line: usize,
        /// The timestamp on that line.
        millis: u64,
        /// The timestamp of the line before.
        previous: u64,
    },
    /// Every timestamp is zero: the trace would repeat without time passing.
    #[error("the trace's last timestamp is 0 ms: it must last a positive time to repeat")]
    ZeroPeriod,
    /// More lines than [`MAX_TRACE_LINES`].
    #[error("line {line}: the trace is longer than {max} opportunities", max = MAX_TRACE_LINES)]
    TooLong {
        /// The first line over the limit.
        line: usize,
    },
}

impl DeliveryTrace {
    /// Parses a trace file's text: one timestamp per line; blank lines, surrounding whitespace
    /// and a trailing `\r` are tolerated (files written on Windows), anything else is an error.
    pub fn parse(text: &str) -> Result<Self, DeliveryTraceError> {
        let mut millis = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            if millis.len() == MAX_TRACE_LINES {
                return Err(DeliveryTraceError::TooLong { line });
            }
            // `u64::from_str` accepts a leading `+`; a trace never has one.
            let value = trimmed
                .starts_with(|c: char| c.is_ascii_digit())
                .then(|| trimmed.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| DeliveryTraceError::NotANumber {
                    line,
                    text: shorten(trimmed),
                })?;
            if let Some(&previous) = millis.last()
                && value < previous
            {
                return Err(DeliveryTraceError::Decreasing {
                    line,
                    millis: value,
                    previous,
                });
            }
            millis.push(value);
        }
        Self::from_millis(millis)
    }

    /// A trace from opportunity times in milliseconds (checked as [`DeliveryTrace::parse`]
    /// checks a file, with 1-based positions as line numbers).
    pub fn from_millis(millis: Vec<u64>) -> Result<Self, DeliveryTraceError> {
        if millis.len() > MAX_TRACE_LINES {
            return Err(DeliveryTraceError::TooLong {
                line: MAX_TRACE_LINES + 1,
            });
        }
        if let Some(i) = millis.windows(2).position(|w| w[1] < w[0]) {
            return Err(DeliveryTraceError::Decreasing {
                line: i + 2,
                millis: millis[i + 1],
                previous: millis[i],
            });
        }
        match millis.last() {
            None => Err(DeliveryTraceError::Empty),
            Some(0) => Err(DeliveryTraceError::ZeroPeriod),
            Some(_) => Ok(Self {
                millis: millis.into(),
            }),
        }
    }

    /// A fixed-rate trace: `per_ms` opportunities every millisecond (12 Mbit/s each).
    pub fn constant(per_ms: usize) -> Self {
        Self {
            millis: vec![1; per_ms.clamp(1, MAX_TRACE_LINES)].into(),
        }
    }

    /// Opportunities in one period.
    pub fn len(&self) -> usize {
        self.millis.len()
    }

    /// Always `false`: a trace holds at least one opportunity.
    pub fn is_empty(&self) -> bool {
        self.millis.is_empty()
    }

    /// Time after which the trace repeats (its last timestamp).
    pub fn period(&self) -> Duration {
        Duration::from_millis(self.period_ms())
    }

    fn period_ms(&self) -> u64 {
        // Never empty, last positive (checked at construction).
        self.millis.last().copied().unwrap_or(1).max(1)
    }

    /// The long-run rate: [`OPPORTUNITY_BYTES`] per opportunity over one period.
    pub fn mean_rate(&self) -> Bitrate {
        let bytes = (self.millis.len() as u64).saturating_mul(OPPORTUNITY_BYTES as u64);
        Bitrate::from_bytes_in(bytes, self.period()).unwrap_or(Bitrate::from_bps(0))
    }

    /// The virtual time of opportunity number `index` (counting from 0 over the repeated trace).
    pub fn time_of(&self, index: u64) -> Duration {
        let len = self.millis.len() as u64;
        let cycle = index / len;
        let within = self.millis[(index % len) as usize];
        let ms = u128::from(cycle) * u128::from(self.period_ms()) + u128::from(within);
        u64::try_from(ms).map_or(Duration::MAX, Duration::from_millis)
    }

    /// The first opportunity strictly after `time`. Mahimahi spends the opportunities due at an
    /// instant before it queues what arrives at that instant, so a packet arriving exactly on an
    /// opportunity waits for the next one.
    pub fn first_after(&self, time: Duration) -> u64 {
        let period = u128::from(self.period_ms());
        let now_ms = time.as_millis();
        let cycle = now_ms / period;
        let offset = now_ms - cycle * period;
        // `offset` is whole milliseconds rounded down, so a timestamp equal to it is not after
        // `time` either.
        let within = self.millis.partition_point(|&ms| u128::from(ms) <= offset);
        let len = self.millis.len() as u128;
        u64::try_from(cycle * len + within as u128).unwrap_or(u64::MAX)
    }
}

impl fmt::Debug for DeliveryTrace {
    // A trace can hold millions of timestamps: describe it instead of listing them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryTrace")
            .field("opportunities", &self.millis.len())
            .field("period", &self.period())
            .field("mean_rate", &self.mean_rate())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn single_line_trace_is_twelve_megabit() {
        let trace = DeliveryTrace::parse("1\n").expect("valid");
        assert_eq!(trace.period(), Duration::from_millis(1));
        assert_eq!(trace.mean_rate(), Bitrate::from_mbps(12));
        assert_eq!(trace.time_of(0), Duration::from_millis(1));
        assert_eq!(trace.time_of(9), Duration::from_millis(10));
    }

    #[test]
    fn trace_wraps_by_its_last_timestamp() {
        let trace = DeliveryTrace::parse("0\n2\n2\n5").expect("valid");
        let times: Vec<u64> = (0..8)
            .map(|i| trace.time_of(i).as_millis() as u64)
            .collect();
        assert_eq!(times, [0, 2, 2, 5, 5, 7, 7, 10]);
    }

    #[test]
    fn first_after_skips_the_current_instant() {
        let trace = DeliveryTrace::parse("0\n2\n2\n5").expect("valid");
        let ms = Duration::from_millis;
        assert_eq!(trace.first_after(Duration::ZERO), 1);
        assert_eq!(trace.first_after(ms(2)), 3);
        assert_eq!(trace.first_after(Duration::from_micros(1500)), 1);
        assert_eq!(trace.first_after(ms(5)), 5);
        assert_eq!(trace.time_of(trace.first_after(ms(6))), ms(7));
        for t in (0..40_000).step_by(333) {
            let t = Duration::from_micros(t);
            let k = trace.first_after(t);
            assert!(trace.time_of(k) > t);
            assert!(k == 0 || trace.time_of(k - 1) <= t, "{t:?}");
        }
    }

    #[test]
    fn tolerates_blank_lines_and_crlf() {
        let trace = DeliveryTrace::parse("\r\n 1\r\n\n2 \r\n").expect("valid");
        assert_eq!(trace.len(), 2);
    }

    #[test]
    fn rejects_bad_traces_with_line_numbers() {
        assert_eq!(DeliveryTrace::parse(""), Err(DeliveryTraceError::Empty));
        assert_eq!(
            DeliveryTrace::parse("\n  \n"),
            Err(DeliveryTraceError::Empty)
        );
        assert_eq!(
            DeliveryTrace::parse("0\n0"),
            Err(DeliveryTraceError::ZeroPeriod)
        );
        assert!(matches!(
            DeliveryTrace::parse("1\n2\nthree\n"),
            Err(DeliveryTraceError::NotANumber { line: 3, .. })
        ));
        for bad in ["-1", "+1", "1.5", "1 2", "99999999999999999999999"] {
            assert!(
                matches!(
                    DeliveryTrace::parse(bad),
                    Err(DeliveryTraceError::NotANumber { line: 1, .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            DeliveryTrace::parse("1\n5\n\n4"),
            Err(DeliveryTraceError::Decreasing {
                line: 4,
                millis: 4,
                previous: 5
            })
        );
        assert_eq!(
            DeliveryTrace::from_millis(vec![1; MAX_TRACE_LINES + 1]),
            Err(DeliveryTraceError::TooLong {
                line: MAX_TRACE_LINES + 1
            })
        );
    }

    #[test]
    fn rejects_a_trace_over_the_line_limit() {
        let text = "1\n".repeat(MAX_TRACE_LINES + 1);
        assert_eq!(
            DeliveryTrace::parse(&text),
            Err(DeliveryTraceError::TooLong {
                line: MAX_TRACE_LINES + 1
            })
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "(?s).{0,400}") {
            let _ = DeliveryTrace::parse(&text);
        }

        #[test]
        fn parse_never_panics_on_near_traces(lines in proptest::collection::vec("[0-9 +\\-]{0,6}", 0..40)) {
            if let Ok(trace) = DeliveryTrace::parse(&lines.join("\n")) {
                prop_assert!(trace.period() > Duration::ZERO);
                let k = trace.first_after(Duration::from_millis(123));
                prop_assert!(trace.time_of(k) > Duration::from_millis(123));
            }
        }
    }
}
