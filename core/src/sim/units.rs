//! Quantities with units in the simulator's text formats (`30s`, `100kbit`, `8%`, `64kB`).
//!
//! The same spellings as `weir`'s command line, parsed here without it so that the core reads
//! schedule files on its own. Every function is total: bad text gives `None`, never a panic
//! (`Duration::from_secs_f64` would panic on a negative, huge or NaN value, so the ranges are
//! checked first).

use std::time::Duration;

use super::rate::Bitrate;

/// A bottleneck queue: bytes, or a multiple of the phase's bandwidth-delay product.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum QueueSize {
    Bytes(usize),
    Bdp(f64),
}

/// Splits `"12.5mbit"` into `(12.5, "mbit")`; the number is non-negative and finite.
fn split(text: &str) -> Option<(f64, String)> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    let value: f64 = number.parse().ok()?;
    value
        .is_finite()
        .then(|| (value, unit.to_ascii_lowercase()))
}

/// `30s`, `600ms`, `250us`, `2m`, `1.5min`: a unit is required; at most a year.
pub(crate) fn duration(text: &str) -> Option<Duration> {
    let (value, unit) = split(text)?;
    let seconds = match unit.as_str() {
        "ns" => value / 1e9,
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" | "min" => value * 60.0,
        _ => return None,
    };
    (seconds <= 86_400.0 * 365.0).then(|| Duration::from_secs_f64(seconds))
}

/// `100kbit`, `12mbit`, `1.5gbit`, `64kbps`: decimal prefixes, 1 bit/s to 1000 Gbit/s.
pub(crate) fn rate(text: &str) -> Option<Bitrate> {
    let (value, unit) = split(text)?;
    let scale = match unit.as_str() {
        "bit" | "bps" => 1.0,
        "kbit" | "kbps" => 1e3,
        "mbit" | "mbps" => 1e6,
        "gbit" | "gbps" => 1e9,
        _ => return None,
    };
    let bps = value * scale;
    (1.0..=1e12)
        .contains(&bps)
        .then(|| Bitrate::from_bps(bps.round() as u64))
}

/// `8%` or a fraction `0.08`, within [0, 1].
pub(crate) fn probability(text: &str) -> Option<f64> {
    let (value, unit) = split(text)?;
    let p = match unit.as_str() {
        "%" => value / 100.0,
        "" => value,
        _ => return None,
    };
    (0.0..=1.0).contains(&p).then_some(p)
}

/// `64kB`, `1500`, `1.5MB`, `64KiB`, or `2bdp`; at most 1 TB or 1000 BDP.
pub(crate) fn queue(text: &str) -> Option<QueueSize> {
    let (value, unit) = split(text)?;
    let scale = match unit.as_str() {
        "bdp" => return (value <= 1000.0).then_some(QueueSize::Bdp(value)),
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = value * scale;
    (bytes <= 1e12).then(|| QueueSize::Bytes(bytes.round() as usize))
}

/// An excerpt of user text for an error message: bounded, whatever the input.
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(duration("1.5min"), Some(Duration::from_secs(90)));
        assert_eq!(duration("600ms"), Some(Duration::from_millis(600)));
        assert_eq!(duration("30"), None);
        assert_eq!(duration("-1s"), None);
        assert_eq!(duration("1e400s"), None);
        assert_eq!(duration("999999999999m"), None);
        assert_eq!(rate("100kbit"), Some(Bitrate::from_kbps(100)));
        assert_eq!(rate("12Mbit"), Some(Bitrate::from_mbps(12)));
        assert_eq!(rate("0bit"), None);
        assert_eq!(probability("8%"), Some(0.08));
        assert_eq!(probability("0.5"), Some(0.5));
        assert_eq!(probability("120%"), None);
        assert_eq!(queue("64kB"), Some(QueueSize::Bytes(64_000)));
        assert_eq!(queue("2bdp"), Some(QueueSize::Bdp(2.0)));
        assert_eq!(queue("."), None);
    }
}
