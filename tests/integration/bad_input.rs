//! The bad-input catalogue of `docs/reliability.md`, through the real `burngan` command: a bad
//! config value, data file, checkpoint or command line is refused with exit code 2 (usage) or
//! 1 (run failure) and a message that names the value and the fix, and whatever was already on
//! disk is left byte for byte as it was. Most cases point `--out` at a directory holding an
//! earlier run and pass `--overwrite`, so a refusal that came too late would show as a changed
//! file.
//!
//! The cases are tables ([`config_cases`], [`data_cases`], [`checkpoint_cases`],
//! [`command_line_cases`]); each row is named as in the catalogue, and the test that drives a
//! table runs every row and reports every failing one by name. Two cases need a child process
//! of their own and are tests of their own.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use burngan_backend::BackendKind;

use crate::support::{burngan, burngan_process, preset, root, shipped_mnist, tiny_dcgan_config};

/// One case of the catalogue: its name (as `docs/reliability.md` cites it), the exit code it
/// must end with, and how to build it in a fresh directory of its own.
struct Case {
    name: &'static str,
    code: u8,
    build: fn(&Path) -> Refusal,
}

/// A command that must be refused: its arguments (after `burngan`), the fragments its message
/// must contain, and the directory whose every file must be byte-identical afterwards.
struct Refusal {
    args: Vec<String>,
    needles: Vec<String>,
    keep: PathBuf,
}

impl Refusal {
    fn new(args: &[&str], keep: &Path) -> Self {
        Refusal {
            args: args.iter().map(|a| a.to_string()).collect(),
            needles: Vec::new(),
            keep: keep.to_path_buf(),
        }
    }

    /// The same refusal, whose message must also contain every needle.
    fn expect(mut self, needles: &[&str]) -> Self {
        self.needles.extend(needles.iter().map(|n| n.to_string()));
        self
    }
}

fn case(name: &'static str, code: u8, build: fn(&Path) -> Refusal) -> Case {
    Case { name, code, build }
}

/// Runs every case (each in its own temporary directory, a panic caught as a failure of its
/// case), then fails naming every case that failed and why.
fn run_cases(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let dir = tempfile::tempdir().unwrap();
            let refusal = (case.build)(dir.path());
            check(case, &refusal)
        }));
        let failure = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(why)) => why,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("a panic");
                format!("panicked: {what}")
            }
        };
        failures.push(format!("{}: {failure}", case.name));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Runs the refusal's command; `Err` says what differs from the case: the exit code, a missing
/// needle, a repeated clause, a file of `keep` changed. The message is printed for the
/// catalogue's excerpts.
fn check(case: &Case, refusal: &Refusal) -> Result<(), String> {
    let before = snapshot(&refusal.keep);
    if before.is_empty() {
        return Err(format!("{} holds nothing to keep", refusal.keep.display()));
    }
    let args: Vec<&str> = refusal.args.iter().map(String::as_str).collect();
    let (got, message) = burngan(&args);
    eprintln!(
        "{}: burngan {}\n  exit {got}: {message}",
        case.name,
        args.join(" ")
    );
    if got != case.code {
        return Err(format!(
            "exit code {got}, expected {}: {message}",
            case.code
        ));
    }
    let missing: Vec<&String> = refusal
        .needles
        .iter()
        .filter(|needle| !message.contains(needle.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(format!("{missing:?} not in: {message}"));
    }
    repeated_clause(&message)?;
    unchanged(&before, &snapshot(&refusal.keep)).map_err(|files| format!("{files}: {message}"))
}

/// Every file under `dir` (recursively, relative paths) with its bytes; empty when `dir` does
/// not exist.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(path.strip_prefix(root).unwrap().to_path_buf(), bytes);
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

/// `Err` naming every file of `before` that is gone or changed in `after`, and every new one.
fn unchanged(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
) -> Result<(), String> {
    let changed: Vec<String> = before
        .iter()
        .filter(|(path, bytes)| after.get(*path) != Some(*bytes))
        .map(|(path, _)| {
            let how = if after.contains_key(path) {
                "changed"
            } else {
                "removed"
            };
            format!("{} {how}", path.display())
        })
        .chain(
            after
                .keys()
                .filter(|path| !before.contains_key(*path))
                .map(|path| format!("{} added", path.display())),
        )
        .collect();
    if changed.is_empty() {
        Ok(())
    } else {
        Err(changed.join(", "))
    }
}

/// `Err` when a clause of `message` repeats the one before it (`…: reason: reason`), as when
/// an error's cause is printed both by its own message and by the error chain.
fn repeated_clause(message: &str) -> Result<(), String> {
    let clauses: Vec<&str> = message.split(": ").map(str::trim).collect();
    match clauses.windows(2).find(|pair| pair[0] == pair[1]) {
        Some(pair) => Err(format!("{:?} is repeated in: {message}", pair[0])),
        None => Ok(()),
    }
}

/// A directory `dir/earlier` holding the files an earlier run leaves: the resolved config,
/// metrics, the final evaluation, a sample grid and a complete checkpoint.
fn earlier_run(dir: &Path) -> PathBuf {
    let run = dir.join("earlier");
    let checkpoint = run.join("checkpoints/step-00000004");
    std::fs::create_dir_all(&checkpoint).unwrap();
    std::fs::create_dir_all(run.join("samples")).unwrap();
    let files: [(&str, &[u8]); 8] = [
        ("config.toml", b"# Resolved config of an earlier run.\n"),
        ("metrics.jsonl", b"{\"step\":4,\"d_loss\":1.3}\n"),
        ("eval.json", b"{\"steps\": 4}"),
        ("samples/step-000004.png", b"\x89PNG earlier grid"),
        ("checkpoints/latest", b"step-00000004\n"),
        ("checkpoints/step-00000004/state.json", b"{\"step\": 4}"),
        ("checkpoints/step-00000004/generator.bpk", &[7; 64]),
        ("checkpoints/step-00000004/discriminator.bpk", &[9; 64]),
    ];
    for (name, bytes) in files {
        std::fs::write(run.join(name), bytes).unwrap();
    }
    run
}

/// `burngan train --config CONFIG --out DIR/earlier --overwrite EXTRA` where `DIR/earlier`
/// holds an earlier run, which must be kept.
fn train_over_earlier(dir: &Path, config: &Path, extra: &[&str]) -> Refusal {
    let out = earlier_run(dir);
    let mut args = vec![
        "train",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--overwrite",
    ];
    args.extend_from_slice(extra);
    Refusal::new(&args, &out)
}

/// The ring8-ns preset with every `(from, to)` replacement applied, as `dir/NAME.toml`.
fn ring8(dir: &Path, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(preset("ring8-ns")).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "the preset has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// [`train_over_earlier`] with the ring8-ns preset with `from` replaced by `to`.
fn edited(dir: &Path, from: &str, to: &str) -> Refusal {
    let config = ring8(dir, "edited", &[(from, to)]);
    train_over_earlier(dir, &config, &[])
}

/// [`train_over_earlier`] with the ring8-ns preset and `extra` arguments.
fn ring8_with(dir: &Path, extra: &[&str]) -> Refusal {
    train_over_earlier(dir, &preset("ring8-ns"), extra)
}

const G_LR: &str = "[optimizer.generator]\nkind = \"adam\"\nlr = 5e-4";
const D_LR: &str = "[optimizer.discriminator]\nkind = \"adam\"\nlr = 5e-4";
const LOSS: &str = "kind = \"non-saturating\"";
/// Where a `[penalty]` section goes into the ring8-ns preset.
const TRAIN: &str = "[train]";

// ---- Config ----------------------------------------------------------------------------

/// Bad configs: syntax, unknown keys, wrong types, values out of range, missing files, newer
/// formats.
fn config_cases() -> Vec<Case> {
    vec![
        case("invalid_toml_is_a_usage_error_naming_the_line", 2, |dir| {
            let config = dir.join("broken.toml");
            std::fs::write(&config, "[run\nsteps = 3\n").unwrap();
            train_over_earlier(dir, &config, &[]).expect(&[
                "invalid config",
                "broken.toml",
                "line 1",
                "expected",
            ])
        }),
        case(
            "unknown_field_is_a_usage_error_listing_the_valid_ones",
            2,
            |dir| {
                edited(dir, "[train]\n", "[train]\nlearning_rate = 3\n").expect(&[
                    "unknown field `learning_rate`",
                    "expected one of",
                    "batch_size",
                    "critic_steps",
                ])
            },
        ),
        case("wrong_type_is_a_usage_error_naming_the_key", 2, |dir| {
            edited(dir, "batch_size = 512", "batch_size = \"512\"").expect(&[
                "batch_size",
                "invalid type: string \"512\"",
                "expected usize",
            ])
        }),
        case(
            "wrong_type_in_a_kind_section_is_a_usage_error_naming_the_key",
            2,
            |dir| {
                edited(
                    dir,
                    G_LR,
                    "[optimizer.generator]\nkind = \"adam\"\nlr = \"fast\"",
                )
                .expect(&[
                    "TOML parse error at line",
                    "[optimizer.generator]",
                    "invalid type: string \"fast\", expected a number or a schedule table",
                    "the value at fault is `optimizer.generator.lr`",
                ])
            },
        ),
        case("zero_batch_is_a_usage_error", 2, |dir| {
            edited(dir, "batch_size = 512", "batch_size = 0")
                .expect(&["train.batch_size must be a positive integer, got 0"])
        }),
        case("negative_batch_is_a_usage_error", 2, |dir| {
            edited(dir, "batch_size = 512", "batch_size = -8").expect(&[
                "batch_size = -8",
                "invalid value: integer `-8`",
                "expected usize",
            ])
        }),
        case("zero_steps_is_a_usage_error", 2, |dir| {
            edited(dir, "steps = 2000", "steps = 0")
                .expect(&["run.steps must be a positive integer, got 0"])
        }),
        case(
            "zero_steps_on_the_command_line_is_a_usage_error",
            2,
            |dir| {
                ring8_with(dir, &["--steps", "0"])
                    .expect(&["run.steps must be a positive integer, got 0"])
            },
        ),
        case("negative_steps_is_a_usage_error", 2, |dir| {
            edited(dir, "steps = 2000", "steps = -5").expect(&[
                "steps = -5",
                "invalid value: integer `-5`",
                "expected usize",
            ])
        }),
        case("zero_learning_rate_is_a_usage_error", 2, |dir| {
            edited(
                dir,
                G_LR,
                "[optimizer.generator]\nkind = \"adam\"\nlr = 0.0",
            )
            .expect(&["optimizer.generator.lr must be a finite number > 0 (e.g. 1e-4), got 0"])
        }),
        case("negative_learning_rate_is_a_usage_error", 2, |dir| {
            edited(
                dir,
                D_LR,
                "[optimizer.discriminator]\nkind = \"adam\"\nlr = -1e-3",
            )
            .expect(&[
                "optimizer.discriminator.lr must be a finite number > 0 (e.g. 1e-4), got -0.001",
            ])
        }),
        case("nan_learning_rate_is_a_usage_error", 2, |dir| {
            edited(
                dir,
                G_LR,
                "[optimizer.generator]\nkind = \"adam\"\nlr = nan",
            )
            .expect(&["optimizer.generator.lr must be a finite number > 0 (e.g. 1e-4), got NaN"])
        }),
        case("zero_clip_value_is_a_usage_error", 2, |dir| {
            edited(dir, LOSS, "kind = \"wgan\"\nclip = 0.0")
                .expect(&["loss.clip must be a finite number > 0, got 0", "0.01"])
        }),
        case("negative_clip_value_is_a_usage_error", 2, |dir| {
            edited(dir, LOSS, "kind = \"wgan\"\nclip = -0.01")
                .expect(&["loss.clip must be a finite number > 0, got -0.01", "0.01"])
        }),
        case("negative_penalty_weight_is_a_usage_error", 2, |dir| {
            let penalty = "[penalty]\nkind = \"wgan-gp\"\nweight = -10.0\n\n[train]";
            let config = ring8(dir, "penalty", &[(TRAIN, penalty)]);
            train_over_earlier(dir, &config, &[])
                .expect(&["penalty.weight must be a finite number ≥ 0, got -10", "10"])
        }),
        case("nan_penalty_weight_is_a_usage_error", 2, |dir| {
            let penalty = "[penalty]\nkind = \"wgan-gp\"\nweight = nan\n\n[train]";
            let config = ring8(dir, "penalty", &[(TRAIN, penalty)]);
            train_over_earlier(dir, &config, &[])
                .expect(&["penalty.weight must be a finite number ≥ 0, got NaN"])
        }),
        case("zero_critic_steps_is_a_usage_error", 2, |dir| {
            edited(dir, "critic_steps = 1", "critic_steps = 0")
                .expect(&["train.critic_steps must be a positive integer, got 0"])
        }),
        case("a_preset_that_does_not_exist_is_a_usage_error", 2, |dir| {
            train_over_earlier(dir, &preset("ring9-ns"), &[]).expect(&[
                "cannot read config file",
                "ring9-ns.toml",
                "--config assets/configs/ring8-ns.toml",
            ])
        }),
        case("a_config_of_a_newer_format_is_a_usage_error", 2, |dir| {
            let newer = "format = 2\n\n[run]\nfuture_key = 1\n";
            let config = ring8(dir, "newer", &[("[run]\n", newer)]);
            train_over_earlier(dir, &config, &[]).expect(&[
                "config format 2 is newer than this build of burngan reads (format 1)",
                "upgrade burngan",
            ])
        }),
        case("a_directory_as_config_is_a_usage_error", 2, |dir| {
            let folder = dir.join("configs");
            std::fs::create_dir(&folder).unwrap();
            train_over_earlier(dir, &folder, &[]).expect(&[
                "cannot read config file",
                folder.to_str().unwrap(),
                "pass an existing TOML file",
            ])
        }),
    ]
}

#[test]
fn bad_configs_are_usage_errors_that_keep_the_earlier_run() {
    run_cases(&config_cases());
}

/// A batch far beyond any machine's memory is refused like any other out-of-range value,
/// before the earlier run is replaced. It runs the `burngan` binary in a child process whose
/// address space is capped at 8 GiB, so that a build that does not check the size fails its
/// first allocation at once (and aborts) instead of filling this machine's memory.
#[cfg(target_os = "linux")]
#[test]
fn a_batch_too_large_for_memory_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = ring8(
        dir.path(),
        "huge",
        &[("batch_size = 512", "batch_size = 1000000000000")],
    );
    let out = earlier_run(dir.path());
    let before = snapshot(&out);
    let binary = burngan_process().get_program().to_owned();
    let output = std::process::Command::new("sh")
        .args(["-c", "ulimit -v 8388608 && exec \"$0\" \"$@\""])
        .arg(binary)
        .args(["train", "--config"])
        .arg(&config)
        .args(["--steps", "2", "--out"])
        .arg(&out)
        .arg("--overwrite")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    assert_eq!(output.status.code(), Some(2), "{}: {stderr}", output.status);
    assert!(
        stderr.contains("train.batch_size") && stderr.contains("1000000000000"),
        "{stderr}"
    );
    repeated_clause(&stderr).unwrap();
    unchanged(&before, &snapshot(&out)).unwrap();
}

// ---- Data ------------------------------------------------------------------------------

/// A tiny 28×28 grayscale DCGAN config for `--data`, as `dir/images.toml`.
fn image_config(dir: &Path) -> PathBuf {
    let path = dir.join("images.toml");
    std::fs::write(&path, tiny_dcgan_config("")).unwrap();
    path
}

/// The bytes of a raw IDX images file of `n` 28×28 images, and of its labels.
fn idx_pair(n: u32) -> (Vec<u8>, Vec<u8>) {
    let mut images = vec![0, 0, 8, 3];
    for size in [n, 28, 28] {
        images.extend_from_slice(&size.to_be_bytes());
    }
    images.extend((0..n as usize * 784).map(|k| (k % 251) as u8));
    let mut labels = vec![0, 0, 8, 1];
    labels.extend_from_slice(&n.to_be_bytes());
    labels.extend((0..n).map(|i| (i % 10) as u8));
    (images, labels)
}

/// `burngan train --config <tiny image config> --data DATA EXTRA` over an earlier run, which
/// must be kept.
fn with_data(dir: &Path, data: &Path, extra: &[&str]) -> Refusal {
    let config = image_config(dir);
    let mut args = vec!["--data", data.to_str().unwrap()];
    args.extend_from_slice(extra);
    train_over_earlier(dir, &config, &args)
}

/// `dir/NAME` holding `bytes`.
fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Bad image data: missing, truncated or inconsistent files, folders without images, images
/// that do not decode.
fn data_cases() -> Vec<Case> {
    vec![
        case("a_missing_data_file_is_a_usage_error", 2, |dir| {
            let missing = dir.join("missing-images-idx3-ubyte");
            with_data(dir, &missing, &[]).expect(&[
                &format!("image data {} does not exist", missing.display()),
                "set data.path or --data to an IDX image file or an image folder",
            ])
        }),
        case("a_file_with_the_wrong_magic_is_a_usage_error", 2, |dir| {
            let (mut images, _) = idx_pair(4);
            images[..4].copy_from_slice(b"PK\x03\x04");
            let path = file(dir, "zipped-images-idx3-ubyte", &images);
            with_data(dir, &path, &[]).expect(&[
                &format!("{} is not an IDX file", path.display()),
                "starts with bytes 0x50 0x4b",
                "pass an IDX file such as train-images-idx3-ubyte.gz",
            ])
        }),
        case("a_truncated_idx_file_is_a_usage_error", 2, |dir| {
            let (mut images, _) = idx_pair(4);
            images.truncate(images.len() - 100);
            let path = file(dir, "cut-images-idx3-ubyte", &images);
            with_data(dir, &path, &[]).expect(&[
                &format!("{} is truncated", path.display()),
                "promises 3136 data bytes but only 3036 follow",
                "download or convert the file again",
            ])
        }),
        case("a_truncated_gzip_file_is_a_usage_error", 2, |dir| {
            // The shipped digits cut off after 4 KiB, as by an interrupted download.
            let shipped = shipped_mnist();
            let zipped = std::fs::read(shipped).unwrap();
            let path = file(dir, "cut-images-idx3-ubyte.gz", &zipped[..4096]);
            with_data(dir, &path, &[]).expect(&[
                &format!("could not read {}", path.display()),
                "that the download is complete",
            ])
        }),
        case("a_header_larger_than_the_file_is_a_usage_error", 2, |dir| {
            let (mut images, _) = idx_pair(1);
            images[4..8].copy_from_slice(&1_000_000u32.to_be_bytes());
            let path = file(dir, "short-images-idx3-ubyte", &images);
            with_data(dir, &path, &[]).expect(&[
                &format!("{} is truncated", path.display()),
                "its header [1000000, 28, 28] promises 784000000 data bytes but only 784 follow",
                "download or convert the file again",
            ])
        }),
        case(
            "labels_that_do_not_match_the_images_are_a_usage_error",
            2,
            |dir| {
                let (images, _) = idx_pair(5);
                let (_, labels) = idx_pair(6);
                let images = file(dir, "five-images-idx3-ubyte", &images);
                let labels = file(dir, "six-labels-idx1-ubyte", &labels);
                with_data(dir, &images, &["--labels", labels.to_str().unwrap()]).expect(&[
                    &format!(
                        "{} holds 6 labels but {} holds 5 images",
                        labels.display(),
                        images.display()
                    ),
                    "pass the labels that belong to these images",
                ])
            },
        ),
        case("an_empty_folder_is_a_usage_error", 2, |dir| {
            let folder = dir.join("no-images");
            std::fs::create_dir(&folder).unwrap();
            file(&folder, "README.txt", b"not an image");
            with_data(dir, &folder, &[]).expect(&[
                &format!("{} contains no PNG or JPEG images", folder.display()),
                "put the images directly in it, or in one sub-folder per class",
            ])
        }),
        case("a_corrupt_png_is_a_usage_error_naming_it", 2, |dir| {
            let folder = dir.join("pngs");
            std::fs::create_dir(&folder).unwrap();
            let good = image::GrayImage::from_pixel(28, 28, image::Luma([200]));
            good.save(folder.join("a.png")).unwrap();
            let corrupt = file(&folder, "b.png", b"\x89PNG\r\n\x1a\n this is not a png");
            with_data(dir, &folder, &[]).expect(&[
                &format!("could not decode image {}", corrupt.display()),
                "remove or replace the file",
            ])
        }),
        case("a_zero_byte_idx_file_is_a_usage_error", 2, |dir| {
            let path = file(dir, "empty-images-idx3-ubyte", b"");
            with_data(dir, &path, &[]).expect(&[
                &format!("{} is truncated", path.display()),
                "its IDX header needs 16 bytes but the file holds only 0",
                "download or convert the file again",
            ])
        }),
        case("a_zero_byte_png_is_a_usage_error_naming_it", 2, |dir| {
            let folder = dir.join("pngs");
            std::fs::create_dir(&folder).unwrap();
            let empty = file(&folder, "empty.png", b"");
            with_data(dir, &folder, &[]).expect(&[
                &format!("could not decode image {}", empty.display()),
                "remove or replace the file",
            ])
        }),
        case(
            "a_folder_given_as_the_labels_file_is_a_usage_error",
            2,
            |dir| {
                let (images, _) = idx_pair(4);
                let images = file(dir, "four-images-idx3-ubyte", &images);
                let folder = dir.join("labels");
                std::fs::create_dir(&folder).unwrap();
                with_data(dir, &images, &["--labels", folder.to_str().unwrap()]).expect(&[
                    &format!("{} is a folder, not an IDX labels file", folder.display()),
                    "pass the labels file itself (e.g. train-labels-idx1-ubyte.gz)",
                ])
            },
        ),
    ]
}

#[test]
fn bad_image_data_is_a_usage_error_that_keeps_the_earlier_run() {
    run_cases(&data_cases());
}

// ---- Checkpoints -----------------------------------------------------------------------

/// A finished 2-step ring8-ns run in `dir/NAME` with its checkpoint at step 2; `edits` are
/// applied to the preset first.
fn trained_run(dir: &Path, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let config = ring8(dir, name, edits);
    let out = dir.join(name);
    let (code, message) = burngan(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--steps",
        "2",
        "--log-every",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{message}");
    assert!(out.join("checkpoints/step-00000002/state.json").is_file());
    out
}

/// `burngan train --resume RUN --steps 4`, which must keep every file of the run (metrics,
/// checkpoints, config).
fn resume(run: &Path) -> Refusal {
    Refusal::new(
        &["train", "--resume", run.to_str().unwrap(), "--steps", "4"],
        run,
    )
}

/// The checkpoint directory of a run trained by [`trained_run`].
fn checkpoint_of(run: &Path) -> PathBuf {
    run.join("checkpoints/step-00000002")
}

/// `path` cut to the first half of its bytes.
fn truncate_to_half(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

/// Resuming what cannot be resumed: not a run, no complete checkpoint, missing, truncated or
/// foreign checkpoint files, a newer checkpoint format.
fn checkpoint_cases() -> Vec<Case> {
    vec![
        case(
            "resuming_a_directory_without_checkpoints_is_a_usage_error",
            2,
            |dir| {
                let folder = dir.join("not-a-run");
                std::fs::create_dir(&folder).unwrap();
                std::fs::write(folder.join("notes.txt"), "keep me").unwrap();
                resume(&folder).expect(&[
                    &format!("{} is not a run directory", folder.display()),
                    "pass the --out directory of an earlier burngan train run",
                ])
            },
        ),
        case(
            "resuming_a_run_with_no_complete_checkpoint_is_a_usage_error",
            2,
            |dir| {
                let run = trained_run(dir, "run", &[]);
                // As if killed while writing its first checkpoint: only a partial directory
                // remains.
                let partial = run.join("checkpoints/.partial-step-00000002");
                std::fs::rename(checkpoint_of(&run), &partial).unwrap();
                std::fs::remove_file(partial.join("state.json")).unwrap();
                std::fs::remove_file(run.join("checkpoints/latest")).unwrap();
                resume(&run).expect(&["holds no complete checkpoint", "--overwrite"])
            },
        ),
        case(
            "resuming_a_checkpoint_with_a_missing_file_is_a_run_failure",
            1,
            |dir| {
                let run = trained_run(dir, "run", &[]);
                let missing = checkpoint_of(&run).join("discriminator.bpk");
                std::fs::remove_file(&missing).unwrap();
                resume(&run).expect(&[missing.to_str().unwrap(), "--overwrite"])
            },
        ),
        case(
            "resuming_a_truncated_checkpoint_is_a_run_failure",
            1,
            |dir| {
                let run = trained_run(dir, "run", &[]);
                let generator = checkpoint_of(&run).join("generator.bpk");
                truncate_to_half(&generator);
                resume(&run).expect(&[generator.to_str().unwrap(), "--overwrite"])
            },
        ),
        case(
            "resuming_a_checkpoint_with_a_truncated_state_is_a_run_failure",
            1,
            |dir| {
                let run = trained_run(dir, "run", &[]);
                let state = checkpoint_of(&run).join("state.json");
                let text = std::fs::read_to_string(&state).unwrap();
                std::fs::write(&state, &text[..text.len() / 2]).unwrap();
                resume(&run).expect(&[
                    &format!("checkpoint state {} is corrupt", state.display()),
                    "--overwrite",
                ])
            },
        ),
        case(
            "resuming_a_checkpoint_of_another_model_shape_is_a_run_failure",
            1,
            |dir| {
                let run = trained_run(dir, "run", &[]);
                let small = [("hidden = [256, 256, 256]", "hidden = [32]")];
                let other = trained_run(dir, "other", &small);
                let generator = checkpoint_of(&run).join("generator.bpk");
                std::fs::copy(checkpoint_of(&other).join("generator.bpk"), &generator).unwrap();
                resume(&run).expect(&[
                    &format!("checkpoint {} does not fit this model", generator.display()),
                    "config.toml",
                ])
            },
        ),
        case(
            "resuming_a_checkpoint_of_a_newer_format_is_a_usage_error",
            2,
            |dir| {
                let run = trained_run(dir, "run", &[]);
                let path = checkpoint_of(&run).join("state.json");
                let mut state: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                state["format"] = 2.into();
                std::fs::write(&path, serde_json::to_string(&state).unwrap()).unwrap();
                resume(&run).expect(&[
                    &format!(
                        "checkpoint {} was written in format 2 by a newer burngan",
                        checkpoint_of(&run).display()
                    ),
                    "this build reads checkpoint format 1",
                    "upgrade burngan",
                ])
            },
        ),
        case(
            "a_failed_resume_keeps_metrics_logged_after_the_checkpoint",
            1,
            |dir| {
                let run = trained_run(dir, "run", &[]);
                // A step logged after the newest checkpoint, as by a run killed between
                // checkpoints.
                let metrics = run.join("metrics.jsonl");
                let mut text = std::fs::read_to_string(&metrics).unwrap();
                let later = text
                    .lines()
                    .last()
                    .unwrap()
                    .replace("\"step\":2", "\"step\":3");
                text.push_str(&later);
                text.push('\n');
                std::fs::write(&metrics, text).unwrap();
                let generator = checkpoint_of(&run).join("generator.bpk");
                truncate_to_half(&generator);
                resume(&run).expect(&[generator.to_str().unwrap()])
            },
        ),
    ]
}

#[test]
fn bad_checkpoints_are_refused_and_keep_every_file_of_the_run() {
    run_cases(&checkpoint_cases());
}

// ---- Command line ----------------------------------------------------------------------

/// Bad backends and output paths on the command line.
fn command_line_cases() -> Vec<Case> {
    vec![
        case("an_unknown_backend_is_a_usage_error", 2, |dir| {
            ring8_with(dir, &["--backend", "tpu"]).expect(&[
                "'tpu' is not a backend",
                "valid backends are: ndarray, flex, wgpu, vulkan, metal, cuda",
            ])
        }),
        case("a_compiled_out_backend_is_a_usage_error", 2, |dir| {
            let Some(kind) = BackendKind::ALL.into_iter().find(|k| !k.is_compiled()) else {
                panic!("every backend is compiled in; this case needs one that is not");
            };
            ring8_with(dir, &["--backend", kind.name()]).expect(&[
                &format!("backend '{kind}' is not compiled into this binary"),
                &format!("rebuild with `--features {kind}`"),
            ])
        }),
        case("an_output_path_below_a_file_is_a_usage_error", 2, |dir| {
            let out = file(dir, "a-file", b"not a directory").join("run");
            let ring = preset("ring8-ns");
            let args = ["train", "--config", ring.to_str().unwrap()];
            Refusal::new(
                &[&args[..], &["--out", out.to_str().unwrap()]].concat(),
                dir,
            )
            .expect(&[
                "cannot create output directory",
                out.to_str().unwrap(),
                "choose a writable --out",
            ])
        }),
        case("an_output_path_that_is_a_file_is_a_usage_error", 2, |dir| {
            let out = file(dir, "results.txt", b"earlier results");
            let ring = preset("ring8-ns");
            let args = ["train", "--config", ring.to_str().unwrap()];
            Refusal::new(
                &[&args[..], &["--out", out.to_str().unwrap()]].concat(),
                dir,
            )
            .expect(&[out.to_str().unwrap(), "choose a writable --out"])
        }),
        case(
            "an_output_directory_holding_another_run_is_refused_without_resume_or_overwrite",
            2,
            |dir| {
                let out = earlier_run(dir);
                let ring = preset("ring8-ns");
                let args = ["train", "--config", ring.to_str().unwrap()];
                Refusal::new(
                    &[&args[..], &["--out", out.to_str().unwrap()]].concat(),
                    &out,
                )
                .expect(&[
                    &format!("{} already holds a run", out.display()),
                    "metrics.jsonl",
                    "checkpoints/",
                    "choose another --out",
                    "--overwrite",
                    &format!("--resume {}", out.display()),
                ])
            },
        ),
    ]
}

#[test]
fn bad_command_lines_are_usage_errors_that_keep_what_is_on_disk() {
    run_cases(&command_line_cases());
}

/// wgpu with every driver hidden from the loader: a run failure (exit 1) that says how to get
/// a driver, and the earlier run in `--out` untouched despite `--overwrite`. wgpu initialises
/// once per process, so the `burngan` binary runs in a child process with the drivers hidden.
#[cfg(target_os = "linux")]
#[test]
fn no_adapter_is_a_run_failure_that_keeps_the_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = earlier_run(dir.path());
    let before = snapshot(&out);
    let output = burngan_process()
        .args(["train", "--config"])
        .arg(preset("ring8-ns"))
        .args(["--backend", "wgpu", "--out"])
        .arg(&out)
        .arg("--overwrite")
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .env("__EGL_VENDOR_LIBRARY_DIRS", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("backend 'wgpu' has no usable device on this machine"),
        "{stderr}"
    );
    assert!(
        stderr.contains("apt-get install mesa-vulkan-drivers libvulkan1"),
        "{stderr}"
    );
    unchanged(&before, &snapshot(&out)).unwrap();
}

// ---- The catalogue ---------------------------------------------------------------------

/// The tests outside the tables that are cases of the catalogue.
const CASES_OF_THEIR_OWN: [&str; 2] = [
    "a_batch_too_large_for_memory_is_a_usage_error",
    "no_adapter_is_a_run_failure_that_keeps_the_output_directory",
];

/// Every case named in `docs/reliability.md` as `tests/integration/bad_input.rs::NAME` is a
/// row of a table or a test of its own, and every row and such test is named there.
#[test]
fn the_catalogue_names_every_case_and_only_cases() {
    let catalogue = std::fs::read_to_string(root().join("docs/reliability.md")).unwrap();
    let prefix = "tests/integration/bad_input.rs::";
    let cited: std::collections::BTreeSet<String> = catalogue
        .match_indices(prefix)
        .map(|(at, _)| {
            catalogue[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect();
    let tables = [
        config_cases(),
        data_cases(),
        checkpoint_cases(),
        command_line_cases(),
    ];
    let cases: std::collections::BTreeSet<String> = tables
        .iter()
        .flatten()
        .map(|case| case.name)
        .chain(CASES_OF_THEIR_OWN)
        .map(String::from)
        .collect();
    assert_eq!(
        tables.iter().map(Vec::len).sum::<usize>() + CASES_OF_THEIR_OWN.len(),
        cases.len(),
        "two cases share a name"
    );
    assert_eq!(cases.len(), 46);
    assert_eq!(cited, cases, "docs/reliability.md and the tables differ");
}
