//! The error type of every fallible metric, and the input checks that produce it.
//!
//! Every metric validates its host buffers before computing anything: a point set must be
//! non-empty, its length a multiple of a positive `dim`, and every value finite. The messages
//! name the offending value and say how to fix the call.

use thiserror::Error;

/// Why a metric could not be computed. No metric panics on bad input; it returns one of these.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MetricError {
    /// A point set (or a 1-D sample, or a histogram) has no entries.
    #[error("`{what}` is empty: pass at least one point")]
    Empty {
        /// The argument name.
        what: &'static str,
    },
    /// The dimension of the points is zero.
    #[error("dim = 0 is invalid: pass the number of coordinates per point (at least 1)")]
    ZeroDim,
    /// A row-major buffer whose length is not a multiple of the dimension.
    #[error(
        "`{what}` has length {len}, which is not a multiple of dim = {dim}: pass n·dim values \
         in row-major order (one point after another)"
    )]
    LengthNotMultiple {
        /// The argument name.
        what: &'static str,
        /// The buffer length.
        len: usize,
        /// The dimension it was expected to be a multiple of.
        dim: usize,
    },
    /// A buffer whose length must be exactly a given value (a mean or a covariance).
    #[error(
        "`{what}` has length {len} but dim = {dim} requires length {expected}: pass a vector \
         of dim values for a mean and a row-major dim×dim matrix for a covariance"
    )]
    WrongLength {
        /// The argument name.
        what: &'static str,
        /// The buffer length.
        len: usize,
        /// The dimension.
        dim: usize,
        /// The length the dimension requires.
        expected: usize,
    },
    /// Two sets of statistics that describe points of different dimensions.
    #[error(
        "dimension mismatch: `{first}` has dim = {first_dim} but `{second}` has dim = \
         {second_dim}: compare statistics of features of the same size"
    )]
    DimensionMismatch {
        /// The first argument name.
        first: &'static str,
        /// Its dimension.
        first_dim: usize,
        /// The second argument name.
        second: &'static str,
        /// Its dimension.
        second_dim: usize,
    },
    /// A NaN or an infinity in an input buffer.
    #[error(
        "`{what}` holds the non-finite value {value} at index {index}: remove NaN/inf samples \
         (e.g. from a diverged generator) before evaluating"
    )]
    NonFinite {
        /// The argument name.
        what: &'static str,
        /// The flat index of the first non-finite value.
        index: usize,
        /// The value itself.
        value: f64,
    },
    /// Too few points for the requested (usually unbiased) estimator.
    #[error(
        "`{what}` has {n} point(s) but the {estimator} needs at least {needed}: pass more samples"
    )]
    TooFewSamples {
        /// The argument name.
        what: &'static str,
        /// The number of points given.
        n: usize,
        /// The minimum the estimator needs.
        needed: usize,
        /// The estimator that needs them.
        estimator: &'static str,
    },
    /// A kernel bandwidth that is zero, negative or not finite.
    #[error(
        "bandwidth = {bandwidth} is invalid: pass a finite σ > 0, or `None` for the median \
         heuristic"
    )]
    InvalidBandwidth {
        /// The bandwidth given.
        bandwidth: f64,
    },
    /// The median heuristic gave a zero bandwidth (most pooled points coincide).
    #[error(
        "the median pairwise distance of the pooled sample is 0 (at least half of the pairs of \
         points coincide), so the median heuristic has no bandwidth: pass an explicit σ > 0"
    )]
    DegenerateMedianBandwidth,
    /// A nearest-neighbour `k` outside `1..=n − 1` of the set it is computed in.
    #[error(
        "k = {k} is invalid for `{what}` with {n} point(s): the k-th nearest neighbour \
         excluding the point itself needs 1 ≤ k ≤ n − 1 = {max}; lower k or pass more points",
        max = n.saturating_sub(1)
    )]
    InvalidK {
        /// The `k` given.
        k: usize,
        /// The argument name of the set the radii are computed in.
        what: &'static str,
        /// The number of points in that set.
        n: usize,
    },
    /// A Wasserstein order other than 1 or 2.
    #[error("p = {p} is not supported: pass p = 1 (earth mover's distance) or p = 2")]
    InvalidOrder {
        /// The order given.
        p: u32,
    },
    /// Zero random projections requested for the sliced Wasserstein distance.
    #[error("projections = 0: pass at least one projection direction (50–1000 is typical)")]
    NoProjections,
    /// A projection direction of zero length, which cannot be normalised.
    #[error("direction {index} has zero length and cannot be normalised: pass non-zero directions")]
    ZeroDirection {
        /// The index of the direction (row of `directions`).
        index: usize,
    },
    /// A histogram whose counts are all zero (no high-quality sample at all).
    #[error(
        "`{what}` sums to 0 (no high-quality sample in any mode), so the generated mode \
         distribution is undefined: report the reverse KL as missing (or +∞) for this run"
    )]
    NoMass {
        /// The argument name.
        what: &'static str,
    },
    /// Zero classes given for a buffer of class probabilities.
    #[error(
        "classes = 0 is invalid: pass the number of classes C (at least 1), the length of \
         each row of `probabilities`"
    )]
    ZeroClasses,
    /// A buffer of class probabilities whose length is not a multiple of the class count.
    #[error(
        "`probabilities` has length {len}, which is not a multiple of classes = {classes}: \
         pass n·C values, one row of C class probabilities per sample"
    )]
    ProbabilityLength {
        /// The buffer length.
        len: usize,
        /// The number of classes C.
        classes: usize,
    },
    /// A class probability outside [0, 1] by more than
    /// [`PROBABILITY_TOLERANCE`](crate::PROBABILITY_TOLERANCE).
    #[error(
        "`probabilities` row {row}, class {class} holds {value}, outside [0, 1]: pass softmax \
         probabilities, not logits or scores"
    )]
    ProbabilityOutOfRange {
        /// The row (sample) index.
        row: usize,
        /// The class index within the row.
        class: usize,
        /// The value.
        value: f64,
    },
    /// A row of class probabilities whose sum differs from 1 by more than
    /// [`PROBABILITY_TOLERANCE`](crate::PROBABILITY_TOLERANCE).
    #[error(
        "`probabilities` row {row} sums to {sum}, not 1 (tolerance {tolerance:e}): pass one \
         softmax distribution per row, normalised over all C classes, not logits or a subset \
         of classes",
        tolerance = crate::PROBABILITY_TOLERANCE
    )]
    RowSumNotOne {
        /// The row (sample) index.
        row: usize,
        /// The sum of its entries.
        sum: f64,
    },
    /// KID subsets that are empty, too small or larger than a feature set.
    #[error(
        "subsets = {subsets}, subset_size = {subset_size} is invalid for sets of {n_x} and \
         {n_y} points: pass subsets ≥ 1 and 2 ≤ subset_size ≤ min(n_x, n_y) = {min}",
        min = (*n_x).min(*n_y)
    )]
    InvalidSubsets {
        /// The number of subsets requested.
        subsets: usize,
        /// The subset size requested.
        subset_size: usize,
        /// Points in the first set.
        n_x: usize,
        /// Points in the second set.
        n_y: usize,
    },
    /// A matrix given as a covariance that is not symmetric.
    #[error(
        "`{what}` is not symmetric: entry ({row}, {col}) = {upper} but ({col}, {row}) = \
         {lower}: pass a symmetric covariance matrix"
    )]
    NotSymmetric {
        /// The argument name.
        what: &'static str,
        /// Row of the first offending entry.
        row: usize,
        /// Column of the first offending entry.
        col: usize,
        /// The value at (row, col).
        upper: f64,
        /// The value at (col, row).
        lower: f64,
    },
    /// A matrix given as a covariance with a clearly negative eigenvalue.
    #[error(
        "`{what}` has the eigenvalue {eigenvalue}, far below 0 for a largest eigenvalue of \
         {largest}: a covariance must be positive semidefinite; pass one estimated from data"
    )]
    NotPositiveSemidefinite {
        /// The argument name.
        what: &'static str,
        /// The most negative eigenvalue.
        eigenvalue: f64,
        /// The largest eigenvalue in absolute value.
        largest: f64,
    },
    /// The implicit QR iteration of an eigenvalue or singular-value problem did not converge
    /// (not observed for finite matrices).
    #[error(
        "the QR iteration on a {dim}×{dim} tridiagonal matrix did not converge in {steps} \
         steps: check the matrix for extreme values (beyond 1e150) and rescale the features"
    )]
    NoConvergence {
        /// The tridiagonal matrix dimension.
        dim: usize,
        /// The QR steps performed.
        steps: usize,
    },
}

/// A scalar a host buffer may hold: `f32` or `f64`. Metrics convert to `f64` internally.
///
/// The trait is sealed; it exists so that every metric accepts both generator output (`f32`)
/// and features already in double precision.
pub trait HostFloat: Copy + sealed::Sealed {
    /// The value as an `f64` (exact for both implementations).
    fn to_f64(self) -> f64;
}

impl HostFloat for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl HostFloat for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// Converts a 1-D sample to `f64`, rejecting an empty buffer or a non-finite value.
pub(crate) fn sample_1d<T: HostFloat>(
    what: &'static str,
    data: &[T],
) -> Result<Vec<f64>, MetricError> {
    if data.is_empty() {
        return Err(MetricError::Empty { what });
    }
    to_finite_f64(what, data)
}

/// A validated set of `n` points of dimension `dim`, stored row-major in `f64`.
#[derive(Debug, Clone)]
pub(crate) struct Points {
    pub(crate) data: Vec<f64>,
    pub(crate) dim: usize,
}

impl Points {
    /// Validates a row-major `[n, dim]` buffer: `dim > 0`, `n > 0`, length `n·dim`, finite.
    pub(crate) fn new<T: HostFloat>(
        what: &'static str,
        data: &[T],
        dim: usize,
    ) -> Result<Self, MetricError> {
        if dim == 0 {
            return Err(MetricError::ZeroDim);
        }
        if data.is_empty() {
            return Err(MetricError::Empty { what });
        }
        if !data.len().is_multiple_of(dim) {
            return Err(MetricError::LengthNotMultiple {
                what,
                len: data.len(),
                dim,
            });
        }
        Ok(Self {
            data: to_finite_f64(what, data)?,
            dim,
        })
    }

    /// The number of points.
    pub(crate) fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Point `i` as a slice of `dim` coordinates.
    pub(crate) fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Iterates over the points.
    pub(crate) fn rows(&self) -> std::slice::ChunksExact<'_, f64> {
        self.data.chunks_exact(self.dim)
    }
}

/// Converts a buffer to `f64`, failing at the first non-finite value.
pub(crate) fn to_finite_f64<T: HostFloat>(
    what: &'static str,
    data: &[T],
) -> Result<Vec<f64>, MetricError> {
    data.iter()
        .enumerate()
        .map(|(index, &x)| {
            let value = x.to_f64();
            if value.is_finite() {
                Ok(value)
            } else {
                Err(MetricError::NonFinite { what, index, value })
            }
        })
        .collect()
}

/// Rejects a point set with fewer than `needed` points.
pub(crate) fn require_points(
    what: &'static str,
    points: &Points,
    needed: usize,
    estimator: &'static str,
) -> Result<(), MetricError> {
    let n = points.len();
    if n < needed {
        return Err(MetricError::TooFewSamples {
            what,
            n,
            needed,
            estimator,
        });
    }
    Ok(())
}

/// Rejects two point sets of different dimensions (only possible when dims are passed
/// separately; kept for statistics).
pub(crate) fn same_dim(
    first: &'static str,
    first_dim: usize,
    second: &'static str,
    second_dim: usize,
) -> Result<(), MetricError> {
    if first_dim != second_dim {
        return Err(MetricError::DimensionMismatch {
            first,
            first_dim,
            second,
            second_dim,
        });
    }
    Ok(())
}

/// The Euclidean norm of `x`, scaled by its largest entry so that it neither overflows nor
/// underflows for extreme but finite values.
pub(crate) fn euclidean_norm(x: &[f64]) -> f64 {
    let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if scale == 0.0 || !scale.is_finite() {
        return scale;
    }
    scale * x.iter().map(|v| (v / scale).powi(2)).sum::<f64>().sqrt()
}

/// The squared Euclidean distance between two points of equal length.
pub(crate) fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}
