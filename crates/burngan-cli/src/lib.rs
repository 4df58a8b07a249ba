//! The `burngan` command as a library: `train` runs a GAN from a TOML config on a chosen
//! backend and writes a run directory (and continues one with `--resume`); `sample` draws an
//! image grid from a checkpoint; `export` writes a checkpoint's generator as safetensors;
//! `bench` times the benchmark workloads; `eval` scores a checkpoint; `lab` runs the theory
//! lab's experiments; `info` lists the compiled backends, the adapter each one finds and the
//! malloc settings in effect. `main.rs` only calls [`run`] and maps the [`Failure`] to an exit
//! code (after [`malloc::reexec_with_malloc_tunables`]), so tests drive the real command
//! in-process.
//!
//! Exit codes: 0 success, 1 run failure (including a backend with no device on this machine),
//! 2 usage or configuration error, 130 interrupted by Ctrl-C (after writing a checkpoint).
//!
//! # Example
//!
//! ```
//! // `burngan train --backend tpu …` in-process: a usage error, exit code 2.
//! let failure = burngan_cli::run(["burngan", "train", "--config", "x.toml", "--backend", "tpu"])
//!     .unwrap_err();
//! assert_eq!(failure.exit_code(), 2);
//! assert!(failure.message().contains("'tpu' is not a backend"));
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, anyhow};
use burn::tensor::Device;
use burngan_app::{
    AppError, DataConfig, EVAL_METRICS, GeneratorConfig, ImageEvaluator, ImageGenerator,
    JsonlMetrics, PlotWriter, Progress, Run, RunControl, RunLock, Taken, TrainConfig,
    image_evaluator, image_grid_png, load_image_generator, load_images, train_images_on,
    train_toy_with,
};
use burngan_backend::{BackendError, BackendKind};
use burngan_core::{Generator, HostRng};
use burngan_data::ImageDataset;
use burngan_metrics::ModeCoverage;
use burngan_train::{
    CheckpointFault, CheckpointState, NonFiniteEntry, Observer, StepMetrics, TrainError, files,
    find_checkpoint, generate_on_host, load_module, read_checkpoint_state, write_atomically,
};
use clap::{Parser, Subcommand};

mod bench;
mod eval;
mod lab;
pub mod malloc;
mod sittings;
pub mod wait;

pub use wait::{Spinners, WaitPolicy};

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
    /// Draw a grid of images from a checkpoint's generator.
    Sample(SampleArgs),
    /// Write a checkpoint's generator weights as safetensors with PyTorch names.
    Export(ExportArgs),
    /// List the backends compiled into this binary and the device each one finds.
    Info,
    /// Time the benchmark workloads (iterations/s, GFLOP/s, peak memory) on one or every
    /// backend; with PyTorch results, print the ratios and write BENCHMARKS.md.
    Bench(bench::BenchArgs),
    /// Score a checkpoint's generator (FD, classifier score, class coverage,
    /// precision/recall) with the shipped feature network, or train such a network.
    Eval(eval::EvalArgs),
    /// Run the theory lab: the textbook claims about GANs as seeded experiments, each
    /// printing a table and appending a section (with figures) to DIR/report.md.
    Lab(lab::LabArgs),
}

#[derive(clap::Args, Debug)]
struct TrainArgs {
    /// The run configuration (see assets/configs/).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "resume",
        conflicts_with = "resume"
    )]
    config: Option<PathBuf>,
    /// Backend to train on: ndarray, flex, wgpu, vulkan, metal or cuda.
    #[arg(long, value_name = "NAME", default_value = "flex")]
    backend: String,
    /// Total generator steps of the run (overrides run.steps; with --resume, the new total).
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
    /// Image data: an IDX image file (labels found beside it) or a folder of PNG/JPEG images
    /// (overrides data.path of an image config).
    #[arg(long, value_name = "PATH")]
    data: Option<PathBuf>,
    /// The IDX labels file of --data, when it is not beside the images.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Continue the run in DIR from its newest checkpoint, appending to its metrics.jsonl;
    /// --steps gives the run's new total.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = ["out", "overwrite", "seed", "data", "labels"]
    )]
    resume: Option<PathBuf>,
    /// Stop after step N with a checkpoint (the run keeps its total length and schedule;
    /// continue it with --resume).
    #[arg(long, value_name = "N")]
    stop_at: Option<usize>,
}

#[derive(clap::Args, Debug)]
struct SampleArgs {
    /// A run directory, its checkpoints/ directory or one checkpoint directory.
    #[arg(long, value_name = "DIR")]
    checkpoint: PathBuf,
    /// Number of images [default: 64, or 8 per class for a conditional run without --class].
    #[arg(long, value_name = "N")]
    n: Option<usize>,
    /// Draw every image from class K (class-conditional runs); without it a conditional
    /// generator draws one row of 8 per class.
    #[arg(long, value_name = "K")]
    class: Option<usize>,
    /// The PNG grid to write.
    #[arg(long, value_name = "FILE.png")]
    out: PathBuf,
    /// Seed of the latent noise.
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Use the generator itself, not its moving average, when the run kept one.
    #[arg(long)]
    no_ema: bool,
    /// Backend to generate on.
    #[arg(long, value_name = "NAME", default_value = "flex")]
    backend: String,
}

#[derive(clap::Args, Debug)]
struct ExportArgs {
    /// A run directory, its checkpoints/ directory or one checkpoint directory.
    #[arg(long, value_name = "DIR")]
    checkpoint: PathBuf,
    /// The safetensors file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Export the generator itself, not its moving average, when the run kept one.
    #[arg(long)]
    no_ema: bool,
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
    /// Ctrl-C stopped the run after a checkpoint (exit 130).
    Interrupted(anyhow::Error),
}

impl Failure {
    /// The process exit code for this failure: 2 for usage errors, 1 for run failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Arguments(_) | Failure::Usage(_) => 2,
            Failure::Run(_) => 1,
            Failure::Interrupted(_) => 130,
        }
    }

    /// The message shown to the user.
    pub fn message(&self) -> String {
        match self {
            Failure::Arguments(error) => error.render().to_string(),
            Failure::Usage(error) | Failure::Run(error) => format!("error: {error:#}"),
            Failure::Interrupted(error) => format!("{error:#}"),
        }
    }
}

impl From<AppError> for Failure {
    fn from(error: AppError) -> Self {
        let usage = error.is_usage_error();
        let error = match error {
            AppError::Interrupted { .. } => return Failure::Interrupted(error.into()),
            AppError::Train(train) => with_flag_hint(train),
            other => other.into(),
        };
        if usage {
            Failure::Usage(error)
        } else {
            Failure::Run(error)
        }
    }
}

impl From<TrainError> for Failure {
    fn from(error: TrainError) -> Self {
        AppError::from(error).into()
    }
}

/// The training library's error with the command-line remedy its case calls for (the
/// library names files and settings, never flags).
fn with_flag_hint(error: TrainError) -> anyhow::Error {
    let suffix = match &error {
        TrainError::Checkpoint { dir, fault, .. } => match fault {
            CheckpointFault::NotACheckpoint => {
                "; pass the --out directory of an earlier burngan train run".to_string()
            }
            CheckpointFault::NoneComplete => format!(
                ": burngan train --config FILE --out {} --overwrite",
                dir.display()
            ),
            // The library's remedy for a damaged checkpoint ends "or start the run again".
            CheckpointFault::Damaged => " (--overwrite starts it again)".into(),
            CheckpointFault::Mismatch => {
                "; resume with the run directory's own config.toml (burngan train --resume DIR \
                 reads it)"
                    .into()
            }
            CheckpointFault::Format => return error.into(),
        },
        TrainError::TooManySkipped { .. } => {
            " (the config's train.on_non_finite = \"skip\")".into()
        }
        _ => return error.into(),
    };
    anyhow!("{error}{suffix}")
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

/// Makes the calling thread one of the CPU backends' compute threads (rayon's global pool,
/// `RAYON_NUM_THREADS` of them, this one included) unless `args` run `lab`, and with
/// [`WaitPolicy::Active`] starts the spinners of [`wait`] on the pool's other threads. The binary
/// calls it first, from its main thread, before any tensor exists.
///
/// Without it the training loop's thread hands every parallel kernel to the pool's threads and
/// sleeps until they finish: with two threads on two cores, three threads take turns, and a
/// small kernel costs a wake-up on each side. As a pool thread, the loop's thread runs its share
/// of each kernel itself (with one thread, all of it, with no hand-over). `lab` is left out: it
/// runs its experiments on threads of its own and waits for them, and a pool whose only thread
/// waits would never run their kernels. Returns whether the pool was built here (false when
/// `lab` runs, or a pool already exists).
pub fn join_compute_pool<T: AsRef<std::ffi::OsStr>>(args: &[T], policy: WaitPolicy) -> bool {
    let joined = !runs_lab(args)
        && rayon::ThreadPoolBuilder::new()
            .use_current_thread()
            .build_global()
            .is_ok();
    if joined && policy == WaitPolicy::Active && rayon::current_num_threads() > 1 {
        // They spin for the life of the process; the static only keeps them reachable.
        let _ = SPINNERS.set(Spinners::start_global(wait::SPIN_WINDOW));
    }
    joined
}

/// The spinners [`join_compute_pool`] started, if any.
static SPINNERS: std::sync::OnceLock<Spinners> = std::sync::OnceLock::new();

/// Whether the command line `args` (program name first) names the `lab` subcommand: its first
/// argument that is not an option.
fn runs_lab<T: AsRef<std::ffi::OsStr>>(args: &[T]) -> bool {
    args.iter()
        .skip(1)
        .map(AsRef::as_ref)
        .find(|a| !a.to_string_lossy().starts_with('-'))
        == Some(std::ffi::OsStr::new("lab"))
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
        Command::Sample(args) => sample(args),
        Command::Export(args) => export(args),
        Command::Info => info(),
        Command::Bench(args) => bench::run(args),
        Command::Eval(args) => eval::eval(args),
        Command::Lab(args) => lab::lab(args),
    }
}

fn info() -> Result<(), Failure> {
    println!("burngan {}", env!("CARGO_PKG_VERSION"));
    println!("{:<8} {:<9} device", "backend", "compiled");
    if let Some(note) = wayland_note(std::env::var_os("XDG_RUNTIME_DIR").as_deref()) {
        eprintln!("{note}");
    }
    for kind in BackendKind::ALL {
        let device = if kind.is_compiled() {
            match burngan_backend::describe(kind) {
                Ok(info) => info.description,
                Err(error) => format!("unavailable: {error}"),
            }
        } else {
            not_compiled(kind)
        };
        let compiled = if kind.is_compiled() { "yes" } else { "no" };
        println!("{:<8} {compiled:<9} {device}", kind.name());
    }
    println!(
        "malloc: {}",
        malloc::describe(std::env::var_os(malloc::TUNABLES_VAR).as_deref())
    );
    println!("{}", describe_compute_threads());
    Ok(())
}

/// What `info` says of the CPU backends' compute threads: how many, and how idle ones wait.
fn describe_compute_threads() -> String {
    let policy = match WaitPolicy::from_var(std::env::var_os(wait::WAIT_POLICY_VAR).as_deref()) {
        Ok(policy) => policy.name().to_string(),
        Err(error) => error,
    };
    let spinning = SPINNERS.get().map_or(0, Spinners::running);
    format!(
        "compute threads: {} (RAYON_NUM_THREADS), wait policy: {policy} ({}), {spinning} \
         spinning",
        rayon::current_num_threads(),
        wait::WAIT_POLICY_VAR
    )
}

/// What `info` says of a backend this build lacks.
fn not_compiled(kind: BackendKind) -> String {
    match kind {
        BackendKind::Cuda => "not compiled in; `--features cuda` cannot be built offline (Burn \
                              0.22.1's CUDA runtime needs cubecl-llvm, whose build script \
                              downloads an LLVM bundle): on an NVIDIA GPU use wgpu over the \
                              vendor's Vulkan driver"
            .to_string(),
        _ => format!("not compiled in (rebuild with --features {kind})"),
    }
}

/// The line `info` prints before probing the GPU backends on Linux when `XDG_RUNTIME_DIR` (the
/// given value) is unset or not an absolute path: the probe then makes the Wayland client
/// library, called by Mesa's Vulkan device-select layer (`VkLayer_MESA_device_select`, which
/// `NODEVICE_SELECT=1` turns off) while it looks for the display's GPU, print `error:
/// XDG_RUNTIME_DIR is invalid or not set in the environment.` once per adapter enumeration
/// (four times with lavapipe). The program cannot set the variable for itself (`set_var` is unsafe and the
/// workspace forbids unsafe code), so it says what those lines mean instead.
fn wayland_note(xdg_runtime_dir: Option<&std::ffi::OsStr>) -> Option<&'static str> {
    let valid = xdg_runtime_dir.is_some_and(|dir| Path::new(dir).is_absolute());
    (cfg!(target_os = "linux") && BackendKind::Wgpu.is_compiled() && !valid).then_some(
        "note: XDG_RUNTIME_DIR is unset or not absolute, so Mesa's Vulkan device-select layer \
         may print `error: XDG_RUNTIME_DIR is invalid or not set` below while it looks for a \
         Wayland display; harmless (burngan needs no display); set XDG_RUNTIME_DIR (e.g. to \
         /run/user/$(id -u)) or NODEVICE_SELECT=1 to silence it",
    )
}

/// Files an earlier run leaves in its directory.
const RUN_FILES: [&str; 3] = ["metrics.jsonl", "eval.json", "config.toml"];

fn prepare_out_dir(out: &Path, overwrite: bool) -> Result<(), Failure> {
    let mut existing: Vec<&str> = RUN_FILES
        .into_iter()
        .filter(|f| out.join(f).exists())
        .collect();
    let checkpoints = out.join("checkpoints");
    if std::fs::read_dir(&checkpoints).is_ok_and(|mut entries| entries.next().is_some()) {
        existing.push("checkpoints/");
    }
    if !existing.is_empty() {
        if !overwrite {
            return Err(Failure::Usage(anyhow!(
                "{} already holds a run ({}); continue it with --resume {}, choose another \
                 --out, or pass --overwrite to replace it",
                out.display(),
                existing.join(", "),
                out.display()
            )));
        }
        // The old run's checkpoints go first (a resume must never mix two runs), then its
        // grids and files.
        for dir in ["checkpoints", "samples"].map(|d| out.join(d)) {
            if dir.is_dir() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot remove {}", dir.display()))
                    .map_err(Failure::Usage)?;
            }
        }
        for file in RUN_FILES.into_iter().filter(|f| out.join(f).exists()) {
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

/// The recorded steps of `metrics.jsonl` up to `step`; the file is rewritten without the
/// later lines (steps a stopped run logged after its last checkpoint, which the resumed run
/// records again).
///
/// A line that is not a step's metrics ends the kept part, with a warning on standard error:
/// a line cut short when the process was killed mid-write (only ever the last), or the line a
/// run that stopped on a non-finite value ends with.
fn truncate_metrics(path: &Path, step: usize) -> Result<Vec<StepMetrics>, Failure> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(AppError::io("cannot read", path, e).into()),
    };
    // A kill can cut a line inside a multi-byte character: read it lossily, it is dropped.
    let text = String::from_utf8_lossy(&bytes);
    let mut kept = String::new();
    let mut history = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Ok(metrics) = serde_json::from_str::<StepMetrics>(line) else {
            let later = text.lines().count() - index - 1;
            let what = match serde_json::from_str::<NonFiniteEntry>(line) {
                Ok(entry) => format!(
                    "records that the run stopped at step {} ({} was {})",
                    entry.step, entry.quantity, entry.value
                ),
                Err(_) => "is not a complete step record (cut short when the run was \
                           killed?)"
                    .to_string(),
            };
            eprintln!(
                "warning: {} line {} {what}; resuming from step {step}, it and {later} later \
                 line(s) were dropped",
                path.display(),
                index + 1,
            );
            break;
        };
        if metrics.step > step {
            break;
        }
        kept.push_str(line);
        kept.push('\n');
        history.push(metrics);
    }
    write_atomically(path, kept.as_bytes())?;
    Ok(history)
}

/// Ctrl-C (and SIGTERM) set the returned flag: the run stops after its current step with a
/// checkpoint. A second Ctrl-C ends the process at once.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Failing to install a handler only loses the graceful stop, so it is not an error.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag));
        let _ = signal_hook::flag::register(signal, Arc::clone(&flag));
    }
    flag
}

/// Records whether a run got as far as starting (its trainer built, checkpoint loaded).
struct Started(bool);

impl Observer for Started {
    fn on_start(&mut self, _info: &burngan_train::RunInfo) -> Result<(), TrainError> {
        self.0 = true;
        Ok(())
    }
}

/// The header of a run's `config.toml`.
fn resolved_text(config: &TrainConfig, command: &str) -> String {
    format!(
        "# Resolved config of a burngan {} run: `{command}`.\n{}",
        env!("CARGO_PKG_VERSION"),
        config.to_toml()
    )
}

/// `burngan train`: resolve the config, prepare the run directory, run, report.
fn train(args: TrainArgs) -> Result<(), Failure> {
    let kind: BackendKind = args.backend.parse()?;
    let plan = resolve_train_config(&args)?;
    let device = burngan_backend::device(kind)?;
    // Bad image data and a missing or corrupt feature network are reported before anything
    // is written.
    let data = load_run_data(&plan.config, &device)?;
    let run_dir = prepare_run_dir(&args, &plan, kind)?;
    let finished = run_training(&args, &plan, kind, &device, data, run_dir)?;
    report_run(&plan, kind, &finished)
}

/// What `burngan train` is asked to run, known before anything is written.
struct TrainPlan {
    /// The config with the command line's overrides applied, data named by absolute path,
    /// validated.
    config: TrainConfig,
    /// The run directory.
    out: PathBuf,
    /// The run's name in the closing line (the config's file stem or the resumed directory's
    /// name).
    name: String,
    /// When resuming: the state of the checkpoint the run continues from.
    resume_from: Option<CheckpointState>,
}

/// Resolves what to run from `--resume` or `--config` and the overrides, and refuses a run
/// that has nothing left to train or a `--stop-at` outside it.
fn resolve_train_config(args: &TrainArgs) -> Result<TrainPlan, Failure> {
    let mut plan = locate_run(args)?;
    apply_overrides(&mut plan.config, args)?;
    absolute_data_paths(&mut plan.config);
    let config = &mut plan.config;
    if let Some(eval) = &mut config.eval {
        eval.samples = Some(eval.samples_for(&config.data));
    }
    config.validate()?;
    check_run_length(&plan, args.stop_at)?;
    Ok(plan)
}

/// The config as read, the run directory and its name: from the newest checkpoint of the
/// `--resume` directory (with that checkpoint's state), or from the `--config` file.
fn locate_run(args: &TrainArgs) -> Result<TrainPlan, Failure> {
    match (&args.resume, &args.config) {
        (Some(dir), _) => {
            if dir.join(files::STATE).is_file() || !dir.join("checkpoints").is_dir() {
                return Err(Failure::Usage(anyhow!(
                    "{} is not a run directory (it has no checkpoints/ directory); pass the \
                     --out directory of an earlier burngan train run, not one of its \
                     checkpoints",
                    dir.display()
                )));
            }
            let checkpoint = find_checkpoint(dir)?;
            let state = read_checkpoint_state(&checkpoint)?;
            // The config stored with the checkpoint, not the run directory's copy, which a
            // later invocation may have rewritten.
            let config = checkpoint_config_file(&checkpoint)?;
            let name = dir
                .file_name()
                .map_or("run".into(), |s| s.to_string_lossy().into_owned());
            Ok(TrainPlan {
                config,
                out: dir.clone(),
                name,
                resume_from: Some(state),
            })
        }
        (None, Some(path)) => {
            let name = path
                .file_stem()
                .map_or("run".into(), |s| s.to_string_lossy().into_owned());
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs").join(&name));
            Ok(TrainPlan {
                config: TrainConfig::load(path)?,
                out,
                name,
                resume_from: None,
            })
        }
        (None, None) => Err(Failure::Usage(anyhow!(
            "pass --config FILE to start a run or --resume DIR to continue one"
        ))),
    }
}

/// Applies `--steps`, `--seed`, `--log-every`, `--data` and `--labels` to `config`; the last
/// two only to an image config.
fn apply_overrides(config: &mut TrainConfig, args: &TrainArgs) -> Result<(), Failure> {
    if let Some(steps) = args.steps {
        config.run.steps = steps;
    }
    if let Some(seed) = args.seed {
        config.run.seed = seed;
    }
    if let Some(log_every) = args.log_every {
        config.run.log_every = log_every;
    }
    if args.data.is_some() || args.labels.is_some() {
        let DataConfig::Images(images) = &mut config.data else {
            return Err(Failure::Usage(anyhow!(
                "--data and --labels apply to image configs ([data] kind = \"images\"); this \
                 config trains on toy data"
            )));
        };
        if let Some(data) = &args.data {
            images.path = data.clone();
            images.labels = None;
        }
        if let Some(labels) = &args.labels {
            images.labels = Some(labels.clone());
        }
    }
    Ok(())
}

/// Names an image config's data, labels and feature network by absolute path where they
/// exist, so that a resume works from any directory.
fn absolute_data_paths(config: &mut TrainConfig) {
    let DataConfig::Images(images) = &mut config.data else {
        return;
    };
    if let Ok(path) = std::fs::canonicalize(&images.path) {
        images.path = path;
    }
    if let Some(labels) = &images.labels
        && let Ok(path) = std::fs::canonicalize(labels)
    {
        images.labels = Some(path);
    }
    // The feature network too (a missing one is reported later, before any output).
    if let Some(eval) = &mut config.eval
        && let Ok(path) = std::fs::canonicalize(eval.classifier_path())
    {
        eval.classifier = Some(path);
    }
}

/// Refuses a resumed run that already reached its total and a `--stop-at` that is not after
/// the steps done or lies beyond the total.
fn check_run_length(plan: &TrainPlan, stop_at: Option<usize>) -> Result<(), Failure> {
    let config = &plan.config;
    let done = plan.resume_from.as_ref().map_or(0, |state| state.step);
    if done >= config.run.steps {
        return Err(Failure::Usage(anyhow!(
            "the run in {} already reached step {done} of {}; pass --steps larger than {done} \
             to train further",
            plan.out.display(),
            config.run.steps
        )));
    }
    if let Some(stop) = stop_at
        && (stop <= done || stop > config.run.steps)
    {
        return Err(Failure::Usage(anyhow!(
            "--stop-at must be after step {done} and at most the run's {} steps, got {stop}",
            config.run.steps
        )));
    }
    Ok(())
}

/// An image run's data and its periodic evaluator (none for toy data or without `[eval]`).
struct RunData {
    dataset: Option<ImageDataset>,
    evaluator: Option<ImageEvaluator>,
}

/// Loads an image config's data and feature network.
fn load_run_data(config: &TrainConfig, device: &Device) -> Result<RunData, Failure> {
    let dataset = match &config.data {
        DataConfig::Images(_) => Some(load_images(config)?),
        DataConfig::Toy(_) => None,
    };
    let evaluator = match &dataset {
        Some(dataset) => image_evaluator(config, dataset, device)?,
        None => None,
    };
    if let (Some(evaluator), Some(dataset), DataConfig::Images(images)) =
        (&evaluator, &dataset, &config.data)
    {
        for warning in evaluator.data_warnings(dataset, &images.path) {
            eprintln!("warning: [eval]: {warning}");
        }
    }
    Ok(RunData { dataset, evaluator })
}

/// The run directory, held and ready for the run.
struct RunDir {
    /// Held until the command ends.
    lock: RunLock,
    /// What a resume rewrites (metrics.jsonl, config.toml), as it was: put back when the
    /// checkpoint turns out unusable before the first step.
    originals: Vec<(PathBuf, Vec<u8>)>,
    /// The steps recorded before a resume's checkpoint.
    history: Vec<StepMetrics>,
    /// The resolved config, as written to config.toml.
    resolved: String,
}

/// Takes the run directory's lock, then either truncates a resumed run's metrics to its
/// checkpoint or empties and creates a new run's directory, and writes config.toml.
fn prepare_run_dir(
    args: &TrainArgs,
    plan: &TrainPlan,
    kind: BackendKind,
) -> Result<RunDir, Failure> {
    let out = &plan.out;
    // Nothing in `out` is touched (not even by --overwrite) while another run holds it.
    let lock = lock_run_dir(out)?;
    let originals: Vec<(PathBuf, Vec<u8>)> = if plan.resume_from.is_some() {
        ["metrics.jsonl", "config.toml"]
            .map(|name| out.join(name))
            .into_iter()
            .filter_map(|path| std::fs::read(&path).ok().map(|bytes| (path, bytes)))
            .collect()
    } else {
        Vec::new()
    };
    let history = match &plan.resume_from {
        Some(state) => {
            if state.backend != kind.name() {
                eprintln!(
                    "note: the run was trained on {}; continuing on {kind} will not be \
                     bit-identical to an uninterrupted run",
                    state.backend
                );
            }
            truncate_metrics(&out.join("metrics.jsonl"), state.step)?
        }
        None => {
            prepare_out_dir(out, args.overwrite)?;
            Vec::new()
        }
    };
    let resolved = resolved_text(&plan.config, &train_command(args, kind));
    write_atomically(&out.join("config.toml"), resolved.as_bytes())?;
    Ok(RunDir {
        lock,
        originals,
        history,
        resolved,
    })
}

/// Takes the lock of the run directory `out`, with a note when it was left by a process
/// that no longer runs.
fn lock_run_dir(out: &Path) -> Result<RunLock, Failure> {
    let (lock, taken) = RunLock::acquire(out).map_err(|error| match error {
        AppError::Io { .. } => Failure::Usage(error.into()),
        other => other.into(),
    })?;
    if let Taken::Stale { pid } = taken {
        eprintln!(
            "note: took over {} from process {pid}, which no longer runs (a run that was \
             killed)",
            out.join(burngan_app::LOCK_FILE).display()
        );
    }
    Ok(lock)
}

/// The command line that starts (or resumes) this run, for config.toml's header.
fn train_command(args: &TrainArgs, kind: BackendKind) -> String {
    match (&args.resume, &args.config) {
        (Some(dir), _) => format!("burngan train --resume {} --backend {kind}", dir.display()),
        (None, config) => format!(
            "burngan train --config {} --backend {kind}",
            config.as_deref().unwrap_or(Path::new("?")).display()
        ),
    }
}

/// The command's observers of a run: progress bar, metrics.jsonl and plots.
struct RunObservers {
    progress: Progress,
    metrics: JsonlMetrics,
    plots: PlotWriter,
}

/// The observers of a run in `plan.out`, its plots continuing `history`.
fn run_observers(plan: &TrainPlan, history: Vec<StepMetrics>) -> Result<RunObservers, Failure> {
    let progress = Progress::new();
    let metrics = JsonlMetrics::append(&plan.out.join("metrics.jsonl"))?;
    let mut plots = PlotWriter::new(&plan.out)?.with_history(history);
    if let DataConfig::Toy(toy) = &plan.config.data {
        let mixture = toy.build().map_err(|e| Failure::Usage(anyhow!("{e}")))?;
        plots = plots.with_centres(mixture.centres().to_vec());
    }
    Ok(RunObservers {
        progress,
        metrics,
        plots,
    })
}

/// What a run returned.
struct Outcome {
    /// Generator steps done.
    steps: usize,
    /// Toy runs: mode coverage at the end.
    evaluation: Option<ModeCoverage>,
    /// The last checkpoint written, if any.
    checkpoint: Option<PathBuf>,
    /// True when the run ended at `--stop-at`.
    stopped_early: bool,
    /// The steps this invocation recorded.
    recorded: Vec<StepMetrics>,
}

impl Outcome {
    /// The outcome of `run`, with its evaluation when `keep_evaluation` (toy runs).
    fn of<G, C>(run: Run<G, C>, keep_evaluation: bool) -> Self {
        Self {
            steps: run.steps,
            evaluation: run.evaluation.filter(|_| keep_evaluation),
            checkpoint: run.checkpoint,
            stopped_early: run.stopped_early,
            recorded: run.metrics,
        }
    }
}

/// A finished (or stopped) run, with what the command keeps until it ends.
struct Finished {
    outcome: Outcome,
    /// Seconds this sitting took.
    seconds: f64,
    /// Seconds of every sitting of the run ([`sittings`]), when they chain from step 0.
    run_seconds: Option<f64>,
    observers: RunObservers,
    /// Dropped last, after the observers.
    _lock: RunLock,
}

/// Runs the training on `device`; when it fails before its first step, the run directory's
/// rewritten files go back to what they were.
fn run_training(
    args: &TrainArgs,
    plan: &TrainPlan,
    kind: BackendKind,
    device: &Device,
    data: RunData,
    run_dir: RunDir,
) -> Result<Finished, Failure> {
    let control = RunControl {
        dir: Some(plan.out.clone()),
        resume: args.resume.is_some(),
        stop_at: args.stop_at,
        interrupt: Some(interrupt_flag()),
        backend: kind.name().to_string(),
        config_text: run_dir.resolved,
    };
    let mut observers = run_observers(plan, run_dir.history)?;
    let started = Instant::now();
    let mut started_run = Started(false);
    let outcome = run_with(
        &plan.config,
        device,
        data,
        &mut started_run,
        &mut observers,
        &control,
    );
    let seconds = started.elapsed().as_secs_f64();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(failure) => {
            if !started_run.0 {
                // Nothing was trained: the run directory goes back to what it was.
                for (path, bytes) in &run_dir.originals {
                    write_atomically(path, bytes)?;
                }
            } else if matches!(failure, Failure::Interrupted(_))
                && let Ok(state) =
                    find_checkpoint(&plan.out).and_then(|c| read_checkpoint_state(&c))
            {
                // Ctrl-C checkpointed its last step: the sitting's steps are kept.
                record_sitting(plan, kind, state.step, seconds)?;
            }
            return Err(failure);
        }
    };
    let run_seconds = record_sitting(plan, kind, outcome.steps, seconds)?;
    Ok(Finished {
        outcome,
        seconds,
        run_seconds,
        observers,
        _lock: run_dir.lock,
    })
}

/// Adds this sitting (from the resumed checkpoint's step, or 0, to `to`) to the run's
/// `sittings.jsonl`; returns the seconds of all its sittings when they chain from step 0.
fn record_sitting(
    plan: &TrainPlan,
    kind: BackendKind,
    to: usize,
    seconds: f64,
) -> Result<Option<f64>, Failure> {
    let from = plan.resume_from.as_ref().map(|state| state.step);
    let mut ledger = sittings::kept(&plan.out, from);
    ledger.push(sittings::Sitting {
        from: from.unwrap_or(0),
        to,
        seconds,
        backend: kind.name().to_string(),
    });
    sittings::write(&plan.out, &ledger)?;
    Ok(sittings::total_seconds(&ledger, to))
}

/// Trains a toy or an image run, as `config` says, under `control`.
fn run_with(
    config: &TrainConfig,
    device: &Device,
    data: RunData,
    started_run: &mut Started,
    observers: &mut RunObservers,
    control: &RunControl,
) -> Result<Outcome, Failure> {
    let mut all: [&mut dyn Observer; 4] = [
        started_run,
        &mut observers.progress,
        &mut observers.metrics,
        &mut observers.plots,
    ];
    match &config.data {
        DataConfig::Toy(_) => train_toy_with(config, device, &mut all, control)
            .map(|run| Outcome::of(run, true))
            .map_err(Failure::from),
        DataConfig::Images(_) => {
            let dataset = data
                .dataset
                .ok_or_else(|| Failure::Run(anyhow!("image data not loaded")))?;
            train_images_on(
                dataset,
                data.evaluator.as_ref(),
                config,
                device,
                &mut all,
                control,
            )
            .map(|run| Outcome::of(run, false))
            .map_err(Failure::from)
        }
    }
}

/// The last periodic evaluation of this invocation ([eval]): its step and values.
type LastEval<'a> = Option<(usize, &'a std::collections::BTreeMap<String, f64>)>;

/// Writes eval.json and tells what the run did and where its outputs are.
fn report_run(plan: &TrainPlan, kind: BackendKind, finished: &Finished) -> Result<(), Failure> {
    let outcome = &finished.outcome;
    let last_eval: LastEval<'_> = outcome
        .recorded
        .iter()
        .rev()
        .find_map(|m| m.eval.as_ref().map(|values| (m.step, values)));
    let report = eval_report(plan, kind, finished, last_eval);
    let text = serde_json::to_string_pretty(&report)
        .map_err(|e| Failure::Run(anyhow!("cannot encode eval.json: {e}")))?;
    write_atomically(&plan.out.join("eval.json"), text.as_bytes())?;
    print_results(plan, kind, finished, last_eval);
    print_outputs(&plan.out, finished);
    if outcome.stopped_early {
        println!(
            "stopped at step {} as asked; continue with: burngan train --resume {} \
             --backend {kind}",
            outcome.steps,
            plan.out.display()
        );
    }
    Ok(())
}

/// The contents of eval.json.
fn eval_report(
    plan: &TrainPlan,
    kind: BackendKind,
    finished: &Finished,
    last_eval: LastEval<'_>,
) -> serde_json::Value {
    let config = &plan.config;
    let mut report = serde_json::json!({
        "steps": finished.outcome.steps,
        "total_steps": config.run.steps,
        "seed": config.run.seed,
        "backend": kind.name(),
        "train_seconds": finished.seconds,
    });
    if let Some(seconds) = finished.run_seconds {
        report["run_train_seconds"] = seconds.into();
    }
    if let Some(evaluation) = &finished.outcome.evaluation {
        report["modes_covered"] = evaluation.modes_covered.into();
        report["modes_total"] = evaluation.modes_total.into();
        report["high_quality_fraction"] = evaluation.high_quality_fraction.into();
        report["high_quality_per_mode"] = evaluation.high_quality_per_mode.clone().into();
        // PacGAN's reverse KL of the high-quality mode histogram to uniform; absent when no
        // sample is of high quality (the histogram has no mass).
        if let Ok(kl) = burngan_metrics::mode_reverse_kl(&evaluation.high_quality_per_mode) {
            report["mode_kl"] = kl.into();
        }
        report["samples"] = evaluation.samples.into();
    }
    if let Some((step, values)) = last_eval {
        report["eval_step"] = step.into();
        report["eval"] = serde_json::json!(values);
    }
    report
}

/// Prints the steps done and time taken, the toy evaluation, the last periodic evaluation
/// and a note on steps whose evaluation has no scores.
fn print_results(
    plan: &TrainPlan,
    kind: BackendKind,
    finished: &Finished,
    last_eval: LastEval<'_>,
) {
    let (config, outcome, seconds) = (&plan.config, &finished.outcome, finished.seconds);
    let done = format!(
        "{} on {kind}: {}/{} steps",
        plan.name, outcome.steps, config.run.steps
    );
    match &outcome.evaluation {
        Some(e) => println!(
            "{done} in {seconds:.1} s; {}/{} modes covered, {:.1}% high-quality samples",
            e.modes_covered,
            e.modes_total,
            100.0 * e.high_quality_fraction
        ),
        None => println!("{done} in {seconds:.1} s"),
    }
    if let (Some((step, values)), Some(eval)) = (last_eval, &config.eval) {
        println!(
            "evaluation at step {step} ({} samples, seed {}): {}",
            eval.samples_for(&config.data),
            eval.seed,
            describe_eval(values)
        );
    }
    let unscored: Vec<String> = outcome
        .recorded
        .iter()
        .filter(|m| m.eval.as_ref().is_some_and(|e| e.is_empty()))
        .map(|m| m.step.to_string())
        .collect();
    if !unscored.is_empty() {
        eprintln!(
            "note: the evaluation has no scores at step {}: a metric rejected the generated \
             images; `burngan eval --checkpoint` on a checkpoint of such a step names the cause",
            unscored.join(", ")
        );
    }
}

/// Lists the run's outputs in `out`: its files, the evaluation plot and the last two plots
/// written, and the last checkpoint.
fn print_outputs(out: &Path, finished: &Finished) {
    println!("outputs in {}:", out.display());
    println!("  config.toml, metrics.jsonl, eval.json");
    let written = finished.observers.plots.written();
    let mut shown: Vec<&PathBuf> = written.iter().rev().take(2).rev().collect();
    let eval_plot = out.join("plots").join("eval.png");
    if let Some(path) = written.iter().find(|p| **p == eval_plot)
        && !shown.contains(&path)
    {
        shown.insert(0, path);
    }
    for path in shown {
        println!("  {}", path.strip_prefix(out).unwrap_or(path).display());
    }
    if let Some(checkpoint) = &finished.outcome.checkpoint {
        println!(
            "  {}/",
            checkpoint.strip_prefix(out).unwrap_or(checkpoint).display()
        );
    }
}

/// A periodic evaluation as `name value` pairs in display order: counts as integers, other
/// values to four decimals.
fn describe_eval(values: &std::collections::BTreeMap<String, f64>) -> String {
    if values.is_empty() {
        return "no scores (a metric rejected the generated images)".to_string();
    }
    let known = EVAL_METRICS
        .iter()
        .copied()
        .filter(|n| values.contains_key(*n));
    let others = values
        .keys()
        .map(String::as_str)
        .filter(|n| !EVAL_METRICS.contains(n));
    known
        .chain(others)
        .map(|name| {
            let value = values[name];
            if value.fract() == 0.0 && value.abs() < 1e15 {
                format!("{name} {value:.0}")
            } else {
                format!("{name} {value:.4}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The config stored in the checkpoint directory `checkpoint`.
fn checkpoint_config_file(checkpoint: &Path) -> Result<TrainConfig, Failure> {
    let path = checkpoint.join(files::CONFIG);
    let text = std::fs::read_to_string(&path)
        .with_context(|| {
            format!(
                "cannot read the config stored with checkpoint {}",
                checkpoint.display()
            )
        })
        .map_err(Failure::Run)?;
    Ok(TrainConfig::from_toml(&text, &path.display().to_string())?)
}

/// The newest checkpoint under `dir`, its state (checked before anything is written) and the
/// config stored with it.
fn checkpoint_config(dir: &Path) -> Result<(PathBuf, u64, TrainConfig), Failure> {
    let checkpoint = find_checkpoint(dir)?;
    let state = read_checkpoint_state(&checkpoint)?;
    let config = checkpoint_config_file(&checkpoint)?;
    Ok((checkpoint, state.step as u64, config))
}

fn sample(args: SampleArgs) -> Result<(), Failure> {
    let kind: BackendKind = args.backend.parse()?;
    if let Some(n) = args.n
        && !(1..=4096).contains(&n)
    {
        return Err(Failure::Usage(anyhow!(
            "--n must be between 1 and 4096, got {n}"
        )));
    }
    let (checkpoint, step, config) = checkpoint_config(&args.checkpoint)?;
    let DataConfig::Images(images) = &config.data else {
        return Err(Failure::Usage(anyhow!(
            "{} is a toy run; `burngan sample` draws image grids (toy runs plot their samples \
             in samples/ while training)",
            args.checkpoint.display()
        )));
    };
    let shape = images.shape();
    let device = burngan_backend::device(kind)?;
    let generator = load_image_generator(&config, &checkpoint, !args.no_ema, &device)?;
    let classes = generator.num_classes();
    let n = match (args.n, args.class, classes) {
        (Some(n), _, _) => n,
        (None, None, classes) if classes > 0 => burngan_app::GRID_COLUMNS * classes,
        (None, _, _) => 64,
    };
    let columns = match (args.class, classes) {
        (Some(_), 0) => {
            return Err(Failure::Usage(anyhow!(
                "--class needs a class-conditional run; {} trains an unconditional generator",
                args.checkpoint.display()
            )));
        }
        (Some(class), classes) if class >= classes => {
            return Err(Failure::Usage(anyhow!(
                "--class must be below the run's {classes} classes, got {class}"
            )));
        }
        (None, classes) if classes > 0 => burngan_app::GRID_COLUMNS,
        _ => (1..=n).find(|c| c * c >= n).unwrap_or(1),
    };
    let labels: Option<Vec<usize>> = match (args.class, classes) {
        (_, 0) => None,
        (Some(class), _) => Some(vec![class; n]),
        (None, classes) => Some((0..n).map(|i| (i / columns) % classes).collect()),
    };
    let mut rng = HostRng::seed_from(args.seed);
    let noise = rng.normal_vec(n * generator.latent_dim());
    let pixels = generate_on_host(&generator, &noise, labels.as_deref(), &device);
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| {
                format!(
                    "cannot create {}; choose a writable --out",
                    parent.display()
                )
            })
            .map_err(Failure::Usage)?;
    }
    image_grid_png(&args.out, &pixels, shape, columns)?;
    println!(
        "wrote {} images ({} per row) from {} (step {step}) to {}",
        n,
        columns,
        checkpoint.display(),
        args.out.display()
    );
    Ok(())
}

fn export(args: ExportArgs) -> Result<(), Failure> {
    let (checkpoint, _, config) = checkpoint_config(&args.checkpoint)?;
    // Weights are read back on the host, so the CPU backend is enough for any run.
    let device = burngan_backend::device(BackendKind::Flex)?;
    let ema = !args.no_ema && checkpoint.join(files::EMA).is_file();
    let export_error = |e: burngan_export::ExportError| Failure::Run(anyhow!(e));
    let summary = match (&config.data, &config.generator) {
        (DataConfig::Toy(_), GeneratorConfig::Mlp(g)) => {
            let generator = g
                .init(2, &mut HostRng::seed_from(0), &device)
                .map_err(|e| Failure::Usage(anyhow!(e)))?;
            let file = if ema { files::EMA } else { files::GENERATOR };
            let generator = load_module(generator, &checkpoint.join(file))?;
            burngan_export::export_safetensors(&generator, &args.out).map_err(export_error)?
        }
        _ => {
            let generator = load_image_generator(&config, &checkpoint, !args.no_ema, &device)?;
            match &generator {
                ImageGenerator::Mlp(g) => burngan_export::export_safetensors(g, &args.out),
                ImageGenerator::Dcgan(g) => burngan_export::export_safetensors(g, &args.out),
                ImageGenerator::Conditional(g) => burngan_export::export_safetensors(g, &args.out),
                ImageGenerator::Blocks(g) => burngan_export::export_safetensors(g, &args.out),
            }
            .map_err(export_error)?
        }
    };
    let which = if ema {
        "moving-average generator"
    } else {
        "generator"
    };
    println!(
        "{summary}\n({which} of {}; generator.kind = \"{}\")",
        checkpoint.display(),
        config.generator.kind()
    );
    Ok(())
}

#[cfg(test)]
mod wayland_note_tests {
    use super::wayland_note;
    use std::ffi::OsStr;

    #[test]
    fn the_note_appears_exactly_when_xdg_runtime_dir_is_unset_or_relative() {
        let expected =
            cfg!(target_os = "linux") && burngan_backend::BackendKind::Wgpu.is_compiled();
        for value in [None, Some(""), Some("run/user/0")] {
            let note = wayland_note(value.map(OsStr::new));
            assert_eq!(note.is_some(), expected, "{value:?}");
            assert!(note.is_none_or(|n| n.contains("XDG_RUNTIME_DIR is invalid or not set")));
        }
        assert_eq!(wayland_note(Some(OsStr::new("/run/user/0"))), None);
    }
}

#[cfg(test)]
mod compute_pool_tests {
    use super::{WaitPolicy, join_compute_pool, runs_lab};

    #[test]
    fn lab_alone_keeps_its_thread_out_of_the_pool() {
        assert!(runs_lab(&["burngan", "lab", "--quick"]));
        assert!(runs_lab(&["burngan", "--verbose", "lab"]));
        assert!(!runs_lab(&["burngan", "train", "--config", "lab"]));
        assert!(!runs_lab(&["burngan", "bench"]));
        assert!(!runs_lab(&["burngan"]));
        // For `lab` nothing is built, so the test thread stays outside any pool.
        assert!(!join_compute_pool(&["burngan", "lab"], WaitPolicy::Active));
    }
}
