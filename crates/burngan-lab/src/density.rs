//! One-dimensional Gaussian densities and the divergences between them by numerical
//! integration: the reference values (D*, JS) the experiments compare trained networks with.

/// The normal distribution N(mean, std²) on the real line.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Normal1d {
    /// The mean μ.
    pub mean: f64,
    /// The standard deviation σ > 0.
    pub std: f64,
}

impl Normal1d {
    /// N(mean, std²).
    pub fn new(mean: f64, std: f64) -> Self {
        Self { mean, std }
    }

    /// log p(x).
    pub fn log_pdf(&self, x: f64) -> f64 {
        let u = (x - self.mean) / self.std;
        -0.5 * u * u - self.std.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
    }

    /// p(x).
    pub fn pdf(&self, x: f64) -> f64 {
        self.log_pdf(x).exp()
    }
}

/// The optimal discriminator of Goodfellow et al. (Proposition 1) for real density `real` and
/// generator density `fake`: D*(x) = p_r(x) / (p_r(x) + p_g(x)), computed in log space
/// (a logistic function of log p_r − log p_g) so it is exact far in the tails.
pub fn optimal_discriminator(real: &Normal1d, fake: &Normal1d, x: f64) -> f64 {
    let logit = real.log_pdf(x) - fake.log_pdf(x);
    1.0 / (1.0 + (-logit).exp())
}

/// log(e^a + e^b) without overflow.
fn log_add_exp(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// The intervals that hold all but a negligible part of the mass of `densities`
/// (μ ± 12σ each; the mass outside is below 1e-32), merged where they overlap.
fn support_windows(densities: &[&Normal1d]) -> Vec<(f64, f64)> {
    let mut windows: Vec<(f64, f64)> = densities
        .iter()
        .map(|d| (d.mean - 12.0 * d.std, d.mean + 12.0 * d.std))
        .collect();
    windows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::new();
    for (lo, hi) in windows {
        match merged.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

/// ∫ f over `[lo, hi]` by composite Simpson's rule with `intervals` (even) sub-intervals.
fn simpson(f: &dyn Fn(f64) -> f64, lo: f64, hi: f64, intervals: usize) -> f64 {
    let n = intervals + intervals % 2;
    let h = (hi - lo) / n as f64;
    let inner: f64 = (1..n)
        .map(|i| {
            let weight = if i % 2 == 1 { 4.0 } else { 2.0 };
            weight * f(lo + i as f64 * h)
        })
        .sum();
    (f(lo) + inner + f(hi)) * h / 3.0
}

/// Sub-intervals per window: the integrands are smooth on the scale of the narrowest σ, and a
/// window spans at most a few hundred of them.
const SIMPSON_INTERVALS: usize = 200_000;

/// ∫ f over the support windows of `densities`.
fn integrate(densities: &[&Normal1d], f: &dyn Fn(f64) -> f64) -> f64 {
    support_windows(densities)
        .into_iter()
        .map(|(lo, hi)| simpson(f, lo, hi, SIMPSON_INTERVALS))
        .sum()
}

/// KL(p ‖ q) = ∫ p log(p/q), by numerical integration (nats).
pub fn kl_divergence(p: &Normal1d, q: &Normal1d) -> f64 {
    integrate(&[p, q], &|x| {
        let lp = p.log_pdf(x);
        lp.exp() * (lp - q.log_pdf(x))
    })
}

/// The Jensen–Shannon divergence JS(p ‖ q) = ½KL(p ‖ m) + ½KL(q ‖ m) with m = (p + q)/2, by
/// numerical integration in log space (nats; 0 ≤ JS ≤ log 2, with log 2 for disjoint
/// supports).
pub fn js_divergence(p: &Normal1d, q: &Normal1d) -> f64 {
    let ln2 = std::f64::consts::LN_2;
    integrate(&[p, q], &|x| {
        let (lp, lq) = (p.log_pdf(x), q.log_pdf(x));
        let lm = log_add_exp(lp, lq) - ln2;
        0.5 * (lp.exp() * (lp - lm) + lq.exp() * (lq - lm))
    })
}

/// The value of the minimax game at the optimal discriminator,
/// V(D*, G) = 2·JS(p_r ‖ p_g) − 2·log 2 (Goodfellow et al., Theorem 1).
pub fn optimal_value(real: &Normal1d, fake: &Normal1d) -> f64 {
    2.0 * js_divergence(real, fake) - 2.0 * std::f64::consts::LN_2
}

/// The quantile x with P(X ≤ x) = `q` of the mixture ½p + ½q of two normals, by bisection;
/// used to restrict comparisons to the bulk of the mass.
pub fn mixture_quantile(p: &Normal1d, other: &Normal1d, q: f64) -> f64 {
    let cdf = |x: f64| {
        0.5 * (normal_cdf((x - p.mean) / p.std) + normal_cdf((x - other.mean) / other.std))
    };
    let (mut lo, mut hi) = (
        p.mean.min(other.mean) - 20.0 * p.std.max(other.std),
        p.mean.max(other.mean) + 20.0 * p.std.max(other.std),
    );
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Φ(u), the standard normal CDF, from the complementary error function.
pub fn normal_cdf(u: f64) -> f64 {
    0.5 * erfc(-u / std::f64::consts::SQRT_2)
}

/// erfc(x) with relative error below 1.2e-7 everywhere (Numerical Recipes' Chebyshev fit).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LN2: f64 = std::f64::consts::LN_2;

    #[test]
    fn kl_by_integration_matches_the_closed_form() {
        // KL(N(μ1,σ1²) ‖ N(μ2,σ2²)) = ln(σ2/σ1) + (σ1² + (μ1−μ2)²)/(2σ2²) − ½.
        for (p, q) in [
            (Normal1d::new(0.0, 1.0), Normal1d::new(1.5, 0.5)),
            (Normal1d::new(-2.0, 0.3), Normal1d::new(0.0, 2.0)),
            (Normal1d::new(0.0, 1e-3), Normal1d::new(2e-3, 1e-3)),
        ] {
            let closed = (q.std / p.std).ln()
                + (p.std.powi(2) + (p.mean - q.mean).powi(2)) / (2.0 * q.std.powi(2))
                - 0.5;
            let numeric = kl_divergence(&p, &q);
            assert!(
                (numeric - closed).abs() < 1e-9 * closed.max(1.0),
                "{numeric} vs {closed}"
            );
        }
    }

    #[test]
    fn js_is_zero_for_equal_and_log2_for_separated_densities() {
        let p = Normal1d::new(0.3, 0.7);
        assert!(js_divergence(&p, &p).abs() < 1e-12);
        // 40σ apart: the overlap is below 1e-80, so JS = log 2 to machine precision.
        let q = Normal1d::new(0.3 + 40.0 * 0.7, 0.7);
        assert!((js_divergence(&p, &q) - LN2).abs() < 1e-12);
        assert!((optimal_value(&p, &q)).abs() < 1e-11);
        assert!((optimal_value(&p, &p) + 2.0 * LN2).abs() < 1e-12);
    }

    #[test]
    fn js_of_unit_gaussians_one_apart_matches_scipy() {
        // SciPy reference:
        //   from scipy import integrate, stats; import numpy as np
        //   p, q = stats.norm(0, 1), stats.norm(1, 1); m = lambda x: .5*(p.pdf(x)+q.pdf(x))
        //   f = lambda x: .5*p.pdf(x)*np.log(p.pdf(x)/m(x)) + .5*q.pdf(x)*np.log(q.pdf(x)/m(x))
        //   integrate.quad(f, -30, 31, epsabs=1e-14, limit=500)[0]   # 0.11142148218473619
        let js = js_divergence(&Normal1d::new(0.0, 1.0), &Normal1d::new(1.0, 1.0));
        assert!((js - 0.111_421_482_184_736).abs() < 1e-10, "{js}");
    }

    #[test]
    fn optimal_discriminator_is_one_half_where_densities_cross() {
        let (r, g) = (Normal1d::new(0.0, 1.0), Normal1d::new(2.0, 1.0));
        assert!((optimal_discriminator(&r, &g, 1.0) - 0.5).abs() < 1e-15);
        // log p_r − log p_g = 2 − 2x for these two: D*(x) = sigmoid(2 − 2x).
        let x: f64 = -0.4;
        let expected = 1.0 / (1.0 + (-(2.0 - 2.0 * x)).exp());
        assert!((optimal_discriminator(&r, &g, x) - expected).abs() < 1e-15);
    }

    #[test]
    fn normal_cdf_and_quantiles() {
        // Φ(1.959963985) = 0.975 (scipy.stats.norm.cdf).
        assert!((normal_cdf(1.959_963_985) - 0.975).abs() < 2e-7);
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        let p = Normal1d::new(0.0, 1.0);
        // The mixture of a normal with itself has the normal's quantiles.
        assert!((mixture_quantile(&p, &p, 0.975) - 1.959_963_985).abs() < 1e-5);
    }
}
