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
    /// [`dataset_sha256`] of those images as loaded (independent of the file format and of
    /// compression): tells whether a run's data is the data the network knows. `None` on cards
    /// written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_sha256: Option<String>,
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

/// Lower-case hex SHA-256 of a dataset's content as loaded: its shape `[channels, height,
/// width]` and image count (each a little-endian u64), then every pixel (the f32 in [−1, 1],
/// little-endian) in order. The same images from a raw or gzipped IDX file, or from an image
/// folder that decodes to the same pixels in the same order, hash the same; labels are not
/// part of it.
pub fn dataset_sha256(dataset: &burngan_data::ImageDataset) -> String {
    let mut hasher = Sha256::new();
    let [c, h, w] = dataset.shape();
    for n in [c, h, w, dataset.len()] {
        hasher.update((n as u64).to_le_bytes());
    }
    for pixel in dataset.pixels() {
        hasher.update(pixel.to_le_bytes());
    }
    hasher
        .finalize()
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
            data_sha256: None,
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

    /// The content hash of the shipped digits is the one on the shipped card (so a run on
    /// them gets no warning); the same pixels from a raw IDX file hash the same; other pixels
    /// (the digits inverted) and another image count do not. The card's value was computed
    /// independently with PyTorch:
    ///
    /// ```python
    /// raw = gzip.open("assets/data/mnist10k-images-idx3-ubyte.gz").read()
    /// n, h, w = struct.unpack(">III", raw[4:16])
    /// x = torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8).float() / 127.5 - 1.0
    /// m = hashlib.sha256()
    /// for d in (1, h, w, n): m.update(struct.pack("<Q", d))
    /// m.update(x.numpy().astype("<f4").tobytes())  # 622d2e47c4ba06fa…8fe511
    /// ```
    #[test]
    fn the_dataset_hash_follows_the_pixels_not_the_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let shipped = root.join("assets/data/mnist10k-images-idx3-ubyte.gz");
        let digits = burngan_data::ImageDataset::open_idx(&shipped).unwrap();
        let card_text = std::fs::read_to_string(card_path(&root.join(MNIST_CLASSIFIER))).unwrap();
        let card: ClassifierCard = serde_json::from_str(&card_text).unwrap();
        let hash = dataset_sha256(&digits);
        assert_eq!(card.data_sha256.as_deref(), Some(hash.as_str()));

        let bytes: Vec<u8> = digits
            .pixels()
            .iter()
            .map(|p| ((p + 1.0) * 127.5).round() as u8)
            .collect();
        let mut raw = vec![0, 0, 8, 3];
        for n in [10_000u32, 28, 28] {
            raw.extend(n.to_be_bytes());
        }
        raw.extend(&bytes);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("digits-idx3-ubyte");
        std::fs::write(&file, &raw).unwrap();
        let again = burngan_data::ImageDataset::open_idx(&file).unwrap();
        assert_eq!(dataset_sha256(&again), hash);

        let inverted: Vec<u8> = bytes.iter().map(|b| 255 - b).collect();
        let other =
            burngan_data::ImageDataset::from_u8(&inverted, [10_000, 1, 28, 28], None).unwrap();
        assert_ne!(dataset_sha256(&other), hash);
        let fewer =
            burngan_data::ImageDataset::from_u8(&bytes[..784 * 9_999], [9_999, 1, 28, 28], None)
                .unwrap();
        assert_ne!(dataset_sha256(&fewer), hash);
    }
}
