//! Feature networks on disk: the weights (`NAME.bpk`, Burn's burnpack format) and their card
//! (`NAME.json`: architecture, SHA-256 of the weights file, how it was trained and how well it
//! does). Loading checks the weights' SHA-256 against the card and, for the shipped network,
//! against the hash compiled into this build, so a corrupt or swapped file is an error, never
//! a silent retrain or a quietly different score.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor};
use burngan_core::HostRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Classifier, ClassifierConfig, ClassifierReport, EvalError};

/// The shipped MNIST feature network, relative to the repository root.
pub const MNIST_CLASSIFIER: &str = "assets/eval/mnist-classifier.bpk";

/// SHA-256 of [`MNIST_CLASSIFIER`]'s bytes, as trained by `burngan eval train-classifier`
/// with the default settings (see `assets/eval/README.md`).
pub const MNIST_CLASSIFIER_SHA256: &str =
    "fe6d0048a8ee58b8f3e28bcf2497b2af9db1a30b68b8964cb9777308fd9a3911";

/// The version of the card layout written by this build.
pub const CARD_FORMAT: u32 = 1;

/// The description stored beside a network's weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierCard {
    /// [`CARD_FORMAT`] of the writer.
    pub format: u32,
    /// The architecture.
    pub config: ClassifierConfig,
    /// Lower-case hex SHA-256 of the weights file.
    pub sha256: String,
    /// The images it was trained on (the path as given).
    pub data: String,
    /// The backend it was trained on.
    pub backend: String,
    /// How it was trained and its held-out accuracy.
    pub report: ClassifierReport,
}

/// The card file of the weights file `weights` (same name, extension `.json`).
pub fn card_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `classifier`'s weights to `weights` and its card beside it (the card's `sha256` is
/// set from the bytes written). Returns the card.
///
/// # Errors
///
/// [`EvalError::Io`] when a file cannot be written.
pub fn save_classifier(
    classifier: &Classifier,
    weights: &Path,
    mut card: ClassifierCard,
) -> Result<ClassifierCard, EvalError> {
    let bytes = numbered(classifier.valid())
        .into_record()
        .into_bytes()
        .map_err(|e| EvalError::Weights {
            path: weights.to_path_buf(),
            message: e.to_string(),
        })?
        .to_vec();
    card.sha256 = sha256_hex(&bytes);
    card.format = CARD_FORMAT;
    if let Some(parent) = weights.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| EvalError::io("cannot create", parent, e))?;
    }
    std::fs::write(weights, &bytes).map_err(|e| EvalError::io("cannot write", weights, e))?;
    let json = serde_json::to_string_pretty(&card).expect("a card always serialises");
    let card_file = card_path(weights);
    std::fs::write(&card_file, json + "\n")
        .map_err(|e| EvalError::io("cannot write", &card_file, e))?;
    Ok(card)
}

/// `module` with parameter ids 0, 1, 2, … in visiting order: the ids are stored in the file
/// and would otherwise be random, so the same weights would give other bytes (and another
/// SHA-256) on every save. Loading matches parameters by path, not id.
fn numbered<M: Module>(module: M) -> M {
    struct Renumber(u64);
    impl ModuleMapper for Renumber {
        fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.id = ParamId::from(self.0);
            self.0 += 1;
            param
        }
    }
    module.map(&mut Renumber(0))
}

/// Loads the network at `weights` with its card onto `device`, after checking the SHA-256 of
/// the weights against the card, and against [`MNIST_CLASSIFIER_SHA256`] when `weights` is
/// the shipped network (its path ends in [`MNIST_CLASSIFIER`]).
///
/// # Errors
///
/// [`EvalError::Io`] (missing file), [`EvalError::Card`] (missing or malformed card),
/// [`EvalError::ChecksumMismatch`], [`EvalError::Weights`] (the bytes do not fit the card's
/// architecture).
pub fn load_classifier(
    weights: &Path,
    device: &Device,
) -> Result<(Classifier, ClassifierCard), EvalError> {
    let bytes = std::fs::read(weights).map_err(|e| EvalError::io("cannot read", weights, e))?;
    let card_file = card_path(weights);
    let card_text = std::fs::read_to_string(&card_file).map_err(|e| EvalError::Card {
        path: card_file.clone(),
        message: format!("cannot read it ({e})"),
    })?;
    let card: ClassifierCard = serde_json::from_str(&card_text).map_err(|e| EvalError::Card {
        path: card_file.clone(),
        message: e.to_string(),
    })?;
    if card.format != CARD_FORMAT {
        return Err(EvalError::Card {
            path: card_file,
            message: format!(
                "format {} is not this build's format {CARD_FORMAT}",
                card.format
            ),
        });
    }
    let actual = sha256_hex(&bytes);
    let shipped = weights.ends_with(MNIST_CLASSIFIER);
    let checks = [
        Some((
            card.sha256.as_str(),
            format!("card {}", card_file.display()),
        )),
        shipped.then(|| {
            (
                MNIST_CLASSIFIER_SHA256,
                "compiled into this build".to_string(),
            )
        }),
    ];
    for (expected, origin) in checks.into_iter().flatten() {
        if actual != expected {
            return Err(EvalError::ChecksumMismatch {
                path: weights.to_path_buf(),
                expected: expected.to_string(),
                actual,
                origin,
            });
        }
    }
    // The initial weights are overwritten by the record; the seed only fixes the layout.
    let classifier = card.config.init(&mut HostRng::seed_from(0), device)?;
    let record =
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| EvalError::Weights {
            path: weights.to_path_buf(),
            message: e.to_string(),
        })?;
    let classifier = classifier
        .try_load_record(record)
        .map_err(|e| EvalError::Weights {
            path: weights.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok((classifier, card))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClassifierReport, ClassifierTraining};

    fn card() -> ClassifierCard {
        ClassifierCard {
            format: CARD_FORMAT,
            config: ClassifierConfig::mnist(),
            sha256: String::new(),
            data: "test".to_string(),
            backend: "flex".to_string(),
            report: ClassifierReport {
                training: ClassifierTraining::default(),
                train_images: 0,
                held_out_images: 0,
                held_out_accuracy: 0.0,
                epochs: Vec::new(),
            },
        }
    }

    fn device() -> Device {
        burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap()
    }

    #[test]
    fn sha256_matches_the_fips_180_2_test_vector() {
        // FIPS 180-2, appendix B.1: SHA-256("abc").
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn saved_networks_load_back_identically_and_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let device = device();
        let net = ClassifierConfig::mnist()
            .init(&mut HostRng::seed_from(4), &device)
            .unwrap();
        let path = dir.path().join("net.bpk");
        let saved = save_classifier(&net, &path, card()).unwrap();
        let first = std::fs::read(&path).unwrap();
        assert_eq!(saved.sha256, sha256_hex(&first));
        // The same weights saved again give the same bytes (parameter ids are renumbered).
        save_classifier(&net, &path, card()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), first);
        let (loaded, loaded_card) = load_classifier(&path, &device).unwrap();
        assert_eq!(loaded_card, saved);
        let pixels = HostRng::seed_from(5).uniform_vec(4 * 784, -1.0, 1.0);
        let a = net.outputs_host(&pixels, [1, 28, 28], 4, &device).unwrap();
        let b = loaded
            .outputs_host(&pixels, [1, 28, 28], 4, &device)
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_changed_byte_is_a_checksum_error_naming_both_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let device = device();
        let net = ClassifierConfig::mnist()
            .init(&mut HostRng::seed_from(4), &device)
            .unwrap();
        let path = dir.path().join("net.bpk");
        let saved = save_classifier(&net, &path, card()).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let error = load_classifier(&path, &device).unwrap_err();
        assert!(error.is_usage_error());
        let message = error.to_string();
        assert!(
            matches!(error, EvalError::ChecksumMismatch { .. }),
            "{message}"
        );
        assert!(message.contains(&saved.sha256), "{message}");
        assert!(message.contains(&sha256_hex(&bytes)), "{message}");
        assert!(message.contains("train-classifier"), "{message}");
    }

    #[test]
    fn the_shipped_path_is_also_checked_against_the_compiled_in_hash() {
        // A network whose card is consistent, placed where the shipped one lives: the card's
        // hash matches, the build's does not.
        let dir = tempfile::tempdir().unwrap();
        let device = device();
        let net = ClassifierConfig::mnist()
            .init(&mut HostRng::seed_from(4), &device)
            .unwrap();
        let path = dir.path().join(MNIST_CLASSIFIER);
        save_classifier(&net, &path, card()).unwrap();
        let error = load_classifier(&path, &device).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(MNIST_CLASSIFIER_SHA256), "{message}");
        assert!(message.contains("compiled into this build"), "{message}");
    }

    #[test]
    fn missing_or_malformed_cards_and_missing_weights_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let device = device();
        let path = dir.path().join("none.bpk");
        // No weights: the error names the weights file.
        let error = load_classifier(&path, &device).unwrap_err();
        assert!(matches!(error, EvalError::Io { .. }), "{error}");
        assert!(error.to_string().contains("none.bpk"), "{error}");
        assert!(error.is_usage_error());
        let net = ClassifierConfig::mnist()
            .init(&mut HostRng::seed_from(4), &device)
            .unwrap();
        save_classifier(&net, &path, card()).unwrap();
        std::fs::write(card_path(&path), "{ \"format\": 1 }").unwrap();
        let error = load_classifier(&path, &device).unwrap_err();
        assert!(error.to_string().contains("missing field"), "{error}");
        std::fs::remove_file(card_path(&path)).unwrap();
        let error = load_classifier(&path, &device).unwrap_err();
        assert!(matches!(error, EvalError::Card { .. }), "{error}");
        assert!(error.to_string().contains("none.json"), "{error}");
    }

    #[test]
    fn weights_of_another_architecture_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let device = device();
        let net = ClassifierConfig::mnist()
            .init(&mut HostRng::seed_from(4), &device)
            .unwrap();
        let path = dir.path().join("net.bpk");
        let mut wrong = card();
        wrong.config.hidden = 64;
        save_classifier(&net, &path, wrong).unwrap();
        let error = load_classifier(&path, &device).unwrap_err();
        assert!(matches!(error, EvalError::Weights { .. }), "{error}");
    }
}
