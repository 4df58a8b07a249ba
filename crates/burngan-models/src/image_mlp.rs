//! The fully connected image pair of the `mnist-mlp` benchmark workload, built on the MLP
//! networks of [`mlp`](crate::MlpGenerator) and reshaped to and from images:
//!
//! - generator: z 100 → 128 → LeakyReLU(0.2) → (Linear → BatchNorm1d → LeakyReLU(0.2)) for 256,
//!   512, 1024 → Linear c·h·w → tanh, viewed as `[c, h, w]`;
//! - critic: flatten c·h·w → 512 → LeakyReLU(0.2) → 256 → LeakyReLU(0.2) → 1 logit.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use burngan_core::{Discriminator, Generator, HostRng, InputGradient};
use serde::{Deserialize, Serialize};

use crate::dcgan::{latent, leaky};
use crate::{
    Activation, MlpDiscriminator, MlpDiscriminatorConfig, MlpGenerator, MlpGeneratorConfig,
    ModelError, Normalization, SpectralConvention, image_size,
};

fn generator_hidden() -> Vec<usize> {
    vec![128, 256, 512, 1024]
}

fn critic_hidden() -> Vec<usize> {
    vec![512, 256]
}

fn yes() -> bool {
    true
}

/// Configuration of an [`ImageMlpGenerator`]. The defaults are the `mnist-mlp` generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageMlpGeneratorConfig {
    /// Size of the latent code z (default 100).
    #[serde(default = "latent")]
    pub latent_dim: usize,
    /// Widths of the hidden layers, latent side first (default `[128, 256, 512, 1024]`).
    #[serde(default = "generator_hidden")]
    pub hidden: Vec<usize>,
    /// BatchNorm (epsilon 1e-5, momentum 0.1) after every hidden Linear except the first,
    /// before the activation (default true).
    #[serde(default = "yes")]
    pub batch_norm: bool,
    /// Activation after each hidden layer (default `{ leaky_relu = 0.2 }`). The output is
    /// always tanh, so images lie in [−1, 1].
    #[serde(default = "leaky")]
    pub activation: Activation,
}

impl Default for ImageMlpGeneratorConfig {
    fn default() -> Self {
        Self {
            latent_dim: latent(),
            hidden: generator_hidden(),
            batch_norm: true,
            activation: leaky(),
        }
    }
}

impl ImageMlpGeneratorConfig {
    /// The MLP that produces the c·h·w values of one image.
    pub fn mlp(&self) -> MlpGeneratorConfig {
        MlpGeneratorConfig::new(self.latent_dim, self.hidden.clone())
            .with_activation(self.activation)
            .with_output_activation(Activation::Tanh)
            .with_batch_norm(self.batch_norm)
    }

    /// Checks sizes and the activation for images `[channels, height, width]`.
    pub fn validate(&self, image: [usize; 3]) -> Result<(), ModelError> {
        let size = image_size("generator", image)?;
        self.mlp().validate(size)
    }

    /// Builds the generator for images `[channels, height, width]`, drawing weights from `rng`
    /// (latent side first; BatchNorm starts at γ = 1, β = 0).
    pub fn init(
        &self,
        image: [usize; 3],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<ImageMlpGenerator, ModelError> {
        let size = image_size("generator", image)?;
        Ok(ImageMlpGenerator {
            mlp: self.mlp().init(size, rng, device)?,
            image,
        })
    }
}

/// A fully connected image generator: `[batch, latent_dim] → [batch, c, h, w]` in [−1, 1].
#[derive(Module, Debug)]
pub struct ImageMlpGenerator {
    /// The network `[batch, latent_dim] → [batch, c·h·w]`.
    pub mlp: MlpGenerator,
    #[module(skip)]
    image: [usize; 3],
}

impl Generator<4> for ImageMlpGenerator {
    fn latent_dim(&self) -> usize {
        self.mlp.latent_dim()
    }

    /// `[batch, latent_dim] → [batch, c, h, w]`.
    fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let [batch, _] = z.dims();
        let [c, h, w] = self.image;
        self.mlp.forward(z).reshape([batch, c, h, w])
    }
}

/// Configuration of an [`ImageMlpDiscriminator`]. The defaults are the `mnist-mlp` critic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageMlpDiscriminatorConfig {
    /// Widths of the hidden layers, input side first (default `[512, 256]`).
    #[serde(default = "critic_hidden")]
    pub hidden: Vec<usize>,
    /// Activation after each hidden layer (default `{ leaky_relu = 0.2 }`).
    #[serde(default = "leaky")]
    pub activation: Activation,
    /// Normalisation of the layers (default `"none"`). With `"batch"` gradient penalties
    /// cannot use the critic (see [`Normalization::Batch`]).
    #[serde(default)]
    pub normalization: Normalization,
    /// How spectral norm estimates σ: `"burngan"` (default) or `"pytorch"` (as
    /// `torch.nn.utils.spectral_norm`); used only with `normalization = "spectral"`.
    #[serde(default)]
    pub spectral_convention: SpectralConvention,
}

impl Default for ImageMlpDiscriminatorConfig {
    fn default() -> Self {
        Self {
            hidden: critic_hidden(),
            activation: leaky(),
            normalization: Normalization::None,
            spectral_convention: SpectralConvention::Burngan,
        }
    }
}

impl ImageMlpDiscriminatorConfig {
    /// The MLP on the flattened c·h·w values of one image.
    pub fn mlp(&self) -> MlpDiscriminatorConfig {
        MlpDiscriminatorConfig::new(self.hidden.clone())
            .with_activation(self.activation)
            .with_normalization(self.normalization)
            .with_spectral_convention(self.spectral_convention)
    }

    /// The first layer, by config path and kind, through which the critic's input gradient
    /// cannot be written as forward ops; `None` when gradient penalties can use the critic.
    pub fn input_gradient_blocker(&self) -> Option<String> {
        self.mlp().input_gradient_blocker()
    }

    /// The convention of spectral norm when the layers are spectrally normalised, else `None`.
    pub fn spectral(&self) -> Option<SpectralConvention> {
        self.mlp().spectral()
    }

    /// Checks sizes and the activation for images `[channels, height, width]`.
    pub fn validate(&self, image: [usize; 3]) -> Result<(), ModelError> {
        let size = image_size("discriminator", image)?;
        self.mlp().validate(size)
    }

    /// Builds the critic for images `[channels, height, width]`, drawing weights from `rng`
    /// (input side first).
    pub fn init(
        &self,
        image: [usize; 3],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<ImageMlpDiscriminator, ModelError> {
        let size = image_size("discriminator", image)?;
        Ok(ImageMlpDiscriminator {
            mlp: self.mlp().init(size, rng, device)?,
        })
    }
}

/// A fully connected image critic: `[batch, c, h, w] → [batch, 1]` logits.
#[derive(Module, Debug)]
pub struct ImageMlpDiscriminator {
    /// The network on flattened images, `[batch, c·h·w] → [batch, 1]`.
    pub mlp: MlpDiscriminator,
}

/// `[batch, c, h, w] → [batch, c·h·w]`.
fn flatten(x: Tensor<4>) -> Tensor<2> {
    let [batch, c, h, w] = x.dims();
    x.reshape([batch, c * h * w])
}

impl Discriminator<4> for ImageMlpDiscriminator {
    /// `[batch, c, h, w] → [batch, 1]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.mlp.forward(flatten(x))
    }

    /// The MLP's diagnostics, under the same names (`sigma.layers.<i>` with spectral norm).
    fn diagnostics(&self) -> Vec<(String, Tensor<1>)> {
        self.mlp.diagnostics()
    }

    fn judges_stacked_batches(&self) -> bool {
        self.mlp.judges_stacked_batches()
    }
}

impl InputGradient<4> for ImageMlpDiscriminator {
    /// The MLP's transposed chain on the flattened images, reshaped back:
    /// `[batch, c, h, w] → [batch, c, h, w]`.
    fn input_gradient(&self, x: Tensor<4>) -> Tensor<4> {
        let dims = x.dims();
        self.mlp.input_gradient(flatten(x)).reshape(dims)
    }

    /// The MLP's blocking layer, under its path in this module (`mlp.…`).
    fn unsupported_layer(&self) -> Option<String> {
        self.mlp
            .unsupported_layer()
            .map(|layer| format!("mlp.{layer}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burngan_backend::{BackendKind, device};

    fn flex() -> Device {
        device(BackendKind::Flex).expect("flex is a default feature")
    }

    #[test]
    fn input_gradient_matches_autodiff_with_and_without_spectral_norm() {
        let device = flex().autodiff();
        for normalization in [Normalization::None, Normalization::Spectral] {
            let mut rng = HostRng::seed_from(3);
            let critic = ImageMlpDiscriminatorConfig {
                hidden: vec![16, 8],
                normalization,
                ..ImageMlpDiscriminatorConfig::default()
            }
            .init([2, 5, 3], &mut rng, &device)
            .unwrap();
            assert_eq!(critic.unsupported_layer(), None);
            let x = rng.normal([4, 2, 5, 3], &device).require_grad();
            let grads = critic.forward(x.clone()).sum().backward();
            let autodiff = x.grad(&grads).unwrap();
            let ours = critic.input_gradient(x.detach());
            assert_eq!(ours.dims(), [4, 2, 5, 3]);
            ours.into_data()
                .assert_approx_eq::<f32>(&autodiff.into_data(), Default::default());
        }
    }

    #[test]
    fn batch_norm_blocks_gradient_penalties_under_the_module_path() {
        let config = ImageMlpDiscriminatorConfig {
            normalization: Normalization::Batch,
            ..ImageMlpDiscriminatorConfig::default()
        };
        assert!(config.input_gradient_blocker().is_some());
        let critic = config
            .init([1, 4, 4], &mut HostRng::seed_from(0), &flex())
            .unwrap();
        assert_eq!(
            critic.unsupported_layer().as_deref(),
            Some("mlp.layers[0] BatchNorm (norms[0])")
        );
    }

    #[test]
    fn batch_norm_follows_every_hidden_layer_but_the_first() {
        let device = flex().autodiff();
        let generator = ImageMlpGeneratorConfig::default()
            .init([1, 2, 3], &mut HostRng::seed_from(1), &device)
            .unwrap();
        let widths: Vec<[usize; 1]> = generator
            .mlp
            .norms
            .iter()
            .map(|n| n.gamma.val().dims())
            .collect();
        assert_eq!(widths, vec![[256], [512], [1024]]);
        // BatchNorm is in the path: batch statistics (training) and the initial running
        // statistics (validation snapshot) give different images.
        let z = HostRng::seed_from(2).normal([8, 100], &device);
        let train: Vec<f32> = generator
            .forward(z.clone())
            .into_data()
            .try_to_vec()
            .unwrap();
        let valid: Vec<f32> = generator
            .valid()
            .forward(z.inner())
            .into_data()
            .try_to_vec()
            .unwrap();
        assert_ne!(train, valid);
        let plain = ImageMlpGeneratorConfig {
            batch_norm: false,
            ..ImageMlpGeneratorConfig::default()
        }
        .init([1, 2, 3], &mut HostRng::seed_from(1), &device)
        .unwrap();
        assert!(plain.mlp.norms.is_empty());
    }

    #[test]
    fn zero_image_sizes_are_errors_naming_the_size() {
        let error = ImageMlpGeneratorConfig::default()
            .validate([1, 0, 28])
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "generator: image height must be positive, got 0; set it to a size of at least 1"
        );
        let error = ImageMlpDiscriminatorConfig {
            hidden: vec![8, 0],
            ..ImageMlpDiscriminatorConfig::default()
        }
        .init([1, 2, 2], &mut HostRng::seed_from(0), &flex())
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("discriminator.hidden[1] must be positive")
        );
    }
}
