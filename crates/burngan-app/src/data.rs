//! The `[data]` section: a toy mixture (`kind = "ring"` or `"grid"`) or images (`kind =
//! "images"`, an IDX file pair or a folder), and the tagged-section parsing shared with the
//! model sections.

use std::path::{Path, PathBuf};

use burngan_data::{Channels, FolderOptions, ImageDataset, ToyConfig};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::AppError;

/// The default image dataset: the 10,000 MNIST digits shipped in `assets/data/`, relative to
/// the repository root.
pub const DEFAULT_IMAGES: &str = "assets/data/mnist10k-images-idx3-ubyte.gz";

/// The real distribution of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum DataConfig {
    /// A 2-D Gaussian mixture (`kind = "ring"` or `"grid"`).
    Toy(ToyConfig),
    /// Images (`kind = "images"`).
    Images(ImageDataConfig),
}

/// `[data]` with `kind = "images"`:
///
/// ```toml
/// [data]
/// kind = "images"
/// path = "assets/data/mnist10k-images-idx3-ubyte.gz"  # an IDX image file or a folder
/// # labels = "…-labels-idx1-ubyte.gz"  # IDX labels; default: the file beside `path`
/// size = [28, 28]          # [height, width]; folders are resized to it, IDX must match
/// channels = "grayscale"   # or "rgb"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageDataConfig {
    /// An IDX image file (gzipped or raw) or a folder of PNG/JPEG images, optionally one
    /// sub-folder per class (default [`DEFAULT_IMAGES`]).
    #[serde(default = "default_images")]
    pub path: PathBuf,
    /// The IDX labels file; by default the file beside `path` with `images` → `labels` and
    /// `idx3` → `idx1` in its name, when it exists. Not allowed with a folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<PathBuf>,
    /// `[height, width]` of the images (default `[28, 28]`).
    #[serde(default = "default_size")]
    pub size: [usize; 2],
    /// `"grayscale"` (default) or `"rgb"`.
    #[serde(default = "default_channels")]
    pub channels: Channels,
}

fn default_images() -> PathBuf {
    PathBuf::from(DEFAULT_IMAGES)
}

fn default_size() -> [usize; 2] {
    [28, 28]
}

fn default_channels() -> Channels {
    Channels::Grayscale
}

impl Default for ImageDataConfig {
    fn default() -> Self {
        Self {
            path: default_images(),
            labels: None,
            size: default_size(),
            channels: default_channels(),
        }
    }
}

impl ImageDataConfig {
    /// The shape of one image, `[channels, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        FolderOptions::new(self.size, self.channels).shape()
    }

    /// Loads the dataset. Errors name the file and the fix; nothing panics on bad files.
    pub fn load(&self) -> Result<ImageDataset, AppError> {
        let options = FolderOptions::new(self.size, self.channels);
        let data_error = |e: burngan_data::DataError| AppError::Data(e.to_string());
        if !self.path.exists() {
            let hint = if self.path == Path::new(DEFAULT_IMAGES) {
                "; run from the repository root (the default dataset ships in assets/data/) or \
                 set data.path / --data"
            } else {
                "; set data.path or --data to an IDX image file or an image folder"
            };
            return Err(AppError::Data(format!(
                "image data {} does not exist{hint}",
                self.path.display()
            )));
        }
        match &self.labels {
            None => ImageDataset::open(&self.path, options).map_err(data_error),
            Some(labels) => {
                if self.path.is_dir() {
                    return Err(AppError::config(format!(
                        "data.labels ({}) applies to IDX files, but data.path {} is a folder \
                         (its labels come from its class sub-folders); remove data.labels",
                        labels.display(),
                        self.path.display()
                    )));
                }
                let dataset =
                    ImageDataset::from_idx(&self.path, Some(labels)).map_err(data_error)?;
                if dataset.shape() != options.shape() {
                    return Err(AppError::Data(format!(
                        "{} holds images of shape {:?}, the config asks for {:?}; set data.size \
                         and data.channels to match",
                        self.path.display(),
                        dataset.shape(),
                        options.shape()
                    )));
                }
                Ok(dataset)
            }
        }
    }
}

impl Serialize for DataConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Tagged<'a> {
            kind: &'static str,
            #[serde(flatten)]
            config: &'a ImageDataConfig,
        }
        match self {
            DataConfig::Toy(toy) => toy.serialize(serializer),
            DataConfig::Images(config) => Tagged {
                kind: "images",
                config,
            }
            .serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for DataConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(deserializer)?;
        let kind = table
            .get("kind")
            .and_then(|k| k.as_str())
            .map(str::to_owned);
        match kind.as_deref() {
            Some("images") => {
                table.remove("kind");
                parse(table).map(DataConfig::Images)
            }
            Some("ring" | "grid") => parse(table).map(DataConfig::Toy),
            Some(other) => Err(D::Error::custom(format!(
                "unknown data kind `{other}`, expected `ring`, `grid` or `images`"
            ))),
            None => Err(D::Error::custom(
                "[data] needs a kind: \"ring\", \"grid\" or \"images\"",
            )),
        }
    }
}

/// Parses a TOML table into `T`, keeping serde's message (unknown fields, wrong types).
pub(crate) fn parse<T: DeserializeOwned, E: serde::de::Error>(table: toml::Table) -> Result<T, E> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| E::custom(e.message()))
}

/// Deserialises a `kind`-tagged section whose kind defaults to `default` when omitted.
pub(crate) fn with_default_kind<'de, T, D>(deserializer: D, default: &str) -> Result<T, D::Error>
where
    T: DeserializeOwned,
    D: Deserializer<'de>,
{
    let mut table = toml::Table::deserialize(deserializer)?;
    if !table.contains_key("kind") {
        table.insert("kind".into(), toml::Value::String(default.into()));
    }
    parse(table)
}
