//! Clearing and settlement sequences: reject then fund and retry, unwind and carry, a
//! 100,000-instruction file in 50 chunks settling as one step, abort, restore, reserved ids,
//! genesis caps.

mod common;
mod settlement_fixture;

use common::*;
use settlement_fixture::*;
use settlenet_ledger::{
    position_id, window_account_id, BatchState, Ledger, RecordDetail, ResultCode, WindowState,
};
use settlenet_types::{
    Amount, Currency, Genesis, MemberId, NetDebitCap, Operation, SettlementInstruction,
    SettlementPolicy, SignedTransaction, SETTLEMENT_CHUNK_MAX,
};
use std::collections::BTreeMap;

// ------------------------------------------------------------------------------------------
// Sequences.

#[test]
fn reject_names_the_short_member_moves_nothing_and_a_funded_retry_settles() {
    let k = sk();
    let cl = &k.clearing;
    let mut l = base();
    let totals = l.totals();
    ok_block(&mut l, &[signed(cl, nonce(200), withdraw(A, 400))]);
    let before = snapshot(&l);
    let out = apply(
        &mut l,
        &[signed(
            cl,
            nonce(201),
            settle_op(batch(1), 1, &b1_chunk0(), 1, SettlementPolicy::Reject),
        )],
    );
    assert_eq!(out.outcomes[0].result, ResultCode::SettlementShortfall);
    let Some(RecordDetail::Settlement { members, .. }) = &out.outcomes[0].detail else {
        panic!("no detail");
    };
    assert_eq!(
        (
            members[0].member,
            members[0].debit,
            members[0].balance,
            members[0].shortfall
        ),
        (MemberId(A), 550, 500, 50)
    );
    assert_eq!(snapshot(&l), before, "atomic: no settlement account moved");
    assert_eq!(l.window(usd(), 1).expect("w1").state, WindowState::Settling);
    // Fund the shortfall; the same batch settles under a new transaction id.
    ok_block(&mut l, &[signed(cl, nonce(202), fund(A, 50))]);
    let out = apply(
        &mut l,
        &[signed(
            cl,
            nonce(203),
            settle_op(batch(1), 1, &b1_chunk0(), 1, SettlementPolicy::Reject),
        )],
    );
    assert!(out.outcomes[0].result.is_ok());
    assert_eq!(out.outcomes[0].detail, None);
    assert_eq!((sbal(&l, A), sbal(&l, B), sbal(&l, C)), (0, 950, 200));
    assert_eq!((pos(&l, A, 1), pos(&l, B, 1), pos(&l, C, 1)), (0, 0, 0));
    let w = l.window(usd(), 1).expect("w1");
    assert_eq!(
        (w.state, w.batch, w.instructions),
        (WindowState::Settled, Some(batch(1)), 1)
    );
    let report = l.window_report(usd(), 1).expect("report");
    let settled: Vec<(u16, u128, u128, i128)> = report
        .iter()
        .map(|r| (r.member.0, r.sent, r.received, r.settled))
        .collect();
    assert_eq!(
        settled,
        vec![(A, 700, 150, -550), (B, 350, 700, 350), (C, 100, 300, 200)]
    );
    let b = l.batch(&batch(1)).expect("batch");
    assert_eq!(b.detail.state, BatchState::Settled);
    assert!(
        l.batch_instructions(&batch(1)).is_empty(),
        "staging dropped"
    );
    assert_eq!(l.staging_batch_of(usd()), None);
    assert_eq!(l.unsettled_net(MemberId(A), usd()), 0);
    check_invariants(&l, &totals, "after settlement");
}

#[test]
fn unwind_removes_the_short_member_settles_the_rest_and_carries_its_obligations() {
    let k = sk();
    let cl = &k.clearing;
    let mut l = base();
    let totals = l.totals();
    ok_block(&mut l, &[signed(cl, nonce(200), withdraw(A, 900))]);
    let out = apply(
        &mut l,
        &[signed(
            cl,
            nonce(201),
            settle_op(batch(1), 1, &b1_chunk0(), 1, SettlementPolicy::Unwind),
        )],
    );
    assert!(out.outcomes[0].result.is_ok());
    let Some(RecordDetail::Settlement {
        members, policy, ..
    }) = &out.outcomes[0].detail
    else {
        panic!("the unwind is recorded");
    };
    assert_eq!(*policy, SettlementPolicy::Unwind);
    assert_eq!(
        members.iter().map(|s| s.member).collect::<Vec<_>>(),
        vec![MemberId(A)]
    );
    // Only b -> c 300 settles.
    assert_eq!((sbal(&l, A), sbal(&l, B), sbal(&l, C)), (0, 300, 300));
    // a -> b 700, c -> a 100 and the instruction b -> a 50 move to window 2.
    assert_eq!(
        (pos(&l, A, 2), pos(&l, B, 2), pos(&l, C, 2)),
        (-550, 650, -100)
    );
    assert_eq!((pos(&l, A, 1), pos(&l, B, 1), pos(&l, C, 1)), (0, 0, 0));
    let w1 = l.window(usd(), 1).expect("w1");
    assert_eq!(w1.carried_to, Some(2));
    assert_eq!(w1.carried.iter().map(|o| o.amount).sum::<u128>(), 850);
    assert_eq!(
        l.batch(&batch(1)).expect("b1").detail.unwound,
        vec![MemberId(A)]
    );
    let w2 = l.window(usd(), 2).expect("w2");
    assert_eq!(w2.state, WindowState::Open);
    assert_eq!(w2.obligations.len(), 3);
    check_invariants(&l, &totals, "after unwind");
    // The carried obligations settle with window 2 once bank-a is funded.
    ok_block(
        &mut l,
        &[
            signed(cl, nonce(202), fund(A, 550)),
            signed(cl, nonce(203), close(usd(), 2)),
        ],
    );
    ok_block(
        &mut l,
        &[signed(
            cl,
            nonce(204),
            settle_op(batch(2), 2, &[], 0, SettlementPolicy::Reject),
        )],
    );
    assert_eq!((sbal(&l, A), sbal(&l, B), sbal(&l, C)), (0, 950, 200));
    for m in [A, B, C] {
        assert_eq!(l.unsettled_net(MemberId(m), usd()), 0);
    }
    check_invariants(&l, &totals, "after the carried window");
}

#[test]
fn a_file_of_100000_instructions_in_50_chunks_settles_in_one_step() {
    let k = sk();
    let cl = &k.clearing;
    let mut l = base();
    let totals = l.totals();
    ok_block(
        &mut l,
        &[
            signed(cl, nonce(300), Operation::AbortBatch { batch: batch(1) }),
            signed(cl, nonce(301), fund(A, 1_000_000)),
            signed(cl, nonce(302), fund(B, 1_000_000)),
            signed(cl, nonce(303), cap(C, None)),
        ],
    );
    assert_eq!(l.window(usd(), 1).expect("w1").state, WindowState::Closed);
    let all: Vec<SettlementInstruction> = (0..100_000u32)
        .map(|i| {
            let (d, c) = [(A, B), (B, C), (C, A), (A, C)][(i % 4) as usize];
            let beneficiary = (i % 1_000 == 0 && c == B).then_some(wb());
            instr(&format!("E2E-{i}"), d, c, 1 + u64::from(i % 7), beneficiary)
        })
        .collect();
    let chunks: Vec<Vec<SettlementInstruction>> = all
        .chunks(SETTLEMENT_CHUNK_MAX)
        .map(|c| c.to_vec())
        .collect();
    assert_eq!(chunks.len(), 50);
    // Chunks arrive out of order, ten per block; nothing moves while staging.
    let before: Vec<i128> = [A, B, C].iter().map(|m| sbal(&l, *m)).collect();
    let mut order: Vec<usize> = (0..50).rev().collect();
    order.swap(3, 40);
    for (n, block) in order.chunks(10).enumerate() {
        let txs: Vec<SignedTransaction> = block
            .iter()
            .map(|c| {
                signed(
                    cl,
                    nonce(400 + (*c as u64)),
                    stage(batch(7), 1, *c as u32, chunks[*c].clone()),
                )
            })
            .collect();
        ok_block(&mut l, &txs);
        let status = l.batch(&batch(7)).expect("batch");
        assert_eq!(status.detail.chunks.len(), 10 * (n + 1));
        let now: Vec<i128> = [A, B, C].iter().map(|m| sbal(&l, *m)).collect();
        assert_eq!(now, before);
    }
    assert_eq!(l.batch(&batch(7)).expect("b7").detail.instructions, 100_000);
    assert_eq!(l.batch_instructions(&batch(7)).len(), 100_000);
    // Independent expectation: window 1's payments plus the file.
    let mut net: BTreeMap<u16, i128> = [(A, -600), (B, 400), (C, 200)].into();
    for i in &all {
        *net.get_mut(&i.debtor.0).expect("d") -= i128::from(i.amount.0);
        *net.get_mut(&i.creditor.0).expect("c") += i128::from(i.amount.0);
    }
    let wb_before = l.account(&wb()).expect("wb").balance();
    let beneficiary_total: i128 = all
        .iter()
        .filter(|i| i.beneficiary.is_some())
        .map(|i| i128::from(i.amount.0))
        .sum();
    let out = apply(
        &mut l,
        &[signed(
            cl,
            nonce(500),
            settle_op(batch(7), 1, &all, 50, SettlementPolicy::Reject),
        )],
    );
    assert!(out.outcomes[0].result.is_ok(), "{}", out.outcomes[0].result);
    for (i, m) in [A, B, C].iter().enumerate() {
        assert_eq!(sbal(&l, *m) - before[i], net[m], "member {m}");
    }
    assert_eq!(
        l.account(&wb()).expect("wb").balance() - wb_before,
        beneficiary_total
    );
    assert_eq!(l.window(usd(), 1).expect("w1").instructions, 100_000);
    assert!(l.batch_instructions(&batch(7)).is_empty());
    check_invariants(&l, &totals, "after the large file");
}

#[test]
fn one_batch_stages_per_currency_and_an_aborted_window_can_be_settled_again() {
    let k = sk();
    let cl = &k.clearing;
    let mut l = base();
    ok_block(&mut l, &[signed(cl, nonce(200), close(usd(), 2))]);
    let out = apply(
        &mut l,
        &[signed(cl, nonce(201), stage(batch(3), 2, 0, b1_chunk0()))],
    );
    assert_eq!(out.outcomes[0].result, ResultCode::SettlementInProgress);
    let out = apply(
        &mut l,
        &[signed(
            cl,
            nonce(202),
            settle_op(batch(3), 2, &[], 0, SettlementPolicy::Reject),
        )],
    );
    assert_eq!(out.outcomes[0].result, ResultCode::SettlementInProgress);
    ok_block(
        &mut l,
        &[signed(
            cl,
            nonce(203),
            Operation::AbortBatch { batch: batch(1) },
        )],
    );
    assert_eq!(
        l.batch(&batch(1)).expect("b1").detail.state,
        BatchState::Aborted
    );
    // Window 2 (closed, empty) settles without instructions; then window 1 by a new batch.
    ok_block(
        &mut l,
        &[signed(
            cl,
            nonce(204),
            settle_op(batch(3), 2, &[], 0, SettlementPolicy::Reject),
        )],
    );
    ok_block(
        &mut l,
        &[signed(
            cl,
            nonce(205),
            settle_op(batch(4), 1, &[], 0, SettlementPolicy::Reject),
        )],
    );
    assert_eq!((sbal(&l, A), sbal(&l, B), sbal(&l, C)), (300, 1_000, 200));
    let states: Vec<WindowState> = l.windows(usd(), 0, 10).iter().map(|w| w.state).collect();
    assert_eq!(
        states,
        vec![
            WindowState::Settled,
            WindowState::Settled,
            WindowState::Settled,
            WindowState::Open
        ]
    );
}

#[test]
fn window_and_position_ids_ahead_are_reserved_and_restore_rebuilds_everything() {
    let k = sk();
    let cl = &k.clearing;
    let mut l = base();
    for (n, id) in [
        position_id("bank-a", usd(), 5),
        window_account_id(usd(), 40),
        window_account_id(eur(), 1),
        position_id("bank-c", usd(), 1), // window 1 is not settled yet
    ]
    .into_iter()
    .enumerate()
    {
        let out = apply(
            &mut l,
            &[signed(
                &k.issuers[0],
                nonce(600 + n as u64),
                create(id, A, &k.users[0], usd()),
            )],
        );
        assert_eq!(out.outcomes[0].result, ResultCode::AccountExists, "{id}");
    }
    // Window 0 is settled and bank-c had no position there: its id is free again.
    let out = apply(
        &mut l,
        &[signed(
            &k.issuers[0],
            nonce(610),
            create(position_id("bank-c", usd(), 0), A, &k.users[0], usd()),
        )],
    );
    assert!(out.outcomes[0].result.is_ok());
    ok_block(&mut l, &[signed(cl, nonce(611), withdraw(A, 900))]);
    ok_block(
        &mut l,
        &[signed(
            cl,
            nonce(612),
            settle_op(batch(1), 1, &b1_chunk0(), 1, SettlementPolicy::Unwind),
        )],
    );
    ok_block(
        &mut l,
        &[
            signed(cl, nonce(613), close(usd(), 2)),
            signed(cl, nonce(614), stage(batch(5), 2, 0, b1_chunk0())),
        ],
    );
    let g = sgenesis();
    let records = records(&l);
    let mut restored = Ledger::restore(&g, l.height(), snapshot(&l), records, l.history().clone())
        .expect("restore");
    assert_eq!(restored.state_root(), l.state_root());
    assert_eq!(restored.open_window(usd()), l.open_window(usd()));
    assert_eq!(restored.staging_batch_of(usd()), Some(batch(5)));
    for m in [A, B, C] {
        assert_eq!(
            restored.unsettled_net(MemberId(m), usd()),
            l.unsettled_net(MemberId(m), usd())
        );
    }
    // Both continue identically: a close, a payment under the cap, a squatting attempt.
    let txs = vec![
        signed(cl, nonce(700), close(usd(), 3)),
        signed(&k.users[2], nonce(701), transfer(wc(), wa(), 6_000)),
        signed(
            &k.issuers[0],
            nonce(702),
            create(position_id("bank-a", usd(), 3 + 64), A, &k.users[0], usd()),
        ),
    ];
    let h = settlenet_types::Height(l.height().0 + 1);
    let x = l.apply_block(h, 99_000, &txs);
    let y = restored.apply_block(h, 99_000, &txs);
    assert_eq!(x, y);
    assert_eq!(x.outcomes[1].result, ResultCode::NetDebitCapExceeded);
    assert_eq!(x.outcomes[2].result, ResultCode::AccountExists);
}

#[test]
fn genesis_caps_live_in_settlement_accounts() {
    let l = Ledger::from_genesis(&sgenesis()).expect("genesis");
    assert_eq!(l.net_debit_cap(MemberId(C), usd()), Some(Amount(5_000)));
    assert_eq!(
        l.net_debit_cap(MemberId(A), usd()),
        None,
        "no cap: unlimited"
    );
    assert_eq!(
        l.settlement_account(MemberId(C), usd())
            .map(|a| a.balance()),
        Some(0)
    );
    let mut g = sgenesis();
    g.members[0].net_debit_caps = vec![NetDebitCap {
        currency: Currency(*b"JPY"),
        cap: Amount(1),
    }];
    assert!(Ledger::from_genesis(&g).is_err());
    let mut g = sgenesis();
    g.members[0].net_debit_caps = vec![
        NetDebitCap {
            currency: usd(),
            cap: Amount(1),
        },
        NetDebitCap {
            currency: usd(),
            cap: Amount(2),
        },
    ];
    assert!(Ledger::from_genesis(&g).is_err());
    // JSON without the field still parses (serde default), and the version is checked.
    let mut v = serde_json::to_value(genesis()).expect("json");
    for m in v["members"].as_array_mut().expect("members") {
        m.as_object_mut().expect("member").remove("net_debit_caps");
    }
    assert!(!v.to_string().contains("net_debit_caps"));
    let back: Genesis = serde_json::from_value(v).expect("parse");
    assert_eq!(back, genesis());
    let mut old = genesis();
    old.version = 1;
    assert!(
        Ledger::from_genesis(&old).is_err(),
        "version-1 genesis refused"
    );
}
