//! Parallel-context latent coding: checkerboard (He et al. 2021), channel groups (Minnen
//! & Singh 2020) and their combination in ELIC (He et al. 2022), composed as a tree that
//! mirrors the model's latent codecs (`neuralcodec.latent_codecs.describe()`).
//!
//! A [`LatentGraph`] is the hyper-synthesis `h_s` plus a [`LatentCoder`] tree:
//!
//! * [`LatentCoder::Gaussian`]: a leaf. The parameters of each position go through the
//!   leaf's (pointwise) parameter network and are split into means and scales
//!   ([`Chunks`]); `symbol = round(y - mean)`, the CDF row is the leaf's
//!   [`ScaleIndexer`] of the scale, `y_hat = symbol + mean`. With a gain (variable-rate
//!   models) the means, scales and `y` are multiplied by the channel's gain first and
//!   `y_hat` by the inverse gain after, so contexts read the unscaled latent.
//! * [`LatentCoder::Checkerboard`]: the anchors (`(row + column)` of the anchor parity)
//!   with the parameters `entropy(cat(0, params))`, then the other positions with
//!   `entropy(cat(context(anchors_hat), params))`, the context a convolution that reads
//!   only the decoded anchors.
//! * [`LatentCoder::ChannelGroups`]: group `k` of the channels, coded by its own coder
//!   with `params` (`k = 0`) or `cat(channel_context_k(cat(y_hat_j, j in sources_k)),
//!   params)`.
//! * [`LatentCoder::RasterScan`]: the serial context model of mbt2018 and Cheng2020
//!   (`super::autoregressive`), in wavefront order.
//!
//! # Order of the string
//! One rANS string per latent. Groups in order; inside a checkerboard the anchors, then
//! the others, each pass in raster order of positions, channels innermost; a leaf outside
//! a checkerboard channel by channel (CompressAI's C order of `[m, H, W]`, so a plain
//! hyperprior's string is CompressAI's). Each leaf codes with its own CDF table.
//!
//! # Arithmetic
//! Every network is a [`Network`] (fixed reduction order, no FMA, see `layers`); the
//! checkerboard context sums over the taps that reach the other colour (`(ky + kx)`
//! odd) in raster order, then input channels; gains are one rounded multiply. The
//! pointwise parameter networks run on the coded positions only (a `1 x P` map), which
//! gives the same bits as the whole map since each output depends on its own pixel.

use crate::cdf::CdfTable;
use crate::error::{CoderError, Result};
use crate::rans::{BufferedEncoder, RansDecoder};

use super::autoregressive::{Autoregressive, Coder, ScaleIndexer};
use super::kernels::{gemm_acc_threaded, PackedWeights};
use super::layers::{Config, FeatureMap, FeatureView, Network};
use super::quantizer::{coded_symbol, gained, Gain, Reconstruction};

/// Where the means and scales sit in a leaf's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunks {
    /// `[scales (m), means (m)]`.
    ScalesMeans,
    /// `[means (m), scales (m)]`.
    MeansScales,
    /// `[scales (m)]`, zero means.
    Scales,
}

impl Chunks {
    /// Parameter channels for `m` latent channels.
    pub fn channels(self, m: usize) -> usize {
        match self {
            Chunks::Scales => m,
            _ => 2 * m,
        }
    }

    /// `(mean, scale)` of channel `c` in one position's parameters.
    #[inline]
    fn get(self, row: &[f32], m: usize, c: usize) -> (f32, f32) {
        match self {
            Chunks::ScalesMeans => (row[m + c], row[c]),
            Chunks::MeansScales => (row[c], row[m + c]),
            Chunks::Scales => (0.0, row[c]),
        }
    }
}

/// A Gaussian-coded block of channels (the leaf of every tree).
#[derive(Debug, Clone)]
pub struct GaussianLeaf {
    channels: usize,
    entropy: Network,
    chunks: Chunks,
    indexer: ScaleIndexer,
    table: CdfTable,
    gained: bool,
    reconstruction: Reconstruction,
}

impl GaussianLeaf {
    /// `channels` latent channels; `entropy` (pointwise, may be empty) maps the
    /// parameters handed down to [`Chunks`]; scales pick rows of `table` by `scale_table`
    /// bounded below by `scale_bound`. A `gained` leaf multiplies by the caller's gain;
    /// `reconstruction` turns symbols into values (`super::quantizer`).
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] for a bad scale table, a table with another number of
    /// rows, a network that is not pointwise, zero channels, or reconstruction offsets
    /// without a gain.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        channels: usize,
        entropy: Network,
        chunks: Chunks,
        scale_table: &[f32],
        scale_bound: f32,
        table: CdfTable,
        gained: bool,
        reconstruction: Reconstruction,
    ) -> Result<GaussianLeaf> {
        let indexer = table_indexer(scale_table, scale_bound, &table)?;
        if channels == 0 {
            return Err(CoderError::InvalidInput(
                "a Gaussian leaf needs at least one channel".into(),
            ));
        }
        if reconstruction.has_offsets() && !gained {
            return Err(CoderError::InvalidInput(
                "reconstruction offsets need a gained leaf".into(),
            ));
        }
        entropy.check_pointwise("the Gaussian leaf's parameter network")?;
        Ok(GaussianLeaf {
            channels,
            entropy,
            chunks,
            indexer,
            table,
            gained,
            reconstruction,
        })
    }

    /// Codes the positions `positions` (raster order) of `y_hat` given their parameter
    /// rows `rows` (`P x c`, before the leaf's network): the symbols channel by channel
    /// (`channel_major`, CompressAI's C order of `[m, H, W]`) or position by position.
    #[allow(clippy::too_many_arguments)]
    fn code(
        &self,
        rows: FeatureMap,
        positions: &[(usize, usize)],
        channel_major: bool,
        io: &mut Io<'_, '_>,
        y_hat: &mut FeatureMap,
        gain: Option<Gain<'_>>,
        cfg: Config,
    ) -> Result<()> {
        let m = self.channels;
        let params = self.entropy.forward(rows, cfg)?;
        if params.c != self.chunks.channels(m) {
            return Err(CoderError::InvalidInput(format!(
                "a Gaussian leaf of {m} channels needs {} parameter channels, its network gives {}",
                self.chunks.channels(m),
                params.c
            )));
        }
        let pc = params.c;
        let gain = Gain::when(self.gained, gain)?;
        // The coding order: channel by channel (`channel_major`), each a run of the `p`
        // positions, or all `p * m` elements position by position, as one run. Each run is
        // parametrised, coded and reconstructed on its own, so nothing the size of the
        // whole latent is held besides the parameters and `y_hat`.
        let p = positions.len();
        if params.data.len() < p * pc {
            return Err(CoderError::InvalidInput(format!(
                "a Gaussian leaf got parameters for {} positions, needs {p}",
                params.data.len() / pc.max(1)
            )));
        }
        let (run_count, run_len) = if channel_major { (m, p) } else { (1, p * m) };
        // Element `k` of run `r` as a position-major index `i * m + c`.
        let element = |run: usize, k: usize| if channel_major { k * m + run } else { k };
        let keep_scales = self.reconstruction.has_offsets();
        let mut means = Vec::with_capacity(run_len);
        let mut scales = Vec::with_capacity(if keep_scales { run_len } else { 0 });
        let mut indexes = Vec::with_capacity(run_len);
        let mut symbols = Vec::with_capacity(run_len);
        for run in 0..run_count {
            means.clear();
            scales.clear();
            indexes.clear();
            symbols.clear();
            for k in 0..run_len {
                let j = element(run, k);
                let (i, c) = (j / m, j % m);
                let (mean, scale) = self.chunks.get(&params.data[i * pc..(i + 1) * pc], m, c);
                means.push(mean);
                if keep_scales {
                    scales.push(scale);
                }
                indexes.push(self.indexer.index(gained(mean, scale, c, gain).1));
            }
            match io {
                Io::Encode { y, encoder } => {
                    for (k, &mean) in means.iter().enumerate() {
                        let j = element(run, k);
                        let (i, c) = (j / m, j % m);
                        let (h, w) = positions[i];
                        let value = y.pixel(h, w)[c];
                        symbols.push(coded_symbol(value, mean, c, (h, w), gain)?);
                    }
                    encoder.encode(&symbols, &indexes, &self.table)?;
                }
                Io::Decode { decoder } => decoder.decode(&indexes, &self.table, &mut symbols)?,
            }
            let channel = |k: usize| element(run, k) % m;
            let values = self
                .reconstruction
                .values(&symbols, &means, &scales, channel, gain, cfg)?;
            for (k, value) in values.into_iter().enumerate() {
                let j = element(run, k);
                let (h, w) = positions[j / m];
                y_hat.data[(h * y_hat.w + w) * y_hat.c + j % m] = value;
            }
        }
        Ok(())
    }
}

/// The checkerboard context convolution: an odd square kernel, stride 1, "same" zero
/// padding, of which only the taps reaching the other colour (`(ky + kx)` odd) are kept.
#[derive(Debug, Clone)]
pub struct CheckerboardContext {
    c_in: usize,
    k: usize,
    taps: Vec<(usize, usize)>,
    weight: PackedWeights,
    bias: Vec<f32>,
}

impl CheckerboardContext {
    /// From PyTorch's (masked) weight `[c_out, c_in, k, k]` and bias `[c_out]`.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] on inconsistent sizes or an even or non-square kernel.
    pub fn new(weight: &[f32], shape: [usize; 4], bias: &[f32]) -> Result<CheckerboardContext> {
        let [c_out, c_in, kh, kw] = shape;
        if kh != kw
            || kh % 2 == 0
            || c_in == 0
            || weight.len() != c_out * c_in * kh * kw
            || bias.len() != c_out
        {
            return Err(CoderError::InvalidInput(format!(
                "checkerboard context: need an odd square kernel and matching sizes, got weight shape {shape:?} ({} values) and {} biases",
                weight.len(),
                bias.len()
            )));
        }
        let k = kh;
        let taps: Vec<(usize, usize)> = (0..k * k)
            .map(|t| (t / k, t % k))
            .filter(|&(ky, kx)| (ky + kx) % 2 == 1)
            .collect();
        let packed = PackedWeights::from_fn(taps.len() * c_in, c_out, |kk, co| {
            let (ky, kx) = taps[kk / c_in];
            weight[((co * c_in + kk % c_in) * k + ky) * k + kx]
        });
        Ok(CheckerboardContext {
            c_in,
            k,
            taps,
            weight: packed,
            bias: bias.to_vec(),
        })
    }

    /// Output channels.
    pub fn c_out(&self) -> usize {
        self.bias.len()
    }

    /// The context `[P x c_out]` at `positions`, read from `y_hat` (`H x W x c_in`).
    fn forward(
        &self,
        y_hat: &FeatureMap,
        positions: &[(usize, usize)],
        cfg: Config,
    ) -> Result<Vec<f32>> {
        if y_hat.c != self.c_in {
            return Err(CoderError::InvalidInput(format!(
                "checkerboard context: expected {} input channels, got {}",
                self.c_in, y_hat.c
            )));
        }
        let (c_in, p) = (self.c_in, (self.k / 2) as isize);
        let k_len = self.taps.len() * c_in;
        let mut rows = vec![0.0f32; positions.len() * k_len];
        for (row, &(h, w)) in rows.chunks_exact_mut(k_len.max(1)).zip(positions) {
            for (t, &(ky, kx)) in self.taps.iter().enumerate() {
                let (iy, ix) = (h as isize + ky as isize - p, w as isize + kx as isize - p);
                if iy >= 0 && ix >= 0 && (iy as usize) < y_hat.h && (ix as usize) < y_hat.w {
                    row[t * c_in..(t + 1) * c_in]
                        .copy_from_slice(y_hat.pixel(iy as usize, ix as usize));
                }
            }
        }
        let n = self.c_out();
        let mut out = vec![0.0f32; positions.len() * n];
        for o in out.chunks_exact_mut(n.max(1)) {
            o.copy_from_slice(&self.bias);
        }
        gemm_acc_threaded(&rows, &self.weight, &mut out, cfg.kernel, cfg.threads);
        Ok(out)
    }
}

/// Two passes over a checkerboard.
#[derive(Debug, Clone)]
pub struct Checkerboard {
    anchor_parity: usize,
    context: CheckerboardContext,
    entropy: Network,
    leaf: GaussianLeaf,
}

impl Checkerboard {
    /// Anchors at `(row + column) % 2 == anchor_parity`; `entropy` (pointwise) reads
    /// `cat(context, params)`.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] for a parity other than 0 or 1, a context that does
    /// not read the leaf's channels, or an entropy network that is not pointwise.
    pub fn new(
        anchor_parity: usize,
        context: CheckerboardContext,
        entropy: Network,
        leaf: GaussianLeaf,
    ) -> Result<Checkerboard> {
        if anchor_parity > 1 {
            return Err(CoderError::InvalidInput(format!(
                "the anchor parity is 0 (even) or 1 (odd), got {anchor_parity}"
            )));
        }
        if context.c_in != leaf.channels {
            return Err(CoderError::InvalidInput(format!(
                "the checkerboard context reads {} channels but the latent has {}",
                context.c_in, leaf.channels
            )));
        }
        entropy.check_pointwise("the checkerboard's entropy parameters")?;
        Ok(Checkerboard {
            anchor_parity,
            context,
            entropy,
            leaf,
        })
    }

    fn code(
        &self,
        params: &FeatureMap,
        io: &mut Io<'_, '_>,
        y_hat: &mut FeatureMap,
        gain: Option<Gain<'_>>,
        cfg: Config,
    ) -> Result<()> {
        let ctx_c = self.context.c_out();
        for pass in 0..2 {
            let parity = (self.anchor_parity + pass) % 2;
            let positions: Vec<(usize, usize)> = (0..params.h)
                .flat_map(|h| (0..params.w).map(move |w| (h, w)))
                .filter(|&(h, w)| (h + w) % 2 == parity)
                .collect();
            if positions.is_empty() {
                continue;
            }
            let context = if pass == 0 {
                vec![0.0f32; positions.len() * ctx_c]
            } else {
                self.context.forward(y_hat, &positions, cfg)?
            };
            let width = ctx_c + params.c;
            let mut rows = Vec::with_capacity(positions.len() * width);
            for (i, &(h, w)) in positions.iter().enumerate() {
                rows.extend_from_slice(&context[i * ctx_c..(i + 1) * ctx_c]);
                rows.extend_from_slice(params.pixel(h, w));
            }
            let rows = FeatureMap::new(1, positions.len(), width, rows)?;
            let rows = self.entropy.forward(rows, cfg)?;
            self.leaf
                .code(rows, &positions, false, io, y_hat, gain, cfg)?;
        }
        Ok(())
    }
}

/// Channel groups coded one after another.
#[derive(Debug, Clone)]
pub struct ChannelGroups {
    groups: Vec<usize>,
    sources: Vec<Vec<usize>>,
    contexts: Vec<Option<Network>>,
    coders: Vec<LatentCoder>,
}

impl ChannelGroups {
    /// `groups[k]` channels coded by `coders[k]`; group `k > 0` reads
    /// `cat(contexts[k](cat(y_hat of sources[k])), params)`, group 0 `params`.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] when the lists disagree, a group reads a later group,
    /// or a coder does not code its group's channels.
    pub fn new(
        groups: Vec<usize>,
        sources: Vec<Vec<usize>>,
        contexts: Vec<Option<Network>>,
        coders: Vec<LatentCoder>,
    ) -> Result<ChannelGroups> {
        let n = groups.len();
        if n == 0 || sources.len() != n || contexts.len() != n || coders.len() != n {
            return Err(CoderError::InvalidInput(format!(
                "channel groups: {n} groups need as many source lists, contexts and coders, got {}, {} and {}",
                sources.len(),
                contexts.len(),
                coders.len()
            )));
        }
        for k in 0..n {
            let first = k == 0;
            if first != sources[k].is_empty()
                || first != contexts[k].is_none()
                || sources[k].iter().any(|&j| j >= k)
            {
                return Err(CoderError::InvalidInput(format!(
                    "channel groups: group {k} must read {} (sources {:?}, context {})",
                    if first {
                        "no earlier group and have no context"
                    } else {
                        "only earlier groups, through a context network"
                    },
                    sources[k],
                    if contexts[k].is_some() {
                        "given"
                    } else {
                        "missing"
                    }
                )));
            }
            if coders[k].channels() != groups[k] {
                return Err(CoderError::InvalidInput(format!(
                    "channel groups: group {k} has {} channels but its coder codes {}",
                    groups[k],
                    coders[k].channels()
                )));
            }
        }
        Ok(ChannelGroups {
            groups,
            sources,
            contexts,
            coders,
        })
    }

    fn code(
        &self,
        params: &FeatureMap,
        io: &mut Io<'_, '_>,
        y_hat: &mut FeatureMap,
        gain: Option<Gain<'_>>,
        cfg: Config,
    ) -> Result<()> {
        let (h, w) = (params.h, params.w);
        let mut decoded: Vec<FeatureMap> = Vec::with_capacity(self.groups.len());
        let mut start = 0;
        for (k, &size) in self.groups.iter().enumerate() {
            let group_params = match &self.contexts[k] {
                None => params.clone(),
                Some(network) => {
                    let inputs: Vec<&FeatureMap> =
                        self.sources[k].iter().map(|&j| &decoded[j]).collect();
                    let context = network.forward(concat_channels(&inputs, h, w), cfg)?;
                    concat_channels(&[&context, params], h, w)
                }
            };
            let mut group_hat = FeatureMap::zeros(h, w, size);
            let group_gain = gain.map(|g| g.slice(start, start + size));
            let y_group;
            let mut inner = match io {
                Io::Encode { y, encoder } => {
                    y_group = slice_channels(*y, start, start + size);
                    Io::Encode {
                        y: y_group.view(),
                        encoder,
                    }
                }
                Io::Decode { decoder } => Io::Decode { decoder },
            };
            self.coders[k].code(group_params, &mut inner, &mut group_hat, group_gain, cfg)?;
            decoded.push(group_hat);
            start += size;
        }
        let all: Vec<&FeatureMap> = decoded.iter().collect();
        *y_hat = concat_channels(&all, h, w);
        Ok(())
    }
}

/// The serial context model of mbt2018 and Cheng2020 (`super::autoregressive`): the
/// latent in wavefront order, one rANS message.
#[derive(Debug, Clone)]
pub struct RasterScan {
    model: Autoregressive,
    indexer: ScaleIndexer,
    table: CdfTable,
    gained: bool,
    reconstruction: Reconstruction,
    gain_context: Option<(Vec<f32>, Vec<f32>)>,
}

impl RasterScan {
    /// The context model and entropy parameters, coding with `table` by `scale_table`.
    /// A `gained` raster scan codes with the caller's gain (`super::quantizer`), turns
    /// symbols into values with `reconstruction` (the context reads those values), and
    /// with `gain_context = (weight, bias)` adds `weight * g + bias` (one value per
    /// context channel, `g` the gain shared by every channel) to the context features:
    /// CompressAI's `scale_to_context` of its variable-rate mbt2018.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] for a bad scale table, a table with another number
    /// of rows, offsets or a gain context without a gain, or a gain context of another
    /// size than the context.
    pub fn new(
        model: Autoregressive,
        scale_table: &[f32],
        scale_bound: f32,
        table: CdfTable,
        gained: bool,
        reconstruction: Reconstruction,
        gain_context: Option<(Vec<f32>, Vec<f32>)>,
    ) -> Result<RasterScan> {
        let indexer = table_indexer(scale_table, scale_bound, &table)?;
        if !gained && (reconstruction.has_offsets() || gain_context.is_some()) {
            return Err(CoderError::InvalidInput(
                "reconstruction offsets and a gain context need a gained raster scan".into(),
            ));
        }
        if let Some((weight, bias)) = &gain_context {
            let n = model.context_channels();
            if weight.len() != n || bias.len() != n {
                return Err(CoderError::InvalidInput(format!(
                    "the gain context needs {n} weights and biases (the context's channels), got {} and {}",
                    weight.len(),
                    bias.len()
                )));
            }
        }
        Ok(RasterScan {
            model,
            indexer,
            table,
            gained,
            reconstruction,
            gain_context,
        })
    }

    /// [`RasterScan::new`] without a gain (mbt2018, Cheng2020).
    ///
    /// # Errors
    /// As [`RasterScan::new`].
    pub fn plain(
        model: Autoregressive,
        scale_table: &[f32],
        scale_bound: f32,
        table: CdfTable,
    ) -> Result<RasterScan> {
        RasterScan::new(
            model,
            scale_table,
            scale_bound,
            table,
            false,
            Reconstruction::plain(),
            None,
        )
    }

    fn code(
        &self,
        params: &FeatureMap,
        io: &mut Io<'_, '_>,
        y_hat: &mut FeatureMap,
        gain: Option<Gain<'_>>,
        cfg: Config,
    ) -> Result<()> {
        let gain = Gain::when(self.gained, gain)?;
        let context_term: Option<Vec<f32>> = match (&self.gain_context, gain) {
            (Some((weight, bias)), Some(g)) => {
                let g = g.uniform("the raster scan's gain context")?;
                Some(weight.iter().zip(bias).map(|(&w, &b)| w * g + b).collect())
            }
            _ => None,
        };
        let coder = Coder {
            model: &self.model,
            indexer: &self.indexer,
            table: &self.table,
            reconstruction: &self.reconstruction,
            gain,
            context_term: context_term.as_deref(),
            cfg,
        };
        *y_hat = match io {
            Io::Encode { y, encoder } => coder.encode_into(*y, params, encoder)?,
            Io::Decode { decoder } => coder.decode_from(decoder, params)?,
        };
        Ok(())
    }
}

/// How the latent's parameters are formed (see the module documentation).
#[derive(Debug, Clone)]
pub enum LatentCoder {
    /// Parameters straight from the parent.
    Gaussian(GaussianLeaf),
    /// Two passes over a checkerboard.
    Checkerboard(Box<Checkerboard>),
    /// Channel groups in order.
    ChannelGroups(ChannelGroups),
    /// Position by position with a masked context (mbt2018, Cheng2020).
    RasterScan(Box<RasterScan>),
}

impl LatentCoder {
    /// Latent channels coded.
    pub fn channels(&self) -> usize {
        match self {
            LatentCoder::Gaussian(leaf) => leaf.channels,
            LatentCoder::Checkerboard(cb) => cb.leaf.channels,
            LatentCoder::ChannelGroups(groups) => groups.groups.iter().sum(),
            LatentCoder::RasterScan(raster) => raster.model.latent_channels(),
        }
    }

    /// Whether some leaf codes with a gain.
    pub fn is_gained(&self) -> bool {
        match self {
            LatentCoder::Gaussian(leaf) => leaf.gained,
            LatentCoder::Checkerboard(cb) => cb.leaf.gained,
            LatentCoder::ChannelGroups(groups) => groups.coders.iter().any(LatentCoder::is_gained),
            LatentCoder::RasterScan(raster) => raster.gained,
        }
    }

    /// Codes the latent given its parameters `params` (`H x W x c`, taken: a plain leaf
    /// reads them in place as its rows).
    fn code(
        &self,
        params: FeatureMap,
        io: &mut Io<'_, '_>,
        y_hat: &mut FeatureMap,
        gain: Option<Gain<'_>>,
        cfg: Config,
    ) -> Result<()> {
        match self {
            LatentCoder::Gaussian(leaf) => {
                let positions: Vec<(usize, usize)> = (0..params.h)
                    .flat_map(|h| (0..params.w).map(move |w| (h, w)))
                    .collect();
                let rows = FeatureMap::new(1, positions.len(), params.c, params.data)?;
                leaf.code(rows, &positions, true, io, y_hat, gain, cfg)
            }
            LatentCoder::Checkerboard(cb) => cb.code(&params, io, y_hat, gain, cfg),
            LatentCoder::ChannelGroups(groups) => groups.code(&params, io, y_hat, gain, cfg),
            LatentCoder::RasterScan(raster) => raster.code(&params, io, y_hat, gain, cfg),
        }
    }
}

/// Encoding (the latent and the buffered coder) or decoding (the string's decoder).
enum Io<'a, 'b> {
    Encode {
        y: FeatureView<'a>,
        encoder: &'b mut BufferedEncoder,
    },
    Decode {
        decoder: &'b mut RansDecoder,
    },
}

/// A whole latent's coding: `params = h_s(z_hat)`, then the coder tree.
#[derive(Debug, Clone)]
pub struct LatentGraph {
    hyper: Network,
    coder: LatentCoder,
}

impl LatentGraph {
    /// From the hyper-synthesis and the coder tree.
    pub fn new(hyper: Network, coder: LatentCoder) -> LatentGraph {
        LatentGraph { hyper, coder }
    }

    /// Latent channels `M`.
    pub fn channels(&self) -> usize {
        self.coder.channels()
    }

    /// Whether encoding and decoding need a gain.
    pub fn is_gained(&self) -> bool {
        self.coder.is_gained()
    }

    fn check_gain(&self, gain: Option<Gain<'_>>) -> Result<()> {
        match gain {
            Some(g) if g.gain.len() != self.channels() || g.inverse.len() != self.channels() => {
                Err(CoderError::InvalidInput(format!(
                    "the gains need {} values each, got {} and {}",
                    self.channels(),
                    g.gain.len(),
                    g.inverse.len()
                )))
            }
            None if self.is_gained() => Err(CoderError::InvalidInput(
                "this model codes with a gain (a variable-rate model): pass gain and its inverse"
                    .into(),
            )),
            _ => Ok(()),
        }
    }

    /// The hyper-synthesis `h_s(z_hat)`: the parameters the coder tree starts from.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] when `z_hat` does not fit the network.
    pub fn hyper_parameters(&self, z_hat: FeatureMap, cfg: Config) -> Result<FeatureMap> {
        self.hyper.forward(z_hat, cfg)
    }

    fn params(&self, z_hat: FeatureMap, cfg: Config) -> Result<FeatureMap> {
        let params = self.hyper_parameters(z_hat, cfg)?;
        if params.h == 0 || params.w == 0 {
            return Err(CoderError::InvalidInput("the latent is empty".into()));
        }
        Ok(params)
    }

    /// Encodes `y` (`H x W x M`) given the decoded side information `z_hat`; returns the
    /// string and `y_hat`, the latent the decoder will reconstruct bit for bit.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] on mismatched shapes, a missing gain or values that
    /// cannot be coded (NaN, beyond int32).
    pub fn encode(
        &self,
        y: FeatureView<'_>,
        z_hat: FeatureMap,
        gain: Option<Gain<'_>>,
        cfg: Config,
    ) -> Result<(Vec<u8>, FeatureMap)> {
        self.check_gain(gain)?;
        let params = self.params(z_hat, cfg)?;
        if (y.h, y.w, y.c) != (params.h, params.w, self.channels()) {
            return Err(CoderError::InvalidInput(format!(
                "the latent is {}x{}x{} but the model expects {}x{}x{} (from the side information)",
                y.h,
                y.w,
                y.c,
                params.h,
                params.w,
                self.channels()
            )));
        }
        let mut encoder = BufferedEncoder::new();
        let mut y_hat = FeatureMap::zeros(y.h, y.w, y.c);
        let mut io = Io::Encode {
            y,
            encoder: &mut encoder,
        };
        self.coder.code(params, &mut io, &mut y_hat, gain, cfg)?;
        Ok((encoder.flush(), y_hat))
    }

    /// Decodes the latent from `data` given `z_hat`; the string must be consumed exactly.
    ///
    /// # Errors
    /// [`CoderError::CorruptStream`] when the string is not what the encoder wrote;
    /// [`CoderError::InvalidInput`] on bad shapes or a missing gain.
    pub fn decode(
        &self,
        data: &[u8],
        z_hat: FeatureMap,
        gain: Option<Gain<'_>>,
        cfg: Config,
    ) -> Result<FeatureMap> {
        self.check_gain(gain)?;
        let params = self.params(z_hat, cfg)?;
        let mut decoder = RansDecoder::new(data)?;
        let mut y_hat = FeatureMap::zeros(params.h, params.w, self.channels());
        let mut io = Io::Decode {
            decoder: &mut decoder,
        };
        self.coder.code(params, &mut io, &mut y_hat, gain, cfg)?;
        decoder.check_finished()?;
        Ok(y_hat)
    }
}

/// The scale indexer of `scale_table`, checked to pick rows that `table` has.
fn table_indexer(scale_table: &[f32], scale_bound: f32, table: &CdfTable) -> Result<ScaleIndexer> {
    let indexer = ScaleIndexer::new(scale_table, scale_bound)?;
    if table.num_rows() != indexer.rows() {
        return Err(CoderError::InvalidInput(format!(
            "the CDF table has {} rows but the scale table {} entries",
            table.num_rows(),
            indexer.rows()
        )));
    }
    Ok(indexer)
}

/// `cat(maps, channels)`; every map is `h x w`.
fn concat_channels(maps: &[&FeatureMap], h: usize, w: usize) -> FeatureMap {
    let c: usize = maps.iter().map(|m| m.c).sum();
    let mut data = Vec::with_capacity(h * w * c);
    for i in 0..h * w {
        for map in maps {
            data.extend_from_slice(&map.data[i * map.c..(i + 1) * map.c]);
        }
    }
    FeatureMap { h, w, c, data }
}

/// Channels `start..end` of `map`.
fn slice_channels(map: FeatureView<'_>, start: usize, end: usize) -> FeatureMap {
    let mut data = Vec::with_capacity(map.h * map.w * (end - start));
    for pixel in map.data.chunks_exact(map.c.max(1)) {
        data.extend_from_slice(&pixel[start..end]);
    }
    FeatureMap {
        h: map.h,
        w: map.w,
        c: end - start,
        data,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::{Conv2d, Kernel, Layer};
    use crate::test_util::values;
    use proptest::prelude::*;

    fn table() -> (Vec<f32>, CdfTable) {
        crate::engine::tests::scale_table()
    }

    fn conv(c_out: usize, c_in: usize, k: usize, seed: u64, bias: f32) -> Conv2d {
        let mut b = values(seed + 1, c_out, 0.1);
        b.iter_mut().for_each(|v| *v += bias);
        Conv2d::new(
            &values(seed, c_out * c_in * k * k, 0.4),
            [c_out, c_in, k, k],
            &b,
            1,
            k / 2,
        )
        .unwrap()
    }

    fn leaf(m: usize, gained: bool) -> GaussianLeaf {
        let (scales, table) = table();
        GaussianLeaf::new(
            m,
            Network::default(),
            Chunks::MeansScales,
            &scales,
            0.11,
            table,
            gained,
            Reconstruction::plain(),
        )
        .unwrap()
    }

    /// A checkerboard over `m` channels reading `p` parameter channels.
    fn checkerboard(m: usize, p: usize, seed: u64, gained: bool) -> LatentCoder {
        let context = CheckerboardContext::new(
            &values(seed, 2 * m * m * 25, 0.5),
            [2 * m, m, 5, 5],
            &values(seed + 1, 2 * m, 0.1),
        )
        .unwrap();
        let entropy = Network {
            layers: vec![
                Layer::Conv2d(conv(3 * m, 2 * m + p, 1, seed + 2, 0.0)),
                Layer::Relu,
                Layer::Conv2d(conv(2 * m, 3 * m, 1, seed + 3, 1.0)),
            ],
        };
        LatentCoder::Checkerboard(Box::new(
            Checkerboard::new(0, context, entropy, leaf(m, gained)).unwrap(),
        ))
    }

    /// ELIC in miniature: groups `sizes`, each a checkerboard, channel contexts of 3x3
    /// convolutions over all earlier groups; `p` hyper channels (identity `h_s`).
    fn tiny_elic(sizes: &[usize], p: usize, seed: u64, gained: bool) -> LatentGraph {
        let mut sources = Vec::new();
        let mut contexts = Vec::new();
        let mut coders = Vec::new();
        for (k, &g) in sizes.iter().enumerate() {
            let before: usize = sizes[..k].iter().sum();
            sources.push((0..k).collect());
            contexts.push((k > 0).then(|| Network {
                layers: vec![
                    Layer::Conv2d(conv(4, before, 3, seed + 10 * k as u64, 0.0)),
                    Layer::LeakyRelu(0.01),
                    Layer::Conv2d(conv(2 * g, 4, 3, seed + 10 * k as u64 + 5, 0.0)),
                ],
            }));
            let read = p + if k > 0 { 2 * g } else { 0 };
            coders.push(checkerboard(g, read, seed + 100 * k as u64, gained));
        }
        let groups = ChannelGroups::new(sizes.to_vec(), sources, contexts, coders).unwrap();
        LatentGraph::new(Network::default(), LatentCoder::ChannelGroups(groups))
    }

    fn map(h: usize, w: usize, c: usize, seed: u64, scale: f32) -> FeatureMap {
        FeatureMap::new(h, w, c, values(seed, h * w * c, scale)).unwrap()
    }

    /// Encodes with the scalar kernel on one thread, checks that both kernels on
    /// `threads` threads give the same bytes and latent and decode to that latent, and
    /// returns them.
    pub(crate) fn same_bits_everywhere(
        graph: &LatentGraph,
        y: &FeatureMap,
        z: &FeatureMap,
        gain: Option<Gain<'_>>,
        threads: usize,
    ) -> std::result::Result<(Vec<u8>, FeatureMap), TestCaseError> {
        let reference = Config {
            kernel: Kernel::Scalar,
            threads: 1,
        };
        let (bytes, y_hat) = graph.encode(y.view(), z.clone(), gain, reference).unwrap();
        for kernel in [Kernel::Vector, Kernel::Scalar] {
            let cfg = Config { kernel, threads };
            let (again, y_hat_again) = graph.encode(y.view(), z.clone(), gain, cfg).unwrap();
            prop_assert_eq!(&again, &bytes);
            prop_assert_eq!(&y_hat_again, &y_hat);
            prop_assert_eq!(&graph.decode(&bytes, z.clone(), gain, cfg).unwrap(), &y_hat);
        }
        Ok((bytes, y_hat))
    }

    /// A reconstruction-offset network `[scale, gain] -> 8 -> 1` (CompressAI's
    /// `QuantABCD` in miniature), with small positive offsets.
    fn offsets(seed: u64) -> Reconstruction {
        let hidden = Conv2d::new(
            &values(seed, 16, 1.0),
            [8, 2, 1, 1],
            &values(seed + 1, 8, 0.2),
            1,
            0,
        );
        let out = Conv2d::new(&values(seed + 2, 8, 0.2), [1, 8, 1, 1], &[0.1], 1, 0);
        let network = Network {
            layers: vec![
                Layer::Conv2d(hidden.unwrap()),
                Layer::Relu,
                Layer::Conv2d(out.unwrap()),
            ],
        };
        Reconstruction::with_offsets(network, 0.11).unwrap()
    }

    /// CompressAI's variable-rate mbt2018 in miniature: a gained raster scan of `m`
    /// channels with reconstruction offsets and a gain context (identity `h_s`).
    fn tiny_vbr_raster(m: usize, seed: u64) -> LatentGraph {
        let (scales, table) = table();
        let n = 2 * m;
        let gain_context = (values(seed + 7, n, 0.5), values(seed + 8, n, 0.2));
        let raster = RasterScan::new(
            crate::engine::tests::tiny_autoregressive(m, seed),
            &scales,
            0.11,
            table,
            true,
            offsets(seed + 9),
            Some(gain_context),
        )
        .unwrap();
        LatentGraph::new(
            Network::default(),
            LatentCoder::RasterScan(Box::new(raster)),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20))]
        #[test]
        fn a_variable_rate_raster_scan_round_trips_with_the_same_bits_for_any_kernel_and_thread_count(
            h in 1usize..6, w in 1usize..6, seed in any::<u64>(), threads in 1usize..4, g in 0.2f32..3.0,
        ) {
            let m = 3;
            let graph = tiny_vbr_raster(m, seed);
            let y = map(h, w, m, seed + 1, 12.0);
            let z = map(h, w, 2 * m, seed + 2, 2.0);
            let (gains, inverse) = (vec![g; m], vec![1.0 / g; m]);
            let gain = Some(Gain { gain: &gains, inverse: &inverse });
            let (_, y_hat) = same_bits_everywhere(&graph, &y, &z, gain, threads)?;
            // Offsets move a value within its quantization interval (of width 1/g).
            for (&v, &v_hat) in y.data.iter().zip(&y_hat.data) {
                prop_assert!((v - v_hat).abs() <= 1.5 / g + 1e-3, "{} vs {}", v, v_hat);
            }
        }
    }

    #[test]
    fn the_gain_changes_the_string_and_a_varying_gain_is_refused_by_the_gain_context() {
        let m = 3;
        let graph = tiny_vbr_raster(m, 5);
        let cfg = Config {
            kernel: Kernel::Vector,
            threads: 1,
        };
        let y = map(4, 5, m, 1, 12.0);
        let z = map(4, 5, 2 * m, 2, 2.0);
        let code = |g: f32| {
            let (gains, inverse) = (vec![g; m], vec![1.0 / g; m]);
            let gain = Gain {
                gain: &gains,
                inverse: &inverse,
            };
            graph.encode(y.view(), z.clone(), Some(gain), cfg).unwrap()
        };
        let (low, _) = code(0.3);
        let (high, _) = code(2.0);
        assert!(low.len() < high.len(), "{} vs {}", low.len(), high.len());
        assert!(graph.encode(y.view(), z.clone(), None, cfg).is_err());
        let (gains, inverse) = (vec![0.5, 0.5, 0.7], vec![2.0; 3]);
        let varying = Gain {
            gain: &gains,
            inverse: &inverse,
        };
        assert!(graph.encode(y.view(), z, Some(varying), cfg).is_err());
        // Offsets or a gain context on an ungained raster scan.
        let (scales, table) = table();
        let n = 2 * m;
        assert!(RasterScan::new(
            crate::engine::tests::tiny_autoregressive(m, 5),
            &scales,
            0.11,
            table,
            false,
            Reconstruction::plain(),
            Some((vec![0.0; n], vec![0.0; n])),
        )
        .is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20))]
        #[test]
        fn groups_of_checkerboards_round_trip_with_the_same_bits_for_any_kernel_and_thread_count(
            h in 1usize..7, w in 1usize..7, seed in any::<u64>(), threads in 1usize..4, gained in any::<bool>(),
        ) {
            let sizes = [1usize, 2, 3];
            let graph = tiny_elic(&sizes, 3, seed, gained);
            let y = map(h, w, 6, seed + 1, 10.0);
            let z = map(h, w, 3, seed + 2, 2.0);
            let gain_values: Vec<f32> = (0..6).map(|c| 0.5 + 0.25 * c as f32).collect();
            let inverse: Vec<f32> = gain_values.iter().map(|g| 1.0 / g).collect();
            let gain = gained.then_some(Gain { gain: &gain_values, inverse: &inverse });
            let (_, y_hat) = same_bits_everywhere(&graph, &y, &z, gain, threads)?;
            // Quantization error at most half a step (of the gained latent).
            for (i, (&v, &v_hat)) in y.data.iter().zip(&y_hat.data).enumerate() {
                let step = if gained { 1.0 / gain_values[i % 6] } else { 1.0 };
                prop_assert!((v - v_hat).abs() <= 0.5 * step * 1.0001 + 1e-4, "{} vs {}", v, v_hat);
            }
        }

        #[test]
        fn any_bytes_decode_to_a_latent_or_an_error(
            data in prop::collection::vec(any::<u8>(), 0..120), seed in any::<u64>(),
        ) {
            let graph = tiny_elic(&[2, 1], 2, seed, false);
            let cfg = Config { kernel: Kernel::Vector, threads: 1 };
            let _ = graph.decode(&data, map(3, 4, 2, seed, 2.0), None, cfg);
        }
    }

    #[test]
    fn the_anchor_pass_ignores_the_other_positions_and_the_context_only_reads_anchors() {
        // Changing a non-anchor value cannot change how an anchor is coded, so the
        // anchors' part of the string is a prefix property: decoding the anchors of
        // two latents that differ only in non-anchors gives the same anchors.
        let graph = LatentGraph::new(Network::default(), checkerboard(2, 2, 9, false));
        let cfg = Config {
            kernel: Kernel::Vector,
            threads: 1,
        };
        let y = map(4, 4, 2, 1, 8.0);
        let mut other = y.clone();
        other.data[(4 + 2) * 2] += 5.0; // (1, 2): odd, a non-anchor
        let z = map(4, 4, 2, 2, 2.0);
        let (_, a) = graph.encode(y.view(), z.clone(), None, cfg).unwrap();
        let (_, b) = graph.encode(other.view(), z, None, cfg).unwrap();
        for h in 0..4 {
            for w in 0..4 {
                if (h + w) % 2 == 0 {
                    assert_eq!(a.pixel(h, w), b.pixel(h, w));
                }
            }
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let graph = tiny_elic(&[2, 1], 2, 3, false);
        let cfg = Config {
            kernel: Kernel::Vector,
            threads: 1,
        };
        let y = map(3, 4, 3, 1, 8.0);
        let z = map(3, 4, 2, 2, 2.0);
        let (bytes, _) = graph.encode(y.view(), z.clone(), None, cfg).unwrap();
        assert!(matches!(
            graph.decode(&bytes[..bytes.len() - 4], z.clone(), None, cfg),
            Err(CoderError::CorruptStream(_))
        ));
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0, 0, 0, 1]);
        assert!(graph.decode(&longer, z.clone(), None, cfg).is_err());
        let mut nan = y.clone();
        nan.data[5] = f32::NAN;
        assert!(graph.encode(nan.view(), z.clone(), None, cfg).is_err());
        assert!(graph
            .encode(map(3, 3, 3, 1, 1.0).view(), z.clone(), None, cfg)
            .is_err());
        assert!(graph
            .encode(y.view(), map(3, 4, 5, 2, 1.0), None, cfg)
            .is_err());
        let gained = tiny_elic(&[2, 1], 2, 3, true);
        assert!(gained.encode(y.view(), z.clone(), None, cfg).is_err());
        let short = [1.0f32; 2];
        let bad = Gain {
            gain: &short,
            inverse: &short,
        };
        assert!(gained.encode(y.view(), z, Some(bad), cfg).is_err());
        // A spatial network where a pointwise one is needed.
        let (scales, table) = table();
        let spatial = Network {
            layers: vec![Layer::Conv2d(conv(4, 2, 3, 1, 0.0))],
        };
        assert!(GaussianLeaf::new(
            2,
            spatial,
            Chunks::Scales,
            &scales,
            0.1,
            table.clone(),
            false,
            Reconstruction::plain()
        )
        .is_err());
        // Offsets without a gain.
        assert!(GaussianLeaf::new(
            2,
            Network::default(),
            Chunks::Scales,
            &scales,
            0.1,
            table,
            false,
            offsets(4)
        )
        .is_err());
        assert!(ChannelGroups::new(
            vec![2, 1],
            vec![vec![], vec![1]],
            vec![None, Some(Network::default())],
            vec![
                LatentCoder::Gaussian(leaf(2, false)),
                LatentCoder::Gaussian(leaf(1, false)),
            ]
        )
        .is_err());
    }
}
