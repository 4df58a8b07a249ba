//! The R3GAN pair (Huang et al. 2024, "The GAN is dead; long live the GAN!"), built from
//! [blocks](crate::blocks): residual stages without normalisation, inverted-bottleneck blocks
//! with grouped convolutions, and a fix-up initialisation under which every residual branch
//! starts at zero.
//!
//! - residual block (width c, expansion e, L blocks in the network): conv 1×1 c → e·c →
//!   LeakyReLU 0.2 → grouped conv 3×3 e·c → e·c → LeakyReLU 0.2 → conv 1×1 e·c → c, added to
//!   x. The first two convolutions are drawn from N(0, a²/fan_in) with a = √(2/(1 + 0.2²)) ·
//!   L^(−1/4) (the paper's variance scaling for three layers per branch), their biases (the
//!   paper's biased activations) start at 0, the last convolution starts at zero;
//! - generator: z → basis (a learned constant `[c₀, s, s]` scaled per channel by a dense map of
//!   z) → blocks; per later stage, conv 1×1 (when the width changes) → bilinear ×2 → blocks;
//!   then conv 1×1 to the image channels, no output nonlinearity (as the paper);
//! - critic: conv 1×1 from the image channels → per stage, blocks → 2×2 average pooling → conv
//!   1×1 (when the width changes); the last stage's blocks → a depthwise convolution over the
//!   whole remaining map → dense → 1 logit.
//!
//! Where the paper resamples with a [1, 2, 1] low-pass filter, these networks use bilinear
//! upsampling and 2×2 average pooling. Square images whose side is a multiple of
//! 2^(stages − 1): 28×28 with three stages runs at 7, 14 and 28.

use burn::tensor::Device;
use burngan_core::HostRng;
use serde::{Deserialize, Serialize};

use crate::blocks::{
    AvgPool2, Basis, BlockCritic, BlockGenerator, Conv2d, Conv2dOptions, Flatten, Layer,
    Nonlinearity, Residual, Sequential, UpsampleBilinear2,
};
use crate::resnet::{base_side, check_widths};
use crate::{Dense, ModelError};

/// `[generator] kind = "r3gan"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct R3ganGeneratorConfig {
    /// Size of the latent code (default 64).
    #[serde(default = "latent")]
    pub latent_dim: usize,
    /// Width of each stage, lowest resolution first (default `[128, 64, 32]`). The image side
    /// must be a multiple of 2^(stages − 1).
    #[serde(default = "generator_widths")]
    pub widths: Vec<usize>,
    /// Residual blocks per stage: one number for every stage (default 1).
    #[serde(default = "one")]
    pub blocks: usize,
    /// Expansion e of the inverted bottleneck (default 2).
    #[serde(default = "two")]
    pub expansion: usize,
    /// Channels per group of the 3×3 convolution (default 16, as the paper's configurations:
    /// e.g. 1536 expanded channels in 96 groups); e × every width must be a multiple of it.
    #[serde(default = "group_width")]
    pub group_width: usize,
}

/// `[discriminator] kind = "r3gan"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct R3ganDiscriminatorConfig {
    /// Width of each stage, highest resolution first (default `[32, 64, 128]`).
    #[serde(default = "critic_widths")]
    pub widths: Vec<usize>,
    /// Residual blocks per stage (default 1).
    #[serde(default = "one")]
    pub blocks: usize,
    /// Expansion e of the inverted bottleneck (default 2).
    #[serde(default = "two")]
    pub expansion: usize,
    /// Channels per group of the 3×3 convolution (default 16).
    #[serde(default = "group_width")]
    pub group_width: usize,
}

fn latent() -> usize {
    64
}

fn generator_widths() -> Vec<usize> {
    vec![128, 64, 32]
}

fn critic_widths() -> Vec<usize> {
    vec![32, 64, 128]
}

fn one() -> usize {
    1
}

fn two() -> usize {
    2
}

fn group_width() -> usize {
    16
}

impl Default for R3ganGeneratorConfig {
    fn default() -> Self {
        Self {
            latent_dim: latent(),
            widths: generator_widths(),
            blocks: 1,
            expansion: 2,
            group_width: group_width(),
        }
    }
}

impl Default for R3ganDiscriminatorConfig {
    fn default() -> Self {
        Self {
            widths: critic_widths(),
            blocks: 1,
            expansion: 2,
            group_width: group_width(),
        }
    }
}

/// The shared shape of a residual stack: widths, expansion and grouping.
struct Stack<'a> {
    prefix: &'a str,
    widths: &'a [usize],
    blocks: usize,
    expansion: usize,
    group_width: usize,
}

impl Stack<'_> {
    fn validate(&self, image: [usize; 3]) -> Result<usize, ModelError> {
        let p = self.prefix;
        check_widths(&format!("{p}.widths"), self.widths)?;
        for (field, value) in [
            ("expansion", self.expansion),
            ("group_width", self.group_width),
        ] {
            if value == 0 {
                return Err(ModelError::ZeroSize {
                    field: format!("{p}.{field}"),
                    value,
                });
            }
        }
        if let Some(&w) = self
            .widths
            .iter()
            .find(|&&w| !(w * self.expansion).is_multiple_of(self.group_width))
        {
            return Err(ModelError::BadShape {
                message: format!(
                    "{p}: the expanded width {} (width {w} × expansion {}) is not a multiple of \
                     group_width = {}; choose widths or a group_width that divide",
                    w * self.expansion,
                    self.expansion,
                    self.group_width
                ),
            });
        }
        base_side(p, image, self.widths.len() - 1)
    }

    /// a = √(2/(1 + 0.2²)) · L^(−1/4), L the network's residual blocks.
    fn gain(&self) -> f32 {
        let total = (self.blocks * self.widths.len()).max(1) as f32;
        (2.0f32 / 1.04).sqrt() * total.powf(-0.25)
    }

    /// `blocks` residual blocks of width `c`.
    fn blocks(
        &self,
        c: usize,
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<Vec<Layer>, ModelError> {
        (0..self.blocks)
            .map(|_| self.block(c, rng, device).map(Layer::from))
            .collect()
    }

    /// One inverted-bottleneck block of width `c` with a fix-up initialisation.
    fn block(&self, c: usize, rng: &mut HostRng, device: &Device) -> Result<Residual, ModelError> {
        let wide = c * self.expansion;
        let gain = self.gain();
        let k1 = Conv2dOptions::new([1, 1]);
        let k3 = Conv2dOptions::new([3, 3])
            .with_padding([1, 1])
            .with_groups(wide / self.group_width);
        let leaky = Nonlinearity::LeakyRelu(0.2);
        Ok(Residual::identity(Sequential::new(vec![
            Conv2d::msr(c, wide, k1, gain, rng, device)?.into(),
            leaky.into(),
            Conv2d::msr(wide, wide, k3, gain, rng, device)?.into(),
            leaky.into(),
            Conv2d::msr(wide, c, k1.with_bias(false), 0.0, rng, device)?.into(),
        ])))
    }
}

/// A 1×1 convolution without bias, N(0, 1/fan_in).
fn pointwise(
    c_in: usize,
    c_out: usize,
    rng: &mut HostRng,
    device: &Device,
) -> Result<Layer, ModelError> {
    let options = Conv2dOptions::new([1, 1]).with_bias(false);
    Ok(Conv2d::msr(c_in, c_out, options, 1.0, rng, device)?.into())
}

impl R3ganGeneratorConfig {
    fn stack(&self) -> Stack<'_> {
        Stack {
            prefix: "generator",
            widths: &self.widths,
            blocks: self.blocks,
            expansion: self.expansion,
            group_width: self.group_width,
        }
    }

    /// Checks the sizes for images `[channels, height, width]`.
    pub fn validate(&self, image: [usize; 3]) -> Result<(), ModelError> {
        if self.latent_dim == 0 {
            return Err(ModelError::ZeroSize {
                field: "generator.latent_dim".into(),
                value: 0,
            });
        }
        self.stack().validate(image).map(|_| ())
    }

    /// The generator `[batch, latent_dim] → [batch, c, h, w]`, weights drawn from `rng` in
    /// layer order.
    pub fn init(
        &self,
        image: [usize; 3],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<BlockGenerator<4>, ModelError> {
        let stack = self.stack();
        let side = stack.validate(image)?;
        let c0 = self.widths[0];
        let mut layers: Vec<Layer> =
            vec![Basis::new(self.latent_dim, c0, [side, side], rng, device)?.into()];
        layers.extend(stack.blocks(c0, rng, device)?);
        for pair in self.widths.windows(2) {
            let [c_in, c_out] = [pair[0], pair[1]];
            if c_in != c_out {
                layers.push(pointwise(c_in, c_out, rng, device)?);
            }
            layers.push(UpsampleBilinear2.into());
            layers.extend(stack.blocks(c_out, rng, device)?);
        }
        let last = *self.widths.last().expect("validated: at least one width");
        layers.push(pointwise(last, image[0], rng, device)?);
        BlockGenerator::new(self.latent_dim, Sequential::new(layers))
    }
}

impl R3ganDiscriminatorConfig {
    fn stack(&self) -> Stack<'_> {
        Stack {
            prefix: "discriminator",
            widths: &self.widths,
            blocks: self.blocks,
            expansion: self.expansion,
            group_width: self.group_width,
        }
    }

    /// Checks the sizes for images `[channels, height, width]`.
    pub fn validate(&self, image: [usize; 3]) -> Result<(), ModelError> {
        self.stack().validate(image).map(|_| ())
    }

    /// The critic `[batch, c, h, w] → [batch, 1]`, weights drawn from `rng` in layer order.
    pub fn init(
        &self,
        image: [usize; 3],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<BlockCritic<4>, ModelError> {
        let stack = self.stack();
        let side = stack.validate(image)?;
        let mut layers = vec![pointwise(image[0], self.widths[0], rng, device)?];
        for pair in self.widths.windows(2) {
            let [c_in, c_out] = [pair[0], pair[1]];
            layers.extend(stack.blocks(c_in, rng, device)?);
            layers.push(AvgPool2.into());
            if c_in != c_out {
                layers.push(pointwise(c_in, c_out, rng, device)?);
            }
        }
        let last = *self.widths.last().expect("validated: at least one width");
        layers.extend(stack.blocks(last, rng, device)?);
        let depthwise = Conv2dOptions::new([side, side])
            .with_groups(last)
            .with_bias(false);
        layers.extend([
            Conv2d::msr(last, last, depthwise, 1.0, rng, device)?.into(),
            Flatten.into(),
            Dense::msr(last, 1, false, 1.0, rng, device).into(),
        ]);
        BlockCritic::new(&image, Sequential::new(layers))
    }
}
