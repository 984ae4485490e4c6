//! Shared fixture for the ledger's integration tests: a small genesis, keys and helpers.
#![allow(dead_code)]

use settlenet_crypto::Keypair;
use settlenet_ledger::test_util::{GenesisBuilder, MemberSpec};
use settlenet_ledger::{Account, BlockOutcome, Ledger};
use settlenet_types::{
    AccountId, Amount, Currency, Genesis, Hash, Height, HoldId, MemberId, Operation, Payee, Role,
    SignedTransaction, Transaction, TxId, TxNonce, TX_VALIDITY_MAX_MS, TX_VERSION,
};

pub const CHAIN: &str = "ledger-test";

pub fn usd() -> Currency {
    Currency(*b"USD")
}
pub fn eur() -> Currency {
    Currency(*b"EUR")
}

pub fn key(seed: u8) -> Keypair {
    Keypair::from_seed([seed; 32])
}

/// Staff and users of the fixture.
pub struct Keys {
    /// bank-a staff with `Role::Issuer`.
    pub issuer_a: Keypair,
    /// bank-a staff with `Role::Auditor` only.
    pub auditor_a: Keypair,
    /// bank-b staff with `Role::Issuer` and `Role::Acquirer`.
    pub issuer_b: Keypair,
    /// bank-b staff with `Role::Auditor` only.
    pub clerk_b: Keypair,
    /// A merchant's own key.
    pub merchant: Keypair,
    /// Wallet owners.
    pub users: [Keypair; 3],
}

pub fn keys() -> Keys {
    Keys {
        issuer_a: key(1),
        auditor_a: key(2),
        issuer_b: key(3),
        clerk_b: key(4),
        merchant: key(20),
        users: [key(10), key(11), key(12)],
    }
}

pub fn settlement(member: &str, c: Currency) -> AccountId {
    AccountId::derived("settlement", member, c)
}
pub fn float(member: &str, c: Currency) -> AccountId {
    AccountId::derived("float", member, c)
}

/// Two banks, USD and EUR. bank-a has a USD float listed at genesis; bank-b's floats and
/// bank-a's EUR float are created on first issue.
pub fn genesis() -> Genesis {
    let k = keys();
    GenesisBuilder::new(CHAIN)
        .currency(usd(), 2)
        .currency(eur(), 2)
        .member(
            MemberSpec::bank("bank-a")
                .staff("issuer", k.issuer_a.public(), &[Role::Issuer])
                .staff(
                    "audit",
                    k.auditor_a.public(),
                    &[Role::Auditor, Role::Clearing],
                ),
        )
        .member(
            MemberSpec::bank("bank-b")
                .staff(
                    "issuer",
                    k.issuer_b.public(),
                    &[Role::Issuer, Role::Acquirer],
                )
                .staff("clerk", k.clerk_b.public(), &[Role::Auditor]),
        )
        .validators(&[key(100).public()])
        .settlement("bank-a", usd(), 1_000)
        .settlement("bank-b", usd(), 500)
        .settlement("bank-b", eur(), 70)
        .float("bank-a", usd(), 0)
        .build()
}

/// Nonce `n`: the transaction's id is derived from it and the signing key.
pub fn nonce(n: u64) -> TxNonce {
    let mut b = [0u8; 16];
    b[8..].copy_from_slice(&n.to_be_bytes());
    TxNonce(b)
}

thread_local! {
    /// The id of every transaction this thread signed, by nonce (the latest signer's, if a
    /// nonce was signed by more than one key).
    static SIGNED_IDS: std::cell::RefCell<std::collections::HashMap<TxNonce, TxId>> =
        Default::default();
}

/// The id of the transaction this thread signed with nonce `n` (ids are derived from the
/// signer's key, so a test names a transaction by its nonce).
pub fn id_of(n: u64) -> TxId {
    SIGNED_IDS
        .with(|m| m.borrow().get(&nonce(n)).copied())
        .unwrap_or_else(|| panic!("no transaction with nonce {n} was signed on this thread"))
}

pub fn wallet_id(n: u8) -> AccountId {
    AccountId([0xA0, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
}

/// A transaction for the fixture chain, signed for real (the ledger does not check it), valid
/// until `TX_VALIDITY_MAX_MS` (an hour after the epoch: the fixtures' blocks are stamped with
/// small times).
pub fn signed_with(
    signer: &Keypair,
    nonce: TxNonce,
    op: Operation,
    chain: &str,
    version: u16,
) -> SignedTransaction {
    signed_full(signer, nonce, op, chain, version, TX_VALIDITY_MAX_MS)
}

/// [`signed`] with another validity (part of the id).
pub fn signed_until(
    signer: &Keypair,
    nonce: TxNonce,
    op: Operation,
    valid_until_ms: u64,
) -> SignedTransaction {
    signed_full(signer, nonce, op, CHAIN, TX_VERSION, valid_until_ms)
}

fn signed_full(
    signer: &Keypair,
    nonce: TxNonce,
    op: Operation,
    chain: &str,
    version: u16,
    valid_until_ms: u64,
) -> SignedTransaction {
    let tx = Transaction {
        version,
        ..Transaction::new(chain, signer.public(), nonce, op, valid_until_ms)
    };
    SIGNED_IDS.with(|m| m.borrow_mut().insert(tx.nonce, tx.id));
    let signature = signer.sign(&tx.signing_message().expect("signing message"));
    SignedTransaction { tx, signature }
}

pub fn signed(signer: &Keypair, nonce: TxNonce, op: Operation) -> SignedTransaction {
    signed_with(signer, nonce, op, CHAIN, TX_VERSION)
}

pub fn create(account: AccountId, issuer: u16, owner: &Keypair, currency: Currency) -> Operation {
    Operation::CreateWallet {
        account,
        issuer: MemberId(issuer),
        owner: owner.public(),
        currency,
    }
}

pub fn issue(wallet: AccountId, amount: u64) -> Operation {
    Operation::Issue {
        wallet,
        amount: Amount(amount),
    }
}

pub fn alias(n: u8) -> Hash {
    Hash([n; 32])
}

#[allow(clippy::too_many_arguments)]
pub fn register(
    account: AccountId,
    issuer: u16,
    alias_n: u8,
    owner: &Keypair,
    currency: Currency,
    tier: u8,
) -> Operation {
    Operation::RegisterWallet {
        account,
        issuer: MemberId(issuer),
        alias: alias(alias_n),
        alias_key_version: 1,
        owner: owner.public(),
        currency,
        tier,
    }
}

pub fn merchant(
    account: AccountId,
    acquirer: u16,
    owner: &Keypair,
    currency: Currency,
) -> Operation {
    Operation::RegisterMerchant {
        account,
        acquirer: MemberId(acquirer),
        owner: owner.public(),
        currency,
    }
}

pub fn redeem(wallet: AccountId, amount: u64) -> Operation {
    Operation::Redeem {
        wallet,
        amount: Amount(amount),
    }
}

pub fn pay(from: AccountId, to: Payee, amount: u64, fee: Option<u64>) -> Operation {
    Operation::Pay {
        from,
        to,
        amount: Amount(amount),
        fee: fee.map(Amount),
    }
}

pub fn hold_id(n: u8) -> HoldId {
    HoldId([0xB0, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])
}

pub fn authorize(
    hold: u8,
    from: AccountId,
    merchant: AccountId,
    amount: u64,
    timeout_ms: u64,
) -> Operation {
    Operation::Authorize {
        hold: hold_id(hold),
        from,
        merchant,
        amount: Amount(amount),
        timeout_ms,
    }
}

pub fn capture(hold: u8, amount: u64) -> Operation {
    Operation::Capture {
        hold: hold_id(hold),
        amount: Amount(amount),
    }
}

pub fn void(hold: u8) -> Operation {
    Operation::Void {
        hold: hold_id(hold),
    }
}

pub fn refund(capture: TxId, amount: u64) -> Operation {
    Operation::Refund {
        capture,
        amount: Amount(amount),
    }
}

pub fn transfer(from: AccountId, to: AccountId, amount: u64) -> Operation {
    Operation::Transfer {
        from,
        to,
        amount: Amount(amount),
    }
}

/// Apply one block at the next height.
pub fn apply(ledger: &mut Ledger, txs: &[SignedTransaction]) -> BlockOutcome {
    let h = Height(ledger.height().0 + 1);
    let out = ledger.apply_block(h, 1_000 * h.0, txs);
    HISTORY_NODES.with(|m| {
        let mut m = m.borrow_mut();
        for n in &out.history_nodes {
            m.insert((n.level, n.index), n.hash);
        }
    });
    out
}

thread_local! {
    /// The history nodes of every block [`apply`] executed on this thread, as storage keeps
    /// them (a test that applies blocks to one ledger per thread can prove its records).
    static HISTORY_NODES: std::cell::RefCell<std::collections::BTreeMap<(u8, u64), settlenet_types::Hash>> =
        Default::default();
}

/// A history node kept by [`apply`] on this thread.
pub fn history_node(level: u8, index: u64) -> Option<settlenet_types::Hash> {
    HISTORY_NODES.with(|m| m.borrow().get(&(level, index)).copied())
}

/// The state root's parts a transaction can change: the accounts root and the live records
/// root (every block also appends to the history, so the state root itself changes each
/// block).
pub fn state_parts(ledger: &Ledger) -> (settlenet_types::Hash, settlenet_types::Hash) {
    (ledger.accounts_root(), ledger.records_root())
}

pub fn snapshot(ledger: &Ledger) -> Vec<Account> {
    ledger
        .accounts()
        .expect("accounts in memory")
        .cloned()
        .collect()
}

pub fn records(ledger: &Ledger) -> Vec<(TxId, settlenet_ledger::TxRecord)> {
    ledger.records().map(|(id, r)| (*id, r.clone())).collect()
}

/// Mempool admission (`precheck`) agrees with execution: a stateless refusal is the code the
/// block gives; an authority refusal (a signer who may never do this) is given only to a
/// transaction the block refuses too; what passes admission is never one of `stateless`, the
/// codes the table's cases can only get from the stateless checks.
pub fn assert_precheck_agrees(
    ledger: &Ledger,
    tx: &SignedTransaction,
    got: settlenet_ledger::ResultCode,
    what: &str,
    stateless: &[settlenet_ledger::ResultCode],
) {
    use settlenet_ledger::ResultCode as R;
    let authority = [
        R::ForbiddenSigner,
        R::ForbiddenRole,
        R::NotAWallet,
        R::UnknownMember,
    ];
    match ledger.precheck(tx) {
        Err(code) if authority.contains(&code) => assert!(
            !got.is_ok(),
            "{what}: precheck refused ({code:?}) what a block accepts"
        ),
        Err(code) => assert_eq!(code, got, "{what}: precheck"),
        Ok(()) => assert!(!stateless.contains(&got), "{what}: precheck let {got:?} in"),
    }
}

/// A store over a map, as a node's RocksDB `accounts` family: what [`StoreMode::apply`]
/// writes after each block.
pub struct MapStore(pub std::sync::Mutex<std::collections::BTreeMap<AccountId, Account>>);

impl settlenet_ledger::AccountStore for MapStore {
    fn account(&self, id: &AccountId) -> Result<Option<Account>, String> {
        Ok(self
            .0
            .lock()
            .map_err(|_| "poisoned".to_string())?
            .get(id)
            .cloned())
    }
}

/// A ledger that reads its accounts from a [`MapStore`] through a cache of `capacity`, and
/// the store: blocks go through [`StoreMode::apply`], which writes each block's changes and
/// archived accounts as a node does, then tells the ledger.
pub struct StoreMode {
    pub ledger: Ledger,
    pub store: std::sync::Arc<MapStore>,
}

impl StoreMode {
    /// `ledger` (in memory) moved to a store holding its accounts.
    pub fn new(ledger: Ledger, capacity: usize) -> StoreMode {
        let map = ledger
            .accounts()
            .expect("accounts in memory")
            .map(|a| (a.id, a.clone()))
            .collect();
        let store = std::sync::Arc::new(MapStore(std::sync::Mutex::new(map)));
        let mut ledger = ledger;
        ledger.attach_store(store.clone(), capacity);
        StoreMode { ledger, store }
    }

    pub fn apply(&mut self, txs: &[SignedTransaction]) -> BlockOutcome {
        let out = apply(&mut self.ledger, txs);
        assert_eq!(self.ledger.store_read_failure(), None);
        let mut map = self.store.0.lock().expect("lock");
        for a in &out.changed_accounts {
            map.insert(a.id, a.clone());
        }
        for a in &out.archived {
            map.remove(&a.id);
        }
        drop(map);
        self.ledger.persisted();
        out
    }
}
