//! Bindings of the portable table construction (`crate::tables`).
//!
//! Parameters arrive as C-contiguous float32 numpy arrays in the shapes the entropy
//! models store them; the tables leave as int32 numpy arrays `(cdfs [rows, width],
//! lengths [rows], offsets [rows])`. The computation runs with the GIL released.

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use numpy::{PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::to_py_err;
use crate::tables::{self, DensityLayer, FactorizedDensity, Tables};

type TablesOut<'py> = (
    Bound<'py, PyArray2<i32>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray1<i32>>,
);

fn to_numpy(py: Python<'_>, t: Tables) -> PyResult<TablesOut<'_>> {
    let cdfs = PyArray1::from_vec(py, t.cdfs).reshape([t.rows, t.width])?;
    Ok((
        cdfs,
        PyArray1::from_vec(py, t.lengths),
        PyArray1::from_vec(py, t.offsets),
    ))
}

/// The values of a `[channels, n, 1]` array (bias or factor of layer `i`).
fn column(
    what: &str,
    i: usize,
    array: &PyReadonlyArray3<'_, f32>,
    channels: usize,
    outputs: usize,
) -> PyResult<Vec<f32>> {
    let s = array.shape();
    if s != [channels, outputs, 1] {
        return Err(PyValueError::new_err(format!(
            "{what}[{i}] has shape {s:?}, expected [{channels}, {outputs}, 1] (channels, outputs of matrices[{i}], 1)"
        )));
    }
    Ok(array
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what}[{i}] must be a C-contiguous array")))?
        .to_vec())
}

/// CDF tables of an EntropyBottleneck from its float32 parameters: `quantiles`
/// `[C, 3]`, `matrices[i]` `[C, out_i, in_i]`, `biases[i]` `[C, out_i, 1]`, `factors[i]`
/// `[C, out_i, 1]` (one fewer than matrices); `step`: the quantization step of the coded
/// values (1 but for the variable-rate bottleneck, see `tables::bottleneck_tables_with_step`).
#[pyfunction]
#[pyo3(signature = (quantiles, matrices, biases, factors, step = 1.0))]
pub(super) fn bottleneck_tables<'py>(
    py: Python<'py>,
    quantiles: PyReadonlyArray2<'py, f32>,
    matrices: Vec<PyReadonlyArray3<'py, f32>>,
    biases: Vec<PyReadonlyArray3<'py, f32>>,
    factors: Vec<PyReadonlyArray3<'py, f32>>,
    step: f64,
) -> PyResult<TablesOut<'py>> {
    let channels = quantiles.shape()[0];
    if quantiles.shape()[1] != 3 {
        return Err(PyValueError::new_err(format!(
            "quantiles must be [channels, 3] (lower quantile, median, upper quantile), got shape {:?}",
            quantiles.shape()
        )));
    }
    if biases.len() != matrices.len() || factors.len() + 1 != matrices.len() {
        return Err(PyValueError::new_err(format!(
            "the density needs one bias per matrix and one factor per matrix but the last; got {} \
             matrices, {} biases, {} factors",
            matrices.len(),
            biases.len(),
            factors.len()
        )));
    }
    let mut layers = Vec::with_capacity(matrices.len());
    for (i, matrix) in matrices.iter().enumerate() {
        let s = matrix.shape();
        if s[0] != channels {
            return Err(PyValueError::new_err(format!(
                "matrices[{i}] has shape {s:?}, expected {channels} channels first (as quantiles)"
            )));
        }
        let (outputs, inputs) = (s[1], s[2]);
        layers.push(DensityLayer {
            matrix: matrix
                .as_slice()
                .map_err(|_| {
                    PyValueError::new_err(format!("matrices[{i}] must be a C-contiguous array"))
                })?
                .to_vec(),
            bias: column("biases", i, &biases[i], channels, outputs)?,
            factor: factors
                .get(i)
                .map(|f| column("factors", i, f, channels, outputs))
                .transpose()?,
            inputs,
            outputs,
        });
    }
    let quantiles = quantiles
        .as_slice()
        .map_err(|_| PyValueError::new_err("quantiles must be a C-contiguous array"))?;
    let table = py
        .detach(|| {
            let density = FactorizedDensity::new(channels, &layers)?;
            tables::bottleneck_tables_with_step(&density, quantiles, step)
        })
        .map_err(to_py_err)?;
    to_numpy(py, table)
}

/// CDF tables of a GaussianConditional: one row per float32 scale of `scale_table`.
#[pyfunction]
pub(super) fn gaussian_tables<'py>(
    py: Python<'py>,
    scale_table: PyReadonlyArray1<'py, f32>,
    tail_mass: f64,
) -> PyResult<TablesOut<'py>> {
    let scales = scale_table
        .as_slice()
        .map_err(|_| PyValueError::new_err("scale_table must be a C-contiguous array"))?;
    let table = py
        .detach(|| tables::gaussian_tables(scales, tail_mass))
        .map_err(to_py_err)?;
    to_numpy(py, table)
}

/// `levels` float32 scales spaced evenly in log from `min` to `max` (see `crate::tables::scale_table`).
#[pyfunction]
pub(super) fn scale_table(
    py: Python<'_>,
    min: f64,
    max: f64,
    levels: usize,
) -> PyResult<Bound<'_, PyArray1<f32>>> {
    let table = tables::scale_table(min, max, levels).map_err(to_py_err)?;
    Ok(PyArray1::from_vec(py, table))
}

/// `log(1 + exp(x))` in float64 with software transcendental functions: the same bits on
/// every machine (the portable rate-step network of the variable-rate models uses it).
#[pyfunction]
pub(super) fn portable_softplus(x: f64) -> f64 {
    tables::softplus(x)
}
