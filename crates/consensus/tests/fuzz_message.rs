//! Fuzz target: a consensus message as it arrives from a peer, `SignedMessage` through the
//! canonical decoder, then everything the replica does with it: `verify` (signatures, tags,
//! chain, nested certificates and proofs), the nested checks of VIEW-CHANGE and NEW-VIEW bodies
//! on their own (a mutated body rarely keeps a valid outer signature, and these checks must
//! hold up by themselves), and one `Replica::step`.
//!
//! Seeds: the committed corpus (`fuzz/corpus/consensus_signed_message/`), which holds one real,
//! validly signed message of each kind made here (PRE-PREPARE with transactions, PREPARE,
//! COMMIT, CHECKPOINT, VIEW-CHANGE with a stable checkpoint proof and a prepared certificate,
//! NEW-VIEW with a quorum of those and a re-proposal).
//!
//! A second target, `consensus_byzantine`, plays a Byzantine validator: every decoded message
//! is signed again with its sender's real key (so it passes the outer signature check whatever
//! its content) and fed to a long-lived replica, reaching the protocol logic behind
//! verification with forged heights, views, checkpoints and certificates.

use settlenet_consensus::{
    primary_of, CheckpointProof, Input, NewViewBody, Output, Payload, PrePrepareBody,
    PreparedCertificate, Replica, ReplicaConfig, Reproposal, SignedMessage, SignedViewChange,
    TimerKind, ViewChangeBody, NEW_VIEW_TAG, VIEW_CHANGE_TAG,
};
use settlenet_crypto::Keypair;
use settlenet_fuzz::Target;
use settlenet_types::block::{VoteBody, VoteKind, BLOCK_VERSION};
use settlenet_types::{
    decode, encode, AccountId, Amount, Block, BlockHeader, Hash, Height, Operation, PublicKey,
    ReplicaId, SignedTransaction, Transaction, TxNonce, View,
};

const CHAIN: &str = "fuzz-chain";
const N: u8 = 4;

fn keys() -> Vec<Keypair> {
    (0..N).map(|i| Keypair::from_seed([i + 1; 32])).collect()
}

fn validators(keys: &[Keypair]) -> Vec<PublicKey> {
    keys.iter().map(Keypair::public).collect()
}

fn block(height: u64, txs: usize) -> Block {
    let user = Keypair::from_seed([77; 32]);
    let txs: Vec<SignedTransaction> = (0..txs)
        .map(|i| {
            let tx = Transaction::new(
                CHAIN,
                user.public(),
                TxNonce([i as u8 + 1; 16]),
                Operation::Transfer {
                    from: AccountId([1; 16]),
                    to: AccountId([2; 16]),
                    amount: Amount(100 + i as u64),
                },
                u64::MAX,
            );
            let signature = user.sign(&tx.signing_message().expect("signing message"));
            SignedTransaction { tx, signature }
        })
        .collect();
    Block {
        header: BlockHeader {
            version: BLOCK_VERSION,
            chain_id: CHAIN.into(),
            height: Height(height),
            timestamp_ms: 1_700_000_000_000 + height,
            proposer: ReplicaId(0),
            tx_count: txs.len() as u32,
            tx_root: Block::compute_tx_root(&txs).expect("tx root"),
            state_height: Height(height.saturating_sub(1)),
            state_root: Hash([9; 32]),
        },
        txs,
    }
}

fn vote(kind: VoteKind, view: u64, height: u64, block_hash: Hash) -> VoteBody {
    VoteBody {
        kind,
        chain_id: CHAIN.into(),
        view: View(view),
        height: Height(height),
        block_hash,
    }
}

/// One validly signed message of every kind.
fn messages() -> Vec<SignedMessage> {
    let k = keys();
    let b1 = block(1, 3);
    let h1 = b1.header.hash().expect("hash");
    let pre_prepare =
        SignedMessage::pre_prepare(CHAIN, View(0), b1.clone(), ReplicaId(0), &k[0]).expect("pp");
    let prepare = SignedMessage::vote(vote(VoteKind::Prepare, 0, 1, h1), ReplicaId(1), &k[1])
        .expect("prepare");
    let commit =
        SignedMessage::vote(vote(VoteKind::Commit, 0, 1, h1), ReplicaId(2), &k[2]).expect("commit");
    let root = Hash([21; 32]);
    let checkpoint =
        SignedMessage::checkpoint(CHAIN, Height(1), root, ReplicaId(3), &k[3]).expect("ckpt");
    // A stable checkpoint at height 1 (a quorum of CHECKPOINT signatures), and block 2
    // prepared in view 0 (primary 0's PRE-PREPARE signature and two backups' PREPAREs).
    let checkpoint_message = settlenet_consensus::CheckpointBody::new(CHAIN, Height(1), root)
        .signing_message()
        .expect("checkpoint message");
    let proof = CheckpointProof {
        height: Height(1),
        state_root: root,
        signatures: (0..3u16)
            .map(|r| (ReplicaId(r), k[usize::from(r)].sign(&checkpoint_message)))
            .collect(),
    };
    let b2 = block(2, 2);
    let h2 = b2.header.hash().expect("hash");
    let pp2 = PrePrepareBody::new(CHAIN, View(0), Height(2), h2)
        .signing_message()
        .expect("pp body");
    let prepare2 = vote(VoteKind::Prepare, 0, 2, h2)
        .signing_message()
        .expect("vote body");
    let cert = PreparedCertificate {
        view: View(0),
        block: b2.clone(),
        pre_prepare_signature: k[0].sign(&pp2),
        prepares: (1..3u16)
            .map(|r| (ReplicaId(r), k[usize::from(r)].sign(&prepare2)))
            .collect(),
    };
    let vc_body = |r: u16| ViewChangeBody {
        tag: VIEW_CHANGE_TAG,
        chain_id: CHAIN.into(),
        view: View(1),
        checkpoint: proof.clone(),
        prepared: if r == 0 {
            Vec::new()
        } else {
            vec![cert.clone()]
        },
    };
    let view_change =
        SignedMessage::view_change(vc_body(1), ReplicaId(1), &k[1]).expect("view change");
    let new_primary = primary_of(View(1), usize::from(N));
    let view_changes: Vec<SignedViewChange> = (0..3u16)
        .map(|r| {
            let body = vc_body(r);
            let signature = k[usize::from(r)].sign(&body.signing_message().expect("vc"));
            SignedViewChange {
                from: ReplicaId(r),
                body,
                signature,
            }
        })
        .collect();
    let re = PrePrepareBody::new(CHAIN, View(1), Height(2), h2)
        .signing_message()
        .expect("re-proposal");
    let new_view_body = NewViewBody {
        tag: NEW_VIEW_TAG,
        chain_id: CHAIN.into(),
        view: View(1),
        view_changes: view_changes.iter().map(SignedViewChange::proof).collect(),
        pre_prepares: vec![Reproposal {
            block: b2,
            signature: k[usize::from(new_primary.0)].sign(&re),
        }],
    };
    let new_view =
        SignedMessage::new_view(new_view_body, new_primary, &k[usize::from(new_primary.0)])
            .expect("new view");
    vec![
        pre_prepare,
        prepare,
        commit,
        checkpoint,
        view_change,
        new_view,
    ]
}

fn replica(keys: &[Keypair]) -> Replica {
    let config = ReplicaConfig::new(
        CHAIN.into(),
        validators(keys),
        ReplicaId(1),
        keys[1].clone(),
        8,
    );
    Replica::new(config, Height(0), View(0)).expect("replica")
}

#[test]
fn the_samples_are_valid_messages() {
    let k = keys();
    for m in messages() {
        m.verify(CHAIN, &validators(&k))
            .unwrap_or_else(|e| panic!("{:?}: {e}", m.payload.kind()));
    }
}

/// `message` with its payload signed by `keys[from]` (a Byzantine validator signs whatever it
/// likes), if `from` is a validator.
fn resign(message: SignedMessage, keys: &[Keypair]) -> Option<SignedMessage> {
    let from = message.from;
    let key = keys.get(usize::from(from.0))?;
    match message.payload {
        Payload::PrePrepare { view, block } => {
            let chain = block.header.chain_id.clone();
            SignedMessage::pre_prepare(&chain, view, block, from, key).ok()
        }
        Payload::Prepare(body) | Payload::Commit(body) => SignedMessage::vote(body, from, key).ok(),
        Payload::Checkpoint(body) => {
            let signature = key.sign(&body.signing_message().ok()?);
            Some(SignedMessage {
                from,
                payload: Payload::Checkpoint(body),
                signature,
            })
        }
        Payload::ViewChange(body) => SignedMessage::view_change(body, from, key).ok(),
        Payload::NewView(body) => SignedMessage::new_view(body, from, key).ok(),
    }
}

/// The consensus messages of the machine target's cluster traffic (`Wire::Consensus` is
/// variant 0: a big-endian `u32` 0, then the message).
fn cluster_messages() -> Vec<(String, Vec<u8>)> {
    let dir = settlenet_fuzz::corpus_dir("machine_wire");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            let message = bytes.strip_prefix(&[0u8, 0, 0, 0][..])?.to_vec();
            decode::<SignedMessage>("signed message", &message).ok()?;
            Some((p.display().to_string(), message))
        })
        .collect()
}

/// Cluster samples as seeds, never written to this target's corpus (they live in
/// `machine_wire`'s).
fn with_cluster_messages(t: Target) -> Target {
    if std::env::var("SETTLENET_FUZZ_WRITE_CORPUS").is_ok_and(|v| v == "1") {
        return t;
    }
    t.samples(cluster_messages())
}

#[test]
fn fuzz_byzantine_validator() {
    let k = keys();
    let mut r = replica(&k);
    let mut steps = 0u64;
    with_cluster_messages(Target::new("consensus_signed_message")).run(|bytes| {
        let Ok(message) = decode::<SignedMessage>("signed message", bytes) else {
            return;
        };
        let Some(message) = resign(message, &k) else {
            return;
        };
        settlenet_fuzz::accepted();
        // The replica accumulates what a Byzantine peer sends (renewed now and then, so that
        // one case's state stays small); now and then its timers fire too.
        steps += 1;
        if steps.is_multiple_of(256) {
            r = replica(&k);
        }
        let mut out = Vec::new();
        let from = message.from;
        r.step(Input::Message { from, message }, &mut out);
        // The node accepts every proposal the replica asks about (the most the replica can
        // be led into), and its view timer fires now and then.
        for o in std::mem::take(&mut out) {
            if let Output::VerifyProposal { view, block } = o {
                let Ok(block_hash) = block.header.hash() else {
                    continue;
                };
                let verdict = Input::ProposalVerdict {
                    view,
                    height: block.header.height,
                    block_hash,
                    valid: true,
                };
                r.step(verdict, &mut out);
            }
        }
        if steps.is_multiple_of(16) {
            r.step(Input::Timeout(TimerKind::View), &mut out);
        }
    });
}

#[test]
fn fuzz_signed_message() {
    let k = keys();
    let validators = validators(&k);
    let samples = messages()
        .iter()
        .map(|m| {
            (
                format!("{:?}.bin", m.payload.kind()).to_lowercase(),
                encode("signed message", m).expect("encode"),
            )
        })
        .collect();
    with_cluster_messages(Target::new("consensus_signed_message").samples(samples)).run(|bytes| {
        let Ok(message) = decode::<SignedMessage>("signed message", bytes) else {
            return;
        };
        settlenet_fuzz::accepted();
        // One value, one encoding.
        assert_eq!(
            encode("signed message", &message).expect("a decoded message encodes"),
            bytes
        );
        let _ = message.payload.kind();
        let _ = message.payload.view();
        let _ = message.payload.height();
        let _ = message.payload.block_hash();
        let _ = message.verify(CHAIN, &validators);
        match &message.payload {
            Payload::PrePrepare { block, .. } => {
                let _ = block.check_body();
            }
            Payload::ViewChange(body) => {
                let _ = body.check(CHAIN, &validators);
            }
            Payload::NewView(body) => {
                let _ = body.check(CHAIN, &validators);
                let _ = message.verify_new_view(CHAIN, &validators, |_| false);
            }
            Payload::Prepare(_) | Payload::Commit(_) | Payload::Checkpoint(_) => {}
        }
        // The replica's own handling (it verifies, buffers or drops): never a panic.
        let from = if usize::from(message.from.0) < validators.len() {
            message.from
        } else {
            ReplicaId(0)
        };
        let mut r = replica(&k);
        let mut out = Vec::new();
        r.step(Input::Message { from, message }, &mut out);
    });
}
