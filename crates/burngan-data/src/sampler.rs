//! Shuffled batches from an [`ImageDataset`], one fresh permutation per epoch.
//!
//! At the start of every epoch the sampler draws a permutation of `0..n` from the host RNG
//! (Fisher–Yates with `rng.index`) and then serves batches in that order. A batch that runs
//! past the end of the permutation takes the rest of the current epoch, draws the next
//! permutation and continues from its start, so every batch has exactly the size asked for
//! and every image is seen once per epoch.
//!
//! The position ([`SamplerState`]: permutation, cursor, epoch) can be saved with the RNG's
//! state and restored, after which the batches continue bit-identically.

use std::sync::Arc;

use burn::tensor::{Device, Int, Tensor, TensorData};
use burngan_core::{HostRng, SampleSource};
use serde::{Deserialize, Serialize};

use crate::{DataError, ImageDataset};

/// The saved position of an [`EpochSampler`]; the default is the position before the first
/// batch (and the only position of a source without one, such as stacked digits).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerState {
    /// The order of the current epoch, a permutation of `0..n`; empty before the first batch.
    pub permutation: Vec<usize>,
    /// How many images of the current epoch have been served (`0..=n`).
    pub cursor: usize,
    /// How many epochs have been started: 0 before the first batch, 1 during the first pass.
    pub epoch: u64,
}

/// Serves shuffled batches `[batch, channels, height, width]` from an [`ImageDataset`],
/// reshuffling with the host RNG at the start of every epoch.
///
/// ```
/// use burngan_core::HostRng;
/// use burngan_data::{EpochSampler, ImageDataset};
///
/// // Five 1×1×2 images.
/// let data = ImageDataset::from_u8(&[0; 10], [5, 1, 1, 2], None).unwrap();
/// let mut sampler = EpochSampler::new(data);
/// let mut rng = HostRng::seed_from(7);
/// let first = sampler.next_indices(3, &mut rng);
/// let second = sampler.next_indices(3, &mut rng); // the last 2 of epoch 1, the first of epoch 2
/// assert_eq!((sampler.epoch(), sampler.cursor()), (2, 1));
/// let mut seen: Vec<usize> = first.iter().chain(&second[..2]).copied().collect();
/// seen.sort();
/// assert_eq!(seen, [0, 1, 2, 3, 4]);
/// ```
#[derive(Debug, Clone)]
pub struct EpochSampler {
    dataset: Arc<ImageDataset>,
    permutation: Vec<usize>,
    cursor: usize,
    epoch: u64,
}

impl EpochSampler {
    /// A sampler at the start of its first epoch; the first permutation is drawn with the
    /// first batch.
    pub fn new(dataset: impl Into<Arc<ImageDataset>>) -> Self {
        Self {
            dataset: dataset.into(),
            permutation: Vec::new(),
            cursor: 0,
            epoch: 0,
        }
    }

    /// A sampler resumed at `state` (from [`state`](Self::state)) over the same dataset.
    ///
    /// Fails when the state cannot belong to `dataset`: the permutation is neither empty nor a
    /// permutation of `0..len`, the cursor is past its end, or the epoch count contradicts it.
    pub fn from_state(
        dataset: impl Into<Arc<ImageDataset>>,
        state: &SamplerState,
    ) -> Result<Self, DataError> {
        let dataset = dataset.into();
        let len = dataset.len();
        let fail = |problem: String| DataError::BadSamplerState { len, problem };
        let perm = &state.permutation;
        if perm.is_empty() {
            if state.cursor != 0 || state.epoch != 0 {
                return Err(fail(format!(
                    "with no permutation the cursor and epoch must be 0, found cursor {} and \
                     epoch {}",
                    state.cursor, state.epoch
                )));
            }
        } else {
            if perm.len() != len {
                return Err(fail(format!(
                    "the permutation has {} entries, expected {len}",
                    perm.len()
                )));
            }
            let mut seen = vec![false; len];
            for &i in perm {
                match seen.get_mut(i) {
                    Some(slot) if !*slot => *slot = true,
                    _ => {
                        return Err(fail(format!(
                            "index {i} in the permutation is out of range or repeated"
                        )));
                    }
                }
            }
            if state.cursor > len {
                return Err(fail(format!(
                    "the cursor {} is past the end of the epoch ({len})",
                    state.cursor
                )));
            }
            if state.epoch == 0 {
                return Err(fail("a permutation was drawn but the epoch is 0".into()));
            }
        }
        Ok(Self {
            dataset,
            permutation: perm.clone(),
            cursor: state.cursor,
            epoch: state.epoch,
        })
    }

    /// The current position, to store in a checkpoint next to the RNG's state.
    pub fn state(&self) -> SamplerState {
        SamplerState {
            permutation: self.permutation.clone(),
            cursor: self.cursor,
            epoch: self.epoch,
        }
    }

    /// The dataset batches are drawn from.
    pub fn dataset(&self) -> &ImageDataset {
        &self.dataset
    }

    /// The shared dataset, for a sampler restored over the same images.
    pub(crate) fn shared_dataset(&self) -> Arc<ImageDataset> {
        Arc::clone(&self.dataset)
    }

    /// How many epochs have been started: 0 before the first batch, 1 during the first pass,
    /// and so on.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// How many images of the current epoch have been served, `0..=len`.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The dataset indices of the next `batch` images, `[batch]`, drawing a new permutation
    /// from `rng` whenever the current epoch is used up.
    pub fn next_indices(&mut self, batch: usize, rng: &mut HostRng) -> Vec<usize> {
        let mut indices = Vec::with_capacity(batch);
        while indices.len() < batch {
            if self.cursor >= self.permutation.len() {
                self.start_epoch(rng);
            }
            let take = (batch - indices.len()).min(self.permutation.len() - self.cursor);
            indices.extend_from_slice(&self.permutation[self.cursor..self.cursor + take]);
            self.cursor += take;
        }
        indices
    }

    /// The next `batch` images as a row-major `[batch, channels, height, width]` buffer, and
    /// their labels `[batch]` when the dataset is labelled.
    pub fn next_batch(
        &mut self,
        batch: usize,
        rng: &mut HostRng,
    ) -> (Vec<f32>, Option<Vec<usize>>) {
        let indices = self.next_indices(batch, rng);
        let mut pixels = Vec::with_capacity(batch * self.dataset.image_len());
        for &i in &indices {
            pixels.extend_from_slice(self.dataset.image(i));
        }
        let labels = self
            .dataset
            .labels()
            .map(|labels| indices.iter().map(|&i| labels[i]).collect());
        (pixels, labels)
    }

    /// Draws the next epoch's order: Fisher–Yates over `0..len` with `rng.index`.
    fn start_epoch(&mut self, rng: &mut HostRng) {
        let len = self.dataset.len();
        self.permutation.clear();
        self.permutation.extend(0..len);
        for i in (1..len).rev() {
            let j = rng.index(i + 1);
            self.permutation.swap(i, j);
        }
        self.cursor = 0;
        self.epoch += 1;
    }
}

impl SampleSource<4> for EpochSampler {
    /// `[batch, channels, height, width]` images in [−1, 1]; labels are dropped.
    fn sample(&mut self, batch: usize, rng: &mut HostRng, device: &Device) -> Tensor<4> {
        self.sample_labeled(batch, rng, device).0
    }

    /// The images and, for a labelled dataset, their labels `[batch]`.
    fn sample_labeled(
        &mut self,
        batch: usize,
        rng: &mut HostRng,
        device: &Device,
    ) -> (Tensor<4>, Option<Tensor<1, Int>>) {
        let (pixels, labels) = self.next_batch(batch, rng);
        let [channels, height, width] = self.dataset.shape();
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` images of shape 1×1×2 whose two values identify the image, labelled `i % 3`.
    fn numbered(n: usize) -> ImageDataset {
        let pixels: Vec<u8> = (0..n).flat_map(|i| [i as u8, 255 - i as u8]).collect();
        let labels = (0..n).map(|i| i % 3).collect();
        ImageDataset::from_u8(&pixels, [n, 1, 1, 2], Some(labels)).unwrap()
    }

    #[test]
    fn one_epoch_visits_every_index_once() {
        let mut sampler = EpochSampler::new(numbered(100));
        let mut rng = HostRng::seed_from(0);
        let mut seen = Vec::new();
        for _ in 0..10 {
            seen.extend(sampler.next_indices(10, &mut rng));
            assert_eq!(sampler.epoch(), 1);
        }
        assert_eq!(sampler.cursor(), 100);
        assert_ne!(seen, (0..100).collect::<Vec<_>>(), "not shuffled");
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        // The next batch starts a second epoch with a different order.
        let first_of_epoch_one = sampler.state().permutation;
        sampler.next_indices(1, &mut rng);
        assert_eq!((sampler.epoch(), sampler.cursor()), (2, 1));
        assert_ne!(sampler.state().permutation, first_of_epoch_one);
    }

    #[test]
    fn batches_wrap_into_a_new_epoch() {
        let mut sampler = EpochSampler::new(numbered(7));
        let mut rng = HostRng::seed_from(1);
        sampler.next_indices(5, &mut rng);
        let wrapped = sampler.next_indices(5, &mut rng);
        assert_eq!((sampler.epoch(), sampler.cursor()), (2, 3));
        assert_eq!(wrapped.len(), 5);
        // A batch larger than the dataset spans several epochs, each complete.
        let mut sampler = EpochSampler::new(numbered(4));
        let mut big = sampler.next_indices(12, &mut rng);
        assert_eq!((sampler.epoch(), sampler.cursor()), (3, 4));
        for epoch in big.chunks_mut(4) {
            epoch.sort_unstable();
            assert_eq!(epoch, [0, 1, 2, 3]);
        }
    }

    #[test]
    fn batches_hold_the_images_and_labels_of_their_indices() {
        let data = numbered(9);
        let mut sampler = EpochSampler::new(data.clone());
        let mut check = sampler.clone();
        let mut rng = HostRng::seed_from(2);
        let (pixels, labels) = sampler.next_batch(4, &mut rng.clone());
        let indices = check.next_indices(4, &mut rng);
        assert_eq!(pixels.len(), 4 * 2);
        for (k, &i) in indices.iter().enumerate() {
            assert_eq!(pixels[2 * k..2 * k + 2], *data.image(i));
        }
        assert_eq!(
            labels.unwrap(),
            indices.iter().map(|i| i % 3).collect::<Vec<_>>()
        );
        let unlabelled = ImageDataset::from_u8(&[0; 6], [3, 1, 1, 2], None).unwrap();
        let (_, labels) = EpochSampler::new(unlabelled).next_batch(2, &mut rng);
        assert_eq!(labels, None);
    }

    #[test]
    fn same_seed_same_batches() {
        let data = Arc::new(numbered(50));
        let run = |seed| {
            let mut sampler = EpochSampler::new(Arc::clone(&data));
            let mut rng = HostRng::seed_from(seed);
            (0..12)
                .map(|_| sampler.next_batch(16, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn a_restored_state_continues_identically() {
        let data = Arc::new(numbered(23));
        let mut sampler = EpochSampler::new(Arc::clone(&data));
        let mut rng = HostRng::seed_from(9);
        // Before any batch, mid-epoch, and exactly at the end of an epoch.
        for warm_up in [0, 5, 18] {
            sampler.next_indices(warm_up, &mut rng);
            let state = sampler.state();
            let rng_state = rng.state();
            let expected: Vec<_> = (0..6).map(|_| sampler.next_batch(7, &mut rng)).collect();
            let mut resumed = EpochSampler::from_state(Arc::clone(&data), &state).unwrap();
            let mut resumed_rng = HostRng::from_state(&rng_state);
            let got: Vec<_> = (0..6)
                .map(|_| resumed.next_batch(7, &mut resumed_rng))
                .collect();
            assert_eq!(got, expected, "after {warm_up} more indices");
            assert_eq!(resumed.state(), sampler.state());
        }
    }

    #[test]
    fn an_inconsistent_state_is_rejected() {
        let data = Arc::new(numbered(4));
        let bad = |permutation: Vec<usize>, cursor, epoch| {
            let state = SamplerState {
                permutation,
                cursor,
                epoch,
            };
            EpochSampler::from_state(Arc::clone(&data), &state)
                .unwrap_err()
                .to_string()
        };
        assert!(bad(vec![0, 1, 2], 0, 1).contains("has 3 entries, expected 4"));
        assert!(bad(vec![0, 1, 1, 3], 0, 1).contains("index 1 in the permutation"));
        assert!(bad(vec![0, 1, 2, 9], 0, 1).contains("index 9 in the permutation"));
        assert!(bad(vec![3, 1, 2, 0], 5, 1).contains("the cursor 5 is past the end"));
        assert!(bad(vec![3, 1, 2, 0], 1, 0).contains("the epoch is 0"));
        let message = bad(vec![], 2, 0);
        assert!(
            message.starts_with("the saved sampler state does not fit this dataset of 4 images"),
            "{message}"
        );
        let good = SamplerState {
            permutation: vec![3, 1, 2, 0],
            cursor: 4,
            epoch: 7,
        };
        let sampler = EpochSampler::from_state(Arc::clone(&data), &good).unwrap();
        assert_eq!((sampler.epoch(), sampler.cursor()), (7, 4));
    }

    #[test]
    fn sample_uploads_bchw() {
        let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
        let data = ImageDataset::from_u8(&[0, 255, 51], [3, 1, 1, 1], None).unwrap();
        let mut sampler = EpochSampler::new(data);
        let mut rng = HostRng::seed_from(0);
        let mut host = sampler.clone();
        let expected = host.next_batch(5, &mut rng.clone()).0;
        let batch = sampler.sample(5, &mut rng, &device);
        assert_eq!(batch.dims(), [5, 1, 1, 1]);
        let values = batch.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(values, expected);
    }
}
