//! Experiment 5, training dynamics: in a run that succeeds, the discriminator ends up unable to
//! tell real from generated samples, D(x) → ½ and D(G(z)) → ½, so the value of the game tends
//! to V = −2·log 2 (the global optimum p_g = p_r of Goodfellow et al., Theorem 1).

use std::path::Path;

use burn::tensor::Device;
use serde::Serialize;

use crate::collapse::{Dataset, ToyScore, ToySize, toy_config, train_and_score};
use crate::report::{Section, Table, mean_and_std, mean_std, min_max};
use crate::{LabError, seed_list};
use burngan_app::charts::{GRAY, Line, LineChart, PALETTE, PointsAndBand, line_charts_png};

/// Sizes of the dynamics experiment: the non-saturating loss on the ring of 8 Gaussians.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DynamicsSettings {
    /// Networks, batch and steps (`ring_steps` is used).
    pub size: ToySize,
    /// Metrics are recorded every this many steps.
    pub log_every: usize,
    /// The final fraction of the run over which the end values are averaged.
    pub tail: f64,
}

impl Default for DynamicsSettings {
    fn default() -> Self {
        Self {
            size: crate::collapse::CollapseSettings::default().size,
            log_every: 10,
            tail: 0.1,
        }
    }
}

/// One logged step, per seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// The seed's score at the end.
    pub score: ToyScore,
    /// (step, D(x), D(G(z)), V) at every logged step.
    pub points: Vec<[f64; 4]>,
}

/// The experiment's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DynamicsResult {
    /// One trace per seed.
    pub traces: Vec<Trace>,
    /// Per seed, the mean of (D(x), D(G(z)), V) over the last `tail` of the run.
    pub end_values: Vec<[f64; 3]>,
    /// Per seed, the standard deviation of the logged V over the first and the second half
    /// of the run.
    pub value_swing: Vec<[f64; 2]>,
}

/// Trains the non-saturating GAN on the ring for each seed and records D(x), D(G(z)) and V.
pub fn run(
    settings: &DynamicsSettings,
    seeds: usize,
    jobs: usize,
    device: &Device,
) -> Result<DynamicsResult, LabError> {
    if !(settings.tail > 0.0 && settings.tail <= 1.0) {
        return Err(LabError::Settings(format!(
            "dynamics.tail must be in (0, 1], got {}",
            settings.tail
        )));
    }
    let configs = seed_list(seeds)
        .into_iter()
        .map(|seed| {
            toy_config(
                Dataset::Ring8,
                "ns",
                seed,
                &settings.size,
                settings.log_every,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outcomes = crate::parallel::run_indexed(configs.len(), jobs, |i| {
        train_and_score(&configs[i], 0, device)
    });
    let mut traces = Vec::new();
    let mut end_values = Vec::new();
    let mut value_swing = Vec::new();
    for outcome in outcomes {
        let outcome = outcome?;
        let points: Vec<[f64; 4]> = outcome
            .metrics
            .iter()
            .map(|m| [m.step as f64, m.d_real, m.d_fake, m.value])
            .collect();
        let last = points.last().map_or(0.0, |p| p[0]);
        let tail: Vec<&[f64; 4]> = points
            .iter()
            .filter(|p| p[0] > last * (1.0 - settings.tail))
            .collect();
        let avg = |i: usize| tail.iter().map(|p| p[i]).sum::<f64>() / tail.len().max(1) as f64;
        end_values.push([avg(1), avg(2), avg(3)]);
        let half = |second: bool| {
            let values: Vec<f64> = points
                .iter()
                .filter(|p| (p[0] > last / 2.0) == second)
                .map(|p| p[3])
                .collect();
            mean_and_std(&values).1
        };
        value_swing.push([half(false), half(true)]);
        traces.push(Trace {
            score: outcome.score,
            points,
        });
    }
    Ok(DynamicsResult {
        traces,
        end_values,
        value_swing,
    })
}

/// The report section, with the figure drawn into `figures`.
pub fn section(
    result: &DynamicsResult,
    settings: &DynamicsSettings,
    figures: &Path,
) -> Result<Section, LabError> {
    let file = "dynamics.png";
    // The claim is about runs that succeed: those whose generator covers every mode.
    let succeeded = |t: &Trace| t.score.modes_covered == t.score.modes_total;
    let good: Vec<usize> = (0..result.traces.len())
        .filter(|&i| succeeded(&result.traces[i]))
        .collect();
    let shown: Vec<usize> = if good.is_empty() {
        (0..result.traces.len()).collect()
    } else {
        good.clone()
    };
    draw_figure(result, &shown, &figures.join(file))?;
    Ok(Section {
        title: "5. Training dynamics of a successful run".into(),
        claim: "At the global optimum p_g = p_r the best discriminator outputs ½ everywhere, so \
                in a run that succeeds D(x) and D(G(z)) both approach ½ and the value V(D, G) \
                approaches −2·log 2 ≈ −1.386."
            .into(),
        setup: format!(
            "The non-saturating GAN on ring8 (the `ring8-ns` preset with hidden widths {:?}, \
             batch {}, {} steps, learning rates decayed linearly to 0), {} seeds; D(x), D(G(z)) \
             and V are the batch values of the step's discriminator update, recorded every {} \
             steps. End values average the last {:.0} % of the run.",
            settings.size.hidden,
            settings.size.batch_size,
            settings.size.ring_steps,
            result.traces.len(),
            settings.log_every,
            settings.tail * 100.0
        ),
        tables: vec![end_table(result)],
        figures: vec![(
            "D(x), D(G(z)) and V over training (mean over the runs that covered every mode, \
             band: minimum to maximum), with the equilibrium values dashed."
                .into(),
            file.into(),
        )],
        finding: finding(result, &good, &shown),
        ..Section::default()
    })
}

/// The value of the game at the equilibrium, −2·log 2.
const TARGET_V: f64 = -2.0 * std::f64::consts::LN_2;

/// Quantity `i` of the points (1: D(x), 2: D(G(z)), 3: V) at each logged step: the mean over
/// the `shown` traces and the band from their minimum to their maximum.
fn across(result: &DynamicsResult, shown: &[usize], steps: &[f64], i: usize) -> PointsAndBand {
    let mut line = Vec::new();
    let mut band = Vec::new();
    for (j, &step) in steps.iter().enumerate() {
        let values: Vec<f64> = shown
            .iter()
            .filter_map(|&t| result.traces[t].points.get(j).map(|p| p[i]))
            .collect();
        line.push((step, mean_and_std(&values).0));
        let (lo, hi) = min_max(&values);
        band.push((step, lo, hi));
    }
    (line, band)
}

/// Draws D(x), D(G(z)) and V over training of the `shown` traces into `path`.
fn draw_figure(result: &DynamicsResult, shown: &[usize], path: &Path) -> Result<(), LabError> {
    // Mean over the shown seeds at each logged step (every seed logs the same steps).
    let steps: Vec<f64> = result
        .traces
        .first()
        .map(|t| t.points.iter().map(|p| p[0]).collect())
        .unwrap_or_default();
    let last = steps.last().copied().unwrap_or(1.0);
    let (d_real, d_real_band) = across(result, shown, &steps, 1);
    let (d_fake, d_fake_band) = across(result, shown, &steps, 2);
    let (value, value_band) = across(result, shown, &steps, 3);
    let probabilities = LineChart {
        title: "D(x) and D(G(z)) on each batch".into(),
        x_label: "generator step".into(),
        y_label: "mean D".into(),
        lines: vec![
            Line::new("D(x)", d_real, PALETTE[1])
                .plain()
                .with_band(d_real_band),
            Line::new("D(G(z))", d_fake, PALETTE[0])
                .plain()
                .with_band(d_fake_band),
            Line::new("1/2", vec![(0.0, 0.5), (last, 0.5)], GRAY).dashed(),
        ],
        ..LineChart::default()
    };
    let value_chart = LineChart {
        title: "the batch value V(D, G)".into(),
        x_label: "generator step".into(),
        y_label: "V".into(),
        lines: vec![
            Line::new("V(D, G)", value, PALETTE[2])
                .plain()
                .with_band(value_band),
            Line::new("−2·log 2", vec![(0.0, TARGET_V), (last, TARGET_V)], GRAY).dashed(),
        ],
        ..LineChart::default()
    };
    line_charts_png(path, &[probabilities, value_chart], 620, 460).map_err(LabError::from)
}

/// The end values and scores of every seed.
fn end_table(result: &DynamicsResult) -> Table {
    let mut table = Table::new(&[
        "seed",
        "D(x) at the end",
        "D(G(z)) at the end",
        "V at the end",
        "modes covered",
        "high quality (%)",
    ]);
    for (trace, end) in result.traces.iter().zip(&result.end_values) {
        table.row(vec![
            trace.score.seed.to_string(),
            format!("{:.4}", end[0]),
            format!("{:.4}", end[1]),
            format!("{:.4}", end[2]),
            format!(
                "{} / {}",
                trace.score.modes_covered, trace.score.modes_total
            ),
            format!("{:.1}", 100.0 * trace.score.high_quality_fraction),
        ]);
    }
    table
}

/// Which runs covered every mode (`good`) and, when some did not, how large the
/// discriminator's edge stayed in each group.
fn comparison(result: &DynamicsResult, good: &[usize]) -> String {
    // The runs that did not cover every mode, for comparison.
    let failed: Vec<usize> = (0..result.traces.len())
        .filter(|i| !good.contains(i))
        .collect();
    if good.is_empty() {
        "No run covered every mode at these sizes, so the figure shows all of them; the claim \
         is about runs that succeed."
            .to_string()
    } else if failed.is_empty() {
        format!("All {} runs covered every mode.", good.len())
    } else {
        let gap_of = |runs: &[usize]| {
            mean_and_std(
                &runs
                    .iter()
                    .map(|&t| result.end_values[t][0] - result.end_values[t][1])
                    .collect::<Vec<_>>(),
            )
            .0
        };
        format!(
            "{} of {} runs covered every mode; the figure and these numbers use those. In the \
             others the discriminator kept a larger edge: D(x) − D(G(z)) at the end is {:.3} \
             there against {:.3} in the successful runs.",
            good.len(),
            result.traces.len(),
            gap_of(&failed),
            gap_of(good)
        )
    }
}

/// The finding: the end values of the `shown` runs against the equilibrium and the swing of
/// V in each half of the run.
fn finding(result: &DynamicsResult, good: &[usize], shown: &[usize]) -> String {
    let column = |i: usize| {
        shown
            .iter()
            .map(|&t| result.end_values[t][i])
            .collect::<Vec<_>>()
    };
    let gap = mean_and_std(&column(2)).0 - TARGET_V;
    let swing = |half: usize| {
        mean_and_std(
            &shown
                .iter()
                .map(|&t| result.value_swing[t][half])
                .collect::<Vec<_>>(),
        )
        .0
    };
    format!(
        "{} At the end D(x) = {} and D(G(z)) = {} (mean ± std over seeds), and \
         V = {} — \
         {gap:+.3} from −2·log 2: the discriminator keeps a small edge, but the game sits \
         close to the equilibrium the theory predicts. On the way there the batch values \
         swing: the standard deviation of the logged V is {:.3} over the first half of the \
         run and {:.3} over the second, as the learning rates decay and the generator \
         settles on the modes. Exact equilibrium is not reached in finite training with \
         finite networks (the samples are not exactly the data distribution, and each value \
         is a noisy batch estimate).",
        comparison(result, good),
        mean_std(&column(0), 3),
        mean_std(&column(1), 3),
        mean_std(&column(2), 3),
        swing(0),
        swing(1)
    )
}
