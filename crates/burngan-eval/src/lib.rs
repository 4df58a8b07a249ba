//! Evaluation of image GANs in the feature space of a network the project trains itself, with
//! no download: a small convolutional MNIST classifier ([`Classifier`]) whose weights ship in
//! `assets/eval/` and are checked against a SHA-256 on load ([`load_classifier`]), its training
//! ([`train_classifier`], behind `burngan eval train-classifier`), and the scores of a set of
//! images against real ones ([`score_set`]): Fréchet distance in the penultimate features,
//! KID, classifier score, class histogram and its KL to uniform, improved precision/recall
//! and density/coverage; for StackedMNIST, the modes covered and the reverse KL of the mode
//! histogram with the classifier applied to each channel ([`stacked`]). The metrics themselves
//! live in `burngan-metrics` (host buffers, no Burn types); this crate turns images into the
//! buffers those metrics take.
//!
//! # Example
//!
//! ```
//! use burngan_core::HostRng;
//! use burngan_eval::{ClassifierConfig, Reference, ScoreSettings, render_table, score_set};
//!
//! let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
//! let net = ClassifierConfig::mnist().init(&mut HostRng::seed_from(0), &device).unwrap();
//! // Two sets of 8 random 28×28 images in [−1, 1].
//! let mut rng = HostRng::seed_from(1);
//! let (a, b) = (rng.uniform_vec(8 * 784, -1.0, 1.0), rng.uniform_vec(8 * 784, -1.0, 1.0));
//! let real = Reference::new(net.outputs_host(&a, [1, 28, 28], 8, &device).unwrap(), 3).unwrap();
//! let settings = ScoreSettings { kid_subsets: 0, ..ScoreSettings::default() };
//! let same = score_set("same", &real, &real.outputs, &settings).unwrap();
//! assert!(same.frechet_distance.abs() < 1e-6);
//! let other = net.outputs_host(&b, [1, 28, 28], 8, &device).unwrap();
//! let row = score_set("other", &real, &other, &settings).unwrap();
//! assert!(row.frechet_distance > same.frechet_distance);
//! print!("{}", render_table(&[same, row]));
//! ```

mod classifier;
mod error;
mod report;
pub mod stacked;
mod train;
mod weights;

pub use classifier::{Classifier, ClassifierConfig, ClassifierOutputs};
pub use error::EvalError;
pub use report::{Reference, RowScores, ScoreSettings, real_split, render_table, score_set};
pub use stacked::{STACKED_SAMPLES, StackedModes, stacked_histogram, stacked_outputs};
pub use train::{ClassifierReport, ClassifierTraining, EpochReport, accuracy, train_classifier};
pub use weights::{
    CARD_FORMAT, ClassifierCard, MNIST_CLASSIFIER, MNIST_CLASSIFIER_SHA256, card_path,
    dataset_sha256, load_classifier, save_classifier, sha256_hex,
};
