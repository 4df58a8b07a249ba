//! [`ExportError`]: everything that can stop an export, each message naming the tensor or path
//! involved and how to fix it.

use std::path::PathBuf;

/// Why a module could not be exported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The file (or the temporary file next to it) could not be written.
    #[error(
        "cannot write the safetensors file {}: {source}; check that the directory exists and \
         is writable, and that the path is not a directory",
        path.display()
    )]
    Write {
        /// The file asked for.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A tensor's values could not be copied from its device to the host.
    #[error(
        "cannot read the values of {name} from its device: {message}; check that the device \
         is still usable, or move the module to the CPU with `Module::to_device` first"
    )]
    Read {
        /// The tensor's Burn path.
        name: String,
        /// What the backend reported.
        message: String,
    },
    /// Two tensors get the same PyTorch name.
    #[error(
        "two tensors would both be written as {name} ({first} and {second}); rename one of \
         the module fields so that the PyTorch names differ"
    )]
    DuplicateName {
        /// The PyTorch name.
        name: String,
        /// Where the first tensor comes from (its Burn path).
        first: String,
        /// Where the second tensor comes from.
        second: String,
    },
    /// The module is a bare parameter, so its tensor has no name.
    #[error(
        "a tensor has an empty name because the exported module is a bare Param; export a \
         #[derive(Module)] struct that holds it as a named field"
    )]
    EmptyName,
    /// A field `weight` of a struct named `Linear` that is not a matrix.
    #[error(
        "{name} is the weight of a struct named Linear but has rank {rank}; a Linear weight \
         must be a [d_in, d_out] matrix (it is transposed for PyTorch), so rename the struct if \
         it is not a Linear layer"
    )]
    LinearRank {
        /// The tensor's Burn path.
        name: String,
        /// Its rank.
        rank: usize,
    },
    /// A struct holds a spectral-norm state but no weight it could normalise.
    #[error(
        "{} holds a spectral-norm state (SpectralNorm) but neither {}weight nor \
         {}linear.weight, so there is no weight to write as PyTorch's weight_orig; name \
         the normalised weight `weight`, or hold it in a Linear field named `linear`",
        shown(layer),
        prefix(layer),
        prefix(layer)
    )]
    SpectralWeight {
        /// The Burn path of the struct holding the state.
        layer: String,
    },
    /// A spectral-norm state that does not fit its weight.
    #[error(
        "cannot write the spectral norm of {} as PyTorch's weight_orig, weight_u and \
         weight_v: {message}; the layer's state does not belong to its weight (rebuild the \
         layer with `with_spectral_norm`)",
        shown(layer)
    )]
    SpectralState {
        /// The Burn path of the struct holding the state.
        layer: String,
        /// What does not fit.
        message: String,
    },
    /// The safetensors encoder refused the tensors (e.g. a header over its 100 MB limit).
    #[error(
        "safetensors cannot encode the tensors: {message}; export a smaller module or report \
         this as a burngan-export bug"
    )]
    Encode {
        /// What the encoder reported.
        message: String,
    },
}

/// A layer's Burn path for a message: the root module has the empty path.
fn shown(layer: &str) -> &str {
    if layer.is_empty() {
        "the exported module"
    } else {
        layer
    }
}

/// `layer.`, or nothing for the root module.
fn prefix(layer: &str) -> String {
    if layer.is_empty() {
        String::new()
    } else {
        format!("{layer}.")
    }
}
