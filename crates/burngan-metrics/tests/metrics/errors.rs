//! Every bad input returns its [`MetricError`] (never a panic), and every message names the
//! bad value and the fix.

use burngan_core::HostRng;
use burngan_metrics::linalg::{singular_values, symmetric_eigen};
use burngan_metrics::{
    GaussianStats, ManifoldReference, MetricError, class_histogram, classifier_score,
    density_coverage, frechet_distance, frechet_distance_from_stats, kid, knn_radii,
    median_heuristic_bandwidth, mmd2_unbiased, mode_reverse_kl, polynomial_mmd2_unbiased,
    precision_recall, sliced_wasserstein, sliced_wasserstein_with, wasserstein_1d,
};

/// Asserts the error and that its message contains every fragment.
fn check<T: std::fmt::Debug>(
    result: Result<T, MetricError>,
    expected: MetricError,
    fragments: &[&str],
) {
    let err = result.unwrap_err();
    assert_eq!(err, expected);
    let message = err.to_string();
    for fragment in fragments {
        assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
    }
}

const POINTS: [f64; 8] = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0];

#[test]
fn empty_inputs() {
    check(
        wasserstein_1d::<f64>(&[], &[1.0]),
        MetricError::Empty { what: "a" },
        &["`a` is empty", "at least one point"],
    );
    check(
        mmd2_unbiased(&POINTS, &[], 2, None),
        MetricError::Empty { what: "y" },
        &["`y` is empty"],
    );
    check(
        frechet_distance(&[], &POINTS, 2),
        MetricError::Empty { what: "a" },
        &["`a` is empty"],
    );
    check(
        precision_recall(&POINTS, &[], 2, 1),
        MetricError::Empty { what: "fake" },
        &["`fake` is empty"],
    );
    check(
        sliced_wasserstein_with(&POINTS, &POINTS, 2, &[], 1),
        MetricError::Empty { what: "directions" },
        &["`directions` is empty"],
    );
    check(
        mode_reverse_kl(&[]),
        MetricError::Empty {
            what: "per_mode_counts",
        },
        &["`per_mode_counts` is empty"],
    );
}

#[test]
fn zero_dimension() {
    let fragments = ["dim = 0", "at least 1"];
    check(
        mmd2_unbiased(&POINTS, &POINTS, 0, None),
        MetricError::ZeroDim,
        &fragments,
    );
    check(
        GaussianStats::fit(&POINTS, 0),
        MetricError::ZeroDim,
        &fragments,
    );
    check(knn_radii(&POINTS, 0, 1), MetricError::ZeroDim, &fragments);
    let zero: [f64; 0] = [];
    check(
        frechet_distance_from_stats(&zero, &zero, &zero, &zero, 0),
        MetricError::ZeroDim,
        &fragments,
    );
}

#[test]
fn length_not_a_multiple_of_dim() {
    check(
        mmd2_unbiased(&POINTS[..7], &POINTS, 2, None),
        MetricError::LengthNotMultiple {
            what: "x",
            len: 7,
            dim: 2,
        },
        &["`x` has length 7", "not a multiple of dim = 2", "row-major"],
    );
    check(
        density_coverage(&POINTS, &POINTS, 3, 1),
        MetricError::LengthNotMultiple {
            what: "real",
            len: 8,
            dim: 3,
        },
        &["`real` has length 8", "dim = 3"],
    );
    check(
        sliced_wasserstein_with(&POINTS, &POINTS, 2, &[1.0, 0.0, 1.0], 2),
        MetricError::LengthNotMultiple {
            what: "directions",
            len: 3,
            dim: 2,
        },
        &["`directions` has length 3"],
    );
}

#[test]
fn statistics_of_the_wrong_length_or_dimension() {
    let sigma = [1.0, 0.0, 0.0, 1.0];
    check(
        frechet_distance_from_stats(&[0.0, 0.0, 0.0], &sigma, &[0.0, 0.0], &sigma, 2),
        MetricError::WrongLength {
            what: "mu1",
            len: 3,
            dim: 2,
            expected: 2,
        },
        &["`mu1` has length 3", "requires length 2"],
    );
    check(
        frechet_distance_from_stats(&[0.0, 0.0], &sigma, &[0.0, 0.0], &sigma[..3], 2),
        MetricError::WrongLength {
            what: "sigma2",
            len: 3,
            dim: 2,
            expected: 4,
        },
        &["`sigma2` has length 3", "requires length 4", "dim×dim"],
    );
    let two = GaussianStats::fit(&POINTS, 2).unwrap();
    let three = GaussianStats::fit(&[0.0, 1.0, 2.0, 3.0, 4.0, 6.0], 3).unwrap();
    check(
        two.frechet_distance(&three),
        MetricError::DimensionMismatch {
            first: "self",
            first_dim: 2,
            second: "other",
            second_dim: 3,
        },
        &["dimension mismatch", "dim = 2", "dim = 3", "same size"],
    );
    check(
        symmetric_eigen(&[1.0, 2.0, 3.0], 2),
        MetricError::WrongLength {
            what: "matrix",
            len: 3,
            dim: 2,
            expected: 4,
        },
        &["`matrix` has length 3"],
    );
}

#[test]
fn non_finite_values() {
    // NaN ≠ NaN, so match on the fields instead of comparing the error.
    let err = wasserstein_1d(&[1.0, 2.0], &[0.0, f64::NAN]).unwrap_err();
    assert!(
        matches!(err, MetricError::NonFinite { what: "b", index: 1, value } if value.is_nan()),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("`b` holds the non-finite value NaN at index 1"),
        "{message}"
    );
    assert!(message.contains("remove NaN/inf samples"), "{message}");
    check(
        frechet_distance(&POINTS, &[0.0f64, 1.0, f64::INFINITY, 2.0], 2),
        MetricError::NonFinite {
            what: "b",
            index: 2,
            value: f64::INFINITY,
        },
        &["non-finite value inf at index 2"],
    );
    let real = [0.0f32, 1.0, f32::NEG_INFINITY, 3.0];
    check(
        precision_recall(&real, &real, 1, 1),
        MetricError::NonFinite {
            what: "real",
            index: 2,
            value: f64::NEG_INFINITY,
        },
        &["`real` holds the non-finite value -inf"],
    );
    let sigma = [1.0, 0.0, 0.0, f64::INFINITY];
    check(
        frechet_distance_from_stats(&[0.0, 0.0], &sigma, &[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], 2),
        MetricError::NonFinite {
            what: "sigma1",
            index: 3,
            value: f64::INFINITY,
        },
        &["`sigma1`"],
    );
    check(
        sliced_wasserstein_with(&POINTS, &POINTS, 2, &[1.0, f64::INFINITY], 1),
        MetricError::NonFinite {
            what: "directions",
            index: 1,
            value: f64::INFINITY,
        },
        &["`directions`"],
    );
}

#[test]
fn too_few_samples_for_unbiased_estimators() {
    let one = [0.5, 0.5];
    check(
        mmd2_unbiased(&POINTS, &one, 2, Some(1.0)),
        MetricError::TooFewSamples {
            what: "y",
            n: 1,
            needed: 2,
            estimator: "unbiased MMD² estimator",
        },
        &[
            "`y` has 1 point(s)",
            "unbiased MMD² estimator needs at least 2",
            "more samples",
        ],
    );
    check(
        polynomial_mmd2_unbiased(&one, &POINTS, 2),
        MetricError::TooFewSamples {
            what: "x",
            n: 1,
            needed: 2,
            estimator: "unbiased MMD² estimator",
        },
        &["`x` has 1 point(s)"],
    );
    check(
        GaussianStats::fit(&one, 2),
        MetricError::TooFewSamples {
            what: "features",
            n: 1,
            needed: 2,
            estimator: "unbiased covariance (denominator n − 1)",
        },
        &["`features` has 1 point(s)", "covariance"],
    );
    check(
        frechet_distance(&POINTS, &one, 2),
        MetricError::TooFewSamples {
            what: "b",
            n: 1,
            needed: 2,
            estimator: "unbiased covariance (denominator n − 1)",
        },
        &["`b` has 1 point(s)"],
    );
}

#[test]
fn bad_bandwidths() {
    for bandwidth in [0.0, -1.0, f64::INFINITY] {
        check(
            mmd2_unbiased(&POINTS, &POINTS, 2, Some(bandwidth)),
            MetricError::InvalidBandwidth { bandwidth },
            &[
                &format!("bandwidth = {bandwidth} is invalid"),
                "σ > 0",
                "`None`",
            ],
        );
    }
    let err = mmd2_unbiased(&POINTS, &POINTS, 2, Some(f64::NAN)).unwrap_err();
    assert!(matches!(err, MetricError::InvalidBandwidth { bandwidth } if bandwidth.is_nan()));
    // Five copies of one point and one other: 10 of the 15 pooled pairs coincide.
    let same = [1.0, 1.0, 1.0, 1.0, 1.0];
    check(
        mmd2_unbiased(&same, &[1.0, 2.0], 1, None),
        MetricError::DegenerateMedianBandwidth,
        &["median pairwise distance", "is 0", "pass an explicit σ > 0"],
    );
    check(
        median_heuristic_bandwidth(&same, &[1.0, 1.0], 1),
        MetricError::DegenerateMedianBandwidth,
        &[],
    );
}

#[test]
fn bad_k() {
    check(
        precision_recall(&POINTS, &POINTS, 2, 0),
        MetricError::InvalidK {
            k: 0,
            what: "real",
            n: 4,
        },
        &[
            "k = 0 is invalid for `real` with 4 point(s)",
            "1 ≤ k ≤ n − 1 = 3",
        ],
    );
    check(
        precision_recall(&POINTS, &POINTS[..6], 2, 3),
        MetricError::InvalidK {
            k: 3,
            what: "fake",
            n: 3,
        },
        &[
            "k = 3 is invalid for `fake` with 3 point(s)",
            "= 2",
            "lower k",
        ],
    );
    check(
        density_coverage(&POINTS, &POINTS, 2, 4),
        MetricError::InvalidK {
            k: 4,
            what: "real",
            n: 4,
        },
        &["k = 4"],
    );
    check(
        knn_radii(&[0.0], 1, 1),
        MetricError::InvalidK {
            k: 1,
            what: "points",
            n: 1,
        },
        &["with 1 point(s)", "n − 1 = 0"],
    );
}

#[test]
fn bad_sliced_wasserstein_arguments() {
    let mut rng = HostRng::seed_from(0);
    for p in [0, 3] {
        check(
            sliced_wasserstein(&POINTS, &POINTS, 2, 10, p, &mut rng),
            MetricError::InvalidOrder { p },
            &[&format!("p = {p} is not supported"), "p = 1", "p = 2"],
        );
    }
    check(
        sliced_wasserstein(&POINTS, &POINTS, 2, 0, 1, &mut rng),
        MetricError::NoProjections,
        &["projections = 0", "at least one"],
    );
    check(
        sliced_wasserstein_with(&POINTS, &POINTS, 2, &[1.0, 0.0, 0.0, 0.0], 1),
        MetricError::ZeroDirection { index: 1 },
        &["direction 1 has zero length", "non-zero directions"],
    );
}

#[test]
fn bad_kid_subsets() {
    let mut rng = HostRng::seed_from(0);
    let three = &POINTS[..6];
    for (subsets, subset_size) in [(0, 2), (5, 1), (5, 4)] {
        check(
            kid(&POINTS, three, 2, subsets, subset_size, &mut rng),
            MetricError::InvalidSubsets {
                subsets,
                subset_size,
                n_x: 4,
                n_y: 3,
            },
            &[
                &format!("subsets = {subsets}, subset_size = {subset_size}"),
                "sets of 4 and 3 points",
                "2 ≤ subset_size ≤ min(n_x, n_y) = 3",
            ],
        );
    }
}

#[test]
fn histogram_without_mass() {
    check(
        mode_reverse_kl(&[0, 0]),
        MetricError::NoMass {
            what: "per_mode_counts",
        },
        &["`per_mode_counts` sums to 0", "missing"],
    );
}

#[test]
fn covariances_that_are_not_symmetric_or_not_psd() {
    let zero = [0.0, 0.0];
    let identity = [1.0, 0.0, 0.0, 1.0];
    check(
        frechet_distance_from_stats(&zero, &[1.0, 0.5, 0.4, 1.0], &zero, &identity, 2),
        MetricError::NotSymmetric {
            what: "sigma1",
            row: 0,
            col: 1,
            upper: 0.5,
            lower: 0.4,
        },
        &["`sigma1` is not symmetric", "(0, 1) = 0.5", "(1, 0) = 0.4"],
    );
    // Asymmetry at round-off level is averaged away.
    let nearly = [1.0, 0.5, 0.5 + 1e-9, 1.0];
    assert!(frechet_distance_from_stats(&zero, &nearly, &zero, &identity, 2).is_ok());
    // Eigenvalues 3 and −1 (computed to round-off, so match them with a tolerance).
    let err =
        frechet_distance_from_stats(&zero, &identity, &zero, &[1.0, 2.0, 2.0, 1.0], 2).unwrap_err();
    assert!(
        matches!(
            err,
            MetricError::NotPositiveSemidefinite { what: "sigma2", eigenvalue, largest }
                if (eigenvalue + 1.0).abs() < 1e-14 && (largest - 3.0).abs() < 1e-14
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("`sigma2` has the eigenvalue -0.99999"),
        "{message}"
    );
    assert!(message.contains("positive semidefinite"), "{message}");
}

#[test]
fn linear_algebra_inputs() {
    check(
        singular_values(&[1.0, f64::INFINITY, 0.0, 1.0], 2),
        MetricError::NonFinite {
            what: "matrix",
            index: 1,
            value: f64::INFINITY,
        },
        &["`matrix`"],
    );
    check(singular_values(&[], 0), MetricError::ZeroDim, &[]);
}

#[test]
fn bad_manifold_reference_inputs() {
    check(
        ManifoldReference::new(&POINTS, 2, 4),
        MetricError::InvalidK {
            k: 4,
            what: "real",
            n: 4,
        },
        &["k = 4 is invalid for `real` with 4 point(s)", "lower k"],
    );
    check(
        ManifoldReference::new(&POINTS[..7], 2, 1),
        MetricError::LengthNotMultiple {
            what: "real",
            len: 7,
            dim: 2,
        },
        &["`real` has length 7"],
    );
    let reference = ManifoldReference::new(&POINTS, 2, 2).unwrap();
    // Generated points of another dimension: 9 values are not whole 2-D points.
    let wrong_dim = [0.0f64; 9];
    let expected = MetricError::LengthNotMultiple {
        what: "fake",
        len: 9,
        dim: 2,
    };
    let fragments = ["`fake` has length 9", "not a multiple of dim = 2"];
    check(
        reference.precision_recall(&wrong_dim),
        expected.clone(),
        &fragments,
    );
    check(
        reference.density_coverage(&wrong_dim),
        expected.clone(),
        &fragments,
    );
    check(reference.evaluate(&wrong_dim), expected, &fragments);
    check(
        reference.density_coverage::<f64>(&[]),
        MetricError::Empty { what: "fake" },
        &["`fake` is empty"],
    );
    let err = reference.evaluate(&[0.5f32, f32::NAN]).unwrap_err();
    assert!(
        matches!(err, MetricError::NonFinite { what: "fake", index: 1, value } if value.is_nan()),
        "{err:?}"
    );
    // One generated point is too few for its own k-NN radii (precision and recall only).
    let one = [0.5f64, 0.5];
    let expected = MetricError::InvalidK {
        k: 2,
        what: "fake",
        n: 1,
    };
    check(
        reference.precision_recall(&one),
        expected.clone(),
        &["k = 2 is invalid for `fake` with 1 point(s)"],
    );
    check(reference.evaluate(&one), expected, &[]);
}

#[test]
fn bad_class_probability_shapes() {
    let p = [0.5, 0.5, 1.0, 0.0];
    for result in [classifier_score(&p, 0), class_histogram(&p, 0).map(|_| 0.0)] {
        check(
            result,
            MetricError::ZeroClasses,
            &["classes = 0 is invalid", "number of classes C"],
        );
    }
    check(
        classifier_score::<f32>(&[], 3),
        MetricError::Empty {
            what: "probabilities",
        },
        &["`probabilities` is empty"],
    );
    check(
        class_histogram(&p[..3], 2),
        MetricError::ProbabilityLength { len: 3, classes: 2 },
        &[
            "`probabilities` has length 3",
            "not a multiple of classes = 2",
            "one row of C class probabilities per sample",
        ],
    );
    let err = classifier_score(&[0.5f32, 0.5, f32::NAN, 1.0], 2).unwrap_err();
    assert!(
        matches!(err, MetricError::NonFinite { what: "probabilities", index: 2, value } if value.is_nan()),
        "{err:?}"
    );
}

#[test]
fn rows_that_are_not_probability_distributions() {
    // Logits: a negative entry, reported with its row and class.
    let logits = [0.2, 0.8, 0.0, 0.9, -0.4, 0.5];
    for result in [
        classifier_score(&logits, 3),
        class_histogram(&logits, 3).map(|_| 0.0),
    ] {
        check(
            result,
            MetricError::ProbabilityOutOfRange {
                row: 1,
                class: 1,
                value: -0.4,
            },
            &[
                "`probabilities` row 1, class 1 holds -0.4",
                "outside [0, 1]",
                "not logits",
            ],
        );
    }
    check(
        classifier_score(&[0.0, 1.5, 0.0, 1.0], 2),
        MetricError::ProbabilityOutOfRange {
            row: 0,
            class: 1,
            value: 1.5,
        },
        &["row 0, class 1 holds 1.5"],
    );
    // Entries in range but a row that sums to 0.9: unnormalised, or a subset of the classes.
    check(
        classifier_score(&[0.5, 0.5, 0.0, 0.3, 0.3, 0.3, 1.0, 0.0, 0.0], 3),
        MetricError::RowSumNotOne {
            row: 1,
            sum: 0.8999999999999999,
        },
        &[
            "`probabilities` row 1 sums to 0.8999999999999999, not 1",
            "tolerance 1e-3",
            "normalised over all C classes",
        ],
    );
    check(
        class_histogram(&[0.6f64, 0.6], 2),
        MetricError::RowSumNotOne { row: 0, sum: 1.2 },
        &["row 0 sums to 1.2"],
    );
    // Within the tolerance: f32 softmax round-off is accepted.
    assert!(classifier_score(&[0.3334f32, 0.3333, 0.3334], 3).is_ok());
    assert!(classifier_score(&[1.0005f64, -0.0005], 2).is_ok());
}
