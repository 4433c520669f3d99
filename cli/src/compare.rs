//! `weir sim --compare`: a game flow beside a bulk transfer on one connection, over the path
//! (a schedule, typically), with weir's adaptive strategy, the seed's tiers adapting, each of
//! the seed's tiers fixed, and no adaptation — side by side.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use weir_core::adapt::{AdaptConfig, PolicyChoice, SeedTiers};
use weir_core::config::TransportConfig;
use weir_core::estimate::QualityGrade;
use weir_core::sim::Scenario;
use weir_core::sim::mixed::{MixedRun, MixedSpec, run_mixed};

use crate::CliError;
use crate::scenario::fmt_duration;

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
    let contenders = contenders(base.max_datagram_size);
    let epoch = Instant::now();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = contenders
            .iter()
            .map(|c| {
                let spec = MixedSpec::new(
                    TransportConfig {
                        adapt: c.adapt.clone(),
                        ..base.clone()
                    },
                    duration,
                );
                scope.spawn(move || run_mixed(epoch, scenario, seed, &spec))
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    contenders
        .into_iter()
        .zip(results)
        .map(|(c, r)| match r {
            Ok(Ok(run)) => Ok((c.name, run)),
            Ok(Err(e)) => Err(CliError::from(e)),
            Err(_) => Err(CliError::Panicked(c.name)),
        })
        .collect()
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
        assert_eq!(runs.len(), 7, "{names:?}");
        assert_eq!(names[0], "weir adaptive (default)");
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("fixed poor tier (tcp newreno 576 B"))
        );
        let table = render(&scenario, &runs);
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
