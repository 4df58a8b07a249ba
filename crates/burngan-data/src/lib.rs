//! Real-data sources for burngan.
//!
//! Two kinds of data live here:
//!
//! * **Toy mixtures** in the plane, used to study mode collapse: a ring of 8 Gaussians and a
//!   5×5 grid of 25 Gaussians, with PacGAN's geometry as defaults ([`ToyConfig`],
//!   [`GaussianMixture`], rank-2 batches `[batch, 2]`).
//! * **Image datasets** held in memory as `f32` in [−1, 1] with layout
//!   `[n, channels, height, width]` ([`ImageDataset`]): IDX files such as MNIST and
//!   Fashion-MNIST (raw or gzipped, see [`idx`]) and folders of PNG/JPEG images, optionally one
//!   sub-folder per class ([`FolderOptions`]). An [`EpochSampler`] serves shuffled batches
//!   `[batch, channels, height, width]`, one fresh permutation per epoch, and its position can
//!   be saved and restored ([`SamplerState`]).
//! * **StackedMNIST** ([`StackedMnist`]): `[batch, 3, height, width]` images whose channels are
//!   three digits drawn independently, with replacement, from a grayscale digit set — 1,000
//!   modes with MNIST's 10 classes. [`ImageSource`] is either kind of image batches.
//!
//! Every random choice is drawn from the seeded [`HostRng`] passed in and the data is uploaded
//! from the host, so one seed gives the same data on every backend.
//!
//! `assets/data/` in the repository holds 10,000 MNIST digits in IDX form, so the image path
//! works without a download.
//!
//! [`HostRng`]: burngan_core::HostRng
//!
//! # Examples
//!
//! A toy mixture:
//!
//! ```
//! use burngan_core::{HostRng, SampleSource};
//! use burngan_data::ToyConfig;
//! # let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
//!
//! let ring = ToyConfig::default_ring().build().unwrap();
//! assert_eq!(ring.centres().len(), 8);
//! let batch = ring.clone().sample(512, &mut HostRng::seed_from(0), &device); // [512, 2]
//! assert_eq!(batch.dims(), [512, 2]);
//! ```
//!
//! The bundled MNIST digits, in shuffled batches:
//!
//! ```
//! use std::path::Path;
//!
//! use burngan_core::{HostRng, SampleSource};
//! use burngan_data::{EpochSampler, ImageDataset};
//! # let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
//!
//! let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/data");
//! let images = assets.join("mnist10k-images-idx3-ubyte.gz");
//! let mnist = ImageDataset::open_idx(&images).unwrap(); // labels found beside it
//! assert_eq!((mnist.len(), mnist.shape()), (10_000, [1, 28, 28]));
//! assert_eq!(mnist.num_classes(), Some(10));
//!
//! let mut sampler = EpochSampler::new(mnist);
//! let mut rng = HostRng::seed_from(0);
//! let batch = sampler.sample(64, &mut rng, &device); // [64, 1, 28, 28], values in [-1, 1]
//! assert_eq!(batch.dims(), [64, 1, 28, 28]);
//! assert_eq!((sampler.epoch(), sampler.cursor()), (1, 64));
//! ```

pub mod idx;
mod images;
mod sampler;
mod stacked;
mod toy;

use std::path::PathBuf;

pub use images::{Channels, FolderOptions, ImageDataset};
pub use sampler::{EpochSampler, SamplerState};
pub use stacked::{ImageSource, STACKED_CHANNELS, StackedMnist};
pub use toy::{GaussianMixture, ToyConfig};

/// A data configuration that cannot be used, or data that cannot be loaded.
///
/// Every message names the offending value (a config field, a file, a number) and says how to
/// fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// A numeric field is out of its valid range.
    #[error("{field} = {value} is out of range: {expected}")]
    OutOfRange {
        /// The config field, e.g. `data.std`.
        field: &'static str,
        /// The value given.
        value: f64,
        /// What is allowed.
        expected: &'static str,
    },

    /// A file or folder does not exist.
    #[error(
        "{path} does not exist; pass an IDX file (optionally gzipped) or a folder of PNG/JPEG \
         images"
    )]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },

    /// A folder was given where an IDX file is expected (e.g. as the labels file).
    #[error(
        "{path} is a folder, not an IDX {what} file; pass the {what} file itself (e.g. \
         {example}), not the folder that holds it",
        example = idx_example(.what)
    )]
    NotAFile {
        /// The folder.
        path: PathBuf,
        /// `"images"`, `"labels"` or `"data"`.
        what: &'static str,
    },

    /// The operating system could not read a file or folder, or a gzip stream is corrupt.
    #[error(
        "could not read {path}: {message}; check that it is readable and, if it is gzipped, \
         that the download is complete"
    )]
    Io {
        /// The file or folder being read.
        path: PathBuf,
        /// The operating system's or the decompressor's description.
        message: String,
    },

    /// A file does not start like an IDX file or a gzip stream.
    #[error(
        "{path} is not an IDX file: it starts with bytes {:#04x} {:#04x}, expected 0x00 0x00 \
         (raw IDX) or 0x1f 0x8b (gzipped IDX); pass an IDX file such as \
         train-images-idx3-ubyte.gz",
        .found[0], .found[1]
    )]
    NotIdx {
        /// The file.
        path: PathBuf,
        /// Its first two bytes (after gunzipping, when the file is gzipped).
        found: [u8; 2],
    },

    /// An IDX file ends inside its header.
    #[error(
        "{path} is truncated: its IDX header needs {expected} bytes but the file holds only \
         {found}; download or convert the file again"
    )]
    IdxHeaderTruncated {
        /// The file.
        path: PathBuf,
        /// The header length in bytes.
        expected: usize,
        /// The bytes actually present (after gunzipping).
        found: usize,
    },

    /// An IDX file stores elements of a type other than unsigned bytes.
    #[error(
        "{path}: IDX element type {found:#04x} is not supported, expected 0x08 (unsigned \
         byte); convert the data to 8-bit IDX"
    )]
    IdxType {
        /// The file.
        path: PathBuf,
        /// The type byte found (the third byte of the magic number).
        found: u8,
    },

    /// An IDX file has a different number of dimensions than the data it was read as.
    #[error(
        "{path}: IDX magic number 0x000008{found:02x} has rank {found}, but {what} need rank \
         {expected} (magic 0x000008{expected:02x}); pass the {what} file"
    )]
    IdxRank {
        /// The file.
        path: PathBuf,
        /// `"images"` or `"labels"`.
        what: &'static str,
        /// The rank required.
        expected: u8,
        /// The rank in the header.
        found: u8,
    },

    /// The sizes in an IDX header are zero or their product does not fit in memory sizes.
    #[error(
        "{path}: IDX header sizes {dims:?} are invalid: {problem}; the file is corrupt or not \
         IDX"
    )]
    IdxDims {
        /// The file.
        path: PathBuf,
        /// The sizes read from the header.
        dims: Vec<u32>,
        /// What is wrong with them.
        problem: &'static str,
    },

    /// An IDX file holds less data than its header promises.
    #[error(
        "{path} is truncated: its header {dims:?} promises {expected} data bytes but only \
         {found} follow; download or convert the file again"
    )]
    IdxTruncated {
        /// The file.
        path: PathBuf,
        /// The sizes read from the header.
        dims: Vec<u32>,
        /// The data length the header implies, in bytes.
        expected: u64,
        /// The data bytes present (after gunzipping).
        found: u64,
    },

    /// An IDX file holds more data than its header promises.
    #[error(
        "{path} has trailing bytes: its header {dims:?} promises {expected} data bytes but \
         more follow; the header or the file is wrong, download or convert the file again"
    )]
    IdxTrailing {
        /// The file.
        path: PathBuf,
        /// The sizes read from the header.
        dims: Vec<u32>,
        /// The data length the header implies, in bytes.
        expected: u64,
    },

    /// A set of labels does not have one label per image.
    #[error(
        "{labels_source} holds {labels} labels but {images_source} holds {images} images; \
         pass the labels that belong to these images"
    )]
    LabelCount {
        /// Where the labels came from (a file name, or a description).
        labels_source: String,
        /// The number of labels.
        labels: usize,
        /// Where the images came from (a file name, or a description).
        images_source: String,
        /// The number of images.
        images: usize,
    },

    /// A pixel buffer does not match the shape given with it.
    #[error(
        "a pixel buffer of shape {shape:?} needs {expected} values but {found} were given; \
         pass [n, channels, height, width] matching the buffer"
    )]
    PixelCount {
        /// The shape `[n, channels, height, width]` given.
        shape: [usize; 4],
        /// The product of the shape, written out (or a note that it overflows).
        expected: String,
        /// The buffer length.
        found: usize,
    },

    /// A folder holds no PNG or JPEG images.
    #[error(
        "{path} contains no PNG or JPEG images (*.png, *.jpg, *.jpeg); put the images \
         directly in it, or in one sub-folder per class"
    )]
    EmptyFolder {
        /// The folder.
        path: PathBuf,
    },

    /// A folder holds image files next to class sub-folders.
    #[error(
        "{path} mixes image files (e.g. {file}) with class sub-folders (e.g. {folder}); move \
         every image into a class sub-folder for a labelled set, or remove the sub-folders for \
         an unlabelled one"
    )]
    MixedLayout {
        /// The folder.
        path: PathBuf,
        /// One image file directly in the folder.
        file: PathBuf,
        /// One class sub-folder.
        folder: PathBuf,
    },

    /// An image file cannot be decoded.
    #[error("could not decode image {path}: {message}; remove or replace the file")]
    BadImage {
        /// The file.
        path: PathBuf,
        /// The decoder's description.
        message: String,
    },

    /// An IDX dataset does not have the image size or channel count that was asked for.
    #[error(
        "{path} holds {}×{}×{} images (channels×height×width) but {}×{}×{} was requested; \
         request size = [{}, {}] and grayscale, or convert the data to a folder of images, \
         which is resized and converted on load",
        .found[0], .found[1], .found[2], .requested[0], .requested[1], .requested[2],
        .found[1], .found[2]
    )]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The requested `[channels, height, width]`.
        requested: [usize; 3],
        /// The file's `[channels, height, width]`.
        found: [usize; 3],
    },

    /// Stacked digits were asked of a dataset with more than one channel.
    #[error(
        "stacked digits need one-channel (grayscale) digits, one per output channel, but the \
         dataset has {channels} channels; load the digits as grayscale (an IDX file, or a folder \
         with channels = \"grayscale\")"
    )]
    StackedChannels {
        /// The dataset's channel count.
        channels: usize,
    },

    /// A saved sampler position does not fit the dataset it is restored onto.
    #[error(
        "the saved sampler state does not fit this dataset of {len} images: {problem}; resume \
         with the dataset the checkpoint was written with"
    )]
    BadSamplerState {
        /// The number of images in the dataset.
        len: usize,
        /// What does not fit.
        problem: String,
    },
}

/// A typical file name of IDX `what` (`"images"`, `"labels"` or other data), for messages.
fn idx_example(what: &str) -> &'static str {
    match what {
        "labels" => "train-labels-idx1-ubyte.gz",
        "images" => "train-images-idx3-ubyte.gz",
        _ => "data.idx",
    }
}
