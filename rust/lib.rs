//! neuralcodec's entropy-coding core.
//!
//! * [`cdf`]: quantization of probability mass functions to integer CDFs, and the
//!   validated [`cdf::CdfTable`] the coder reads frequencies from.
//! * [`rans`]: the rANS encoder and decoder, byte-compatible with CompressAI 1.2.8.
//! * [`tables`]: the portable construction of the entropy models' CDF tables (f64 and
//!   pure-Rust libm, so the same integers on every machine).
//! * [`engine`]: the deterministic entropy-parameter engine (hyper-synthesis, context
//!   model, entropy parameters, scale -> index) and the autoregressive coding loop.
//! * [`error`]: the one error type; every precondition is checked in release builds.
//!
//! The crate is pure Rust; the Python bindings live in `python/` behind the `python`
//! cargo feature, so `cargo test` and `cargo bench` never link Python.

#![forbid(unsafe_code)]

pub mod cdf;
pub mod engine;
pub mod error;
pub mod rans;
pub mod tables;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
pub(crate) mod test_util;

#[cfg(feature = "python")]
mod python;

pub use cdf::{pmf_to_quantized_cdf, CdfTable, PRECISION, PROB_SCALE};
pub use error::{CoderError, Result};
pub use rans::{decode, encode, ideal_bits, BufferedEncoder, RansDecoder};
