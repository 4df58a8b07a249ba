//! The blocks at either end of a residual network: [`GlobalSumPool`] (SNGAN's critic head,
//! feature maps to one vector per sample), [`Basis`] (R3GAN's generative basis, a latent code
//! to a learned constant feature map scaled per channel) and [`BatchNorm`], which a generator
//! may use and a critic that needs input gradients may not.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};
use burngan_core::HostRng;

use super::{Block, Cache, CacheKind, Features, wrong_cache};
use crate::ModelError;
use crate::init::normal_param;

/// Σ over the spatial positions of each channel, `[batch, c, h, w] → [batch, c]` (SNGAN's
/// "global sum pooling" before the critic's last dense layer). Its VJP spreads each channel's
/// gradient to all h·w positions.
#[derive(Module, Debug)]
pub struct GlobalSumPool;

impl Block for GlobalSumPool {
    fn forward_cached(&self, x: Features, _iterate: bool) -> (Features, Cache) {
        let x = x.into_maps("GlobalSumPool");
        let dims = x.dims();
        let [b, c, h, w] = dims;
        let y = x.reshape([b, c, h * w]).sum_dim(2).reshape([b, c]);
        (Features::Flat(y), Cache(CacheKind::Dims(dims.to_vec())))
    }

    fn input_vjp(&self, cache: Cache, grad: Features) -> Features {
        let CacheKind::Dims(dims) = cache.0 else {
            wrong_cache("GlobalSumPool")
        };
        let [b, c, h, w] = [dims[0], dims[1], dims[2], dims[3]];
        let g = grad.into_flat("GlobalSumPool").reshape([b, c, 1, 1]);
        Features::Maps(g.expand([b, c, h, w]))
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        match *input {
            [c, _, _] => Ok(vec![c]),
            _ => Err(ModelError::BadShape {
                message: format!(
                    "global sum pooling takes feature maps [c, h, w], got a per-sample shape \
                     {input:?}"
                ),
            }),
        }
    }
}

/// R3GAN's generative basis: a latent code `[batch, d]` to feature maps `[batch, c, h, w]`,
/// y[b, k, i, j] = basis[k, i, j] · (z·W)[b, k], with a learned constant basis `[c, h, w]`
/// (from N(0, 1)) and a dense map W `[d, c]` without bias (from N(0, 1/d)). Its VJP is
/// (Σ_ij g ⊙ basis)·Wᵀ.
#[derive(Module, Debug)]
pub struct Basis {
    /// The constant maps `[c, h, w]`.
    pub basis: Param<Tensor<3>>,
    /// The per-channel scales' dense map; Burn's layout `[d, c]`, no bias.
    pub linear: Linear,
}

impl Basis {
    /// A basis of `channels` maps of `size` `[h, w]` scaled from a code of `latent_dim`
    /// values; the basis then W are drawn from `rng`. Errors for a zero size.
    pub fn new(
        latent_dim: usize,
        channels: usize,
        size: [usize; 2],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let sizes = [latent_dim, channels, size[0], size[1]];
        let names = ["latent_dim", "channels", "size[0]", "size[1]"];
        if let Some(i) = sizes.iter().position(|&s| s == 0) {
            return Err(ModelError::ZeroSize {
                field: format!("basis {}", names[i]),
                value: 0,
            });
        }
        let basis = normal_param([channels, size[0], size[1]], rng, device);
        let linear = crate::init::normal_linear(latent_dim, channels, false, 1.0, rng, device);
        Ok(Self { basis, linear })
    }
}

impl Block for Basis {
    fn forward_cached(&self, x: Features, _iterate: bool) -> (Features, Cache) {
        let scale = self.linear.forward(x.into_flat("Basis"));
        let [b, c] = scale.dims();
        let [_, h, w] = self.basis.dims();
        let basis = self.basis.val().reshape([1, c, h, w]);
        let y = basis.mul(scale.reshape([b, c, 1, 1]));
        (Features::Maps(y), Cache(CacheKind::Dims(Vec::new())))
    }

    fn input_vjp(&self, _cache: Cache, grad: Features) -> Features {
        let g = grad.into_maps("Basis");
        let [b, c, h, w] = g.dims();
        let basis = self.basis.val().reshape([1, c, h, w]);
        let per_channel = g
            .mul(basis)
            .reshape([b, c, h * w])
            .sum_dim(2)
            .reshape([b, c]);
        Features::Flat(per_channel.matmul(self.linear.weight.val().transpose()))
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let [d, c] = self.linear.weight.dims();
        let [_, h, w] = self.basis.dims();
        match input {
            [n] if *n == d => Ok(vec![c, h, w]),
            _ => Err(ModelError::BadShape {
                message: format!(
                    "a basis takes latent codes of {d} values, got a per-sample shape {input:?}"
                ),
            }),
        }
    }

    /// d · c for the scales, c · h · w for scaling the basis.
    fn multiply_adds(&self, _input: &[usize]) -> f64 {
        let [d, c] = self.linear.weight.dims();
        let [_, h, w] = self.basis.dims();
        (d * c + c * h * w) as f64
    }
}

/// Batch normalisation (PyTorch's `BatchNorm2d`/`BatchNorm1d`: ε = 1e-5, momentum 0.1) of
/// feature maps `[batch, c, h, w]` or vectors `[batch, c]`, for generators (SNGAN's ResNet
/// generator uses it). Its statistics mix the samples of a batch, so the input gradient of one
/// sample is not a function of that sample: a critic containing it reports itself through
/// [`Block::unsupported_layer`], and gradient penalties refuse it before any VJP is taken.
#[derive(Module, Debug)]
pub struct BatchNorm {
    /// Burn's batch norm (γ, β and the running statistics).
    pub norm: burn::nn::BatchNorm,
}

impl BatchNorm {
    /// Batch norm over `channels` channels, γ = 1, β = 0.
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            norm: crate::layers::batch_norm(channels, device),
        }
    }
}

impl Block for BatchNorm {
    fn forward_cached(&self, x: Features, _iterate: bool) -> (Features, Cache) {
        let y = match x {
            Features::Flat(x) => Features::Flat(self.norm.forward(x)),
            Features::Maps(x) => Features::Maps(self.norm.forward(x)),
        };
        (y, Cache(CacheKind::Dims(Vec::new())))
    }

    /// Never called on a checked critic (see [`unsupported_layer`](Block::unsupported_layer));
    /// panics, since no per-sample input gradient exists.
    fn input_vjp(&self, _cache: Cache, _grad: Features) -> Features {
        panic!(
            "BatchNorm mixes the samples of a batch and has no per-sample input gradient; use \
             GroupNorm in a critic that gradient penalties differentiate"
        )
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let [channels] = self.norm.gamma.dims();
        match input.first() {
            Some(&c) if c == channels && matches!(input.len(), 1 | 3) => Ok(input.to_vec()),
            _ => Err(ModelError::BadShape {
                message: format!(
                    "a batch norm over {channels} channels takes [{channels}] or [{channels}, h, \
                     w] per sample, got {input:?}"
                ),
            }),
        }
    }

    fn unsupported_layer(&self) -> Option<String> {
        Some("BatchNorm".to_string())
    }

    fn splits_over_batches(&self) -> bool {
        false
    }
}
