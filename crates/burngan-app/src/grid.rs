//! Image grids: a batch of generated images in [−1, 1] tiled into one PNG, as the fixed-noise
//! sample grids of image runs.

use std::path::Path;

use image::{DynamicImage, GrayImage, ImageOutputFormat, RgbImage};

use burngan_train::write_atomically;

use crate::AppError;

/// Pixels between tiles and around the grid (black), as torchvision's `make_grid` default.
pub const GRID_PADDING: usize = 2;

/// Tiles `images` (row-major `[n, channels, height, width]`, values in [−1, 1]; 1 or 3
/// channels) into `columns` columns and writes the PNG to `path` atomically. A value v becomes
/// the byte round((clamp(v, −1, 1) + 1)·127.5); tiles are separated and framed by
/// [`GRID_PADDING`] black pixels. The grid is `rows·(h + p) + p` by `columns·(w + p) + p` pixels
/// with rows = ⌈n / columns⌉.
pub fn image_grid_png(
    path: &Path,
    images: &[f32],
    shape: [usize; 3],
    columns: usize,
) -> Result<(), AppError> {
    let [channels, height, width] = shape;
    let tile = channels * height * width;
    if !(channels == 1 || channels == 3) || tile == 0 || columns == 0 {
        return Err(AppError::Output(format!(
            "cannot draw an image grid of shape {shape:?} in {columns} columns: images need 1 or \
             3 channels, a positive size and at least one column"
        )));
    }
    if images.is_empty() || !images.len().is_multiple_of(tile) {
        return Err(AppError::Output(format!(
            "an image grid needs a whole number of {channels}×{height}×{width} images, got {} \
             values",
            images.len()
        )));
    }
    let n = images.len() / tile;
    let rows = n.div_ceil(columns);
    let p = GRID_PADDING;
    let (grid_w, grid_h) = (columns * (width + p) + p, rows * (height + p) + p);
    let mut pixels = vec![0u8; grid_w * grid_h * channels];
    for (index, image) in images.chunks_exact(tile).enumerate() {
        let (top, left) = (
            (index / columns) * (height + p) + p,
            (index % columns) * (width + p) + p,
        );
        for c in 0..channels {
            for y in 0..height {
                for x in 0..width {
                    let v = image[(c * height + y) * width + x];
                    let byte = ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
                    pixels[((top + y) * grid_w + left + x) * channels + c] = byte;
                }
            }
        }
    }
    let (w, h) = (grid_w as u32, grid_h as u32);
    let picture = if channels == 1 {
        GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8)
    } else {
        RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
    }
    .ok_or_else(|| AppError::Output("image grid buffer has the wrong size".into()))?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut bytes, ImageOutputFormat::Png)
        .map_err(|e| AppError::Output(format!("cannot encode {}: {e}", path.display())))?;
    Ok(write_atomically(path, &bytes.into_inner())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_land_where_the_layout_says_with_exact_byte_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        // Three 1×2×3 images in two columns: values −1, 0, 1, −0.5, 0.5, 2 (clamped to 1).
        let one = [-1.0, 0.0, 1.0, -0.5, 0.5, 2.0];
        let images: Vec<f32> = (0..3)
            .flat_map(|k| one.iter().map(move |v| if k == 2 { -v } else { *v }))
            .collect();
        image_grid_png(&path, &images, [1, 2, 3], 2).unwrap();
        let grid = image::open(&path).unwrap().to_luma8();
        // 2 columns of width 3 and 2 rows of height 2, padding 2: 2·5 + 2 by 2·4 + 2.
        assert_eq!(grid.dimensions(), (12, 10));
        // round((v + 1)·127.5): −1 → 0, 0 → 128 (127.5 rounds up), 1 → 255, −0.5 → 64, 0.5 → 191.
        let first: Vec<u8> = (0..2)
            .flat_map(|y| (0..3).map(move |x| (x, y)))
            .map(|(x, y)| grid.get_pixel(2 + x, 2 + y)[0])
            .collect();
        assert_eq!(first, [0, 128, 255, 64, 191, 255]);
        // The second image sits one tile (3 + 2 pixels) to the right, the third one row down.
        assert_eq!(grid.get_pixel(7, 2)[0], 0);
        assert_eq!(grid.get_pixel(2, 6)[0], 255); // −(−1) → 1
        assert_eq!(grid.get_pixel(4, 6)[0], 0); // −1
        // Padding and the empty fourth slot stay black.
        assert_eq!(grid.get_pixel(0, 0)[0], 0);
        assert_eq!(grid.get_pixel(8, 7)[0], 0);
    }

    #[test]
    fn impossible_shapes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        let error = image_grid_png(&path, &[0.0; 8], [2, 2, 2], 1).unwrap_err();
        assert!(error.to_string().contains("1 or 3 channels"), "{error}");
        let error = image_grid_png(&path, &[0.0; 5], [1, 2, 2], 1).unwrap_err();
        assert!(error.to_string().contains("got 5 values"), "{error}");
        assert!(!path.exists());
    }
}
