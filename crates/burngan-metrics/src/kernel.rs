//! Kernel two-sample statistics: the unbiased squared maximum mean discrepancy (MMD²) with a
//! Gaussian kernel (Gretton et al. 2012), and the Kernel Inception Distance (KID; Bińkowski
//! et al. 2018), the unbiased MMD² with a cubic polynomial kernel averaged over random
//! subsets.
//!
//! For samples X = {x_i} (m points) and Y = {y_j} (n points) and a kernel k, the unbiased
//! estimator of MMD² is (Gretton et al. 2012, Lemma 6)
//!
//! MMD²_u = 1/(m(m−1)) Σ_{i≠i'} k(x_i, x_i') + 1/(n(n−1)) Σ_{j≠j'} k(y_j, y_j')
//!          − 2/(mn) Σ_{i,j} k(x_i, y_j).
//!
//! It needs m, n ≥ 2, and it can be slightly negative when the distributions are equal. The
//! kernel sums are accumulated pair by pair: O((m + n)²·dim) time, O(dim) extra memory.

use burngan_core::HostRng;
use serde::{Deserialize, Serialize};

use crate::MetricError;
use crate::error::{HostFloat, Points, require_points, squared_distance};

/// The unbiased MMD² between `x` and `y`, row-major `[m, dim]` and `[n, dim]` buffers with
/// m, n ≥ 2, under the Gaussian kernel
///
/// k(x, y) = exp(−‖x − y‖² / (2σ²)),
///
/// with σ = `bandwidth`, or, for `None`, the median heuristic σ = median of the pairwise
/// distances of the pooled sample ([`median_heuristic_bandwidth`]; Gretton et al. 2012, §8).
/// The estimator is the one of the module documentation (Gretton et al. 2012, Lemma 6).
///
/// # Errors
///
/// [`MetricError::ZeroDim`], [`MetricError::Empty`], [`MetricError::LengthNotMultiple`],
/// [`MetricError::NonFinite`] for `x` and `y`; [`MetricError::TooFewSamples`] when a set has
/// fewer than 2 points; [`MetricError::InvalidBandwidth`] for σ ≤ 0 or non-finite σ;
/// [`MetricError::DegenerateMedianBandwidth`] when the median pairwise distance is 0.
pub fn mmd2_unbiased<T: HostFloat>(
    x: &[T],
    y: &[T],
    dim: usize,
    bandwidth: Option<f64>,
) -> Result<f64, MetricError> {
    let x = Points::new("x", x, dim)?;
    let y = Points::new("y", y, dim)?;
    require_points("x", &x, 2, "unbiased MMD² estimator")?;
    require_points("y", &y, 2, "unbiased MMD² estimator")?;
    let sigma = match bandwidth {
        Some(sigma) if sigma.is_finite() && sigma > 0.0 => sigma,
        Some(sigma) => return Err(MetricError::InvalidBandwidth { bandwidth: sigma }),
        None => median_bandwidth(&x, &y)?,
    };
    let scale = -1.0 / (2.0 * sigma * sigma);
    Ok(unbiased_mmd2(&x, &y, |a, b| {
        (scale * squared_distance(a, b)).exp()
    }))
}

/// The median heuristic bandwidth: the median of the Euclidean distances ‖z_i − z_j‖, i < j,
/// over all pairs of the pooled sample Z = X ∪ Y (`x` and `y` row-major `[m, dim]` and
/// `[n, dim]` buffers), with the mean of the two middle values for an even number of pairs
/// (as `numpy.median`). Gretton et al. 2012, §8. It stores all (m + n)(m + n − 1)/2 distances:
/// O((m + n)²) memory.
///
/// # Errors
///
/// [`MetricError::ZeroDim`], [`MetricError::Empty`], [`MetricError::LengthNotMultiple`],
/// [`MetricError::NonFinite`] for `x` and `y`; [`MetricError::DegenerateMedianBandwidth`]
/// when the median is 0.
pub fn median_heuristic_bandwidth<T: HostFloat>(
    x: &[T],
    y: &[T],
    dim: usize,
) -> Result<f64, MetricError> {
    let x = Points::new("x", x, dim)?;
    let y = Points::new("y", y, dim)?;
    median_bandwidth(&x, &y)
}

fn median_bandwidth(x: &Points, y: &Points) -> Result<f64, MetricError> {
    let pooled: Vec<&[f64]> = x.rows().chain(y.rows()).collect();
    let mut distances = Vec::with_capacity(pooled.len() * (pooled.len() - 1) / 2);
    for (i, a) in pooled.iter().enumerate() {
        for b in &pooled[i + 1..] {
            distances.push(squared_distance(a, b).sqrt());
        }
    }
    let median = median(&mut distances);
    if median > 0.0 {
        Ok(median)
    } else {
        Err(MetricError::DegenerateMedianBandwidth)
    }
}

/// The median of a non-empty buffer (mean of the two middle values for an even length).
fn median(values: &mut [f64]) -> f64 {
    let len = values.len();
    let (lower, upper, _) = values.select_nth_unstable_by(len / 2, f64::total_cmp);
    if len % 2 == 1 {
        *upper
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (below + *upper)
    }
}

/// The KID estimate: the mean and spread of the unbiased polynomial-kernel MMD² over subsets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KidEstimate {
    /// The mean of the per-subset unbiased MMD² values: the KID.
    pub mean: f64,
    /// Their standard deviation with denominator `subsets` (`numpy.std`, ddof = 0, as the
    /// reference implementation reports); 0 for a single subset.
    pub std: f64,
    /// The number of subsets averaged.
    pub subsets: usize,
    /// The points drawn from each set per subset.
    pub subset_size: usize,
}

/// The Kernel Inception Distance (Bińkowski et al. 2018) between feature sets `x` and `y`,
/// row-major `[m, dim]` and `[n, dim]` buffers: for each of `subsets` rounds, `subset_size`
/// points are drawn without replacement from each set (uniformly, from `rng`), and the
/// unbiased MMD² of [`polynomial_mmd2_unbiased`], with the kernel
///
/// k(x, y) = (xᵀy / dim + 1)³,
///
/// is computed on the two subsets; the result holds the mean and the (ddof = 0) standard
/// deviation of the per-subset values, as the authors' reference implementation reports
/// them (`polynomial_mmd_averages` in their MMD-GAN code, 50 subsets of 1000 points by
/// default; torch-fidelity uses 100 subsets of 1000). Cost:
/// O(subsets·subset_size²·dim).
///
/// # Errors
///
/// [`MetricError::ZeroDim`], [`MetricError::Empty`], [`MetricError::LengthNotMultiple`],
/// [`MetricError::NonFinite`] for `x` and `y`; [`MetricError::InvalidSubsets`] unless
/// subsets ≥ 1 and 2 ≤ subset_size ≤ min(m, n).
pub fn kid<T: HostFloat>(
    x: &[T],
    y: &[T],
    dim: usize,
    subsets: usize,
    subset_size: usize,
    rng: &mut HostRng,
) -> Result<KidEstimate, MetricError> {
    let x = Points::new("x", x, dim)?;
    let y = Points::new("y", y, dim)?;
    let (n_x, n_y) = (x.len(), y.len());
    if subsets == 0 || subset_size < 2 || subset_size > n_x.min(n_y) {
        return Err(MetricError::InvalidSubsets {
            subsets,
            subset_size,
            n_x,
            n_y,
        });
    }
    let mut values = Vec::with_capacity(subsets);
    for _ in 0..subsets {
        let xs = subset(&x, subset_size, rng);
        let ys = subset(&y, subset_size, rng);
        values.push(unbiased_mmd2(&xs, &ys, |a, b| polynomial_kernel(a, b, dim)));
    }
    let count = values.len() as f64;
    let mean = values.iter().sum::<f64>() / count;
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count;
    Ok(KidEstimate {
        mean,
        std: variance.sqrt(),
        subsets,
        subset_size,
    })
}

/// The unbiased MMD² between `x` and `y` (row-major `[m, dim]` and `[n, dim]`, m, n ≥ 2)
/// under the KID kernel k(x, y) = (xᵀy / dim + 1)³, on the whole sets: one KID subset
/// without the sampling.
///
/// # Errors
///
/// [`MetricError::ZeroDim`], [`MetricError::Empty`], [`MetricError::LengthNotMultiple`],
/// [`MetricError::NonFinite`] for `x` and `y`; [`MetricError::TooFewSamples`] when a set has
/// fewer than 2 points.
pub fn polynomial_mmd2_unbiased<T: HostFloat>(
    x: &[T],
    y: &[T],
    dim: usize,
) -> Result<f64, MetricError> {
    let x = Points::new("x", x, dim)?;
    let y = Points::new("y", y, dim)?;
    require_points("x", &x, 2, "unbiased MMD² estimator")?;
    require_points("y", &y, 2, "unbiased MMD² estimator")?;
    Ok(unbiased_mmd2(&x, &y, |a, b| polynomial_kernel(a, b, dim)))
}

/// The KID kernel (aᵀb / dim + 1)³.
fn polynomial_kernel(a: &[f64], b: &[f64], dim: usize) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    (dot / dim as f64 + 1.0).powi(3)
}

/// `size` distinct points of `points`, chosen uniformly by a partial Fisher–Yates shuffle.
fn subset(points: &Points, size: usize, rng: &mut HostRng) -> Points {
    let n = points.len();
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..size {
        let j = i + rng.index(n - i);
        order.swap(i, j);
    }
    let mut data = Vec::with_capacity(size * points.dim);
    for &i in &order[..size] {
        data.extend_from_slice(points.row(i));
    }
    Points {
        data,
        dim: points.dim,
    }
}

/// The unbiased MMD² of the module documentation for a symmetric kernel.
fn unbiased_mmd2(x: &Points, y: &Points, kernel: impl Fn(&[f64], &[f64]) -> f64) -> f64 {
    let within = |p: &Points| -> f64 {
        let n = p.len();
        let mut sum = 0.0;
        for i in 0..n {
            for j in (i + 1)..n {
                sum += kernel(p.row(i), p.row(j));
            }
        }
        2.0 * sum / (n as f64 * (n as f64 - 1.0))
    };
    let mut cross = 0.0;
    for a in x.rows() {
        for b in y.rows() {
            cross += kernel(a, b);
        }
    }
    within(x) + within(y) - 2.0 * cross / (x.len() as f64 * y.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_lengths() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut [5.0]), 5.0);
    }

    #[test]
    fn subsets_are_distinct_points() {
        let data: Vec<f64> = (0..20).map(f64::from).collect();
        let points = Points::new("x", &data, 1).unwrap();
        let mut rng = HostRng::seed_from(9);
        let mut drawn = subset(&points, 12, &mut rng).data;
        drawn.sort_by(f64::total_cmp);
        drawn.dedup();
        assert_eq!(drawn.len(), 12);
    }
}
