//! Committing (§4.2): a quorum of matching COMMITs, emission strictly in height order, and the
//! commit certificates that go with it.

use super::fixture::*;
use crate::*;
use settlenet_crypto::verify_certificate;
use settlenet_types::block::VoteKind;
use settlenet_types::{Height, View};

#[test]
fn commits_are_emitted_in_height_order() {
    let fx = fixture(4);
    let mut r = fx.replica(1, 4, 0);
    let b1 = block(1, 0, 0);
    let b2 = block(2, 0, 1);
    let (h1, h2) = (hash(&b1), hash(&b2));
    run_table(
        &mut r,
        vec![
            (
                "pp 2",
                msg(&fx.pre_prepare(0, 0, &b2)),
                vec![Output::VerifyProposal {
                    view: View(0),
                    block: b2.clone(),
                }],
            ),
            (
                "verdict 2",
                verdict(&b2, true),
                vec![Output::Broadcast(fx.vote(1, VoteKind::Prepare, 2, h2))],
            ),
            (
                "prepare 2",
                msg(&fx.vote(2, VoteKind::Prepare, 2, h2)),
                vec![Output::Broadcast(fx.vote(1, VoteKind::Commit, 2, h2))],
            ),
            (
                "commit 2 from 0",
                msg(&fx.vote(0, VoteKind::Commit, 2, h2)),
                vec![],
            ),
            (
                "commit 2 from 2: committed-local, but 1 is missing",
                msg(&fx.vote(2, VoteKind::Commit, 2, h2)),
                vec![],
            ),
            (
                "pp 1",
                msg(&fx.pre_prepare(0, 0, &b1)),
                vec![Output::VerifyProposal {
                    view: View(0),
                    block: b1.clone(),
                }],
            ),
            (
                "verdict 1",
                verdict(&b1, true),
                vec![Output::Broadcast(fx.vote(1, VoteKind::Prepare, 1, h1))],
            ),
            (
                "prepare 1",
                msg(&fx.vote(3, VoteKind::Prepare, 1, h1)),
                vec![Output::Broadcast(fx.vote(1, VoteKind::Commit, 1, h1))],
            ),
            (
                "commit 1 from 0",
                msg(&fx.vote(0, VoteKind::Commit, 1, h1)),
                vec![],
            ),
            (
                "commit 1 from 3: 1 then 2",
                msg(&fx.vote(3, VoteKind::Commit, 1, h1)),
                vec![
                    Output::Committed {
                        block: b1.clone(),
                        certificate: fx.certificate(1, h1, &[0, 1, 3]),
                    },
                    Output::Committed {
                        block: b2.clone(),
                        certificate: fx.certificate(2, h2, &[0, 1, 2]),
                    },
                ],
            ),
        ],
    );
    assert_eq!(r.last_committed(), Height(2));
    let g = fx.genesis();
    verify_certificate(&g, Height(2), &h2, &fx.certificate(2, h2, &[0, 1, 2])).expect("verifies");
    // A certificate short of a quorum does not verify (the check can fail).
    assert!(verify_certificate(&g, Height(2), &h2, &fx.certificate(2, h2, &[0, 1])).is_err());
}

#[test]
fn commits_for_another_block_do_not_count() {
    let fx = fixture(4);
    let mut r = fx.replica(1, 4, 0);
    let b = block(1, 0, 0);
    let h = hash(&b);
    let other = hash(&block(1, 99, 0));
    run_table(
        &mut r,
        vec![
            (
                "COMMIT from 0 for another block",
                msg(&fx.vote(0, VoteKind::Commit, 1, other)),
                vec![],
            ),
            (
                "COMMIT from 2 for another block",
                msg(&fx.vote(2, VoteKind::Commit, 1, other)),
                vec![],
            ),
            (
                "pre-prepare",
                msg(&fx.pre_prepare(0, 0, &b)),
                vec![Output::VerifyProposal {
                    view: View(0),
                    block: b.clone(),
                }],
            ),
            (
                "verdict",
                verdict(&b, true),
                vec![Output::Broadcast(fx.vote(1, VoteKind::Prepare, 1, h))],
            ),
            (
                "prepared: 3 COMMITs held, only ours matches",
                msg(&fx.vote(3, VoteKind::Prepare, 1, h)),
                vec![Output::Broadcast(fx.vote(1, VoteKind::Commit, 1, h))],
            ),
            (
                "3's COMMIT: 2 matching",
                msg(&fx.vote(3, VoteKind::Commit, 1, h)),
                vec![],
            ),
        ],
    );
    assert_eq!(r.last_committed(), Height(0));
}
