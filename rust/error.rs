//! The one error type of the coder core.
//!
//! Every precondition of the coder is checked in release builds and reported as a
//! [`CoderError`]; the Python bindings turn each variant into a Python exception whose
//! message says what to fix. Nothing reachable from user input panics.

use std::fmt;

/// What went wrong, with enough context to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoderError {
    /// An argument is malformed (wrong length, out of range, inconsistent with another).
    InvalidInput(String),
    /// A CDF table row violates the coder's contract.
    InvalidTable(String),
    /// A probability mass function cannot be quantized.
    InvalidPmf(String),
    /// The byte stream is truncated, corrupted, or was not made with these tables.
    CorruptStream(String),
}

impl fmt::Display for CoderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoderError::InvalidInput(m)
            | CoderError::InvalidTable(m)
            | CoderError::InvalidPmf(m)
            | CoderError::CorruptStream(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CoderError {}

/// Shorthand for results of the coder core.
pub type Result<T> = std::result::Result<T, CoderError>;
