//! [`BlockGenerator`]: a generator composed from blocks (a generator needs no input gradient;
//! the blocks give it the same composition and shape checks as a [`BlockCritic`](super::BlockCritic)).

use burn::module::Module;
use burn::tensor::Tensor;
use burngan_core::Generator;

use super::{Block, Features, Sequential};
use crate::ModelError;

/// A generator `[batch, latent_dim] → [batch, …]` of rank `D` (2 for vectors, 4 for images)
/// made of one [`Sequential`] body, e.g. Dense → Unflatten → (UpsampleNearest2 → Conv2d →
/// nonlinearity)* → tanh.
#[derive(Module, Debug)]
pub struct BlockGenerator<const D: usize> {
    /// The blocks, latent side first.
    pub body: Sequential,
    #[module(skip)]
    latent_dim: usize,
    #[module(skip)]
    output: Vec<usize>,
}

impl<const D: usize> BlockGenerator<D> {
    /// A generator from latent codes of `latent_dim` values; errors when a block cannot take
    /// the shape it receives or the body's per-sample output is not of rank `D` − 1 (`[n]`
    /// for `D` = 2, `[c, h, w]` for `D` = 4).
    pub fn new(latent_dim: usize, body: Sequential) -> Result<Self, ModelError> {
        if latent_dim == 0 {
            return Err(ModelError::ZeroSize {
                field: "generator latent_dim".to_string(),
                value: 0,
            });
        }
        let output = body.output_shape(&[latent_dim])?;
        if output.len() + 1 != D {
            return Err(ModelError::BadShape {
                message: format!(
                    "a generator of rank {D} must give samples of rank {}, but its body gives \
                     {output:?}",
                    D - 1
                ),
            });
        }
        Ok(Self {
            body,
            latent_dim,
            output,
        })
    }

    /// The per-sample output shape, `[n]` or `[c, h, w]`.
    pub fn output_shape(&self) -> &[usize] {
        &self.output
    }

    /// Multiply-adds of one forward pass per sample ([`Block::multiply_adds`]).
    pub fn multiply_adds(&self) -> f64 {
        self.body.multiply_adds(&[self.latent_dim])
    }
}

impl Generator<4> for BlockGenerator<4> {
    fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// `[batch, latent_dim] → [batch, c, h, w]`.
    fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        self.body
            .forward(Features::Flat(z))
            .into_maps("BlockGenerator output")
    }
}

impl Generator<2> for BlockGenerator<2> {
    fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// `[batch, latent_dim] → [batch, n]`.
    fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        self.body
            .forward(Features::Flat(z))
            .into_flat("BlockGenerator output")
    }
}
