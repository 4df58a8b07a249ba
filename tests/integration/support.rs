//! Shared helpers: paths into the workspace, running the CLI in-process or as a child process,
//! backend lists.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use burngan_backend::BackendKind;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The 10,000 MNIST digits shipped in assets/data (gzipped IDX, 28×28).
pub fn shipped_mnist() -> PathBuf {
    root().join("assets/data/mnist10k-images-idx3-ubyte.gz")
}

/// Writes `text` as `NAME.toml` in `dir`, trains it on flex with `burngan train` (in-process,
/// `extra` appended to the command line) into `dir/NAME`, asserts that it succeeded and
/// returns that run directory.
pub fn train_in(dir: &Path, name: &str, text: &str, extra: &[&str]) -> PathBuf {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, text).unwrap();
    let out = dir.join(name);
    let mut args = vec![
        "train",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "flex",
    ];
    args.extend_from_slice(extra);
    let (code, message) = burngan(&args);
    assert_eq!(code, 0, "{name}: {message}");
    out
}

/// The `[generator]` and `[discriminator]` sections of the tiny class-conditional image runs
/// (a DCGAN generator with a 4-wide class embedding: latent 8 → 16 → 8×7×7 → 4 → 1×28×28;
/// a projection critic 4/8 channels → 16 with spectral norm; 10 classes).
pub const TINY_CONDITIONAL_NETWORKS: &str = r#"[generator]
kind = "conditional-dcgan"
latent_dim = 8
hidden = 16
channels = [8, 4]
num_classes = 10
embedding_dim = 4
[discriminator]
kind = "projection"
channels = [4, 8]
hidden = 16
spectral_norm = true
num_classes = 10"#;

/// A tiny unconditional 28×28 grayscale DCGAN run of 2 steps (latent 4 → 8 → 4×7×7 → 2 →
/// 1×28×28; critic 2/4 channels → 8; non-saturating loss, batch 4, Adam 1e-3), with
/// `extra_data` added to its `[data]` section (e.g. a `path`).
pub fn tiny_dcgan_config(extra_data: &str) -> String {
    format!(
        r#"
[run]
steps = 2
sample_every = 2
[data]
kind = "images"
{extra_data}
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
"#
    )
}

/// The path of a preset under `assets/configs`.
pub fn preset(name: &str) -> PathBuf {
    root().join("assets/configs").join(format!("{name}.toml"))
}

/// Runs `burngan ARGS` in-process; returns the exit code and the message of a failure.
pub fn burngan(args: &[&str]) -> (u8, String) {
    let argv = std::iter::once("burngan").chain(args.iter().copied());
    match burngan_cli::run(argv) {
        Ok(()) => (0, String::new()),
        Err(failure) => (failure.exit_code(), failure.message()),
    }
}

/// The real `burngan` binary (`crates/burngan-cli/src/main.rs`, built by cargo as this
/// package's `burngan-child`), to run as a child process: for tests that kill the command,
/// cap its memory or change its environment, which an in-process run cannot.
pub fn burngan_process() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_burngan-child"))
}

/// The backends the cross-backend regression compares. wgpu must have an adapter: in CI it
/// runs on Mesa's lavapipe, installed by `.ci/run`.
pub fn regression_backends() -> Vec<(BackendKind, Device)> {
    [BackendKind::Flex, BackendKind::Ndarray, BackendKind::Wgpu]
        .into_iter()
        .map(|kind| match burngan_backend::device(kind) {
            Ok(device) => (kind, device),
            Err(error) => panic!("the cross-backend regression needs {kind}: {error}"),
        })
        .collect()
}

/// Every float tensor of a module (parameters and buffers), in visiting order.
pub fn tensors<M: Module>(module: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values: Vec<f32> = param
                .val()
                .into_data()
                .convert::<f32>()
                .try_to_vec()
                .unwrap();
            self.0.extend(values);
        }
    }
    let mut collect = Collect(Vec::new());
    // The evaluation copy folds pending BatchNorm statistics into the values it reads.
    module.valid().visit(&mut collect);
    collect.0
}
