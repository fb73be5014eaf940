//! PyO3 bindings: the only code that knows about Python.
//!
//! Arguments arrive as typed, C-contiguous numpy arrays (the Python wrapper in
//! `neuralcodec/ans.py` converts torch tensors and lists before they get here); results
//! leave as numpy arrays or `bytes`. Coding runs with the GIL released. Every
//! [`CoderError`] becomes a Python exception: `StreamError` (a `ValueError` and a
//! `neuralcodec.errors.NeuralCodecError`) for strings
//! that cannot be decoded, `ValueError` for everything else.

use std::sync::Arc;

use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::cdf::{self, CdfTable};
use crate::error::CoderError;
use crate::rans;

mod engine;
mod spec;
mod tables;

// The package's error base for bad values (`neuralcodec.errors`), so that `StreamError` is
// both a `ValueError` and a `NeuralCodecError` like every other error of the package.
pyo3::import_exception!(neuralcodec.errors, NeuralCodecValueError);

pyo3::create_exception!(
    _core,
    StreamError,
    NeuralCodecValueError,
    "A rANS string cannot be decoded: it is truncated, corrupted, has trailing data, or was encoded with other tables, indexes or symbol count."
);

fn to_py_err(error: CoderError) -> PyErr {
    match error {
        CoderError::CorruptStream(message) => StreamError::new_err(message),
        other => PyValueError::new_err(other.to_string()),
    }
}

fn contiguous<'a, T: numpy::Element>(
    name: &str,
    array: &'a PyReadonlyArray1<'_, T>,
) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a C-contiguous array")))
}

/// A validated CDF table (see `neuralcodec.ans.CdfTable`).
#[pyclass(name = "CdfTable", module = "neuralcodec._core", frozen)]
struct PyCdfTable {
    inner: Arc<CdfTable>,
}

#[pymethods]
impl PyCdfTable {
    #[new]
    fn new(
        cdfs: PyReadonlyArray2<'_, i32>,
        cdf_lengths: PyReadonlyArray1<'_, i32>,
        offsets: PyReadonlyArray1<'_, i32>,
    ) -> PyResult<Self> {
        let shape = cdfs.shape();
        let (rows, cols) = (shape[0], shape[1]);
        let flat = cdfs
            .as_slice()
            .map_err(|_| PyValueError::new_err("cdfs must be a C-contiguous array"))?;
        let lengths = contiguous("cdf_lengths", &cdf_lengths)?;
        let offsets = contiguous("offsets", &offsets)?;
        let table = CdfTable::new(flat, rows, cols, lengths, offsets).map_err(to_py_err)?;
        Ok(PyCdfTable {
            inner: Arc::new(table),
        })
    }

    /// Number of rows (distributions).
    #[getter]
    fn num_rows(&self) -> usize {
        self.inner.num_rows()
    }

    /// Width of the padded table.
    #[getter]
    fn num_cols(&self) -> usize {
        self.inner.num_cols()
    }
}

/// Encodes one message; returns the string as `bytes`.
#[pyfunction]
fn encode<'py>(
    py: Python<'py>,
    symbols: PyReadonlyArray1<'py, i32>,
    indexes: PyReadonlyArray1<'py, i32>,
    table: &PyCdfTable,
) -> PyResult<Bound<'py, PyBytes>> {
    let symbols = contiguous("symbols", &symbols)?;
    let indexes = contiguous("indexes", &indexes)?;
    let table = &table.inner;
    let bytes = py
        .detach(|| rans::encode(symbols, indexes, table))
        .map_err(to_py_err)?;
    Ok(PyBytes::new(py, &bytes))
}

/// Decodes one message of `len(indexes)` values.
#[pyfunction]
#[pyo3(signature = (data, indexes, table, check_end = true))]
fn decode<'py>(
    py: Python<'py>,
    data: &[u8],
    indexes: PyReadonlyArray1<'py, i32>,
    table: &PyCdfTable,
    check_end: bool,
) -> PyResult<Bound<'py, PyArray1<i32>>> {
    let indexes = contiguous("indexes", &indexes)?;
    let table = &table.inner;
    let values = py
        .detach(|| rans::decode(data, indexes, table, check_end))
        .map_err(to_py_err)?;
    Ok(PyArray1::from_vec(py, values))
}

/// The information content of a message in bits (see `rans::ideal_bits`).
#[pyfunction]
fn ideal_bits(
    py: Python<'_>,
    symbols: PyReadonlyArray1<'_, i32>,
    indexes: PyReadonlyArray1<'_, i32>,
    table: &PyCdfTable,
) -> PyResult<f64> {
    let symbols = contiguous("symbols", &symbols)?;
    let indexes = contiguous("indexes", &indexes)?;
    let table = &table.inner;
    py.detach(|| rans::ideal_bits(symbols, indexes, table))
        .map_err(to_py_err)
}

/// Quantizes a float32 pmf to an int32 CDF of `len(pmf) + 1` values.
#[pyfunction]
#[pyo3(signature = (pmf, precision = cdf::PRECISION))]
fn pmf_to_quantized_cdf<'py>(
    py: Python<'py>,
    pmf: PyReadonlyArray1<'py, f32>,
    precision: u32,
) -> PyResult<Bound<'py, PyArray1<i32>>> {
    let pmf = contiguous("pmf", &pmf)?;
    let cdf = py
        .detach(|| cdf::pmf_to_quantized_cdf(pmf, precision))
        .map_err(to_py_err)?;
    Ok(PyArray1::from_vec(
        py,
        cdf.into_iter().map(|v| v as i32).collect(),
    ))
}

/// Collects messages and writes them as one string at `flush()`.
#[pyclass(name = "BufferedEncoder", module = "neuralcodec._core")]
#[derive(Default)]
struct PyBufferedEncoder {
    inner: rans::BufferedEncoder,
}

#[pymethods]
impl PyBufferedEncoder {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    fn encode(
        &mut self,
        py: Python<'_>,
        symbols: PyReadonlyArray1<'_, i32>,
        indexes: PyReadonlyArray1<'_, i32>,
        table: &PyCdfTable,
    ) -> PyResult<()> {
        let symbols = contiguous("symbols", &symbols)?;
        let indexes = contiguous("indexes", &indexes)?;
        let table = &table.inner;
        let inner = &mut self.inner;
        py.detach(|| inner.encode(symbols, indexes, table))
            .map_err(to_py_err)
    }

    fn flush<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let inner = &mut self.inner;
        let bytes = py.detach(|| inner.flush());
        PyBytes::new(py, &bytes)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// Decodes one string across several calls, continuing the same coder state.
#[pyclass(name = "StreamDecoder", module = "neuralcodec._core")]
struct PyStreamDecoder {
    inner: rans::RansDecoder,
}

#[pymethods]
impl PyStreamDecoder {
    #[new]
    fn new(data: &[u8]) -> PyResult<Self> {
        Ok(PyStreamDecoder {
            inner: rans::RansDecoder::new(data).map_err(to_py_err)?,
        })
    }

    fn decode<'py>(
        &mut self,
        py: Python<'py>,
        indexes: PyReadonlyArray1<'py, i32>,
        table: &PyCdfTable,
    ) -> PyResult<Bound<'py, PyArray1<i32>>> {
        let indexes = contiguous("indexes", &indexes)?;
        let table = &table.inner;
        let inner = &mut self.inner;
        let values = py
            .detach(|| {
                let mut out = Vec::with_capacity(indexes.len());
                inner.decode(indexes, table, &mut out).map(|_| out)
            })
            .map_err(to_py_err)?;
        Ok(PyArray1::from_vec(py, values))
    }

    fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    fn check_finished(&self) -> PyResult<()> {
        self.inner.check_finished().map_err(to_py_err)
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("PRECISION", cdf::PRECISION)?;
    m.add("StreamError", m.py().get_type::<StreamError>())?;
    m.add_class::<PyCdfTable>()?;
    m.add_class::<PyBufferedEncoder>()?;
    m.add_class::<PyStreamDecoder>()?;
    m.add_class::<engine::PyLatentGraph>()?;
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add_function(wrap_pyfunction!(ideal_bits, m)?)?;
    m.add_function(wrap_pyfunction!(pmf_to_quantized_cdf, m)?)?;
    m.add_function(wrap_pyfunction!(tables::bottleneck_tables, m)?)?;
    m.add_function(wrap_pyfunction!(tables::gaussian_tables, m)?)?;
    m.add_function(wrap_pyfunction!(tables::scale_table, m)?)?;
    m.add_function(wrap_pyfunction!(tables::portable_softplus, m)?)?;
    Ok(())
}
