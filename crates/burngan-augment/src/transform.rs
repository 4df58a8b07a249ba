//! One drawn augmentation of an image batch `[batch, c, h, w]`: per operation and sample, the
//! parameters drawn on the host, then applied (and transposed) with tensor operations.
//!
//! | operation | T(x) per sample | Aᵀ·g per sample |
//! | --- | --- | --- |
//! | brightness | x + β | g |
//! | saturation | s·x + (1 − s)·mean_c(x) | s·g + (1 − s)·mean_c(g) |
//! | contrast | k·x + (1 − k)·mean(x) | k·g + (1 − k)·mean(g) |
//! | translation by (t_y, t_x) | y[i, j] = x[i + t_y, j + t_x], 0 outside | translation by (−t_y, −t_x) |
//! | cutout | x ⊙ mask | g ⊙ mask |
//!
//! mean_c averages the channels at each pixel, mean all values of the sample; both
//! averaging maps are symmetric, so the colour operations are their own transposes. A
//! translation is a partial permutation of the pixels: its transpose is the opposite shift.
//! The pipeline's VJP applies the operations' transposes in reverse order. An operation not
//! applied to a sample gets its identity parameters (β = 0, s = k = 1, no shift, no
//! rectangle), which these formulas turn into the identity exactly; an operation applied to
//! no sample of the batch is skipped.

use burn::tensor::{Int, Tensor, TensorData};
use burngan_core::HostRng;
use burngan_train::AugmentTransform;

use crate::config::Op;

/// Translation's and cutout's sizes, as fractions of the image's height and width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizes {
    /// The largest shift is ⌊translation·size⌋ pixels along each axis.
    pub translation: f64,
    /// The rectangle is ⌊cutout·h⌋ × ⌊cutout·w⌋ pixels.
    pub cutout: f64,
}

/// The zeroed rectangle of a cutout: rows `top..bottom`, columns `left..right`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// First row.
    pub top: usize,
    /// One past the last row.
    pub bottom: usize,
    /// First column.
    pub left: usize,
    /// One past the last column.
    pub right: usize,
}

/// One operation's parameters for every sample of a batch (identity values where it was not
/// applied).
#[derive(Debug, Clone, PartialEq)]
pub enum OpDraw {
    /// β per sample.
    Brightness(Vec<f32>),
    /// s per sample.
    Saturation(Vec<f32>),
    /// k per sample.
    Contrast(Vec<f32>),
    /// (t_y, t_x) per sample.
    Translation(Vec<[i64; 2]>),
    /// The zeroed rectangle per sample, `None` when none.
    Cutout(Vec<Option<Rect>>),
}

impl OpDraw {
    /// Whether the parameters leave every sample unchanged.
    pub fn is_identity(&self) -> bool {
        match self {
            OpDraw::Brightness(b) => b.iter().all(|&b| b == 0.0),
            OpDraw::Saturation(f) | OpDraw::Contrast(f) => f.iter().all(|&f| f == 1.0),
            OpDraw::Translation(t) => t.iter().all(|&t| t == [0, 0]),
            OpDraw::Cutout(r) => r.iter().all(Option::is_none),
        }
    }

    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            OpDraw::Brightness(b) => {
                let b = per_sample(b, &x);
                x.add(b)
            }
            OpDraw::Saturation(s) => mix(x, s, channel_mean),
            OpDraw::Contrast(k) => mix(x, k, sample_mean),
            OpDraw::Translation(t) => shift(x, t, 1),
            OpDraw::Cutout(r) => {
                let mask = mask(r, &x);
                x.mul(mask)
            }
        }
    }

    fn vjp(&self, g: Tensor<4>) -> Tensor<4> {
        match self {
            OpDraw::Brightness(_) => g,
            OpDraw::Saturation(s) => mix(g, s, channel_mean),
            OpDraw::Contrast(k) => mix(g, k, sample_mean),
            OpDraw::Translation(t) => shift(g, t, -1),
            OpDraw::Cutout(r) => {
                let mask = mask(r, &g);
                g.mul(mask)
            }
        }
    }
}

/// One drawn augmentation of a batch of shape `dims` = `[batch, c, h, w]`: T(x) = A·x + b.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchTransform {
    dims: [usize; 4],
    draws: Vec<OpDraw>,
}

impl BatchTransform {
    /// Draws `ops` for a batch of shape `dims` from `rng`, each applied to each sample with
    /// probability `p`.
    ///
    /// Draw order, per operation in `ops` order: one uniform per sample (applied when it is
    /// below p), then the parameters of every sample, applied or not (so the number of draws
    /// does not depend on p): brightness, saturation and contrast one uniform each;
    /// translation t_y then t_x (`HostRng::index` over 2·⌊f·size⌋ + 1 values); cutout the
    /// centre row then column (over h + 1 − (⌊f·h⌋ mod 2) and w + 1 − (⌊f·w⌋ mod 2) values,
    /// DiffAugment's range).
    pub fn draw(ops: &[Op], p: f64, sizes: Sizes, dims: [usize; 4], rng: &mut HostRng) -> Self {
        let [n, _, h, w] = dims;
        let draws = ops
            .iter()
            .map(|&op| {
                let applied: Vec<bool> = (0..n).map(|_| f64::from(rng.uniform()) < p).collect();
                draw_op(op, &applied, sizes, [h, w], rng)
            })
            .collect();
        Self { dims, draws }
    }

    /// The shape `[batch, c, h, w]` the transform was drawn for.
    pub fn dims(&self) -> [usize; 4] {
        self.dims
    }

    /// Each operation's parameters, in the order they are applied.
    pub fn draws(&self) -> &[OpDraw] {
        &self.draws
    }

    fn check(&self, dims: [usize; 4], what: &str) {
        assert_eq!(
            dims, self.dims,
            "an augmentation drawn for batches of shape {:?} was given {what} of shape {dims:?}; \
             draw one for that shape",
            self.dims
        );
    }
}

impl AugmentTransform<4> for BatchTransform {
    /// T(x). Panics when `x` does not have the shape the transform was drawn for (a
    /// programming error: the trainer draws one per batch).
    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        self.check(x.dims(), "a batch");
        self.draws
            .iter()
            .filter(|d| !d.is_identity())
            .fold(x, |x, draw| draw.apply(x))
    }

    /// Aᵀ·g, the operations' transposes in reverse order. Panics as [`apply`](Self::apply).
    fn vjp(&self, g: Tensor<4>) -> Tensor<4> {
        self.check(g.dims(), "a gradient");
        self.draws
            .iter()
            .rev()
            .filter(|d| !d.is_identity())
            .fold(g, |g, draw| draw.vjp(g))
    }
}

/// ⌊fraction·size⌋.
fn span(size: usize, fraction: f64) -> usize {
    (size as f64 * fraction).floor() as usize
}

fn draw_op(
    op: Op,
    applied: &[bool],
    sizes: Sizes,
    [h, w]: [usize; 2],
    rng: &mut HostRng,
) -> OpDraw {
    let factor = |rng: &mut HostRng, map: fn(f32) -> f32, identity: f32| -> Vec<f32> {
        applied
            .iter()
            .map(|&on| {
                let u = rng.uniform();
                if on { map(u) } else { identity }
            })
            .collect()
    };
    match op {
        Op::Brightness => OpDraw::Brightness(factor(rng, |u| u - 0.5, 0.0)),
        Op::Saturation => OpDraw::Saturation(factor(rng, |u| u * 2.0, 1.0)),
        Op::Contrast => OpDraw::Contrast(factor(rng, |u| u + 0.5, 1.0)),
        Op::Translation => {
            let (sy, sx) = (span(h, sizes.translation), span(w, sizes.translation));
            let offset = |rng: &mut HostRng, s: usize| rng.index(2 * s + 1) as i64 - s as i64;
            OpDraw::Translation(
                applied
                    .iter()
                    .map(|&on| {
                        let t = [offset(rng, sy), offset(rng, sx)];
                        if on { t } else { [0, 0] }
                    })
                    .collect(),
            )
        }
        Op::Cutout => {
            let (ch, cw) = (span(h, sizes.cutout), span(w, sizes.cutout));
            OpDraw::Cutout(
                applied
                    .iter()
                    .map(|&on| {
                        let cy = rng.index(h + 1 - ch % 2);
                        let cx = rng.index(w + 1 - cw % 2);
                        on.then(|| cutout_rect(cy, cx, [ch, cw], [h, w])).flatten()
                    })
                    .collect(),
            )
        }
    }
}

/// The rectangle of side `[ch, cw]` whose centre (DiffAugment's convention: first row
/// `cy − ⌊ch/2⌋`) is `(cy, cx)`, cropped to the `[h, w]` image; `None` when empty.
fn cutout_rect(cy: usize, cx: usize, [ch, cw]: [usize; 2], [h, w]: [usize; 2]) -> Option<Rect> {
    let start = |c: usize, side: usize| c as i64 - (side / 2) as i64;
    let (y0, x0) = (start(cy, ch), start(cx, cw));
    let rect = Rect {
        top: y0.max(0) as usize,
        bottom: (y0 + ch as i64).clamp(0, h as i64) as usize,
        left: x0.max(0) as usize,
        right: (x0 + cw as i64).clamp(0, w as i64) as usize,
    };
    (rect.top < rect.bottom && rect.left < rect.right).then_some(rect)
}

/// `values` (one per sample) as a `[batch, 1, 1, 1]` tensor beside `like`, in its precision.
fn per_sample(values: &[f32], like: &Tensor<4>) -> Tensor<4> {
    let data = TensorData::new(values.to_vec(), [values.len(), 1, 1, 1]);
    Tensor::<4>::from_data(data, &like.device()).cast(like.dtype())
}

/// f·x + (1 − f)·mean(x), f per sample; 1 − f is computed on the host.
fn mix(x: Tensor<4>, f: &[f32], mean: fn(Tensor<4>) -> Tensor<4>) -> Tensor<4> {
    let rest: Vec<f32> = f.iter().map(|f| 1.0 - f).collect();
    let (f, rest) = (per_sample(f, &x), per_sample(&rest, &x));
    let m = mean(x.clone());
    x.mul(f).add(m.mul(rest))
}

/// The mean over channels at each pixel, `[batch, 1, h, w]`.
fn channel_mean(x: Tensor<4>) -> Tensor<4> {
    x.mean_dim(1)
}

/// The mean over all values of each sample, `[batch, 1, 1, 1]`.
fn sample_mean(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c * h * w]).mean_dim(1).reshape([n, 1, 1, 1])
}

/// y[i, j] = x[i + sign·t_y, j + sign·t_x] per sample, 0 outside: a gather from the
/// flattened image with one zero appended.
fn shift(x: Tensor<4>, t: &[[i64; 2]], sign: i64) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let hw = h * w;
    let mut index = Vec::with_capacity(n * hw);
    for &[ty, tx] in t {
        for i in 0..h as i64 {
            for j in 0..w as i64 {
                let (si, sj) = (i + sign * ty, j + sign * tx);
                let inside = (0..h as i64).contains(&si) && (0..w as i64).contains(&sj);
                index.push(if inside {
                    si * w as i64 + sj
                } else {
                    hw as i64
                });
            }
        }
    }
    let device = x.device();
    let index =
        Tensor::<3, Int>::from_data(TensorData::new(index, [n, 1, hw]), &device).repeat_dim(1, c);
    let zero = Tensor::<3>::zeros([n, c, 1], &device).cast(x.dtype());
    Tensor::cat(vec![x.reshape([n, c, hw]), zero], 2)
        .gather(2, index)
        .reshape([n, c, h, w])
}

/// 1 outside each sample's rectangle, 0 inside: `[batch, 1, h, w]` beside `like`.
fn mask(rects: &[Option<Rect>], like: &Tensor<4>) -> Tensor<4> {
    let [n, _, h, w] = like.dims();
    let mut values = vec![1.0f32; n * h * w];
    for (s, rect) in rects.iter().enumerate() {
        let Some(r) = rect else { continue };
        for i in r.top..r.bottom {
            let row = s * h * w + i * w;
            values[row + r.left..row + r.right].fill(0.0);
        }
    }
    let data = TensorData::new(values, [n, 1, h, w]);
    Tensor::<4>::from_data(data, &like.device()).cast(like.dtype())
}
