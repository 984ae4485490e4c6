//! Table-driven unit tests of the replica, one input at a time.

use crate::*;
use settlenet_crypto::{verify_certificate, Keypair};
use settlenet_types::block::{VoteBody, VoteKind, BLOCK_VERSION};
use settlenet_types::genesis::GENESIS_VERSION;
use settlenet_types::{
    decode, encode, AccountId, Amount, Block, BlockHeader, CommitCertificate, CommitSignature,
    ConsensusParams, CurrencyInfo, Genesis, Hash, Height, Member, MemberId, MemberKind, Operation,
    PublicKey, ReplicaId, SignedTransaction, Transaction, TxId, ValidatorInfo, View, TX_VERSION,
};

const CHAIN: &str = "test-chain";

struct Fixture {
    keys: Vec<Keypair>,
    validators: Vec<PublicKey>,
}

fn fixture(n: usize) -> Fixture {
    let keys: Vec<Keypair> = (0..n)
        .map(|i| Keypair::from_seed([i as u8 + 1; 32]))
        .collect();
    let validators = keys.iter().map(Keypair::public).collect();
    Fixture { keys, validators }
}

impl Fixture {
    fn replica(&self, me: u16, max_in_flight: u64, last_committed: u64) -> Replica {
        Replica::new(
            ReplicaConfig::new(
                CHAIN.into(),
                self.validators.clone(),
                ReplicaId(me),
                self.keys[usize::from(me)].clone(),
                max_in_flight,
            ),
            Height(last_committed),
            View(0),
        )
        .expect("valid config")
    }

    fn replica_in(&self, me: u16, max_in_flight: u64, last_committed: u64, view: u64) -> Replica {
        Replica::new(
            ReplicaConfig::new(
                CHAIN.into(),
                self.validators.clone(),
                ReplicaId(me),
                self.keys[usize::from(me)].clone(),
                max_in_flight,
            ),
            Height(last_committed),
            View(view),
        )
        .expect("valid config")
    }

    fn pre_prepare(&self, from: u16, view: u64, block: &Block) -> SignedMessage {
        SignedMessage::pre_prepare(
            CHAIN,
            View(view),
            block.clone(),
            ReplicaId(from),
            &self.keys[usize::from(from)],
        )
        .expect("sign")
    }

    fn vote(&self, from: u16, kind: VoteKind, height: u64, hash: Hash) -> SignedMessage {
        self.vote_in(from, kind, 0, height, hash)
    }

    fn vote_in(
        &self,
        from: u16,
        kind: VoteKind,
        view: u64,
        height: u64,
        hash: Hash,
    ) -> SignedMessage {
        let body = VoteBody {
            kind,
            chain_id: CHAIN.into(),
            view: View(view),
            height: Height(height),
            block_hash: hash,
        };
        SignedMessage::vote(body, ReplicaId(from), &self.keys[usize::from(from)]).expect("sign")
    }

    fn genesis(&self) -> Genesis {
        Genesis {
            version: GENESIS_VERSION,
            chain_id: CHAIN.into(),
            genesis_time_ms: 0,
            currencies: vec![CurrencyInfo {
                code: "USD".parse().expect("currency"),
                exponent: 2,
            }],
            members: vec![Member {
                id: MemberId(0),
                name: "bank-a".into(),
                kind: MemberKind::Bank,
                bic: None,
                clearing_id: None,
                staff: vec![],
                net_debit_caps: Vec::new(),
            }],
            validators: self
                .validators
                .iter()
                .enumerate()
                .map(|(i, k)| ValidatorInfo {
                    id: ReplicaId(i as u16),
                    name: format!("node{i}"),
                    member: MemberId(0),
                    public_key: *k,
                    peer_id: format!("peer{i}"),
                })
                .collect(),
            accounts: vec![],
            consensus: ConsensusParams::default(),
        }
    }

    /// A certificate as the replica must build it: the given signers' COMMITs, sorted.
    fn certificate(&self, height: u64, hash: Hash, signers: &[u16]) -> CommitCertificate {
        let mut signers = signers.to_vec();
        signers.sort_unstable();
        CommitCertificate {
            height: Height(height),
            view: View(0),
            block_hash: hash,
            signatures: signers
                .iter()
                .map(|s| CommitSignature {
                    replica: ReplicaId(*s),
                    signature: self.vote(*s, VoteKind::Commit, height, hash).signature,
                })
                .collect(),
        }
    }
}

fn tx(n: u8) -> SignedTransaction {
    let key = Keypair::from_seed([200; 32]);
    let tx = Transaction {
        version: TX_VERSION,
        chain_id: CHAIN.into(),
        id: TxId([n; 16]),
        signer: key.public(),
        op: Operation::Issue {
            wallet: AccountId([1; 16]),
            amount: Amount(u64::from(n) + 1),
        },
    };
    let signature = key.sign(&tx.signing_message().expect("msg"));
    SignedTransaction { tx, signature }
}

fn block(height: u64, salt: u64, tx_count: u8) -> Block {
    let txs: Vec<_> = (0..tx_count).map(tx).collect();
    Block {
        header: BlockHeader {
            version: BLOCK_VERSION,
            chain_id: CHAIN.into(),
            height: Height(height),
            timestamp_ms: 1_000 + salt,
            proposer: ReplicaId(0),
            tx_count: u32::from(tx_count),
            tx_root: Block::compute_tx_root(&txs).expect("root"),
            state_height: Height(0),
            state_root: Hash::ZERO,
        },
        txs,
    }
}

fn hash(b: &Block) -> Hash {
    b.header.hash().expect("hash")
}

fn msg(m: &SignedMessage) -> Input {
    Input::Message {
        from: m.from,
        message: m.clone(),
    }
}

fn verdict(b: &Block, valid: bool) -> Input {
    Input::ProposalVerdict {
        view: View(0),
        height: b.header.height,
        block_hash: hash(b),
        valid,
    }
}

/// One step, normal-case outputs only: the tables written for §4.2 list messages, verdict
/// requests and commits; write-ahead and timer outputs are checked by `step_all` tests.
fn step(r: &mut Replica, input: Input) -> Vec<Output> {
    step_all(r, input)
        .into_iter()
        .filter(|o| {
            !matches!(
                o,
                Output::Persist(_) | Output::SetTimer { .. } | Output::CancelTimer(_)
            )
        })
        .collect()
}

/// One step, every output.
fn step_all(r: &mut Replica, input: Input) -> Vec<Output> {
    let mut out = Vec::new();
    r.step(input, &mut out);
    out
}

/// Run `(description, input, expected outputs)` rows in order.
fn run_table(r: &mut Replica, table: Vec<(&str, Input, Vec<Output>)>) {
    for (description, input, expected) in table {
        let got = step(r, input);
        assert_eq!(got, expected, "step: {description}");
    }
}

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
fn configuration_is_checked() {
    let fx = fixture(4);
    let config = |me: u16, key: usize, mif: u64| {
        ReplicaConfig::new(
            CHAIN.into(),
            fx.validators.clone(),
            ReplicaId(me),
            fx.keys[key].clone(),
            mif,
        )
    };
    let cases = vec![
        ("me out of range", config(4, 0, 4)),
        ("key is not validators[me]", config(1, 2, 4)),
        ("max_in_flight 0", config(1, 1, 0)),
        ("max_in_flight huge", config(1, 1, u64::MAX)),
    ];
    for (description, c) in cases {
        assert!(
            matches!(
                Replica::new(c, Height(0), View(0)),
                Err(ConsensusError::InvalidConfig(_))
            ),
            "{description}"
        );
    }
    let mut dup = config(1, 1, 4);
    dup.validators[2] = dup.validators[3];
    assert!(Replica::new(dup, Height(0), View(0)).is_err());
    assert!(Replica::new(config(1, 1, 4), Height(0), View(0)).is_ok());
}

#[test]
fn pre_prepare_signatures_never_verify_as_votes() {
    let fx = fixture(4);
    let b = block(1, 0, 0);
    let h = hash(&b);
    let pp_body = PrePrepareBody::new(CHAIN, View(0), Height(1), h);
    let pp_bytes = pp_body.signing_message().expect("bytes");
    for kind in [VoteKind::Prepare, VoteKind::Commit] {
        let vote_body = VoteBody {
            kind,
            chain_id: CHAIN.into(),
            view: View(0),
            height: Height(1),
            block_hash: h,
        };
        assert_ne!(pp_bytes, vote_body.signing_message().expect("bytes"));
        // Replaying the primary's pre-prepare signature as its COMMIT fails.
        let forged = SignedMessage {
            from: ReplicaId(0),
            payload: if kind == VoteKind::Prepare {
                Payload::Prepare(vote_body)
            } else {
                Payload::Commit(vote_body)
            },
            signature: fx.pre_prepare(0, 0, &b).signature,
        };
        assert!(matches!(
            forged.verify(CHAIN, &fx.validators),
            Err(ConsensusError::BadSignature { .. })
        ));
    }
}

#[test]
fn signed_messages_round_trip_through_the_codec() {
    let fx = fixture(4);
    // A block with transactions: they must survive the canonical codec too.
    let b = block(3, 0, 2);
    for m in [
        fx.pre_prepare(0, 0, &b),
        fx.vote(1, VoteKind::Prepare, 3, hash(&b)),
        fx.vote(2, VoteKind::Commit, 3, hash(&b)),
    ] {
        let bytes = encode("signed message", &m).expect("encode");
        let back: SignedMessage = decode("signed message", &bytes).expect("decode");
        assert_eq!(back, m);
        back.verify(CHAIN, &fx.validators).expect("verifies");
    }
}

/// A `SignedTransaction` survives the canonical codec (this once failed: an internally tagged
/// `Operation` cannot be decoded by bincode).
#[test]
fn transactions_decode_with_the_codec() {
    let t = tx(1);
    let bytes = encode("signed transaction", &t).expect("encode");
    assert_eq!(SignedTransaction::decode(&bytes).expect("decode"), t);
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

// ---------------------------------------------------------------------------------------------
// View change (§4.4, §4.5.2), checkpoints (§4.3), write-ahead log, null blocks
// ---------------------------------------------------------------------------------------------

const T_MIN: u64 = 100;
const T_MAX: u64 = 700;
const K: u64 = 2;

impl Fixture {
    /// A replica with small timers (100 ms .. 700 ms) and a checkpoint every 2 heights.
    fn vc_replica(&self, me: u16, view: u64) -> Replica {
        Replica::new(self.vc_config(me), Height(0), View(view)).expect("valid config")
    }

    fn vc_config(&self, me: u16) -> ReplicaConfig {
        ReplicaConfig {
            view_timeout_ms_min: T_MIN,
            view_timeout_ms_max: T_MAX,
            checkpoint_interval: K,
            ..ReplicaConfig::new(
                CHAIN.into(),
                self.validators.clone(),
                ReplicaId(me),
                self.keys[usize::from(me)].clone(),
                4,
            )
        }
    }

    fn view_change(
        &self,
        from: u16,
        view: u64,
        checkpoint: CheckpointProof,
        prepared: Vec<PreparedCertificate>,
    ) -> SignedMessage {
        let body = ViewChangeBody {
            tag: VIEW_CHANGE_TAG,
            chain_id: CHAIN.into(),
            view: View(view),
            checkpoint,
            prepared,
        };
        SignedMessage::view_change(body, ReplicaId(from), &self.keys[usize::from(from)])
            .expect("sign")
    }

    /// A prepared certificate for `b` in `view` (pre-prepare by its primary, PREPAREs from the
    /// given backups).
    fn prepared(&self, view: u64, b: &Block, backups: &[u16]) -> PreparedCertificate {
        let n = self.keys.len();
        let primary = primary_of(View(view), n).0;
        let pp = self.pre_prepare(primary, view, b);
        let h = hash(b);
        PreparedCertificate {
            view: View(view),
            block: b.clone(),
            pre_prepare_signature: pp.signature,
            prepares: backups
                .iter()
                .map(|r| {
                    (
                        ReplicaId(*r),
                        self.vote_in(*r, VoteKind::Prepare, view, b.header.height.0, h)
                            .signature,
                    )
                })
                .collect(),
        }
    }

    fn checkpoint(&self, from: u16, height: u64, root: Hash) -> SignedMessage {
        SignedMessage::checkpoint(
            CHAIN,
            Height(height),
            root,
            ReplicaId(from),
            &self.keys[usize::from(from)],
        )
        .expect("sign")
    }

    fn signed_view_change(&self, m: &SignedMessage) -> SignedViewChange {
        let Payload::ViewChange(body) = &m.payload else {
            panic!("not a view-change");
        };
        SignedViewChange {
            from: m.from,
            body: body.clone(),
            signature: m.signature,
        }
    }

    /// The NEW-VIEW the primary of `view` must send for these VIEW-CHANGEs and O blocks.
    fn new_view(&self, view: u64, vcs: &[SignedMessage], o: &[Block]) -> SignedMessage {
        let primary = primary_of(View(view), self.keys.len()).0;
        let key = &self.keys[usize::from(primary)];
        let pre_prepares = o
            .iter()
            .map(|b| Reproposal {
                block: b.clone(),
                signature: self.pre_prepare(primary, view, b).signature,
            })
            .collect();
        let body = NewViewBody {
            tag: NEW_VIEW_TAG,
            chain_id: CHAIN.into(),
            view: View(view),
            view_changes: vcs.iter().map(|m| self.signed_view_change(m)).collect(),
            pre_prepares,
        };
        SignedMessage::new_view(body, ReplicaId(primary), key).expect("sign")
    }
}

fn timer(after_ms: u64) -> Output {
    Output::SetTimer {
        kind: TimerKind::View,
        after_ms,
    }
}

fn broadcasts(out: &[Output]) -> Vec<&SignedMessage> {
    out.iter()
        .filter_map(|o| match o {
            Output::Broadcast(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// Run `(description, input, expected outputs)` rows in order, every output compared.
fn run_table_all(r: &mut Replica, table: Vec<(&str, Input, Vec<Output>)>) {
    for (description, input, expected) in table {
        let got = step_all(r, input);
        assert_eq!(got, expected, "step: {description}");
    }
}

/// The VIEW-CHANGE `r` sends when its timer fires (asserting the write-ahead order).
fn time_out(r: &mut Replica) -> SignedMessage {
    let out = step_all(r, Input::Timeout(TimerKind::View));
    let Some(Output::Persist(WalEntry::ViewChange(m))) = out.first() else {
        panic!("a view change starts with its log entry: {out:?}");
    };
    assert_eq!(out.get(1), Some(&Output::Broadcast(m.clone())), "{out:?}");
    m.clone()
}

#[test]
fn view_timer_runs_on_known_work_and_stops_when_done() {
    // §4.4: "a backup starts a timer when it receives a request and the timer is not already
    // running; it stops the timer when it is no longer waiting to execute the request".
    let fx = fixture(4);
    let mut r = fx.vc_replica(1, 0);
    let b = block(1, 0, 0);
    let h = hash(&b);
    run_table_all(
        &mut r,
        vec![
            (
                "node has work -> start the timer",
                Input::WorkPending,
                vec![timer(T_MIN)],
            ),
            ("more work -> already running", Input::WorkPending, vec![]),
            (
                "a pre-prepare is known work; the timer already runs",
                msg(&fx.pre_prepare(0, 0, &b)),
                vec![Output::VerifyProposal {
                    view: View(0),
                    block: b.clone(),
                }],
            ),
            (
                "PREPARE is written ahead, then sent",
                verdict(&b, true),
                vec![
                    Output::Persist(WalEntry::Prepare {
                        pre_prepare: fx.pre_prepare(0, 0, &b),
                        prepare: fx.vote(1, VoteKind::Prepare, 1, h),
                    }),
                    Output::Broadcast(fx.vote(1, VoteKind::Prepare, 1, h)),
                ],
            ),
            (
                "second PREPARE -> prepared: COMMIT written ahead with its certificate",
                msg(&fx.vote(2, VoteKind::Prepare, 1, h)),
                vec![
                    Output::Persist(WalEntry::Commit {
                        commit: fx.vote(1, VoteKind::Commit, 1, h),
                        prepared: fx.prepared(0, &b, &[1, 2]),
                    }),
                    Output::Broadcast(fx.vote(1, VoteKind::Commit, 1, h)),
                ],
            ),
            (
                "COMMIT 2 of 3",
                msg(&fx.vote(0, VoteKind::Commit, 1, h)),
                vec![],
            ),
            (
                "committed, nothing in flight -> the timer stops",
                msg(&fx.vote(2, VoteKind::Commit, 1, h)),
                vec![
                    Output::Committed {
                        block: b.clone(),
                        certificate: fx.certificate(1, h, &[0, 1, 2]),
                    },
                    Output::CancelTimer(TimerKind::View),
                ],
            ),
            (
                "a timeout after the cancel is ignored",
                Input::Timeout(TimerKind::View),
                vec![],
            ),
        ],
    );
    assert_eq!(r.stats().timeouts_ignored, 1);
    assert_eq!(r.view(), View(0));
}

#[test]
fn timeouts_back_off_exponentially_up_to_the_cap_and_reset_on_commit() {
    // §4.4: "if the timer expires before it receives a valid NEW-VIEW it starts the view
    // change for v+2 but this time it waits 4T"; capped (Besu #611/#7642).
    let fx = fixture(4);
    let mut r = fx.vc_replica(1, 0);
    assert_eq!(step_all(&mut r, Input::WorkPending), vec![timer(T_MIN)]);
    let mut seen = Vec::new();
    for view in 1..=5u64 {
        let vc = time_out(&mut r);
        assert_eq!(vc.payload.view(), View(view));
        // Everyone else is in this view too: the NEW-VIEW timer starts with the doubled value.
        let mut out = Vec::new();
        for peer in [2u16, 3] {
            out = step_all(
                &mut r,
                msg(&fx.view_change(peer, view, CheckpointProof::genesis(), vec![])),
            );
        }
        // Replica 1 is primary of views 1 and 5: it sends NEW-VIEW and becomes active.
        if view % 4 == 1 {
            assert!(r.is_active(), "view {view}: {out:?}");
            assert!(matches!(
                out.first(),
                Some(Output::Persist(WalEntry::NewView(_)))
            ));
        } else {
            assert!(!r.is_active());
            let Some(Output::SetTimer { after_ms, .. }) = out.last() else {
                panic!("view {view}: NEW-VIEW timer expected: {out:?}");
            };
            seen.push(*after_ms);
        }
    }
    assert_eq!(seen, vec![400, 700, 700], "doubling, capped at {T_MAX}");
    assert_eq!(r.stats().view_changes, 5);
}

#[test]
fn a_higher_view_is_joined_only_with_f_plus_one_support() {
    // §4.5.2: "if a replica receives a set of f+1 valid VIEW-CHANGE messages from other
    // replicas for views greater than its current view, it sends a VIEW-CHANGE message for
    // the smallest view in the set". One Byzantine replica alone moves nobody (FISCO #2211).
    let fx = fixture(4);
    let mut r = fx.vc_replica(1, 0);
    let spam = fx.view_change(3, 1_000_000, CheckpointProof::genesis(), vec![]);
    assert!(step_all(&mut r, msg(&spam)).is_empty());
    assert_eq!(r.view(), View(0));
    assert!(r.is_active());
    let table: Vec<(&str, SignedMessage, DropReason)> = vec![
        ("the same spam again", spam.clone(), DropReason::Duplicate),
        (
            "an older view from the same sender",
            fx.view_change(3, 7, CheckpointProof::genesis(), vec![]),
            DropReason::WrongView,
        ),
        (
            "a bad signature",
            SignedMessage {
                signature: fx.vote(2, VoteKind::Prepare, 1, Hash::ZERO).signature,
                ..fx.view_change(2, 2, CheckpointProof::genesis(), vec![])
            },
            DropReason::BadSignature,
        ),
        (
            "a checkpoint proof without quorum",
            fx.view_change(
                2,
                2,
                CheckpointProof {
                    height: Height(2),
                    state_root: Hash::ZERO,
                    signatures: vec![],
                },
                vec![],
            ),
            DropReason::Malformed,
        ),
    ];
    for (description, m, reason) in table {
        let before = r.stats().dropped(reason);
        assert!(step_all(&mut r, msg(&m)).is_empty(), "{description}");
        assert_eq!(r.stats().dropped(reason), before + 1, "{description}");
        assert_eq!(r.view(), View(0), "{description}");
    }
    // The spammer signs a different VIEW-CHANGE for the same view: equivocation, kept as
    // evidence once; neither moves us.
    let other = fx.view_change(
        3,
        1_000_000,
        CheckpointProof::genesis(),
        vec![fx.prepared(0, &block(1, 0, 0), &[1, 2])],
    );
    let before = r.stats().dropped(DropReason::Conflicting);
    assert_eq!(
        step_all(&mut r, msg(&other)),
        vec![Output::Evidence {
            replica: ReplicaId(3),
            first: spam.clone(),
            second: other.clone(),
        }]
    );
    assert!(step_all(&mut r, msg(&other)).is_empty(), "reported once");
    assert_eq!(r.stats().dropped(DropReason::Conflicting), before + 2);
    assert_eq!(r.stats().evidence, 1);
    assert_eq!(r.view(), View(0));
    // A second replica in view 2: f+1 = 2 others above us; join the smallest view the
    // f+1 reached (2), not the spammer's.
    let out = step_all(
        &mut r,
        msg(&fx.view_change(2, 2, CheckpointProof::genesis(), vec![])),
    );
    assert_eq!(r.view(), View(2));
    assert!(!r.is_active());
    let sent = broadcasts(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].payload.view(), View(2));
    assert!(matches!(
        out.first(),
        Some(Output::Persist(WalEntry::ViewChange(_)))
    ));
}

#[test]
fn new_primary_reproposes_prepared_blocks_and_fills_gaps_with_null_blocks() {
    // §4.4: O holds, for every height between min-s and max-s, a PRE-PREPARE for the block
    // prepared in the highest view in V, or for a null request.
    let fx = fixture(4);
    let mut r = fx.vc_replica(1, 0); // primary of view 1
    let b1 = block(1, 1, 1);
    let b3_old = block(3, 3, 0);
    let b3_new = block(3, 4, 2);
    let v2 = fx.view_change(
        2,
        1,
        CheckpointProof::genesis(),
        vec![
            fx.prepared(0, &b1, &[1, 2]),
            fx.prepared(0, &b3_old, &[2, 3]),
        ],
    );
    assert!(step_all(&mut r, msg(&v2)).is_empty());
    // Two certificates for height 3 in one view cannot both come from honest replicas; the
    // rule is "highest view, ties to the first VIEW-CHANGE in V (by sender)".
    let v3 = fx.view_change(
        3,
        1,
        CheckpointProof::genesis(),
        vec![fx.prepared(0, &b3_new, &[2, 3])],
    );
    step_all(&mut r, Input::WorkPending);
    let own = time_out(&mut r);
    assert_eq!(own.payload.view(), View(1));
    let out = step_all(&mut r, msg(&v3));
    assert!(r.is_active(), "{out:?}");
    let null2 = null_block(CHAIN, Height(2), ReplicaId(1));
    assert!(is_null(&null2));
    assert!(!is_null(&b1));
    let nv = fx.new_view(
        1,
        &[own.clone(), v2.clone(), v3.clone()],
        &[b1.clone(), null2.clone(), b3_old.clone()],
    );
    assert_eq!(
        out.first(),
        Some(&Output::Persist(WalEntry::NewView(nv.clone())))
    );
    assert!(out.contains(&Output::Broadcast(nv.clone())), "{out:?}");
    // The primary sends no PREPARE (its PRE-PREPARE stands for it); the next proposal
    // comes after O.
    assert_eq!(broadcasts(&out).len(), 1);
    assert_eq!(r.next_proposal_height(), Some(Height(4)));

    // A backup accepts it: PREPAREs for all of O, no VerifyProposal; the null block and the
    // re-proposed block with the old primary as proposer alike.
    let mut backup = fx.vc_replica(2, 0);
    let out = step_all(&mut backup, msg(&nv));
    assert_eq!(backup.view(), View(1));
    assert!(backup.is_active());
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::VerifyProposal { .. })));
    let prepares: Vec<_> = broadcasts(&out)
        .into_iter()
        .map(|m| (m.payload.height(), m.payload.block_hash().expect("hash")))
        .collect();
    assert_eq!(
        prepares,
        vec![
            (Height(1), hash(&b1)),
            (Height(2), hash(&null2)),
            (Height(3), hash(&b3_old))
        ]
    );
    assert!(matches!(
        out.first(),
        Some(Output::Persist(WalEntry::NewView(_)))
    ));
    // Consensus time: the re-proposed blocks count for the next fresh proposal's bounds, the
    // null block does not (it carries no time).
    assert_eq!(
        backup.accepted_times_around(Height(4)),
        (Some(b3_old.header.timestamp_ms), None)
    );
    assert_eq!(
        backup.accepted_times_around(Height(2)),
        (
            Some(b1.header.timestamp_ms),
            Some(b3_old.header.timestamp_ms)
        )
    );
    assert_eq!(
        r.accepted_times_around(Height(4)),
        (Some(b3_old.header.timestamp_ms), None)
    );
    // A fresh PRE-PREPARE for a height O decided is refused.
    let fresh = fx.pre_prepare(1, 1, &block(3, 9, 0));
    assert!(step(&mut backup, msg(&fresh))
        .iter()
        .all(|o| matches!(o, Output::Evidence { .. })));
}

#[test]
fn a_new_primary_proposes_above_o_even_if_it_proposed_higher_before() {
    // Replica 1 proposes heights 1..=3 as primary of view 1; none prepares. Views 2..=4 fail;
    // in view 5 it is primary again and O is empty: heights 1..=3 are free in view 5 and it
    // must propose from 1. (It kept `next_proposal` 4 here before: with every primary in the
    // same state, nobody could propose again; found by settlenet-sim.)
    let fx = fixture(4);
    let mut r = fx.vc_replica(1, 1);
    for h in 1..=3 {
        let out = step_all(&mut r, Input::Propose(block(h, 10 + h, 0)));
        assert!(!broadcasts(&out).is_empty(), "height {h}: {out:?}");
    }
    assert_eq!(r.next_proposal_height(), Some(Height(4)));
    let vcs: Vec<SignedMessage> = [0u16, 2]
        .iter()
        .map(|from| fx.view_change(*from, 5, CheckpointProof::genesis(), vec![]))
        .collect();
    let mut out = Vec::new();
    for m in &vcs {
        out = step_all(&mut r, msg(m));
    }
    assert_eq!(r.view(), View(5));
    assert!(r.is_active(), "{out:?}");
    assert!(
        out.iter().any(|o| matches!(o, Output::Broadcast(m)
            if matches!(m.payload, Payload::NewView(_)))),
        "{out:?}"
    );
    assert_eq!(r.next_proposal_height(), Some(Height(1)));
    let out = step_all(&mut r, Input::Propose(block(1, 99, 0)));
    assert!(
        broadcasts(&out)
            .iter()
            .any(|m| m.payload.view() == View(5) && m.payload.height() == Height(1)),
        "{out:?}"
    );
}

#[test]
fn a_new_view_is_checked_against_its_view_changes() {
    // §4.4: "the backup verifies that O is correct by performing a computation similar to
    // the one used by the primary to create O".
    let fx = fixture(4);
    let b1 = block(1, 1, 1);
    let vcs = vec![
        fx.view_change(
            1,
            1,
            CheckpointProof::genesis(),
            vec![fx.prepared(0, &b1, &[1, 2])],
        ),
        fx.view_change(2, 1, CheckpointProof::genesis(), vec![]),
        fx.view_change(3, 1, CheckpointProof::genesis(), vec![]),
    ];
    let table: Vec<(&str, SignedMessage, DropReason)> = vec![
        (
            "O drops the prepared block",
            fx.new_view(1, &vcs, &[]),
            DropReason::InvalidProof,
        ),
        (
            "O replaces the prepared block by a null block",
            fx.new_view(1, &vcs, &[null_block(CHAIN, Height(1), ReplicaId(1))]),
            DropReason::InvalidProof,
        ),
        (
            "V below quorum",
            fx.new_view(1, &vcs[..2], std::slice::from_ref(&b1)),
            DropReason::Malformed,
        ),
        (
            "not from the new view's primary",
            {
                let mut m = fx.new_view(1, &vcs, std::slice::from_ref(&b1));
                m.from = ReplicaId(3);
                m
            },
            DropReason::NotFromPrimary,
        ),
    ];
    for (description, m, reason) in table {
        let mut r = fx.vc_replica(2, 0);
        let out = step_all(&mut r, msg(&m));
        assert!(out.is_empty(), "{description}: {out:?}");
        assert_eq!(
            r.stats().dropped(reason),
            1,
            "{description}: {:?}",
            r.stats()
        );
        assert_eq!(r.view(), View(0), "{description}");
    }
    let mut r = fx.vc_replica(2, 0);
    step_all(
        &mut r,
        msg(&fx.new_view(1, &vcs, std::slice::from_ref(&b1))),
    );
    assert_eq!((r.view(), r.is_active()), (View(1), true));
}

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
fn configuration_checks_timers_and_checkpoint_interval() {
    let fx = fixture(4);
    let base = fx.vc_config(0);
    let cases = vec![
        (
            "zero timeout",
            ReplicaConfig {
                view_timeout_ms_min: 0,
                ..base.clone()
            },
        ),
        (
            "max below min",
            ReplicaConfig {
                view_timeout_ms_max: T_MIN - 1,
                ..base.clone()
            },
        ),
        (
            "zero interval",
            ReplicaConfig {
                checkpoint_interval: 0,
                ..base.clone()
            },
        ),
        (
            "interval too large",
            ReplicaConfig {
                checkpoint_interval: MAX_CHECKPOINT_INTERVAL + 1,
                ..base.clone()
            },
        ),
    ];
    for (description, config) in cases {
        assert!(
            matches!(
                Replica::new(config, Height(0), View(0)),
                Err(ConsensusError::InvalidConfig(_))
            ),
            "{description}"
        );
    }
    let defaults = ReplicaConfig::new(
        CHAIN.into(),
        fx.validators.clone(),
        ReplicaId(0),
        fx.keys[0].clone(),
        4,
    );
    assert_eq!(defaults.view_timeout_ms_max, 30_000);
    assert_eq!(defaults.checkpoint_interval, 16);
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
