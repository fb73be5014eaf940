//! Integer CDF tables: quantization of probability mass functions, and the validated
//! table the coder reads symbols' frequencies from.
//!
//! A table row `r` describes the alphabet `0 .. max_value(r)` of directly coded values
//! plus one escape symbol `max_value(r) = cdf_length[r] - 2`, whose probability is the
//! tail mass: values outside the alphabet are coded as the escape symbol followed by
//! raw 4-bit chunks (see [`crate::rans`]). Frequencies are in units of 2^-16.

use std::sync::OnceLock;

use crate::error::{CoderError, Result};

/// Probability precision of the coder, in bits: every CDF row ends at `1 << PRECISION`.
pub const PRECISION: u32 = 16;

/// Total of every CDF row (2^16).
pub const PROB_SCALE: u32 = 1 << PRECISION;

/// Bits of the cumulative frequency used to index the decoder's per-row lookup.
const LOOKUP_BITS: u32 = 10;
const LOOKUP_SIZE: usize = 1 << LOOKUP_BITS;
const LOOKUP_SHIFT: u32 = PRECISION - LOOKUP_BITS;
/// Above this many rows the decoder searches the rows instead of building lookups,
/// which would cost `rows * 2 KiB`.
const MAX_LOOKUP_ROWS: usize = 1 << 15;

/// Quantizes a probability mass function to a strictly increasing integer CDF.
///
/// Returns `pmf.len() + 1` values, starting at 0 and ending at `1 << precision`, in
/// which every bin has a frequency of at least 1. The algorithm (float32 scaling
/// rounded half away from zero, integer renormalisation, the rounding deficit put in the
/// last bin, then a repair pass that moves one unit from the smallest bin with
/// frequency > 1 to each empty bin, in increasing bin order) reproduces CompressAI
/// 1.2.8's `pmf_to_quantized_cdf` exactly, so tables built by either agree bit for bit.
///
/// The pmf need not sum to 1 (it is renormalised), but its entries must be finite and
/// non-negative and not all (nearly) zero.
///
/// # Errors
/// [`CoderError::InvalidPmf`] for an empty pmf, a negative or non-finite entry, a pmf
/// that rounds to all zeros, a precision outside 1..=16, or more bins than `1 << precision`.
pub fn pmf_to_quantized_cdf(pmf: &[f32], precision: u32) -> Result<Vec<u32>> {
    if !(1..=PRECISION).contains(&precision) {
        return Err(CoderError::InvalidPmf(format!(
            "precision must be between 1 and {PRECISION} bits, got {precision}"
        )));
    }
    let n = pmf.len();
    if n == 0 {
        return Err(CoderError::InvalidPmf(
            "pmf is empty: it needs at least one bin".into(),
        ));
    }
    let total_scale: u64 = 1 << precision;
    if n as u64 > total_scale {
        return Err(CoderError::InvalidPmf(format!(
            "pmf has {n} bins but a {precision}-bit CDF can give at most {total_scale} bins a nonzero frequency"
        )));
    }
    if let Some((i, p)) = pmf
        .iter()
        .enumerate()
        .find(|(_, p)| !p.is_finite() || **p < 0.0)
    {
        return Err(CoderError::InvalidPmf(format!(
            "pmf[{i}] = {p}: probabilities must be finite and non-negative"
        )));
    }

    // Scale in float32 and round half away from zero, as the reference does.
    let scale = total_scale as f32;
    let mut freq: Vec<u128> = pmf
        .iter()
        .map(|&p| (p * scale).round() as u64 as u128)
        .collect();
    let total: u128 = freq.iter().sum();
    if total == 0 {
        return Err(CoderError::InvalidPmf(format!(
            "pmf rounds to all zeros at {precision}-bit precision: every entry is below 2^-{}",
            precision + 1
        )));
    }
    for f in freq.iter_mut() {
        *f = *f * total_scale as u128 / total;
    }

    let mut cdf = Vec::with_capacity(n + 1);
    cdf.push(0u32);
    let mut acc: u128 = 0;
    for f in &freq {
        acc += f;
        cdf.push(acc as u32);
    }
    cdf[n] = total_scale as u32;

    repair_empty_bins(&mut cdf)?;
    Ok(cdf)
}

/// Gives every empty bin one unit, taken from the smallest bin with a frequency above 1
/// (lowest index on ties), scanning bins in increasing order.
///
/// Works on frequencies with a min-heap of donors: moving a unit from bin `j` to bin `i`
/// changes only those two frequencies (the CDF entries between them shift together), so
/// this is `O(n log n)` and gives exactly the result of rescanning for the donor each time.
fn repair_empty_bins(cdf: &mut [u32]) -> Result<()> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    let n = cdf.len() - 1;
    let mut freq: Vec<u32> = cdf.windows(2).map(|w| w[1] - w[0]).collect();
    if !freq.contains(&0) {
        return Ok(());
    }
    let mut donors: BinaryHeap<Reverse<(u32, usize)>> = freq
        .iter()
        .enumerate()
        .filter(|(_, &f)| f > 1)
        .map(|(j, &f)| Reverse((f, j)))
        .collect();
    for i in 0..n {
        if freq[i] != 0 {
            continue;
        }
        // Unreachable when n <= total, which the caller checked; kept as an error.
        let Some(Reverse((f, j))) = donors.pop() else {
            return Err(CoderError::InvalidPmf(
                "cannot give every bin a nonzero frequency".into(),
            ));
        };
        freq[j] = f - 1;
        freq[i] = 1;
        if f - 1 > 1 {
            donors.push(Reverse((f - 1, j)));
        }
    }
    let mut acc = 0;
    for (k, f) in freq.iter().enumerate() {
        acc += f;
        cdf[k + 1] = acc;
    }
    Ok(())
}

/// A validated table of integer CDFs, one row per distribution, in CompressAI's layout.
///
/// Row `r` holds `cdf_length[r]` meaningful values (the rest is padding), starting at 0,
/// strictly increasing, and ending at 2^16; `offset[r]` is added to decoded alphabet
/// positions to give symbol values. Validation happens once, at construction, so the
/// coder can trust the table afterwards.
#[derive(Debug)]
pub struct CdfTable {
    /// The meaningful entries of every row, concatenated without padding (cache-friendly).
    cdfs: Vec<u32>,
    rows: Vec<RowInfo>,
    /// Width of the padded table the rows came from.
    width: usize,
    /// Per row, for each of the `LOOKUP_SIZE` buckets of cumulative frequency, the
    /// symbol whose interval contains the bucket's first value. Built on first decode.
    lookup: OnceLock<Option<Vec<u16>>>,
}

/// Where a row lives in the compact storage, and its offset.
#[derive(Debug, Clone, Copy)]
struct RowInfo {
    start: u32,
    len: u32,
    offset: i32,
}

impl Clone for CdfTable {
    fn clone(&self) -> Self {
        CdfTable {
            cdfs: self.cdfs.clone(),
            rows: self.rows.clone(),
            width: self.width,
            lookup: OnceLock::new(),
        }
    }
}

impl CdfTable {
    /// Validates and copies a table given as a row-major `rows x cols` int32 array, its
    /// per-row lengths and offsets.
    ///
    /// # Errors
    /// [`CoderError::InvalidTable`] naming the first offending row and what is wrong.
    pub fn new(
        cdfs: &[i32],
        rows: usize,
        cols: usize,
        lengths: &[i32],
        offsets: &[i32],
    ) -> Result<Self> {
        if rows == 0 {
            return Err(CoderError::InvalidTable("the CDF table has no rows".into()));
        }
        if rows.checked_mul(cols) != Some(cdfs.len()) {
            return Err(CoderError::InvalidTable(format!(
                "the CDF table has {} values, expected rows x cols = {rows} x {cols}",
                cdfs.len()
            )));
        }
        if lengths.len() != rows {
            return Err(CoderError::InvalidTable(format!(
                "cdf_lengths has {} entries but the CDF table has {rows} rows",
                lengths.len()
            )));
        }
        if offsets.len() != rows {
            return Err(CoderError::InvalidTable(format!(
                "offsets has {} entries but the CDF table has {rows} rows",
                offsets.len()
            )));
        }
        let mut compact = Vec::new();
        let mut infos = Vec::with_capacity(rows);
        for (r, &len) in lengths.iter().enumerate() {
            if len < 2 || len as i64 > cols as i64 {
                return Err(CoderError::InvalidTable(format!(
                    "cdf_lengths[{r}] = {len} is out of range: each row needs 2 <= length <= {cols} (the table's width)"
                )));
            }
            let row = &cdfs[r * cols..r * cols + len as usize];
            if row[0] != 0 {
                return Err(CoderError::InvalidTable(format!(
                    "CDF row {r} must start at 0, got {}",
                    row[0]
                )));
            }
            if let Some(k) = row.windows(2).position(|w| w[1] <= w[0]) {
                return Err(CoderError::InvalidTable(format!(
                    "CDF row {r} is not strictly increasing at position {}: {} then {} (every symbol needs a nonzero frequency)",
                    k + 1,
                    row[k],
                    row[k + 1]
                )));
            }
            let last = row[len as usize - 1];
            if last != PROB_SCALE as i32 {
                return Err(CoderError::InvalidTable(format!(
                    "CDF row {r} must end at {PROB_SCALE} (2^{PRECISION}, the coder's precision) at position cdf_lengths[{r}] - 1 = {}, got {last}",
                    len - 1
                )));
            }
            let start = u32::try_from(compact.len()).map_err(|_| {
                CoderError::InvalidTable("the CDF table has more than 2^32 entries".into())
            })?;
            compact.extend(row.iter().map(|&v| v as u32));
            infos.push(RowInfo {
                start,
                len: len as u32,
                offset: offsets[r],
            });
        }
        Ok(CdfTable {
            cdfs: compact,
            rows: infos,
            width: cols,
            lookup: OnceLock::new(),
        })
    }

    /// Builds a table from rows given separately (each a full CDF from 0 to 2^16).
    pub fn from_rows(rows: &[Vec<u32>], offsets: &[i32]) -> Result<Self> {
        let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut flat = vec![0i32; rows.len() * cols];
        let mut lengths = Vec::with_capacity(rows.len());
        for (r, row) in rows.iter().enumerate() {
            for (k, &v) in row.iter().enumerate() {
                flat[r * cols + k] = i32::try_from(v).unwrap_or(i32::MAX);
            }
            lengths.push(i32::try_from(row.len()).unwrap_or(i32::MAX));
        }
        CdfTable::new(&flat, rows.len(), cols, &lengths, offsets)
    }

    /// Number of rows (distributions).
    #[inline]
    pub fn num_rows(&self) -> usize {
        self.rows.len()
    }

    /// Width of the padded table.
    #[inline]
    pub fn num_cols(&self) -> usize {
        self.width
    }

    /// The meaningful part of row `r`: `cdf_length[r]` values from 0 to 2^16.
    #[inline]
    pub fn row(&self, r: usize) -> &[u32] {
        let info = self.rows[r];
        &self.cdfs[info.start as usize..(info.start + info.len) as usize]
    }

    /// The escape symbol of row `r` (also the size of its direct alphabet).
    #[inline]
    pub fn max_value(&self, r: usize) -> u32 {
        self.rows[r].len - 2
    }

    /// The offset added to row `r`'s alphabet positions.
    #[inline]
    pub fn offset(&self, r: usize) -> i32 {
        self.rows[r].offset
    }

    /// Checks that every index names a row of this table.
    pub fn check_indexes(&self, indexes: &[i32]) -> Result<()> {
        let rows = self.num_rows();
        if let Some(i) = indexes.iter().position(|&r| r < 0 || r as usize >= rows) {
            return Err(CoderError::InvalidInput(format!(
                "indexes[{i}] = {} is out of range: the CDF table has {rows} rows (valid indexes 0..{})",
                indexes[i],
                rows - 1
            )));
        }
        Ok(())
    }

    /// The alphabet position `s` in row `r` whose interval `[cdf[s], cdf[s+1])` contains
    /// the cumulative frequency `cf < 2^16`.
    #[inline]
    pub fn find_symbol(&self, r: usize, cf: u32) -> usize {
        self.searcher().find(r, cf).0
    }

    /// A view for decoding many symbols: resolves the lookup once, not per symbol.
    #[inline]
    pub(crate) fn searcher(&self) -> SymbolSearcher<'_> {
        SymbolSearcher {
            table: self,
            lookup: self.lookup(),
        }
    }

    fn lookup(&self) -> Option<&[u16]> {
        self.lookup
            .get_or_init(|| {
                if self.num_rows() > MAX_LOOKUP_ROWS {
                    return None;
                }
                let mut lookup = Vec::with_capacity(self.num_rows() * LOOKUP_SIZE);
                for r in 0..self.num_rows() {
                    let row = self.row(r);
                    let mut s = 0usize;
                    for bucket in 0..LOOKUP_SIZE as u32 {
                        let first = bucket << LOOKUP_SHIFT;
                        while row[s + 1] <= first {
                            s += 1;
                        }
                        // s <= len - 2 < 2^16 because the row is strictly increasing.
                        lookup.push(s as u16);
                    }
                }
                Some(lookup)
            })
            .as_deref()
    }
}

/// Finds decoded symbols in a [`CdfTable`] (see [`CdfTable::searcher`]).
pub(crate) struct SymbolSearcher<'a> {
    table: &'a CdfTable,
    lookup: Option<&'a [u16]>,
}

impl SymbolSearcher<'_> {
    /// `(s, start, freq)` for the position `s` of row `r` whose interval contains `cf`.
    #[inline(always)]
    pub(crate) fn find(&self, r: usize, cf: u32) -> (usize, u32, u32) {
        let row = self.table.row(r);
        let mut s = match self.lookup {
            Some(lookup) => lookup[(r << LOOKUP_BITS) | (cf >> LOOKUP_SHIFT) as usize] as usize,
            None => 0,
        };
        if self.lookup.is_some() {
            while row[s + 1] <= cf {
                s += 1;
            }
        } else {
            // First entry greater than cf, minus one; row[0] = 0 <= cf so it is >= 1.
            s = row.partition_point(|&c| c <= cf) - 1;
        }
        let start = row[s];
        (s, start, row[s + 1] - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn freqs(cdf: &[u32]) -> Vec<u32> {
        cdf.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn uniform_pmf_gives_equal_bins() {
        let cdf = pmf_to_quantized_cdf(&[0.25; 4], 16).unwrap();
        assert_eq!(cdf, vec![0, 16384, 32768, 49152, 65536]);
    }

    #[test]
    fn rounding_deficit_goes_to_the_last_bin() {
        let cdf = pmf_to_quantized_cdf(&[1.0 / 3.0; 3], 16).unwrap();
        assert_eq!(cdf, vec![0, 21845, 43690, 65536]);
    }

    #[test]
    fn half_ties_round_away_from_zero() {
        // 0.5 / 65536 * 65536 = 0.5 rounds to 1 (banker's rounding would give 0).
        let tiny = 0.5f32 / 65536.0;
        let cdf = pmf_to_quantized_cdf(&[tiny, 1.0], 16).unwrap();
        // f = [1, 65536], total 65537: floor(65536/65537) = 0 then repaired to 1.
        assert_eq!(cdf[0], 0);
        assert_eq!(cdf[2], 65536);
        assert_eq!(freqs(&cdf), vec![1, 65535]);
    }

    #[test]
    fn empty_bins_take_a_unit_from_the_smallest_donor() {
        let cdf = pmf_to_quantized_cdf(&[0.0, 0.7, 0.0, 0.3], 16).unwrap();
        let f = freqs(&cdf);
        assert!(f.iter().all(|&v| v >= 1), "{f:?}");
        assert_eq!(*cdf.last().unwrap(), 65536);
        // Donor is the smaller nonzero bin (0.3) each time.
        assert_eq!(f[1], (0.7f32 * 65536.0).round() as u32);
    }

    #[test]
    fn invalid_pmfs_are_rejected_with_reasons() {
        let msg = |p: &[f32]| pmf_to_quantized_cdf(p, 16).unwrap_err().to_string();
        assert!(msg(&[]).contains("empty"));
        assert!(msg(&[0.5, -0.1]).contains("pmf[1]"));
        assert!(msg(&[f32::NAN]).contains("finite"));
        assert!(msg(&[f32::INFINITY]).contains("finite"));
        assert!(msg(&[0.0, 0.0]).contains("all zeros"));
        assert!(pmf_to_quantized_cdf(&[1.0; 3], 1)
            .unwrap_err()
            .to_string()
            .contains("at most 2 bins"));
        assert!(pmf_to_quantized_cdf(&[1.0], 17).is_err());
    }

    #[test]
    fn huge_unnormalised_entries_do_not_overflow() {
        let cdf = pmf_to_quantized_cdf(&[1e30, 1e30, 1.0], 16).unwrap();
        assert_eq!(*cdf.last().unwrap(), 65536);
        assert!(freqs(&cdf).iter().all(|&f| f >= 1));
    }

    #[test]
    fn table_validation_names_the_offending_row() {
        let ok = [0, 10, 65536, 0, 65536, 0];
        assert!(CdfTable::new(&ok, 2, 3, &[3, 2], &[0, 0]).is_ok());
        let err =
            |c: &[i32], l: &[i32]| CdfTable::new(c, 2, 3, l, &[0, 0]).unwrap_err().to_string();
        assert!(
            err(&[0, 10, 65536, 0, 65536, 0], &[3, 3]).contains("row 1 is not strictly increasing")
        );
        assert!(err(&[1, 10, 65536, 0, 65536, 0], &[3, 2]).contains("row 0 must start at 0"));
        assert!(err(&[0, 10, 65535, 0, 65536, 0], &[3, 2]).contains("row 0 must end at 65536"));
        assert!(err(&ok, &[4, 2]).contains("cdf_lengths[0] = 4"));
        assert!(err(&ok, &[1, 2]).contains("cdf_lengths[0] = 1"));
        assert!(CdfTable::new(&ok, 2, 3, &[3], &[0, 0]).is_err());
        assert!(CdfTable::new(&ok, 2, 3, &[3, 2], &[0]).is_err());
        assert!(CdfTable::new(&ok, 3, 3, &[3, 2, 2], &[0, 0, 0]).is_err());
        assert!(CdfTable::new(&[], 0, 0, &[], &[]).is_err());
    }

    #[test]
    fn lookup_and_binary_search_agree_on_every_value() {
        let cdf = pmf_to_quantized_cdf(&[0.001, 0.5, 0.2, 0.0, 0.299], 16).unwrap();
        let table = CdfTable::from_rows(std::slice::from_ref(&cdf), &[0]).unwrap();
        for cf in 0..PROB_SCALE {
            let expected = cdf.partition_point(|&c| c <= cf) - 1;
            assert_eq!(table.find_symbol(0, cf), expected, "cf = {cf}");
        }
    }

    /// The repair as specified: rescan for the donor at every empty bin (O(n^2)).
    fn repair_by_rescanning(cdf: &mut [u32]) {
        let n = cdf.len() - 1;
        for i in 0..n {
            if cdf[i] != cdf[i + 1] {
                continue;
            }
            let mut best: Option<(u32, usize)> = None;
            for j in 0..n {
                let f = cdf[j + 1] - cdf[j];
                if f > 1 && best.is_none_or(|(bf, _)| f < bf) {
                    best = Some((f, j));
                }
            }
            let (_, j) = best.unwrap();
            if j < i {
                cdf[j + 1..=i].iter_mut().for_each(|c| *c -= 1);
            } else {
                cdf[i + 1..=j].iter_mut().for_each(|c| *c += 1);
            }
        }
    }

    proptest! {
        #[test]
        fn heap_repair_equals_the_rescanning_definition(
            freqs in prop::collection::vec(prop_oneof![3 => Just(0u32), 1 => 1u32..4, 1 => 1u32..3000], 2..300)
        ) {
            let total: u32 = freqs.iter().sum();
            prop_assume!(total as usize >= freqs.len());
            // Scale to a 2^16 total with the deficit in the last bin, as quantization does.
            let mut cdf = vec![0u32];
            for f in &freqs {
                cdf.push(cdf.last().unwrap() + (*f as u64 * 65536 / total as u64) as u32);
            }
            *cdf.last_mut().unwrap() = 65536;
            prop_assume!(cdf.windows(2).filter(|w| w[1] > w[0]).count() > 0);
            let mut expected = cdf.clone();
            repair_by_rescanning(&mut expected);
            repair_empty_bins(&mut cdf).unwrap();
            prop_assert_eq!(cdf, expected);
        }

        #[test]
        fn quantized_cdfs_are_strictly_increasing_and_complete(
            pmf in prop::collection::vec(prop_oneof![Just(0.0f32), 0.0f32..1.0, 0.0f32..1e-6], 1..400)
        ) {
            prop_assume!(pmf.iter().any(|&p| (p * 65536.0).round() > 0.0));
            let cdf = pmf_to_quantized_cdf(&pmf, 16).unwrap();
            prop_assert_eq!(cdf.len(), pmf.len() + 1);
            prop_assert_eq!(cdf[0], 0);
            prop_assert_eq!(*cdf.last().unwrap(), 65536);
            prop_assert!(cdf.windows(2).all(|w| w[1] > w[0]));
            prop_assert!(CdfTable::from_rows(&[cdf], &[0]).is_ok());
        }
    }
}
