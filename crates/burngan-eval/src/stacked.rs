//! The StackedMNIST mode metric: a digit classifier reads each channel of a 3-channel image, the
//! three predicted classes (c₀, c₁, c₂) are one of C³ modes (1,000 for MNIST's 10 classes), and
//! a set of images is scored by the modes it covers and by the reverse KL of its mode histogram
//! from uniform.
//!
//! Protocol (VEEGAN, Srivastava et al. 2017, as PacGAN, Lin et al. 2018, runs it: their code
//! generates 26,000 images, classifies each channel with a pre-trained MNIST classifier and
//! takes the arg max):
//!
//! * **modes covered** — the number of modes with at least one of the n images;
//! * **reverse KL** — KL(p̂ ‖ u) = Σ_m p̂_m ln(p̂_m · C³), p̂ the empirical mode frequencies of
//!   the n images and u uniform over the C³ modes; 0 when every mode has n/C³ images, ln C³
//!   (6.908 for 1,000 modes) when all images share one mode;
//! * **n = [`STACKED_SAMPLES`] = 26,000**.
//!
//! Both numbers have a finite-sample floor: n i.i.d. draws from the uniform distribution cover
//! all 1,000 modes (the expected number missed is 1000·(1 − 1/1000)^26000 ≈ 5·10⁻⁹), but their
//! histogram is not flat, and E KL(p̂ ‖ u) ≈ (C³ − 1)/(2n) ≈ 0.019 for n = 26,000.

use burn::tensor::Device;
use burngan_metrics::mode_reverse_kl;
use serde::{Deserialize, Serialize};

use crate::{Classifier, ClassifierOutputs, EvalError};

/// Generated images per StackedMNIST evaluation in the VEEGAN/PacGAN protocol.
pub const STACKED_SAMPLES: usize = 26_000;

/// Channels of a stacked image, one digit each.
const CHANNELS: usize = 3;

/// The mode statistics of a set of stacked images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackedModes {
    /// Images scored, n.
    pub samples: usize,
    /// The number of modes, C³ (1,000 for MNIST).
    pub modes: usize,
    /// Modes with at least one image, in [1, min(n, C³)].
    pub modes_covered: usize,
    /// KL(mode histogram ‖ uniform over the C³ modes), in [0, ln C³].
    pub reverse_kl: f64,
}

impl StackedModes {
    /// The statistics of a mode histogram (length C³, counts summing to n).
    ///
    /// # Errors
    ///
    /// [`EvalError::Metric`] for an empty histogram or one with no images.
    pub fn from_histogram(histogram: &[usize]) -> Result<Self, EvalError> {
        let reverse_kl = mode_reverse_kl(histogram)?;
        Ok(Self {
            samples: histogram.iter().sum(),
            modes: histogram.len(),
            modes_covered: histogram.iter().filter(|&&count| count > 0).count(),
            reverse_kl,
        })
    }

    /// The statistics of classifier outputs for the channels of n stacked images: 3n rows,
    /// row 3i + c the channel c of image i (as [`stacked_outputs`] returns them).
    ///
    /// # Errors
    ///
    /// As [`stacked_histogram`], and [`EvalError::Metric`] for no rows.
    pub fn from_outputs(outputs: &ClassifierOutputs) -> Result<Self, EvalError> {
        Self::from_histogram(&stacked_histogram(&outputs.predictions(), outputs.classes)?)
    }
}

/// The mode histogram of stacked images from the predicted classes of their channels,
/// `channel_classes` `[3n]` (entry 3i + c: channel c of image i, each in `0..classes`): a
/// vector of length classes³ whose entry (c₀·C + c₁)·C + c₂ counts the images with those
/// classes.
///
/// # Errors
///
/// [`EvalError::Incompatible`] when the length is not a multiple of 3, `classes` is 0 or its
/// cube exceeds 10⁶, or a class is out of range.
pub fn stacked_histogram(
    channel_classes: &[usize],
    classes: usize,
) -> Result<Vec<usize>, EvalError> {
    if !channel_classes.len().is_multiple_of(CHANNELS) {
        return Err(EvalError::Incompatible(format!(
            "{} channel classes are not a whole number of 3-channel images",
            channel_classes.len()
        )));
    }
    if classes == 0 || classes > 100 {
        return Err(EvalError::Incompatible(format!(
            "stacked modes need a classifier of 1 to 100 classes (at most 10⁶ modes), this one \
             has {classes}"
        )));
    }
    let mut histogram = vec![0; classes * classes * classes];
    for image in channel_classes.chunks_exact(CHANNELS) {
        if let Some(&bad) = image.iter().find(|&&c| c >= classes) {
            return Err(EvalError::Incompatible(format!(
                "channel class {bad} is out of range for {classes} classes"
            )));
        }
        histogram[(image[0] * classes + image[1]) * classes + image[2]] += 1;
    }
    Ok(histogram)
}

/// The classifier outputs of every channel of `pixels`, n stacked images `[n, 3, h, w]`
/// (`shape` = `[3, h, w]`), for a classifier that reads one-channel `[1, h, w]` images: 3n
/// rows, row 3i + c for channel c of image i (no copy: `[n, 3, h, w]` row-major is
/// `[3n, 1, h, w]`), in batches of `batch` digits.
///
/// # Errors
///
/// [`EvalError::Incompatible`] when `shape` has other than 3 channels or the classifier reads
/// other than `[1, h, w]`, and the errors of [`Classifier::outputs_host`].
pub fn stacked_outputs(
    classifier: &Classifier,
    pixels: &[f32],
    shape: [usize; 3],
    batch: usize,
    device: &Device,
) -> Result<ClassifierOutputs, EvalError> {
    let [channels, height, width] = shape;
    let digit = [1, height, width];
    if channels != CHANNELS || !classifier.reads(digit) {
        return Err(EvalError::Incompatible(format!(
            "stacked modes read {CHANNELS}-channel images with a one-channel digit classifier; \
             got {shape:?} images and a classifier that does not read {digit:?} digits"
        )));
    }
    classifier.outputs_host(pixels, digit, batch, device)
}

#[cfg(test)]
mod tests {
    use burngan_core::HostRng;

    use burngan_data::{ImageDataset, StackedMnist};

    use super::*;
    use crate::{ClassifierConfig, load_classifier};

    #[test]
    fn the_histogram_counts_hand_built_triples() {
        // Images (1, 2, 3), (1, 2, 3), (9, 9, 9) and (0, 0, 7).
        let classes = [1, 2, 3, 1, 2, 3, 9, 9, 9, 0, 0, 7];
        let histogram = stacked_histogram(&classes, 10).unwrap();
        assert_eq!(histogram.len(), 1000);
        assert_eq!((histogram[123], histogram[999], histogram[7]), (2, 1, 1));
        assert_eq!(histogram.iter().sum::<usize>(), 4);
        let modes = StackedModes::from_histogram(&histogram).unwrap();
        // KL = ½ ln(½·1000) + 2 · ¼ ln(¼·1000), worked by hand.
        let kl = 0.5 * 500f64.ln() + 0.5 * 250f64.ln();
        assert_eq!(
            (modes.samples, modes.modes, modes.modes_covered),
            (4, 1000, 3)
        );
        assert!(
            (modes.reverse_kl - kl).abs() < 1e-12,
            "{}",
            modes.reverse_kl
        );
        // Two classes give 8 modes: (1, 0, 1) is mode 5.
        let small = stacked_histogram(&[1, 0, 1], 2).unwrap();
        assert_eq!(small, [0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn a_uniform_histogram_has_zero_kl_and_every_mode() {
        let classes: Vec<usize> = (0..1000)
            .flat_map(|m| [m / 100, m / 10 % 10, m % 10])
            .collect();
        let modes =
            StackedModes::from_histogram(&stacked_histogram(&classes, 10).unwrap()).unwrap();
        assert_eq!((modes.modes_covered, modes.samples), (1000, 1000));
        assert!(modes.reverse_kl.abs() < 1e-12, "{}", modes.reverse_kl);
    }

    #[test]
    fn bad_channel_classes_are_refused() {
        let message = |r: Result<Vec<usize>, EvalError>| r.unwrap_err().to_string();
        assert!(message(stacked_histogram(&[1, 2], 10)).contains("2 channel classes"));
        assert!(message(stacked_histogram(&[1, 2, 10], 10)).contains("class 10 is out of range"));
        assert!(message(stacked_histogram(&[0, 0, 0], 0)).contains("has 0"));
        assert!(StackedModes::from_histogram(&stacked_histogram(&[], 10).unwrap()).is_err());
    }

    #[test]
    fn one_repeated_image_is_one_mode_at_ln_1000() {
        // Whatever the network predicts, the same three digits give the same mode every time.
        let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
        let net = ClassifierConfig::mnist()
            .init(&mut HostRng::seed_from(3), &device)
            .unwrap();
        let image = HostRng::seed_from(4).uniform_vec(3 * 28 * 28, -1.0, 1.0);
        let n = 50;
        let pixels: Vec<f32> = (0..n).flat_map(|_| image.iter().copied()).collect();
        let outputs = stacked_outputs(&net, &pixels, [3, 28, 28], 64, &device).unwrap();
        assert_eq!(outputs.len(), 3 * n);
        let modes = StackedModes::from_outputs(&outputs).unwrap();
        assert_eq!((modes.samples, modes.modes_covered), (n, 1));
        assert!((modes.reverse_kl - 1000f64.ln()).abs() < 1e-12);
        // Row 3i + c is channel c of image i: the channels of image 0 classified alone agree.
        let alone = net
            .outputs_host(&image[784..2 * 784], [1, 28, 28], 1, &device)
            .unwrap();
        assert_eq!(alone.predictions()[0], outputs.predictions()[4]);
    }

    #[test]
    fn other_shapes_are_refused() {
        let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
        let net = ClassifierConfig::mnist()
            .init(&mut HostRng::seed_from(3), &device)
            .unwrap();
        let error = stacked_outputs(&net, &[0.0; 784], [1, 28, 28], 8, &device).unwrap_err();
        assert!(
            error.to_string().contains("got [1, 28, 28] images"),
            "{error}"
        );
    }

    /// The repository root.
    fn root() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// How often the shipped classifier predicts each digit class over the 10,000 shipped digits
    /// (measured by the test below, which asserts them).
    const PREDICTED_COUNTS: [usize; 10] = [1002, 1124, 991, 1032, 982, 862, 1012, 1074, 938, 983];

    /// E KL(p̂ ‖ u) and its standard deviation for 26,000 stacked images whose channels' predicted
    /// classes are independent draws from PREDICTED_COUNTS / 10,000 — the distribution of the
    /// predicted mode of a real stacked image, since its three digits are independent uniform
    /// draws — computed independently with NumPy (2,000 multinomial draws, seed 0):
    ///
    /// ```python
    /// import numpy as np
    /// q = np.array(PREDICTED_COUNTS) / 10_000
    /// p = np.einsum("i,j,k->ijk", q, q, q).ravel()   # mode (a·10 + b)·10 + c
    /// rng = np.random.default_rng(0)
    /// h = rng.multinomial(26_000, p, size=2_000) / 26_000
    /// kl = np.where(h > 0, h * np.log(np.where(h > 0, h, 1) * 1000), 0).sum(1)
    /// print(kl.mean(), kl.std(), (h > 0).sum(1).min())   # 0.026247 0.001146 1000
    /// ```
    ///
    /// That is the population KL(p ‖ u) = 0.0069 of MNIST's unequal class frequencies cubed,
    /// plus the finite-sample term ≈ (1000 − 1)/(2 · 26,000) = 0.0192.
    const EXPECTED_KL: (f64, f64) = (0.026247, 0.001146);

    #[test]
    fn real_stacked_digits_cover_all_1000_modes_at_the_finite_sample_kl() {
        let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
        let digits =
            ImageDataset::open_idx(&root().join("assets/data/mnist10k-images-idx3-ubyte.gz"))
                .unwrap();
        let labels = digits.labels().unwrap().to_vec();
        let (net, card) = load_classifier(&root().join(crate::MNIST_CLASSIFIER), &device).unwrap();
        // The classifier's own view of the 10,000 digits: its predicted-class counts (the input
        // of the expectation above) and its error rate, on its held-out 2,000 (as on its card)
        // and on all 10,000 (8,000 of which it was trained on).
        let predicted = net
            .outputs_host(digits.pixels(), [1, 28, 28], 500, &device)
            .unwrap()
            .predictions();
        let mut counts = [0usize; 10];
        predicted.iter().for_each(|&c| counts[c] += 1);
        assert_eq!(counts, PREDICTED_COUNTS);
        let correct = |range: std::ops::Range<usize>| {
            range.clone().filter(|&i| predicted[i] == labels[i]).count() as f64 / range.len() as f64
        };
        let (held_out, all) = (correct(8_000..10_000), correct(0..10_000));
        assert_eq!(held_out, card.report.held_out_accuracy);
        // 26,000 stacked images, in chunks of 2,000 (the same draws as one batch of 26,000).
        let stacked = StackedMnist::new(digits).unwrap();
        let mut rng = HostRng::seed_from(0);
        let (mut classes, mut right) = (Vec::new(), 0usize);
        for _ in 0..STACKED_SAMPLES / 2_000 {
            let (pixels, modes) = stacked.next_batch(2_000, &mut rng);
            let outputs = stacked_outputs(&net, &pixels, [3, 28, 28], 500, &device).unwrap();
            let chunk = outputs.predictions();
            for (triple, mode) in chunk.chunks_exact(3).zip(modes.unwrap()) {
                right += usize::from((triple[0] * 10 + triple[1]) * 10 + triple[2] == mode);
            }
            classes.extend(chunk);
        }
        let modes =
            StackedModes::from_histogram(&stacked_histogram(&classes, 10).unwrap()).unwrap();
        assert_eq!(
            (modes.samples, modes.modes, modes.modes_covered),
            (26_000, 1000, 1000)
        );
        let (mean, std) = EXPECTED_KL;
        assert!(
            (modes.reverse_kl - mean).abs() <= 4.0 * std,
            "reverse KL {} against E = {mean} ± {std}",
            modes.reverse_kl
        );
        // A stacked image's mode is right when its three digits are: the rate is accuracy³ (the
        // binomial standard deviation over 26,000 images is below 0.002).
        let rate = right as f64 / STACKED_SAMPLES as f64;
        assert!(
            (rate - all.powi(3)).abs() < 0.006,
            "{rate} vs {}",
            all.powi(3)
        );
        println!(
            "classifier accuracy: held-out {held_out}, all 10,000 {all}; stacked modes right {rate}; \
             modes {} reverse KL {}",
            modes.modes_covered, modes.reverse_kl
        );
    }
}
