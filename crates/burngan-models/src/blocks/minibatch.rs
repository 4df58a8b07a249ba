//! [`MinibatchStdDev`]: StyleGAN's minibatch standard-deviation layer, the one block whose
//! value for a sample depends on the other samples of its group, with the exact VJP of the
//! whole batch.

use burn::module::Module;
use burn::tensor::Tensor;

use super::{Block, Cache, CacheKind, Features, wrong_cache};
use crate::ModelError;

/// The minibatch standard deviation (Karras et al. 2018, as in StyleGAN2): the batch is split
/// into groups of `group` samples (sample n belongs to group n mod (batch/group), StyleGAN's
/// layout), the standard deviation √(var + 1e-8) of each value over its group's samples is
/// averaged over `[c, h, w]`, and that one number is appended to each of the group's samples
/// as a constant extra channel: `[batch, c, h, w] → [batch, c + 1, h, w]`.
///
/// When the batch is not a multiple of `group`, the largest divisor of the batch not above
/// `group` is used (StyleGAN uses min(group, batch) and requires divisibility).
///
/// Its VJP is the exact ∂(Σ gᵀy)/∂x of the whole batch, cross-sample terms included — what
/// PyTorch's `autograd.grad(D(x).sum(), x)` gives and what StyleGAN2's R1 penalises: with
/// Gₘ the extra channel's gradient summed over the positions and over group m's samples,
/// x̄ the group mean and s the standard deviation, ∂/∂x = g[:c] + Gₘ·(x − x̄)/(group·c·h·w·s).
#[derive(Module, Debug)]
pub struct MinibatchStdDev {
    /// Samples per group (StyleGAN2: 4).
    #[module(skip)]
    pub group: usize,
}

impl MinibatchStdDev {
    /// Groups of `group` samples (at least 1).
    pub fn new(group: usize) -> Self {
        Self {
            group: group.max(1),
        }
    }

    /// The group size used for a batch of `batch` samples.
    fn group_for(&self, batch: usize) -> usize {
        (1..=self.group.min(batch).max(1))
            .rev()
            .find(|g| batch.is_multiple_of(*g))
            .unwrap_or(1)
    }
}

/// What the VJP needs: x − x̄ `[group, m, c·h·w]` and s `[1, m, c·h·w]`.
#[derive(Debug, Clone)]
pub(crate) struct StdCache {
    centred: Tensor<3>,
    std: Tensor<3>,
}

impl Block for MinibatchStdDev {
    fn forward_cached(&self, x: Features, _iterate: bool) -> (Features, Cache) {
        let x = x.into_maps("MinibatchStdDev");
        let [n, c, h, w] = x.dims();
        let g = self.group_for(n);
        let m = n / g;
        // Rank-3 views only: sample n = i·m + j is member i of group j.
        let grouped = x.clone().reshape([g, m, c * h * w]);
        let centred = grouped.clone().sub(grouped.mean_dim(0));
        let std = centred
            .clone()
            .mul(centred.clone())
            .mean_dim(0)
            .add_scalar(1e-8)
            .sqrt(); // [1, m, c·h·w]
        let per_group = std.clone().mean_dim(2); // [1, m, 1]
        let extra = per_group
            .reshape([1, m, 1])
            .expand([g, m, h * w])
            .reshape([n, 1, h, w]);
        let y = Tensor::cat(vec![x, extra], 1);
        let cache = StdCache { centred, std };
        (
            Features::Maps(y),
            Cache(CacheKind::MinibatchStd(Box::new(cache))),
        )
    }

    fn input_vjp(&self, cache: Cache, grad: Features) -> Features {
        let CacheKind::MinibatchStd(cache) = cache.0 else {
            wrong_cache("MinibatchStdDev")
        };
        let grad = grad.into_maps("MinibatchStdDev");
        let [n, c1, h, w] = grad.dims();
        let c = c1 - 1;
        let [g, m, _] = cache.centred.dims();
        let through = grad.clone().slice([0..n, 0..c, 0..h, 0..w]);
        let extra = grad.slice([0..n, c..c1, 0..h, 0..w]);
        // Gₘ: the extra channel's gradient summed over positions and the group's samples.
        let per_group = extra.reshape([g, m, h * w]).sum_dim(2).sum_dim(0); // [1, m, 1]
        // A product with 1/(g·c·h·w), not a division: burn-autodiff 0.22.1 differentiates
        // `div_scalar` with the reciprocal in f32 (`1.0 / rhs.elem::<f32>()`), which cost the
        // penalty's parameter gradients 4e-10 relative in f64; `mul_scalar` keeps the scalar.
        let scale = per_group.mul_scalar(1.0 / (g * c * h * w) as f64);
        let spread = cache.centred.div(cache.std).mul(scale); // [g, m, c·h·w]
        Features::Maps(through.add(spread.reshape([n, c, h, w])))
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        match *input {
            [c, h, w] => Ok(vec![c + 1, h, w]),
            _ => Err(ModelError::BadShape {
                message: format!(
                    "the minibatch standard deviation takes feature maps [c, h, w], got a \
                     per-sample shape {input:?}"
                ),
            }),
        }
    }

    /// False: each sample's statistic comes from its group of the batch.
    fn splits_over_batches(&self) -> bool {
        false
    }
}
