//! The paths of the peer baseline: a bottleneck grid plus three named presets.

use std::time::Duration;

use weir_core::sim::presets::bdp_bytes;
use weir_core::sim::{Bitrate, LinkConfig, LossModel, Scenario};

/// A symmetric path as `weir sim --rate R --rtt T --loss P --buffer Kbdp` builds it: both
/// directions run at `rate` with `rtt / 2` of delay, independent random loss `loss`, and a
/// drop-tail buffer of `buffer_bdp` bandwidth-delay products (`rate × rtt`).
pub fn bottleneck(rate: Bitrate, rtt: Duration, loss: f64, buffer_bdp: f64) -> Scenario {
    let queue = (bdp_bytes(rate, rtt) as f64 * buffer_bdp) as usize;
    let mut link = LinkConfig::bottleneck(rate, rtt / 2, queue);
    if loss > 0.0 {
        link.loss = LossModel::Random { p: loss };
    }
    let rate_name = match rate.bps() {
        bps if bps % 1_000_000 == 0 => format!("{}M", bps / 1_000_000),
        bps => format!("{}k", bps / 1_000),
    };
    let name = format!(
        "{rate_name}-{}ms-{}%-{}bdp",
        rtt.as_millis(),
        loss * 100.0,
        buffer_bdp
    );
    let description = format!(
        "{rate}, {} ms RTT, {}% random loss, {buffer_bdp} BDP buffer",
        rtt.as_millis(),
        loss * 100.0
    );
    Scenario::symmetric(name, description, link)
}

/// The baseline's scenarios: 10 Mbit/s × 50 ms RTT × loss {0, 1 %} × buffer {1, 4} BDP, then the
/// `lte`, `2g` and `satellite` presets.
pub fn baseline() -> Vec<Scenario> {
    let rate = Bitrate::from_mbps(10);
    let rtt = Duration::from_millis(50);
    let mut scenarios = Vec::new();
    for loss in [0.0, 0.01] {
        for buffer in [1.0, 4.0] {
            scenarios.push(bottleneck(rate, rtt, loss, buffer));
        }
    }
    scenarios.extend(
        ["lte", "2g", "satellite"]
            .into_iter()
            .filter_map(Scenario::preset),
    );
    scenarios
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_matches_the_cli_and_the_presets() {
        let all = baseline();
        assert_eq!(all.len(), 7);
        let lossy = &all[2];
        assert_eq!(lossy.name, "10M-50ms-1%-1bdp");
        // `weir sim --rate 10mbit --rtt 50ms --loss 1% --buffer 1bdp` is the `lossy` preset.
        let preset = Scenario::preset("lossy").expect("preset");
        assert_eq!(lossy.forward, preset.forward);
        assert_eq!(lossy.reverse, preset.reverse);
        assert_eq!(all[1].forward.queue_bytes, 4 * 62_500);
        assert_eq!(all[6].name, "satellite");
    }
}
