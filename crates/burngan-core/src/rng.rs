//! The seeded host RNG: the single source of every random number a run depends on.
//!
//! Device RNGs differ between backends (the same seed gives different numbers on wgpu and on
//! flex), so burngan never calls `Tensor::random`. Parameter initialisation, latent noise,
//! interpolation factors and toy data are drawn here, on the host, and uploaded; one seed
//! therefore gives identical weights and inputs on every backend.

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// A seeded ChaCha8 generator that draws on the host and uploads to any device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRng {
    seed: u64,
    inner: ChaCha8Rng,
}

/// The complete, serialisable position of a [`HostRng`]: seed, stream and word position.
///
/// Restoring it with [`HostRng::from_state`] continues the exact sequence, which is what a
/// bit-exact resume needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The 64-bit seed the generator was created from.
    pub seed: u64,
    /// The ChaCha stream number.
    pub stream: u64,
    /// The position in the stream, in 32-bit words.
    pub word_pos: u128,
}

impl HostRng {
    /// A generator seeded from `seed`; the same seed always gives the same sequence.
    pub fn seed_from(seed: u64) -> Self {
        Self {
            seed,
            inner: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The generator's current state, to store in a checkpoint.
    pub fn state(&self) -> RngState {
        RngState {
            seed: self.seed,
            stream: self.inner.get_stream(),
            word_pos: self.inner.get_word_pos(),
        }
    }

    /// Rebuilds a generator at exactly the position recorded in `state`.
    pub fn from_state(state: &RngState) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(state.seed);
        inner.set_stream(state.stream);
        inner.set_word_pos(state.word_pos);
        Self {
            seed: state.seed,
            inner,
        }
    }

    /// One sample of U[0, 1).
    pub fn uniform(&mut self) -> f32 {
        self.inner.random::<f32>()
    }

    /// `n` samples of U[low, high).
    pub fn uniform_vec(&mut self, n: usize, low: f32, high: f32) -> Vec<f32> {
        (0..n)
            .map(|_| low + (high - low) * self.inner.random::<f32>())
            .collect()
    }

    /// `n` samples of the standard normal distribution N(0, 1).
    pub fn normal_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| self.inner.sample::<f32, _>(StandardNormal))
            .collect()
    }

    /// An index drawn uniformly from `0..n`. `n` must be positive.
    pub fn index(&mut self, n: usize) -> usize {
        self.inner.random_range(0..n)
    }

    /// A tensor of shape `shape` filled with N(0, 1) samples, uploaded to `device`.
    pub fn normal<const D: usize>(&mut self, shape: [usize; D], device: &Device) -> Tensor<D> {
        let n = shape.iter().product();
        Tensor::from_data(TensorData::new(self.normal_vec(n), shape), device)
    }

    /// A tensor of shape `shape` filled with U[low, high) samples, uploaded to `device`.
    pub fn uniform_tensor<const D: usize>(
        &mut self,
        shape: [usize; D],
        low: f32,
        high: f32,
        device: &Device,
    ) -> Tensor<D> {
        let n = shape.iter().product();
        Tensor::from_data(
            TensorData::new(self.uniform_vec(n, low, high), shape),
            device,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_different_seed_different_sequence() {
        let a = HostRng::seed_from(1).normal_vec(16);
        let b = HostRng::seed_from(1).normal_vec(16);
        let c = HostRng::seed_from(2).normal_vec(16);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn state_round_trip_continues_the_sequence() {
        let mut rng = HostRng::seed_from(42);
        rng.normal_vec(37);
        let state = rng.state();
        let expected = rng.uniform_vec(10, -1.0, 1.0);
        let mut restored = HostRng::from_state(&state);
        assert_eq!(restored.uniform_vec(10, -1.0, 1.0), expected);
    }

    #[test]
    fn normal_samples_have_unit_moments() {
        // Mean and variance of 200k N(0,1) draws: standard errors are 0.0022 and 0.0032.
        let xs = HostRng::seed_from(3).normal_vec(200_000);
        let n = xs.len() as f64;
        let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.015, "variance {var}");
    }
}
