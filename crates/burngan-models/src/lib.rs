//! The networks burngan trains. Each comes as an `XConfig` (serde, read from the TOML config)
//! and an `X` (a Burn module) built by `XConfig::init`, with every weight drawn from the seeded
//! [`HostRng`](burngan_core::HostRng) so that one seed gives the same network on every backend.
//!
//! The pairs: [`MlpGenerator`]/[`MlpDiscriminator`] on vectors (`ring8-mlp`),
//! [`ImageMlpGenerator`]/[`ImageMlpDiscriminator`] on images (`mnist-mlp`),
//! [`DcganGenerator`]/[`DcganDiscriminator`] (`mnist-dcgan`), and the class-conditional
//! [`ConditionalDcganGenerator`]/[`ProjectionDiscriminator`].
//!
//! Every critic implements [`InputGradient`](burngan_core::InputGradient), which gradient
//! penalties need (exactly, unless it has BatchNorm layers, which it then reports through
//! [`unsupported_layer`](burngan_core::InputGradient::unsupported_layer)).
//!
//! The critics can spectrally normalise every weight ([`SpectralNorm`]), estimating σ as burngan
//! always has or as PyTorch's `torch.nn.utils.spectral_norm` does ([`SpectralConvention`], the
//! configs' `spectral_convention`).
//!
//! A critic can also be composed from [`blocks`] (dense, convolutions with groups, pooling,
//! upsampling, residual blocks, nonlinearities) in a [`Sequential`]; a [`BlockCritic`] derives
//! its input gradient from the blocks, with no hand-written chain.
//!
//! # Example
//!
//! ```
//! use burngan_core::{Discriminator, Generator, HostRng};
//! use burngan_models::{Activation, MlpDiscriminatorConfig, MlpGeneratorConfig};
//! # let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
//!
//! let mut rng = HostRng::seed_from(0);
//! let generator = MlpGeneratorConfig::new(2, vec![64, 64]).init(2, &mut rng, &device).unwrap();
//! let critic = MlpDiscriminatorConfig::new(vec![64, 64])
//!     .with_activation(Activation::LeakyRelu(0.2))
//!     .init(2, &mut rng, &device)
//!     .unwrap();
//! let z = rng.normal([16, 2], &device);
//! let logits = critic.forward(generator.forward(z)); // [16, 1]
//! assert_eq!(logits.dims(), [16, 1]);
//! ```

mod activation;
pub mod blocks;
mod conditional;
mod dcgan;
mod image_mlp;
mod init;
mod layers;
mod mlp;
mod r3gan;
mod resnet;
#[cfg(test)]
mod shape_tests;
mod spectral;
#[cfg(test)]
mod stacking_tests;

pub use activation::Activation;
pub use blocks::{
    AvgPool2, Basis, BatchNorm, Block, BlockCritic, BlockGenerator, Conv2d, Conv2dOptions,
    ConvTranspose2d, Features, Flatten, GlobalSumPool, GroupNorm, Layer, MinibatchStdDev,
    Nonlinear, Nonlinearity, Residual, Sequential, Unflatten, UpsampleBilinear2, UpsampleNearest2,
};
pub use conditional::{
    ConditionalDcganGenerator, ConditionalDcganGeneratorConfig, ProjectionDiscriminator,
    ProjectionDiscriminatorConfig,
};
pub use dcgan::{
    DcganDiscriminator, DcganDiscriminatorConfig, DcganGenerator, DcganGeneratorConfig,
};
pub use image_mlp::{
    ImageMlpDiscriminator, ImageMlpDiscriminatorConfig, ImageMlpGenerator, ImageMlpGeneratorConfig,
};
pub use init::{Init, linear_from_host};
pub use layers::{ClassEmbedding, Conv, ConvTranspose, Dense};
pub use mlp::{
    MlpDiscriminator, MlpDiscriminatorConfig, MlpGenerator, MlpGeneratorConfig, Normalization,
};
pub use r3gan::{R3ganDiscriminatorConfig, R3ganGeneratorConfig};
pub use resnet::{ResnetDiscriminatorConfig, ResnetGeneratorConfig};
pub use spectral::{SpectralConvention, SpectralNorm};

/// A model configuration that cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// A layer width, input or latent size is zero.
    #[error("{field} must be positive, got {value}; set it to a size of at least 1")]
    ZeroSize {
        /// The config field, e.g. `generator.hidden[1]`.
        field: String,
        /// The value given.
        value: usize,
    },
    /// Sizes that do not fit together (e.g. an image side the strides cannot halve).
    #[error("{message}")]
    BadShape {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An activation parameter is out of range.
    #[error("{field}: {message}")]
    BadActivation {
        /// The config field.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An initialisation parameter is out of range.
    #[error("{field}: {message}")]
    BadInit {
        /// The config field.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// Checks that an image shape `[channels, height, width]` has no zero size and returns the
/// number of values of one image, c·h·w. Errors name the size (`"{prefix}: image channels"`).
pub(crate) fn image_size(prefix: &str, image: [usize; 3]) -> Result<usize, ModelError> {
    let [channels, height, width] = image;
    for (name, value) in [("channels", channels), ("height", height), ("width", width)] {
        if value == 0 {
            return Err(ModelError::ZeroSize {
                field: format!("{prefix}: image {name}"),
                value,
            });
        }
    }
    channels
        .checked_mul(height)
        .and_then(|n| n.checked_mul(width))
        .ok_or_else(|| ModelError::BadShape {
            message: format!(
                "{prefix}: an image of {channels}×{height}×{width} values is too large; \
                 use smaller images"
            ),
        })
}
