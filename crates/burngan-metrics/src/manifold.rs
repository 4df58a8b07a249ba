//! Manifold-based fidelity and diversity metrics built on k-nearest-neighbour balls: improved
//! precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al.
//! 2020).
//!
//! Each point x of a set X gets the radius NND_k(x), the Euclidean distance to its k-th
//! nearest neighbour in X excluding itself (a duplicate of x counts as a neighbour at
//! distance 0); the closed ball B(x, NND_k(x)) estimates the support of X locally. All
//! neighbours are found by exact brute force in `f64`: O(n²·dim) time for the radii of n
//! points, O(n·m·dim) for the comparisons of two sets, O(n + m) extra memory. Membership is
//! tested with ≤ on squared distances (closed balls, as in the definition of Kynkäänniemi et
//! al.; the `prdc` package of Naeem et al. uses <, which differs only for points
//! exactly on a sphere).

use serde::{Deserialize, Serialize};

use crate::MetricError;
use crate::error::{HostFloat, Points, squared_distance};

/// The default neighbourhood size: k = 3, Kynkäänniemi et al.'s choice for precision and
/// recall (Naeem et al. recommend k = 5 for density and coverage).
pub const DEFAULT_K: usize = 3;

/// Improved precision and recall, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrecisionRecall {
    /// The fraction of fake points inside the k-NN ball of at least one real point.
    pub precision: f64,
    /// The fraction of real points inside the k-NN ball of at least one fake point.
    pub recall: f64,
}

/// Density (unbounded above, about 1 when the two distributions match) and coverage (in
/// [0, 1]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DensityCoverage {
    /// The mean number of real k-NN balls containing a fake point, divided by k.
    pub density: f64,
    /// The fraction of real points whose k-NN ball contains at least one fake point.
    pub coverage: f64,
}

/// The k-NN radii NND_k(x_i) of the points of `points`, a row-major `[n, dim]` buffer: entry
/// i is the Euclidean distance from point i to its k-th nearest other point (the (k+1)-th
/// smallest distance when the point itself is counted at distance 0). Length n.
///
/// # Errors
///
/// [`MetricError::ZeroDim`], [`MetricError::Empty`], [`MetricError::LengthNotMultiple`],
/// [`MetricError::NonFinite`]; [`MetricError::InvalidK`] unless 1 ≤ k ≤ n − 1.
pub fn knn_radii<T: HostFloat>(
    points: &[T],
    dim: usize,
    k: usize,
) -> Result<Vec<f64>, MetricError> {
    let points = Points::new("points", points, dim)?;
    check_k("points", &points, k)?;
    Ok(squared_radii(&points, k)
        .into_iter()
        .map(f64::sqrt)
        .collect())
}

/// Improved precision and recall (Kynkäänniemi et al. 2019) of `fake` against `real`,
/// row-major `[m, dim]` and `[n, dim]` buffers, with k-NN balls of size `k`
/// ([`DEFAULT_K`] = 3 in the paper):
///
/// precision = (1/m) Σ_j 1[∃ i: ‖f_j − r_i‖ ≤ NND_k(r_i)],
/// recall    = (1/n) Σ_i 1[∃ j: ‖r_i − f_j‖ ≤ NND_k(f_j)],
///
/// where the real radii are computed within `real` and the fake radii within `fake`.
///
/// # Errors
///
/// [`MetricError::ZeroDim`], [`MetricError::Empty`], [`MetricError::LengthNotMultiple`],
/// [`MetricError::NonFinite`] for `real` and `fake`; [`MetricError::InvalidK`] unless
/// 1 ≤ k ≤ min(n, m) − 1 (each set needs k other points).
pub fn precision_recall<T: HostFloat>(
    real: &[T],
    fake: &[T],
    dim: usize,
    k: usize,
) -> Result<PrecisionRecall, MetricError> {
    let real = Points::new("real", real, dim)?;
    let fake = Points::new("fake", fake, dim)?;
    check_k("real", &real, k)?;
    check_k("fake", &fake, k)?;
    let real_radii = squared_radii(&real, k);
    let fake_radii = squared_radii(&fake, k);
    Ok(PrecisionRecall {
        precision: fraction_inside_some_ball(&fake, &real, &real_radii),
        recall: fraction_inside_some_ball(&real, &fake, &fake_radii),
    })
}

/// Density and coverage (Naeem et al. 2020) of `fake` against `real`, row-major `[m, dim]`
/// and `[n, dim]` buffers, with k-NN balls of size `k` around the real points only:
///
/// density  = 1/(k·m) Σ_j Σ_i 1[‖f_j − r_i‖ ≤ NND_k(r_i)],
/// coverage = (1/n) Σ_i 1[min_j ‖r_i − f_j‖ ≤ NND_k(r_i)].
///
/// # Errors
///
/// [`MetricError::ZeroDim`], [`MetricError::Empty`], [`MetricError::LengthNotMultiple`],
/// [`MetricError::NonFinite`] for `real` and `fake`; [`MetricError::InvalidK`] unless
/// 1 ≤ k ≤ n − 1.
pub fn density_coverage<T: HostFloat>(
    real: &[T],
    fake: &[T],
    dim: usize,
    k: usize,
) -> Result<DensityCoverage, MetricError> {
    let real = Points::new("real", real, dim)?;
    let fake = Points::new("fake", fake, dim)?;
    check_k("real", &real, k)?;
    let radii = squared_radii(&real, k);
    let mut inside = 0usize;
    let mut covered = vec![false; real.len()];
    for f in fake.rows() {
        for ((r, &radius), is_covered) in real.rows().zip(&radii).zip(covered.iter_mut()) {
            if squared_distance(f, r) <= radius {
                inside += 1;
                *is_covered = true;
            }
        }
    }
    Ok(DensityCoverage {
        density: inside as f64 / (k as f64 * fake.len() as f64),
        coverage: covered.iter().filter(|&&c| c).count() as f64 / real.len() as f64,
    })
}

/// Rejects k outside 1..=n − 1 for the set the radii are computed in.
fn check_k(what: &'static str, points: &Points, k: usize) -> Result<(), MetricError> {
    let n = points.len();
    if k == 0 || k >= n {
        return Err(MetricError::InvalidK { k, what, n });
    }
    Ok(())
}

/// The squared k-NN radius of every point (1 ≤ k ≤ n − 1, checked by the callers).
fn squared_radii(points: &Points, k: usize) -> Vec<f64> {
    let n = points.len();
    let mut others = Vec::with_capacity(n - 1);
    (0..n)
        .map(|i| {
            others.clear();
            let x = points.row(i);
            others.extend(
                (0..n)
                    .filter(|&j| j != i)
                    .map(|j| squared_distance(x, points.row(j))),
            );
            *others.select_nth_unstable_by(k - 1, f64::total_cmp).1
        })
        .collect()
}

/// The fraction of `queries` inside the closed ball of at least one centre.
fn fraction_inside_some_ball(queries: &Points, centres: &Points, squared_radii: &[f64]) -> f64 {
    let inside = queries
        .rows()
        .filter(|q| {
            centres
                .rows()
                .zip(squared_radii)
                .any(|(c, &radius)| squared_distance(q, c) <= radius)
        })
        .count();
    inside as f64 / queries.len() as f64
}
