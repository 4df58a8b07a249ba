//! Composition that derives the chain: [`Sequential`] runs its blocks in order and their input
//! VJPs in reverse; [`Residual`] adds a main path and an identity or learned shortcut and sums
//! their VJPs.

use burn::module::Module;
use burn::tensor::Tensor;

use super::{Block, Cache, CacheKind, Features, Layer, wrong_cache};
use crate::ModelError;

/// Blocks applied in order, `[batch, …] → [batch, …]`. Its input VJP runs the blocks' VJPs in
/// reverse with the caches of its forward. A Burn module: its record lists the blocks' records
/// (`blocks.0`, `blocks.1`, …).
#[derive(Module, Debug)]
pub struct Sequential {
    /// The blocks, input side first.
    pub blocks: Vec<Layer>,
}

impl Sequential {
    /// The blocks in order; anything convertible into a [`Layer`] (a [`Dense`](crate::Dense),
    /// a [`Conv2d`](super::Conv2d), a [`Nonlinearity`](super::Nonlinearity), …) can be given
    /// with `.into()`.
    pub fn new(blocks: Vec<Layer>) -> Self {
        Self { blocks }
    }

    /// The blocks followed by `block`.
    pub fn then(mut self, block: impl Into<Layer>) -> Self {
        self.blocks.push(block.into());
        self
    }
}

impl Block for Sequential {
    fn forward_cached(&self, x: Features, iterate: bool) -> (Features, Cache) {
        let mut caches = Vec::with_capacity(self.blocks.len());
        let mut x = x;
        for block in &self.blocks {
            let (y, cache) = block.forward_cached(x, iterate);
            caches.push(cache);
            x = y;
        }
        (x, Cache(CacheKind::Sequence(caches)))
    }

    fn input_vjp(&self, cache: Cache, grad: Features) -> Features {
        let CacheKind::Sequence(caches) = cache.0 else {
            wrong_cache("Sequential")
        };
        assert_eq!(
            caches.len(),
            self.blocks.len(),
            "Sequential: cache of another container"
        );
        self.blocks
            .iter()
            .zip(caches)
            .rev()
            .fold(grad, |g, (block, cache)| block.input_vjp(cache, g))
    }

    /// Each block's output shape in turn; errors name the block's index.
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let mut shape = input.to_vec();
        for (i, block) in self.blocks.iter().enumerate() {
            shape = block
                .output_shape(&shape)
                .map_err(|error| ModelError::BadShape {
                    message: format!("blocks.{i}: {error}"),
                })?;
        }
        Ok(shape)
    }

    fn sigmas(&self, prefix: &str, out: &mut Vec<(String, Tensor<1>)>) {
        for (i, block) in self.blocks.iter().enumerate() {
            block.sigmas(&format!("{prefix}.{i}"), out);
        }
    }

    fn splits_over_batches(&self) -> bool {
        self.blocks.iter().all(Block::splits_over_batches)
    }

    /// The blocks' multiply-adds, each at the shape it receives.
    fn multiply_adds(&self, input: &[usize]) -> f64 {
        let mut shape = input.to_vec();
        let mut total = 0.0;
        for block in &self.blocks {
            total += block.multiply_adds(&shape);
            match block.output_shape(&shape) {
                Ok(next) => shape = next,
                Err(_) => return total,
            }
        }
        total
    }

    fn unsupported_layer(&self) -> Option<String> {
        self.blocks
            .iter()
            .enumerate()
            .find_map(|(i, block)| Some(format!("blocks.{i}.{}", block.unsupported_layer()?)))
    }
}

/// A residual block main(x) + shortcut(x), where the shortcut is the identity or a learned
/// [`Sequential`] (a 1×1 convolution or a dense layer, possibly with pooling). Both paths must
/// give the same shape. Its input VJP is the sum of the two paths' VJPs (the gradient itself
/// for the identity).
#[derive(Module, Debug)]
pub struct Residual {
    /// The main path.
    pub main: Sequential,
    /// The learned shortcut; `None` for the identity.
    pub shortcut: Option<Sequential>,
}

impl Residual {
    /// x + main(x).
    pub fn identity(main: Sequential) -> Self {
        Self {
            main,
            shortcut: None,
        }
    }

    /// shortcut(x) + main(x).
    pub fn learned(main: Sequential, shortcut: Sequential) -> Self {
        Self {
            main,
            shortcut: Some(shortcut),
        }
    }
}

impl Block for Residual {
    fn forward_cached(&self, x: Features, iterate: bool) -> (Features, Cache) {
        let (y, main) = self.main.forward_cached(x.clone(), iterate);
        let (skip, shortcut) = match &self.shortcut {
            Some(path) => {
                let (skip, cache) = path.forward_cached(x, iterate);
                (skip, Some(Box::new(cache)))
            }
            None => (x, None),
        };
        (
            y + skip,
            Cache(CacheKind::Residual(Box::new(main), shortcut)),
        )
    }

    fn input_vjp(&self, cache: Cache, grad: Features) -> Features {
        let CacheKind::Residual(main, shortcut) = cache.0 else {
            wrong_cache("Residual")
        };
        let through_main = self.main.input_vjp(*main, grad.clone());
        let through_shortcut = match (&self.shortcut, shortcut) {
            (Some(path), Some(cache)) => path.input_vjp(*cache, grad),
            (None, None) => grad,
            _ => wrong_cache("Residual"),
        };
        through_main + through_shortcut
    }

    /// The main path's shape, which the shortcut's must equal.
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let main = self
            .main
            .output_shape(input)
            .map_err(|error| ModelError::BadShape {
                message: format!("main.{error}"),
            })?;
        let shortcut = match &self.shortcut {
            Some(path) => path
                .output_shape(input)
                .map_err(|error| ModelError::BadShape {
                    message: format!("shortcut.{error}"),
                })?,
            None => input.to_vec(),
        };
        if main != shortcut {
            return Err(ModelError::BadShape {
                message: format!(
                    "a residual block's main path gives {main:?} per sample but its shortcut \
                     {shortcut:?}; give the shortcut a 1×1 convolution, a dense layer or pooling \
                     that match the main path"
                ),
            });
        }
        Ok(main)
    }

    fn sigmas(&self, prefix: &str, out: &mut Vec<(String, Tensor<1>)>) {
        self.main.sigmas(&format!("{prefix}.main"), out);
        if let Some(path) = &self.shortcut {
            path.sigmas(&format!("{prefix}.shortcut"), out);
        }
    }

    fn splits_over_batches(&self) -> bool {
        self.main.splits_over_batches()
            && self
                .shortcut
                .as_ref()
                .is_none_or(Block::splits_over_batches)
    }

    /// Both paths' multiply-adds.
    fn multiply_adds(&self, input: &[usize]) -> f64 {
        let shortcut = self
            .shortcut
            .as_ref()
            .map_or(0.0, |s| s.multiply_adds(input));
        self.main.multiply_adds(input) + shortcut
    }

    fn unsupported_layer(&self) -> Option<String> {
        let main = self.main.unsupported_layer().map(|l| format!("main.{l}"));
        let shortcut = || {
            let layer = self.shortcut.as_ref()?.unsupported_layer()?;
            Some(format!("shortcut.{layer}"))
        };
        main.or_else(shortcut)
    }
}
