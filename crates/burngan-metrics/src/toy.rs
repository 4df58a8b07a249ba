//! Toy-mixture metrics: mode coverage, sample quality and the reverse KL of the mode histogram.
//!
//! The protocol follows VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018): generate
//! 2,500 samples; a sample is *high quality* if it lies within 3σ of its nearest mode centre; a
//! mode is *covered* if it is the nearest mode of at least one high-quality sample. PacGAN also
//! reports the reverse KL divergence between the histogram of high-quality samples over the
//! modes and the uniform distribution of the true mixture ([`mode_reverse_kl`]).

use serde::{Deserialize, Serialize};

use crate::MetricError;

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

impl ModeCoverage {
    /// The reverse KL divergence of this report's high-quality histogram from the uniform
    /// distribution over the modes: [`mode_reverse_kl`] of
    /// [`high_quality_per_mode`](Self::high_quality_per_mode).
    ///
    /// # Errors
    ///
    /// As [`mode_reverse_kl`]: no modes, or no high-quality sample at all.
    pub fn reverse_kl(&self) -> Result<f64, MetricError> {
        mode_reverse_kl(&self.high_quality_per_mode)
    }
}

/// The reverse KL divergence KL(p_gen ‖ u) of the generated mode histogram from the uniform
/// distribution, in nats (PacGAN, Lin et al. 2018, §5).
///
/// `per_mode_counts` holds K ≥ 1 counts, one per mode: the high-quality samples assigned to
/// each mode (e.g. [`ModeCoverage::high_quality_per_mode`]). With c = Σ c_k,
/// p_k = c_k / c and u_k = 1 / K,
///
/// KL(p ‖ u) = Σ_k p_k · ln(p_k / u_k) = ln K − H(p),
///
/// with the convention 0 · ln 0 = 0, so an uncovered mode contributes nothing. The value is 0
/// for a perfectly balanced histogram and ln K when every sample falls in one mode; it lies in
/// [0, ln K].
///
/// # Errors
///
/// [`MetricError::Empty`] for K = 0 and [`MetricError::NoMass`] when every count is 0: with no
/// high-quality sample the generated distribution is undefined, so no number is returned; a
/// caller should record the value as missing (PacGAN's tables would show it as +∞).
pub fn mode_reverse_kl(per_mode_counts: &[usize]) -> Result<f64, MetricError> {
    const WHAT: &str = "per_mode_counts";
    if per_mode_counts.is_empty() {
        return Err(MetricError::Empty { what: WHAT });
    }
    let total: f64 = per_mode_counts.iter().map(|&c| c as f64).sum();
    if total == 0.0 {
        return Err(MetricError::NoMass { what: WHAT });
    }
    let modes = per_mode_counts.len() as f64;
    let kl: f64 = per_mode_counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total;
            p * (p * modes).ln()
        })
        .sum();
    // Each term is exact to round-off; the sum of a balanced histogram can land a few ulps
    // below 0, which the divergence cannot be.
    Ok(kl.max(0.0))
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

    #[test]
    fn reverse_kl_is_zero_when_balanced_and_ln_k_when_collapsed() {
        assert_eq!(mode_reverse_kl(&[5, 5, 5, 5]).unwrap(), 0.0);
        let collapsed = mode_reverse_kl(&[0, 0, 7, 0, 0, 0, 0, 0]).unwrap();
        assert!((collapsed - 8f64.ln()).abs() < 1e-15, "{collapsed}");
    }

    #[test]
    fn reverse_kl_matches_numpy() {
        // python3 -c "import numpy as np; c=np.array([10,0,30,60]); p=c/c.sum(); \
        //   m=p>0; print(repr(float(np.sum(p[m]*np.log(p[m]*len(c))))))"
        let expected = 0.48834863626311076;
        let kl = mode_reverse_kl(&[10, 0, 30, 60]).unwrap();
        assert!((kl - expected).abs() < 1e-15, "{kl}");
        // scipy.stats.entropy computes the same divergence with the uniform reference.
        // python3 -c "from scipy.stats import entropy; print(repr(float(entropy([3,1,2],[1,1,1]))))"
        let expected = 0.08720802396075801;
        let kl = mode_reverse_kl(&[3, 1, 2]).unwrap();
        assert!((kl - expected).abs() < 1e-15, "{kl}");
    }

    #[test]
    fn reverse_kl_of_a_report_uses_the_high_quality_histogram() {
        let centres = ring();
        let samples = [1.0f32, 0.0, 1.0, 0.0, 0.0, 1.0, 50.0, 50.0];
        let report = mode_coverage(&samples, &centres, 0.01, 3.0);
        let direct = mode_reverse_kl(&[2, 0, 1, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(report.reverse_kl().unwrap(), direct);
    }

    #[test]
    fn reverse_kl_rejects_no_modes_and_no_high_quality_samples() {
        let err = mode_reverse_kl(&[]).unwrap_err();
        assert_eq!(
            err,
            MetricError::Empty {
                what: "per_mode_counts"
            }
        );
        assert!(
            err.to_string().contains("`per_mode_counts` is empty"),
            "{err}"
        );
        let err = mode_reverse_kl(&[0, 0, 0]).unwrap_err();
        assert_eq!(
            err,
            MetricError::NoMass {
                what: "per_mode_counts"
            }
        );
        assert!(err.to_string().contains("sums to 0"), "{err}");
    }
}
