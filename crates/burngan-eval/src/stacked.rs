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

    use super::*;
    use crate::ClassifierConfig;

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
}
