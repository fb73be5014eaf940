//! The one arithmetic kernel of the engine: `out[p][n] += sum_k x[p][k] * w[k][n]`,
//! accumulated into `out`, which holds the initial value of every output (a bias, or a
//! partial sum computed earlier in the same order).
//!
//! Every output is a float32 sum evaluated in one fixed order: its initial value, then
//! the products for `k = 0, 1, 2, ...`, each product rounded to float32 and then added
//! (never fused: Rust does not contract `a * b + c` into an FMA, whatever the target
//! features). Both implementations below perform exactly these operations for each
//! output, so they give bit-identical results on every machine:
//!
//! * [`Kernel::Vector`] keeps a tile of `rows x 16` accumulators in registers and loops
//!   over `k` outside, an elementwise update the compiler vectorises with whatever SIMD
//!   width the CPU has (AVX-512, AVX2 or SSE2, picked at run time). The
//!   `k` loop is split into blocks of [`KC`] for cache reuse; between blocks the
//!   accumulators are stored to `out` and reloaded, which is exact.
//! * [`Kernel::Scalar`] computes one output at a time as a plain dot product (a
//!   reduction the compiler must keep sequential): the reference, for tests and audits.
//!
//! SIMD width, cache blocking and the split of work between threads change which
//! outputs are computed together, never the operations that make one output.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

/// Which implementation of the kernel to run (the results are identical).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Register-tiled and vectorised across outputs (the default).
    Vector,
    /// One sequential dot product per output (the reference; for tests and audits).
    Scalar,
}

impl Kernel {
    /// The kernel chosen by the environment: `NEURALCODEC_ENGINE_SCALAR=1` forces
    /// [`Kernel::Scalar`], anything else gives [`Kernel::Vector`].
    pub fn from_env() -> Kernel {
        match std::env::var("NEURALCODEC_ENGINE_SCALAR") {
            Ok(v) if v == "1" => Kernel::Scalar,
            _ => Kernel::Vector,
        }
    }
}

/// Width of a weight panel: the number of outputs one register tile covers.
pub const NR: usize = 16;
/// Block of the reduction dimension kept in cache between register tiles.
pub const KC: usize = 256;

/// A `k_len x n` weight matrix stored as panels of [`NR`] columns, each panel `k`-major
/// (`data[(panel * k_len + k) * NR + j]`), the last panel padded with zeros. Packed once
/// when an engine is built, so the kernel reads weights contiguously.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedWeights {
    k_len: usize,
    n: usize,
    data: Vec<f32>,
}

impl PackedWeights {
    /// Packs `w`, given row-major as `w[k * n + j]`.
    pub fn from_rows(w: &[f32], k_len: usize, n: usize) -> PackedWeights {
        assert_eq!(w.len(), k_len * n, "weight matrix size");
        PackedWeights::from_fn(k_len, n, |k, j| w[k * n + j])
    }

    /// Packs the matrix whose entry `(k, j)` is `f(k, j)`.
    pub fn from_fn(k_len: usize, n: usize, f: impl Fn(usize, usize) -> f32) -> PackedWeights {
        let panels = n.div_ceil(NR);
        let mut data = vec![0.0; panels * k_len * NR];
        for p in 0..panels {
            for k in 0..k_len {
                for jj in 0..NR {
                    let j = p * NR + jj;
                    if j < n {
                        data[(p * k_len + k) * NR + jj] = f(k, j);
                    }
                }
            }
        }
        PackedWeights { k_len, n, data }
    }

    /// Length of the reduction (rows of the logical matrix).
    pub fn k_len(&self) -> usize {
        self.k_len
    }

    /// Number of outputs (columns of the logical matrix).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of [`NR`]-wide panels.
    pub fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// Entry `(k, j)` of the logical matrix.
    #[inline]
    pub fn get(&self, k: usize, j: usize) -> f32 {
        self.data[((j / NR) * self.k_len + k) * NR + j % NR]
    }
}

/// `out[r * n + j] += sum_k x[r * k_len + k] * w(k, j)` for `r < rows`, in `k` order.
///
/// `x` is `rows x k_len` (row-major), `out` is `rows x n` and holds the initial values.
pub fn gemm_acc(x: &[f32], w: &PackedWeights, out: &mut [f32], kernel: Kernel) {
    let rows = check_shapes(x, w, out);
    if rows == 0 || w.n == 0 || w.k_len == 0 {
        return;
    }
    let panels = 0..w.panels();
    match kernel {
        Kernel::Vector => vector_dispatch(x, rows, w, out, w.n, 0, panels),
        Kernel::Scalar => scalar(x, rows, w, out, w.n, 0, panels),
    }
}

/// [`gemm_acc`] with the work split over up to `threads` threads of the engine's pool
/// (`pool`): by rows when there are many, otherwise by panels of outputs (each thread
/// writes its own columns).
pub fn gemm_acc_threaded(
    x: &[f32],
    w: &PackedWeights,
    out: &mut [f32],
    kernel: Kernel,
    threads: usize,
) {
    let rows = check_shapes(x, w, out);
    let panels = w.panels();
    let work = rows * w.k_len * w.n;
    let threads = threads.max(1);
    if threads == 1 || work < PARALLEL_MIN_WORK || rows == 0 || w.k_len == 0 {
        gemm_acc(x, w, out, kernel);
        return;
    }
    let Some(workers) = pool(threads) else {
        gemm_acc(x, w, out, kernel);
        return;
    };
    let (n, k_len) = (w.n, w.k_len);
    if rows >= 8 * threads {
        let rows_per = rows.div_ceil(threads);
        workers.scope(|scope| {
            for (x_part, out_part) in x.chunks(rows_per * k_len).zip(out.chunks_mut(rows_per * n)) {
                scope.spawn(move |_| gemm_acc(x_part, w, out_part, kernel));
            }
        });
        return;
    }
    // Few rows: split the panels. Each thread accumulates its columns in a buffer of its
    // own, then they are copied back: the same operations per output.
    let threads = threads.min(panels);
    if threads <= 1 {
        gemm_acc(x, w, out, kernel);
        return;
    }
    let per = panels.div_ceil(threads);
    // Ranges of panels, none empty: with `per` rounded up, the last threads may have none
    // (27 panels over 8 threads: 7 ranges of 4 and nothing left for the eighth).
    let ranges: Vec<Range<usize>> = (0..threads)
        .map(|t| (t * per).min(panels)..((t + 1) * per).min(panels))
        .filter(|range| !range.is_empty())
        .collect();
    let out_ro: &[f32] = out;
    let parts: Vec<(Range<usize>, Vec<f32>)> = workers.install(|| {
        ranges
            .into_par_iter()
            .map(|range| {
                let j0 = range.start * NR;
                let j1 = (range.end * NR).min(n);
                let width = j1 - j0;
                let mut local = vec![0.0f32; rows * width];
                for r in 0..rows {
                    local[r * width..(r + 1) * width]
                        .copy_from_slice(&out_ro[r * n + j0..r * n + j1]);
                }
                match kernel {
                    Kernel::Vector => {
                        vector_dispatch(x, rows, w, &mut local, width, j0, range.clone())
                    }
                    Kernel::Scalar => scalar(x, rows, w, &mut local, width, j0, range.clone()),
                }
                (range, local)
            })
            .collect()
    });
    for (range, local) in parts {
        let j0 = range.start * NR;
        let j1 = (range.end * NR).min(n);
        let width = j1 - j0;
        for r in 0..rows {
            out[r * n + j0..r * n + j1].copy_from_slice(&local[r * width..(r + 1) * width]);
        }
    }
}

/// The engine's worker pool for calls split into `threads` parts, built on first use and
/// kept for the life of the process (starting OS threads on every call cost more than the
/// small calls of the coding loop). It has `threads` workers, but no more than the
/// machine's CPUs (at least 2), so asking for many threads costs no more than the
/// machine has; the parts are the same either way. `None` when `threads` is 1 or the
/// threads cannot be started: the caller then computes on its own thread, with the same
/// results.
///
/// A process forked from one that had pools has none of their threads: pools are per
/// process id, and a child builds its own (the parent's are leaked there, never used).
pub(crate) fn pool(threads: usize) -> Option<Arc<rayon::ThreadPool>> {
    type Pools = (u32, HashMap<usize, Option<Arc<rayon::ThreadPool>>>);
    static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();
    // Asked once: on Linux it reads the affinity mask and cgroup files.
    static CPUS: OnceLock<usize> = OnceLock::new();
    if threads <= 1 {
        return None;
    }
    let cpus = *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let workers = threads.min(cpus.max(2));
    let mut guard = POOLS
        .get_or_init(|| Mutex::new((std::process::id(), HashMap::new())))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (owner, pools) = &mut *guard;
    if *owner != std::process::id() {
        // Dropping them would signal threads that do not exist in this process.
        std::mem::forget(std::mem::take(pools));
        *owner = std::process::id();
    }
    pools
        .entry(workers)
        .or_insert_with(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(workers)
                .thread_name(|i| format!("neuralcodec-engine-{i}"))
                .build()
                .ok()
                .map(Arc::new)
        })
        .clone()
}

/// Below this many multiply-adds a call is not worth a thread.
const PARALLEL_MIN_WORK: usize = 1 << 18;

fn check_shapes(x: &[f32], w: &PackedWeights, out: &mut [f32]) -> usize {
    let rows = out.len().checked_div(w.n).unwrap_or(0);
    assert_eq!(out.len(), rows * w.n, "output size");
    assert_eq!(x.len(), rows * w.k_len, "input size");
    rows
}

/// The reference: one sequential dot product per output. `out` is `rows x width` and
/// holds the outputs `col0 .. col0 + width` of the panels in `panels`.
fn scalar(
    x: &[f32],
    rows: usize,
    w: &PackedWeights,
    out: &mut [f32],
    width: usize,
    col0: usize,
    panels: Range<usize>,
) {
    let k_len = w.k_len;
    let j_end = (panels.end * NR).min(w.n);
    for r in 0..rows {
        let x_row = &x[r * k_len..(r + 1) * k_len];
        for j in panels.start * NR..j_end {
            let o = &mut out[r * width + j - col0];
            let mut acc = *o;
            for (k, &v) in x_row.iter().enumerate() {
                acc += w.get(k, j) * v;
            }
            *o = acc;
        }
    }
}

/// Runs [`vector`] compiled for the best instruction set the CPU has (AVX-512, AVX2 or SSE2):
/// only the width of the vectors changes, not the operations.
fn vector_dispatch(
    x: &[f32],
    rows: usize,
    w: &PackedWeights,
    out: &mut [f32],
    width: usize,
    col0: usize,
    panels: Range<usize>,
) {
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || vector(x, rows, w, out, width, col0, panels),
    );
}

#[inline(always)]
fn vector(
    x: &[f32],
    rows: usize,
    w: &PackedWeights,
    out: &mut [f32],
    width: usize,
    col0: usize,
    panels: Range<usize>,
) {
    let k_len = w.k_len;
    let mut k0 = 0;
    while k0 < k_len {
        let k1 = (k0 + KC).min(k_len);
        for p in panels.clone() {
            let wp = &w.data[(p * k_len + k0) * NR..(p * k_len + k1) * NR];
            let j0 = p * NR - col0;
            let nj = NR.min(w.n - p * NR);
            let mut r = 0;
            while r + 4 <= rows {
                tile::<4>(x, r, k_len, k0..k1, wp, out, width, j0, nj);
                r += 4;
            }
            match rows - r {
                3 => tile::<3>(x, r, k_len, k0..k1, wp, out, width, j0, nj),
                2 => tile::<2>(x, r, k_len, k0..k1, wp, out, width, j0, nj),
                1 => tile::<1>(x, r, k_len, k0..k1, wp, out, width, j0, nj),
                _ => {}
            }
        }
        k0 = k1;
    }
}

/// `M x NR` accumulators for rows `r0 .. r0 + M` and the `nj` valid columns of one panel
/// (starting at column `j0` of `out`), over the reduction block `ks`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<const M: usize>(
    x: &[f32],
    r0: usize,
    k_len: usize,
    ks: Range<usize>,
    wp: &[f32],
    out: &mut [f32],
    width: usize,
    j0: usize,
    nj: usize,
) {
    let mut acc = [[0.0f32; NR]; M];
    for (i, a) in acc.iter_mut().enumerate() {
        let start = (r0 + i) * width + j0;
        a[..nj].copy_from_slice(&out[start..start + nj]);
    }
    let xs: [&[f32]; M] =
        std::array::from_fn(|i| &x[(r0 + i) * k_len + ks.start..(r0 + i) * k_len + ks.end]);
    for (kk, w_row) in wp.chunks_exact(NR).enumerate() {
        let w_row: &[f32; NR] = w_row.try_into().expect("panel row");
        for i in 0..M {
            let v = xs[i][kk];
            for j in 0..NR {
                acc[i][j] += w_row[j] * v;
            }
        }
    }
    for (i, a) in acc.iter().enumerate() {
        let start = (r0 + i) * width + j0;
        out[start..start + nj].copy_from_slice(&a[..nj]);
    }
}

/// `out[p * n + j] = bias[j] + sum_k x[p * k_len + k] * w(k, j)`: fills `out` with the
/// bias and accumulates.
pub fn matmul_bias(
    x: &[f32],
    w: &PackedWeights,
    bias: &[f32],
    out: &mut [f32],
    kernel: Kernel,
    threads: usize,
) {
    assert_eq!(bias.len(), w.n, "bias size");
    for row in out.chunks_exact_mut(w.n.max(1)) {
        row.copy_from_slice(bias);
    }
    gemm_acc_threaded(x, w, out, kernel, threads);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|f| f.to_bits()).collect()
    }

    /// Values of mixed magnitude and sign, so rounding order matters.
    use crate::test_util::mixed_values as values;

    /// The definition, written out: initial value, then each rounded product, in order.
    fn naive(x: &[f32], k_len: usize, w: &[f32], n: usize, init: &[f32]) -> Vec<f32> {
        let rows = init.len() / n;
        let mut out = init.to_vec();
        for r in 0..rows {
            for j in 0..n {
                let mut acc = init[r * n + j];
                for k in 0..k_len {
                    let product = x[r * k_len + k] * w[k * n + j];
                    acc += product;
                }
                out[r * n + j] = acc;
            }
        }
        out
    }

    proptest! {
        #[test]
        fn vector_scalar_threaded_and_naive_kernels_are_bit_identical(
            rows in 1usize..40,
            k_len in 0usize..600,
            n in 1usize..40,
            seed in any::<u64>(),
            threads in 1usize..17,
        ) {
            let x = values(seed, rows * k_len);
            let w = values(seed ^ 0x9e37, k_len * n);
            let init = values(seed ^ 0x51ed, rows * n);
            let packed = PackedWeights::from_rows(&w, k_len, n);
            let expected = naive(&x, k_len, &w, n, &init);
            let mut vector = init.clone();
            let mut scalar = init.clone();
            let mut threaded = init.clone();
            let mut threaded_scalar = init.clone();
            gemm_acc(&x, &packed, &mut vector, Kernel::Vector);
            gemm_acc(&x, &packed, &mut scalar, Kernel::Scalar);
            gemm_acc_threaded(&x, &packed, &mut threaded, Kernel::Vector, threads);
            gemm_acc_threaded(&x, &packed, &mut threaded_scalar, Kernel::Scalar, threads);
            prop_assert_eq!(bits(&vector), bits(&expected));
            prop_assert_eq!(bits(&scalar), bits(&expected));
            prop_assert_eq!(bits(&threaded), bits(&expected));
            prop_assert_eq!(bits(&threaded_scalar), bits(&expected));
        }
    }

    #[test]
    fn large_calls_split_over_threads_by_rows_and_by_panels_give_the_same_bits() {
        for (rows, k_len, n) in [(300, 700, 40), (5, 3000, 100)] {
            let x = values(1, rows * k_len);
            let w = values(2, k_len * n);
            let bias = values(3, n);
            let packed = PackedWeights::from_rows(&w, k_len, n);
            let mut one = vec![0.0; rows * n];
            matmul_bias(&x, &packed, &bias, &mut one, Kernel::Vector, 1);
            for threads in [2, 3, 7] {
                let mut many = vec![0.0; rows * n];
                matmul_bias(&x, &packed, &bias, &mut many, Kernel::Vector, threads);
                assert_eq!(
                    bits(&one),
                    bits(&many),
                    "{rows}x{k_len}x{n}, {threads} threads"
                );
            }
            let mut scalar = vec![0.0; rows * n];
            matmul_bias(&x, &packed, &bias, &mut scalar, Kernel::Scalar, 2);
            assert_eq!(bits(&one), bits(&scalar));
        }
    }

    #[test]
    fn panel_splits_that_leave_a_thread_without_panels_give_the_same_bits() {
        // 426 outputs are 27 panels: over 8 threads, 7 ranges of 4 and none for the eighth
        // (this panicked on a 16-core machine at 8 engine threads).
        for (rows, k_len, n) in [(3, 300, 426), (2, 4000, 50), (1, 9000, 33)] {
            let x = values(4, rows * k_len);
            let w = values(5, k_len * n);
            let init = values(6, rows * n);
            let packed = PackedWeights::from_rows(&w, k_len, n);
            let mut one = init.clone();
            gemm_acc(&x, &packed, &mut one, Kernel::Vector);
            for threads in 2..=16 {
                for kernel in [Kernel::Vector, Kernel::Scalar] {
                    let mut many = init.clone();
                    gemm_acc_threaded(&x, &packed, &mut many, kernel, threads);
                    assert_eq!(
                        bits(&one),
                        bits(&many),
                        "{rows}x{k_len}x{n}, {threads} threads"
                    );
                }
            }
        }
    }

    #[test]
    fn sums_follow_the_documented_order() {
        // (1e8 + 1) - 1e8 in float32 loses the 1 if added in this order: bias, then k = 0, 1.
        let packed = PackedWeights::from_rows(&[1.0f32, 1e8], 2, 1);
        for kernel in [Kernel::Vector, Kernel::Scalar] {
            let mut out = [0.0f32];
            matmul_bias(&[1.0, -1.0], &packed, &[1e8], &mut out, kernel, 1);
            let expected = (1e8f32 + 1.0) + (-1e8);
            assert_eq!(out[0].to_bits(), expected.to_bits());
        }
    }

    #[test]
    fn products_are_rounded_before_the_add_never_fused() {
        // a * a = 1 + 2^-11 + 2^-24 exactly; float32 rounds it to 1 + 2^-11, so
        // bias + a * a is 0 without FMA and 2^-24 with it.
        let a = 1.0f32 + 2f32.powi(-12);
        let bias = -(1.0f32 + 2f32.powi(-11));
        for n in [1, 16, 40] {
            let packed = PackedWeights::from_fn(1, n, |_, _| a);
            for kernel in [Kernel::Vector, Kernel::Scalar] {
                let mut out = vec![0.0f32; 8 * n];
                matmul_bias(&[a; 8], &packed, &vec![bias; n], &mut out, kernel, 1);
                assert!(out.iter().all(|&v| v == 0.0), "{kernel:?}: {out:?}");
            }
        }
    }
}
