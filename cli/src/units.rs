//! Parsing of the human units the command line takes: rates, durations, sizes, percentages.

use std::time::Duration;

use weir_core::sim::Bitrate;

/// A value on the command line that could not be understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnitError {
    /// Nothing was given.
    #[error("empty value")]
    Empty,
    /// The number part is not a non-negative decimal number.
    #[error("`{0}` does not start with a number")]
    Number(String),
    /// The unit is not one of the accepted ones.
    #[error("unknown unit `{unit}` (expected {expected})")]
    Unit {
        /// The unit given.
        unit: String,
        /// The units accepted.
        expected: &'static str,
    },
    /// The value is outside its valid range.
    #[error("{value} is out of range: {range}")]
    Range {
        /// The value given.
        value: String,
        /// The valid range.
        range: &'static str,
    },
}

/// Splits `"12.5mbit"` into `(12.5, "mbit")`.
fn split(input: &str) -> Result<(f64, String), UnitError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(UnitError::Empty);
    }
    let end = input
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(input.len());
    let (number, unit) = input.split_at(end);
    let value: f64 = number
        .parse()
        .map_err(|_| UnitError::Number(input.to_owned()))?;
    if !value.is_finite() {
        return Err(UnitError::Number(input.to_owned()));
    }
    Ok((value, unit.trim().to_ascii_lowercase()))
}

fn range(value: &str, range: &'static str) -> UnitError {
    UnitError::Range {
        value: value.to_owned(),
        range,
    }
}

/// A bit rate: `10mbit`, `512kbit`, `1.5gbit`, `64kbps`, `9600bit` (decimal prefixes).
pub fn parse_rate(input: &str) -> Result<Bitrate, UnitError> {
    const EXPECTED: &str = "bit, kbit, mbit, gbit (or bps, kbps, mbps, gbps)";
    let (value, unit) = split(input)?;
    let scale = match unit.as_str() {
        "bit" | "bps" | "b" => 1.0,
        "kbit" | "kbps" | "k" => 1e3,
        "mbit" | "mbps" | "m" => 1e6,
        "gbit" | "gbps" | "g" => 1e9,
        _ => {
            return Err(UnitError::Unit {
                unit,
                expected: EXPECTED,
            });
        }
    };
    let bps = value * scale;
    if !(1.0..=1e12).contains(&bps) {
        return Err(range(input, "1 bit/s to 1000 Gbit/s"));
    }
    Ok(Bitrate::from_bps(bps.round() as u64))
}

/// A duration: `50ms`, `1.5s`, `250us`, `2m`; a bare number is milliseconds.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    const EXPECTED: &str = "ns, us, ms, s, m";
    let (value, unit) = split(input)?;
    let seconds = match unit.as_str() {
        "ns" => value / 1e9,
        "us" | "µs" => value / 1e6,
        "ms" | "" => value / 1e3,
        "s" => value,
        "m" | "min" => value * 60.0,
        _ => {
            return Err(UnitError::Unit {
                unit,
                expected: EXPECTED,
            });
        }
    };
    if seconds > 86_400.0 * 365.0 {
        return Err(range(input, "at most one year"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A probability: `1%`, `0.5%`, or a fraction `0.01`.
pub fn parse_probability(input: &str) -> Result<f64, UnitError> {
    let (value, unit) = split(input)?;
    let p = match unit.as_str() {
        "%" => value / 100.0,
        "" => value,
        _ => {
            return Err(UnitError::Unit {
                unit,
                expected: "% (or a fraction between 0 and 1)",
            });
        }
    };
    if !(0.0..=1.0).contains(&p) {
        return Err(range(input, "0% to 100%"));
    }
    Ok(p)
}

/// A byte count: `1200`, `64kb`, `1.5mb`, `64kib`, `1mib`.
pub fn parse_bytes(input: &str) -> Result<u64, UnitError> {
    const EXPECTED: &str = "b, kb, mb, gb (10³) or kib, mib, gib (2¹⁰)";
    let (value, unit) = split(input)?;
    let scale = match unit.as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(UnitError::Unit {
                unit,
                expected: EXPECTED,
            });
        }
    };
    let bytes = value * scale;
    if bytes > 1e12 {
        return Err(range(input, "at most 1 TB"));
    }
    Ok(bytes.round() as u64)
}

/// A bottleneck buffer: a byte count, or a multiple of the bandwidth-delay product (`1bdp`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BufferSize {
    /// A fixed number of bytes.
    Bytes(u64),
    /// This many bandwidth-delay products.
    Bdp(f64),
}

/// Parses `64kb`, `1bdp`, `0.5bdp`.
pub fn parse_buffer(input: &str) -> Result<BufferSize, UnitError> {
    let (value, unit) = split(input)?;
    if unit == "bdp" {
        if value > 1000.0 {
            return Err(range(input, "at most 1000 BDP"));
        }
        return Ok(BufferSize::Bdp(value));
    }
    parse_bytes(input).map(BufferSize::Bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("10mbit"), Ok(Bitrate::from_mbps(10)));
        assert_eq!(parse_rate("1.5Mbit"), Ok(Bitrate::from_kbps(1500)));
        assert_eq!(parse_rate("64kbps"), Ok(Bitrate::from_kbps(64)));
        assert!(matches!(parse_rate("10mb/s"), Err(UnitError::Unit { .. })));
        assert!(matches!(parse_rate("0bit"), Err(UnitError::Range { .. })));
        assert!(matches!(parse_rate("fast"), Err(UnitError::Number(_))));
        assert_eq!(parse_rate(""), Err(UnitError::Empty));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("50ms"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("20"), Ok(Duration::from_millis(20)));
        assert!(matches!(parse_duration("5h"), Err(UnitError::Unit { .. })));
        assert!(matches!(parse_duration("-5ms"), Err(UnitError::Number(_))));
    }

    #[test]
    fn probabilities() {
        assert_eq!(parse_probability("1%"), Ok(0.01));
        assert_eq!(parse_probability("0.25"), Ok(0.25));
        assert!(matches!(
            parse_probability("150%"),
            Err(UnitError::Range { .. })
        ));
        assert!(matches!(
            parse_probability("3 apples"),
            Err(UnitError::Unit { .. })
        ));
    }

    #[test]
    fn sizes_and_buffers() {
        assert_eq!(parse_bytes("1200"), Ok(1200));
        assert_eq!(parse_bytes("64kb"), Ok(64_000));
        assert_eq!(parse_bytes("64KiB"), Ok(65_536));
        assert_eq!(parse_buffer("1bdp"), Ok(BufferSize::Bdp(1.0)));
        assert_eq!(parse_buffer("0.5bdp"), Ok(BufferSize::Bdp(0.5)));
        assert_eq!(parse_buffer("100kb"), Ok(BufferSize::Bytes(100_000)));
        assert!(parse_buffer("1.2.3kb").is_err());
    }
}
