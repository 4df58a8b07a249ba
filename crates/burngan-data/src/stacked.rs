//! StackedMNIST: colour images whose three channels are three digits drawn independently from
//! a grayscale digit dataset, and the sources an image run draws its batches from.
//!
//! Metz et al. (Unrolled GAN, 2017) introduced the set to count modes: with the 10 MNIST
//! classes a stacked image has one of 10³ = 1,000 modes, (class of channel 0, 1, 2). VEEGAN
//! (Srivastava et al. 2017) and PacGAN (Lin et al. 2018) build it by drawing each channel's digit
//! uniformly at random **with replacement** (PacGAN's code draws a fixed training set of 128,000
//! stacked images with `randint` over the 70,000 MNIST digits). [`StackedMnist`] draws every
//! batch afresh in the same way — three independent uniform indices per image from the
//! [`HostRng`] passed in — which is the infinite-set limit of that construction: every mode
//! has the probability of its three digit classes' product, and nothing but the RNG has a
//! position, so a run resumes bit for bit from its RNG state alone.
//!
//! [`ImageSource`] is what an image run samples from: an [`EpochSampler`] over a dataset, or
//! stacked digits; both give `[batch, channels, height, width]` batches in [−1, 1] and a
//! [`SamplerState`] to store in checkpoints.

use std::sync::Arc;

use burn::tensor::{Device, Int, Tensor, TensorData};
use burngan_core::{HostRng, SampleSource};

use crate::{DataError, EpochSampler, ImageDataset, SamplerState};

/// Channels of a stacked image: one digit each.
pub const STACKED_CHANNELS: usize = 3;

/// Three-channel images `[3, height, width]` built from three digits drawn independently and
/// uniformly (with replacement) from a one-channel dataset, in [−1, 1] like the digits.
///
/// When the digits are labelled with C classes, the mode of a stacked image is
/// `(c₀·C + c₁)·C + c₂` for the classes c₀, c₁, c₂ of channels 0, 1, 2: one of C³ (1,000 for
/// MNIST).
///
/// ```
/// use burngan_core::HostRng;
/// use burngan_data::{ImageDataset, StackedMnist};
///
/// // Four 1×1×2 "digits" labelled 0, 1, 2, 3.
/// let digits = ImageDataset::from_u8(&[0; 8], [4, 1, 1, 2], Some(vec![0, 1, 2, 3])).unwrap();
/// let stacked = StackedMnist::new(digits).unwrap();
/// assert_eq!((stacked.shape(), stacked.num_modes()), ([3, 1, 2], Some(64)));
/// let indices = stacked.next_indices(5, &mut HostRng::seed_from(0)); // [5] triples
/// assert_eq!(stacked.mode_of(indices[0]), Some(16 * indices[0][0] + 4 * indices[0][1] + indices[0][2]));
/// ```
#[derive(Debug, Clone)]
pub struct StackedMnist {
    digits: Arc<ImageDataset>,
}

impl StackedMnist {
    /// Stacked images over `digits`, which must have one channel.
    ///
    /// # Errors
    ///
    /// [`DataError::StackedChannels`] when the digits have more than one channel.
    pub fn new(digits: impl Into<Arc<ImageDataset>>) -> Result<Self, DataError> {
        let digits = digits.into();
        let [channels, _, _] = digits.shape();
        if channels != 1 {
            return Err(DataError::StackedChannels { channels });
        }
        Ok(Self { digits })
    }

    /// The one-channel digits the channels are drawn from.
    pub fn digits(&self) -> &ImageDataset {
        &self.digits
    }

    /// The shape of one stacked image, `[3, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        let [_, height, width] = self.digits.shape();
        [STACKED_CHANNELS, height, width]
    }

    /// The number of modes, C³ for digits labelled with C classes; `None` when unlabelled.
    pub fn num_modes(&self) -> Option<usize> {
        self.digits.num_classes().map(|c| c * c * c)
    }

    /// The digit indices of the next `batch` stacked images, `[batch]` triples (channel 0, 1,
    /// 2), drawn in that order with `rng.index(len)`: 3·batch draws.
    pub fn next_indices(&self, batch: usize, rng: &mut HostRng) -> Vec<[usize; 3]> {
        let len = self.digits.len();
        (0..batch)
            .map(|_| [rng.index(len), rng.index(len), rng.index(len)])
            .collect()
    }

    /// The mode of the stacked image of digits `indices`, `(c₀·C + c₁)·C + c₂`; `None` when
    /// the digits are unlabelled or an index is out of range.
    pub fn mode_of(&self, indices: [usize; 3]) -> Option<usize> {
        let labels = self.digits.labels()?;
        let classes = self.digits.num_classes()?;
        indices
            .iter()
            .try_fold(0, |mode, &i| Some(mode * classes + labels.get(i)?))
    }

    /// The pixels of the stacked image of digits `indices`, `[3, height, width]` row-major.
    pub fn image(&self, indices: [usize; 3]) -> Vec<f32> {
        indices
            .iter()
            .flat_map(|&i| self.digits.image(i).iter().copied())
            .collect()
    }

    /// The next `batch` stacked images as a row-major `[batch, 3, height, width]` buffer and,
    /// when the digits are labelled, their modes `[batch]`.
    pub fn next_batch(&self, batch: usize, rng: &mut HostRng) -> (Vec<f32>, Option<Vec<usize>>) {
        let indices = self.next_indices(batch, rng);
        let mut pixels = Vec::with_capacity(batch * STACKED_CHANNELS * self.digits.image_len());
        for &triple in &indices {
            for i in triple {
                pixels.extend_from_slice(self.digits.image(i));
            }
        }
        let modes = indices.iter().map(|&t| self.mode_of(t)).collect();
        (pixels, modes)
    }
}

impl SampleSource<4> for StackedMnist {
    /// `[batch, 3, height, width]` stacked digits in [−1, 1]; modes are dropped.
    fn sample(&mut self, batch: usize, rng: &mut HostRng, device: &Device) -> Tensor<4> {
        self.sample_labeled(batch, rng, device).0
    }

    /// The images and, for labelled digits, their modes `[batch]` in `0..C³`.
    fn sample_labeled(
        &mut self,
        batch: usize,
        rng: &mut HostRng,
        device: &Device,
    ) -> (Tensor<4>, Option<Tensor<1, Int>>) {
        let (pixels, modes) = self.next_batch(batch, rng);
        upload(pixels, modes, batch, self.shape(), device)
    }
}

/// Uploads a `[batch, c, h, w]` buffer and its optional labels `[batch]`.
fn upload(
    pixels: Vec<f32>,
    labels: Option<Vec<usize>>,
    batch: usize,
    [channels, height, width]: [usize; 3],
    device: &Device,
) -> (Tensor<4>, Option<Tensor<1, Int>>) {
    let images = Tensor::from_data(
        TensorData::new(pixels, [batch, channels, height, width]),
        device,
    );
    let labels = labels.map(|labels| {
        let labels: Vec<i64> = labels.into_iter().map(|l| l as i64).collect();
        Tensor::from_data(TensorData::new(labels, [batch]), device)
    });
    (images, labels)
}

/// The source of an image run's real batches: shuffled epochs over a dataset, or stacked
/// digits drawn independently for every image.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// Every image once per epoch, in a fresh permutation per epoch.
    Epoch(EpochSampler),
    /// StackedMNIST: three digits drawn with replacement per image.
    Stacked(StackedMnist),
}

impl ImageSource {
    /// The shape of one image of a batch, `[channels, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        match self {
            ImageSource::Epoch(sampler) => sampler.dataset().shape(),
            ImageSource::Stacked(stacked) => stacked.shape(),
        }
    }

    /// The position to store in a checkpoint beside the RNG's state: the epoch sampler's, or
    /// for stacked digits the empty [`SamplerState::default`] (their draws depend on the RNG
    /// alone).
    pub fn state(&self) -> SamplerState {
        match self {
            ImageSource::Epoch(sampler) => sampler.state(),
            ImageSource::Stacked(_) => SamplerState::default(),
        }
    }

    /// This source at the position `state` (from [`state`](Self::state)).
    ///
    /// # Errors
    ///
    /// [`DataError::BadSamplerState`] when `state` cannot belong to this source: see
    /// [`EpochSampler::from_state`]; for stacked digits, any state but the empty one (a
    /// checkpoint of an epoch-sampled run).
    pub fn restore(self, state: &SamplerState) -> Result<Self, DataError> {
        match self {
            ImageSource::Epoch(sampler) => {
                EpochSampler::from_state(sampler.shared_dataset(), state).map(ImageSource::Epoch)
            }
            ImageSource::Stacked(stacked) => {
                if *state != SamplerState::default() {
                    return Err(DataError::BadSamplerState {
                        len: stacked.digits().len(),
                        problem: format!(
                            "stacked digits keep no position, but the state holds a \
                             permutation of {} images at cursor {} of epoch {} (it was written \
                             by a run that samples epochs of a dataset)",
                            state.permutation.len(),
                            state.cursor,
                            state.epoch
                        ),
                    });
                }
                Ok(ImageSource::Stacked(stacked))
            }
        }
    }
}

impl SampleSource<4> for ImageSource {
    fn sample(&mut self, batch: usize, rng: &mut HostRng, device: &Device) -> Tensor<4> {
        match self {
            ImageSource::Epoch(sampler) => sampler.sample(batch, rng, device),
            ImageSource::Stacked(stacked) => stacked.sample(batch, rng, device),
        }
    }

    fn sample_labeled(
        &mut self,
        batch: usize,
        rng: &mut HostRng,
        device: &Device,
    ) -> (Tensor<4>, Option<Tensor<1, Int>>) {
        match self {
            ImageSource::Epoch(sampler) => sampler.sample_labeled(batch, rng, device),
            ImageSource::Stacked(stacked) => stacked.sample_labeled(batch, rng, device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` one-pixel digits whose value identifies them (`i`), labelled `i % 10`.
    fn numbered(n: usize) -> ImageDataset {
        let pixels: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let labels = (0..n).map(|i| i % 10).collect();
        ImageDataset::from_u8(&pixels, [n, 1, 1, 1], Some(labels)).unwrap()
    }

    #[test]
    fn channels_hold_the_drawn_digits_and_the_mode_is_their_classes() {
        let digits = numbered(30);
        let stacked = StackedMnist::new(digits.clone()).unwrap();
        let mut rng = HostRng::seed_from(4);
        let indices = stacked.next_indices(50, &mut rng.clone());
        let (pixels, modes) = stacked.next_batch(50, &mut rng);
        assert_eq!(pixels.len(), 50 * 3);
        let modes = modes.unwrap();
        for (k, [a, b, c]) in indices.into_iter().enumerate() {
            assert_eq!(pixels[3 * k], digits.image(a)[0]);
            assert_eq!(pixels[3 * k + 1], digits.image(b)[0]);
            assert_eq!(pixels[3 * k + 2], digits.image(c)[0]);
            assert_eq!(modes[k], 100 * (a % 10) + 10 * (b % 10) + c % 10);
        }
    }

    #[test]
    fn indices_are_three_independent_uniform_draws_from_the_rng() {
        let stacked = StackedMnist::new(numbered(7)).unwrap();
        let mut rng = HostRng::seed_from(11);
        let mut reference = rng.clone();
        let indices = stacked.next_indices(4, &mut rng);
        let expected: Vec<[usize; 3]> = (0..4)
            .map(|_| std::array::from_fn(|_| reference.index(7)))
            .collect();
        assert_eq!(indices, expected);
        // Both RNGs are at the same position: 12 draws were made.
        assert_eq!(rng.state(), reference.state());
    }

    #[test]
    fn draws_are_with_replacement_and_uniform_over_modes() {
        // 10 digits, one per class: the 1,000 modes are equally likely. 200,000 images give
        // 200 per mode on average; a chi-square over 999 degrees of freedom has mean 999 and
        // standard deviation √(2·999) ≈ 44.7, so 999 + 5·44.7 ≈ 1,222 is a 5σ bound.
        let stacked = StackedMnist::new(numbered(10)).unwrap();
        let mut rng = HostRng::seed_from(0);
        let n = 200_000;
        let (_, modes) = stacked.next_batch(n, &mut rng);
        let mut counts = vec![0usize; 1000];
        for mode in modes.unwrap() {
            counts[mode] += 1;
        }
        let expected = n as f64 / 1000.0;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 1222.0, "chi-square {chi2}");
        // A repeated digit (mode 000 = digit 0 three times) occurs: draws are with replacement.
        assert!(counts[0] > 0);
    }

    #[test]
    fn unlabelled_digits_have_no_modes() {
        let digits = ImageDataset::from_u8(&[0, 255], [2, 1, 1, 1], None).unwrap();
        let stacked = StackedMnist::new(digits).unwrap();
        assert_eq!(stacked.num_modes(), None);
        let (pixels, modes) = stacked.next_batch(3, &mut HostRng::seed_from(0));
        assert_eq!((pixels.len(), modes), (9, None));
        assert!(pixels.iter().all(|&p| p == -1.0 || p == 1.0));
    }

    #[test]
    fn colour_digits_are_refused() {
        let rgb = ImageDataset::from_u8(&[0; 6], [2, 3, 1, 1], None).unwrap();
        let error = StackedMnist::new(rgb).unwrap_err();
        assert_eq!(error, DataError::StackedChannels { channels: 3 });
        assert!(error.to_string().contains("3 channels"), "{error}");
    }

    #[test]
    fn a_stacked_source_resumes_from_the_rng_alone() {
        let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
        let mut source = ImageSource::Stacked(StackedMnist::new(numbered(13)).unwrap());
        let mut rng = HostRng::seed_from(5);
        source.sample(6, &mut rng, &device);
        let (state, rng_state) = (source.state(), rng.state());
        assert_eq!(state, SamplerState::default());
        let expected: Vec<Vec<f32>> = (0..3)
            .map(|_| {
                source
                    .sample(4, &mut rng, &device)
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap()
            })
            .collect();
        let fresh = ImageSource::Stacked(StackedMnist::new(numbered(13)).unwrap());
        let mut resumed = fresh.restore(&state).unwrap();
        let mut resumed_rng = HostRng::from_state(&rng_state);
        let got: Vec<Vec<f32>> = (0..3)
            .map(|_| {
                let batch = resumed.sample(4, &mut resumed_rng, &device);
                batch.into_data().try_to_vec::<f32>().unwrap()
            })
            .collect();
        assert_eq!(got, expected);
        assert_eq!(resumed.shape(), [3, 1, 1]);
    }

    #[test]
    fn an_epoch_state_does_not_restore_onto_stacked_digits() {
        let stacked = ImageSource::Stacked(StackedMnist::new(numbered(4)).unwrap());
        let state = SamplerState {
            permutation: vec![3, 1, 2, 0],
            cursor: 2,
            epoch: 1,
        };
        let message = stacked.restore(&state).unwrap_err().to_string();
        assert!(
            message.contains("stacked digits keep no position"),
            "{message}"
        );
        // The epoch variant restores it as the sampler itself does.
        let epoch = ImageSource::Epoch(EpochSampler::new(numbered(4)));
        let restored = epoch.restore(&state).unwrap();
        assert_eq!(restored.state(), state);
        assert_eq!(restored.shape(), [1, 1, 1]);
    }
}
