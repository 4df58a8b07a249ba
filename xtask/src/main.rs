//! `cargo xtask`: the project's developer commands, as thin wrappers over cargo and the
//! `burngan` CLI.
//!
//! - `cargo xtask train [ARGS]`: builds `burngan` in release mode and runs `burngan train ARGS`;
//!   without `--config` it uses `assets/configs/ring8-ns.toml`, without `--backend` flex.
//! - `cargo xtask bench [ARGS]`: builds `burngan` in release mode and runs `burngan bench ARGS`
//!   (the WORKLOADS.md workloads; without `--backend`, flex).
//! - `cargo xtask lab [ARGS]`: builds `burngan` in release mode and runs `burngan lab ARGS`
//!   (the theory lab's experiments; without `--backend`, flex).
//! - `cargo xtask ci`: what CI runs (format check, then every test in release mode).
//! - `cargo xtask lint`: clippy with warnings denied (kept out of `ci`: a check-mode build of
//!   Burn would add about a quarter of an hour on a fresh 2-core machine).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

const USAGE: &str = "usage: cargo xtask <train [ARGS]|bench [ARGS]|lab [ARGS]|ci|lint>
  train [ARGS]  build burngan (release) and run `burngan train ARGS`
                (defaults: --config assets/configs/ring8-ns.toml --backend flex)
  bench [ARGS]  build burngan (release) and run `burngan bench ARGS`
                (iterations/s of the benchmark workloads; default --backend flex)
  lab [ARGS]    build burngan (release) and run `burngan lab ARGS`
                (the theory lab's experiments and report; default --backend flex)
  ci            cargo fmt --check, then cargo test --release --workspace
  lint          cargo clippy --workspace --all-targets -- -D warnings";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("train") => train(&args[1..]),
        Some("bench") => burngan("bench", args[1..].to_vec()),
        Some("lab") => burngan("lab", args[1..].to_vec()),
        Some("ci") => cargo_steps(&[
            &["fmt", "--all", "--check"],
            &["test", "--release", "--workspace"],
        ]),
        Some("lint") => cargo_steps(&[&[
            "clippy",
            "--release",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]]),
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

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
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
    let mut command = cargo();
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
