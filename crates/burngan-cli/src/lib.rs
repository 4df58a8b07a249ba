//! The `burngan` command as a library: `train` runs a GAN from a TOML config on a chosen
//! backend and writes a run directory; `info` lists the compiled backends and the adapter each
//! one finds. `main.rs` only calls [`run`] and maps the [`Failure`] to an exit code, so tests
//! drive the real command in-process.
//!
//! Exit codes: 0 success, 1 run failure (including a backend with no device on this machine),
//! 2 usage or configuration error.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow};
use burngan_backend::{BackendError, BackendKind};
use burngan_train::{
    JsonlMetrics, Observer, PlotWriter, Progress, TrainConfig, TrainError, Workload, run_workload,
    save_module, train_toy, write_atomically,
};
use clap::{Parser, Subcommand};

/// A GAN framework on Burn: the same models, losses and trainer on every backend.
#[derive(Parser, Debug)]
#[command(name = "burngan", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a GAN described by a TOML config and write a run directory.
    Train(TrainArgs),
    /// List the backends compiled into this binary and the device each one finds.
    Info,
    /// Time the benchmark workloads (iterations per second) on one backend.
    Bench(BenchArgs),
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// Backend to time: ndarray, flex, wgpu, vulkan, metal or cuda.
    #[arg(long, value_name = "NAME", default_value = "flex")]
    backend: String,
    /// Workload: ring8-mlp, mnist-dcgan, mnist-dcgan-gp, or all.
    #[arg(long, value_name = "NAME", default_value = "all")]
    workload: String,
    /// Minimum timed seconds per workload (after 10 warm-up iterations).
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    seconds: f64,
}

#[derive(clap::Args, Debug)]
struct TrainArgs {
    /// The run configuration (see assets/configs/).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Backend to train on: ndarray, flex, wgpu, vulkan, metal or cuda.
    #[arg(long, value_name = "NAME", default_value = "flex")]
    backend: String,
    /// Total generator steps (overrides run.steps).
    #[arg(long, value_name = "N")]
    steps: Option<usize>,
    /// Seed of the host RNG (overrides run.seed).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Run directory [default: runs/<config name>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Record metrics every N steps (overrides run.log_every).
    #[arg(long, value_name = "N")]
    log_every: Option<usize>,
    /// Replace the outputs of an earlier run in the same directory.
    #[arg(long)]
    overwrite: bool,
}

/// A failure, classified for the exit code.
#[derive(Debug)]
pub enum Failure {
    /// The command line could not be parsed (clap prints its own message; exit 2).
    Arguments(clap::Error),
    /// The command or config is wrong (exit 2).
    Usage(anyhow::Error),
    /// The run could not be completed (exit 1).
    Run(anyhow::Error),
}

impl Failure {
    /// The process exit code for this failure: 2 for usage errors, 1 for run failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Arguments(_) | Failure::Usage(_) => 2,
            Failure::Run(_) => 1,
        }
    }

    /// The message shown to the user.
    pub fn message(&self) -> String {
        match self {
            Failure::Arguments(error) => error.render().to_string(),
            Failure::Usage(error) | Failure::Run(error) => format!("error: {error:#}"),
        }
    }
}

impl From<TrainError> for Failure {
    fn from(error: TrainError) -> Self {
        if error.is_usage_error() {
            Failure::Usage(error.into())
        } else {
            Failure::Run(error.into())
        }
    }
}

impl From<BackendError> for Failure {
    fn from(error: BackendError) -> Self {
        if error.is_usage_error() {
            Failure::Usage(error.into())
        } else {
            Failure::Run(error.into())
        }
    }
}

/// Runs the command line `args` (the first item is the program name).
///
/// `--help` and `--version` print and return `Ok`.
pub fn run<I, T>(args: I) -> Result<(), Failure>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return Ok(());
        }
        Err(error) => return Err(Failure::Arguments(error)),
    };
    match cli.command {
        Command::Train(args) => train(args),
        Command::Info => info(),
        Command::Bench(args) => bench(args),
    }
}

fn info() -> Result<(), Failure> {
    println!("burngan {}", env!("CARGO_PKG_VERSION"));
    println!("{:<8} {:<9} device", "backend", "compiled");
    for kind in BackendKind::ALL {
        let device = if kind.is_compiled() {
            match burngan_backend::describe(kind) {
                Ok(info) => info.description,
                Err(error) => format!("unavailable: {error}"),
            }
        } else {
            format!("not compiled in (rebuild with --features {kind})")
        };
        let compiled = if kind.is_compiled() { "yes" } else { "no" };
        println!("{:<8} {compiled:<9} {device}", kind.name());
    }
    Ok(())
}

/// Files an earlier run leaves in its directory.
const RUN_FILES: [&str; 3] = ["metrics.jsonl", "eval.json", "config.toml"];

fn prepare_out_dir(out: &Path, overwrite: bool) -> Result<(), Failure> {
    let existing: Vec<&str> = RUN_FILES
        .into_iter()
        .filter(|f| out.join(f).exists())
        .collect();
    if !existing.is_empty() {
        if !overwrite {
            return Err(Failure::Usage(anyhow!(
                "{} already holds a run ({}); choose another --out or pass --overwrite to \
                 replace it",
                out.display(),
                existing.join(", ")
            )));
        }
        for file in existing {
            std::fs::remove_file(out.join(file))
                .with_context(|| format!("cannot remove {}", out.join(file).display()))
                .map_err(Failure::Usage)?;
        }
    }
    std::fs::create_dir_all(out.join("checkpoints"))
        .with_context(|| {
            format!(
                "cannot create output directory {}; choose a writable --out",
                out.display()
            )
        })
        .map_err(Failure::Usage)?;
    // Creating a directory can succeed where writing files does not (read-only mounts).
    let probe = out.join(".burngan-write-test");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .with_context(|| {
            format!(
                "output directory {} is not writable; choose a writable --out",
                out.display()
            )
        })
        .map_err(Failure::Usage)
}

fn train(args: TrainArgs) -> Result<(), Failure> {
    let kind: BackendKind = args.backend.parse()?;
    let mut config = TrainConfig::load(&args.config)?;
    if let Some(steps) = args.steps {
        config.run.steps = steps;
    }
    if let Some(seed) = args.seed {
        config.run.seed = seed;
    }
    if let Some(log_every) = args.log_every {
        config.run.log_every = log_every;
    }
    config.validate()?;
    let name = args
        .config
        .file_stem()
        .map_or("run".into(), |s| s.to_string_lossy().into_owned());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&name));
    let device = burngan_backend::device(kind)?;
    prepare_out_dir(&out, args.overwrite)?;

    let resolved = format!(
        "# Resolved config of a burngan {} run: `burngan train --config {} --backend {kind}`.\n{}",
        env!("CARGO_PKG_VERSION"),
        args.config.display(),
        config.to_toml()
    );
    write_atomically(&out.join("config.toml"), resolved.as_bytes())?;

    let mut progress = Progress::new();
    let mut metrics = JsonlMetrics::append(&out.join("metrics.jsonl"))?;
    let mut plots = PlotWriter::new(&out)?;
    let started = Instant::now();
    let run = {
        let mut observers: [&mut dyn Observer; 3] = [&mut progress, &mut metrics, &mut plots];
        train_toy(&config, &device, &mut observers)?
    };
    let seconds = started.elapsed().as_secs_f64();

    let checkpoint = out.join("checkpoints").join("final");
    std::fs::create_dir_all(&checkpoint)
        .with_context(|| format!("cannot create {}", checkpoint.display()))
        .map_err(Failure::Run)?;
    save_module(&run.generator, &checkpoint.join("generator.bpk"))?;
    save_module(&run.discriminator, &checkpoint.join("discriminator.bpk"))?;

    let evaluation = &run.summary.evaluation;
    let report = serde_json::json!({
        "modes_covered": evaluation.modes_covered,
        "modes_total": evaluation.modes_total,
        "high_quality_fraction": evaluation.high_quality_fraction,
        "high_quality_per_mode": evaluation.high_quality_per_mode,
        "samples": evaluation.samples,
        "steps": run.summary.steps,
        "seed": config.run.seed,
        "backend": kind.name(),
        "train_seconds": seconds,
    });
    let text = serde_json::to_string_pretty(&report)
        .map_err(|e| Failure::Run(anyhow!("cannot encode eval.json: {e}")))?;
    write_atomically(&out.join("eval.json"), text.as_bytes())?;

    println!(
        "{name} on {kind}: {} steps in {seconds:.1} s; {}/{} modes covered, {:.1}% high-quality \
         samples",
        run.summary.steps,
        evaluation.modes_covered,
        evaluation.modes_total,
        100.0 * evaluation.high_quality_fraction
    );
    println!("outputs in {}:", out.display());
    println!("  config.toml, metrics.jsonl, eval.json");
    for path in plots.written().iter().rev().take(2).rev() {
        println!("  {}", path.strip_prefix(&out).unwrap_or(path).display());
    }
    println!("  checkpoints/final/{{generator,discriminator}}.bpk");
    Ok(())
}

fn bench(args: BenchArgs) -> Result<(), Failure> {
    let kind: BackendKind = args.backend.parse()?;
    if !(args.seconds.is_finite() && args.seconds >= 0.0) {
        return Err(Failure::Usage(anyhow!(
            "--seconds must be a finite number ≥ 0, got {}",
            args.seconds
        )));
    }
    let workloads = if args.workload == "all" {
        Workload::ALL.to_vec()
    } else {
        vec![Workload::from_name(&args.workload)?]
    };
    let device = burngan_backend::device(kind)?;
    println!(
        "{:<16} {:<8} {:>10} {:>11} {:>9}",
        "workload", "backend", "it/s", "iterations", "seconds"
    );
    for workload in workloads {
        let result = run_workload(workload, &device, args.seconds, 0)?;
        println!(
            "{:<16} {:<8} {:>10.3} {:>11} {:>9.2}",
            workload.name(),
            kind,
            result.iterations_per_second(),
            result.iterations,
            result.seconds
        );
    }
    Ok(())
}
