//! The vocabulary every other burngan crate speaks: what a generator, a discriminator and an
//! adversarial loss are, and the one seeded host random number generator that a run draws all of
//! its randomness from.
//!
//! This crate enables no Burn backend. Everything here works on whatever [`Device`] the caller
//! passes in, so the same code runs on ndarray, flex, wgpu or CUDA.
//!
//! # Example
//!
//! One seed gives the same numbers whatever the device: the host RNG draws them and uploads
//! them as [`TensorData`](burn::tensor::TensorData).
//!
//! ```
//! use burngan_core::HostRng;
//!
//! let mut a = HostRng::seed_from(7);
//! let mut b = HostRng::seed_from(7);
//! assert_eq!(a.normal_vec(4), b.normal_vec(4));
//! ```
//!
//! [`Device`]: burn::tensor::Device

mod rng;
mod traits;

pub use rng::{HostRng, RngState};
pub use traits::{AdversarialLoss, Discriminator, Generator, InputGradient, SampleSource};
