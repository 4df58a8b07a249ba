//! In-memory image datasets loaded from IDX files or from folders of PNG/JPEG images.
//!
//! Every dataset is held as `f32` scaled from bytes to [−1, 1] (`pixel / 127.5 − 1`, so 0 ↦ −1
//! and 255 ↦ 1), in the layout `[n, channels, height, width]`, row-major: the generator's
//! `tanh` output range and the shape the image models take.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, Pixel};
use serde::{Deserialize, Serialize};

use crate::DataError;
use crate::idx::{labels_path_for, read_idx_images, read_idx_labels};

/// The largest height or width a folder dataset may be resized to.
const MAX_SIDE: usize = 16_384;

/// The colour channels images are converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channels {
    /// One channel: luminance.
    Grayscale,
    /// Three channels: red, green, blue (any alpha channel is dropped).
    Rgb,
}

impl Channels {
    /// The number of channels: 1 or 3.
    pub fn count(self) -> usize {
        match self {
            Channels::Grayscale => 1,
            Channels::Rgb => 3,
        }
    }
}

/// How a folder of images is turned into a dataset, and the image shape an IDX file must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderOptions {
    /// `[height, width]` every image is resized to.
    pub size: [usize; 2],
    /// The channels every image is converted to.
    pub channels: Channels,
}

impl FolderOptions {
    /// Options for `size = [height, width]` and `channels`.
    pub fn new(size: [usize; 2], channels: Channels) -> Self {
        Self { size, channels }
    }

    /// The shape of one image under these options: `[channels, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels.count(), self.size[0], self.size[1]]
    }

    /// Checks that both sides are between 1 and 16384.
    fn validate(&self) -> Result<(), DataError> {
        for side in self.size {
            if !(1..=MAX_SIDE).contains(&side) {
                return Err(DataError::OutOfRange {
                    field: "data.size",
                    value: side as f64,
                    expected: "a height and width between 1 and 16384",
                });
            }
        }
        Ok(())
    }
}

/// A set of images in memory as `f32` in [−1, 1], layout `[n, channels, height, width]`,
/// with an optional class label per image.
///
/// A dataset is never empty: every constructor fails rather than return zero images.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDataset {
    pixels: Vec<f32>,
    len: usize,
    shape: [usize; 3],
    labels: Option<Vec<usize>>,
    num_classes: Option<usize>,
    class_names: Option<Vec<String>>,
}

impl ImageDataset {
    /// A dataset from bytes in the layout `[n, channels, height, width]` (`shape`), each
    /// scaled to `byte / 127.5 − 1`, with optional labels (one per image; the number of
    /// classes is the largest label plus one).
    ///
    /// Fails when a size is 0, when `pixels.len()` is not the product of `shape`, or when the
    /// label count is not `n`.
    pub fn from_u8(
        pixels: &[u8],
        shape: [usize; 4],
        labels: Option<Vec<usize>>,
    ) -> Result<Self, DataError> {
        if shape.contains(&0) {
            return Err(DataError::OutOfRange {
                field: "shape",
                value: 0.0,
                expected: "n, channels, height and width of at least 1",
            });
        }
        let expected = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if expected != Some(pixels.len()) {
            return Err(DataError::PixelCount {
                shape,
                expected: expected.map_or_else(|| "more than usize::MAX".into(), |e| e.to_string()),
                found: pixels.len(),
            });
        }
        let [n, c, h, w] = shape;
        Self::new(
            pixels.iter().map(|&p| scale(p)).collect(),
            n,
            [c, h, w],
            labels,
            None,
            ("the label vector", "the pixel buffer"),
        )
    }

    /// Reads IDX images `[n, rows, cols]` (raw or gzipped) and, when `labels` is given, IDX
    /// labels `[n]`; the result has shape `[n, 1, rows, cols]`.
    ///
    /// Fails with a [`DataError`] naming the file when either file is missing or malformed
    /// (see [`read_idx`](crate::idx::read_idx)), or when the two counts differ.
    pub fn from_idx(images: &Path, labels: Option<&Path>) -> Result<Self, DataError> {
        let array = read_idx_images(images)?;
        let (n, rows, cols) = match *array.dims() {
            [n, rows, cols] => (n, rows, cols),
            // `read_idx_images` only returns rank 3; this arm keeps the code panic-free.
            _ => {
                return Err(DataError::IdxRank {
                    path: images.to_path_buf(),
                    what: "images",
                    expected: 3,
                    found: array.dims().len() as u8,
                });
            }
        };
        let (labels, labels_source) = match labels {
            Some(path) => {
                let labels = read_idx_labels(path)?.into_data();
                let labels = labels.into_iter().map(usize::from).collect();
                (Some(labels), path.display().to_string())
            }
            None => (None, String::new()),
        };
        let pixels = array.data().iter().map(|&p| scale(p)).collect();
        let images_source = images.display().to_string();
        Self::new(
            pixels,
            n,
            [1, rows, cols],
            labels,
            None,
            (&labels_source, &images_source),
        )
    }

    /// Reads IDX images and, when it exists, the labels file beside them: the name with
    /// `images` → `labels` and `idx3` → `idx1`, gzipped or not (see
    /// [`labels_path_for`](crate::idx::labels_path_for)). Without such a file the dataset is
    /// unlabelled.
    pub fn open_idx(images: &Path) -> Result<Self, DataError> {
        let labels = labels_path_for(images);
        Self::from_idx(images, labels.as_deref())
    }

    /// Loads every PNG and JPEG image in `dir`, resized to `options.size` (triangle filter)
    /// and converted to `options.channels`.
    ///
    /// Two layouts are accepted:
    /// * images directly in `dir`: an unlabelled dataset;
    /// * only sub-folders in `dir`, one per class: class `k` is the `k`-th sub-folder in sorted
    ///   order, and its images are the PNG/JPEG files directly inside it.
    ///
    /// Images are recognised by the extension `.png`, `.jpg` or `.jpeg` (any case) and decoded
    /// by their content; other files and names starting with `.` are ignored. Files are loaded
    /// in sorted path order, so the dataset is the same on every run.
    ///
    /// Fails when `dir` does not exist, holds no images (or a class folder holds none), mixes
    /// images with class folders, or when an image cannot be decoded (the error names it).
    pub fn from_folder(dir: &Path, options: FolderOptions) -> Result<Self, DataError> {
        options.validate()?;
        let listing = list_folder(dir)?;
        let shape = options.shape();
        match (listing.images.first(), listing.folders.first()) {
            (Some(file), Some(folder)) => Err(DataError::MixedLayout {
                path: dir.to_path_buf(),
                file: file.clone(),
                folder: folder.clone(),
            }),
            (None, None) => Err(DataError::EmptyFolder {
                path: dir.to_path_buf(),
            }),
            (Some(_), None) => {
                let mut pixels = Vec::new();
                for file in &listing.images {
                    load_image(file, options, &mut pixels)?;
                }
                let source = dir.display().to_string();
                Self::new(
                    pixels,
                    listing.images.len(),
                    shape,
                    None,
                    None,
                    (&source, &source),
                )
            }
            (None, Some(_)) => {
                let mut pixels = Vec::new();
                let mut labels = Vec::new();
                let mut names = Vec::new();
                for (class, folder) in listing.folders.iter().enumerate() {
                    let files = list_folder(folder)?.images;
                    if files.is_empty() {
                        return Err(DataError::EmptyFolder {
                            path: folder.clone(),
                        });
                    }
                    for file in &files {
                        load_image(file, options, &mut pixels)?;
                        labels.push(class);
                    }
                    names.push(
                        folder
                            .file_name()
                            .map(|name| name.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    );
                }
                let source = dir.display().to_string();
                Self::new(
                    pixels,
                    labels.len(),
                    shape,
                    Some(labels),
                    Some(names),
                    (&source, &source),
                )
            }
        }
    }

    /// Opens `path` by what it is: a directory is loaded with
    /// [`from_folder`](Self::from_folder); a file is read as IDX images with
    /// [`open_idx`](Self::open_idx), and must then already have the shape `options` asks for
    /// (grayscale, `options.size`), or the error names both shapes.
    pub fn open(path: &Path, options: FolderOptions) -> Result<Self, DataError> {
        let metadata = fs::metadata(path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => DataError::NotFound {
                path: path.to_path_buf(),
            },
            _ => io_error(path, error),
        })?;
        if metadata.is_dir() {
            return Self::from_folder(path, options);
        }
        options.validate()?;
        let dataset = Self::open_idx(path)?;
        if dataset.shape != options.shape() {
            return Err(DataError::ShapeMismatch {
                path: path.to_path_buf(),
                requested: options.shape(),
                found: dataset.shape,
            });
        }
        Ok(dataset)
    }

    /// The number of images n (at least 1).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the dataset holds no images; always `false`, since constructors refuse to
    /// build an empty one.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The shape of one image, `[channels, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// The number of values in one image, `channels × height × width`.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Image `i` as `[channels, height, width]` values in [−1, 1], row-major.
    ///
    /// # Panics
    ///
    /// When `i >= len()`.
    pub fn image(&self, i: usize) -> &[f32] {
        let size = self.image_len();
        &self.pixels[i * size..(i + 1) * size]
    }

    /// All images, `[n, channels, height, width]` row-major.
    pub fn pixels(&self) -> &[f32] {
        &self.pixels
    }

    /// The class label of every image, `[n]`, when the source had labels.
    pub fn labels(&self) -> Option<&[usize]> {
        self.labels.as_deref()
    }

    /// The number of classes when labelled: the number of class folders, or for IDX and
    /// in-memory data the largest label plus one.
    pub fn num_classes(&self) -> Option<usize> {
        self.num_classes
    }

    /// The class folder names in label order, for datasets loaded from class folders.
    pub fn class_names(&self) -> Option<&[String]> {
        self.class_names.as_deref()
    }

    /// The first `n` images in the dataset's order (file order for IDX, sorted paths for
    /// folders), with their labels; class names are kept. `None` when `n` is 0 (a dataset is
    /// never empty) or more than [`len`](Self::len).
    pub fn first(mut self, n: usize) -> Option<Self> {
        if n == 0 || n > self.len {
            return None;
        }
        self.pixels.truncate(n * self.image_len());
        self.pixels.shrink_to_fit();
        if let Some(labels) = &mut self.labels {
            labels.truncate(n);
        }
        self.len = n;
        if self.class_names.is_none() {
            self.num_classes = self
                .labels
                .as_ref()
                .and_then(|labels| labels.iter().max().map(|&max| max.saturating_add(1)));
        }
        Some(self)
    }

    /// Assembles a dataset, checking that the labels (when present) number `len`.
    fn new(
        pixels: Vec<f32>,
        len: usize,
        shape: [usize; 3],
        labels: Option<Vec<usize>>,
        class_names: Option<Vec<String>>,
        (labels_source, images_source): (&str, &str),
    ) -> Result<Self, DataError> {
        if let Some(labels) = &labels
            && labels.len() != len
        {
            return Err(DataError::LabelCount {
                labels_source: labels_source.to_string(),
                labels: labels.len(),
                images_source: images_source.to_string(),
                images: len,
            });
        }
        let num_classes = match (&class_names, &labels) {
            (Some(names), _) => Some(names.len()),
            (None, Some(labels)) => labels.iter().max().map(|&max| max.saturating_add(1)),
            (None, None) => None,
        };
        Ok(Self {
            pixels,
            len,
            shape,
            labels,
            num_classes,
            class_names,
        })
    }
}

/// `byte / 127.5 − 1`: 0 ↦ −1, 255 ↦ 1.
fn scale(byte: u8) -> f32 {
    f32::from(byte) / 127.5 - 1.0
}

/// The entries of a folder that matter to [`ImageDataset::from_folder`], sorted by path.
struct Listing {
    /// Files with an image extension.
    images: Vec<PathBuf>,
    /// Sub-folders (following symbolic links).
    folders: Vec<PathBuf>,
}

/// Lists the image files and sub-folders of `dir`, skipping names that start with `.`.
fn list_folder(dir: &Path) -> Result<Listing, DataError> {
    let entries = fs::read_dir(dir).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => DataError::NotFound {
            path: dir.to_path_buf(),
        },
        _ => io_error(dir, error),
    })?;
    let mut listing = Listing {
        images: Vec::new(),
        folders: Vec::new(),
    };
    for entry in entries {
        let path = entry.map_err(|error| io_error(dir, error))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        let metadata = fs::metadata(&path).map_err(|error| io_error(&path, error))?;
        if metadata.is_dir() {
            listing.folders.push(path);
        } else if metadata.is_file() && has_image_extension(&path) {
            listing.images.push(path);
        }
    }
    listing.images.sort();
    listing.folders.sort();
    Ok(listing)
}

/// Whether `path` ends in `.png`, `.jpg` or `.jpeg`, in any case.
fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| {
            ["png", "jpg", "jpeg"]
                .iter()
                .any(|known| ext.eq_ignore_ascii_case(known))
        })
}

/// Decodes `path`, converts and resizes it as `options` say, and appends its scaled values to
/// `out` as `[channels, height, width]`.
fn load_image(path: &Path, options: FolderOptions, out: &mut Vec<f32>) -> Result<(), DataError> {
    let bad = |message: String| DataError::BadImage {
        path: path.to_path_buf(),
        message,
    };
    let decoded: DynamicImage = image::io::Reader::open(path)
        .map_err(|error| io_error(path, error))?
        .with_guessed_format()
        .map_err(|error| io_error(path, error))?
        .decode()
        .map_err(|error| bad(error.to_string()))?;
    // `validate` bounds both sides by 16384, so they fit in u32.
    let [height, width] = options.size.map(|side| side as u32);
    match options.channels {
        Channels::Grayscale => {
            let image = resized(decoded.to_luma8(), width, height);
            out.extend(image.as_raw().iter().map(|&p| scale(p)));
        }
        Channels::Rgb => {
            let image = resized(decoded.to_rgb8(), width, height);
            let interleaved = image.as_raw();
            // Interleaved RGBRGB… to planar [3, height, width].
            for channel in 0..3 {
                out.extend(
                    interleaved
                        .iter()
                        .skip(channel)
                        .step_by(3)
                        .map(|&p| scale(p)),
                );
            }
        }
    }
    Ok(())
}

/// `image` resized to `width × height` with a triangle filter, or unchanged if it already is.
fn resized<P: Pixel<Subpixel = u8> + 'static>(
    image: ImageBuffer<P, Vec<u8>>,
    width: u32,
    height: u32,
) -> ImageBuffer<P, Vec<u8>> {
    if image.dimensions() == (width, height) {
        image
    } else {
        imageops::resize(&image, width, height, FilterType::Triangle)
    }
}

/// The [`DataError::Io`] for `error` while reading `path`.
fn io_error(path: &Path, error: io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use image::{GrayImage, Luma, Rgb, RgbImage};

    use super::*;
    use crate::idx::tests::{gzip, idx_bytes, write};

    const ASSETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/data");

    fn gray(size: [usize; 2]) -> FolderOptions {
        FolderOptions::new(size, Channels::Grayscale)
    }

    #[test]
    fn first_keeps_the_leading_images_and_labels_and_refuses_zero_or_too_many() {
        let pixels: Vec<u8> = (0..5 * 4).map(|i| i as u8 * 10).collect();
        let labels = vec![3, 1, 4, 1, 5];
        let all = ImageDataset::from_u8(&pixels, [5, 1, 2, 2], Some(labels)).unwrap();
        let two = all.clone().first(2).unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two.pixels(), &all.pixels()[..8]);
        assert_eq!(two.labels(), Some(&[3, 1][..]));
        assert_eq!(two.num_classes(), Some(4));
        assert_eq!(all.clone().first(5).unwrap(), all);
        assert!(all.clone().first(0).is_none());
        assert!(all.first(6).is_none());
    }

    #[test]
    fn idx_values_are_scaled_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let pixels = [0u8, 255, 51, 128, 1, 254];
        let images = idx_bytes(&[3, 1, 2], &pixels);
        let labels = idx_bytes(&[3], &[4, 0, 2]);
        let raw = write(dir.path(), "tiny-images-idx3-ubyte", &images);
        write(dir.path(), "tiny-labels-idx1-ubyte", &labels);
        let gz = write(dir.path(), "zipped-images-idx3-ubyte.gz", &gzip(&images));
        write(dir.path(), "zipped-labels-idx1-ubyte.gz", &gzip(&labels));
        for path in [raw, gz] {
            let data = ImageDataset::open_idx(&path).unwrap();
            assert_eq!(data.len(), 3);
            assert!(!data.is_empty());
            assert_eq!(data.shape(), [1, 1, 2]);
            assert_eq!(data.image(0), [-1.0, 1.0]);
            assert_eq!(data.image(1)[0], 51.0 / 127.5 - 1.0);
            assert_eq!(data.image(1)[0], -0.6);
            assert_eq!(data.image(2), [1.0 / 127.5 - 1.0, 254.0 / 127.5 - 1.0]);
            assert_eq!(data.labels(), Some(&[4, 0, 2][..]));
            assert_eq!(data.num_classes(), Some(5));
        }
        let unlabelled = ImageDataset::from_idx(&dir.path().join("tiny-images-idx3-ubyte"), None);
        assert_eq!(unlabelled.unwrap().labels(), None);
    }

    #[test]
    fn label_count_mismatch_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let images = write(dir.path(), "a-images", &idx_bytes(&[3, 2, 2], &[0; 12]));
        let labels = write(dir.path(), "a-labels", &idx_bytes(&[2], &[0, 1]));
        let message = ImageDataset::from_idx(&images, Some(&labels))
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            format!(
                "{} holds 2 labels but {} holds 3 images; pass the labels that belong to these \
                 images",
                labels.display(),
                images.display()
            )
        );
        let in_memory = ImageDataset::from_u8(&[0; 4], [2, 1, 1, 2], Some(vec![0]));
        assert!(
            in_memory
                .unwrap_err()
                .to_string()
                .starts_with("the label vector holds 1 labels but the pixel buffer holds 2")
        );
    }

    #[test]
    fn the_shipped_mnist_subset_loads() {
        let images = Path::new(ASSETS).join("mnist10k-images-idx3-ubyte.gz");
        let data = ImageDataset::open_idx(&images).unwrap();
        assert_eq!(data.len(), 10_000);
        assert_eq!(data.shape(), [1, 28, 28]);
        assert_eq!(data.pixels().len(), 10_000 * 28 * 28);
        assert_eq!(data.num_classes(), Some(10));
        let labels = data.labels().unwrap();
        let mut counts = [0usize; 10];
        for &label in labels {
            counts[label] += 1;
        }
        assert!(counts.iter().all(|&c| c > 500), "class counts {counts:?}");
        assert_eq!(labels[..10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        // Real digits: a dark background with some full-intensity ink.
        let (min, max) = data
            .pixels()
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &p| (lo.min(p), hi.max(p)));
        assert_eq!((min, max), (-1.0, 1.0));
        let mean = data.pixels().iter().map(|&p| f64::from(p)).sum::<f64>() / 7_840_000.0;
        assert!((-0.85..-0.7).contains(&mean), "mean {mean}");
        // `open` with matching options gives the same data; other shapes are refused.
        let opened = ImageDataset::open(&images, gray([28, 28])).unwrap();
        assert_eq!(opened, data);
        let message = ImageDataset::open(&images, FolderOptions::new([32, 32], Channels::Rgb))
            .unwrap_err()
            .to_string();
        assert!(
            message
                .contains("holds 1×28×28 images (channels×height×width) but 3×32×32 was requested"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_or_empty_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert_eq!(
            ImageDataset::from_folder(&missing, gray([8, 8])).unwrap_err(),
            DataError::NotFound {
                path: missing.clone()
            }
        );
        assert_eq!(
            ImageDataset::open(&missing, gray([8, 8])).unwrap_err(),
            DataError::NotFound { path: missing }
        );
        write(dir.path(), "notes.txt", b"no images here");
        let message = ImageDataset::from_folder(dir.path(), gray([8, 8]))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("contains no PNG or JPEG images"),
            "{message}"
        );
        let bad_size = ImageDataset::from_folder(dir.path(), gray([0, 8])).unwrap_err();
        assert!(
            bad_size
                .to_string()
                .starts_with("data.size = 0 is out of range")
        );
    }

    #[test]
    fn a_corrupt_image_is_named() {
        let dir = tempfile::tempdir().unwrap();
        GrayImage::new(4, 4).save(dir.path().join("a.png")).unwrap();
        let corrupt = write(dir.path(), "b.png", b"\x89PNG\r\n\x1a\n this is not a png");
        let message = ImageDataset::from_folder(dir.path(), gray([4, 4]))
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with(&format!("could not decode image {}: ", corrupt.display())),
            "{message}"
        );
        assert!(
            message.ends_with("; remove or replace the file"),
            "{message}"
        );
    }

    #[test]
    fn mixed_source_sizes_are_resized() {
        let dir = tempfile::tempdir().unwrap();
        // A white 10×6 PNG, a black 3×5 JPEG and a mid-grey 8×8 PNG (RGB on disk).
        GrayImage::from_pixel(10, 6, Luma([255]))
            .save(dir.path().join("1-wide.png"))
            .unwrap();
        GrayImage::from_pixel(3, 5, Luma([0]))
            .save(dir.path().join("2-small.JPG"))
            .unwrap();
        RgbImage::from_pixel(8, 8, Rgb([51, 51, 51]))
            .save(dir.path().join("3-square.png"))
            .unwrap();
        let data = ImageDataset::from_folder(dir.path(), gray([4, 7])).unwrap();
        assert_eq!(data.len(), 3);
        assert_eq!(data.shape(), [1, 4, 7]);
        assert_eq!(data.labels(), None);
        assert_eq!(data.num_classes(), None);
        // Constant images stay constant when resized (JPEG may be off by a level or two).
        assert!(data.image(0).iter().all(|&p| p == 1.0));
        assert!(
            data.image(1).iter().all(|&p| p < -0.95),
            "{:?}",
            data.image(1)
        );
        assert!(data.image(2).iter().all(|&p| p == 51.0 / 127.5 - 1.0));
    }

    #[test]
    fn class_folders_give_labels() {
        let dir = tempfile::tempdir().unwrap();
        for (class, count) in [("zebra", 1), ("cat", 2), ("dog", 3)] {
            let folder = dir.path().join(class);
            fs::create_dir(&folder).unwrap();
            for i in 0..count {
                GrayImage::new(5, 5)
                    .save(folder.join(format!("{i}.png")))
                    .unwrap();
            }
            write(&folder, "labels.csv", b"ignored");
        }
        fs::create_dir(dir.path().join(".cache")).unwrap(); // hidden: ignored
        write(dir.path(), "README.md", b"ignored");
        let data = ImageDataset::from_folder(dir.path(), gray([5, 5])).unwrap();
        assert_eq!(data.len(), 6);
        assert_eq!(data.labels(), Some(&[0, 0, 1, 1, 1, 2][..]));
        assert_eq!(data.num_classes(), Some(3));
        let names = data.class_names().unwrap();
        assert_eq!(names, ["cat", "dog", "zebra"]);

        // A class folder without images is an error naming it.
        fs::create_dir(dir.path().join("empty")).unwrap();
        let error = ImageDataset::from_folder(dir.path(), gray([5, 5])).unwrap_err();
        assert_eq!(
            error,
            DataError::EmptyFolder {
                path: dir.path().join("empty")
            }
        );
        // Images next to class folders are refused.
        fs::remove_dir(dir.path().join("empty")).unwrap();
        GrayImage::new(5, 5)
            .save(dir.path().join("stray.png"))
            .unwrap();
        let message = ImageDataset::from_folder(dir.path(), gray([5, 5]))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("mixes image files (e.g. ") && message.contains("stray.png"),
            "{message}"
        );
    }

    #[test]
    fn grayscale_and_rgb_give_one_and_three_channels() {
        let dir = tempfile::tempdir().unwrap();
        RgbImage::from_fn(3, 2, |x, y| Rgb([255, 0, (40 * (x + y)) as u8]))
            .save(dir.path().join("colour.png"))
            .unwrap();
        let rgb =
            ImageDataset::open(dir.path(), FolderOptions::new([2, 3], Channels::Rgb)).unwrap();
        assert_eq!(rgb.shape(), [3, 2, 3]);
        let image = rgb.image(0);
        assert_eq!(image.len(), 18);
        // Planar: six reds, six greens, then the blue ramp.
        assert!(image[..6].iter().all(|&p| p == 1.0));
        assert!(image[6..12].iter().all(|&p| p == -1.0));
        assert_eq!(image[12..], [0, 40, 80, 40, 80, 120].map(|b: u8| scale(b)));
        let gray = ImageDataset::open(dir.path(), gray([2, 3])).unwrap();
        assert_eq!(gray.shape(), [1, 2, 3]);
        assert_eq!(gray.image(0).len(), 6);
    }

    #[test]
    fn from_u8_checks_the_shape() {
        let data =
            ImageDataset::from_u8(&[0, 255, 0, 255], [2, 1, 1, 2], Some(vec![1, 0])).unwrap();
        assert_eq!(data.image(1), [-1.0, 1.0]);
        assert_eq!(data.num_classes(), Some(2));
        let message = ImageDataset::from_u8(&[0; 5], [2, 1, 1, 2], None)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("needs 4 values but 5 were given"),
            "{message}"
        );
    }
}
