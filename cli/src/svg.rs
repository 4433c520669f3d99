//! Minimal SVG line charts for `weir sim --matrix --plots`.
//!
//! Hand-written on purpose: the plotting crates either need a font-rasterising backend
//! (native font libraries) to lay out text or pull in far more than three stacked line charts
//! need; SVG text needs no rasterising, so a hundred lines do the job.

use std::fmt::Write as _;

/// One panel: a title, a y-axis label and its series of (x, y) points.
pub struct Panel<'a> {
    /// Shown above the panel.
    pub title: &'a str,
    /// Unit of the y axis.
    pub unit: &'a str,
    /// The lines, each (name, points).
    pub series: Vec<(&'a str, Vec<(f64, f64)>)>,
}

const WIDTH: f64 = 900.0;
const PANEL_HEIGHT: f64 = 220.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 30.0;
const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A "nice" tick step covering `span` in about five steps.
fn tick_step(span: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let normalized = raw / magnitude;
    let nice = if normalized < 1.5 {
        1.0
    } else if normalized < 3.0 {
        2.0
    } else if normalized < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Stacked panels sharing the x axis (seconds), as one SVG document.
pub fn chart(title: &str, panels: &[Panel<'_>]) -> String {
    let height = TOP + panels.len() as f64 * PANEL_HEIGHT + BOTTOM;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="18" font-size="14" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    let x_max = panels
        .iter()
        .flat_map(|p| {
            p.series
                .iter()
                .flat_map(|(_, pts)| pts.iter().map(|(x, _)| *x))
        })
        .fold(0.0f64, f64::max)
        .max(1e-9);
    for (i, panel) in panels.iter().enumerate() {
        let top = TOP + i as f64 * PANEL_HEIGHT + 20.0;
        let h = PANEL_HEIGHT - 45.0;
        let w = WIDTH - LEFT - RIGHT;
        let y_max = panel
            .series
            .iter()
            .flat_map(|(_, pts)| pts.iter().map(|(_, y)| *y))
            .fold(0.0f64, f64::max)
            .max(1e-9)
            * 1.05;
        let sx = |x: f64| LEFT + x / x_max * w;
        let sy = |y: f64| top + h - y / y_max * h;
        let _ = writeln!(
            out,
            r#"<text x="{LEFT}" y="{}" font-size="12">{} ({})</text>"#,
            top - 6.0,
            escape(panel.title),
            escape(panel.unit)
        );
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#888"/>"##
        );
        let step = tick_step(y_max);
        let mut y = 0.0;
        while y <= y_max {
            let (right, line_y, label_x, label_y) = (LEFT + w, sy(y), LEFT - 4.0, sy(y) + 4.0);
            let label = format_value(y);
            let _ = writeln!(
                out,
                r##"<line x1="{LEFT}" x2="{right}" y1="{line_y}" y2="{line_y}" stroke="#eee"/><text x="{label_x}" y="{label_y}" text-anchor="end">{label}</text>"##
            );
            y += step;
        }
        let xstep = tick_step(x_max);
        let mut x = 0.0;
        while x <= x_max {
            let _ = writeln!(
                out,
                r##"<text x="{}" y="{}" text-anchor="middle">{}</text>"##,
                sx(x),
                top + h + 14.0,
                format_value(x)
            );
            x += xstep;
        }
        for (k, (name, points)) in panel.series.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            let path: Vec<String> = points
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline fill="none" stroke="{color}" stroke-width="1.2" points="{}"/>"#,
                path.join(" ")
            );
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{}" fill="{color}">{}</text>"#,
                LEFT + 8.0 + k as f64 * 160.0,
                top + 14.0,
                escape(name)
            );
        }
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">time (s)</text>"#,
        WIDTH / 2.0,
        height - 6.0
    );
    out.push_str("</svg>\n");
    out
}

fn format_value(v: f64) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_is_well_formed_svg_with_every_series() {
        let svg = chart(
            "t<1>",
            &[Panel {
                title: "cwnd",
                unit: "kB",
                series: vec![("a", vec![(0.0, 1.0), (1.0, 2.0)]), ("b", vec![])],
            }],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t&lt;1&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 2);
    }

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(tick_step(100.0), 20.0);
        assert_eq!(tick_step(7.0), 1.0);
        assert_eq!(tick_step(0.0), 1.0);
    }
}
