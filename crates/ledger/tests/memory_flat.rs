//! Issue 18, the CI-sized check that memory stays flat as history grows: a ledger that has
//! executed 4N transfers holds no more than one that executed N, plus a small allowance, because
//! records leave the live set when their validity ends (and the history keeps only its peaks).
//!
//! Measured as the process's resident memory (`/proc/self/status`), in a test binary of its own
//! (one test: nothing else allocates meanwhile). Measured: 64 MB after N, 72 MB after 4N. With
//! records that never leave the live set (this test with a validity of an hour, longer than the
//! run), the 300,000 transfers between the two readings grew the process from 78 MB to 148 MB
//! and the test fails; the bound below is 24 MB. The figures of a long run are in
//! docs/benchmarks.md (`apply_bench`).

use settlenet_crypto::Keypair;
use settlenet_ledger::test_util::{GenesisBuilder, MemberSpec};
use settlenet_ledger::Ledger;
use settlenet_types::{
    AccountId, Amount, Currency, MemberId, Operation, Role, Signature, SignedTransaction,
    Transaction, TxNonce,
};

const CHAIN: &str = "memory-flat";
const WALLETS: u64 = 2_000;
const PER_BLOCK: u64 = 1_000;
/// Transfers before the first reading (N); the second comes after 4N.
const N: u64 = 100_000;
/// Each transaction is valid this long after its block (blocks are a second apart): about 30
/// blocks of transactions are live at any time.
const VALIDITY_MS: u64 = 30_000;
/// Largest growth of resident memory allowed between N and 4N transfers.
const GROWTH_MAX_MB: u64 = 24;

fn usd() -> Currency {
    Currency(*b"USD")
}

fn wallet(n: u64) -> AccountId {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.to_be_bytes());
    b[8] = 0xAA;
    AccountId(b)
}

fn tx(signer: &Keypair, n: u64, op: Operation, valid_until_ms: u64) -> SignedTransaction {
    let mut nonce = [0u8; 16];
    nonce[8..].copy_from_slice(&n.to_be_bytes());
    SignedTransaction {
        tx: Transaction::new(CHAIN, signer.public(), TxNonce(nonce), op, valid_until_ms),
        signature: Signature([0; 64]),
    }
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .expect("VmRSS")
}

#[test]
fn memory_after_4n_transfers_is_within_a_bound_of_memory_after_n() {
    let issuer = Keypair::from_seed([1; 32]);
    let owner = Keypair::from_seed([2; 32]);
    let g = GenesisBuilder::new(CHAIN)
        .currency(usd(), 2)
        .member(MemberSpec::bank("bank-a").staff("issuer", issuer.public(), &[Role::Issuer]))
        .validators(&[Keypair::from_seed([9; 32]).public()])
        .build();
    let mut ledger = Ledger::from_genesis(&g).expect("genesis");
    let mut n = 0u64;
    let apply = |ledger: &mut Ledger, txs: Vec<SignedTransaction>| {
        let h = ledger.height().next();
        let out = ledger.apply_block(h, h.0 * 1_000, &txs);
        assert!(out.outcomes.iter().all(|o| o.result.is_ok()), "at {h}");
    };
    // Open and fund the wallets.
    let mut setup = Vec::new();
    for w in 0..WALLETS {
        let until = (ledger.height().0 + 1) * 1_000 + VALIDITY_MS;
        n += 1;
        setup.push(tx(
            &issuer,
            n,
            Operation::CreateWallet {
                account: wallet(w),
                issuer: MemberId(0),
                owner: owner.public(),
                currency: usd(),
            },
            until,
        ));
        n += 1;
        setup.push(tx(
            &issuer,
            n,
            Operation::Issue {
                wallet: wallet(w),
                amount: Amount(1_000_000_000),
            },
            until,
        ));
    }
    apply(&mut ledger, setup);
    let mut transfers = 0u64;
    let mut run = |ledger: &mut Ledger, count: u64| {
        for _ in 0..count / PER_BLOCK {
            let h = ledger.height().0 + 1;
            let txs = (0..PER_BLOCK)
                .map(|i| {
                    n += 1;
                    transfers += 1;
                    let from = (transfers * 7 + i) % WALLETS;
                    tx(
                        &owner,
                        n,
                        Operation::Transfer {
                            from: wallet(from),
                            to: wallet((from + 1 + i % 13) % WALLETS),
                            amount: Amount(1),
                        },
                        h * 1_000 + VALIDITY_MS,
                    )
                })
                .collect();
            apply(ledger, txs);
        }
    };
    run(&mut ledger, N);
    let live_at_n = ledger.record_count() as u64;
    let rss_n = rss_kb();
    run(&mut ledger, 3 * N);
    let live_at_4n = ledger.record_count() as u64;
    let rss_4n = rss_kb();
    let window = (VALIDITY_MS / 1_000 + 1) * PER_BLOCK;
    eprintln!(
        "after {N} transfers: {live_at_n} live records, RSS {} MB; after {}: {live_at_4n} live \
         records, RSS {} MB; {} history leaves",
        rss_n / 1024,
        4 * N,
        rss_4n / 1024,
        ledger.history().size
    );
    assert!(
        live_at_n <= window && live_at_4n <= window,
        "live records bounded by the window"
    );
    assert!(
        rss_4n <= rss_n + GROWTH_MAX_MB * 1024,
        "resident memory grew from {} MB to {} MB between {N} and {} transfers",
        rss_n / 1024,
        rss_4n / 1024,
        4 * N
    );
}
