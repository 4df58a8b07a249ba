//! Experiment 6, K discriminator steps per generator step (Goodfellow et al.'s Algorithm 1):
//! how K ∈ {1, 2, 5} changes the modes covered, the sample quality and the stability of the
//! non-saturating GAN on the ring of 8 Gaussians.

use std::path::Path;

use burn::tensor::Device;
use burngan_app::EvalConfig;
use serde::Serialize;

use crate::collapse::{Dataset, ToyScore, ToySize, toy_config, train_and_score};
use crate::report::{Section, Table, mean_and_std, mean_std};
use crate::{LabError, seed_list};
use burngan_app::charts::{Line, LineChart, PALETTE, line_charts_png};

/// Sizes of the K-steps experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriticStepsSettings {
    /// The values of K.
    pub ks: Vec<usize>,
    /// Networks, batch and steps (`ring_steps` is used).
    pub size: ToySize,
    /// The generator is scored (modes, high-quality fraction on 2,500 samples) every this many
    /// steps.
    pub eval_every: usize,
}

impl Default for CriticStepsSettings {
    fn default() -> Self {
        Self {
            ks: vec![1, 2, 5],
            size: crate::collapse::CollapseSettings::default().size,
            eval_every: 100,
        }
    }
}

/// One run with a given K.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KRun {
    /// Discriminator updates per generator update.
    pub k: usize,
    /// The final score.
    pub score: ToyScore,
    /// (step, modes covered, high-quality fraction) at every evaluation.
    pub curve: Vec<[f64; 3]>,
    /// The back-and-forth of the high-quality fraction over the evaluations of the second
    /// half: its total variation Σ|Δ| minus its net change (0 for a curve that only rises or
    /// only falls).
    pub quality_oscillation: f64,
    /// The first evaluated step at which every mode was covered, if any.
    pub first_complete: Option<usize>,
    /// Evaluations in the second half with fewer modes covered than at the end or before:
    /// how often a covered mode was lost again.
    pub mode_drops: usize,
}

/// The experiment's numbers, grouped by K.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriticStepsResult {
    /// `runs[i]`: the seeds' runs for `ks[i]`.
    pub runs: Vec<Vec<KRun>>,
}

/// Trains the non-saturating GAN with each K and seed.
pub fn run(
    settings: &CriticStepsSettings,
    seeds: usize,
    jobs: usize,
    device: &Device,
) -> Result<CriticStepsResult, LabError> {
    if settings.ks.is_empty() || settings.ks.contains(&0) || settings.eval_every == 0 {
        return Err(LabError::Settings(
            "critic-steps needs K values ≥ 1 and eval_every ≥ 1".into(),
        ));
    }
    let mut tasks = Vec::new();
    for &k in &settings.ks {
        for seed in seed_list(seeds) {
            let mut config = toy_config(
                Dataset::Ring8,
                "ns",
                seed,
                &settings.size,
                settings.eval_every,
            )?;
            config.train.critic_steps = k;
            config.eval = Some(EvalConfig {
                every: settings.eval_every,
                samples: None,
                classifier: None,
                seed,
            });
            config.validate()?;
            tasks.push((k, config));
        }
    }
    // The runs with most critic updates first, so the threads finish together.
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(tasks[i].0));
    let outcomes = crate::parallel::run_indexed(order.len(), jobs, |i| {
        let task = order[i];
        (task, train_and_score(&tasks[task].1, 0, device))
    });
    let mut by_task: Vec<Option<KRun>> = (0..tasks.len()).map(|_| None).collect();
    for (task, outcome) in outcomes {
        let outcome = outcome?;
        let curve: Vec<[f64; 3]> = outcome
            .metrics
            .iter()
            .filter_map(|m| {
                let eval = m.eval.as_ref()?;
                Some([
                    m.step as f64,
                    *eval.get("modes_covered")?,
                    *eval.get("high_quality_fraction")?,
                ])
            })
            .collect();
        let (quality_oscillation, mode_drops) =
            stability(&curve, settings.size.ring_steps as f64 / 2.0);
        let modes_total = outcome.score.modes_total as f64;
        let first_complete = curve
            .iter()
            .find(|p| p[1] >= modes_total)
            .map(|p| p[0] as usize);
        by_task[task] = Some(KRun {
            k: tasks[task].0,
            score: outcome.score,
            curve,
            quality_oscillation,
            first_complete,
            mode_drops,
        });
    }
    let runs = settings
        .ks
        .iter()
        .map(|&k| {
            by_task
                .iter()
                .flatten()
                .filter(|r| r.k == k)
                .cloned()
                .collect()
        })
        .collect();
    Ok(CriticStepsResult { runs })
}

/// "median (min–max)" of the first steps at which the runs covered every mode, or how many
/// never did.
fn first_complete(runs: &[KRun]) -> String {
    let mut steps: Vec<usize> = runs.iter().filter_map(|r| r.first_complete).collect();
    steps.sort_unstable();
    let never = runs.len() - steps.len();
    let mut text = match steps.as_slice() {
        [] => "never".to_string(),
        [only] => only.to_string(),
        all => format!("{} ({}–{})", all[all.len() / 2], all[0], all[all.len() - 1]),
    };
    if never > 0 && !steps.is_empty() {
        text.push_str(&format!("; {never} never"));
    }
    text
}

/// The stability of a run from its evaluations `curve` ((step, modes covered, high-quality
/// fraction) in step order): the oscillation of the high-quality fraction over the
/// evaluations after step `half` (total variation minus net change), and how many of those
/// cover fewer modes than an earlier evaluation did.
pub fn stability(curve: &[[f64; 3]], half: f64) -> (f64, usize) {
    let second: Vec<&[f64; 3]> = curve.iter().filter(|p| p[0] > half).collect();
    let variation: f64 = second.windows(2).map(|w| (w[1][2] - w[0][2]).abs()).sum();
    let net = match (second.first(), second.last()) {
        (Some(a), Some(b)) => (b[2] - a[2]).abs(),
        _ => 0.0,
    };
    let mut best = curve
        .iter()
        .filter(|p| p[0] <= half)
        .map(|p| p[1])
        .fold(0.0, f64::max);
    let mut drops = 0;
    for p in second {
        if p[1] < best {
            drops += 1;
        }
        best = best.max(p[1]);
    }
    (variation - net, drops)
}

/// The report section, with the figure drawn into `figures`.
pub fn section(
    result: &CriticStepsResult,
    settings: &CriticStepsSettings,
    figures: &Path,
) -> Result<Section, LabError> {
    let file = "critic-steps.png";
    draw_figure(result, settings, &figures.join(file))?;
    Ok(Section {
        title: "6. K discriminator steps per generator step".into(),
        claim: "Goodfellow et al.'s Algorithm 1 trains the discriminator K times per generator \
                update, keeping D near its optimum so the generator follows the divergence D* \
                defines; K = 1 was their cheapest choice, and WGAN later used K = 5. A stronger \
                D per step gives the generator a better-informed but also a sharper signal."
            .into(),
        setup: format!(
            "The non-saturating GAN on ring8 (`ring8-ns` preset, hidden widths {:?}, batch {}, \
             {} generator steps, linear learning-rate decay) with K ∈ {:?}, {} seeds each. \
             Every {} steps the generator's 2,500 samples (fixed codes) are scored. The quality \
             oscillation is the back-and-forth of the high-quality fraction over the \
             evaluations of the second half (its total variation minus its net change: 0 for a \
             curve that only improves); a mode drop is an evaluation in the second half that \
             covers fewer modes than an earlier one.",
            settings.size.hidden,
            settings.size.batch_size,
            settings.size.ring_steps,
            settings.ks,
            result.runs.first().map_or(0, Vec::len),
            settings.eval_every
        ),
        tables: vec![k_table(result, settings)],
        figures: vec![(
            "Modes covered and high-quality fraction during training, for each K.".into(),
            file.into(),
        )],
        finding: finding(result, settings),
        ..Section::default()
    })
}

/// Quantity `i` of the evaluations (1: modes covered, 2: high-quality fraction, in percent)
/// at each evaluated step, the mean over `runs`.
fn mean_curve(runs: &[KRun], i: usize) -> Vec<(f64, f64)> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    (0..first.curve.len())
        .map(|j| {
            let values: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.curve.get(j).map(|p| p[i]))
                .collect();
            let scale = if i == 2 { 100.0 } else { 1.0 };
            (first.curve[j][0], scale * mean_and_std(&values).0)
        })
        .collect()
}

/// Draws the modes covered and the high-quality fraction during training, one line per K,
/// into `path`.
fn draw_figure(
    result: &CriticStepsResult,
    settings: &CriticStepsSettings,
    path: &Path,
) -> Result<(), LabError> {
    let lines = |i: usize| -> Vec<Line> {
        result
            .runs
            .iter()
            .zip(&settings.ks)
            .enumerate()
            .map(|(c, (runs, k))| {
                Line::new(
                    format!("K = {k}"),
                    mean_curve(runs, i),
                    PALETTE[c % PALETTE.len()],
                )
                .plain()
            })
            .collect()
    };
    line_charts_png(
        path,
        &[
            LineChart {
                title: "modes covered (mean over seeds)".into(),
                x_label: "generator step".into(),
                y_label: "modes of 8".into(),
                lines: lines(1),
                ..LineChart::default()
            },
            LineChart {
                title: "high-quality samples (mean over seeds)".into(),
                x_label: "generator step".into(),
                y_label: "% within 3σ".into(),
                lines: lines(2),
                ..LineChart::default()
            },
        ],
        620,
        460,
    )
    .map_err(LabError::from)
}

/// One row per K: scores, first complete coverage, stability and time.
fn k_table(result: &CriticStepsResult, settings: &CriticStepsSettings) -> Table {
    let mut table = Table::new(&[
        "K",
        "modes covered",
        "high quality (%)",
        "all modes first at step",
        "quality oscillation (2nd half, %)",
        "mode drops (2nd half)",
        "seconds per run",
    ]);
    for (runs, k) in result.runs.iter().zip(&settings.ks) {
        let col = |f: fn(&KRun) -> f64| runs.iter().map(f).collect::<Vec<_>>();
        table.row(vec![
            k.to_string(),
            format!(
                "{} / 8",
                mean_std(&col(|r| r.score.modes_covered as f64), 1)
            ),
            mean_std(&col(|r| 100.0 * r.score.high_quality_fraction), 1),
            first_complete(runs),
            mean_std(&col(|r| 100.0 * r.quality_oscillation), 1),
            mean_std(&col(|r| r.mode_drops as f64), 1),
            format!("{:.0}", mean_and_std(&col(|r| r.score.seconds)).0),
        ]);
    }
    table
}

/// The mean high-quality fraction of `runs`.
fn mean_high_quality(runs: &[KRun]) -> f64 {
    mean_and_std(
        &runs
            .iter()
            .map(|r| r.score.high_quality_fraction)
            .collect::<Vec<_>>(),
    )
    .0
}

/// The finding: the end scores of every K and the K with the most precise samples.
fn finding(result: &CriticStepsResult, settings: &CriticStepsSettings) -> String {
    let summary: Vec<String> = result
        .runs
        .iter()
        .zip(&settings.ks)
        .map(|(runs, k)| {
            let modes = mean_and_std(
                &runs
                    .iter()
                    .map(|r| r.score.modes_covered as f64)
                    .collect::<Vec<_>>(),
            )
            .0;
            let hq = mean_high_quality(runs);
            format!(
                "K = {k}: {modes:.1} modes, {:.1} % high quality",
                hq * 100.0
            )
        })
        .collect();
    let best_k = result
        .runs
        .iter()
        .zip(&settings.ks)
        .max_by(|(a, _), (b, _)| mean_high_quality(a).total_cmp(&mean_high_quality(b)))
        .map_or(0, |(_, k)| *k);
    format!(
        "At the end of training: {}. The most precise samples came with K = {best_k}. \
         Each extra discriminator step costs about one more forward and backward pass per \
         generator step (see the seconds column), so the comparison is at equal generator \
         steps, not equal compute. The curves show how fast each K finds the modes and how \
         much the sample quality still moves late in training (the oscillation column).",
        summary.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stability_counts_lost_modes_and_the_quality_swing_of_the_second_half() {
        // Steps 100…600, half = 300: the second half is steps 400, 500, 600.
        let curve = [
            [100.0, 3.0, 0.1],
            [200.0, 8.0, 0.2],
            [300.0, 7.0, 0.3],
            [400.0, 7.0, 0.4],
            [500.0, 8.0, 0.6],
            [600.0, 6.0, 0.8],
        ];
        let (oscillation, drops) = stability(&curve, 300.0);
        // 7 < 8 (step 200) and 6 < 8: two drops. The quality 0.4 → 0.6 → 0.8 only rises: no
        // oscillation.
        assert_eq!(drops, 2);
        assert!(oscillation.abs() < 1e-15);
        assert_eq!(stability(&curve[..2], 300.0), (0.0, 0));
        // 0.4 → 0.7 → 0.5: variation 0.5, net change 0.1, oscillation 0.4.
        let zigzag = [[400.0, 8.0, 0.4], [500.0, 8.0, 0.7], [600.0, 8.0, 0.5]];
        let (oscillation, drops) = stability(&zigzag, 300.0);
        assert!(
            (oscillation - 0.4).abs() < 1e-12 && drops == 0,
            "{oscillation}"
        );
    }
}
