//! Experiment 4, mode collapse: every loss on the ring of 8 and the 5×5 grid of Gaussians,
//! scored in the VEEGAN/PacGAN protocol (modes covered and the fraction of high-quality samples
//! among 2,500, within 3σ of a mode), mean ± std over seeds, beside the published numbers.

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use burngan_app::{DataConfig, DiscriminatorConfig, GeneratorConfig, TrainConfig, train_toy};
use burngan_core::HostRng;
use burngan_data::ToyConfig;
use burngan_train::generate_on_host;
use serde::Serialize;

use crate::report::{Section, Table, mean_and_std, mean_std};
use crate::{LabError, seed_list};
use burngan_app::charts::{Bar, BarChart, Scatter, bar_charts_png, scatter_panels_png};

/// A 2-D toy distribution of the PacGAN protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Dataset {
    /// 8 Gaussians on a circle of radius 1, σ 0.01.
    Ring8,
    /// 25 Gaussians at {−4, −2, 0, 2, 4}², σ 0.05.
    Grid25,
}

impl Dataset {
    /// The preset-name prefix: `ring8` or `grid25`.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Ring8 => "ring8",
            Dataset::Grid25 => "grid25",
        }
    }

    fn data(self) -> ToyConfig {
        match self {
            Dataset::Ring8 => ToyConfig::default_ring(),
            Dataset::Grid25 => ToyConfig::default_grid(),
        }
    }
}

/// The losses of the experiment, by preset suffix, in report order.
pub const LOSSES: [&str; 9] = [
    "minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan", "softmax", "rsgan", "ragan",
];

/// The shipped presets the runs start from (`assets/configs/`), compiled in so the lab runs
/// from any directory.
const PRESETS: [(&str, &str); 17] = [
    (
        "ring8-minimax",
        include_str!("../../../assets/configs/ring8-minimax.toml"),
    ),
    (
        "ring8-ns",
        include_str!("../../../assets/configs/ring8-ns.toml"),
    ),
    (
        "ring8-wgan",
        include_str!("../../../assets/configs/ring8-wgan.toml"),
    ),
    (
        "ring8-wgan-gp",
        include_str!("../../../assets/configs/ring8-wgan-gp.toml"),
    ),
    (
        "ring8-hinge",
        include_str!("../../../assets/configs/ring8-hinge.toml"),
    ),
    (
        "ring8-lsgan",
        include_str!("../../../assets/configs/ring8-lsgan.toml"),
    ),
    (
        "ring8-softmax",
        include_str!("../../../assets/configs/ring8-softmax.toml"),
    ),
    (
        "ring8-rsgan",
        include_str!("../../../assets/configs/ring8-rsgan.toml"),
    ),
    (
        "ring8-ragan",
        include_str!("../../../assets/configs/ring8-ragan.toml"),
    ),
    (
        "grid25-minimax",
        include_str!("../../../assets/configs/grid25-minimax.toml"),
    ),
    (
        "grid25-ns",
        include_str!("../../../assets/configs/grid25-ns.toml"),
    ),
    (
        "grid25-wgan",
        include_str!("../../../assets/configs/grid25-wgan.toml"),
    ),
    (
        "grid25-hinge",
        include_str!("../../../assets/configs/grid25-hinge.toml"),
    ),
    (
        "grid25-lsgan",
        include_str!("../../../assets/configs/grid25-lsgan.toml"),
    ),
    (
        "grid25-softmax",
        include_str!("../../../assets/configs/grid25-softmax.toml"),
    ),
    (
        "grid25-rsgan",
        include_str!("../../../assets/configs/grid25-rsgan.toml"),
    ),
    (
        "grid25-ragan",
        include_str!("../../../assets/configs/grid25-ragan.toml"),
    ),
];

/// The sizes every toy run of the lab shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToySize {
    /// Hidden widths of both MLPs (the presets use 256 × 3).
    pub hidden: Vec<usize>,
    /// Real and fake samples per update (the presets use 512).
    pub batch_size: usize,
    /// Generator steps on the ring (the presets use 2000).
    pub ring_steps: usize,
    /// Generator steps on the grid (the presets use 3000).
    pub grid_steps: usize,
}

impl ToySize {
    fn steps(&self, dataset: Dataset) -> usize {
        match dataset {
            Dataset::Ring8 => self.ring_steps,
            Dataset::Grid25 => self.grid_steps,
        }
    }
}

/// The run config of `loss` on `dataset`: the shipped preset (for grid25 with WGAN-GP, which
/// has no preset, the ring8 one on the grid) with the seed, steps, network widths and batch
/// size of `size`, metrics every `log_every` steps.
pub fn toy_config(
    dataset: Dataset,
    loss: &str,
    seed: u64,
    size: &ToySize,
    log_every: usize,
) -> Result<TrainConfig, LabError> {
    let wanted = format!("{}-{loss}", dataset.name());
    let fallback = format!("ring8-{loss}");
    let (name, text) = PRESETS
        .iter()
        .find(|(name, _)| *name == wanted)
        .or_else(|| PRESETS.iter().find(|(name, _)| *name == fallback))
        .ok_or_else(|| {
            LabError::Settings(format!(
                "unknown loss {loss:?} in the lab; choose from {}",
                LOSSES.join(", ")
            ))
        })?;
    let mut config = TrainConfig::from_toml(text, name)?;
    config.data = DataConfig::Toy(dataset.data());
    config.run.seed = seed;
    config.run.steps = size.steps(dataset);
    config.run.log_every = log_every.max(1);
    config.run.sample_every = config.run.steps;
    config.run.plot_samples = 1;
    config.train.batch_size = size.batch_size;
    if let GeneratorConfig::Mlp(g) = &mut config.generator {
        g.hidden = size.hidden.clone();
    }
    if let DiscriminatorConfig::Mlp(d) = &mut config.discriminator {
        d.hidden = size.hidden.clone();
    }
    config.validate()?;
    Ok(config)
}

/// Sizes of the mode-collapse experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollapseSettings {
    /// The losses, by preset suffix (see [`LOSSES`]).
    pub losses: Vec<String>,
    /// The distributions.
    pub datasets: Vec<Dataset>,
    /// Networks, batch and steps.
    pub size: ToySize,
}

impl Default for CollapseSettings {
    fn default() -> Self {
        Self {
            losses: LOSSES.iter().map(|l| l.to_string()).collect(),
            datasets: vec![Dataset::Ring8, Dataset::Grid25],
            size: ToySize {
                hidden: vec![128, 128, 128],
                batch_size: 128,
                ring_steps: 2000,
                grid_steps: 2000,
            },
        }
    }
}

impl CollapseSettings {
    /// The reduced sizes of [`LabSettings::quick`](crate::LabSettings::quick): the
    /// non-saturating and WGAN-GP losses on the ring only, with the default networks and steps.
    pub fn quick() -> Self {
        Self {
            losses: vec!["ns".into(), "wgan-gp".into()],
            datasets: vec![Dataset::Ring8],
            size: Self::default().size,
        }
    }
}

/// One trained run, scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToyScore {
    /// The seed.
    pub seed: u64,
    /// Modes with at least one high-quality sample.
    pub modes_covered: usize,
    /// Modes of the distribution.
    pub modes_total: usize,
    /// Fraction of the 2,500 samples within 3σ of a mode.
    pub high_quality_fraction: f64,
    /// Training seconds (wall, while other runs shared the machine).
    pub seconds: f64,
}

/// One row of the result: a loss on a dataset over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollapseRow {
    /// The distribution.
    pub dataset: Dataset,
    /// The loss (preset suffix).
    pub loss: String,
    /// One score per seed.
    pub runs: Vec<ToyScore>,
    /// 2,500 samples of the first seed's generator, row-major `[n, 2]`, for the figure.
    #[serde(skip)]
    pub samples: Vec<f32>,
}

impl CollapseRow {
    /// Mean and std of the modes covered.
    pub fn modes(&self) -> (f64, f64) {
        mean_and_std(
            &self
                .runs
                .iter()
                .map(|r| r.modes_covered as f64)
                .collect::<Vec<_>>(),
        )
    }

    /// Mean and std of the high-quality fraction.
    pub fn high_quality(&self) -> (f64, f64) {
        mean_and_std(
            &self
                .runs
                .iter()
                .map(|r| r.high_quality_fraction)
                .collect::<Vec<_>>(),
        )
    }
}

/// The experiment's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollapseResult {
    /// One row per (dataset, loss), datasets first.
    pub rows: Vec<CollapseRow>,
}

/// A trained toy run: its evaluation and samples of its generator.
pub(crate) struct ToyOutcome {
    pub score: ToyScore,
    pub samples: Vec<f32>,
    pub metrics: Vec<burngan_train::StepMetrics>,
}

/// Trains `config` on `device` and scores it; `samples` more points are drawn from the
/// trained generator with codes from `HostRng::seed_from(seed)`.
pub(crate) fn train_and_score(
    config: &TrainConfig,
    samples: usize,
    device: &Device,
) -> Result<ToyOutcome, LabError> {
    let start = std::time::Instant::now();
    let run = train_toy(config, device, &mut [])?;
    let seconds = start.elapsed().as_secs_f64();
    let evaluation = run
        .evaluation
        .ok_or_else(|| LabError::Settings("a toy run ended without its evaluation".to_string()))?;
    let codes = HostRng::seed_from(config.run.seed).normal_vec(samples * 2);
    let points = generate_on_host(&run.generator.valid(), &codes, None, device);
    Ok(ToyOutcome {
        score: ToyScore {
            seed: config.run.seed,
            modes_covered: evaluation.modes_covered,
            modes_total: evaluation.modes_total,
            high_quality_fraction: evaluation.high_quality_fraction,
            seconds,
        },
        samples: points,
        metrics: run.metrics,
    })
}

/// Relative cost of one step of a loss (critic steps and penalty), to start the slow runs first.
fn cost(loss: &str) -> usize {
    match loss {
        "wgan-gp" => 6,
        "wgan" => 3,
        _ => 1,
    }
}

/// Trains every (dataset, loss, seed) and scores it.
pub fn run(
    settings: &CollapseSettings,
    seeds: usize,
    jobs: usize,
    device: &Device,
) -> Result<CollapseResult, LabError> {
    let mut tasks = Vec::new();
    for &dataset in &settings.datasets {
        for loss in &settings.losses {
            for &seed in &seed_list(seeds) {
                tasks.push((dataset, loss.clone(), seed));
            }
        }
    }
    // Validate every config before the first run starts.
    let configs: Vec<TrainConfig> = tasks
        .iter()
        .map(|(dataset, loss, seed)| toy_config(*dataset, loss, *seed, &settings.size, 1_000_000))
        .collect::<Result<_, _>>()?;
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&tasks[i].1) * settings.size.steps(tasks[i].0)));
    let outcomes = crate::parallel::run_indexed(order.len(), jobs, |i| {
        let task = order[i];
        let samples = if tasks[task].2 == 0 { 2500 } else { 0 };
        (task, train_and_score(&configs[task], samples, device))
    });
    let mut by_task: Vec<Option<ToyOutcome>> = (0..tasks.len()).map(|_| None).collect();
    for (task, outcome) in outcomes {
        by_task[task] = Some(outcome?);
    }
    let mut rows: Vec<CollapseRow> = Vec::new();
    for ((dataset, loss, _), outcome) in tasks.into_iter().zip(by_task) {
        let outcome = outcome.expect("every task ran");
        match rows.last_mut() {
            Some(row) if row.dataset == dataset && row.loss == loss => row.runs.push(outcome.score),
            _ => rows.push(CollapseRow {
                dataset,
                loss,
                runs: vec![outcome.score],
                samples: outcome.samples,
            }),
        }
    }
    Ok(CollapseResult { rows })
}

/// Published results on the same two distributions, as (method, source, ring modes, ring
/// high-quality %, grid modes, grid high-quality %).
pub const PUBLISHED: [(&str, &str, f64, f64, f64, f64); 4] = [
    ("GAN", "VEEGAN, Table 1", 1.0, 99.3, 3.3, 0.5),
    ("GAN", "PacGAN, Table 1", 6.3, 98.2, 17.3, 94.8),
    ("PacGAN4", "PacGAN, Table 1", 7.8, 95.9, 24.8, 93.6),
    ("WGAN-GP", "GDPP, Table 1", 6.8, 59.6, 24.2, 28.7),
];

fn loss_label(loss: &str) -> &str {
    match loss {
        "ns" => "non-saturating",
        "wgan" => "WGAN (clipping)",
        "wgan-gp" => "WGAN-GP",
        "lsgan" => "LSGAN",
        "softmax" => "Softmax GAN",
        "rsgan" => "RSGAN",
        "ragan" => "RaGAN",
        other => other,
    }
}

/// The report section, with the figures drawn into `figures`.
pub fn section(
    result: &CollapseResult,
    settings: &CollapseSettings,
    figures: &Path,
) -> Result<Section, LabError> {
    let mut figure_list = vec![bar_figure(result, settings, figures)?];
    for &dataset in &settings.datasets {
        figure_list.push(scatter_figure(result, dataset, figures)?);
    }
    let described: Vec<String> = settings
        .datasets
        .iter()
        .map(|&d| describe(result, d))
        .collect();
    Ok(Section {
        title: "4. Mode collapse across losses".into(),
        claim: "A GAN's generator can cover only some modes of the data (mode collapse); the \
                losses and penalties proposed since differ in how many modes they keep and how \
                precisely they place samples. The VEEGAN/PacGAN protocol measures both on 2-D \
                mixtures whose modes are known."
            .into(),
        setup: setup(result, settings),
        tables: vec![results_table(result), published_table()],
        figures: figure_list,
        finding: format!(
            "{} The scatter plots show what the numbers summarise: a collapsed or unconverged \
             run leaves modes empty or smears samples between them, and the high-quality \
             fraction separates a generator that found the modes from one that places its \
             samples precisely on them. Compare the rows with the published ones for the \
             order of magnitude, keeping in mind the smaller networks and shorter training \
             here.",
            described.join(" ")
        ),
        ..Section::default()
    })
}

/// The section's setup paragraph.
fn setup(result: &CollapseResult, settings: &CollapseSettings) -> String {
    format!(
        "Each loss's shipped preset (`assets/configs/<dataset>-<loss>.toml`: its optimiser, \
         critic steps, clipping or penalty; grid25 with WGAN-GP uses the ring8-wgan-gp \
         settings) with both MLPs at hidden widths {:?}, batch {}, {} generator steps on \
         ring8 (8 Gaussians on the unit circle, σ 0.01) and {} on grid25 (25 Gaussians at \
         {{−4, −2, 0, 2, 4}}², σ 0.05), {} seeds each. After training, 2,500 samples are \
         scored: a sample is of high quality within 3σ of its nearest mode, and a mode is \
         covered by one high-quality sample (the VEEGAN/PacGAN protocol; PacGAN averages \
         10 trials with larger networks and longer training, so the published rows are a \
         reference point, not the same experiment).",
        settings.size.hidden,
        settings.size.batch_size,
        settings.size.ring_steps,
        settings.size.grid_steps,
        result.rows.first().map_or(0, |r| r.runs.len())
    )
}

/// The table of results: one row per (loss, dataset).
fn results_table(result: &CollapseResult) -> Table {
    let mut table = Table::new(&[
        "loss",
        "dataset",
        "modes covered",
        "high quality (%)",
        "runs with every mode",
        "seconds per run",
    ]);
    for row in &result.rows {
        let modes: Vec<f64> = row.runs.iter().map(|r| r.modes_covered as f64).collect();
        let hq: Vec<f64> = row
            .runs
            .iter()
            .map(|r| 100.0 * r.high_quality_fraction)
            .collect();
        let total = row.runs.first().map_or(0, |r| r.modes_total);
        let full = row
            .runs
            .iter()
            .filter(|r| r.modes_covered == r.modes_total)
            .count();
        table.row(vec![
            loss_label(&row.loss).to_string(),
            row.dataset.name().to_string(),
            format!("{} / {total}", mean_std(&modes, 1)),
            mean_std(&hq, 1),
            format!("{full} / {}", row.runs.len()),
            format!(
                "{:.0}",
                mean_and_std(&row.runs.iter().map(|r| r.seconds).collect::<Vec<_>>()).0
            ),
        ]);
    }
    table
}

/// The table of [`PUBLISHED`] results.
fn published_table() -> Table {
    let mut published = Table::new(&[
        "method",
        "source",
        "ring modes",
        "ring high quality (%)",
        "grid modes",
        "grid high quality (%)",
    ]);
    for (method, source, rm, rq, gm, gq) in PUBLISHED {
        published.row(vec![
            method.into(),
            source.into(),
            format!("{rm:.1} / 8"),
            format!("{rq:.1}"),
            format!("{gm:.1} / 25"),
            format!("{gq:.1}"),
        ]);
    }
    published
}

/// One bar series per dataset of the quantity `f` (mean, std) of every loss, in percent: of
/// the modes when `scale_by_modes`, else of the samples.
fn bar_series(
    result: &CollapseResult,
    settings: &CollapseSettings,
    f: fn(&CollapseRow) -> (f64, f64),
    scale_by_modes: bool,
) -> Vec<(String, Vec<Option<Bar>>)> {
    settings
        .datasets
        .iter()
        .map(|&dataset| {
            let bars = settings
                .losses
                .iter()
                .map(|loss| {
                    result
                        .rows
                        .iter()
                        .find(|r| r.dataset == dataset && &r.loss == loss)
                        .map(|row| {
                            let (m, s) = f(row);
                            let total = row.runs.first().map_or(1, |r| r.modes_total) as f64;
                            let scale = if scale_by_modes { 100.0 / total } else { 100.0 };
                            Bar {
                                value: m * scale,
                                error: s * scale,
                            }
                        })
                })
                .collect();
            (dataset.name().to_string(), bars)
        })
        .collect()
}

/// Draws the bars of modes covered and high-quality fraction into `figures`; returns the
/// figure's (caption, file).
fn bar_figure(
    result: &CollapseResult,
    settings: &CollapseSettings,
    figures: &Path,
) -> Result<(String, String), LabError> {
    let bars_file = "mode-collapse.png";
    let categories: Vec<String> = settings
        .losses
        .iter()
        .map(|l| loss_label(l).to_string())
        .collect();
    bar_charts_png(
        &figures.join(bars_file),
        &[
            BarChart {
                title: "modes covered (% of the modes; mean ± std over seeds)".into(),
                y_label: "% of modes".into(),
                categories: categories.clone(),
                series: bar_series(result, settings, CollapseRow::modes, true),
                y_max: 110.0,
            },
            BarChart {
                title: "high-quality samples (within 3σ of a mode)".into(),
                y_label: "% of samples".into(),
                categories,
                series: bar_series(result, settings, CollapseRow::high_quality, false),
                y_max: 110.0,
            },
        ],
        1100,
        380,
    )?;
    Ok((
        "Modes covered and high-quality fraction of every loss (bars: mean over seeds, \
         whiskers: ± one standard deviation)."
            .to_string(),
        bars_file.to_string(),
    ))
}

/// Draws the first seed's samples of every loss on `dataset` into `figures`; returns the
/// figure's (caption, file).
fn scatter_figure(
    result: &CollapseResult,
    dataset: Dataset,
    figures: &Path,
) -> Result<(String, String), LabError> {
    let centres = dataset
        .data()
        .build()
        .map(|m| m.centres().to_vec())
        .unwrap_or_default();
    let panels: Vec<Scatter> = result
        .rows
        .iter()
        .filter(|r| r.dataset == dataset)
        .map(|row| Scatter {
            title: format!(
                "{}: {}/{} modes",
                loss_label(&row.loss),
                row.runs.first().map_or(0, |r| r.modes_covered),
                row.runs.first().map_or(0, |r| r.modes_total)
            ),
            samples: row.samples.clone(),
            centres: centres.clone(),
        })
        .collect();
    let file = format!("mode-collapse-{}.png", dataset.name());
    scatter_panels_png(&figures.join(&file), &panels, 3)?;
    Ok((
        format!(
            "{}: 2,500 samples of each loss's generator (seed 0) over the mode centres (red).",
            dataset.name()
        ),
        file,
    ))
}

/// One sentence on `dataset`: which losses covered every mode in every run, the fewest modes
/// on average and the most precise samples (empty when no row is on `dataset`).
fn describe(result: &CollapseResult, dataset: Dataset) -> String {
    let rows: Vec<&CollapseRow> = result
        .rows
        .iter()
        .filter(|r| r.dataset == dataset)
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let total = rows[0].runs.first().map_or(0, |r| r.modes_total);
    let complete: Vec<&str> = rows
        .iter()
        .filter(|r| {
            r.runs
                .iter()
                .all(|run| run.modes_covered == run.modes_total)
        })
        .map(|r| loss_label(&r.loss))
        .collect();
    let fewest = rows
        .iter()
        .min_by(|a, b| a.modes().0.total_cmp(&b.modes().0))
        .map(|r| (loss_label(&r.loss), r.modes().0))
        .unwrap_or(("", 0.0));
    let sharpest = rows
        .iter()
        .max_by(|a, b| a.high_quality().0.total_cmp(&b.high_quality().0))
        .map(|r| (loss_label(&r.loss), r.high_quality().0))
        .unwrap_or(("", 0.0));
    let complete = match complete.len() {
        0 => "no loss covered every mode in every run".to_string(),
        n if n == rows.len() => "every loss covered every mode in every run".to_string(),
        _ => format!("{} covered every mode in every run", complete.join(", ")),
    };
    format!(
        "On {}, {complete}; the fewest modes on average: {} ({:.1}/{total}); the most \
         precise samples: {} ({:.1} % of high quality).",
        dataset.name(),
        fewest.0,
        fewest.1,
        sharpest.0,
        sharpest.1 * 100.0
    )
}
