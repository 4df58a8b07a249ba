//! Writes a trained Burn module's weights to a [safetensors] file with PyTorch names and
//! layouts, so that a PyTorch module with the same structure loads it with
//! `load_state_dict(strict=True)`.
//!
//! [`export_safetensors`] writes the file, [`to_safetensors_bytes`] returns its bytes and
//! [`pytorch_tensors`] returns the tensors that would be written (name, shape, values), for
//! inspection and tests.
//!
//! # Example
//!
//! ```
//! use burngan_core::HostRng;
//! use burngan_export::export_safetensors;
//! use burngan_models::MlpGeneratorConfig;
//! # let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
//!
//! let generator = MlpGeneratorConfig::new(2, vec![8])
//!     .init(2, &mut HostRng::seed_from(0), &device)
//!     .unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let summary = export_safetensors(&generator, &dir.path().join("generator.safetensors")).unwrap();
//! let names: Vec<&str> = summary.tensors.iter().map(|t| t.name.as_str()).collect();
//! assert_eq!(names, ["layers.0.bias", "layers.0.weight", "layers.1.bias", "layers.1.weight"]);
//! assert_eq!(summary.tensors[1].shape, [8, 2]); // PyTorch's [out, in]; Burn holds [2, 8]
//! assert_eq!(summary.num_parameters, 2 * 8 + 8 + 8 * 2 + 2);
//! ```
//!
//! # Naming and layout rules
//!
//! A tensor's name is its dotted module path: the struct field names and the `Vec`, array or
//! tuple indices from the exported module down to the tensor, as [`Module::visit`] walks it
//! (`dense.0.linear.weight`, `ups.1.weight`). An `Option` field adds nothing to the path; an
//! enum adds its variant's name. PyTorch's `nn.ModuleList` and `nn.Sequential` number their
//! children the same way, so a PyTorch module whose attributes have the Burn field names gets
//! the same names. Then, by the type of the struct that declares the tensor's field (the
//! `container_type` Burn passes to `enter_module`, e.g. `"Struct:Linear"`):
//!
//! | Burn (declaring struct: field) | Written as |
//! |---|---|
//! | `Linear`: `weight` `[d_in, d_out]` | `weight` `[d_out, d_in]`, transposed (either `LinearLayout`) |
//! | `Linear`: `bias` `[d_out]` | `bias`, unchanged |
//! | `BatchNorm`: `gamma`, `beta` | `weight`, `bias` |
//! | `BatchNorm`: `running_mean`, `running_var` | unchanged (PyTorch buffers) |
//! | `BatchNorm` (the module itself) | adds `num_batches_tracked`: `I64`, shape `[]`, value 0 |
//! | `LayerNorm`, `GroupNorm`, `InstanceNorm`, `RmsNorm`: `gamma`, `beta` | `weight`, `bias` |
//! | a spectrally normalised layer's weight (below) | `weight_orig`, plus buffers `weight_u`, `weight_v` |
//! | anything else (convolution kernels included) | unchanged |
//!
//! - Convolution kernels already have PyTorch's layout: `Conv2d` (Burn's and burngan's `Conv`)
//!   `[c_out, c_in/groups, k, k]`, `ConvTranspose2d` (Burn's and burngan's `ConvTranspose`)
//!   `[c_in, c_out/groups, k, k]`.
//! - `num_batches_tracked` is 0 because Burn does not count batches; PyTorch reads it only when
//!   a BatchNorm has `momentum=None`. Its [`TensorKind`] is [`Buffer`](TensorKind::Buffer), like
//!   the running statistics and spectral norm's `weight_u` and `weight_v`; every other tensor is
//!   a [`Parameter`](TensorKind::Parameter).
//! - Spectral normalisation: see [below](#spectral-normalisation).
//! - Float tensors are written as little-endian `F32` (other float dtypes are converted), int
//!   tensors as `I64`, bool tensors as `BOOL`. Tensors are listed in name order (the encoder
//!   lays the data out by dtype, then name), and the metadata keys in [`METADATA`]'s order, so
//!   the file is the same, byte for byte, for the same weights.
//! - The file's metadata is [`METADATA`]: `{"format": "pt", "producer": "burngan"}`.
//! - Before reading, the module is copied with [`Module::valid`] (which merges pending
//!   BatchNorm running-statistic updates, as evaluation does) and [`Module::materialize`]
//!   (which folds Burn parameter reparameterizations such as LoRA into plain weights), so the
//!   file holds what the module computes with in evaluation mode.
//!
//! # Spectral normalisation
//!
//! A spectrally normalised layer is a struct that holds a `SpectralNorm` (burngan-models'
//! power-iteration state: `u`, and `v` under `spectral_convention = "pytorch"`) beside its
//! weight: the field `weight`, or the `weight` of its `Linear` field `linear`. It is written as
//! `torch.nn.utils.spectral_norm` (defaults `n_power_iterations=1`, `eps=1e-12`, `dim=0`) keeps
//! the module it wraps: the raw weight W (not W/σ) as the parameter `weight_orig`, the vectors
//! as the buffers `weight_u` and `weight_v` (PyTorch views W `[rows, …]` as `[rows, cols]`);
//! the bias is unchanged and the `SpectralNorm` itself adds nothing. For burngan-models' layers:
//!
//! | Layer at path P | Written as (PyTorch shapes) |
//! |---|---|
//! | `Dense` `[d_in, d_out]` | `P.linear.weight_orig` `[d_out, d_in]`, `P.linear.bias`, `P.linear.weight_u` `[d_out]`, `P.linear.weight_v` `[d_in]` |
//! | `Conv` `[c_out, c_in, k, k]` | `P.weight_orig`, `P.bias`, `P.weight_u` `[c_out]`, `P.weight_v` `[c_in·k·k]` |
//! | `ClassEmbedding` `[num_classes, dim]` | `P.weight_orig`, `P.weight_u` `[num_classes]`, `P.weight_v` `[dim]` |
//!
//! So the PyTorch twin wraps `P.linear` (an `nn.Linear`), `P` (an `nn.Conv2d`) or `P` (an
//! `nn.Embedding`) in `spectral_norm`. Which vectors are written depends on the layer's
//! convention, listed per layer in [`ExportSummary::spectral`]:
//!
//! - PyTorch convention ([`SpectralVectors::Kept`]): `weight_u` = u and `weight_v` = v, bit for
//!   bit; they already have PyTorch's orientation (a dense layer iterates on the transpose of
//!   Burn's weight). The loaded module then computes what the burngan layer computes, in
//!   `eval()` (σ = uᵀWv with the stored vectors) and in training mode (one power-iteration step
//!   per forward, then σ = u′ᵀWv′), forward after forward.
//! - burngan convention, the default ([`SpectralVectors::EvaluationEquivalent`]): the layer keeps
//!   only u, and divides by ‖Mᵀu‖ on its matrix view M (a dense layer's M is Burn's `[d_in,
//!   d_out]`, so its u has d_in entries). The vectors are derived, in f64, so that PyTorch's
//!   evaluation-mode σ = `weight_u`ᵀ·W·`weight_v` is that same value: for a convolution or an
//!   embedding `weight_u` = u and `weight_v` = normalize(Wᵀu); for a dense layer `weight_v` = u
//!   and `weight_u` = normalize(W u) with W PyTorch's `[d_out, d_in]`. The loaded module
//!   reproduces the layer in `eval()` only: in training mode PyTorch iterates under its own
//!   convention, whose σ is not burngan's (3% apart after one step on a convolution; see
//!   burngan-models' `SpectralConvention`). The summary's `Display` says so. Train with
//!   `spectral_convention = "pytorch"` to get a file that also reproduces training mode.
//!
//! A `SpectralNorm` without such a weight is an [`ExportError::SpectralWeight`], and vectors
//! whose lengths do not fit the weight are an [`ExportError::SpectralState`]. The file loads
//! into modules wrapped by the older `torch.nn.utils.spectral_norm`, not by
//! `torch.nn.utils.parametrizations.spectral_norm` (which names the tensors
//! `parametrizations.weight.original0` and so on). burngan's generators have no spectral norm.
//!
//! # Loading in PyTorch
//!
//! ```python
//! from safetensors.torch import load_file
//! model.load_state_dict(load_file("generator.safetensors"), strict=True)
//! model.eval()
//! ```
//!
//! `scripts/torch_load_export.py` in the repository defines PyTorch twins of burngan's
//! `DcganGenerator`, `MlpGenerator`, `DcganDiscriminator` and `MlpDiscriminator` (critics with
//! or without `spectral_norm`, chosen by the names in the file), loads an exported file into
//! one with `strict=True` and compares its outputs with Burn's, in evaluation mode and, for a
//! spectral-norm critic, in one training-mode forward (see this crate's `export_for_torch`
//! example).
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

mod collect;
mod error;
mod spectral;
#[cfg(test)]
mod spectral_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use burn::module::Module;
use safetensors::tensor::TensorView;

pub use error::ExportError;
pub use safetensors::Dtype;
pub use spectral::{SpectralLayer, SpectralVectors};

/// The safetensors metadata of every exported file.
pub const METADATA: [(&str, &str); 2] = [("format", "pt"), ("producer", "burngan")];

/// Whether PyTorch holds a tensor as a parameter or as a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorKind {
    /// A trainable weight (`nn.Module.parameters()` in PyTorch).
    Parameter,
    /// State that is not trained: BatchNorm's `running_mean`, `running_var` and
    /// `num_batches_tracked`, spectral norm's `weight_u` and `weight_v`
    /// (`nn.Module.buffers()` in PyTorch).
    Buffer,
}

/// The values of one exported tensor, row-major in the tensor's PyTorch shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Float values, written as `F32`.
    F32(Vec<f32>),
    /// Integer values, written as `I64`.
    I64(Vec<i64>),
    /// Boolean values, written as `BOOL` (one byte each).
    Bool(Vec<bool>),
}

impl Values {
    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    /// Whether there are no values (a tensor with a zero-sized axis).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The float values, or `None` for an int or bool tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            Values::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The safetensors dtype the values are written as.
    pub fn dtype(&self) -> Dtype {
        match self {
            Values::F32(_) => Dtype::F32,
            Values::I64(_) => Dtype::I64,
            Values::Bool(_) => Dtype::BOOL,
        }
    }

    /// The little-endian bytes written to the file.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            Values::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::Bool(v) => v.iter().map(|&x| u8::from(x)).collect(),
        }
    }
}

/// One tensor as it is written: PyTorch name, shape and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct PytorchTensor {
    /// The PyTorch name, e.g. `dense_norms.0.weight`.
    pub name: String,
    /// The Burn path it comes from, e.g. `dense_norms.0.gamma`; `None` for a tensor the
    /// exporter adds (`num_batches_tracked`).
    pub burn_path: Option<String>,
    /// The PyTorch shape (a `Linear` weight is `[d_out, d_in]`); `[]` for a scalar.
    pub shape: Vec<usize>,
    /// The values, row-major in `shape`.
    pub values: Values,
    /// Parameter or buffer, as PyTorch would hold it.
    pub kind: TensorKind,
}

/// A tensor written to the file (without its values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedTensor {
    /// The PyTorch name.
    pub name: String,
    /// The PyTorch shape.
    pub shape: Vec<usize>,
    /// The element type in the file.
    pub dtype: Dtype,
    /// Parameter or buffer.
    pub kind: TensorKind,
}

/// A tensor of the module that is not written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedTensor {
    /// Its Burn path, e.g. `norm.extra` for a `SpectralNorm` field other than `u` and `v`.
    pub burn_path: String,
    /// Why it is left out.
    pub reason: String,
}

/// What [`export_safetensors`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// The file written.
    pub path: PathBuf,
    /// The tensors written, in name order.
    pub tensors: Vec<ExportedTensor>,
    /// Tensors of the module that were left out.
    pub skipped: Vec<SkippedTensor>,
    /// The spectrally normalised layers, written as `weight_orig`, `weight_u` and `weight_v`
    /// (see the crate documentation), in Burn path order.
    pub spectral: Vec<SpectralLayer>,
    /// The number of parameter values (buffers excluded): what PyTorch's
    /// `sum(p.numel() for p in model.parameters())` gives for the loaded module.
    pub num_parameters: usize,
    /// The size of the file in bytes.
    pub bytes: u64,
}

impl fmt::Display for ExportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wrote {} tensors ({} parameters, {} bytes) to {}",
            self.tensors.len(),
            self.num_parameters,
            self.bytes,
            self.path.display()
        )?;
        if !self.skipped.is_empty() {
            let names: Vec<&str> = self.skipped.iter().map(|s| s.burn_path.as_str()).collect();
            write!(f, "; left out {}", names.join(", "))?;
        }
        let derived: Vec<&str> = self
            .spectral
            .iter()
            .filter(|s| s.vectors == SpectralVectors::EvaluationEquivalent)
            .map(|s| s.layer.as_str())
            .collect();
        if !derived.is_empty() {
            write!(
                f,
                "; spectral norm of {} (burngan convention) written as its evaluation-mode \
                 equivalent: PyTorch reproduces it in eval() only (spectral_convention = \
                 \"pytorch\" reproduces training mode too)",
                derived.join(", ")
            )?;
        }
        Ok(())
    }
}

/// What is read from a module: the tensors to write, the ones left out and the spectrally
/// normalised layers.
struct ReadModule {
    tensors: Vec<PytorchTensor>,
    skipped: Vec<SkippedTensor>,
    spectral: Vec<SpectralLayer>,
}

/// The tensors, the skipped ones and the spectral layers of the evaluation-mode copy of
/// `module`.
fn read_module<M: Module>(module: &M) -> Result<ReadModule, ExportError> {
    let module = module.valid().materialize();
    let mut collector = collect::Collector::default();
    module.visit(&mut collector);
    let collected = collector.finish()?;
    let skipped = collected
        .skipped
        .into_iter()
        .map(|s| SkippedTensor {
            burn_path: s.burn_path,
            reason: s.reason.to_string(),
        })
        .collect();
    Ok(ReadModule {
        tensors: collected.tensors,
        skipped,
        spectral: collected.spectral,
    })
}

/// The tensors of `module` as they are written: PyTorch names, shapes and row-major values, in
/// name order, `num_batches_tracked` of each BatchNorm included (see the crate documentation
/// for the rules).
///
/// # Errors
///
/// A tensor that cannot be read from its device, two tensors with the same PyTorch name, a
/// module that is a bare parameter, or a spectral-norm state without a weight it fits
/// ([`ExportError::SpectralWeight`], [`ExportError::SpectralState`]).
pub fn pytorch_tensors<M: Module>(module: &M) -> Result<Vec<PytorchTensor>, ExportError> {
    read_module(module).map(|read| read.tensors)
}

/// The metadata map written to every file, iterating in [`METADATA`]'s order.
///
/// The encoder takes a std `HashMap`, whose iteration order (and so the order of the keys in
/// the file's JSON header) depends on the map's random hasher seed. Every new map gets another
/// seed, so a map that happens to iterate in the order of [`METADATA`] is found within a few
/// tries; this makes the file the same for the same weights.
fn metadata() -> HashMap<String, String> {
    let build = || -> HashMap<String, String> {
        METADATA
            .iter()
            .map(|&(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let in_order = |map: &HashMap<String, String>| {
        map.keys()
            .map(String::as_str)
            .eq(METADATA.iter().map(|&(k, _)| k))
    };
    // Each try succeeds with probability 1/2; 2⁻¹²⁸ is the chance of keeping the last map.
    let mut map = build();
    for _ in 0..128 {
        if in_order(&map) {
            break;
        }
        map = build();
    }
    map
}

/// `(name, shape, dtype, bytes)` of each tensor, the owned data the safetensors views borrow.
fn encoded(tensors: &[PytorchTensor]) -> Vec<(String, Vec<usize>, Dtype, Vec<u8>)> {
    tensors
        .iter()
        .map(|t| {
            let bytes = t.values.to_le_bytes();
            (t.name.clone(), t.shape.clone(), t.values.dtype(), bytes)
        })
        .collect()
}

/// Safetensors views of the encoded tensors.
fn views(
    encoded: &[(String, Vec<usize>, Dtype, Vec<u8>)],
) -> Result<Vec<(&str, TensorView<'_>)>, ExportError> {
    encoded
        .iter()
        .map(|(name, shape, dtype, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|view| (name.as_str(), view))
                .map_err(|e| ExportError::Encode {
                    message: format!("{name}: {e}"),
                })
        })
        .collect()
}

/// The safetensors encoding of `tensors` with [`METADATA`].
fn encode(tensors: &[PytorchTensor]) -> Result<Vec<u8>, ExportError> {
    let encoded = encoded(tensors);
    safetensors::serialize(views(&encoded)?, Some(metadata())).map_err(|e| ExportError::Encode {
        message: e.to_string(),
    })
}

/// The bytes of the safetensors file [`export_safetensors`] would write for `module`.
///
/// # Errors
///
/// As [`pytorch_tensors`], or an encoder error.
pub fn to_safetensors_bytes<M: Module>(module: &M) -> Result<Vec<u8>, ExportError> {
    encode(&pytorch_tensors(module)?)
}

/// Writes `bytes` to `path` through a temporary file in the same directory that is renamed
/// over `path` once complete, so that `path` is either the old file or the whole new one.
/// The file gets the permissions of a newly created file (the umask applies).
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let Some(name) = path.file_name() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no file name",
        ));
    };
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    // Unique per process and call, so concurrent exports to one path do not share it.
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    temp_name.push(format!(".{}-{call}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let result = std::fs::File::create(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        // Best effort: the temporary file may not exist (e.g. a missing directory).
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Writes the weights of `module` to the safetensors file `path` with PyTorch names and
/// layouts (see the crate documentation), replacing it if it exists. The file is written
/// next to `path` under a temporary name (`.NAME.PID-N.tmp`) and then renamed, so a failed
/// export leaves no partial file. The directory must exist.
///
/// # Errors
///
/// [`ExportError::Write`] (naming `path`) when the file cannot be written; otherwise as
/// [`pytorch_tensors`].
pub fn export_safetensors<M: Module>(
    module: &M,
    path: &Path,
) -> Result<ExportSummary, ExportError> {
    let ReadModule {
        tensors,
        skipped,
        spectral,
    } = read_module(module)?;
    let bytes = encode(&tensors)?;
    write_atomically(path, &bytes).map_err(|source| ExportError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    let num_parameters = tensors
        .iter()
        .filter(|t| t.kind == TensorKind::Parameter)
        .map(|t| t.values.len())
        .sum();
    let tensors = tensors
        .into_iter()
        .map(|t| ExportedTensor {
            dtype: t.values.dtype(),
            name: t.name,
            shape: t.shape,
            kind: t.kind,
        })
        .collect();
    Ok(ExportSummary {
        path: path.to_path_buf(),
        tensors,
        skipped,
        spectral,
        num_parameters,
        bytes: bytes.len() as u64,
    })
}
