//! The `[generator]` and `[discriminator]` sections (`kind = "mlp"`, `"image-mlp"`, `"dcgan"`,
//! `"resnet"`, `"r3gan"`, `"conditional-dcgan"` / `"projection"`) and the image networks they build, as one module
//! type per role so the trainer is instantiated once for every image architecture.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use burngan_core::{Discriminator, Generator, HostRng, InputGradient};
use burngan_models::{
    BlockCritic, BlockGenerator, ConditionalDcganGenerator, ConditionalDcganGeneratorConfig,
    DcganDiscriminator, DcganDiscriminatorConfig, DcganGenerator, DcganGeneratorConfig,
    ImageMlpDiscriminator, ImageMlpDiscriminatorConfig, ImageMlpGenerator, ImageMlpGeneratorConfig,
    MlpDiscriminatorConfig, MlpGeneratorConfig, ModelError, Normalization, ProjectionDiscriminator,
    ProjectionDiscriminatorConfig, R3ganDiscriminatorConfig, R3ganGeneratorConfig,
    ResnetDiscriminatorConfig, ResnetGeneratorConfig,
};
use serde::{Deserialize, Serialize};

/// `[generator]`: the network and its sizes, chosen by `kind` (default `"mlp"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum GeneratorConfig {
    /// Fully connected, for 2-D toy data.
    Mlp(MlpGeneratorConfig),
    /// Fully connected with BatchNorm and a tanh image output (the `mnist-mlp` workload).
    ImageMlp(ImageMlpGeneratorConfig),
    /// DCGAN: fully connected layers, then stride-2 transposed convolutions.
    Dcgan(DcganGeneratorConfig),
    /// DCGAN with a class embedding concatenated to z.
    ConditionalDcgan(ConditionalDcganGeneratorConfig),
    /// SNGAN's ResNet generator (up blocks with BatchNorm), built from blocks.
    Resnet(ResnetGeneratorConfig),
    /// R3GAN's generator (generative basis, grouped inverted-bottleneck residual stages).
    R3gan(R3ganGeneratorConfig),
}

/// `[discriminator]`: the critic and its sizes, chosen by `kind` (default `"mlp"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DiscriminatorConfig {
    /// Fully connected, for 2-D toy data.
    Mlp(MlpDiscriminatorConfig),
    /// Fully connected on flattened images (the `mnist-mlp` workload).
    ImageMlp(ImageMlpDiscriminatorConfig),
    /// DCGAN: stride-2 convolutions, then fully connected layers.
    Dcgan(DcganDiscriminatorConfig),
    /// A DCGAN trunk with a class projection (Miyato & Koyama 2018).
    Projection(ProjectionDiscriminatorConfig),
    /// SNGAN's ResNet critic (spectral norm by default), built from blocks.
    Resnet(ResnetDiscriminatorConfig),
    /// R3GAN's critic (no normalisation, grouped convolutions, fix-up initialisation).
    R3gan(R3ganDiscriminatorConfig),
}

impl GeneratorConfig {
    /// The `kind` as written in TOML.
    pub fn kind(&self) -> &'static str {
        match self {
            GeneratorConfig::Mlp(_) => "mlp",
            GeneratorConfig::ImageMlp(_) => "image-mlp",
            GeneratorConfig::Dcgan(_) => "dcgan",
            GeneratorConfig::ConditionalDcgan(_) => "conditional-dcgan",
            GeneratorConfig::Resnet(_) => "resnet",
            GeneratorConfig::R3gan(_) => "r3gan",
        }
    }

    /// The size of the latent code.
    pub fn latent_dim(&self) -> usize {
        match self {
            GeneratorConfig::Mlp(c) => c.latent_dim,
            GeneratorConfig::ImageMlp(c) => c.latent_dim,
            GeneratorConfig::Dcgan(c) => c.latent_dim,
            GeneratorConfig::ConditionalDcgan(c) => c.latent_dim,
            GeneratorConfig::Resnet(c) => c.latent_dim,
            GeneratorConfig::R3gan(c) => c.latent_dim,
        }
    }

    /// The classes of a conditional generator, 0 otherwise.
    pub fn num_classes(&self) -> usize {
        match self {
            GeneratorConfig::ConditionalDcgan(c) => c.num_classes,
            _ => 0,
        }
    }

    /// Builds the image generator for `[channels, height, width]`; `None` for the toy MLP.
    pub fn init_image(
        &self,
        image: [usize; 3],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<Option<ImageGenerator>, ModelError> {
        Ok(Some(match self {
            GeneratorConfig::Mlp(_) => return Ok(None),
            GeneratorConfig::ImageMlp(c) => ImageGenerator::Mlp(c.init(image, rng, device)?),
            GeneratorConfig::Dcgan(c) => ImageGenerator::Dcgan(c.init(image, rng, device)?),
            GeneratorConfig::ConditionalDcgan(c) => {
                ImageGenerator::Conditional(c.init(image, rng, device)?)
            }
            GeneratorConfig::Resnet(c) => ImageGenerator::Blocks(c.init(image, rng, device)?),
            GeneratorConfig::R3gan(c) => ImageGenerator::Blocks(c.init(image, rng, device)?),
        }))
    }

    /// Checks the sizes for images `[channels, height, width]`.
    pub fn validate_image(&self, image: [usize; 3]) -> Result<(), ModelError> {
        match self {
            GeneratorConfig::Mlp(c) => c.validate(image.iter().product()),
            GeneratorConfig::ImageMlp(c) => c.validate(image),
            GeneratorConfig::Dcgan(c) => c.validate(image),
            GeneratorConfig::ConditionalDcgan(c) => c.validate(image),
            GeneratorConfig::Resnet(c) => c.validate(image),
            GeneratorConfig::R3gan(c) => c.validate(image),
        }
    }
}

impl DiscriminatorConfig {
    /// The `kind` as written in TOML.
    pub fn kind(&self) -> &'static str {
        match self {
            DiscriminatorConfig::Mlp(_) => "mlp",
            DiscriminatorConfig::ImageMlp(_) => "image-mlp",
            DiscriminatorConfig::Dcgan(_) => "dcgan",
            DiscriminatorConfig::Projection(_) => "projection",
            DiscriminatorConfig::Resnet(_) => "resnet",
            DiscriminatorConfig::R3gan(_) => "r3gan",
        }
    }

    /// The classes of a projection critic, 0 otherwise.
    pub fn num_classes(&self) -> usize {
        match self {
            DiscriminatorConfig::Projection(c) => c.num_classes,
            _ => 0,
        }
    }

    /// Whether every weight is spectrally normalised (a Lipschitz constraint by itself).
    pub fn spectral(&self) -> bool {
        match self {
            DiscriminatorConfig::Mlp(c) => c.normalization == Normalization::Spectral,
            DiscriminatorConfig::ImageMlp(c) => c.normalization == Normalization::Spectral,
            DiscriminatorConfig::Dcgan(c) => c.spectral_norm,
            DiscriminatorConfig::Projection(c) => c.spectral_norm,
            DiscriminatorConfig::Resnet(c) => c.spectral_norm,
            DiscriminatorConfig::R3gan(_) => false,
        }
    }

    /// The first layer that blocks the input gradient gradient penalties need, if any.
    pub fn input_gradient_blocker(&self) -> Option<String> {
        match self {
            DiscriminatorConfig::Mlp(c) => c.input_gradient_blocker(),
            DiscriminatorConfig::ImageMlp(c) => c.input_gradient_blocker(),
            DiscriminatorConfig::Dcgan(_)
            | DiscriminatorConfig::Projection(_)
            | DiscriminatorConfig::Resnet(_)
            | DiscriminatorConfig::R3gan(_) => None,
        }
    }

    /// Builds the image critic for `[channels, height, width]`; `None` for the toy MLP.
    pub fn init_image(
        &self,
        image: [usize; 3],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<Option<ImageDiscriminator>, ModelError> {
        Ok(Some(match self {
            DiscriminatorConfig::Mlp(_) => return Ok(None),
            DiscriminatorConfig::ImageMlp(c) => {
                ImageDiscriminator::Mlp(c.init(image, rng, device)?)
            }
            DiscriminatorConfig::Dcgan(c) => ImageDiscriminator::Dcgan(c.init(image, rng, device)?),
            DiscriminatorConfig::Projection(c) => {
                ImageDiscriminator::Projection(c.init(image, rng, device)?)
            }
            DiscriminatorConfig::Resnet(c) => {
                ImageDiscriminator::Blocks(c.init(image, rng, device)?)
            }
            DiscriminatorConfig::R3gan(c) => {
                ImageDiscriminator::Blocks(c.init(image, rng, device)?)
            }
        }))
    }

    /// Checks the sizes for images `[channels, height, width]`.
    pub fn validate_image(&self, image: [usize; 3]) -> Result<(), ModelError> {
        match self {
            DiscriminatorConfig::Mlp(c) => c.validate(image.iter().product()),
            DiscriminatorConfig::ImageMlp(c) => c.validate(image),
            DiscriminatorConfig::Dcgan(c) => c.validate(image),
            DiscriminatorConfig::Projection(c) => c.validate(image),
            DiscriminatorConfig::Resnet(c) => c.validate(image),
            DiscriminatorConfig::R3gan(c) => c.validate(image),
        }
    }
}

/// An image generator `[batch, latent_dim] → [batch, c, h, w]` of any configured kind.
#[derive(Module, Debug)]
pub enum ImageGenerator {
    /// `kind = "image-mlp"`.
    Mlp(ImageMlpGenerator),
    /// `kind = "dcgan"`.
    Dcgan(DcganGenerator),
    /// `kind = "conditional-dcgan"`.
    Conditional(ConditionalDcganGenerator),
    /// `kind = "resnet"` or `"r3gan"`: a generator composed from blocks.
    Blocks(BlockGenerator<4>),
}

/// An image critic `[batch, c, h, w] → [batch, 1]` of any configured kind.
#[derive(Module, Debug)]
pub enum ImageDiscriminator {
    /// `kind = "image-mlp"`.
    Mlp(ImageMlpDiscriminator),
    /// `kind = "dcgan"`.
    Dcgan(DcganDiscriminator),
    /// `kind = "projection"`.
    Projection(ProjectionDiscriminator),
    /// `kind = "resnet"` or `"r3gan"`: a critic composed from blocks.
    Blocks(BlockCritic<4>),
}

/// Calls `$body` with `$m` bound to the network inside any variant.
macro_rules! each {
    ($value:expr, $enum:ident, $m:ident => $body:expr) => {
        match $value {
            $enum::Mlp($m) => $body,
            $enum::Dcgan($m) => $body,
            $enum::Conditional($m) => $body,
            $enum::Blocks($m) => $body,
        }
    };
}

macro_rules! each_critic {
    ($value:expr, $m:ident => $body:expr) => {
        match $value {
            ImageDiscriminator::Mlp($m) => $body,
            ImageDiscriminator::Dcgan($m) => $body,
            ImageDiscriminator::Projection($m) => $body,
            ImageDiscriminator::Blocks($m) => $body,
        }
    };
}

impl Generator<4> for ImageGenerator {
    fn latent_dim(&self) -> usize {
        each!(self, ImageGenerator, g => g.latent_dim())
    }

    fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        each!(self, ImageGenerator, g => g.forward(z))
    }

    fn num_classes(&self) -> usize {
        each!(self, ImageGenerator, g => g.num_classes())
    }

    fn forward_labeled(&self, z: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<4> {
        each!(self, ImageGenerator, g => g.forward_labeled(z, labels))
    }
}

impl Discriminator<4> for ImageDiscriminator {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        each_critic!(self, d => d.forward(x))
    }

    fn num_classes(&self) -> usize {
        each_critic!(self, d => d.num_classes())
    }

    fn forward_labeled(&self, x: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<2> {
        each_critic!(self, d => d.forward_labeled(x, labels))
    }

    fn diagnostics(&self) -> Vec<(String, Tensor<1>)> {
        each_critic!(self, d => d.diagnostics())
    }

    fn judges_stacked_batches(&self) -> bool {
        each_critic!(self, d => d.judges_stacked_batches())
    }

    fn samples_per_logit(&self) -> usize {
        each_critic!(self, d => d.samples_per_logit())
    }
}

impl InputGradient<4> for ImageDiscriminator {
    fn input_gradient(&self, x: Tensor<4>) -> Tensor<4> {
        each_critic!(self, d => d.input_gradient(x))
    }

    fn input_gradient_labeled(&self, x: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<4> {
        each_critic!(self, d => d.input_gradient_labeled(x, labels))
    }

    fn unsupported_layer(&self) -> Option<String> {
        each_critic!(self, d => d.unsupported_layer())
    }
}
