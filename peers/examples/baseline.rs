//! The peer baseline table: one bulk flow by weir and by quinn over each baseline scenario,
//! with weir's goodput and mean queueing delay as ratios against quinn's default (CUBIC).
//!
//! ```text
//! cargo run --release -p weir-peers --example baseline -- [SECONDS] [SEED] [WEIR_CONTROLLER]
//! ```
//!
//! `WEIR_CONTROLLER` is a weir controller name (`bbr`, the default, `newreno`, `cubic`, ...).

use std::time::Duration;

use weir_core::congestion::ControllerKind;
use weir_peers::{BulkReport, BulkRun, PeerError, QuinnController, scenarios};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds = args.next().map_or(Ok(20), |a| a.parse())?;
    let seed = args.next().map_or(Ok(1), |a| a.parse())?;
    let weir_kind = args
        .next()
        .map_or(Ok(ControllerKind::default()), |a| a.parse())?;
    let mut run = BulkRun::timed(seed, Duration::from_secs(seconds));
    run.weir.congestion.kind = weir_kind;
    let mut newreno = run.clone();
    newreno.quinn.controller = QuinnController::NewReno;
    println!("one bulk flow for {seconds} s after the handshake, seed {seed}");
    println!("goodput: bytes read within the window / window; queue: forward link's mean wait\n");
    let weir = format!("weir/{weir_kind}");
    println!(
        "| scenario | {weir} goodput | quinn/cubic goodput | quinn/newreno goodput | \
         {weir} ÷ quinn/cubic | {weir} queue | quinn/cubic queue | quinn/newreno queue | \
         {weir} ÷ quinn/cubic |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for scenario in scenarios::baseline() {
        let reports = table_row(&run, &newreno, &scenario)?;
        for r in &reports {
            if let Some(error) = &r.sender_error {
                eprintln!("{} on {}: {error}", r.stack, scenario.name);
            }
        }
    }
    Ok(())
}

fn table_row(
    run: &BulkRun,
    newreno: &BulkRun,
    scenario: &weir_core::sim::Scenario,
) -> Result<[BulkReport; 3], PeerError> {
    let weir = run.weir(scenario)?;
    let cubic = run.quinn(scenario)?;
    let reno = newreno.quinn(scenario)?;
    let queue = |r: &BulkReport| r.forward_link.mean_queue_delay();
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        scenario.name,
        mbps(&weir),
        mbps(&cubic),
        mbps(&reno),
        ratio(weir.goodput_bps, cubic.goodput_bps),
        ms(queue(&weir)),
        ms(queue(&cubic)),
        ms(queue(&reno)),
        ratio(queue(&weir).as_secs_f64(), queue(&cubic).as_secs_f64()),
    );
    Ok([weir, cubic, reno])
}

fn mbps(r: &BulkReport) -> String {
    format!("{:.3} Mbit/s", r.goodput_bps / 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "–".to_owned()
    }
}
