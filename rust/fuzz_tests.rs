//! Fuzz-style property tests of everything a caller can hand the coder: hostile tables,
//! pmfs with any float bit pattern, out-of-range indexes, arbitrary and mutated byte
//! strings, the streaming decoder fed in arbitrary chunks. Every case must return `Ok`
//! or `Err`, never panic (overflow checks are on in `cargo test`'s debug profile, so an
//! arithmetic overflow is a failure here too).
//!
//! `rans.rs` already covers arbitrary bytes under valid tables and single bit flips of
//! valid strings; this file covers what those tests generate only valid values for.
//! `cargo fuzz` needs a nightly toolchain, so these run as bounded proptests in every
//! `cargo test` (256 cases each; `PROPTEST_CASES=100000 cargo test --release fuzz_tests`
//! fuzzes longer).

use crate::cdf::{pmf_to_quantized_cdf, CdfTable, PROB_SCALE};
use crate::rans::{decode, encode, ideal_bits, BufferedEncoder, RansDecoder};
use proptest::prelude::*;

/// Any int32, biased towards the values that sit on validation boundaries.
fn edgy_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        4 => -3i32..70_000,
        1 => Just(0),
        1 => Just(PROB_SCALE as i32),
        1 => Just(PROB_SCALE as i32 + 1),
        1 => Just(i32::MIN),
        1 => Just(i32::MAX),
        1 => any::<i32>(),
    ]
}

/// A raw table as a caller could pass it: `(flat cdfs, rows, cols, lengths, offsets)`,
/// mostly consistent in size (so validation reaches the row checks), sometimes not.
fn raw_table() -> impl Strategy<Value = (Vec<i32>, usize, usize, Vec<i32>, Vec<i32>)> {
    (0usize..5, 0usize..8).prop_flat_map(|(rows, cols)| {
        let size_slack = prop_oneof![8 => Just(0usize), 1 => 1usize..3];
        (
            prop::collection::vec(edgy_i32(), rows * cols..=rows * cols + 2),
            Just(rows),
            Just(cols),
            prop::collection::vec(
                prop_oneof![4 => 0i32..10, 1 => any::<i32>()],
                rows..=rows + 1,
            ),
            prop::collection::vec(edgy_i32(), rows..=rows + 1),
            size_slack,
        )
            .prop_map(|(cdfs, rows, cols, lengths, offsets, slack)| {
                let cdfs = cdfs[..(rows * cols + slack).min(cdfs.len())].to_vec();
                (cdfs, rows, cols, lengths, offsets)
            })
    })
}

/// A valid table whose rows are random increasing sequences from 0 to 2^16.
fn valid_table() -> impl Strategy<Value = CdfTable> {
    prop::collection::vec(
        (
            prop::collection::btree_set(1u32..PROB_SCALE, 0..12),
            edgy_i32(),
        ),
        1..5,
    )
    .prop_map(|rows| {
        let (cdfs, offsets): (Vec<Vec<u32>>, Vec<i32>) = rows
            .into_iter()
            .map(|(inner, offset)| {
                let mut row = vec![0];
                row.extend(inner);
                row.push(PROB_SCALE);
                (row, offset)
            })
            .unzip();
        CdfTable::from_rows(&cdfs, &offsets).expect("a strictly increasing 0..2^16 row is valid")
    })
}

/// Ways to damage a valid string.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Append(Vec<u8>),
    Flip(Vec<usize>),
    Overwrite(usize, Vec<u8>),
    SwapWords(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        prop::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Append),
        prop::collection::vec(any::<usize>(), 1..8).prop_map(Mutation::Flip),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(at, bytes)| Mutation::Overwrite(at, bytes)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapWords(a, b)),
    ]
}

fn apply(mutation: &Mutation, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match mutation {
        Mutation::Truncate(n) => out.truncate(n % (bytes.len() + 1)),
        Mutation::Append(extra) => out.extend_from_slice(extra),
        Mutation::Flip(_) | Mutation::Overwrite(..) if out.is_empty() => {}
        Mutation::SwapWords(..) if out.len() < 4 => {}
        Mutation::Flip(bits) => {
            for &bit in bits {
                let bit = bit % (8 * out.len());
                out[bit / 8] ^= 1 << (bit % 8);
            }
        }
        Mutation::Overwrite(at, new) => {
            let start = at % out.len();
            for (k, &b) in new.iter().enumerate() {
                if let Some(slot) = out.get_mut(start + k) {
                    *slot = b;
                }
            }
        }
        Mutation::SwapWords(a, b) => {
            let words = out.len() / 4;
            let (a, b) = (a % words, b % words);
            for k in 0..4 {
                out.swap(4 * a + k, 4 * b + k);
            }
        }
    }
    out
}

/// A message for `table`: in-range and escaped values, valid row indexes.
fn message(table: &CdfTable) -> impl Strategy<Value = (Vec<i32>, Vec<i32>)> {
    let rows = table.num_rows() as i32;
    prop::collection::vec((edgy_i32(), 0..rows), 0..200).prop_map(|pairs| pairs.into_iter().unzip())
}

/// Decodes `data` every way the API allows; none may panic.
fn decode_every_way(data: &[u8], indexes: &[i32], table: &CdfTable, chunk: usize) {
    let _ = decode(data, indexes, table, true);
    let _ = decode(data, indexes, table, false);
    if let Ok(mut decoder) = RansDecoder::new(data) {
        let mut out = Vec::new();
        for part in indexes.chunks(chunk.max(1)) {
            if decoder.decode(part, table, &mut out).is_err() {
                break;
            }
        }
        let _ = decoder.is_finished();
        let _ = decoder.check_finished();
    }
}

proptest! {
    #[test]
    fn hostile_raw_tables_are_accepted_or_refused_without_panicking(
        (cdfs, rows, cols, lengths, offsets) in raw_table(),
        data in prop::collection::vec(any::<u8>(), 0..64),
        symbols in prop::collection::vec(edgy_i32(), 0..16),
    ) {
        if let Ok(table) = CdfTable::new(&cdfs, rows, cols, &lengths, &offsets) {
            // Whatever validation lets through must be safe to code with.
            prop_assert!(table.num_rows() == rows && rows > 0);
            for r in 0..rows {
                let row = table.row(r);
                prop_assert_eq!(row[0], 0);
                prop_assert_eq!(*row.last().unwrap(), PROB_SCALE);
                prop_assert!(row.windows(2).all(|w| w[0] < w[1]));
            }
            let indexes: Vec<i32> = (0..symbols.len()).map(|i| (i % rows) as i32).collect();
            let bytes = encode(&symbols, &indexes, &table).unwrap();
            prop_assert_eq!(decode(&bytes, &indexes, &table, true).unwrap(), symbols);
            decode_every_way(&data, &indexes, &table, 3);
        }
    }

    #[test]
    fn pmfs_with_any_float_bits_quantize_to_a_valid_row_or_an_error(
        bits in prop::collection::vec(
            prop_oneof![
                3 => 0u32..0x3f80_0001,     // 0.0 ..= 1.0, subnormals included
                1 => any::<u32>(),          // NaN, infinities, negatives, huge values
            ],
            0..80,
        ),
        precision in prop_oneof![4 => Just(16u32), 1 => 0u32..40],
    ) {
        let pmf: Vec<f32> = bits.into_iter().map(f32::from_bits).collect();
        if let Ok(cdf) = pmf_to_quantized_cdf(&pmf, precision) {
            prop_assert_eq!(cdf.len(), pmf.len() + 1);
            prop_assert_eq!(cdf[0], 0);
            prop_assert_eq!(*cdf.last().unwrap() as u64, 1u64 << precision);
            prop_assert!(cdf.windows(2).all(|w| w[0] < w[1]));
            if precision == 16 && cdf.len() >= 2 {
                prop_assert!(CdfTable::from_rows(&[cdf], &[0]).is_ok());
            }
        }
    }

    #[test]
    fn indexes_out_of_range_are_errors_for_every_entry_point(
        table in valid_table(),
        indexes in prop::collection::vec(prop_oneof![2 => -3i32..8, 1 => any::<i32>()], 0..40),
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let rows = table.num_rows() as i32;
        let valid = indexes.iter().all(|&r| (0..rows).contains(&r));
        let symbols = vec![0; indexes.len()];
        prop_assert_eq!(encode(&symbols, &indexes, &table).is_ok(), valid);
        prop_assert_eq!(ideal_bits(&symbols, &indexes, &table).is_ok(), valid);
        let mut buffered = BufferedEncoder::new();
        prop_assert_eq!(buffered.encode(&symbols, &indexes, &table).is_ok(), valid);
        if !valid {
            prop_assert!(buffered.is_empty(), "a refused call appends nothing");
            prop_assert!(decode(&data, &indexes, &table, false).is_err());
        }
        decode_every_way(&data, &indexes, &table, 5);
    }

    #[test]
    fn mutated_strings_decode_to_ok_or_err_without_panicking(
        (table, (symbols, indexes)) in valid_table().prop_flat_map(|t| {
            let msg = message(&t);
            (Just(t), msg)
        }),
        mutations in prop::collection::vec(mutation(), 1..4),
        chunk in 1usize..50,
    ) {
        let bytes = encode(&symbols, &indexes, &table).unwrap();
        let mut damaged = bytes.clone();
        for m in &mutations {
            if damaged.is_empty() {
                break;
            }
            damaged = apply(m, &damaged);
        }
        decode_every_way(&damaged, &indexes, &table, chunk);
        // A string decoded against other indexes (a wrong message length) is safe too.
        decode_every_way(&bytes, &indexes[..indexes.len() / 2], &table, chunk);
    }

    #[test]
    fn strings_decoded_with_another_table_give_ok_or_err(
        (encode_table, (symbols, indexes)) in valid_table().prop_flat_map(|t| {
            let msg = message(&t);
            (Just(t), msg)
        }),
        decode_table in valid_table(),
    ) {
        let bytes = encode(&symbols, &indexes, &encode_table).unwrap();
        let rows = decode_table.num_rows() as i32;
        let remapped: Vec<i32> = indexes.iter().map(|&r| r % rows).collect();
        decode_every_way(&bytes, &remapped, &decode_table, 7);
    }

    #[test]
    fn arbitrary_words_in_arbitrary_chunks_never_panic_the_streaming_decoder(
        table in valid_table(),
        words in prop::collection::vec(any::<u32>(), 0..64),
        count in 0usize..400,
        chunk in 1usize..64,
    ) {
        let mut data: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        if data.len() >= 8 && words[0] & 1 == 1 {
            // A valid initial state half of the time, so decoding gets past the first check.
            let state = (1u64 << 31) | (u64::from(words[0]) << 20);
            data[..8].copy_from_slice(&state.to_le_bytes());
        }
        let indexes: Vec<i32> = (0..count).map(|i| (i % table.num_rows()) as i32).collect();
        decode_every_way(&data, &indexes, &table, chunk);
    }
}
