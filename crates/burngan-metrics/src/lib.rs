//! Evaluation metrics. They work on host data (`&[f32]` or `&[f64]` buffers, converted to
//! `f64` internally), so they are independent of the backend that produced the samples, and
//! they take no Burn types.
//!
//! A set of n points of dimension d is a row-major buffer of length n·d plus `dim`; a set of
//! n predictions over C classes is a row-major `[n, C]` buffer of class probabilities plus
//! `classes`. Every metric except [`mode_coverage`] validates its input and returns a
//! [`MetricError`] (empty sets, lengths that are not a multiple of `dim`, non-finite values,
//! too few points for an unbiased estimator, bad bandwidth, k or order, probability rows that
//! are not distributions) instead of panicking. Random choices (sliced-Wasserstein
//! directions, KID subsets) come from a seeded [`HostRng`](burngan_core::HostRng), so results
//! are reproducible. The nearest-neighbour metrics run on every core and give the same
//! result for any number of them; [`ManifoldReference`] caches the real set's k-NN radii to
//! score several generated sets against it. The dense `f64` linear algebra behind the
//! Fréchet distance (symmetric eigendecomposition, singular values) is public in [`linalg`].
//!
//! | metric | function | source |
//! |---|---|---|
//! | mode coverage, high-quality fraction | [`mode_coverage`] | Srivastava et al. 2017 (VEEGAN) |
//! | reverse KL of the mode histogram; given a [`class_histogram`], the class-coverage KL | [`mode_reverse_kl`] | Lin et al. 2018 (PacGAN) |
//! | classifier score (the Inception Score formula with any classifier) | [`classifier_score`] | Salimans et al. 2016 |
//! | predicted-class histogram (argmax counts) | [`class_histogram`] | |
//! | exact 1-D Wasserstein-1 | [`wasserstein_1d`] | Villani 2009 |
//! | sliced Wasserstein (p = 1, 2) | [`sliced_wasserstein`], [`sliced_wasserstein_with`] | Rabin et al. 2011 |
//! | unbiased MMD², Gaussian kernel | [`mmd2_unbiased`] | Gretton et al. 2012 |
//! | KID | [`kid`] | Bińkowski et al. 2018 |
//! | Fréchet distance (FID) | [`frechet_distance`], [`frechet_distance_from_stats`] | Dowson & Landau 1982; Heusel et al. 2017 |
//! | improved precision and recall | [`precision_recall`], [`ManifoldReference::precision_recall`] | Kynkäänniemi et al. 2019 |
//! | density and coverage | [`density_coverage`], [`ManifoldReference::density_coverage`] | Naeem et al. 2020 |
//! | all four k-NN metrics in one pass | [`ManifoldReference::evaluate`] | |
//!
//! The toy metrics follow the protocol of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et
//! al. 2018): generate 2,500 samples; a sample is *high quality* if it lies within 3σ of its
//! nearest mode centre; a mode is *covered* if it is the nearest mode of at least one
//! high-quality sample.
//!
//! # Example
//!
//! ```
//! use burngan_metrics::{mode_coverage, mode_reverse_kl};
//!
//! let centres = [[0.0, 0.0], [10.0, 0.0]];
//! // Two samples near mode 0, one far from both.
//! let samples = [0.01, 0.0, -0.02, 0.01, 5.0, 5.0];
//! let report = mode_coverage(&samples, &centres, 0.01, 3.0);
//! assert_eq!(report.modes_covered, 1);
//! assert!((report.high_quality_fraction - 2.0 / 3.0).abs() < 1e-12);
//! // Every high-quality sample is in one of two modes: the reverse KL is ln 2.
//! let kl = mode_reverse_kl(&report.high_quality_per_mode).unwrap();
//! assert!((kl - 2f64.ln()).abs() < 1e-12);
//! ```
//!
//! ```
//! use burngan_core::HostRng;
//! use burngan_metrics::{frechet_distance, sliced_wasserstein};
//!
//! // Two 2-D point clouds (row-major [4, 2]); `b` is `a` shifted by (1, 0).
//! let a = [0.0f32, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
//! let b = [1.0f32, 0.0, 2.0, 0.0, 1.0, 1.0, 2.0, 1.0];
//! // Equal covariances: the Fréchet distance is the squared mean shift.
//! let fd = frechet_distance(&a, &b, 2).unwrap();
//! assert!((fd - 1.0).abs() < 1e-12);
//! let sw = sliced_wasserstein(&a, &b, 2, 100, 2, &mut HostRng::seed_from(0)).unwrap();
//! assert!(sw > 0.0 && sw <= 1.0 + 1e-12);
//! ```

mod classifier;
mod distance;
mod error;
mod frechet;
mod kernel;
pub mod linalg;
mod manifold;
mod toy;

pub use classifier::{PROBABILITY_TOLERANCE, class_histogram, classifier_score};
pub use distance::{sliced_wasserstein, sliced_wasserstein_with, wasserstein_1d};
pub use error::{HostFloat, MetricError};
pub use frechet::{
    COVARIANCE_TOLERANCE, GaussianStats, frechet_distance, frechet_distance_from_stats,
};
pub use kernel::{
    KidEstimate, kid, median_heuristic_bandwidth, mmd2_unbiased, polynomial_mmd2_unbiased,
};
pub use manifold::{
    DEFAULT_K, DensityCoverage, ManifoldMetrics, ManifoldReference, PrecisionRecall,
    density_coverage, knn_radii, precision_recall,
};
pub use toy::{ModeCoverage, TOY_EVAL_SAMPLES, mode_coverage, mode_reverse_kl};
