//! Crash recovery and catching up: the write-ahead log and `Replica::restore`, `Behind`
//! reports, and state transfer (`SyncedTo`).

use super::fixture::*;
use crate::*;
use settlenet_types::block::VoteKind;
use settlenet_types::{decode, encode, Height, View};

#[test]
fn out_of_window_reports_behind_with_f_plus_one_support() {
    let fx = fixture(4);
    // max_in_flight 2: window (0, 4].
    let mut r = fx.replica(1, 2, 0);
    let far = hash(&block(5, 0, 0));
    let mut forged = fx.vote(3, VoteKind::Commit, 100, far);
    forged.signature.0[5] ^= 1;
    run_table(
        &mut r,
        vec![
            (
                "edge of window is kept",
                msg(&fx.vote(2, VoteKind::Commit, 4, far)),
                vec![],
            ),
            (
                "one validator far ahead: not enough",
                msg(&fx.vote(2, VoteKind::Commit, 1_000_000, far)),
                vec![],
            ),
            ("badly signed far message: ignored", msg(&forged), vec![]),
            (
                "a second validator at 7: f+1 are at >= 7",
                msg(&fx.vote(3, VoteKind::Commit, 7, far)),
                vec![Output::Behind { height: Height(7) }],
            ),
            (
                "again at 7: rate-limited",
                msg(&fx.vote(3, VoteKind::Prepare, 7, far)),
                vec![],
            ),
            (
                "the primary at 9: f+1 are at >= 9",
                msg(&fx.pre_prepare(0, 0, &block(9, 0, 0))),
                vec![Output::Behind { height: Height(9) }],
            ),
        ],
    );
    let stats = r.stats();
    assert_eq!(stats.behind, 2);
    assert_eq!(stats.dropped(DropReason::AboveWindow), 4);
    assert_eq!(stats.dropped(DropReason::BadSignature), 1);
}

#[test]
fn synced_to_forgets_and_continues() {
    let fx = fixture(4);
    let mut r = fx.replica(1, 2, 0);
    let b3 = block(3, 0, 0);
    let h3 = hash(&b3);
    // Height 3 gets everything but cannot be emitted: 1 and 2 are missing.
    let _ = step(&mut r, msg(&fx.pre_prepare(0, 0, &b3)));
    let _ = step(&mut r, verdict(&b3, true));
    let _ = step(&mut r, msg(&fx.vote(2, VoteKind::Prepare, 3, h3)));
    let _ = step(&mut r, msg(&fx.vote(0, VoteKind::Commit, 3, h3)));
    assert!(step(&mut r, msg(&fx.vote(2, VoteKind::Commit, 3, h3))).is_empty());
    // Something for height 2 that state transfer will make moot.
    let _ = step(&mut r, msg(&fx.vote(2, VoteKind::Commit, 2, h3)));
    run_table(
        &mut r,
        vec![
            (
                "synced to 2: height 3 is next and ready",
                Input::SyncedTo(Height(2)),
                vec![Output::Committed {
                    block: b3.clone(),
                    certificate: fx.certificate(3, h3, &[0, 1, 2]),
                }],
            ),
            ("old sync is ignored", Input::SyncedTo(Height(1)), vec![]),
            (
                "absurd sync is ignored",
                Input::SyncedTo(Height(u64::MAX)),
                vec![],
            ),
            (
                "a vote for 2 is now stale",
                msg(&fx.vote(3, VoteKind::Commit, 2, h3)),
                vec![],
            ),
        ],
    );
    assert_eq!(r.last_committed(), Height(3));
    assert_eq!(r.stats().syncs_ignored, 2);
    assert_eq!(r.stats().dropped(DropReason::Stale), 1);
    // The window moved: height 7 = 3 + 2*2 is accepted now.
    let b7 = block(7, 0, 0);
    assert_eq!(
        step(&mut r, msg(&fx.pre_prepare(0, 0, &b7))),
        vec![Output::VerifyProposal {
            view: View(0),
            block: b7
        }]
    );
}

#[test]
fn primary_after_sync_proposes_above_it() {
    let fx = fixture(4);
    let mut r = fx.replica(0, 2, 0);
    let _ = step(&mut r, Input::Propose(block(1, 0, 0)));
    let _ = step(&mut r, Input::SyncedTo(Height(5)));
    assert_eq!(r.next_proposal_height(), Some(Height(6)));
}

#[test]
fn a_restored_replica_never_votes_differently() {
    // Crash recovery: what was voted is logged before it leaves; the restored replica keeps
    // its view and its votes, so a conflicting PRE-PREPARE gets no PREPARE.
    let fx = fixture(4);
    let mut r = fx.vc_replica(1, 0);
    let mut wal = Vec::new();
    let b = block(1, 0, 0);
    let other = block(1, 5, 1);
    for input in [msg(&fx.pre_prepare(0, 0, &b)), verdict(&b, true)] {
        for o in step_all(&mut r, input) {
            if let Output::Persist(e) = o {
                let bytes = encode("wal", &e).expect("encode");
                assert_eq!(decode::<WalEntry>("wal", &bytes).expect("decode"), e);
                wal.push(e);
            }
        }
    }
    assert_eq!(wal.len(), 1);
    let mut restored = Replica::restore(fx.vc_config(1), Height(0), wal.clone()).expect("restore");
    assert_eq!(restored.view(), View(0));
    // The equivocating primary's other block: kept first was ours, so no new PREPARE.
    let out = step_all(&mut restored, msg(&fx.pre_prepare(0, 0, &other)));
    assert!(broadcasts(&out).is_empty(), "{out:?}");
    assert!(
        matches!(out.as_slice(), [Output::Evidence { .. }]),
        "{out:?}"
    );
    // Its PREPARE still counts toward its COMMIT.
    let out = step_all(
        &mut restored,
        msg(&fx.vote(2, VoteKind::Prepare, 1, hash(&b))),
    );
    assert_eq!(
        broadcasts(&out),
        vec![&fx.vote(1, VoteKind::Commit, 1, hash(&b))]
    );

    // A view change survives a restart: the restored replica is in view 1, not active.
    let mut r = fx.vc_replica(2, 0);
    step_all(&mut r, Input::WorkPending);
    let vc = time_out(&mut r);
    let restored = Replica::restore(fx.vc_config(2), Height(0), vec![WalEntry::ViewChange(vc)])
        .expect("restore");
    assert_eq!((restored.view(), restored.is_active()), (View(1), false));

    // A primary restored after a PRE-PREPARE proposes above it.
    let mut p = fx.vc_replica(0, 0);
    let out = step_all(&mut p, Input::Propose(block(1, 0, 0)));
    let wal: Vec<WalEntry> = out
        .into_iter()
        .filter_map(|o| match o {
            Output::Persist(e) => Some(e),
            _ => None,
        })
        .collect();
    let p = Replica::restore(fx.vc_config(0), Height(0), wal).expect("restore");
    assert_eq!(p.next_proposal_height(), Some(Height(2)));
}

#[test]
fn persist_always_precedes_messages_in_a_step() {
    let fx = fixture(4);
    let mut r = fx.vc_replica(0, 0);
    let out = step_all(&mut r, Input::Propose(block(1, 0, 0)));
    assert!(
        matches!(out.first(), Some(Output::Persist(WalEntry::PrePrepare(_)))),
        "{out:?}"
    );
    assert!(matches!(out.get(1), Some(Output::Broadcast(_))), "{out:?}");
}
