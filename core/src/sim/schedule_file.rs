//! A plain-text format for time-varying paths (`weir sim --schedule FILE`).
//!
//! One change per line; `#` starts a comment; blank lines are ignored. A line is `at TIME`
//! followed by settings, each a keyword and a value; a setting a line leaves out keeps its value
//! from the line before. The first line must be `at 0s`. Both directions of the path follow the
//! file (the reverse one at `reverse-rate` if given).
//!
//! ```text
//! # Wi-Fi, a train tunnel on 2G, then LTE.
//! at 0s   rate 30mbit  rtt 20ms  loss 0.1%  queue 2bdp
//! at 30s  rate 100kbit reverse-rate 50kbit rtt 600ms loss 8% burst 3
//! at 50s  rate 12mbit  reverse-rate 4mbit  rtt 60ms  loss 0.5% burst off
//! ```
//!
//! | setting | value | at the start |
//! |---|---|---|
//! | `rate` | bottleneck rate both ways: `100kbit`, `12mbit`, `1gbit`, or `unlimited` | unlimited |
//! | `reverse-rate` | the reverse direction's rate, from now on (same spellings) | as `rate` |
//! | `rtt` | round-trip propagation delay, split evenly: `20ms`, `1.5s` | 0 |
//! | `loss` | long-run loss: `8%`, `0.08`; `100%` is an outage | 0 |
//! | `burst` | mean loss burst in packets (Gilbert–Elliott, ≥ 1), or `off` for random loss | off |
//! | `jitter` | uniform extra delay per packet, up to: `5ms` | 0 |
//! | `queue` | drop-tail bottleneck buffer: bytes (`64kB`, `1500`, `64KiB`) or BDPs (`2bdp`) | `1bdp` |
//!
//! Times take a unit (`ns`, `us`, `ms`, `s`, `m`/`min`) and must increase from line to line.
//! A queue in BDPs is sized for each line's rate and RTT, and each direction's own rate.
//! Parsing is bounded ([`MAX_SCHEDULE_CHANGES`]) and never panics; an error names its line.

use std::time::Duration;

use super::config::{LinkConfig, LinkConfigError, Schedule};
use super::loss::{GilbertElliott, LossModel};
use super::presets::{Scenario, bdp_bytes};
use super::rate::Bitrate;
use super::units::{self, QueueSize, shorten};

/// Most changes a schedule file may hold.
pub const MAX_SCHEDULE_CHANGES: usize = 100_000;

/// Settings a line may give, for error messages.
const SETTINGS: &str = "rate, reverse-rate, rtt, loss, burst, jitter, queue";

/// A schedule file that cannot be used; every error but [`ScheduleFileError::Empty`] names its
/// 1-based line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleFileError {
    /// No `at` line at all.
    #[error("the schedule has no `at` line")]
    Empty,
    /// A line that does not start with `at`.
    #[error("line {line}: a change starts with `at TIME`, found `{found}`")]
    MissingAt {
        /// The line.
        line: usize,
        /// Its first word.
        found: String,
    },
    /// A keyword without its value.
    #[error("line {line}: `{keyword}` needs a value")]
    MissingValue {
        /// The line.
        line: usize,
        /// The keyword.
        keyword: String,
    },
    /// A setting this format does not know.
    #[error("line {line}: unknown setting `{keyword}` (expected one of {SETTINGS})")]
    UnknownSetting {
        /// The line.
        line: usize,
        /// The word given.
        keyword: String,
    },
    /// A value that does not parse, or is out of range.
    #[error("line {line}: `{value}` is not a valid {keyword} (expected {expected})")]
    BadValue {
        /// The line.
        line: usize,
        /// The setting (or `at`).
        keyword: &'static str,
        /// The value given.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The first change is not at time zero.
    #[error("line {line}: the first change must be `at 0s` (it sets the path's start)")]
    FirstNotAtZero {
        /// The line.
        line: usize,
    },
    /// A change not later than the one before.
    #[error("line {line}: {at:?} is not after the previous change ({previous:?})")]
    NotIncreasing {
        /// The line.
        line: usize,
        /// Its time.
        at: Duration,
        /// The previous change's time.
        previous: Duration,
    },
    /// An `at` line with no setting.
    #[error("line {line}: the change sets nothing (give at least one of {SETTINGS})")]
    NoSettings {
        /// The line.
        line: usize,
    },
    /// Settings that make an invalid link (such as a burst shorter than one packet).
    #[error("line {line}: {source}")]
    Link {
        /// The line.
        line: usize,
        /// What is wrong.
        source: LinkConfigError,
    },
    /// More than [`MAX_SCHEDULE_CHANGES`] changes.
    #[error("line {line}: more than {max} changes", max = MAX_SCHEDULE_CHANGES)]
    TooLong {
        /// The first line over the limit.
        line: usize,
    },
}

/// The path as of one line: every setting's current value.
#[derive(Debug, Clone)]
struct Phase {
    rate: Option<Bitrate>,
    /// `None` until a line sets it: the reverse direction follows `rate`.
    reverse_rate: Option<Option<Bitrate>>,
    rtt: Duration,
    loss: f64,
    burst: Option<f64>,
    jitter: Duration,
    queue: QueueSize,
}

impl Default for Phase {
    fn default() -> Self {
        Self {
            rate: None,
            reverse_rate: None,
            rtt: Duration::ZERO,
            loss: 0.0,
            burst: None,
            jitter: Duration::ZERO,
            queue: QueueSize::Bdp(1.0),
        }
    }
}

impl Phase {
    fn links(&self) -> Result<(LinkConfig, LinkConfig), LinkConfigError> {
        let reverse_rate = self.reverse_rate.unwrap_or(self.rate);
        Ok((self.link(self.rate)?, self.link(reverse_rate)?))
    }

    fn link(&self, rate: Option<Bitrate>) -> Result<LinkConfig, LinkConfigError> {
        let loss = if self.loss >= 1.0 {
            LossModel::Outage
        } else if self.loss <= 0.0 {
            LossModel::None
        } else if let Some(burst) = self.burst {
            LossModel::GilbertElliott(GilbertElliott::from_loss_and_burst(self.loss, burst)?)
        } else {
            LossModel::Random { p: self.loss }
        };
        let queue_bytes = match (self.queue, rate) {
            (QueueSize::Bytes(bytes), _) => bytes,
            (QueueSize::Bdp(k), Some(rate)) => (bdp_bytes(rate, self.rtt) as f64 * k) as usize,
            (QueueSize::Bdp(_), None) => 0,
        };
        let link = LinkConfig {
            delay: self.rtt / 2,
            jitter: self.jitter,
            loss,
            rate,
            queue_bytes,
            ..LinkConfig::default()
        };
        link.validate()?;
        Ok(link)
    }

    /// Applies one `keyword value` setting of line `line`.
    fn set(&mut self, line: usize, keyword: &str, value: &str) -> Result<(), ScheduleFileError> {
        let bad = |keyword: &'static str, expected: &'static str| ScheduleFileError::BadValue {
            line,
            keyword,
            value: shorten(value),
            expected,
        };
        const RATE: &str = "a rate such as 100kbit or 12mbit, or unlimited";
        const TIME: &str = "a time with a unit such as 20ms or 1.5s";
        match keyword {
            "rate" => self.rate = rate_or_unlimited(value).ok_or_else(|| bad("rate", RATE))?,
            "reverse-rate" => {
                let rate = rate_or_unlimited(value).ok_or_else(|| bad("reverse-rate", RATE))?;
                self.reverse_rate = Some(rate);
            }
            "rtt" => self.rtt = units::duration(value).ok_or_else(|| bad("rtt", TIME))?,
            "jitter" => self.jitter = units::duration(value).ok_or_else(|| bad("jitter", TIME))?,
            "loss" => {
                self.loss = units::probability(value)
                    .ok_or_else(|| bad("loss", "a share such as 8% or 0.08"))?;
            }
            "burst" => {
                self.burst = if value.eq_ignore_ascii_case("off") {
                    None
                } else {
                    let packets = value
                        .parse::<f64>()
                        .ok()
                        .filter(|b| (1.0..=1e6).contains(b))
                        .ok_or_else(|| bad("burst", "a mean burst of 1 to 10⁶ packets, or off"))?;
                    Some(packets)
                };
            }
            "queue" => {
                self.queue = units::queue(value)
                    .ok_or_else(|| bad("queue", "bytes such as 64kB or BDPs such as 2bdp"))?;
            }
            other => {
                return Err(ScheduleFileError::UnknownSetting {
                    line,
                    keyword: shorten(other),
                });
            }
        }
        Ok(())
    }
}

fn rate_or_unlimited(value: &str) -> Option<Option<Bitrate>> {
    if value.eq_ignore_ascii_case("unlimited") {
        Some(None)
    } else {
        units::rate(value).map(Some)
    }
}

/// Parses a schedule file into a scenario called `name`: the first line is its start, the
/// later lines the changes of both directions.
pub fn parse_schedule(name: &str, text: &str) -> Result<Scenario, ScheduleFileError> {
    let mut phase = Phase::default();
    let mut start: Option<(LinkConfig, LinkConfig)> = None;
    let mut forward = Schedule::new();
    let mut reverse = Schedule::new();
    let mut previous: Option<Duration> = None;
    let mut changes = 0usize;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or_default();
        let mut words = content.split_whitespace();
        let Some(first) = words.next() else {
            continue;
        };
        if first != "at" {
            return Err(ScheduleFileError::MissingAt {
                line,
                found: shorten(first),
            });
        }
        changes += 1;
        if changes > MAX_SCHEDULE_CHANGES {
            return Err(ScheduleFileError::TooLong { line });
        }
        let at_text = words
            .next()
            .ok_or_else(|| ScheduleFileError::MissingValue {
                line,
                keyword: "at".to_owned(),
            })?;
        let at = units::duration(at_text).ok_or_else(|| ScheduleFileError::BadValue {
            line,
            keyword: "at",
            value: shorten(at_text),
            expected: "a time with a unit such as 0s, 30s or 1.5min",
        })?;
        match previous {
            None if !at.is_zero() => return Err(ScheduleFileError::FirstNotAtZero { line }),
            Some(previous) if at <= previous => {
                return Err(ScheduleFileError::NotIncreasing { line, at, previous });
            }
            _ => {}
        }
        previous = Some(at);
        let mut settings = 0;
        while let Some(keyword) = words.next() {
            let keyword = keyword.to_ascii_lowercase();
            let value = words
                .next()
                .ok_or_else(|| ScheduleFileError::MissingValue {
                    line,
                    keyword: shorten(&keyword),
                })?;
            phase.set(line, &keyword, value)?;
            settings += 1;
        }
        if settings == 0 {
            return Err(ScheduleFileError::NoSettings { line });
        }
        let (f, r) = phase
            .links()
            .map_err(|source| ScheduleFileError::Link { line, source })?;
        if start.is_none() {
            start = Some((f, r));
        } else {
            forward = forward.at(at, f);
            reverse = reverse.at(at, r);
        }
    }
    let (f, r) = start.ok_or(ScheduleFileError::Empty)?;
    let end = previous.unwrap_or_default();
    Ok(Scenario {
        name: name.to_owned(),
        description: format!(
            "{changes} phases over {:.1} s, from {name}",
            end.as_secs_f64()
        ),
        forward: f,
        reverse: r,
        forward_schedule: forward,
        reverse_schedule: reverse,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TRAIN: &str = "\
# Wi-Fi, a train tunnel on 2G, then LTE.
at 0s   rate 30mbit  rtt 20ms  loss 0.1%  queue 2bdp

at 30s  rate 100kbit reverse-rate 50kbit rtt 600ms loss 8% burst 3   # the tunnel
at 50s  rate 12mbit  reverse-rate 4mbit  rtt 60ms  loss 0.5% burst off
at 1.5min loss 100%
";

    #[test]
    fn good_file_gives_every_phase() {
        let s = parse_schedule("train.txt", TRAIN).expect("valid");
        assert_eq!(s.forward.rate, Some(Bitrate::from_mbps(30)));
        assert_eq!(s.reverse.rate, Some(Bitrate::from_mbps(30)));
        assert_eq!(s.forward.delay, Duration::from_millis(10));
        assert_eq!(s.forward.loss, LossModel::Random { p: 0.001 });
        assert_eq!(s.forward.queue_bytes, 150_000);
        let changes = s.forward_schedule.changes();
        assert_eq!(changes.len(), 3);
        let (at, tunnel) = &changes[0];
        assert_eq!(*at, Duration::from_secs(30));
        assert_eq!(tunnel.rate, Some(Bitrate::from_kbps(100)));
        assert!(matches!(tunnel.loss, LossModel::GilbertElliott(_)));
        assert!((tunnel.loss.mean_loss() - 0.08).abs() < 1e-12);
        // 2 BDP of each direction's own rate at 600 ms.
        assert_eq!(tunnel.queue_bytes, 15_000);
        assert_eq!(s.reverse_schedule.changes()[0].1.queue_bytes, 7_500);
        let (_, lte) = &changes[1];
        assert_eq!(lte.loss, LossModel::Random { p: 0.005 });
        assert_eq!(
            s.reverse_schedule.changes()[1].1.rate,
            Some(Bitrate::from_mbps(4))
        );
        let (at, down) = &changes[2];
        assert_eq!(*at, Duration::from_secs(90));
        assert_eq!(down.loss, LossModel::Outage);
        // Unchanged settings carry over.
        assert_eq!(down.rate, Some(Bitrate::from_mbps(12)));
        assert!(s.description.contains("4 phases"), "{}", s.description);
    }

    #[test]
    fn unlimited_and_byte_queues() {
        let s = parse_schedule(
            "x",
            "at 0s rate unlimited rtt 1s\nat 1s rate 1mbit queue 64KiB",
        )
        .expect("valid");
        assert_eq!(s.forward.rate, None);
        assert_eq!(s.forward.queue_bytes, 0);
        assert_eq!(s.forward_schedule.changes()[0].1.queue_bytes, 65_536);
    }

    fn error(text: &str) -> ScheduleFileError {
        parse_schedule("bad", text).expect_err("invalid")
    }

    #[test]
    fn bad_files_name_the_line() {
        assert_eq!(error(""), ScheduleFileError::Empty);
        assert_eq!(error("# nothing\n\n"), ScheduleFileError::Empty);
        assert!(matches!(
            error("\nrate 1mbit"),
            ScheduleFileError::MissingAt { line: 2, .. }
        ));
        assert_eq!(
            error("at 5s rate 1mbit"),
            ScheduleFileError::FirstNotAtZero { line: 1 }
        );
        assert!(matches!(
            error("at 0s rate 1mbit\nat 0s rate 2mbit"),
            ScheduleFileError::NotIncreasing { line: 2, .. }
        ));
        assert!(matches!(
            error("at 0s rate 1mbit\nat 10 rate 2mbit"),
            ScheduleFileError::BadValue {
                line: 2,
                keyword: "at",
                ..
            }
        ));
        assert!(matches!(
            error("at"),
            ScheduleFileError::MissingValue { line: 1, .. }
        ));
        assert!(matches!(
            error("at 0s rate"),
            ScheduleFileError::MissingValue { line: 1, .. }
        ));
        assert!(matches!(
            error("at 0s speed 1mbit"),
            ScheduleFileError::UnknownSetting { line: 1, .. }
        ));
        assert!(matches!(
            error("at 0s rate fast"),
            ScheduleFileError::BadValue {
                line: 1,
                keyword: "rate",
                ..
            }
        ));
        assert!(matches!(
            error("at 0s loss 150%"),
            ScheduleFileError::BadValue {
                line: 1,
                keyword: "loss",
                ..
            }
        ));
        assert!(matches!(
            error("at 0s burst 0.5"),
            ScheduleFileError::BadValue {
                line: 1,
                keyword: "burst",
                ..
            }
        ));
        assert_eq!(error("at 0s"), ScheduleFileError::NoSettings { line: 1 });
        let long = "at 0s rate 1mbit\n".to_owned()
            + &(1..=MAX_SCHEDULE_CHANGES)
                .map(|i| format!("at {i}ms loss 1%\n"))
                .collect::<String>();
        assert_eq!(
            error(&long),
            ScheduleFileError::TooLong {
                line: MAX_SCHEDULE_CHANGES + 1
            }
        );
        let message = error("at 0s\u{a0}rate x").to_string();
        assert!(message.starts_with("line 1:"), "{message}");
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "(?s).{0,300}") {
            let _ = parse_schedule("fuzz", &text);
        }

        #[test]
        fn near_valid_text_never_panics(
            lines in proptest::collection::vec(
                ("at", "[0-9.]{0,4}(s|ms|m|x)?",
                 proptest::collection::vec(
                     ("(rate|reverse-rate|rtt|loss|burst|jitter|queue|x)",
                      "[0-9.]{0,5}(kbit|mbit|%|ms|s|bdp|kb|off|unlimited)?"),
                     0..4)),
                0..6),
        ) {
            let text: String = lines
                .iter()
                .map(|(at, time, settings)| {
                    let settings: Vec<String> =
                        settings.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    format!("{at} {time} {}\n", settings.join(" "))
                })
                .collect();
            if let Ok(s) = parse_schedule("fuzz", &text) {
                prop_assert!(s.forward.validate().is_ok());
                prop_assert!(s.forward_schedule.validate().is_ok());
            }
        }
    }
}
