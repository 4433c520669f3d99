//! weir's controllers inside quinn (weir-quinn-cc) against quinn's own, over the simulator's
//! bottlenecks: one bulk flow per controller and cell, goodput and queueing delay; weir's own
//! connection with BBR as a reference row.
//!
//! ```text
//! cargo run --release -p weir-peers --example quinn_cc -- [SECONDS] [SEED]
//! ```
//!
//! The cells are the bottlenecks of `weir sim --matrix` (`bottleneck(rate, rtt, loss, buffer)`):
//! 10 Mbit/s × 50 ms and 100 Mbit/s × 100 ms, buffers of 1 and 4 BDP, 0 % and 1 % random loss.
//! Goodput is the bytes read within the sending window as a share of the bottleneck rate (as
//! the matrix counts it); "queue" is the forward bottleneck's mean and 95th-percentile wait.
//! `†` marks a connection that closed before its window ended.

use std::time::Duration;

use weir_core::congestion::ControllerKind;
use weir_core::sim::runs::bottleneck;
use weir_peers::{BulkReport, BulkRun, QuinnController};

/// The stacks compared: quinn's three controllers, weir's three inside quinn, weir itself.
const QUINN: [QuinnController; 6] = [
    QuinnController::Cubic,
    QuinnController::NewReno,
    QuinnController::Bbr,
    QuinnController::Weir(ControllerKind::Cubic),
    QuinnController::Weir(ControllerKind::Vegas),
    QuinnController::Weir(ControllerKind::Bbr),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds = args.next().map_or(Ok(30), |a| a.parse())?;
    let seed = args.next().map_or(Ok(1), |a| a.parse())?;
    let duration = Duration::from_secs(seconds);
    println!("one bulk flow for {seconds} s after the handshake, seed {seed}\n");
    println!("| cell | stack | goodput % | queue mean ms | queue p95 ms | lost packets |");
    println!("|---|---|---:|---:|---:|---:|");
    for (rate, rtt) in [(10.0, 50), (100.0, 100)] {
        for buffer in [1.0, 4.0] {
            for loss in [0.0, 1.0] {
                let scenario = bottleneck(rate, Duration::from_millis(rtt), loss / 100.0, buffer);
                let cell = format!("{rate} Mbit/s × {rtt} ms, {buffer} BDP, {loss} % loss");
                for controller in QUINN {
                    let mut run = BulkRun::timed(seed, duration);
                    run.quinn.controller = controller;
                    row(&cell, &run.quinn(&scenario)?, rate);
                }
                row(
                    &cell,
                    &BulkRun::timed(seed, duration).weir(&scenario)?,
                    rate,
                );
            }
        }
    }
    Ok(())
}

fn row(cell: &str, report: &BulkReport, rate_mbps: f64) {
    let link = &report.forward_link;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| {cell} | {} | {:.1}{} | {:.1} | {:.1} | {} |",
        report.stack,
        report.goodput_bps / (rate_mbps * 1e6) * 100.0,
        if report.sender_error.is_some() {
            "†"
        } else {
            ""
        },
        ms(link.mean_queue_delay()),
        ms(link.queue_delay_quantile(0.95)),
        report.sender.map_or(0, |s| s.packets_lost),
    );
}
