//! An SVG chart of goodput and offered load over time, one panel per configuration.

use std::fmt::Write;

use crate::outage::{Clients, OUTAGE, SECONDS, Timeline};
use crate::tail::{Hedging, Tail};

const WIDTH: f64 = 760.0;
const PANEL: f64 = 150.0;
const LEFT: f64 = 60.0;
const TOP: f64 = 40.0;

pub fn svg(results: &[(Clients, Timeline)], tails: &[(Hedging, Tail)]) -> String {
    let peak = results
        .iter()
        .flat_map(|(_, t)| t.offered.iter().chain(&t.goodput))
        .copied()
        .max()
        .unwrap_or(1);
    let y_max = ((peak as f64 / 250.0).ceil() * 250.0).max(250.0);
    let plot_width = WIDTH - LEFT - 20.0;
    let tail_top = TOP + results.len() as f64 * (PANEL + 40.0) + 30.0;
    let height = tail_top + PANEL + 60.0;
    let x = |s: f64| LEFT + s / SECONDS as f64 * plot_width;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="20" font-size="13">Goodput (green) and offered load (red) in requests/s; capacity 300/s dashed; outage shaded</text>"#
    );
    for (i, (clients, timeline)) in results.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL + 40.0) + 16.0;
        let y = |v: f64| top + PANEL - v / y_max * PANEL;
        let _ = writeln!(
            out,
            r#"<text x="{LEFT}" y="{}" font-size="12" font-weight="bold">{}</text>"#,
            top - 4.0,
            clients.name()
        );
        let _ = writeln!(
            out,
            r##"<rect x="{}" y="{top}" width="{}" height="{PANEL}" fill="#eee"/>"##,
            x(OUTAGE.0 as f64),
            x(OUTAGE.1 as f64) - x(OUTAGE.0 as f64)
        );
        let _ = writeln!(
            out,
            r#"<rect x="{LEFT}" y="{top}" width="{plot_width}" height="{PANEL}" fill="none" stroke="black" stroke-width="0.5"/>"#
        );
        let _ = writeln!(
            out,
            r#"<line x1="{LEFT}" x2="{}" y1="{}" y2="{}" stroke="gray" stroke-dasharray="4 3"/>"#,
            LEFT + plot_width,
            y(300.0),
            y(300.0)
        );
        y_axis(&mut out, y_max, y);
        for s in (0..=SECONDS).step_by(10) {
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{}" text-anchor="middle">{s} s</text>"#,
                x(s as f64),
                top + PANEL + 14.0
            );
        }
        for (series, colour) in [
            (&timeline.offered, "#c0392b"),
            (&timeline.goodput, "#27ae60"),
        ] {
            let points: Vec<String> = series
                .iter()
                .enumerate()
                .map(|(s, v)| format!("{:.1},{:.1}", x(s as f64 + 0.5), y(*v as f64)))
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{}"/>"#,
                points.join(" ")
            );
        }
    }
    tail_panel(&mut out, tails, tail_top, plot_width);
    out.push_str("</svg>\n");
    out
}

/// Part 3: p50, p99 and p99.9 latency of each hedging setting, as bars.
fn tail_panel(out: &mut String, tails: &[(Hedging, Tail)], top: f64, plot_width: f64) {
    const QUANTILES: [(f64, &str, &str); 3] = [
        (0.5, "p50", "#7fb3d5"),
        (0.99, "p99", "#2874a6"),
        (0.999, "p99.9", "#1b2631"),
    ];
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{}" font-size="12" font-weight="bold">Tail latency (ms): p50, p99, p99.9 of 20 000 calls, and the extra requests hedging sent</text>"#,
        top - 4.0
    );
    let longest = tails
        .iter()
        .map(|(_, tail)| tail.percentile(0.999).as_secs_f64() * 1e3)
        .fold(1.0, f64::max);
    let y_max = (longest / 25.0).ceil() * 25.0;
    let y = |ms: f64| top + PANEL - ms / y_max * PANEL;
    let _ = writeln!(
        out,
        r#"<rect x="{LEFT}" y="{top}" width="{plot_width}" height="{PANEL}" fill="none" stroke="black" stroke-width="0.5"/>"#
    );
    y_axis(out, y_max, y);
    let group = plot_width / tails.len().max(1) as f64;
    let bar = group / 5.0;
    for (i, (hedging, tail)) in tails.iter().enumerate() {
        let left = LEFT + i as f64 * group + bar;
        for (j, (q, label, colour)) in QUANTILES.iter().enumerate() {
            let ms = tail.percentile(*q).as_secs_f64() * 1e3;
            let x = left + j as f64 * bar;
            let _ = writeln!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"/>"#,
                y(ms),
                bar * 0.9,
                top + PANEL - y(ms)
            );
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{label} {ms:.0}</text>"#,
                x + bar * 0.45,
                y(ms) - 3.0
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{} (+{:.1}% requests)</text>"#,
            left + bar * 1.5,
            top + PANEL + 14.0,
            hedging.name(),
            tail.extra_load() * 100.0
        );
    }
}

/// Labels of a panel's vertical axis: 0, half way and the top.
fn y_axis(out: &mut String, y_max: f64, y: impl Fn(f64) -> f64) {
    for tick in [0.0, y_max / 2.0, y_max] {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{tick:.0}</text>"#,
            LEFT - 4.0,
            y(tick) + 4.0
        );
    }
}
