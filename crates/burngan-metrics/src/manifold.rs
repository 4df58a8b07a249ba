//! Manifold-based fidelity and diversity metrics built on k-nearest-neighbour balls: improved
//! precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al.
//! 2020).
//!
//! Each point x of a set X gets the radius NND_k(x), the Euclidean distance to its k-th
//! nearest neighbour in X excluding itself (a duplicate of x counts as a neighbour at
//! distance 0); the closed ball B(x, NND_k(x)) estimates the support of X locally. Membership
//! is tested with ≤ on squared distances (closed balls, as in the definition of Kynkäänniemi
//! et al.; the `prdc` package of Naeem et al. uses <, which differs only for points exactly on
//! a sphere).
//!
//! All neighbours are found by exact brute force in `f64`. The radii of n points take the
//! n(n − 1)/2 pairwise distances (each pair computed once for k ≤ 32, n² for larger k); the
//! comparisons of n real with m generated points take the n·m cross distances once, for all
//! four metrics together. Each distance costs O(dim). The work is split into blocks of rows
//! that run on every core ([`std::thread::available_parallelism`], scoped threads). Every
//! distance is computed by the same code whatever the thread count, radii are exact order
//! statistics, counts are summed as integers and flags merged with a logical or, so the
//! results do not depend on the number of cores (or on which thread did what). A squared
//! distance is accumulated in four interleaved partial sums (coordinate c goes to sum
//! c mod 4, the last dim mod 4 coordinates to a tail sum), which the compiler vectorises;
//! with two query points sharing each centre's loads it is about 3.5 times faster on one
//! core than a sequential sum. It is symmetric in its arguments and exactly 0 for coincident
//! points, and can differ from a sequential sum in the last bits (so can a radius).
//! Extra memory is O(n + m) plus, per thread, O(n + m) (and n·k for the radii with k ≤ 32).
//!
//! The real set's radii are the same for every generated set compared with it: a
//! [`ManifoldReference`] computes them once and then scores any number of generated sets.
//! For 10,000 generated against 5,000 real 128-dimensional features with k = 3,
//! [`precision_recall`] plus [`density_coverage`] took 55 s of CPU time with the replaced
//! single-threaded implementation (sequential sums, n² distances per set of radii, the real
//! radii once per function) and take 12.6 s with this one; [`ManifoldReference::evaluate`]
//! with a cached reference takes 9.4 s. The wall-clock time is that spread over the cores
//! (example `manifold_bench`, measured on a shared 2-core machine).

use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::MetricError;
use crate::error::{HostFloat, Points};

/// The default neighbourhood size: k = 3, Kynkäänniemi et al.'s choice for precision and
/// recall (Naeem et al. recommend k = 5 for density and coverage).
pub const DEFAULT_K: usize = 3;

/// The number of interleaved partial sums of a squared distance ([`squared_distance`]
/// combines exactly four).
const LANES: usize = 4;
const _: () = assert!(LANES == 4);

/// Query rows whose distances are computed together, so that each centre row is loaded once
/// for all of them.
const QUERY_BLOCK: usize = 8;

/// Centre rows per tile of the cross-set passes (a tile of QUERY_BLOCK × CENTRE_TILE squared
/// distances is computed before it is compared with the radii).
const CENTRE_TILE: usize = 256;

/// The largest k whose radii are computed from each pair once (the pairwise distances are
/// symmetric), with per-thread lists of the k smallest distances of every point; larger k
/// compute full rows of distances instead.
const SYMMETRIC_MAX_K: usize = 32;

/// The most candidate distances (8 bytes each) all threads together keep for the symmetric
/// radii: 2²⁴, 128 MiB; fewer threads are used when n·k·threads would exceed it.
const SYMMETRIC_BUDGET: usize = 1 << 24;

/// Rows per task handed to a worker thread.
const TASK_ROWS: usize = 32;

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

/// All four manifold metrics of one generated set, from [`ManifoldReference::evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ManifoldMetrics {
    /// Improved precision, in [0, 1] ([`PrecisionRecall::precision`]).
    pub precision: f64,
    /// Improved recall, in [0, 1] ([`PrecisionRecall::recall`]).
    pub recall: f64,
    /// Density, about 1 when the distributions match ([`DensityCoverage::density`]).
    pub density: f64,
    /// Coverage, in [0, 1] ([`DensityCoverage::coverage`]).
    pub coverage: f64,
}

impl ManifoldMetrics {
    /// Precision and recall alone.
    pub fn precision_recall(&self) -> PrecisionRecall {
        PrecisionRecall {
            precision: self.precision,
            recall: self.recall,
        }
    }

    /// Density and coverage alone.
    pub fn density_coverage(&self) -> DensityCoverage {
        DensityCoverage {
            density: self.density,
            coverage: self.coverage,
        }
    }
}

/// A validated real set with its squared k-NN radii, computed once and reused to score any
/// number of generated (fake) sets against it.
///
/// The radii of n real points cost n(n − 1)/2 distances, as much as the fake radii of a
/// generated set of the same size; building the reference once saves them on every later
/// call. [`evaluate`](Self::evaluate) returns all four metrics for the price of
/// [`precision_recall`](Self::precision_recall). Every method gives
/// exactly the value of the free function it replaces ([`precision_recall`],
/// [`density_coverage`]) called with the same real set, `dim` and `k`.
///
/// ```
/// use burngan_metrics::{ManifoldReference, density_coverage};
///
/// // Four real points at the corners of the unit square (row-major [4, 2]), k = 1.
/// let real = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
/// let reference = ManifoldReference::new(&real, 2, 1).unwrap();
/// assert_eq!(reference.radii(), vec![1.0; 4]);
/// // Two generated points: one at the centre (in all four balls), one far away.
/// let fake = [0.5, 0.5, 9.0, 9.0];
/// let all = reference.evaluate(&fake).unwrap();
/// assert_eq!(all.precision, 0.5);
/// assert_eq!(all.density, 2.0);
/// assert_eq!(all.coverage, 1.0);
/// assert_eq!(all.density_coverage(), density_coverage(&real, &fake, 2, 1).unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct ManifoldReference {
    /// The real points.
    real: Points,
    /// The neighbourhood size.
    k: usize,
    /// The squared k-NN radius of every real point.
    squared_radii: Vec<f64>,
}

impl ManifoldReference {
    /// Validates the real set `real`, a row-major `[n, dim]` buffer, and computes its k-NN
    /// radii for neighbourhood size `k` ([`DEFAULT_K`] = 3 for precision and recall).
    ///
    /// # Errors
    ///
    /// [`MetricError::ZeroDim`], [`MetricError::Empty`], [`MetricError::LengthNotMultiple`],
    /// [`MetricError::NonFinite`] for `real`; [`MetricError::InvalidK`] unless
    /// 1 ≤ k ≤ n − 1.
    pub fn new<T: HostFloat>(real: &[T], dim: usize, k: usize) -> Result<Self, MetricError> {
        let real = Points::new("real", real, dim)?;
        check_k("real", &real, k)?;
        Ok(Self::from_points(real, k, thread_count()))
    }

    /// The reference of already validated points with a checked k.
    fn from_points(real: Points, k: usize, threads: usize) -> Self {
        let squared_radii = squared_radii(&real, k, threads);
        Self {
            real,
            k,
            squared_radii,
        }
    }

    /// The number of real points n.
    pub fn len(&self) -> usize {
        self.real.len()
    }

    /// Always `false`: a reference holds at least k + 1 ≥ 2 points.
    pub fn is_empty(&self) -> bool {
        self.real.len() == 0
    }

    /// The dimension of the points.
    pub fn dim(&self) -> usize {
        self.real.dim
    }

    /// The neighbourhood size k.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The k-NN radii NND_k(r_i) of the real points, length n: exactly [`knn_radii`] of the
    /// real set.
    pub fn radii(&self) -> Vec<f64> {
        self.squared_radii.iter().map(|r| r.sqrt()).collect()
    }

    /// Improved precision and recall of `fake`, a row-major `[m, dim]` buffer, against the
    /// real set: exactly [`precision_recall`]`(real, fake, dim, k)`. It costs as much as
    /// [`evaluate`](Self::evaluate) (the fake radii, then one pass over the n·m fake-real
    /// pairs), which also returns density and coverage.
    ///
    /// # Errors
    ///
    /// [`MetricError::Empty`], [`MetricError::LengthNotMultiple`] (`fake` must hold whole
    /// points of the reference's dimension), [`MetricError::NonFinite`] for `fake`;
    /// [`MetricError::InvalidK`] unless m ≥ k + 1.
    pub fn precision_recall<T: HostFloat>(
        &self,
        fake: &[T],
    ) -> Result<PrecisionRecall, MetricError> {
        let fake = Points::new("fake", fake, self.dim())?;
        check_k("fake", &fake, self.k)?;
        Ok(self.precision_recall_of(&fake, thread_count()))
    }

    /// Density and coverage of `fake`, a row-major `[m, dim]` buffer, against the real set:
    /// exactly [`density_coverage`]`(real, fake, dim, k)`. It needs no fake radii: one pass
    /// over the n·m fake-real pairs.
    ///
    /// # Errors
    ///
    /// [`MetricError::Empty`], [`MetricError::LengthNotMultiple`] (`fake` must hold whole
    /// points of the reference's dimension), [`MetricError::NonFinite`] for `fake`.
    pub fn density_coverage<T: HostFloat>(
        &self,
        fake: &[T],
    ) -> Result<DensityCoverage, MetricError> {
        let fake = Points::new("fake", fake, self.dim())?;
        Ok(self.density_coverage_of(&fake, thread_count()))
    }

    /// Precision, recall, density and coverage of `fake`, a row-major `[m, dim]` buffer,
    /// against the real set: exactly the values of [`precision_recall`](Self::precision_recall)
    /// and [`density_coverage`](Self::density_coverage), from the fake radii and a single
    /// pass over the n·m fake-real pairs (the two calls make two passes).
    ///
    /// # Errors
    ///
    /// As [`precision_recall`](Self::precision_recall): [`MetricError::Empty`],
    /// [`MetricError::LengthNotMultiple`], [`MetricError::NonFinite`] for `fake`;
    /// [`MetricError::InvalidK`] unless m ≥ k + 1.
    pub fn evaluate<T: HostFloat>(&self, fake: &[T]) -> Result<ManifoldMetrics, MetricError> {
        let fake = Points::new("fake", fake, self.dim())?;
        check_k("fake", &fake, self.k)?;
        Ok(self.evaluate_of(&fake, thread_count()))
    }

    /// Precision and recall of validated fake points with at least k + 1 rows.
    fn precision_recall_of(&self, fake: &Points, threads: usize) -> PrecisionRecall {
        self.evaluate_of(fake, threads).precision_recall()
    }

    /// Density and coverage of validated fake points.
    fn density_coverage_of(&self, fake: &Points, threads: usize) -> DensityCoverage {
        let pass = cross_pass(fake, None, &self.real, &self.squared_radii, threads);
        self.density_coverage_from(&pass, fake.len())
    }

    /// All four metrics of validated fake points with at least k + 1 rows.
    fn evaluate_of(&self, fake: &Points, threads: usize) -> ManifoldMetrics {
        let fake_radii = squared_radii(fake, self.k, threads);
        let pass = cross_pass(
            fake,
            Some(&fake_radii),
            &self.real,
            &self.squared_radii,
            threads,
        );
        let m = fake.len() as f64;
        let n = self.real.len() as f64;
        let DensityCoverage { density, coverage } = self.density_coverage_from(&pass, fake.len());
        ManifoldMetrics {
            precision: pass.precise as f64 / m,
            recall: count_true(&pass.recalled) as f64 / n,
            density,
            coverage,
        }
    }

    /// Density and coverage from a cross pass of `m` fake points.
    fn density_coverage_from(&self, pass: &CrossPass, m: usize) -> DensityCoverage {
        DensityCoverage {
            density: pass.inside as f64 / (self.k as f64 * m as f64),
            coverage: count_true(&pass.covered) as f64 / self.real.len() as f64,
        }
    }
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
    Ok(squared_radii(&points, k, thread_count())
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
/// where the real radii are computed within `real` and the fake radii within `fake`. To score
/// several generated sets against one real set, build a [`ManifoldReference`] once instead.
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
    let threads = thread_count();
    Ok(ManifoldReference::from_points(real, k, threads).precision_recall_of(&fake, threads))
}

/// Density and coverage (Naeem et al. 2020) of `fake` against `real`, row-major `[m, dim]`
/// and `[n, dim]` buffers, with k-NN balls of size `k` around the real points only:
///
/// density  = 1/(k·m) Σ_j Σ_i 1[‖f_j − r_i‖ ≤ NND_k(r_i)],
/// coverage = (1/n) Σ_i 1[min_j ‖r_i − f_j‖ ≤ NND_k(r_i)].
///
/// To score several generated sets against one real set, build a [`ManifoldReference`] once
/// instead.
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
    let threads = thread_count();
    Ok(ManifoldReference::from_points(real, k, threads).density_coverage_of(&fake, threads))
}

/// Rejects k outside 1..=n − 1 for the set the radii are computed in.
fn check_k(what: &'static str, points: &Points, k: usize) -> Result<(), MetricError> {
    let n = points.len();
    if k == 0 || k >= n {
        return Err(MetricError::InvalidK { k, what, n });
    }
    Ok(())
}

/// The number of worker threads: the available parallelism, or 1 when it is unknown.
fn thread_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The number of `true` entries.
fn count_true(flags: &[bool]) -> usize {
    flags.iter().filter(|&&f| f).count()
}

/// The squared Euclidean distance between two points of equal length, accumulated in
/// [`LANES`] interleaved partial sums plus a tail sum, combined as
/// ((s₀ + s₁) + (s₂ + s₃)) + tail. Symmetric in its arguments; exactly 0 when a = b.
#[inline]
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    let (a_chunks, a_tail) = a.as_chunks::<LANES>();
    let (b_chunks, b_tail) = b.as_chunks::<LANES>();
    let mut sums = [0.0f64; LANES];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for lane in 0..LANES {
            let d = x[lane] - y[lane];
            sums[lane] += d * d;
        }
    }
    let mut tail = 0.0;
    for (x, y) in a_tail.iter().zip(b_tail) {
        tail += (x - y) * (x - y);
    }
    ((sums[0] + sums[1]) + (sums[2] + sums[3])) + tail
}

/// The squared distances from `a0` and from `a1` to `b`, each summed exactly as
/// [`squared_distance`] sums it (the two sums share the loads of `b`, about 15% faster than
/// two calls).
#[inline]
fn squared_distances_from_two(a0: &[f64], a1: &[f64], b: &[f64]) -> (f64, f64) {
    let (a0_chunks, a0_tail) = a0.as_chunks::<LANES>();
    let (a1_chunks, a1_tail) = a1.as_chunks::<LANES>();
    let (b_chunks, b_tail) = b.as_chunks::<LANES>();
    let mut sums0 = [0.0f64; LANES];
    let mut sums1 = [0.0f64; LANES];
    for ((x0, x1), y) in a0_chunks.iter().zip(a1_chunks).zip(b_chunks) {
        for lane in 0..LANES {
            let d0 = x0[lane] - y[lane];
            sums0[lane] += d0 * d0;
            let d1 = x1[lane] - y[lane];
            sums1[lane] += d1 * d1;
        }
    }
    let mut tail0 = 0.0;
    for (x, y) in a0_tail.iter().zip(b_tail) {
        tail0 += (x - y) * (x - y);
    }
    let mut tail1 = 0.0;
    for (x, y) in a1_tail.iter().zip(b_tail) {
        tail1 += (x - y) * (x - y);
    }
    (
        ((sums0[0] + sums0[1]) + (sums0[2] + sums0[3])) + tail0,
        ((sums1[0] + sums1[1]) + (sums1[2] + sums1[3])) + tail1,
    )
}

/// Writes the squared distances from each row of `queries` (row-major, dimension `dim`) to
/// each row of `centres` into `out`, row-major `[queries, centres]`; every entry is
/// [`squared_distance`] of its pair.
fn distance_tile(queries: &[f64], centres: &[f64], dim: usize, out: &mut [f64]) {
    let width = centres.len() / dim;
    let pairs = queries.chunks_exact(2 * dim);
    let last = pairs.remainder();
    for (c, centre) in centres.chunks_exact(dim).enumerate() {
        for (p, pair) in pairs.clone().enumerate() {
            let (first, second) = pair.split_at(dim);
            let (d0, d1) = squared_distances_from_two(first, second, centre);
            out[2 * p * width + c] = d0;
            out[(2 * p + 1) * width + c] = d1;
        }
        if !last.is_empty() {
            out[(queries.len() / dim - 1) * width + c] = squared_distance(last, centre);
        }
    }
}

/// Splits `slots` (one per row) into tasks of [`TASK_ROWS`] rows, hands them out on demand
/// to `threads` scoped threads (run inline for one thread or one task), and calls
/// `work(state, first_row, task_slots)` for each task with the calling thread's state, which
/// `init` creates. Returns every thread's final state. Which thread runs which task varies,
/// so a deterministic caller writes only its task's slots and merges the states with
/// order-independent operations (integer sums, logical or).
fn for_each_task<T, S, I, W>(slots: &mut [T], threads: usize, init: I, work: W) -> Vec<S>
where
    T: Send,
    S: Send,
    I: Fn() -> S + Sync,
    W: Fn(&mut S, usize, &mut [T]) + Sync,
{
    let tasks = slots.len().div_ceil(TASK_ROWS);
    let threads = threads.clamp(1, tasks.max(1));
    let queue = Mutex::new(slots.chunks_mut(TASK_ROWS).enumerate());
    let run = || {
        let mut state = init();
        loop {
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some((task, task_slots)) = next else {
                break;
            };
            work(&mut state, task * TASK_ROWS, task_slots);
        }
        state
    };
    if threads == 1 {
        return vec![run()];
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(run)).collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// The squared k-NN radius of every point (1 ≤ k ≤ n − 1, checked by the callers): the k-th
/// smallest squared distance from the point to the others. Both methods below compute it
/// exactly from the same distances, so the choice between them does not change the result.
fn squared_radii(points: &Points, k: usize, threads: usize) -> Vec<f64> {
    let n = points.len();
    if k <= SYMMETRIC_MAX_K {
        // Each thread keeps n·k candidates: bound the total.
        let threads = threads.min((SYMMETRIC_BUDGET / (n * k)).max(1));
        squared_radii_symmetric(points, k, threads)
    } else {
        squared_radii_by_rows(points, k, threads)
    }
}

/// The squared radii from every pair i < j computed once and offered to both rows: each
/// thread keeps, per row, the k smallest distances it has seen (ascending), and the radius is
/// the k-th smallest of the union of the threads' lists. Every pair is seen by exactly one
/// thread, so the union holds the k smallest distances of the row whatever the thread count.
fn squared_radii_symmetric(points: &Points, k: usize, threads: usize) -> Vec<f64> {
    let n = points.len();
    let dim = points.dim;
    let mut rows = vec![(); n];
    let states = for_each_task(
        &mut rows,
        threads,
        || {
            (
                vec![0.0; QUERY_BLOCK * CENTRE_TILE],
                vec![f64::INFINITY; n * k],
            )
        },
        |(tile, smallest), first, task| {
            for (b, block) in task.chunks(QUERY_BLOCK).enumerate() {
                let start = first + b * QUERY_BLOCK;
                let queries = &points.data[start * dim..(start + block.len()) * dim];
                // Columns from `start` on: every pair (i, j > i) of the block's rows i.
                let columns = &points.data[start * dim..];
                for (t, centres) in columns.chunks(CENTRE_TILE * dim).enumerate() {
                    let width = centres.len() / dim;
                    let offset = start + t * CENTRE_TILE;
                    let tile = &mut tile[..block.len() * width];
                    distance_tile(queries, centres, dim, tile);
                    for (q, row) in tile.chunks_exact(width).enumerate() {
                        let i = start + q;
                        // Columns j ≤ i of the first tile are the block's own earlier pairs.
                        let skip = (i + 1).saturating_sub(offset).min(width);
                        for (c, &d) in row.iter().enumerate().skip(skip) {
                            let j = offset + c;
                            offer(&mut smallest[i * k..(i + 1) * k], d);
                            offer(&mut smallest[j * k..(j + 1) * k], d);
                        }
                    }
                }
            }
        },
    );
    let mut candidates = Vec::with_capacity(states.len() * k);
    (0..n)
        .map(|i| {
            candidates.clear();
            for (_, smallest) in &states {
                candidates.extend_from_slice(&smallest[i * k..(i + 1) * k]);
            }
            *candidates.select_nth_unstable_by(k - 1, f64::total_cmp).1
        })
        .collect()
}

/// Inserts `d` into `smallest`, an ascending list of the smallest values seen so far, when it
/// is below the largest of them (which then drops out).
#[inline]
fn offer(smallest: &mut [f64], d: f64) {
    let last = smallest.len() - 1;
    if d < smallest[last] {
        let mut i = last;
        while i > 0 && smallest[i - 1] > d {
            smallest[i] = smallest[i - 1];
            i -= 1;
        }
        smallest[i] = d;
    }
}

/// The squared radii from full rows of distances, for large k: the (k+1)-th smallest
/// squared distance of each row, the point itself included at distance 0 (which equals the
/// k-th smallest distance to the other points).
fn squared_radii_by_rows(points: &Points, k: usize, threads: usize) -> Vec<f64> {
    let n = points.len();
    let dim = points.dim;
    let mut radii = vec![0.0; n];
    for_each_task(
        &mut radii,
        threads,
        || vec![0.0; QUERY_BLOCK.min(n) * n],
        |distances, first, task| {
            for (b, block) in task.chunks_mut(QUERY_BLOCK).enumerate() {
                let start = first + b * QUERY_BLOCK;
                let queries = &points.data[start * dim..(start + block.len()) * dim];
                let distances = &mut distances[..block.len() * n];
                distance_tile(queries, &points.data, dim, distances);
                for (radius, row) in block.iter_mut().zip(distances.chunks_exact_mut(n)) {
                    *radius = *row.select_nth_unstable_by(k, f64::total_cmp).1;
                }
            }
        },
    );
    radii
}

/// What one full pass of the fake points against the real points records.
struct CrossPass {
    /// Σ over fake points of the number of real balls containing it.
    inside: usize,
    /// Fake points inside at least one real ball.
    precise: usize,
    /// Per real point: whether its ball contains a fake point.
    covered: Vec<bool>,
    /// Per real point: whether it lies in the ball of a fake point (all `false` without fake
    /// radii).
    recalled: Vec<bool>,
}

/// Compares every fake point with every real point, against the real radii and, when given,
/// the fake radii.
fn cross_pass(
    fake: &Points,
    fake_radii: Option<&[f64]>,
    real: &Points,
    real_radii: &[f64],
    threads: usize,
) -> CrossPass {
    let dim = fake.dim;
    let n = real.len();
    let mut counts = vec![0usize; fake.len()];
    let states = for_each_task(
        &mut counts,
        threads,
        || {
            (
                vec![0.0; QUERY_BLOCK * CENTRE_TILE],
                vec![false; n],
                vec![false; n],
            )
        },
        |(tile, covered, recalled), first, task| {
            for (b, block) in task.chunks_mut(QUERY_BLOCK).enumerate() {
                let start = first + b * QUERY_BLOCK;
                let queries = &fake.data[start * dim..(start + block.len()) * dim];
                let query_radii = fake_radii.map(|r| &r[start..start + block.len()]);
                for (t, (centres, radii)) in real
                    .data
                    .chunks(CENTRE_TILE * dim)
                    .zip(real_radii.chunks(CENTRE_TILE))
                    .enumerate()
                {
                    let width = radii.len();
                    let offset = t * CENTRE_TILE;
                    let tile = &mut tile[..block.len() * width];
                    distance_tile(queries, centres, dim, tile);
                    for (q, (count, row)) in
                        block.iter_mut().zip(tile.chunks_exact(width)).enumerate()
                    {
                        for (c, (d, r)) in row.iter().zip(radii).enumerate() {
                            if d <= r {
                                *count += 1;
                                covered[offset + c] = true;
                            }
                        }
                        if let Some(query_radii) = query_radii {
                            let radius = query_radii[q];
                            for (c, d) in row.iter().enumerate() {
                                if *d <= radius {
                                    recalled[offset + c] = true;
                                }
                            }
                        }
                    }
                }
            }
        },
    );
    let mut covered = vec![false; n];
    let mut recalled = vec![false; n];
    for (_, thread_covered, thread_recalled) in states {
        for (all, one) in covered.iter_mut().zip(thread_covered) {
            *all |= one;
        }
        for (all, one) in recalled.iter_mut().zip(thread_recalled) {
            *all |= one;
        }
    }
    CrossPass {
        inside: counts.iter().sum(),
        precise: counts.iter().filter(|&&c| c > 0).count(),
        covered,
        recalled,
    }
}

#[cfg(test)]
mod tests {
    use burngan_core::HostRng;

    use super::*;

    /// The sequential brute force this module replaced: one distance summed coordinate by
    /// coordinate, each radius selected among the other points, each membership tested
    /// pair by pair.
    mod brute_force {
        use super::Points;

        fn distance(a: &[f64], b: &[f64]) -> f64 {
            a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
        }

        pub(super) fn radii(points: &Points, k: usize) -> Vec<f64> {
            let n = points.len();
            (0..n)
                .map(|i| {
                    let mut others: Vec<f64> = (0..n)
                        .filter(|&j| j != i)
                        .map(|j| distance(points.row(i), points.row(j)))
                        .collect();
                    *others.select_nth_unstable_by(k - 1, f64::total_cmp).1
                })
                .collect()
        }

        fn fraction_inside(queries: &Points, centres: &Points, radii: &[f64]) -> f64 {
            let inside = queries
                .rows()
                .filter(|q| centres.rows().zip(radii).any(|(c, &r)| distance(q, c) <= r))
                .count();
            inside as f64 / queries.len() as f64
        }

        /// Precision, recall, density, coverage.
        pub(super) fn all(real: &Points, fake: &Points, k: usize) -> [f64; 4] {
            let real_radii = radii(real, k);
            let fake_radii = radii(fake, k);
            let mut inside = 0usize;
            let mut covered = vec![false; real.len()];
            for f in fake.rows() {
                for ((r, &radius), c) in real.rows().zip(&real_radii).zip(&mut covered) {
                    if distance(f, r) <= radius {
                        inside += 1;
                        *c = true;
                    }
                }
            }
            [
                fraction_inside(fake, real, &real_radii),
                fraction_inside(real, fake, &fake_radii),
                inside as f64 / (k as f64 * fake.len() as f64),
                covered.iter().filter(|&&c| c).count() as f64 / real.len() as f64,
            ]
        }
    }

    fn gaussian(seed: u64, n: usize, dim: usize, scale: f32) -> Points {
        let data: Vec<f32> = HostRng::seed_from(seed)
            .normal_vec(n * dim)
            .into_iter()
            .map(|x| scale * x)
            .collect();
        Points::new("points", &data, dim).unwrap()
    }

    /// Points on a small integer grid: exact distances, many duplicates and many points
    /// exactly on a ball's sphere.
    fn grid(seed: u64, n: usize, dim: usize) -> Points {
        let mut rng = HostRng::seed_from(seed);
        let data: Vec<f64> = (0..n * dim).map(|_| rng.index(3) as f64).collect();
        Points::new("points", &data, dim).unwrap()
    }

    fn as_array(m: ManifoldMetrics) -> [f64; 4] {
        [m.precision, m.recall, m.density, m.coverage]
    }

    /// Sizes that straddle QUERY_BLOCK, TASK_ROWS and CENTRE_TILE.
    const SIZES: [(usize, usize); 3] = [(5, 9), (70, 41), (300, 263)];

    #[test]
    fn results_equal_the_sequential_brute_force() {
        for (seed, &(n, m)) in SIZES.iter().enumerate() {
            let seed = seed as u64;
            for dim in [1, 3, 4, 7, 64] {
                // k = 40 takes the row-by-row radii.
                for k in [1, 3, 40].into_iter().filter(|&k| k < n.min(m)) {
                    let cases = [
                        (
                            gaussian(seed, n, dim, 1.0),
                            gaussian(seed + 10, m, dim, 1.2),
                            false,
                        ),
                        (grid(seed, n, dim), grid(seed + 10, m, dim), true),
                    ];
                    for (real, fake, exact) in cases {
                        let reference = ManifoldReference::from_points(real.clone(), k, 3);
                        let radii = brute_force::radii(&real, k);
                        if exact || dim < LANES {
                            // Exact sums, or no lanes at all: bit-identical radii.
                            assert_eq!(reference.squared_radii, radii, "{n} {m} {dim} {k}");
                        } else {
                            // Another summation order: the same radii to round-off.
                            for (a, b) in reference.squared_radii.iter().zip(&radii) {
                                assert!((a - b).abs() <= 8.0 * f64::EPSILON * b, "{a} vs {b}");
                            }
                        }
                        let expected = brute_force::all(&real, &fake, k);
                        let all = reference.evaluate_of(&fake, 3);
                        assert_eq!(as_array(all), expected, "{n} {m} {dim} {k}");
                        assert_eq!(
                            reference.precision_recall_of(&fake, 3),
                            all.precision_recall()
                        );
                        assert_eq!(
                            reference.density_coverage_of(&fake, 3),
                            all.density_coverage()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        for &(n, m) in &SIZES {
            for (real, fake) in [
                (gaussian(1, n, 5, 1.0), gaussian(2, m, 5, 0.8)),
                (grid(3, n, 4), grid(4, m, 4)),
            ] {
                for k in [2, 40].into_iter().filter(|&k| k < n.min(m)) {
                    let one = ManifoldReference::from_points(real.clone(), k, 1);
                    let single = (
                        one.evaluate_of(&fake, 1),
                        one.precision_recall_of(&fake, 1),
                        one.density_coverage_of(&fake, 1),
                    );
                    for threads in [2, 3, 8, 64] {
                        let many = ManifoldReference::from_points(real.clone(), k, threads);
                        assert_eq!(many.squared_radii, one.squared_radii, "{threads}");
                        let results = (
                            many.evaluate_of(&fake, threads),
                            many.precision_recall_of(&fake, threads),
                            many.density_coverage_of(&fake, threads),
                        );
                        assert_eq!(results, single, "{threads} threads, {n} vs {m}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_tile_holds_the_distance_of_every_pair() {
        for (dim, queries) in [(1, 1), (3, 2), (4, 5), (13, 8), (128, 3)] {
            let q = gaussian(7, queries, dim, 1.0);
            let c = gaussian(8, 11, dim, 1.0);
            let mut tile = vec![f64::NAN; queries * 11];
            distance_tile(&q.data, &c.data, dim, &mut tile);
            for i in 0..queries {
                for j in 0..11 {
                    assert_eq!(tile[i * 11 + j], squared_distance(q.row(i), c.row(j)));
                }
            }
        }
    }

    #[test]
    fn the_lane_sum_is_symmetric_and_zero_on_the_diagonal() {
        let a = gaussian(5, 1, 13, 1.0);
        let b = gaussian(6, 1, 13, 1.0);
        assert_eq!(
            squared_distance(&a.data, &b.data),
            squared_distance(&b.data, &a.data)
        );
        assert_eq!(squared_distance(&a.data, &a.data), 0.0);
        let sequential: f64 = a
            .data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| (x - y) * (x - y))
            .sum();
        let lanes = squared_distance(&a.data, &b.data);
        assert!((lanes - sequential).abs() <= 4.0 * f64::EPSILON * sequential);
    }
}
