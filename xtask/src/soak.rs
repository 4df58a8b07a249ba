//! `cargo xtask soak`: a long training run in a child process whose resident memory is
//! sampled every second, then judged flat or growing by a least-squares fit of memory against
//! the training step after the warm-up.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};

use crate::{cargo, flag_value, workspace_root};

/// Memory is flat when the fitted growth over the measured span stays under this fraction of
/// the warm resident size.
const FLAT_FRACTION: f64 = 0.05;

/// One memory sample: seconds since the start, the last step logged to `metrics.jsonl`, and
/// the child's resident set size in KiB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    pub seconds: f64,
    pub step: usize,
    pub rss_kib: u64,
}

/// The least-squares line through `(x, y)` points: (slope, intercept); `None` with fewer than
/// two distinct x.
pub(crate) fn fit_line(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    if points.len() < 2 || sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    Some((slope, mean_y - slope * mean_x))
}

/// What the samples say about memory after the warm-up.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    /// Samples at or after the warm-up step.
    pub samples: usize,
    /// Median resident size after the warm-up, MiB.
    pub warm_mib: f64,
    /// Largest resident size seen, MiB.
    pub peak_mib: f64,
    /// Fitted slope, MiB per 1000 steps.
    pub slope_mib_per_kstep: f64,
    /// The fitted growth over the measured steps, MiB.
    pub growth_mib: f64,
    /// Whether the growth is under [`FLAT_FRACTION`] of `warm_mib`.
    pub flat: bool,
}

/// Judges `samples` from step `warmup` on.
pub(crate) fn judge(samples: &[Sample], warmup: usize) -> Option<Verdict> {
    let mib = |s: &Sample| s.rss_kib as f64 / 1024.0;
    let warm: Vec<&Sample> = samples.iter().filter(|s| s.step >= warmup).collect();
    let points: Vec<(f64, f64)> = warm.iter().map(|s| (s.step as f64, mib(s))).collect();
    let (slope, _) = fit_line(&points)?;
    let mut sizes: Vec<f64> = warm.iter().map(|s| mib(s)).collect();
    sizes.sort_by(f64::total_cmp);
    let warm_mib = sizes[sizes.len() / 2];
    let first = warm.first()?.step as f64;
    let last = warm.last()?.step as f64;
    let growth_mib = slope * (last - first);
    Some(Verdict {
        samples: warm.len(),
        warm_mib,
        peak_mib: samples.iter().map(mib).fold(0.0, f64::max),
        slope_mib_per_kstep: slope * 1000.0,
        growth_mib,
        flat: growth_mib < FLAT_FRACTION * warm_mib,
    })
}

/// The resident set size of process `pid` in KiB, from `/proc/PID/status`.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The step of the last complete line of `metrics.jsonl` (0 before the first, and 0 while the
/// file is one last modified before `since`: an earlier run's, not yet replaced by this one's).
fn last_step(metrics: &Path, since: SystemTime) -> usize {
    let fresh = std::fs::metadata(metrics)
        .and_then(|m| m.modified())
        .is_ok_and(|modified| modified >= since);
    if !fresh {
        return 0;
    }
    let Ok(text) = std::fs::read_to_string(metrics) else {
        return 0;
    };
    text.lines()
        .rev()
        .filter(|line| line.ends_with('}'))
        .find_map(line_step)
        .unwrap_or(0)
}

/// The step a `metrics.jsonl` line (`{"step":N,…`) records.
fn line_step(line: &str) -> Option<usize> {
    let rest = line.strip_prefix("{\"step\":")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The step of the first line of `metrics.jsonl` (text `metrics`) that carries an evaluation.
fn first_eval_step(metrics: &str) -> Option<usize> {
    metrics
        .lines()
        .filter(|line| line.ends_with('}') && line.contains("\"eval\":"))
        .find_map(line_step)
}

/// The default warm-up of a `steps`-step soak: a tenth of the steps, and at least past the
/// first evaluation (`first_eval`) when one came before the last step. The first evaluation
/// loads the feature network and allocates its buffers once; counting that one-off rise as
/// growth would fail a run whose memory is flat from then on.
fn default_warmup(steps: usize, first_eval: Option<usize>) -> usize {
    let tenth = (steps / 10).max(1);
    match first_eval {
        Some(step) if step + 1 < steps => tenth.max(step + 1),
        _ => tenth,
    }
}

/// The `burngan` binary `cargo build --release` leaves in the target directory.
fn binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("release/burngan")
}

/// `cargo xtask soak ARGS`.
pub(crate) fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    if !Path::new("/proc/self/status").is_file() {
        return usage("sampling memory needs Linux's /proc; run the soak on Linux".into());
    }
    let soak = match SoakArgs::parse(args) {
        Ok(soak) => soak,
        Err(message) => return usage(message),
    };
    eprintln!("xtask soak: cargo build --release --package burngan-cli");
    let status = cargo()
        .args(["build", "--release", "--quiet", "--package", "burngan-cli"])
        .status()
        .context("cannot start cargo")?;
    if !status.success() {
        bail!("building burngan failed ({status})");
    }
    let sampled = sample_training(&soak)?;
    let metrics = soak.out.join("metrics.jsonl");
    let reached = last_step(&metrics, sampled.launched);
    let warmup = soak.warmup.unwrap_or_else(|| {
        let text = std::fs::read_to_string(&metrics).unwrap_or_default();
        default_warmup(soak.steps, first_eval_step(&text))
    });
    let verdict = judge(&sampled.samples, warmup);
    let json = soak_json(&soak, &sampled, reached, warmup, verdict.as_ref())?;
    std::fs::write(soak.out.join("soak.json"), &json)?;
    print!("{json}");
    if !sampled.status.success() {
        bail!(
            "the training run failed ({}) at step {reached}; see the messages above",
            sampled.status
        );
    }
    conclude(verdict, warmup)
}

/// Reports a usage error: the message on standard error, exit code 2.
fn usage(message: String) -> anyhow::Result<ExitCode> {
    eprintln!("xtask soak: {message}");
    Ok(ExitCode::from(2))
}

/// What `cargo xtask soak` was asked to run.
struct SoakArgs {
    /// `--backend` (default flex).
    backend: String,
    /// `--steps` (default 2000 on wgpu, 20,000 elsewhere).
    steps: usize,
    /// `--warmup`, below `steps`; without it the warm-up is chosen from the finished run
    /// ([`default_warmup`]).
    warmup: Option<usize>,
    /// `--config` (default the MNIST DCGAN preset).
    config: PathBuf,
    /// `--out` (default runs/soak-BACKEND).
    out: PathBuf,
}

impl SoakArgs {
    /// Parses `args`; the error is the usage message.
    fn parse(args: &[String]) -> Result<Self, String> {
        let backend = flag_value(args, "--backend").unwrap_or_else(|| "flex".into());
        let default_steps = if backend == "wgpu" { 2000 } else { 20_000 };
        let steps = positive_flag(args, "--steps", default_steps)?;
        let warmup = match flag_value(args, "--warmup").map(|_| positive_flag(args, "--warmup", 1))
        {
            None => None,
            Some(Ok(n)) if n < steps => Some(n),
            Some(Ok(n)) => {
                return Err(format!("--warmup must be below --steps ({steps}), got {n}"));
            }
            Some(Err(message)) => return Err(message),
        };
        let root = workspace_root();
        let config = flag_value(args, "--config")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("assets/configs/mnist-dcgan-ns.toml"));
        let out = flag_value(args, "--out")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(format!("runs/soak-{backend}")));
        Ok(Self {
            backend,
            steps,
            warmup,
            config,
            out,
        })
    }
}

/// The value of `flag` in `args` as a positive whole number, `default` without the flag.
fn positive_flag(args: &[String], flag: &str, default: usize) -> Result<usize, String> {
    match flag_value(args, flag) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{flag} must be a positive whole number, got {v:?}")),
    }
}

/// A finished training child and the memory sampled while it ran.
struct Sampled {
    /// When the child was started.
    launched: SystemTime,
    /// The child's exit status.
    status: std::process::ExitStatus,
    /// One sample a second.
    samples: Vec<Sample>,
    /// Seconds from the start to the end of sampling.
    seconds: f64,
}

/// Runs `burngan train` as `soak` asks in a child process, sampling its resident memory
/// every second into `soak.csv` (rewritten every minute, so that an interrupted soak keeps
/// its samples).
fn sample_training(soak: &SoakArgs) -> anyhow::Result<Sampled> {
    let SoakArgs {
        backend,
        steps,
        config,
        out,
        ..
    } = soak;
    let launched = SystemTime::now();
    let mut child = Command::new(binary())
        .current_dir(workspace_root())
        .arg("train")
        .arg("--config")
        .arg(config)
        .args(["--backend", backend, "--steps", &steps.to_string()])
        .arg("--out")
        .arg(out)
        .arg("--overwrite")
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", binary().display()))?;
    eprintln!(
        "xtask soak: burngan train --config {} --backend {backend} --steps {steps} --out {} \
         (process {}), sampling resident memory every second",
        config.display(),
        out.display(),
        child.id()
    );
    let started = Instant::now();
    let metrics = out.join("metrics.jsonl");
    let mut samples = Vec::new();
    let mut csv = String::from("seconds,step,rss_kib\n");
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Some(rss_kib) = rss_kib(child.id()) {
            let sample = Sample {
                seconds: started.elapsed().as_secs_f64(),
                step: last_step(&metrics, launched),
                rss_kib,
            };
            writeln!(
                csv,
                "{:.1},{},{}",
                sample.seconds, sample.step, sample.rss_kib
            )?;
            samples.push(sample);
            // The samples so far survive an interrupted soak.
            if samples.len() % 60 == 0 {
                std::fs::write(out.join("soak.csv"), &csv)?;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("soak.csv"), &csv)?;
    Ok(Sampled {
        launched,
        status,
        samples,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The soak's `soak.json`: what ran, how far it got and, with enough samples, the verdict.
fn soak_json(
    soak: &SoakArgs,
    sampled: &Sampled,
    reached: usize,
    warmup: usize,
    verdict: Option<&Verdict>,
) -> anyhow::Result<String> {
    let mut json = format!(
        "{{\n  \"backend\": \"{}\",\n  \"config\": \"{}\",\n  \"steps\": {},\n  \
         \"reached\": {reached},\n  \"completed\": {},\n  \"seconds\": {:.1},\n  \
         \"warmup_steps\": {warmup},\n  \"samples\": {}",
        soak.backend,
        soak.config.display(),
        soak.steps,
        sampled.status.success(),
        sampled.seconds,
        sampled.samples.len()
    );
    if let Some(v) = verdict {
        write!(
            json,
            ",\n  \"warm_samples\": {},\n  \"warm_rss_mib\": {:.1},\n  \"peak_rss_mib\": {:.1},\n  \
             \"slope_mib_per_1000_steps\": {:.4},\n  \"fitted_growth_mib\": {:.2},\n  \
             \"flat\": {}",
            v.samples, v.warm_mib, v.peak_mib, v.slope_mib_per_kstep, v.growth_mib, v.flat
        )?;
    }
    json.push_str("\n}\n");
    Ok(json)
}

/// Success when memory stayed flat after step `warmup`, an error naming the growth when it
/// did not or when too few samples came after the warm-up.
fn conclude(verdict: Option<Verdict>, warmup: usize) -> anyhow::Result<ExitCode> {
    match verdict {
        Some(v) if v.flat => {
            eprintln!(
                "xtask soak: memory flat after step {warmup}: {:.1} MiB warm, slope {:.3} MiB \
                 per 1000 steps ({:.1} MiB over the run, limit {:.1} MiB)",
                v.warm_mib,
                v.slope_mib_per_kstep,
                v.growth_mib,
                FLAT_FRACTION * v.warm_mib
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(v) => bail!(
            "memory grows: slope {:.3} MiB per 1000 steps, {:.1} MiB over the run (limit {:.1} \
             MiB = {}% of the warm {:.1} MiB)",
            v.slope_mib_per_kstep,
            v.growth_mib,
            FLAT_FRACTION * v.warm_mib,
            FLAT_FRACTION * 100.0,
            v.warm_mib
        ),
        None => bail!(
            "too few memory samples after the warm-up (step {warmup}) to fit a line: train for \
             more steps or lower --warmup"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_a_known_line() {
        // y = 3x − 2 exactly, then noise that is symmetric about it.
        let exact: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 * i as f64 - 2.0)).collect();
        let (slope, intercept) = fit_line(&exact).unwrap();
        assert!((slope - 3.0).abs() < 1e-12 && (intercept + 2.0).abs() < 1e-12);
        let noisy = [(0.0, 1.0), (0.0, -1.0), (2.0, 1.0), (2.0, -1.0)];
        assert_eq!(fit_line(&noisy), Some((0.0, 0.0)));
        assert_eq!(fit_line(&[(1.0, 1.0), (1.0, 2.0)]), None);
    }

    #[test]
    fn the_default_warm_up_ends_after_the_first_evaluation() {
        let metrics = "{\"step\":240,\"loss_d\":0.5}\n\
                       {\"step\":250,\"loss_d\":0.5,\"eval\":{\"fd\":2.0}}\n\
                       {\"step\":260,\"loss_d\":0.5}\n\
                       {\"step\":500,\"loss_d\":0.5,\"eval\":{\"fd\":1.0}}\n";
        assert_eq!(first_eval_step(metrics), Some(250));
        assert_eq!(first_eval_step("{\"step\":10,\"loss_d\":0.5}\n"), None);
        // A tenth of the steps when that is later than the first evaluation...
        assert_eq!(default_warmup(20_000, Some(250)), 2000);
        // ...past the first evaluation when that is later...
        assert_eq!(default_warmup(2000, Some(250)), 251);
        // ...and a tenth when the only evaluation is the last step's, or there is none.
        assert_eq!(default_warmup(500, Some(500)), 50);
        assert_eq!(default_warmup(500, None), 50);
    }

    fn samples(rss: impl Fn(usize) -> u64) -> Vec<Sample> {
        (0..=100)
            .map(|i| Sample {
                seconds: i as f64,
                step: i * 100,
                rss_kib: rss(i * 100),
            })
            .collect()
    }

    #[test]
    fn flat_memory_after_a_warm_up_passes() {
        // 300 MiB while warming up, then 500 MiB ± 1 MiB alternating.
        let s = samples(|step| {
            if step < 1000 {
                300 * 1024
            } else {
                500 * 1024 + if step % 200 == 0 { 1024 } else { 0 }
            }
        });
        let v = judge(&s, 1000).unwrap();
        assert_eq!(v.samples, 91);
        assert!(v.flat, "{v:?}");
        assert!(v.slope_mib_per_kstep.abs() < 0.01, "{v:?}");
        assert!((v.peak_mib - 501.0).abs() < 1e-9);
    }

    #[test]
    fn a_leak_of_a_few_kib_per_step_fails() {
        // 500 MiB growing 4 KiB per step: 35.2 MiB over steps 1000..=10000, above 5 % of ~517.
        let s = samples(|step| 500 * 1024 + 4 * step as u64);
        let v = judge(&s, 1000).unwrap();
        assert!(
            (v.slope_mib_per_kstep - 4000.0 / 1024.0).abs() < 1e-9,
            "{v:?}"
        );
        assert!((v.growth_mib - 9000.0 * 4.0 / 1024.0).abs() < 1e-6, "{v:?}");
        assert!(!v.flat, "{v:?}");
    }

    #[test]
    fn the_last_complete_line_gives_the_step() {
        let dir = std::env::temp_dir().join(format!("xtask-soak-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("metrics.jsonl");
        assert_eq!(last_step(&path, SystemTime::UNIX_EPOCH), 0);
        std::fs::write(
            &path,
            "{\"step\":10,\"loss_d\":1.0}\n{\"step\":20,\"loss_d\":1.0}\n{\"step\":30,\"lo",
        )
        .unwrap();
        assert_eq!(last_step(&path, SystemTime::UNIX_EPOCH), 20);
        // A file from before the soak started (an earlier run in the same directory) is not
        // this run's progress.
        let later = SystemTime::now() + Duration::from_secs(3600);
        assert_eq!(last_step(&path, later), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
