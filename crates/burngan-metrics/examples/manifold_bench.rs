//! Times the manifold metrics on the evaluation's sizes: 10,000 generated against 5,000 real
//! 128-dimensional N(0, I)-like feature vectors, k = 3. Prints the wall-clock time of
//! [`precision_recall`] + [`density_coverage`] (the free functions, which recompute the real
//! radii on every call), of building a [`ManifoldReference`], and of
//! [`ManifoldReference::evaluate`] (all four metrics from the cached real radii), each with
//! the CPU time of the process (Linux only; all threads together) to tell the work from the
//! parallel speed-up. With `--baseline` it first times the implementation these replaced
//! (single-threaded, distances summed coordinate by coordinate, n² distances for each set of
//! radii, real radii recomputed by each function), copied below, and checks that it gives the
//! same four numbers.
//!
//! ```text
//! cargo run --release -p burngan-metrics --example manifold_bench [-- --baseline]
//! ```

use std::time::{Duration, Instant};

use burngan_core::HostRng;
use burngan_metrics::{ManifoldReference, density_coverage, precision_recall};

/// The CPU time (user + system, all threads) the process has used so far, from
/// `/proc/self/stat` in clock ticks of 1/100 s; `None` where that file does not exist.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Runs `f`, printing its wall-clock and CPU time under `label`.
fn timed<R>(label: &str, f: impl FnOnce() -> R) -> R {
    let (wall, cpu) = (Instant::now(), cpu_time());
    let result = f();
    let wall = wall.elapsed().as_secs_f64();
    match (cpu, cpu_time()) {
        (Some(before), Some(after)) => println!(
            "{label:<34} {wall:>7.2} s wall {:>7.2} s CPU",
            (after - before).as_secs_f64()
        ),
        _ => println!("{label:<34} {wall:>7.2} s wall"),
    }
    result
}

/// The replaced implementation, on row-major `f64` buffers.
mod baseline {
    fn distance(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
    }

    fn squared_radii(points: &[f64], dim: usize, k: usize) -> Vec<f64> {
        let n = points.len() / dim;
        let row = |i: usize| &points[i * dim..(i + 1) * dim];
        let mut others = Vec::with_capacity(n - 1);
        (0..n)
            .map(|i| {
                others.clear();
                others.extend((0..n).filter(|&j| j != i).map(|j| distance(row(i), row(j))));
                *others.select_nth_unstable_by(k - 1, f64::total_cmp).1
            })
            .collect()
    }

    fn fraction_inside_some_ball(
        queries: &[f64],
        centres: &[f64],
        dim: usize,
        radii: &[f64],
    ) -> f64 {
        let inside = queries
            .chunks_exact(dim)
            .filter(|q| {
                centres
                    .chunks_exact(dim)
                    .zip(radii)
                    .any(|(c, &radius)| distance(q, c) <= radius)
            })
            .count();
        inside as f64 / (queries.len() / dim) as f64
    }

    /// Precision and recall.
    pub fn precision_recall(real: &[f64], fake: &[f64], dim: usize, k: usize) -> (f64, f64) {
        let real_radii = squared_radii(real, dim, k);
        let fake_radii = squared_radii(fake, dim, k);
        (
            fraction_inside_some_ball(fake, real, dim, &real_radii),
            fraction_inside_some_ball(real, fake, dim, &fake_radii),
        )
    }

    /// Density and coverage.
    pub fn density_coverage(real: &[f64], fake: &[f64], dim: usize, k: usize) -> (f64, f64) {
        let radii = squared_radii(real, dim, k);
        let mut inside = 0usize;
        let mut covered = vec![false; radii.len()];
        for f in fake.chunks_exact(dim) {
            for ((r, &radius), is_covered) in real.chunks_exact(dim).zip(&radii).zip(&mut covered) {
                if distance(f, r) <= radius {
                    inside += 1;
                    *is_covered = true;
                }
            }
        }
        let m = fake.len() / dim;
        (
            inside as f64 / (k as f64 * m as f64),
            covered.iter().filter(|&&c| c).count() as f64 / radii.len() as f64,
        )
    }
}

fn main() {
    let (dim, n_real, n_fake, k) = (128, 5_000, 10_000, 3);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{n_fake} fake vs {n_real} real, dim {dim}, k = {k}, {threads} threads");
    let mut rng = HostRng::seed_from(0);
    let real: Vec<f32> = rng.normal_vec(n_real * dim);
    let fake: Vec<f32> = rng
        .normal_vec(n_fake * dim)
        .into_iter()
        .map(|x| 1.1 * x + 0.05)
        .collect();
    if std::env::args().any(|a| a == "--baseline") {
        let real64: Vec<f64> = real.iter().map(|&x| f64::from(x)).collect();
        let fake64: Vec<f64> = fake.iter().map(|&x| f64::from(x)).collect();
        let start = Instant::now();
        let pr = timed("baseline precision_recall", || {
            baseline::precision_recall(&real64, &fake64, dim, k)
        });
        let dc = timed("baseline density_coverage", || {
            baseline::density_coverage(&real64, &fake64, dim, k)
        });
        println!(
            "{:<34} {:>7.2} s wall",
            "  both baseline functions",
            start.elapsed().as_secs_f64()
        );
        let now = ManifoldReference::new(&real, dim, k)
            .unwrap()
            .evaluate(&fake)
            .unwrap();
        assert_eq!(
            (pr, dc),
            ((now.precision, now.recall), (now.density, now.coverage))
        );
    }
    let start = Instant::now();
    let pr = timed("precision_recall", || {
        precision_recall(&real, &fake, dim, k).unwrap()
    });
    let dc = timed("density_coverage", || {
        density_coverage(&real, &fake, dim, k).unwrap()
    });
    println!(
        "{:<34} {:>7.2} s wall",
        "  both free functions",
        start.elapsed().as_secs_f64()
    );
    let reference = timed("ManifoldReference::new", || {
        ManifoldReference::new(&real, dim, k).unwrap()
    });
    let all = timed("ManifoldReference::evaluate", || {
        reference.evaluate(&fake).unwrap()
    });
    assert_eq!(all.precision_recall(), pr);
    assert_eq!(all.density_coverage(), dc);
    println!("{all:?}");
}
