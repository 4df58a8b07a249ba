//! The networks burngan trains. Each comes as an `XConfig` (serde, read from the TOML config)
//! and an `X` (a Burn module) built by `XConfig::init`, with every weight drawn from the seeded
//! [`HostRng`](burngan_core::HostRng) so that one seed gives the same network on every backend.
//!
//! Every critic implements [`InputGradient`](burngan_core::InputGradient), which gradient
//! penalties need.
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
mod dcgan;
mod init;
mod layers;
mod mlp;
mod spectral;

pub use activation::Activation;
pub use dcgan::{
    DcganDiscriminator, DcganDiscriminatorConfig, DcganGenerator, DcganGeneratorConfig,
};
pub use init::linear_from_host;
pub use layers::{Conv, ConvTranspose, Dense};
pub use mlp::{
    MlpDiscriminator, MlpDiscriminatorConfig, MlpGenerator, MlpGeneratorConfig, Normalization,
};
pub use spectral::SpectralNorm;

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
}
