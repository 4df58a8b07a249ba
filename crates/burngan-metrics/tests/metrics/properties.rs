//! Closed forms and structural properties: identical sets, pure shifts, commuting
//! covariances, monotonicity, reproducibility, and the linear algebra identities the Fréchet
//! distance rests on.

use burngan_core::HostRng;
use burngan_metrics::linalg::{singular_values, symmetric_eigen, symmetric_eigenvalues};
use burngan_metrics::{
    GaussianStats, ManifoldReference, class_histogram, classifier_score, density_coverage,
    frechet_distance, frechet_distance_from_stats, kid, knn_radii, mmd2_unbiased, mode_reverse_kl,
    precision_recall, sliced_wasserstein, sliced_wasserstein_with, wasserstein_1d,
};

/// `n` points of dimension `dim` from N(0, I), as f64.
fn gaussian_cloud(rng: &mut HostRng, n: usize, dim: usize) -> Vec<f64> {
    rng.normal_vec(n * dim).into_iter().map(f64::from).collect()
}

/// `points` (row-major, dimension `shift.len()`) translated by `shift`.
fn translated(points: &[f64], shift: &[f64]) -> Vec<f64> {
    points
        .chunks_exact(shift.len())
        .flat_map(|p| p.iter().zip(shift).map(|(x, s)| x + s))
        .collect()
}

#[test]
fn identical_sets_are_at_distance_zero() {
    let mut rng = HostRng::seed_from(11);
    let a = gaussian_cloud(&mut rng, 64, 4);
    assert_eq!(wasserstein_1d(&a, &a).unwrap(), 0.0);
    for p in [1, 2] {
        let sw = sliced_wasserstein(&a, &a, 4, 50, p, &mut HostRng::seed_from(1)).unwrap();
        assert_eq!(sw, 0.0);
    }
    let fd = frechet_distance(&a, &a, 4).unwrap();
    let stats = GaussianStats::fit(&a, 4).unwrap();
    let scale: f64 = (0..4).map(|i| stats.covariance[i * 4 + i]).sum();
    assert!((0.0..1e-13 * scale).contains(&fd), "{fd}");
}

#[test]
fn identical_sets_have_full_precision_recall_coverage_and_density_k_plus_one_over_k() {
    // With no ties every point's ball holds itself and its k nearest neighbours: each real
    // point is in k + 1 balls' worth of counts, so density = (k + 1)/k exactly.
    let mut rng = HostRng::seed_from(12);
    let a = gaussian_cloud(&mut rng, 40, 3);
    for k in [1, 3, 5] {
        let pr = precision_recall(&a, &a, 3, k).unwrap();
        assert_eq!((pr.precision, pr.recall), (1.0, 1.0));
        let dc = density_coverage(&a, &a, 3, k).unwrap();
        assert_eq!(dc.coverage, 1.0);
        assert!((dc.density - (k + 1) as f64 / k as f64).abs() < 1e-15);
    }
}

#[test]
fn far_away_fakes_have_zero_precision_recall_density_and_coverage() {
    let mut rng = HostRng::seed_from(13);
    let real = gaussian_cloud(&mut rng, 30, 2);
    let fake = translated(&gaussian_cloud(&mut rng, 30, 2), &[100.0, 0.0]);
    let pr = precision_recall(&real, &fake, 2, 3).unwrap();
    assert_eq!((pr.precision, pr.recall), (0.0, 0.0));
    let dc = density_coverage(&real, &fake, 2, 3).unwrap();
    assert_eq!((dc.density, dc.coverage), (0.0, 0.0));
}

#[test]
fn a_cached_reference_gives_exactly_the_free_functions_values() {
    // Sizes and a dimension that are not multiples of the internal block sizes, two
    // generated sets scored against one reference, f32 and f64 input.
    let mut rng = HostRng::seed_from(24);
    let real = gaussian_cloud(&mut rng, 301, 13);
    let fakes = [
        translated(&gaussian_cloud(&mut rng, 257, 13), &[0.4; 13]),
        gaussian_cloud(&mut rng, 70, 13),
    ];
    for k in [1, 3, 5, 40] {
        let reference = ManifoldReference::new(&real, 13, k).unwrap();
        assert_eq!(
            (reference.len(), reference.dim(), reference.k()),
            (301, 13, k)
        );
        assert!(!reference.is_empty());
        assert_eq!(reference.radii(), knn_radii(&real, 13, k).unwrap());
        for fake in &fakes {
            let pr = precision_recall(&real, fake, 13, k).unwrap();
            let dc = density_coverage(&real, fake, 13, k).unwrap();
            assert_eq!(reference.precision_recall(fake).unwrap(), pr);
            assert_eq!(reference.density_coverage(fake).unwrap(), dc);
            let all = reference.evaluate(fake).unwrap();
            assert_eq!((all.precision_recall(), all.density_coverage()), (pr, dc));
            assert!(all.precision > 0.0 && all.recall > 0.0 && all.coverage > 0.0);
        }
    }
    let real32: Vec<f32> = real.iter().map(|&x| x as f32).collect();
    let fake32: Vec<f32> = fakes[0].iter().map(|&x| x as f32).collect();
    let reference = ManifoldReference::new(&real32, 13, 3).unwrap();
    assert_eq!(
        reference.evaluate(&fake32).unwrap().precision_recall(),
        precision_recall(&real32, &fake32, 13, 3).unwrap()
    );
}

#[test]
fn a_cached_reference_needs_k_plus_one_fake_points_only_for_precision_and_recall() {
    // Density and coverage use the real balls only, so one generated point is enough.
    let reference = ManifoldReference::new(&[0.0, 1.0, 2.0, 3.0], 1, 1).unwrap();
    let dc = reference.density_coverage(&[1.5f64]).unwrap();
    // Radius 1 everywhere: 1.5 lies in the balls of 1 and 2.
    assert_eq!((dc.density, dc.coverage), (2.0, 0.5));
    assert_eq!(
        dc,
        density_coverage(&[0.0, 1.0, 2.0, 3.0], &[1.5], 1, 1).unwrap()
    );
    assert!(reference.precision_recall(&[1.5f64]).is_err());
    assert!(reference.evaluate(&[1.5f64]).is_err());
}

#[test]
fn one_hot_predictions_spread_evenly_score_the_number_of_classes() {
    for classes in [1, 2, 3, 7, 10] {
        for per_class in [1, 4] {
            // Rows cycle through the classes: every class is predicted per_class times.
            let n = classes * per_class;
            let mut p = vec![0.0f32; n * classes];
            for i in 0..n {
                p[i * classes + i % classes] = 1.0;
            }
            let score = classifier_score(&p, classes).unwrap();
            let c = classes as f64;
            assert!((score - c).abs() <= 1e-14 * c, "C = {classes}: {score}");
            assert_eq!(
                class_histogram(&p, classes).unwrap(),
                vec![per_class; classes]
            );
            assert_eq!(mode_reverse_kl(&vec![per_class; classes]).unwrap(), 0.0);
        }
    }
}

#[test]
fn identical_rows_score_one_and_collapse_the_histogram() {
    // Dyadic rows: the marginal is exactly the row, every KL is exactly 0.
    let row = [0.5, 0.25, 0.125, 0.125];
    let p: Vec<f64> = (0..5).flat_map(|_| row).collect();
    assert_eq!(classifier_score(&p, 4).unwrap(), 1.0);
    // Other rows: the marginal is the row up to round-off, and the score is never below 1.
    let row = [0.1f32, 0.7, 0.2];
    let p: Vec<f32> = (0..9).flat_map(|_| row).collect();
    let score = classifier_score(&p, 3).unwrap();
    assert!((1.0..1.0 + 1e-15).contains(&score), "{score}");
    // Every row predicts class 1: the class-coverage KL is ln C.
    let histogram = class_histogram(&p, 3).unwrap();
    assert_eq!(histogram, vec![0, 9, 0]);
    let kl = mode_reverse_kl(&histogram).unwrap();
    assert!((kl - 3f64.ln()).abs() < 1e-15, "{kl}");
}

#[test]
fn the_classifier_score_lies_between_one_and_the_number_of_classes() {
    let mut rng = HostRng::seed_from(25);
    let classes = 6;
    for sharpness in [0.1f32, 1.0, 5.0, 50.0] {
        // Softmax of random logits: from nearly uniform rows to nearly one-hot ones.
        let logits = rng.normal_vec(200 * classes);
        let p: Vec<f32> = logits
            .chunks_exact(classes)
            .flat_map(|row| {
                let top = row.iter().fold(f32::MIN, |m, &x| m.max(x));
                let e: Vec<f32> = row.iter().map(|&x| (sharpness * (x - top)).exp()).collect();
                let sum: f32 = e.iter().sum();
                e.into_iter().map(move |x| x / sum)
            })
            .collect();
        let score = classifier_score(&p, classes).unwrap();
        assert!(
            (1.0..=classes as f64).contains(&score),
            "{sharpness}: {score}"
        );
        let histogram = class_histogram(&p, classes).unwrap();
        assert_eq!(histogram.iter().sum::<usize>(), 200);
    }
}

#[test]
fn wasserstein_1d_of_a_shift_is_the_shift_for_any_sizes() {
    let a = [0.5, -2.0, 3.25, 1.0, 0.0];
    let b: Vec<f64> = a.iter().map(|x| x + 0.75).collect();
    assert!((wasserstein_1d(&a, &b).unwrap() - 0.75).abs() < 1e-15);
    // Repeating every atom of b three times is the same distribution.
    let b3: Vec<f64> = b.iter().flat_map(|&x| [x, x, x]).collect();
    assert!((wasserstein_1d(&a, &b3).unwrap() - 0.75).abs() < 1e-15);
    assert_eq!(
        wasserstein_1d(&a, &b3).unwrap(),
        wasserstein_1d(&b3, &a).unwrap()
    );
}

#[test]
fn sliced_wasserstein_of_a_translated_copy_has_a_closed_form() {
    // For b = a + v each projected distance is |θ·v|: SW₁ = mean|θ·v|, SW₂ = √mean(θ·v)².
    let mut rng = HostRng::seed_from(14);
    let a = gaussian_cloud(&mut rng, 25, 3);
    let v = [0.5, -1.0, 2.0];
    let b = translated(&a, &v);
    let directions = [1.0, 0.0, 0.0, 0.0, 3.0, 4.0, 1.0, 1.0, 1.0];
    let projections: Vec<f64> = directions
        .chunks_exact(3)
        .map(|d| {
            let norm = d.iter().map(|x| x * x).sum::<f64>().sqrt();
            d.iter().zip(&v).map(|(x, y)| x * y).sum::<f64>() / norm
        })
        .collect();
    let sw1 = sliced_wasserstein_with(&a, &b, 3, &directions, 1).unwrap();
    let expected1 = projections.iter().map(|p| p.abs()).sum::<f64>() / 3.0;
    assert!((sw1 - expected1).abs() < 1e-13, "{sw1} vs {expected1}");
    let sw2 = sliced_wasserstein_with(&a, &b, 3, &directions, 2).unwrap();
    let expected2 = (projections.iter().map(|p| p * p).sum::<f64>() / 3.0).sqrt();
    assert!((sw2 - expected2).abs() < 1e-13, "{sw2} vs {expected2}");
    // Over random directions E[(θ·v)²] = ‖v‖²/d: SW₂ → ‖v‖/√3 = 1.3229.
    let sw2 = sliced_wasserstein(&a, &b, 3, 4000, 2, &mut HostRng::seed_from(5)).unwrap();
    let limit = (0.25f64 + 1.0 + 4.0).sqrt() / 3f64.sqrt();
    assert!((sw2 - limit).abs() < 0.03 * limit, "{sw2} vs {limit}");
}

#[test]
fn only_the_orientation_of_explicit_directions_matters() {
    let mut rng = HostRng::seed_from(23);
    let a = gaussian_cloud(&mut rng, 20, 2);
    let b = gaussian_cloud(&mut rng, 30, 2);
    let unit = sliced_wasserstein_with(&a, &b, 2, &[0.6, 0.8], 2).unwrap();
    for scale in [1e-200, 2.5, 1e200] {
        let scaled = sliced_wasserstein_with(&a, &b, 2, &[0.6 * scale, 0.8 * scale], 2).unwrap();
        assert!((scaled - unit).abs() < 1e-15, "{scale}: {scaled} vs {unit}");
    }
}

#[test]
fn sliced_wasserstein_grows_monotonically_with_a_shift() {
    let mut rng = HostRng::seed_from(15);
    let a = gaussian_cloud(&mut rng, 200, 2);
    let b = gaussian_cloud(&mut rng, 150, 2);
    for p in [1, 2] {
        let mut previous = -1.0;
        for shift in [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0] {
            let moved = translated(&b, &[shift, shift]);
            // The same seed gives the same directions for every shift.
            let sw = sliced_wasserstein(&a, &moved, 2, 100, p, &mut HostRng::seed_from(3)).unwrap();
            assert!(sw > previous, "p = {p}: SW({shift}) = {sw} ≤ {previous}");
            previous = sw;
        }
    }
}

#[test]
fn sliced_wasserstein_is_reproducible_from_the_seed() {
    let mut rng = HostRng::seed_from(16);
    let a = gaussian_cloud(&mut rng, 50, 5);
    let b = translated(&gaussian_cloud(&mut rng, 60, 5), &[0.3; 5]);
    let first = sliced_wasserstein(&a, &b, 5, 32, 2, &mut HostRng::seed_from(8)).unwrap();
    let again = sliced_wasserstein(&a, &b, 5, 32, 2, &mut HostRng::seed_from(8)).unwrap();
    let other = sliced_wasserstein(&a, &b, 5, 32, 2, &mut HostRng::seed_from(9)).unwrap();
    assert_eq!(first, again);
    assert_ne!(first, other);
}

#[test]
fn frechet_distance_of_diagonal_covariances_has_the_closed_form() {
    // Commuting covariances: d² = ‖μ₁ − μ₂‖² + Σ_i (√a_i − √b_i)²
    //   = (1 + 0.25 + 4) + ((2 − 1)² + (1 − 3)² + (0.5 − 0.5)²) = 10.25.
    let mu1 = [1.0, 2.0, 3.0];
    let mu2 = [0.0, 2.5, 1.0];
    let sigma1 = [4.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.25];
    let sigma2 = [1.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.25];
    let fd = frechet_distance_from_stats(&mu1, &sigma1, &mu2, &sigma2, 3).unwrap();
    assert!((fd - 10.25).abs() < 1e-14, "{fd}");
}

#[test]
fn frechet_distance_of_commuting_rotated_covariances_has_the_closed_form() {
    // Σ₁ = R diag(9, 1) Rᵀ and Σ₂ = R diag(1, 4) Rᵀ share eigenvectors (rotation by 0.6 rad):
    // d² = (3 − 1)² + (1 − 2)² = 5, with equal means.
    let (c, s) = (0.6f64.cos(), 0.6f64.sin());
    let rotate = |l1: f64, l2: f64| {
        [
            l1 * c * c + l2 * s * s,
            (l1 - l2) * c * s,
            (l1 - l2) * c * s,
            l1 * s * s + l2 * c * c,
        ]
    };
    let zero = [0.0, 0.0];
    let fd =
        frechet_distance_from_stats(&zero, &rotate(9.0, 1.0), &zero, &rotate(1.0, 4.0), 2).unwrap();
    assert!((fd - 5.0).abs() < 1e-13, "{fd}");
}

#[test]
fn translating_features_adds_the_squared_shift_to_the_frechet_distance() {
    let mut rng = HostRng::seed_from(17);
    let a = gaussian_cloud(&mut rng, 100, 3);
    let b = gaussian_cloud(&mut rng, 80, 3);
    let base = frechet_distance(&a, &b, 3).unwrap();
    let mean =
        |x: &[f64], i: usize| x.iter().skip(i).step_by(3).sum::<f64>() / (x.len() / 3) as f64;
    let v = [1.0, -2.0, 0.5];
    let moved = frechet_distance(&a, &translated(&b, &v), 3).unwrap();
    // ‖μ_a − μ_b − v‖² − ‖μ_a − μ_b‖² = ‖v‖² − 2 (μ_a − μ_b)·v.
    let cross: f64 = (0..3).map(|i| (mean(&a, i) - mean(&b, i)) * v[i]).sum();
    let expected = base + 5.25 - 2.0 * cross;
    assert!((moved - expected).abs() < 1e-12, "{moved} vs {expected}");
}

#[test]
fn mmd_and_kid_separate_shifted_samples_and_not_equal_ones() {
    let mut rng = HostRng::seed_from(18);
    let x = gaussian_cloud(&mut rng, 300, 2);
    let y = gaussian_cloud(&mut rng, 300, 2);
    let shifted = translated(&y, &[1.0, 0.0]);
    let same = mmd2_unbiased(&x, &y, 2, Some(1.0)).unwrap();
    let apart = mmd2_unbiased(&x, &shifted, 2, Some(1.0)).unwrap();
    eprintln!("MMD² same {same:e}, shifted {apart:e}");
    assert!(same.abs() < 5e-3, "{same}");
    // Population value for N(0, I) against N(v, I), σ = 1, d = 2, ‖v‖ = 1:
    // 2c·(1 − exp(−‖v‖²/(2(σ² + 2)))) with c = (σ²/(σ² + 2))^{d/2}; = 0.10234551673959058 by
    // python3 -c "import numpy as np; c = (1/3)**1; print(2*c - 2*c*np.exp(-1/6))"
    assert!((apart - 0.10234551673959058).abs() < 0.02, "{apart}");
    let kid_same = kid(&x, &y, 2, 10, 100, &mut HostRng::seed_from(1)).unwrap();
    let kid_apart = kid(&x, &shifted, 2, 10, 100, &mut HostRng::seed_from(1)).unwrap();
    assert!(
        kid_same.mean.abs() < 3.0 * kid_same.std + 1e-3,
        "{kid_same:?}"
    );
    assert!(kid_apart.mean > 10.0 * kid_same.mean.abs(), "{kid_apart:?}");
    assert!(kid_apart.std > 0.0);
    eprintln!("KID same {kid_same:?}, shifted {kid_apart:?}");
    // The same seed gives the same subsets.
    let again = kid(&x, &shifted, 2, 10, 100, &mut HostRng::seed_from(1)).unwrap();
    assert_eq!(kid_apart, again);
}

#[test]
fn f32_and_f64_inputs_agree() {
    let mut rng = HostRng::seed_from(19);
    let a32 = rng.normal_vec(60);
    let b32 = rng.normal_vec(45);
    let a64: Vec<f64> = a32.iter().map(|&x| f64::from(x)).collect();
    let b64: Vec<f64> = b32.iter().map(|&x| f64::from(x)).collect();
    assert_eq!(
        frechet_distance(&a32, &b32, 3).unwrap(),
        frechet_distance(&a64, &b64, 3).unwrap()
    );
    assert_eq!(
        mmd2_unbiased(&a32, &b32, 3, None).unwrap(),
        mmd2_unbiased(&a64, &b64, 3, None).unwrap()
    );
    assert_eq!(
        precision_recall(&a32, &b32, 3, 3).unwrap(),
        precision_recall(&a64, &b64, 3, 3).unwrap()
    );
}

/// A random symmetric `[n, n]` matrix.
fn random_symmetric(rng: &mut HostRng, n: usize) -> Vec<f64> {
    let g: Vec<f64> = rng.normal_vec(n * n).into_iter().map(f64::from).collect();
    random_symmetric_from(&g, n)
}

#[test]
fn eigendecomposition_reconstructs_random_matrices() {
    let mut rng = HostRng::seed_from(20);
    for n in [1, 2, 7, 30, 120] {
        let a = random_symmetric(&mut rng, n);
        let eigen = symmetric_eigen(&a, n).unwrap();
        assert!(eigen.values.windows(2).all(|w| w[0] <= w[1]));
        let v = &eigen.vectors;
        for i in 0..n {
            for j in 0..n {
                // A = Σ_k λ_k v_k v_kᵀ and the v_k are orthonormal.
                let rebuilt: f64 = (0..n)
                    .map(|k| eigen.values[k] * v[k * n + i] * v[k * n + j])
                    .sum();
                assert!((rebuilt - a[i * n + j]).abs() < 1e-12, "n = {n}");
                let dot: f64 = (0..n).map(|r| v[i * n + r] * v[j * n + r]).sum();
                let identity = if i == j { 1.0 } else { 0.0 };
                assert!((dot - identity).abs() < 1e-13, "n = {n}");
            }
        }
        let values = symmetric_eigenvalues(&a, n).unwrap();
        for (x, y) in values.iter().zip(&eigen.values) {
            assert!((x - y).abs() < 1e-12);
        }
    }
}

#[test]
fn singular_values_square_to_the_eigenvalues_of_the_gram_matrix() {
    let mut rng = HostRng::seed_from(21);
    let n = 12;
    let g: Vec<f64> = rng.normal_vec(n * n).into_iter().map(f64::from).collect();
    let mut gram = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            gram[i * n + j] = (0..n).map(|k| g[k * n + i] * g[k * n + j]).sum();
        }
    }
    let mut squared: Vec<f64> = singular_values(&g, n)
        .unwrap()
        .iter()
        .map(|s| s * s)
        .collect();
    squared.reverse();
    let eigenvalues = symmetric_eigenvalues(&gram, n).unwrap();
    for (s, l) in squared.iter().zip(&eigenvalues) {
        assert!((s - l).abs() < 1e-11 * eigenvalues[n - 1], "{s} vs {l}");
    }
    // A rank-one matrix has one non-zero singular value, its Frobenius norm.
    let u = [1.0, -2.0, 0.5];
    let w = [3.0, 0.0, 4.0];
    let outer: Vec<f64> = u
        .iter()
        .flat_map(|a| w.iter().map(move |b| a * b))
        .collect();
    let values = singular_values(&outer, 3).unwrap();
    assert!(
        (values[0] - 5.25f64.sqrt() * 5.0).abs() < 1e-14,
        "{values:?}"
    );
    assert!(
        values[1].abs() < 1e-15 && values[2].abs() < 1e-15,
        "{values:?}"
    );
}

#[test]
fn degenerate_matrices_decompose_exactly() {
    // The zero matrix, a multiple of the identity (one eigenvalue of multiplicity 4), a 1×1
    // matrix, and a diagonal matrix with repeated entries.
    let zero = vec![0.0; 9];
    assert_eq!(symmetric_eigenvalues(&zero, 3).unwrap(), vec![0.0; 3]);
    assert_eq!(singular_values(&zero, 3).unwrap(), vec![0.0; 3]);
    let mut scaled = vec![0.0; 16];
    for i in 0..4 {
        scaled[i * 4 + i] = 2.5;
    }
    let eigen = symmetric_eigen(&scaled, 4).unwrap();
    assert_eq!(eigen.values, vec![2.5; 4]);
    for i in 0..4 {
        for j in 0..4 {
            let dot: f64 = (0..4)
                .map(|r| eigen.vectors[i * 4 + r] * eigen.vectors[j * 4 + r])
                .sum();
            assert!((dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-15);
        }
    }
    assert_eq!(symmetric_eigen(&[-3.0], 1).unwrap().values, vec![-3.0]);
    // Singular values come from a 2×2 Golub–Kahan matrix here: exact to a few ulps.
    assert!((singular_values(&[-3.0], 1).unwrap()[0] - 3.0).abs() < 16.0 * f64::EPSILON);
    let diagonal = [1.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 1.0];
    assert_eq!(
        symmetric_eigenvalues(&diagonal, 3).unwrap(),
        vec![1.0, 1.0, 5.0]
    );
    for (s, e) in singular_values(&diagonal, 3)
        .unwrap()
        .iter()
        .zip([5.0, 1.0, 1.0])
    {
        assert!((s - e).abs() < 4.0 * e * f64::EPSILON, "{s} vs {e}");
    }
}

#[test]
fn eigenvalues_of_a_graded_matrix_are_accurate_to_epsilon_times_its_norm() {
    // Eigenvalues spread over 14 orders of magnitude (1 to 1e-14) in a random basis: every
    // computed one, the smallest included, is within a small multiple of ε·‖A‖₂ = 2.2e-16 of
    // the exact one (the matrix itself is only formed to about that accuracy).
    let mut rng = HostRng::seed_from(22);
    let n = 8;
    let g: Vec<f64> = rng.normal_vec(n * n).into_iter().map(f64::from).collect();
    let basis = symmetric_eigen(&random_symmetric_from(&g, n), n)
        .unwrap()
        .vectors;
    let spectrum: Vec<f64> = (0..n).map(|k| 10f64.powi(-2 * k as i32)).collect();
    let mut a = vec![0.0; n * n];
    for (k, &l) in spectrum.iter().enumerate() {
        let v = &basis[k * n..(k + 1) * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] += l * v[i] * v[j];
            }
        }
    }
    let values = symmetric_eigenvalues(&a, n).unwrap();
    let mut expected = spectrum.clone();
    expected.sort_by(f64::total_cmp);
    for (v, e) in values.iter().zip(&expected) {
        assert!((v - e).abs() < 32.0 * f64::EPSILON, "{v:e} vs {e:e}");
    }
}

/// G + Gᵀ for a row-major `[n, n]` buffer G.
fn random_symmetric_from(g: &[f64], n: usize) -> Vec<f64> {
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = g[i * n + j] + g[j * n + i];
        }
    }
    a
}

/// ReLU features as a classifier's penultimate layer gives for a collapsed generator: `n`
/// points in `dim` dimensions of which only `live` ever fire, so the covariance has rank
/// below min(n, live) and whole zero rows.
fn dead_relu_features(
    rng: &mut HostRng,
    n: usize,
    dim: usize,
    live: usize,
    shift: f64,
) -> Vec<f64> {
    let z = gaussian_cloud(rng, n * live, 1);
    let mut features = vec![0.0; n * dim];
    for i in 0..n {
        for j in 0..live {
            features[i * dim + (3 * j) % dim] = (z[i * live + j] + shift).max(0.0);
        }
    }
    features
}

#[test]
fn frechet_distance_of_rank_deficient_features_scales_with_the_square_at_any_magnitude() {
    // d²(s·a, s·b) = s²·d²(a, b) exactly (means scale by s, covariances by s²). Features
    // with many dead units once made the Householder reduction divide by an underflowed
    // ‖x‖² (β = ∞, then NaN and a QR iteration that never converged); every magnitude from
    // 1e-30 to 1e3 must now decompose and keep the identity.
    for (seed, (n, live)) in [(32, 15), (64, 24), (200, 26), (40, 40)]
        .into_iter()
        .enumerate()
    {
        let mut rng = HostRng::seed_from(seed as u64);
        let a = dead_relu_features(&mut rng, n, 128, live, 0.5);
        let b = dead_relu_features(&mut rng, n, 128, live, -0.2);
        let base = frechet_distance(&a, &b, 128).unwrap();
        assert!(base > 0.0);
        for scale in [1e-30, 1e-8, 1e3] {
            let scaled = |x: &[f64]| x.iter().map(|v| v * scale).collect::<Vec<_>>();
            let d = frechet_distance(&scaled(&a), &scaled(&b), 128).unwrap();
            let relative = (d / (scale * scale) - base).abs() / base;
            assert!(
                relative < 1e-9,
                "n {n}, live {live}, scale {scale}: {relative}"
            );
        }
        // A set against itself: 0 up to round-off in the traces (about 1e-14 here).
        assert!(frechet_distance(&a, &a, 128).unwrap() < 1e-12 * base);
    }
}
