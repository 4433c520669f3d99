//! Builds the simulated path from a preset and command-line overrides.

use std::time::Duration;

use clap::Args;
use std::path::{Path, PathBuf};

use weir_core::sim::presets::{PRESETS, bdp_bytes};
use weir_core::sim::schedule_file::{ScheduleFileError, parse_schedule};
use weir_core::sim::schedules::{self, SCHEDULES};
use weir_core::sim::{
    Bitrate, DeliveryTrace, DeliveryTraceError, GilbertElliott, LinkConfig, LinkConfigError,
    LossModel, Scenario, Schedule,
};

use crate::units::{BufferSize, parse_buffer, parse_duration, parse_probability, parse_rate};

/// Default path when neither a preset nor a rate is given.
const DEFAULT_RATE: Bitrate = Bitrate::from_mbps(10);
const DEFAULT_RTT: Duration = Duration::from_millis(50);

/// The path: a preset, a described link, or a preset with some parameters overridden.
#[derive(Debug, Args)]
pub struct PathArgs {
    /// Start from a named scenario (see --list-presets); other options override its parameters.
    #[arg(long, short = 'p', value_name = "NAME")]
    pub preset: Option<String>,
    /// A path that changes over time, applied to both directions: a named schedule
    /// (train-tunnel, commute, wifi-handover; see --list-presets) or a schedule file (one
    /// `at TIME setting value …` line per change; README, "Time-varying paths"). Times count
    /// from the start of the run (of the proxy, for `weir proxy`). Other options override
    /// every phase.
    #[arg(long, value_name = "NAME|FILE", conflicts_with = "preset")]
    pub schedule: Option<String>,
    /// A Mahimahi packet-delivery trace (one millisecond timestamp per line, each a chance to
    /// carry 1500 bytes; it repeats) that serves the bottleneck of both directions instead of
    /// --rate.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["trace_up", "trace_down"])]
    pub trace: Option<PathBuf>,
    /// A Mahimahi trace for the forward direction only (towards the player / client).
    #[arg(long, value_name = "FILE")]
    pub trace_down: Option<PathBuf>,
    /// A Mahimahi trace for the reverse direction only (from the player / client).
    #[arg(long, value_name = "FILE")]
    pub trace_up: Option<PathBuf>,
    /// Bottleneck rate of the forward direction, e.g. 10mbit, 512kbit (and of the reverse one
    /// unless --reverse-rate is given).
    #[arg(long, value_parser = parse_rate, value_name = "RATE")]
    pub rate: Option<Bitrate>,
    /// Bottleneck rate of the reverse direction.
    #[arg(long, value_parser = parse_rate, value_name = "RATE")]
    pub reverse_rate: Option<Bitrate>,
    /// Base round-trip time, split evenly between the two directions, e.g. 50ms.
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    pub rtt: Option<Duration>,
    /// Independent random loss, e.g. 1% or 0.01.
    #[arg(long, value_parser = parse_probability, value_name = "PROB", conflicts_with = "burst_loss")]
    pub loss: Option<f64>,
    /// Bursty (Gilbert) loss with this long-run rate, e.g. 5%.
    #[arg(long, value_parser = parse_probability, value_name = "PROB")]
    pub burst_loss: Option<f64>,
    /// Mean length of a loss burst, in packets (with --burst-loss).
    #[arg(long, default_value_t = 3.0, value_name = "PACKETS")]
    pub burst_len: f64,
    /// Upper bound of the uniform extra delay per packet, e.g. 5ms.
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    pub jitter: Option<Duration>,
    /// Bottleneck buffer: bytes (64kb) or bandwidth-delay products (1bdp, 0.5bdp).
    #[arg(long, value_parser = parse_buffer, value_name = "SIZE")]
    pub buffer: Option<BufferSize>,
    /// Probability that a packet is held back and overtaken, e.g. 1%.
    #[arg(long, value_parser = parse_probability, value_name = "PROB")]
    pub reorder: Option<f64>,
    /// How long a reordered packet is held back.
    #[arg(long, value_parser = parse_duration, default_value = "5ms", value_name = "TIME")]
    pub reorder_delay: Duration,
    /// Probability that a packet is delivered twice.
    #[arg(long, value_parser = parse_probability, value_name = "PROB")]
    pub duplicate: Option<f64>,
    /// Probability that one bit of a packet is flipped.
    #[arg(long, value_parser = parse_probability, value_name = "PROB")]
    pub corrupt: Option<f64>,
    /// Largest datagram the path carries, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub mtu: Option<usize>,
}

/// A path that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// No preset of that name.
    #[error("unknown preset `{name}`; available: {available}")]
    UnknownPreset {
        /// The name given.
        name: String,
        /// The names there are.
        available: String,
    },
    /// A link parameter out of range.
    #[error("invalid link: {0}")]
    Link(#[from] LinkConfigError),
    /// A zero MTU.
    #[error("--mtu must be at least 1 byte")]
    Mtu,
    /// Neither a named schedule nor a file that exists.
    #[error("`{name}` is neither a named schedule ({available}) nor a readable file: {source}")]
    UnknownSchedule {
        /// The name given.
        name: String,
        /// The names there are.
        available: String,
        /// Why the file could not be read.
        source: std::io::Error,
    },
    /// A schedule file that does not parse.
    #[error("schedule {path}: {source}")]
    ScheduleFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        source: ScheduleFileError,
    },
    /// A trace file that cannot be read.
    #[error("cannot read trace {path}: {source}")]
    TraceIo {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A trace file that does not parse.
    #[error("trace {path}: {source}")]
    Trace {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        source: DeliveryTraceError,
    },
}

impl PathArgs {
    /// The scenario these arguments describe.
    pub fn scenario(&self) -> Result<Scenario, ScenarioError> {
        let mut scenario = match &self.preset {
            Some(name) => Scenario::preset(name).ok_or_else(|| ScenarioError::UnknownPreset {
                name: name.clone(),
                available: PRESETS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?,
            None => match &self.schedule {
                Some(name) => schedule(name)?,
                None => {
                    let link = LinkConfig::bottleneck(DEFAULT_RATE, DEFAULT_RTT / 2, 0);
                    Scenario::symmetric("custom", String::new(), link)
                }
            },
        };
        let named = self.preset.is_some() || self.schedule.is_some();
        if self.mtu == Some(0) {
            return Err(ScenarioError::Mtu);
        }
        let loss = match (self.loss, self.burst_loss) {
            (Some(p), _) => Some(LossModel::Random { p }),
            (None, Some(p)) => Some(LossModel::GilbertElliott(
                GilbertElliott::from_loss_and_burst(p, self.burst_len)?,
            )),
            (None, None) => None,
        };
        let reverse_rate = self.reverse_rate.or(self.rate);
        // Presets and schedules keep their own buffers unless asked; a described path defaults
        // to one BDP.
        let buffer = match (named, self.buffer) {
            (_, Some(b)) => Some(b),
            (false, None) => Some(BufferSize::Bdp(1.0)),
            (true, None) => None,
        };
        let rtt = self.rtt;
        let apply = |link: &mut LinkConfig, rate: Option<Bitrate>| {
            if let Some(rate) = rate {
                link.rate = Some(rate);
            }
            if let Some(rtt) = rtt {
                link.delay = rtt / 2;
            }
            if let Some(loss) = loss {
                link.loss = loss;
            }
            if let Some(jitter) = self.jitter {
                link.jitter = jitter;
            }
            if let Some(p) = self.reorder {
                link.reorder = p;
                link.reorder_delay = self.reorder_delay;
            }
            if let Some(p) = self.duplicate {
                link.duplicate = p;
            }
            if let Some(p) = self.corrupt {
                link.corrupt = p;
            }
            if let Some(mtu) = self.mtu {
                link.mtu = mtu;
            }
        };
        apply(&mut scenario.forward, self.rate);
        apply(&mut scenario.reverse, reverse_rate);
        scenario.forward_schedule =
            map_schedule(&scenario.forward_schedule, |l| apply(l, self.rate));
        scenario.reverse_schedule =
            map_schedule(&scenario.reverse_schedule, |l| apply(l, reverse_rate));
        // A trace replaces the bottleneck's rate in every phase; the rate left shows its mean
        // (and sizes a buffer given in BDPs).
        let down = self.trace.as_ref().or(self.trace_down.as_ref());
        let up = self.trace.as_ref().or(self.trace_up.as_ref());
        for (path, forward) in [(down, true), (up, false)] {
            let Some(path) = path else { continue };
            let trace = read_trace(path)?;
            let follow = |link: &mut LinkConfig| {
                link.rate = Some(trace.mean_rate());
                link.trace = Some(trace.clone());
            };
            let (start, later) = if forward {
                (&mut scenario.forward, &mut scenario.forward_schedule)
            } else {
                (&mut scenario.reverse, &mut scenario.reverse_schedule)
            };
            follow(start);
            *later = map_schedule(later, follow);
        }
        if let Some(buffer) = buffer {
            let base_rtt = scenario.base_rtt();
            let size = |link: &mut LinkConfig| {
                link.queue_bytes = match (buffer, link.rate) {
                    (BufferSize::Bytes(b), _) => usize::try_from(b).unwrap_or(usize::MAX),
                    (BufferSize::Bdp(k), Some(rate)) => {
                        (bdp_bytes(rate, base_rtt) as f64 * k) as usize
                    }
                    (BufferSize::Bdp(_), None) => 0,
                }
            };
            size(&mut scenario.forward);
            size(&mut scenario.reverse);
            scenario.forward_schedule = map_schedule(&scenario.forward_schedule, size);
            scenario.reverse_schedule = map_schedule(&scenario.reverse_schedule, size);
        }
        if !named || self.overrides_anything() {
            scenario.description = describe(&scenario);
        }
        scenario.forward.validate()?;
        scenario.reverse.validate()?;
        Ok(scenario)
    }

    fn overrides_anything(&self) -> bool {
        self.rate.is_some()
            || self.reverse_rate.is_some()
            || self.rtt.is_some()
            || self.loss.is_some()
            || self.burst_loss.is_some()
            || self.jitter.is_some()
            || self.buffer.is_some()
            || self.reorder.is_some()
            || self.duplicate.is_some()
            || self.corrupt.is_some()
            || self.mtu.is_some()
            || self.trace.is_some()
            || self.trace_down.is_some()
            || self.trace_up.is_some()
    }
}

/// A named schedule, or else a schedule file.
fn schedule(name: &str) -> Result<Scenario, ScenarioError> {
    if let Some(scenario) = schedules::named(name) {
        return Ok(scenario);
    }
    let text = std::fs::read_to_string(name).map_err(|source| ScenarioError::UnknownSchedule {
        name: name.to_owned(),
        available: SCHEDULES
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", "),
        source,
    })?;
    let label = Path::new(name)
        .file_name()
        .map_or_else(|| name.to_owned(), |f| f.to_string_lossy().into_owned());
    parse_schedule(&label, &text).map_err(|source| ScenarioError::ScheduleFile {
        path: PathBuf::from(name),
        source,
    })
}

fn read_trace(path: &Path) -> Result<DeliveryTrace, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::TraceIo {
        path: path.to_owned(),
        source,
    })?;
    DeliveryTrace::parse(&text).map_err(|source| ScenarioError::Trace {
        path: path.to_owned(),
        source,
    })
}

fn map_schedule(schedule: &Schedule, mut f: impl FnMut(&mut LinkConfig)) -> Schedule {
    schedule
        .changes()
        .iter()
        .fold(Schedule::new(), |s, (at, config)| {
            let mut config = config.clone();
            f(&mut config);
            s.at(*at, config)
        })
}

/// One line saying what the forward path is.
pub fn describe(scenario: &Scenario) -> String {
    let f = &scenario.forward;
    let rate = f
        .rate
        .map_or_else(|| "unlimited rate".to_owned(), |r| r.to_string());
    let mut parts = vec![
        if f.trace.is_some() {
            format!("trace-driven ({rate} mean)")
        } else {
            rate
        },
        format!("{} RTT", fmt_duration(scenario.base_rtt())),
    ];
    match f.loss {
        LossModel::None => {}
        LossModel::Outage => parts.push("link down".to_owned()),
        LossModel::Random { p } => parts.push(format!("{} random loss", fmt_percent(p))),
        LossModel::GilbertElliott(ge) => parts.push(format!(
            "{} bursty loss (mean burst {:.1} packets)",
            fmt_percent(ge.mean_loss()),
            ge.mean_bad_run()
        )),
    }
    if !f.jitter.is_zero() {
        parts.push(format!("{} jitter", fmt_duration(f.jitter)));
    }
    if f.rate.is_some() {
        let bdp = scenario.bdp_bytes().unwrap_or(0).max(1);
        parts.push(format!(
            "{} B buffer ({:.2} BDP)",
            f.queue_bytes,
            f.queue_bytes as f64 / bdp as f64
        ));
    }
    if f.reorder > 0.0 {
        parts.push(format!("{} reordering", fmt_percent(f.reorder)));
    }
    if f.duplicate > 0.0 {
        parts.push(format!("{} duplication", fmt_percent(f.duplicate)));
    }
    if f.corrupt > 0.0 {
        parts.push(format!("{} corruption", fmt_percent(f.corrupt)));
    }
    parts.join(", ")
}

/// `12.34 ms`, `1.500 s`, `250 µs`.
pub fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.3} s")
    } else if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{:.0} µs", secs * 1e6)
    }
}

/// `1.00 %`.
pub fn fmt_percent(p: f64) -> String {
    format!("{:.2} %", p * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        path: PathArgs,
    }

    fn scenario(args: &[&str]) -> Result<Scenario, ScenarioError> {
        let w = Wrapper::try_parse_from(std::iter::once("weir").chain(args.iter().copied()))
            .expect("arguments parse");
        w.path.scenario()
    }

    #[test]
    fn described_link() {
        let s = scenario(&[
            "--rate", "10mbit", "--rtt", "50ms", "--loss", "1%", "--buffer", "1bdp",
        ])
        .expect("scenario");
        assert_eq!(s.forward.rate, Some(Bitrate::from_mbps(10)));
        assert_eq!(s.reverse.rate, Some(Bitrate::from_mbps(10)));
        assert_eq!(s.forward.delay, Duration::from_millis(25));
        assert_eq!(s.forward.loss, LossModel::Random { p: 0.01 });
        assert_eq!(s.forward.queue_bytes, 62_500);
        assert!(
            s.description.contains("1.00 % random loss"),
            "{}",
            s.description
        );
    }

    #[test]
    fn preset_with_override_applies_to_its_schedule() {
        let s = scenario(&["--preset", "commute", "--mtu", "1000"]).expect("scenario");
        assert_eq!(s.forward.mtu, 1000);
        assert!(
            s.forward_schedule
                .changes()
                .iter()
                .all(|(_, c)| c.mtu == 1000)
        );
    }

    #[test]
    fn unknown_preset_names_the_available_ones() {
        let err = scenario(&["--preset", "moon"]).expect_err("unknown");
        assert!(err.to_string().contains("2g-tunnel"), "{err}");
    }

    #[test]
    fn loss_and_burst_loss_conflict() {
        let parsed = Wrapper::try_parse_from(["weir", "--loss", "1%", "--burst-loss", "2%"]);
        assert!(parsed.is_err());
    }

    #[test]
    fn bad_burst_length_is_a_clear_error() {
        let err = scenario(&["--burst-loss", "5%", "--burst-len", "0.5"]).expect_err("invalid");
        assert!(err.to_string().contains("burst length"), "{err}");
    }

    #[test]
    fn named_schedule_keeps_its_buffers_and_takes_overrides() {
        let s = scenario(&["--schedule", "train-tunnel", "--mtu", "1200"]).expect("scenario");
        assert_eq!(s.name, "train-tunnel");
        assert_eq!(s.forward.queue_bytes, 150_000);
        assert_eq!(s.forward_schedule.changes().len(), 2);
        assert!(
            s.forward_schedule
                .changes()
                .iter()
                .all(|(_, c)| c.mtu == 1200)
        );
    }

    #[test]
    fn schedule_file_and_trace_files_are_read() {
        let dir = std::env::temp_dir().join(format!("weir-scenario-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let sched = dir.join("path.txt");
        std::fs::write(&sched, "at 0s rate 1mbit rtt 100ms\nat 2s rate 2mbit\n").expect("write");
        let trace = dir.join("trace.txt");
        std::fs::write(&trace, "1\n").expect("write");
        let sched_arg = sched.to_string_lossy().into_owned();
        let trace_arg = trace.to_string_lossy().into_owned();
        let s = scenario(&["--schedule", &sched_arg]).expect("schedule file");
        assert_eq!(s.forward.rate, Some(Bitrate::from_mbps(1)));
        assert_eq!(
            s.forward_schedule.changes()[0].1.rate,
            Some(Bitrate::from_mbps(2))
        );
        let s = scenario(&["--trace-down", &trace_arg, "--rtt", "20ms"]).expect("trace");
        assert!(s.forward.trace.is_some());
        assert!(s.reverse.trace.is_none());
        assert_eq!(s.forward.rate, Some(Bitrate::from_mbps(12)));
        // One BDP of the trace's mean rate.
        assert_eq!(s.forward.queue_bytes, 30_000);
        std::fs::write(&trace, "1\n0\n").expect("write");
        let err = scenario(&["--trace", &trace_arg]).expect_err("decreasing");
        assert!(err.to_string().contains("line 2"), "{err}");
        std::fs::write(&sched, "at 1s rate 1mbit\n").expect("write");
        let err = scenario(&["--schedule", &sched_arg]).expect_err("not at zero");
        assert!(err.to_string().contains("line 1"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unknown_schedule_names_the_available_ones() {
        let err = scenario(&["--schedule", "no-such-schedule-here"]).expect_err("unknown");
        assert!(err.to_string().contains("wifi-handover"), "{err}");
    }
}
