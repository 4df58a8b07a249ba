//! The `[data]` section: a toy mixture (`kind = "ring"` or `"grid"`), images (`kind =
//! "images"`, an IDX file pair or a folder) or StackedMNIST (`kind = "stacked-mnist"`, three
//! digits of a grayscale set as the channels of each image), the image run's batch source
//! ([`image_source`]), and the tagged-section parsing shared with the model sections.

use std::path::{Path, PathBuf};

use burngan_data::{
    Channels, EpochSampler, FolderOptions, ImageDataset, ImageSource, STACKED_CHANNELS,
    StackedMnist, ToyConfig,
};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{AppError, TrainConfig};

/// The default image dataset: the 10,000 MNIST digits shipped in `assets/data/`, relative to
/// the repository root.
pub const DEFAULT_IMAGES: &str = "assets/data/mnist10k-images-idx3-ubyte.gz";

/// The real distribution of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum DataConfig {
    /// A 2-D Gaussian mixture (`kind = "ring"` or `"grid"`).
    Toy(ToyConfig),
    /// Images (`kind = "images"`), or StackedMNIST (`kind = "stacked-mnist"`: the same
    /// section with [`ImageDataConfig::kind`] = [`ImageKind::StackedMnist`]).
    Images(ImageDataConfig),
}

/// How an image run's images are formed from the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageKind {
    /// The dataset's images themselves (`kind = "images"`), served in shuffled epochs.
    #[default]
    Dataset,
    /// StackedMNIST (`kind = "stacked-mnist"`): `[3, height, width]` images whose channels are
    /// three digits of the grayscale dataset drawn independently, with replacement
    /// ([`StackedMnist`]); 1,000 modes with MNIST's 10 classes.
    StackedMnist,
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
/// # limit = 1000           # train on the first 1000 images only (default: all)
/// ```
///
/// or with `kind = "stacked-mnist"` (`path`, `labels` and `size` name the grayscale digits;
/// the images are `[3, height, width]` and `channels` is not allowed):
///
/// ```toml
/// [data]
/// kind = "stacked-mnist"
/// path = "assets/data/mnist10k-images-idx3-ubyte.gz"  # the digits (default)
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
    /// `"grayscale"` (default) or `"rgb"`; StackedMNIST reads grayscale digits.
    #[serde(default = "default_channels")]
    pub channels: Channels,
    /// Train on the first `limit` images of `path` only (file order for IDX, sorted paths
    /// for folders), their labels alike; StackedMNIST draws its digits from them. `[eval]`
    /// still scores against all images of `path`. `None` (default, not written into the
    /// resolved config): all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Whether the run trains on the images or on stacked digits: set by `[data] kind`, not a
    /// field of its own.
    #[serde(skip)]
    pub kind: ImageKind,
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
            limit: None,
            kind: ImageKind::Dataset,
        }
    }
}

impl ImageDataConfig {
    /// StackedMNIST over the digits at `path` (28×28, labels beside them).
    pub fn stacked_mnist(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            kind: ImageKind::StackedMnist,
            ..Self::default()
        }
    }

    /// True for `kind = "stacked-mnist"`.
    pub fn is_stacked(&self) -> bool {
        self.kind == ImageKind::StackedMnist
    }

    /// The shape of one image the networks see, `[channels, height, width]`: `[3, height,
    /// width]` for StackedMNIST.
    pub fn shape(&self) -> [usize; 3] {
        let [channels, height, width] = FolderOptions::new(self.size, self.channels).shape();
        match self.kind {
            ImageKind::Dataset => [channels, height, width],
            ImageKind::StackedMnist => [STACKED_CHANNELS, height, width],
        }
    }

    /// The batch source of an image run over `dataset` (loaded with [`load`](Self::load)):
    /// shuffled epochs of the images, or stacked digits.
    ///
    /// # Errors
    ///
    /// [`AppError::Data`] when stacked digits are asked of a dataset with colour channels.
    pub fn source(&self, dataset: ImageDataset) -> Result<ImageSource, AppError> {
        match self.kind {
            ImageKind::Dataset => Ok(ImageSource::Epoch(EpochSampler::new(dataset))),
            ImageKind::StackedMnist => StackedMnist::new(dataset)
                .map(ImageSource::Stacked)
                .map_err(|e| AppError::Data(format!("{}: {e}", self.path.display()))),
        }
    }

    /// Refuses `limit = 0`, which would leave no images; a limit beyond the dataset is
    /// refused by [`load`](Self::load), which knows its size.
    pub fn validate_limit(&self) -> Result<(), AppError> {
        if self.limit == Some(0) {
            return Err(AppError::config(
                "data.limit = 0 leaves no images to train on; set it to a count from 1 to the \
                 number of images in data.path, or remove it to train on all of them",
            ));
        }
        Ok(())
    }

    /// Loads the images the run trains on: [`load_all`](Self::load_all), cut to the first
    /// `limit` images when `limit` is set.
    ///
    /// # Errors
    ///
    /// Those of [`load_all`](Self::load_all); [`AppError::Config`] when `limit` is 0 or more
    /// than the images in `path`, naming the value and the fix.
    pub fn load(&self) -> Result<ImageDataset, AppError> {
        self.validate_limit()?;
        let dataset = self.load_all()?;
        let Some(limit) = self.limit else {
            return Ok(dataset);
        };
        let available = dataset.len();
        dataset.first(limit).ok_or_else(|| {
            AppError::config(format!(
                "data.limit = {limit} is more than the {available} images of {}; set data.limit \
                 to at most {available}, or remove it to train on all of them",
                self.path.display()
            ))
        })
    }

    /// Loads every image of `path`, ignoring `limit` (for StackedMNIST: the one-channel
    /// digits): the real reference of `[eval]`. Errors name the file and the fix; nothing
    /// panics on bad files.
    pub fn load_all(&self) -> Result<ImageDataset, AppError> {
        let channels = match self.kind {
            ImageKind::Dataset => self.channels,
            ImageKind::StackedMnist => Channels::Grayscale,
        };
        let options = FolderOptions::new(self.size, channels);
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
        /// StackedMNIST's section: the digits, without `channels`.
        #[derive(Serialize)]
        struct Stacked<'a> {
            kind: &'static str,
            path: &'a Path,
            #[serde(skip_serializing_if = "Option::is_none")]
            labels: &'a Option<PathBuf>,
            size: [usize; 2],
            #[serde(skip_serializing_if = "Option::is_none")]
            limit: Option<usize>,
        }
        match self {
            DataConfig::Toy(toy) => toy.serialize(serializer),
            DataConfig::Images(config) if config.is_stacked() => Stacked {
                kind: STACKED_MNIST,
                path: &config.path,
                labels: &config.labels,
                size: config.size,
                limit: config.limit,
            }
            .serialize(serializer),
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
            Some(STACKED_MNIST) => {
                table.remove("kind");
                if let Some(channels) = table.get("channels") {
                    return Err(D::Error::custom(format!(
                        "data.channels = {channels} does not apply to kind = \"{STACKED_MNIST}\", \
                         whose three channels are three grayscale digits; remove data.channels"
                    )));
                }
                let mut config: ImageDataConfig = parse(table)?;
                config.kind = ImageKind::StackedMnist;
                Ok(DataConfig::Images(config))
            }
            Some("ring" | "grid") => parse(table).map(DataConfig::Toy),
            Some(other) => Err(D::Error::custom(format!(
                "unknown data kind `{other}`, expected `ring`, `grid`, `images` or \
                 `{STACKED_MNIST}`"
            ))),
            None => Err(D::Error::custom(format!(
                "[data] needs a kind: \"ring\", \"grid\", \"images\" or \"{STACKED_MNIST}\""
            ))),
        }
    }
}

/// The `[data] kind` of StackedMNIST.
pub const STACKED_MNIST: &str = "stacked-mnist";

/// The batch source of the image run `config` over `dataset` (its `[data]` loaded with
/// [`ImageDataConfig::load`]): see [`ImageDataConfig::source`].
///
/// # Errors
///
/// [`AppError::Config`] for a toy config or for class-conditional networks on StackedMNIST
/// (its 1,000 modes are not classes the networks are given); the errors of
/// [`ImageDataConfig::source`].
pub fn image_source(config: &TrainConfig, dataset: ImageDataset) -> Result<ImageSource, AppError> {
    let DataConfig::Images(images) = &config.data else {
        return Err(AppError::config(
            "image training needs [data] kind = \"images\" or \"stacked-mnist\"",
        ));
    };
    let classes = config.generator.num_classes();
    if images.is_stacked() && classes > 0 {
        return Err(AppError::config(format!(
            "[data] kind = \"{STACKED_MNIST}\" trains unconditional networks (its modes are what \
             the generator must find on its own), but the networks have num_classes = \
             {classes}; use generator.kind = \"dcgan\" and a discriminator without classes"
        )));
    }
    images.source(dataset)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A StackedMNIST config with small DCGAN networks; `data` is the `[data]` body.
    fn stacked(data: &str, generator: &str) -> String {
        format!(
            r#"
            [data]
            kind = "stacked-mnist"
            {data}
            [generator]
            kind = "{generator}"
            latent_dim = 8
            hidden = 16
            channels = [8, 4]
            [discriminator]
            kind = "dcgan"
            channels = [4, 8]
            hidden = 16
            [loss]
            kind = "non-saturating"
            [optimizer.generator]
            kind = "adam"
            lr = 2e-4
            [optimizer.discriminator]
            kind = "adam"
            lr = 2e-4
            "#
        )
    }

    #[test]
    fn stacked_mnist_reads_three_channel_images_of_the_shipped_digits_and_round_trips() {
        let config = TrainConfig::from_toml(&stacked("", "dcgan"), "test").unwrap();
        let DataConfig::Images(images) = &config.data else {
            panic!("image data expected");
        };
        assert!(images.is_stacked());
        assert_eq!(images, &ImageDataConfig::stacked_mnist(DEFAULT_IMAGES));
        assert_eq!(images.shape(), [3, 28, 28]);
        assert_eq!(images.channels, Channels::Grayscale);
        config.validate().unwrap();
        let text = config.to_toml();
        assert!(text.contains("kind = \"stacked-mnist\""), "{text}");
        assert!(!text.contains("channels = \"grayscale\""), "{text}");
        let again = TrainConfig::from_toml(&text, "resolved").unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn stacked_mnist_refuses_channels_and_class_conditional_networks() {
        let error = TrainConfig::from_toml(&stacked("channels = \"rgb\"", "dcgan"), "t")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("data.channels = \"rgb\" does not apply to kind = \"stacked-mnist\""),
            "{error}"
        );
        let conditional = stacked("", "conditional-dcgan")
            .replace("channels = [8, 4]", "channels = [8, 4]\nnum_classes = 10")
            .replace(
                "kind = \"dcgan\"\n            channels = [4, 8]",
                "kind = \"projection\"\n            num_classes = 10\n            channels = [4, 8]",
            );
        let config = TrainConfig::from_toml(&conditional, "t").unwrap();
        let digits = ImageDataset::from_u8(&[0; 8 * 784], [8, 1, 28, 28], None).unwrap();
        let error = image_source(&config, digits).unwrap_err().to_string();
        assert!(error.contains("trains unconditional networks"), "{error}");
        assert!(error.contains("num_classes = 10"), "{error}");
    }

    /// The shipped digits and labels, by absolute path (tests run from the crate folder).
    fn shipped(limit: Option<usize>) -> ImageDataConfig {
        let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/data");
        ImageDataConfig {
            path: PathBuf::from(format!("{assets}/mnist10k-images-idx3-ubyte.gz")),
            labels: Some(PathBuf::from(format!(
                "{assets}/mnist10k-labels-idx1-ubyte.gz"
            ))),
            limit,
            ..ImageDataConfig::default()
        }
    }

    #[test]
    fn a_limit_keeps_the_first_images_of_the_file_byte_for_byte_and_their_labels() {
        let config = shipped(Some(100));
        let limited = config.load().unwrap();
        assert_eq!(limited.len(), 100);
        assert_eq!(limited.shape(), [1, 28, 28]);
        let images = burngan_data::idx::read_idx_images(&config.path).unwrap();
        let labels = burngan_data::idx::read_idx_labels(config.labels.as_ref().unwrap()).unwrap();
        assert_eq!(images.dims(), &[10_000, 28, 28]);
        let bytes = &images.data()[..100 * 784];
        assert_eq!(limited.pixels().len(), bytes.len());
        for (i, (&pixel, &byte)) in limited.pixels().iter().zip(bytes).enumerate() {
            assert_eq!(pixel, f32::from(byte) / 127.5 - 1.0, "value {i}");
        }
        let first: Vec<usize> = labels.data()[..100]
            .iter()
            .map(|&l| usize::from(l))
            .collect();
        assert_eq!(limited.labels(), Some(&first[..]));
        // The reference of [eval] and an absent limit see all 10,000 images.
        assert_eq!(config.load_all().unwrap().len(), 10_000);
        assert_eq!(shipped(None).load().unwrap().len(), 10_000);
        assert_eq!(shipped(Some(10_000)).load().unwrap().len(), 10_000);
    }

    #[test]
    fn a_limit_of_zero_or_beyond_the_dataset_is_refused_with_the_value_and_the_fix() {
        let zero = shipped(Some(0)).load().unwrap_err().to_string();
        assert!(zero.contains("data.limit = 0 leaves no images"), "{zero}");
        assert!(zero.contains("remove it to train on all of them"), "{zero}");
        let over = shipped(Some(10_001)).load().unwrap_err().to_string();
        assert!(
            over.contains("data.limit = 10001 is more than the 10000 images of"),
            "{over}"
        );
        assert!(over.contains("set data.limit to at most 10000"), "{over}");
        // validate() refuses 0 before any file is read.
        let text = stacked("limit = 0", "dcgan");
        let config = TrainConfig::from_toml(&text, "t").unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("data.limit = 0"), "{error}");
    }

    #[test]
    fn a_limit_round_trips_and_is_absent_from_the_resolved_config_unless_given() {
        for kind in ["images", "stacked-mnist"] {
            let plain = stacked("", "dcgan").replace("stacked-mnist", kind);
            let config = TrainConfig::from_toml(&plain, "t").unwrap();
            assert!(!config.to_toml().contains("limit"), "{}", config.to_toml());
            let limited = stacked("limit = 1000", "dcgan").replace("stacked-mnist", kind);
            let config = TrainConfig::from_toml(&limited, "t").unwrap();
            let DataConfig::Images(images) = &config.data else {
                panic!("image data expected");
            };
            assert_eq!(images.limit, Some(1000));
            let text = config.to_toml();
            assert!(text.contains("limit = 1000"), "{text}");
            assert_eq!(TrainConfig::from_toml(&text, "resolved").unwrap(), config);
        }
    }

    #[test]
    fn the_evaluator_of_a_limited_run_keeps_all_images_as_its_reference() {
        let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
        let classifier = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/eval/mnist-classifier.bpk"
        );
        let config = shipped(Some(100));
        let limited = config.load().unwrap();
        let evaluator = crate::ImageEvaluator::for_data(
            Path::new(classifier),
            &limited,
            &config,
            burngan_metrics::DEFAULT_K,
            &device,
        )
        .unwrap();
        let all = shipped(None);
        let full = crate::ImageEvaluator::for_data(
            Path::new(classifier),
            &all.load().unwrap(),
            &all,
            burngan_metrics::DEFAULT_K,
            &device,
        )
        .unwrap();
        assert_eq!(evaluator.reference_len(), 5_000);
        // The same reference and held-out digits: the held-out row scores identically.
        let settings = crate::periodic_score_settings();
        assert_eq!(
            evaluator.score_held_out(&settings).unwrap(),
            full.score_held_out(&settings).unwrap()
        );
        // The card names the shipped set: the 100 digits, hashed alone, would not match it.
        assert_eq!(
            evaluator.data_warnings(&limited, &config.path),
            Vec::<String>::new()
        );
    }

    #[test]
    fn stacked_mnist_draws_its_digits_from_the_limited_set() {
        let mut config = shipped(Some(3));
        config.kind = ImageKind::StackedMnist;
        let digits = config.load().unwrap();
        assert_eq!(digits.len(), 3);
        let ImageSource::Stacked(stacked) = config.source(digits.clone()).unwrap() else {
            panic!("stacked source expected");
        };
        assert_eq!(stacked.digits(), &digits);
    }

    #[test]
    fn the_source_follows_the_kind() {
        let digits = ImageDataset::from_u8(&[0; 4 * 16], [4, 1, 4, 4], None).unwrap();
        let plain = ImageDataConfig::default().source(digits.clone()).unwrap();
        assert!(matches!(plain, ImageSource::Epoch(_)));
        assert_eq!(plain.shape(), [1, 4, 4]);
        let stacked = ImageDataConfig::stacked_mnist("digits.idx")
            .source(digits)
            .unwrap();
        assert!(matches!(stacked, ImageSource::Stacked(_)));
        assert_eq!(stacked.shape(), [3, 4, 4]);
        let colour = ImageDataset::from_u8(&[0; 3 * 16], [1, 3, 4, 4], None).unwrap();
        let error = ImageDataConfig::stacked_mnist("colour")
            .source(colour)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("colour: stacked digits need one-channel"),
            "{error}"
        );
    }
}
