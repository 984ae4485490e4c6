//! What every test of the replica shares: validator keys, replicas built from them, signed
//! messages, blocks and transactions, and helpers that step a replica through a table of
//! `(description, input, expected outputs)` rows.

use crate::*;
use settlenet_crypto::Keypair;
use settlenet_ledger::test_util::{GenesisBuilder, MemberSpec};
use settlenet_types::block::{VoteBody, VoteKind, BLOCK_VERSION};
use settlenet_types::{
    AccountId, Amount, Block, BlockHeader, CommitCertificate, CommitSignature, Genesis, Hash,
    Height, Operation, PublicKey, ReplicaId, SignedTransaction, Transaction, TxNonce, View,
};

pub(super) const CHAIN: &str = "test-chain";

pub(super) struct Fixture {
    pub(super) keys: Vec<Keypair>,
    pub(super) validators: Vec<PublicKey>,
}

pub(super) fn fixture(n: usize) -> Fixture {
    let keys: Vec<Keypair> = (0..n)
        .map(|i| Keypair::from_seed([i as u8 + 1; 32]))
        .collect();
    let validators = keys.iter().map(Keypair::public).collect();
    Fixture { keys, validators }
}

impl Fixture {
    pub(super) fn replica(&self, me: u16, max_in_flight: u64, last_committed: u64) -> Replica {
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

    pub(super) fn replica_in(
        &self,
        me: u16,
        max_in_flight: u64,
        last_committed: u64,
        view: u64,
    ) -> Replica {
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

    pub(super) fn pre_prepare(&self, from: u16, view: u64, block: &Block) -> SignedMessage {
        SignedMessage::pre_prepare(
            CHAIN,
            View(view),
            block.clone(),
            ReplicaId(from),
            &self.keys[usize::from(from)],
        )
        .expect("sign")
    }

    pub(super) fn vote(&self, from: u16, kind: VoteKind, height: u64, hash: Hash) -> SignedMessage {
        self.vote_in(from, kind, 0, height, hash)
    }

    pub(super) fn vote_in(
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

    pub(super) fn genesis(&self) -> Genesis {
        GenesisBuilder::new(CHAIN)
            .currency("USD".parse().expect("currency"), 2)
            .member(MemberSpec::bank("bank-a"))
            .validators(&self.validators)
            .build()
    }

    /// A certificate as the replica must build it: the given signers' COMMITs, sorted.
    pub(super) fn certificate(
        &self,
        height: u64,
        hash: Hash,
        signers: &[u16],
    ) -> CommitCertificate {
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

pub(super) fn tx(n: u8) -> SignedTransaction {
    let key = Keypair::from_seed([200; 32]);
    let tx = Transaction::new(
        CHAIN,
        key.public(),
        TxNonce([n; 16]),
        Operation::Issue {
            wallet: AccountId([1; 16]),
            amount: Amount(u64::from(n) + 1),
        },
        u64::MAX,
    );
    let signature = key.sign(&tx.signing_message().expect("msg"));
    SignedTransaction { tx, signature }
}

pub(super) fn block(height: u64, salt: u64, tx_count: u8) -> Block {
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

pub(super) fn hash(b: &Block) -> Hash {
    b.header.hash().expect("hash")
}

pub(super) fn msg(m: &SignedMessage) -> Input {
    Input::Message {
        from: m.from,
        message: m.clone(),
    }
}

pub(super) fn verdict(b: &Block, valid: bool) -> Input {
    Input::ProposalVerdict {
        view: View(0),
        height: b.header.height,
        block_hash: hash(b),
        valid,
    }
}

/// One step, normal-case outputs only: the tables written for §4.2 list messages, verdict
/// requests and commits; write-ahead and timer outputs are checked by `step_all` tests.
pub(super) fn step(r: &mut Replica, input: Input) -> Vec<Output> {
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
pub(super) fn step_all(r: &mut Replica, input: Input) -> Vec<Output> {
    let mut out = Vec::new();
    r.step(input, &mut out);
    out
}

/// Run `(description, input, expected outputs)` rows in order.
pub(super) fn run_table(r: &mut Replica, table: Vec<(&str, Input, Vec<Output>)>) {
    for (description, input, expected) in table {
        let got = step(r, input);
        assert_eq!(got, expected, "step: {description}");
    }
}

// Timers, view changes and checkpoints: short timers and a checkpoint every K heights, so
// that a test reaches them in a few steps.

pub(super) const T_MIN: u64 = 100;
pub(super) const T_MAX: u64 = 700;
pub(super) const K: u64 = 2;

impl Fixture {
    /// A replica with small timers (100 ms .. 700 ms) and a checkpoint every 2 heights.
    pub(super) fn vc_replica(&self, me: u16, view: u64) -> Replica {
        Replica::new(self.vc_config(me), Height(0), View(view)).expect("valid config")
    }

    pub(super) fn vc_config(&self, me: u16) -> ReplicaConfig {
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

    pub(super) fn view_change(
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
    pub(super) fn prepared(&self, view: u64, b: &Block, backups: &[u16]) -> PreparedCertificate {
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

    pub(super) fn checkpoint(&self, from: u16, height: u64, root: Hash) -> SignedMessage {
        SignedMessage::checkpoint(
            CHAIN,
            Height(height),
            root,
            ReplicaId(from),
            &self.keys[usize::from(from)],
        )
        .expect("sign")
    }

    pub(super) fn signed_view_change(&self, m: &SignedMessage) -> SignedViewChange {
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
    pub(super) fn new_view(&self, view: u64, vcs: &[SignedMessage], o: &[Block]) -> SignedMessage {
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
            view_changes: vcs
                .iter()
                .map(|m| self.signed_view_change(m).proof())
                .collect(),
            pre_prepares,
        };
        SignedMessage::new_view(body, ReplicaId(primary), key).expect("sign")
    }
}

pub(super) fn timer(after_ms: u64) -> Output {
    Output::SetTimer {
        kind: TimerKind::View,
        after_ms,
    }
}

pub(super) fn broadcasts(out: &[Output]) -> Vec<&SignedMessage> {
    out.iter()
        .filter_map(|o| match o {
            Output::Broadcast(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// Run `(description, input, expected outputs)` rows in order, every output compared.
pub(super) fn run_table_all(r: &mut Replica, table: Vec<(&str, Input, Vec<Output>)>) {
    for (description, input, expected) in table {
        let got = step_all(r, input);
        assert_eq!(got, expected, "step: {description}");
    }
}

/// The VIEW-CHANGE `r` sends when its timer fires (asserting the write-ahead order).
pub(super) fn time_out(r: &mut Replica) -> SignedMessage {
    let out = step_all(r, Input::Timeout(TimerKind::View));
    let Some(Output::Persist(WalEntry::ViewChange(m))) = out.first() else {
        panic!("a view change starts with its log entry: {out:?}");
    };
    assert_eq!(out.get(1), Some(&Output::Broadcast(m.clone())), "{out:?}");
    m.clone()
}
