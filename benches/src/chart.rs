//! The PNG chart: six panels of grouped bars (throughput per request kind
//! and connection count, cold start, resident memory), every bar labelled
//! with its value. Text is drawn with DejaVu Sans read at run time
//! (Debian's fonts-dejavu-core), so the picture looks the same everywhere.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{BenchError, Context};
use crate::peers::PeerKind;
use crate::report::{CONNECTIONS, checks, thousands};
use crate::results::{Results, Scenario};
use crate::stats;

pub const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FONT: &str = "sans-serif";
const SIZE: (u32, u32) = (1800, 1150);

fn color(kind: PeerKind) -> RGBColor {
    match kind {
        PeerKind::Printspoold => RGBColor(0x1f, 0x77, 0xb4),
        PeerKind::Cupsd => RGBColor(0xff, 0x7f, 0x0e),
        PeerKind::Ippeveprinter => RGBColor(0x2c, 0xa0, 0x2c),
        PeerKind::Ceiling => RGBColor(0x9a, 0x9a, 0x9a),
    }
}

/// Loads the font once; plotters wants it for the life of the process.
pub fn load_font() -> Result<(), BenchError> {
    let bytes = std::fs::read(FONT_PATH).context(|| {
        format!("reading the chart font {FONT_PATH} (apt-get install fonts-dejavu-core)")
    })?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FONT, FontStyle::Normal, bytes)
        .map_err(|_| BenchError::Chart(format!("{FONT_PATH} is not a usable font")))
}

fn chart_error<E: std::fmt::Debug>(e: E) -> BenchError {
    BenchError::Chart(format!("{e:?}"))
}

/// One bar group: a label under it and one value per series.
struct ChartGroup {
    label: String,
    values: Vec<(PeerKind, f64)>,
    /// Optional whiskers (low, high) per value, same order.
    ranges: Vec<Option<(f64, f64)>>,
}

struct Panel<'a> {
    title: String,
    unit: &'a str,
    groups: Vec<ChartGroup>,
    /// Formats a bar's value label.
    format: fn(f64) -> String,
}

pub fn draw(results: &Results, path: &Path) -> Result<(), BenchError> {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(chart_error)?;
    let (header, body) = root.split_vertically(120);
    draw_header(results, &header)?;
    let areas = body.split_evenly((2, 3));
    let panels = panels(results);
    for (area, panel) in areas.iter().zip(panels.iter()) {
        draw_panel(area, panel)?;
    }
    root.present().map_err(chart_error)?;
    Ok(())
}

fn draw_header(
    results: &Results,
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
) -> Result<(), BenchError> {
    let title = (FONT, 30).into_font().color(&BLACK);
    let line = (FONT, 17).into_font().color(&RGBColor(0x33, 0x33, 0x33));
    let meta = &results.meta;
    area.draw_text(
        "printspoold vs cupsd, ippeveprinter and a loopback ceiling",
        &title,
        (20, 10),
    )
    .map_err(chart_error)?;
    let summary: Vec<String> = checks(results)
        .iter()
        .map(|c| {
            let mark = match c.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "n/a",
            };
            format!("{} ({}, goal {})", c.measured, mark, c.goal)
        })
        .collect();
    let subtitle = format!(
        "{} · {} cores · Linux {} · median of {} alternating rounds ({:.1} s Get-Printer-Attributes, {:.1} s Print-Job) · \
         higher is better except cold start and memory",
        meta.date, meta.cores, meta.kernel, meta.rounds, meta.round_secs, meta.print_round_secs
    );
    area.draw_text(&subtitle, &line, (20, 48))
        .map_err(chart_error)?;
    let first = format!(
        "Targets: full Get-Printer-Attributes @8 vs cupsd {} · vs ceiling {} · durable Print-Job 1 KiB @8 vs cupsd {}",
        summary.first().map_or("-", |s| s.as_str()),
        summary.get(1).map_or("-", |s| s.as_str()),
        summary.get(2).map_or("-", |s| s.as_str()),
    );
    let second = format!(
        "cold start {} · vs cupsd {} · idle RSS {} · growth after the job load {}",
        summary.get(3).map_or("-", |s| s.as_str()),
        summary.get(4).map_or("-", |s| s.as_str()),
        summary.get(5).map_or("-", |s| s.as_str()),
        summary.get(6).map_or("-", |s| s.as_str()),
    );
    area.draw_text(&first, &line, (20, 72))
        .map_err(chart_error)?;
    area.draw_text(&second, &line, (20, 96))
        .map_err(chart_error)?;
    Ok(())
}

fn panels(results: &Results) -> Vec<Panel<'static>> {
    let mut panels = Vec::new();
    for scenario in Scenario::ALL {
        // The ceiling's Print-Job rate only moves bytes; next to real
        // spoolers it would flatten their bars. The table has it.
        let kinds: Vec<PeerKind> = PeerKind::ALL
            .into_iter()
            .filter(|&k| !(scenario.is_print() && k == PeerKind::Ceiling))
            .collect();
        let groups = CONNECTIONS
            .iter()
            .map(|&connections| ChartGroup {
                label: format!(
                    "{connections} conn{}",
                    if connections == 1 { "" } else { "s" }
                ),
                values: kinds
                    .iter()
                    .filter_map(|&k| {
                        results
                            .point(scenario, connections, k)
                            .map(|p| (k, p.median()))
                    })
                    .collect(),
                ranges: Vec::new(),
            })
            .collect();
        panels.push(Panel {
            title: scenario.label().to_string(),
            unit: scenario.unit(),
            groups,
            format: short_number,
        });
    }
    let cold = results
        .cold
        .iter()
        .map(|c| {
            let s = &c.samples_ms;
            (
                c.kind,
                stats::median(s),
                (stats::percentile(s, 10.0), stats::percentile(s, 90.0)),
            )
        })
        .collect::<Vec<_>>();
    panels.push(Panel {
        title: "Cold start to first answer (median, p10-p90)".into(),
        unit: "ms",
        groups: vec![ChartGroup {
            label: "socket-activated, first Get-Printer-Attributes".into(),
            values: cold.iter().map(|&(k, m, _)| (k, m)).collect(),
            ranges: cold.iter().map(|&(_, _, r)| Some(r)).collect(),
        }],
        format: |v| format!("{v:.1} ms"),
    });
    let jobs = results.memory(PeerKind::Printspoold).map_or(0, |m| m.jobs);
    let idle = results
        .memory
        .iter()
        .map(|m| (m.kind, m.idle.total as f64 / 1024.0))
        .collect();
    let after = results
        .memory
        .iter()
        .filter_map(|m| {
            m.after_late
                .or(m.after)
                .map(|rss| (m.kind, rss.total as f64 / 1024.0))
        })
        .collect();
    panels.push(Panel {
        title: "Resident memory (VmRSS)".into(),
        unit: "MiB",
        groups: vec![
            ChartGroup {
                label: "idle after start".into(),
                values: idle,
                ranges: Vec::new(),
            },
            ChartGroup {
                label: format!("after {} jobs", thousands(jobs as f64)),
                values: after,
                ranges: Vec::new(),
            },
        ],
        format: |v| format!("{v:.1}"),
    });
    panels
}

fn short_number(value: f64) -> String {
    if value >= 10_000.0 {
        format!("{:.0}k", value / 1000.0)
    } else if value >= 1000.0 {
        format!("{:.1}k", value / 1000.0)
    } else if value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<(), BenchError> {
    let groups = panel.groups.len().max(1);
    let top = panel
        .groups
        .iter()
        .flat_map(|g| {
            g.values
                .iter()
                .map(|v| v.1)
                .chain(g.ranges.iter().flatten().map(|r| r.1))
        })
        .fold(0.0f64, f64::max);
    let y_max = if top > 0.0 { top * 1.22 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 22))
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..(groups as f64 - 0.5), 0f64..y_max)
        .map_err(chart_error)?;
    let labels: Vec<String> = panel.groups.iter().map(|g| g.label.clone()).collect();
    let label_of = move |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups + 1)
        .x_label_formatter(&label_of)
        .y_desc(panel.unit)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .y_label_formatter(&|v| short_number(*v))
        .draw()
        .map_err(chart_error)?;

    let value_style = (FONT, 14)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    // Series present anywhere in the panel, in a fixed order.
    let kinds: Vec<PeerKind> = PeerKind::ALL
        .into_iter()
        .filter(|k| {
            panel
                .groups
                .iter()
                .any(|g| g.values.iter().any(|v| v.0 == *k))
        })
        .collect();
    let width = 0.8 / kinds.len().max(1) as f64;
    for (s, &kind) in kinds.iter().enumerate() {
        let fill = color(kind);
        let mut bars = Vec::new();
        let mut texts = Vec::new();
        let mut whiskers = Vec::new();
        for (g, group) in panel.groups.iter().enumerate() {
            let Some(at) = group.values.iter().position(|v| v.0 == kind) else {
                continue;
            };
            let value = group.values[at].1;
            let x0 = g as f64 - 0.4 + s as f64 * width;
            let x1 = x0 + width * 0.92;
            bars.push(Rectangle::new([(x0, 0.0), (x1, value)], fill.filled()));
            let mut label_y = value;
            if let Some(Some((low, high))) = group.ranges.get(at) {
                let mid = (x0 + x1) / 2.0;
                whiskers.push(PathElement::new(
                    vec![(mid, *low), (mid, *high)],
                    BLACK.stroke_width(2),
                ));
                whiskers.push(PathElement::new(
                    vec![(mid - width * 0.15, *high), (mid + width * 0.15, *high)],
                    BLACK.stroke_width(2),
                ));
                label_y = label_y.max(*high);
            }
            texts.push(Text::new(
                (panel.format)(value),
                ((x0 + x1) / 2.0, label_y + y_max * 0.01),
                value_style.clone(),
            ));
        }
        chart
            .draw_series(bars)
            .map_err(chart_error)?
            .label(kind.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], fill.filled()));
        chart.draw_series(whiskers).map_err(chart_error)?;
        chart.draw_series(texts).map_err(chart_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(0xbb, 0xbb, 0xbb))
        .label_font((FONT, 15))
        .draw()
        .map_err(chart_error)?;
    Ok(())
}
