//! Every metric against a reference value computed independently with NumPy 2.4.6, SciPy
//! 1.17.1 and mpmath 1.3.0 (Python 3.11) on small fixtures written out literally. Next to each
//! expected number is the exact Python snippet that printed it; running the snippet prints the
//! number again.

use burngan_core::HostRng;
use burngan_metrics::linalg::{singular_values, symmetric_eigen, symmetric_eigenvalues};
use burngan_metrics::{
    GaussianStats, ManifoldReference, class_histogram, classifier_score, density_coverage,
    frechet_distance, frechet_distance_from_stats, kid, knn_radii, median_heuristic_bandwidth,
    mmd2_unbiased, mode_reverse_kl, polynomial_mmd2_unbiased, precision_recall,
    sliced_wasserstein_with, wasserstein_1d,
};

fn assert_close(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "actual {actual:e}, expected {expected:e}, difference {:e} > {tolerance:e}",
        actual - expected
    );
}

fn assert_relative(actual: f64, expected: f64, tolerance: f64) -> f64 {
    let relative = (actual - expected).abs() / expected.abs();
    assert!(
        relative <= tolerance,
        "actual {actual:e}, expected {expected:e}, relative error {relative:e} > {tolerance:e}"
    );
    relative
}

#[test]
fn wasserstein_1d_with_unequal_sizes_matches_scipy() {
    // from scipy.stats import wasserstein_distance as w
    // print(repr(float(w([0.3, -1.2, 2.5, 0.0, 4.1], [1.0, -0.5, 3.3]))))
    // print(repr(float(w([2.0, 2.0, -1.0, 0.5, 7.25, 3.0, -4.0], [0.0, 2.0, 1.5, 1.5]))))
    let w = wasserstein_1d(&[0.3, -1.2, 2.5, 0.0, 4.1], &[1.0, -0.5, 3.3]).unwrap();
    assert_close(w, 0.7799999999999999, 1e-15);
    // Seven against four atoms, with a tie inside the first sample; f32 input.
    let w = wasserstein_1d(
        &[2.0f32, 2.0, -1.0, 0.5, 7.25, 3.0, -4.0],
        &[0.0f32, 2.0, 1.5, 1.5],
    )
    .unwrap();
    assert_close(w, 1.9642857142857146, 1e-15);
}

/// Five and four points in 3-D, and three unnormalised directions.
const SLICED_A: [f64; 15] = [
    0.0, 1.0, 2.0, 1.5, -0.5, 0.3, 2.0, 2.0, -1.0, -1.0, 0.4, 0.8, 0.7, 0.1, 1.9,
];
const SLICED_B: [f64; 12] = [1.0, 0.0, 0.5, 2.5, 1.5, -0.2, 0.3, -1.1, 1.0, 1.2, 0.9, 2.2];
const SLICED_DIRECTIONS: [f64; 9] = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.3, -2.0, 1.0];

#[test]
fn sliced_wasserstein_with_fixed_directions_matches_scipy() {
    // p = 1: the mean of scipy's exact 1-D W1 over the projections. p = 2: the square root of
    // the mean W2², each solved as the optimal-transport linear programme with HiGHS (an
    // independent method; its optimum matched an exact rational quantile computation to
    // 1e-16).
    // import numpy as np; from scipy.stats import wasserstein_distance as w; from scipy.optimize import linprog
    // a = np.array([[0.0, 1.0, 2.0], [1.5, -0.5, 0.3], [2.0, 2.0, -1.0], [-1.0, 0.4, 0.8], [0.7, 0.1, 1.9]])
    // b = np.array([[1.0, 0.0, 0.5], [2.5, 1.5, -0.2], [0.3, -1.1, 1.0], [1.2, 0.9, 2.2]])
    // u = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.3, -2.0, 1.0]]); u /= np.linalg.norm(u, axis=1, keepdims=True)
    // def w2sq(x, y):  # W2^2 of the uniform empirical measures: the optimal transport linear programme
    //     n, m = len(x), len(y); c = ((x[:, None] - y[None, :]) ** 2).ravel()
    //     eq = np.vstack([np.kron(np.eye(n), np.ones(m)), np.kron(np.ones(n), np.eye(m))])
    //     return linprog(c, A_eq=eq, b_eq=np.r_[np.full(n, 1 / n), np.full(m, 1 / m)], method="highs").fun
    // print(repr(float(np.mean([w(a @ t, b @ t) for t in u]))))
    // print(repr(float(np.sqrt(np.mean([w2sq(a @ t, b @ t) for t in u])))))
    let sw1 = sliced_wasserstein_with(&SLICED_A, &SLICED_B, 3, &SLICED_DIRECTIONS, 1).unwrap();
    assert_close(sw1, 0.5621157353903353, 1e-14);
    let sw2 = sliced_wasserstein_with(&SLICED_A, &SLICED_B, 3, &SLICED_DIRECTIONS, 2).unwrap();
    assert_close(sw2, 0.6985278982427578, 1e-14);
}

const MMD_X: [f64; 10] = [0.0, 0.0, 1.0, 0.5, -0.5, 1.2, 0.3, -0.7, 1.1, 1.1];
const MMD_Y: [f64; 8] = [2.0, 0.2, 3.5, 1.0, 0.5, -0.3, 2.3, 2.1];

#[test]
fn unbiased_gaussian_mmd2_matches_numpy() {
    // Printed: MMD² with σ = 0.8, the median heuristic σ, MMD² with that σ.
    // import numpy as np; from scipy.spatial.distance import cdist, pdist
    // x = np.array([[0.0, 0.0], [1.0, 0.5], [-0.5, 1.2], [0.3, -0.7], [1.1, 1.1]])
    // y = np.array([[2.0, 0.2], [3.5, 1.0], [0.5, -0.3], [2.3, 2.1]])
    // k = lambda p, q, s: np.exp(-cdist(p, q, "sqeuclidean") / (2 * s * s))
    // def mmd2u(s):
    //     m, n = len(x), len(y); kxx, kyy = k(x, x, s), k(y, y, s)
    //     return (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * k(x, y, s).mean()
    // med = np.median(pdist(np.vstack([x, y])))
    // print(repr(float(mmd2u(0.8))), repr(float(med)), repr(float(mmd2u(med))))
    let fixed = mmd2_unbiased(&MMD_X, &MMD_Y, 2, Some(0.8)).unwrap();
    assert_close(fixed, 0.00747978513986397, 1e-15);
    let sigma = median_heuristic_bandwidth(&MMD_X, &MMD_Y, 2).unwrap();
    assert_close(sigma, 1.7513878188659973, 1e-15);
    let median = mmd2_unbiased(&MMD_X, &MMD_Y, 2, None).unwrap();
    assert_close(median, 0.21389959543632497, 1e-15);
}

const KID_X: [f64; 18] = [
    0.2, 1.0, -0.3, 1.5, 0.1, 0.4, -0.7, 0.9, 1.2, 0.0, -1.1, 0.6, 2.0, 0.3, -0.8, 0.9, 1.4, 0.2,
];
const KID_Y: [f64; 18] = [
    1.5, 1.8, 1.1, 2.9, 0.6, 1.9, -0.2, 2.5, 1.3, 1.4, 1.2, 0.0, 2.1, 2.1, 2.1, 0.7, 0.4, 1.7,
];

#[test]
fn kid_with_one_full_subset_matches_numpy() {
    // The unbiased MMD² with the kernel (xᵀy/d + 1)³, written as in the reference
    // implementation's `_mmd2_and_variance` (equal set sizes m):
    // import numpy as np
    // x = np.array([[0.2, 1.0, -0.3], [1.5, 0.1, 0.4], [-0.7, 0.9, 1.2], [0.0, -1.1, 0.6], [2.0, 0.3, -0.8], [0.9, 1.4, 0.2]])
    // y = np.array([[1.5, 1.8, 1.1], [2.9, 0.6, 1.9], [-0.2, 2.5, 1.3], [1.4, 1.2, 0.0], [2.1, 2.1, 2.1], [0.7, 0.4, 1.7]])
    // d, m = x.shape[1], len(x)
    // kxx, kyy, kxy = [(p @ q.T / d + 1) ** 3 for p, q in ((x, x), (y, y), (x, y))]
    // print(repr(float((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / (m * m))))
    let expected = 18.5565143781893;
    let direct = polynomial_mmd2_unbiased(&KID_X, &KID_Y, 3).unwrap();
    assert_relative(direct, expected, 1e-14);
    // One subset of size n is a permutation of each whole set: deterministic for any seed.
    for seed in [0, 1, 99] {
        let estimate = kid(&KID_X, &KID_Y, 3, 1, 6, &mut HostRng::seed_from(seed)).unwrap();
        assert_relative(estimate.mean, expected, 1e-14);
        assert_eq!(estimate.std, 0.0);
        assert_eq!((estimate.subsets, estimate.subset_size), (1, 6));
    }
}

/// Six and seven well-conditioned 3-D features.
const FID_A: [f64; 18] = [
    0.1, 1.2, -0.4, 1.3, 0.2, 0.5, -0.8, 0.7, 1.0, 0.4, -1.0, 0.3, 1.7, 0.6, -0.9, 0.2, 1.5, 0.1,
];
const FID_B: [f64; 21] = [
    0.9, 0.4, 0.2, 2.1, -0.3, 1.1, -1.0, 1.8, 0.6, 0.6, 0.1, -1.3, 1.4, 1.0, 1.2, -0.5, -0.9, 0.9,
    0.3, 0.3, 0.3,
];

#[test]
fn frechet_distance_of_features_matches_scipy_sqrtm() {
    // import numpy as np, scipy.linalg as sl
    // a = np.array([[0.1, 1.2, -0.4], [1.3, 0.2, 0.5], [-0.8, 0.7, 1.0], [0.4, -1.0, 0.3], [1.7, 0.6, -0.9], [0.2, 1.5, 0.1]])
    // b = np.array([[0.9, 0.4, 0.2], [2.1, -0.3, 1.1], [-1.0, 1.8, 0.6], [0.6, 0.1, -1.3], [1.4, 1.0, 1.2], [-0.5, -0.9, 0.9], [0.3, 0.3, 0.3]])
    // m1, m2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    // print(repr(float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(sl.sqrtm(s1 @ s2)).real)))
    let fd = frechet_distance(&FID_A, &FID_B, 3).unwrap();
    assert_relative(fd, 0.5078670798152061, 1e-13);
    // The same through the fitted statistics, in f32.
    let a32: Vec<f32> = FID_A.iter().map(|&x| x as f32).collect();
    let b32: Vec<f32> = FID_B.iter().map(|&x| x as f32).collect();
    let stats_a = GaussianStats::fit(&a32, 3).unwrap();
    let stats_b = GaussianStats::fit(&b32, 3).unwrap();
    assert_eq!((stats_a.samples, stats_b.samples), (6, 7));
    assert_relative(
        stats_a.frechet_distance(&stats_b).unwrap(),
        0.5078670798152061,
        1e-6,
    );
}

/// Two non-commuting 5×5 covariances with condition numbers 1e8 and 1.25e8 (eigenvalues
/// 1, 3e-2, 1e-3, 1e-5, 1e-8 and a perturbation of them, in bases rotated by about 0.01 rad
/// from each other), printed by the snippet in the test below.
const ILL_SIGMA1: [f64; 25] = [
    0.001366648220042457,
    -0.0005049544144768303,
    0.0018640154360224771,
    -0.005479892586491622,
    -0.0019681710281757134,
    -0.0005049544144768303,
    0.1935853860669459,
    -0.0954290834397186,
    -0.134909680589863,
    0.35788499939033985,
    0.0018640154360224771,
    -0.0954290834397186,
    0.04933948798081572,
    0.05936151080058371,
    -0.17905128833360887,
    -0.005479892586491622,
    -0.134909680589863,
    0.05936151080058371,
    0.11919336205671223,
    -0.24410347677594418,
    -0.0019681710281757134,
    0.35788499939033985,
    -0.17905128833360887,
    -0.24410347677594418,
    0.6675251256754835,
];
const ILL_SIGMA2: [f64; 25] = [
    0.0015455189272208908,
    0.003598311429855713,
    3.7067867709579374e-06,
    -0.008647646540539908,
    0.005451133071387228,
    0.003598311429855713,
    0.1991073758500735,
    -0.09656403946790756,
    -0.12740847452323517,
    0.3650355878213589,
    3.7067867709579374e-06,
    -0.09656403946790756,
    0.04929604053483205,
    0.05393707504854202,
    -0.17975208767266426,
    -0.008647646540539908,
    -0.12740847452323517,
    0.05393707504854202,
    0.10917604597464058,
    -0.22744744032699116,
    0.005451133071387228,
    0.3650355878213589,
    -0.17975208767266426,
    -0.22744744032699116,
    0.6747870267132329,
];

#[test]
fn frechet_distance_of_ill_conditioned_non_commuting_covariances_matches_mpmath() {
    // The reference is the definition evaluated in 60-digit arithmetic on the exact f64
    // entries: tr Σ₁ + tr Σ₂ − 2·Σ √λ_i(Σ₁Σ₂), with the eigenvalues of the non-symmetric
    // product computed by mpmath.eig (they span 1 to 8e-17; ‖Σ₁Σ₂ − Σ₂Σ₁‖ = 0.034). The
    // naive route of pytorch-fid, scipy.linalg.sqrtm(s1 @ s2) in float64, is off by a
    // relative 8.2e-7, and the square roots of numpy's eigenvalues of √Σ₁·Σ₂·√Σ₁ by 5.8e-7:
    // the distance (6.5e-4) is a small difference of traces near 1, and the smallest
    // eigenvalues of the product are only known to about ε·‖Σ₁Σ₂‖ in float64, so their
    // square roots to √ε. This crate takes singular values of √Σ₁·√Σ₂ instead and lands
    // within about 4e-12; the tolerance is 2e-11.
    // Printed: the two matrices, the reference with the eigenvalues and the commutator norm,
    // then the naive value with its relative error and the eigenvalue route with its error.
    // import numpy as np, scipy.linalg as sl, mpmath as mp
    // rng = np.random.default_rng(7); d = 5; lam = np.array([1.0, 3e-2, 1e-3, 1e-5, 1e-8])
    // q1 = np.linalg.qr(rng.standard_normal((d, d)))[0]; a = rng.standard_normal((d, d)); q2 = sl.expm(0.01 * (a - a.T)) @ q1
    // s1 = q1 @ np.diag(lam) @ q1.T; s2 = q2 @ np.diag(lam * [1.0, 1.1, 0.9, 1.2, 0.8]) @ q2.T
    // s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2  # exactly symmetric; cond(s1) = 1e8, cond(s2) = 1.25e8
    // print([repr(float(v)) for v in s1.ravel()]); print([repr(float(v)) for v in s2.ravel()])
    // mp.mp.dps = 60; S1, S2 = mp.matrix(s1.tolist()), mp.matrix(s2.tolist())  # the f64 entries, exactly
    // lam12 = mp.eig(S1 * S2, left=False, right=False)  # eigenvalues of the non-symmetric product, 60 digits
    // ref = sum(S1[i, i] + S2[i, i] for i in range(d)) - 2 * sum(mp.sqrt(z) for z in lam12)
    // print(mp.nstr(ref, 25), [mp.nstr(z, 5) for z in lam12], mp.nstr(mp.norm(S1 * S2 - S2 * S1), 5))
    // naive = np.trace(s1) + np.trace(s2) - 2 * np.trace(sl.sqrtm(s1 @ s2)).real  # pytorch-fid style
    // e, v = np.linalg.eigh(s1); r = (v * np.sqrt(e.clip(0))) @ v.T  # trace via eigenvalues of sqrt(s1) s2 sqrt(s1)
    // sym = np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.linalg.eigvalsh(r @ s2 @ r).clip(0)).sum()
    // print(repr(float(naive)), float((naive - ref) / ref), repr(float(sym)), float((sym - ref) / ref))
    // 60-digit reference 6.535906026082584130924009e-4, rounded to f64:
    let reference = 0.0006535906026082584;
    let zero = [0.0; 5];
    let fd = frechet_distance_from_stats(&zero, &ILL_SIGMA1, &zero, &ILL_SIGMA2, 5).unwrap();
    let relative = assert_relative(fd, reference, 2e-11);
    eprintln!("ill-conditioned Fréchet distance: relative error {relative:e}");
    // The symmetric-product route, with this crate's own eigensolver, for contrast.
    let symmetric_route = trace_terms(&ILL_SIGMA1, &ILL_SIGMA2, 5)
        - 2.0 * trace_sqrt_via_symmetric_product(&ILL_SIGMA1, &ILL_SIGMA2, 5);
    let route_error = (symmetric_route - reference).abs() / reference;
    eprintln!("√λ(√Σ₁·Σ₂·√Σ₁) route: relative error {route_error:e}");
    // It is off by about 5e-7: this fixture does tell a stable method from a naive one.
    assert!(route_error > 1e-8, "{route_error:e}");
    // The distance is symmetric in its arguments.
    let swapped = frechet_distance_from_stats(&zero, &ILL_SIGMA2, &zero, &ILL_SIGMA1, 5).unwrap();
    assert_relative(swapped, reference, 2e-11);
}

/// tr Σ₁ + tr Σ₂ of two row-major `[d, d]` matrices.
fn trace_terms(s1: &[f64], s2: &[f64], d: usize) -> f64 {
    (0..d).map(|i| s1[i * d + i] + s2[i * d + i]).sum()
}

/// tr((Σ₁Σ₂)^½) as Σ √max(λ, 0) over the eigenvalues of the symmetric √Σ₁·Σ₂·√Σ₁: the
/// textbook stable-looking route, which loses √ε on the smallest eigenvalues.
fn trace_sqrt_via_symmetric_product(s1: &[f64], s2: &[f64], d: usize) -> f64 {
    let eigen = symmetric_eigen(s1, d).unwrap();
    let mut root = vec![0.0; d * d];
    for (k, &lambda) in eigen.values.iter().enumerate() {
        let v = &eigen.vectors[k * d..(k + 1) * d];
        for i in 0..d {
            for j in 0..d {
                root[i * d + j] += lambda.max(0.0).sqrt() * v[i] * v[j];
            }
        }
    }
    let product = |a: &[f64], b: &[f64]| -> Vec<f64> {
        let mut c = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                c[i * d + j] = (0..d).map(|k| a[i * d + k] * b[k * d + j]).sum();
            }
        }
        c
    };
    let middle = product(&product(&root, s2), &root);
    symmetric_eigenvalues(&middle, d)
        .unwrap()
        .iter()
        .map(|l| l.max(0.0).sqrt())
        .sum()
}

/// Three and four points in 5-D: covariances of rank 2 and 3, so Σ₁Σ₂ is singular.
const SING_A: [f64; 15] = [
    0.5, -1.0, 2.0, 0.3, 1.1, 1.5, 0.2, -0.4, 0.9, -0.6, -0.7, 0.8, 1.3, -1.2, 0.4,
];
const SING_B: [f64; 20] = [
    1.0, 0.5, 0.0, -0.5, 2.0, 0.1, -0.9, 1.4, 0.6, 0.3, 2.2, 1.1, -0.8, 0.0, -1.0, -0.4, 0.7, 0.9,
    1.8, 0.2,
];

#[test]
fn frechet_distance_of_singular_covariances_matches_mpmath() {
    // The reference takes numpy's covariances (printed, and used below as the literal
    // statistics), projects each onto the PSD cone (eigenvalues clamped at 0, as this crate
    // does), and evaluates the definition in 60 digits through the eigenvalues of
    // √Σ₂·Σ₁·√Σ₂. Rounding the covariance entries to f64 already moves the exact answer by
    // about 1e-8 relative (a round-off eigenvalue of 7e-17 contributes √7e-17 ≈ 8e-9 per
    // trace), so no float64 method can promise much more here: the tolerance is 1e-8 (this
    // crate is within about 2.4e-9). The naive scipy.linalg.sqrtm(s1 @ s2) returns a complex
    // value (imaginary part −5.6e-8) whose real part is off by a relative 1.1e-8.
    // Printed: the two covariances, the reference with the eigenvalues of the product, then
    // the naive complex value and the relative error of its real part.
    // import numpy as np, scipy.linalg as sl, mpmath as mp
    // a = np.array([[0.5, -1.0, 2.0, 0.3, 1.1], [1.5, 0.2, -0.4, 0.9, -0.6], [-0.7, 0.8, 1.3, -1.2, 0.4]])  # 3 points in 5-D: rank 2
    // b = np.array([[1.0, 0.5, 0.0, -0.5, 2.0], [0.1, -0.9, 1.4, 0.6, 0.3], [2.2, 1.1, -0.8, 0.0, -1.0], [-0.4, 0.7, 0.9, 1.8, 0.2]])  # rank 3
    // m1, m2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    // print([repr(float(v)) for v in s1.ravel()]); print([repr(float(v)) for v in s2.ravel()])
    // mp.mp.dps = 60
    // def psd_root(s):  # symmetric root of the PSD part (eigenvalues clamped at 0), 60 digits
    //     e, q = mp.eigsy(mp.matrix(s.tolist())); return q * mp.diag([mp.sqrt(max(x, 0)) for x in e]) * q.T
    // r1 = psd_root(s1); r2 = psd_root(s2); s1p, s2p = r1 * r1, r2 * r2
    // lam = mp.eigsy(r2 * s1p * r2, eigvals_only=True)  # = eigenvalues of s1p s2p
    // ref = sum((mp.mpf(x) - mp.mpf(y)) ** 2 for x, y in zip(m1, m2)) + sum(s1p[i, i] + s2p[i, i] for i in range(5)) - 2 * sum(mp.sqrt(max(x, 0)) for x in lam)
    // print(mp.nstr(ref, 25), [mp.nstr(x, 5) for x in lam])
    // naive = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(sl.sqrtm(s1 @ s2))
    // print(repr(complex(naive)), float((naive.real - ref) / ref))
    // 60-digit reference 5.625815140882716904946407, rounded to f64:
    let reference = 5.625815140882717;
    // The means, printed by
    // python3 -c "import numpy as np; a = np.array([[0.5, -1.0, 2.0, 0.3, 1.1], [1.5, 0.2, -0.4, 0.9, -0.6], [-0.7, 0.8, 1.3, -1.2, 0.4]]); b = np.array([[1.0, 0.5, 0.0, -0.5, 2.0], [0.1, -0.9, 1.4, 0.6, 0.3], [2.2, 1.1, -0.8, 0.0, -1.0], [-0.4, 0.7, 0.9, 1.8, 0.2]]); print([repr(float(v)) for v in a.mean(0)], [repr(float(v)) for v in b.mean(0)])"
    let mu_a = [
        0.43333333333333335,
        0.0,
        0.9666666666666668,
        0.0,
        0.30000000000000004,
    ];
    let mu_b = [0.7250000000000001, 0.35, 0.375, 0.475, 0.37499999999999994];
    let sigma_a = [
        1.2133333333333334,
        -0.38,
        -0.8833333333333333,
        1.17,
        -0.51,
        -0.38,
        0.8400000000000001,
        -0.52,
        -0.54,
        -0.45000000000000007,
        -0.8833333333333333,
        -0.52,
        1.5233333333333332,
        -0.66,
        1.045,
        1.17,
        -0.54,
        -0.66,
        1.17,
        -0.34500000000000003,
        -0.51,
        -0.45000000000000007,
        1.045,
        -0.34500000000000003,
        0.7300000000000001,
    ];
    let sigma_b = [
        1.3025,
        0.5116666666666667,
        -1.0225,
        -0.8458333333333333,
        -0.4458333333333334,
        0.5116666666666667,
        0.7566666666666666,
        -0.6783333333333333,
        -0.065,
        -0.2516666666666667,
        -1.0225,
        -0.6783333333333333,
        0.9491666666666667,
        0.5825,
        0.27916666666666673,
        -0.8458333333333333,
        -0.065,
        0.5825,
        0.9825000000000002,
        -0.39083333333333325,
        -0.4458333333333334,
        -0.2516666666666667,
        0.27916666666666673,
        -0.39083333333333325,
        1.5225,
    ];
    let fd = frechet_distance_from_stats(&mu_a, &sigma_a, &mu_b, &sigma_b, 5).unwrap();
    let relative = assert_relative(fd, reference, 1e-8);
    eprintln!("singular Fréchet distance from statistics: relative error {relative:e}");
    let fd = frechet_distance(&SING_A, &SING_B, 5).unwrap();
    let relative = assert_relative(fd, reference, 1e-8);
    eprintln!("singular Fréchet distance from features: relative error {relative:e}");
}

const PRDC_REAL: [f64; 16] = [
    0.0, 0.0, 1.0, 0.2, 0.4, 1.1, -0.8, 0.5, 1.5, 1.4, -0.3, -1.2, 2.1, -0.4, 0.9, -0.9,
];
const PRDC_FAKE: [f64; 14] = [
    0.2, 0.3, 0.5, 0.6, 0.1, -0.1, 3.0, 3.0, -0.5, 0.1, 0.6, -0.4, 4.0, -2.0,
];

#[test]
fn precision_recall_density_coverage_match_numpy_brute_force() {
    // Printed per k: precision, recall, density, coverage; then the smallest gap between a
    // distance and a radius (no point lies near a sphere, so ≤ and < agree).
    // import numpy as np; from scipy.spatial.distance import cdist
    // real = np.array([[0.0, 0.0], [1.0, 0.2], [0.4, 1.1], [-0.8, 0.5], [1.5, 1.4], [-0.3, -1.2], [2.1, -0.4], [0.9, -0.9]])
    // fake = np.array([[0.2, 0.3], [0.5, 0.6], [0.1, -0.1], [3.0, 3.0], [-0.5, 0.1], [0.6, -0.4], [4.0, -2.0]])
    // rr, ff, rf = cdist(real, real), cdist(fake, fake), cdist(real, fake)
    // for k in (2, 3):
    //     r_real = np.sort(rr, axis=1)[:, k]; r_fake = np.sort(ff, axis=1)[:, k]  # column 0 is the point itself
    //     precision = (rf <= r_real[:, None]).any(axis=0).mean(); recall = (rf <= r_fake[None, :]).any(axis=1).mean()
    //     density = (rf <= r_real[:, None]).sum() / (k * len(fake)); coverage = (rf.min(axis=1) <= r_real).mean()
    //     print(k, repr(float(precision)), repr(float(recall)), repr(float(density)), repr(float(coverage)))
    //     print(k, float(np.abs(rf - r_real[:, None]).min()), float(np.abs(rf - r_fake[None, :]).min()))  # no near-ties
    let expected = [
        (2, 0.7142857142857143, 0.875, 1.4285714285714286, 0.875),
        (3, 0.7142857142857143, 0.875, 1.2380952380952381, 1.0),
    ];
    for (k, precision, recall, density, coverage) in expected {
        let pr = precision_recall(&PRDC_REAL, &PRDC_FAKE, 2, k).unwrap();
        assert_close(pr.precision, precision, 1e-15);
        assert_close(pr.recall, recall, 1e-15);
        let dc = density_coverage(&PRDC_REAL, &PRDC_FAKE, 2, k).unwrap();
        assert_close(dc.density, density, 1e-15);
        assert_close(dc.coverage, coverage, 1e-15);
        // The cached reference gives the same four numbers.
        let all = ManifoldReference::new(&PRDC_REAL, 2, k)
            .unwrap()
            .evaluate(&PRDC_FAKE)
            .unwrap();
        assert_close(all.precision, precision, 1e-15);
        assert_close(all.recall, recall, 1e-15);
        assert_close(all.density, density, 1e-15);
        assert_close(all.coverage, coverage, 1e-15);
    }
}

#[test]
fn knn_radii_match_numpy() {
    // python3 -c "import numpy as np; from scipy.spatial.distance import cdist; r = np.array([[0.0, 0.0], [1.0, 0.2], [0.4, 1.1], [-0.8, 0.5], [1.5, 1.4], [-0.3, -1.2], [2.1, -0.4], [0.9, -0.9]]); print([repr(float(v)) for v in np.sort(cdist(r, r), axis=1)[:, 3]])"
    let expected = [
        1.1704699910719625,
        1.104536101718726,
        1.1704699910719625,
        1.772004514666935,
        1.8973665961010275,
        1.772004514666935,
        1.8973665961010275,
        1.2727922061357855,
    ];
    let radii = knn_radii(&PRDC_REAL, 2, 3).unwrap();
    for (r, e) in radii.iter().zip(expected) {
        assert_close(*r, e, 1e-15);
    }
}

/// Six rows of class probabilities over four classes, with exact zeros, a uniform row, a
/// one-hot row and a tie between classes 1 and 2 (row 4).
const PROBABILITIES: [f64; 24] = [
    0.7, 0.2, 0.1, 0.0, 0.0, 0.0, 1.0, 0.0, 0.25, 0.25, 0.25, 0.25, 0.1, 0.6, 0.0, 0.3, 0.0, 0.5,
    0.5, 0.0, 0.05, 0.05, 0.1, 0.8,
];

#[test]
fn classifier_score_and_class_histogram_match_numpy_and_scipy() {
    // Printed: the score with scipy's KL (scipy.stats.entropy(p_i, p̄), 0·log 0 = 0), the same
    // with numpy, and with numpy on the f32-rounded input (rows then sum to 1 only within
    // 4e-8, and are used as given, not renormalised); then numpy's argmax histogram (first
    // maximum on ties) and scipy's KL of it to the uniform distribution.
    // import numpy as np; from scipy.stats import entropy
    // p = np.array([[0.7, 0.2, 0.1, 0.0], [0.0, 0.0, 1.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.1, 0.6, 0.0, 0.3], [0.0, 0.5, 0.5, 0.0], [0.05, 0.05, 0.1, 0.8]])
    // q = p.astype(np.float32).astype(np.float64)  # the f32 input, exactly
    // kl = lambda x: np.where(x > 0, x * np.log(np.where(x > 0, x, 1) / x.mean(0)), 0.0).sum(1).mean()  # 0 log 0 = 0, rows as given
    // print(repr(float(np.exp(np.mean([entropy(r, p.mean(0)) for r in p])))), repr(float(np.exp(kl(p)))), repr(float(np.exp(kl(q)))))
    // h = np.bincount(p.argmax(1), minlength=4); print(h.tolist(), repr(float(entropy(h, np.ones(4)))))
    let score = classifier_score(&PROBABILITIES, 4).unwrap();
    assert_close(score, 1.8523556552871983, 1e-15);
    let p32: Vec<f32> = PROBABILITIES.iter().map(|&x| x as f32).collect();
    let score32 = classifier_score(&p32, 4).unwrap();
    assert_close(score32, 1.8523556597407274, 1e-15);
    let histogram = class_histogram(&PROBABILITIES, 4).unwrap();
    assert_eq!(histogram, vec![2, 2, 1, 1]);
    assert_eq!(class_histogram(&p32, 4).unwrap(), histogram);
    assert_close(
        mode_reverse_kl(&histogram).unwrap(),
        0.056633012265132454,
        1e-15,
    );
}

#[test]
fn eigenvalues_and_singular_values_match_numpy() {
    // Printed: numpy.linalg.eigvalsh(a) and numpy.linalg.svd(b, compute_uv=False).
    // import numpy as np
    // a = np.array([[4.0, 1.0, -2.0, 0.5], [1.0, 3.0, 0.7, -1.0], [-2.0, 0.7, 5.0, 0.3], [0.5, -1.0, 0.3, 2.0]])
    // b = np.array([[1.0, 2.0, 0.0, -1.0], [0.5, -1.0, 3.0, 2.0], [2.0, 0.0, 1.0, 1.0], [-1.0, 1.0, 1.0, 0.5]])
    // print([repr(float(v)) for v in np.linalg.eigvalsh(a)]); print([repr(float(v)) for v in np.linalg.svd(b, compute_uv=False)])
    let a = [
        4.0, 1.0, -2.0, 0.5, 1.0, 3.0, 0.7, -1.0, -2.0, 0.7, 5.0, 0.3, 0.5, -1.0, 0.3, 2.0,
    ];
    let b = [
        1.0, 2.0, 0.0, -1.0, 0.5, -1.0, 3.0, 2.0, 2.0, 0.0, 1.0, 1.0, -1.0, 1.0, 1.0, 0.5,
    ];
    let eigenvalues = [
        0.604775460474645,
        2.753148369308778,
        4.0785550685977325,
        6.563521101618843,
    ];
    let singular = [
        4.271092954730846,
        2.626697135935698,
        2.036418824639185,
        0.45959275317491344,
    ];
    let eigen = symmetric_eigen(&a, 4).unwrap();
    let values_only = symmetric_eigenvalues(&a, 4).unwrap();
    for k in 0..4 {
        assert_close(eigen.values[k], eigenvalues[k], 1e-14);
        assert_close(values_only[k], eigenvalues[k], 1e-14);
    }
    for (s, e) in singular_values(&b, 4).unwrap().iter().zip(singular) {
        assert_close(*s, e, 1e-14);
    }
}
