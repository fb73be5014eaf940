//! Bindings of the decode engine (`crate::engine`).
//!
//! A graph is built once from its spec and arrays (`spec.rs`, called by
//! `neuralcodec.graph_spec.build_graph`); feature maps cross as C-contiguous float32 `[H, W, C]`
//! arrays; every computation runs with the GIL released.

use std::sync::Arc;

use numpy::{
    PyArray1, PyArray3, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray3, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::{spec, to_py_err};
use crate::engine::{Config, FeatureMap, FeatureView, Gain, Kernel, LatentGraph};

fn slice<'a, T: numpy::Element, D: numpy::ndarray::Dimension>(
    name: &str,
    array: &'a numpy::PyReadonlyArray<'_, T, D>,
) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a C-contiguous array")))
}

fn feature_map(name: &str, array: &PyReadonlyArray3<'_, f32>) -> PyResult<FeatureMap> {
    let s = array.shape();
    FeatureMap::new(s[0], s[1], s[2], slice(name, array)?.to_vec()).map_err(to_py_err)
}

/// A latent handed back to Python: float32 `[H, W, C]`.
type Latent<'py> = Bound<'py, PyArray3<f32>>;

fn feature_view<'a>(name: &str, array: &'a PyReadonlyArray3<'_, f32>) -> PyResult<FeatureView<'a>> {
    let s = array.shape();
    FeatureView::new(s[0], s[1], s[2], slice(name, array)?).map_err(to_py_err)
}

fn to_numpy<'py>(py: Python<'py>, map: FeatureMap) -> PyResult<Bound<'py, PyArray3<f32>>> {
    let (h, w, c) = (map.h, map.w, map.c);
    PyArray1::from_vec(py, map.data).reshape([h, w, c])
}

fn kernel_choice(scalar: Option<bool>) -> Kernel {
    match scalar {
        Some(true) => Kernel::Scalar,
        Some(false) => Kernel::Vector,
        None => Kernel::from_env(),
    }
}

/// A latent's whole coding: the hyper-synthesis and the coding tree, one call per latent
/// with the GIL released (see `neuralcodec.engine.latent_graph`).
#[pyclass(name = "LatentGraph", module = "neuralcodec._core", frozen)]
pub(super) struct PyLatentGraph {
    inner: Arc<LatentGraph>,
    kernel: Kernel,
}

fn gain_pair<'a>(
    gain: &'a Option<PyReadonlyArray1<'_, f32>>,
    inverse: &'a Option<PyReadonlyArray1<'_, f32>>,
) -> PyResult<Option<(&'a [f32], &'a [f32])>> {
    match (gain, inverse) {
        (None, None) => Ok(None),
        (Some(g), Some(i)) => Ok(Some((slice("gain", g)?, slice("gain_inverse", i)?))),
        _ => Err(PyValueError::new_err("pass gain and gain_inverse together")),
    }
}

impl PyLatentGraph {
    fn config(&self, threads: usize) -> Config {
        Config {
            kernel: self.kernel,
            threads: threads.max(1),
        }
    }
}

#[pymethods]
impl PyLatentGraph {
    /// The graph of a spec (the dict `neuralcodec.graph_spec` documents, read by
    /// `spec.rs`) over the arrays in `tensors` (names to float32/int32 numpy arrays);
    /// `scalar`: force (True) or forbid (False) the scalar kernel, default from
    /// `NEURALCODEC_ENGINE_SCALAR`.
    #[staticmethod]
    #[pyo3(signature = (spec, tensors, scalar=None))]
    fn from_spec(
        spec: &Bound<'_, PyAny>,
        tensors: &Bound<'_, PyAny>,
        scalar: Option<bool>,
    ) -> PyResult<Self> {
        Ok(PyLatentGraph {
            inner: Arc::new(spec::latent_graph(spec, tensors)?),
            kernel: kernel_choice(scalar),
        })
    }

    /// Latent channels `M`.
    #[getter]
    fn channels(&self) -> usize {
        self.inner.channels()
    }

    /// Whether coding needs a gain (variable-rate models).
    #[getter]
    fn gained(&self) -> bool {
        self.inner.is_gained()
    }

    /// `"vector"` or `"scalar"`.
    #[getter]
    fn kernel(&self) -> &'static str {
        match self.kernel {
            Kernel::Vector => "vector",
            Kernel::Scalar => "scalar",
        }
    }

    /// The hyper-synthesis `h_s(z_hat)` (float32 `[h, w, N]` in, `[H, W, C]` out): the
    /// parameters the coding tree starts from.
    #[pyo3(signature = (z_hat, threads=1))]
    fn hyper<'py>(
        &self,
        py: Python<'py>,
        z_hat: PyReadonlyArray3<'py, f32>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArray3<f32>>> {
        let z_hat = feature_map("z_hat", &z_hat)?;
        let cfg = self.config(threads);
        let graph = &self.inner;
        let params = py
            .detach(|| graph.hyper_parameters(z_hat, cfg))
            .map_err(to_py_err)?;
        to_numpy(py, params)
    }

    /// Encodes `y` (float32 `[H, W, M]`, read in place) given `z_hat` (`[h, w, N]`);
    /// `gain` and `gain_inverse` (float32 `[M]`) for a gained model. Returns `(string,
    /// y_hat)`, `y_hat` None unless `latent`.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (y, z_hat, gain=None, gain_inverse=None, threads=1, latent=true))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        y: PyReadonlyArray3<'py, f32>,
        z_hat: PyReadonlyArray3<'py, f32>,
        gain: Option<PyReadonlyArray1<'py, f32>>,
        gain_inverse: Option<PyReadonlyArray1<'py, f32>>,
        threads: usize,
        latent: bool,
    ) -> PyResult<(Bound<'py, PyBytes>, Option<Latent<'py>>)> {
        let y = feature_view("y", &y)?;
        let z_hat = feature_map("z_hat", &z_hat)?;
        let gains = gain_pair(&gain, &gain_inverse)?;
        let cfg = self.config(threads);
        let graph = &self.inner;
        let (bytes, y_hat) = py
            .detach(|| {
                let gain = gains.map(|(gain, inverse)| Gain { gain, inverse });
                graph.encode(y, z_hat, gain, cfg)
            })
            .map_err(to_py_err)?;
        let y_hat = if latent {
            Some(to_numpy(py, y_hat)?)
        } else {
            None
        };
        Ok((PyBytes::new(py, &bytes), y_hat))
    }

    /// Decodes one string of [`encode`](Self::encode): `y_hat` float32 `[H, W, M]`.
    #[pyo3(signature = (data, z_hat, gain=None, gain_inverse=None, threads=1))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        z_hat: PyReadonlyArray3<'py, f32>,
        gain: Option<PyReadonlyArray1<'py, f32>>,
        gain_inverse: Option<PyReadonlyArray1<'py, f32>>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArray3<f32>>> {
        let z_hat = feature_map("z_hat", &z_hat)?;
        let gains = gain_pair(&gain, &gain_inverse)?;
        let cfg = self.config(threads);
        let graph = &self.inner;
        let y_hat = py
            .detach(|| {
                let gain = gains.map(|(gain, inverse)| Gain { gain, inverse });
                graph.decode(data, z_hat, gain, cfg)
            })
            .map_err(to_py_err)?;
        to_numpy(py, y_hat)
    }
}
