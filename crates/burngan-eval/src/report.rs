//! Scores of image sets in a feature network's space, and the report `burngan eval` prints
//! and writes.
//!
//! Every row compares one set of images (generated, or real for the floor) against the same
//! *reference* set of real images, through the [`Classifier`](crate::Classifier)'s outputs:
//!
//! | column | definition |
//! |---|---|
//! | FD | Fréchet distance of Gaussians fitted to the penultimate features (as TF-GAN's MNIST Fréchet distance; FID's formula) |
//! | KID | mean (± std) of the unbiased cubic-kernel MMD² over random subsets of the features |
//! | score | classifier score: exp(E KL(p(y∣x) ‖ p(y))), the Inception-Score formula with this classifier; at most the number of classes |
//! | classes | classes covered: a class is covered when at least half its uniform share, n/(2C), of the set is classified as it |
//! | class KL | KL(class histogram ‖ uniform), PacGAN's reverse KL, 0 for a balanced set |
//! | P / R | improved precision and recall (k-NN balls, k = 3 by default) |
//! | D / C | density and coverage (k-NN balls around the reference points) |
//!
//! The two reference rows make the numbers readable: **real (held-out)** — real images that are
//! not in the reference set — is the floor a perfect generator would reach at that sample size;
//! **untrained** — a freshly initialised generator of the same architecture and seed — is the
//! ceiling of a generator that learned nothing.

use burngan_core::HostRng;
use burngan_metrics::{
    GaussianStats, KidEstimate, ManifoldReference, class_histogram, classifier_score, kid,
    mode_reverse_kl,
};
use serde::{Deserialize, Serialize};

use crate::{ClassifierOutputs, EvalError, StackedModes};

/// Settings of the scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSettings {
    /// Neighbourhood size of precision/recall and density/coverage (3 in Kynkäänniemi et
    /// al.).
    pub k: usize,
    /// KID subsets; 0 skips KID (it costs O(subsets·size²·dim)).
    pub kid_subsets: usize,
    /// Points per KID subset (capped at the smaller set's size).
    pub kid_subset_size: usize,
    /// Seed of the KID subsets.
    pub seed: u64,
}

impl Default for ScoreSettings {
    /// k = 3, KID over 50 subsets of 1,000 (the KID authors' defaults), seed 0.
    fn default() -> Self {
        Self {
            k: 3,
            kid_subsets: 50,
            kid_subset_size: 1_000,
            seed: 0,
        }
    }
}

/// The reference set's outputs with the statistics every row reuses: the fitted Gaussian and
/// the k-NN radii of the manifold metrics.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The classifier's outputs for the reference images.
    pub outputs: ClassifierOutputs,
    /// The Gaussian fitted to their features.
    pub stats: GaussianStats,
    /// The reference points with their k-NN radii.
    pub manifold: ManifoldReference,
}

impl Reference {
    /// Fits the reference statistics, with k-NN balls of size `k` (3 in Kynkäänniemi et al.).
    ///
    /// # Errors
    ///
    /// [`EvalError::Metric`] for fewer than k + 1 images or non-finite features.
    pub fn new(outputs: ClassifierOutputs, k: usize) -> Result<Self, EvalError> {
        let stats = GaussianStats::fit(&outputs.features, outputs.feature_dim)?;
        let manifold = ManifoldReference::new(&outputs.features, outputs.feature_dim, k)?;
        Ok(Self {
            outputs,
            stats,
            manifold,
        })
    }
}

/// One row of the report: a set of images scored against the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowScores {
    /// What the set is ("generator", "real (held-out)", "untrained", …).
    pub label: String,
    /// Number of images in the set.
    pub samples: usize,
    /// Fréchet distance in feature space.
    pub frechet_distance: f64,
    /// KID, when computed.
    pub kid: Option<KidEstimate>,
    /// Classifier score, in [1, classes].
    pub classifier_score: f64,
    /// Images classified as each class, length C.
    pub class_histogram: Vec<usize>,
    /// KL(class histogram ‖ uniform), in [0, ln C].
    pub class_kl: f64,
    /// Classes receiving at least n/(2C) of the images.
    pub classes_covered: usize,
    /// Improved precision, in [0, 1].
    pub precision: f64,
    /// Improved recall, in [0, 1].
    pub recall: f64,
    /// Density (about 1 when the distributions match).
    pub density: f64,
    /// Coverage, in [0, 1].
    pub coverage: f64,
    /// StackedMNIST: the mode statistics of the 3-channel images whose channels the other
    /// columns score as digits (see [`crate::stacked`]); `None` for other data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stacked: Option<StackedModes>,
}

/// Scores the classifier outputs `set` of one image set against `reference` (whose k is used
/// for the manifold metrics; `settings.k` must equal it).
///
/// # Errors
///
/// [`EvalError::Incompatible`] when the two come from networks with other feature or class
/// counts; [`EvalError::Config`] when `settings.k` differs from the reference's k;
/// [`EvalError::Metric`] when a set is too small for k or for KID (fewer than k + 1 or 2
/// images) or has non-finite features.
pub fn score_set(
    label: &str,
    reference: &Reference,
    set: &ClassifierOutputs,
    settings: &ScoreSettings,
) -> Result<RowScores, EvalError> {
    let real = &reference.outputs;
    if set.feature_dim != real.feature_dim || set.classes != real.classes {
        return Err(EvalError::Incompatible(format!(
            "the set has {} features and {} classes, the reference {} and {}",
            set.feature_dim, set.classes, real.feature_dim, real.classes
        )));
    }
    if settings.k != reference.manifold.k() {
        return Err(EvalError::Config(format!(
            "the reference's k-NN radii were computed with k = {}, the settings ask for k = {}; \
             build the Reference with the same k",
            reference.manifold.k(),
            settings.k
        )));
    }
    let dim = set.feature_dim;
    let stats = GaussianStats::fit(&set.features, dim)?;
    let frechet_distance = stats.frechet_distance(&reference.stats)?;
    let kid = if settings.kid_subsets > 0 {
        let size = settings.kid_subset_size.min(set.len()).min(real.len());
        let mut rng = HostRng::seed_from(settings.seed);
        Some(kid(
            &set.features,
            &real.features,
            dim,
            settings.kid_subsets,
            size,
            &mut rng,
        )?)
    } else {
        None
    };
    let class_histogram = class_histogram(&set.probabilities, set.classes)?;
    let classes = set.classes;
    let classes_covered = class_histogram
        .iter()
        .filter(|&&count| 2 * classes * count >= set.len())
        .count();
    let manifold = reference.manifold.evaluate(&set.features)?;
    Ok(RowScores {
        label: label.to_string(),
        samples: set.len(),
        frechet_distance,
        kid,
        classifier_score: classifier_score(&set.probabilities, classes)?,
        class_kl: mode_reverse_kl(&class_histogram)?,
        class_histogram,
        classes_covered,
        precision: manifold.precision,
        recall: manifold.recall,
        density: manifold.density,
        coverage: manifold.coverage,
        stacked: None,
    })
}

/// The rows as an aligned text table, one line per row under a header; with StackedMNIST
/// rows, two more columns: the modes covered out of C³ and the reverse KL of the mode
/// histogram (— for a row without them).
pub fn render_table(rows: &[RowScores]) -> String {
    let mut header = vec![
        "set", "n", "FD", "KID×1e3", "score", "classes", "class KL", "P", "R", "D", "C",
    ];
    let stacked = rows.iter().any(|row| row.stacked.is_some());
    if stacked {
        header.extend(["modes", "mode KL"]);
    }
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for row in rows {
        let classes = row.class_histogram.len();
        let mut line = vec![
            row.label.clone(),
            row.samples.to_string(),
            format!("{:.3}", row.frechet_distance),
            row.kid.map_or("—".to_string(), |k| {
                format!("{:.2}±{:.2}", 1e3 * k.mean, 1e3 * k.std)
            }),
            format!("{:.3}", row.classifier_score),
            format!("{}/{classes}", row.classes_covered),
            format!("{:.4}", row.class_kl),
            format!("{:.3}", row.precision),
            format!("{:.3}", row.recall),
            format!("{:.3}", row.density),
            format!("{:.3}", row.coverage),
        ];
        if stacked {
            match &row.stacked {
                Some(modes) => line.extend([
                    format!("{}/{}", modes.modes_covered, modes.modes),
                    format!("{:.4}", modes.reverse_kl),
                ]),
                None => line.extend(["—".to_string(), "—".to_string()]),
            }
        }
        cells.push(line);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &cells {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| {
                let pad = w - cell.chars().count();
                if c == 0 {
                    format!("{cell}{}", " ".repeat(pad))
                } else {
                    format!("{}{cell}", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Splits the indices of `n` real images into the reference set (the first ⌈n/2⌉ of a
/// permutation drawn from `HostRng::seed_from(seed)`) and the held-out set of the floor row
/// (the rest), each in permutation order.
pub fn real_split(n: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    crate::train::shuffle(&mut order, &mut HostRng::seed_from(seed));
    let held_out = order.split_off(n.div_ceil(2));
    (order, held_out)
}
