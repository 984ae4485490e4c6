//! Committing (§4.2): a quorum of matching COMMITs, emission strictly in height order, and the
//! commit certificates that go with it.

use super::fixture::*;
use crate::*;
use settlenet_crypto::verify_certificate;
use settlenet_types::block::VoteKind;
use settlenet_types::{Block, CommitCertificate, Height, View};

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

/// Every live replica's `(block, certificate)` per committed height, from a lockstep cluster
/// of `fx`'s validators: the primary (replica 0, view 0) proposes heights `1..=heights`
/// whenever its in-flight window has room, every broadcast reaches every other live replica
/// in send order, every proposal is judged valid at once, and the `silent` replicas neither
/// send nor receive. No timer fires, so this is the normal case alone: no view change, no
/// state transfer (an output asking for either fails the test).
fn run_lockstep(
    fx: &Fixture,
    silent: &[u16],
    max_in_flight: u64,
    heights: u64,
) -> (Vec<Replica>, Vec<Vec<(Block, CommitCertificate)>>) {
    let n = fx.validators.len();
    let live = |i: usize| !silent.iter().any(|s| usize::from(*s) == i);
    let mut replicas: Vec<Replica> = (0..n)
        .map(|i| fx.replica(i as u16, max_in_flight, 0))
        .collect();
    let mut committed = vec![Vec::new(); n];
    let mut queue: std::collections::VecDeque<(usize, Input)> = Default::default();
    loop {
        // The primary's node cuts a block as soon as the window has room.
        let next = replicas[0]
            .next_proposal_height()
            .filter(|h| h.0 <= heights);
        let (i, input) = match next {
            Some(h) => (0, Input::Propose(block(h.0, h.0, (h.0 % 3) as u8))),
            None => match queue.pop_front() {
                Some(event) => event,
                None => break,
            },
        };
        for output in step_all(&mut replicas[i], input) {
            match output {
                Output::Broadcast(m) => {
                    for j in (0..n).filter(|j| *j != i && live(*j)) {
                        queue.push_back((j, msg(&m)));
                    }
                }
                Output::VerifyProposal { block, .. } => queue.push_back((i, verdict(&block, true))),
                Output::Committed { block, certificate } => committed[i].push((block, certificate)),
                Output::Persist(_) | Output::SetTimer { .. } | Output::CancelTimer(_) => {}
                other => panic!("replica {i}: unexpected {other:?}"),
            }
        }
    }
    (replicas, committed)
}

/// (description, n, silent replicas, max_in_flight, heights proposed, heights committed)
type QuorumRow = (&'static str, usize, &'static [u16], u64, u64, u64);

#[test]
fn a_quorum_commits_with_f_silent_replicas_and_nothing_commits_with_f_plus_one() {
    // The normal case across a whole cluster, n = 4 and n = 7: up to f silent backups do not
    // stop it (every live replica commits every height by consensus alone, the primary
    // included, without a view change or state transfer), and f+1 silent replicas do (no
    // quorum: nothing is final). Reordering, loss, crashes and Byzantine replicas are the
    // seeded cluster simulator's (`crates/sim`).
    let table: [QuorumRow; 7] = [
        ("n = 4, all live", 4, &[], 4, 20, 20),
        ("n = 4, one silent backup (f)", 4, &[2], 4, 20, 20),
        ("n = 4, one in flight, silent backup", 4, &[3], 1, 10, 10),
        ("n = 4, two silent backups (f + 1)", 4, &[1, 2], 4, 20, 0),
        ("n = 7, all live", 7, &[], 4, 20, 20),
        ("n = 7, two silent backups (f)", 7, &[3, 6], 4, 20, 20),
        (
            "n = 7, three silent backups (f + 1)",
            7,
            &[2, 4, 6],
            4,
            20,
            0,
        ),
    ];
    for (description, n, silent, max_in_flight, heights, expected) in table {
        let fx = fixture(n);
        let genesis = fx.genesis();
        let (replicas, committed) = run_lockstep(&fx, silent, max_in_flight, heights);
        let live: Vec<usize> = (0..n)
            .filter(|i| !silent.iter().any(|s| usize::from(*s) == *i))
            .collect();
        let chain = &committed[0];
        for &i in &live {
            let r = &replicas[i];
            assert_eq!(r.view(), View(0), "{description}: replica {i} changed view");
            assert!(r.is_active(), "{description}: replica {i}");
            assert_eq!(
                r.last_committed(),
                Height(expected),
                "{description}: replica {i}"
            );
            assert_eq!(r.stats().committed, expected, "{description}: replica {i}");
            assert_eq!(r.stats().evidence, 0, "{description}: replica {i}");
            // One block per height across replicas, each height once and in order.
            assert_eq!(
                committed[i].len() as u64,
                expected,
                "{description}: replica {i}"
            );
            for (k, (b, cert)) in committed[i].iter().enumerate() {
                let height = Height(k as u64 + 1);
                assert_eq!(b.header.height, height, "{description}: replica {i}");
                assert_eq!(b, &chain[k].0, "{description}: replica {i} at {height}");
                verify_certificate(&genesis, height, &hash(b), cert)
                    .unwrap_or_else(|e| panic!("{description}: replica {i} at {height}: {e}"));
                // Only live replicas sign; a quorum of them at least.
                assert!(
                    cert.signatures
                        .iter()
                        .all(|s| live.contains(&usize::from(s.replica.0))),
                    "{description}: replica {i} at {height}"
                );
            }
        }
        if expected == 0 {
            // The primary filled its window and stopped there.
            assert_eq!(
                replicas[0].next_proposal_height(),
                None,
                "{description}: the window stays full"
            );
        }
    }
}
