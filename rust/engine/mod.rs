//! The deterministic decode engine: everything that decides which CDF row and which
//! offset a latent symbol is coded with.
//!
//! * the hyper-synthesis `h_s` of the hyperprior models ([`Network`] of
//!   [`layers::Layer`]s: convolutions, transposed convolutions, pixel shuffles, ReLU,
//!   LeakyReLU);
//! * the masked context convolution and the entropy-parameter network of mbt2018 and
//!   Cheng2020 ([`autoregressive::Autoregressive`]);
//! * the `scale -> index` rule ([`autoregressive::ScaleIndexer`]);
//! * the autoregressive coding loop itself, in wavefront order, with the rANS coder of
//!   [`crate::rans`];
//! * the parallel-context coders (checkerboard, channel groups, ELIC) composed as a tree
//!   ([`graph::LatentGraph`]), the one entry point that codes a whole latent;
//! * symbols and reconstructions, with the gain of variable-rate models
//!   ([`quantizer`]).
//!
//! Results are a pure function of the weights and the decoded symbols: float32
//! arithmetic in one fixed order per output (see [`kernels`]), no fused multiply-add, no
//! transcendental functions, exact rounding and comparisons. The SIMD width, the thread
//! count and the scalar/vector switch cannot change a bit. `docs/determinism.md` argues
//! the design; `docs/bitstream.md` gives the coding order.

pub mod autoregressive;
pub mod graph;
pub mod kernels;
pub mod layers;
pub mod quantizer;

pub use autoregressive::{Autoregressive, ContextModel, ScaleIndexer};
pub use graph::{
    ChannelGroups, Checkerboard, CheckerboardContext, Chunks, GaussianLeaf, LatentCoder,
    LatentGraph, RasterScan,
};
pub use kernels::Kernel;
pub use layers::{Config, Conv2d, ConvTranspose2d, FeatureMap, FeatureView, Layer, Network};
pub use quantizer::{Gain, Reconstruction};

#[cfg(test)]
pub(crate) mod tests {
    use super::autoregressive::{rest_network, waves};
    use super::*;
    use crate::cdf::{pmf_to_quantized_cdf, CdfTable};
    use crate::error::CoderError;
    use proptest::prelude::*;

    use crate::test_util::values;

    /// Gaussian-like table over 8 scales from 0.2 to 12.
    pub(crate) fn scale_table() -> (Vec<f32>, CdfTable) {
        let scales: Vec<f32> = (0..8).map(|i| 0.2 * 1.8f32.powi(i)).collect();
        let mut rows = Vec::new();
        let mut offsets = Vec::new();
        for &s in &scales {
            let half = (s * 4.0).ceil() as i32 + 1;
            let mut pmf: Vec<f32> = (-half..=half)
                .map(|v| (-(v as f32 * v as f32) / (2.0 * s * s)).exp() + 1e-4)
                .collect();
            let total: f32 = pmf.iter().sum();
            pmf.iter_mut().for_each(|p| *p /= total * 1.001);
            pmf.push(0.001);
            rows.push(pmf_to_quantized_cdf(&pmf, 16).unwrap());
            offsets.push(-half);
        }
        (scales, CdfTable::from_rows(&rows, &offsets).unwrap())
    }

    /// A tiny mbt2018-like context model and entropy parameters: m latent channels,
    /// hyper params of 2m channels.
    pub(crate) fn tiny_autoregressive(m: usize, seed: u64) -> Autoregressive {
        let ctx_shape = [2 * m, m, 5, 5];
        let context = ContextModel::new(
            &values(seed, 2 * m * m * 25, 0.6),
            ctx_shape,
            &values(seed + 1, 2 * m, 0.1),
        )
        .unwrap();
        let n1 = 3 * m;
        let first_w = values(seed + 2, n1 * 4 * m, 0.5);
        let first_b = values(seed + 3, n1, 0.1);
        let last_w = values(seed + 4, 2 * m * n1, 0.5);
        let mut last_b = values(seed + 5, 2 * m, 0.1);
        last_b[..m].iter_mut().for_each(|b| *b += 1.5); // scales around 1.5
        let last = Conv2d::new(&last_w, [2 * m, n1, 1, 1], &last_b, 1, 0).unwrap();
        let rest = rest_network(vec![Layer::LeakyRelu(0.01), Layer::Conv2d(last)]);
        Autoregressive::new(
            context,
            (&first_w, [n1, 4 * m, 1, 1], &first_b),
            rest,
            2 * m,
        )
        .unwrap()
    }

    /// [`tiny_autoregressive`] as a latent graph with an identity `h_s` (the parameters
    /// are given).
    fn tiny_raster(m: usize, seed: u64) -> LatentGraph {
        let (scales, table) = scale_table();
        let ar = tiny_autoregressive(m, seed);
        let raster = RasterScan::plain(ar, &scales, 0.11, table);
        LatentGraph::new(
            Network::default(),
            LatentCoder::RasterScan(Box::new(raster.unwrap())),
        )
    }

    #[test]
    fn waves_cover_every_position_once_after_its_context() {
        for (h, w) in [(1, 1), (4, 7), (9, 3), (6, 6)] {
            let order: Vec<(usize, usize)> = waves(h, w, 3).into_iter().flatten().collect();
            assert_eq!(order.len(), h * w);
            let rank = |pos: (usize, usize)| order.iter().position(|&p| p == pos).unwrap();
            for &(y, x) in &order {
                // Every causal 5x5 neighbour comes earlier.
                for dy in 0..=2usize {
                    for dx in -2isize..=2 {
                        if dy == 0 && dx >= 0 {
                            continue;
                        }
                        let (ny, nx) = (y as isize - dy as isize, x as isize + dx);
                        if ny >= 0 && nx >= 0 && (nx as usize) < w {
                            assert!(rank((ny as usize, nx as usize)) < rank((y, x)));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn scale_index_counts_table_entries_below_the_bounded_scale() {
        let indexer = ScaleIndexer::new(&[0.5, 1.0, 2.0, 4.0], 0.3).unwrap();
        assert_eq!(indexer.index(0.0), 0);
        assert_eq!(indexer.index(0.5), 0);
        assert_eq!(indexer.index(0.50001), 1);
        assert_eq!(indexer.index(1.0), 1);
        assert_eq!(indexer.index(3.0), 3);
        assert_eq!(indexer.index(100.0), 3);
        assert_eq!(indexer.index(f32::NAN), 3);
        assert_eq!(indexer.index(f32::NEG_INFINITY), 0);
        assert!(ScaleIndexer::new(&[2.0, 1.0], 0.1).is_err());
        assert!(ScaleIndexer::new(&[], 0.1).is_err());
    }

    #[test]
    fn rounding_is_half_to_even() {
        assert_eq!(quantizer::round_half_even(2.5), 2.0);
        assert_eq!(quantizer::round_half_even(-2.5), -2.0);
        assert_eq!(quantizer::round_half_even(3.5), 4.0);
        assert_eq!(quantizer::round_half_even(-0.4), -0.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn autoregressive_coding_round_trips_for_any_kernel_and_thread_count(
            h in 1usize..7, w in 1usize..7, m in 1usize..6, seed in any::<u64>(), threads in 1usize..4,
        ) {
            let engine = tiny_raster(m, seed);
            let params = FeatureMap::new(h, w, 2 * m, values(seed + 10, h * w * 2 * m, 2.0)).unwrap();
            let y = FeatureMap::new(h, w, m, values(seed + 11, h * w * m, 12.0)).unwrap();
            let reference = Config { kernel: Kernel::Scalar, threads: 1 };
            let (_, y_hat) = graph::tests::same_bits_everywhere(&engine, &y, &params, None, threads)?;
            // The scales and means of the whole latent at once equal those of the loop:
            // re-encoding with them gives the same symbols.
            let gaussian = tiny_autoregressive(m, seed).parameters(&params, &y_hat, reference).unwrap();
            for (i, sm) in gaussian.data.chunks_exact(2 * m).enumerate() {
                for c in 0..m {
                    let q = (y.data[i * m + c] - sm[m + c]).round_ties_even();
                    prop_assert_eq!((q + sm[m + c]).to_bits(), y_hat.data[i * m + c].to_bits());
                }
            }
        }

        #[test]
        fn any_bytes_decode_to_a_latent_or_an_error(
            data in prop::collection::vec(any::<u8>(), 0..200), seed in any::<u64>(),
        ) {
            let engine = tiny_raster(2, seed);
            let params = FeatureMap::new(3, 4, 4, values(seed, 48, 2.0)).unwrap();
            let _ = engine.decode(&data, params, None, Config { kernel: Kernel::Vector, threads: 1 });
        }
    }

    #[test]
    fn truncated_and_extended_strings_are_refused() {
        let engine = tiny_raster(3, 5);
        let params = FeatureMap::new(5, 6, 6, values(1, 180, 2.0)).unwrap();
        let y = FeatureMap::new(5, 6, 3, values(2, 90, 20.0)).unwrap();
        let cfg = Config {
            kernel: Kernel::Vector,
            threads: 1,
        };
        let (bytes, _) = engine.encode(y.view(), params.clone(), None, cfg).unwrap();
        assert!(matches!(
            engine.decode(&bytes[..bytes.len() - 4], params.clone(), None, cfg),
            Err(CoderError::CorruptStream(_))
        ));
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0, 0, 0, 1]);
        assert!(engine.decode(&longer, params.clone(), None, cfg).is_err());
        let mut nan = y.clone();
        nan.data[7] = f32::NAN;
        assert!(engine
            .encode(nan.view(), params.clone(), None, cfg)
            .is_err());
        let wrong = FeatureMap::new(5, 5, 6, values(1, 150, 2.0)).unwrap();
        assert!(engine.encode(y.view(), wrong, None, cfg).is_err());
    }
}
