//! burngan's fuzzing harnesses: one function per input format that must never panic, whatever
//! the bytes. The `cargo fuzz` targets in `fuzz/` call them with generated inputs; the
//! integration test `fuzz_regressions` calls them with every committed corpus entry and every
//! input that once crashed, on the stable toolchain in CI.
//!
//! | harness | format | entry point under test |
//! | --- | --- | --- |
//! | [`idx`] | IDX files, raw or gzipped | [`burngan_data::idx::read_idx`] (ranks 1 and 3) |
//! | [`config`] | TOML run configs | [`TrainConfig::from_toml`], `validate`, `to_toml` |
//! | [`checkpoint`] | checkpoint directories | [`GanTrainer::load_checkpoint`] |
//!
//! Besides not panicking, each checks what an accepted input promises: an IDX array's sizes
//! multiply to its byte count, a valid config survives `to_toml` → `from_toml` unchanged, and
//! a rejected checkpoint leaves the trainer as it was.
//!
//! ```
//! // A well-formed IDX labels file: magic 0x00000801, 3 items.
//! assert!(burngan_fuzz::idx(&[0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]));
//! // Truncated: the header promises 4 labels.
//! assert!(!burngan_fuzz::idx(&[0, 0, 8, 1, 0, 0, 0, 4, 7, 2, 1]));
//! assert!(!burngan_fuzz::config(b"[run]\nsteps = 0\n"));
//! ```

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use burn::tensor::{Tensor, TensorData};
use burngan_app::TrainConfig;
use burngan_backend::{BackendKind, device};
use burngan_core::HostRng;
use burngan_data::idx::read_idx;
use burngan_losses::LossConfig;
use burngan_models::{MlpDiscriminator, MlpDiscriminatorConfig, MlpGenerator, MlpGeneratorConfig};
use burngan_train::{GanTrainer, TrainerSettings, files};

/// A scratch directory of this thread of this process (under the system's temporary
/// directory), whose files the harnesses overwrite on every call.
fn scratch() -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    let dir = std::env::temp_dir().join(format!("burngan-fuzz-{}-{thread}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    dir
}

/// Removes the calling thread's scratch directory (the harnesses make it again when called).
pub fn remove_scratch() {
    let _ = std::fs::remove_dir_all(scratch());
}

/// Reads `data` as an IDX file of rank 1 and of rank 3 (each raw, or gzipped when it starts
/// with gzip's magic). An accepted array has positive sizes whose product is its byte count.
/// Returns whether either rank accepted it.
pub fn idx(data: &[u8]) -> bool {
    let path = scratch().join("input.idx");
    std::fs::write(&path, data).expect("the scratch file is writable");
    let mut accepted = false;
    for rank in [1, 3] {
        if let Ok(array) = read_idx(&path, rank) {
            let dims = array.dims();
            assert_eq!(dims.len(), usize::from(rank));
            assert!(dims.iter().all(|&d| d > 0), "{dims:?}");
            assert_eq!(dims.iter().product::<usize>(), array.data().len());
            accepted = true;
        }
    }
    accepted
}

/// Parses `data` (UTF-8, else nothing to do) as a run config and validates it. A valid
/// config written back with `to_toml` parses to the same config. Returns whether it is valid.
pub fn config(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(config) = TrainConfig::from_toml(text, "fuzz input") else {
        return false;
    };
    if config.validate().is_err() {
        return false;
    }
    let written = config.to_toml();
    let again = TrainConfig::from_toml(&written, "to_toml output")
        .unwrap_or_else(|e| panic!("to_toml wrote a config it cannot read: {e}\n{written}"));
    assert_eq!(again, config, "to_toml changed the config:\n{written}");
    true
}

/// The trainer the checkpoint harness loads into: a 2 → 4 → 2 generator and a 2 → 4 → 1
/// critic with Adam, on flex.
pub type Tiny = GanTrainer<MlpGenerator, MlpDiscriminator, 2>;

/// Builds the [`Tiny`] trainer (seeded, so every process starts from the same weights).
pub fn tiny_trainer() -> Tiny {
    let device = device(BackendKind::Flex)
        .expect("flex is compiled in")
        .autodiff();
    let mut rng = HostRng::seed_from(0);
    let generator = MlpGeneratorConfig::new(2, vec![4])
        .init(2, &mut rng, &device)
        .expect("a valid generator config");
    let critic = MlpDiscriminatorConfig::new(vec![4])
        .init(2, &mut rng, &device)
        .expect("a valid critic config");
    let settings = TrainerSettings {
        batch_size: 8,
        ..TrainerSettings::default()
    };
    GanTrainer::new(
        generator,
        critic,
        LossConfig::NonSaturating.build(),
        &settings,
        &device,
    )
    .expect("valid settings")
}

/// The files of a checkpoint directory, in the order [`checkpoint`] reads them from its input.
pub const CHECKPOINT_FILES: [&str; 5] = [
    files::STATE,
    files::GENERATOR,
    files::DISCRIMINATOR,
    files::OPTIMIZER_G,
    files::OPTIMIZER_D,
];

/// Splits `data` into the [`CHECKPOINT_FILES`]: each is a little-endian `u32` length, then
/// that many bytes (cut short at the end of `data`); a missing file stays absent.
pub fn split_checkpoint(mut data: &[u8]) -> Vec<(&'static str, &[u8])> {
    let mut parts = Vec::new();
    for name in CHECKPOINT_FILES {
        let Some((len, rest)) = data.split_first_chunk::<4>() else {
            break;
        };
        let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
        parts.push((name, &rest[..len]));
        data = &rest[len..];
    }
    parts
}

/// The input [`checkpoint`] reads as the checkpoint whose `files` are given by name.
pub fn join_checkpoint(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut data = Vec::new();
    for name in CHECKPOINT_FILES {
        let bytes = files
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&[][..], |(_, b)| b.as_slice());
        data.extend((bytes.len() as u32).to_le_bytes());
        data.extend(bytes);
    }
    data
}

thread_local! {
    static TRAINER: RefCell<Option<Tiny>> = const { RefCell::new(None) };
}

/// Writes the checkpoint encoded in `data` ([`split_checkpoint`]) to a directory and loads it
/// into the [`Tiny`] trainer. A rejected checkpoint leaves the trainer's step as it was.
/// Returns whether it was loaded.
pub fn checkpoint(data: &[u8]) -> bool {
    let dir = scratch().join("checkpoint");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("the scratch checkpoint is removable");
    }
    std::fs::create_dir_all(&dir).expect("the scratch directory is writable");
    for (name, bytes) in split_checkpoint(data) {
        std::fs::write(dir.join(name), bytes).expect("the scratch file is writable");
    }
    TRAINER.with_borrow_mut(|slot| {
        let trainer = slot.get_or_insert_with(tiny_trainer);
        let before = trainer.steps_done();
        match trainer.load_checkpoint(Path::new(&dir)) {
            Ok(step) => {
                assert_eq!(trainer.steps_done(), step);
                true
            }
            Err(_) => {
                assert_eq!(trainer.steps_done(), before);
                false
            }
        }
    })
}

/// A valid input for [`checkpoint`]: the [`Tiny`] trainer after `steps` steps on a fixed
/// batch, saved and encoded with [`join_checkpoint`]. Seeds the fuzzer's corpus.
pub fn checkpoint_seed(steps: usize) -> Vec<u8> {
    let mut trainer = tiny_trainer();
    let device = trainer.device().clone();
    let real = Tensor::<2>::from_data(
        TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, -1.0], [4, 2]),
        &device,
    );
    for _ in 0..steps {
        trainer.step(real.clone()).expect("a finite step");
    }
    let dir = scratch().join("seed");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("the scratch seed is removable");
    }
    let written = trainer
        .save_checkpoint(&dir)
        .expect("the scratch directory is writable");
    let files: Vec<(&str, Vec<u8>)> = CHECKPOINT_FILES
        .iter()
        .map(|name| (*name, std::fs::read(written.join(name)).unwrap_or_default()))
        .collect();
    join_checkpoint(&files)
}
