//! `burngan bench`: times the WORKLOADS.md workloads on one or every compiled backend, prints
//! iterations/s, GFLOP/s and peak memory, and optionally writes the JSON report, the bar chart
//! and — given PyTorch's JSON from `scripts/pytorch_bench.py` — the ratios and `BENCHMARKS.md`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use burngan_app::TrainConfig;
use burngan_backend::BackendKind;
use burngan_bench::{
    BenchError, BenchOptions, BenchRecord, BenchReport, CriticTiming, TorchReport, Workload,
    report, run_workload, time_critic_updates,
};

use crate::Failure;

#[derive(clap::Args, Debug)]
pub(crate) struct BenchArgs {
    /// Backend to time: ndarray, flex, wgpu, vulkan, metal, cuda, or all (every compiled
    /// backend; one without a device is skipped with a message).
    #[arg(long, value_name = "NAME", default_value = "flex")]
    backend: String,
    /// Workload: ring8-mlp, mnist-mlp, mnist-dcgan, mnist-dcgan-gp, or all.
    #[arg(long, value_name = "NAME", default_value = "all")]
    workload: String,
    /// Minimum timed seconds per workload (after 10 warm-up iterations; at least 10 iterations).
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    seconds: f64,
    /// Time exactly N iterations instead of --seconds (e.g. 10000 to check memory growth).
    #[arg(long, value_name = "N")]
    iterations: Option<usize>,
    /// Batch size of the image workloads (default 64, as WORKLOADS.md); ring8-mlp keeps 512.
    #[arg(long, value_name = "N")]
    batch: Option<usize>,
    /// Skip (and report) a workload whose iterations would need more than S seconds in all
    /// (judged from one warm-up iteration); without it every workload is timed in full.
    #[arg(long, value_name = "S")]
    budget: Option<f64>,
    /// Seed of the host RNG behind weights, data and noise.
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Judge each update's real and generated batch in one critic forward (`[train]
    /// stack_batches = true` of a run config; off by default, as in `burngan train`).
    #[arg(long)]
    stack_batches: bool,
    /// Write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Draw the GFLOP/s (and, with --torch, ratio) bar charts into FILE (PNG).
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
    /// PyTorch results to compare with (`python3 scripts/pytorch_bench.py --json FILE`); may be
    /// given twice (a CPU and a CUDA run).
    #[arg(long, value_name = "FILE")]
    torch: Vec<PathBuf>,
    /// Write BENCHMARKS.md-style Markdown (machine, table, ratios, targets) to FILE.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Instead of the workloads, time the critic updates of a run config (its networks, loss,
    /// penalties and optimizer) for --seconds each and report model GFLOP/s and the cost per
    /// FLOP relative to the first config given (e.g. a DCGAN preset, then residual ones). May
    /// be given several times; uses one backend.
    #[arg(long, value_name = "CONFIG")]
    critic: Vec<PathBuf>,
    /// The command line recorded in the Markdown (set by `cargo xtask bench`).
    #[arg(long, value_name = "TEXT", hide = true)]
    invocation: Option<String>,
}

fn bench_failure(error: BenchError) -> Failure {
    if error.is_usage_error() {
        Failure::Usage(error.into())
    } else {
        Failure::Run(error.into())
    }
}

/// An output path must not be an existing directory (checked before anything runs).
fn check_output(flag: &str, path: &Option<PathBuf>) -> Result<(), Failure> {
    match path {
        Some(p) if p.is_dir() => Err(Failure::Usage(anyhow!(
            "{flag} {} is a directory; name a file, e.g. {}",
            p.display(),
            Path::new(&p).join("bench.out").display()
        ))),
        _ => Ok(()),
    }
}

pub(crate) fn run(args: BenchArgs) -> Result<(), Failure> {
    let options = BenchOptions {
        min_seconds: args.seconds,
        iterations: args.iterations,
        batch: args.batch,
        seed: args.seed,
        budget: args.budget,
        stack_batches: args.stack_batches,
    };
    options.validate().map_err(bench_failure)?;
    if !args.critic.is_empty() {
        return time_critics(&args);
    }
    let workloads = if args.workload == "all" {
        Workload::ALL.to_vec()
    } else {
        vec![Workload::from_name(&args.workload).map_err(bench_failure)?]
    };
    let backends = if args.backend == "all" {
        burngan_backend::available()
            .into_iter()
            // vulkan/metal are wgpu pinned to one API: `wgpu` already times that adapter.
            .filter(|k| !matches!(k, BackendKind::Vulkan | BackendKind::Metal))
            .collect()
    } else {
        vec![args.backend.parse::<BackendKind>()?]
    };
    check_output("--json", &args.json)?;
    check_output("--png", &args.png)?;
    check_output("--markdown", &args.markdown)?;
    // PyTorch's reports are read before timing, so a bad file costs nothing.
    let torch = args
        .torch
        .iter()
        .map(|p| TorchReport::read(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bench_failure)?;

    let mut report = BenchReport::new(args.seconds);
    for kind in backends {
        let info = match burngan_backend::describe(kind) {
            Ok(info) => info,
            Err(error) if args.backend == "all" && !error.is_usage_error() => {
                eprintln!("skipping {kind}: {error}");
                report.skipped.push(format!("{kind}: {error}"));
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        for &workload in &workloads {
            eprintln!("timing {} on {kind} …", workload.name());
            let result = match run_workload(workload, &info.device, &options) {
                Ok(result) => result,
                Err(error @ BenchError::TooSlow { .. }) => {
                    eprintln!("skipping on {kind}: {error}");
                    report.skipped.push(format!("on {kind}: {error}"));
                    continue;
                }
                Err(error) => return Err(bench_failure(error)),
            };
            // A wgpu adapter of device type Cpu (Mesa's lavapipe) runs on the host's cores:
            // it is compared with PyTorch on the CPU, not with CUDA.
            let on_cpu = kind.is_cpu() || info.description.contains("(Cpu,");
            report.results.push(BenchRecord::new(
                &result,
                kind.name(),
                on_cpu,
                &info.description,
            ));
        }
    }
    report.finished_unix = BenchReport::new(0.0).finished_unix;
    print!("{}", report::render_text(&report::compare(&report, &torch)));
    if let Some(path) = &args.json {
        report.write_json(path).map_err(bench_failure)?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.png {
        report::write_chart(path, &report, &torch).map_err(bench_failure)?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.markdown {
        let invocation = args
            .invocation
            .clone()
            .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" "));
        let figure = args.png.as_ref().map(|png| relative_to(png, path));
        let text = report::render_markdown(&report, &torch, &invocation, figure.as_deref());
        report::write_file(path, text.as_bytes()).map_err(bench_failure)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// `target` as a path relative to the directory of `from` when it lies below it (for links in
/// Markdown), else as given.
fn relative_to(target: &Path, from: &Path) -> String {
    let base = from.parent().unwrap_or(Path::new(""));
    target
        .strip_prefix(base)
        .unwrap_or(target)
        .to_string_lossy()
        .into_owned()
}

/// `--critic`: times each config's critic updates on one backend and prints the table.
fn time_critics(args: &BenchArgs) -> Result<(), Failure> {
    let kind = args.backend.parse::<BackendKind>()?;
    let info = burngan_backend::describe(kind)?;
    check_output("--json", &args.json)?;
    let mut timings: Vec<CriticTiming> = Vec::with_capacity(args.critic.len());
    for path in &args.critic {
        let config = TrainConfig::load(path).map_err(|e| Failure::Usage(e.into()))?;
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        eprintln!("timing the critic updates of {name} on {kind} …");
        let timing = time_critic_updates(&config, &name, &info.device, args.batch, args.seconds)
            .map_err(bench_failure)?;
        timings.push(timing);
    }
    println!("{}", info.description);
    println!(
        "{:<20} {:<8} {:>5} {:>10} {:>10} {:>6} {:>9} {:>8} {:>14}",
        "config",
        "critic",
        "batch",
        "G MMAC",
        "D MMAC",
        "pen.",
        "updates/s",
        "GFLOP/s",
        "cost per FLOP"
    );
    let base = timings[0].gflops();
    for t in &timings {
        println!(
            "{:<20} {:<8} {:>5} {:>10.2} {:>10.2} {:>6} {:>9.3} {:>8.1} {:>13.2}×",
            t.name,
            t.critic,
            t.batch,
            t.generator_multiply_adds / 1e6,
            t.critic_multiply_adds / 1e6,
            t.penalties,
            t.updates as f64 / t.seconds,
            t.gflops(),
            base / t.gflops()
        );
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&timings).map_err(|e| Failure::Run(e.into()))?;
        report::write_file(path, text.as_bytes()).map_err(bench_failure)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
