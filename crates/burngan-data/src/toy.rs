//! Isotropic Gaussian mixtures in the plane with equally weighted modes.

use std::f64::consts::PI;

use burn::tensor::{Device, Tensor, TensorData};
use burngan_core::{HostRng, SampleSource};
use serde::{Deserialize, Serialize};

use crate::DataError;

/// A toy distribution as written in the `[data]` section of a config.
///
/// ```toml
/// [data]
/// kind = "ring"   # 8 modes on a circle of radius 1, sigma 0.01 (PacGAN)
/// ```
/// or `kind = "grid"` (5×5 modes at {−4, −2, 0, 2, 4}², sigma 0.05). Every field can be
/// overridden.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToyConfig {
    /// `modes` Gaussians evenly spaced on a circle, the first at angle 0.
    Ring {
        /// Number of modes.
        #[serde(default = "ring_modes")]
        modes: usize,
        /// Radius of the circle.
        #[serde(default = "ring_radius")]
        radius: f64,
        /// Standard deviation of each mode.
        #[serde(default = "ring_std")]
        std: f64,
    },
    /// `side × side` Gaussians on a square grid centred on the origin.
    Grid {
        /// Modes per side.
        #[serde(default = "grid_side")]
        side: usize,
        /// Distance between neighbouring modes.
        #[serde(default = "grid_spacing")]
        spacing: f64,
        /// Standard deviation of each mode.
        #[serde(default = "grid_std")]
        std: f64,
    },
}

fn ring_modes() -> usize {
    8
}
fn ring_radius() -> f64 {
    1.0
}
fn ring_std() -> f64 {
    0.01
}
fn grid_side() -> usize {
    5
}
fn grid_spacing() -> f64 {
    2.0
}
fn grid_std() -> f64 {
    0.05
}

impl ToyConfig {
    /// PacGAN's ring: 8 modes, radius 1, σ = 0.01.
    pub fn default_ring() -> Self {
        ToyConfig::Ring {
            modes: ring_modes(),
            radius: ring_radius(),
            std: ring_std(),
        }
    }

    /// PacGAN's grid: 25 modes at {−4, −2, 0, 2, 4}², σ = 0.05.
    pub fn default_grid() -> Self {
        ToyConfig::Grid {
            side: grid_side(),
            spacing: grid_spacing(),
            std: grid_std(),
        }
    }

    /// Checks the geometry and builds the mixture.
    pub fn build(&self) -> Result<GaussianMixture, DataError> {
        let positive = |field, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(DataError::OutOfRange {
                    field,
                    value,
                    expected: "a finite number greater than 0",
                })
            }
        };
        let count = |field, value: usize| {
            if value == 0 {
                Err(DataError::OutOfRange {
                    field,
                    value: 0.0,
                    expected: "at least 1",
                })
            } else {
                Ok(())
            }
        };
        match *self {
            ToyConfig::Ring { modes, radius, std } => {
                count("data.modes", modes)?;
                positive("data.radius", radius)?;
                positive("data.std", std)?;
                let centres = (0..modes)
                    .map(|k| {
                        let angle = 2.0 * PI * k as f64 / modes as f64;
                        [radius * angle.cos(), radius * angle.sin()]
                    })
                    .collect();
                Ok(GaussianMixture::new(centres, std))
            }
            ToyConfig::Grid { side, spacing, std } => {
                count("data.side", side)?;
                positive("data.spacing", spacing)?;
                positive("data.std", std)?;
                let offset = (side as f64 - 1.0) / 2.0;
                let coordinate = |i: usize| (i as f64 - offset) * spacing;
                let centres = (0..side)
                    .flat_map(|i| (0..side).map(move |j| [coordinate(i), coordinate(j)]))
                    .collect();
                Ok(GaussianMixture::new(centres, std))
            }
        }
    }
}

/// An equally weighted mixture of isotropic 2-D Gaussians N(centre, std²·I).
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianMixture {
    centres: Vec<[f64; 2]>,
    std: f64,
}

impl GaussianMixture {
    /// A mixture with the given mode centres and common standard deviation.
    pub fn new(centres: Vec<[f64; 2]>, std: f64) -> Self {
        Self { centres, std }
    }

    /// The mode centres.
    pub fn centres(&self) -> &[[f64; 2]] {
        &self.centres
    }

    /// The standard deviation of every mode.
    pub fn std(&self) -> f64 {
        self.std
    }

    /// `n` samples as a row-major `[n, 2]` buffer: for each sample a uniformly chosen mode,
    /// then two N(0, 1) draws scaled by σ.
    pub fn sample_host(&self, n: usize, rng: &mut HostRng) -> Vec<f32> {
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let [cx, cy] = self.centres[rng.index(self.centres.len())];
            let noise = rng.normal_vec(2);
            out.push((cx + self.std * noise[0] as f64) as f32);
            out.push((cy + self.std * noise[1] as f64) as f32);
        }
        out
    }
}

impl SampleSource<2> for GaussianMixture {
    /// `[batch, 2]` samples.
    fn sample(&mut self, batch: usize, rng: &mut HostRng, device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(self.sample_host(batch, rng), [batch, 2]),
            device,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_geometries_are_pacgans() {
        let ring = ToyConfig::default_ring().build().unwrap();
        assert_eq!(ring.centres().len(), 8);
        assert_eq!(ring.std(), 0.01);
        for (k, c) in ring.centres().iter().enumerate() {
            assert!(
                (c[0].hypot(c[1]) - 1.0).abs() < 1e-12,
                "mode {k} off the unit circle"
            );
        }
        assert!((ring.centres()[2][1] - 1.0).abs() < 1e-12); // 90 degrees
        let grid = ToyConfig::default_grid().build().unwrap();
        assert_eq!(grid.centres().len(), 25);
        assert_eq!(grid.std(), 0.05);
        let mut xs: Vec<f64> = grid.centres().iter().map(|c| c[0]).collect();
        xs.dedup();
        assert_eq!(xs, vec![-4.0, -2.0, 0.0, 2.0, 4.0]);
    }

    #[test]
    fn samples_have_the_mixture_moments() {
        // Per mode: mean at the centre, per-axis std sigma; 40k samples, 5k per mode.
        let ring = ToyConfig::default_ring().build().unwrap();
        let xs = ring.sample_host(40_000, &mut HostRng::seed_from(1));
        let mut sums = vec![(0usize, 0.0f64, 0.0f64); 8];
        for p in xs.chunks(2) {
            let (k, c) = ring
                .centres()
                .iter()
                .enumerate()
                .map(|(k, c)| (k, (p[0] as f64 - c[0]).hypot(p[1] as f64 - c[1])))
                .fold((0, f64::MAX), |a, b| if b.1 < a.1 { b } else { a });
            let _ = c;
            let dx = p[0] as f64 - ring.centres()[k][0];
            sums[k].0 += 1;
            sums[k].1 += dx;
            sums[k].2 += dx * dx;
        }
        for (count, sum, sum_sq) in sums {
            assert!((4_500..5_500).contains(&count), "mode count {count}");
            let mean = sum / count as f64;
            let std = (sum_sq / count as f64 - mean * mean).sqrt();
            assert!(mean.abs() < 5e-4, "mean offset {mean}");
            assert!((std - 0.01).abs() < 5e-4, "std {std}");
        }
    }

    #[test]
    fn bad_geometry_names_the_field() {
        let bad = ToyConfig::Ring {
            modes: 8,
            radius: 1.0,
            std: -0.1,
        };
        assert_eq!(
            bad.build().unwrap_err().to_string(),
            "data.std = -0.1 is out of range: a finite number greater than 0"
        );
        let bad = ToyConfig::Grid {
            side: 0,
            spacing: 2.0,
            std: 0.05,
        };
        assert!(
            bad.build()
                .unwrap_err()
                .to_string()
                .starts_with("data.side = 0")
        );
    }
}
