//! Runs that share a machine: two runs in different directories at once train exactly as
//! alone; a second run pointed at a directory a live run holds is refused before it touches
//! anything; a lock left by a killed run is taken over. Runs that blow up stop (or skip the
//! bad updates) with a diagnostic line. Runs killed with SIGKILL at random moments, several
//! times over, resume from a valid checkpoint and end with the weights of an uninterrupted run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use burngan_app::{LOCK_FILE, RunLock};
use burngan_backend::BackendKind;
use burngan_core::HostRng;
use burngan_models::{MlpDiscriminatorConfig, MlpGeneratorConfig};
use burngan_train::{files, load_module};
use safetensors::SafeTensors;

use crate::support::{burngan, burngan_process, preset, tensors};

fn train_args(out: &Path) -> Vec<String> {
    [
        "train",
        "--config",
        &preset("ring8-ns").display().to_string(),
        "--backend",
        "flex",
        "--steps",
        "40",
        "--out",
        &out.display().to_string(),
    ]
    .map(String::from)
    .to_vec()
}

fn run(args: &[String]) -> (u8, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    burngan(&args)
}

#[test]
fn two_runs_in_different_directories_at_once_do_not_interfere() {
    let dir = tempfile::tempdir().unwrap();
    let outs = [
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("alone"),
    ];
    std::thread::scope(|scope| {
        let handles: Vec<_> = outs[..2]
            .iter()
            .map(|out| scope.spawn(move || run(&train_args(out))))
            .collect();
        for handle in handles {
            let (code, message) = handle.join().unwrap();
            assert_eq!(code, 0, "{message}");
        }
    });
    let (code, message) = run(&train_args(&outs[2]));
    assert_eq!(code, 0, "{message}");
    // The same seeded run: the same metrics, line for line, whether it ran alone or beside
    // another; no lock left behind.
    let metrics = |out: &Path| std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert!(metrics(&outs[2]).lines().count() >= 4);
    for out in &outs[..2] {
        assert_eq!(metrics(out), metrics(&outs[2]), "{}", out.display());
        assert!(!out.join(LOCK_FILE).exists());
    }
}

#[test]
fn a_directory_held_by_a_live_run_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("metrics.jsonl"), "earlier run\n").unwrap();
    // This process plays the live run holding the directory.
    let (lock, _) = RunLock::acquire(&out).unwrap();
    let mut args = train_args(&out);
    args.push("--overwrite".into());
    let (code, message) = run(&args);
    assert_eq!(code, 2, "{message}");
    assert!(
        message.contains("in use by another burngan run")
            && message.contains(&format!("process {}", std::process::id())),
        "{message}"
    );
    // Not even --overwrite touched it.
    assert_eq!(
        std::fs::read_to_string(out.join("metrics.jsonl")).unwrap(),
        "earlier run\n"
    );
    assert!(!out.join("checkpoints").exists());
    // Once the holder is gone the same command runs, and releases the directory.
    drop(lock);
    let (code, message) = run(&args);
    assert_eq!(code, 0, "{message}");
    assert!(!out.join(LOCK_FILE).exists());
}

#[test]
fn a_lock_left_by_a_killed_run_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    std::fs::write(out.join(LOCK_FILE), format!("{dead}\n")).unwrap();
    let (code, message) = run(&train_args(&out));
    assert_eq!(code, 0, "{message}");
    assert!(out.join("checkpoints/latest").is_file());
    assert!(!out.join(LOCK_FILE).exists());
}

#[test]
fn a_blow_up_stops_the_run_with_a_diagnostic_line_and_keeps_the_last_finite_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    // Learning rates of 1e3 make the losses overflow within a few steps.
    let text = std::fs::read_to_string(preset("ring8-ns"))
        .unwrap()
        .replace("lr = 5e-4", "lr = 1e3")
        .replace(
            "plot_samples = 1000",
            "plot_samples = 1000\ncheckpoint_every = 2",
        );
    let config = dir.path().join("blow.toml");
    std::fs::write(&config, text).unwrap();
    let out = dir.path().join("run");
    let (code, message) = burngan(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--backend",
        "flex",
        "--log-every",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{message}");
    let lines: Vec<String> = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    // Every line before the last is a step with finite numbers; the last says what happened.
    let last: burngan_train::NonFiniteEntry = serde_json::from_str(lines.last().unwrap()).unwrap();
    let failed = last.step;
    assert_eq!(last.stopped, "non-finite");
    assert!(
        ["NaN", "inf", "-inf"].contains(&last.value.as_str()),
        "{}",
        last.value
    );
    assert!(
        message.contains(&format!(
            "{} became {} at step {failed}",
            last.quantity, last.value
        )),
        "{message}"
    );
    assert_eq!(
        lines.len(),
        failed,
        "one line per step before it, then the diagnostic"
    );
    for (i, line) in lines[..failed - 1].iter().enumerate() {
        let metrics: burngan_train::StepMetrics = serde_json::from_str(line).unwrap();
        assert_eq!(metrics.step, i + 1);
        assert_eq!(metrics.first_non_finite(), None, "step {}", i + 1);
    }
    // The newest checkpoint is the last even step before the failure, complete.
    let latest = std::fs::read_to_string(out.join("checkpoints/latest")).unwrap();
    let kept = (failed - 1) / 2 * 2;
    assert!(
        kept >= 2,
        "the blow-up came at step {failed}, before any checkpoint"
    );
    assert_eq!(latest.trim(), format!("step-{kept:08}"));
    let state =
        burngan_train::read_checkpoint_state(&out.join("checkpoints").join(latest.trim())).unwrap();
    assert_eq!(state.step, kept);
}

#[test]
fn a_blow_up_under_skip_skips_the_bad_updates_then_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    // Learning rates of 1e2: from some step on, every discriminator loss is NaN.
    let config = |policy: &str| {
        let text = std::fs::read_to_string(preset("ring8-ns"))
            .unwrap()
            .replace("lr = 5e-4", "lr = 1e2")
            .replace(
                "plot_samples = 1000",
                "plot_samples = 1000\ncheckpoint_every = 2",
            )
            .replace(
                "lr_decay = \"linear\"",
                &format!("lr_decay = \"linear\"\non_non_finite = \"{policy}\""),
            );
        let path = dir.path().join(format!("{policy}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    };
    let train = |policy: &str| {
        let out = dir.path().join(policy);
        let (code, message) = burngan(&[
            "train",
            "--config",
            config(policy).to_str().unwrap(),
            "--backend",
            "flex",
            "--log-every",
            "1",
            "--steps",
            "100",
            "--out",
            out.to_str().unwrap(),
        ]);
        let lines: Vec<String> = std::fs::read_to_string(out.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        (code, message, lines, out)
    };
    let (code, message, stop_lines, _) = train("stop");
    assert_eq!(code, 1, "{message}");
    let stopped: burngan_train::NonFiniteEntry =
        serde_json::from_str(stop_lines.last().unwrap()).unwrap();
    let first_bad = stopped.step;

    let (code, message, lines, out) = train("skip");
    assert_eq!(code, 1, "{message}");
    let limit = burngan_train::MAX_SKIPPED_STEPS;
    let gave_up = first_bad + limit - 1;
    assert!(
        message.contains(&format!(
            "{limit} steps in a row, up to step {gave_up}, had a NaN or infinite loss or \
             gradient and skipped their updates"
        )),
        "{message}"
    );
    // Identical to the stopping run before the first bad step; then one line per skipped
    // step, each with its skipped update; then the diagnostic line.
    assert_eq!(lines[..first_bad - 1], stop_lines[..first_bad - 1]);
    assert_eq!(lines.len(), gave_up);
    for (i, line) in lines[first_bad - 1..gave_up - 1].iter().enumerate() {
        let metrics: burngan_train::StepMetrics = serde_json::from_str(line).unwrap();
        assert_eq!(metrics.step, first_bad + i);
        assert!(metrics.skipped_updates >= 1, "{line}");
        assert!(metrics.first_non_finite().is_some(), "{line}");
    }
    let last: burngan_train::NonFiniteEntry = serde_json::from_str(&lines[gave_up - 1]).unwrap();
    assert_eq!((last.step, last.stopped.as_str()), (gave_up, "non-finite"));
    // Checkpoints went on while updates were skipped: the newest is the last even step, with
    // finite weights throughout.
    let latest = burngan_train::find_checkpoint(&out).unwrap();
    let state = burngan_train::read_checkpoint_state(&latest).unwrap();
    assert_eq!(state.step, (gave_up - 1) / 2 * 2);
    let device = burngan_backend::device(BackendKind::Flex).unwrap();
    let mut rng = HostRng::seed_from(1);
    let critic = MlpDiscriminatorConfig::new(vec![256; 3])
        .init(2, &mut rng, &device)
        .unwrap();
    let critic = load_module(critic, &latest.join(files::DISCRIMINATOR)).unwrap();
    assert!(tensors(&critic).iter().all(|w| w.is_finite()));
}

/// Starts the real `burngan` binary with `args` as a child process (so that it can be killed
/// with SIGKILL), its standard error in `stderr`.
fn spawn_burngan(args: &[String], stderr: &Path) -> std::process::Child {
    burngan_process()
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap()
}

/// Steps of the kill test's run (a checkpoint every 2) and the kills it aims for.
const KILL_STEPS: usize = 40;
const KILLS: usize = 10;

/// The kill test's config in `dir`: `ring8-ns` for [`KILL_STEPS`] steps, a log line every step
/// and a checkpoint every 2.
fn kill_config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(preset("ring8-ns"))
        .unwrap()
        .replace("steps = 2000", &format!("steps = {KILL_STEPS}"))
        .replace("log_every = 10", "log_every = 1")
        .replace(
            "plot_samples = 1000",
            "plot_samples = 1000\ncheckpoint_every = 2",
        );
    let config = dir.join("kill.toml");
    std::fs::write(&config, text).unwrap();
    config
}

/// `burngan train` arguments for the run in `out` on flex: resumed, or fresh from `config`
/// (overwriting what a run killed before its first checkpoint left).
fn kill_args(config: &Path, out: &Path, resume: bool) -> Vec<String> {
    let out = out.to_str().unwrap();
    let args: Vec<&str> = match resume {
        true => vec!["train", "--resume", out, "--backend", "flex"],
        false => vec![
            "train",
            "--config",
            config.to_str().unwrap(),
            "--backend",
            "flex",
            "--overwrite",
            "--out",
            out,
        ],
    };
    args.into_iter().map(String::from).collect()
}

/// The step of the newest complete checkpoint in `out`, if there is one.
fn latest_step(out: &Path) -> Option<usize> {
    let latest = burngan_train::find_checkpoint(out).ok()?;
    Some(burngan_train::read_checkpoint_state(&latest).unwrap().step)
}

/// Whether a checkpoint is being written in `out` (its partial directory exists; it is renamed
/// into place once complete).
fn writing_checkpoint(out: &Path) -> bool {
    std::fs::read_dir(out.join("checkpoints")).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".partial-"))
    })
}

/// Seeded fractions in [0, 1] (splitmix64), for the kill times.
struct Fractions(u64);

impl Fractions {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    }
}

/// What [`kill_repeatedly`] did.
struct Kills {
    kills: usize,
    /// The checkpoint steps the run was resumed from, in order.
    resumed_from: Vec<usize>,
    /// Kills that left a partial checkpoint behind.
    during_writes: usize,
    /// Whether the run reached its end (a sitting exited, or the last checkpoint was written).
    finished: bool,
}

/// Starts the run in `out` and SIGKILLs it again and again, resuming it from its newest
/// checkpoint each time (afresh when there is none), until [`KILLS`] kills or the run's end.
/// Every third sitting is killed as soon as a checkpoint write begins; the others after a
/// seeded time uniform over [0, 0.6) × `length` (the uninterrupted run's), so that a run is
/// usually killed several times before it ends. After each kill the newest checkpoint must be
/// complete, loadable and no older than before it.
fn kill_repeatedly(dir: &Path, config: &Path, out: &Path, length: Duration) -> Kills {
    let mut fractions = Fractions(0x5eed);
    let mut done = Kills {
        kills: 0,
        resumed_from: Vec::new(),
        during_writes: 0,
        finished: false,
    };
    for attempt in 0..3 * KILLS {
        let previous = latest_step(out);
        if done.kills == KILLS || previous == Some(KILL_STEPS) {
            // A run killed after its last checkpoint, on its way out, is complete.
            done.finished |= previous == Some(KILL_STEPS);
            break;
        }
        done.resumed_from.extend(previous);
        let stderr = dir.join(format!("attempt-{attempt}.err"));
        let mut child = spawn_burngan(&kill_args(config, out, previous.is_some()), &stderr);
        if attempt % 3 == 2 {
            let deadline = Instant::now() + length;
            while Instant::now() < deadline && !writing_checkpoint(out) {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
            }
        } else {
            std::thread::sleep(length.mul_f64(0.6 * fractions.next()));
        }
        match child.try_wait().unwrap() {
            Some(status) => {
                let message = std::fs::read_to_string(&stderr).unwrap();
                assert!(status.success(), "attempt {attempt}: {status}: {message}");
                done.finished = true;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                done.kills += 1;
            }
        }
        done.during_writes += usize::from(writing_checkpoint(out));
        if let Some(step) = latest_step(out) {
            assert!(
                step % 2 == 0 && step <= KILL_STEPS,
                "attempt {attempt}: step {step}"
            );
            if let Some(previous) = previous {
                assert!(step >= previous, "attempt {attempt}: {previous} -> {step}");
            }
        }
        if done.finished {
            break;
        }
    }
    done
}

/// Optimizer state by content (metadata and named tensor bytes): safetensors writes its
/// metadata map in hash order.
type Contents = (BTreeMap<String, String>, Vec<(String, Vec<u8>)>);

fn optimizer_contents(path: &Path) -> Contents {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = header.metadata().clone().unwrap_or_default();
    let mut tensors: Vec<(String, Vec<u8>)> = SafeTensors::deserialize(&bytes)
        .unwrap()
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    tensors.sort();
    (metadata.into_iter().collect(), tensors)
}

/// A finished kill-test run: weights (by value: Burn stores random parameter ids in module
/// files, which differ between any two runs), optimizer states, the checkpoint's state file
/// (RNG position) and the metrics.
#[derive(PartialEq)]
struct EndState {
    generator: Vec<f32>,
    critic: Vec<f32>,
    optimizers: (Contents, Contents),
    state: Vec<u8>,
    metrics: String,
}

fn end_state(out: &Path) -> EndState {
    let checkpoint = out
        .join("checkpoints")
        .join(format!("step-{KILL_STEPS:08}"));
    let device = burngan_backend::device(BackendKind::Flex).unwrap();
    let mut rng = HostRng::seed_from(1);
    let generator = MlpGeneratorConfig::new(2, vec![256; 3])
        .init(2, &mut rng, &device)
        .unwrap();
    let critic = MlpDiscriminatorConfig::new(vec![256; 3])
        .init(2, &mut rng, &device)
        .unwrap();
    let generator = load_module(generator, &checkpoint.join(files::GENERATOR)).unwrap();
    let critic = load_module(critic, &checkpoint.join(files::DISCRIMINATOR)).unwrap();
    EndState {
        generator: tensors(&generator),
        critic: tensors(&critic),
        optimizers: (
            optimizer_contents(&checkpoint.join(files::OPTIMIZER_G)),
            optimizer_contents(&checkpoint.join(files::OPTIMIZER_D)),
        ),
        state: std::fs::read(checkpoint.join(files::STATE)).unwrap(),
        metrics: std::fs::read_to_string(out.join("metrics.jsonl")).unwrap(),
    }
}

fn assert_same_end(out: &Path, expected: &EndState) {
    let end = end_state(out);
    assert!(end.generator == expected.generator, "the generators differ");
    assert!(end.critic == expected.critic, "the discriminators differ");
    assert!(
        end.optimizers == expected.optimizers && end.state == expected.state,
        "the optimizer states or the RNG position differ"
    );
    assert_eq!(end.metrics, expected.metrics);
}

#[test]
fn sigkill_at_random_moments_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let config = kill_config(dir.path());
    // The uninterrupted run, as a child process like the killed ones; its length sets the
    // range of the kill times.
    let reference = dir.path().join("reference");
    let started = Instant::now();
    let status = spawn_burngan(
        &kill_args(&config, &reference, false),
        &dir.path().join("reference.err"),
    )
    .wait()
    .unwrap();
    let length = started.elapsed();
    assert!(status.success(), "the reference run failed: {status}");

    let out = dir.path().join("killed");
    let done = kill_repeatedly(dir.path(), &config, &out, length);
    eprintln!(
        "kill test: {} kills of runs of {length:?}; resumed from steps {:?}; {} kills left a \
         partial checkpoint behind",
        done.kills, done.resumed_from, done.during_writes
    );
    assert!(
        done.kills >= 3
            && done
                .resumed_from
                .iter()
                .any(|&step| step > 0 && step < KILL_STEPS),
        "too few kills fell mid-run: {} kills, resumed from {:?}",
        done.kills,
        done.resumed_from
    );
    // The last kill may also have landed after the last checkpoint (a kill aimed at a
    // checkpoint write follows the last one): then the run is complete and a resume would be
    // refused as having nothing left to train.
    if !done.finished && latest_step(&out) != Some(KILL_STEPS) {
        let stderr = dir.path().join("final.err");
        let args = kill_args(&config, &out, latest_step(&out).is_some());
        let status = spawn_burngan(&args, &stderr).wait().unwrap();
        let message = std::fs::read_to_string(&stderr).unwrap();
        assert!(
            status.success(),
            "the final resume failed: {status}: {message}"
        );
    }
    // The same weights, optimizer states, RNG position and metrics, line for line, as the
    // uninterrupted run.
    let expected = end_state(&reference);
    assert_same_end(&out, &expected);

    // A kill in the middle of a metrics line leaves it cut short: the resumed run drops it
    // with a warning and still ends as the uninterrupted run did.
    let torn = dir.path().join("torn");
    let mut args = kill_args(&config, &torn, false);
    args.extend(["--stop-at".to_string(), "10".to_string()]);
    let status = spawn_burngan(&args, &dir.path().join("torn-1.err"))
        .wait()
        .unwrap();
    assert!(status.success());
    let metrics = torn.join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(text.lines().count(), 10);
    text.push_str("{\"step\":11,\"loss_d\":0.69");
    std::fs::write(&metrics, text).unwrap();
    let stderr = dir.path().join("torn-2.err");
    let status = spawn_burngan(&kill_args(&config, &torn, true), &stderr)
        .wait()
        .unwrap();
    let warnings = std::fs::read_to_string(&stderr).unwrap();
    assert!(status.success(), "{warnings}");
    assert!(
        warnings.contains("line 11 is not a complete step record")
            && warnings.contains("resuming from step 10"),
        "{warnings}"
    );
    assert_same_end(&torn, &expected);
}
