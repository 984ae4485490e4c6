//! Table-driven tests of the ledger rules: every operation x every result code it can produce,
//! idempotency, authorization, genesis and restore validation, proofs.

mod common;

use common::*;
use settlenet_ledger::{Account, AccountKind, Ledger, LedgerError, ResultCode, FIELD_MAX};
use settlenet_types::{AccountId, Height, SignedTransaction, TX_VERSION};
use std::collections::BTreeSet;

// Wallets of the base ledger.
const ALICE: u8 = 1; // bank-a, USD, owner users[0], balance 100
const BOB: u8 = 2; // bank-b, USD, owner users[1], balance 0
const CAROL: u8 = 3; // bank-a, EUR, owner users[2], balance 0
const NOBODY: u8 = 9; // never created

/// Genesis, then block 1 creates three wallets, block 2 issues 100 to Alice. Tx ids 1..=4 used.
fn base() -> Ledger {
    let k = keys();
    let mut l = Ledger::from_genesis(&genesis()).expect("genesis");
    let b1 = apply(
        &mut l,
        &[
            signed(
                &k.issuer_a,
                tx_id(1),
                create(wallet_id(ALICE), 0, &k.users[0], usd()),
            ),
            signed(
                &k.issuer_b,
                tx_id(2),
                create(wallet_id(BOB), 1, &k.users[1], usd()),
            ),
            signed(
                &k.issuer_a,
                tx_id(3),
                create(wallet_id(CAROL), 0, &k.users[2], eur()),
            ),
        ],
    );
    assert!(b1.outcomes.iter().all(|o| o.result.is_ok()), "{b1:?}");
    let b2 = apply(
        &mut l,
        &[signed(&k.issuer_a, tx_id(4), issue(wallet_id(ALICE), 100))],
    );
    assert!(b2.outcomes[0].result.is_ok());
    l
}

/// A restored ledger whose wallets' fields are near the limit: Alice (USD, bank-a) has
/// `credits_posted = FIELD_MAX - 5` and balance 95; Bob (USD, bank-b) has balance 10.
fn near_max() -> Ledger {
    let k = keys();
    let g = genesis();
    let wallet = |n: u8, member: u16, owner: &settlenet_crypto::Keypair, c, d| Account {
        id: wallet_id(n),
        kind: AccountKind::Wallet,
        member: settlenet_types::MemberId(member),
        currency: usd(),
        owner: Some(owner.public()),
        debits_pending: 0,
        debits_posted: d,
        credits_pending: 0,
        credits_posted: c,
        created_height: Height(1),
        detail: settlenet_ledger::AccountDetail::None,
    };
    let alice = wallet(ALICE, 0, &k.users[0], FIELD_MAX - 5, FIELD_MAX - 100);
    let bob = wallet(BOB, 1, &k.users[1], 10, 0);
    let mut float_a = Ledger::from_genesis(&g)
        .expect("genesis")
        .account(&float("bank-a", usd()))
        .expect("float")
        .clone();
    float_a.debits_posted = 95;
    let float_b = Account {
        id: float("bank-b", usd()),
        kind: AccountKind::Float,
        member: settlenet_types::MemberId(1),
        currency: usd(),
        owner: None,
        debits_pending: 0,
        debits_posted: 10,
        credits_pending: 0,
        credits_posted: 0,
        created_height: Height(1),
        detail: settlenet_ledger::AccountDetail::None,
    };
    Ledger::restore(&g, Height(1), vec![alice, bob, float_a, float_b], vec![]).expect("restore")
}

#[derive(Clone, Copy)]
enum Base {
    Normal,
    NearMax,
}

struct Case {
    what: &'static str,
    base: Base,
    tx: SignedTransaction,
    want: ResultCode,
}

fn cases() -> Vec<Case> {
    let k = keys();
    let w = wallet_id;
    let [alice, bob, carol] = &k.users;
    let id = tx_id(100);
    let case = |what, tx, want| Case {
        what,
        base: Base::Normal,
        tx,
        want,
    };
    let new = w(7);
    vec![
        // CreateWallet
        case(
            "create ok",
            signed(&k.issuer_a, id, create(new, 0, carol, usd())),
            ResultCode::Ok,
        ),
        case(
            "create for bank-b by its issuer",
            signed(&k.issuer_b, id, create(new, 1, carol, eur())),
            ResultCode::Ok,
        ),
        case(
            "create on another chain",
            signed_with(
                &k.issuer_a,
                id,
                create(new, 0, carol, usd()),
                "other",
                TX_VERSION,
            ),
            ResultCode::WrongChain,
        ),
        case(
            "create with a future version",
            signed_with(
                &k.issuer_a,
                id,
                create(new, 0, carol, usd()),
                CHAIN,
                TX_VERSION + 1,
            ),
            ResultCode::UnsupportedVersion,
        ),
        case(
            "create reusing a tx id with another body",
            signed(&k.issuer_a, tx_id(1), create(new, 0, carol, usd())),
            ResultCode::ExistsWithDifferentBody,
        ),
        case(
            "create signed by an auditor (staff without the issuer role)",
            signed(&k.auditor_a, id, create(new, 0, carol, usd())),
            ResultCode::ForbiddenRole,
        ),
        case(
            "create at bank-a signed by bank-b's issuer",
            signed(&k.issuer_b, id, create(new, 0, carol, usd())),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "create signed by a user",
            signed(alice, id, create(new, 0, alice, usd())),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "create at an unknown member",
            signed(&k.issuer_a, id, create(new, 7, carol, usd())),
            ResultCode::UnknownMember,
        ),
        case(
            "create in an unknown currency",
            signed(
                &k.issuer_a,
                id,
                create(new, 0, carol, settlenet_types::Currency(*b"JPY")),
            ),
            ResultCode::UnknownCurrency,
        ),
        case(
            "create over an existing wallet",
            signed(&k.issuer_a, id, create(w(BOB), 0, carol, usd())),
            ResultCode::AccountExists,
        ),
        case(
            "create over a settlement account",
            signed(
                &k.issuer_a,
                id,
                create(settlement("bank-a", usd()), 0, carol, usd()),
            ),
            ResultCode::AccountExists,
        ),
        case(
            "create over a float id not yet created (reserved)",
            signed(
                &k.issuer_b,
                id,
                create(float("bank-b", eur()), 1, carol, eur()),
            ),
            ResultCode::AccountExists,
        ),
        // Issue
        case(
            "issue ok",
            signed(&k.issuer_a, id, issue(w(ALICE), 5)),
            ResultCode::Ok,
        ),
        case(
            "issue ok, float created on first use",
            signed(&k.issuer_b, id, issue(w(BOB), 5)),
            ResultCode::Ok,
        ),
        case(
            "issue on another chain",
            signed_with(&k.issuer_a, id, issue(w(ALICE), 5), "other", TX_VERSION),
            ResultCode::WrongChain,
        ),
        case(
            "issue with an old version",
            signed_with(&k.issuer_a, id, issue(w(ALICE), 5), CHAIN, 0),
            ResultCode::UnsupportedVersion,
        ),
        case(
            "issue reusing a tx id",
            signed(&k.issuer_a, tx_id(4), issue(w(ALICE), 101)),
            ResultCode::ExistsWithDifferentBody,
        ),
        case(
            "issue zero",
            signed(&k.issuer_a, id, issue(w(ALICE), 0)),
            ResultCode::ZeroAmount,
        ),
        case(
            "issue into bank-a's wallet by bank-b's issuer",
            signed(&k.issuer_b, id, issue(w(ALICE), 5)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "issue by an auditor (staff without the issuer role)",
            signed(&k.auditor_a, id, issue(w(ALICE), 5)),
            ResultCode::ForbiddenRole,
        ),
        case(
            "issue by the wallet owner",
            signed(alice, id, issue(w(ALICE), 5)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "issue into a missing wallet",
            signed(&k.issuer_a, id, issue(w(NOBODY), 5)),
            ResultCode::AccountNotFound,
        ),
        case(
            "issue into a settlement account",
            signed(&k.issuer_a, id, issue(settlement("bank-a", usd()), 5)),
            ResultCode::NotAWallet,
        ),
        case(
            "issue into a float",
            signed(&k.issuer_a, id, issue(float("bank-a", usd()), 5)),
            ResultCode::NotAWallet,
        ),
        Case {
            what: "issue overflowing the wallet",
            base: Base::NearMax,
            tx: signed(&k.issuer_a, id, issue(w(ALICE), 6)),
            want: ResultCode::Overflow,
        },
        Case {
            what: "issue just below the limit",
            base: Base::NearMax,
            tx: signed(&k.issuer_a, id, issue(w(ALICE), 5)),
            want: ResultCode::Ok,
        },
        // Transfer
        case(
            "transfer ok",
            signed(alice, id, transfer(w(ALICE), w(BOB), 40)),
            ResultCode::Ok,
        ),
        case(
            "transfer everything",
            signed(alice, id, transfer(w(ALICE), w(BOB), 100)),
            ResultCode::Ok,
        ),
        case(
            "transfer on another chain",
            signed_with(
                alice,
                id,
                transfer(w(ALICE), w(BOB), 1),
                "other",
                TX_VERSION,
            ),
            ResultCode::WrongChain,
        ),
        case(
            "transfer with a future version",
            signed_with(alice, id, transfer(w(ALICE), w(BOB), 1), CHAIN, 9),
            ResultCode::UnsupportedVersion,
        ),
        case(
            "transfer reusing a tx id",
            signed(alice, tx_id(3), transfer(w(ALICE), w(BOB), 1)),
            ResultCode::ExistsWithDifferentBody,
        ),
        case(
            "transfer zero",
            signed(alice, id, transfer(w(ALICE), w(BOB), 0)),
            ResultCode::ZeroAmount,
        ),
        case(
            "transfer to itself",
            signed(alice, id, transfer(w(ALICE), w(ALICE), 1)),
            ResultCode::SameAccount,
        ),
        case(
            "transfer signed by the payee",
            signed(bob, id, transfer(w(ALICE), w(BOB), 1)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "transfer signed by the issuer",
            signed(&k.issuer_a, id, transfer(w(ALICE), w(BOB), 1)),
            ResultCode::ForbiddenSigner,
        ),
        case(
            "transfer from a missing wallet",
            signed(alice, id, transfer(w(NOBODY), w(BOB), 1)),
            ResultCode::AccountNotFound,
        ),
        case(
            "transfer from a settlement account",
            signed(
                &k.issuer_a,
                id,
                transfer(settlement("bank-a", usd()), w(BOB), 1),
            ),
            ResultCode::NotAWallet,
        ),
        case(
            "transfer from a float",
            signed(&k.issuer_a, id, transfer(float("bank-a", usd()), w(BOB), 1)),
            ResultCode::NotAWallet,
        ),
        case(
            "transfer to a missing payee",
            signed(alice, id, transfer(w(ALICE), w(NOBODY), 1)),
            ResultCode::UnknownPayee,
        ),
        case(
            "transfer to a settlement account",
            signed(
                alice,
                id,
                transfer(w(ALICE), settlement("bank-a", usd()), 1),
            ),
            ResultCode::NotAWallet,
        ),
        case(
            "transfer across currencies",
            signed(alice, id, transfer(w(ALICE), w(CAROL), 1)),
            ResultCode::CurrencyMismatch,
        ),
        case(
            "transfer one more than the balance",
            signed(alice, id, transfer(w(ALICE), w(BOB), 101)),
            ResultCode::InsufficientFunds,
        ),
        case(
            "transfer from an empty wallet",
            signed(bob, id, transfer(w(BOB), w(ALICE), 1)),
            ResultCode::InsufficientFunds,
        ),
        case(
            "transfer u64::MAX",
            signed(alice, id, transfer(w(ALICE), w(BOB), u64::MAX)),
            ResultCode::InsufficientFunds,
        ),
        Case {
            what: "transfer overflowing the payee",
            base: Base::NearMax,
            tx: signed(bob, id, transfer(w(BOB), w(ALICE), 10)),
            want: ResultCode::Overflow,
        },
        Case {
            what: "transfer up to the payee's limit",
            base: Base::NearMax,
            tx: signed(bob, id, transfer(w(BOB), w(ALICE), 5)),
            want: ResultCode::Ok,
        },
    ]
}

#[test]
fn every_operation_and_result_code() {
    let (normal, near) = (base(), near_max());
    let mut seen = BTreeSet::new();
    for case in cases() {
        let mut ledger = match case.base {
            Base::Normal => normal.clone(),
            Base::NearMax => near.clone(),
        };
        let before = snapshot(&ledger);
        let root_before = ledger.state_root();
        let accounts_root_before = ledger.accounts_root();
        let totals_before = ledger.totals();
        let record_before = ledger.record(&case.tx.tx.id).cloned();
        let out = apply(&mut ledger, std::slice::from_ref(&case.tx));
        let got = out.outcomes[0].result;
        assert_eq!(got, case.want, "{}", case.what);
        assert!(!out.outcomes[0].duplicate, "{}", case.what);
        assert_eq!(
            ledger.totals(),
            totals_before,
            "{}: conservation",
            case.what
        );
        for a in ledger.accounts() {
            if a.kind.must_stay_nonnegative() {
                assert!(a.available() >= 0, "{}: {a:?} below zero", case.what);
            }
        }
        if got.is_ok() {
            assert!(!out.changed_accounts.is_empty(), "{}", case.what);
            assert_ne!(ledger.state_root(), root_before, "{}", case.what);
        } else {
            assert!(out.changed_accounts.is_empty(), "{}", case.what);
            assert_eq!(snapshot(&ledger), before, "{}: accounts changed", case.what);
            assert_eq!(
                ledger.accounts_root(),
                accounts_root_before,
                "{}",
                case.what
            );
            // The root commits to records: it changes exactly when a record was written.
            assert_eq!(
                ledger.state_root() == root_before,
                got == ResultCode::ExistsWithDifferentBody,
                "{}: root",
                case.what
            );
        }
        // A record for everything but a body conflict, which keeps the first record.
        if got == ResultCode::ExistsWithDifferentBody {
            assert!(out.new_records.is_empty(), "{}", case.what);
            assert_eq!(ledger.record(&case.tx.tx.id).cloned(), record_before);
        } else {
            assert_eq!(out.new_records.len(), 1, "{}", case.what);
            let rec = ledger.record(&case.tx.tx.id).expect("record");
            assert_eq!(rec.result, got);
            assert_eq!(rec.height, ledger.height());
            assert_eq!(rec.index, 0);
            assert_eq!(rec.body_hash, case.tx.tx.body_hash().expect("hash"));
        }
        // The stateless prefix agrees with precheck.
        let stateless = [
            ResultCode::WrongChain,
            ResultCode::UnsupportedVersion,
            ResultCode::ZeroAmount,
            ResultCode::SameAccount,
        ];
        if stateless.contains(&got) {
            assert_eq!(normal.precheck(&case.tx), Err(got), "{}", case.what);
        } else {
            assert_eq!(normal.precheck(&case.tx), Ok(()), "{}", case.what);
        }
        seen.insert(got.as_str());
    }
    // The codes of the original operations; the issue-4 codes are covered by `issue4.rs`.
    let all: BTreeSet<&str> = ResultCode::ALL[..16]
        .iter()
        .chain([ResultCode::ForbiddenRole].iter())
        .map(|c| c.as_str())
        .collect();
    assert_eq!(
        seen, all,
        "every result code of these operations is exercised"
    );
}

#[test]
fn successful_operations_move_the_right_amounts() {
    let k = keys();
    let mut l = base();
    let a = |l: &Ledger, id: AccountId| l.account(&id).expect("account").balance();
    assert_eq!(a(&l, wallet_id(ALICE)), 100);
    assert_eq!(a(&l, float("bank-a", usd())), -100);
    assert!(l.account(&float("bank-b", usd())).is_none());

    let out = apply(
        &mut l,
        &[
            signed(
                &k.users[0],
                tx_id(10),
                transfer(wallet_id(ALICE), wallet_id(BOB), 30),
            ),
            signed(&k.issuer_b, tx_id(11), issue(wallet_id(BOB), 7)),
        ],
    );
    assert!(out.outcomes.iter().all(|o| o.result.is_ok()));
    assert_eq!(a(&l, wallet_id(ALICE)), 70);
    assert_eq!(a(&l, wallet_id(BOB)), 37);
    let fb = l.account(&float("bank-b", usd())).expect("float created");
    assert_eq!((fb.kind.clone(), fb.balance()), (AccountKind::Float, -7));
    assert_eq!(fb.created_height, l.height());
    let ids: Vec<AccountId> = out.changed_accounts.iter().map(|x| x.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "changed accounts sorted by id");
    // alice, bob, bank-b float, the two members' positions (alice at bank-a paid bob at
    // bank-b: bank-a owes bank-b 30 in window 0) and window 0's record (its matrix).
    assert_eq!(ids.len(), 6);
    let pos = |m: &str| {
        l.account(&settlenet_ledger::position_id(m, usd(), 0))
            .expect("position")
            .balance()
    };
    assert_eq!((pos("bank-a"), pos("bank-b")), (-30, 30));
    let w = l.account(&wallet_id(CAROL)).expect("carol");
    assert_eq!(w.owner, Some(k.users[2].public()));
    assert_eq!(w.created_height, Height(1));
    assert_eq!(w.member, settlenet_types::MemberId(0));
    let totals = l.totals();
    assert_eq!(totals[&usd()], 1_500);
    assert_eq!(totals[&eur()], 70);
}

#[test]
fn retry_with_same_body_returns_first_result_and_changes_nothing() {
    let k = keys();
    let mut l = base();
    let pay = signed(
        &k.users[0],
        tx_id(20),
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
    assert_eq!(l.record(&tx_id(20)).expect("record").height, Height(3));
}

#[test]
fn a_failed_id_stays_failed() {
    let k = keys();
    let mut l = base();
    let pay = signed(
        &k.users[0],
        tx_id(21),
        transfer(wallet_id(ALICE), wallet_id(BOB), 150),
    );
    assert_eq!(
        apply(&mut l, std::slice::from_ref(&pay)).outcomes[0].result,
        ResultCode::InsufficientFunds
    );
    // Fund the payer; the retry must not flip the outcome.
    apply(
        &mut l,
        &[signed(&k.issuer_a, tx_id(22), issue(wallet_id(ALICE), 100))],
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
        tx_id(30),
        transfer(wallet_id(ALICE), wallet_id(BOB), 1),
        "other",
        TX_VERSION,
    );
    let out = apply(&mut l, std::slice::from_ref(&bad));
    assert_eq!(out.outcomes[0].result, ResultCode::WrongChain);
    assert_eq!(
        l.record(&tx_id(30)).expect("record").result,
        ResultCode::WrongChain
    );
    let out = apply(&mut l, &[bad]);
    assert!(out.outcomes[0].duplicate);
    assert_eq!(out.outcomes[0].result, ResultCode::WrongChain);
    // The id is spent: the corrected transaction with the same id is a different body.
    let good = signed(
        &k.users[0],
        tx_id(30),
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
    let first = l.record(&tx_id(4)).cloned().expect("record");
    let out = apply(
        &mut l,
        &[signed(&k.issuer_a, tx_id(4), issue(wallet_id(ALICE), 1))],
    );
    assert_eq!(out.outcomes[0].result, ResultCode::ExistsWithDifferentBody);
    assert!(!out.outcomes[0].duplicate);
    assert_eq!(l.record(&tx_id(4)), Some(&first));
    // Also within one block: a second body under a fresh id.
    let out = apply(
        &mut l,
        &[
            signed(&k.issuer_a, tx_id(40), issue(wallet_id(ALICE), 1)),
            signed(&k.issuer_a, tx_id(40), issue(wallet_id(ALICE), 2)),
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
            tx_id(50),
            transfer(wallet_id(ALICE), wallet_id(BOB), 1),
        ),
        signed(&mallory, tx_id(51), issue(wallet_id(ALICE), 1)),
        signed(
            &mallory,
            tx_id(52),
            create(wallet_id(8), 0, &mallory, usd()),
        ),
        signed(
            &k.users[1],
            tx_id(53),
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
    assert!(l.accounts().all(|a| a.created_height == Height(0)));
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
            tx_id(60),
            transfer(wallet_id(ALICE), wallet_id(BOB), 9),
        )],
    );
    let records: Vec<_> = [1u64, 2, 3, 4, 60]
        .iter()
        .map(|n| (tx_id(*n), l.record(&tx_id(*n)).expect("record").clone()))
        .collect();
    let r = Ledger::restore(&g, l.height(), snapshot(&l), records.clone()).expect("restore");
    assert_eq!(r.state_root(), l.state_root());
    assert_eq!(r.height(), l.height());
    assert_eq!(snapshot(&r), snapshot(&l));
    assert_eq!(r.record(&tx_id(60)), l.record(&tx_id(60)));

    // Untouched genesis accounts may be left out.
    let changed: Vec<Account> = snapshot(&l)
        .into_iter()
        .filter(|a| a.created_height > Height(0) || a.debits_posted > 0)
        .collect();
    assert!(changed.len() < l.account_count());
    let r = Ledger::restore(&g, l.height(), changed, records.clone()).expect("restore");
    assert_eq!(r.state_root(), l.state_root());

    let mut tampered = snapshot(&l);
    let i = tampered
        .iter()
        .position(|a| a.id == wallet_id(BOB))
        .expect("bob");
    tampered[i].credits_posted += 1;
    assert!(matches!(
        Ledger::restore(&g, l.height(), tampered, records.clone()),
        Err(LedgerError::Restore(_))
    ));
    let mut twice = snapshot(&l);
    twice.push(twice[0].clone());
    assert!(Ledger::restore(&g, l.height(), twice, records.clone()).is_err());
    let mut wallet_on_reserved = snapshot(&l);
    let i = wallet_on_reserved
        .iter()
        .position(|a| a.id == wallet_id(BOB))
        .expect("bob");
    wallet_on_reserved[i].id = float("bank-b", eur());
    assert!(Ledger::restore(&g, l.height(), wallet_on_reserved, records.clone()).is_err());
    assert!(
        Ledger::restore(&g, Height(2), snapshot(&l), records).is_err(),
        "record from the future"
    );
}

#[test]
fn proofs_verify_and_detect_tampering() {
    let l = base();
    let root = l.state_root();
    for a in l.accounts() {
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
