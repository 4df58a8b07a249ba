//! Spectral normalisation in the file: rewrites a spectrally normalised layer's weight and its
//! power-iteration state into the tensors `torch.nn.utils.spectral_norm` keeps for the wrapped
//! module — the parameter `weight_orig` (the raw weight) and the buffers `weight_u` and
//! `weight_v` — following the rules in the crate documentation.
//!
//! A layer is the struct that holds a `SpectralNorm` (burngan-models' power-iteration state,
//! fields `u` and, under the PyTorch convention, `v`); its weight is the layer's `weight`
//! field, or the `weight` of its `linear` field (a `Linear`, written transposed). PyTorch views
//! the weight `[rows, …]` as the matrix `[rows, cols]` (`dim=0`), so `weight_u` has `rows`
//! entries and `weight_v` `cols`.

use std::collections::{BTreeMap, BTreeSet};

use crate::{ExportError, PytorchTensor, TensorKind, Values};

/// How the buffers `weight_u` and `weight_v` of a spectrally normalised layer were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpectralVectors {
    /// The layer follows the PyTorch convention (`spectral_convention = "pytorch"`): `weight_u`
    /// and `weight_v` are its u and v, bit for bit, so the PyTorch module reproduces the layer
    /// in evaluation mode and in its next training-mode forwards.
    Kept,
    /// The layer follows the burngan convention (the default), whose state is u alone and whose
    /// σ is ‖Mᵀu‖ on its matrix view M. The vectors are derived so that PyTorch's
    /// evaluation-mode σ = `weight_u`ᵀ·W·`weight_v` equals that σ (in exact arithmetic): the
    /// PyTorch module reproduces the layer in evaluation mode only. In training mode PyTorch
    /// iterates its own convention, whose σ differs from burngan's (see burngan-models'
    /// `SpectralConvention`).
    EvaluationEquivalent,
}

/// A spectrally normalised layer as written to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpectralLayer {
    /// The Burn path of the layer (the struct holding the `SpectralNorm`), e.g. `convs.0` or
    /// `hidden`.
    pub layer: String,
    /// The PyTorch module that `spectral_norm` wraps, the prefix of its `weight_orig`,
    /// `weight_u` and `weight_v`: e.g. `convs.0`, or `hidden.linear` for a dense layer.
    pub module: String,
    /// Whether u and v are the layer's own or derived.
    pub vectors: SpectralVectors,
}

/// One vector of a layer's power-iteration state, as read.
#[derive(Debug, Clone)]
pub(crate) struct Vector {
    /// Its Burn path, e.g. `convs.0.spectral.u`.
    pub burn_path: String,
    /// Its values.
    pub values: Vec<f32>,
}

/// The power-iteration state of one layer, as read: u, and v under the PyTorch convention.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    /// u (always present in a `SpectralNorm`).
    pub u: Option<Vector>,
    /// v (PyTorch convention only).
    pub v: Option<Vector>,
}

/// `prefix.field`, or `field` for the root module (empty prefix).
pub(crate) fn child(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

/// Rewrites the weight of every layer in `states` (keyed by the layer's Burn path) as
/// `weight_orig` and adds its `weight_u` and `weight_v`. `transposed` holds the names of the
/// `Linear` weights that were transposed to PyTorch's `[d_out, d_in]`.
pub(crate) fn rewrite(
    tensors: &mut Vec<PytorchTensor>,
    states: BTreeMap<String, State>,
    transposed: &BTreeSet<String>,
) -> Result<Vec<SpectralLayer>, ExportError> {
    states
        .into_iter()
        .map(|(layer, state)| rewrite_layer(tensors, &layer, state, transposed))
        .collect()
}

/// The index of the weight the state of `layer` normalises: `layer.weight`, else
/// `layer.linear.weight`.
fn weight_index(tensors: &[PytorchTensor], layer: &str) -> Result<usize, ExportError> {
    ["weight", "linear.weight"]
        .into_iter()
        .find_map(|field| {
            let name = child(layer, field);
            tensors.iter().position(|t| t.name == name)
        })
        .ok_or_else(|| ExportError::SpectralWeight {
            layer: layer.to_string(),
        })
}

/// An error about the state of `layer`.
fn state_error(layer: &str, message: String) -> ExportError {
    ExportError::SpectralState {
        layer: layer.to_string(),
        message,
    }
}

/// Checks that a vector of the state of `layer` has `expected` entries.
fn check_len(layer: &str, vector: &Vector, name: &str, expected: usize) -> Result<(), ExportError> {
    let found = vector.values.len();
    if found == expected {
        Ok(())
    } else {
        Err(state_error(
            layer,
            format!(
                "{} has {found} entries, but PyTorch's {name} needs {expected}",
                vector.burn_path
            ),
        ))
    }
}

/// Rewrites one layer (see [`rewrite`]).
fn rewrite_layer(
    tensors: &mut Vec<PytorchTensor>,
    layer: &str,
    state: State,
    transposed: &BTreeSet<String>,
) -> Result<SpectralLayer, ExportError> {
    let index = weight_index(tensors, layer)?;
    let weight = &tensors[index];
    let (rows, cols) = match weight.shape.split_first() {
        Some((&rows, rest)) if !rest.is_empty() => (rows, rest.iter().product::<usize>()),
        _ => {
            return Err(state_error(
                layer,
                format!(
                    "its weight {} has shape {:?}; spectral norm needs a matrix or a kernel",
                    weight.name, weight.shape
                ),
            ));
        }
    };
    let Some(w) = weight.values.as_f32() else {
        return Err(state_error(
            layer,
            format!("its weight {} is not a float tensor", weight.name),
        ));
    };
    let Some(u) = state.u else {
        return Err(state_error(layer, "its SpectralNorm has no u".to_string()));
    };
    let (weight_u, weight_v, vectors) = match state.v {
        Some(v) => {
            check_len(layer, &u, "weight_u", rows)?;
            check_len(layer, &v, "weight_v", cols)?;
            (u, v, SpectralVectors::Kept)
        }
        // A dense layer's burngan matrix view is Burn's [d_in, d_out]: u is PyTorch's v side.
        None if transposed.contains(&weight.name) => {
            check_len(layer, &u, "weight_v (u of the burngan convention)", cols)?;
            let derived = Vector {
                burn_path: u.burn_path.clone(),
                values: normalized_product(w, rows, cols, &u.values, false),
            };
            (derived, u, SpectralVectors::EvaluationEquivalent)
        }
        None => {
            check_len(layer, &u, "weight_u (u of the burngan convention)", rows)?;
            let derived = Vector {
                burn_path: u.burn_path.clone(),
                values: normalized_product(w, rows, cols, &u.values, true),
            };
            (u, derived, SpectralVectors::EvaluationEquivalent)
        }
    };
    let weight = &mut tensors[index];
    let module = weight
        .name
        .rsplit_once('.')
        .map_or("", |(p, _)| p)
        .to_string();
    weight.name = child(&module, "weight_orig");
    for (field, vector) in [("weight_u", weight_u), ("weight_v", weight_v)] {
        tensors.push(PytorchTensor {
            name: child(&module, field),
            shape: vec![vector.values.len()],
            burn_path: Some(vector.burn_path),
            values: Values::F32(vector.values),
            kind: TensorKind::Buffer,
        });
    }
    Ok(SpectralLayer {
        layer: layer.to_string(),
        module,
        vectors,
    })
}

/// x/max(‖x‖₂, 1e-12) (PyTorch's `F.normalize`) for x = Wᵀ·a (`transpose`, `a` has `rows`
/// entries) or W·a (`a` has `cols` entries), with W `[rows, cols]` row-major; computed in f64
/// and rounded to f32 once.
fn normalized_product(w: &[f32], rows: usize, cols: usize, a: &[f32], transpose: bool) -> Vec<f32> {
    let x: Vec<f64> = if transpose {
        (0..cols)
            .map(|c| {
                (0..rows)
                    .map(|r| f64::from(w[r * cols + c]) * f64::from(a[r]))
                    .sum()
            })
            .collect()
    } else {
        (0..rows)
            .map(|r| {
                (0..cols)
                    .map(|c| f64::from(w[r * cols + c]) * f64::from(a[c]))
                    .sum()
            })
            .collect()
    };
    let norm = x.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    x.iter().map(|x| (x / norm) as f32).collect()
}
