//! Criterion benches of the engine's kernels at the sizes of mbt2018 / Cheng2020 at
//! quality 3 (N = M = 192) on a 768x512 image (latent 32 x 48, side information 8 x 12):
//!
//! * `gemm/*`: the register-tiled kernel on one wave of the coding loop (16 positions
//!   x the 12-tap context, 2304 -> 384) and on a block of the last h_s convolution
//!   (256 pixels x 3x3x288 -> 384), vector and scalar;
//! * `conv/*`: whole layers of h_s (the 3x3 convolution at 32 x 48, the transposed
//!   convolution 192 -> 288 at 16 x 24), one and two threads;
//! * `coding_loop`: the wavefront encode and decode of a 16 x 24 x 192 latent.
//!
//! Results are bit-identical for every variant; only the time differs.

use _core::cdf::{pmf_to_quantized_cdf, CdfTable};
use _core::engine::autoregressive::rest_network;
use _core::engine::kernels::{gemm_acc, PackedWeights};
use _core::engine::{
    Autoregressive, Config, ContextModel, Conv2d, ConvTranspose2d, FeatureMap, Kernel, LatentCoder,
    LatentGraph, Layer, Network, RasterScan,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

#[path = "../rust/test_util.rs"]
mod test_util;
use test_util::values;

fn bench_gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    for (name, rows, k_len, n) in [
        ("wave_16x2304x384", 16, 2304, 384),
        ("hs_block_256x2592x384", 256, 2592, 384),
    ] {
        let x = values(1, rows * k_len, 1.0);
        let w = PackedWeights::from_rows(&values(2, k_len * n, 0.1), k_len, n);
        group.throughput(Throughput::Elements((rows * k_len * n) as u64));
        for kernel in [Kernel::Vector, Kernel::Scalar] {
            let mut out = vec![0.0f32; rows * n];
            group.bench_function(format!("{name}/{kernel:?}"), |b| {
                b.iter(|| gemm_acc(black_box(&x), &w, &mut out, kernel))
            });
        }
    }
    group.finish();
}

fn bench_conv(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv");
    group.sample_size(10);
    let conv = Conv2d::new(
        &values(3, 384 * 288 * 9, 0.05),
        [384, 288, 3, 3],
        &values(4, 384, 0.1),
        1,
        1,
    )
    .unwrap();
    let x = FeatureMap::new(32, 48, 288, values(5, 32 * 48 * 288, 1.0)).unwrap();
    let deconv = ConvTranspose2d::new(
        &values(6, 192 * 288 * 25, 0.05),
        [192, 288, 5, 5],
        &values(7, 288, 0.1),
        2,
        2,
        1,
    )
    .unwrap();
    let z = FeatureMap::new(16, 24, 192, values(8, 16 * 24 * 192, 1.0)).unwrap();
    for threads in [1, 2] {
        let cfg = Config {
            kernel: Kernel::Vector,
            threads,
        };
        let conv_layer = Layer::Conv2d(conv.clone());
        group.bench_function(format!("conv3x3_288to384_32x48/threads{threads}"), |b| {
            b.iter(|| conv_layer.forward(black_box(x.clone()), cfg).unwrap())
        });
        let deconv_layer = Layer::ConvTranspose2d(deconv.clone());
        group.bench_function(
            format!("deconv5x5s2_192to288_16x24/threads{threads}"),
            |b| b.iter(|| deconv_layer.forward(black_box(z.clone()), cfg).unwrap()),
        );
    }
    group.finish();
}

fn table() -> (Vec<f32>, CdfTable) {
    let scales: Vec<f32> = (0..64)
        .map(|i| (0.11f32.ln() + i as f32 * (256f32.ln() - 0.11f32.ln()) / 63.0).exp())
        .collect();
    let mut rows = Vec::new();
    let mut offsets = Vec::new();
    for &s in &scales {
        let half = (s * 6.0).ceil() as i32 + 1;
        let mut pmf: Vec<f32> = (-half..=half)
            .map(|v| (-(v as f32 * v as f32) / (2.0 * s * s)).exp())
            .collect();
        let total: f32 = pmf.iter().sum();
        pmf.iter_mut().for_each(|p| *p /= total * 1.0001);
        pmf.push(1e-4);
        rows.push(pmf_to_quantized_cdf(&pmf, 16).unwrap());
        offsets.push(-half);
    }
    (scales, CdfTable::from_rows(&rows, &offsets).unwrap())
}

fn bench_coding_loop(c: &mut Criterion) {
    let m = 192;
    let context = ContextModel::new(
        &values(9, 2 * m * m * 25, 0.02),
        [2 * m, m, 5, 5],
        &values(10, 2 * m, 0.1),
    )
    .unwrap();
    let (n1, n2) = (m * 10 / 3, m * 8 / 3);
    let l2 = Conv2d::new(
        &values(11, n2 * n1, 0.05),
        [n2, n1, 1, 1],
        &values(12, n2, 0.1),
        1,
        0,
    )
    .unwrap();
    let mut b3 = values(14, 2 * m, 0.1);
    b3[..m].iter_mut().for_each(|b| *b += 2.0);
    let l3 = Conv2d::new(&values(13, 2 * m * n2, 0.05), [2 * m, n2, 1, 1], &b3, 1, 0).unwrap();
    let rest = rest_network(vec![
        Layer::LeakyRelu(0.01),
        Layer::Conv2d(l2),
        Layer::LeakyRelu(0.01),
        Layer::Conv2d(l3),
    ]);
    let first_w = values(15, n1 * 4 * m, 0.03);
    let ar = Autoregressive::new(
        context,
        (&first_w, [n1, 4 * m, 1, 1], &values(16, n1, 0.1)),
        rest,
        2 * m,
    )
    .unwrap();
    let (scales, table) = table();
    let raster = RasterScan::plain(ar, &scales, 0.11, table).unwrap();
    // An identity h_s: the parameters are given.
    let graph = LatentGraph::new(
        Network::default(),
        LatentCoder::RasterScan(Box::new(raster)),
    );
    let (h, w) = (16, 24);
    let params = FeatureMap::new(h, w, 2 * m, values(17, h * w * 2 * m, 1.0)).unwrap();
    let y = FeatureMap::new(h, w, m, values(18, h * w * m, 8.0)).unwrap();
    let cfg = Config {
        kernel: Kernel::Vector,
        threads: 1,
    };
    let (bytes, _) = graph.encode(y.view(), params.clone(), None, cfg).unwrap();
    let mut group = c.benchmark_group("coding_loop");
    group.sample_size(10);
    group.throughput(Throughput::Elements((h * w * m) as u64));
    group.bench_function("encode_16x24x192", |b| {
        b.iter(|| {
            graph
                .encode(black_box(y.view()), params.clone(), None, cfg)
                .unwrap()
        })
    });
    group.bench_function("decode_16x24x192", |b| {
        b.iter(|| {
            graph
                .decode(black_box(&bytes), params.clone(), None, cfg)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_gemm, bench_conv, bench_coding_loop);
criterion_main!(benches);
