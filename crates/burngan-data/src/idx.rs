//! A reader for the IDX format of MNIST-style datasets.
//!
//! An IDX file is a big-endian header followed by the elements in row-major order:
//!
//! | bytes | meaning |
//! | --- | --- |
//! | 0–1 | two zero bytes |
//! | 2 | the element type; only `0x08` (unsigned byte) is supported here |
//! | 3 | the rank r |
//! | 4 … 4 + 4r | r sizes, each a big-endian `u32` |
//! | then | the product of the sizes, one byte per element |
//!
//! Images are rank 3, `[n, rows, cols]` (magic number `0x00000803`); labels are rank 1, `[n]`
//! (`0x00000801`). Files may be stored raw or gzipped: the gzip magic bytes `0x1f 0x8b` are
//! detected from the content, whatever the file is called.
//!
//! The reader checks the whole header and the exact data length before it allocates the
//! payload, so a corrupt or hostile header cannot make it reserve more memory than the file
//! really holds; every problem is reported as a [`DataError`] naming the file.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::DataError;

/// The type byte of IDX files whose elements are unsigned bytes.
pub const IDX_UBYTE: u8 = 0x08;

/// The magic number of an IDX file of images `[n, rows, cols]` stored as unsigned bytes.
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;

/// The magic number of an IDX file of labels `[n]` stored as unsigned bytes.
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The largest expansion deflate can achieve (about 1032:1). Used only to bound the initial
/// buffer for a gzipped payload; the buffer still grows if the stream really holds more.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// The contents of an IDX file of unsigned bytes: its sizes and its row-major elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    dims: Vec<usize>,
    data: Vec<u8>,
}

impl IdxArray {
    /// The sizes from the header, outermost first: `[n, rows, cols]` for images, `[n]` for
    /// labels. Every size is at least 1.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The elements in row-major order; `data().len()` is the product of [`dims`](Self::dims).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Takes the elements out of the array.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}

/// Reads an IDX file of unsigned bytes with exactly `rank` dimensions, raw or gzipped.
///
/// Fails with a [`DataError`] naming `path` when the file is missing or unreadable, is neither
/// IDX nor gzip, has another element type or rank, has a zero size or sizes whose product
/// overflows, or holds fewer or more data bytes than its header promises.
pub fn read_idx(path: &Path, rank: u8) -> Result<IdxArray, DataError> {
    let io_error = |error: io::Error| io_error(path, error);
    let mut file = File::open(path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => DataError::NotFound {
            path: path.to_path_buf(),
        },
        _ => io_error(error),
    })?;
    let metadata = file.metadata().map_err(io_error)?;
    // Opening a directory succeeds on Unix; reading it would fail with a bare OS error.
    if metadata.is_dir() {
        return Err(DataError::NotAFile {
            path: path.to_path_buf(),
            what: arrays_of_rank(rank),
        });
    }
    let file_len = metadata.len();
    let mut start = [0u8; 2];
    let got = read_full(&mut file, &mut start).map_err(io_error)?;
    file.seek(SeekFrom::Start(0)).map_err(io_error)?;
    if got == start.len() && start == GZIP_MAGIC {
        let stream = MultiGzDecoder::new(BufReader::new(file));
        read_stream(stream, path, rank, Payload::Gzipped { file_len })
    } else {
        read_stream(BufReader::new(file), path, rank, Payload::Raw { file_len })
    }
}

/// Reads an IDX file of images `[n, rows, cols]` (magic `0x00000803`), raw or gzipped.
pub fn read_idx_images(path: &Path) -> Result<IdxArray, DataError> {
    read_idx(path, 3)
}

/// Reads an IDX file of labels `[n]` (magic `0x00000801`), raw or gzipped.
pub fn read_idx_labels(path: &Path) -> Result<IdxArray, DataError> {
    read_idx(path, 1)
}

/// The labels file that belongs to the IDX images file `images`, when one exists beside it.
///
/// The name is derived by replacing the last `images` by `labels` and the last `idx3` by
/// `idx1`: `train-images-idx3-ubyte.gz` → `train-labels-idx1-ubyte.gz`,
/// `t10k-images.idx3-ubyte` → `t10k-labels.idx1-ubyte`. The derived name is tried as it is,
/// then with `.gz` added or removed. Returns `None` when the name contains neither pattern or
/// no such file exists.
pub fn labels_path_for(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    let derived = replace_last(&replace_last(name, "images", "labels"), "idx3", "idx1");
    if derived == name {
        return None;
    }
    let other = match derived.strip_suffix(".gz") {
        Some(stem) => stem.to_string(),
        None => format!("{derived}.gz"),
    };
    [derived, other]
        .into_iter()
        .map(|candidate| images.with_file_name(candidate))
        .find(|candidate| candidate.is_file())
}

/// How the payload reaches the reader, which decides how its length can be checked.
#[derive(Debug, Clone, Copy)]
enum Payload {
    /// Uncompressed: the payload length is the file length minus the header.
    Raw { file_len: u64 },
    /// Gzipped: the payload length is only known by decompressing it.
    Gzipped { file_len: u64 },
}

/// Parses and checks the header from `stream`, then reads exactly the promised payload.
fn read_stream<R: Read>(
    mut stream: R,
    path: &Path,
    rank: u8,
    payload: Payload,
) -> Result<IdxArray, DataError> {
    let raw_dims = read_header(&mut stream, path, rank)?;
    let header = Header::check(path, rank, raw_dims)?;
    let data = read_payload(stream, path, &header, payload)?;
    Ok(IdxArray {
        dims: header.dims,
        data,
    })
}

/// Reads the magic number and the sizes of an IDX header of `rank` dimensions from `stream`
/// and returns the sizes as stored; the magic number must name unsigned bytes and `rank`.
fn read_header<R: Read>(stream: &mut R, path: &Path, rank: u8) -> Result<Vec<u32>, DataError> {
    let io_error = |error: io::Error| io_error(path, error);
    let header_len = header_len(rank);

    let mut magic = [0u8; 4];
    let got = read_full(stream, &mut magic).map_err(io_error)?;
    if got >= 2 && magic[..2] != [0, 0] {
        return Err(DataError::NotIdx {
            path: path.to_path_buf(),
            found: [magic[0], magic[1]],
        });
    }
    if got < magic.len() {
        return Err(DataError::IdxHeaderTruncated {
            path: path.to_path_buf(),
            expected: header_len,
            found: got,
        });
    }
    if magic[2] != IDX_UBYTE {
        return Err(DataError::IdxType {
            path: path.to_path_buf(),
            found: magic[2],
        });
    }
    if magic[3] != rank {
        return Err(DataError::IdxRank {
            path: path.to_path_buf(),
            what: arrays_of_rank(rank),
            expected: rank,
            found: magic[3],
        });
    }

    let mut sizes = vec![0u8; 4 * usize::from(rank)];
    let got = read_full(stream, &mut sizes).map_err(io_error)?;
    if got < sizes.len() {
        return Err(DataError::IdxHeaderTruncated {
            path: path.to_path_buf(),
            expected: header_len,
            found: magic.len() + got,
        });
    }
    Ok(sizes
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// The length in bytes of the header of an IDX file of `rank` dimensions.
fn header_len(rank: u8) -> usize {
    4 + 4 * usize::from(rank)
}

/// A checked IDX header: its sizes and the payload length they promise.
struct Header {
    /// The length of the header in bytes.
    len: usize,
    /// The sizes as stored.
    raw_dims: Vec<u32>,
    /// The sizes, each at least 1.
    dims: Vec<usize>,
    /// The product of the sizes: the payload length.
    expected: u64,
    /// `expected`, which fits in a `usize`.
    expected_len: usize,
}

impl Header {
    /// Checks the sizes `raw_dims` of a header of `rank` dimensions: none zero, their
    /// product representable on this platform.
    fn check(path: &Path, rank: u8, raw_dims: Vec<u32>) -> Result<Self, DataError> {
        let dims_error = |problem| DataError::IdxDims {
            path: path.to_path_buf(),
            dims: raw_dims.clone(),
            problem,
        };
        if raw_dims.contains(&0) {
            return Err(dims_error("every size must be at least 1"));
        }
        let expected = raw_dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)))
            .ok_or_else(|| dims_error("their product overflows 64 bits"))?;
        let dims = raw_dims
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<Vec<usize>, _>>()
            .map_err(|_| dims_error("a size does not fit in this platform's usize"))?;
        let expected_len = usize::try_from(expected)
            .map_err(|_| dims_error("their product does not fit in this platform's usize"))?;
        Ok(Self {
            len: header_len(rank),
            raw_dims,
            dims,
            expected,
            expected_len,
        })
    }

    /// The payload of the file at `path` holds only `found` of the promised bytes.
    fn truncated(&self, path: &Path, found: u64) -> DataError {
        DataError::IdxTruncated {
            path: path.to_path_buf(),
            dims: self.raw_dims.clone(),
            expected: self.expected,
            found,
        }
    }

    /// The payload of the file at `path` holds more than the promised bytes.
    fn trailing(&self, path: &Path) -> DataError {
        DataError::IdxTrailing {
            path: path.to_path_buf(),
            dims: self.raw_dims.clone(),
            expected: self.expected,
        }
    }
}

/// Reads exactly the payload that `header` promises from `stream`, reserving memory only
/// for what the file can really hold.
fn read_payload<R: Read>(
    stream: R,
    path: &Path,
    header: &Header,
    payload: Payload,
) -> Result<Vec<u8>, DataError> {
    let expected = header.expected;
    // Decide how much to reserve only from what the file can really hold.
    let capacity = match payload {
        Payload::Raw { file_len } => {
            let available = file_len.saturating_sub(header.len as u64);
            if available < expected {
                return Err(header.truncated(path, available));
            }
            if available > expected {
                return Err(header.trailing(path));
            }
            header.expected_len
        }
        Payload::Gzipped { file_len } => {
            let bound = file_len.saturating_mul(MAX_DEFLATE_RATIO);
            usize::try_from(expected.min(bound)).unwrap_or(header.expected_len)
        }
    };
    let mut data = Vec::new();
    data.try_reserve_exact(capacity)
        .map_err(|_| DataError::Io {
            path: path.to_path_buf(),
            message: format!("cannot allocate {capacity} bytes for the data"),
        })?;
    // One byte more than promised, so trailing data is seen without reading all of it.
    stream
        .take(expected.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|error| io_error(path, error))?;
    let found = data.len() as u64;
    if found < expected {
        return Err(header.truncated(path, found));
    }
    if found > expected {
        return Err(header.trailing(path));
    }
    Ok(data)
}

/// What an IDX file of `rank` holds, for messages: `"images"`, `"labels"` or `"data"`.
fn arrays_of_rank(rank: u8) -> &'static str {
    match rank {
        1 => "labels",
        3 => "images",
        _ => "data",
    }
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
fn read_full<R: Read>(stream: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// The [`DataError::Io`] for `error` while reading `path`.
fn io_error(path: &Path, error: io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

/// `text` with its last occurrence of `from` replaced by `to`.
fn replace_last(text: &str, from: &str, to: &str) -> String {
    match text.rfind(from) {
        Some(at) => format!("{}{to}{}", &text[..at], &text[at + from.len()..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;
    use std::time::{Duration, Instant};

    use burngan_core::HostRng;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    /// The bytes of an IDX file of unsigned bytes with the given sizes and data.
    pub(crate) fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0, 0, IDX_UBYTE, dims.len() as u8];
        for d in dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(data);
        bytes
    }

    /// `bytes` gzipped.
    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// Writes `bytes` to `name` inside `dir` and returns the path.
    pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Writes `bytes` raw and gzipped and returns the error message of each read.
    fn errors(bytes: &[u8], rank: u8) -> [String; 2] {
        let dir = tempfile::tempdir().unwrap();
        let raw = write(dir.path(), "raw-idx", bytes);
        let gz = write(dir.path(), "gz-idx", &gzip(bytes));
        [raw, gz].map(|path| read_idx(&path, rank).unwrap_err().to_string())
    }

    #[test]
    fn raw_and_gzipped_files_round_trip() {
        let data: Vec<u8> = (0..2 * 3 * 4).map(|i| (i * 11) as u8).collect();
        let bytes = idx_bytes(&[2, 3, 4], &data);
        let dir = tempfile::tempdir().unwrap();
        // The gzip file is recognised by its content, not its name, and vice versa.
        let raw = write(dir.path(), "images.gz", &bytes);
        let gz = write(dir.path(), "images-idx3-ubyte", &gzip(&bytes));
        for path in [raw, gz] {
            let array = read_idx_images(&path).unwrap();
            assert_eq!(array.dims(), [2, 3, 4]);
            assert_eq!(array.data(), data);
        }
        let labels = write(dir.path(), "labels", &gzip(&idx_bytes(&[3], &[7, 0, 9])));
        assert_eq!(read_idx_labels(&labels).unwrap().into_data(), [7, 0, 9]);
    }

    #[test]
    fn wrong_magic_is_rejected() {
        let mut bytes = idx_bytes(&[1, 2, 2], &[0; 4]);
        bytes[0] = 0x50; // "PK": a zip archive, say
        bytes[1] = 0x4b;
        for message in errors(&bytes, 3) {
            assert!(
                message.contains("is not an IDX file: it starts with bytes 0x50 0x4b"),
                "{message}"
            );
            assert!(message.contains("expected 0x00 0x00"), "{message}");
        }
    }

    #[test]
    fn wrong_type_byte_is_rejected() {
        let mut bytes = idx_bytes(&[1, 2, 2], &[0; 16]);
        bytes[2] = 0x0d; // f32 elements
        for message in errors(&bytes, 3) {
            assert!(
                message.contains("IDX element type 0x0d is not supported, expected 0x08"),
                "{message}"
            );
        }
    }

    #[test]
    fn wrong_rank_is_rejected() {
        let labels = idx_bytes(&[4], &[1, 2, 3, 4]);
        for message in errors(&labels, 3) {
            assert!(
                message.contains(
                    "IDX magic number 0x00000801 has rank 1, but images need rank 3 \
                     (magic 0x00000803); pass the images file"
                ),
                "{message}"
            );
        }
    }

    #[test]
    fn truncated_data_is_rejected() {
        let mut bytes = idx_bytes(&[2, 2, 2], &[9; 8]);
        bytes.truncate(bytes.len() - 3);
        for message in errors(&bytes, 3) {
            assert!(
                message.contains(
                    "is truncated: its header [2, 2, 2] promises 8 data bytes but only 5 follow"
                ),
                "{message}"
            );
        }
        for message in errors(&[0, 0, 8, 3, 0, 0], 3) {
            assert!(
                message.contains("its IDX header needs 16 bytes but the file holds only 6"),
                "{message}"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = idx_bytes(&[2], &[1, 2]);
        bytes.push(3);
        for message in errors(&bytes, 1) {
            assert!(
                message.contains("has trailing bytes: its header [2] promises 2 data bytes"),
                "{message}"
            );
        }
    }

    #[test]
    fn zero_and_overflowing_sizes_are_rejected() {
        for message in errors(&idx_bytes(&[0, 28, 28], &[]), 3) {
            assert!(
                message.contains("IDX header sizes [0, 28, 28] are invalid: every size must be"),
                "{message}"
            );
        }
        let huge = idx_bytes(&[u32::MAX, u32::MAX, u32::MAX], &[0; 8]);
        for message in errors(&huge, 3) {
            assert!(
                message.contains("their product overflows 64 bits"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_huge_header_claim_fails_fast_without_allocating() {
        // 4 billion 28×28 images promised, 84 bytes of data present: 100 bytes in all.
        let bytes = idx_bytes(&[4_000_000_000, 28, 28], &[0; 84]);
        assert_eq!(bytes.len(), 100);
        let started = Instant::now();
        for message in errors(&bytes, 3) {
            assert!(
                message.contains("promises 3136000000000 data bytes but only 84 follow"),
                "{message}"
            );
        }
        // Reserving 3 TB would abort or take far longer than this.
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_corrupt_gzip_stream_is_an_io_error() {
        let mut gz = gzip(&idx_bytes(&[64], &[5; 64]));
        let crc_at = gz.len() - 8;
        gz[crc_at] ^= 0xff; // break the CRC in the gzip trailer
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "labels.gz", &gz);
        let message = read_idx(&path, 1).unwrap_err().to_string();
        assert!(message.starts_with("could not read "), "{message}");
        assert!(message.contains("labels.gz"), "{message}");
    }

    #[test]
    fn a_folder_where_a_file_is_expected_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("labels-folder");
        std::fs::create_dir(&folder).unwrap();
        let error = read_idx_labels(&folder).unwrap_err();
        assert_eq!(
            error,
            DataError::NotAFile {
                path: folder.clone(),
                what: "labels"
            }
        );
        assert_eq!(
            error.to_string(),
            format!(
                "{} is a folder, not an IDX labels file; pass the labels file itself (e.g. \
                 train-labels-idx1-ubyte.gz), not the folder that holds it",
                folder.display()
            )
        );
        let message = read_idx_images(&folder).unwrap_err().to_string();
        assert!(message.contains("not an IDX images file"), "{message}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nothing-idx3-ubyte");
        assert_eq!(
            read_idx(&path, 3).unwrap_err(),
            DataError::NotFound { path: path.clone() }
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // Random files, random tails after valid-looking headers, raw and gzipped.
        let dir = tempfile::tempdir().unwrap();
        let mut rng = HostRng::seed_from(5);
        for case in 0..300 {
            let len = rng.index(64);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.index(256) as u8).collect();
            if case % 2 == 0 && bytes.len() >= 4 {
                bytes[..4].copy_from_slice(&[0, 0, IDX_UBYTE, 1 + rng.index(3) as u8]);
            }
            let bytes = if case % 3 == 0 { gzip(&bytes) } else { bytes };
            let path = write(dir.path(), "fuzz", &bytes);
            for rank in 1..=3 {
                if let Ok(array) = read_idx(&path, rank) {
                    let product: usize = array.dims().iter().product();
                    assert_eq!(array.data().len(), product);
                }
            }
        }
    }

    #[test]
    fn companion_labels_files_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (images, labels) in [
            ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
            ("t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte"),
            // A gzipped images file beside a raw labels file.
            ("mine-images-idx3-ubyte.gz", "mine-labels-idx1-ubyte"),
        ] {
            write(d, labels, &[]);
            assert_eq!(labels_path_for(&d.join(images)), Some(d.join(labels)));
        }
        assert_eq!(labels_path_for(&d.join("other-images-idx3-ubyte")), None);
        assert_eq!(labels_path_for(&d.join("digits.bin")), None);
    }
}
