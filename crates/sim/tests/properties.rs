//! The simulator's own properties: determinism, a silent primary, and a checker that can fail.

use settlenet_sim::{
    check::VoteKind, replay_command, run_seed, run_seed_with, Byzantine, Checker, InjectedFault,
    Options, Scenario, SimError, Violation,
};
use settlenet_types::{Hash, Height, View};

#[test]
fn a_seed_replays_exactly() {
    for n in [4, 7] {
        let a = run_seed(n, 7).expect("seed 7");
        let b = run_seed(n, 7).expect("seed 7 again");
        assert_eq!(a.trace_hash, b.trace_hash, "n={n}");
        assert_eq!(a.steps, b.steps);
        assert_eq!(a.sim_time_ms, b.sim_time_ms);
        let c = run_seed(n, 8).expect("seed 8");
        assert_ne!(a.trace_hash, c.trace_hash, "n={n}");
    }
}

#[test]
fn blocks_carry_transactions_that_succeed_fail_and_repeat() {
    let mut ok = 0;
    let mut failed = 0;
    let mut duplicate = 0;
    for seed in 0..20 {
        let o = run_seed(4, seed).expect("seed");
        ok += o.txs_ok;
        failed += o.txs_failed;
        duplicate += o.txs_duplicate;
    }
    assert!(
        ok > 0 && failed > 0 && duplicate > 0,
        "{ok} {failed} {duplicate}"
    );
}

/// Merchant payments run under the faults too: holds and charge requests expire by consensus
/// time in final blocks (the sweeps, and an idle primary's empty block at a deadline), on
/// every honest replica alike (the checker compares their state roots).
#[test]
fn holds_and_charge_requests_expire_under_faults() {
    let mut expired = 0;
    for seed in 0..20 {
        expired += run_seed(4, seed).expect("seed").expired;
    }
    assert!(expired > 0, "no hold or charge request expired in 20 seeds");
}

/// Odd replicas' ledgers read their accounts from their storage through a small cache, even
/// ones hold them all in memory: they run the same blocks under the faults (crashes, state
/// transfer) and the checker requires equal state roots, so the cache never changes a result.
#[test]
fn store_mode_replicas_read_their_storage_and_agree() {
    let mut reads = 0;
    for seed in 0..10 {
        reads += run_seed(4, seed).expect("seed").store_reads;
    }
    assert!(reads > 0, "no account read went to storage in 10 seeds");
}

#[test]
fn a_silent_primary_is_replaced() {
    // Seeds whose scenario makes replica 0 (the first primary) silent: the view must change
    // and work still commit.
    for n in [4, 7] {
        let mut found = 0;
        for seed in 0..1_000 {
            if Scenario::from_seed(n, seed).byzantine != Some((0, Byzantine::Silent)) {
                continue;
            }
            let o = run_seed(n, seed).expect("silent primary seed");
            assert!(o.view_changes > 0, "n={n} seed {seed}: no view change");
            assert!(o.max_height > 0, "n={n} seed {seed}: nothing committed");
            found += 1;
            if found == 3 {
                break;
            }
        }
        assert_eq!(found, 3, "n={n}: not enough seeds with a silent primary");
    }
}

#[test]
fn the_checker_reports_two_blocks_final_at_one_height() {
    let mut c = Checker::new();
    let a = Hash([1; 32]);
    let b = Hash([2; 32]);
    assert_eq!(c.final_block(Height(3), a), Ok(true));
    assert_eq!(c.final_block(Height(3), a), Ok(false));
    assert_eq!(
        c.final_block(Height(3), b),
        Err(Violation::TwoBlocksFinal {
            height: Height(3),
            first: a,
            second: b
        })
    );
}

#[test]
fn the_checker_reports_divergent_roots_falling_views_and_double_votes() {
    let mut c = Checker::new();
    let a = Hash([1; 32]);
    let b = Hash([2; 32]);
    assert!(c.state_root(0, Height(5), a).is_ok());
    assert!(c.state_root(1, Height(5), a).is_ok());
    assert!(matches!(
        c.state_root(2, Height(5), b),
        Err(Violation::StateRootDiffers { replica: 2, .. })
    ));
    assert_eq!(c.view(1, View(4)), Ok(true));
    assert_eq!(c.view(1, View(4)), Ok(false));
    assert!(matches!(
        c.view(1, View(3)),
        Err(Violation::ViewDecreased { replica: 1, .. })
    ));
    assert!(c.vote(2, VoteKind::Commit, View(1), Height(2), a).is_ok());
    assert!(c.vote(2, VoteKind::Prepare, View(1), Height(2), b).is_ok());
    assert!(c.vote(3, VoteKind::Commit, View(1), Height(2), b).is_ok());
    assert!(matches!(
        c.vote(2, VoteKind::Commit, View(1), Height(2), b),
        Err(Violation::TwoVotes { replica: 2, .. })
    ));
}

#[test]
fn a_failure_names_its_replay_command() {
    let e = SimError {
        n: 7,
        seed: 42,
        time_ms: 10,
        scenario: Scenario::from_seed(7, 42),
        violation: Violation::NoProgress {
            detail: "test".into(),
        },
        trace: Vec::new(),
    };
    let text = e.to_string();
    assert!(text.contains(&replay_command(7, 42)), "{text}");
    assert!(replay_command(7, 42).contains("--n 7 --seed-start 42 --seeds 1"));
}

#[test]
fn a_replica_whose_ledger_diverges_is_caught() {
    // Plant a bug in the harness: replica 1's storage records a wrong state root for each
    // block, as a diverging ledger would. It must be reported as different at the first
    // height (and the seed's failure names its replay command).
    let mut caught = 0;
    for seed in 0..20 {
        let scenario = Scenario::from_seed(4, seed);
        if scenario.byzantine.is_some_and(|(b, _)| b == 1) {
            continue;
        }
        let options = Options {
            fault: Some(InjectedFault::WrongStateRoot { replica: 1 }),
            ..Options::default()
        };
        let e = run_seed_with(4, seed, options).expect_err("the divergence must be caught");
        assert!(
            matches!(e.violation, Violation::StateRootDiffers { .. }),
            "seed {seed}: {e}"
        );
        assert!(e.to_string().contains(&replay_command(4, seed)));
        caught += 1;
    }
    assert!(caught >= 10);
}

#[test]
fn the_nodes_proposal_rules_refuse_a_wrong_proposer_a_future_timestamp_and_junk() {
    // Replica 0, primary of view 0, runs the honest machine but its PRE-PREPAREs name another
    // proposer, are stamped a minute ahead, or carry a junk transaction from a key with no role
    // (validly signed: only the node's static transaction check refuses it). The honest
    // replicas run the node's own checks
    // (the same machine as settlenet-node): they refuse those proposals, the view changes, and
    // the run is still safe and live (the simulator also fails a seed if a final block's time
    // is ahead of the clock by more than the skew bound).
    for kind in [
        Byzantine::WrongProposer,
        Byzantine::FutureTimestamp,
        Byzantine::JunkTransactions,
    ] {
        for n in [4, 7] {
            let mut refused = 0;
            for seed in 0..8 {
                let options = Options {
                    byzantine: Some((0, kind)),
                    ..Options::default()
                };
                let o = run_seed_with(n, seed, options)
                    .unwrap_or_else(|e| panic!("{kind:?} n={n} seed {seed}: {e}"));
                assert!(
                    o.view_changes > 0,
                    "{kind:?} n={n} seed {seed}: no view change"
                );
                refused += o.proposals_refused;
            }
            assert!(refused > 0, "{kind:?} n={n}: no proposal refused");
        }
    }
}

#[test]
fn the_observer_follows_every_run_to_the_top() {
    // Node n is an observer: no replica, block sync only. Every run ends with it at the
    // validators' height and state root (the run fails otherwise); here it is also the
    // highest height final anywhere.
    for n in [4, 7] {
        for seed in 0..10 {
            let o = run_seed(n, seed).unwrap_or_else(|e| panic!("n={n} seed {seed}: {e}"));
            assert_eq!(o.observer_height, o.max_height, "n={n} seed {seed}");
            assert!(o.observer_height > 0, "n={n} seed {seed}");
        }
    }
}

#[test]
fn an_observer_whose_ledger_diverges_is_caught() {
    // The observer's storage records a wrong state root for every block it executes: the
    // first block it installs differs from the validators' root at that height.
    for n in [4, 7] {
        for seed in 0..6 {
            let options = Options {
                fault: Some(InjectedFault::WrongStateRoot { replica: n }),
                ..Options::default()
            };
            let e = run_seed_with(n, seed, options).expect_err("the divergence must be caught");
            assert!(
                matches!(e.violation, Violation::StateRootDiffers { .. }),
                "n={n} seed {seed}: {e}"
            );
        }
    }
}

#[test]
fn an_observer_that_skips_the_certificate_check_is_caught() {
    // The observer's storage holds its blocks with a certificate one signature short of a
    // quorum, as an observer that installed synced blocks without checking them would: the
    // harness's own certificate check of every executed block refuses the first one.
    for n in [4, 7] {
        for seed in 0..6 {
            let options = Options {
                fault: Some(InjectedFault::ShortCertificate { node: n }),
                ..Options::default()
            };
            let e =
                run_seed_with(n, seed, options).expect_err("the bad certificate must be caught");
            assert!(
                matches!(&e.violation, Violation::BadCommit { replica, reason, .. }
                    if *replica == n && reason.contains("certificate")),
                "n={n} seed {seed}: {e}"
            );
        }
    }
}

#[test]
fn an_observer_that_never_catches_up_fails_the_run() {
    // The observer's links stay cut, healing included: the validators finish, the observer
    // stays at genesis, and the run fails on the observer's catch-up check.
    for n in [4, 7] {
        for seed in 0..3 {
            let options = Options {
                fault: Some(InjectedFault::ObserverCutOff),
                ..Options::default()
            };
            let e = run_seed_with(n, seed, options).expect_err("the observer must be behind");
            assert!(
                matches!(
                    e.violation,
                    Violation::ObserverBehind {
                        height: Height(0),
                        ..
                    }
                ),
                "n={n} seed {seed}: {e}"
            );
        }
    }
}

#[test]
fn forged_sync_blocks_are_refused_by_the_observer() {
    // One validator answers block requests with forged blocks (too few signers, signatures
    // of another block, its own signature repeated to a quorum). The observer asks it in turn
    // with the others, checks each certificate against the genesis (`verify_synced`) and
    // refuses them; had it installed one, the harness would have found a bad certificate or
    // two blocks final at one height. (Validators that sync get the same answers, but they
    // rarely sync.)
    for n in [4, 7] {
        let mut forged = 0;
        let mut refused = 0;
        for seed in 0..6 {
            let options = Options {
                byzantine: Some((1, Byzantine::ForgedSyncBlock)),
                ..Options::default()
            };
            let o = run_seed_with(n, seed, options)
                .unwrap_or_else(|e| panic!("ForgedSyncBlock n={n} seed {seed}: {e}"));
            assert_eq!(o.observer_height, o.max_height, "n={n} seed {seed}");
            forged += o.forged_blocks;
            refused += o.observer_refused;
        }
        assert!(forged > 0, "n={n}: no forged block served");
        assert!(refused > 0, "n={n}: the observer refused nothing");
    }
}
