//! The machine's rules, table-driven: what a backup does with a proposal, what admission does
//! with a submission, when the machine wants to wake, and the WAL truncation rules.

use settlenet_consensus::{Payload, Replica, ReplicaConfig, SignedMessage};
use settlenet_crypto::Keypair;
use settlenet_ledger::test_util::{GenesisBuilder, MemberSpec};
use settlenet_ledger::Ledger;
use settlenet_machine::wire::Wire;
use settlenet_machine::{
    Effect, Event, MachineParts, NodeMachine, StrictTxVerifier, SubmitOutcome, SyncConfig,
    TxVerifier,
};
use settlenet_types::block::BLOCK_VERSION;
use settlenet_types::{
    AccountId, Block, BlockHeader, Currency, Hash, Height, MemberId, Operation, ReplicaId, Role,
    SignedTransaction, Transaction, TxNonce, View, TX_VALIDITY_MAX_MS,
};
use std::sync::Arc;

const CHAIN: &str = "machine-test";
/// The driver's clock in these tests (genesis time is 0).
const NOW: u64 = 10_000;

fn usd() -> Currency {
    Currency(*b"USD")
}

/// The fixture's clearing staff key.
fn clearing_key() -> Keypair {
    Keypair::from_seed([43; 32])
}

struct Fixture {
    validators: Vec<Keypair>,
    issuer: Keypair,
    machine: NodeMachine,
    genesis_root: Hash,
}

/// Four validators; the machine is validator 1 (a backup in view 0, whose primary is 0).
fn fixture(me: u16) -> Fixture {
    fixture_as(Some(me))
}

/// The same network; the machine is validator `me`, or an observer (`None`).
fn fixture_as(me: Option<u16>) -> Fixture {
    fixture_with(me, SyncConfig::default(), Height(0))
}

/// The same network with these sync settings, over a store that pruned below `pruned_below`.
fn fixture_with(me: Option<u16>, sync: SyncConfig, pruned_below: Height) -> Fixture {
    let validators: Vec<Keypair> = (0..4u8).map(|i| Keypair::from_seed([i + 1; 32])).collect();
    let issuer = Keypair::from_seed([42; 32]);
    let keys: Vec<_> = validators.iter().map(Keypair::public).collect();
    let genesis = GenesisBuilder::new(CHAIN)
        .currency(usd(), 2)
        .member(
            MemberSpec::bank("bank-a")
                .staff("issuer", issuer.public(), &[Role::Issuer])
                .staff("clearing", clearing_key().public(), &[Role::Clearing]),
        )
        .validators(&keys)
        .build();
    let ledger = Ledger::from_genesis(&genesis).expect("genesis");
    let genesis_root = ledger.state_root();
    let validator = me.map(|me| {
        let config = ReplicaConfig::new(
            CHAIN.into(),
            keys,
            ReplicaId(me),
            validators[usize::from(me)].clone(),
            genesis.consensus.max_in_flight,
        );
        let replica = Replica::new(config, Height(0), View(0)).expect("replica");
        (ReplicaId(me), replica)
    });
    let machine = NodeMachine::new(MachineParts {
        genesis: Arc::new(genesis),
        validator,
        certified_root: ledger.state_root(),
        ledger,
        genesis_root,
        last_hash: Hash::ZERO,
        last_block_time_ms: 0,
        recent: Vec::new(),
        mempool_max: 100,
        mempool_max_bytes: 64 * 1024 * 1024,
        max_clock_skew_ms: 2_000,
        sync,
        base_height: Height(0),
        pruned_below,
        now_ms: NOW,
    });
    Fixture {
        validators,
        issuer,
        machine,
        genesis_root,
    }
}

/// An empty block at height 1 as validator 0 (the primary of view 0) would propose it.
fn proposal(genesis_root: Hash) -> Block {
    let header = BlockHeader {
        version: BLOCK_VERSION,
        chain_id: CHAIN.into(),
        height: Height(1),
        timestamp_ms: NOW,
        proposer: ReplicaId(0),
        tx_count: 0,
        tx_root: Block::compute_tx_root(&[]).expect("root"),
        state_height: Height(0),
        state_root: genesis_root,
    };
    Block {
        header,
        txs: Vec::new(),
    }
}

/// Node 0's PRE-PREPARE of `block` in view 0, delivered to the fixture's machine: what it did.
fn deliver_proposal(fx: &mut Fixture, block: Block) -> Vec<Effect> {
    let m = SignedMessage::pre_prepare(CHAIN, View(0), block, ReplicaId(0), &fx.validators[0])
        .expect("sign");
    let mut out = Vec::new();
    fx.machine.handle(
        NOW,
        Event::Wire {
            from: ReplicaId(0),
            wire: Wire::Consensus(m),
        },
        &mut out,
    );
    out
}

/// Whether the machine PREPAREd (broadcast a PREPARE) among `out`.
fn prepared(out: &[Effect]) -> bool {
    out.iter().any(|e| {
        matches!(e, Effect::Send { to: None, wire: Wire::Consensus(m) }
            if matches!(m.payload, Payload::Prepare(_)))
    })
}

#[test]
fn a_backup_checks_each_proposal_with_the_nodes_rules() {
    type Change = fn(&mut BlockHeader);
    let cases: [(&str, Change, Option<&str>); 6] = [
        ("a valid proposal is prepared", |_| {}, None),
        (
            "a proposer other than the primary",
            |h| h.proposer = ReplicaId(2),
            Some("not the primary"),
        ),
        (
            "a timestamp far in the future",
            |h| h.timestamp_ms = NOW + 60_000,
            Some("time"),
        ),
        (
            "a timestamp not after the genesis time",
            |h| h.timestamp_ms = 0,
            Some("time"),
        ),
        (
            "a lagged state root that is not ours",
            |h| h.state_root = Hash([9; 32]),
            Some("state root"),
        ),
        ("another block version", |h| h.version += 1, Some("version")),
    ];
    for (what, change, refused) in cases {
        let mut fx = fixture(1);
        let mut block = proposal(fx.genesis_root);
        change(&mut block.header);
        let out = deliver_proposal(&mut fx, block);
        let counters = fx.machine.take_counters();
        match refused {
            None => {
                assert!(prepared(&out), "{what}: not prepared: {out:?}");
                assert_eq!(counters.proposals_refused, 0, "{what}");
            }
            Some(_) => {
                assert!(!prepared(&out), "{what}: prepared");
                assert_eq!(counters.proposals_refused, 1, "{what}");
            }
        }
    }
}

/// Issue 11, hole 2: a Byzantine primary puts junk in its block that admission would refuse
/// whatever the state (here a settlement chunk signed by a key with no role, validly signed):
/// backups refuse the proposal, so the junk never executes and leaves no record. What only the
/// state can judge (a transfer signed by someone who may not own the wallet) is not refused
/// here: replicas may be at different heights, and execution records its result.
#[test]
fn a_backup_refuses_a_proposal_holding_what_admission_refuses_whatever_the_state() {
    let outsider = Keypair::from_seed([99; 32]);
    let junk = {
        let tx = Transaction::new(
            CHAIN,
            outsider.public(),
            TxNonce([7; 16]),
            Operation::StageBatch {
                batch: settlenet_types::BatchId([7; 16]),
                currency: usd(),
                window: 0,
                chunk: 0,
                instructions: Vec::new(),
            },
            TX_VALIDITY_MAX_MS,
        );
        let signature = outsider.sign(&tx.signing_message().expect("message"));
        SignedTransaction { tx, signature }
    };
    let not_owner = {
        let tx = Transaction::new(
            CHAIN,
            outsider.public(),
            TxNonce([8; 16]),
            Operation::Transfer {
                from: AccountId([0xA0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
                to: AccountId([0xA0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
                amount: settlenet_types::Amount(5),
            },
            TX_VALIDITY_MAX_MS,
        );
        let signature = outsider.sign(&tx.signing_message().expect("message"));
        SignedTransaction { tx, signature }
    };
    for (what, txs, refused) in [
        ("junk from a key without a role", vec![junk.clone()], true),
        (
            "junk after a good transaction",
            vec![not_owner.clone(), junk],
            true,
        ),
        (
            "a transfer only the state can judge",
            vec![not_owner],
            false,
        ),
    ] {
        let mut fx = fixture(1);
        let mut block = proposal(fx.genesis_root);
        block.header.tx_count = txs.len() as u32;
        block.header.tx_root = Block::compute_tx_root(&txs).expect("root");
        block.txs = txs;
        let mut out = deliver_proposal(&mut fx, block);
        // Signatures are checked in a job; run it.
        let spawned = out
            .iter()
            .position(|e| matches!(e, Effect::Spawn(_)))
            .map(|i| out.remove(i));
        if let Some(Effect::Spawn(job)) = spawned {
            let result = job.run(&StrictTxVerifier);
            fx.machine.handle(NOW, Event::JobDone(result), &mut out);
        }
        let counters = fx.machine.take_counters();
        assert_eq!(prepared(&out), !refused, "{what}: {out:?}");
        assert_eq!(counters.proposals_refused, u64::from(refused), "{what}");
    }
}

fn create_wallet(issuer: &Keypair, id: u8, owner: u8) -> SignedTransaction {
    let tx = Transaction::new(
        CHAIN,
        issuer.public(),
        TxNonce([id; 16]),
        Operation::CreateWallet {
            account: AccountId([0xA0, id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            issuer: MemberId(0),
            owner: Keypair::from_seed([owner; 32]).public(),
            currency: usd(),
        },
        TX_VALIDITY_MAX_MS,
    );
    let signature = issuer.sign(&tx.signing_message().expect("message"));
    SignedTransaction { tx, signature }
}

#[test]
fn admission_refuses_reused_ids_and_forged_gossip() {
    let mut fx = fixture(1);
    let tx = create_wallet(&fx.issuer, 1, 1);
    let mut out = Vec::new();
    let first = fx.machine.submit(NOW, vec![tx.clone()], &mut out);
    assert_eq!(first, vec![SubmitOutcome::Pending]);
    let again = fx.machine.submit(NOW, vec![tx.clone()], &mut out);
    assert_eq!(
        again,
        vec![SubmitOutcome::AlreadyPending],
        "a retry adds nothing"
    );
    let mut other = create_wallet(&fx.issuer, 1, 2);
    other.tx.id = tx.tx.id;
    let other = {
        let signature = fx
            .issuer
            .sign(&other.tx.signing_message().expect("message"));
        SignedTransaction { signature, ..other }
    };
    match &fx.machine.submit(NOW, vec![other], &mut out)[..] {
        [SubmitOutcome::Refused { code, .. }] => assert_eq!(code, "exists_with_different_body"),
        r => panic!("a reused id with another body: {r:?}"),
    }
    assert_eq!(fx.machine.mempool_len(), 1);

    // Gossip from a validator: checked in a job; the forged one is dropped and counted.
    let good = create_wallet(&fx.issuer, 2, 3);
    let mut forged = create_wallet(&fx.issuer, 3, 4);
    forged.signature.0[0] ^= 1;
    let mut out = Vec::new();
    fx.machine.handle(
        NOW,
        Event::Wire {
            from: ReplicaId(2),
            wire: Wire::Txs(vec![good.clone(), forged.clone()]),
        },
        &mut out,
    );
    let job = out
        .into_iter()
        .find_map(|e| match e {
            Effect::Spawn(job) => Some(job),
            _ => None,
        })
        .expect("a verification job");
    let result = job.run(&StrictTxVerifier);
    let mut out = Vec::new();
    fx.machine.handle(NOW, Event::JobDone(result), &mut out);
    assert!(fx.machine.is_pending(&good.tx.id));
    assert!(!fx.machine.is_pending(&forged.tx.id));
    assert_eq!(fx.machine.take_counters().messages_dropped, 1);
    assert!(StrictTxVerifier.verify(&[forged]).is_err());
}

#[test]
fn a_primary_wakes_when_its_block_is_due_and_gossips_what_it_accepted() {
    let mut fx = fixture(0);
    let delay = fx.machine.genesis().consensus.block_delay_ms;
    let tx = create_wallet(&fx.issuer, 1, 1);
    let mut out = Vec::new();
    fx.machine.submit(NOW, vec![tx], &mut out);
    // The accepted transaction is gossiped at once (an API request is a batch already).
    assert!(out
        .iter()
        .any(|e| matches!(e, Effect::Send { to: None, wire: Wire::Txs(t) } if t.len() == 1)));
    let wake = fx.machine.next_wake_ms();
    assert!(wake > NOW && wake <= NOW + delay, "wake at {wake}");
    // At the wake-up, once the block delay passed, a PRE-PREPARE goes out.
    let mut out = Vec::new();
    fx.machine.handle(NOW + delay, Event::Wake, &mut out);
    assert!(out.iter().any(
        |e| matches!(e, Effect::Send { to: None, wire: Wire::Consensus(m) }
        if matches!(m.payload, Payload::PrePrepare { .. }))
    ));
    // Never a wake-up in the past: a driver cannot spin.
    assert!(fx.machine.next_wake_ms() > NOW + delay);
}

/// Block 1 with a commit certificate signed by `signers` (validator indexes).
fn certified_block(fx: &Fixture, signers: &[u16]) -> settlenet_types::StoredBlock {
    use settlenet_types::block::{VoteBody, VoteKind};
    use settlenet_types::{CommitCertificate, CommitSignature};
    let block = proposal(fx.genesis_root);
    let hash = block.header.hash().expect("hash");
    let body = VoteBody {
        kind: VoteKind::Commit,
        chain_id: CHAIN.into(),
        view: View(0),
        height: Height(1),
        block_hash: hash,
    };
    let message = body.signing_message().expect("message");
    let signatures = signers
        .iter()
        .map(|i| CommitSignature {
            replica: ReplicaId(*i),
            signature: fx.validators[usize::from(*i)].sign(&message),
        })
        .collect();
    settlenet_types::StoredBlock {
        block,
        certificate: CommitCertificate {
            height: Height(1),
            view: View(0),
            block_hash: hash,
            signatures,
        },
        hash,
        prev_hash: Hash::ZERO,
        state_root: fx.genesis_root,
    }
}

/// Node 1 asked node 2 for blocks (as after a `Behind`), and gets `blocks` back.
fn sync_answer(fx: &mut Fixture, blocks: Vec<settlenet_types::StoredBlock>) -> Vec<Effect> {
    use settlenet_machine::wire::{Request, Response};
    let mut out = Vec::new();
    fx.machine
        .handle(NOW, Event::PeerConnected(ReplicaId(2)), &mut out);
    fx.machine.handle(
        NOW,
        Event::Answer {
            from: ReplicaId(2),
            request: Request::Blocks {
                from: Height(1),
                max: 64,
            },
            result: Ok(Response::Blocks(blocks)),
        },
        &mut out,
    );
    out
}

#[test]
fn block_sync_installs_only_what_a_quorum_certified() {
    // A quorum (3 of 4) certified block 1: executed and written.
    let mut fx = fixture(1);
    let good = certified_block(&fx, &[0, 2, 3]);
    let out = sync_answer(&mut fx, vec![good]);
    assert!(out
        .iter()
        .any(|e| matches!(e, Effect::CommitBlock(c) if c.synced)));
    assert_eq!(fx.machine.ledger().height(), Height(1));

    // Hostile answers change nothing and are counted: too few signers, a signature by the
    // wrong key, more blocks than one answer may carry.
    let too_few = certified_block(&fx, &[0, 2]);
    let mut wrong_key = certified_block(&fx, &[0, 2, 3]);
    wrong_key.certificate.signatures[1].signature = fx.validators[0].sign(b"something else");
    let many: Vec<_> = (0..65).map(|_| certified_block(&fx, &[0, 2, 3])).collect();
    for (what, blocks) in [
        ("two signers of four", vec![too_few]),
        ("a signature by the wrong key", vec![wrong_key]),
        ("65 blocks in one answer", many),
    ] {
        let mut fx = fixture(1);
        let out = sync_answer(&mut fx, blocks);
        assert!(
            !out.iter().any(|e| matches!(e, Effect::CommitBlock(_))),
            "{what}: installed"
        );
        assert_eq!(fx.machine.ledger().height(), Height(0), "{what}");
        assert_eq!(fx.machine.take_counters().messages_dropped, 1, "{what}");
    }
}

#[test]
fn an_oversized_gossip_batch_is_dropped_whole() {
    let mut fx = fixture(1);
    let tx = create_wallet(&fx.issuer, 1, 1);
    let batch = vec![tx; settlenet_machine::wire::GOSSIP_MAX_TXS + 1];
    let mut out = Vec::new();
    fx.machine.handle(
        NOW,
        Event::Wire {
            from: ReplicaId(2),
            wire: Wire::Txs(batch),
        },
        &mut out,
    );
    assert!(!out.iter().any(|e| matches!(e, Effect::Spawn(_))));
    assert_eq!(fx.machine.mempool_len(), 0);
    assert_eq!(fx.machine.take_counters().messages_dropped, 1);
}

#[test]
fn an_observer_follows_by_certified_blocks_only_and_never_votes() {
    use settlenet_machine::wire::{Request, Response};
    use settlenet_machine::OBSERVER_POLL_INTERVAL_MS;
    let mut fx = fixture_as(None);
    assert!(fx.machine.is_observer());
    let mut out = Vec::new();
    for r in 0..4 {
        fx.machine
            .handle(NOW, Event::PeerConnected(ReplicaId(r)), &mut out);
    }
    assert_eq!(fx.machine.connected().len(), 4, "every validator is a peer");

    // A proposal reaches it: no vote, no WAL, nothing refused either (it never checks one).
    let m = SignedMessage::pre_prepare(
        CHAIN,
        View(0),
        proposal(fx.genesis_root),
        ReplicaId(0),
        &fx.validators[0],
    )
    .expect("sign");
    out.clear();
    fx.machine.handle(
        NOW,
        Event::Wire {
            from: ReplicaId(0),
            wire: Wire::Consensus(m),
        },
        &mut out,
    );
    assert!(
        !out.iter()
            .any(|e| matches!(e, Effect::Send { .. } | Effect::PersistWal(_))),
        "an observer sent or logged a vote: {out:?}"
    );

    // It polls every validator's height, more often than a validator does.
    out.clear();
    fx.machine.handle(NOW + 1, Event::Wake, &mut out);
    let polls = out
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::Request {
                    request: Request::Status,
                    ..
                }
            )
        })
        .count();
    assert_eq!(polls, 4);
    assert!(fx.machine.next_wake_ms() <= NOW + 1 + OBSERVER_POLL_INTERVAL_MS);

    // A validator is one block ahead: blocks are asked for at once (no stall wait).
    out.clear();
    fx.machine.handle(
        NOW + 2,
        Event::Answer {
            from: ReplicaId(2),
            request: Request::Status,
            result: Ok(Response::Status { height: Height(1) }),
        },
        &mut out,
    );
    assert!(
        out.iter().any(|e| matches!(
            e,
            Effect::Request {
                request: Request::Blocks { .. },
                ..
            }
        )),
        "no block request: {out:?}"
    );

    // A block whose certificate a quorum did not sign is refused; a certified one installs.
    let too_few = certified_block(&fx, &[0, 2]);
    let out = sync_answer(&mut fx, vec![too_few]);
    assert!(!out.iter().any(|e| matches!(e, Effect::CommitBlock(_))));
    assert_eq!(fx.machine.ledger().height(), Height(0));
    let good = certified_block(&fx, &[1, 2, 3]);
    let out = sync_answer(&mut fx, vec![good]);
    assert!(out
        .iter()
        .any(|e| matches!(e, Effect::CommitBlock(c) if c.synced)));
    assert_eq!(fx.machine.ledger().height(), Height(1));
    assert!(!out
        .iter()
        .any(|e| matches!(e, Effect::Send { .. } | Effect::PersistWal(_))));
}

/// A settlement chunk of `n` instructions with the longest ids, signed by the clearing staff.
fn stage_batch(id: u8, n: usize) -> SignedTransaction {
    let key = clearing_key();
    let tx = Transaction::new(
        CHAIN,
        key.public(),
        TxNonce([id; 16]),
        Operation::StageBatch {
            batch: settlenet_types::BatchId([id; 16]),
            currency: usd(),
            window: 0,
            chunk: 0,
            instructions: (0..n)
                .map(|i| settlenet_types::SettlementInstruction {
                    // 35 four-byte characters (the first three number it): the longest id.
                    id: (0..35u32)
                        .map(|k| match k {
                            0..=2 => char::from_u32(0x1D100 + ((i as u32 >> (6 * k)) & 63)),
                            _ => char::from_u32(0x1D11E),
                        })
                        .map(|c| c.expect("a 4-byte character"))
                        .collect(),
                    debtor: MemberId(0),
                    creditor: MemberId(1),
                    amount: settlenet_types::Amount(1),
                    // A creditor wallet named: the largest form of an instruction.
                    beneficiary: Some(AccountId([9; 16])),
                })
                .collect(),
        },
        TX_VALIDITY_MAX_MS,
    );
    let signature = key.sign(&tx.signing_message().expect("message"));
    SignedTransaction { tx, signature }
}

/// Issue 11, hole 1: blocks are cut by bytes as well as by count, so no proposal is ever too
/// large for a VIEW-CHANGE to carry; a transaction over the size limit is refused.
#[test]
fn a_primary_cuts_blocks_by_bytes() {
    let mut fx = fixture(0);
    let limit = fx.machine.genesis().consensus.block_max_bytes;
    let mut out = Vec::new();
    let txs: Vec<_> = (1..=3)
        .map(|i| stage_batch(i, settlenet_types::SETTLEMENT_CHUNK_MAX))
        .collect();
    let one = settlenet_types::encoded_len("tx", &txs[0]).expect("len") as u64;
    assert!(
        2 * one > limit && one < limit,
        "each chunk fits a block alone: {one}"
    );
    let outcomes = fx.machine.submit(NOW, txs, &mut out);
    assert!(
        outcomes.iter().all(|o| *o == SubmitOutcome::Pending),
        "{outcomes:?}"
    );
    match &fx
        .machine
        .submit(NOW, vec![stage_batch(9, 3_000)], &mut out)[..]
    {
        [SubmitOutcome::Refused { code, .. }] => assert_eq!(code, "too_large"),
        r => panic!("an oversized transaction: {r:?}"),
    }
    let delay = fx.machine.genesis().consensus.block_delay_ms;
    let mut out = Vec::new();
    fx.machine.handle(NOW + delay, Event::Wake, &mut out);
    let blocks: Vec<&Block> = out
        .iter()
        .filter_map(|e| match e {
            Effect::Send {
                to: None,
                wire: Wire::Consensus(m),
            } => match &m.payload {
                Payload::PrePrepare { block, .. } => Some(block),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(blocks.len(), 3, "three proposals, one chunk each");
    for b in blocks {
        assert_eq!(b.txs.len(), 1);
        assert!(settlenet_types::encoded_len("block", b).expect("len") as u64 <= limit);
    }
}

/// Issue 11, hole 5: a peer's claimed height is unsigned. The node checks a claim by asking
/// its maker for the blocks; a maker that sends none loses its claim, so a validator claiming
/// any height costs one request per claim instead of an endless sync.
#[test]
fn a_claimed_height_is_checked_by_asking_its_maker() {
    use settlenet_machine::wire::{Request, Response};
    let mut fx = connected_fixture();
    let handle = |fx: &mut Fixture, event: Event| {
        let mut out = Vec::new();
        fx.machine.handle(NOW + 5_000, event, &mut out);
        out
    };
    let block_requests = |out: &[Effect]| -> Vec<ReplicaId> {
        out.iter()
            .filter_map(|e| match e {
                Effect::Request {
                    to,
                    request: Request::Blocks { .. },
                } => Some(*to),
                _ => None,
            })
            .collect()
    };
    // Validator 2 claims height 1,000 (below the snapshot threshold): asked first.
    let out = handle(
        &mut fx,
        Event::Answer {
            from: ReplicaId(2),
            request: Request::Status,
            result: Ok(Response::Status {
                height: Height(1_000),
            }),
        },
    );
    assert_eq!(block_requests(&out), vec![ReplicaId(2)], "{out:?}");
    // It has nothing to show: its claim is dropped and no further request follows.
    let out = handle(
        &mut fx,
        Event::Answer {
            from: ReplicaId(2),
            request: Request::Blocks {
                from: Height(1),
                max: 64,
            },
            result: Ok(Response::Blocks(Vec::new())),
        },
    );
    assert!(block_requests(&out).is_empty(), "{out:?}");
    let out = handle(&mut fx, Event::Wake);
    assert!(
        block_requests(&out).is_empty(),
        "no sync without a claim: {out:?}"
    );
}

/// Issue 11, hole 5: a snapshot (state transfer that replaces block sync) starts only when
/// f+1 validators claim to be past the snapshot threshold ahead of us. One Byzantine validator
/// claiming a huge height gets a block request, which its empty answer fails, not a snapshot
/// fetch from every peer; a second claim that far ahead (so one honest validator) starts it.
#[test]
fn one_claim_far_ahead_does_not_start_a_snapshot_fetch() {
    use settlenet_machine::wire::{Request, Response};
    let mut fx = connected_fixture();
    let claim = |fx: &mut Fixture, from: u16, height: u64| {
        peer_answer(
            fx,
            from,
            Request::Status,
            Response::Status {
                height: Height(height),
            },
        )
    };
    let fetches = snapshot_fetches;
    let out = claim(&mut fx, 3, 1_000_000);
    assert_eq!(fetches(&out), 0, "one claim is not enough: {out:?}");
    assert!(
        out.iter().any(|e| matches!(
            e,
            Effect::Request {
                to: ReplicaId(3),
                request: Request::Blocks { .. }
            }
        )),
        "the claim is checked by asking its maker: {out:?}"
    );
    // Another validator a little ahead (below the threshold): still no snapshot.
    let out = claim(&mut fx, 2, 10);
    assert_eq!(fetches(&out), 0, "{out:?}");
    // A second validator past the threshold: f+1 = 2 claims, one of them honest.
    let out = claim(&mut fx, 0, 900_000);
    assert_eq!(fetches(&out), 1, "{out:?}");
}

#[test]
fn one_peer_answering_blocks_from_does_not_start_a_snapshot_fetch() {
    use settlenet_machine::wire::{Request, Response};
    let mut fx = connected_fixture();
    let answer = |fx: &mut Fixture, from: u16, result: Response| {
        let request = Request::Blocks {
            from: Height(1),
            max: 64,
        };
        peer_answer(fx, from, request, result)
    };
    let fetches = snapshot_fetches;
    let asks = |out: &[Effect]| -> Vec<u16> {
        out.iter()
            .filter_map(|e| match e {
                Effect::Request {
                    to,
                    request: Request::Blocks { .. },
                } => Some(to.0),
                _ => None,
            })
            .collect()
    };
    // Validator 3 (Byzantine, or just restored from a snapshot) says it holds blocks from
    // 900,000 on only: one such answer sends us to another peer, not to a snapshot.
    let out = answer(
        &mut fx,
        3,
        Response::BlocksFrom {
            base: Height(900_000),
        },
    );
    assert_eq!(fetches(&out), 0, "one peer is not enough: {out:?}");
    let asked = asks(&out);
    assert!(
        asked.len() == 1 && asked[0] != 3,
        "another peer is asked for the blocks: {out:?}"
    );
    // Asked again later, it is not the one asked while others may hold the blocks.
    for _ in 0..4 {
        let out = answer(
            &mut fx,
            3,
            Response::BlocksFrom {
                base: Height(900_000),
            },
        );
        assert_eq!(fetches(&out), 0, "{out:?}");
        assert!(!asks(&out).contains(&3), "{out:?}");
    }
    // A BlocksFrom at or below the block we asked for is a wrong answer: not counted.
    let out = answer(&mut fx, 2, Response::BlocksFrom { base: Height(1) });
    assert_eq!(fetches(&out), 0, "{out:?}");
    // A second validator says the same: f+1 = 2 peers, one of them honest: fetch a snapshot.
    let out = answer(
        &mut fx,
        0,
        Response::BlocksFrom {
            base: Height(1_024),
        },
    );
    assert_eq!(fetches(&out), 1, "{out:?}");
}

/// Validator `from`'s answer to a request of ours, 5 s after the start; the effects.
fn peer_answer(
    fx: &mut Fixture,
    from: u16,
    request: settlenet_machine::wire::Request,
    response: settlenet_machine::wire::Response,
) -> Vec<Effect> {
    let mut out = Vec::new();
    fx.machine.handle(
        NOW + 5_000,
        Event::Answer {
            from: ReplicaId(from),
            request,
            result: Ok(response),
        },
        &mut out,
    );
    out
}

/// How many snapshot fetches `out` starts.
fn snapshot_fetches(out: &[Effect]) -> usize {
    out.iter()
        .filter(|e| matches!(e, Effect::FetchSnapshot(_)))
        .count()
}

/// Validator 1's machine, connected to the other three.
fn connected_fixture() -> Fixture {
    let mut fx = fixture(1);
    let mut out = Vec::new();
    for r in [0u16, 2, 3] {
        fx.machine
            .handle(NOW, Event::PeerConnected(ReplicaId(r)), &mut out);
    }
    fx
}

/// Whether `out` sends a VIEW-CHANGE.
fn sends_view_change(out: &[Effect]) -> bool {
    out.iter().any(|e| {
        matches!(e, Effect::Send { wire: Wire::Consensus(m), .. }
            if matches!(m.payload, Payload::ViewChange(_)))
    })
}

/// Wake the machine every 500 ms after `from` (a running node) for at most `span` ms; how long
/// after `from` it first sends a VIEW-CHANGE.
fn first_view_change(fx: &mut Fixture, from: u64, span: u64) -> Option<u64> {
    (1..=span / 500).map(|k| 500 * k).find(|&after| {
        let mut out = Vec::new();
        fx.machine.handle(from + after, Event::Wake, &mut out);
        sends_view_change(&out)
    })
}

/// A backup with pending work whose primary proposes nothing suspects it when its view timer
/// runs out; one that was not running meanwhile (SIGSTOP, a suspended VM: no event for longer
/// than a running node goes without one) restarts the timer instead, so it never starts a view
/// change alone for time it did not watch (it would then stay out of the view the others are
/// in).
#[test]
fn a_node_that_did_not_run_does_not_suspect_the_primary_for_that_time() {
    const SPAN: u64 = 60_000;
    let tx = create_wallet(&fixture(1).issuer, 1, 1);
    // Running: woken every 500 ms, it sends a VIEW-CHANGE within the span.
    let mut fx = fixture(1);
    let mut out = Vec::new();
    fx.machine.submit(NOW, vec![tx.clone()], &mut out);
    let suspected_after =
        first_view_change(&mut fx, NOW, SPAN).expect("a running backup suspects a silent primary");
    // Paused right after the submission for longer than that: the first event after the pause
    // sends no VIEW-CHANGE; a full timeout later (woken every 500 ms again), it does.
    let mut fx = fixture(1);
    let mut out = Vec::new();
    fx.machine.submit(NOW, vec![tx], &mut out);
    let resumed = NOW + suspected_after + 10_000;
    let mut out = Vec::new();
    fx.machine.handle(resumed, Event::Wake, &mut out);
    assert!(
        !sends_view_change(&out),
        "no suspicion for time not watched"
    );
    let again = first_view_change(&mut fx, resumed, SPAN).expect("the restarted timer runs out");
    assert!(
        again + 500 >= suspected_after,
        "a full timeout after resuming: {again} ms, running {suspected_after} ms"
    );
}

/// Retention: a node that pruned old blocks answers a request for them with `BlocksFrom` (the
/// asker then needs f+1 such answers to fetch a snapshot), and serves what it kept.
#[test]
fn a_node_that_pruned_answers_blocks_from_for_what_it_no_longer_holds() {
    use settlenet_machine::wire::{Request, Response};
    use settlenet_machine::Answer;
    let sync = SyncConfig {
        retain_blocks: 8_192,
        ..SyncConfig::default()
    };
    let mut fx = fixture_with(Some(1), sync, Height(700));
    assert_eq!(fx.machine.blocks_from(), Height(700));
    for from in [1, 2, 699] {
        match fx.machine.answer(
            NOW,
            Request::Blocks {
                from: Height(from),
                max: 64,
            },
        ) {
            Answer::Ready(Response::BlocksFrom { base }) => assert_eq!(base, Height(700)),
            other => panic!("from {from}: {other:?}"),
        }
    }
    match fx.machine.answer(
        NOW,
        Request::Blocks {
            from: Height(700),
            max: 64,
        },
    ) {
        Answer::Blocks { from, .. } => assert_eq!(from, Height(700)),
        other => panic!("{other:?}"),
    }
}

/// An idle network still expires holds and charge requests at their time: a primary with
/// nothing to propose wakes at the next deadline and proposes an empty block, whose start
/// sweeps what is due.
#[test]
fn an_idle_primary_proposes_an_empty_block_when_something_expires() {
    let validators: Vec<Keypair> = (0..4u8).map(|i| Keypair::from_seed([i + 1; 32])).collect();
    let acquirer = Keypair::from_seed([44; 32]);
    let keys: Vec<_> = validators.iter().map(Keypair::public).collect();
    let genesis = GenesisBuilder::new(CHAIN)
        .currency(usd(), 2)
        .member(MemberSpec::bank("bank-a").staff("acquirer", acquirer.public(), &[Role::Acquirer]))
        .validators(&keys)
        .build();
    let mut ledger = Ledger::from_genesis(&genesis).expect("genesis");
    let genesis_root = ledger.state_root();
    let sign = |n: u8, op: Operation| {
        let tx = Transaction::new(
            CHAIN,
            acquirer.public(),
            TxNonce([n; 16]),
            op,
            TX_VALIDITY_MAX_MS,
        );
        let signature = acquirer.sign(&tx.signing_message().expect("message"));
        SignedTransaction { tx, signature }
    };
    let merchant = AccountId([7; 16]);
    // Block 1 at 1,000 ms: a merchant and its charge request, expiring at NOW + 500.
    let expires = NOW + 500;
    let block1 = [
        sign(
            1,
            Operation::RegisterMerchant {
                account: merchant,
                acquirer: MemberId(0),
                owner: acquirer.public(),
                currency: usd(),
            },
        ),
        sign(
            2,
            Operation::CreateCharge {
                charge: settlenet_types::ChargeId([9; 16]),
                merchant,
                amount: settlenet_types::Amount(100),
                reference: "r".into(),
                payer: None,
                timeout_ms: expires - 1_000,
                hold_timeout_ms: 1_000,
            },
        ),
    ];
    let out = ledger.apply_block(Height(1), 1_000, &block1);
    assert!(
        out.outcomes.iter().all(|o| o.result.is_ok()),
        "{:?}",
        out.outcomes
    );
    assert_eq!(ledger.next_expiry_ms(), Some(expires));
    let config = ReplicaConfig::new(
        CHAIN.into(),
        keys,
        ReplicaId(0),
        validators[0].clone(),
        genesis.consensus.max_in_flight,
    );
    // Validator 0, the primary of view 0.
    let replica = Replica::new(config, Height(1), View(0)).expect("replica");
    let mut machine = NodeMachine::new(MachineParts {
        genesis: Arc::new(genesis),
        validator: Some((ReplicaId(0), replica)),
        // Block 1's root is certified already: no empty block is wanted for that.
        certified_root: ledger.state_root(),
        ledger,
        genesis_root,
        last_hash: Hash([1; 32]),
        last_block_time_ms: 1_000,
        recent: Vec::new(),
        mempool_max: 100,
        mempool_max_bytes: 64 * 1024 * 1024,
        max_clock_skew_ms: 2_000,
        sync: SyncConfig::default(),
        base_height: Height(0),
        pruned_below: Height(0),
        now_ms: NOW,
    });
    let pre_prepare = |out: &[Effect]| {
        out.iter().any(|e| {
            matches!(e, Effect::Send { to: None, wire: Wire::Consensus(m) }
                if matches!(&m.payload, Payload::PrePrepare { block, .. } if block.txs.is_empty()))
        })
    };
    // Before the deadline nothing is proposed, and the machine wakes at the deadline.
    let mut out = Vec::new();
    machine.handle(NOW, Event::Wake, &mut out);
    assert!(!pre_prepare(&out), "nothing is due yet");
    assert!(
        machine.next_wake_ms() <= expires,
        "{}",
        machine.next_wake_ms()
    );
    // At the deadline: an empty block, stamped at or after it, so its start sweeps the request.
    let mut out = Vec::new();
    machine.handle(expires, Event::Wake, &mut out);
    assert!(pre_prepare(&out), "an empty block at the deadline: {out:?}");
}

/// A store that fails every read (a disk error, a corrupt value).
struct FailingStore;

impl settlenet_ledger::AccountStore for FailingStore {
    fn account(
        &self,
        id: &settlenet_types::AccountId,
    ) -> Result<Option<settlenet_ledger::Account>, String> {
        Err(format!("I/O error reading account {id}"))
    }
}

#[test]
fn a_failed_store_read_stops_the_node_before_it_persists_the_block() {
    let mut fx = fixture(1);
    let store: Arc<dyn settlenet_ledger::AccountStore> = Arc::new(FailingStore);
    // The driver attaches its store once it has written the state (here: nothing to write).
    fx.machine.persisted(&store, 1_000);
    assert!(fx.machine.ledger().account_cache_stats().store_mode);
    // A read fails (an API read, or one of a block's): answered as absent, and kept.
    let id = settlenet_types::AccountId([9; 16]);
    assert!(fx.machine.ledger().account(&id).is_none());
    // The next block is executed but neither written nor voted on: the machine stops.
    let block = certified_block(&fx, &[0, 2, 3]);
    let out = sync_answer(&mut fx, vec![block]);
    assert!(
        !out.iter().any(|e| matches!(e, Effect::CommitBlock(_))),
        "a block computed after a failed read was written"
    );
    let failure = out
        .iter()
        .find_map(|e| match e {
            Effect::StoreReadFailed(f) => Some(f.clone()),
            _ => None,
        })
        .expect("the failure is reported");
    assert!(
        failure.contains("I/O error") && failure.contains(&id.to_string()),
        "{failure}"
    );
    assert!(fx.machine.is_halted());
    let mut later = Vec::new();
    fx.machine
        .handle(NOW, Event::PeerConnected(ReplicaId(3)), &mut later);
    assert!(later.is_empty(), "a halted machine does nothing: {later:?}");
}
