//! `cargo xtask`: the project's developer commands, as thin wrappers over cargo and the
//! `burngan` CLI.
//!
//! - `cargo xtask train [ARGS]`: builds `burngan` in release mode and runs `burngan train ARGS`;
//!   without `--config` it uses `assets/configs/ring8-ns.toml`, without `--backend` flex.
//! - `cargo xtask bench [ARGS]`: builds `burngan` in release mode and runs `burngan bench ARGS`
//!   (the WORKLOADS.md workloads; without `--backend`, flex).
//! - `cargo xtask bench --compare-torch [ARGS]`: builds `burngan`, then runs
//!   `scripts/bench_compare.py ARGS` on a copy of the binary: burngan and PyTorch interleaved in
//!   rounds (A B A B …), medians, spreads and noisy sittings reported, regenerating
//!   `BENCHMARKS.md` and `docs/bench/compare.json` (`--quick`, `--rounds`, `--threads`,
//!   `--device cuda`, `--workload` … are the script's).
//! - `cargo xtask lab [ARGS]`: builds `burngan` in release mode and runs `burngan lab ARGS`
//!   (the theory lab's experiments; without `--backend`, flex).
//! - `cargo xtask results [--only ID,…] [--list] [--render-only] [--runs DIR] [--threads N]
//!   [--backend B] [--page FILE] [--manifest FILE]`: regenerates the tables of
//!   `docs/results.md` that `docs/results.toml` lists. Each run lives in
//!   `runs/results/PRESET/seed-S/`: one that finished is reused, one with a checkpoint is
//!   resumed (`burngan train --resume`; Ctrl-C stops a run with a checkpoint, and the same
//!   command continues it), any other is started. Each table is rewritten between its
//!   `<!-- results:ID:begin -->` / `<!-- results:ID:end -->` markers once all its runs are
//!   done (command, machine, commit, seeds, wall time, published rows first); a table with runs
//!   missing keeps its block. `BURNGAN_BIN=PATH` runs a prebuilt binary instead of building.
//! - `cargo xtask soak [--backend B] [--steps N] [--config FILE] [--out DIR] [--warmup N]`:
//!   trains the `mnist-dcgan` preset for N steps (default 20,000; 2,000 on wgpu) in a child
//!   `burngan train` while sampling its resident memory every second, then fits memory
//!   against step after the warm-up and fails unless the run completes with memory flat
//!   (fitted growth under 5 % of the warm resident size). Writes `soak.csv` and `soak.json`.
//! - `cargo xtask ci`: what CI runs: the format check, every test in release mode, then clippy
//!   (release, every target) with warnings denied. The tests run under cargo-nextest when it is
//!   installed (each test in a process of its own; then `cargo test --doc` for the doctests),
//!   otherwise under `cargo test`: see [`ci`]. Clippy comes after the tests: it shares
//!   only build scripts and proc-macros with the test build (the rest is a check-mode build
//!   of its own), so the order does not change the total, and the tests' verdict comes first.
//! - `cargo xtask lint`: the same clippy, then `cargo doc` with rustdoc's warnings denied
//!   (broken intra-doc links, missing docs).
//!
//! The commands that run `burngan` build it first with cargo's progress on standard error
//! (a first build compiles Burn: about 20 minutes on a 2-core machine), then run it quietly,
//! so that what follows is the command's own output. (The binary sets glibc's malloc settings
//! for training itself, `burngan_cli::malloc`; `scripts/bench_compare.py` gives PyTorch's side
//! the same.)

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

mod results;
mod soak;

const USAGE: &str =
    "usage: cargo xtask <train [ARGS]|bench [ARGS]|lab [ARGS]|results [ARGS]|soak|ci|lint>
  train [ARGS]  build burngan (release) and run `burngan train ARGS`
                (defaults: --config assets/configs/ring8-ns.toml --backend flex)
  bench [ARGS]  build burngan (release) and run `burngan bench ARGS`
                (iterations/s of the benchmark workloads; default --backend flex)
  bench --compare-torch [ARGS]
                burngan and PyTorch interleaved in rounds (scripts/bench_compare.py ARGS:
                --quick, --rounds N, --threads N, --device cpu|cuda, --workload W);
                writes BENCHMARKS.md and docs/bench/compare.json
  lab [ARGS]    build burngan (release) and run `burngan lab ARGS`
                (the theory lab's experiments and report; default --backend flex)
  results [--only ID,..] [--list] [--render-only] [--runs DIR] [--threads N] [--backend B]
          [--page FILE] [--manifest FILE]
                train, resume or reuse the runs docs/results.toml lists (runs/results/) and
                regenerate docs/results.md's tables between their markers; defaults:
                --threads 1 (RAYON_NUM_THREADS), --backend flex; BURNGAN_BIN=PATH skips the build
  soak [--backend B] [--steps N] [--config F] [--out DIR] [--warmup N]
                train mnist-dcgan N steps (default 20000, wgpu 2000) sampling resident
                memory each second; fails unless it completes with memory flat
  ci            cargo fmt --check, the tests (cargo nextest run --release --workspace, then
                cargo test --release --workspace --doc; without cargo-nextest:
                cargo test --release --workspace), then
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
        Some("results") => results::run(&args[1..]),
        Some("ci") => ci(),
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

pub(crate) fn has_flag(args: &[String], flag: &str) -> bool {
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
    build_burngan()?;
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

/// Builds the `burngan` binary in release mode, with cargo's progress on standard error.
pub(crate) fn build_burngan() -> anyhow::Result<()> {
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
    if run(build)? != ExitCode::SUCCESS {
        bail!("building burngan failed (see cargo's messages above)");
    }
    Ok(())
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

/// `bench --compare-torch`: builds burngan, copies the binary (so a rebuild cannot swap it
/// mid-sitting) and runs `scripts/bench_compare.py`, which interleaves burngan and PyTorch in
/// rounds and reports medians and spreads; every other argument goes to the script.
fn compare_torch(args: &[String]) -> anyhow::Result<ExitCode> {
    build_burngan()?;
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let binary = target.join("release").join("burngan");
    let copy = std::env::temp_dir().join(format!("burngan-bench-{}", std::process::id()));
    std::fs::copy(&binary, &copy)
        .with_context(|| format!("cannot copy {} to {}", binary.display(), copy.display()))?;
    let mut forwarded = without_flag(args, "--compare-torch", false);
    for (flag, default) in [
        ("--json", "docs/bench/compare.json"),
        ("--markdown", "BENCHMARKS.md"),
    ] {
        if !has_flag(&forwarded, flag) {
            forwarded.extend([flag.into(), root.join(default).display().to_string()]);
        }
    }
    std::fs::create_dir_all(root.join("docs/bench")).context("cannot create docs/bench")?;
    let mut python = Command::new("python3");
    python
        .current_dir(&root)
        .arg("scripts/bench_compare.py")
        .arg("--burngan")
        .arg(&copy)
        .args(&forwarded);
    eprintln!("xtask: scripts/bench_compare.py (burngan and PyTorch interleaved, in rounds)");
    let code = run(python);
    let _ = std::fs::remove_file(&copy);
    code
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

/// CubeCL's autotuning level (`minimal`, `balanced`, `extensive`, `full`).
const AUTOTUNE: &str = "CUBECL_AUTOTUNE_LEVEL";

/// What CI runs: the format check, every test in release mode, then clippy.
///
/// With cargo-nextest installed the tests run as `cargo nextest run` (every test in a process
/// of its own, two at a time on two cores) and the doctests, which nextest does not run, as
/// `cargo test --doc`; without it as one `cargo test`. Measured on the 2-core Intel Xeon with
/// an empty Mesa shader cache, as on a fresh CI machine: every test but the doctests took 4 min
/// 40 s under nextest; under `cargo test` in a cold `.ci/run` the two largest test binaries
/// alone took 405 s (`burngan-models`' unit tests; 49 s under nextest) and 439 s (the
/// integration tests). The time goes to the tests that run on wgpu over lavapipe; why they are
/// so much slower sharing one process was not established.
fn ci() -> anyhow::Result<ExitCode> {
    const FMT: &[&str] = &["fmt", "--all", "--check"];
    const NEXTEST: &[&str] = &[
        "nextest",
        "run",
        "--release",
        "--workspace",
        "--no-fail-fast",
    ];
    const DOCTESTS: &[&str] = &["test", "--release", "--workspace", "--doc"];
    const TESTS: &[&str] = &["test", "--release", "--workspace"];
    if has_nextest() {
        cargo_steps(&[FMT, NEXTEST, DOCTESTS, CLIPPY])
    } else {
        eprintln!("xtask: cargo-nextest is not installed; the tests run under `cargo test`");
        cargo_steps(&[FMT, TESTS, CLIPPY])
    }
}

/// Whether `cargo nextest` runs here.
fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs each cargo command in turn, stopping at the first failure.
fn cargo_steps(steps: &[&[&str]]) -> anyhow::Result<ExitCode> {
    for step in steps {
        let mut command = cargo();
        command.args(*step);
        // wgpu's kernels are autotuned by timing every candidate on each new shape; on Mesa's
        // lavapipe (CI has no GPU) that timing is meaningless and took about 45 % of the block
        // tests' time. Minimal autotuning runs one candidate; a caller's setting is kept.
        let runs_tests = matches!(step.first(), Some(&"test" | &"nextest"));
        if runs_tests && std::env::var_os(AUTOTUNE).is_none() {
            command.env(AUTOTUNE, "minimal");
        }
        eprintln!("xtask: cargo {}", step.join(" "));
        let code = run(command)?;
        if code != ExitCode::SUCCESS {
            bail!("`cargo {}` failed", step.join(" "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
