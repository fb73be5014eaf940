//! From latent values to symbols and back: the per-channel gain of variable-rate models,
//! rounding, and the reconstruction, shared by every coder of the engine.
//!
//! For channel `c` with mean `mu` and scale `sigma` (from the parameter networks) and a
//! gain `g` with its inverse `g'` (both given by the caller; no gain: the plain model):
//!
//! * the symbol is `q = round_half_even(y g - mu g)` and its CDF row comes from `sigma g`
//!   (without a gain: `round_half_even(y - mu)` and `sigma`);
//! * the reconstruction is `q + mu` without a gain and `(q + mu g) g'` with one;
//! * with *reconstruction offsets* (Kamisli, Racapé, Choi, DCC 2024, CompressAI's
//!   `QuantABCD`), `sign(q) (|q| + o) g' + mu`, with `o = -offsets([max(sigma g, bound),
//!   g])` for `q != 0` and `o = 0` for `q = 0`: a small pointwise network moves each
//!   nonzero value towards the mean of its quantization interval.
//!
//! Each step is one rounded `f32` operation in the order written (no fused multiply-add),
//! and `offsets` is a [`Network`] (fixed reduction order), so the values are the same on
//! every machine.

use crate::error::{CoderError, Result};

use super::layers::{Config, FeatureMap, Network};

/// Rounds half to even, as `torch.round`; exact.
#[inline]
pub fn round_half_even(v: f32) -> f32 {
    v.round_ties_even()
}

/// Per-channel gains of a variable-rate model: `gain` before coding, `inverse` after.
#[derive(Debug, Clone, Copy)]
pub struct Gain<'a> {
    /// Multiplies `y`, the means and the scales.
    pub gain: &'a [f32],
    /// Multiplies the decoded (gained) latent back.
    pub inverse: &'a [f32],
}

impl<'a> Gain<'a> {
    /// The gains of channels `start..end`.
    pub(crate) fn slice(self, start: usize, end: usize) -> Gain<'a> {
        Gain {
            gain: &self.gain[start..end],
            inverse: &self.inverse[start..end],
        }
    }

    /// The gain a coder uses: `gain` when it is `gained` (an error without one), else none.
    pub(crate) fn when(gained: bool, gain: Option<Gain<'a>>) -> Result<Option<Gain<'a>>> {
        match (gained, gain) {
            (false, _) => Ok(None),
            (true, Some(g)) => Ok(Some(g)),
            (true, None) => Err(CoderError::InvalidInput(
                "this model codes with a gain; pass one".into(),
            )),
        }
    }

    /// The one gain shared by every channel (a scalar-gain model such as CompressAI's
    /// variable-rate models), or an error naming `what` needs it.
    pub(crate) fn uniform(self, what: &str) -> Result<f32> {
        match self.gain.first() {
            Some(&g)
                if self
                    .gain
                    .iter()
                    .all(|&other| other.to_bits() == g.to_bits()) =>
            {
                Ok(g)
            }
            _ => Err(CoderError::InvalidInput(format!(
                "{what} needs one gain for every channel"
            ))),
        }
    }
}

/// The gained `(mean, scale)` of channel `c`: `(mu g, sigma g)`, or `(mu, sigma)`.
#[inline]
pub(crate) fn gained(mean: f32, scale: f32, c: usize, gain: Option<Gain<'_>>) -> (f32, f32) {
    match gain {
        Some(g) => (mean * g.gain[c], scale * g.gain[c]),
        None => (mean, scale),
    }
}

/// The symbol of `value` in channel `c` around the gained mean `gained_mean`, or `None`
/// when it cannot be coded (not finite, or outside int32).
#[inline]
pub(crate) fn symbol(
    value: f32,
    gained_mean: f32,
    c: usize,
    gain: Option<Gain<'_>>,
) -> Option<i32> {
    let value = match gain {
        Some(g) => value * g.gain[c],
        None => value,
    };
    let q = round_half_even(value - gained_mean);
    (-2_147_483_648.0..2_147_483_648.0)
        .contains(&q)
        .then_some(q as i32)
}

/// The symbol of the latent value `value` at channel `c` of position `(h, w)`, given its
/// (ungained) mean: [`symbol`] around the gained mean.
///
/// # Errors
/// [`CoderError::InvalidInput`] naming the value and where it is, when it cannot be coded.
#[inline]
pub(crate) fn coded_symbol(
    value: f32,
    mean: f32,
    c: usize,
    (h, w): (usize, usize),
    gain: Option<Gain<'_>>,
) -> Result<i32> {
    let mean = gained(mean, 0.0, c, gain).0;
    symbol(value, mean, c, gain).ok_or_else(|| {
        CoderError::InvalidInput(format!(
            "latent value {value} at channel {c}, position ({h}, {w}) cannot be coded (not finite or outside int32 around its mean {mean})"
        ))
    })
}

/// How decoded symbols become latent values (see the module documentation).
#[derive(Debug, Clone)]
pub struct Reconstruction {
    /// `[max(sigma g, bound), g] -> -o`, pointwise, one output channel.
    offsets: Option<Network>,
    /// The lower bound of the scale the offsets read (the Gaussian's scale bound).
    bound: f32,
}

impl Reconstruction {
    /// `q + mu` (or `(q + mu g) g'` with a gain).
    pub fn plain() -> Reconstruction {
        Reconstruction {
            offsets: None,
            bound: 0.0,
        }
    }

    /// With reconstruction offsets from `offsets`, a pointwise network of two input
    /// channels (the bounded gained scale, the gain) and one output.
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] when `offsets` is not pointwise or `bound` is NaN.
    pub fn with_offsets(offsets: Network, bound: f32) -> Result<Reconstruction> {
        offsets.check_pointwise("the reconstruction-offset network")?;
        if bound.is_nan() {
            return Err(CoderError::InvalidInput("the scale bound is NaN".into()));
        }
        Ok(Reconstruction {
            offsets: Some(offsets),
            bound,
        })
    }

    /// Whether values move by learned offsets (which need a gain).
    pub fn has_offsets(&self) -> bool {
        self.offsets.is_some()
    }

    /// The latent values of `symbols`; element `j` is in channel `channel(j)` and has the
    /// ungained mean `means[j]` and scale `scales[j]` (the scales are read only with
    /// reconstruction offsets).
    ///
    /// # Errors
    /// [`CoderError::InvalidInput`] when offsets are asked for without a gain, or the
    /// offset network does not give one channel.
    pub fn values(
        &self,
        symbols: &[i32],
        means: &[f32],
        scales: &[f32],
        channel: impl Fn(usize) -> usize,
        gain: Option<Gain<'_>>,
        cfg: Config,
    ) -> Result<Vec<f32>> {
        let (gain, offsets) = match (gain, &self.offsets) {
            (None, None) => {
                return Ok(symbols
                    .iter()
                    .zip(means)
                    .map(|(&q, &mu)| q as f32 + mu)
                    .collect())
            }
            (None, Some(_)) => {
                return Err(CoderError::InvalidInput(
                    "reconstruction offsets need a gain".into(),
                ))
            }
            (Some(g), None) => {
                return Ok(symbols
                    .iter()
                    .zip(means)
                    .enumerate()
                    .map(|(j, (&q, &mu))| {
                        let c = channel(j);
                        (q as f32 + mu * g.gain[c]) * g.inverse[c]
                    })
                    .collect())
            }
            (Some(g), Some(network)) => (g, network),
        };
        let nonzero: Vec<usize> = (0..symbols.len()).filter(|&j| symbols[j] != 0).collect();
        let mut inputs = Vec::with_capacity(2 * nonzero.len());
        for &j in &nonzero {
            let g = gain.gain[channel(j)];
            let scale = scales[j] * g;
            // max(scale, bound) as torch.max: NaN stays NaN.
            inputs.push(if scale < self.bound {
                self.bound
            } else {
                scale
            });
            inputs.push(g);
        }
        let moved = if nonzero.is_empty() {
            Vec::new()
        } else {
            let out = offsets.forward(FeatureMap::new(1, nonzero.len(), 2, inputs)?, cfg)?;
            if out.c != 1 {
                return Err(CoderError::InvalidInput(format!(
                    "the reconstruction-offset network must give 1 channel, gives {}",
                    out.c
                )));
            }
            out.data
        };
        let mut values = Vec::with_capacity(symbols.len());
        let mut next = moved.iter();
        for (j, (&q, &mu)) in symbols.iter().zip(means).enumerate() {
            let inverse = gain.inverse[channel(j)];
            let magnitude = if q == 0 {
                0.0
            } else {
                let offset = -*next.next().expect("one offset per nonzero symbol");
                let sign = if q > 0 { 1.0f32 } else { -1.0 };
                sign * ((q as f32).abs() + offset)
            };
            values.push(magnitude * inverse + mu);
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::layers::{Conv2d, Layer};
    use crate::engine::Kernel;
    use crate::test_util::values as draws;

    fn cfg() -> Config {
        Config {
            kernel: Kernel::Vector,
            threads: 1,
        }
    }

    /// `[s, g] -> relu(w . [s, g] + b)`, one output.
    fn offset_network(w: [f32; 2], b: f32) -> Network {
        Network {
            layers: vec![
                Layer::Conv2d(Conv2d::new(&w, [1, 2, 1, 1], &[b], 1, 0).unwrap()),
                Layer::Relu,
            ],
        }
    }

    #[test]
    fn plain_and_gained_values_follow_their_formulas() {
        let symbols = [0, 3, -2, 7];
        let means = [0.25f32, -1.5, 0.1, 2.0];
        let scales = [1.0f32; 4];
        let plain = Reconstruction::plain()
            .values(&symbols, &means, &scales, |j| j % 2, None, cfg())
            .unwrap();
        assert_eq!(plain, vec![0.25, 1.5, -1.9, 9.0]);
        let (g, inv) = ([2.0f32, 0.5], [0.5f32, 2.0]);
        let gain = Gain {
            gain: &g,
            inverse: &inv,
        };
        let gained = Reconstruction::plain()
            .values(&symbols, &means, &scales, |j| j % 2, Some(gain), cfg())
            .unwrap();
        let expected: Vec<f32> = (0..4)
            .map(|j| (symbols[j] as f32 + means[j] * g[j % 2]) * inv[j % 2])
            .collect();
        assert_eq!(gained, expected);
    }

    #[test]
    fn offsets_move_nonzero_values_towards_zero_and_leave_zeros_at_the_mean() {
        // o = relu(0.1 s + 0.0 g + 0.05): positive, so |value - mean| shrinks.
        let rec = Reconstruction::with_offsets(offset_network([0.1, 0.0], 0.05), 0.11).unwrap();
        let symbols = [0, 2, -3, 1];
        let means = [0.5f32, -0.25, 1.0, 0.0];
        let scales = [2.0f32, 0.01, 4.0, 1.0];
        let (g, inv) = ([0.5f32; 2], [2.0f32; 2]);
        let gain = Gain {
            gain: &g,
            inverse: &inv,
        };
        let out = rec
            .values(&symbols, &means, &scales, |j| j % 2, Some(gain), cfg())
            .unwrap();
        assert_eq!(out[0], 0.5);
        for j in 1..4 {
            let s = (scales[j] * 0.5).max(0.11);
            let o = (0.1 * s + 0.05f32).max(0.0);
            let sign = symbols[j].signum() as f32;
            assert_eq!(
                out[j],
                sign * ((symbols[j].abs() as f32) - o) * 2.0 + means[j]
            );
            assert!(((out[j] - means[j]) / 2.0).abs() < symbols[j].abs() as f32);
        }
        // The bound applies to the gained scale: channel 1 at j = 1 reads 0.11.
        assert!(rec
            .values(&symbols, &means, &scales, |j| j % 2, None, cfg())
            .is_err());
    }

    #[test]
    fn symbols_round_half_even_around_the_gained_mean_and_refuse_non_finite_values() {
        let g = [2.0f32];
        let gain = Some(Gain {
            gain: &g,
            inverse: &g,
        });
        assert_eq!(symbol(1.25, 0.0, 0, gain), Some(2));
        assert_eq!(symbol(0.75, 0.0, 0, gain), Some(2));
        assert_eq!(symbol(2.5, 0.0, 0, None), Some(2));
        assert_eq!(symbol(f32::NAN, 0.0, 0, None), None);
        assert_eq!(symbol(3e9, 0.0, 0, None), None);
        for (v, mu) in draws(5, 64, 20.0).into_iter().zip(draws(6, 64, 4.0)) {
            let q = symbol(v, mu, 0, None).unwrap();
            assert!((v - mu - q as f32).abs() <= 0.5);
        }
    }

    #[test]
    fn a_uniform_gain_is_found_and_a_varying_one_refused() {
        let (same, varying) = ([0.3f32; 3], [0.3f32, 0.3, 0.4]);
        let ok = Gain {
            gain: &same,
            inverse: &same,
        };
        assert_eq!(ok.uniform("x").unwrap(), 0.3);
        let bad = Gain {
            gain: &varying,
            inverse: &varying,
        };
        assert!(bad.uniform("the context").is_err());
    }
}
