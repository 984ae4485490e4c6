//! The simulated network's genesis and the client traffic its primaries propose.
//!
//! Two banks, each with an issuer key (bank-b's also acquires merchants), settlement accounts
//! funded at genesis and floats; [`WALLETS`] wallets (alternating issuers) and a merchant at
//! bank-b created and funded by the first transactions of the catalogue, then transfers between
//! the wallets, and merchant payments: holds (authorize, then capture or void, or left to expire
//! by consensus time) and charge requests (created by the merchant with short expiries,
//! approved by a wallet or left to expire), so that the expiry sweeps and the idle primary's
//! empty block at a deadline run under the simulated faults. Every transaction is signed for real by the key
//! the ledger expects (or, on purpose, by a wrong one). Some fail (insufficient funds, same
//! account, wrong signer, unknown wallet when a transfer lands before the wallet's creation),
//! some are retries of earlier ids with the same body (idempotent duplicates) and some reuse an
//! earlier id with another body (`exists_with_different_body`).

use crate::error::Violation;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use settlenet_crypto::Keypair;
use settlenet_ledger::test_util::{GenesisBuilder, MemberSpec};
use settlenet_types::{
    AccountId, Amount, ChargeId, ConsensusParams, Currency, Genesis, HoldId, MemberId, Operation,
    Role, SignedTransaction, Transaction, TxNonce, TX_VALIDITY_MAX_MS,
};

/// The simulated network's chain id.
pub const CHAIN: &str = "sim-chain";
/// Heights in flight at once.
pub const MAX_IN_FLIGHT: u64 = 3;
/// Wallets the workload opens.
pub const WALLETS: usize = 6;
/// Transfers in the catalogue (after the creations and issues).
pub const TRANSFERS: usize = 36;
/// Most transactions in one proposed block.
pub const BLOCK_TXS_MAX: usize = 3;
/// The two banks.
const BANKS: [&str; 2] = ["bank-a", "bank-b"];

/// The currency of every account.
pub fn usd() -> Currency {
    Currency(*b"USD")
}

/// Validator keys (fixed, so that a seed only chooses faults and traffic).
pub fn validator_keys(n: usize) -> Vec<Keypair> {
    (0..n)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            Keypair::from_seed(seed)
        })
        .collect()
}

/// The issuer keys of the two banks, then the wallet owners' keys, then the merchant's key.
fn client_keys() -> Vec<Keypair> {
    (0..BANKS.len() + WALLETS + 1)
        .map(|i| Keypair::from_seed([0x40 + i as u8; 32]))
        .collect()
}

/// The merchant key's index in [`client_keys`].
const MERCHANT_KEY: usize = BANKS.len() + WALLETS;

/// The merchant account (at bank-b).
pub fn merchant_id() -> AccountId {
    AccountId([0xB0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])
}

/// Wallet `i`'s account id.
pub fn wallet_id(i: usize) -> AccountId {
    let mut id = [0u8; 16];
    id[0] = 0xA0;
    id[1] = i as u8;
    id[15] = 1;
    AccountId(id)
}

/// The genesis of `n` validators (run by bank-a) and the two banks' funded accounts (the
/// workspace's test genesis builder, `settlenet_ledger::test_util`).
pub fn genesis(validators: &[Keypair]) -> Genesis {
    let keys = client_keys();
    let mut builder = GenesisBuilder::new(CHAIN)
        .currency(usd(), 2)
        .consensus(ConsensusParams {
            max_in_flight: MAX_IN_FLIGHT,
            ..ConsensusParams::default()
        });
    for (i, name) in BANKS.iter().enumerate() {
        // bank-b's staff key also acquires (it opens the merchant).
        let roles: &[Role] = if i == 1 {
            &[Role::Issuer, Role::Acquirer]
        } else {
            &[Role::Issuer]
        };
        builder = builder.member(MemberSpec::bank(name).staff("issuer", keys[i].public(), roles));
    }
    for (i, name) in BANKS.iter().enumerate() {
        builder = builder
            .settlement(name, usd(), 1_000_000 * (i as u64 + 1))
            .float(name, usd(), 0);
    }
    let keys: Vec<_> = validators.iter().map(Keypair::public).collect();
    builder.validators(&keys).build()
}

/// One transaction of the catalogue, unsigned: the key index that signs it and the operation.
#[derive(Clone, Debug)]
struct Entry {
    nonce: TxNonce,
    signer: usize,
    op: Operation,
}

/// The client traffic of one run: a catalogue drawn from in order (a shared mempool), plus
/// retries of what was drawn before.
pub struct Workload {
    keys: Vec<Keypair>,
    catalogue: Vec<Entry>,
    /// The next catalogue entry to propose.
    cursor: usize,
    /// Transactions drawn so far (for retries), signed.
    drawn: Vec<(usize, SignedTransaction)>,
    /// Holds and charge requests the catalogue created so far (id, amount), for the later
    /// entries that capture, void or approve them.
    holds: Vec<(HoldId, u64)>,
    charges: Vec<(ChargeId, u64)>,
}

impl Workload {
    /// The catalogue for one run; amounts, senders and receivers come from `rng`.
    pub fn new(rng: &mut ChaCha8Rng) -> Workload {
        let keys = client_keys();
        let mut catalogue = Vec::new();
        let mut next_id = 0u64;
        let mut push = |signer: usize, op: Operation| {
            next_id += 1;
            let mut id = [0u8; 16];
            id[0] = 0x51;
            id[8..].copy_from_slice(&next_id.to_be_bytes());
            catalogue.push(Entry {
                nonce: TxNonce(id),
                signer,
                op,
            });
        };
        let owner = |w: usize| BANKS.len() + w;
        for w in 0..WALLETS {
            push(
                w % BANKS.len(),
                Operation::CreateWallet {
                    account: wallet_id(w),
                    issuer: MemberId((w % BANKS.len()) as u16),
                    owner: keys[owner(w)].public(),
                    currency: usd(),
                },
            );
        }
        for w in 0..WALLETS {
            push(
                w % BANKS.len(),
                Operation::Issue {
                    wallet: wallet_id(w),
                    amount: Amount(rng.gen_range(500..=5_000)),
                },
            );
        }
        push(
            1,
            Operation::RegisterMerchant {
                account: merchant_id(),
                acquirer: MemberId(1),
                owner: keys[MERCHANT_KEY].public(),
                currency: usd(),
            },
        );
        let mut workload = Workload {
            keys,
            catalogue,
            cursor: 0,
            drawn: Vec::new(),
            holds: Vec::new(),
            charges: Vec::new(),
        };
        workload.push_transfers(rng);
        workload
    }

    /// [`TRANSFERS`] more entries at the end of the catalogue (fresh ids; mostly transfers,
    /// about one in four a hold or charge-request step): the clients never run out of new work.
    fn push_transfers(&mut self, rng: &mut ChaCha8Rng) {
        let owner = |w: usize| BANKS.len() + w;
        for _ in 0..TRANSFERS {
            let from = rng.gen_range(0..WALLETS);
            // One in 20 to itself (same_account); one in 10 signed by another owner
            // (forbidden_signer); amounts up to 3,000 overdraw some wallets (insufficient_funds).
            let to = if rng.gen_range(0..20) == 0 {
                from
            } else {
                (from + rng.gen_range(1..WALLETS)) % WALLETS
            };
            let signer = if rng.gen_range(0..10) == 0 {
                owner((from + 1) % WALLETS)
            } else {
                owner(from)
            };
            let n = self.catalogue.len() as u64 + 1;
            let mut id = [0u8; 16];
            id[0] = 0x51;
            id[8..].copy_from_slice(&n.to_be_bytes());
            // A fresh hold or charge id from the entry's number.
            let mut fresh = [0u8; 16];
            fresh[0] = 0x52;
            fresh[8..].copy_from_slice(&n.to_be_bytes());
            let amount = rng.gen_range(1..=3_000);
            // Mostly transfers; about one in four entries a merchant payment step.
            let (signer, op) = match rng.gen_range(0..100) {
                0..=7 => {
                    self.holds.push((HoldId(fresh), amount));
                    (
                        signer,
                        Operation::Authorize {
                            hold: HoldId(fresh),
                            from: wallet_id(from),
                            merchant: merchant_id(),
                            amount: Amount(amount),
                            timeout_ms: rng.gen_range(100..=3_000),
                        },
                    )
                }
                8..=12 if !self.holds.is_empty() => {
                    let (hold, held) = self.holds[rng.gen_range(0..self.holds.len())];
                    let op = if rng.gen_bool(0.5) {
                        Operation::Capture {
                            hold,
                            amount: Amount(rng.gen_range(1..=held)),
                        }
                    } else {
                        Operation::Void { hold }
                    };
                    (MERCHANT_KEY, op)
                }
                13..=19 => {
                    self.charges.push((ChargeId(fresh), amount));
                    (
                        MERCHANT_KEY,
                        Operation::CreateCharge {
                            charge: ChargeId(fresh),
                            merchant: merchant_id(),
                            amount: Amount(amount),
                            reference: format!("sim-{n}"),
                            payer: None,
                            timeout_ms: rng.gen_range(100..=3_000),
                            hold_timeout_ms: rng.gen_range(100..=3_000),
                        },
                    )
                }
                20..=25 if !self.charges.is_empty() => {
                    let (charge, asked) = self.charges[rng.gen_range(0..self.charges.len())];
                    (
                        signer,
                        Operation::ApproveCharge {
                            charge,
                            hold: HoldId(fresh),
                            from: wallet_id(from),
                            amount: Amount(asked),
                        },
                    )
                }
                _ => (
                    signer,
                    Operation::Transfer {
                        from: wallet_id(from),
                        to: wallet_id(to),
                        amount: Amount(amount),
                    },
                ),
            };
            self.catalogue.push(Entry {
                nonce: TxNonce(id),
                signer,
                op,
            });
        }
    }

    fn sign(
        &self,
        signer: usize,
        nonce: TxNonce,
        op: Operation,
    ) -> Result<SignedTransaction, Violation> {
        let key = &self.keys[signer];
        let tx = Transaction::new(CHAIN, key.public(), nonce, op, TX_VALIDITY_MAX_MS);
        let message = tx
            .signing_message()
            .map_err(|e| Violation::Harness(format!("signing a transaction: {e}")))?;
        let signature = key.sign(&message);
        Ok(SignedTransaction { tx, signature })
    }

    /// Up to [`BLOCK_TXS_MAX`] transactions for a proposal: mostly the next ones of the
    /// catalogue, sometimes a retry of an earlier one (same body) or an earlier id with a
    /// different amount.
    pub fn draw(&mut self, rng: &mut ChaCha8Rng) -> Result<Vec<SignedTransaction>, Violation> {
        let count = rng.gen_range(0..=BLOCK_TXS_MAX);
        let mut txs = Vec::with_capacity(count);
        for _ in 0..count {
            let roll = rng.gen_range(0..100);
            if roll < 15 && !self.drawn.is_empty() {
                let k = rng.gen_range(0..self.drawn.len());
                txs.push(self.drawn[k].1.clone());
            } else if roll < 20 && !self.drawn.is_empty() {
                let k = rng.gen_range(0..self.drawn.len());
                let (signer, old) = &self.drawn[k];
                let op = match &old.tx.op {
                    Operation::Transfer { from, to, amount } => Operation::Transfer {
                        from: *from,
                        to: *to,
                        amount: Amount(amount.0 + 1),
                    },
                    Operation::Issue { wallet, amount } => Operation::Issue {
                        wallet: *wallet,
                        amount: Amount(amount.0 + 1),
                    },
                    other => other.clone(),
                };
                txs.push(self.sign(*signer, old.tx.nonce, op)?);
            } else {
                if self.cursor >= self.catalogue.len() {
                    self.push_transfers(rng);
                }
                let Some(entry) = self.catalogue.get(self.cursor).cloned() else {
                    continue;
                };
                self.cursor += 1;
                let stx = self.sign(entry.signer, entry.nonce, entry.op)?;
                self.drawn.push((entry.signer, stx.clone()));
                txs.push(stx);
            }
        }
        Ok(txs)
    }

    /// A transfer submitted when the network heals (a fresh id, wallet 0 to wallet 1): the
    /// liveness check waits until every honest ledger has executed it.
    pub fn probe(&self) -> Result<SignedTransaction, Violation> {
        let owner = BANKS.len();
        self.sign(
            owner,
            TxNonce([0x99; 16]),
            Operation::Transfer {
                from: wallet_id(0),
                to: wallet_id(1),
                amount: Amount(1),
            },
        )
    }
}
