//! `cargo xtask`: the project's developer commands, as thin wrappers over cargo and the
//! `burngan` CLI.
//!
//! - `cargo xtask train [ARGS]`: builds `burngan` in release mode and runs `burngan train ARGS`;
//!   without `--config` it uses `assets/configs/ring8-ns.toml`, without `--backend` flex.
//! - `cargo xtask bench [ARGS]`: builds `burngan` in release mode and runs `burngan bench ARGS`
//!   (the WORKLOADS.md workloads; without `--backend`, flex).
//! - `cargo xtask bench --compare-torch [--threads N] [--torch-device cpu,cuda] [ARGS]`: runs
//!   `scripts/pytorch_bench.py` (skipped with a message where PyTorch is not installed), then
//!   `burngan bench --backend all` in the same sitting with N threads on both sides (default
//!   2), printing the ratios and regenerating `BENCHMARKS.md` and `docs/bench/`.
//! - `cargo xtask lab [ARGS]`: builds `burngan` in release mode and runs `burngan lab ARGS`
//!   (the theory lab's experiments; without `--backend`, flex).
//! - `cargo xtask soak [--backend B] [--steps N] [--config FILE] [--out DIR] [--warmup N]`:
//!   trains the `mnist-dcgan` preset for N steps (default 20,000; 2,000 on wgpu) in a child
//!   `burngan train` while sampling its resident memory every second, then fits memory
//!   against step after the warm-up and fails unless the run completes with memory flat
//!   (fitted growth under 5 % of the warm resident size). Writes `soak.csv` and `soak.json`.
//! - `cargo xtask ci`: what CI runs: the format check, every test in release mode, then clippy
//!   (release, every target) with warnings denied. Clippy comes after the tests: it shares
//!   only build scripts and proc-macros with the test build (the rest is a check-mode build
//!   of its own), so the order does not change the total, and the tests' verdict comes first.
//! - `cargo xtask lint`: the same clippy, then `cargo doc` with rustdoc's warnings denied
//!   (broken intra-doc links, missing docs).
//!
//! The commands that run `burngan` build it first with cargo's progress on standard error
//! (a first build compiles Burn: about 20 minutes on a 2-core machine), then run it quietly,
//! so that what follows is the command's own output.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

mod soak;

const USAGE: &str = "usage: cargo xtask <train [ARGS]|bench [ARGS]|lab [ARGS]|ci|lint>
  train [ARGS]  build burngan (release) and run `burngan train ARGS`
                (defaults: --config assets/configs/ring8-ns.toml --backend flex)
  bench [ARGS]  build burngan (release) and run `burngan bench ARGS`
                (iterations/s of the benchmark workloads; default --backend flex)
  bench --compare-torch [--threads N] [--torch-device cpu[,cuda]] [ARGS]
                PyTorch (scripts/pytorch_bench.py) then burngan on every backend, same
                sitting, N threads each (default 2); writes BENCHMARKS.md and docs/bench/
  lab [ARGS]    build burngan (release) and run `burngan lab ARGS`
                (the theory lab's experiments and report; default --backend flex)
  soak [--backend B] [--steps N] [--config F] [--out DIR] [--warmup N]
                train mnist-dcgan N steps (default 20000, wgpu 2000) sampling resident
                memory each second; fails unless it completes with memory flat
  ci            cargo fmt --check, cargo test --release --workspace, then
                cargo clippy --release --workspace --all-targets -- -D warnings
  lint          the same clippy, then cargo doc with rustdoc warnings denied";

/// `cargo clippy` as `ci` and `lint` run it: every target of every crate, warnings denied.
const CLIPPY: &[&str] = &[
    "clippy",
    "--release",
    "--workspace",
    "--all-targets",
    "--",
    "-D",
    "warnings",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("train") => train(&args[1..]),
        Some("bench") if has_flag(&args[1..], "--compare-torch") => compare_torch(&args[1..]),
        Some("bench") => burngan("bench", args[1..].to_vec()),
        Some("lab") => burngan("lab", args[1..].to_vec()),
        Some("soak") => soak::run(&args[1..]),
        Some("ci") => cargo_steps(&[
            &["fmt", "--all", "--check"],
            &["test", "--release", "--workspace"],
            CLIPPY,
        ]),
        Some("lint") => cargo_steps(&[CLIPPY]).and_then(|_| docs()),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// The workspace's root directory: the parent of the manifest directory `cargo run` names at
/// run time. The compile-time path is only a fallback: with a `CARGO_TARGET_DIR` shared between
/// clones, cargo may reuse an xtask binary built in another clone, whose compile-time path can
/// be gone.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `cargo` (the one running xtask), started in the workspace root.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Runs `command`, returning its exit status as our exit code.
fn run(mut command: Command) -> anyhow::Result<ExitCode> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}

fn has_flag(args: &[String], flag: &str) -> bool {
    args.iter()
        .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
}

fn train(args: &[String]) -> anyhow::Result<ExitCode> {
    let mut forwarded: Vec<String> = args.to_vec();
    if !has_flag(args, "--config") {
        forwarded.extend(["--config".into(), "assets/configs/ring8-ns.toml".into()]);
    }
    if !has_flag(args, "--backend") {
        forwarded.extend(["--backend".into(), "flex".into()]);
    }
    burngan("train", forwarded)
}

/// `cargo run --release` of the `burngan` binary with `subcommand ARGS`.
fn burngan(subcommand: &str, forwarded: Vec<String>) -> anyhow::Result<ExitCode> {
    burngan_with_env(subcommand, forwarded, &[])
}

/// [`burngan`] with extra environment variables for the child. The build runs first with
/// cargo's progress on standard error (a first build takes many minutes, and silence would
/// look like a hang); the `cargo run --quiet` after it finds everything built and only runs.
fn burngan_with_env(
    subcommand: &str,
    forwarded: Vec<String>,
    env: &[(&str, &str)],
) -> anyhow::Result<ExitCode> {
    eprintln!(
        "xtask: building burngan (release; a first build compiles Burn, about 20 minutes on \
         2 cores)"
    );
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "--package",
        "burngan-cli",
        "--bin",
        "burngan",
    ]);
    let code = run(build)?;
    if code != ExitCode::SUCCESS {
        bail!("building burngan failed (see cargo's messages above)");
    }
    let mut command = cargo();
    command.envs(env.iter().copied());
    command
        .args([
            "run",
            "--release",
            "--quiet",
            "--package",
            "burngan-cli",
            "--bin",
        ])
        .args(["burngan", "--", subcommand])
        .args(&forwarded);
    run(command)
}

/// The value of `--flag V` or `--flag=V` in `args`.
pub(crate) fn flag_value(args: &[String], flag: &str) -> Option<String> {
    let prefix = format!("{flag}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix(&prefix).map(str::to_string)
        }
    })
}

/// `args` without `--flag`, `--flag V` (when `takes_value`) and `--flag=V`.
fn without_flag(args: &[String], flag: &str, takes_value: bool) -> Vec<String> {
    let prefix = format!("{flag}=");
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
        } else if a == flag {
            skip = takes_value;
        } else if !a.starts_with(&prefix) {
            out.push(a.clone());
        }
    }
    out
}

/// `bench --compare-torch`: PyTorch first, then burngan on every backend, in one sitting.
fn compare_torch(args: &[String]) -> anyhow::Result<ExitCode> {
    let threads = flag_value(args, "--threads").unwrap_or_else(|| "2".into());
    if threads.parse::<usize>().map_or(true, |n| n == 0) {
        eprintln!("xtask: --threads must be a whole number ≥ 1, got {threads:?}");
        return Ok(ExitCode::from(2));
    }
    let devices = flag_value(args, "--torch-device").unwrap_or_else(|| "cpu".into());
    let mut rest = without_flag(args, "--compare-torch", false);
    rest = without_flag(&rest, "--threads", true);
    rest = without_flag(&rest, "--torch-device", true);
    let root = workspace_root();
    let out = root.join("docs/bench");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;

    let mut torch_files = Vec::new();
    for device in devices.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if device != "cpu" && device != "cuda" {
            eprintln!("xtask: --torch-device takes cpu, cuda or cpu,cuda; got {device:?}");
            return Ok(ExitCode::from(2));
        }
        let json = out.join(format!("torch-{device}.json"));
        let mut python = Command::new("python3");
        python
            .current_dir(&root)
            .args([
                "scripts/pytorch_bench.py",
                "--device",
                device,
                "--threads",
                &threads,
            ])
            .arg("--json")
            .arg(&json);
        for flag in ["--workload", "--seconds", "--batch", "--seed"] {
            if let Some(value) = flag_value(&rest, flag) {
                python.args([flag, &value]);
            }
        }
        eprintln!("xtask: PyTorch ({device}, {threads} threads): scripts/pytorch_bench.py");
        match python.status() {
            Err(error) => eprintln!(
                "xtask: cannot start python3 ({error}); skipping the PyTorch side (install \
                 Python 3 and `pip install torch` to compare)"
            ),
            Ok(status) if status.code() == Some(3) => {
                eprintln!("xtask: PyTorch {device} skipped (see the message above)")
            }
            Ok(status) if status.success() => torch_files.push(json),
            Ok(status) => bail!("scripts/pytorch_bench.py --device {device} failed ({status})"),
        }
    }

    let mut forwarded = rest.clone();
    if !has_flag(&rest, "--backend") {
        forwarded.extend(["--backend".into(), "all".into()]);
    }
    for (flag, default) in [
        ("--json", "docs/bench/burngan.json"),
        ("--png", "docs/bench/bench.png"),
        ("--markdown", "BENCHMARKS.md"),
    ] {
        if !has_flag(&rest, flag) {
            forwarded.extend([flag.into(), root.join(default).display().to_string()]);
        }
    }
    for file in &torch_files {
        forwarded.extend(["--torch".into(), file.display().to_string()]);
    }
    let invocation = format!("cargo xtask bench {}", args.join(" "));
    forwarded.extend(["--invocation".into(), invocation.trim().to_string()]);
    eprintln!("xtask: burngan ({threads} threads)");
    // The thread pools of flex and ndarray (rayon) take their size from the environment.
    burngan_with_env(
        "bench",
        forwarded,
        &[("RAYON_NUM_THREADS", threads.as_str())],
    )
}

/// The API documentation of every crate, with rustdoc's warnings (broken intra-doc links,
/// missing docs) denied.
fn docs() -> anyhow::Result<ExitCode> {
    let args = ["doc", "--release", "--workspace", "--no-deps"];
    let mut command = cargo();
    command.args(args).env("RUSTDOCFLAGS", "-D warnings");
    eprintln!(
        "xtask: RUSTDOCFLAGS=\"-D warnings\" cargo {}",
        args.join(" ")
    );
    let code = run(command)?;
    if code != ExitCode::SUCCESS {
        bail!("`cargo {}` failed", args.join(" "));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs each cargo command in turn, stopping at the first failure.
fn cargo_steps(steps: &[&[&str]]) -> anyhow::Result<ExitCode> {
    for step in steps {
        let mut command = cargo();
        command.args(*step);
        eprintln!("xtask: cargo {}", step.join(" "));
        let code = run(command)?;
        if code != ExitCode::SUCCESS {
            bail!("`cargo {}` failed", step.join(" "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
