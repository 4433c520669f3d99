//! `weir sim --compare`: a game flow beside a bulk transfer on one connection, over the path
//! (a schedule, typically), with weir's adaptive strategy, the seed's tiers adapting, each of
//! the seed's tiers fixed, no adaptation, and quinn-proto (the game in QUIC datagrams beside a
//! stream) — side by side.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use weir_core::adapt::{AdaptConfig, PolicyChoice, SeedTiers};
use weir_core::config::TransportConfig;
use weir_core::connection::ConnectionStats;
use weir_core::estimate::QualityGrade;
use weir_core::sim::Scenario;
use weir_core::sim::game::IntervalDelay;
use weir_core::sim::mixed::{MixedRun, MixedSpec, Progress, run_mixed};

use weir_peers::{QuinnMixedReport, quinn_mixed};

use crate::CliError;
use crate::scenario::fmt_duration;
use crate::svg::Panel;

/// The time a comparison runs past a schedule's last change.
const AFTER_LAST_CHANGE: Duration = Duration::from_secs(30);

/// One strategy of the comparison.
pub struct Contender {
    /// Its name in the table.
    pub name: String,
    /// Its adaptation settings.
    pub adapt: AdaptConfig,
}

/// weir's adaptive default, the seed's tiers adapting, each tier fixed, and no adaptation.
pub fn contenders(max_datagram_size: u16) -> Vec<Contender> {
    let mut all = vec![
        Contender {
            name: "weir adaptive (default)".to_owned(),
            adapt: AdaptConfig::default(),
        },
        Contender {
            name: "seed tiers, adaptive".to_owned(),
            adapt: AdaptConfig::with_policy(PolicyChoice::SeedTiers),
        },
    ];
    for grade in [
        QualityGrade::Excellent,
        QualityGrade::Good,
        QualityGrade::Fair,
        QualityGrade::Poor,
    ] {
        let tier = SeedTiers::tier(grade, max_datagram_size);
        all.push(Contender {
            name: format!("fixed {grade} tier ({tier})"),
            adapt: AdaptConfig::fixed(&tier),
        });
    }
    all.push(Contender {
        name: "no adaptation".to_owned(),
        adapt: AdaptConfig::off(),
    });
    all
}

/// How long the comparison runs over `scenario`: `duration`, or until 30 s after the
/// schedule's last change if that is later.
pub fn run_time(scenario: &Scenario, duration: Duration) -> Duration {
    let last = scenario
        .forward_schedule
        .changes()
        .iter()
        .chain(scenario.reverse_schedule.changes())
        .map(|(at, _)| *at)
        .max();
    last.map_or(duration, |at| duration.max(at + AFTER_LAST_CHANGE))
}

/// Runs every contender over `scenario` (in parallel, each run deterministic).
pub fn run(
    scenario: &Scenario,
    duration: Duration,
    seed: u64,
) -> Result<Vec<(String, MixedRun)>, CliError> {
    let duration = run_time(scenario, duration);
    let base = TransportConfig::default();
    let contenders = contenders(base.datagram_ceiling());
    let epoch = Instant::now();
    let spec = |adapt: &AdaptConfig| {
        MixedSpec::new(
            TransportConfig {
                adapt: adapt.clone(),
                ..base.clone()
            },
            duration,
        )
    };
    let (results, quinn) = std::thread::scope(|scope| {
        let handles: Vec<_> = contenders
            .iter()
            .map(|c| {
                let spec = spec(&c.adapt);
                scope.spawn(move || run_mixed(epoch, scenario, seed, &spec))
            })
            .collect();
        let game = spec(&AdaptConfig::default());
        let quinn = scope.spawn(move || {
            quinn_mixed(
                scenario,
                seed,
                game.rate_hz,
                game.size,
                game.deadline,
                game.duration,
                game.drain,
            )
        });
        let results: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        (results, quinn.join())
    });
    let mut runs = contenders
        .into_iter()
        .zip(results)
        .map(|(c, r)| match r {
            Ok(Ok(run)) => Ok((c.name, run)),
            Ok(Err(e)) => Err(CliError::from(e)),
            Err(_) => Err(CliError::Panicked(c.name)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let quinn = quinn.map_err(|_| CliError::Panicked(QUINN.to_owned()))??;
    runs.push((QUINN.to_owned(), quinn_row(&quinn, duration)));
    Ok(runs)
}

/// The quinn row's name.
const QUINN: &str = "quinn (QUIC datagrams + a stream, CUBIC)";

/// quinn's figures in the table's terms (it has no strategy, and its connection is not
/// weir's: no timeline or stats).
fn quinn_row(q: &QuinnMixedReport, window: Duration) -> MixedRun {
    MixedRun {
        timeline: Vec::new(),
        game_sent: q.game_sent,
        game_on_time: q.game_on_time,
        game_delay_p50: q.game_delay_p50,
        game_delay_p99: q.game_delay_p99,
        bulk_bytes: q.bulk_bytes,
        window,
        strategy_changes: Vec::new(),
        sender_stats: None,
        sender_lanes: Default::default(),
        receiver_lanes: Default::default(),
        forward: Default::default(),
    }
}

/// The comparison as a table a newcomer can read.
pub fn render(scenario: &Scenario, runs: &[(String, MixedRun)]) -> String {
    let mut out = String::new();
    let window = runs.first().map_or(Duration::ZERO, |(_, r)| r.window);
    let sent = runs.first().map_or(0, |(_, r)| r.game_sent);
    let _ = writeln!(
        out,
        "weir sim --compare: a 60 Hz game (64-byte messages on an unreliable lane, each given up \
         after 400 ms) beside a bulk download on the same connection, for {} over \"{}\" ({}).\n\
         Lower is better for the game columns, higher for the download.\n",
        fmt_duration(window),
        scenario.name,
        scenario.description
    );
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header([
        "strategy".to_owned(),
        "game delay p50 / p99".to_owned(),
        format!("game messages lost or late (of {sent})"),
        "download Mbit/s".to_owned(),
        "strategy changes".to_owned(),
    ]);
    for (name, r) in runs {
        t.add_row([
            name.clone(),
            format!(
                "{} / {}",
                fmt_duration(r.game_delay_p50),
                fmt_duration(r.game_delay_p99)
            ),
            format!(
                "{} ({:.1} %)",
                r.game_late(),
                r.game_late() as f64 * 100.0 / r.game_sent.max(1) as f64
            ),
            format!("{:.2}", r.bulk_goodput_bps() / 1e6),
            r.strategy_changes.len().to_string(),
        ]);
    }
    for i in 1..5 {
        if let Some(column) = t.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let _ = writeln!(out, "{t}");
    out
}

/// An SVG over time of the adaptive default against no adaptation: the quality score and the
/// strategy changes, the game's messages on time and their delay (median and largest) and the
/// download per second, the window and the smoothed RTT.
pub fn chart(scenario: &Scenario, runs: &[(String, MixedRun)]) -> String {
    let pick = |name: &str| runs.iter().find(|(n, _)| n == name).map(|(_, r)| r);
    let shown: Vec<(&str, &MixedRun)> = [
        ("adaptive", pick("weir adaptive (default)")),
        ("no adaptation", pick("no adaptation")),
    ]
    .into_iter()
    .filter_map(|(label, run)| Some((label, run?)))
    .collect();
    let per_second = |run: &MixedRun, f: &dyn Fn(&Progress, &Progress) -> f64| -> Vec<(f64, f64)> {
        run.timeline
            .windows(2)
            .map(|w| (w[1].at.as_secs_f64(), f(&w[0], &w[1])))
            .collect()
    };
    let sender = |run: &MixedRun, f: &dyn Fn(&ConnectionStats) -> Option<f64>| -> Vec<(f64, f64)> {
        run.timeline
            .iter()
            .filter_map(|p| Some((p.at.as_secs_f64(), f(p.sender.as_ref()?)?)))
            .collect()
    };
    let series = |f: &dyn Fn(&MixedRun) -> Vec<(f64, f64)>| -> Vec<(&str, Vec<(f64, f64)>)> {
        shown.iter().map(|(label, run)| (*label, f(run))).collect()
    };
    let changes = |run: &MixedRun| -> Vec<(f64, f64)> {
        run.timeline
            .iter()
            .map(|p| {
                let n = run
                    .strategy_changes
                    .iter()
                    .filter(|(at, _)| *at <= p.at)
                    .count();
                (p.at.as_secs_f64(), n as f64)
            })
            .collect()
    };
    crate::svg::chart(
        &format!("weir sim --compare: {}", scenario.description),
        &[
            Panel {
                title: "quality score (0–100)",
                unit: "score",
                series: series(&|r| sender(r, &|s| s.path.quality.map(|q| q.total))),
            },
            Panel {
                title: "strategy changes so far",
                unit: "changes",
                series: series(&changes),
            },
            Panel {
                title: "game messages on time, per second (60 sent)",
                unit: "messages",
                series: series(&|r| {
                    per_second(r, &|a, b| {
                        b.game_on_time.saturating_sub(a.game_on_time) as f64
                    })
                }),
            },
            Panel {
                title: "game message delay, per second: median and largest",
                unit: "ms",
                series: shown
                    .iter()
                    .flat_map(|(label, run)| {
                        let delays = |f: fn(&IntervalDelay) -> Duration| -> Vec<(f64, f64)> {
                            run.timeline
                                .iter()
                                .filter_map(|p| {
                                    let d = p.game_delay.as_ref()?;
                                    Some((p.at.as_secs_f64(), f(d).as_secs_f64() * 1e3))
                                })
                                .collect()
                        };
                        let (median, largest) = if *label == "adaptive" {
                            ("adaptive, median", "adaptive, largest")
                        } else {
                            ("no adaptation, median", "no adaptation, largest")
                        };
                        [(median, delays(|d| d.p50)), (largest, delays(|d| d.max))]
                    })
                    .collect(),
            },
            Panel {
                title: "download",
                unit: "Mbit/s",
                series: series(&|r| {
                    per_second(r, &|a, b| {
                        b.bulk_bytes.saturating_sub(a.bulk_bytes) as f64 * 8.0 / 1e6
                    })
                }),
            },
            Panel {
                title: "congestion window",
                unit: "kB",
                series: series(&|r| sender(r, &|s| Some(s.cwnd as f64 / 1e3))),
            },
            Panel {
                title: "smoothed RTT",
                unit: "ms",
                series: series(&|r| sender(r, &|s| Some(s.srtt.as_secs_f64() * 1e3))),
            },
        ],
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn args(argv: &[&str]) -> crate::sim_cmd::SimArgs {
        let argv = ["weir", "sim"].into_iter().chain(argv.iter().copied());
        let Command::Sim(args) = Cli::try_parse_from(argv).expect("arguments parse").command else {
            unreachable!("a sim command")
        };
        args
    }

    #[test]
    fn a_comparison_runs_every_contender_and_names_it() {
        let a = args(&[
            "--compare",
            "--rate",
            "5mbit",
            "--rtt",
            "40ms",
            "--duration",
            "3s",
        ]);
        let scenario = a.path.scenario().expect("path");
        let runs = run(&scenario, a.duration, a.seed).expect("runs");
        let names: Vec<&str> = runs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(runs.len(), 8, "{names:?}");
        assert!(names[7].starts_with("quinn"));
        assert_eq!(names[0], "weir adaptive (default)");
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("fixed poor tier (tcp newreno 576 B"))
        );
        let table = render(&scenario, &runs);
        let svg = chart(&scenario, &runs);
        assert!(
            svg.starts_with("<svg") && svg.contains("quality score"),
            "{svg}"
        );
        assert!(svg.contains("no adaptation"));
        for name in names {
            assert!(table.contains(name), "{table}");
        }
        // A 5 Mbit/s path carries the game and most of the download for everyone.
        for (name, r) in &runs {
            assert!(r.game_sent >= 170, "{name}: {}", r.game_sent);
            assert!(
                r.bulk_goodput_bps() > 1e6,
                "{name}: {}",
                r.bulk_goodput_bps()
            );
        }
    }

    #[test]
    fn over_a_schedule_the_comparison_outlasts_its_last_change() {
        let scenario = weir_core::sim::schedules::named("train-tunnel").expect("schedule");
        assert_eq!(
            run_time(&scenario, Duration::from_secs(10)),
            Duration::from_secs(80)
        );
        assert_eq!(
            run_time(&scenario, Duration::from_secs(100)),
            Duration::from_secs(100)
        );
        let fixed = Scenario::preset("lte").expect("preset");
        assert_eq!(
            run_time(&fixed, Duration::from_secs(10)),
            Duration::from_secs(10)
        );
    }
}
