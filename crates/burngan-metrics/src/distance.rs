//! Wasserstein distances between empirical distributions: the exact 1-D distance between
//! samples of any sizes, and the sliced Wasserstein distance between point clouds in ℝᵈ.
//!
//! In one dimension the p-Wasserstein distance between distributions with quantile functions
//! F⁻¹ and G⁻¹ is (Villani 2009; Peyré & Cuturi 2019, Remark 2.30)
//!
//! W_p(μ, ν)^p = ∫₀¹ |F⁻¹(t) − G⁻¹(t)|^p dt.
//!
//! For empirical distributions with n and m atoms both quantile functions are step functions
//! that jump at t = i/n and t = j/m, so the integral is an exact finite sum over the merged
//! breakpoints; the breakpoints are compared in integer arithmetic (i·m against j·n), so
//! unequal sizes are handled exactly, not by resampling.

use burngan_core::HostRng;

use crate::MetricError;
use crate::error::{HostFloat, Points, euclidean_norm, sample_1d};

/// The exact 1-Wasserstein (earth mover's) distance between two empirical 1-D distributions,
/// each atom of `a` having mass 1/n and each atom of `b` mass 1/m (n, m ≥ 1, any sizes):
///
/// W₁ = ∫₀¹ |F_a⁻¹(t) − F_b⁻¹(t)| dt = ∫ |F_a(x) − F_b(x)| dx,
///
/// the same quantity as `scipy.stats.wasserstein_distance(a, b)`. Cost: O((n + m) log(n + m)).
///
/// # Errors
///
/// [`MetricError::Empty`] and [`MetricError::NonFinite`], naming `a` or `b`.
pub fn wasserstein_1d<T: HostFloat>(a: &[T], b: &[T]) -> Result<f64, MetricError> {
    let mut a = sample_1d("a", a)?;
    let mut b = sample_1d("b", b)?;
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    Ok(wasserstein_sorted_pow(&a, &b, 1))
}

/// The sliced p-Wasserstein distance (Rabin et al. 2011; Bonneel et al. 2015) between the
/// point clouds `a` and `b`, row-major `[n, dim]` and `[m, dim]` buffers, estimated with
/// `projections` random directions θ_l drawn uniformly on the unit sphere (a Gaussian vector
/// from `rng`, normalised):
///
/// SW_p(a, b) = ( (1/L) Σ_l W_p(θ_lᵀa, θ_lᵀb)^p )^{1/p},  L = `projections`,
///
/// where each 1-D distance is exact (see the module documentation). `p` is 1 or 2. The same
/// `rng` state gives the same directions, hence the same value; [`sliced_wasserstein_with`]
/// takes the directions explicitly. Cost: O(L·((n + m)·dim + (n + m) log(n + m))).
///
/// # Errors
///
/// [`MetricError::InvalidOrder`] unless p ∈ {1, 2}; [`MetricError::NoProjections`] for
/// L = 0; [`MetricError::ZeroDim`], [`MetricError::Empty`],
/// [`MetricError::LengthNotMultiple`] and [`MetricError::NonFinite`] for `a` and `b`.
pub fn sliced_wasserstein<T: HostFloat>(
    a: &[T],
    b: &[T],
    dim: usize,
    projections: usize,
    p: u32,
    rng: &mut HostRng,
) -> Result<f64, MetricError> {
    check_order(p)?;
    if projections == 0 {
        return Err(MetricError::NoProjections);
    }
    let a = Points::new("a", a, dim)?;
    let b = Points::new("b", b, dim)?;
    let mut directions = Vec::with_capacity(projections * dim);
    for _ in 0..projections {
        // A normalised standard Gaussian vector is uniform on the sphere. A zero vector has
        // probability 0 (it needs every f32 draw to be exactly 0); redraw if it happens.
        loop {
            let draw: Vec<f64> = rng.normal_vec(dim).into_iter().map(f64::from).collect();
            let norm = euclidean_norm(&draw);
            if norm > 0.0 && norm.is_finite() {
                directions.extend(draw.iter().map(|x| x / norm));
                break;
            }
        }
    }
    Ok(sliced(&a, &b, &directions, p))
}

/// The sliced p-Wasserstein distance of [`sliced_wasserstein`] with explicit projection
/// directions: `directions` is a row-major `[L, dim]` buffer of L ≥ 1 non-zero directions,
/// each normalised to unit length here (so only their orientation matters):
///
/// SW_p(a, b) = ( (1/L) Σ_l W_p(θ_lᵀa, θ_lᵀb)^p )^{1/p},  θ_l = d_l / ‖d_l‖.
///
/// `a` and `b` are row-major `[n, dim]` and `[m, dim]` buffers; `p` is 1 or 2.
///
/// # Errors
///
/// [`MetricError::InvalidOrder`] unless p ∈ {1, 2}; [`MetricError::ZeroDim`],
/// [`MetricError::Empty`], [`MetricError::LengthNotMultiple`] and [`MetricError::NonFinite`]
/// for `a`, `b` and `directions`; [`MetricError::ZeroDirection`] for a direction of length 0.
pub fn sliced_wasserstein_with<T: HostFloat>(
    a: &[T],
    b: &[T],
    dim: usize,
    directions: &[f64],
    p: u32,
) -> Result<f64, MetricError> {
    check_order(p)?;
    let a = Points::new("a", a, dim)?;
    let b = Points::new("b", b, dim)?;
    let raw = Points::new("directions", directions, dim)?;
    let mut unit = Vec::with_capacity(raw.data.len());
    for (index, d) in raw.rows().enumerate() {
        let norm = euclidean_norm(d);
        if norm == 0.0 {
            return Err(MetricError::ZeroDirection { index });
        }
        unit.extend(d.iter().map(|x| x / norm));
    }
    Ok(sliced(&a, &b, &unit, p))
}

/// Rejects Wasserstein orders other than 1 and 2.
fn check_order(p: u32) -> Result<(), MetricError> {
    if p == 1 || p == 2 {
        Ok(())
    } else {
        Err(MetricError::InvalidOrder { p })
    }
}

/// The sliced distance over already validated points and unit `directions`.
fn sliced(a: &Points, b: &Points, directions: &[f64], p: u32) -> f64 {
    let dim = a.dim;
    let project = |points: &Points, theta: &[f64]| -> Vec<f64> {
        let mut out: Vec<f64> = points
            .rows()
            .map(|x| x.iter().zip(theta).map(|(x, t)| x * t).sum())
            .collect();
        out.sort_by(f64::total_cmp);
        out
    };
    let count = directions.len() / dim;
    let mean_pow = directions
        .chunks_exact(dim)
        .map(|theta| wasserstein_sorted_pow(&project(a, theta), &project(b, theta), p))
        .sum::<f64>()
        / count as f64;
    if p == 1 { mean_pow } else { mean_pow.sqrt() }
}

/// W_p^p between two sorted, non-empty 1-D samples: the exact integral of
/// |F_a⁻¹(t) − F_b⁻¹(t)|^p over the merged breakpoints i/n and j/m.
pub(crate) fn wasserstein_sorted_pow(a: &[f64], b: &[f64], p: u32) -> f64 {
    let (n, m) = (a.len() as u128, b.len() as u128);
    // Positions on [0, 1] in units of 1/(n·m): a's i-th step ends at (i + 1)·m, b's j-th at
    // (j + 1)·n, so comparing breakpoints is exact.
    let (mut i, mut j) = (0usize, 0usize);
    let mut position: u128 = 0;
    let mut sum = 0.0;
    while i < a.len() && j < b.len() {
        let end_a = (i as u128 + 1) * m;
        let end_b = (j as u128 + 1) * n;
        let end = end_a.min(end_b);
        let gap = (a[i] - b[j]).abs();
        sum += (end - position) as f64 * gap.powi(p as i32);
        position = end;
        if end_a == end {
            i += 1;
        }
        if end_b == end {
            j += 1;
        }
    }
    sum / (n * m) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sizes_pair_sorted_samples() {
        let a = [3.0, 1.0, 2.0];
        let b = [1.5, 0.0, 4.0];
        // Sorted pairs (1, 0), (2, 1.5), (3, 4): mean gap (1 + 0.5 + 1) / 3.
        let w = wasserstein_1d(&a, &b).unwrap();
        assert!((w - 2.5 / 3.0).abs() < 1e-15, "{w}");
    }

    #[test]
    fn one_atom_against_many_is_the_mean_absolute_deviation() {
        let w = wasserstein_1d(&[0.0f32], &[1.0f32, -3.0, 2.0, 6.0]).unwrap();
        assert!((w - 3.0).abs() < 1e-15, "{w}");
    }

    #[test]
    fn w2_of_a_pure_shift_is_the_shift() {
        let a: Vec<f64> = (0..7).map(|i| (i * i) as f64 * 0.3).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 1.25).collect();
        let w2 = wasserstein_sorted_pow(&a, &b, 2).sqrt();
        assert!((w2 - 1.25).abs() < 1e-14, "{w2}");
    }
}
