//! Element-wise f32 maps split across rayon's threads (burngan's patch, see PATCH.md).
//!
//! The unary, scalar and non-SIMD binary kernels of this crate run on one thread whatever the
//! tensor's size. For a contiguous f32 tensor of at least [`PARALLEL_THRESHOLD`] elements these
//! helpers run the same per-element closure over chunks of [`CHUNK`] elements on rayon's pool.
//! Each element is computed by the same expression as on the sequential path, so results are
//! bit-identical; only the thread that computes an element changes. Everything else (small,
//! strided, broadcast or non-f32 tensors) is handed back to the caller's sequential path.

use alloc::vec::Vec;
use core::mem::MaybeUninit;
use burn_backend::DType;
use burn_std::{Bytes, Shape};
use rayon::prelude::*;

use crate::{FlexTensor, Layout};

/// The smallest tensor (elements) split across threads: 64 Ki f32 (256 KiB), two chunks. The
/// crate's general `ops::PARALLEL_THRESHOLD` (256 Ki) left `ring8-mlp`'s 128 Ki-element
/// activations on one thread; at 64 Ki that workload ran 1.05× faster with two threads and the
/// others were level (docs/benchmarks.md of burngan).
pub(crate) const PARALLEL_THRESHOLD: usize = 64 * 1024;

/// Elements per rayon task: 32 Ki f32 (128 KiB), large enough that a task's work dwarfs the
/// cost of handing it to another thread.
pub(crate) const CHUNK: usize = 32 * 1024;

/// How a map is split across threads: tensors of at least `threshold` elements, in tasks of
/// `chunk` elements.
#[derive(Clone, Copy)]
pub(crate) struct Split {
    threshold: usize,
    chunk: usize,
}

/// The split of cheap maps (a few instructions per element, vectorised):
/// [`PARALLEL_THRESHOLD`] and [`CHUNK`].
pub(crate) const CHEAP: Split = Split {
    threshold: PARALLEL_THRESHOLD,
    chunk: CHUNK,
};

/// The split of maps that call a libm function per element (exp, ln, tanh, sigmoid, the
/// trigonometric functions): from 8 Ki elements, in tasks of 4 Ki. Such a function takes tens of
/// nanoseconds per value where a cheap map takes a fraction of one, so a 4 Ki task is tens of
/// microseconds of work — far above the cost of handing it to another thread — and a DCGAN's
/// `tanh` over a 64 × 784 batch (49 Ki values, below [`PARALLEL_THRESHOLD`]) is shared.
pub(crate) const COSTLY: Split = Split {
    threshold: 8 * 1024,
    chunk: 4 * 1024,
};

/// The `[start, end)` storage range of a contiguous tensor large enough to split.
fn splittable(tensor: &FlexTensor, threshold: usize) -> Option<(usize, usize)> {
    // With one thread the sequential paths are faster (they vectorise; a one-thread pool only
    // adds the hand-over).
    if tensor.dtype() != DType::F32 || rayon::current_num_threads() < 2 {
        return None;
    }
    let (start, end) = tensor.layout().contiguous_offsets()?;
    (end - start >= threshold).then_some((start, end))
}

fn contiguous_f32(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(shape),
        DType::F32,
    )
}

/// `op` applied to every element of a contiguous f32 tensor of at least
/// [`PARALLEL_THRESHOLD`] elements, in place when the tensor is uniquely owned and starts at
/// offset 0, otherwise into a new contiguous tensor of the same shape. `Err(tensor)`, untouched,
/// when the tensor is not such a tensor.
pub(crate) fn unary_f32<Op>(tensor: FlexTensor, op: Op) -> Result<FlexTensor, FlexTensor>
where
    Op: Fn(f32) -> f32 + Sync + Send,
{
    unary_f32_split(tensor, op, CHEAP)
}

/// [`unary_f32`] for tensors of at least `split.threshold` elements, in tasks of
/// `split.chunk` elements.
pub(crate) fn unary_f32_split<Op>(
    mut tensor: FlexTensor,
    op: Op,
    split: Split,
) -> Result<FlexTensor, FlexTensor>
where
    Op: Fn(f32) -> f32 + Sync + Send,
{
    let Some((start, end)) = splittable(&tensor, split.threshold) else {
        return Err(tensor);
    };
    if start == 0 && tensor.is_unique() {
        let storage: &mut [f32] = tensor.storage_mut();
        storage[..end]
            .par_chunks_mut(split.chunk)
            .for_each(|chunk| chunk.iter_mut().for_each(|x| *x = op(*x)));
        return Ok(tensor);
    }
    let source: &[f32] = &tensor.storage()[start..end];
    let values = filled(source.len(), split.chunk, |offset, out| {
        let input = &source[offset..offset + out.len()];
        out.iter_mut().zip(input).for_each(|(o, &x)| {
            o.write(op(x));
        });
    });
    Ok(contiguous_f32(values, tensor.layout().shape().clone()))
}

/// `op(lhs, rhs)` element by element for two contiguous f32 tensors of the same shape and at
/// least [`PARALLEL_THRESHOLD`] elements: written into `lhs` when it is uniquely owned at offset
/// 0, else into `rhs` when that is, else into a new tensor. `Err((lhs, rhs))`, untouched,
/// otherwise (broadcast operands are strided and fall through).
pub(crate) fn binary_f32<Op>(
    mut lhs: FlexTensor,
    mut rhs: FlexTensor,
    op: Op,
) -> Result<FlexTensor, (FlexTensor, FlexTensor)>
where
    Op: Fn(f32, f32) -> f32 + Sync + Send,
{
    let (Some((l_start, l_end)), Some((r_start, r_end))) = (
        splittable(&lhs, PARALLEL_THRESHOLD),
        splittable(&rhs, PARALLEL_THRESHOLD),
    )
    else {
        return Err((lhs, rhs));
    };
    if l_end - l_start != r_end - r_start || lhs.layout().shape() != rhs.layout().shape() {
        return Err((lhs, rhs));
    }
    if l_start == 0 && lhs.is_unique() {
        let r: &[f32] = &rhs.storage()[r_start..r_end];
        let l: &mut [f32] = &mut lhs.storage_mut()[..l_end];
        l.par_chunks_mut(CHUNK)
            .zip(r.par_chunks(CHUNK))
            .for_each(|(l, r)| l.iter_mut().zip(r).for_each(|(a, &b)| *a = op(*a, b)));
        return Ok(lhs);
    }
    if r_start == 0 && rhs.is_unique() {
        let l: &[f32] = &lhs.storage()[l_start..l_end];
        let r: &mut [f32] = &mut rhs.storage_mut()[..r_end];
        r.par_chunks_mut(CHUNK)
            .zip(l.par_chunks(CHUNK))
            .for_each(|(r, l)| r.iter_mut().zip(l).for_each(|(b, &a)| *b = op(a, *b)));
        return Ok(rhs);
    }
    let l: &[f32] = &lhs.storage()[l_start..l_end];
    let r: &[f32] = &rhs.storage()[r_start..r_end];
    let values = filled(l.len(), CHUNK, |offset, out| {
        let (l, r) = (&l[offset..offset + out.len()], &r[offset..offset + out.len()]);
        out.iter_mut()
            .zip(l.iter().zip(r))
            .for_each(|(o, (&a, &b))| {
                o.write(op(a, b));
            });
    });
    Ok(contiguous_f32(values, lhs.layout().shape().clone()))
}

/// A `Vec<f32>` of `len` elements written `chunk` elements at a time on rayon's threads:
/// `fill(offset, out)` writes every element of `out`, the elements `offset..offset + out.len()`. The buffer is
/// allocated once at its final size and each chunk is a plain sequential loop that the compiler
/// vectorises, where `par_iter().map().collect()` writes element by element.
fn filled<F>(len: usize, chunk: usize, fill: F) -> Vec<f32>
where
    F: Fn(usize, &mut [MaybeUninit<f32>]) + Sync + Send,
{
    let mut values: Vec<f32> = Vec::with_capacity(len);
    values.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(index, out)| fill(index * chunk, out));
    // SAFETY: the chunks cover `0..len` and `fill` writes every element of its chunk (both
    // callers zip the chunk with an input slice of the same length).
    unsafe { values.set_len(len) };
    values
}
