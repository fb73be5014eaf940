//! The context model, the entropy-parameter network and the wavefront coding loop of
//! Minnen et al. 2018 ("mbt2018") and Cheng et al. 2020.
//!
//! # Order
//! Position `(h, w)` of an `H x W` latent depends, through the masked `k x k` context
//! convolution (mask A, padding `p = k / 2`), on the rows `h - p .. h - 1` at columns
//! `w - p .. w + p` and on row `h` at columns `w - p .. w - 1`. With `c = p + 1` every
//! such neighbour has a smaller `t = c h + w`, so all positions of one **wave** `t` can
//! be computed together. Waves run in increasing `t`; inside a wave positions run in
//! increasing `h`; inside a position channels run `0 .. M`. The rANS string holds the
//! symbols in exactly this order (for the 5x5 model, `t = 3 h + w`).
//!
//! # Arithmetic
//! The context convolution keeps only the causal taps (`ky * k + kx < (k * k) / 2`, 12
//! for 5x5), reduced tap by tap then channel by channel. The first 1x1 layer of the
//! entropy parameters reads `concat(params, ctx)`: its sum runs over the hyper
//! parameters first, then over the context features, so the part from the hyper
//! parameters is computed for all positions before the loop and continued inside it —
//! the same operations in the same order. `scale -> index` and `round` are exact.

use crate::cdf::CdfTable;
use crate::error::{CoderError, Result};
use crate::rans::{BufferedEncoder, RansDecoder};

use super::kernels::{gemm_acc, gemm_acc_threaded, PackedWeights};
use super::layers::{Config, FeatureMap, FeatureView, Layer, Network};
use super::quantizer::{coded_symbol, gained, Gain, Reconstruction};

/// The masked context convolution (mask A) over already-decoded latents.
#[derive(Debug, Clone)]
pub struct ContextModel {
    m: usize,
    k: usize,
    taps: Vec<(usize, usize)>,
    weight: PackedWeights,
    bias: Vec<f32>,
}

impl ContextModel {
    /// From the (unmasked or masked) PyTorch weight `[c_out, m, k, k]` and bias; only the
    /// causal taps are read.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] on inconsistent sizes or an even kernel.
    pub fn new(weight: &[f32], shape: [usize; 4], bias: &[f32]) -> Result<ContextModel> {
        let [c_out, m, kh, kw] = shape;
        if kh != kw
            || kh % 2 == 0
            || m == 0
            || weight.len() != c_out * m * kh * kw
            || bias.len() != c_out
        {
            return Err(CoderError::InvalidInput(format!(
                "context model: need an odd square kernel and matching sizes, got weight shape {shape:?} ({} values) and {} biases",
                weight.len(),
                bias.len()
            )));
        }
        let k = kh;
        let taps: Vec<(usize, usize)> = (0..(k * k) / 2).map(|t| (t / k, t % k)).collect();
        let packed = PackedWeights::from_fn(taps.len() * m, c_out, |kk, co| {
            let (ky, kx) = taps[kk / m];
            weight[((co * m + kk % m) * k + ky) * k + kx]
        });
        Ok(ContextModel {
            m,
            k,
            taps,
            weight: packed,
            bias: bias.to_vec(),
        })
    }

    fn padding(&self) -> usize {
        self.k / 2
    }

    /// Context features `[positions x c_out]` of the given positions, read from the
    /// zero-padded latent `y_pad` (`(H + 2p) x (W + 2p) x m`).
    fn forward(&self, y_pad: &FeatureMap, positions: &[(usize, usize)], cfg: Config) -> Vec<f32> {
        let m = self.m;
        let k_len = self.taps.len() * m;
        let mut rows = vec![0.0f32; positions.len() * k_len];
        for (row, &(h, w)) in rows.chunks_exact_mut(k_len).zip(positions) {
            for (t, &(ky, kx)) in self.taps.iter().enumerate() {
                row[t * m..(t + 1) * m].copy_from_slice(y_pad.pixel(h + ky, w + kx));
            }
        }
        let n = self.bias.len();
        let mut out = vec![0.0f32; positions.len() * n];
        for o in out.chunks_exact_mut(n) {
            o.copy_from_slice(&self.bias);
        }
        gemm_acc_threaded(&rows, &self.weight, &mut out, cfg.kernel, cfg.threads);
        out
    }
}

/// Context model plus entropy parameters: `(scales, means)` of every latent position.
#[derive(Debug, Clone)]
pub struct Autoregressive {
    context: ContextModel,
    first_params: PackedWeights,
    first_context: PackedWeights,
    first_bias: Vec<f32>,
    rest: Network,
}

impl Autoregressive {
    /// `entropy` is the entropy-parameter network; its first layer must be a 1x1
    /// convolution over `params_channels + context channels` inputs, and its output
    /// `2 m` channels (scales, then means).
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] when the pieces do not fit together.
    pub fn new(
        context: ContextModel,
        entropy_first: (&[f32], [usize; 4], &[f32]),
        rest: Network,
        params_channels: usize,
    ) -> Result<Autoregressive> {
        let (weight, shape, bias) = entropy_first;
        let [n1, c_in, kh, kw] = shape;
        let ctx_channels = context.bias.len();
        if kh != 1
            || kw != 1
            || c_in != params_channels + ctx_channels
            || weight.len() != n1 * c_in
            || bias.len() != n1
        {
            return Err(CoderError::InvalidInput(format!(
                "entropy parameters: the first layer must be a 1x1 convolution over {params_channels} + {ctx_channels} channels, got weight shape {shape:?}"
            )));
        }
        let first_params = PackedWeights::from_fn(params_channels, n1, |k, j| weight[j * c_in + k]);
        let first_context = PackedWeights::from_fn(ctx_channels, n1, |k, j| {
            weight[j * c_in + params_channels + k]
        });
        Ok(Autoregressive {
            context,
            first_params,
            first_context,
            first_bias: bias.to_vec(),
            rest,
        })
    }

    /// Latent channels `m`.
    pub fn latent_channels(&self) -> usize {
        self.context.m
    }

    /// Channels of the context features.
    pub fn context_channels(&self) -> usize {
        self.context.bias.len()
    }

    /// Channels of the hyper parameters it reads.
    pub fn params_channels(&self) -> usize {
        self.first_params.k_len()
    }

    /// The first layer's partial sums from the hyper parameters, for every position.
    fn params_part(&self, params: &FeatureMap, cfg: Config) -> Result<Vec<f32>> {
        if params.c != self.params_channels() {
            return Err(CoderError::InvalidInput(format!(
                "entropy parameters: expected hyper parameters with {} channels, got {}",
                self.params_channels(),
                params.c
            )));
        }
        let n1 = self.first_bias.len();
        let mut out = vec![0.0f32; params.h * params.w * n1];
        for o in out.chunks_exact_mut(n1.max(1)) {
            o.copy_from_slice(&self.first_bias);
        }
        gemm_acc_threaded(
            &params.data,
            &self.first_params,
            &mut out,
            cfg.kernel,
            cfg.threads,
        );
        Ok(out)
    }

    /// `[positions x 2m]` (scales, then means) of the given positions.
    fn position_parameters(
        &self,
        y_pad: &FeatureMap,
        part: &[f32],
        width: usize,
        positions: &[(usize, usize)],
        context_term: Option<&[f32]>,
        cfg: Config,
    ) -> Result<Vec<f32>> {
        let mut ctx = self.context.forward(y_pad, positions, cfg);
        if let Some(term) = context_term {
            for row in ctx.chunks_exact_mut(term.len().max(1)) {
                for (v, t) in row.iter_mut().zip(term) {
                    *v += t;
                }
            }
        }
        let n1 = self.first_bias.len();
        let mut hidden = Vec::with_capacity(positions.len() * n1);
        for &(h, w) in positions {
            let start = (h * width + w) * n1;
            hidden.extend_from_slice(&part[start..start + n1]);
        }
        if positions.len() * n1 * self.first_context.k_len() > 1 << 18 {
            gemm_acc_threaded(
                &ctx,
                &self.first_context,
                &mut hidden,
                cfg.kernel,
                cfg.threads,
            );
        } else {
            gemm_acc(&ctx, &self.first_context, &mut hidden, cfg.kernel);
        }
        let out = self
            .rest
            .forward(FeatureMap::new(1, positions.len(), n1, hidden)?, cfg)?;
        if out.c != 2 * self.context.m {
            return Err(CoderError::InvalidInput(format!(
                "entropy parameters: the network gives {} channels, expected 2 x {} (scales and means)",
                out.c, self.context.m
            )));
        }
        Ok(out.data)
    }

    /// Scales and means `H x W x 2m` of a whole decoded latent `y_hat` (`H x W x m`), with
    /// exactly the arithmetic of the coding loop.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] on mismatched shapes.
    pub fn parameters(
        &self,
        params: &FeatureMap,
        y_hat: &FeatureMap,
        cfg: Config,
    ) -> Result<FeatureMap> {
        self.check_latent(params, y_hat.h, y_hat.w)?;
        check_latent_channels(y_hat.c, self.context.m)?;
        let y_pad = self.pad(y_hat);
        let part = self.params_part(params, cfg)?;
        let positions: Vec<(usize, usize)> = (0..y_hat.h)
            .flat_map(|h| (0..y_hat.w).map(move |w| (h, w)))
            .collect();
        let data = self.position_parameters(&y_pad, &part, y_hat.w, &positions, None, cfg)?;
        FeatureMap::new(y_hat.h, y_hat.w, 2 * self.context.m, data)
    }

    fn check_latent(&self, params: &FeatureMap, h: usize, w: usize) -> Result<()> {
        if params.h != h || params.w != w {
            return Err(CoderError::InvalidInput(format!(
                "the hyper parameters are {}x{} but the latent is {h}x{w}",
                params.h, params.w
            )));
        }
        Ok(())
    }

    fn pad(&self, y: &FeatureMap) -> FeatureMap {
        let p = self.context.padding();
        let mut out = FeatureMap::zeros(y.h + 2 * p, y.w + 2 * p, y.c);
        for h in 0..y.h {
            let dst = ((h + p) * out.w + p) * y.c;
            out.data[dst..dst + y.w * y.c]
                .copy_from_slice(&y.data[h * y.w * y.c..(h + 1) * y.w * y.c]);
        }
        out
    }

    /// The positions of each wave, in coding order.
    pub fn waves(&self, height: usize, width: usize) -> Vec<Vec<(usize, usize)>> {
        waves(height, width, self.context.padding() + 1)
    }
}

/// Positions `(h, w)` grouped by `t = c h + w`, waves in increasing `t`, positions in
/// increasing `h`; empty waves (narrow latents) are skipped.
pub fn waves(height: usize, width: usize, c: usize) -> Vec<Vec<(usize, usize)>> {
    if height == 0 || width == 0 {
        return Vec::new();
    }
    let last = c * (height - 1) + width - 1;
    (0..=last)
        .map(|t| {
            (0..height)
                .filter_map(|h| {
                    let w = t.checked_sub(c * h)?;
                    (w < width).then_some((h, w))
                })
                .collect::<Vec<_>>()
        })
        .filter(|wave| !wave.is_empty())
        .collect()
}

fn check_latent_channels(c: usize, m: usize) -> Result<()> {
    if c != m {
        return Err(CoderError::InvalidInput(format!(
            "the latent has {c} channels, the context model expects {m}"
        )));
    }
    Ok(())
}

/// Maps scales to CDF-table rows: CompressAI's rule, with comparisons only.
///
/// The scale is first bounded below (`max(scale, bound)`; NaN stays NaN), then its
/// index is the number of entries of `scale_table[..len - 1]` strictly below it (the
/// first entry at or above it, or the last row); NaN gets the last row.
#[derive(Debug, Clone)]
pub struct ScaleIndexer {
    boundaries: Vec<f32>,
    bound: f32,
}

impl ScaleIndexer {
    /// # Errors
    /// [`CoderError::InvalidInput`] for an empty, unsorted or non-finite table.
    pub fn new(scale_table: &[f32], bound: f32) -> Result<ScaleIndexer> {
        if scale_table.is_empty()
            || scale_table.iter().any(|s| !s.is_finite())
            || scale_table.windows(2).any(|p| p[0] > p[1])
        {
            return Err(CoderError::InvalidInput(
                "the scale table must be a non-empty, finite, non-decreasing list of scales".into(),
            ));
        }
        if bound.is_nan() {
            return Err(CoderError::InvalidInput("the scale bound is NaN".into()));
        }
        Ok(ScaleIndexer {
            boundaries: scale_table[..scale_table.len() - 1].to_vec(),
            bound,
        })
    }

    /// Number of table rows.
    pub fn rows(&self) -> usize {
        self.boundaries.len() + 1
    }

    /// The row of one scale.
    #[inline]
    pub fn index(&self, scale: f32) -> i32 {
        if scale.is_nan() {
            return self.boundaries.len() as i32;
        }
        let v = if scale < self.bound {
            self.bound
        } else {
            scale
        };
        self.boundaries.partition_point(|&b| b < v) as i32
    }
}

/// The coding loop shared by encoder and decoder.
pub(crate) struct Coder<'a> {
    pub(crate) model: &'a Autoregressive,
    pub(crate) indexer: &'a ScaleIndexer,
    pub(crate) table: &'a CdfTable,
    /// How symbols become the values the context reads and the decoder returns.
    pub(crate) reconstruction: &'a Reconstruction,
    /// A variable-rate model's gain (`super::quantizer`).
    pub(crate) gain: Option<Gain<'a>>,
    /// Added to the context features of every position (`[context channels]`): a
    /// variable-rate model's term for its gain.
    pub(crate) context_term: Option<&'a [f32]>,
    pub(crate) cfg: Config,
}

impl Coder<'_> {
    fn check(&self, params: &FeatureMap) -> Result<()> {
        if self.table.num_rows() != self.indexer.rows() {
            return Err(CoderError::InvalidInput(format!(
                "the CDF table has {} rows but the scale table {} entries",
                self.table.num_rows(),
                self.indexer.rows()
            )));
        }
        if params.h == 0 || params.w == 0 {
            return Err(CoderError::InvalidInput("the latent is empty".into()));
        }
        Ok(())
    }

    /// One wave's means, scales (ungained, position-major) and CDF rows.
    fn wave_parameters(
        &self,
        y_pad: &FeatureMap,
        part: &[f32],
        width: usize,
        wave: &[(usize, usize)],
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<i32>)> {
        let m = self.model.latent_channels();
        let gaussian = self.model.position_parameters(
            y_pad,
            part,
            width,
            wave,
            self.context_term,
            self.cfg,
        )?;
        let mut means = Vec::with_capacity(wave.len() * m);
        let mut scales = Vec::with_capacity(wave.len() * m);
        let mut indexes = Vec::with_capacity(wave.len() * m);
        for sm in gaussian.chunks_exact(2 * m) {
            let (s, mu) = sm.split_at(m);
            for c in 0..m {
                means.push(mu[c]);
                scales.push(s[c]);
                indexes.push(self.indexer.index(gained(mu[c], s[c], c, self.gain).1));
            }
        }
        Ok((means, scales, indexes))
    }

    /// Writes one wave's reconstructed values into the padded latent.
    fn store_wave(
        &self,
        y_pad: &mut FeatureMap,
        wave: &[(usize, usize)],
        symbols: &[i32],
        means: &[f32],
        scales: &[f32],
    ) -> Result<()> {
        let m = self.model.latent_channels();
        let p = self.model.context.padding();
        let values =
            self.reconstruction
                .values(symbols, means, scales, |j| j % m, self.gain, self.cfg)?;
        for (&(h, w), row) in wave.iter().zip(values.chunks_exact(m)) {
            let target = ((h + p) * y_pad.w + w + p) * m;
            y_pad.data[target..target + m].copy_from_slice(row);
        }
        Ok(())
    }

    /// Appends the symbols of `y` to `encoder`, in wavefront order; returns `y_hat`.
    pub(crate) fn encode_into(
        &self,
        y: FeatureView<'_>,
        params: &FeatureMap,
        encoder: &mut BufferedEncoder,
    ) -> Result<FeatureMap> {
        self.check(params)?;
        let model = self.model;
        model.check_latent(params, y.h, y.w)?;
        let m = model.latent_channels();
        check_latent_channels(y.c, m)?;
        let p = model.context.padding();
        let part = model.params_part(params, self.cfg)?;
        let mut y_pad = FeatureMap::zeros(y.h + 2 * p, y.w + 2 * p, m);
        let mut all_symbols = Vec::with_capacity(y.data.len());
        let mut all_indexes = Vec::with_capacity(y.data.len());
        for wave in model.waves(y.h, y.w) {
            let (means, scales, indexes) = self.wave_parameters(&y_pad, &part, y.w, &wave)?;
            let mut symbols = Vec::with_capacity(wave.len() * m);
            for (i, &(h, w)) in wave.iter().enumerate() {
                let values = y.pixel(h, w);
                for c in 0..m {
                    let mean = means[i * m + c];
                    symbols.push(coded_symbol(values[c], mean, c, (h, w), self.gain)?);
                }
            }
            self.store_wave(&mut y_pad, &wave, &symbols, &means, &scales)?;
            all_symbols.extend_from_slice(&symbols);
            all_indexes.extend_from_slice(&indexes);
        }
        encoder.encode(&all_symbols, &all_indexes, self.table)?;
        Ok(unpad(&y_pad, p, y.h, y.w))
    }

    /// Decodes an `H x W x m` latent from `decoder`, which goes on where it stands.
    pub(crate) fn decode_from(
        &self,
        decoder: &mut RansDecoder,
        params: &FeatureMap,
    ) -> Result<FeatureMap> {
        self.check(params)?;
        let model = self.model;
        let (height, width) = (params.h, params.w);
        let m = model.latent_channels();
        let p = model.context.padding();
        let part = model.params_part(params, self.cfg)?;
        let mut y_pad = FeatureMap::zeros(height + 2 * p, width + 2 * p, m);
        let mut symbols = Vec::new();
        for wave in model.waves(height, width) {
            let (means, scales, indexes) = self.wave_parameters(&y_pad, &part, width, &wave)?;
            symbols.clear();
            decoder.decode(&indexes, self.table, &mut symbols)?;
            self.store_wave(&mut y_pad, &wave, &symbols, &means, &scales)?;
        }
        Ok(unpad(&y_pad, p, height, width))
    }
}

fn unpad(y_pad: &FeatureMap, p: usize, height: usize, width: usize) -> FeatureMap {
    let m = y_pad.c;
    let mut out = FeatureMap::zeros(height, width, m);
    for h in 0..height {
        let src = ((h + p) * y_pad.w + p) * m;
        out.data[h * width * m..(h + 1) * width * m]
            .copy_from_slice(&y_pad.data[src..src + width * m]);
    }
    out
}

/// Builds the rest of an entropy-parameter network from its layers after the first.
pub fn rest_network(layers: Vec<Layer>) -> Network {
    Network { layers }
}
