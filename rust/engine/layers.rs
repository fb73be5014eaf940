//! Layers of the hyper-synthesis and entropy-parameter networks, on [`FeatureMap`]s.
//!
//! Every linear layer is "gather the inputs of an output pixel into a row (im2col),
//! then [`gemm_acc`]": the value of output channel `co` at a pixel is
//! `bias[co] + sum_k row[k] * w(k, co)` in increasing `k`, where the reduction index
//! runs over the kernel taps in raster order and, inside a tap, over the input
//! channels: `k = (ky * kw + kx) * c_in + ci`. Taps that fall in the zero padding
//! contribute `0 * w` like any other. That is the whole numerical contract; the
//! layout, the blocking and the threads are free to change around it.

use crate::error::{CoderError, Result};

use super::kernels::{gemm_acc, pool, Kernel, PackedWeights};

/// An `h x w x c` float32 array, channels innermost (HWC).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMap {
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// `data[(y * w + x) * c + ch]`.
    pub data: Vec<f32>,
}

impl FeatureMap {
    /// A map from its HWC data.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] when `data.len() != h * w * c`.
    pub fn new(h: usize, w: usize, c: usize, data: Vec<f32>) -> Result<FeatureMap> {
        FeatureView::new(h, w, c, &data)?;
        Ok(FeatureMap { h, w, c, data })
    }

    /// An all-zero map.
    pub fn zeros(h: usize, w: usize, c: usize) -> FeatureMap {
        FeatureMap {
            h,
            w,
            c,
            data: vec![0.0; h * w * c],
        }
    }

    /// The channels of pixel `(y, x)`.
    #[inline]
    pub fn pixel(&self, y: usize, x: usize) -> &[f32] {
        self.view().pixel(y, x)
    }

    /// The map, borrowed.
    #[inline]
    pub fn view(&self) -> FeatureView<'_> {
        FeatureView {
            h: self.h,
            w: self.w,
            c: self.c,
            data: &self.data,
        }
    }
}

/// A borrowed `h x w x c` map in the layout of [`FeatureMap`]: what the encoder reads the
/// latent from, so that a caller's buffer is not copied.
#[derive(Debug, Clone, Copy)]
pub struct FeatureView<'a> {
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// `data[(y * w + x) * c + ch]`.
    pub data: &'a [f32],
}

impl<'a> FeatureView<'a> {
    /// A view of HWC data.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] when `data.len() != h * w * c`.
    pub fn new(h: usize, w: usize, c: usize, data: &'a [f32]) -> Result<FeatureView<'a>> {
        if data.len() != h * w * c {
            return Err(CoderError::InvalidInput(format!(
                "a {h}x{w}x{c} feature map needs {} values, got {}",
                h * w * c,
                data.len()
            )));
        }
        Ok(FeatureView { h, w, c, data })
    }

    /// The channels of pixel `(y, x)`.
    #[inline]
    pub fn pixel(&self, y: usize, x: usize) -> &'a [f32] {
        let start = (y * self.w + x) * self.c;
        &self.data[start..start + self.c]
    }
}

/// How the engine runs: which kernel, and how many threads may split the outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Kernel implementation (results are identical).
    pub kernel: Kernel,
    /// Threads (results are identical for any count).
    pub threads: usize,
}

/// Output pixels gathered per im2col block (per thread).
const ROW_BLOCK: usize = 32;

/// A set of output rows computed as `bias + gather(row) . w`.
///
/// `fill(r, buf)` writes the `k_len` inputs of output row `r` into `buf`. The rows are
/// split into contiguous parts, one per thread; each part is gathered block by block.
fn gathered_matmul(
    rows: usize,
    fill: &(dyn Fn(usize, &mut [f32]) + Sync),
    w: &PackedWeights,
    bias: &[f32],
    cfg: Config,
) -> Vec<f32> {
    let (n, k_len) = (w.n(), w.k_len());
    let mut out = vec![0.0f32; rows * n];
    if n == 0 {
        return out;
    }
    for row in out.chunks_exact_mut(n) {
        row.copy_from_slice(bias);
    }
    let work = rows * n * k_len;
    let threads = if work < (1 << 20) {
        1
    } else {
        cfg.threads.clamp(1, rows.max(1))
    };
    let run = |first_row: usize, part: &mut [f32]| {
        let mut buf = vec![0.0f32; ROW_BLOCK * k_len];
        for (b, out_block) in part.chunks_mut(ROW_BLOCK * n).enumerate() {
            let count = out_block.len() / n;
            for i in 0..count {
                fill(
                    first_row + b * ROW_BLOCK + i,
                    &mut buf[i * k_len..(i + 1) * k_len],
                );
            }
            gemm_acc(&buf[..count * k_len], w, out_block, cfg.kernel);
        }
    };
    match pool(threads) {
        None => run(0, &mut out),
        Some(workers) => {
            let per = rows.div_ceil(threads);
            workers.scope(|scope| {
                for (t, part) in out.chunks_mut(per * n).enumerate() {
                    let run = &run;
                    scope.spawn(move |_| run(t * per, part));
                }
            });
        }
    }
    out
}

/// `torch.nn.Conv2d` (groups 1, dilation 1, zero padding).
#[derive(Debug, Clone)]
pub struct Conv2d {
    c_in: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: usize,
    weight: PackedWeights,
    bias: Vec<f32>,
}

impl Conv2d {
    /// From PyTorch's weight `[c_out, c_in, kh, kw]` (row-major) and bias `[c_out]`.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] on inconsistent sizes or a zero stride.
    pub fn new(
        weight: &[f32],
        shape: [usize; 4],
        bias: &[f32],
        stride: usize,
        padding: usize,
    ) -> Result<Conv2d> {
        let [c_out, c_in, kh, kw] = shape;
        check_weight("conv2d", weight, shape, bias)?;
        if stride == 0 {
            return Err(CoderError::InvalidInput(
                "conv2d: stride must be at least 1".into(),
            ));
        }
        let k_len = kh * kw * c_in;
        let packed = PackedWeights::from_fn(k_len, c_out, |k, co| {
            let (tap, ci) = (k / c_in, k % c_in);
            let (ky, kx) = (tap / kw, tap % kw);
            weight[((co * c_in + ci) * kh + ky) * kw + kx]
        });
        Ok(Conv2d {
            c_in,
            kh,
            kw,
            stride,
            padding,
            weight: packed,
            bias: bias.to_vec(),
        })
    }

    /// Output channels.
    pub fn c_out(&self) -> usize {
        self.bias.len()
    }

    /// Whether each output pixel reads only its own input pixel (1x1, stride 1, no padding).
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.padding == 0
    }

    fn forward(&self, x: &FeatureMap, cfg: Config) -> Result<FeatureMap> {
        check_channels("conv2d", x, self.c_in)?;
        let (s, p) = (self.stride, self.padding);
        if x.h + 2 * p < self.kh || x.w + 2 * p < self.kw {
            return Err(CoderError::InvalidInput(format!(
                "conv2d: a {}x{} input is smaller than the {}x{} kernel",
                x.h, x.w, self.kh, self.kw
            )));
        }
        let oh = (x.h + 2 * p - self.kh) / s + 1;
        let ow = (x.w + 2 * p - self.kw) / s + 1;
        let c_in = self.c_in;
        let (kh, kw) = (self.kh, self.kw);
        let fill = |r: usize, buf: &mut [f32]| {
            let (oy, ox) = (r / ow, r % ow);
            for ky in 0..kh {
                for kx in 0..kw {
                    let dst = &mut buf[(ky * kw + kx) * c_in..(ky * kw + kx + 1) * c_in];
                    let iy = (oy * s + ky) as isize - p as isize;
                    let ix = (ox * s + kx) as isize - p as isize;
                    if iy < 0 || ix < 0 || iy >= x.h as isize || ix >= x.w as isize {
                        dst.fill(0.0);
                    } else {
                        dst.copy_from_slice(x.pixel(iy as usize, ix as usize));
                    }
                }
            }
        };
        let data = gathered_matmul(oh * ow, &fill, &self.weight, &self.bias, cfg);
        FeatureMap::new(oh, ow, self.c_out(), data)
    }
}

/// One output-parity class of a transposed convolution: the taps that reach outputs
/// `o = stride * q + r`, as `(kernel index, input offset d)` with input `q + d`.
#[derive(Debug, Clone)]
struct Parity {
    ry: usize,
    rx: usize,
    taps_y: Vec<isize>,
    taps_x: Vec<isize>,
    weight: PackedWeights,
}

/// `torch.nn.ConvTranspose2d` (groups 1, dilation 1), computed as `stride^2`
/// ordinary convolutions, one per output parity: output `o = stride * q + r` receives
/// input `i` through kernel tap `kk` exactly when `o = stride * i - padding + kk`, i.e.
/// `i = q + (r + padding - kk) / stride` for the `kk` with `kk = r + padding (mod
/// stride)`. Inside a parity class the reduction runs over those taps in increasing
/// `(ky, kx)`, then input channels.
#[derive(Debug, Clone)]
pub struct ConvTranspose2d {
    c_in: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: usize,
    output_padding: usize,
    parities: Vec<Parity>,
    bias: Vec<f32>,
}

impl ConvTranspose2d {
    /// From PyTorch's weight `[c_in, c_out, kh, kw]` and bias `[c_out]`.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] on inconsistent sizes, a zero stride, or
    /// `output_padding >= stride`.
    pub fn new(
        weight: &[f32],
        shape: [usize; 4],
        bias: &[f32],
        stride: usize,
        padding: usize,
        output_padding: usize,
    ) -> Result<ConvTranspose2d> {
        let [c_in, c_out, kh, kw] = shape;
        check_weight("conv_transpose2d", weight, [c_out, c_in, kh, kw], bias)?;
        if stride == 0 || output_padding >= stride {
            return Err(CoderError::InvalidInput(format!(
                "conv_transpose2d: need stride >= 1 and output_padding < stride, got {stride} and {output_padding}"
            )));
        }
        let taps = |r: usize, k: usize| -> Vec<isize> {
            (0..k)
                .filter(|&kk| (r + padding + stride * k - kk).is_multiple_of(stride))
                .map(|kk| kk as isize)
                .collect()
        };
        let mut parities = Vec::new();
        for ry in 0..stride {
            for rx in 0..stride {
                let (taps_y, taps_x) = (taps(ry, kh), taps(rx, kw));
                let ntx = taps_x.len();
                let k_len = taps_y.len() * ntx * c_in;
                let packed = PackedWeights::from_fn(k_len, c_out, |k, co| {
                    let (tap, ci) = (k / c_in, k % c_in);
                    let (ky, kx) = (taps_y[tap / ntx] as usize, taps_x[tap % ntx] as usize);
                    weight[((ci * c_out + co) * kh + ky) * kw + kx]
                });
                parities.push(Parity {
                    ry,
                    rx,
                    taps_y,
                    taps_x,
                    weight: packed,
                });
            }
        }
        Ok(ConvTranspose2d {
            c_in,
            kh,
            kw,
            stride,
            padding,
            output_padding,
            parities,
            bias: bias.to_vec(),
        })
    }

    /// Output channels.
    pub fn c_out(&self) -> usize {
        self.bias.len()
    }

    fn forward(&self, x: &FeatureMap, cfg: Config) -> Result<FeatureMap> {
        check_channels("conv_transpose2d", x, self.c_in)?;
        let (s, p) = (self.stride, self.padding);
        let full_h = (x.h.max(1) - 1) * s + self.kh + self.output_padding;
        let full_w = (x.w.max(1) - 1) * s + self.kw + self.output_padding;
        if x.h == 0 || x.w == 0 || full_h <= 2 * p || full_w <= 2 * p {
            return Err(CoderError::InvalidInput(format!(
                "conv_transpose2d: a {}x{} input gives an empty output",
                x.h, x.w
            )));
        }
        let (oh, ow) = (full_h - 2 * p, full_w - 2 * p);
        let c_out = self.c_out();
        let mut out = FeatureMap::zeros(oh, ow, c_out);
        let c_in = self.c_in;
        for par in &self.parities {
            if par.ry >= oh || par.rx >= ow {
                continue;
            }
            let qh = (oh - par.ry).div_ceil(s);
            let qw = (ow - par.rx).div_ceil(s);
            let ntx = par.taps_x.len();
            let offset = |r: usize, kk: isize| (r + p) as isize - kk;
            let fill = |row: usize, buf: &mut [f32]| {
                let (qy, qx) = (row / qw, row % qw);
                for (ty, &ky) in par.taps_y.iter().enumerate() {
                    let iy = qy as isize + offset(par.ry, ky) / s as isize;
                    for (tx, &kx) in par.taps_x.iter().enumerate() {
                        let ix = qx as isize + offset(par.rx, kx) / s as isize;
                        let t = ty * ntx + tx;
                        let dst = &mut buf[t * c_in..(t + 1) * c_in];
                        if iy < 0 || ix < 0 || iy >= x.h as isize || ix >= x.w as isize {
                            dst.fill(0.0);
                        } else {
                            dst.copy_from_slice(x.pixel(iy as usize, ix as usize));
                        }
                    }
                }
            };
            let part = gathered_matmul(qh * qw, &fill, &par.weight, &self.bias, cfg);
            for (row, values) in part.chunks_exact(c_out.max(1)).enumerate() {
                let (oy, ox) = (s * (row / qw) + par.ry, s * (row % qw) + par.rx);
                let start = (oy * ow + ox) * c_out;
                out.data[start..start + c_out].copy_from_slice(values);
            }
        }
        Ok(out)
    }
}

/// One step of a network.
#[derive(Debug, Clone)]
pub enum Layer {
    /// A convolution.
    Conv2d(Conv2d),
    /// A transposed convolution.
    ConvTranspose2d(ConvTranspose2d),
    /// `max(x, 0)`, written `if x > 0 { x } else { 0 }`.
    Relu,
    /// `if x > 0 { x } else { x * slope }`: one rounded multiply, as `torch.nn.LeakyReLU`.
    LeakyRelu(f32),
    /// `torch.nn.PixelShuffle(r)`: channel `c * r^2 + i * r + j` of pixel `(y, x)` goes to
    /// channel `c` of pixel `(r y + i, r x + j)`.
    PixelShuffle(usize),
}

impl Layer {
    /// Applies the layer.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] when the input does not fit the layer.
    pub fn forward(&self, x: FeatureMap, cfg: Config) -> Result<FeatureMap> {
        match self {
            Layer::Conv2d(conv) => conv.forward(&x, cfg),
            Layer::ConvTranspose2d(conv) => conv.forward(&x, cfg),
            Layer::Relu => Ok(map(x, relu)),
            Layer::LeakyRelu(slope) => {
                let slope = *slope;
                Ok(map(x, |v| leaky_relu(v, slope)))
            }
            Layer::PixelShuffle(r) => pixel_shuffle(x, *r),
        }
    }
}

/// `max(x, 0)` (NaN gives 0).
#[inline]
pub fn relu(v: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        0.0
    }
}

/// `x` for positive `x`, else `x * slope`.
#[inline]
pub fn leaky_relu(v: f32, slope: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        v * slope
    }
}

fn map(mut x: FeatureMap, f: impl Fn(f32) -> f32) -> FeatureMap {
    x.data.iter_mut().for_each(|v| *v = f(*v));
    x
}

fn pixel_shuffle(x: FeatureMap, r: usize) -> Result<FeatureMap> {
    if r == 0 || !x.c.is_multiple_of(r * r) {
        return Err(CoderError::InvalidInput(format!(
            "pixel_shuffle({r}): {} channels are not a multiple of {}",
            x.c,
            r * r
        )));
    }
    let c = x.c / (r * r);
    let (oh, ow) = (x.h * r, x.w * r);
    let mut out = FeatureMap::zeros(oh, ow, c);
    for y in 0..x.h {
        for xx in 0..x.w {
            let src = x.pixel(y, xx);
            for i in 0..r {
                for j in 0..r {
                    let start = ((y * r + i) * ow + xx * r + j) * c;
                    for ch in 0..c {
                        out.data[start + ch] = src[ch * r * r + i * r + j];
                    }
                }
            }
        }
    }
    Ok(out)
}

fn check_weight(name: &str, weight: &[f32], shape: [usize; 4], bias: &[f32]) -> Result<()> {
    let [c_out, c_in, kh, kw] = shape;
    if weight.len() != c_out * c_in * kh * kw
        || bias.len() != c_out
        || kh == 0
        || kw == 0
        || c_in == 0
    {
        return Err(CoderError::InvalidInput(format!(
            "{name}: weight of {} values and bias of {} values do not match the shape {shape:?}",
            weight.len(),
            bias.len()
        )));
    }
    Ok(())
}

fn check_channels(name: &str, x: &FeatureMap, c_in: usize) -> Result<()> {
    if x.c != c_in {
        return Err(CoderError::InvalidInput(format!(
            "{name}: expected {c_in} input channels, got {}",
            x.c
        )));
    }
    Ok(())
}

/// Layers applied in order.
#[derive(Debug, Clone, Default)]
pub struct Network {
    /// The layers.
    pub layers: Vec<Layer>,
}

impl Network {
    /// Runs the network.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] when a layer does not fit its input.
    pub fn forward(&self, x: FeatureMap, cfg: Config) -> Result<FeatureMap> {
        self.layers
            .iter()
            .try_fold(x, |x, layer| layer.forward(x, cfg))
    }

    /// Checks that every layer maps each pixel on its own (1x1 stride-1 unpadded
    /// convolutions and activations), so the network can run on chosen positions only.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] naming the network (`name`) and the first other layer.
    pub fn check_pointwise(&self, name: &str) -> Result<()> {
        for layer in &self.layers {
            let pointwise = match layer {
                Layer::Conv2d(conv) => conv.is_pointwise(),
                Layer::Relu | Layer::LeakyRelu(_) => true,
                Layer::ConvTranspose2d(_) | Layer::PixelShuffle(_) => false,
            };
            if !pointwise {
                return Err(CoderError::InvalidInput(format!(
                    "{name} must be pointwise (1x1 convolutions with stride 1 and no padding, activations), got {layer:?}"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values(seed: u64, count: usize) -> Vec<f32> {
        crate::test_util::values(seed, count, 1.0)
    }

    /// Direct definition of Conv2d in PyTorch's CHW indexing, summed in the engine's order.
    fn naive_conv(
        x: &FeatureMap,
        w: &[f32],
        shape: [usize; 4],
        b: &[f32],
        s: usize,
        p: usize,
    ) -> FeatureMap {
        let [c_out, c_in, kh, kw] = shape;
        let oh = (x.h + 2 * p - kh) / s + 1;
        let ow = (x.w + 2 * p - kw) / s + 1;
        let mut out = FeatureMap::zeros(oh, ow, c_out);
        for oy in 0..oh {
            for ox in 0..ow {
                for co in 0..c_out {
                    let mut acc = b[co];
                    for ky in 0..kh {
                        for kx in 0..kw {
                            for ci in 0..c_in {
                                let iy = (oy * s + ky) as isize - p as isize;
                                let ix = (ox * s + kx) as isize - p as isize;
                                let v =
                                    if iy < 0 || ix < 0 || iy >= x.h as isize || ix >= x.w as isize
                                    {
                                        0.0
                                    } else {
                                        x.pixel(iy as usize, ix as usize)[ci]
                                    };
                                acc += w[((co * c_in + ci) * kh + ky) * kw + kx] * v;
                            }
                        }
                    }
                    out.data[(oy * ow + ox) * c_out + co] = acc;
                }
            }
        }
        out
    }

    /// Transposed convolution by its scatter definition, in float64 (a tolerance check).
    fn naive_deconv(
        x: &FeatureMap,
        w: &[f32],
        shape: [usize; 4],
        b: &[f32],
        s: usize,
        p: usize,
        op: usize,
    ) -> Vec<f64> {
        let [c_in, c_out, kh, kw] = shape;
        let full_h = (x.h - 1) * s + kh + op;
        let full_w = (x.w - 1) * s + kw + op;
        let mut full = vec![0f64; full_h * full_w * c_out];
        for iy in 0..x.h {
            for ix in 0..x.w {
                for ci in 0..c_in {
                    let v = x.pixel(iy, ix)[ci] as f64;
                    for co in 0..c_out {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                full[((iy * s + ky) * full_w + ix * s + kx) * c_out + co] +=
                                    v * w[((ci * c_out + co) * kh + ky) * kw + kx] as f64;
                            }
                        }
                    }
                }
            }
        }
        let (oh, ow) = (full_h - 2 * p, full_w - 2 * p);
        let mut out = vec![0f64; oh * ow * c_out];
        for oy in 0..oh {
            for ox in 0..ow {
                for co in 0..c_out {
                    out[(oy * ow + ox) * c_out + co] =
                        full[((oy + p) * full_w + ox + p) * c_out + co] + b[co] as f64;
                }
            }
        }
        out
    }

    proptest! {
        #[test]
        fn conv2d_equals_the_naive_definition_bit_for_bit(
            h in 1usize..9, w in 1usize..9, c_in in 1usize..6, c_out in 1usize..20,
            k in prop::sample::select(vec![1usize, 3, 5]), stride in 1usize..3, seed in any::<u64>(),
            threads in 1usize..3,
        ) {
            let p = k / 2;
            let x = FeatureMap::new(h, w, c_in, values(seed, h * w * c_in)).unwrap();
            let shape = [c_out, c_in, k, k];
            let weight = values(seed ^ 7, c_out * c_in * k * k);
            let bias = values(seed ^ 9, c_out);
            let conv = Conv2d::new(&weight, shape, &bias, stride, p).unwrap();
            let expected = naive_conv(&x, &weight, shape, &bias, stride, p);
            for kernel in [Kernel::Vector, Kernel::Scalar] {
                let got = conv.forward(&x, Config { kernel, threads }).unwrap();
                prop_assert_eq!((got.h, got.w, got.c), (expected.h, expected.w, expected.c));
                let a: Vec<u32> = got.data.iter().map(|v| v.to_bits()).collect();
                let b: Vec<u32> = expected.data.iter().map(|v| v.to_bits()).collect();
                prop_assert_eq!(a, b);
            }
        }

        #[test]
        fn conv_transpose2d_matches_the_scatter_definition(
            h in 1usize..6, w in 1usize..6, c_in in 1usize..5, c_out in 1usize..18,
            seed in any::<u64>(), k in prop::sample::select(vec![3usize, 5]), stride in 1usize..3,
        ) {
            let (p, op) = (k / 2, stride - 1);
            let x = FeatureMap::new(h, w, c_in, values(seed, h * w * c_in)).unwrap();
            let shape = [c_in, c_out, k, k];
            let weight = values(seed ^ 3, c_in * c_out * k * k);
            let bias = values(seed ^ 5, c_out);
            let conv = ConvTranspose2d::new(&weight, shape, &bias, stride, p, op).unwrap();
            let vector = conv.forward(&x, Config { kernel: Kernel::Vector, threads: 2 }).unwrap();
            let scalar = conv.forward(&x, Config { kernel: Kernel::Scalar, threads: 1 }).unwrap();
            prop_assert_eq!(&vector, &scalar);
            prop_assert_eq!((vector.h, vector.w), (h * stride, w * stride));
            let expected = naive_deconv(&x, &weight, shape, &bias, stride, p, op);
            for (a, b) in vector.data.iter().zip(&expected) {
                prop_assert!((*a as f64 - b).abs() < 1e-5, "{} vs {}", a, b);
            }
        }
    }

    #[test]
    fn pixel_shuffle_moves_channels_to_pixels_as_torch_does() {
        // 1x1 pixel with 8 channels, r = 2: out channel c at (i, j) is in[c*4 + i*2 + j].
        let x = FeatureMap::new(1, 1, 8, (0..8).map(|v| v as f32).collect()).unwrap();
        let out = pixel_shuffle(x, 2).unwrap();
        assert_eq!((out.h, out.w, out.c), (2, 2, 2));
        assert_eq!(out.pixel(0, 0), &[0.0, 4.0]);
        assert_eq!(out.pixel(0, 1), &[1.0, 5.0]);
        assert_eq!(out.pixel(1, 0), &[2.0, 6.0]);
        assert_eq!(out.pixel(1, 1), &[3.0, 7.0]);
        assert!(pixel_shuffle(FeatureMap::zeros(1, 1, 6), 2).is_err());
    }

    #[test]
    fn activations_are_exact() {
        assert_eq!(leaky_relu(-2.0, 0.01), -2.0 * 0.01);
        assert_eq!(leaky_relu(3.0, 0.01), 3.0);
        assert_eq!(relu(-1.0), 0.0);
        assert_eq!(relu(f32::NAN), 0.0);
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        assert!(Conv2d::new(&[0.0; 5], [1, 1, 2, 2], &[0.0], 1, 0).is_err());
        let conv = Conv2d::new(&[0.0; 4], [1, 1, 2, 2], &[0.0], 1, 0).unwrap();
        let cfg = Config {
            kernel: Kernel::Vector,
            threads: 1,
        };
        assert!(conv.forward(&FeatureMap::zeros(3, 3, 2), cfg).is_err());
        assert!(conv.forward(&FeatureMap::zeros(1, 1, 1), cfg).is_err());
        assert!(ConvTranspose2d::new(&[0.0; 4], [1, 1, 2, 2], &[0.0], 2, 0, 2).is_err());
    }
}
