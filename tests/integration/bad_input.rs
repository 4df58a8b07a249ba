//! The bad-input catalogue of `docs/reliability.md`, through the real `burngan` command: a bad
//! config value, data file, checkpoint or command line is refused with exit code 2 (usage) or
//! 1 (run failure) and a message that names the value and the fix, and whatever was already on
//! disk is left byte for byte as it was. Most cases point `--out` at a directory holding an
//! earlier run and pass `--overwrite`, so a refusal that came too late would show as a changed
//! file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burngan_backend::BackendKind;

use crate::support::{burngan, preset, root};

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

/// Panics naming every file of `before` that is gone or changed in `after`, and every new one.
fn assert_unchanged(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
    what: &str,
) {
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
    assert!(changed.is_empty(), "{what}: {}", changed.join(", "));
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

/// Panics when a clause of `message` repeats the one before it (`…: reason: reason`), as when
/// an error's cause is printed both by its own message and by the error chain.
fn assert_no_repeated_clause(message: &str) {
    let clauses: Vec<&str> = message.split(": ").map(str::trim).collect();
    for pair in clauses.windows(2) {
        assert!(
            pair[0] != pair[1],
            "{:?} is repeated in: {message}",
            pair[0]
        );
    }
}

/// Runs `burngan ARGS`; expects exit `code`, every `needle` in the message, and every file
/// under `keep` byte-identical afterwards. Returns the message (also printed, for the
/// catalogue's excerpts).
fn refused(args: &[&str], code: u8, needles: &[&str], keep: &Path) -> String {
    let before = snapshot(keep);
    assert!(
        !before.is_empty(),
        "{} holds nothing to keep",
        keep.display()
    );
    let (got, message) = burngan(args);
    eprintln!("burngan {}\n  exit {got}: {message}", args.join(" "));
    assert_eq!(got, code, "exit code of {args:?}: {message}");
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
    assert_no_repeated_clause(&message);
    assert_unchanged(&before, &snapshot(keep), &message);
    message
}

/// `burngan train --config CONFIG --out DIR/earlier --overwrite EXTRA` where `DIR/earlier`
/// holds an earlier run: refused with `code` and every needle, the earlier run kept.
fn train_refused(dir: &Path, config: &Path, extra: &[&str], code: u8, needles: &[&str]) {
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
    refused(&args, code, needles, &out);
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

/// The ring8-ns preset with `from` replaced by `to`, refused with exit 2 and every needle.
fn edit_refused(from: &str, to: &str, needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let config = ring8(dir.path(), "edited", &[(from, to)]);
    train_refused(dir.path(), &config, &[], 2, needles);
}

const G_LR: &str = "[optimizer.generator]\nkind = \"adam\"\nlr = 5e-4";
const D_LR: &str = "[optimizer.discriminator]\nkind = \"adam\"\nlr = 5e-4";
const LOSS: &str = "kind = \"non-saturating\"";

// ---- Config ----------------------------------------------------------------------------

#[test]
fn invalid_toml_is_a_usage_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broken.toml");
    std::fs::write(&config, "[run\nsteps = 3\n").unwrap();
    train_refused(
        dir.path(),
        &config,
        &[],
        2,
        &["invalid config", "broken.toml", "line 1", "expected"],
    );
}

#[test]
fn unknown_field_is_a_usage_error_listing_the_valid_ones() {
    edit_refused(
        "[train]\n",
        "[train]\nlearning_rate = 3\n",
        &[
            "unknown field `learning_rate`",
            "expected one of",
            "batch_size",
            "critic_steps",
        ],
    );
}

#[test]
fn wrong_type_is_a_usage_error_naming_the_key() {
    edit_refused(
        "batch_size = 512",
        "batch_size = \"512\"",
        &[
            "batch_size",
            "invalid type: string \"512\"",
            "expected usize",
        ],
    );
}

#[test]
fn wrong_type_in_a_kind_section_is_a_usage_error_naming_the_key() {
    edit_refused(
        G_LR,
        "[optimizer.generator]\nkind = \"adam\"\nlr = \"fast\"",
        &[
            "TOML parse error at line",
            "[optimizer.generator]",
            "invalid type: string \"fast\", expected f64",
            "the value at fault is `optimizer.generator.lr`",
        ],
    );
}

#[test]
fn zero_batch_is_a_usage_error() {
    edit_refused(
        "batch_size = 512",
        "batch_size = 0",
        &["train.batch_size must be a positive integer, got 0"],
    );
}

#[test]
fn negative_batch_is_a_usage_error() {
    edit_refused(
        "batch_size = 512",
        "batch_size = -8",
        &[
            "batch_size = -8",
            "invalid value: integer `-8`",
            "expected usize",
        ],
    );
}

/// A batch far beyond any machine's memory is refused like any other out-of-range value,
/// before the earlier run is replaced. It runs in a child process whose address space is
/// capped at 8 GiB, so that a build that does not check the size fails its first allocation
/// at once (and aborts) instead of filling this machine's memory.
#[cfg(target_os = "linux")]
#[test]
fn a_batch_too_large_for_memory_is_a_usage_error() {
    const CHILD: &str = "BURNGAN_TEST_BAD_INPUT_HUGE_BATCH";
    if let Ok(spec) = std::env::var(CHILD) {
        let (config, out) = spec.split_once('\n').unwrap();
        let args = ["train", "--config", config, "--steps", "2", "--out", out];
        let (code, message) = burngan(&[&args[..], &["--overwrite"]].concat());
        eprintln!("{message}");
        std::process::exit(code.into());
    }
    let dir = tempfile::tempdir().unwrap();
    let config = ring8(
        dir.path(),
        "huge",
        &[("batch_size = 512", "batch_size = 1000000000000")],
    );
    let out = earlier_run(dir.path());
    let before = snapshot(&out);
    let output = std::process::Command::new("sh")
        .args(["-c", "ulimit -v 8388608 && exec \"$0\" \"$@\""])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "bad_input::a_batch_too_large_for_memory_is_a_usage_error",
            "--nocapture",
        ])
        .env(CHILD, format!("{}\n{}", config.display(), out.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    assert_eq!(output.status.code(), Some(2), "{}: {stderr}", output.status);
    assert!(
        stderr.contains("train.batch_size") && stderr.contains("1000000000000"),
        "{stderr}"
    );
    assert_no_repeated_clause(&stderr);
    assert_unchanged(&before, &snapshot(&out), &stderr);
}

#[test]
fn zero_steps_is_a_usage_error() {
    edit_refused(
        "steps = 2000",
        "steps = 0",
        &["run.steps must be a positive integer, got 0"],
    );
}

#[test]
fn zero_steps_on_the_command_line_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    train_refused(
        dir.path(),
        &preset("ring8-ns"),
        &["--steps", "0"],
        2,
        &["run.steps must be a positive integer, got 0"],
    );
}

#[test]
fn negative_steps_is_a_usage_error() {
    edit_refused(
        "steps = 2000",
        "steps = -5",
        &[
            "steps = -5",
            "invalid value: integer `-5`",
            "expected usize",
        ],
    );
}

#[test]
fn zero_learning_rate_is_a_usage_error() {
    edit_refused(
        G_LR,
        "[optimizer.generator]\nkind = \"adam\"\nlr = 0.0",
        &["optimizer.generator.lr must be a finite number > 0 (e.g. 1e-4), got 0"],
    );
}

#[test]
fn negative_learning_rate_is_a_usage_error() {
    edit_refused(
        D_LR,
        "[optimizer.discriminator]\nkind = \"adam\"\nlr = -1e-3",
        &["optimizer.discriminator.lr must be a finite number > 0 (e.g. 1e-4), got -0.001"],
    );
}

#[test]
fn nan_learning_rate_is_a_usage_error() {
    edit_refused(
        G_LR,
        "[optimizer.generator]\nkind = \"adam\"\nlr = nan",
        &["optimizer.generator.lr must be a finite number > 0 (e.g. 1e-4), got NaN"],
    );
}

#[test]
fn zero_clip_value_is_a_usage_error() {
    edit_refused(
        LOSS,
        "kind = \"wgan\"\nclip = 0.0",
        &["loss.clip must be a finite number > 0, got 0", "0.01"],
    );
}

#[test]
fn negative_clip_value_is_a_usage_error() {
    edit_refused(
        LOSS,
        "kind = \"wgan\"\nclip = -0.01",
        &["loss.clip must be a finite number > 0, got -0.01", "0.01"],
    );
}

#[test]
fn negative_penalty_weight_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = ring8(
        dir.path(),
        "penalty",
        &[(
            "[train]",
            "[penalty]\nkind = \"wgan-gp\"\nweight = -10.0\n\n[train]",
        )],
    );
    train_refused(
        dir.path(),
        &config,
        &[],
        2,
        &["penalty.weight must be a finite number ≥ 0, got -10", "10"],
    );
}

#[test]
fn nan_penalty_weight_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = ring8(
        dir.path(),
        "penalty",
        &[(
            "[train]",
            "[penalty]\nkind = \"wgan-gp\"\nweight = nan\n\n[train]",
        )],
    );
    train_refused(
        dir.path(),
        &config,
        &[],
        2,
        &["penalty.weight must be a finite number ≥ 0, got NaN"],
    );
}

#[test]
fn zero_critic_steps_is_a_usage_error() {
    edit_refused(
        "critic_steps = 1",
        "critic_steps = 0",
        &["train.critic_steps must be a positive integer, got 0"],
    );
}

#[test]
fn a_preset_that_does_not_exist_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = preset("ring9-ns");
    train_refused(
        dir.path(),
        &missing,
        &[],
        2,
        &[
            "cannot read config file",
            "ring9-ns.toml",
            "--config assets/configs/ring8-ns.toml",
        ],
    );
}

#[test]
fn a_config_of_a_newer_format_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = ring8(
        dir.path(),
        "newer",
        &[("[run]\n", "format = 2\n\n[run]\nfuture_key = 1\n")],
    );
    train_refused(
        dir.path(),
        &config,
        &[],
        2,
        &[
            "config format 2 is newer than this build of burngan reads (format 1)",
            "upgrade burngan",
        ],
    );
}

#[test]
fn a_directory_as_config_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("configs");
    std::fs::create_dir(&folder).unwrap();
    train_refused(
        dir.path(),
        &folder,
        &[],
        2,
        &[
            "cannot read config file",
            folder.to_str().unwrap(),
            "pass an existing TOML file",
        ],
    );
}

// ---- Data ------------------------------------------------------------------------------

/// A tiny 28×28 grayscale DCGAN config for `--data`, as `dir/images.toml`.
fn image_config(dir: &Path) -> PathBuf {
    let text = r#"
[run]
steps = 2
sample_every = 2
[data]
kind = "images"
[generator]
kind = "dcgan"
latent_dim = 4
hidden = 8
channels = [4, 2]
[discriminator]
kind = "dcgan"
channels = [2, 4]
hidden = 8
[loss]
kind = "non-saturating"
[train]
batch_size = 4
[optimizer.generator]
kind = "adam"
lr = 1e-3
[optimizer.discriminator]
kind = "adam"
lr = 1e-3
"#;
    let path = dir.join("images.toml");
    std::fs::write(&path, text).unwrap();
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

/// `burngan train --config <tiny image config> --data DATA EXTRA` over an earlier run:
/// refused with exit 2, every needle in the message, the earlier run kept.
fn data_refused(dir: &Path, data: &Path, extra: &[&str], needles: &[&str]) {
    let config = image_config(dir);
    let mut args = vec!["--data", data.to_str().unwrap()];
    args.extend_from_slice(extra);
    train_refused(dir, &config, &args, 2, needles);
}

#[test]
fn a_missing_data_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-images-idx3-ubyte");
    data_refused(
        dir.path(),
        &missing,
        &[],
        &[
            &format!("image data {} does not exist", missing.display()),
            "set data.path or --data to an IDX image file or an image folder",
        ],
    );
}

#[test]
fn a_file_with_the_wrong_magic_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mut images, _) = idx_pair(4);
    images[..4].copy_from_slice(b"PK\x03\x04");
    let path = dir.path().join("zipped-images-idx3-ubyte");
    std::fs::write(&path, images).unwrap();
    data_refused(
        dir.path(),
        &path,
        &[],
        &[
            &format!("{} is not an IDX file", path.display()),
            "starts with bytes 0x50 0x4b",
            "pass an IDX file such as train-images-idx3-ubyte.gz",
        ],
    );
}

#[test]
fn a_truncated_idx_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mut images, _) = idx_pair(4);
    images.truncate(images.len() - 100);
    let path = dir.path().join("cut-images-idx3-ubyte");
    std::fs::write(&path, images).unwrap();
    data_refused(
        dir.path(),
        &path,
        &[],
        &[
            &format!("{} is truncated", path.display()),
            "promises 3136 data bytes but only 3036 follow",
            "download or convert the file again",
        ],
    );
}

#[test]
fn a_truncated_gzip_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    // The shipped digits cut off after 4 KiB, as by an interrupted download.
    let shipped = root().join("assets/data/mnist10k-images-idx3-ubyte.gz");
    let mut zipped = std::fs::read(shipped).unwrap();
    zipped.truncate(4096);
    let path = dir.path().join("cut-images-idx3-ubyte.gz");
    std::fs::write(&path, zipped).unwrap();
    data_refused(
        dir.path(),
        &path,
        &[],
        &[
            &format!("could not read {}", path.display()),
            "that the download is complete",
        ],
    );
}

#[test]
fn a_header_larger_than_the_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mut images, _) = idx_pair(1);
    images[4..8].copy_from_slice(&1_000_000u32.to_be_bytes());
    let path = dir.path().join("short-images-idx3-ubyte");
    std::fs::write(&path, images).unwrap();
    data_refused(
        dir.path(),
        &path,
        &[],
        &[
            &format!("{} is truncated", path.display()),
            "its header [1000000, 28, 28] promises 784000000 data bytes but only 784 follow",
            "download or convert the file again",
        ],
    );
}

#[test]
fn labels_that_do_not_match_the_images_are_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (images, _) = idx_pair(5);
    let (_, labels) = idx_pair(6);
    let images_path = dir.path().join("five-images-idx3-ubyte");
    let labels_path = dir.path().join("six-labels-idx1-ubyte");
    std::fs::write(&images_path, images).unwrap();
    std::fs::write(&labels_path, labels).unwrap();
    data_refused(
        dir.path(),
        &images_path,
        &["--labels", labels_path.to_str().unwrap()],
        &[
            &format!(
                "{} holds 6 labels but {} holds 5 images",
                labels_path.display(),
                images_path.display()
            ),
            "pass the labels that belong to these images",
        ],
    );
}

#[test]
fn an_empty_folder_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("no-images");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("README.txt"), "not an image").unwrap();
    data_refused(
        dir.path(),
        &folder,
        &[],
        &[
            &format!("{} contains no PNG or JPEG images", folder.display()),
            "put the images directly in it, or in one sub-folder per class",
        ],
    );
}

#[test]
fn a_corrupt_png_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("pngs");
    std::fs::create_dir(&folder).unwrap();
    let good = image::GrayImage::from_pixel(28, 28, image::Luma([200]));
    good.save(folder.join("a.png")).unwrap();
    let corrupt = folder.join("b.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\n this is not a png").unwrap();
    data_refused(
        dir.path(),
        &folder,
        &[],
        &[
            &format!("could not decode image {}", corrupt.display()),
            "remove or replace the file",
        ],
    );
}

#[test]
fn a_zero_byte_idx_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty-images-idx3-ubyte");
    std::fs::write(&path, b"").unwrap();
    data_refused(
        dir.path(),
        &path,
        &[],
        &[
            &format!("{} is truncated", path.display()),
            "its IDX header needs 16 bytes but the file holds only 0",
            "download or convert the file again",
        ],
    );
}

#[test]
fn a_zero_byte_png_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("pngs");
    std::fs::create_dir(&folder).unwrap();
    let empty = folder.join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    data_refused(
        dir.path(),
        &folder,
        &[],
        &[
            &format!("could not decode image {}", empty.display()),
            "remove or replace the file",
        ],
    );
}

#[test]
fn a_folder_given_as_the_labels_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (images, _) = idx_pair(4);
    let images_path = dir.path().join("four-images-idx3-ubyte");
    std::fs::write(&images_path, images).unwrap();
    let folder = dir.path().join("labels");
    std::fs::create_dir(&folder).unwrap();
    data_refused(
        dir.path(),
        &images_path,
        &["--labels", folder.to_str().unwrap()],
        &[
            &format!("{} is a folder, not an IDX labels file", folder.display()),
            "pass the labels file itself (e.g. train-labels-idx1-ubyte.gz)",
        ],
    );
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

/// `burngan train --resume RUN --steps 4`: refused with `code` and every needle, every file of
/// the run (metrics, checkpoints, config) kept.
fn resume_refused(run: &Path, code: u8, needles: &[&str]) -> String {
    refused(
        &["train", "--resume", run.to_str().unwrap(), "--steps", "4"],
        code,
        needles,
        run,
    )
}

/// The checkpoint directory of a run trained by [`trained_run`].
fn checkpoint_of(run: &Path) -> PathBuf {
    run.join("checkpoints/step-00000002")
}

#[test]
fn resuming_a_directory_without_checkpoints_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("not-a-run");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("notes.txt"), "keep me").unwrap();
    resume_refused(
        &folder,
        2,
        &[
            &format!("{} is not a run directory", folder.display()),
            "pass the --out directory of an earlier burngan train run",
        ],
    );
}

#[test]
fn resuming_a_run_with_no_complete_checkpoint_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run(dir.path(), "run", &[]);
    // As if killed while writing its first checkpoint: only a partial directory remains.
    let partial = run.join("checkpoints/.partial-step-00000002");
    std::fs::rename(checkpoint_of(&run), &partial).unwrap();
    std::fs::remove_file(partial.join("state.json")).unwrap();
    std::fs::remove_file(run.join("checkpoints/latest")).unwrap();
    resume_refused(&run, 2, &["holds no complete checkpoint", "--overwrite"]);
}

#[test]
fn resuming_a_checkpoint_with_a_missing_file_is_a_run_failure() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run(dir.path(), "run", &[]);
    let missing = checkpoint_of(&run).join("discriminator.bpk");
    std::fs::remove_file(&missing).unwrap();
    resume_refused(&run, 1, &[missing.to_str().unwrap(), "--overwrite"]);
}

#[test]
fn resuming_a_truncated_checkpoint_is_a_run_failure() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run(dir.path(), "run", &[]);
    let generator = checkpoint_of(&run).join("generator.bpk");
    let bytes = std::fs::read(&generator).unwrap();
    std::fs::write(&generator, &bytes[..bytes.len() / 2]).unwrap();
    resume_refused(&run, 1, &[generator.to_str().unwrap(), "--overwrite"]);
}

#[test]
fn resuming_a_checkpoint_with_a_truncated_state_is_a_run_failure() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run(dir.path(), "run", &[]);
    let state = checkpoint_of(&run).join("state.json");
    let text = std::fs::read_to_string(&state).unwrap();
    std::fs::write(&state, &text[..text.len() / 2]).unwrap();
    resume_refused(
        &run,
        1,
        &[
            &format!("checkpoint state {} is corrupt", state.display()),
            "--overwrite",
        ],
    );
}

#[test]
fn resuming_a_checkpoint_of_another_model_shape_is_a_run_failure() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run(dir.path(), "run", &[]);
    let other = trained_run(
        dir.path(),
        "other",
        &[("hidden = [256, 256, 256]", "hidden = [32]")],
    );
    let generator = checkpoint_of(&run).join("generator.bpk");
    std::fs::copy(checkpoint_of(&other).join("generator.bpk"), &generator).unwrap();
    resume_refused(
        &run,
        1,
        &[
            &format!("checkpoint {} does not fit this model", generator.display()),
            "config.toml",
        ],
    );
}

#[test]
fn resuming_a_checkpoint_of_a_newer_format_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run(dir.path(), "run", &[]);
    let path = checkpoint_of(&run).join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    state["format"] = 2.into();
    std::fs::write(&path, serde_json::to_string(&state).unwrap()).unwrap();
    resume_refused(
        &run,
        2,
        &[
            &format!(
                "checkpoint {} was written in format 2 by a newer burngan",
                checkpoint_of(&run).display()
            ),
            "this build reads checkpoint format 1",
            "upgrade burngan",
        ],
    );
}

#[test]
fn a_failed_resume_keeps_metrics_logged_after_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained_run(dir.path(), "run", &[]);
    // A step logged after the newest checkpoint, as by a run killed between checkpoints.
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
    let bytes = std::fs::read(&generator).unwrap();
    std::fs::write(&generator, &bytes[..bytes.len() / 2]).unwrap();
    resume_refused(&run, 1, &[generator.to_str().unwrap()]);
}

// ---- Command line ----------------------------------------------------------------------

#[test]
fn an_unknown_backend_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    train_refused(
        dir.path(),
        &preset("ring8-ns"),
        &["--backend", "tpu"],
        2,
        &[
            "'tpu' is not a backend",
            "valid backends are: ndarray, flex, wgpu, vulkan, metal, cuda",
        ],
    );
}

#[test]
fn a_compiled_out_backend_is_a_usage_error() {
    let Some(kind) = BackendKind::ALL.into_iter().find(|k| !k.is_compiled()) else {
        panic!("every backend is compiled in; this test needs one that is not");
    };
    let dir = tempfile::tempdir().unwrap();
    train_refused(
        dir.path(),
        &preset("ring8-ns"),
        &["--backend", kind.name()],
        2,
        &[
            &format!("backend '{kind}' is not compiled into this binary"),
            &format!("rebuild with `--features {kind}`"),
        ],
    );
}

/// wgpu with every driver hidden from the loader: a run failure (exit 1) that says how to get
/// a driver, and the earlier run in `--out` untouched despite `--overwrite`. wgpu initialises
/// once per process, so the test re-runs itself in a child process with the drivers hidden.
#[cfg(target_os = "linux")]
#[test]
fn no_adapter_is_a_run_failure_that_keeps_the_output_directory() {
    const CHILD: &str = "BURNGAN_TEST_BAD_INPUT_NO_ADAPTER_OUT";
    let ring = preset("ring8-ns");
    if let Ok(out) = std::env::var(CHILD) {
        let (code, message) = burngan(&[
            "train",
            "--config",
            ring.to_str().unwrap(),
            "--backend",
            "wgpu",
            "--out",
            &out,
            "--overwrite",
        ]);
        eprintln!("{message}");
        std::process::exit(code.into());
    }
    let dir = tempfile::tempdir().unwrap();
    let out = earlier_run(dir.path());
    let before = snapshot(&out);
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "bad_input::no_adapter_is_a_run_failure_that_keeps_the_output_directory",
            "--nocapture",
        ])
        .env(CHILD, &out)
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
    assert_unchanged(&before, &snapshot(&out), &stderr);
}

#[test]
fn an_output_path_below_a_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let out = file.join("run");
    refused(
        &[
            "train",
            "--config",
            preset("ring8-ns").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        2,
        &[
            "cannot create output directory",
            out.to_str().unwrap(),
            "choose a writable --out",
        ],
        dir.path(),
    );
}

#[test]
fn an_output_path_that_is_a_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("results.txt");
    std::fs::write(&file, "earlier results").unwrap();
    refused(
        &[
            "train",
            "--config",
            preset("ring8-ns").to_str().unwrap(),
            "--out",
            file.to_str().unwrap(),
        ],
        2,
        &[file.to_str().unwrap(), "choose a writable --out"],
        dir.path(),
    );
}

#[test]
fn an_output_directory_holding_another_run_is_refused_without_resume_or_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = earlier_run(dir.path());
    refused(
        &[
            "train",
            "--config",
            preset("ring8-ns").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        2,
        &[
            &format!("{} already holds a run", out.display()),
            "metrics.jsonl",
            "checkpoints/",
            "choose another --out",
            "--overwrite",
            &format!("--resume {}", out.display()),
        ],
        &out,
    );
}
