//! Shared helpers: paths into the workspace, running the CLI in-process or as a child process,
//! backend lists.

use std::path::PathBuf;

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
