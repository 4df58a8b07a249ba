//! `cargo xtask results`: trains (or resumes, or reuses) the runs that `docs/results.toml`
//! lists, one `burngan train` at a time, and regenerates each table of `docs/results.md`
//! between its `<!-- results:ID:begin -->` and `<!-- results:ID:end -->` markers. A table
//! with a run missing keeps its block as it is; the page is written through a temporary file
//! and a rename. Each run's `results-run.json` records every sitting's command, commit, date
//! and machine.

mod manifest;
mod render;
mod runs;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::{build_burngan, flag_value, has_flag, workspace_root};
use manifest::{Manifest, PresetRuns, Table};
use render::RunResult;
use runs::{RunState, Sidecar, Sitting};

/// The environment variable naming a prebuilt `burngan` binary to run instead of building one.
const BURNGAN_BIN: &str = "BURNGAN_BIN";

/// What `cargo xtask results` was asked to do.
#[derive(Debug, PartialEq)]
pub(crate) struct ResultsArgs {
    /// `--only ID[,ID…]`: the tables (default all).
    only: Option<Vec<String>>,
    /// `--list`: print the tables, runs and states; train and write nothing.
    list: bool,
    /// `--render-only`: train nothing; regenerate the tables whose runs are all done.
    render_only: bool,
    /// `--runs DIR` (default runs/results).
    runs: PathBuf,
    /// `--threads N` (default 1): `RAYON_NUM_THREADS`.
    threads: usize,
    /// `--backend B` (default flex).
    backend: String,
    /// `--page FILE` (default docs/results.md).
    page: PathBuf,
    /// `--manifest FILE` (default docs/results.toml).
    manifest: PathBuf,
}

const FLAGS: [&str; 8] = [
    "--only",
    "--list",
    "--render-only",
    "--runs",
    "--threads",
    "--backend",
    "--page",
    "--manifest",
];

impl ResultsArgs {
    /// Parses the arguments after `results`; the error is a usage message.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut i = 0;
        while i < args.len() {
            let name = args[i].split('=').next().unwrap_or_default();
            if !FLAGS.contains(&name) {
                return Err(format!(
                    "unknown argument `{}`; the flags are {}",
                    args[i],
                    FLAGS.join(", ")
                ));
            }
            let takes_value = !matches!(name, "--list" | "--render-only");
            if takes_value && !args[i].contains('=') {
                if args.get(i + 1).is_none_or(|v| v.starts_with("--")) {
                    return Err(format!("{name} needs a value"));
                }
                i += 1;
            }
            i += 1;
        }
        let threads = match flag_value(args, "--threads") {
            None => 1,
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("--threads takes a positive whole number, got `{v}`"))?,
        };
        let path = |flag: &str, default: &str| {
            PathBuf::from(flag_value(args, flag).unwrap_or_else(|| default.into()))
        };
        Ok(ResultsArgs {
            only: flag_value(args, "--only")
                .map(|v| v.split(',').map(|s| s.trim().to_string()).collect()),
            list: has_flag(args, "--list"),
            render_only: has_flag(args, "--render-only"),
            runs: path("--runs", "runs/results"),
            threads,
            backend: flag_value(args, "--backend").unwrap_or_else(|| "flex".into()),
            page: path("--page", "docs/results.md"),
            manifest: path("--manifest", "docs/results.toml"),
        })
    }
}

/// Reports a usage error: the message on standard error, exit code 2.
fn usage(message: &str) -> anyhow::Result<ExitCode> {
    eprintln!("xtask results: {message}");
    Ok(ExitCode::from(2))
}

/// One run of a table: its preset, seed, planned steps, directory and state.
struct Run {
    preset: String,
    seed: u64,
    steps_override: Option<usize>,
    planned: usize,
    dir: PathBuf,
    minutes: Option<f64>,
    state: RunState,
}

/// A selected table: the manifest entry and its runs, or why it is skipped.
struct Selected<'a> {
    table: &'a Table,
    runs: Result<Vec<Run>, String>,
}

/// `cargo xtask results ARGS`.
pub(crate) fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let args = match ResultsArgs::parse(args) {
        Ok(args) => args,
        Err(message) => return usage(&message),
    };
    let root = workspace_root();
    let manifest = match Manifest::load(&root.join(&args.manifest), &root.join("assets/configs")) {
        Ok(manifest) => manifest,
        Err(error) => return usage(&format!("{error:#}")),
    };
    let ids: Vec<String> = match &args.only {
        Some(ids) => ids.clone(),
        None => manifest.tables.iter().map(|t| t.id.clone()).collect(),
    };
    if let Some(id) = ids.iter().find(|id| manifest.table(id).is_none()) {
        let known: Vec<&str> = manifest.tables.iter().map(|t| t.id.as_str()).collect();
        return usage(&format!(
            "no table `{id}` in {}; the tables are {}",
            args.manifest.display(),
            known.join(", ")
        ));
    }
    let page_path = root.join(&args.page);
    let page_name = args.page.display().to_string();
    let page = match std::fs::read_to_string(&page_path) {
        Ok(page) => page,
        Err(error) => {
            return usage(&format!(
                "cannot read {} ({error}); pass --page FILE",
                page_path.display()
            ));
        }
    };
    for id in &ids {
        if let Err(error) = render::block_range(&page, id, &page_name) {
            return usage(&format!("{error:#}"));
        }
    }
    let runs_dir = if args.runs.is_absolute() {
        args.runs.clone()
    } else {
        root.join(&args.runs)
    };
    let selected: Vec<Selected<'_>> = ids
        .iter()
        .filter_map(|id| manifest.table(id))
        .map(|table| Selected {
            table,
            runs: plan_runs(table, &root, &runs_dir),
        })
        .collect();
    if args.list {
        print_list(&selected);
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    let mut interrupted = false;
    if !args.render_only {
        (failed, interrupted) = train_all(&selected, &args, &root)?;
    }
    render_page(&selected, &args, &page_path, &page_name, (&root, &runs_dir))?;
    Ok(if interrupted {
        ExitCode::from(130)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The runs of `table` with their states, or why the table cannot run (a pending preset).
fn plan_runs(table: &Table, root: &Path, runs_dir: &Path) -> Result<Vec<Run>, String> {
    let mut runs = Vec::new();
    for preset in &table.presets {
        let config = root.join(format!("assets/configs/{}.toml", preset.name));
        if !config.is_file() {
            return Err(format!(
                "preset `{}` is not there yet ({} is missing; the table is pending)",
                preset.name,
                config.display()
            ));
        }
        let planned = planned_steps(preset, &config).map_err(|e| format!("{e:#}"))?;
        let text = std::fs::read_to_string(&config)
            .map_err(|e| format!("cannot read {}: {e}", config.display()))?;
        for &seed in &preset.seeds {
            let dir = runs_dir.join(&preset.name).join(format!("seed-{seed}"));
            runs.push(Run {
                preset: preset.name.clone(),
                seed,
                steps_override: preset.steps,
                planned,
                state: match runs::run_state(&dir, planned, seed) {
                    state @ (RunState::Done | RunState::Partial { .. }) => {
                        runs::preset_drift(&dir, &text).map_or(state, RunState::Conflict)
                    }
                    state => state,
                },
                dir,
                minutes: preset.minutes,
            });
        }
    }
    Ok(runs)
}

/// The steps a preset's runs are planned at: the manifest's override or the preset's
/// `run.steps`.
fn planned_steps(preset: &PresetRuns, config: &Path) -> anyhow::Result<usize> {
    if let Some(steps) = preset.steps {
        return Ok(steps);
    }
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", config.display()))?;
    let steps = value
        .get("run")
        .and_then(|r| r.get("steps"))
        .and_then(toml::Value::as_integer);
    match steps {
        Some(steps) if steps > 0 => Ok(steps as usize),
        _ => bail!(
            "{} has no positive run.steps; give the preset `steps = N` in the manifest",
            config.display()
        ),
    }
}

/// `--list`: each table, its runs and their states, and the estimated minutes left.
fn print_list(selected: &[Selected<'_>]) {
    for Selected { table, runs } in selected {
        println!(
            "{}{}",
            table.id,
            if table.title.is_empty() {
                String::new()
            } else {
                format!(": {}", table.title)
            }
        );
        let runs = match runs {
            Ok(runs) => runs,
            Err(why) => {
                println!("  skipped: {why}");
                continue;
            }
        };
        let mut left = 0.0;
        let mut known = true;
        for run in runs {
            println!(
                "  {} seed {} ({} steps): {}",
                run.preset,
                run.seed,
                run.planned,
                run.state.describe(run.planned)
            );
            let fraction = match run.state {
                RunState::Done | RunState::Conflict(_) => 0.0,
                RunState::Partial { step } => 1.0 - step as f64 / run.planned as f64,
                RunState::Missing { .. } => 1.0,
            };
            match run.minutes {
                Some(minutes) => left += minutes * fraction,
                None => known &= fraction == 0.0,
            }
        }
        if left > 0.0 || !known {
            let estimate = if known {
                format!("about {left:.0} min")
            } else {
                format!("at least {left:.0} min (some runs have no estimate)")
            };
            println!(
                "  left to train: {estimate} (the manifest's estimates, 2-core machine, 1 thread)"
            );
        }
    }
}

/// Trains every run that is not done, one at a time. Returns (a run failed, Ctrl-C stopped
/// the work).
fn train_all(
    selected: &[Selected<'_>],
    args: &ResultsArgs,
    root: &Path,
) -> anyhow::Result<(bool, bool)> {
    let interrupt = Arc::new(AtomicBool::new(false));
    // Ctrl-C reaches burngan too: it stops after its current step with a checkpoint (exit
    // 130). xtask only notes it, so that it can stop after that run instead of dying first.
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupt))
        .context("cannot install the Ctrl-C handler")?;
    let mut binary: Option<Binary> = None;
    let mut failed = false;
    for Selected { runs, .. } in selected {
        for run in runs.iter().flatten() {
            if interrupt.load(Ordering::SeqCst) {
                return Ok((failed, true));
            }
            if let RunState::Conflict(why) = &run.state {
                eprintln!("xtask results: {} seed {}: {why}", run.preset, run.seed);
                failed = true;
                continue;
            }
            if run.state == RunState::Done {
                continue;
            }
            if binary.is_none() {
                binary = Some(Binary::prepare(root)?);
            }
            let binary = binary.as_ref().expect("prepared above");
            match train_one(run, args, root, binary)? {
                0 => {}
                130 => {
                    eprintln!(
                        "xtask results: interrupted; {} keeps its checkpoint, and the same \
                         command resumes it",
                        run.dir.display()
                    );
                    return Ok((failed, true));
                }
                code => {
                    eprintln!(
                        "xtask results: {} seed {} failed (exit {code}); see above",
                        run.preset, run.seed
                    );
                    failed = true;
                }
            }
        }
    }
    Ok((failed, false))
}

/// The `burngan` binary the runs use: `BURNGAN_BIN`, or a copy of a fresh release build (a
/// copy, so that a rebuild in the shared target directory cannot swap it between runs).
struct Binary {
    path: PathBuf,
    copied: bool,
}

impl Binary {
    fn prepare(root: &Path) -> anyhow::Result<Self> {
        if let Some(path) = std::env::var_os(BURNGAN_BIN) {
            let path = PathBuf::from(path);
            if !path.is_file() {
                bail!(
                    "{BURNGAN_BIN}={} is not a file; unset it to build burngan",
                    path.display()
                );
            }
            eprintln!("xtask results: using {BURNGAN_BIN}={}", path.display());
            return Ok(Binary {
                path,
                copied: false,
            });
        }
        build_burngan()?;
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let built = target.join("release").join("burngan");
        let path = std::env::temp_dir().join(format!("burngan-results-{}", std::process::id()));
        std::fs::copy(&built, &path)
            .with_context(|| format!("cannot copy {} to {}", built.display(), path.display()))?;
        Ok(Binary { path, copied: true })
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if self.copied {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The `burngan train` arguments of `run`: a resume when a checkpoint is there, else a start.
/// A resume names the planned total (`--steps`): a run finished at fewer steps than the preset
/// now plans is continued to the new total, and any other resume keeps its length.
fn train_args(run: &Run, args: &ResultsArgs, dir: &str) -> Vec<String> {
    let mut out: Vec<String> = match run.state {
        RunState::Partial { .. } => vec![
            "--resume".into(),
            dir.into(),
            "--steps".into(),
            run.planned.to_string(),
        ],
        _ => vec![
            "--config".into(),
            format!("assets/configs/{}.toml", run.preset),
            "--out".into(),
            dir.into(),
            "--seed".into(),
            run.seed.to_string(),
        ],
    };
    if let (Some(steps), RunState::Missing { .. }) = (run.steps_override, &run.state) {
        out.extend(["--steps".into(), steps.to_string()]);
    }
    if run.state == (RunState::Missing { stale: true }) {
        out.push("--overwrite".into());
    }
    out.extend(["--backend".into(), args.backend.clone()]);
    out
}

/// The `burngan train` arguments of `run` (its directory relative to `root` when inside it) and
/// the command line a shell would run from `root`.
fn train_command(run: &Run, args: &ResultsArgs, root: &Path) -> (Vec<String>, String) {
    let dir = run
        .dir
        .strip_prefix(root)
        .unwrap_or(&run.dir)
        .display()
        .to_string();
    let train = train_args(run, args, &dir);
    let command = format!(
        "RAYON_NUM_THREADS={} burngan train {}",
        args.threads,
        train.join(" ")
    );
    (train, command)
}

/// Runs one `burngan train`, recording the sitting in the sidecar before it starts and its exit
/// code and duration after. Returns the exit code (130 when Ctrl-C stopped it).
fn train_one(run: &Run, args: &ResultsArgs, root: &Path, binary: &Binary) -> anyhow::Result<i32> {
    std::fs::create_dir_all(&run.dir)
        .with_context(|| format!("cannot create {}", run.dir.display()))?;
    let (train, command) = train_command(run, args, root);
    let (cpu, cores, avx512, load_average, date) = runs::machine_now();
    let mut sidecar = Sidecar::read(&run.dir)
        .filter(|s| matches!(run.state, RunState::Partial { .. }) && s.seed == run.seed)
        .unwrap_or(Sidecar {
            preset: run.preset.clone(),
            seed: run.seed,
            planned_steps: run.planned,
            sittings: Vec::new(),
            preset_text: None,
        });
    // A fresh start records the preset it starts from; a resume keeps the first sitting's.
    if sidecar.sittings.is_empty() {
        let preset = root.join(format!("assets/configs/{}.toml", run.preset));
        sidecar.preset_text = std::fs::read_to_string(&preset).ok();
    }
    sidecar.planned_steps = run.planned;
    sidecar.sittings.push(Sitting {
        command: command.clone(),
        commit: runs::git_commit(root),
        date,
        cpu,
        cores,
        avx512,
        load_average,
        threads: args.threads,
        backend: args.backend.clone(),
        exit_code: None,
        process_seconds: None,
        binary: (!binary.copied).then(|| binary.path.display().to_string()),
    });
    sidecar.write(&run.dir)?;
    eprintln!(
        "xtask results: {} seed {} ({}): {command}",
        run.preset,
        run.seed,
        run.state.describe(run.planned)
    );
    let mut child = Command::new(&binary.path);
    child
        .current_dir(root)
        .env("RAYON_NUM_THREADS", args.threads.to_string())
        .arg("train")
        .args(&train);
    let started = Instant::now();
    let status = child
        .status()
        .with_context(|| format!("cannot start {}", binary.path.display()))?;
    let code = status.code().unwrap_or(1);
    let last = sidecar.sittings.last_mut().expect("pushed above");
    last.exit_code = status.code();
    last.process_seconds = Some(started.elapsed().as_secs_f64());
    sidecar.write(&run.dir)?;
    Ok(code)
}

/// Regenerates every selected table whose runs are all done and writes the page once; reports
/// the others' missing runs and the commands that make them.
fn render_page(
    selected: &[Selected<'_>],
    args: &ResultsArgs,
    page_path: &Path,
    page_name: &str,
    (root, runs_dir): (&Path, &Path),
) -> anyhow::Result<()> {
    let mut page = std::fs::read_to_string(page_path)
        .with_context(|| format!("cannot read {}", page_path.display()))?;
    let original = page.clone();
    let runs_name = args.runs.display().to_string();
    for Selected { table, runs } in selected {
        let runs = match runs {
            // Planned again: the states changed while training.
            Ok(_) => match plan_runs(table, root, runs_dir) {
                Ok(runs) => runs,
                Err(why) => bail!("table `{}`: {why}", table.id),
            },
            Err(why) => {
                println!("{}: skipped, block left as it is: {why}", table.id);
                continue;
            }
        };
        let waiting: Vec<&Run> = runs.iter().filter(|r| r.state != RunState::Done).collect();
        if !waiting.is_empty() {
            println!("{}: block left as it is; not done:", table.id);
            for run in waiting {
                let state = run.state.describe(run.planned);
                println!("  {} seed {}: {state}", run.preset, run.seed);
                if !matches!(run.state, RunState::Conflict(_)) {
                    println!("    by hand: {}", train_command(run, args, root).1);
                }
            }
            println!("  make them with: cargo xtask results --only {}", table.id);
            continue;
        }
        let rows = collect_rows(table, &runs)?;
        let names = (
            runs_name.as_str(),
            args.manifest.to_str().unwrap_or("the manifest"),
        );
        let block = render::block(table, &rows, names)?;
        page = render::replace_block(&page, &table.id, &block, page_name)?;
        println!("{}: regenerated", table.id);
    }
    if page != original {
        runs::write_atomically(page_path, &page)?;
        println!("wrote {page_name}");
    }
    Ok(())
}

/// The finished runs of `table`, grouped by preset in manifest order.
fn collect_rows(table: &Table, runs: &[Run]) -> anyhow::Result<Vec<(String, Vec<RunResult>)>> {
    let mut rows = Vec::new();
    for preset in &table.presets {
        let mut results = Vec::new();
        for run in runs.iter().filter(|r| r.preset == preset.name) {
            let eval = runs::read_eval(&run.dir)?
                .with_context(|| format!("{}/eval.json vanished", run.dir.display()))?;
            results.push(RunResult {
                seed: run.seed,
                dir: run.dir.display().to_string(),
                eval,
                sidecar: Sidecar::read(&run.dir),
                ledger_sittings: runs::ledger_sittings(&run.dir),
            });
        }
        rows.push((preset.name.clone(), results));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_have_their_defaults_and_overrides() {
        let args = ResultsArgs::parse(&[]).unwrap();
        assert_eq!(args.only, None);
        assert_eq!((args.threads, args.backend.as_str()), (1, "flex"));
        assert_eq!(args.runs, PathBuf::from("runs/results"));
        assert_eq!(args.page, PathBuf::from("docs/results.md"));
        let args = ResultsArgs::parse(&strings(&[
            "--only",
            "ring8,grid25",
            "--threads=2",
            "--render-only",
            "--runs",
            "/tmp/r",
        ]))
        .unwrap();
        assert_eq!(args.only, Some(strings(&["ring8", "grid25"])));
        assert_eq!(args.threads, 2);
        assert!(args.render_only && !args.list);
        assert_eq!(args.runs, PathBuf::from("/tmp/r"));
    }

    #[test]
    fn bad_arguments_are_named() {
        let error = ResultsArgs::parse(&strings(&["--thread", "2"])).unwrap_err();
        assert!(error.contains("`--thread`"), "{error}");
        let error = ResultsArgs::parse(&strings(&["--threads", "0"])).unwrap_err();
        assert!(error.contains("got `0`"), "{error}");
        let error = ResultsArgs::parse(&strings(&["--only"])).unwrap_err();
        assert!(error.contains("--only needs a value"), "{error}");
    }

    fn run(state: RunState, steps: Option<usize>) -> Run {
        Run {
            preset: "ring8-best".into(),
            seed: 2,
            steps_override: steps,
            planned: steps.unwrap_or(8000),
            dir: PathBuf::from("/x"),
            minutes: None,
            state,
        }
    }

    #[test]
    fn a_partial_run_resumes_and_a_missing_one_starts() {
        let args = ResultsArgs::parse(&strings(&["--backend", "ndarray"])).unwrap();
        let dir = "runs/results/ring8-best/seed-2";
        assert_eq!(
            train_args(&run(RunState::Missing { stale: false }, None), &args, dir).join(" "),
            "--config assets/configs/ring8-best.toml --out runs/results/ring8-best/seed-2 \
             --seed 2 --backend ndarray"
        );
        assert_eq!(
            train_args(
                &run(RunState::Missing { stale: true }, Some(100)),
                &args,
                dir
            )
            .join(" "),
            "--config assets/configs/ring8-best.toml --out runs/results/ring8-best/seed-2 \
             --seed 2 --steps 100 --overwrite --backend ndarray"
        );
        assert_eq!(
            train_args(&run(RunState::Partial { step: 4000 }, None), &args, dir).join(" "),
            "--resume runs/results/ring8-best/seed-2 --steps 8000 --backend ndarray"
        );
        // With a manifest's `steps`, the resume names that total.
        assert_eq!(
            train_args(&run(RunState::Partial { step: 50 }, Some(100)), &args, dir).join(" "),
            "--resume runs/results/ring8-best/seed-2 --steps 100 --backend ndarray"
        );
    }

    #[test]
    fn planned_steps_come_from_the_override_or_the_preset() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("p.toml");
        std::fs::write(&config, "[run]\nseed = 0\nsteps = 8000\n").unwrap();
        let preset = |steps| PresetRuns {
            name: "p".into(),
            seeds: vec![0],
            steps,
            minutes: None,
        };
        assert_eq!(planned_steps(&preset(None), &config).unwrap(), 8000);
        assert_eq!(planned_steps(&preset(Some(100)), &config).unwrap(), 100);
        std::fs::write(&config, "[run]\nseed = 0\n").unwrap();
        let error = format!("{:#}", planned_steps(&preset(None), &config).unwrap_err());
        assert!(error.contains("no positive run.steps"), "{error}");
    }
}
