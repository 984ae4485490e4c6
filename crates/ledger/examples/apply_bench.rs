//! Per-block execution cost of the ledger alone: no signatures, network or disk.
//!
//! Opens `ACCOUNTS` wallets at two banks (`CreateWallet` + `Issue`, untimed), then applies
//! `BLOCKS` blocks of `TXS_PER_BLOCK` transfers between pseudo-random wallets (a fixed-seed
//! xorshift, so every run applies the same blocks) and times only `Ledger::apply_block`.
//! Roughly half the transfers cross banks and so also move the two banks' positions. Blocks are
//! a second apart in consensus time and every transaction is valid for `VALIDITY_MS` after its
//! block (so the live idempotency set holds `VALIDITY_MS / 1000` blocks of transactions).
//! Blocks are built one at a time (untimed), so a run of any length holds one block of input.
//!
//! ```sh
//! cargo run --release -p settlenet-ledger --example apply_bench
//! cargo run --release -p settlenet-ledger --example apply_bench -- 500 2000 100000
//! cargo run --release -p settlenet-ledger --example apply_bench -- 25000 2000 100000 600000 1000000
//! ```
//! Arguments (all optional): blocks (500), transfers per block (2,000), accounts (100,000),
//! validity in ms (600,000), and how many transfers between progress lines (1,000,000): each
//! line reports that segment's CPU per transfer, the live records and the process's RSS, so a
//! long run shows whether cost and memory stay flat as history grows.
//!
//! Signatures are all zero: the ledger trusts its caller to have verified them (the node
//! batch-verifies before execution), so they play no part in what is measured here.

use settlenet_crypto::Keypair;
use settlenet_ledger::test_util::{GenesisBuilder, MemberSpec};
use settlenet_ledger::Ledger;
use settlenet_types::{
    AccountId, Amount, Currency, Genesis, Height, MemberId, Operation, Role, Signature,
    SignedTransaction, Transaction, TxNonce,
};
use std::time::{Duration, Instant};

const CHAIN: &str = "apply-bench";

fn usd() -> Currency {
    Currency(*b"USD")
}

fn genesis(issuers: &[Keypair; 2]) -> Genesis {
    let bank = |name: &str, kp: &Keypair| {
        MemberSpec::bank(name).staff("issuer", kp.public(), &[Role::Issuer])
    };
    GenesisBuilder::new(CHAIN)
        .currency(usd(), 2)
        .member(bank("bank-a", &issuers[0]))
        .member(bank("bank-b", &issuers[1]))
        .validators(&[Keypair::from_seed([100; 32]).public()])
        .build()
}

/// Random-looking nonces, as clients choose them (UUID-like), from a counter.
fn nonce(n: u64) -> TxNonce {
    let digest = blake3::hash(&n.to_be_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest.as_bytes()[..16]);
    TxNonce(b)
}

fn wallet(n: u64) -> AccountId {
    let digest = blake3::hash(&[b"wallet".as_slice(), &n.to_be_bytes()].concat());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest.as_bytes()[..16]);
    AccountId(b)
}

fn tx(signer: &Keypair, id: u64, op: Operation, valid_until_ms: u64) -> SignedTransaction {
    SignedTransaction {
        tx: Transaction::new(CHAIN, signer.public(), nonce(id), op, valid_until_ms),
        signature: Signature([0; 64]),
    }
}

/// xorshift64*: deterministic, good enough to pick wallets.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn arg(index: usize, default: u64) -> u64 {
    std::env::args()
        .nth(index)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let blocks = arg(1, 500);
    let per_block = arg(2, 2_000);
    let accounts = arg(3, 100_000);
    let validity_ms = arg(4, 600_000);
    let report_every = arg(5, 1_000_000).max(1);
    let issuers = [Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32])];
    let owner = Keypair::from_seed([10; 32]);
    let g = genesis(&issuers);
    let mut ledger = Ledger::from_genesis(&g).expect("genesis");
    let mut next_id = 0u64;
    let mut height = 0u64;
    // Block h is stamped h seconds; its transactions are valid `validity_ms` after that.
    let until = |h: u64| h * 1_000 + validity_ms;
    let mut apply = |ledger: &mut Ledger, txs: &[SignedTransaction]| {
        height += 1;
        let started = Instant::now();
        let outcome = ledger.apply_block(Height(height), height * 1_000, txs);
        let took = started.elapsed();
        assert!(
            outcome.outcomes.iter().all(|o| o.result.is_ok()),
            "a benchmark transaction failed at height {height}"
        );
        took
    };

    // Setup (untimed): open and fund every wallet, blocks of `per_block`.
    let setup_started = Instant::now();
    let mut ops = Vec::with_capacity(2 * accounts as usize);
    for n in 0..accounts {
        let bank = (n % 2) as usize;
        ops.push((
            bank,
            Operation::CreateWallet {
                account: wallet(n),
                issuer: MemberId(bank as u16),
                owner: owner.public(),
                currency: usd(),
            },
        ));
        ops.push((
            bank,
            Operation::Issue {
                wallet: wallet(n),
                amount: Amount(1_000_000),
            },
        ));
    }
    for chunk in ops.chunks(per_block as usize) {
        let h = ledger.height().0 + 1;
        let txs: Vec<SignedTransaction> = chunk
            .iter()
            .map(|(bank, op)| {
                next_id += 1;
                tx(&issuers[*bank], next_id, op.clone(), until(h))
            })
            .collect();
        apply(&mut ledger, &txs);
    }
    drop(ops);
    let setup = setup_started.elapsed();
    println!(
        "setup: {accounts} wallets opened and funded in {:.2} s ({} blocks); validity {validity_ms} ms",
        setup.as_secs_f64(),
        accounts * 2 / per_block.max(1)
    );
    println!("transfers  live_records  cpu_us_per_transfer  wall_ms_per_block  rss_mb  hwm_mb");

    // Measured: `blocks` blocks of transfers, each built just before it is applied (untimed).
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut per_block_times: Vec<Duration> = Vec::with_capacity(blocks as usize);
    let cpu_before = thread_cpu_ticks();
    let mut segment = (thread_cpu_ticks(), Duration::ZERO, 0u64, 0u64);
    let mut done = 0u64;
    for _ in 0..blocks {
        let h = ledger.height().0 + 1;
        let txs: Vec<SignedTransaction> = (0..per_block)
            .map(|_| {
                let from = rng.below(accounts);
                let mut to = rng.below(accounts);
                if to == from {
                    to = (to + 1) % accounts;
                }
                next_id += 1;
                tx(
                    &owner,
                    next_id,
                    Operation::Transfer {
                        from: wallet(from),
                        to: wallet(to),
                        amount: Amount(1 + rng.below(100)),
                    },
                    until(h),
                )
            })
            .collect();
        // Only the apply is timed; the segment's CPU excludes building (measured around it).
        let cpu0 = thread_cpu_ticks();
        let took = apply(&mut ledger, &txs);
        let cpu1 = thread_cpu_ticks();
        per_block_times.push(took);
        segment.1 += took;
        segment.2 += match (cpu0, cpu1) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        segment.3 += 1;
        done += per_block;
        if done % report_every < per_block || done == blocks * per_block {
            let (rss, hwm) = memory_mb();
            println!(
                "{done:>9}  {:>12}  {:>19.2}  {:>17.2}  {rss:>6}  {hwm:>6}",
                ledger.record_count(),
                segment.2 as f64 * 1e4 / (segment.3 * per_block) as f64,
                segment.1.as_secs_f64() * 1e3 / segment.3 as f64,
            );
            segment = (thread_cpu_ticks(), Duration::ZERO, 0, 0);
        }
    }
    let cpu_after = thread_cpu_ticks();
    let total: Duration = per_block_times.iter().sum();
    per_block_times.sort();
    let pct = |p: usize| per_block_times[(per_block_times.len() - 1) * p / 100];
    let transfers = blocks * per_block;
    println!(
        "applied {blocks} blocks x {per_block} transfers among {accounts} wallets in {:.3} s",
        total.as_secs_f64()
    );
    println!(
        "throughput: {:.0} txs/s; per block: mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms",
        transfers as f64 / total.as_secs_f64(),
        total.as_secs_f64() * 1e3 / blocks as f64,
        pct(50).as_secs_f64() * 1e3,
        pct(99).as_secs_f64() * 1e3,
    );
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        // The machine is shared: CPU time of this thread is less sensitive to other load than
        // wall time (it excludes time spent waiting for a core). This total includes building
        // the blocks; the per-segment lines above do not.
        let cpu_s = (after - before) as f64 / 100.0;
        println!("cpu: {cpu_s:.2} s of this thread, building and applying");
    }
    println!(
        "final: height {}, {} accounts, {} live records, {} history leaves, state root {}",
        ledger.height(),
        ledger.account_count(),
        ledger.record_count(),
        ledger.history().size,
        ledger.state_root()
    );
}

/// The process's resident memory and its peak, in MB (`/proc/self/status`); 0 elsewhere.
fn memory_mb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system time of the calling thread, in 1/100 s (Linux `/proc/thread-self/stat`, whose
/// clock ticks are 100 Hz on every common configuration); `None` elsewhere.
fn thread_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}
