//! The lab's figures: line charts (optionally on log axes, with shaded min–max bands and dashed
//! reference lines), grouped bar charts with error bars, and panels of 2-D sample scatters.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::{AppError, register_font};

/// The colours of successive series.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The colour of reference lines and intervals.
pub const GRAY: RGBColor = RGBColor(120, 120, 120);

/// A line's points and its band (x, low, high), as [`Line::new`] and [`Line::with_band`] take
/// them.
pub type PointsAndBand = (Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

/// One line of a [`LineChart`].
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend entry.
    pub name: String,
    /// (x, y) points in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Optional band (x, low, high) drawn shaded behind the line (e.g. min–max over seeds).
    pub band: Vec<(f64, f64, f64)>,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// Draw a marker at each point.
    pub markers: bool,
    /// Colour.
    pub color: RGBColor,
}

impl Line {
    /// A solid line with markers in colour `color`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Self {
            name: name.into(),
            points,
            band: Vec::new(),
            dashed: false,
            markers: true,
            color,
        }
    }

    /// The same line dashed and without markers (references and closed forms).
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self.markers = false;
        self
    }

    /// The same line without markers.
    pub fn plain(mut self) -> Self {
        self.markers = false;
        self
    }

    /// Adds a shaded band (x, low, high).
    pub fn with_band(mut self, band: Vec<(f64, f64, f64)>) -> Self {
        self.band = band;
        self
    }
}

/// One panel: a title, axis labels, lines and whether each axis is logarithmic.
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    /// Caption.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The lines.
    pub lines: Vec<Line>,
    /// Base-10 logarithmic x axis (non-positive x are left out).
    pub log_x: bool,
    /// Base-10 logarithmic y axis (non-positive y are left out).
    pub log_y: bool,
}

fn plot_error(path: &Path, error: impl std::fmt::Display) -> AppError {
    AppError::Output(format!("cannot draw {}: {error}", path.display()))
}

fn font() -> Result<(), AppError> {
    register_font()
}

/// Draws `charts` side by side (one row) into a PNG `width_per_chart` × `height` pixels each.
pub fn line_charts_png(
    path: &Path,
    charts: &[LineChart],
    width_per_chart: u32,
    height: u32,
) -> Result<(), AppError> {
    font()?;
    let root = BitMapBackend::new(path, (width_per_chart * charts.len() as u32, height))
        .into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let areas = root.split_evenly((1, charts.len()));
    for (chart, area) in charts.iter().zip(&areas) {
        draw_line_chart(path, chart, area)?;
    }
    root.present().map_err(|e| plot_error(path, e))
}

fn transform(value: f64, log: bool) -> Option<f64> {
    match log {
        true if value > 0.0 => Some(value.log10()),
        true => None,
        false => value.is_finite().then_some(value),
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.06).max(1e-6);
    (lo - pad, hi + pad)
}

fn log_label(value: f64, decades_only: bool) -> String {
    if (value - value.round()).abs() < 1e-6 {
        format!("1e{}", value.round() as i64)
    } else if decades_only {
        String::new()
    } else {
        format!("{:.1e}", 10f64.powf(value))
    }
}

/// A tick label with at most 3 decimals and no trailing zeros.
fn linear_label(value: f64) -> String {
    if value != 0.0 && value.abs() < 1e-2 {
        return format!("{value:.1e}");
    }
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

fn draw_line_chart(
    path: &Path,
    chart: &LineChart,
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
) -> Result<(), AppError> {
    let (lx, ly) = (chart.log_x, chart.log_y);
    let xs = chart
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0));
    let ys = chart.lines.iter().flat_map(|l| {
        l.points
            .iter()
            .map(|p| p.1)
            .chain(l.band.iter().flat_map(|b| [b.1, b.2]))
    });
    let (x0, x1) = range(xs.filter_map(|x| transform(x, lx)));
    let (y0, y1) = range(ys.filter_map(|y| transform(y, ly)));
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&chart.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60);
    let mut ctx = builder
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| plot_error(path, e))?;
    // Over more than a decade and a half, label the powers of ten only.
    let (x_decades, y_decades) = (lx && x1 - x0 >= 1.5, ly && y1 - y0 >= 1.5);
    let x_fmt = |v: &f64| {
        if lx {
            log_label(*v, x_decades)
        } else {
            linear_label(*v)
        }
    };
    let y_fmt = |v: &f64| {
        if ly {
            log_label(*v, y_decades)
        } else {
            linear_label(*v)
        }
    };
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| plot_error(path, e))?;
    for line in &chart.lines {
        let color = line.color;
        let points: Vec<(f64, f64)> = line
            .points
            .iter()
            .filter_map(|&(x, y)| Some((transform(x, lx)?, transform(y, ly)?)))
            .collect();
        if !line.band.is_empty() {
            let upper = line
                .band
                .iter()
                .filter_map(|&(x, _, hi)| Some((transform(x, lx)?, transform(hi, ly)?)));
            let lower: Vec<(f64, f64)> = line
                .band
                .iter()
                .filter_map(|&(x, lo, _)| Some((transform(x, lx)?, transform(lo, ly)?)))
                .collect();
            let polygon: Vec<(f64, f64)> = upper.chain(lower.into_iter().rev()).collect();
            ctx.draw_series(std::iter::once(Polygon::new(polygon, color.mix(0.18))))
                .map_err(|e| plot_error(path, e))?;
        }
        let style = color.stroke_width(2);
        let series = if line.dashed {
            ctx.draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))
        } else {
            ctx.draw_series(LineSeries::new(points.clone(), style))
        }
        .map_err(|e| plot_error(path, e))?;
        series.label(line.name.as_str()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
        });
        if line.markers {
            ctx.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| plot_error(path, e))?;
        }
    }
    draw_legend(&mut ctx, path)
}

/// The legend box of a chart, in its upper-right corner.
fn draw_legend<'a, 'b>(
    ctx: &mut ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    path: &Path,
) -> Result<(), AppError>
where
    'b: 'a,
{
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| plot_error(path, e))
}

/// A bar of a [`bar_charts_png`]: value and error (drawn as ± whisker).
#[derive(Debug, Clone, Copy)]
pub struct Bar {
    /// Height.
    pub value: f64,
    /// Half-length of the whisker (e.g. the standard deviation over seeds).
    pub error: f64,
}

/// A grouped bar chart: one group per category (x axis), one bar per series within a group.
#[derive(Debug, Clone)]
pub struct BarChart {
    /// Caption.
    pub title: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The categories along x.
    pub categories: Vec<String>,
    /// (series name, one bar per category; `None` where the series has no value).
    pub series: Vec<(String, Vec<Option<Bar>>)>,
    /// Upper end of the y axis.
    pub y_max: f64,
}

/// Draws `charts` stacked vertically, `width` × `height_per_chart` pixels each.
pub fn bar_charts_png(
    path: &Path,
    charts: &[BarChart],
    width: u32,
    height_per_chart: u32,
) -> Result<(), AppError> {
    font()?;
    let root = BitMapBackend::new(path, (width, height_per_chart * charts.len() as u32))
        .into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    for (chart, area) in charts.iter().zip(&root.split_evenly((charts.len(), 1))) {
        let groups = chart.categories.len().max(1);
        let per_group = chart.series.len().max(1);
        let mut ctx = ChartBuilder::on(area)
            .caption(&chart.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..groups as f64, 0.0..chart.y_max)
            .map_err(|e| plot_error(path, e))?;
        let categories = chart.categories.clone();
        let label = move |v: &f64| {
            let i = v.floor() as usize;
            if (v - i as f64 - 0.5).abs() < 1e-6 {
                categories.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        ctx.configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_labels(groups * 2 + 1)
            .x_label_formatter(&label)
            .y_desc(chart.y_label.as_str())
            .draw()
            .map_err(|e| plot_error(path, e))?;
        let width = 0.8 / per_group as f64;
        for (s, (name, bars)) in chart.series.iter().enumerate() {
            let color = PALETTE[s % PALETTE.len()];
            let rects: Vec<(f64, Bar)> = bars
                .iter()
                .enumerate()
                .filter_map(|(g, bar)| bar.map(|b| (g as f64 + 0.1 + s as f64 * width, b)))
                .collect();
            ctx.draw_series(rects.iter().map(|&(x, b)| {
                Rectangle::new([(x, 0.0), (x + width * 0.92, b.value)], color.filled())
            }))
            .map_err(|e| plot_error(path, e))?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
            ctx.draw_series(rects.iter().filter(|(_, b)| b.error > 0.0).map(|&(x, b)| {
                let mid = x + width * 0.46;
                PathElement::new(
                    vec![(mid, b.value - b.error), (mid, b.value + b.error)],
                    BLACK.stroke_width(2),
                )
            }))
            .map_err(|e| plot_error(path, e))?;
        }
        draw_legend(&mut ctx, path)?;
    }
    root.present().map_err(|e| plot_error(path, e))
}

/// One scatter panel: title, samples (row-major `[n, 2]`) and mode centres.
#[derive(Debug, Clone)]
pub struct Scatter {
    /// Caption.
    pub title: String,
    /// Generated samples, row-major `[n, 2]`.
    pub samples: Vec<f32>,
    /// The mode centres, drawn as crosses.
    pub centres: Vec<[f64; 2]>,
}

/// Draws scatter panels in a grid of `columns`, 300×300 pixels each.
pub fn scatter_panels_png(path: &Path, panels: &[Scatter], columns: usize) -> Result<(), AppError> {
    font()?;
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns).max(1);
    let root =
        BitMapBackend::new(path, (300 * columns as u32, 300 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    for (panel, area) in panels.iter().zip(&root.split_evenly((rows, columns))) {
        let extent = panel
            .centres
            .iter()
            .flat_map(|c| [c[0].abs(), c[1].abs()])
            .fold(0.0f64, f64::max)
            .max(1e-3)
            * 1.4;
        let mut ctx = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 15))
            .margin(6)
            .x_label_area_size(18)
            .y_label_area_size(28)
            .build_cartesian_2d(-extent..extent, -extent..extent)
            .map_err(|e| plot_error(path, e))?;
        ctx.configure_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_labels(5)
            .y_labels(5)
            .draw()
            .map_err(|e| plot_error(path, e))?;
        let points = panel
            .samples
            .chunks_exact(2)
            .map(|p| (p[0] as f64, p[1] as f64))
            .filter(|(x, y)| x.abs() <= extent && y.abs() <= extent);
        ctx.draw_series(points.map(|p| Circle::new(p, 1, PALETTE[0].mix(0.45).filled())))
            .map_err(|e| plot_error(path, e))?;
        ctx.draw_series(
            panel
                .centres
                .iter()
                .map(|c| Cross::new((c[0], c[1]), 4, PALETTE[1].stroke_width(2))),
        )
        .map_err(|e| plot_error(path, e))?;
    }
    root.present().map_err(|e| plot_error(path, e))
}
