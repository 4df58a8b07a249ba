//! Metrics of a classifier's predicted class probabilities on generated samples: the
//! classifier score (the Inception Score formula of Salimans et al. 2016, with any classifier
//! in place of Inception-v3) and the histogram of predicted classes.
//!
//! The input is a row-major `[n, C]` buffer: row i holds the class probabilities p(y ∣ x_i)
//! of sample i (softmax outputs, not logits). Every entry must lie in [0, 1] and every row
//! must sum to 1, both up to [`PROBABILITY_TOLERANCE`], which absorbs `f32` softmax
//! round-off; entries in [−[`PROBABILITY_TOLERANCE`], 0) count as 0. Rows are used as given,
//! not renormalised. Everything runs in `f64`.
//!
//! The class-coverage KL of a generated set, KL(class histogram ‖ uniform) (PacGAN's reverse
//! KL with classes in place of modes), is [`mode_reverse_kl`](crate::mode_reverse_kl) of
//! [`class_histogram`].

use crate::MetricError;
use crate::error::{HostFloat, to_finite_f64};

/// How far an entry may lie outside [0, 1], and a row sum from 1, before the probabilities
/// are rejected: 1e-3, far above the round-off of an `f32` softmax over thousands of classes
/// and far below the error of passing logits or unnormalised scores.
pub const PROBABILITY_TOLERANCE: f64 = 1e-3;

/// The classifier score exp((1/n) Σ_i KL(p_i ‖ p̄)) of the class probabilities
/// `probabilities`, a row-major `[n, classes]` buffer whose row i is p_i = p(y ∣ x_i), with
/// the marginal p̄ = (1/n) Σ_i p_i and KL(p ‖ q) = Σ_c p_c · ln(p_c / q_c) in nats, with the
/// convention 0 · ln 0 = 0. This is the Inception Score (Salimans et al. 2016) computed on a
/// single split with whatever classifier produced the probabilities.
///
/// The score lies in [1, C]: it is 1 when every row is the same distribution (no information
/// about the class, or a generator that always produces the same class mixture) and C when
/// the rows are one-hot and spread evenly over the C classes (confident and diverse). The
/// mean KL is clamped at 0 (it is non-negative, and round-off can push it a few ulps below),
/// so the score is never below 1. Cost O(n·C).
///
/// ```
/// use burngan_metrics::{class_histogram, classifier_score, mode_reverse_kl};
///
/// // Four confident predictions over two classes (row-major [4, 2]), three of class 0.
/// let p = [1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
/// let score = classifier_score(&p, 2).unwrap();
/// // p̄ = (3/4, 1/4): the mean KL is the entropy of p̄.
/// let entropy = -(0.75f64 * 0.75f64.ln() + 0.25 * 0.25f64.ln());
/// assert!((score - entropy.exp()).abs() < 1e-12);
/// let histogram = class_histogram(&p, 2).unwrap();
/// assert_eq!(histogram, vec![3, 1]);
/// // The class-coverage KL: ln 2 − H(3/4, 1/4).
/// let kl = mode_reverse_kl(&histogram).unwrap();
/// assert!((kl - (2f64.ln() - entropy)).abs() < 1e-12);
/// ```
///
/// # Errors
///
/// [`MetricError::ZeroClasses`], [`MetricError::Empty`],
/// [`MetricError::ProbabilityLength`], [`MetricError::NonFinite`],
/// [`MetricError::ProbabilityOutOfRange`] and [`MetricError::RowSumNotOne`] (see
/// [`PROBABILITY_TOLERANCE`]).
pub fn classifier_score<T: HostFloat>(
    probabilities: &[T],
    classes: usize,
) -> Result<f64, MetricError> {
    let p = validate(probabilities, classes)?;
    let n = p.len() / classes;
    let mut marginal = vec![0.0f64; classes];
    for row in p.chunks_exact(classes) {
        for (m, &x) in marginal.iter_mut().zip(row) {
            *m += x;
        }
    }
    for m in &mut marginal {
        *m /= n as f64;
    }
    let log_marginal: Vec<f64> = marginal.iter().map(|m| m.ln()).collect();
    let mut kl = 0.0f64;
    for row in p.chunks_exact(classes) {
        for (&x, &log_m) in row.iter().zip(&log_marginal) {
            // x > 0 implies a positive marginal, so both logarithms are finite.
            if x > 0.0 {
                kl += x * (x.ln() - log_m);
            }
        }
    }
    Ok((kl / n as f64).max(0.0).exp())
}

/// The number of rows of `probabilities` (a row-major `[n, classes]` buffer, validated as for
/// [`classifier_score`]) whose most probable class is each class: the predicted-class
/// histogram, length `classes`, summing to n. A tie goes to the lowest class index.
///
/// [`mode_reverse_kl`](crate::mode_reverse_kl) of the histogram is the class-coverage KL,
/// KL(histogram ‖ uniform), 0 for a balanced set and ln C for a set predicted as one class.
///
/// # Errors
///
/// As [`classifier_score`].
pub fn class_histogram<T: HostFloat>(
    probabilities: &[T],
    classes: usize,
) -> Result<Vec<usize>, MetricError> {
    let p = validate(probabilities, classes)?;
    let mut histogram = vec![0usize; classes];
    for row in p.chunks_exact(classes) {
        let mut best = 0;
        for (c, &x) in row.iter().enumerate() {
            if x > row[best] {
                best = c;
            }
        }
        histogram[best] += 1;
    }
    Ok(histogram)
}

/// Converts the probabilities to `f64` and checks the shape, the range of every entry and
/// every row sum; entries in [−tolerance, 0) become 0.
fn validate<T: HostFloat>(probabilities: &[T], classes: usize) -> Result<Vec<f64>, MetricError> {
    const WHAT: &str = "probabilities";
    if classes == 0 {
        return Err(MetricError::ZeroClasses);
    }
    if probabilities.is_empty() {
        return Err(MetricError::Empty { what: WHAT });
    }
    if !probabilities.len().is_multiple_of(classes) {
        return Err(MetricError::ProbabilityLength {
            len: probabilities.len(),
            classes,
        });
    }
    let mut p = to_finite_f64(WHAT, probabilities)?;
    for (row, values) in p.chunks_exact_mut(classes).enumerate() {
        let mut sum = 0.0;
        for (class, x) in values.iter_mut().enumerate() {
            if !(-PROBABILITY_TOLERANCE..=1.0 + PROBABILITY_TOLERANCE).contains(x) {
                return Err(MetricError::ProbabilityOutOfRange {
                    row,
                    class,
                    value: *x,
                });
            }
            sum += *x;
            *x = x.max(0.0);
        }
        if (sum - 1.0).abs() > PROBABILITY_TOLERANCE {
            return Err(MetricError::RowSumNotOne { row, sum });
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_negative_round_off_counts_as_zero() {
        let p = [0.5, 0.5 + 1e-6, -1e-6, 1.0, 0.0, 0.0];
        let clean = [0.5, 0.5, 0.0, 1.0, 0.0, 0.0];
        let score = classifier_score(&p, 3).unwrap();
        assert!((score - classifier_score(&clean, 3).unwrap()).abs() < 1e-5);
        assert_eq!(class_histogram(&p, 3).unwrap(), vec![1, 1, 0]);
    }

    #[test]
    fn ties_go_to_the_lowest_class() {
        let p = [
            0.25f32, 0.25, 0.25, 0.25, 0.0, 0.5, 0.5, 0.0, 0.1, 0.2, 0.2, 0.5,
        ];
        assert_eq!(class_histogram(&p, 4).unwrap(), vec![1, 1, 0, 1]);
    }
}
