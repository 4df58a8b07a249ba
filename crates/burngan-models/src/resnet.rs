//! The SNGAN ResNet pair (Miyato et al. 2018, appendix B, the CIFAR-10 networks), built from
//! [blocks](crate::blocks) so the critic's input gradient is derived, not written:
//!
//! - generator: z → dense → `[c₀, s, s]` → (up block)* → BN → ReLU → conv 3×3 → tanh, an up
//!   block being BN → ReLU → nearest ×2 → conv 3×3 → BN → ReLU → conv 3×3 with a shortcut
//!   nearest ×2 → conv 1×1;
//! - critic: an "optimised" first block (conv 3×3 → ReLU → conv 3×3 → avg-pool, shortcut
//!   avg-pool → conv 1×1), then blocks ReLU → conv 3×3 → ReLU → conv 3×3 (→ avg-pool) with an
//!   identity shortcut, or conv 1×1 (→ avg-pool) where the width or the size changes; then ReLU
//!   → global sum pooling → dense → 1 logit. Spectral norm on every weight by default.
//!
//! Square images whose side is a multiple of 2^(up blocks): 28×28 starts at 7×7 with two up
//! blocks, 32×32 at 4×4 with three (SNGAN's CIFAR generator), 64×64 at 4×4 with four.

use burn::tensor::Device;
use burngan_core::HostRng;
use serde::{Deserialize, Serialize};

use crate::blocks::{
    AvgPool2, BatchNorm, BlockCritic, BlockGenerator, Conv2d, Conv2dOptions, GlobalSumPool, Layer,
    Nonlinearity, Residual, Sequential, Unflatten, UpsampleNearest2,
};
use crate::{Dense, ModelError, SpectralConvention, image_size};

/// `[generator] kind = "resnet"`: SNGAN's ResNet generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResnetGeneratorConfig {
    /// Size of the latent code (default 128, as SNGAN).
    #[serde(default = "latent")]
    pub latent_dim: usize,
    /// Output width of each up block, latent side first; the first is also the width of the
    /// starting feature map (default `[256, 256]`: SNGAN's widths, two up blocks for 28×28
    /// from 7×7; SNGAN's CIFAR-10 generator has three for 32×32 from 4×4). The image side must
    /// be a multiple of 2^(number of entries).
    #[serde(default = "generator_channels")]
    pub channels: Vec<usize>,
}

/// `[discriminator] kind = "resnet"`: SNGAN's ResNet critic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResnetDiscriminatorConfig {
    /// Output width of each residual block, input side first (default `[128, 128, 128, 128]`,
    /// SNGAN's CIFAR-10 critic).
    #[serde(default = "critic_channels")]
    pub channels: Vec<usize>,
    /// How many leading blocks halve the image side with 2×2 average pooling (default 2).
    #[serde(default = "downsample")]
    pub downsample: usize,
    /// Spectral normalisation of every weight (default true, as SNGAN).
    #[serde(default = "yes")]
    pub spectral_norm: bool,
    /// How spectral norm estimates σ: `"burngan"` (default) or `"pytorch"`.
    #[serde(default)]
    pub spectral_convention: SpectralConvention,
}

fn latent() -> usize {
    128
}

fn generator_channels() -> Vec<usize> {
    vec![256; 2]
}

fn critic_channels() -> Vec<usize> {
    vec![128; 4]
}

fn downsample() -> usize {
    2
}

fn yes() -> bool {
    true
}

impl Default for ResnetGeneratorConfig {
    fn default() -> Self {
        Self {
            latent_dim: latent(),
            channels: generator_channels(),
        }
    }
}

impl Default for ResnetDiscriminatorConfig {
    fn default() -> Self {
        Self {
            channels: critic_channels(),
            downsample: downsample(),
            spectral_norm: true,
            spectral_convention: SpectralConvention::Burngan,
        }
    }
}

/// Positive widths, at least one.
pub(crate) fn check_widths(field: &str, widths: &[usize]) -> Result<(), ModelError> {
    if widths.is_empty() {
        return Err(ModelError::BadShape {
            message: format!("{field} must list at least one width"),
        });
    }
    match widths.iter().position(|&c| c == 0) {
        Some(i) => Err(ModelError::ZeroSize {
            field: format!("{field}[{i}]"),
            value: 0,
        }),
        None => Ok(()),
    }
}

/// The side of the starting map: a square image whose side is a multiple of 2^`halvings`.
pub(crate) fn base_side(
    prefix: &str,
    image: [usize; 3],
    halvings: usize,
) -> Result<usize, ModelError> {
    image_size(prefix, image)?;
    let [_, h, w] = image;
    let factor = 1usize.checked_shl(halvings as u32).unwrap_or(0);
    if h != w || factor == 0 || !h.is_multiple_of(factor) {
        return Err(ModelError::BadShape {
            message: format!(
                "{prefix}: {halvings} resolution doublings need a square image whose side is a \
                 multiple of 2^{halvings}, got {h}×{w}; resize the images or change the number \
                 of channels entries"
            ),
        });
    }
    Ok(h / factor)
}

impl ResnetGeneratorConfig {
    /// Checks the sizes for images `[channels, height, width]`.
    pub fn validate(&self, image: [usize; 3]) -> Result<(), ModelError> {
        if self.latent_dim == 0 {
            return Err(ModelError::ZeroSize {
                field: "generator.latent_dim".into(),
                value: 0,
            });
        }
        check_widths("generator.channels", &self.channels)?;
        base_side("generator", image, self.channels.len()).map(|_| ())
    }

    /// The generator `[batch, latent_dim] → [batch, c, h, w]` (tanh output), weights drawn
    /// from `rng` in layer order with PyTorch's default initialisation.
    pub fn init(
        &self,
        image: [usize; 3],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<BlockGenerator<4>, ModelError> {
        self.validate(image)?;
        let side = base_side("generator", image, self.channels.len())?;
        let c0 = self.channels[0];
        let mut blocks: Vec<Layer> = vec![
            Dense::new(self.latent_dim, c0 * side * side, false, rng, device).into(),
            Unflatten::new([c0, side, side]).into(),
        ];
        let mut c_in = c0;
        for &c_out in &self.channels {
            blocks.push(up_block(c_in, c_out, rng, device)?.into());
            c_in = c_out;
        }
        let k3 = Conv2dOptions::new([3, 3]).with_padding([1, 1]);
        blocks.extend([
            BatchNorm::new(c_in, device).into(),
            Nonlinearity::Relu.into(),
            Conv2d::new(c_in, image[0], k3, rng, device)?.into(),
            Nonlinearity::Tanh.into(),
        ]);
        BlockGenerator::new(self.latent_dim, Sequential::new(blocks))
    }
}

/// SNGAN's generator block `c_in → c_out`, doubling the side.
fn up_block(
    c_in: usize,
    c_out: usize,
    rng: &mut HostRng,
    device: &Device,
) -> Result<Residual, ModelError> {
    let k3 = Conv2dOptions::new([3, 3]).with_padding([1, 1]);
    let main = Sequential::new(vec![
        BatchNorm::new(c_in, device).into(),
        Nonlinearity::Relu.into(),
        UpsampleNearest2.into(),
        Conv2d::new(c_in, c_out, k3, rng, device)?.into(),
        BatchNorm::new(c_out, device).into(),
        Nonlinearity::Relu.into(),
        Conv2d::new(c_out, c_out, k3, rng, device)?.into(),
    ]);
    let shortcut = Sequential::new(vec![
        UpsampleNearest2.into(),
        Conv2d::new(c_in, c_out, Conv2dOptions::new([1, 1]), rng, device)?.into(),
    ]);
    Ok(Residual::learned(main, shortcut))
}

impl ResnetDiscriminatorConfig {
    /// Checks the sizes for images `[channels, height, width]`.
    pub fn validate(&self, image: [usize; 3]) -> Result<(), ModelError> {
        check_widths("discriminator.channels", &self.channels)?;
        if self.downsample > self.channels.len() {
            return Err(ModelError::BadShape {
                message: format!(
                    "discriminator.downsample = {} exceeds the {} residual blocks; at most one \
                     halving per block",
                    self.downsample,
                    self.channels.len()
                ),
            });
        }
        base_side("discriminator", image, self.downsample).map(|_| ())
    }

    /// The critic `[batch, c, h, w] → [batch, 1]`, weights (then spectral vectors) drawn from
    /// `rng` block by block with PyTorch's default initialisation.
    pub fn init(
        &self,
        image: [usize; 3],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<BlockCritic<4>, ModelError> {
        self.validate(image)?;
        let spectral = self.spectral_norm.then_some(self.spectral_convention);
        let mut blocks: Vec<Layer> = Vec::with_capacity(self.channels.len() + 3);
        let mut c_in = image[0];
        for (i, &c_out) in self.channels.iter().enumerate() {
            let down = i < self.downsample;
            let block = if i == 0 {
                first_block(c_in, c_out, down, spectral, rng, device)?
            } else {
                critic_block(c_in, c_out, down, spectral, rng, device)?
            };
            blocks.push(block.into());
            c_in = c_out;
        }
        let mut head = Dense::new(c_in, 1, false, rng, device);
        if let Some(convention) = spectral {
            head = head.with_spectral_norm(convention, rng, device);
        }
        blocks.extend([Nonlinearity::Relu.into(), GlobalSumPool.into(), head.into()]);
        BlockCritic::new(&image, Sequential::new(blocks))
    }
}

/// A convolution `c_in → c_out` with kernel k (padding k/2), spectral when asked.
pub(crate) fn conv(
    c_in: usize,
    c_out: usize,
    k: usize,
    spectral: Option<SpectralConvention>,
    rng: &mut HostRng,
    device: &Device,
) -> Result<Layer, ModelError> {
    let options = Conv2dOptions::new([k, k]).with_padding([k / 2, k / 2]);
    let conv = Conv2d::new(c_in, c_out, options, rng, device)?;
    Ok(match spectral {
        Some(convention) => conv.with_spectral_norm(convention, rng, device),
        None => conv,
    }
    .into())
}

/// SNGAN's optimised first critic block: conv 3×3 → ReLU → conv 3×3 (→ pool), shortcut
/// (pool →) conv 1×1.
fn first_block(
    c_in: usize,
    c_out: usize,
    down: bool,
    spectral: Option<SpectralConvention>,
    rng: &mut HostRng,
    device: &Device,
) -> Result<Residual, ModelError> {
    let mut main = Sequential::new(vec![
        conv(c_in, c_out, 3, spectral, rng, device)?,
        Nonlinearity::Relu.into(),
        conv(c_out, c_out, 3, spectral, rng, device)?,
    ]);
    let mut shortcut = Sequential::new(Vec::new());
    if down {
        main = main.then(AvgPool2);
        shortcut = shortcut.then(AvgPool2);
    }
    let shortcut = shortcut.then(conv(c_in, c_out, 1, spectral, rng, device)?);
    Ok(Residual::learned(main, shortcut))
}

/// SNGAN's critic block: ReLU → conv 3×3 → ReLU → conv 3×3 (→ pool); the shortcut is the
/// identity when neither the width nor the size changes, else conv 1×1 (→ pool).
fn critic_block(
    c_in: usize,
    c_out: usize,
    down: bool,
    spectral: Option<SpectralConvention>,
    rng: &mut HostRng,
    device: &Device,
) -> Result<Residual, ModelError> {
    let mut main = Sequential::new(vec![
        Nonlinearity::Relu.into(),
        conv(c_in, c_out, 3, spectral, rng, device)?,
        Nonlinearity::Relu.into(),
        conv(c_out, c_out, 3, spectral, rng, device)?,
    ]);
    if down {
        main = main.then(AvgPool2);
    }
    if c_in == c_out && !down {
        return Ok(Residual::identity(main));
    }
    let mut shortcut = Sequential::new(vec![conv(c_in, c_out, 1, spectral, rng, device)?]);
    if down {
        shortcut = shortcut.then(AvgPool2);
    }
    Ok(Residual::learned(main, shortcut))
}
