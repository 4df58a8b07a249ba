//! Evaluating image generators with a feature network: [`ImageEvaluator`] holds the network,
//! the real reference set's outputs and the held-out real set, and scores any
//! [`ImageGenerator`] against them. `burngan eval` and the periodic evaluation of a training
//! run (`[eval] every`) both go through it.
//!
//! Protocol: the real images of the run's dataset are split by a fixed permutation
//! ([`real_split`], seed [`EVAL_SPLIT_SEED`]) into a reference half and a held-out half.
//! A run that trains on a subset (`data.limit`) is still scored against all images of its
//! `data.path` ([`ImageEvaluator::for_data`]).
//! Generated images use latent codes from `HostRng::seed_from(seed)` (and, for a
//! class-conditional generator, labels 0, 1, …, C−1 in turn, so the classes are balanced).
//!
//! StackedMNIST (`[data] kind = "stacked-mnist"`): the network reads digits, and a generated
//! image is three of them. Each row then scores the digits of the channels: its feature
//! columns (FD, classifier score, classes, P/R, D/C) compare the 3·m channel digits of the
//! first m = min(n, [`STACKED_FEATURE_IMAGES`]) images with the reference digits — the
//! channels of real stacked images are real digits, so the floor is MNIST's — and
//! [`RowScores::stacked`] holds the mode metric of all n images
//! ([`burngan_eval::stacked`]: modes covered and reverse KL over the 1,000 modes). The
//! held-out real row stacks [`STACKED_SAMPLES`] triples of held-out digits drawn with
//! replacement from `HostRng::seed_from(EVAL_SPLIT_SEED)`.

use std::path::Path;

use burn::tensor::Device;
use burngan_core::{Generator, HostRng};
use burngan_data::ImageDataset;
use burngan_eval::{
    Classifier, ClassifierCard, ClassifierOutputs, EvalError, Reference, RowScores,
    STACKED_SAMPLES, ScoreSettings, StackedModes, load_classifier, real_split, score_set,
    stacked_outputs,
};
use burngan_metrics::DEFAULT_K;

use burngan_train::generate_on_host;

use crate::{AppError, ImageDataConfig, ImageGenerator};

/// Seed of the permutation that splits the real images into reference and held-out halves.
pub const EVAL_SPLIT_SEED: u64 = 0x5eed_e7a1;

/// Images per forward pass when generating and classifying.
const BATCH: usize = 500;

/// StackedMNIST: the feature columns of a row score the channel digits of at most this many
/// stacked images (3 digits each); the k-NN metrics cost O(m²), too much for the 78,000 digits
/// of the protocol's 26,000 images.
pub const STACKED_FEATURE_IMAGES: usize = 2_000;

/// A feature network with the real data's outputs, ready to score generators.
pub struct ImageEvaluator {
    classifier: Classifier,
    card: ClassifierCard,
    reference: Reference,
    held_out: ClassifierOutputs,
    shape: [usize; 3],
    stacked: bool,
    device: Device,
    /// With `data.limit`: the class count and [`burngan_eval::dataset_sha256`] of all the
    /// images the reference came from, which [`data_warnings`](Self::data_warnings) checks
    /// instead of the subset it is given.
    all_images: Option<(Option<usize>, String)>,
}

impl std::fmt::Debug for ImageEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageEvaluator")
            .field("classifier", &self.card.sha256)
            .field("reference", &self.reference.outputs.len())
            .field("held_out", &self.held_out.len())
            .field("shape", &self.shape)
            .field("stacked", &self.stacked)
            .finish()
    }
}

impl ImageEvaluator {
    /// Loads the feature network at `classifier` (checking its SHA-256) and computes its
    /// outputs for the real images of `dataset`, split into reference and held-out halves, on
    /// `device`, with k-NN balls of size [`DEFAULT_K`] = 3 for precision/recall and
    /// density/coverage.
    ///
    /// # Errors
    ///
    /// The loading errors of [`load_classifier`]; [`EvalError::Incompatible`] when the
    /// network reads another image shape than the dataset's, or the dataset has fewer than 8
    /// images.
    pub fn new(
        classifier: &Path,
        dataset: &ImageDataset,
        device: &Device,
    ) -> Result<Self, AppError> {
        Self::with_k(classifier, dataset, DEFAULT_K, device)
    }

    /// [`new`](Self::new) with neighbourhood size `k` (scores must then use the same k).
    pub fn with_k(
        classifier: &Path,
        dataset: &ImageDataset,
        k: usize,
        device: &Device,
    ) -> Result<Self, AppError> {
        Self::build(classifier, dataset, k, false, device)
    }

    /// The evaluator of a run whose `[data]` is `data`, over its loaded `dataset`: as
    /// [`with_k`](Self::with_k), and for StackedMNIST one that reads each channel of the
    /// generated images as a digit of `dataset` and adds the mode metric. When `data.limit`
    /// cuts the training set, the reference and held-out halves come from all images of
    /// `data.path` ([`ImageDataConfig::load_all`]), so the scores measure the generator against
    /// the distribution rather than against the few images it was trained on.
    pub fn for_data(
        classifier: &Path,
        dataset: &ImageDataset,
        data: &ImageDataConfig,
        k: usize,
        device: &Device,
    ) -> Result<Self, AppError> {
        if data.limit.is_none() {
            return Self::build(classifier, dataset, k, data.is_stacked(), device);
        }
        let all = data.load_all()?;
        let mut evaluator = Self::build(classifier, &all, k, data.is_stacked(), device)?;
        evaluator.all_images = Some((all.num_classes(), burngan_eval::dataset_sha256(&all)));
        Ok(evaluator)
    }

    /// True when the generated images are StackedMNIST: three digits each.
    pub fn is_stacked(&self) -> bool {
        self.stacked
    }

    fn build(
        classifier: &Path,
        dataset: &ImageDataset,
        k: usize,
        stacked: bool,
        device: &Device,
    ) -> Result<Self, AppError> {
        let device = device.clone().without_autodiff();
        let (network, card) = load_classifier(classifier, &device)?;
        let shape = dataset.shape();
        if card.config.image_shape() != shape {
            return Err(EvalError::Incompatible(format!(
                "the feature network {} reads {:?} images, the run's data is {:?}; train one \
                 for this data with `burngan eval train-classifier --data PATH --out DIR` and \
                 pass --classifier DIR/classifier.bpk",
                classifier.display(),
                card.config.image_shape(),
                shape
            ))
            .into());
        }
        if dataset.len() < 2 * (k + 1) {
            return Err(EvalError::Incompatible(format!(
                "evaluation with k = {k} needs at least {} real images (two halves of k + 1), \
                 the dataset has {}",
                2 * (k + 1),
                dataset.len()
            ))
            .into());
        }
        let (reference, held_out) = real_split(dataset.len(), EVAL_SPLIT_SEED);
        let outputs = |indices: &[usize]| {
            let mut pixels = Vec::with_capacity(indices.len() * dataset.image_len());
            for &i in indices {
                pixels.extend_from_slice(dataset.image(i));
            }
            network.outputs_host(&pixels, shape, BATCH, &device)
        };
        let reference = Reference::new(outputs(&reference)?, k)?;
        let held_out = outputs(&held_out)?;
        Ok(Self {
            classifier: network,
            card,
            reference,
            held_out,
            shape,
            stacked,
            device,
            all_images: None,
        })
    }

    /// The loaded network's card (architecture, SHA-256, held-out accuracy).
    pub fn card(&self) -> &ClassifierCard {
        &self.card
    }

    /// Why this network's scores may not describe `dataset` (the run's images, read from
    /// `data`, which only names them in the messages): one sentence per mismatch between the
    /// network's card and the data — another class count than the data's labels, or other
    /// images than those it was trained on (by [`burngan_eval::dataset_sha256`], when the card
    /// records it) — each pointing to `burngan eval train-classifier`. Empty when nothing on
    /// the card contradicts the data (another image shape is refused by [`new`](Self::new)).
    /// For StackedMNIST, `dataset` is the digits the channels are drawn from.
    pub fn data_warnings(&self, dataset: &ImageDataset, data: &Path) -> Vec<String> {
        let fix = "train a feature network for this data with `burngan eval train-classifier \
                   --data PATH --out DIR` and use it (eval.classifier, or --classifier)";
        let mut warnings = Vec::new();
        let classes = self.card.config.classes;
        let (found_classes, found_sha) = match &self.all_images {
            Some((classes, sha)) => (*classes, Some(sha.clone())),
            None => (dataset.num_classes(), None),
        };
        if let Some(found) = found_classes
            && found != classes
        {
            warnings.push(format!(
                "the feature network tells {classes} classes apart, the labels of {} have \
                 {found}: classifier score, class KL and classes covered do not describe \
                 these images; {fix}",
                data.display()
            ));
        }
        if let Some(expected) = &self.card.data_sha256
            && &found_sha.unwrap_or_else(|| burngan_eval::dataset_sha256(dataset)) != expected
        {
            warnings.push(format!(
                "the feature network was trained on {}, and {} holds other images: unless they \
                 are of the same kind, every score (FD, precision, recall, classifier score) \
                 measures the network's view of foreign data; {fix}",
                self.card.data,
                data.display()
            ));
        }
        if self.stacked {
            for warning in &mut warnings {
                warning.insert_str(
                    0,
                    "StackedMNIST reads each channel as a digit, so this holds for the stacked \
                     modes too: ",
                );
            }
        }
        warnings
    }

    /// Number of real images in the reference set.
    pub fn reference_len(&self) -> usize {
        self.reference.outputs.len()
    }

    /// The floor: the held-out real images scored against the reference; for StackedMNIST
    /// with the mode metric of [`STACKED_SAMPLES`] stacked held-out digits.
    pub fn score_held_out(&self, settings: &ScoreSettings) -> Result<RowScores, AppError> {
        let mut row = score_set("real (held-out)", &self.reference, &self.held_out, settings)?;
        if self.stacked {
            row.stacked = Some(self.held_out_modes(STACKED_SAMPLES)?);
        }
        Ok(row)
    }

    /// The mode metric of `n` stacked images whose channels are held-out digits drawn with
    /// replacement from `HostRng::seed_from(EVAL_SPLIT_SEED)` (3n draws, channel by channel),
    /// classified as the network classifies them.
    pub fn held_out_modes(&self, n: usize) -> Result<StackedModes, AppError> {
        let predictions = self.held_out.predictions();
        let mut rng = HostRng::seed_from(EVAL_SPLIT_SEED);
        let classes: Vec<usize> = (0..3 * n)
            .map(|_| predictions[rng.index(predictions.len())])
            .collect();
        let histogram = burngan_eval::stacked_histogram(&classes, self.held_out.classes)?;
        Ok(StackedModes::from_histogram(&histogram)?)
    }

    /// Scores `n` images of `generator` (evaluation mode, from latent seed `seed`) under the
    /// row label `label`.
    pub fn score_generator(
        &self,
        label: &str,
        generator: &ImageGenerator,
        n: usize,
        seed: u64,
        settings: &ScoreSettings,
    ) -> Result<RowScores, AppError> {
        let outputs = self.generated_outputs(generator, n, seed)?;
        if !self.stacked {
            return Ok(score_set(label, &self.reference, &outputs, settings)?);
        }
        let modes = StackedModes::from_outputs(&outputs)?;
        let digits = 3 * n.min(STACKED_FEATURE_IMAGES);
        let first = ClassifierOutputs {
            features: outputs.features[..digits * outputs.feature_dim].to_vec(),
            probabilities: outputs.probabilities[..digits * outputs.classes].to_vec(),
            ..outputs
        };
        let mut row = score_set(label, &self.reference, &first, settings)?;
        row.stacked = Some(modes);
        Ok(row)
    }

    /// The network's outputs for `n` images of `generator`, generated in batches: n rows, or
    /// for StackedMNIST 3n rows (row 3i + c: channel c of image i).
    ///
    /// The batches (500 images) are larger than a training step's, so on a pooled device
    /// (wgpu, CUDA) the pool grows pages for them that it keeps until asked: a training loop
    /// that evaluates now and then should call `device.memory_cleanup()` afterwards, as
    /// `burngan train` does, or its memory creeps up at evaluations.
    pub fn generated_outputs(
        &self,
        generator: &ImageGenerator,
        n: usize,
        seed: u64,
    ) -> Result<ClassifierOutputs, AppError> {
        let mut rng = HostRng::seed_from(seed);
        let latent_dim = generator.latent_dim();
        let classes = generator.num_classes();
        let mut all = ClassifierOutputs {
            features: Vec::new(),
            probabilities: Vec::new(),
            feature_dim: self.classifier.feature_dim(),
            classes: self.classifier.classes(),
        };
        let mut done = 0;
        while done < n {
            let b = BATCH.min(n - done);
            let noise = rng.normal_vec(b * latent_dim);
            let labels: Option<Vec<usize>> =
                (classes > 0).then(|| (done..done + b).map(|i| i % classes).collect());
            let pixels = generate_on_host(generator, &noise, labels.as_deref(), &self.device);
            let out = if self.stacked {
                let [_, h, w] = self.shape;
                stacked_outputs(&self.classifier, &pixels, [3, h, w], BATCH, &self.device)?
            } else {
                self.classifier
                    .outputs_host(&pixels, self.shape, BATCH, &self.device)?
            };
            all.features.extend(out.features);
            all.probabilities.extend(out.probabilities);
            done += b;
        }
        Ok(all)
    }
}
