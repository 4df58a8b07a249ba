//! Real-data sources for burngan. This crate holds the 2-D toy mixtures used to study mode
//! collapse: a ring of 8 Gaussians and a 5×5 grid of 25 Gaussians, with PacGAN's geometry as
//! defaults. Every sample is drawn from the seeded [`HostRng`] and uploaded, so one seed gives
//! the same data on every backend.
//!
//! # Example
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

mod toy;

pub use toy::{GaussianMixture, ToyConfig};

/// A data configuration that cannot be used.
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
}
