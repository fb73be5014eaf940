//! Bindings of the decode engine (`crate::engine`).
//!
//! Weights arrive once, as float32 numpy arrays, when a model builds its engine
//! (`neuralcodec/engine.py`); feature maps cross as C-contiguous float32 `[H, W, C]`
//! arrays; every computation runs with the GIL released.

use std::sync::Arc;

use numpy::{
    PyArray1, PyArray3, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray3, PyReadonlyArray4,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::{to_py_err, PyCdfTable};
use crate::engine::{
    Autoregressive, ChannelGroups, Checkerboard, CheckerboardContext, Chunks, Config, ContextModel,
    Conv2d, ConvTranspose2d, FeatureMap, FeatureView, Gain, GaussianLeaf, Kernel, LatentCoder,
    LatentGraph, Layer, Network, RasterScan, Reconstruction,
};

fn slice<'a, T: numpy::Element, D: numpy::ndarray::Dimension>(
    name: &str,
    array: &'a numpy::PyReadonlyArray<'_, T, D>,
) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a C-contiguous array")))
}

fn weight4(name: &str, weight: &PyReadonlyArray4<'_, f32>) -> PyResult<(Vec<f32>, [usize; 4])> {
    let s = weight.shape();
    Ok((slice(name, weight)?.to_vec(), [s[0], s[1], s[2], s[3]]))
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

/// A network under construction: layers appended in order.
#[pyclass(name = "EngineNetwork", module = "neuralcodec._core")]
#[derive(Default)]
pub(super) struct PyNetwork {
    layers: Vec<Layer>,
}

#[pymethods]
impl PyNetwork {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Appends a convolution; `weight` is float32 `[c_out, c_in, kh, kw]`.
    fn conv2d(
        &mut self,
        weight: PyReadonlyArray4<'_, f32>,
        bias: PyReadonlyArray1<'_, f32>,
        stride: usize,
        padding: usize,
    ) -> PyResult<()> {
        let (w, shape) = weight4("weight", &weight)?;
        let conv =
            Conv2d::new(&w, shape, slice("bias", &bias)?, stride, padding).map_err(to_py_err)?;
        self.layers.push(Layer::Conv2d(conv));
        Ok(())
    }

    /// Appends a transposed convolution; `weight` is float32 `[c_in, c_out, kh, kw]`.
    fn conv_transpose2d(
        &mut self,
        weight: PyReadonlyArray4<'_, f32>,
        bias: PyReadonlyArray1<'_, f32>,
        stride: usize,
        padding: usize,
        output_padding: usize,
    ) -> PyResult<()> {
        let (w, shape) = weight4("weight", &weight)?;
        let conv = ConvTranspose2d::new(
            &w,
            shape,
            slice("bias", &bias)?,
            stride,
            padding,
            output_padding,
        )
        .map_err(to_py_err)?;
        self.layers.push(Layer::ConvTranspose2d(conv));
        Ok(())
    }

    fn relu(&mut self) {
        self.layers.push(Layer::Relu);
    }

    fn leaky_relu(&mut self, negative_slope: f32) {
        self.layers.push(Layer::LeakyRelu(negative_slope));
    }

    fn pixel_shuffle(&mut self, upscale_factor: usize) -> PyResult<()> {
        if upscale_factor == 0 {
            return Err(PyValueError::new_err(
                "pixel_shuffle: upscale_factor must be at least 1",
            ));
        }
        self.layers.push(Layer::PixelShuffle(upscale_factor));
        Ok(())
    }

    fn __len__(&self) -> usize {
        self.layers.len()
    }
}

fn kernel_choice(scalar: Option<bool>) -> Kernel {
    match scalar {
        Some(true) => Kernel::Scalar,
        Some(false) => Kernel::Vector,
        None => Kernel::from_env(),
    }
}

/// A node of a latent's coding tree (see `neuralcodec.engine.latent_graph`), built
/// bottom-up from the model's description: leaves first, then the nodes holding them.
/// The reconstruction of a coder: plain, or moved by an offset network reading scales
/// bounded by `scale_bound`.
fn reconstruction(
    offsets: Option<PyRef<'_, PyNetwork>>,
    scale_bound: f32,
) -> PyResult<Reconstruction> {
    match offsets {
        None => Ok(Reconstruction::plain()),
        Some(network) => Reconstruction::with_offsets(
            Network {
                layers: network.layers.clone(),
            },
            scale_bound,
        )
        .map_err(to_py_err),
    }
}

#[pyclass(name = "LatentCoder", module = "neuralcodec._core", frozen)]
pub(super) struct PyLatentCoder {
    inner: LatentCoder,
}

#[pymethods]
impl PyLatentCoder {
    /// A Gaussian leaf of `channels` channels: `entropy` (pointwise) maps the parameters
    /// handed down to `chunks` (`"scales_means"`, `"means_scales"` or `"scales"`); the
    /// CDF row of a scale is found in `scale_table` after bounding it by `scale_bound`. A
    /// `gained` leaf multiplies `y`, means and scales by the caller's gain; `offsets` (a
    /// pointwise network `[scale, gain] -> 1`) moves its reconstructions.
    #[staticmethod]
    #[pyo3(signature = (channels, entropy, chunks, scale_table, scale_bound, table, gained=false, offsets=None))]
    #[allow(clippy::too_many_arguments)]
    fn gaussian(
        channels: usize,
        entropy: &PyNetwork,
        chunks: &str,
        scale_table: PyReadonlyArray1<'_, f32>,
        scale_bound: f32,
        table: &PyCdfTable,
        gained: bool,
        offsets: Option<PyRef<'_, PyNetwork>>,
    ) -> PyResult<Self> {
        let chunks = match chunks {
            "scales_means" => Chunks::ScalesMeans,
            "means_scales" => Chunks::MeansScales,
            "scales" => Chunks::Scales,
            other => {
                return Err(PyValueError::new_err(format!(
                    "chunks must be 'scales_means', 'means_scales' or 'scales', got {other:?}"
                )))
            }
        };
        let entropy = Network {
            layers: entropy.layers.clone(),
        };
        let leaf = GaussianLeaf::new(
            channels,
            entropy,
            chunks,
            slice("scale_table", &scale_table)?,
            scale_bound,
            table.inner.as_ref().clone(),
            gained,
            reconstruction(offsets, scale_bound)?,
        )
        .map_err(to_py_err)?;
        Ok(PyLatentCoder {
            inner: LatentCoder::Gaussian(leaf),
        })
    }

    /// Two passes over a checkerboard: anchors at `anchor_parity` (`"even"`: `(row +
    /// column)` even), then the others with the context convolution (`context_weight`
    /// `[c, m, k, k]`, masked, odd `k`) over the anchors; `entropy` (pointwise) reads
    /// `cat(context, params)`; `leaf` (a Gaussian leaf) codes both passes.
    #[staticmethod]
    fn checkerboard(
        anchor_parity: &str,
        context_weight: PyReadonlyArray4<'_, f32>,
        context_bias: PyReadonlyArray1<'_, f32>,
        entropy: &PyNetwork,
        leaf: &PyLatentCoder,
    ) -> PyResult<Self> {
        let parity = match anchor_parity {
            "even" => 0,
            "odd" => 1,
            other => {
                return Err(PyValueError::new_err(format!(
                    "anchor_parity must be 'even' or 'odd', got {other:?}"
                )))
            }
        };
        let LatentCoder::Gaussian(leaf) = &leaf.inner else {
            return Err(PyValueError::new_err(
                "a checkerboard codes its passes with a Gaussian leaf",
            ));
        };
        let (weight, shape) = weight4("context_weight", &context_weight)?;
        let context =
            CheckerboardContext::new(&weight, shape, slice("context_bias", &context_bias)?)
                .map_err(to_py_err)?;
        let entropy = Network {
            layers: entropy.layers.clone(),
        };
        let checkerboard =
            Checkerboard::new(parity, context, entropy, leaf.clone()).map_err(to_py_err)?;
        Ok(PyLatentCoder {
            inner: LatentCoder::Checkerboard(Box::new(checkerboard)),
        })
    }

    /// Channel groups: `groups[k]` channels coded by `coders[k]`; group `k > 0` reads
    /// `cat(contexts[k](cat(y_hat of sources[k])), params)` (`contexts[0]` is None).
    #[staticmethod]
    fn channel_groups(
        groups: Vec<usize>,
        sources: Vec<Vec<usize>>,
        contexts: Vec<Option<PyRef<'_, PyNetwork>>>,
        coders: Vec<PyRef<'_, PyLatentCoder>>,
    ) -> PyResult<Self> {
        let contexts = contexts
            .iter()
            .map(|c| {
                c.as_ref().map(|n| Network {
                    layers: n.layers.clone(),
                })
            })
            .collect();
        let coders = coders.iter().map(|c| c.inner.clone()).collect();
        let groups = ChannelGroups::new(groups, sources, contexts, coders).map_err(to_py_err)?;
        Ok(PyLatentCoder {
            inner: LatentCoder::ChannelGroups(groups),
        })
    }

    /// The serial context model of mbt2018 and Cheng2020: the mask-A context convolution
    /// (`context_weight` `[2m, m, k, k]`, masked, odd `k`), the first 1x1 layer of the
    /// entropy parameters (`entropy_weight` `[n1, params_channels + 2m, 1, 1]`) and the
    /// rest of that network; scales pick rows of `table` as for a Gaussian leaf. A
    /// `gained` raster scan codes with the caller's gain, `offsets` as for a Gaussian
    /// leaf, and `gain_context_weight`/`_bias` (`[2m]` each) add `weight * gain + bias`
    /// to the context features.
    #[staticmethod]
    #[pyo3(signature = (context_weight, context_bias, entropy_weight, entropy_bias, entropy_rest, params_channels, scale_table, scale_bound, table, gained=false, offsets=None, gain_context_weight=None, gain_context_bias=None))]
    #[allow(clippy::too_many_arguments)]
    fn raster_scan(
        context_weight: PyReadonlyArray4<'_, f32>,
        context_bias: PyReadonlyArray1<'_, f32>,
        entropy_weight: PyReadonlyArray4<'_, f32>,
        entropy_bias: PyReadonlyArray1<'_, f32>,
        entropy_rest: &PyNetwork,
        params_channels: usize,
        scale_table: PyReadonlyArray1<'_, f32>,
        scale_bound: f32,
        table: &PyCdfTable,
        gained: bool,
        offsets: Option<PyRef<'_, PyNetwork>>,
        gain_context_weight: Option<PyReadonlyArray1<'_, f32>>,
        gain_context_bias: Option<PyReadonlyArray1<'_, f32>>,
    ) -> PyResult<Self> {
        let gain_context = match (&gain_context_weight, &gain_context_bias) {
            (None, None) => None,
            (Some(w), Some(b)) => Some((
                slice("gain_context_weight", w)?.to_vec(),
                slice("gain_context_bias", b)?.to_vec(),
            )),
            _ => {
                return Err(PyValueError::new_err(
                    "pass gain_context_weight and gain_context_bias together",
                ))
            }
        };
        let (cw, cshape) = weight4("context_weight", &context_weight)?;
        let context = ContextModel::new(&cw, cshape, slice("context_bias", &context_bias)?)
            .map_err(to_py_err)?;
        let (ew, eshape) = weight4("entropy_weight", &entropy_weight)?;
        let rest = Network {
            layers: entropy_rest.layers.clone(),
        };
        let model = Autoregressive::new(
            context,
            (&ew, eshape, slice("entropy_bias", &entropy_bias)?),
            rest,
            params_channels,
        )
        .map_err(to_py_err)?;
        let raster = RasterScan::new(
            model,
            slice("scale_table", &scale_table)?,
            scale_bound,
            table.inner.as_ref().clone(),
            gained,
            reconstruction(offsets, scale_bound)?,
            gain_context,
        )
        .map_err(to_py_err)?;
        Ok(PyLatentCoder {
            inner: LatentCoder::RasterScan(Box::new(raster)),
        })
    }

    /// Latent channels coded.
    #[getter]
    fn channels(&self) -> usize {
        self.inner.channels()
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
    /// `hyper`: the hyper-synthesis (`params = hyper(z_hat)`); `coder`: the tree;
    /// `scalar`: force (True) or forbid (False) the scalar kernel, default from
    /// `NEURALCODEC_ENGINE_SCALAR`.
    #[new]
    #[pyo3(signature = (hyper, coder, scalar=None))]
    fn new(hyper: &PyNetwork, coder: &PyLatentCoder, scalar: Option<bool>) -> Self {
        let hyper = Network {
            layers: hyper.layers.clone(),
        };
        PyLatentGraph {
            inner: Arc::new(LatentGraph::new(hyper, coder.inner.clone())),
            kernel: kernel_choice(scalar),
        }
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
