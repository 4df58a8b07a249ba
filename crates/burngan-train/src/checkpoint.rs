//! Checkpoints: module weights written atomically (a temporary file, then a rename), so a crash
//! mid-write leaves the previous checkpoint intact.
//!
//! A run's `checkpoints/` directory holds one directory per checkpoint, `step-NNNNNNNN/`, and a
//! file `latest` naming the newest complete one. A checkpoint is written into a hidden
//! `.partial-step-NNNNNNNN/` directory, each file synced, `state.json` last; only then is the
//! directory renamed into place and `latest` replaced (itself by a rename). A crash at any
//! point therefore leaves `latest` naming a complete checkpoint.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use burngan_core::RngState;
use burngan_data::SamplerState;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::error::CheckpointFault;

/// The version of the checkpoint layout written by this build.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// Everything in a checkpoint that is not a tensor: `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// [`CHECKPOINT_FORMAT`] of the writer.
    pub format: u32,
    /// Generator steps done.
    pub step: usize,
    /// The host RNG's position after that step.
    pub rng: RngState,
    /// The epoch sampler's position (image data), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler: Option<SamplerState>,
    /// The backend the run was trained on (a resume elsewhere continues, but not bit-exactly).
    pub backend: String,
    /// How the trainer that wrote it was built (absent in checkpoints of earlier builds);
    /// loading refuses a trainer built differently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainer: Option<TrainerIdentity>,
}

/// What a checkpoint records of the trainer that wrote it: the loss, the penalties (with their
/// laziness), the network types and the optimizers' kinds. Weights and optimizer states of
/// another configuration could load without a shape error and train something else silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainerIdentity {
    /// The loss's [name](burngan_core::AdversarialLoss::name).
    pub loss: String,
    /// Each penalty's name, `"r2 every 4"` for a lazy one, in order.
    pub penalties: Vec<String>,
    /// The generator's type name (last path segment).
    pub generator: String,
    /// The discriminator's type name (last path segment).
    pub discriminator: String,
    /// The generator's and the discriminator's optimizer kinds.
    pub optimizers: [String; 2],
    /// The [description](crate::Augment::describe) of the trainer's augmentation; absent
    /// without one (and in checkpoints of earlier builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<String>,
    /// The update order; absent in checkpoints of earlier builds, which are not checked for
    /// it (a run resumed across that change must keep its config's order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates: Option<crate::UpdateOrder>,
}

impl TrainerIdentity {
    /// `Ok` when `current` was built as the trainer that wrote checkpoint `dir`; otherwise an
    /// error naming each difference.
    pub fn check_matches(&self, current: &TrainerIdentity, dir: &Path) -> Result<(), TrainError> {
        let list = |p: &[String]| {
            if p.is_empty() {
                "no penalty".to_string()
            } else {
                p.join(", ")
            }
        };
        let mut differences = Vec::new();
        let mut differ = |what: &str, written: String, here: String| {
            if written != here {
                differences.push(format!("{what} {written} there, {here} here"));
            }
        };
        differ("loss", self.loss.clone(), current.loss.clone());
        differ("penalties", list(&self.penalties), list(&current.penalties));
        differ(
            "generator",
            self.generator.clone(),
            current.generator.clone(),
        );
        differ(
            "discriminator",
            self.discriminator.clone(),
            current.discriminator.clone(),
        );
        differ(
            "generator optimizer",
            self.optimizers[0].clone(),
            current.optimizers[0].clone(),
        );
        differ(
            "discriminator optimizer",
            self.optimizers[1].clone(),
            current.optimizers[1].clone(),
        );
        let augment = |a: &Option<String>| a.clone().unwrap_or_else(|| "none".to_string());
        differ(
            "augmentation",
            augment(&self.augment),
            augment(&current.augment),
        );
        if let (Some(written), Some(here)) = (self.updates, current.updates) {
            let name = |order: crate::UpdateOrder| format!("{order:?}").to_lowercase();
            differ("update order", name(written), name(here));
        }
        if differences.is_empty() {
            return Ok(());
        }
        Err(TrainError::checkpoint(
            dir,
            CheckpointFault::Mismatch,
            format!(
                "checkpoint {} was written by a trainer built differently ({}); build the \
                 trainer with the loss, penalties, networks, optimizers and augmentation of \
                 the run that wrote it",
                dir.display(),
                differences.join("; ")
            ),
        ))
    }
}

/// The files of one checkpoint, besides `state.json`.
pub mod files {
    /// The generator's weights and buffers (burnpack).
    pub const GENERATOR: &str = "generator.bpk";
    /// The discriminator's weights and buffers (burnpack).
    pub const DISCRIMINATOR: &str = "discriminator.bpk";
    /// The moving average of the generator, when the run keeps one (burnpack).
    pub const EMA: &str = "generator_ema.bpk";
    /// The generator optimizer's state (safetensors).
    pub const OPTIMIZER_G: &str = "optimizer_generator.safetensors";
    /// The discriminator optimizer's state (safetensors).
    pub const OPTIMIZER_D: &str = "optimizer_discriminator.safetensors";
    /// The augmentation's state (JSON: its probability and accumulated signal), when the
    /// trainer augments its critic's inputs.
    pub const AUGMENT: &str = "augment.json";
    /// The resolved config of the run (TOML).
    pub const CONFIG: &str = "config.toml";
    /// [`CheckpointState`](super::CheckpointState) as JSON, written last.
    pub const STATE: &str = "state.json";
}

/// The name of the file in `checkpoints/` that names the newest complete checkpoint.
pub const LATEST: &str = "latest";

/// The serialised weights and buffers of `module` (burnpack), for [`write_checkpoint`].
///
/// Buffers are read synchronised: a Burn `RunningState` (BatchNorm statistics, power-iteration
/// vectors) holds its newest update aside until the next one, and the evaluation copy made here
/// folds it in, so the checkpoint has the values a continuing run would use.
pub fn module_bytes<M: Module>(module: &M) -> Result<Vec<u8>, TrainError> {
    module
        .valid()
        .into_record()
        .into_bytes()
        .map(|bytes| bytes.to_vec())
        .map_err(|e| TrainError::Output(format!("cannot serialise a module: {e}")))
}

/// Writes checkpoint `step` into `root` (a run's `checkpoints/` directory) with the named
/// `files` and `state`, points `latest` at it and removes older checkpoints beyond the newest
/// `keep` (at least 1). Returns the checkpoint's directory.
pub fn write_checkpoint(
    root: &Path,
    files: &[(&str, Vec<u8>)],
    state: &CheckpointState,
    keep: usize,
) -> Result<PathBuf, TrainError> {
    write_checkpoint_until(root, files, state, keep, usize::MAX)
}

/// [`write_checkpoint`] that stops, as a crash would, after writing `stop_after` files.
fn write_checkpoint_until(
    root: &Path,
    files: &[(&str, Vec<u8>)],
    state: &CheckpointState,
    keep: usize,
    stop_after: usize,
) -> Result<PathBuf, TrainError> {
    let name = format!("step-{:08}", state.step);
    let partial = root.join(format!(".partial-{name}"));
    let target = root.join(&name);
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |e| TrainError::io(action, path, e)
    };
    std::fs::create_dir_all(root).map_err(io("cannot create", root))?;
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(io("cannot remove", &partial))?;
    }
    std::fs::create_dir(&partial).map_err(io("cannot create", &partial))?;
    let json = serde_json::to_vec_pretty(state)
        .map_err(|e| TrainError::Output(format!("cannot encode the checkpoint state: {e}")))?;
    let all = files
        .iter()
        .map(|(name, bytes)| (*name, bytes.as_slice()))
        .chain(std::iter::once((files::STATE, json.as_slice())));
    for (written, (file, bytes)) in all.enumerate() {
        if written == stop_after {
            return Err(TrainError::Output(format!(
                "checkpoint {name} interrupted after {written} files"
            )));
        }
        write_synced(&partial.join(file), bytes)?;
    }
    sync_dir(&partial)?;
    // The same step again (a resumed run reaching it anew): the old one is moved aside before
    // the new one takes its name, so `step-N` is always either complete or absent.
    let old = root.join(format!(".old-{name}"));
    if target.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io("cannot remove", &old))?;
        }
        std::fs::rename(&target, &old).map_err(io("cannot move aside", &target))?;
    }
    std::fs::rename(&partial, &target).map_err(io("cannot move into place", &target))?;
    sync_dir(root)?;
    write_atomically(&root.join(LATEST), name.as_bytes())?;
    sync_dir(root)?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io("cannot remove", &old))?;
    }
    let mut older: Vec<PathBuf> = complete_checkpoints(root)?
        .into_iter()
        .filter(|(step, _)| *step < state.step)
        .map(|(_, path)| path)
        .collect();
    let excess = older.len().saturating_sub(keep.max(1) - 1);
    for path in older.drain(..excess) {
        std::fs::remove_dir_all(&path).map_err(io("cannot remove", &path))?;
    }
    Ok(target)
}

/// The complete checkpoints in `root` (directories `step-N` holding `state.json`), by step.
fn complete_checkpoints(root: &Path) -> Result<Vec<(usize, PathBuf)>, TrainError> {
    let entries = std::fs::read_dir(root).map_err(|e| TrainError::io("cannot list", root, e))?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(step) = name.strip_prefix("step-").and_then(|n| n.parse().ok()) else {
            continue;
        };
        if entry.path().join(files::STATE).is_file() {
            found.push((step, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// The newest complete checkpoint under `dir`, which may be a run directory, its
/// `checkpoints/` directory or one checkpoint directory. Follows `latest`, falling back to the
/// highest complete `step-N` when `latest` is missing or names an incomplete one.
pub fn find_checkpoint(dir: &Path) -> Result<PathBuf, TrainError> {
    if dir.join(files::STATE).is_file() {
        return Ok(dir.to_path_buf());
    }
    let root = if dir.join("checkpoints").is_dir() {
        dir.join("checkpoints")
    } else {
        dir.to_path_buf()
    };
    if !root.is_dir() {
        return Err(TrainError::checkpoint(
            dir,
            CheckpointFault::NotACheckpoint,
            format!(
                "{} is not a run or checkpoint directory: it holds neither {} nor a \
                 checkpoints/ directory",
                dir.display(),
                files::STATE
            ),
        ));
    }
    if let Ok(name) = std::fs::read_to_string(root.join(LATEST)) {
        let path = root.join(name.trim());
        if path.join(files::STATE).is_file() {
            return Ok(path);
        }
    }
    complete_checkpoints(&root)?
        .pop()
        .map(|(_, path)| path)
        .ok_or_else(|| {
            TrainError::checkpoint(
                dir,
                CheckpointFault::NoneComplete,
                format!(
                    "{} holds no complete checkpoint (no step-N directory with state.json): the \
                     run stopped before its first checkpoint and must start again",
                    root.display()
                ),
            )
        })
}

/// Reads `state.json` of the checkpoint directory `dir`.
pub fn read_checkpoint_state(dir: &Path) -> Result<CheckpointState, TrainError> {
    let path = dir.join(files::STATE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| TrainError::io("cannot read checkpoint state", &path, e))?;
    let state: CheckpointState = serde_json::from_str(&text).map_err(|e| {
        damaged(
            dir,
            format!(
                "checkpoint state {} is corrupt: {e}; {}",
                path.display(),
                damaged_fix(dir)
            ),
        )
    })?;
    if state.format > CHECKPOINT_FORMAT {
        return Err(TrainError::checkpoint(
            dir,
            CheckpointFault::Format,
            format!(
                "checkpoint {} was written in format {} by a newer burngan; this build reads \
                 checkpoint format {CHECKPOINT_FORMAT}: upgrade burngan to load it",
                dir.display(),
                state.format
            ),
        ));
    }
    if state.format != CHECKPOINT_FORMAT {
        return Err(TrainError::checkpoint(
            dir,
            CheckpointFault::Format,
            format!(
                "checkpoint {} has format {}, which no burngan release wrote; this build reads \
                 checkpoint format {CHECKPOINT_FORMAT}",
                dir.display(),
                state.format
            ),
        ));
    }
    Ok(state)
}

/// The fix for a damaged checkpoint directory `dir`, for messages.
fn damaged_fix(dir: &Path) -> String {
    format!(
        "delete {} to resume from the checkpoint before it, or start the run again",
        dir.display()
    )
}

/// A [`CheckpointFault::Damaged`] error about checkpoint directory `dir`.
fn damaged(dir: &Path, message: String) -> TrainError {
    TrainError::checkpoint(dir, CheckpointFault::Damaged, message)
}

/// Makes the entries of directory `dir` (new files, renames) durable.
fn sync_dir(dir: &Path) -> Result<(), TrainError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| TrainError::io("cannot sync", dir, e))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    use std::io::Write;
    std::fs::File::create(path)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .map_err(|e| TrainError::io("cannot write", path, e))
}

/// Writes `module`'s parameters to `path` in Burn's burnpack format, atomically.
pub fn save_module<M: Module>(module: &M, path: &Path) -> Result<(), TrainError> {
    write_atomically(path, &module_bytes(module)?)
}

/// Loads parameters saved by [`save_module`] into `module` (which fixes the architecture).
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M, TrainError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if !path.is_file() {
        return Err(damaged(
            dir,
            format!(
                "checkpoint file {} is missing: the checkpoint is incomplete; {}",
                path.display(),
                damaged_fix(dir)
            ),
        ));
    }
    let unfit = |e: &dyn std::fmt::Display| {
        damaged(
            dir,
            format!(
                "checkpoint {} does not fit this model: {e}; load it into the networks it was \
                 trained with (the run's config.toml describes them), or, if the file is \
                 damaged, {}",
                path.display(),
                damaged_fix(dir)
            ),
        )
    };
    // Burn 0.22 panics instead of returning an error for some damaged files (a tensor of an
    // integer type where a float parameter is expected; found by the `checkpoint` fuzzer):
    // loading touches nothing but the module it returns, so the panic is caught and reported
    // as an unusable file.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| module.try_load_file(path))) {
        Ok(loaded) => loaded.map_err(|e| unfit(&e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the file could not be read".into());
            Err(unfit(&what))
        }
    }
}

/// An optimizer for `module` with the state stored at `path`.
pub(crate) fn load_optimizer<M: Module>(
    template: &crate::Optimizer,
    path: &Path,
    module: &M,
    device: &Device,
) -> Result<crate::Optimizer, TrainError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let bytes = std::fs::read(path).map_err(|e| {
        damaged(
            dir,
            format!(
                "cannot read optimizer state {}: {e}; {}",
                path.display(),
                damaged_fix(dir)
            ),
        )
    })?;
    let mut optimizer = template.fresh();
    optimizer.load_state(&bytes, module, device).map_err(|e| {
        damaged(
            dir,
            format!(
                "optimizer state {} is unusable: {e}; load it with the optimizers the run was \
                 started with, or, if the file is damaged, {}",
                path.display(),
                damaged_fix(dir)
            ),
        )
    })?;
    Ok(optimizer)
}

/// Writes `bytes` to a sibling temporary file, syncs it, then renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    write_synced(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        TrainError::io("cannot write", path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burngan_backend::{BackendKind, device};
    use burngan_core::{Generator, HostRng};
    use burngan_models::MlpGeneratorConfig;

    #[test]
    fn a_saved_module_loads_back_exactly_and_a_wrong_shape_is_an_error() {
        let device = device(BackendKind::Flex).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.bpk");
        let config = MlpGeneratorConfig::new(2, vec![8, 8]);
        let trained = config.init(2, &mut HostRng::seed_from(1), &device).unwrap();
        save_module(&trained, &path).unwrap();
        assert!(!dir.path().join("g.bpk.tmp").exists());
        let fresh = config.init(2, &mut HostRng::seed_from(2), &device).unwrap();
        let loaded = load_module(fresh, &path).unwrap();
        let z = HostRng::seed_from(3).normal([5, 2], &device);
        loaded
            .forward(z.clone())
            .into_data()
            .assert_eq(&trained.forward(z).into_data(), true);

        let other = MlpGeneratorConfig::new(2, vec![4])
            .init(2, &mut HostRng::seed_from(1), &device)
            .unwrap();
        let error = load_module(other, &path).unwrap_err().to_string();
        assert!(error.contains("does not fit this model"), "{error}");
        let missing = load_module(trained, &dir.path().join("none.bpk"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("none.bpk"), "{missing}");
    }

    fn state(step: usize) -> CheckpointState {
        CheckpointState {
            format: CHECKPOINT_FORMAT,
            step,
            rng: burngan_core::HostRng::seed_from(step as u64).state(),
            sampler: None,
            backend: "flex".into(),
            trainer: None,
        }
    }

    #[test]
    fn an_interrupted_checkpoint_leaves_the_previous_one_loadable() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("checkpoints");
        let files = |tag: u8| vec![("a.bin", vec![tag; 16]), ("b.bin", vec![tag; 8])];
        let first = write_checkpoint(&root, &files(1), &state(10), 2).unwrap();
        assert_eq!(find_checkpoint(dir.path()).unwrap(), first);
        // A crash after each possible number of files of the next checkpoint.
        for stop_after in 0..3 {
            let error = write_checkpoint_until(&root, &files(2), &state(20), 2, stop_after)
                .unwrap_err()
                .to_string();
            assert!(error.contains("interrupted"), "{error}");
            let found = find_checkpoint(dir.path()).unwrap();
            assert_eq!(found, first, "after {stop_after} files");
            assert_eq!(read_checkpoint_state(&found).unwrap(), state(10));
            assert_eq!(std::fs::read(found.join("a.bin")).unwrap(), vec![1; 16]);
        }
        // Even with `latest` lost, the complete checkpoint is found, not the partial one.
        std::fs::remove_file(root.join(LATEST)).unwrap();
        assert_eq!(find_checkpoint(&root).unwrap(), first);
        // Completed writes move `latest` on and keep the newest `keep` checkpoints.
        for step in [20, 30, 40] {
            write_checkpoint(&root, &files(step as u8), &state(step), 2).unwrap();
        }
        let kept: Vec<usize> = complete_checkpoints(&root)
            .unwrap()
            .into_iter()
            .map(|(step, _)| step)
            .collect();
        assert_eq!(kept, [30, 40]);
        let latest = find_checkpoint(dir.path()).unwrap();
        assert_eq!(read_checkpoint_state(&latest).unwrap().step, 40);
        assert!(!root.join(".partial-step-00000040").exists());
        // Writing the same step again (a resumed run reaching it anew) replaces it whole.
        let again = write_checkpoint(&root, &files(9), &state(40), 2).unwrap();
        assert_eq!(std::fs::read(again.join("a.bin")).unwrap(), vec![9; 16]);
        assert!(!root.join(".old-step-00000040").exists());
    }

    #[test]
    fn missing_and_corrupt_checkpoints_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let error = find_checkpoint(&dir.path().join("nowhere")).unwrap_err();
        assert!(error.to_string().contains("nowhere"), "{error}");
        std::fs::create_dir_all(dir.path().join("checkpoints")).unwrap();
        let error = find_checkpoint(dir.path()).unwrap_err().to_string();
        assert!(error.contains("no complete checkpoint"), "{error}");
        let root = dir.path().join("checkpoints");
        let path = write_checkpoint(&root, &[], &state(5), 1).unwrap();
        std::fs::write(path.join(files::STATE), b"{ not json").unwrap();
        let error = read_checkpoint_state(&path).unwrap_err().to_string();
        assert!(error.contains("corrupt"), "{error}");
        // A newer layout is refused with the versions named, as a usage error.
        let mut newer = state(5);
        newer.format = CHECKPOINT_FORMAT + 1;
        std::fs::write(path.join(files::STATE), serde_json::to_vec(&newer).unwrap()).unwrap();
        let error = read_checkpoint_state(&path).unwrap_err();
        assert!(error.is_usage_error());
        let message = error.to_string();
        assert!(
            message.contains(&format!("format {}", CHECKPOINT_FORMAT + 1))
                && message.contains("upgrade burngan"),
            "{message}"
        );
    }

    /// Each unusable checkpoint is a [`TrainError::Checkpoint`] whose fault an application can
    /// map to its own remedy, and whose message names the directory but no command-line flag.
    #[test]
    fn checkpoint_errors_carry_their_fault_and_name_no_flag() {
        let fault = |error: TrainError| match error {
            TrainError::Checkpoint { fault, message, .. } => {
                assert!(
                    !message.contains("--"),
                    "a library message names a flag: {message}"
                );
                fault
            }
            other => panic!("expected a checkpoint error, got {other}"),
        };
        let dir = tempfile::tempdir().unwrap();
        let nowhere = find_checkpoint(&dir.path().join("nowhere")).unwrap_err();
        assert_eq!(fault(nowhere), CheckpointFault::NotACheckpoint);
        let root = dir.path().join("checkpoints");
        std::fs::create_dir_all(&root).unwrap();
        let empty = find_checkpoint(dir.path()).unwrap_err();
        assert!(empty.is_usage_error());
        assert_eq!(fault(empty), CheckpointFault::NoneComplete);
        let path = write_checkpoint(&root, &[], &state(5), 1).unwrap();
        std::fs::write(path.join(files::STATE), b"{ not json").unwrap();
        let corrupt = read_checkpoint_state(&path).unwrap_err();
        assert!(!corrupt.is_usage_error());
        assert_eq!(fault(corrupt), CheckpointFault::Damaged);
        let mut newer = state(5);
        newer.format = CHECKPOINT_FORMAT + 1;
        std::fs::write(path.join(files::STATE), serde_json::to_vec(&newer).unwrap()).unwrap();
        assert_eq!(
            fault(read_checkpoint_state(&path).unwrap_err()),
            CheckpointFault::Format
        );
        let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
        let module = burngan_models::MlpGeneratorConfig::new(2, vec![4])
            .init(2, &mut burngan_core::HostRng::seed_from(0), &device)
            .unwrap();
        let missing = load_module(module, &path.join(files::GENERATOR)).unwrap_err();
        assert_eq!(fault(missing), CheckpointFault::Damaged);
    }
}
