//! Bad input on the command line or in the config gives a message that names the value and
//! the fix, and exit code 2, never a panic.

use std::path::Path;

use crate::support::{burngan, preset};

/// Runs `burngan train` with `args` and a fresh `--out`; expects exit 2 and every `needle` in
/// the message.
fn expect_usage_error(config: &Path, extra: &[&str], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut args = vec![
        "train",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, message) = burngan(&args);
    assert_eq!(code, 2, "args {args:?}: {message}");
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
    assert!(
        !out.join("metrics.jsonl").exists(),
        "nothing is trained on a usage error"
    );
}

/// Writes the ring8-ns preset with `from` replaced by `to` into `dir`.
fn edited_preset(dir: &Path, from: &str, to: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(preset("ring8-ns")).unwrap();
    assert!(text.contains(from), "preset has no {from:?}");
    let path = dir.join("edited.toml");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    path
}

#[test]
fn unknown_and_compiled_out_backends() {
    let ring = preset("ring8-ns");
    expect_usage_error(
        &ring,
        &["--backend", "tpu"],
        &[
            "'tpu' is not a backend",
            "ndarray, flex, wgpu, vulkan, metal, cuda",
        ],
    );
    expect_usage_error(
        &ring,
        &["--backend", "cuda"],
        &[
            "backend 'cuda' is not compiled into this binary",
            "--features cuda",
        ],
    );
}

#[test]
fn missing_and_malformed_config_files() {
    let dir = tempfile::tempdir().unwrap();
    expect_usage_error(
        &dir.path().join("nope.toml"),
        &[],
        &[
            "cannot read config file",
            "nope.toml",
            "--config assets/configs/ring8-ns.toml",
        ],
    );
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[run\nsteps = 3\n").unwrap();
    expect_usage_error(&broken, &[], &["invalid config", "broken.toml", "line 1"]);
    let unknown = edited_preset(dir.path(), "[train]\n", "[train]\nlearning_rate = 3\n");
    expect_usage_error(
        &unknown,
        &[],
        &["unknown field `learning_rate`", "batch_size"],
    );
}

#[test]
fn zero_or_negative_learning_rate_batch_size_and_steps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lr = "kind = \"adam\"\nlr = 5e-4";
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            lr,
            "kind = \"adam\"\nlr = 0.0",
            &[
                "optimizer.generator.lr must be a finite number > 0",
                "got 0",
            ],
        ),
        (
            lr,
            "kind = \"adam\"\nlr = -1e-3",
            &["optimizer.generator.lr", "got -0.001"],
        ),
        (
            "batch_size = 512",
            "batch_size = 0",
            &["train.batch_size must be a positive integer"],
        ),
        (
            "batch_size = 512",
            "batch_size = -8",
            &["batch_size = -8", "expected usize"],
        ),
        (
            "steps = 2000",
            "steps = 0",
            &["run.steps must be a positive integer"],
        ),
    ];
    for (from, to, needles) in cases {
        expect_usage_error(&edited_preset(d, from, to), &[], needles);
    }
    let ring = preset("ring8-ns");
    expect_usage_error(
        &ring,
        &["--steps", "0"],
        &["run.steps must be a positive integer"],
    );
    expect_usage_error(&ring, &["--steps", "-3"], &["-3"]);
}

#[test]
fn unknown_loss_name_and_negative_clip_value() {
    let dir = tempfile::tempdir().unwrap();
    let ns = "kind = \"non-saturating\"";
    let unknown = edited_preset(dir.path(), ns, "kind = \"earth-mover\"");
    expect_usage_error(
        &unknown,
        &[],
        &[
            "unknown variant `earth-mover`",
            "non-saturating",
            "wgan",
            "softmax",
        ],
    );
    let negative = edited_preset(dir.path(), ns, "kind = \"wgan\"\nclip = -0.01");
    expect_usage_error(
        &negative,
        &[],
        &["loss.clip must be a finite number > 0, got -0.01"],
    );
}

/// Writes the ring8-ns preset with every `(from, to)` replacement applied and `extra`
/// appended into `dir/name.toml`.
fn preset_with(dir: &Path, name: &str, edits: &[(&str, &str)], extra: &str) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(preset("ring8-ns")).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "preset has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    text.push_str(extra);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn penalty_on_an_unsupported_critic_negative_weights_and_unknown_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let leaky = "activation = { leaky_relu = 0.2 }";
    let batch_norm = (
        leaky,
        "activation = { leaky_relu = 0.2 }\nnormalization = \"batch\"",
    );
    let gp = "\n[penalty]\nkind = \"wgan-gp\"\n";
    let unsupported = preset_with(dir.path(), "bn", &[batch_norm], gp);
    expect_usage_error(
        &unsupported,
        &[],
        &[
            "penalty.kind = \"wgan-gp\" needs the critic's input gradient",
            "discriminator.hidden[0] (BatchNorm",
            "set discriminator.normalization to \"none\" or \"spectral\"",
        ],
    );
    // The same critic without a penalty is a valid config.
    let plain = preset_with(dir.path(), "bn-plain", &[batch_norm], "");
    burngan_app::TrainConfig::load(&plain)
        .unwrap()
        .validate()
        .unwrap();
    for (name, section, needle) in [
        (
            "negative-weight",
            "\n[penalty]\nkind = \"wgan-gp\"\nweight = -10.0\n",
            "penalty.weight must be a finite number ≥ 0, got -10",
        ),
        (
            "negative-gamma",
            "\n[penalty]\nkind = \"r1\"\ngamma = -1.0\n",
            "penalty.gamma must be a finite number ≥ 0, got -1",
        ),
        (
            "unknown-penalty",
            "\n[penalty]\nkind = \"r3\"\n",
            "unknown variant `r3`, expected one of `wgan-gp`, `r1`, `r2`, `dragan`",
        ),
    ] {
        let path = preset_with(dir.path(), name, &[], section);
        expect_usage_error(&path, &[], &[needle]);
    }
    let ns = ("kind = \"non-saturating\"", "kind = \"wasserstein\"");
    let unconstrained = preset_with(dir.path(), "unconstrained", &[ns], "");
    expect_usage_error(
        &unconstrained,
        &[],
        &[
            "loss.kind = \"wasserstein\" leaves the critic unconstrained",
            "[penalty]",
        ],
    );
}

#[test]
fn unwritable_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let out = file.join("run");
    let ring = preset("ring8-ns");
    let (code, message) = burngan(&[
        "train",
        "--config",
        ring.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{message}");
    assert!(message.contains("choose a writable --out"), "{message}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory");
}

/// wgpu with no driver at all (Vulkan and EGL hidden from the loader) is a run failure, exit
/// code 1, that says how to get a driver, and nothing is written. wgpu initialises once per
/// process, so the test re-runs itself in a child process with the drivers hidden.
#[cfg(target_os = "linux")]
#[test]
fn wgpu_without_any_driver_says_how_to_get_one_and_writes_nothing() {
    const CHILD: &str = "BURNGAN_TEST_NO_ADAPTER_OUT";
    let ring = preset("ring8-ns");
    if let Ok(out) = std::env::var(CHILD) {
        let args = [
            "train",
            "--config",
            ring.to_str().unwrap(),
            "--backend",
            "wgpu",
        ];
        let (code, message) = burngan(&[&args[..], &["--out", &out]].concat());
        eprintln!("{message}");
        std::process::exit(code.into());
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "cli::wgpu_without_any_driver_says_how_to_get_one_and_writes_nothing",
            "--nocapture",
        ])
        .env(CHILD, &out)
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .env("__EGL_VENDOR_LIBRARY_DIRS", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("backend 'wgpu' has no usable device"),
        "{stderr}"
    );
    assert!(
        stderr.contains("apt-get install mesa-vulkan-drivers libvulkan1"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is written when no device is found");
}
