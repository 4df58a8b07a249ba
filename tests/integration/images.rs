//! Image runs through the real command: `--data` on an IDX pair and on an image folder, bad data
//! as usage errors, class-conditional grids, `sample` and `export`, and resuming bit-exactly
//! after `--stop-at` and after an interrupt.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use burngan_app::{
    AppError, DataConfig, ImageDataConfig, RunControl, TrainConfig, image_grid_png,
    load_image_generator, train_images,
};
use burngan_backend::BackendKind;
use burngan_core::HostRng;
use burngan_train::{StepMetrics, find_checkpoint, read_checkpoint_state};

use crate::support::{
    TINY_CONDITIONAL_NETWORKS, burngan, shipped_mnist, tensors, tiny_dcgan_config,
};

/// A small conditional image config (tiny DCGAN networks, batch 8) on the shipped digits:
/// projection critic with spectral norm, hinge loss, EMA, linear decay, TTUR rates.
fn conditional_config() -> String {
    format!(
        r#"
[run]
seed = 3
steps = 8
log_every = 1
sample_every = 4
checkpoint_every = 3
[data]
kind = "images"
path = "{}"
{TINY_CONDITIONAL_NETWORKS}
[loss]
kind = "hinge"
[train]
batch_size = 8
lr_decay = "linear"
[optimizer.generator]
kind = "adam"
lr = 1e-3
beta1 = 0.0
beta2 = 0.9
[optimizer.discriminator]
kind = "adam"
lr = 4e-3
beta1 = 0.0
beta2 = 0.9
[ema]
decay = 0.9
"#,
        shipped_mnist().display()
    )
}

/// A small unconditional config: BatchNorm MLP generator, DCGAN critic with WGAN-GP and two
/// critic updates per step, RMSProp with momentum for the critic.
fn penalised_config() -> String {
    format!(
        r#"
[run]
seed = 5
steps = 6
log_every = 1
sample_every = 3
checkpoint_every = 0
[data]
kind = "images"
path = "{}"
[generator]
kind = "image-mlp"
latent_dim = 8
hidden = [16, 32]
[discriminator]
kind = "dcgan"
channels = [4, 8]
hidden = 16
[loss]
kind = "wasserstein"
[penalty]
kind = "wgan-gp"
weight = 10.0
[train]
batch_size = 8
critic_steps = 2
[optimizer.generator]
kind = "adam"
lr = 1e-3
[optimizer.discriminator]
kind = "rmsprop"
lr = 1e-3
momentum = 0.5
"#,
        shipped_mnist().display()
    )
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn args<'a>(list: &'a [&'a str]) -> Vec<&'a str> {
    list.to_vec()
}

fn train_ok(list: &[&str]) {
    let (code, message) = burngan(&args(list));
    assert_eq!(code, 0, "{list:?}: {message}");
}

/// The generator, its moving average and the metrics of the newest checkpoint of a run.
fn outcome(run: &Path) -> (Vec<f32>, Vec<f32>, String) {
    let device = burngan_backend::device(BackendKind::Flex).unwrap();
    let checkpoint = find_checkpoint(run).unwrap();
    let config = TrainConfig::load(&checkpoint.join("config.toml")).unwrap();
    let generator = load_image_generator(&config, &checkpoint, false, &device).unwrap();
    let ema = load_image_generator(&config, &checkpoint, true, &device).unwrap();
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    (tensors(&generator), tensors(&ema), metrics)
}

#[test]
fn a_stopped_and_resumed_conditional_run_equals_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &conditional_config());
    let config = config.to_str().unwrap();
    let straight = dir.path().join("straight");
    let resumed = dir.path().join("resumed");
    let (s, r) = (straight.to_str().unwrap(), resumed.to_str().unwrap());
    train_ok(&["train", "--config", config, "--out", s]);
    // Stopped at step 4: the newest checkpoint is step 4, and metrics.jsonl holds steps 1-4.
    train_ok(&["train", "--config", config, "--out", r, "--stop-at", "4"]);
    let state = read_checkpoint_state(&find_checkpoint(&resumed).unwrap()).unwrap();
    assert_eq!(state.step, 4);
    assert!(state.sampler.is_some());
    // A line logged after the checkpoint (as by a run killed between checkpoints) is dropped
    // on resume and recorded again.
    let metrics = resumed.join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    let extra = text
        .lines()
        .last()
        .unwrap()
        .replace("\"step\":4", "\"step\":5");
    text.push_str(&extra);
    text.push('\n');
    std::fs::write(&metrics, text).unwrap();
    train_ok(&["train", "--resume", r, "--steps", "8"]);
    sittings_add_up(&resumed, &[(0, 4), (4, 8)]);
    sittings_add_up(&straight, &[(0, 8)]);

    let (g1, e1, m1) = outcome(&straight);
    let (g2, e2, m2) = outcome(&resumed);
    assert_eq!(m1.lines().count(), 8);
    assert_eq!(m2, m1, "metrics.jsonl differs");
    assert!(g1 == g2, "the generators differ");
    assert!(e1 == e2, "the moving averages differ");
    assert!(e1 != g1, "the moving average is a separate copy");
    // The per-class grid has one row of 8 per class: 10 rows.
    let grid = image::open(straight.join("samples/step-000008.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (8 * 30 + 2, 10 * 30 + 2));
    // A finished run cannot be resumed without a larger --steps.
    let (code, message) = burngan(&["train", "--resume", r]);
    assert_eq!(code, 2);
    assert!(message.contains("already reached step 8"), "{message}");
    let (code, message) = burngan(&["train", "--resume", r, "--steps", "12", "--stop-at", "8"]);
    assert_eq!(code, 2);
    assert!(
        message.contains("--stop-at must be after step 8"),
        "{message}"
    );
    // A checkpoint directory is not a run directory: resuming into it is refused.
    let checkpoint = find_checkpoint(&resumed).unwrap();
    let (code, message) = burngan(&["train", "--resume", checkpoint.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(message.contains("is not a run directory"), "{message}");
    // --overwrite starts afresh: the old run's checkpoints are gone.
    train_ok(&[
        "train",
        "--config",
        config,
        "--out",
        r,
        "--overwrite",
        "--stop-at",
        "2",
    ]);
    let state = read_checkpoint_state(&find_checkpoint(&resumed).unwrap()).unwrap();
    assert_eq!(state.step, 2);
    assert!(!resumed.join("checkpoints/step-00000008").exists());
    sittings_add_up(&resumed, &[(0, 2)]);
}

/// `run`'s sittings.jsonl holds exactly the sittings `steps` (from, to), and eval.json's
/// `run_train_seconds` is their seconds' sum, its `train_seconds` the last one's.
fn sittings_add_up(run: &Path, steps: &[(u64, u64)]) {
    let text = std::fs::read_to_string(run.join("sittings.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let found: Vec<(u64, u64)> = lines
        .iter()
        .map(|l| (l["from"].as_u64().unwrap(), l["to"].as_u64().unwrap()))
        .collect();
    assert_eq!(found, steps, "{text}");
    let seconds: Vec<f64> = lines
        .iter()
        .map(|l| l["seconds"].as_f64().unwrap())
        .collect();
    assert!(seconds.iter().all(|s| *s > 0.0), "{text}");
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["train_seconds"].as_f64(), seconds.last().copied());
    assert_eq!(
        eval["run_train_seconds"].as_f64(),
        Some(seconds.iter().sum::<f64>())
    );
}

#[test]
fn an_interrupted_run_checkpoints_and_resumes_exactly() {
    let config = TrainConfig::from_toml(&penalised_config(), "penalised").unwrap();
    let device = burngan_backend::device(BackendKind::Flex).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let control = |run: &str, interrupt: bool, resume: bool| RunControl {
        dir: Some(dir.path().join(run)),
        resume,
        stop_at: None,
        interrupt: Some(Arc::new(AtomicBool::new(interrupt))),
        backend: "flex".into(),
        config_text: config.to_toml(),
    };
    let straight = train_images(&config, &device, &mut [], &control("a", false, false)).unwrap();
    assert_eq!(straight.metrics.len(), 6);
    // checkpoint_every = 0: only the final checkpoint.
    let written = find_checkpoint(&dir.path().join("a")).unwrap();
    assert!(written.ends_with("step-00000006"), "{}", written.display());

    // The flag is already set: the run stops after its first step with a checkpoint.
    let error = train_images(&config, &device, &mut [], &control("b", true, false))
        .err()
        .unwrap();
    match &error {
        AppError::Interrupted { step, .. } => assert_eq!(*step, 1),
        other => panic!("expected an interrupt, got {other}"),
    }
    assert!(error.to_string().contains("--resume"), "{error}");
    let resumed = train_images(&config, &device, &mut [], &control("b", false, true)).unwrap();
    let tail: Vec<&StepMetrics> = straight.metrics.iter().skip(1).collect();
    let again: Vec<&StepMetrics> = resumed.metrics.iter().collect();
    assert_eq!(again, tail, "the resumed steps differ");
    assert!(tensors(&resumed.generator) == tensors(&straight.generator));
    assert!(tensors(&resumed.discriminator) == tensors(&straight.discriminator));
}

/// Writes `n` 28×28 IDX images (raw, not gzipped) whose pixels are `(i * 7 + k) % 256`, and
/// their labels `i % 3`, as `dir/NAME-images-idx3-ubyte` and `dir/NAME-labels-idx1-ubyte`.
fn write_idx_pair(dir: &Path, name: &str, n: usize) -> (PathBuf, PathBuf) {
    let mut images = vec![0, 0, 8, 3];
    for size in [n, 28, 28] {
        images.extend_from_slice(&(size as u32).to_be_bytes());
    }
    images.extend((0..n * 784).map(|k| ((k / 784 * 7 + k) % 256) as u8));
    let mut labels = vec![0, 0, 8, 1];
    labels.extend_from_slice(&(n as u32).to_be_bytes());
    labels.extend((0..n).map(|i| (i % 3) as u8));
    let images_path = dir.join(format!("{name}-images-idx3-ubyte"));
    let labels_path = dir.join(format!("{name}-labels-idx1-ubyte"));
    std::fs::write(&images_path, images).unwrap();
    std::fs::write(&labels_path, labels).unwrap();
    (images_path, labels_path)
}

/// A tiny unconditional DCGAN config, 2 steps.
fn tiny_dcgan(dir: &Path, extra_data: &str) -> PathBuf {
    write_config(dir, &tiny_dcgan_config(extra_data))
}

#[test]
fn data_accepts_idx_pairs_and_image_folders() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_dcgan(dir.path(), "");
    let config = config.to_str().unwrap();
    // An IDX pair found by name, then one named explicitly with --labels.
    let (images, labels) = write_idx_pair(dir.path(), "digits", 12);
    let out = dir.path().join("idx");
    train_ok(&[
        "train",
        "--config",
        config,
        "--data",
        images.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let resolved = TrainConfig::load(&out.join("config.toml")).unwrap();
    let DataConfig::Images(ImageDataConfig { path, .. }) = &resolved.data else {
        panic!("image config expected");
    };
    assert_eq!(path, &std::fs::canonicalize(&images).unwrap());
    let moved = dir.path().join("other-name.idx1");
    std::fs::rename(&labels, &moved).unwrap();
    train_ok(&[
        "train",
        "--config",
        config,
        "--data",
        images.to_str().unwrap(),
        "--labels",
        moved.to_str().unwrap(),
        "--out",
        dir.path().join("idx2").to_str().unwrap(),
    ]);

    // A folder of 20×16 RGB PNGs in two class folders, resized to 28×28 grayscale.
    let folder = dir.path().join("folder");
    let mut rng = HostRng::seed_from(1);
    for class in ["cats", "dogs"] {
        std::fs::create_dir_all(folder.join(class)).unwrap();
        for i in 0..3 {
            let pixels = rng.uniform_vec(3 * 20 * 16, -1.0, 1.0);
            let path = folder.join(class).join(format!("{i}.png"));
            image_grid_png(&path, &pixels, [3, 20, 16], 1).unwrap();
        }
    }
    let out = dir.path().join("from-folder");
    train_ok(&[
        "train",
        "--config",
        config,
        "--data",
        folder.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let grid = image::open(out.join("samples/step-000002.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (8 * 30 + 2, 8 * 30 + 2));
}

#[test]
fn bad_image_data_is_a_usage_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_dcgan(dir.path(), "");
    let config = config.to_str().unwrap();
    let run = |data: &Path, extra: &[&str]| {
        let out = dir.path().join("out");
        let mut list = vec![
            "train",
            "--config",
            config,
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--overwrite",
        ];
        list.extend_from_slice(extra);
        let (code, message) = burngan(&list);
        assert!(!out.join("metrics.jsonl").exists(), "{message}");
        (code, message)
    };
    let missing = dir.path().join("missing-images-idx3-ubyte");
    let (code, message) = run(&missing, &[]);
    assert_eq!(code, 2);
    assert!(message.contains("missing-images-idx3-ubyte") && message.contains("does not exist"));

    // A header claiming 1,000,000 images in a file holding one.
    let (images, _) = write_idx_pair(dir.path(), "short", 1);
    let mut bytes = std::fs::read(&images).unwrap();
    bytes[4..8].copy_from_slice(&1_000_000u32.to_be_bytes());
    std::fs::write(&images, bytes).unwrap();
    let (code, message) = run(&images, &[]);
    assert_eq!(code, 2, "{message}");
    assert!(message.contains("short-images-idx3-ubyte"), "{message}");

    // Labels that do not match the images in number.
    let (images, _) = write_idx_pair(dir.path(), "five", 5);
    let (_, labels) = write_idx_pair(dir.path(), "six", 6);
    let (code, message) = run(&images, &["--labels", labels.to_str().unwrap()]);
    assert_eq!(code, 2, "{message}");
    assert!(message.contains('5') && message.contains('6'), "{message}");

    // An empty folder, and a folder with a file that is not an image.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, message) = run(&empty, &[]);
    assert_eq!(code, 2, "{message}");
    assert!(message.contains("empty"), "{message}");
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("a.png"), b"not a png").unwrap();
    let (code, message) = run(&broken, &[]);
    assert_eq!(code, 2, "{message}");
    assert!(message.contains("a.png"), "{message}");

    // Images of another size than the config's.
    let mut wrong = vec![0, 0, 8, 3];
    for size in [2u32, 8, 8] {
        wrong.extend_from_slice(&size.to_be_bytes());
    }
    wrong.extend([0u8; 128]);
    let path = dir.path().join("small-images-idx3-ubyte");
    std::fs::write(&path, wrong).unwrap();
    let (code, message) = run(&path, &[]);
    assert_eq!(code, 2, "{message}");
    assert!(message.contains("small-images-idx3-ubyte"), "{message}");

    // A conditional config on unlabelled data.
    let text = conditional_config().replace(
        &format!("path = \"{}\"", shipped_mnist().display()),
        &format!("path = \"{}\"", path.display()),
    );
    let unlabelled = dir.path().join("cond.toml");
    std::fs::write(&unlabelled, text).unwrap();
    let (images, _) = write_idx_pair(dir.path(), "nolabels", 4);
    std::fs::remove_file(dir.path().join("nolabels-labels-idx1-ubyte")).unwrap();
    let out = dir.path().join("cond-out");
    let (code, message) = burngan(&[
        "train",
        "--config",
        unlabelled.to_str().unwrap(),
        "--data",
        images.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{message}");
    assert!(message.contains("need labels"), "{message}");
}

#[test]
fn sample_and_export_read_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &conditional_config().replace("steps = 8", "steps = 2"),
    );
    let run = dir.path().join("run");
    let run = run.to_str().unwrap();
    train_ok(&["train", "--config", config.to_str().unwrap(), "--out", run]);
    let grid = dir.path().join("grids/class3.png");
    train_ok(&[
        "sample",
        "--checkpoint",
        run,
        "--class",
        "3",
        "--n",
        "10",
        "--out",
        grid.to_str().unwrap(),
    ]);
    let image = image::open(&grid).unwrap();
    // 10 images, 4 per row: 3 rows.
    assert_eq!((image.width(), image.height()), (4 * 30 + 2, 3 * 30 + 2));
    for (extra, needle) in [
        (vec!["--class", "10"], "below the run's 10 classes"),
        (vec!["--n", "0"], "--n must be between 1 and 4096"),
    ] {
        let mut list = vec!["sample", "--checkpoint", run, "--out", "unused.png"];
        list.extend(extra);
        let (code, message) = burngan(&list);
        assert_eq!(code, 2);
        assert!(message.contains(needle), "{message}");
    }
    let (code, message) = burngan(&[
        "sample",
        "--checkpoint",
        dir.path().join("none").to_str().unwrap(),
        "--out",
        "unused.png",
    ]);
    assert_eq!(code, 2);
    assert!(
        message.contains("not a run or checkpoint directory"),
        "{message}"
    );

    // The export holds the moving average's weights under PyTorch names and layouts.
    let out = dir.path().join("g.safetensors");
    train_ok(&[
        "export",
        "--checkpoint",
        run,
        "--out",
        out.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&out).unwrap();
    let exported = burngan_export_tensors(&bytes);
    let device = burngan_backend::device(BackendKind::Flex).unwrap();
    let checkpoint = find_checkpoint(Path::new(run)).unwrap();
    let config = TrainConfig::load(&checkpoint.join("config.toml")).unwrap();
    let ema = load_image_generator(&config, &checkpoint, true, &device).unwrap();
    let burngan_app::ImageGenerator::Conditional(ema) = ema else {
        panic!("conditional generator expected");
    };
    let table: Vec<f32> = ema.embedding.weight.val().into_data().try_to_vec().unwrap();
    assert_eq!(exported["embedding.weight"], table);
    // Burn's Linear weight is [in, out]; the export is PyTorch's [out, in].
    let w = ema.body.dense[0].linear.weight.val();
    let [inputs, outputs] = w.dims();
    let w: Vec<f32> = w.into_data().try_to_vec().unwrap();
    let exported_w = &exported["body.dense.0.linear.weight"];
    for (i, o) in [(0, 0), (1, 2), (inputs - 1, outputs - 1)] {
        assert_eq!(exported_w[o * inputs + i], w[i * outputs + o]);
    }
}

/// The f32 tensors of a safetensors file, by name.
fn burngan_export_tensors(bytes: &[u8]) -> std::collections::HashMap<String, Vec<f32>> {
    let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
    file.tensors()
        .into_iter()
        .filter(|(_, view)| view.dtype() == safetensors::Dtype::F32)
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, values)
        })
        .collect()
}
