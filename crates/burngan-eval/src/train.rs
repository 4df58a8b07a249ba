//! Training a [`Classifier`] on a labelled image set, deterministically from one seed.
//!
//! The split is by position: the **last** `held_out` images are held out (never trained on)
//! and measure the accuracy; the others are the training split. For the bundled 10,000 MNIST
//! digits with the defaults that is images 0–7,999 for training and 8,000–9,999 held out.
//! Every random choice (initial weights, epoch order, augmentation shifts) comes from one
//! [`HostRng`], so the same seed gives the same network on every backend up to floating-point
//! reduction order.
//!
//! Optimisation: Adam (β = 0.9, 0.999, ε = 1e-8) on the mean cross-entropy, learning rate
//! decayed linearly from `learning_rate` to 0 over all steps; each training image is shifted by
//! a random whole number of pixels in [−max_shift, max_shift] along each axis (the uncovered
//! border filled with −1, the background of images scaled to [−1, 1]).

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use burngan_core::HostRng;
use burngan_data::ImageDataset;
use serde::{Deserialize, Serialize};

use crate::{Classifier, ClassifierConfig, EvalError};

/// How a classifier is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierTraining {
    /// Passes over the training split.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Adam's initial learning rate (decayed linearly to 0).
    pub learning_rate: f64,
    /// Largest random shift of a training image, in pixels, along each axis.
    pub max_shift: usize,
    /// How many images at the end of the set are held out.
    pub held_out: usize,
    /// Seed of the host RNG (weights, order, shifts).
    pub seed: u64,
}

impl Default for ClassifierTraining {
    /// The settings of the shipped MNIST network: 30 epochs of batch 64, learning rate 1e-3,
    /// shifts up to 2 pixels, 2,000 images held out, seed 0.
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 64,
            learning_rate: 1e-3,
            max_shift: 2,
            held_out: 2_000,
            seed: 0,
        }
    }
}

/// One epoch's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training cross-entropy over the epoch's steps.
    pub mean_loss: f64,
    /// Accuracy on the held-out split after the epoch, in [0, 1].
    pub held_out_accuracy: f64,
}

/// What training produced, stored in the network's card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierReport {
    /// The settings used.
    pub training: ClassifierTraining,
    /// Images in the training split (indices `0..train_images`).
    pub train_images: usize,
    /// Images held out (indices `train_images..train_images + held_out_images`).
    pub held_out_images: usize,
    /// Final accuracy on the held-out split, in [0, 1].
    pub held_out_accuracy: f64,
    /// Per-epoch figures.
    pub epochs: Vec<EpochReport>,
}

/// Trains a classifier with architecture `config` on the labelled `dataset`, on `device`
/// (autodiff is enabled here). `on_epoch` sees every epoch's figures as they come.
///
/// The last `held_out` images are held out and measure the accuracy; the others are trained
/// on with Adam (β = 0.9, 0.999, ε = 1e-8) on the mean cross-entropy, the learning rate
/// decayed linearly to 0, each image shifted by a random whole number of pixels in
/// [−max_shift, max_shift] per axis. Every random choice comes from `HostRng` seeded by the
/// training settings, so the same seed gives the same network on every backend up to
/// floating-point reduction order.
///
/// # Errors
///
/// [`EvalError::Incompatible`] when the dataset has no labels, a class count or image shape
/// other than `config`'s, or too few images for the split; [`EvalError::Config`] for zero
/// epochs or batch size, or a learning rate that is not finite and positive.
pub fn train_classifier(
    dataset: &ImageDataset,
    config: &ClassifierConfig,
    training: &ClassifierTraining,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<(Classifier, ClassifierReport), EvalError> {
    config.validate()?;
    let labels = check_dataset(dataset, config)?;
    if training.epochs == 0 || training.batch_size == 0 {
        return Err(EvalError::Config(format!(
            "epochs and batch size must be at least 1, got {} and {}",
            training.epochs, training.batch_size
        )));
    }
    if !(training.learning_rate.is_finite() && training.learning_rate > 0.0) {
        return Err(EvalError::Config(format!(
            "the learning rate must be finite and positive, got {}",
            training.learning_rate
        )));
    }
    let n = dataset.len();
    if training.held_out == 0 || training.held_out + training.batch_size > n {
        return Err(EvalError::Incompatible(format!(
            "holding out {} of {n} images leaves fewer than one batch of {} to train on \
             (and at least one image must be held out); use a larger dataset or a smaller \
             --held-out",
            training.held_out, training.batch_size
        )));
    }
    let train_images = n - training.held_out;
    let mut rng = HostRng::seed_from(training.seed);
    let autodiff = device.clone().autodiff();
    let mut classifier = config.init(&mut rng, &autodiff)?;
    let mut optimizer = AdamConfig::new().init();
    let steps_per_epoch = train_images / training.batch_size;
    let total_steps = steps_per_epoch * training.epochs;
    let shape = config.image_shape();
    let image_len = dataset.image_len();
    let mut order: Vec<usize> = (0..train_images).collect();
    let mut epochs = Vec::with_capacity(training.epochs);
    let mut step = 0usize;
    for epoch in 1..=training.epochs {
        shuffle(&mut order, &mut rng);
        let mut loss_sum = 0.0;
        for batch in order.chunks_exact(training.batch_size) {
            let mut pixels = Vec::with_capacity(batch.len() * image_len);
            let mut targets = vec![0.0f32; batch.len() * config.classes];
            for (row, &i) in batch.iter().enumerate() {
                let (dy, dx) = (
                    random_shift(training.max_shift, &mut rng),
                    random_shift(training.max_shift, &mut rng),
                );
                pixels.extend(shifted(dataset.image(i), shape, dy, dx));
                targets[row * config.classes + labels[i]] = 1.0;
            }
            let [c, h, w] = shape;
            let x = Tensor::from_data(TensorData::new(pixels, [batch.len(), c, h, w]), &autodiff);
            let y = Tensor::<2>::from_data(
                TensorData::new(targets, [batch.len(), config.classes]),
                &autodiff,
            );
            let (_, logits) = classifier.forward(x);
            let loss = log_softmax(logits, 1)
                .mul(y)
                .sum()
                .neg()
                .div_scalar(batch.len() as f32);
            let grads = GradientsParams::from_grads(loss.backward(), &classifier);
            let lr = training.learning_rate * (1.0 - step as f64 / total_steps as f64);
            classifier = optimizer.step(lr, classifier, grads);
            // One read-back per step: the classifier is small and this keeps the epoch's mean
            // loss exact.
            loss_sum += f64::from(crate::classifier::host(loss.detach().inner(), "loss")?[0]);
            step += 1;
        }
        let held_out_accuracy = accuracy(&classifier.valid(), dataset, train_images..n, device)?;
        let report = EpochReport {
            epoch,
            mean_loss: loss_sum / steps_per_epoch as f64,
            held_out_accuracy,
        };
        on_epoch(&report);
        epochs.push(report);
    }
    let held_out_accuracy = epochs.last().map_or(0.0, |e| e.held_out_accuracy);
    Ok((
        classifier.valid(),
        ClassifierReport {
            training: training.clone(),
            train_images,
            held_out_images: training.held_out,
            held_out_accuracy,
            epochs,
        },
    ))
}

/// The fraction of images `range` of the labelled `dataset` that `classifier` labels
/// correctly, in [0, 1] (evaluated in batches of 500 on `device`).
///
/// # Errors
///
/// [`EvalError::Incompatible`] for unlabelled data, an empty or out-of-bounds range, or an
/// image shape or class count the network does not have.
pub fn accuracy(
    classifier: &Classifier,
    dataset: &ImageDataset,
    range: std::ops::Range<usize>,
    device: &Device,
) -> Result<f64, EvalError> {
    let labels = dataset
        .labels()
        .ok_or_else(|| EvalError::Incompatible("accuracy needs labelled images".to_string()))?;
    if range.is_empty() || range.end > dataset.len() {
        return Err(EvalError::Incompatible(format!(
            "images {range:?} are not a non-empty part of a set of {}",
            dataset.len()
        )));
    }
    let len = dataset.image_len();
    let pixels = &dataset.pixels()[range.start * len..range.end * len];
    let outputs = classifier.outputs_host(pixels, dataset.shape(), 500, device)?;
    if outputs.classes != dataset.num_classes().unwrap_or(0) {
        return Err(EvalError::Incompatible(format!(
            "the network has {} classes, the labels {}",
            outputs.classes,
            dataset.num_classes().unwrap_or(0)
        )));
    }
    let correct = outputs
        .predictions()
        .iter()
        .zip(&labels[range.clone()])
        .filter(|(p, l)| p == l)
        .count();
    Ok(correct as f64 / range.len() as f64)
}

/// The dataset's labels, after checking them and the image shape against `config`.
fn check_dataset<'a>(
    dataset: &'a ImageDataset,
    config: &ClassifierConfig,
) -> Result<&'a [usize], EvalError> {
    let labels = dataset.labels().ok_or_else(|| {
        EvalError::Incompatible(
            "training a classifier needs labels: give the images an IDX label file or use \
             an image folder with one sub-folder per class"
                .to_string(),
        )
    })?;
    let classes = dataset.num_classes().unwrap_or(0);
    if classes != config.classes {
        return Err(EvalError::Incompatible(format!(
            "the labels have {classes} classes, the network is configured for {}",
            config.classes
        )));
    }
    if dataset.shape() != config.image_shape() {
        return Err(EvalError::Incompatible(format!(
            "the images are {:?}, the network reads {:?}",
            dataset.shape(),
            config.image_shape()
        )));
    }
    Ok(labels)
}

/// Fisher–Yates with the host RNG.
pub(crate) fn shuffle(order: &mut [usize], rng: &mut HostRng) {
    for i in (1..order.len()).rev() {
        order.swap(i, rng.index(i + 1));
    }
}

/// A whole number in [−max, max], uniform.
fn random_shift(max: usize, rng: &mut HostRng) -> isize {
    rng.index(2 * max + 1) as isize - max as isize
}

/// `image` (`[c, h, w]`, row-major) moved down by `dy` and right by `dx` pixels, the uncovered
/// border set to −1.
fn shifted(image: &[f32], [c, h, w]: [usize; 3], dy: isize, dx: isize) -> Vec<f32> {
    if dy == 0 && dx == 0 {
        return image.to_vec();
    }
    let mut out = vec![-1.0f32; image.len()];
    for ch in 0..c {
        for y in 0..h {
            let sy = y as isize - dy;
            if !(0..h as isize).contains(&sy) {
                continue;
            }
            for x in 0..w {
                let sx = x as isize - dx;
                if (0..w as isize).contains(&sx) {
                    out[(ch * h + y) * w + x] = image[(ch * h + sy as usize) * w + sx as usize];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifting_moves_pixels_and_fills_with_background() {
        // A 1×2×3 image [[1, 2, 3], [4, 5, 6]] moved right by 1 and down by 1.
        let image = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            shifted(&image, [1, 2, 3], 1, 1),
            vec![-1.0, -1.0, -1.0, -1.0, 1.0, 2.0]
        );
        assert_eq!(
            shifted(&image, [1, 2, 3], 0, -2),
            vec![3.0, -1.0, -1.0, 6.0, -1.0, -1.0]
        );
        assert_eq!(shifted(&image, [1, 2, 3], 0, 0), image.to_vec());
    }

    #[test]
    fn shuffle_is_a_permutation_fixed_by_the_seed() {
        let mut a: Vec<usize> = (0..100).collect();
        let mut b = a.clone();
        shuffle(&mut a, &mut HostRng::seed_from(3));
        shuffle(&mut b, &mut HostRng::seed_from(3));
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }
}
