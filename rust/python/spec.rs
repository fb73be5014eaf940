//! The one reader of a coding-graph spec on the Rust side: walks the spec dict that
//! `neuralcodec/graph_spec.py` documents (its grammar is that module's docstring) and
//! builds the engine's [`LatentGraph`] directly, looking each named array up in the
//! `tensors` mapping. A new node kind is one arm of [`Spec::coder`] here (and its coder in
//! `crate::engine`), beside its class in `latent_codecs/description.py`.
//!
//! Errors: a missing key, an unknown op or a missing array raise `KeyError` (which
//! `graph_spec.build_graph` reports as `GraphSpecError`); arrays of another dtype or rank,
//! or values of another type, `TypeError`/`ValueError`; arrays that do not fit together,
//! the engine's `ValueError`.

use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::conversion::FromPyObjectOwned;
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::to_py_err;
use crate::cdf::CdfTable;
use crate::engine::{
    Autoregressive, ChannelGroups, Checkerboard, CheckerboardContext, Chunks, ContextModel, Conv2d,
    ConvTranspose2d, GaussianLeaf, LatentCoder, LatentGraph, Layer, Network, RasterScan,
    Reconstruction,
};

/// The graph of `spec` (`{"hyper": [layer, ...], "coder": node}`) over the arrays in
/// `tensors` (a mapping of names to numpy arrays).
pub(super) fn latent_graph(
    spec: &Bound<'_, PyAny>,
    tensors: &Bound<'_, PyAny>,
) -> PyResult<LatentGraph> {
    let (Ok(hyper), Ok(coder)) = (spec.get_item("hyper"), spec.get_item("coder")) else {
        return Err(PyKeyError::new_err(
            "a graph spec needs 'hyper' and 'coder'",
        ));
    };
    let spec = Spec { tensors };
    let hyper = spec.network(&hyper)?;
    Ok(LatentGraph::new(hyper, spec.coder(&coder)?))
}

/// An array's data (C-contiguous float32 or int32) and shape.
struct Array<T> {
    data: Vec<T>,
    shape: Vec<usize>,
}

struct Spec<'a, 'py> {
    tensors: &'a Bound<'py, PyAny>,
}

/// `node[key]`, or a `KeyError` naming the node's op.
fn field<'py>(node: &Bound<'py, PyAny>, op: &str, key: &str) -> PyResult<Bound<'py, PyAny>> {
    node.get_item(key)
        .map_err(|_| PyKeyError::new_err(format!("a {op} node needs '{key}'")))
}

/// `node.get(key)`: None when absent or None.
fn optional<'py>(node: &Bound<'py, PyAny>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    match node.get_item(key) {
        Ok(value) if value.is_none() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(error) if error.is_instance_of::<PyKeyError>(node.py()) => Ok(None),
        Err(error) => Err(error),
    }
}

fn typed<'py, T: FromPyObjectOwned<'py>>(
    value: &Bound<'py, PyAny>,
    op: &str,
    key: &str,
    what: &str,
) -> PyResult<T> {
    value.extract::<T>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{op}: '{key}' must be {what}, got {}",
            value
                .repr()
                .map_or_else(|_| "?".to_string(), |r| r.to_string())
        ))
    })
}

fn usize_field(node: &Bound<'_, PyAny>, op: &str, key: &str) -> PyResult<usize> {
    typed(&field(node, op, key)?, op, key, "a non-negative integer")
}

fn f32_field(node: &Bound<'_, PyAny>, op: &str, key: &str) -> PyResult<f32> {
    typed(&field(node, op, key)?, op, key, "a number")
}

fn str_field(node: &Bound<'_, PyAny>, op: &str, key: &str) -> PyResult<String> {
    typed(&field(node, op, key)?, op, key, "a string")
}

/// A node's `"op"`, or `None` (reported as an unknown op) where there is none.
fn op_of(node: &Bound<'_, PyAny>) -> Option<String> {
    optional(node, "op")
        .ok()
        .flatten()
        .and_then(|op| op.extract::<String>().ok())
}

fn c_contiguous<T: Copy + numpy::Element>(
    name: &str,
    array: &PyReadonlyArrayDyn<'_, T>,
) -> PyResult<Array<T>> {
    let data = array
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("array '{name}' must be C-contiguous")))?
        .to_vec();
    Ok(Array {
        data,
        shape: array.shape().to_vec(),
    })
}

impl<'py> Spec<'_, 'py> {
    fn lookup(&self, name: &str) -> PyResult<Bound<'py, PyAny>> {
        self.tensors.get_item(name).map_err(|_| {
            PyKeyError::new_err(format!(
                "the graph names an array '{name}' that is not there"
            ))
        })
    }

    fn floats(&self, name: &str, ndim: usize) -> PyResult<Array<f32>> {
        let value = self.lookup(name)?;
        let array = value
            .extract::<PyReadonlyArrayDyn<'py, f32>>()
            .map_err(|_| PyTypeError::new_err(format!("array '{name}' must be float32")))?;
        if array.ndim() != ndim {
            return Err(PyValueError::new_err(format!(
                "array '{name}' must have {ndim} dimensions, has {}",
                array.ndim()
            )));
        }
        c_contiguous(name, &array)
    }

    fn ints(&self, name: &str, ndim: usize) -> PyResult<Array<i32>> {
        let value = self.lookup(name)?;
        let array = value
            .extract::<PyReadonlyArrayDyn<'py, i32>>()
            .map_err(|_| PyTypeError::new_err(format!("array '{name}' must be int32")))?;
        if array.ndim() != ndim {
            return Err(PyValueError::new_err(format!(
                "array '{name}' must have {ndim} dimensions, has {}",
                array.ndim()
            )));
        }
        c_contiguous(name, &array)
    }

    /// `name.weight` (float32, 4-d, PyTorch's layout) and `name.bias` (1-d).
    fn weights(&self, name: &str) -> PyResult<(Vec<f32>, [usize; 4], Vec<f32>)> {
        let weight = self.floats(&format!("{name}.weight"), 4)?;
        let bias = self.floats(&format!("{name}.bias"), 1)?;
        let s = &weight.shape;
        Ok((weight.data, [s[0], s[1], s[2], s[3]], bias.data))
    }

    /// The table `name.quantized_cdf`, `name.cdf_length`, `name.offset` (int32).
    fn table(&self, name: &str) -> PyResult<CdfTable> {
        let cdfs = self.ints(&format!("{name}.quantized_cdf"), 2)?;
        let lengths = self.ints(&format!("{name}.cdf_length"), 1)?;
        let offsets = self.ints(&format!("{name}.offset"), 1)?;
        CdfTable::new(
            &cdfs.data,
            cdfs.shape[0],
            cdfs.shape[1],
            &lengths.data,
            &offsets.data,
        )
        .map_err(to_py_err)
    }

    /// A network: `[layer, ...]`.
    fn network(&self, ops: &Bound<'py, PyAny>) -> PyResult<Network> {
        let mut layers = Vec::new();
        for op in ops.try_iter()? {
            let op = op?;
            let kind = op_of(&op);
            let layer = match kind.as_deref() {
                Some(kind @ "conv2d") => {
                    let (w, shape, bias) = self.weights(&str_field(&op, kind, "tensor")?)?;
                    let stride = usize_field(&op, kind, "stride")?;
                    let padding = usize_field(&op, kind, "padding")?;
                    Layer::Conv2d(
                        Conv2d::new(&w, shape, &bias, stride, padding).map_err(to_py_err)?,
                    )
                }
                Some(kind @ "conv_transpose2d") => {
                    let (w, shape, bias) = self.weights(&str_field(&op, kind, "tensor")?)?;
                    let stride = usize_field(&op, kind, "stride")?;
                    let padding = usize_field(&op, kind, "padding")?;
                    let output_padding = usize_field(&op, kind, "output_padding")?;
                    Layer::ConvTranspose2d(
                        ConvTranspose2d::new(&w, shape, &bias, stride, padding, output_padding)
                            .map_err(to_py_err)?,
                    )
                }
                Some("relu") => Layer::Relu,
                Some(kind @ "leaky_relu") => {
                    Layer::LeakyRelu(f32_field(&op, kind, "negative_slope")?)
                }
                Some(kind @ "pixel_shuffle") => {
                    let factor = usize_field(&op, kind, "upscale_factor")?;
                    if factor == 0 {
                        return Err(PyValueError::new_err(
                            "pixel_shuffle: upscale_factor must be at least 1",
                        ));
                    }
                    Layer::PixelShuffle(factor)
                }
                other => {
                    return Err(PyKeyError::new_err(format!(
                        "unknown engine layer {}",
                        name_of(other)
                    )))
                }
            };
            layers.push(layer);
        }
        Ok(Network { layers })
    }

    /// `node[key]` as a network, or None.
    fn optional_network(&self, node: &Bound<'py, PyAny>, key: &str) -> PyResult<Option<Network>> {
        optional(node, key)?
            .map(|ops| self.network(&ops))
            .transpose()
    }

    /// The reconstruction of a coder: plain, or moved by `node["offsets"]` reading scales
    /// bounded by `scale_bound`.
    fn reconstruction(
        &self,
        node: &Bound<'py, PyAny>,
        scale_bound: f32,
    ) -> PyResult<Reconstruction> {
        match self.optional_network(node, "offsets")? {
            None => Ok(Reconstruction::plain()),
            Some(network) => Reconstruction::with_offsets(network, scale_bound).map_err(to_py_err),
        }
    }

    /// A coding node (see `graph_spec.py` for each op's keys).
    fn coder(&self, node: &Bound<'py, PyAny>) -> PyResult<LatentCoder> {
        let kind = op_of(node);
        match kind.as_deref() {
            Some(op @ "gaussian") => {
                let channels = usize_field(node, op, "channels")?;
                let entropy = self.network(&field(node, op, "entropy")?)?;
                let chunks = chunks(&str_field(node, op, "chunks")?)?;
                let scale_table = self.floats(&str_field(node, op, "scale_table")?, 1)?;
                let scale_bound = f32_field(node, op, "scale_bound")?;
                let table = self.table(&str_field(node, op, "table")?)?;
                let gained = field(node, op, "gained")?.is_truthy()?;
                let reconstruction = self.reconstruction(node, scale_bound)?;
                let leaf = GaussianLeaf::new(
                    channels,
                    entropy,
                    chunks,
                    &scale_table.data,
                    scale_bound,
                    table,
                    gained,
                    reconstruction,
                )
                .map_err(to_py_err)?;
                Ok(LatentCoder::Gaussian(leaf))
            }
            Some(op @ "checkerboard") => {
                let parity = match str_field(node, op, "anchor_parity")?.as_str() {
                    "even" => 0,
                    "odd" => 1,
                    other => {
                        return Err(PyValueError::new_err(format!(
                            "anchor_parity must be 'even' or 'odd', got {other:?}"
                        )))
                    }
                };
                let (weight, shape, bias) = self.weights(&str_field(node, op, "context")?)?;
                let entropy = self.network(&field(node, op, "entropy")?)?;
                let LatentCoder::Gaussian(leaf) = self.coder(&field(node, op, "leaf")?)? else {
                    return Err(PyValueError::new_err(
                        "a checkerboard codes its passes with a Gaussian leaf",
                    ));
                };
                let context = CheckerboardContext::new(&weight, shape, &bias).map_err(to_py_err)?;
                let checkerboard =
                    Checkerboard::new(parity, context, entropy, leaf).map_err(to_py_err)?;
                Ok(LatentCoder::Checkerboard(Box::new(checkerboard)))
            }
            Some(op @ "channel_groups") => {
                let groups: Vec<usize> = typed(
                    &field(node, op, "groups")?,
                    op,
                    "groups",
                    "a list of integers",
                )?;
                let sources: Vec<Vec<usize>> = typed(
                    &field(node, op, "sources")?,
                    op,
                    "sources",
                    "a list of lists of integers",
                )?;
                let mut contexts = Vec::new();
                for ops in field(node, op, "contexts")?.try_iter()? {
                    let ops = ops?;
                    contexts.push(if ops.is_none() {
                        None
                    } else {
                        Some(self.network(&ops)?)
                    });
                }
                let mut coders = Vec::new();
                for child in field(node, op, "coders")?.try_iter()? {
                    coders.push(self.coder(&child?)?);
                }
                let groups =
                    ChannelGroups::new(groups, sources, contexts, coders).map_err(to_py_err)?;
                Ok(LatentCoder::ChannelGroups(groups))
            }
            Some(op @ "raster_scan") => {
                let (cw, cshape, cb) = self.weights(&str_field(node, op, "context")?)?;
                let (ew, eshape, eb) = self.weights(&str_field(node, op, "entropy_first")?)?;
                let rest = self.network(&field(node, op, "entropy_rest")?)?;
                let params_channels = usize_field(node, op, "params_channels")?;
                let scale_table = self.floats(&str_field(node, op, "scale_table")?, 1)?;
                let scale_bound = f32_field(node, op, "scale_bound")?;
                let table = self.table(&str_field(node, op, "table")?)?;
                let gained = match optional(node, "gained")? {
                    None => false,
                    Some(value) => value.is_truthy()?,
                };
                let reconstruction = self.reconstruction(node, scale_bound)?;
                let gain_context = match optional(node, "gain_context")? {
                    None => None,
                    Some(name) => {
                        let name: String = typed(&name, op, "gain_context", "a string")?;
                        let weight = self.floats(&format!("{name}.weight"), 1)?;
                        let bias = self.floats(&format!("{name}.bias"), 1)?;
                        Some((weight.data, bias.data))
                    }
                };
                let context = ContextModel::new(&cw, cshape, &cb).map_err(to_py_err)?;
                let model = Autoregressive::new(context, (&ew, eshape, &eb), rest, params_channels)
                    .map_err(to_py_err)?;
                let raster = RasterScan::new(
                    model,
                    &scale_table.data,
                    scale_bound,
                    table,
                    gained,
                    reconstruction,
                    gain_context,
                )
                .map_err(to_py_err)?;
                Ok(LatentCoder::RasterScan(Box::new(raster)))
            }
            other => Err(PyKeyError::new_err(format!(
                "unknown coding node {}",
                name_of(other)
            ))),
        }
    }
}

/// The parameter layout a Gaussian leaf's entropy network writes.
fn chunks(name: &str) -> PyResult<Chunks> {
    match name {
        "scales_means" => Ok(Chunks::ScalesMeans),
        "means_scales" => Ok(Chunks::MeansScales),
        "scales" => Ok(Chunks::Scales),
        other => Err(PyValueError::new_err(format!(
            "chunks must be 'scales_means', 'means_scales' or 'scales', got {other:?}"
        ))),
    }
}

/// An op's name as Python's `repr` writes it (`None` where there is none).
fn name_of(op: Option<&str>) -> String {
    op.map_or_else(|| "None".to_string(), |op| format!("'{op}'"))
}
