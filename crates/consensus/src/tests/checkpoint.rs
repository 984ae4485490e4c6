//! Checkpoints and garbage collection (§4.3).

use super::fixture::*;
use crate::*;
use settlenet_types::block::VoteKind;
use settlenet_types::{Hash, Height, ReplicaId};

#[test]
fn checkpoints_become_stable_with_a_quorum_and_collect_garbage() {
    // §4.3: a replica multicasts CHECKPOINT every K requests; 2f+1 matching ones make a
    // stable checkpoint; messages at or below it are discarded.
    let fx = fixture(4);
    let mut r = fx.vc_replica(0, 0); // primary of view 0
    for height in 1..=2u64 {
        let b = block(height, 0, 0);
        let h = hash(&b);
        step_all(&mut r, Input::Propose(b));
        step_all(&mut r, msg(&fx.vote(1, VoteKind::Prepare, height, h)));
        step_all(&mut r, msg(&fx.vote(2, VoteKind::Prepare, height, h)));
        step_all(&mut r, msg(&fx.vote(1, VoteKind::Commit, height, h)));
        step_all(&mut r, msg(&fx.vote(2, VoteKind::Commit, height, h)));
    }
    assert_eq!(r.last_committed(), Height(2));
    let root = Hash([7; 32]);
    let proof = CheckpointProof {
        height: Height(2),
        state_root: root,
        signatures: vec![
            (ReplicaId(0), fx.checkpoint(0, 2, root).signature),
            (ReplicaId(1), fx.checkpoint(1, 2, root).signature),
            (ReplicaId(3), fx.checkpoint(3, 2, root).signature),
        ],
    };
    run_table_all(
        &mut r,
        vec![
            (
                "executed height 1: not a checkpoint height",
                Input::Executed {
                    height: Height(1),
                    state_root: root,
                },
                vec![],
            ),
            (
                "executed height 2 -> CHECKPOINT",
                Input::Executed {
                    height: Height(2),
                    state_root: root,
                },
                vec![Output::Broadcast(fx.checkpoint(0, 2, root))],
            ),
            ("one more: 2 of 3", msg(&fx.checkpoint(1, 2, root)), vec![]),
            (
                "another root does not count",
                msg(&fx.checkpoint(2, 2, Hash([8; 32]))),
                vec![],
            ),
            (
                "2 signs a second root for the same height: evidence",
                msg(&fx.checkpoint(2, 2, root)),
                vec![Output::Evidence {
                    replica: ReplicaId(2),
                    first: fx.checkpoint(2, 2, Hash([8; 32])),
                    second: fx.checkpoint(2, 2, root),
                }],
            ),
            ("reported once", msg(&fx.checkpoint(2, 2, root)), vec![]),
            (
                "quorum -> stable, written ahead and reported",
                msg(&fx.checkpoint(3, 2, root)),
                vec![
                    Output::Persist(WalEntry::StableCheckpoint(proof.clone())),
                    Output::StableCheckpoint {
                        height: Height(2),
                        state_root: root,
                        proof: proof.signatures.clone(),
                    },
                ],
            ),
            (
                "a checkpoint at the stable height is stale",
                msg(&fx.checkpoint(2, 2, root)),
                vec![],
            ),
            (
                "not a multiple of K",
                msg(&fx.checkpoint(2, 3, root)),
                vec![],
            ),
        ],
    );
    assert_eq!(r.stable_checkpoint(), Height(2));
    assert_eq!(r.stats().evidence, 1);
    assert_eq!(r.stats().dropped(DropReason::Conflicting), 2);
    assert_eq!(r.stats().dropped(DropReason::Stale), 1);
    assert_eq!(r.stats().dropped(DropReason::Malformed), 1);
    // The next view change carries the proof and no prepared certificates at or below it.
    step_all(&mut r, Input::WorkPending);
    let vc = time_out(&mut r);
    let Payload::ViewChange(body) = &vc.payload else {
        panic!("view change");
    };
    assert_eq!(body.checkpoint, proof);
    assert!(body.prepared.is_empty());
}
