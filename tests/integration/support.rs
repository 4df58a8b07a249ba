//! Shared helpers: paths into the workspace, running the CLI in-process, backend lists.

use std::path::PathBuf;

use burn::tensor::Device;
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
