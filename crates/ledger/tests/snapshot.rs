//! The state root commits to transaction records as well as accounts; snapshots restore only
//! against the root they claim; record proofs.

mod common;

use common::*;
use settlenet_ledger::{
    Account, AccountProof, Ledger, LedgerError, LedgerSnapshot, RecordProof, ResultCode, TxRecord,
};
use settlenet_types::{decode, encode, Hash, Height, TxId};

const ALICE: u8 = 1; // bank-a, USD
const BOB: u8 = 2; // bank-b, USD
const CAROL: u8 = 3; // bank-a, EUR
const NOBODY: u8 = 9; // never created

/// Three wallets, an issue, transfers, a failed transaction and a retried one: records with
/// several results over several heights.
fn history() -> Ledger {
    let k = keys();
    let mut l = Ledger::from_genesis(&genesis()).expect("genesis");
    let blocks = vec![
        vec![
            signed(
                &k.issuer_a,
                nonce(1),
                create(wallet_id(ALICE), 0, &k.users[0], usd()),
            ),
            signed(
                &k.issuer_b,
                nonce(2),
                create(wallet_id(BOB), 1, &k.users[1], usd()),
            ),
            signed(
                &k.issuer_a,
                nonce(3),
                create(wallet_id(CAROL), 0, &k.users[2], eur()),
            ),
        ],
        vec![signed(&k.issuer_a, nonce(4), issue(wallet_id(ALICE), 100))],
        vec![
            signed(
                &k.users[0],
                nonce(5),
                transfer(wallet_id(ALICE), wallet_id(BOB), 30),
            ),
            // Fails: more than Bob holds.
            signed(
                &k.users[1],
                nonce(6),
                transfer(wallet_id(BOB), wallet_id(ALICE), 1_000),
            ),
        ],
        vec![
            // A retry of tx 5: a duplicate, no new record.
            signed(
                &k.users[0],
                nonce(5),
                transfer(wallet_id(ALICE), wallet_id(BOB), 30),
            ),
            signed(
                &k.users[1],
                nonce(7),
                transfer(wallet_id(BOB), wallet_id(ALICE), 5),
            ),
        ],
    ];
    for txs in &blocks {
        apply(&mut l, txs);
    }
    assert_eq!(
        l.record(&id_of(6)).expect("6").result,
        ResultCode::InsufficientFunds
    );
    assert_eq!(l.record_count(), 7);
    l
}

fn expect_root_mismatch(result: Result<Ledger, LedgerError>, what: &str) {
    match result {
        Err(LedgerError::RootMismatch {
            expected, computed, ..
        }) => assert_ne!(expected, computed, "{what}"),
        Err(other) => panic!("{what}: refused, but not for its root: {other}"),
        Ok(_) => panic!("{what}: accepted"),
    }
}

#[test]
fn root_changes_when_a_record_is_added() {
    let k = keys();
    let mut l = history();
    let (root, accounts_root, records_root) = (l.state_root(), l.accounts_root(), l.records_root());
    // A transaction that fails without touching any account: its record is its only trace.
    let out = apply(
        &mut l,
        &[signed(
            &k.users[0],
            nonce(50),
            transfer(wallet_id(NOBODY), wallet_id(BOB), 1),
        )],
    );
    assert_eq!(out.outcomes[0].result, ResultCode::AccountNotFound);
    assert!(out.changed_accounts.is_empty());
    assert_eq!(out.new_records.len(), 1);
    assert_eq!(l.accounts_root(), accounts_root);
    assert_ne!(l.records_root(), records_root);
    assert_ne!(l.state_root(), root);
    assert_eq!(out.state_root, l.state_root());

    // A retry (duplicate) and a same-id-other-body write no record: the accounts, the live
    // records and the history stay.
    let root = (l.accounts_root(), l.records_root());
    let history_root = l.history().root();
    let out = apply(
        &mut l,
        &[
            signed(
                &k.users[0],
                nonce(50),
                transfer(wallet_id(NOBODY), wallet_id(BOB), 1),
            ),
            signed(
                &k.users[0],
                nonce(50),
                transfer(wallet_id(NOBODY), wallet_id(BOB), 2),
            ),
        ],
    );
    assert!(out.outcomes[0].duplicate);
    assert_eq!(out.outcomes[1].result, ResultCode::ExistsWithDifferentBody);
    assert!(out.new_records.is_empty());
    assert_eq!((l.accounts_root(), l.records_root()), root);
    assert_eq!(l.history().root(), history_root);
    assert_eq!(out.state_root, l.state_root());
}

#[test]
fn the_root_is_the_combination_of_the_three_roots() {
    let l = history();
    let mut payload = Vec::new();
    payload.extend_from_slice(&l.accounts_root().0);
    payload.extend_from_slice(&l.records_root().0);
    payload.extend_from_slice(&l.history().root().0);
    assert_eq!(
        l.state_root(),
        settlenet_types::Domain::StateRoot.hash(&payload)
    );
    assert_ne!(l.accounts_root(), l.records_root());
}

#[test]
fn restoring_a_snapshot_reproduces_the_root_and_behaviour() {
    let k = keys();
    let l = history();
    let snap = l.snapshot().expect("accounts in memory");
    assert_eq!(snap.height, l.height());
    assert_eq!(snap.accounts.len() as u64, l.account_count());
    assert_eq!(snap.records.len(), l.record_count());
    assert!(
        snap.records.windows(2).all(|w| w[0].0 < w[1].0),
        "sorted by id"
    );

    // Through the canonical encoding and back.
    let bytes = snap.to_bytes().expect("encode");
    let back = LedgerSnapshot::from_bytes(&bytes).expect("decode");
    assert_eq!(back, snap);
    assert!(LedgerSnapshot::from_bytes(&[bytes.as_slice(), &[0]].concat()).is_err());

    let mut r = Ledger::restore_verified(&genesis(), back, &l.state_root()).expect("verified");
    assert_eq!(r.state_root(), l.state_root());
    assert_eq!(r.height(), l.height());
    assert_eq!(r.snapshot().expect("accounts in memory"), snap);

    // Plain restore (the node's restart path) computes the same root.
    let plain = Ledger::restore(
        &genesis(),
        snap.height,
        snap.accounts.clone(),
        snap.records,
        snap.history.clone(),
    )
    .expect("restore");
    assert_eq!(plain.state_root(), l.state_root());

    // Only the accounts changed since genesis, as storage keeps them, also verify.
    let mut partial = l.snapshot().expect("accounts in memory");
    // (Genesis accounts are created at height 0; those never debited still hold their genesis
    // value.)
    partial
        .accounts
        .retain(|a| a.created_height > Height(0) || a.debits_posted > 0);
    assert!((partial.accounts.len() as u64) < l.account_count());
    Ledger::restore_verified(&genesis(), partial, &l.state_root()).expect("partial verified");

    // The restored ledger keeps idempotency: a retry returns the first result, a failed id
    // stays failed, a new body under an old id is refused; and it continues like the original.
    let mut original = l.clone();
    let txs = [
        signed(
            &k.users[0],
            nonce(5),
            transfer(wallet_id(ALICE), wallet_id(BOB), 30),
        ),
        signed(
            &k.users[1],
            nonce(6),
            transfer(wallet_id(BOB), wallet_id(ALICE), 1_000),
        ),
        signed(
            &k.users[1],
            nonce(7),
            transfer(wallet_id(BOB), wallet_id(ALICE), 6),
        ),
        signed(
            &k.users[1],
            nonce(8),
            transfer(wallet_id(BOB), wallet_id(ALICE), 1),
        ),
    ];
    let a = apply(&mut original, &txs);
    let b = apply(&mut r, &txs);
    assert_eq!(a, b);
    let results: Vec<(ResultCode, bool)> =
        b.outcomes.iter().map(|o| (o.result, o.duplicate)).collect();
    assert_eq!(
        results,
        vec![
            (ResultCode::Ok, true),
            (ResultCode::InsufficientFunds, true),
            (ResultCode::ExistsWithDifferentBody, false),
            (ResultCode::Ok, false),
        ]
    );
}

#[test]
fn chunks_concatenate_to_the_snapshot() {
    let l = history();
    let whole = l.snapshot().expect("accounts in memory");
    for size in [0, 1, 2, 3, 5, 7, 1_000] {
        let mut joined = LedgerSnapshot::empty(l.height());
        let mut parts = 0;
        for part in l.snapshot_chunks(size).expect("accounts in memory") {
            assert!(part.len() <= size.max(1) && !part.is_empty(), "size {size}");
            // Each part travels on its own.
            let part =
                LedgerSnapshot::from_bytes(&part.to_bytes().expect("encode")).expect("decode");
            joined.append(part).expect("same height");
            parts += 1;
        }
        assert_eq!(joined, whole, "size {size}");
        assert_eq!(parts, whole.len().div_ceil(size.max(1)), "size {size}");
    }
    // A part of another height is refused and changes nothing.
    let mut joined = LedgerSnapshot::empty(Height(l.height().0 + 1));
    let first = l
        .snapshot_chunks(3)
        .expect("accounts in memory")
        .next()
        .expect("a part");
    assert!(matches!(joined.append(first), Err(LedgerError::Restore(_))));
    assert!(joined.is_empty());
}

#[test]
fn a_tampered_snapshot_is_refused() {
    let l = history();
    let g = genesis();
    let root = l.state_root();
    let find = |s: &LedgerSnapshot, id: TxId| {
        s.records
            .iter()
            .position(|(i, _)| *i == id)
            .expect("record")
    };

    // One record's result changed: the failed transfer now claims success.
    let mut s = l.snapshot().expect("accounts in memory");
    let i = find(&s, id_of(6));
    s.records[i].1.result = ResultCode::Ok;
    expect_root_mismatch(Ledger::restore_verified(&g, s, &root), "result changed");

    // Its position in its block changed.
    let mut s = l.snapshot().expect("accounts in memory");
    let i = find(&s, id_of(6));
    s.records[i].1.index += 1;
    expect_root_mismatch(Ledger::restore_verified(&g, s, &root), "index changed");

    // Its body hash changed (a retry of the real body would be refused).
    let mut s = l.snapshot().expect("accounts in memory");
    let i = find(&s, id_of(5));
    s.records[i].1.body_hash.0[0] ^= 1;
    expect_root_mismatch(Ledger::restore_verified(&g, s, &root), "body changed");

    // One record removed (the id could then be spent again).
    let mut s = l.snapshot().expect("accounts in memory");
    let i = find(&s, id_of(7));
    s.records.remove(i);
    expect_root_mismatch(Ledger::restore_verified(&g, s, &root), "record removed");

    // One record added (a planted id: the honest transaction would be refused).
    let mut s = l.snapshot().expect("accounts in memory");
    s.records.push((
        TxId([0x99; 16]),
        TxRecord {
            body_hash: Hash([7; 32]),
            height: Height(1),
            index: 0,
            result: ResultCode::Ok,
            detail: None,
            valid_until_ms: u64::MAX,
        },
    ));
    expect_root_mismatch(Ledger::restore_verified(&g, s, &root), "record added");

    // The history changed (a record of an earlier block erased from it).
    let mut s = l.snapshot().expect("accounts in memory");
    s.history.peaks[0] = Hash([7; 32]);
    expect_root_mismatch(Ledger::restore_verified(&g, s, &root), "history changed");

    // One record moved to another id.
    let mut s = l.snapshot().expect("accounts in memory");
    let i = find(&s, id_of(7));
    s.records[i].0 = TxId([0x70; 16]);
    expect_root_mismatch(Ledger::restore_verified(&g, s, &root), "record re-keyed");

    // One account changed, consistently enough to pass every check of restore (money moved
    // from Alice to Bob, totals unchanged): only the root catches it.
    let mut s = l.snapshot().expect("accounts in memory");
    let pos = |s: &LedgerSnapshot, n: u8| {
        s.accounts
            .iter()
            .position(|a| a.id == wallet_id(n))
            .expect("wallet")
    };
    let (a, b) = (pos(&s, ALICE), pos(&s, BOB));
    s.accounts[a].debits_posted += 1;
    s.accounts[b].credits_posted += 1;
    expect_root_mismatch(Ledger::restore_verified(&g, s, &root), "account changed");

    // One account removed that genesis does not supply: the rest would still restore.
    let mut s = l.snapshot().expect("accounts in memory");
    let i = pos(&s, CAROL);
    s.accounts.remove(i);
    expect_root_mismatch(Ledger::restore_verified(&g, s, &root), "account removed");

    // An account changed inconsistently is refused by restore's own checks.
    let mut s = l.snapshot().expect("accounts in memory");
    let b = pos(&s, BOB);
    s.accounts[b].credits_posted += 1;
    assert!(matches!(
        Ledger::restore_verified(&g, s, &root),
        Err(LedgerError::Restore(_))
    ));

    // The genuine snapshot against another root.
    let mut other = root;
    other.0[0] ^= 1;
    expect_root_mismatch(
        Ledger::restore_verified(&g, l.snapshot().expect("accounts in memory"), &other),
        "wrong root",
    );

    // An unknown version.
    let mut s = l.snapshot().expect("accounts in memory");
    s.version += 1;
    assert!(matches!(
        Ledger::restore_verified(&g, s, &root),
        Err(LedgerError::Restore(_))
    ));

    // The error says what, where and why.
    let mut s = l.snapshot().expect("accounts in memory");
    s.records.pop();
    let message = Ledger::restore_verified(&g, s, &root)
        .expect_err("refused")
        .to_string();
    assert!(
        message.contains(&format!("height {}", l.height())),
        "{message}"
    );
    assert!(message.contains(&root.to_string()), "{message}");
}

/// Every single-byte change of the proof's canonical encoding either fails to decode or fails
/// to verify.
fn every_byte_matters<P, T>(
    proof: &P,
    root: &Hash,
    verify: impl Fn(&P, &Hash) -> Result<T, LedgerError>,
) where
    P: serde::Serialize + serde::de::DeserializeOwned,
{
    let bytes = encode("proof", proof).expect("encode");
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80] {
            let mut bad = bytes.clone();
            bad[i] ^= flip;
            if let Ok(decoded) = decode::<P>("proof", &bad) {
                assert!(
                    verify(&decoded, root).is_err(),
                    "byte {i} ^ {flip:#x} still verifies"
                );
            }
        }
    }
}

#[test]
fn record_proofs_verify_and_detect_any_tampered_byte() {
    let l = history();
    let root = l.state_root();
    let mut proven = 0;
    for (id, record) in l.records() {
        let proof = l.prove_record(id).expect("proof");
        assert_eq!(proof.verify(&root).expect("verifies"), *record);
        let json = serde_json::to_string(&proof).expect("json");
        let back: RecordProof = serde_json::from_str(&json).expect("json back");
        assert_eq!(back.verify(&root).expect("verifies"), *record);
        every_byte_matters(&proof, &root, RecordProof::verify);

        let mut bad = proof.clone();
        bad.record.result = ResultCode::Overflow;
        assert!(matches!(bad.verify(&root), Err(LedgerError::Proof(_))));
        let mut bad = proof.clone();
        bad.id = TxId([0x99; 16]);
        assert!(bad.verify(&root).is_err());
        let mut bad = proof.clone();
        bad.siblings.pop();
        assert!(bad.verify(&root).is_err());
        let mut bad = proof.clone();
        bad.entries.reverse();
        bad.entries.push(bad.entries[0]);
        assert!(bad.verify(&root).is_err());
        proven += 1;
    }
    assert_eq!(proven, 7);
    assert!(l.prove_record(&TxId([0x99; 16])).is_none());

    // A proof is for one root: after a new record, the old proof no longer verifies against
    // the new root, and a fresh one does.
    let k = keys();
    let mut later = l.clone();
    apply(
        &mut later,
        &[signed(
            &k.users[0],
            nonce(51),
            transfer(wallet_id(NOBODY), wallet_id(BOB), 1),
        )],
    );
    let old = l.prove_record(&id_of(6)).expect("proof");
    assert!(old.verify(&later.state_root()).is_err());
    let new = later.prove_record(&id_of(6)).expect("proof");
    assert_eq!(
        new.verify(&later.state_root()).expect("verifies"),
        old.record
    );
}

#[test]
fn account_proofs_verify_against_the_combined_root() {
    let l = history();
    let root = l.state_root();
    for a in l.accounts().expect("accounts in memory") {
        let proof = l.prove(&a.id).expect("proof");
        assert_eq!(proof.records_root, l.records_root());
        assert_eq!(&proof.verify(&root).expect("verifies"), a);
        every_byte_matters(&proof, &root, AccountProof::verify);
        // The accounts root alone is not the state root.
        assert!(proof.verify(&l.accounts_root()).is_err());
    }
    let unchanged: Vec<&Account> = l.accounts().expect("accounts in memory").collect();
    assert!(!unchanged.is_empty());
}
