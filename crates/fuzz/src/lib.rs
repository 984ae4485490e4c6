//! # settlenet-fuzz
//!
//! ## Overview
//! Fuzzing on the stable toolchain (no nightly here, so no libFuzzer): a property-test harness
//! (proptest) that feeds a decoder of outside input
//! - every file of its committed corpus (`fuzz/corpus/<target>/` at the repository's top:
//!   real samples, and every input that ever failed, kept as a regression case);
//! - arbitrary bytes, and sequences of format tokens (a libFuzzer-style dictionary);
//! - mutations of those samples: bit flips, byte overwrites, truncations, removals, insertions
//!   (of bytes or of tokens), duplications, splices of two samples, and length fields
//!   overwritten with values a decoder must survive (0, 2^31, 2^32 - 1, the 32 MiB message
//!   limit plus one, `u64::MAX`, ...).
//!
//! The targets live next to the code they exercise, as `crates/<crate>/tests/fuzz_*.rs`, and run
//! in `cargo test` (so in CI) with a modest number of cases; `SETTLENET_FUZZ_CASES` raises it
//! for a long session (see `docs/testing.md`).
//!
//! ## Design
//! ```text
//!  fuzz/corpus/<target>/*  ──┐
//!  samples made in the test ─┼─> seeds ─┬─> each seed as it is ──────────────┐
//!                            │          └─> mutated / arbitrary (proptest) ──┼─> check(&[u8])
//!  tokens of the format ─────┘                                               │   (the target's)
//!                                                                            v
//!      a panic, a case slower than SLOW_CASE_MS, or a heap beyond HEAP_LIMIT_BYTES fails the run;
//!      the shrunk input is written to fuzz/corpus/<target>/crash-<hash> for the fix to keep
//! ```
//! - **Heap.** The fuzz test binaries count every allocation ([`cap`] as the global allocator)
//!   and refuse any beyond [`HEAP_LIMIT_BYTES`] over what the process held when fuzzing began:
//!   a decoder that sizes a buffer from a forged length prefix aborts the run ("memory
//!   allocation of N bytes failed") instead of silently reserving gigabytes. An abort cannot be
//!   shrunk: rerun with `SETTLENET_FUZZ_TRACE=1` to print each input before it is tried.
//! - **Determinism.** Cases are random per run (that is the point of a long session); any
//!   failure is shrunk and saved to the corpus, which every later run replays first.
//!
//! ## Invariants
//! - A target's check never returns quietly on a panic: proptest catches it, shrinks the input
//!   and fails the test.
//! - The corpus is replayed in full before any random case, on every run.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

pub use proptest;

/// Every allocation of a fuzz test binary goes through here (counted, and capped once
/// fuzzing starts).
#[global_allocator]
static HEAP: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// Most heap a fuzz test binary may hold beyond what it held when fuzzing began (all its
/// tests together). Far above what any input here legitimately needs (inputs are kilobytes;
/// the codec's own limit is 32 MiB), far below what a forged length would ask for.
pub const HEAP_LIMIT_BYTES: usize = 1 << 30;

/// Random cases per target and run, unless `SETTLENET_FUZZ_CASES` says otherwise.
pub const CASES_DEFAULT: u32 = 2_500;

/// A single input slower than this fails the target (a hang or a quadratic blow-up).
pub const SLOW_CASE_MS: u64 = 2_000;

/// Longest arbitrary byte string generated (mutations of a sample may grow it further).
pub const ARBITRARY_LEN_MAX: usize = 2_048;

/// Random cases per target: `SETTLENET_FUZZ_CASES`, else [`CASES_DEFAULT`].
pub fn cases() -> u32 {
    std::env::var("SETTLENET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(CASES_DEFAULT)
}

/// Length-field values a decoder must survive: around each width's edges and the 32 MiB
/// message limit (bincode here writes integers big-endian, fixed width).
pub const INTERESTING_LENGTHS: &[u64] = &[
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    32 * 1024 * 1024 - 1,
    32 * 1024 * 1024,
    32 * 1024 * 1024 + 1,
    4 * 1024 * 1024 * 1024,
    u64::MAX / 2,
    u64::MAX - 1,
    u64::MAX,
];

/// Tokens for textual formats (JSON, TOML, CSV, XML): structure, escapes, numbers at the edges
/// of every integer type, and text that normalisers trip on.
pub const TEXT_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "[[",
    "]]",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    ",",
    ":",
    "=",
    ".",
    "\n",
    "\r\n",
    "\t",
    " ",
    "\\",
    "\\u0000",
    "\\ud800",
    "\\uDFFF",
    "\u{0}",
    "\u{feff}",
    "\u{202e}",
    "é",
    "𝄞",
    "null",
    "true",
    "false",
    "0",
    "-0",
    "-1",
    "1e308",
    "1e-400",
    "0.1",
    "1.",
    ".5",
    "NaN",
    "inf",
    "255",
    "256",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "00000000000000000000000000000000000001",
    "0x10",
    "+",
    "-",
    "#",
    "<",
    ">",
    "</",
    "/>",
    "<?xml version=\"1.0\"?>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<!DOCTYPE a [<!ENTITY e \"x\">]>",
    "&amp;",
    "&lt;",
    "&#0;",
    "&#x110000;",
    "&e;",
    "xmlns=\"urn:x\"",
    "a:",
    "\"a\"",
    "\"\"",
    "[]",
    "{}",
    "+250-70610388",
    "USD",
    "XXX",
];

/// A fuzz input: bytes, shown as hex and as lossy text.
#[derive(Clone)]
pub struct Input(pub Vec<u8>);

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes: hex {} / text {:?}",
            self.0.len(),
            hex(&self.0),
            String::from_utf8_lossy(&self.0)
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One change to a sample. Positions and lengths are taken modulo the input's length, so
/// every mutation applies to every input (and shrinks towards the start and the small).
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Flip one bit.
    FlipBit { at: usize, bit: u8 },
    /// Overwrite one byte.
    SetByte { at: usize, value: u8 },
    /// Keep only the first `at` bytes.
    Truncate { at: usize },
    /// Remove a run of bytes.
    Remove { at: usize, len: usize },
    /// Insert bytes.
    Insert { at: usize, bytes: Vec<u8> },
    /// Insert a token of the format (see [`TEXT_TOKENS`] and the target's own).
    InsertToken { at: usize, token: usize },
    /// Repeat a run of bytes in place.
    Duplicate { at: usize, len: usize, times: u8 },
    /// Overwrite from `at` with a run of another sample (or of this one).
    Splice {
        at: usize,
        seed: usize,
        from: usize,
        len: usize,
    },
    /// Overwrite `width` bytes at `at` with a big-endian length from [`INTERESTING_LENGTHS`]
    /// (or its low bytes).
    LengthField { at: usize, width: u8, value: usize },
    /// Write a length from [`INTERESTING_LENGTHS`] as decimal text.
    DecimalLength { at: usize, value: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        3 => (at, 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        2 => (at, prop_oneof![Just(0u8), Just(0xff), Just(0x7f), Just(0x80), any::<u8>()])
            .prop_map(|(at, value)| Mutation::SetByte { at, value }),
        1 => at.prop_map(|at| Mutation::Truncate { at }),
        2 => (at, 1usize..64).prop_map(|(at, len)| Mutation::Remove { at, len }),
        2 => (at, proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        3 => (at, any::<usize>()).prop_map(|(at, token)| Mutation::InsertToken { at, token }),
        1 => (at, 1usize..64, 1u8..8)
            .prop_map(|(at, len, times)| Mutation::Duplicate { at, len, times }),
        2 => (at, any::<usize>(), any::<usize>(), 1usize..256)
            .prop_map(|(at, seed, from, len)| Mutation::Splice { at, seed, from, len }),
        3 => (at, prop_oneof![Just(8u8), Just(4), Just(2), Just(1)], any::<usize>())
            .prop_map(|(at, width, value)| Mutation::LengthField { at, width, value }),
        1 => (at, any::<usize>()).prop_map(|(at, value)| Mutation::DecimalLength { at, value }),
    ]
}

impl Mutation {
    /// Apply to `input`; `seeds` for splices, `tokens` for insertions.
    pub fn apply(&self, input: &mut Vec<u8>, seeds: &[Vec<u8>], tokens: &[&[u8]]) {
        let pos = |at: usize, len: usize| at % (len + 1);
        match self {
            Mutation::FlipBit { at, bit } => {
                if !input.is_empty() {
                    let i = at % input.len();
                    input[i] ^= 1 << (bit % 8);
                }
            }
            Mutation::SetByte { at, value } => {
                if !input.is_empty() {
                    let i = at % input.len();
                    input[i] = *value;
                }
            }
            Mutation::Truncate { at } => input.truncate(pos(*at, input.len())),
            Mutation::Remove { at, len } => {
                let start = pos(*at, input.len());
                let end = (start + len).min(input.len());
                input.drain(start..end);
            }
            Mutation::Insert { at, bytes } => {
                let i = pos(*at, input.len());
                input.splice(i..i, bytes.iter().copied());
            }
            Mutation::InsertToken { at, token } => {
                if !tokens.is_empty() {
                    let i = pos(*at, input.len());
                    let t = tokens[token % tokens.len()];
                    input.splice(i..i, t.iter().copied());
                }
            }
            Mutation::Duplicate { at, len, times } => {
                if !input.is_empty() {
                    let start = at % input.len();
                    let end = (start + len).min(input.len());
                    let run = input[start..end].to_vec();
                    for _ in 0..*times {
                        input.splice(end..end, run.iter().copied());
                    }
                }
            }
            Mutation::Splice {
                at,
                seed,
                from,
                len,
            } => {
                let other = if seeds.is_empty() {
                    input.clone()
                } else {
                    seeds[seed % seeds.len()].clone()
                };
                if !other.is_empty() {
                    let from = from % other.len();
                    let run = &other[from..(from + len).min(other.len())];
                    let i = pos(*at, input.len());
                    let end = (i + run.len()).min(input.len());
                    input.splice(i..end, run.iter().copied());
                }
            }
            Mutation::LengthField { at, width, value } => {
                let value = INTERESTING_LENGTHS[value % INTERESTING_LENGTHS.len()];
                let width = usize::from(*width).clamp(1, 8);
                let bytes = value.to_be_bytes();
                let field = &bytes[8 - width..];
                let i = pos(*at, input.len());
                let end = (i + width).min(input.len());
                input.splice(i..end, field.iter().copied());
            }
            Mutation::DecimalLength { at, value } => {
                let value = INTERESTING_LENGTHS[value % INTERESTING_LENGTHS.len()];
                let i = pos(*at, input.len());
                input.splice(i..i, value.to_string().into_bytes());
            }
        }
    }
}

/// A target: its name (the corpus folder), its seeds, and the tokens of its format.
pub struct Target {
    name: String,
    seeds: Vec<Vec<u8>>,
    tokens: Vec<Vec<u8>>,
}

/// Where a target's committed corpus lives.
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

impl Target {
    /// The target named `name`, seeded with its committed corpus (every file of
    /// `fuzz/corpus/<name>/`, in name order).
    pub fn new(name: &str) -> Target {
        let dir = corpus_dir(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        let seeds = files
            .iter()
            .filter(|p| p.is_file())
            .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("corpus file {p:?}: {e}")))
            .collect();
        Target {
            name: name.to_string(),
            seeds,
            tokens: TEXT_TOKENS.iter().map(|t| t.as_bytes().to_vec()).collect(),
        }
    }

    /// Add samples made by the test itself (real values through the real encoders). With
    /// `SETTLENET_FUZZ_WRITE_CORPUS=1` they are also written to the corpus folder as
    /// `<name>` (how the committed seeds were made).
    pub fn samples(mut self, samples: Vec<(String, Vec<u8>)>) -> Target {
        let write = std::env::var("SETTLENET_FUZZ_WRITE_CORPUS").is_ok_and(|v| v == "1");
        if write {
            let dir = corpus_dir(&self.name);
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
            for (name, bytes) in &samples {
                let path = dir.join(name);
                std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            }
        }
        for (_, bytes) in samples {
            if !self.seeds.contains(&bytes) {
                self.seeds.push(bytes);
            }
        }
        self
    }

    /// Add seeds read from files outside the corpus (e.g. a crate's test data).
    pub fn files(mut self, paths: &[PathBuf]) -> Target {
        for p in paths {
            let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("seed file {p:?}: {e}"));
            if !self.seeds.contains(&bytes) {
                self.seeds.push(bytes);
            }
        }
        self
    }

    /// Add tokens of the format (field names, tags, keywords) to the dictionary.
    pub fn tokens(mut self, tokens: &[&str]) -> Target {
        self.tokens
            .extend(tokens.iter().map(|t| t.as_bytes().to_vec()));
        self
    }

    /// The seeds (corpus files and samples).
    pub fn seeds(&self) -> &[Vec<u8>] {
        &self.seeds
    }

    /// Replay every seed, then [`cases`] random inputs, through `check`, which must not panic
    /// (and may assert properties of what it decoded). Panics with the shrunk input on the
    /// first failure, after saving it to the corpus as `crash-<hash>`.
    pub fn run(self, check: impl FnMut(&[u8])) {
        let check = std::cell::RefCell::new(check);
        limit_heap();
        ACCEPTED.with(|c| c.set(0));
        assert!(
            !self.seeds.is_empty(),
            "fuzz target {}: no seeds (corpus folder {:?} empty and no samples)",
            self.name,
            corpus_dir(&self.name)
        );
        let trace = std::env::var("SETTLENET_FUZZ_TRACE").is_ok_and(|v| v == "1");
        let timed = |bytes: &[u8]| {
            if trace {
                eprintln!("fuzz {}: {:?}", self.name, Input(bytes.to_vec()));
            }
            let started = Instant::now();
            (check.borrow_mut())(bytes);
            let took = started.elapsed();
            assert!(
                took <= Duration::from_millis(SLOW_CASE_MS),
                "fuzz target {}: one input took {took:?} (limit {SLOW_CASE_MS} ms)",
                self.name
            );
        };
        for seed in &self.seeds {
            timed(seed);
        }
        let seeds = Arc::new(self.seeds.clone());
        let tokens = Arc::new(self.tokens.clone());
        let strategy = inputs(seeds, tokens);
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            // Inputs are cheap; shrinking a failure may take many steps.
            max_shrink_iters: 4_096,
            ..Config::default()
        });
        let result = runner.run(&strategy, |input| {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| timed(&input.0))) {
                Ok(()) => Ok(()),
                Err(panic) => Err(TestCaseError::fail(panic_text(&*panic))),
            }
        });
        if std::env::var("SETTLENET_FUZZ_STATS").is_ok_and(|v| v == "1") {
            eprintln!(
                "fuzz target {}: {} seeds + {} cases, {} inputs accepted",
                self.name,
                self.seeds.len(),
                cases(),
                ACCEPTED.with(|c| c.get())
            );
        }
        if let Err(failure) = result {
            let saved = save_crash(&self.name, &failure);
            panic!(
                "fuzz target {} failed (shrunk input saved as {saved}: keep it as a \
                 regression case once fixed): {failure}",
                self.name
            );
        }
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

fn save_crash(target: &str, failure: &proptest::test_runner::TestError<Input>) -> String {
    let proptest::test_runner::TestError::Fail(_, input) = failure else {
        return "(nothing: the run was aborted, not failed)".into();
    };
    // FNV-1a: a stable name for the same input, no dependency.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in &input.0 {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    let dir = corpus_dir(target);
    let path = dir.join(format!("crash-{h:016x}"));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &input.0)) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(not saved: {e})"),
    }
}

fn inputs(seeds: Arc<Vec<Vec<u8>>>, tokens: Arc<Vec<Vec<u8>>>) -> BoxedStrategy<Input> {
    let token_count = tokens.len();
    let seed_count = seeds.len();
    let arbitrary = proptest::collection::vec(any::<u8>(), 0..ARBITRARY_LEN_MAX)
        .prop_map(Input)
        .boxed();
    let tokens_for_text = Arc::clone(&tokens);
    let token_soup = proptest::collection::vec(
        prop_oneof![
            3 => (0..token_count).prop_map(Some),
            1 => Just(None),
        ],
        0..64,
    )
    .prop_flat_map(move |picks| {
        let tokens = Arc::clone(&tokens_for_text);
        proptest::collection::vec(any::<u8>(), picks.len()).prop_map(move |bytes| {
            let mut out = Vec::new();
            for (pick, byte) in picks.iter().zip(bytes) {
                match pick {
                    Some(t) => out.extend_from_slice(&tokens[*t]),
                    None => out.push(byte),
                }
            }
            Input(out)
        })
    })
    .boxed();
    // Mostly one or two mutations: a sample changed a little still gets past the first
    // checks and reaches the code behind them.
    let mutations = prop_oneof![
        4 => proptest::collection::vec(mutation(), 1..2),
        2 => proptest::collection::vec(mutation(), 2..4),
        1 => proptest::collection::vec(mutation(), 4..8),
    ];
    let mutated = (0..seed_count, mutations)
        .prop_map(move |(seed, mutations)| {
            let token_refs: Vec<&[u8]> = tokens.iter().map(Vec::as_slice).collect();
            let mut bytes = seeds[seed].clone();
            for m in &mutations {
                m.apply(&mut bytes, &seeds, &token_refs);
            }
            Input(bytes)
        })
        .boxed();
    prop_oneof![
        1 => arbitrary,
        1 => token_soup,
        8 => mutated,
    ]
    .boxed()
}

/// Cap the heap at [`HEAP_LIMIT_BYTES`] above what the process holds now (once per process).
fn limit_heap() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let limit = HEAP.allocated().saturating_add(HEAP_LIMIT_BYTES);
        // Fails only if more is allocated than the new limit, which cannot be the case here.
        let _ = HEAP.set_limit(limit);
    });
}

thread_local! {
    /// Inputs the current target's decoder accepted (see [`accepted`]).
    static ACCEPTED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Count the current input as accepted by the decoder under test: with
/// `SETTLENET_FUZZ_STATS=1` each target prints how many of its inputs got past decoding (a
/// target whose mutations never decode explores nothing behind the decoder).
pub fn accepted() {
    ACCEPTED.with(|c| c.set(c.get() + 1));
}

/// Bytes the fuzz test binary holds on its heap now.
pub fn heap_allocated() -> usize {
    HEAP.allocated()
}

/// The text of an input, if it is UTF-8 (text decoders read files with `read_to_string`,
/// which refuses anything else before the decoder sees it).
pub fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_apply_to_empty_and_short_inputs() {
        let seeds = vec![b"abc".to_vec(), Vec::new()];
        let tokens: Vec<&[u8]> = vec![b"{"];
        for m in [
            Mutation::FlipBit { at: 7, bit: 9 },
            Mutation::SetByte { at: 100, value: 0 },
            Mutation::Truncate { at: 5 },
            Mutation::Remove { at: 1, len: 100 },
            Mutation::Insert {
                at: 9,
                bytes: vec![1],
            },
            Mutation::InsertToken { at: 2, token: 5 },
            Mutation::Duplicate {
                at: 1,
                len: 9,
                times: 2,
            },
            Mutation::Splice {
                at: 1,
                seed: 3,
                from: 2,
                len: 9,
            },
            Mutation::LengthField {
                at: 0,
                width: 8,
                value: 20,
            },
            Mutation::DecimalLength { at: 0, value: 20 },
        ] {
            for s in &seeds {
                let mut input = s.clone();
                m.apply(&mut input, &seeds, &tokens);
            }
        }
    }

    #[test]
    fn the_heap_is_capped_once_fuzzing_starts() {
        limit_heap();
        // `try_reserve` reports a refused allocation instead of aborting: what a forged
        // length would get, here, is a refusal.
        let mut v: Vec<u8> = Vec::new();
        assert!(v.try_reserve(HEAP_LIMIT_BYTES + 1).is_err());
        assert!(v.try_reserve(1024).is_ok());
    }

    #[test]
    fn a_length_field_lands_big_endian() {
        let mut input = vec![0u8; 10];
        // INTERESTING_LENGTHS[12] = 0xffff_ffff.
        Mutation::LengthField {
            at: 1,
            width: 8,
            value: 12,
        }
        .apply(&mut input, &[], &[]);
        assert_eq!(input, [0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0]);
    }
}
