//! The module walk: a [`ModuleVisitor`] that reads every tensor of a Burn module, names it by
//! its dotted module path and applies the PyTorch naming and layout rules listed in the crate
//! documentation.
//!
//! The Burn derive calls `enter_module(field, "Struct:Owner")` before visiting a field, where
//! `Owner` is the struct that *declares* the field (not the field's type); `Vec`, arrays and
//! tuples enter with their index and `"Vec"`, `"Array"`, `"Tuple"`; `Option` enters nothing.
//! So when a tensor is visited, the innermost entry is `(field name, "Struct:Owner")`, and the
//! owner's type name decides the rule (e.g. `("weight", "Struct:Linear")` is a `Linear`
//! weight to transpose).
//!
//! The vectors of a `SpectralNorm` (`u`, `v`) are gathered per layer while walking, because the
//! layer's weight is visited before them; [`Collector::finish`] then rewrites each spectrally
//! normalised layer (see [`crate::spectral`]).

use std::collections::{BTreeMap, BTreeSet};

use burn::module::{ModuleVisitor, Param};
use burn::tensor::{Bool, Int, Tensor};

use crate::spectral::{self, SpectralLayer, State, Vector};
use crate::{ExportError, PytorchTensor, TensorKind, Values};

/// Owner types whose `gamma`/`beta` PyTorch calls `weight`/`bias`.
const NORMS: [&str; 5] = [
    "BatchNorm",
    "LayerNorm",
    "GroupNorm",
    "InstanceNorm",
    "RmsNorm",
];

/// Why a visited tensor is left out of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skip {
    /// The Burn path of the tensor.
    pub burn_path: String,
    /// Why it is not exported.
    pub reason: &'static str,
}

/// Collects the tensors of a module (see the module documentation).
#[derive(Default)]
pub(crate) struct Collector {
    /// `(name, container_type)` of every module entered and not yet exited.
    path: Vec<(String, String)>,
    /// The tensors read so far, with PyTorch names.
    tensors: Vec<PytorchTensor>,
    /// Burn paths of the BatchNorm modules seen (each gets a `num_batches_tracked`).
    batch_norms: BTreeSet<String>,
    /// Tensors left out, with the reason.
    skipped: Vec<Skip>,
    /// The power-iteration state of each spectrally normalised layer, by the layer's Burn path.
    spectral: BTreeMap<String, State>,
    /// The names of the `Linear` weights written transposed.
    transposed: BTreeSet<String>,
    /// The first error met; the visitor cannot return one.
    error: Option<ExportError>,
}

/// The rule that applies to one visited tensor.
enum Rule {
    /// Written under its Burn path, values unchanged.
    Keep,
    /// A `Linear` weight: `[d_in, d_out]` → `[d_out, d_in]`.
    Transpose,
    /// A normalisation's `gamma`/`beta`, written as `weight`/`bias`.
    Rename(&'static str),
    /// A BatchNorm running statistic: a PyTorch buffer, name unchanged.
    Buffer,
    /// Left out of the file.
    Skip(&'static str),
    /// A spectral-norm vector (`u` when true, `v` when false), kept for [`spectral::rewrite`].
    Spectral(bool),
}

/// What [`Collector::finish`] returns: the tensors to write in name order, the ones left out and
/// the spectrally normalised layers.
pub(crate) struct Collected {
    /// The tensors to write, in name order.
    pub tensors: Vec<PytorchTensor>,
    /// The tensors left out.
    pub skipped: Vec<Skip>,
    /// The spectrally normalised layers, in Burn path order.
    pub spectral: Vec<SpectralLayer>,
}

impl Collector {
    /// The Burn path of the tensor being visited, `a.b.c`.
    fn burn_path(&self) -> String {
        let names: Vec<&str> = self.path.iter().map(|(name, _)| name.as_str()).collect();
        names.join(".")
    }

    /// The rule for the tensor being visited, from its field name and owner type.
    fn rule(&mut self) -> Rule {
        let Some((field, container)) = self.path.last() else {
            return Rule::Keep;
        };
        let owner = container.strip_prefix("Struct:").unwrap_or("");
        let rule = match (owner, field.as_str()) {
            ("SpectralNorm", "u") => Rule::Spectral(true),
            ("SpectralNorm", "v") => Rule::Spectral(false),
            ("SpectralNorm", _) => Rule::Skip(
                "a SpectralNorm field that is neither u nor v (PyTorch's spectral_norm keeps \
                 only weight_u and weight_v)",
            ),
            ("Linear", "weight") => Rule::Transpose,
            ("BatchNorm", "running_mean" | "running_var") => Rule::Buffer,
            (norm, "gamma") if NORMS.contains(&norm) => Rule::Rename("weight"),
            (norm, "beta") if NORMS.contains(&norm) => Rule::Rename("bias"),
            _ => Rule::Keep,
        };
        if owner == "BatchNorm" {
            let parent: Vec<&str> = self.path[..self.path.len() - 1]
                .iter()
                .map(|(name, _)| name.as_str())
                .collect();
            self.batch_norms.insert(parent.join("."));
        }
        rule
    }

    /// Applies the rule for the current path to `tensor` and records the result; `read`
    /// copies a tensor's values to the host.
    fn visit<const D: usize, K>(
        &mut self,
        tensor: Tensor<D, K>,
        read: impl FnOnce(&Tensor<D, K>) -> Result<Values, String>,
    ) where
        K: burn::tensor::kind::Basic,
    {
        if self.error.is_some() {
            return;
        }
        let burn_path = self.burn_path();
        if burn_path.is_empty() {
            self.error = Some(ExportError::EmptyName);
            return;
        }
        let (name, tensor, kind) = match self.rule() {
            Rule::Keep => (burn_path.clone(), tensor, TensorKind::Parameter),
            Rule::Buffer => (burn_path.clone(), tensor, TensorKind::Buffer),
            Rule::Rename(field) => (renamed(&burn_path, field), tensor, TensorKind::Parameter),
            Rule::Transpose if D == 2 => {
                self.transposed.insert(burn_path.clone());
                (burn_path.clone(), tensor.transpose(), TensorKind::Parameter)
            }
            Rule::Transpose => {
                self.error = Some(ExportError::LinearRank {
                    name: burn_path,
                    rank: D,
                });
                return;
            }
            Rule::Skip(reason) => {
                self.skipped.push(Skip { burn_path, reason });
                return;
            }
            Rule::Spectral(is_u) => {
                self.spectral_vector(burn_path, is_u, read(&tensor));
                return;
            }
        };
        let shape = tensor.dims().to_vec();
        match read(&tensor) {
            Ok(values) => self.tensors.push(PytorchTensor {
                name,
                burn_path: Some(burn_path),
                shape,
                values,
                kind,
            }),
            Err(message) => {
                self.error = Some(ExportError::Read {
                    name: burn_path,
                    message,
                })
            }
        }
    }

    /// Records a spectral-norm vector (u when `is_u`) of the layer two levels above it (the
    /// struct holding the `SpectralNorm`).
    fn spectral_vector(&mut self, burn_path: String, is_u: bool, values: Result<Values, String>) {
        let values = match values {
            Ok(Values::F32(values)) => values,
            Ok(other) => {
                let message = format!("a spectral-norm vector of dtype {:?}", other.dtype());
                self.error = Some(ExportError::Read {
                    name: burn_path,
                    message,
                });
                return;
            }
            Err(message) => {
                self.error = Some(ExportError::Read {
                    name: burn_path,
                    message,
                });
                return;
            }
        };
        let layer: Vec<&str> = self.path[..self.path.len().saturating_sub(2)]
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let state = self.spectral.entry(layer.join(".")).or_default();
        let vector = Some(Vector { burn_path, values });
        if is_u {
            state.u = vector;
        } else {
            state.v = vector;
        }
    }

    /// The collected tensors sorted by name, with each spectrally normalised layer rewritten
    /// and one `num_batches_tracked` per BatchNorm, the skipped ones and the spectral layers;
    /// or the first error.
    pub(crate) fn finish(mut self) -> Result<Collected, ExportError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let spectral = spectral::rewrite(&mut self.tensors, self.spectral, &self.transposed)?;
        for prefix in &self.batch_norms {
            self.tensors.push(PytorchTensor {
                name: spectral::child(prefix, "num_batches_tracked"),
                burn_path: None,
                shape: Vec::new(),
                values: Values::I64(vec![0]),
                kind: TensorKind::Buffer,
            });
        }
        self.tensors.sort_by(|a, b| a.name.cmp(&b.name));
        for pair in self.tensors.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(ExportError::DuplicateName {
                    name: pair[0].name.clone(),
                    first: source(&pair[0]),
                    second: source(&pair[1]),
                });
            }
        }
        Ok(Collected {
            tensors: self.tensors,
            skipped: self.skipped,
            spectral,
        })
    }
}

/// The Burn path of a tensor, or what added it.
fn source(tensor: &PytorchTensor) -> String {
    tensor
        .burn_path
        .clone()
        .unwrap_or_else(|| "the BatchNorm counter the exporter adds".to_string())
}

/// `path` with its last component replaced by `field`.
fn renamed(path: &str, field: &str) -> String {
    match path.rsplit_once('.') {
        Some((parent, _)) => format!("{parent}.{field}"),
        None => field.to_string(),
    }
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.visit(param.val(), |t| {
            t.try_to_vec_as::<f32>()
                .map(Values::F32)
                .map_err(|e| e.to_string())
        });
    }

    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
        self.visit(param.val(), |t| {
            t.try_to_vec_as::<i64>()
                .map(Values::I64)
                .map_err(|e| e.to_string())
        });
    }

    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        self.visit(param.val(), |t| {
            t.try_to_vec_as::<bool>()
                .map(Values::Bool)
                .map_err(|e| e.to_string())
        });
    }
}
