//! The run directories of `cargo xtask results`: what state each one is in (finished, stopped
//! at a checkpoint, missing), the `results-run.json` sidecar recording how and where each
//! sitting of a run was started, and the machine facts it records.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The sidecar's file name inside a run directory.
pub(crate) const SIDECAR: &str = "results-run.json";

/// Where a run stands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RunState {
    /// `eval.json` records the planned steps: the run is reused.
    Done,
    /// A checkpoint at step `step`, before the planned end: `burngan train --resume`.
    Partial {
        /// The newest checkpoint's step.
        step: usize,
    },
    /// Nothing to keep: no `eval.json` and no checkpoint. `stale` when an earlier start left
    /// files (metrics, config) before its first checkpoint, which a fresh start replaces.
    Missing {
        /// Run files without a checkpoint are present.
        stale: bool,
    },
    /// The directory holds something this command will not overwrite.
    Conflict(String),
}

impl RunState {
    /// The state as `--list` prints it.
    pub fn describe(&self, planned: usize) -> String {
        match self {
            RunState::Done => "done".into(),
            RunState::Partial { step } => format!("partial at step {step} of {planned}"),
            RunState::Missing { stale: false } => "missing".into(),
            RunState::Missing { stale: true } => {
                "missing (an earlier start left no checkpoint)".into()
            }
            RunState::Conflict(why) => format!("conflict: {why}"),
        }
    }
}

/// The `eval.json` of `dir`, when there is one.
pub(crate) fn read_eval(dir: &Path) -> anyhow::Result<Option<serde_json::Value>> {
    let path = dir.join("eval.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    Ok(Some(value))
}

/// The step of the newest checkpoint in `dir/checkpoints` (named by `checkpoints/latest`, else
/// the highest `step-N` directory).
pub(crate) fn checkpoint_step(dir: &Path) -> Option<usize> {
    let checkpoints = dir.join("checkpoints");
    let step_of = |name: &str| name.trim().strip_prefix("step-")?.parse::<usize>().ok();
    if let Ok(latest) = std::fs::read_to_string(checkpoints.join("latest"))
        && checkpoints.join(latest.trim()).is_dir()
        && let Some(step) = step_of(&latest)
    {
        return Some(step);
    }
    std::fs::read_dir(&checkpoints)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| step_of(&e.file_name().to_string_lossy()))
        .max()
}

/// The state of the run in `dir` planned at `planned` steps with seed `seed`.
pub(crate) fn run_state(dir: &Path, planned: usize, seed: u64) -> RunState {
    let eval = match read_eval(dir) {
        Ok(eval) => eval,
        Err(error) => return RunState::Conflict(format!("{error:#}")),
    };
    let steps = eval.as_ref().and_then(|e| e.get("steps")?.as_u64());
    let checkpoint = checkpoint_step(dir);
    let place = dir.display();
    if let Some(found) = eval.as_ref().and_then(|e| e.get("seed")?.as_u64())
        && found != seed
    {
        return RunState::Conflict(format!(
            "{place}/eval.json is seed {found}, not {seed}; move the directory away"
        ));
    }
    if steps == Some(planned as u64) {
        return RunState::Done;
    }
    match checkpoint {
        Some(step) if step < planned => RunState::Partial { step },
        Some(step) => RunState::Conflict(format!(
            "{place} has a checkpoint at step {step} but no eval.json at the planned {planned} \
             steps; move the directory away, or set steps = {step} for it in the manifest"
        )),
        None if eval.is_some() => RunState::Conflict(format!(
            "{place}/eval.json records {} steps, not the planned {planned}, and there is no \
             checkpoint to continue from; move the directory away",
            steps.map_or("no".into(), |s| s.to_string())
        )),
        None => RunState::Missing {
            stale: ["metrics.jsonl", "config.toml"]
                .iter()
                .any(|f| dir.join(f).exists()),
        },
    }
}

/// Why the run in `dir` was not made with the preset as `preset_text` (the text of its
/// `assets/configs/NAME.toml`) now reads: the first key (other than `run.seed` and `run.steps`,
/// which the manifest and resumes set) whose value differs from the preset recorded in the
/// run's sidecar when it started, or that only one of them sets. Comments and layout do not
/// count. `None` when they agree, or the sidecar recorded no preset (runs made before it did).
pub(crate) fn preset_drift(dir: &Path, preset_text: &str) -> Option<String> {
    let then = Sidecar::read(dir)?.preset_text?;
    let parse = |text: &str| text.parse::<toml::Table>().map(toml::Value::Table);
    let (then, now) = match (parse(&then), parse(preset_text)) {
        (Ok(then), Ok(now)) => (then, now),
        (Err(e), _) => return Some(format!("the preset recorded in {SIDECAR} is not TOML: {e}")),
        (_, Err(e)) => return Some(format!("the preset is not TOML: {e}")),
    };
    let leaves = |value: &toml::Value| {
        let mut out = Vec::new();
        flatten("", value, &mut out);
        out.retain(|(key, _)| key != "run.seed" && key != "run.steps");
        out
    };
    let (now_leaves, then_leaves) = (leaves(&now), leaves(&then));
    let differs = |(key, value): &(String, toml::Value), other: &toml::Value| {
        !lookup(other, key).is_some_and(|found| same(found, value))
    };
    let show = |value: Option<&toml::Value>| value.map_or("absent".into(), |v| format!("`{v}`"));
    let key = now_leaves
        .iter()
        .find(|leaf| differs(leaf, &then))
        .or_else(|| then_leaves.iter().find(|leaf| differs(leaf, &now)))
        .map(|(key, _)| key.clone())?;
    Some(format!(
        "{} was made with an earlier version of its preset: `{key}` is {} in the preset, {} \
         when the run started; move the directory away (nothing is deleted) and the same \
         command starts the run afresh",
        dir.display(),
        show(lookup(&now, &key)),
        show(lookup(&then, &key)),
    ))
}

/// Every leaf of `value` with its dotted key (tables are walked, arrays are leaves).
fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
    match value {
        toml::Value::Table(table) => {
            for (key, inner) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, inner, out);
            }
        }
        leaf => out.push((prefix.to_string(), leaf.clone())),
    }
}

/// The value at dotted `key` of the table `value`.
fn lookup<'a>(value: &'a toml::Value, key: &str) -> Option<&'a toml::Value> {
    key.split('.')
        .try_fold(value, |value, part| value.as_table()?.get(part))
}

/// Equal values, an integer equal to a float of the same value included (`1` and `1.0`).
fn same(a: &toml::Value, b: &toml::Value) -> bool {
    let number = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// One sitting of a run: a `burngan train` start or resume, as recorded before it began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Sitting {
    /// The command, with its environment, as a shell would run it from the repository root.
    pub command: String,
    /// `git rev-parse HEAD`, with `-dirty` when the tree had changes.
    pub commit: String,
    /// When the sitting started (UTC, RFC 3339).
    pub date: String,
    /// The CPU model (`model name` of /proc/cpuinfo).
    pub cpu: String,
    /// Logical processors of the machine.
    pub cores: usize,
    /// Whether the CPU has AVX-512 (`avx512f`).
    pub avx512: bool,
    /// The one-minute load average at the start.
    pub load_average: f64,
    /// `RAYON_NUM_THREADS`.
    pub threads: usize,
    /// `--backend`.
    pub backend: String,
    /// `burngan`'s exit code (absent while running, or when it was killed).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Seconds the process ran, training and evaluation together.
    #[serde(default)]
    pub process_seconds: Option<f64>,
    /// The prebuilt binary run (`BURNGAN_BIN`); absent when xtask built burngan from the tree.
    #[serde(default)]
    pub binary: Option<String>,
}

impl Sitting {
    /// Whether the sitting may have trained: every one but those `burngan` refused as a usage
    /// or configuration error (exit code 2), which stop before any step.
    pub fn trained(&self) -> bool {
        self.exit_code != Some(2)
    }
}

/// The number of lines of `dir`'s `sittings.jsonl`, burngan's ledger of the sittings that
/// trained; `None` when the file is absent or unreadable.
pub(crate) fn ledger_sittings(dir: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(dir.join("sittings.jsonl")).ok()?;
    Some(text.lines().filter(|l| !l.trim().is_empty()).count())
}

/// `results-run.json`: the run and each of its sittings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Sidecar {
    /// The preset.
    pub preset: String,
    /// The seed.
    pub seed: u64,
    /// The planned steps.
    pub planned_steps: usize,
    /// Every start and resume, oldest first.
    pub sittings: Vec<Sitting>,
    /// The preset file's text when the run started (absent in runs made before this was
    /// recorded): what [`preset_drift`] compares the preset with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset_text: Option<String>,
}

impl Sidecar {
    /// The sidecar of `dir`, if it has a readable one.
    pub fn read(dir: &Path) -> Option<Sidecar> {
        let text = std::fs::read_to_string(dir.join(SIDECAR)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the sidecar into `dir` (a temporary file renamed over the old one).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).context("cannot encode the sidecar")?;
        write_atomically(&dir.join(SIDECAR), &text)
    }
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename, so a
/// reader sees the old file or the new one, never a part.
pub(crate) fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map_or("file".into(), |n| n.to_string_lossy());
    let temp: PathBuf = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&temp, text).with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| {
        let _ = std::fs::remove_file(&temp);
        format!("cannot replace {}", path.display())
    })
}

/// The CPU model, the number of logical processors and whether `avx512f` is among the flags,
/// from the text of /proc/cpuinfo.
pub(crate) fn parse_cpuinfo(text: &str) -> (String, usize, bool) {
    let value = |line: &str| line.split_once(':').map(|(_, v)| v.trim().to_string());
    let model = text
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(value)
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = text.lines().filter(|l| l.starts_with("processor")).count();
    let avx512 = text
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|flag| flag == "avx512f"));
    (model, cores, avx512)
}

/// The one-minute load average, from the text of /proc/loadavg.
pub(crate) fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// The calendar date and time (UTC, RFC 3339) `seconds` after the Unix epoch (Howard
/// Hinnant's days-to-civil algorithm).
pub(crate) fn utc_date(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// This machine's facts for a sitting: (CPU model, cores, AVX-512, load average, date).
pub(crate) fn machine_now() -> (String, usize, bool, f64, String) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let (cpu, mut cores, avx512) = parse_cpuinfo(&cpuinfo);
    if cores == 0 {
        cores = std::thread::available_parallelism().map_or(0, usize::from);
    }
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .as_deref()
        .and_then(parse_loadavg)
        .unwrap_or(f64::NAN);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (cpu, cores, avx512, load, utc_date(now))
}

/// `git rev-parse HEAD` in `root`, with `-dirty` when `git status --porcelain` lists changes
/// (`unknown` outside a git checkout).
pub(crate) fn git_commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(head) => match git(&["status", "--porcelain"]) {
            Some(changes) if !changes.is_empty() => format!("{head}-dirty"),
            _ => head,
        },
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// A run whose sidecar recorded the preset as it still is (up to comments, layout, seed
    /// and length) agrees; after a value changes, or a key is added or removed, the first such
    /// key is named with both values. A sidecar without a recorded preset is not judged.
    #[test]
    fn a_run_made_with_an_earlier_preset_is_named_by_its_first_differing_key() {
        let dir = tempfile::tempdir().unwrap();
        let then = "[run]\nseed = 0\nsteps = 400000\n[data]\nstd = 0.01\nradius = 1\n\
                    [generator]\nhidden = [4, 4]\n";
        let mut sidecar = Sidecar {
            preset: "p".into(),
            seed: 0,
            planned_steps: 10,
            sittings: Vec::new(),
            preset_text: None,
        };
        sidecar.write(dir.path()).unwrap();
        assert_eq!(
            preset_drift(dir.path(), "[generator]\nhidden = [9]\n"),
            None
        );
        sidecar.preset_text = Some(then.into());
        sidecar.write(dir.path()).unwrap();
        let now = format!(
            "# a comment\n{}",
            then.replace("steps = 400000", "steps = 20")
        );
        assert_eq!(
            preset_drift(dir.path(), &now.replace("radius = 1", "radius = 1.0")),
            None
        );
        let why = preset_drift(dir.path(), &format!("{now}init = {{ normal = 0.02 }}\n")).unwrap();
        assert!(
            why.contains("`generator.init.normal` is `0.02` in the preset, absent when the run"),
            "{why}"
        );
        let why = preset_drift(dir.path(), &now.replace("[4, 4]", "[4, 8]")).unwrap();
        assert!(
            why.contains("`generator.hidden` is `[4, 8]` in the preset, `[4, 4]` when the run"),
            "{why}"
        );
        let why = preset_drift(dir.path(), &now.replace("std = 0.01\n", "")).unwrap();
        assert!(
            why.contains("`data.std` is absent in the preset, `0.01` when"),
            "{why}"
        );
    }

    #[test]
    fn a_run_with_the_planned_steps_in_eval_json_is_done() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            run_state(dir.path(), 8000, 0),
            RunState::Missing { stale: false }
        );
        write(dir.path(), "metrics.jsonl", "{\"step\":100}\n");
        assert_eq!(
            run_state(dir.path(), 8000, 0),
            RunState::Missing { stale: true }
        );
        write(dir.path(), "checkpoints/step-00002000/state.json", "{}");
        write(dir.path(), "checkpoints/step-00004000/state.json", "{}");
        write(dir.path(), "checkpoints/latest", "step-00004000\n");
        assert_eq!(
            run_state(dir.path(), 8000, 0),
            RunState::Partial { step: 4000 }
        );
        // A --stop-at run writes eval.json at the stop: still partial.
        write(
            dir.path(),
            "eval.json",
            r#"{"steps": 4000, "total_steps": 8000, "seed": 0}"#,
        );
        assert_eq!(
            run_state(dir.path(), 8000, 0),
            RunState::Partial { step: 4000 }
        );
        write(dir.path(), "checkpoints/step-00008000/state.json", "{}");
        write(dir.path(), "checkpoints/latest", "step-00008000\n");
        write(
            dir.path(),
            "eval.json",
            r#"{"steps": 8000, "total_steps": 8000, "seed": 0}"#,
        );
        assert_eq!(run_state(dir.path(), 8000, 0), RunState::Done);
        // Planned longer now: resume from the end of the shorter run.
        assert_eq!(
            run_state(dir.path(), 10_000, 0),
            RunState::Partial { step: 8000 }
        );
    }

    #[test]
    fn runs_that_cannot_be_reused_or_resumed_are_conflicts_naming_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "eval.json", r#"{"steps": 8000, "seed": 1}"#);
        let RunState::Conflict(why) = run_state(dir.path(), 8000, 0) else {
            panic!()
        };
        assert!(why.contains("seed 1, not 0"), "{why}");
        write(dir.path(), "eval.json", r#"{"steps": 8000, "seed": 0}"#);
        let RunState::Conflict(why) = run_state(dir.path(), 6000, 0) else {
            panic!()
        };
        assert!(why.contains("8000 steps, not the planned 6000"), "{why}");
        write(dir.path(), "checkpoints/step-00008000/state.json", "{}");
        let RunState::Conflict(why) = run_state(dir.path(), 6000, 0) else {
            panic!()
        };
        assert!(why.contains("set steps = 8000"), "{why}");
        write(dir.path(), "eval.json", "{\"steps\": 80");
        let RunState::Conflict(why) = run_state(dir.path(), 8000, 0) else {
            panic!()
        };
        assert!(why.contains("eval.json is not valid JSON"), "{why}");
    }

    #[test]
    fn the_newest_checkpoint_is_found_without_a_latest_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(checkpoint_step(dir.path()), None);
        write(dir.path(), "checkpoints/step-00000250/state.json", "{}");
        write(dir.path(), "checkpoints/step-00001000/state.json", "{}");
        write(dir.path(), "checkpoints/step-00000500/state.json", "{}");
        assert_eq!(checkpoint_step(dir.path()), Some(1000));
    }

    #[test]
    fn cpuinfo_gives_model_count_and_avx512() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse avx2\n\n\
                    processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse avx2\n";
        assert_eq!(parse_cpuinfo(text), ("AMD EPYC 7B13".into(), 2, false));
        let text = text.replace("avx2", "avx2 avx512f avx512bw");
        assert!(parse_cpuinfo(&text).2);
        // avx512bw alone is not avx512f.
        let text = "processor: 0\nflags: avx512bw\n";
        assert_eq!(parse_cpuinfo(text), ("unknown CPU".into(), 1, false));
        assert_eq!(parse_loadavg("1.60 2.05 2.09 4/110 32659\n"), Some(1.6));
    }

    /// `python3 -c "import datetime as d; print(d.datetime.fromtimestamp(1700000000,
    /// d.timezone.utc))"` gives 2023-11-14 22:13:20; 951782400 is 2000-02-29 00:00:00.
    #[test]
    fn utc_dates_match_pythons() {
        assert_eq!(utc_date(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_date(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc_date(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn the_sidecar_round_trips_and_replaces_itself() {
        let dir = tempfile::tempdir().unwrap();
        let sitting = Sitting {
            command: "RAYON_NUM_THREADS=1 burngan train".into(),
            commit: "abc-dirty".into(),
            date: "2025-01-01T00:00:00Z".into(),
            cpu: "AMD EPYC".into(),
            cores: 2,
            avx512: false,
            load_average: 1.5,
            threads: 1,
            backend: "flex".into(),
            exit_code: None,
            process_seconds: None,
            binary: None,
        };
        let mut sidecar = Sidecar {
            preset: "ring8-best".into(),
            seed: 2,
            planned_steps: 8000,
            sittings: vec![sitting.clone()],
            preset_text: Some("[run]\nsteps = 8000\n".into()),
        };
        sidecar.write(dir.path()).unwrap();
        sidecar.sittings.push(sitting);
        sidecar.write(dir.path()).unwrap();
        assert_eq!(Sidecar::read(dir.path()), Some(sidecar));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [SIDECAR]);
    }
}
