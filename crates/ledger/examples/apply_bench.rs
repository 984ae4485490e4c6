//! Per-block execution cost of the ledger alone: no signatures, network or disk.
//!
//! Opens `ACCOUNTS` wallets at two banks (`CreateWallet` + `Issue`, untimed), then applies
//! `BLOCKS` blocks of `TXS_PER_BLOCK` transfers between pseudo-random wallets (a fixed-seed
//! xorshift, so every run applies the same blocks) and times only `Ledger::apply_block`.
//! Roughly half the transfers cross banks and so also move the two banks' positions.
//!
//! ```sh
//! cargo run --release -p settlenet-ledger --example apply_bench
//! cargo run --release -p settlenet-ledger --example apply_bench -- 500 2000 100000
//! ```
//! Arguments (all optional): blocks, transfers per block, accounts.
//!
//! Signatures are all zero: the ledger trusts its caller to have verified them (the node
//! batch-verifies before execution), so they play no part in what is measured here.

use settlenet_crypto::Keypair;
use settlenet_ledger::test_util::{GenesisBuilder, MemberSpec};
use settlenet_ledger::Ledger;
use settlenet_types::{
    AccountId, Amount, Currency, Genesis, Height, MemberId, Operation, Role, Signature,
    SignedTransaction, Transaction, TxNonce, TX_VALIDITY_MAX_MS,
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

fn tx(signer: &Keypair, id: u64, op: Operation) -> SignedTransaction {
    SignedTransaction {
        tx: Transaction::new(CHAIN, signer.public(), nonce(id), op, TX_VALIDITY_MAX_MS),
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
    let issuers = [Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32])];
    let owner = Keypair::from_seed([10; 32]);
    let g = genesis(&issuers);
    let mut ledger = Ledger::from_genesis(&g).expect("genesis");
    let mut next_id = 0u64;
    let mut height = 0u64;
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
        let txs: Vec<SignedTransaction> = chunk
            .iter()
            .map(|(bank, op)| {
                next_id += 1;
                tx(&issuers[*bank], next_id, op.clone())
            })
            .collect();
        apply(&mut ledger, &txs);
    }
    drop(ops);
    let setup = setup_started.elapsed();

    // Measured: `blocks` blocks of transfers, all built beforehand (untimed).
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut per_block_times: Vec<Duration> = Vec::with_capacity(blocks as usize);
    let mut all_blocks: Vec<Vec<SignedTransaction>> = Vec::with_capacity(blocks as usize);
    for _ in 0..blocks {
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
                )
            })
            .collect();
        all_blocks.push(txs);
    }
    let cpu_before = thread_cpu_ticks();
    for txs in &all_blocks {
        per_block_times.push(apply(&mut ledger, txs));
    }
    let cpu_after = thread_cpu_ticks();
    let total: Duration = per_block_times.iter().sum();
    per_block_times.sort();
    let pct = |p: usize| per_block_times[(per_block_times.len() - 1) * p / 100];
    let transfers = blocks * per_block;
    println!(
        "setup: {accounts} wallets opened and funded in {:.2} s ({} blocks)",
        setup.as_secs_f64(),
        accounts * 2 / per_block.max(1)
    );
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
        // wall time (it excludes time spent waiting for a core).
        let cpu_s = (after - before) as f64 / 100.0;
        println!(
            "cpu: {cpu_s:.2} s of this thread while applying ({:.0} txs per cpu-second)",
            transfers as f64 / cpu_s
        );
    }
    println!(
        "final: height {}, {} accounts, {} records, state root {}",
        ledger.height(),
        ledger.account_count(),
        ledger.record_count(),
        ledger.state_root()
    );
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
