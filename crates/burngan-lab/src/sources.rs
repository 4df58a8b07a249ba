//! The distributions of the one-dimensional experiments: a diagonal Gaussian as a real-data
//! source, and a generator whose output distribution is a known Gaussian, so p_g has a closed
//! form and D*, JS and W1 can be computed exactly.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use burngan_core::{Generator, HostRng, SampleSource};

/// A Gaussian with independent coordinates, N(mean, diag(std²)), as a [`SampleSource`] of
/// `[batch, dim]` samples drawn from the host RNG.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagonalGaussian {
    /// The mean of each coordinate.
    pub mean: Vec<f64>,
    /// The standard deviation of each coordinate.
    pub std: Vec<f64>,
}

impl DiagonalGaussian {
    /// N(mean, diag(std²)); `mean` and `std` have one entry per coordinate.
    pub fn new(mean: Vec<f64>, std: Vec<f64>) -> Self {
        debug_assert_eq!(mean.len(), std.len());
        Self { mean, std }
    }

    /// The number of coordinates.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// `n` samples, row-major `[n, dim]`, on the host.
    pub fn sample_host(&self, n: usize, rng: &mut HostRng) -> Vec<f32> {
        rng.normal_vec(n * self.dim())
            .chunks_exact(self.dim())
            .flat_map(|z| {
                z.iter()
                    .zip(self.mean.iter().zip(&self.std))
                    .map(|(&z, (&m, &s))| (m + s * z as f64) as f32)
            })
            .collect()
    }
}

impl SampleSource<2> for DiagonalGaussian {
    fn sample(&mut self, batch: usize, rng: &mut HostRng, device: &Device) -> Tensor<2> {
        let data = TensorData::new(self.sample_host(batch, rng), [batch, self.dim()]);
        Tensor::from_data(data, device)
    }
}

/// A generator whose output is N(mean, diag(std²)) exactly: G(z) = mean + std ⊙ z with
/// z ~ N(0, I) of the same dimension. Its two parameters are trainable tensors, but the
/// experiments keep it fixed (the generator of "train D with G fixed").
///
/// `[batch, dim]` codes → `[batch, dim]` samples.
#[derive(Module, Debug)]
pub struct GaussianGenerator {
    /// The mean, `[dim]`.
    pub mean: Param<Tensor<1>>,
    /// The standard deviation, `[dim]`.
    pub std: Param<Tensor<1>>,
}

impl GaussianGenerator {
    /// The generator of `distribution`, on `device`.
    pub fn new(distribution: &DiagonalGaussian, device: &Device) -> Self {
        let upload = |values: &[f64]| {
            let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
            let n = values.len();
            Param::from_tensor(Tensor::from_data(TensorData::new(values, [n]), device))
        };
        Self {
            mean: upload(&distribution.mean),
            std: upload(&distribution.std),
        }
    }
}

impl Generator<2> for GaussianGenerator {
    fn latent_dim(&self) -> usize {
        self.mean.val().dims()[0]
    }

    fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let std = self.std.val().unsqueeze::<2>();
        let mean = self.mean.val().unsqueeze::<2>();
        z.mul(std).add(mean)
    }
}
