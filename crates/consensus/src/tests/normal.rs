//! The normal case (§4.2): PRE-PREPARE, the node's verdict, PREPARE and COMMIT collection,
//! the primary's in-flight window, bad and duplicate messages, and consensus time around a
//! height.

use super::fixture::*;
use crate::*;
use settlenet_crypto::verify_certificate;
use settlenet_types::block::{VoteBody, VoteKind};
use settlenet_types::{Height, ReplicaId, View};

#[test]
fn happy_path_backup_step_by_step() {
    let fx = fixture(4);
    let mut r = fx.replica(1, 4, 0);
    assert_eq!(r.primary(), ReplicaId(0));
    assert!(!r.is_primary());
    assert_eq!(r.next_proposal_height(), None);
    let b = block(1, 0, 3);
    assert!(
        step(&mut r, Input::Propose(b.clone())).is_empty(),
        "a backup does not propose"
    );
    assert_eq!(r.stats().proposals_refused, 1);
    let h = hash(&b);
    let pp = fx.pre_prepare(0, 0, &b);
    let cert = fx.certificate(1, h, &[0, 1, 2]);
    run_table(
        &mut r,
        vec![
            (
                "pre-prepare -> the node must verify the block",
                msg(&pp),
                vec![Output::VerifyProposal {
                    view: View(0),
                    block: b.clone(),
                }],
            ),
            (
                "valid verdict -> PREPARE",
                verdict(&b, true),
                vec![Output::Broadcast(fx.vote(1, VoteKind::Prepare, 1, h))],
            ),
            (
                "second backup PREPARE -> prepared -> COMMIT",
                msg(&fx.vote(2, VoteKind::Prepare, 1, h)),
                vec![Output::Broadcast(fx.vote(1, VoteKind::Commit, 1, h))],
            ),
            (
                "third PREPARE after prepared changes nothing",
                msg(&fx.vote(3, VoteKind::Prepare, 1, h)),
                vec![],
            ),
            (
                "primary's COMMIT: 2 of 3",
                msg(&fx.vote(0, VoteKind::Commit, 1, h)),
                vec![],
            ),
            (
                "backup 2's COMMIT: quorum -> Committed",
                msg(&fx.vote(2, VoteKind::Commit, 1, h)),
                vec![Output::Committed {
                    block: b.clone(),
                    certificate: cert.clone(),
                }],
            ),
            (
                "a late COMMIT for a committed height is stale",
                msg(&fx.vote(3, VoteKind::Commit, 1, h)),
                vec![],
            ),
        ],
    );
    assert_eq!(r.last_committed(), Height(1));
    assert_eq!(r.stats().committed, 1);
    assert_eq!(r.stats().dropped(DropReason::Stale), 1);
    verify_certificate(&fx.genesis(), Height(1), &h, &cert).expect("certificate verifies");
}

#[test]
fn happy_path_primary_and_in_flight_window() {
    let fx = fixture(4);
    let mut r = fx.replica(0, 2, 0);
    assert!(r.is_primary());
    assert_eq!(r.next_proposal_height(), Some(Height(1)));
    let b1 = block(1, 0, 0);
    let b2 = block(2, 0, 1);
    let (h1, h2) = (hash(&b1), hash(&b2));
    run_table(
        &mut r,
        vec![
            (
                "propose 1 -> PRE-PREPARE",
                Input::Propose(b1.clone()),
                vec![Output::Broadcast(fx.pre_prepare(0, 0, &b1))],
            ),
            (
                "propose 2 -> PRE-PREPARE",
                Input::Propose(b2.clone()),
                vec![Output::Broadcast(fx.pre_prepare(0, 0, &b2))],
            ),
            (
                "window full: proposal 3 refused",
                Input::Propose(block(3, 0, 0)),
                vec![],
            ),
            (
                "PREPARE 1 from backup 1",
                msg(&fx.vote(1, VoteKind::Prepare, 1, h1)),
                vec![],
            ),
            (
                "PREPARE 1 from backup 2 -> primary COMMITs too",
                msg(&fx.vote(2, VoteKind::Prepare, 1, h1)),
                vec![Output::Broadcast(fx.vote(0, VoteKind::Commit, 1, h1))],
            ),
            (
                "COMMIT 1 from 3",
                msg(&fx.vote(3, VoteKind::Commit, 1, h1)),
                vec![],
            ),
            (
                "COMMIT 1 from 1 -> Committed",
                msg(&fx.vote(1, VoteKind::Commit, 1, h1)),
                vec![Output::Committed {
                    block: b1.clone(),
                    certificate: fx.certificate(1, h1, &[0, 1, 3]),
                }],
            ),
        ],
    );
    assert_eq!(r.stats().proposals_refused, 1);
    assert_eq!(r.next_proposal_height(), Some(Height(3)));
    // A proposal at the wrong height is refused, the right one accepted.
    assert!(step(&mut r, Input::Propose(block(4, 0, 0))).is_empty());
    assert_eq!(r.stats().proposals_refused, 2);
    assert_eq!(step(&mut r, Input::Propose(block(3, 0, 0))).len(), 1);
    assert_eq!(r.next_proposal_height(), None);
    let _ = h2;
}

#[test]
fn votes_before_pre_prepare_are_kept() {
    let fx = fixture(4);
    let mut r = fx.replica(1, 4, 0);
    let b = block(1, 0, 2);
    let h = hash(&b);
    run_table(
        &mut r,
        vec![
            (
                "COMMIT from 3 first",
                msg(&fx.vote(3, VoteKind::Commit, 1, h)),
                vec![],
            ),
            (
                "PREPARE from 2",
                msg(&fx.vote(2, VoteKind::Prepare, 1, h)),
                vec![],
            ),
            (
                "PREPARE from 3",
                msg(&fx.vote(3, VoteKind::Prepare, 1, h)),
                vec![],
            ),
            (
                "COMMIT from 0",
                msg(&fx.vote(0, VoteKind::Commit, 1, h)),
                vec![],
            ),
            (
                "COMMIT from 2",
                msg(&fx.vote(2, VoteKind::Commit, 1, h)),
                vec![],
            ),
            (
                "pre-prepare arrives last",
                msg(&fx.pre_prepare(0, 0, &b)),
                vec![Output::VerifyProposal {
                    view: View(0),
                    block: b.clone(),
                }],
            ),
            (
                "verdict: PREPARE, COMMIT and Committed at once, all 4 commits certified",
                verdict(&b, true),
                vec![
                    Output::Broadcast(fx.vote(1, VoteKind::Prepare, 1, h)),
                    Output::Broadcast(fx.vote(1, VoteKind::Commit, 1, h)),
                    Output::Committed {
                        block: b.clone(),
                        certificate: fx.certificate(1, h, &[0, 1, 2, 3]),
                    },
                ],
            ),
        ],
    );
    verify_certificate(
        &fx.genesis(),
        Height(1),
        &h,
        &fx.certificate(1, h, &[0, 1, 2, 3]),
    )
    .expect("certificate verifies");
}

#[test]
fn votes_for_another_block_do_not_count() {
    let fx = fixture(4);
    let mut r = fx.replica(1, 4, 0);
    let b = block(1, 0, 0);
    let other = hash(&block(1, 99, 0));
    let _ = step(&mut r, msg(&fx.pre_prepare(0, 0, &b)));
    let _ = step(&mut r, verdict(&b, true));
    // Backups 2 and 3 prepare another digest: not prepared.
    assert!(step(&mut r, msg(&fx.vote(2, VoteKind::Prepare, 1, other))).is_empty());
    assert!(step(&mut r, msg(&fx.vote(3, VoteKind::Prepare, 1, other))).is_empty());
    // The primary's PREPARE does not count either (and is dropped).
    assert!(step(&mut r, msg(&fx.vote(0, VoteKind::Prepare, 1, hash(&b)))).is_empty());
    assert_eq!(r.stats().dropped(DropReason::PrepareFromPrimary), 1);
    assert_eq!(r.last_committed(), Height(0));
}

#[test]
fn duplicates_are_dropped_and_conflicts_are_evidence() {
    let fx = fixture(4);
    let mut r = fx.replica(1, 4, 0);
    let b = block(1, 0, 0);
    let h = hash(&b);
    let h_other = hash(&block(1, 7, 0));
    let h_third = hash(&block(1, 8, 0));
    let first = fx.vote(2, VoteKind::Prepare, 1, h);
    let second = fx.vote(2, VoteKind::Prepare, 1, h_other);
    let pp = fx.pre_prepare(0, 0, &b);
    let pp_other = fx.pre_prepare(0, 0, &block(1, 7, 0));
    let c_first = fx.vote(3, VoteKind::Commit, 1, h_other);
    let c_second = fx.vote(3, VoteKind::Commit, 1, h);
    run_table(
        &mut r,
        vec![
            ("first PREPARE kept", msg(&first), vec![]),
            ("same PREPARE again: duplicate", msg(&first), vec![]),
            (
                "different PREPARE from the same replica: evidence",
                msg(&second),
                vec![Output::Evidence {
                    replica: ReplicaId(2),
                    first: first.clone(),
                    second: second.clone(),
                }],
            ),
            (
                "a third conflicting one: counted, not reported again",
                msg(&fx.vote(2, VoteKind::Prepare, 1, h_third)),
                vec![],
            ),
            ("COMMIT from 3 for the other block", msg(&c_first), vec![]),
            (
                "conflicting COMMIT from 3: evidence",
                msg(&c_second),
                vec![Output::Evidence {
                    replica: ReplicaId(3),
                    first: c_first.clone(),
                    second: c_second.clone(),
                }],
            ),
            (
                "pre-prepare",
                msg(&pp),
                vec![Output::VerifyProposal {
                    view: View(0),
                    block: b.clone(),
                }],
            ),
            ("same pre-prepare again", msg(&pp), vec![]),
            (
                "primary equivocates",
                msg(&pp_other),
                vec![Output::Evidence {
                    replica: ReplicaId(0),
                    first: pp.clone(),
                    second: pp_other.clone(),
                }],
            ),
            (
                "the first PREPARE of 2 was kept: with ours, prepared",
                verdict(&b, true),
                vec![
                    Output::Broadcast(fx.vote(1, VoteKind::Prepare, 1, h)),
                    Output::Broadcast(fx.vote(1, VoteKind::Commit, 1, h)),
                ],
            ),
        ],
    );
    let stats = r.stats();
    assert_eq!(stats.dropped(DropReason::Duplicate), 2);
    assert_eq!(stats.dropped(DropReason::Conflicting), 4);
    assert_eq!(stats.evidence, 3);
}

#[test]
fn bad_messages_are_dropped_and_counted() {
    let fx = fixture(4);
    let b = block(1, 0, 2);
    let h = hash(&b);

    let mut bad_sig = fx.vote(2, VoteKind::Prepare, 1, h);
    bad_sig.signature.0[0] ^= 1;
    let mut impersonated = fx.vote(2, VoteKind::Prepare, 1, h);
    impersonated.from = ReplicaId(3); // 2's signature, claiming to be 3
    let unknown = {
        let mut m = fx.vote(2, VoteKind::Prepare, 1, h);
        m.from = ReplicaId(9);
        m
    };
    let wrong_chain = {
        let body = VoteBody {
            kind: VoteKind::Prepare,
            chain_id: "other-chain".into(),
            view: View(0),
            height: Height(1),
            block_hash: h,
        };
        SignedMessage::vote(body, ReplicaId(2), &fx.keys[2]).expect("sign")
    };
    let wrong_chain_block = {
        let mut blk = b.clone();
        blk.header.chain_id = "other-chain".into();
        fx.pre_prepare(0, 0, &blk)
    };
    // Validly signed by the primary, but the header's tx_root does not match the transactions.
    let bad_root = {
        let mut blk = b.clone();
        blk.txs.swap(0, 1);
        fx.pre_prepare(0, 0, &blk)
    };
    let bad_count = {
        let mut blk = b.clone();
        blk.txs.pop();
        fx.pre_prepare(0, 0, &blk)
    };
    let kind_mismatch = {
        let m = fx.vote(2, VoteKind::Commit, 1, h);
        let Payload::Commit(body) = m.payload else {
            panic!("commit")
        };
        SignedMessage {
            from: m.from,
            payload: Payload::Prepare(body),
            signature: m.signature,
        }
    };
    let table: Vec<(&str, Input, DropReason)> = vec![
        ("bad signature", msg(&bad_sig), DropReason::BadSignature),
        (
            "signed by 2, claims 3",
            msg(&impersonated),
            DropReason::BadSignature,
        ),
        ("unknown sender", msg(&unknown), DropReason::UnknownSender),
        (
            "transport sender differs from message.from",
            Input::Message {
                from: ReplicaId(3),
                message: fx.vote(2, VoteKind::Prepare, 1, h),
            },
            DropReason::FromMismatch,
        ),
        (
            "wrong chain id (vote)",
            msg(&wrong_chain),
            DropReason::WrongChain,
        ),
        (
            "wrong chain id (block)",
            msg(&wrong_chain_block),
            DropReason::WrongChain,
        ),
        (
            "tx_root does not match",
            msg(&bad_root),
            DropReason::BadBlock,
        ),
        (
            "tx_count does not match",
            msg(&bad_count),
            DropReason::BadBlock,
        ),
        (
            "pre-prepare from a backup",
            msg(&fx.pre_prepare(2, 0, &b)),
            DropReason::NotFromPrimary,
        ),
        (
            "PREPARE from the primary",
            msg(&fx.vote(0, VoteKind::Prepare, 1, h)),
            DropReason::PrepareFromPrimary,
        ),
        (
            "COMMIT body in a PREPARE",
            msg(&kind_mismatch),
            DropReason::Malformed,
        ),
        (
            "wrong view",
            msg(&fx.vote_in(2, VoteKind::Prepare, 1, 1, h)),
            DropReason::WrongView,
        ),
        (
            "pre-prepare of another view",
            msg(&fx.pre_prepare(2, 1, &b)),
            DropReason::WrongView,
        ),
        (
            "at or below last committed",
            msg(&fx.vote(2, VoteKind::Prepare, 0, h)),
            DropReason::Stale,
        ),
        (
            "my own name",
            msg(&fx.vote(1, VoteKind::Prepare, 1, h)),
            DropReason::FromSelf,
        ),
    ];
    for (description, input, reason) in table {
        // Messages of a higher view are buffered (§4.4), so the view rows run in view 2.
        let mut r = if description.contains("view") {
            fx.replica_in(1, 4, 0, 2)
        } else {
            fx.replica(1, 4, 0)
        };
        let out = step(&mut r, input);
        assert!(out.is_empty(), "{description}: {out:?}");
        let stats = r.stats();
        assert_eq!(stats.dropped(reason), 1, "{description}: {stats:?}");
        assert_eq!(stats.dropped_total(), 1, "{description}: {stats:?}");
    }
}

#[test]
fn invalid_verdict_means_no_prepare() {
    let fx = fixture(4);
    let mut r = fx.replica(1, 4, 0);
    let b = block(1, 0, 1);
    let h = hash(&b);
    run_table(
        &mut r,
        vec![
            (
                "pre-prepare",
                msg(&fx.pre_prepare(0, 0, &b)),
                vec![Output::VerifyProposal {
                    view: View(0),
                    block: b.clone(),
                }],
            ),
            ("node says invalid: nothing", verdict(&b, false), vec![]),
            (
                "a later valid verdict is ignored",
                verdict(&b, true),
                vec![],
            ),
            (
                "PREPARE from 2",
                msg(&fx.vote(2, VoteKind::Prepare, 1, h)),
                vec![],
            ),
            (
                "PREPARE from 3: still no COMMIT",
                msg(&fx.vote(3, VoteKind::Prepare, 1, h)),
                vec![],
            ),
            (
                "COMMITs do not commit it",
                msg(&fx.vote(0, VoteKind::Commit, 1, h)),
                vec![],
            ),
            ("", msg(&fx.vote(2, VoteKind::Commit, 1, h)), vec![]),
            ("", msg(&fx.vote(3, VoteKind::Commit, 1, h)), vec![]),
        ],
    );
    assert_eq!(r.stats().proposals_rejected, 1);
    assert_eq!(r.stats().verdicts_ignored, 1);
    assert_eq!(r.last_committed(), Height(0));
}

#[test]
fn verdict_for_unknown_proposal_is_ignored() {
    let fx = fixture(4);
    let mut r = fx.replica(1, 4, 0);
    let b = block(1, 0, 0);
    assert!(step(&mut r, verdict(&b, true)).is_empty());
    let _ = step(&mut r, msg(&fx.pre_prepare(0, 0, &b)));
    // Right height, wrong hash.
    assert!(step(&mut r, verdict(&block(1, 5, 0), true)).is_empty());
    assert_eq!(r.stats().verdicts_ignored, 2);
}

#[test]
fn single_validator_commits_its_own_proposals() {
    let fx = fixture(1);
    let mut r = fx.replica(0, 1, 0);
    let b = block(1, 0, 1);
    let h = hash(&b);
    let out = step(&mut r, Input::Propose(b.clone()));
    assert_eq!(
        out,
        vec![
            Output::Broadcast(fx.pre_prepare(0, 0, &b)),
            Output::Broadcast(fx.vote(0, VoteKind::Commit, 1, h)),
            Output::Committed {
                block: b,
                certificate: fx.certificate(1, h, &[0])
            },
        ]
    );
}

#[test]
fn accepted_times_around_a_height_follow_the_pipeline_and_skip_refused_blocks() {
    let fx = fixture(4);
    let mut r = fx.replica(1, 4, 0);
    assert_eq!(r.accepted_times_around(Height(1)), (None, None));
    let b1 = block(1, 10, 1);
    let b2 = block(2, 20, 1);
    let b3 = block(3, 30, 1);
    // Pre-prepares arrive out of order; verdicts are still pending: they count.
    step(&mut r, msg(&fx.pre_prepare(0, 0, &b1)));
    step(&mut r, msg(&fx.pre_prepare(0, 0, &b3)));
    assert_eq!(
        r.accepted_times_around(Height(2)),
        (Some(1_010), Some(1_030))
    );
    step(&mut r, msg(&fx.pre_prepare(0, 0, &b2)));
    assert_eq!(r.accepted_times_around(Height(4)), (Some(1_030), None));
    assert_eq!(r.accepted_times_around(Height(1)), (None, Some(1_020)));
    assert!(r.has_accepted(Height(0)));
    assert!(r.has_accepted(Height(3)));
    assert!(!r.has_accepted(Height(4)));
    // A block the node refused does not bound anything.
    step(&mut r, verdict(&b3, false));
    assert!(!r.has_accepted(Height(3)));
    assert_eq!(r.accepted_times_around(Height(4)), (Some(1_020), None));
    step(&mut r, verdict(&b1, true));
    assert_eq!(r.accepted_times_around(Height(2)), (Some(1_010), None));
}
