//! Criterion benches of the rANS coder on a realistic workload.
//!
//! * `gaussian_latent`: a Kodak-sized latent (320 channels x 24 x 40 = 307,200 symbols)
//!   coded over a 64-row Gaussian scale table (scales log-spaced 0.11..256, as
//!   GaussianConditional builds it), symbols drawn from the row's Gaussian.
//! * `single_table`: the same number of symbols from one factorized-prior-like row.
//!
//! Throughput is reported in symbols per second (`Elements`). Run with
//! `cargo bench --bench rans`; `cargo test --benches` runs each once.

use std::hint::black_box;

use _core::{decode, encode, pmf_to_quantized_cdf, CdfTable};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "../rust/test_util.rs"]
mod test_util;
use test_util::Xorshift; // the tests' generator: runs compare like with like

const SYMBOLS: usize = 320 * 24 * 40;
const TAIL_MASS: f64 = 1e-9;

/// Standard normal CDF (Abramowitz-Stegun 7.1.26 erf; accuracy is irrelevant here).
fn phi(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

fn gaussian_table(rows: usize) -> (CdfTable, Vec<f64>) {
    let (lo, hi) = (0.11f64.ln(), 256f64.ln());
    let scales: Vec<f64> = (0..rows)
        .map(|i| (lo + (hi - lo) * i as f64 / (rows - 1) as f64).exp())
        .collect();
    let multiplier = 6.109410204869; // -Phi^-1(tail_mass / 2)
    let mut cdfs = Vec::new();
    let mut offsets = Vec::new();
    for &s in &scales {
        let center = (s * multiplier).ceil() as i64;
        let mut pmf: Vec<f32> = (-center..=center)
            .map(|k| (phi((k as f64 + 0.5) / s) - phi((k as f64 - 0.5) / s)) as f32)
            .collect();
        pmf.push(TAIL_MASS as f32);
        cdfs.push(pmf_to_quantized_cdf(&pmf, 16).unwrap());
        offsets.push(-center as i32);
    }
    (CdfTable::from_rows(&cdfs, &offsets).unwrap(), scales)
}

fn bench_gaussian_latent(c: &mut Criterion) {
    let (table, scales) = gaussian_table(64);
    let mut rng = Xorshift::new(0x9E37_79B9_7F4A_7C15);
    // Latent channels mostly have small scales: skew the row choice towards them.
    let indexes: Vec<i32> = (0..SYMBOLS)
        .map(|_| (rng.unit_f64().powi(2) * 64.0) as i32)
        .collect();
    let symbols: Vec<i32> = indexes
        .iter()
        .map(|&r| (rng.normal() * scales[r as usize]).round() as i32)
        .collect();
    let bytes = encode(&symbols, &indexes, &table).unwrap();
    assert_eq!(decode(&bytes, &indexes, &table, true).unwrap(), symbols);

    let mut group = c.benchmark_group("gaussian_latent");
    group.throughput(Throughput::Elements(SYMBOLS as u64));
    group.bench_function("encode", |b| {
        b.iter(|| encode(black_box(&symbols), &indexes, &table).unwrap())
    });
    group.bench_function("decode", |b| {
        b.iter(|| decode(black_box(&bytes), &indexes, &table, true).unwrap())
    });
    group.finish();
}

fn bench_single_table(c: &mut Criterion) {
    let (table, _) = gaussian_table(64);
    let row = 20; // scale ~ 1.7: a typical factorized-prior channel width
    let mut rng = Xorshift::new(0x2545_F491_4F6C_DD1D);
    let indexes = vec![row; SYMBOLS];
    let scale = 1.7;
    let symbols: Vec<i32> = (0..SYMBOLS)
        .map(|_| (rng.normal() * scale).round() as i32)
        .collect();
    let bytes = encode(&symbols, &indexes, &table).unwrap();

    let mut group = c.benchmark_group("single_table");
    group.throughput(Throughput::Elements(SYMBOLS as u64));
    group.bench_function("encode", |b| {
        b.iter(|| encode(black_box(&symbols), &indexes, &table).unwrap())
    });
    group.bench_function("decode", |b| {
        b.iter(|| decode(black_box(&bytes), &indexes, &table, true).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_gaussian_latent, bench_single_table
}
criterion_main!(benches);
