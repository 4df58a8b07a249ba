//! PNG plots: scatter plots of generated 2-D samples over the mode centres, and the curves of a
//! run's metrics. Text is drawn with a font shipped in `assets/fonts`, so plotting needs no
//! system font library.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use burngan_train::{Observer, RunSummary, StepMetrics, TrainError};

use crate::{AppError, EVAL_METRICS, image_grid_png};

static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font as plotters' `sans-serif` (once per process); every plot of
/// burngan, the lab's included, draws its text with it, so no system font library is needed.
pub fn register_font() -> Result<(), AppError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(AppError::Output(
            "the embedded plot font could not be loaded".into(),
        ))
    }
}

fn plot_error(path: &Path, error: impl std::fmt::Display) -> AppError {
    AppError::Output(format!("cannot draw {}: {error}", path.display()))
}

/// Draws `samples` (row-major `[n, 2]`) as dots and `centres` as crosses into a 600×600 PNG.
pub fn scatter_png(
    path: &Path,
    title: &str,
    samples: &[f32],
    centres: &[[f64; 2]],
) -> Result<(), AppError> {
    register_font()?;
    let extent = centres
        .iter()
        .flat_map(|c| [c[0].abs(), c[1].abs()])
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.5;
    let root = BitMapBackend::new(path, (600, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(-extent..extent, -extent..extent)
        .map_err(|e| plot_error(path, e))?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    let points = samples
        .chunks_exact(2)
        .map(|p| (p[0] as f64, p[1] as f64))
        .filter(|(x, y)| x.abs() <= extent && y.abs() <= extent);
    chart
        .draw_series(points.map(|p| Circle::new(p, 2, BLUE.mix(0.5).filled())))
        .map_err(|e| plot_error(path, e))?
        .label("generated")
        .legend(|(x, y)| Circle::new((x + 10, y), 3, BLUE.filled()));
    chart
        .draw_series(
            centres
                .iter()
                .map(|c| Cross::new((c[0], c[1]), 6, RED.stroke_width(2))),
        )
        .map_err(|e| plot_error(path, e))?
        .label("mode centres")
        .legend(|(x, y)| Cross::new((x + 10, y), 4, RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))
}

/// A named line of (step, value) points.
type Series<'a> = (&'a str, Vec<(f64, f64)>, RGBColor);

/// One panel of [`curves_png`]: named series and optional horizontal reference lines.
struct Panel<'a> {
    title: &'a str,
    series: Vec<Series<'a>>,
    references: Vec<(&'a str, f64)>,
}

/// Draws the losses, D(x) and D(G(z)), and the value estimate of a run against the step, with
/// the equilibrium targets (D = 1/2, V = −2·log 2) as dashed lines, into a 900×900 PNG.
pub fn curves_png(path: &Path, metrics: &[StepMetrics]) -> Result<(), AppError> {
    register_font()?;
    let col = |f: fn(&StepMetrics) -> f64| -> Vec<(f64, f64)> {
        // A step that skipped a non-finite update has no point to draw.
        metrics
            .iter()
            .map(|m| (m.step as f64, f(m)))
            .filter(|p| p.1.is_finite())
            .collect()
    };
    let panels = [
        Panel {
            title: "losses",
            series: vec![
                ("loss_d", col(|m| m.loss_d), RED),
                ("loss_g", col(|m| m.loss_g), BLUE),
            ],
            references: vec![],
        },
        Panel {
            title: "D(x) and D(G(z))",
            series: vec![
                ("D(x)", col(|m| m.d_real), RED),
                ("D(G(z))", col(|m| m.d_fake), BLUE),
            ],
            references: vec![("1/2", 0.5)],
        },
        Panel {
            title: "V(D, G) estimate",
            series: vec![("V", col(|m| m.value), GREEN)],
            references: vec![("-2 log 2", -2.0 * std::f64::consts::LN_2)],
        },
    ];
    let root = BitMapBackend::new(path, (900, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let areas = root.split_evenly((panels.len(), 1));
    let last_step = metrics.last().map_or(1.0, |m| m.step as f64).max(1.0);
    for (panel, area) in panels.iter().zip(areas.iter()) {
        let values = panel
            .series
            .iter()
            .flat_map(|s| s.1.iter().map(|p| p.1))
            .chain(panel.references.iter().map(|r| r.1))
            .filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
        let pad = ((hi - lo) * 0.05).max(1e-3);
        let mut chart = ChartBuilder::on(area)
            .caption(panel.title, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(25)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..last_step, (lo - pad)..(hi + pad))
            .map_err(|e| plot_error(path, e))?;
        chart
            .configure_mesh()
            .draw()
            .map_err(|e| plot_error(path, e))?;
        for (name, points, color) in &panel.series {
            let color = *color;
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| plot_error(path, e))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], color));
        }
        for (name, level) in &panel.references {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, *level), (last_step, *level)],
                    6,
                    4,
                    BLACK.stroke_width(1),
                ))
                .map_err(|e| plot_error(path, e))?
                .label(*name)
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLACK));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| plot_error(path, e))?;
    }
    root.present().map_err(|e| plot_error(path, e))
}

/// Draws each periodic-evaluation metric of a run ([`StepMetrics::eval`]) against the step,
/// one small panel per metric (two columns, or one row for up to three metrics), into a PNG
/// 900 pixels wide and 260 per row of panels.
pub fn eval_png(path: &Path, metrics: &[StepMetrics]) -> Result<(), AppError> {
    register_font()?;
    let evaluated: Vec<(f64, &std::collections::BTreeMap<String, f64>)> = metrics
        .iter()
        .filter_map(|m| m.eval.as_ref().map(|e| (m.step as f64, e)))
        .collect();
    let mut names: Vec<&str> = evaluated
        .iter()
        .flat_map(|(_, e)| e.keys().map(String::as_str))
        .collect();
    let rank = |name: &str| {
        EVAL_METRICS
            .iter()
            .position(|k| *k == name)
            .unwrap_or(EVAL_METRICS.len())
    };
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    names.dedup();
    let columns = if names.len() <= 3 {
        names.len().max(1)
    } else {
        2
    };
    let rows = names.len().div_ceil(columns).max(1);
    let root = BitMapBackend::new(path, (900, 260 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let last_step = evaluated.last().map_or(1.0, |e| e.0).max(1.0);
    let areas = root.split_evenly((rows, columns));
    for (name, area) in names.iter().zip(areas.iter()) {
        let points: Vec<(f64, f64)> = evaluated
            .iter()
            .filter_map(|(step, e)| e.get(*name).map(|v| (*step, *v)))
            .filter(|p| p.1.is_finite())
            .collect();
        let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
        let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
        // A constant series (e.g. classes covered) gets a band of ±5 % around its value.
        let pad = if hi > lo {
            (hi - lo) * 0.05
        } else {
            (0.05 * hi.abs()).max(1e-3)
        };
        let mut chart = ChartBuilder::on(area)
            .caption(*name, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(25)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..last_step, (lo - pad)..(hi + pad))
            .map_err(|e| plot_error(path, e))?;
        chart
            .configure_mesh()
            .draw()
            .map_err(|e| plot_error(path, e))?;
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                BLUE.stroke_width(2),
            ))
            .map_err(|e| plot_error(path, e))?;
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, BLUE.filled())))
            .map_err(|e| plot_error(path, e))?;
    }
    root.present().map_err(|e| plot_error(path, e))
}

/// Writes `samples/step-NNNNNN.png` (scatter plots of toy samples, or image grids), after each
/// periodic evaluation `plots/eval.png`, and at the end `plots/curves.png` under a run
/// directory.
pub struct PlotWriter {
    samples_dir: PathBuf,
    plots_dir: PathBuf,
    centres: Vec<[f64; 2]>,
    history: Vec<StepMetrics>,
    written: Vec<PathBuf>,
}

impl PlotWriter {
    /// Creates `DIR/samples` and `DIR/plots`.
    pub fn new(run_dir: &Path) -> Result<Self, AppError> {
        let samples_dir = run_dir.join("samples");
        let plots_dir = run_dir.join("plots");
        for dir in [&samples_dir, &plots_dir] {
            std::fs::create_dir_all(dir).map_err(|e| AppError::io("cannot create", dir, e))?;
        }
        Ok(Self {
            samples_dir,
            plots_dir,
            centres: Vec::new(),
            history: Vec::new(),
            written: Vec::new(),
        })
    }

    /// Draws `centres` (a toy run's mode centres) as crosses under every scatter plot.
    pub fn with_centres(mut self, centres: Vec<[f64; 2]>) -> Self {
        self.centres = centres;
        self
    }

    /// Starts the curves with the steps an interrupted run already recorded (for `--resume`).
    pub fn with_history(mut self, history: Vec<StepMetrics>) -> Self {
        self.history = history;
        self
    }

    /// Every PNG written so far.
    pub fn written(&self) -> &[PathBuf] {
        &self.written
    }
}

impl Observer for PlotWriter {
    fn on_step(&mut self, metrics: &StepMetrics) -> Result<(), TrainError> {
        self.history.push(metrics.clone());
        if metrics.eval.is_some() {
            let path = self.plots_dir.join("eval.png");
            eval_png(&path, &self.history)?;
            if !self.written.contains(&path) {
                self.written.push(path);
            }
        }
        Ok(())
    }
    fn on_samples(&mut self, step: usize, samples: &[f32]) -> Result<(), TrainError> {
        let path = self.samples_dir.join(format!("step-{step:06}.png"));
        scatter_png(&path, &format!("step {step}"), samples, &self.centres)?;
        self.written.push(path);
        Ok(())
    }
    fn on_images(
        &mut self,
        step: usize,
        images: &[f32],
        shape: [usize; 3],
        columns: usize,
    ) -> Result<(), TrainError> {
        let path = self.samples_dir.join(format!("step-{step:06}.png"));
        image_grid_png(&path, images, shape, columns)?;
        self.written.push(path);
        Ok(())
    }
    fn on_end(&mut self, _summary: &RunSummary) -> Result<(), TrainError> {
        let path = self.plots_dir.join("curves.png");
        curves_png(&path, &self.history)?;
        self.written.push(path);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn step(step: usize, eval: Option<&[(&str, f64)]>) -> StepMetrics {
        StepMetrics {
            step,
            loss_d: 1.0,
            loss_g: 1.0,
            d_real: 0.5,
            d_fake: 0.5,
            value: -1.4,
            grad_norm_g: 1.0,
            grad_norm_d: 1.0,
            logit_real: 0.0,
            logit_fake: 0.0,
            penalty: 0.0,
            penalties: BTreeMap::new(),
            diagnostics: BTreeMap::new(),
            eval: eval.map(|e| e.iter().map(|(k, v)| (k.to_string(), *v)).collect()),
            skipped_updates: 0,
            augment_p: None,
            lr_g: None,
            lr_d: None,
        }
    }

    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
        (be(16), be(20))
    }

    #[test]
    fn the_writer_redraws_eval_png_after_each_evaluation_with_one_panel_per_metric() {
        let dir = tempfile::tempdir().unwrap();
        let image = [
            ("fd", 40.0),
            ("classifier_score", 3.0),
            ("class_kl", 0.5),
            ("classes_covered", 7.0),
            ("precision", 0.5),
            ("recall", 0.25),
            ("density", 0.75),
            ("coverage", 0.5),
        ];
        let restored = vec![step(2, Some(&image)), step(3, None)];
        let mut writer = PlotWriter::new(dir.path()).unwrap().with_history(restored);
        let eval = dir.path().join("plots/eval.png");
        writer.on_step(&step(5, None)).unwrap();
        assert!(!eval.exists(), "no evaluation at this step");
        writer.on_step(&step(6, Some(&image))).unwrap();
        // Eight metrics: two columns of four panels.
        assert_eq!(png_size(&eval), (900, 4 * 260));
        writer.on_step(&step(8, Some(&image))).unwrap();
        assert_eq!(writer.written(), std::slice::from_ref(&eval), "listed once");

        let toy = [("modes_covered", 8.0), ("high_quality_fraction", 0.9)];
        let path = dir.path().join("toy.png");
        eval_png(&path, &[step(1, Some(&toy)), step(4, Some(&toy[..1]))]).unwrap();
        assert_eq!(png_size(&path), (900, 260), "two panels in one row");
    }
}
