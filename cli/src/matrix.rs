//! `weir sim --matrix`: every congestion controller over a grid of bottlenecks, side by side.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use weir_core::config::TransportConfig;
use weir_core::congestion::{ControllerConfig, ControllerKind};
use weir_core::sim::Scenario;
use weir_core::sim::flows::BulkAmount;
use weir_core::sim::runs::{BulkRun, BulkSpec, bottleneck, run_bulk};

use weir_peers::QuinnController;

use crate::CliError;
use crate::svg::{Panel, chart};

/// The grid of `weir sim --matrix`.
#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Run the scenario matrix instead of one scenario.
    #[arg(long)]
    pub matrix: bool,
    /// Controllers to compare (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "newreno,cubic,bbr,vegas")]
    pub controllers: Vec<ControllerKind>,
    /// Bottleneck rates in Mbit/s (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    pub rates: Vec<f64>,
    /// Round-trip times in milliseconds (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "10,50,200")]
    pub rtts: Vec<u64>,
    /// Random loss in percent (comma-separated). Mobile and Wi-Fi links lose packets no queue
    /// dropped, so the grid goes well past what loss-based controllers survive.
    #[arg(long, value_delimiter = ',', default_value = "0,0.1,1,2,3,5,10,15,25")]
    pub losses: Vec<f64>,
    /// Bottleneck buffers in bandwidth-delay products (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "0.5,1,4")]
    pub buffers: Vec<f64>,
    /// Write SVG plots (cwnd, pacing rate, RTT over time) of two reference runs per controller
    /// into this directory.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Parallel simulations (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also run quinn (quinn-proto with its default controller, TLS 1.3, datagrams from 1200 bytes
    /// with path MTU discovery up to 1452, as weir's)
    /// over every scenario and print weir ÷ quinn ratios; and quinn with weir's BBR in place of
    /// its controller (weir-quinn-cc), beside it.
    #[arg(long)]
    pub peer_quinn: bool,
    /// With --peer-quinn, leave out quinn with weir's BBR (its column shows "–"): those runs
    /// move as much data as weir's own BBR on every lossy cell, where quinn's CUBIC gives up.
    #[arg(long)]
    pub no_quinn_weir_bbr: bool,
}

/// One cell of the matrix.
#[derive(Debug, Clone)]
pub struct Cell {
    pub controller: ControllerKind,
    pub rate_mbps: f64,
    pub rtt_ms: u64,
    pub loss_pct: f64,
    pub buffer_bdp: f64,
    pub goodput_pct: f64,
    pub queue_mean: Duration,
    pub queue_p95: Duration,
    pub retransmitted_pct: f64,
}

/// quinn over one scenario: with its default controller, and with weir's BBR.
#[derive(Debug, Clone)]
pub struct PeerCell {
    pub rate_mbps: f64,
    pub rtt_ms: u64,
    pub loss_pct: f64,
    pub buffer_bdp: f64,
    pub goodput_pct: f64,
    pub queue_mean: Duration,
    /// Why quinn's connection closed before the sending window ended, if it did.
    pub closed: Option<String>,
    /// quinn with weir's BBR (weir-quinn-cc) over the same scenario.
    pub weir_bbr: Option<PeerRun>,
}

/// One quinn run of a [`PeerCell`].
#[derive(Debug, Clone)]
pub struct PeerRun {
    pub goodput_pct: f64,
    pub queue_mean: Duration,
    /// Why the connection closed before the sending window ended, if it did.
    pub closed: Option<String>,
}

impl PeerRun {
    fn of(report: &weir_peers::BulkReport, rate_mbps: f64) -> Self {
        Self {
            goodput_pct: report.goodput_bps / (rate_mbps * 1e6) * 100.0,
            queue_mean: report.forward_link.mean_queue_delay(),
            closed: report.sender_error.clone(),
        }
    }
}

fn run_cell(
    controller: ControllerKind,
    scenario: &Scenario,
    rate_mbps: f64,
    duration: Duration,
    seed: u64,
    sample: bool,
) -> Result<(f64, weir_core::sim::LinkStats, BulkRun), CliError> {
    let spec = BulkSpec {
        transport: TransportConfig {
            congestion: ControllerConfig::new(controller),
            // The matrix compares controllers: no policy may switch away from the cell's.
            adapt: weir_core::adapt::AdaptConfig {
                pins: weir_core::adapt::Pins {
                    controller: Some(controller),
                    ..weir_core::adapt::Pins::default()
                },
                ..weir_core::adapt::AdaptConfig::default()
            },
            ..TransportConfig::default()
        },
        start: Duration::ZERO,
        amount: BulkAmount::For(duration),
        sample_every: sample.then_some(Duration::from_millis(10)),
        tls: true,
    };
    let epoch = Instant::now();
    let runs = run_bulk(
        epoch,
        scenario,
        seed,
        &[spec],
        duration + Duration::from_secs(5),
    )?;
    let run = runs
        .flows
        .into_iter()
        .next()
        .unwrap_or_else(|| unreachable!("one flow"));
    // Bytes read while the sender was sending, as the quinn baseline measures it.
    let start = run.connected_at.unwrap_or_default();
    let bytes = run.received_between(start, start + duration);
    let pct = bytes as f64 * 8.0 / duration.as_secs_f64() / (rate_mbps * 1e6) * 100.0;
    Ok((pct, runs.forward, run))
}

/// Runs the matrix and returns its table.
pub fn run(args: &MatrixArgs, duration: Duration, seed: u64) -> Result<String, CliError> {
    for kind in &args.controllers {
        if !kind.is_implemented() {
            return Err(CliError::Config(
                weir_core::config::ConfigError::Controller(
                    weir_core::congestion::UnsupportedController { kind: *kind },
                ),
            ));
        }
    }
    let mut jobs = Vec::new();
    for &controller in &args.controllers {
        for &rate in &args.rates {
            for &rtt in &args.rtts {
                for &loss in &args.losses {
                    for &buffer in &args.buffers {
                        jobs.push((controller, rate, rtt, loss, buffer));
                    }
                }
            }
        }
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Result<Cell, CliError>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = {
                        let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(&(controller, rate, rtt, loss, buffer)) = jobs.get(index) else {
                        break;
                    };
                    let scenario =
                        bottleneck(rate, Duration::from_millis(rtt), loss / 100.0, buffer);
                    let cell = run_cell(controller, &scenario, rate, duration, seed, false).map(
                        |(goodput_pct, link, run)| {
                            // Against what went on the wire, not what the application wrote:
                            // a slow flow leaves most of its writes in the send buffer.
                            let (retx, sent) = run
                                .stats
                                .as_ref()
                                .map_or((0, 0), |s| (s.stream_bytes_retransmitted, s.bytes_sent));
                            let sent = sent.max(1) as f64;
                            Cell {
                                controller,
                                rate_mbps: rate,
                                rtt_ms: rtt,
                                loss_pct: loss,
                                buffer_bdp: buffer,
                                goodput_pct,
                                queue_mean: link.mean_queue_delay(),
                                queue_p95: link.queue_delay_quantile(0.95),
                                retransmitted_pct: retx as f64 / sent * 100.0,
                            }
                        },
                    );
                    results.lock().unwrap_or_else(|e| e.into_inner()).push(cell);
                }
            });
        }
    });
    let mut cells: Vec<Cell> = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .collect::<Result<_, _>>()?;
    cells.sort_by(|a, b| {
        (
            a.controller as u8,
            a.rate_mbps,
            a.rtt_ms,
            a.loss_pct,
            a.buffer_bdp,
        )
            .partial_cmp(&(
                b.controller as u8,
                b.rate_mbps,
                b.rtt_ms,
                b.loss_pct,
                b.buffer_bdp,
            ))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if let Some(dir) = &args.plots {
        plots(dir, &args.controllers, duration, seed)?;
    }
    let peers = if args.peer_quinn {
        quinn_cells(args, duration, seed, threads)?
    } else {
        Vec::new()
    };
    Ok(render(&cells, &peers, duration))
}

/// quinn over every scenario of the grid, with its default controller and with weir's BBR:
/// one job per run, so that the two share the threads evenly.
fn quinn_cells(
    args: &MatrixArgs,
    duration: Duration,
    seed: u64,
    threads: usize,
) -> Result<Vec<PeerCell>, CliError> {
    let mut jobs = Vec::new();
    let controllers: &[QuinnController] = if args.no_quinn_weir_bbr {
        &[QuinnController::Cubic]
    } else {
        &[QuinnController::Cubic, WEIR_BBR]
    };
    for &controller in controllers {
        for &rate in &args.rates {
            for &rtt in &args.rtts {
                for &loss in &args.losses {
                    for &buffer in &args.buffers {
                        jobs.push((controller, rate, rtt, loss, buffer));
                    }
                }
            }
        }
    }
    let next = Mutex::new(0usize);
    type Job = (QuinnController, f64, u64, f64, f64);
    let results: Mutex<Vec<Result<(Job, PeerRun), CliError>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = {
                        let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(&job) = jobs.get(index) else {
                        break;
                    };
                    let (controller, rate, rtt, loss, buffer) = job;
                    let scenario =
                        bottleneck(rate, Duration::from_millis(rtt), loss / 100.0, buffer);
                    let mut run = weir_peers::BulkRun::timed(seed, duration);
                    run.quinn.controller = controller;
                    let cell = run
                        .quinn(&scenario)
                        .map(|report| (job, PeerRun::of(&report, rate)))
                        .map_err(CliError::from);
                    results.lock().unwrap_or_else(|e| e.into_inner()).push(cell);
                }
            });
        }
    });
    let runs: Vec<(Job, PeerRun)> = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .collect::<Result<_, _>>()?;
    let same = |a: &Job, b: &Job| (a.1, a.2, a.3, a.4) == (b.1, b.2, b.3, b.4);
    Ok(runs
        .iter()
        .filter(|(job, _)| job.0 == QuinnController::default())
        .map(|(job, run)| PeerCell {
            rate_mbps: job.1,
            rtt_ms: job.2,
            loss_pct: job.3,
            buffer_bdp: job.4,
            goodput_pct: run.goodput_pct,
            queue_mean: run.queue_mean,
            closed: run.closed.clone(),
            weir_bbr: runs
                .iter()
                .find(|(other, _)| other.0 == WEIR_BBR && same(job, other))
                .map(|(_, run)| run.clone()),
        })
        .collect())
}

/// The weir controller the matrix runs inside quinn, beside quinn's default.
const WEIR_BBR: QuinnController = QuinnController::Weir(ControllerKind::Bbr);

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// Goodput as a share of what random loss leaves of the link, `capacity × (1 − p)`: 100 % is
/// all a sender can move once the link drops a share `p` of what it carries.
fn share_of_lossless(goodput_pct: f64, loss_pct: f64) -> f64 {
    let kept = 1.0 - loss_pct / 100.0;
    if kept > 0.0 { goodput_pct / kept } else { 0.0 }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "–".to_owned()
    }
}

/// One table per controller (with quinn's figures and the ratios when `peers` is not empty).
pub fn render(cells: &[Cell], peers: &[PeerCell], duration: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "weir sim --matrix: one bulk flow for {} of virtual time per cell; goodput = bytes read while the sender sends, as a share of the bottleneck rate; queueing delay at the bottleneck; retransmitted = stream bytes sent again, as a share of the bytes sent; weir with TLS 1.3 (AES-128-GCM, 16-byte tags), as it runs by default{}\n",
        crate::scenario::fmt_duration(duration),
        if peers.is_empty() {
            ""
        } else {
            "; quinn = quinn-proto 0.11 with its default controller (CUBIC), TLS 1.3, datagrams from 1200 bytes with path MTU discovery up to 1452 (as weir), over the same links; quinn+weir-BBR = the same quinn with weir's BBR as its controller (weir-quinn-cc: quinn's loss detection and its window-based pacer around weir's BBR)"
        }
    );
    let mut controllers: Vec<ControllerKind> = cells.iter().map(|c| c.controller).collect();
    controllers.dedup();
    for controller in controllers {
        let mut t = Table::new();
        let mut header = vec![
            "rate Mbit/s",
            "RTT ms",
            "loss %",
            "buffer BDP",
            "goodput %",
            "of capacity·(1−p) %",
            "queue mean ms",
            "queue p95 ms",
            "retransmitted %",
        ];
        if !peers.is_empty() {
            header.extend([
                "quinn goodput %",
                "quinn+weir-BBR goodput %",
                "quinn queue ms",
                "quinn+weir-BBR queue ms",
                "goodput ÷ quinn",
                "queue ÷ quinn",
            ]);
        }
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_header(header.clone());
        for i in 0..header.len() {
            if let Some(col) = t.column_mut(i) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
        for c in cells.iter().filter(|c| c.controller == controller) {
            let mut row = vec![
                format!("{}", c.rate_mbps),
                c.rtt_ms.to_string(),
                format!("{}", c.loss_pct),
                format!("{}", c.buffer_bdp),
                format!("{:.1}", c.goodput_pct),
                format!("{:.1}", share_of_lossless(c.goodput_pct, c.loss_pct)),
                ms(c.queue_mean),
                ms(c.queue_p95),
                format!("{:.2}", c.retransmitted_pct),
            ];
            let peer = peers.iter().find(|p| {
                (p.rate_mbps, p.rtt_ms, p.loss_pct, p.buffer_bdp)
                    == (c.rate_mbps, c.rtt_ms, c.loss_pct, c.buffer_bdp)
            });
            if let Some(p) = peer {
                // A ratio against a connection that closed measures the close, not quinn's
                // congestion control: mark it and leave the ratio out.
                let (mark, goodput_ratio) = match &p.closed {
                    Some(_) => ("†", "–".to_owned()),
                    None => ("", ratio(c.goodput_pct, p.goodput_pct)),
                };
                let (weir_bbr_goodput, weir_bbr_queue) = p.weir_bbr.as_ref().map_or_else(
                    || ("–".to_owned(), "–".to_owned()),
                    |w| {
                        let mark = if w.closed.is_some() { "†" } else { "" };
                        (format!("{:.1}{mark}", w.goodput_pct), ms(w.queue_mean))
                    },
                );
                row.extend([
                    format!("{:.1}{mark}", p.goodput_pct),
                    weir_bbr_goodput,
                    ms(p.queue_mean),
                    weir_bbr_queue,
                    goodput_ratio,
                    ratio(c.queue_mean.as_secs_f64(), p.queue_mean.as_secs_f64()),
                ]);
            }
            t.add_row(row);
        }
        let _ = writeln!(out, "{controller}\n{t}\n");
    }
    let mut reasons: Vec<&str> = peers
        .iter()
        .flat_map(|p| {
            [
                p.closed.as_deref(),
                p.weir_bbr.as_ref().and_then(|w| w.closed.as_deref()),
            ]
        })
        .flatten()
        .collect();
    reasons.sort_unstable();
    reasons.dedup();
    if !reasons.is_empty() {
        let _ = writeln!(
            out,
            "† quinn's connection closed before the sending window ended ({}), so no ratio is given against it. quinn-proto 0.11 closes a connection when one stream's receive buffer holds more than 1024 separate out-of-order chunks (\"too many gaps in stream buffer\"), as it does after a slow-start overshoot into a smooth tail-drop bottleneck that drops every other packet.\n",
            reasons.join("; ")
        );
    }
    out
}

/// SVG plots of two reference runs per controller: 10 Mbit/s, 50 ms, 1 % loss, 1 BDP; and no
/// loss with a 4 BDP buffer.
fn plots(
    dir: &std::path::Path,
    controllers: &[ControllerKind],
    duration: Duration,
    seed: u64,
) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    for &controller in controllers {
        for (loss, buffer) in [(0.01, 1.0), (0.0, 4.0)] {
            let scenario = bottleneck(10.0, Duration::from_millis(50), loss, buffer);
            let (_, _, run) = run_cell(controller, &scenario, 10.0, duration, seed, true)?;
            let svg = run_chart(
                &format!("{controller}: {}", scenario.description),
                &run.samples,
            );
            let name = format!(
                "{controller}-10mbit-50ms-{}loss-{}bdp.svg",
                loss * 100.0,
                buffer
            );
            let path = dir.join(name);
            std::fs::write(&path, svg).map_err(|e| CliError::Io { path, source: e })?;
        }
    }
    Ok(())
}

/// The three-panel chart (window and flight, pacing rate, RTT) of one run's samples.
pub fn run_chart(title: &str, samples: &[weir_core::sim::flows::Sample]) -> String {
    let series = |f: &dyn Fn(&weir_core::sim::flows::Sample) -> f64| {
        samples
            .iter()
            .map(|s| (s.at.as_secs_f64(), f(s)))
            .collect::<Vec<_>>()
    };
    chart(
        title,
        &[
            Panel {
                title: "congestion window",
                unit: "kB",
                series: vec![
                    ("cwnd", series(&|s| s.cwnd as f64 / 1e3)),
                    ("in flight", series(&|s| s.bytes_in_flight as f64 / 1e3)),
                ],
            },
            Panel {
                title: "pacing rate",
                unit: "Mbit/s",
                series: vec![("pacing rate", series(&|s| s.pacing_rate as f64 * 8.0 / 1e6))],
            },
            Panel {
                title: "round-trip time",
                unit: "ms",
                series: vec![
                    ("latest RTT", series(&|s| s.latest_rtt.as_secs_f64() * 1e3)),
                    ("smoothed RTT", series(&|s| s.srtt.as_secs_f64() * 1e3)),
                ],
            },
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(goodput_pct: f64) -> Cell {
        Cell {
            controller: ControllerKind::Bbr,
            rate_mbps: 10.0,
            rtt_ms: 50,
            loss_pct: 1.0,
            buffer_bdp: 1.0,
            goodput_pct,
            queue_mean: Duration::from_millis(5),
            queue_p95: Duration::from_millis(30),
            retransmitted_pct: 1.0,
        }
    }

    fn peer(weir_bbr: Option<PeerRun>) -> PeerCell {
        PeerCell {
            rate_mbps: 10.0,
            rtt_ms: 50,
            loss_pct: 1.0,
            buffer_bdp: 1.0,
            goodput_pct: 27.0,
            queue_mean: Duration::from_millis(1),
            closed: None,
            weir_bbr,
        }
    }

    #[test]
    fn quinn_with_weir_bbr_sits_beside_quinns_default() {
        let with = PeerRun {
            goodput_pct: 94.2,
            queue_mean: Duration::from_micros(40_300),
            closed: None,
        };
        let table = render(&[cell(94.0)], &[peer(Some(with))], Duration::from_secs(30));
        let header = table
            .lines()
            .find(|l| l.contains("rate Mbit/s"))
            .unwrap_or_default();
        let columns: Vec<&str> = header.split('┆').map(str::trim).collect();
        let at = |name: &str| columns.iter().position(|c| c.contains(name));
        assert_eq!(
            at("quinn goodput %").map(|i| i + 1),
            at("quinn+weir-BBR goodput %")
        );
        assert_eq!(
            at("quinn queue ms").map(|i| i + 1),
            at("quinn+weir-BBR queue ms")
        );
        // The ratios still compare weir with quinn's default: 94.0 ÷ 27.0.
        let row = table
            .lines()
            .find(|l| l.contains("94.2"))
            .unwrap_or_default();
        assert!(row.contains("40.3"), "{row}");
        assert!(row.contains("3.48"), "{row}");

        // A closed quinn+weir-BBR connection is marked; a missing run shows a dash.
        let closed = PeerRun {
            closed: Some("too many gaps in stream buffer".to_owned()),
            ..PeerRun {
                goodput_pct: 1.2,
                queue_mean: Duration::ZERO,
                closed: None,
            }
        };
        let table = render(
            &[cell(94.0)],
            &[peer(Some(closed))],
            Duration::from_secs(30),
        );
        assert!(table.contains("1.2†"));
        assert!(table.contains("too many gaps in stream buffer"));
        let table = render(&[cell(94.0)], &[peer(None)], Duration::from_secs(30));
        let row = table
            .lines()
            .find(|l| l.contains("27.0"))
            .unwrap_or_default();
        assert!(row.contains('–'), "{row}");
    }
}
