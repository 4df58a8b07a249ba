//! Evaluation metrics. They work on host data (`&[f32]` buffers), so they are independent of
//! the backend that produced the samples.
//!
//! The toy metrics follow the protocol of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et
//! al. 2018): generate 2,500 samples; a sample is *high quality* if it lies within 3σ of its
//! nearest mode centre; a mode is *covered* if it is the nearest mode of at least one
//! high-quality sample.
//!
//! # Example
//!
//! ```
//! use burngan_metrics::mode_coverage;
//!
//! let centres = [[0.0, 0.0], [10.0, 0.0]];
//! // Two samples near mode 0, one far from both.
//! let samples = [0.01, 0.0, -0.02, 0.01, 5.0, 5.0];
//! let report = mode_coverage(&samples, &centres, 0.01, 3.0);
//! assert_eq!(report.modes_covered, 1);
//! assert!((report.high_quality_fraction - 2.0 / 3.0).abs() < 1e-12);
//! ```

use serde::{Deserialize, Serialize};

/// The number of generated samples the VEEGAN/PacGAN protocol evaluates.
pub const TOY_EVAL_SAMPLES: usize = 2_500;

/// Mode coverage and sample quality of generated 2-D samples against a known mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeCoverage {
    /// Modes that are the nearest mode of at least one high-quality sample.
    pub modes_covered: usize,
    /// Modes in the mixture.
    pub modes_total: usize,
    /// Fraction of samples within `threshold_stds`·σ of their nearest mode, in [0, 1].
    pub high_quality_fraction: f64,
    /// High-quality samples per mode, in the order of the centres.
    pub high_quality_per_mode: Vec<usize>,
    /// Samples evaluated.
    pub samples: usize,
}

/// Evaluates 2-D samples (a row-major `[n, 2]` buffer) against mode `centres` with common
/// standard deviation `std`; a sample is high quality within `threshold_stds · std` (3 in the
/// published protocol) of its nearest centre. An empty sample set covers nothing and has a
/// high-quality fraction of 0; non-finite samples count as low quality.
pub fn mode_coverage(
    samples: &[f32],
    centres: &[[f64; 2]],
    std: f64,
    threshold_stds: f64,
) -> ModeCoverage {
    let radius = threshold_stds * std;
    let mut per_mode = vec![0usize; centres.len()];
    let mut high_quality = 0usize;
    let n = samples.len() / 2;
    for point in samples.chunks_exact(2) {
        let (x, y) = (point[0] as f64, point[1] as f64);
        let nearest = centres
            .iter()
            .enumerate()
            .map(|(k, c)| (k, (x - c[0]).hypot(y - c[1])))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((k, distance)) = nearest
            && distance <= radius
        {
            per_mode[k] += 1;
            high_quality += 1;
        }
    }
    ModeCoverage {
        modes_covered: per_mode.iter().filter(|&&c| c > 0).count(),
        modes_total: centres.len(),
        high_quality_fraction: if n == 0 {
            0.0
        } else {
            high_quality as f64 / n as f64
        },
        high_quality_per_mode: per_mode,
        samples: n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Vec<[f64; 2]> {
        (0..8)
            .map(|k| {
                let a = std::f64::consts::TAU * k as f64 / 8.0;
                [a.cos(), a.sin()]
            })
            .collect()
    }

    #[test]
    fn samples_at_the_centres_cover_every_mode() {
        let centres = ring();
        let samples: Vec<f32> = centres
            .iter()
            .flat_map(|c| [c[0] as f32, c[1] as f32])
            .collect();
        let report = mode_coverage(&samples, &centres, 0.01, 3.0);
        assert_eq!(report.modes_covered, 8);
        assert_eq!(report.high_quality_fraction, 1.0);
        assert_eq!(report.high_quality_per_mode, vec![1; 8]);
    }

    #[test]
    fn the_three_sigma_boundary_is_inclusive_and_collapse_is_one_mode() {
        let centres = ring();
        // 0.0299 from mode 0 is inside 3 sigma = 0.03; 0.0301 is outside.
        let samples = [1.0299f32, 0.0, 1.0301, 0.0, 1.0, 0.0, 1.0, 0.0];
        let report = mode_coverage(&samples, &centres, 0.01, 3.0);
        assert_eq!(report.modes_covered, 1);
        assert_eq!(report.high_quality_per_mode[0], 3);
        assert_eq!(report.high_quality_fraction, 0.75);
    }

    #[test]
    fn empty_and_non_finite_samples_are_low_quality() {
        let centres = ring();
        let empty = mode_coverage(&[], &centres, 0.01, 3.0);
        assert_eq!((empty.modes_covered, empty.high_quality_fraction), (0, 0.0));
        let nan = mode_coverage(&[f32::NAN, 0.0, f32::INFINITY, 1.0], &centres, 0.01, 3.0);
        assert_eq!((nan.modes_covered, nan.high_quality_fraction), (0, 0.0));
    }
}
