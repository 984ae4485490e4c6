//! Ledger rules beyond the table: idempotency (retries, failed ids, same id with another
//! body), forged signers, block order, genesis and restore validation, proofs, result code
//! names.

mod common;
mod rules_fixture;

use common::*;
use rules_fixture::*;
use settlenet_ledger::{Account, Ledger, LedgerError, ResultCode};
use settlenet_types::{AccountId, Height, TX_VERSION};

#[test]
fn retry_with_same_body_returns_first_result_and_changes_nothing() {
    let k = keys();
    let mut l = base();
    let pay = signed(
        &k.users[0],
        nonce(20),
        transfer(wallet_id(ALICE), wallet_id(BOB), 60),
    );
    let first = apply(&mut l, &[pay.clone(), pay.clone()]);
    assert_eq!(first.outcomes[0].result, ResultCode::Ok);
    assert!(!first.outcomes[0].duplicate);
    // Within the same block, the second copy is a duplicate, not a second payment.
    assert_eq!(first.outcomes[1].result, ResultCode::Ok);
    assert!(first.outcomes[1].duplicate);
    assert_eq!(first.new_records.len(), 1);
    assert_eq!(l.account(&wallet_id(ALICE)).expect("a").balance(), 40);

    let before = snapshot(&l);
    let again = apply(&mut l, &[pay]);
    assert_eq!(again.outcomes[0].result, ResultCode::Ok);
    assert!(again.outcomes[0].duplicate);
    assert!(again.new_records.is_empty() && again.changed_accounts.is_empty());
    assert_eq!(snapshot(&l), before);
    assert_eq!(l.record(&id_of(20)).expect("record").height, Height(3));
}

#[test]
fn a_failed_id_stays_failed() {
    let k = keys();
    let mut l = base();
    let pay = signed(
        &k.users[0],
        nonce(21),
        transfer(wallet_id(ALICE), wallet_id(BOB), 150),
    );
    assert_eq!(
        apply(&mut l, std::slice::from_ref(&pay)).outcomes[0].result,
        ResultCode::InsufficientFunds
    );
    // Fund the payer; the retry must not flip the outcome.
    apply(
        &mut l,
        &[signed(&k.issuer_a, nonce(22), issue(wallet_id(ALICE), 100))],
    );
    let before = snapshot(&l);
    let out = apply(&mut l, &[pay]);
    assert_eq!(out.outcomes[0].result, ResultCode::InsufficientFunds);
    assert!(out.outcomes[0].duplicate);
    assert_eq!(snapshot(&l), before);
}

#[test]
fn precheck_failures_inside_a_block_are_recorded() {
    let k = keys();
    let mut l = base();
    let bad = signed_with(
        &k.users[0],
        nonce(30),
        transfer(wallet_id(ALICE), wallet_id(BOB), 1),
        "other",
        TX_VERSION,
    );
    let out = apply(&mut l, std::slice::from_ref(&bad));
    assert_eq!(out.outcomes[0].result, ResultCode::WrongChain);
    assert_eq!(
        l.record(&id_of(30)).expect("record").result,
        ResultCode::WrongChain
    );
    let out = apply(&mut l, &[bad]);
    assert!(out.outcomes[0].duplicate);
    assert_eq!(out.outcomes[0].result, ResultCode::WrongChain);
    // The id is spent: the corrected transaction with the same id is a different body.
    let good = signed(
        &k.users[0],
        nonce(30),
        transfer(wallet_id(ALICE), wallet_id(BOB), 1),
    );
    assert_eq!(
        apply(&mut l, &[good]).outcomes[0].result,
        ResultCode::ExistsWithDifferentBody
    );
}

#[test]
fn same_id_different_body_keeps_the_first_record() {
    let k = keys();
    let mut l = base();
    let first = l.record(&id_of(4)).cloned().expect("record");
    let out = apply(
        &mut l,
        &[signed(&k.issuer_a, nonce(4), issue(wallet_id(ALICE), 1))],
    );
    assert_eq!(out.outcomes[0].result, ResultCode::ExistsWithDifferentBody);
    assert!(!out.outcomes[0].duplicate);
    assert_eq!(l.record(&id_of(4)), Some(&first));
    // Also within one block: a second body under a fresh id.
    let out = apply(
        &mut l,
        &[
            signed(&k.issuer_a, nonce(40), issue(wallet_id(ALICE), 1)),
            signed(&k.issuer_a, nonce(40), issue(wallet_id(ALICE), 2)),
        ],
    );
    let results: Vec<ResultCode> = out.outcomes.iter().map(|o| o.result).collect();
    assert_eq!(
        results,
        vec![ResultCode::Ok, ResultCode::ExistsWithDifferentBody]
    );
    assert_eq!(l.account(&wallet_id(ALICE)).expect("a").balance(), 101);
}

#[test]
fn a_forged_signer_field_is_refused() {
    // The body names the payer's key but the caller verified signatures, so a forger must name
    // its own key as signer: the ledger then refuses it.
    let k = keys();
    let mut l = base();
    let mallory = key(66);
    for tx in [
        signed(
            &mallory,
            nonce(50),
            transfer(wallet_id(ALICE), wallet_id(BOB), 1),
        ),
        signed(&mallory, nonce(51), issue(wallet_id(ALICE), 1)),
        signed(
            &mallory,
            nonce(52),
            create(wallet_id(8), 0, &mallory, usd()),
        ),
        signed(
            &k.users[1],
            nonce(53),
            transfer(wallet_id(ALICE), wallet_id(BOB), 1),
        ),
    ] {
        let out = apply(&mut l, &[tx]);
        assert_eq!(out.outcomes[0].result, ResultCode::ForbiddenSigner);
    }
}

#[test]
#[should_panic(expected = "blocks must be applied in order")]
fn out_of_order_height_panics() {
    let mut l = base();
    let h = Height(l.height().0 + 2);
    l.apply_block(h, 0, &[]);
}

#[test]
fn genesis_member_accounts_must_use_derived_ids() {
    let mut g = genesis();
    g.accounts[0].id = AccountId([7; 16]);
    assert!(matches!(
        Ledger::from_genesis(&g),
        Err(LedgerError::Genesis(_))
    ));
    let mut g = genesis();
    g.accounts[3].kind = settlenet_types::GenesisAccountKind::Settlement; // id is a float id
    assert!(matches!(
        Ledger::from_genesis(&g),
        Err(LedgerError::Genesis(_))
    ));
    let mut g = genesis();
    g.chain_id = String::new();
    assert!(matches!(
        Ledger::from_genesis(&g),
        Err(LedgerError::Genesis(_))
    ));
    let l = Ledger::from_genesis(&genesis()).expect("genesis");
    assert_eq!(l.height(), Height(0));
    assert_eq!(l.account_count(), 4);
    assert!(l
        .accounts()
        .expect("accounts in memory")
        .all(|a| a.created_height == Height(0)));
}

#[test]
fn restore_round_trips_and_rejects_inconsistent_parts() {
    let k = keys();
    let g = genesis();
    let mut l = base();
    apply(
        &mut l,
        &[signed(
            &k.users[0],
            nonce(60),
            transfer(wallet_id(ALICE), wallet_id(BOB), 9),
        )],
    );
    let records: Vec<_> = [1u64, 2, 3, 4, 60]
        .iter()
        .map(|n| (id_of(*n), l.record(&id_of(*n)).expect("record").clone()))
        .collect();
    let r = Ledger::restore(
        &g,
        l.height(),
        snapshot(&l),
        records.clone(),
        l.history().clone(),
    )
    .expect("restore");
    assert_eq!(r.state_root(), l.state_root());
    assert_eq!(r.height(), l.height());
    assert_eq!(snapshot(&r), snapshot(&l));
    assert_eq!(r.record(&id_of(60)), l.record(&id_of(60)));

    // Untouched genesis accounts may be left out.
    let changed: Vec<Account> = snapshot(&l)
        .into_iter()
        .filter(|a| a.created_height > Height(0) || a.debits_posted > 0)
        .collect();
    assert!((changed.len() as u64) < l.account_count());
    let r = Ledger::restore(
        &g,
        l.height(),
        changed,
        records.clone(),
        l.history().clone(),
    )
    .expect("restore");
    assert_eq!(r.state_root(), l.state_root());

    let mut tampered = snapshot(&l);
    let i = tampered
        .iter()
        .position(|a| a.id == wallet_id(BOB))
        .expect("bob");
    tampered[i].credits_posted += 1;
    assert!(matches!(
        Ledger::restore(
            &g,
            l.height(),
            tampered,
            records.clone(),
            l.history().clone()
        ),
        Err(LedgerError::Restore(_))
    ));
    let mut twice = snapshot(&l);
    twice.push(twice[0].clone());
    assert!(Ledger::restore(&g, l.height(), twice, records.clone(), l.history().clone()).is_err());
    let mut wallet_on_reserved = snapshot(&l);
    let i = wallet_on_reserved
        .iter()
        .position(|a| a.id == wallet_id(BOB))
        .expect("bob");
    wallet_on_reserved[i].id = float("bank-b", eur());
    assert!(Ledger::restore(
        &g,
        l.height(),
        wallet_on_reserved,
        records.clone(),
        l.history().clone()
    )
    .is_err());
    assert!(
        Ledger::restore(
            &g,
            Height(2),
            snapshot(&l),
            records.clone(),
            l.history().clone()
        )
        .is_err(),
        "record from the future"
    );
    // The history has at most one leaf per block, one peak per set bit of its size, and is the
    // one the blocks built.
    let mut short = l.history().clone();
    short.size -= 1;
    assert!(Ledger::restore(&g, l.height(), snapshot(&l), records.clone(), short).is_err());
    let mut long = l.history().clone();
    long.size = l.height().0 + 1;
    assert!(Ledger::restore(&g, l.height(), snapshot(&l), records.clone(), long).is_err());
    let mut other = l.history().clone();
    other.peaks[0] = settlenet_types::Hash([7; 32]);
    let r = Ledger::restore(&g, l.height(), snapshot(&l), records, other).expect("restore");
    assert_ne!(
        r.state_root(),
        l.state_root(),
        "the root commits to the history"
    );
}

/// A node's restart: the ledger streams every account from its store (in id order), keeps
/// none in memory, and reads them from the store after; a stream out of order, with an id
/// twice, a tampered account or a read error is refused.
#[test]
fn restore_from_a_store_streams_the_accounts_and_rejects_bad_streams() {
    let k = keys();
    let g = genesis();
    let mut node = StoreMode::new(base(), 2);
    node.apply(&[signed(
        &k.users[0],
        nonce(60),
        transfer(wallet_id(ALICE), wallet_id(BOB), 9),
    )]);
    let records: Vec<_> = [1u64, 2, 3, 4, 60]
        .iter()
        .map(|n| {
            let record = node.ledger.record(&id_of(*n)).expect("record");
            (id_of(*n), record.clone())
        })
        .collect();
    let stored: Vec<Account> = node
        .store
        .0
        .lock()
        .expect("lock")
        .values()
        .cloned()
        .collect();
    let (height, history, store) = (
        node.ledger.height(),
        node.ledger.history().clone(),
        node.store.clone(),
    );
    let restore = |accounts: Vec<Result<Account, LedgerError>>| {
        Ledger::restore_from_store(
            &g,
            height,
            accounts.into_iter(),
            records.clone(),
            history.clone(),
            store.clone(),
            2,
        )
    };
    let mut r = restore(stored.iter().cloned().map(Ok).collect()).expect("restore");
    assert_eq!(r.state_root(), node.ledger.state_root());
    assert_eq!(r.account_count(), node.ledger.account_count());
    assert_eq!(r.totals(), node.ledger.totals());
    assert!(r.accounts().is_none(), "no account kept in memory");
    assert_eq!(
        r.account(&wallet_id(BOB)),
        node.ledger.account(&wallet_id(BOB))
    );
    // It goes on exactly like the ledger that wrote the store.
    let next = [signed(
        &k.users[1],
        nonce(61),
        transfer(wallet_id(BOB), wallet_id(ALICE), 4),
    )];
    // (The restored ledger first: both read the one store, which the node's apply moves on.)
    let got = apply(&mut r, &next);
    assert_eq!(got, node.apply(&next));

    let refused = |accounts: Vec<Account>, why: &str| {
        let err = restore(accounts.into_iter().map(Ok).collect()).expect_err(why);
        assert!(matches!(err, LedgerError::Restore(_)), "{why}: {err}");
    };
    let mut reversed = stored.clone();
    reversed.reverse();
    refused(reversed, "out of order");
    let mut twice = stored.clone();
    twice.insert(1, stored[0].clone());
    refused(twice, "an id twice");
    let mut tampered = stored.clone();
    let i = tampered
        .iter()
        .position(|a| a.id == wallet_id(BOB))
        .expect("bob");
    tampered[i].credits_posted += 1;
    refused(tampered, "money not conserved");
    let mut missing = stored.clone();
    missing.remove(i);
    refused(missing, "an account left out");
    let mut failing: Vec<Result<Account, LedgerError>> = stored.iter().cloned().map(Ok).collect();
    failing[2] = Err(LedgerError::Restore("disk on fire at account 3".into()));
    let err = restore(failing).expect_err("read error");
    assert!(err.to_string().contains("disk on fire"), "{err}");
}

#[test]
fn proofs_verify_and_detect_tampering() {
    let l = base();
    let root = l.state_root();
    for a in l.accounts().expect("accounts in memory") {
        let proof = l.prove(&a.id).expect("proof");
        assert_eq!(proof.verify(&root).expect("verifies"), *a);
        // Serialized and back, still valid.
        let json = serde_json::to_string(&proof).expect("json");
        let back: settlenet_ledger::AccountProof = serde_json::from_str(&json).expect("json back");
        assert_eq!(back.verify(&root).expect("verifies"), *a);

        let mut bad = proof.clone();
        bad.account.credits_posted += 1;
        assert!(bad.verify(&root).is_err());
        let mut bad = proof.clone();
        bad.siblings[5].0[0] ^= 1;
        assert!(bad.verify(&root).is_err());
        let mut bad = proof.clone();
        bad.siblings.pop();
        assert!(bad.verify(&root).is_err());
        let mut other_root = root;
        other_root.0[31] ^= 1;
        assert!(matches!(
            proof.verify(&other_root),
            Err(LedgerError::Proof(_))
        ));
    }
    assert!(l.prove(&wallet_id(NOBODY)).is_none());
}

#[test]
fn result_codes_name_themselves_like_serde() {
    for code in ResultCode::ALL {
        let json = serde_json::to_string(&code).expect("json");
        assert_eq!(json, format!("\"{}\"", code.as_str()));
        assert_eq!(code.is_ok(), code == ResultCode::Ok);
        assert!(code.describe().ends_with('.'));
    }
}
