//! Issue 11, hole 1: every consensus message fits a network message, however full the window.
//! A VIEW-CHANGE carries up to L prepared blocks and a NEW-VIEW a quorum of VIEW-CHANGEs plus
//! O; with blocks cut by count only, a full window pushed them past the frame limit and views
//! changed forever. Blocks are now bounded in bytes, a NEW-VIEW carries its VIEW-CHANGEs as
//! digests, and `Replica::new` refuses a configuration whose largest messages would not fit.

use super::fixture::*;
use crate::*;
use settlenet_types::block::BLOCK_VERSION;
use settlenet_types::codec::MAX_MESSAGE_BYTES;
use settlenet_types::{
    encode, encoded_len, Block, BlockHeader, Hash, Height, ReplicaId, Signature, SignedTransaction,
    View, BLOCK_MAX_BYTES_DEFAULT, CHAIN_ID_MAX_LEN,
};

/// A block at `height` as close to `max_bytes` encoded as whole transactions allow, with the
/// longest chain id.
fn full_block(height: u64, max_bytes: u64, txs: &[SignedTransaction]) -> Block {
    let mut block = Block {
        header: BlockHeader {
            version: BLOCK_VERSION,
            chain_id: "c".repeat(CHAIN_ID_MAX_LEN),
            height: Height(height),
            timestamp_ms: u64::MAX,
            proposer: ReplicaId(u16::MAX),
            tx_count: 0,
            tx_root: Hash::ZERO,
            state_height: Height(u64::MAX),
            state_root: Hash::ZERO,
        },
        txs: Vec::new(),
    };
    let tx_len = encoded_len("tx", &txs[0]).expect("len") as u64;
    let mut len = encoded_len("block", &block).expect("len") as u64;
    let mut i = 0;
    while len + tx_len <= max_bytes {
        block.txs.push(txs[i % txs.len()].clone());
        len += tx_len;
        i += 1;
    }
    block.header.tx_count = block.txs.len() as u32;
    assert_eq!(encoded_len("block", &block).expect("len") as u64, len);
    block
}

#[test]
fn the_largest_view_change_and_new_view_fit_a_network_message() {
    let n: u16 = 4;
    let max_in_flight = 4;
    let log_window = 2 * DEFAULT_CHECKPOINT_INTERVAL + 2 * max_in_flight;
    let block_max = BLOCK_MAX_BYTES_DEFAULT;
    let limit = (MAX_MESSAGE_BYTES - WIRE_ENVELOPE_BYTES) as u64;
    let txs: Vec<SignedTransaction> = (0..=255u8).map(tx).collect();
    let signatures: Vec<(ReplicaId, Signature)> =
        (0..n).map(|r| (ReplicaId(r), Signature([7; 64]))).collect();
    let blocks: Vec<Block> = (1..=log_window)
        .map(|h| full_block(h, block_max, &txs))
        .collect();
    let body = ViewChangeBody {
        tag: VIEW_CHANGE_TAG,
        chain_id: "c".repeat(CHAIN_ID_MAX_LEN),
        view: View(u64::MAX),
        checkpoint: CheckpointProof {
            height: Height(0),
            state_root: Hash::ZERO,
            signatures: signatures.clone(),
        },
        prepared: blocks
            .iter()
            .map(|b| PreparedCertificate {
                view: View(u64::MAX - 1),
                block: b.clone(),
                pre_prepare_signature: Signature([1; 64]),
                prepares: signatures.clone(),
            })
            .collect(),
    };
    let view_change = SignedMessage {
        from: ReplicaId(0),
        payload: Payload::ViewChange(body.clone()),
        signature: Signature([2; 64]),
    };
    let vc_len = encode("vc", &view_change).expect("encode").len() as u64;
    let vc_bound = max_view_change_bytes(u64::from(n), log_window, block_max);
    assert!(
        vc_len <= vc_bound,
        "VIEW-CHANGE {vc_len} > bound {vc_bound}"
    );
    assert!(
        vc_len * 100 >= vc_bound * 99,
        "the bound is tight: {vc_len} of {vc_bound}"
    );
    assert!(
        vc_bound <= limit,
        "VIEW-CHANGE bound {vc_bound} over the limit {limit}"
    );

    let proof = ViewChangeProof {
        from: ReplicaId(0),
        body: body.digest(),
        signature: Signature([2; 64]),
    };
    let new_view = SignedMessage {
        from: ReplicaId(1),
        payload: Payload::NewView(NewViewBody {
            tag: NEW_VIEW_TAG,
            chain_id: "c".repeat(CHAIN_ID_MAX_LEN),
            view: View(u64::MAX),
            view_changes: (0..n)
                .map(|r| ViewChangeProof {
                    from: ReplicaId(r),
                    ..proof.clone()
                })
                .collect(),
            pre_prepares: blocks
                .iter()
                .map(|b| Reproposal {
                    block: b.clone(),
                    signature: Signature([3; 64]),
                })
                .collect(),
        }),
        signature: Signature([4; 64]),
    };
    let nv_len = encode("nv", &new_view).expect("encode").len() as u64;
    let nv_bound = max_new_view_bytes(u64::from(n), log_window, block_max);
    assert!(nv_len <= nv_bound, "NEW-VIEW {nv_len} > bound {nv_bound}");
    assert!(
        nv_len * 100 >= nv_bound * 99,
        "the bound is tight: {nv_len} of {nv_bound}"
    );
    assert!(
        nv_bound <= limit,
        "NEW-VIEW bound {nv_bound} over the limit {limit}"
    );
    // Before: a NEW-VIEW held every VIEW-CHANGE whole, a quorum of full windows, over the
    // limit for these very blocks.
    assert!(3 * vc_len + nv_len > MAX_MESSAGE_BYTES as u64);
    // The digest carries the same signature: a VIEW-CHANGE's signing bytes are its digest's.
    assert_eq!(
        body.signing_message().expect("bytes"),
        proof.body.signing_message().expect("bytes")
    );
}

#[test]
fn a_configuration_whose_view_change_would_not_fit_is_refused() {
    let fx = fixture(4);
    let config = |block_max_bytes, max_in_flight| ReplicaConfig {
        block_max_bytes,
        ..ReplicaConfig::new(
            CHAIN.into(),
            fx.validators.clone(),
            ReplicaId(0),
            fx.keys[0].clone(),
            max_in_flight,
        )
    };
    assert!(Replica::new(config(BLOCK_MAX_BYTES_DEFAULT, 4), Height(0), View(0)).is_ok());
    for (block_max, in_flight) in [(8 * 1024 * 1024, 4), (BLOCK_MAX_BYTES_DEFAULT, 64)] {
        let err =
            Replica::new(config(block_max, in_flight), Height(0), View(0)).expect_err("too large");
        assert!(err.to_string().contains("VIEW-CHANGE"), "{err}");
    }
}

#[test]
fn a_pre_prepare_over_the_block_limit_is_dropped_not_prepared() {
    let fx = fixture(4);
    let small = settlenet_types::BLOCK_MAX_BYTES_MIN;
    let mut r = Replica::new(
        ReplicaConfig {
            block_max_bytes: small,
            ..ReplicaConfig::new(
                CHAIN.into(),
                fx.validators.clone(),
                ReplicaId(1),
                fx.keys[1].clone(),
                4,
            )
        },
        Height(0),
        View(0),
    )
    .expect("replica");
    let txs: Vec<SignedTransaction> = (0..=255u8).map(tx).collect();
    let mut big = full_block(1, small + 4096, &txs);
    big.header.chain_id = CHAIN.into();
    big.header.state_height = Height(0);
    big.header.proposer = ReplicaId(0);
    big.header.tx_root = Block::compute_tx_root(&big.txs).expect("root");
    let out = step(&mut r, msg(&fx.pre_prepare(0, 0, &big)));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(r.stats().dropped(DropReason::Oversized), 1);
    // A block within the limit goes on to be checked (the node's verdict is asked for).
    let mut fits = full_block(1, small, &txs);
    fits.header = big.header.clone();
    fits.header.tx_count = fits.txs.len() as u32;
    fits.header.tx_root = Block::compute_tx_root(&fits.txs).expect("root");
    let out = step(&mut r, msg(&fx.pre_prepare(0, 0, &fits)));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::VerifyProposal { .. })),
        "{out:?}"
    );
}

/// Issue 11, hole 4: messages for views we are not in are kept only when validly signed and
/// at most `BUFFER_VIEWS_AHEAD` views ahead: a peer cannot park forgeries or far-future junk.
#[test]
fn future_view_messages_are_checked_before_they_are_buffered() {
    use settlenet_types::block::VoteKind;
    let fx = fixture(4);
    let mut r = fx.replica(1, 4, 0);
    let h = hash(&block(1, 0, 0));
    let mut forged = fx.vote_in(2, VoteKind::Prepare, 5, 1, h);
    forged.signature.0[0] ^= 1;
    assert!(step(&mut r, msg(&forged)).is_empty());
    assert_eq!(r.stats().dropped(DropReason::BadSignature), 1);
    assert_eq!(r.stats().buffered, 0);
    let far = fx.vote_in(2, VoteKind::Prepare, 5 + BUFFER_VIEWS_AHEAD, 1, h);
    assert!(step(&mut r, msg(&far)).is_empty());
    assert_eq!(r.stats().dropped(DropReason::TooFarAhead), 1);
    let near = fx.vote_in(2, VoteKind::Prepare, 5, 1, h);
    assert!(step(&mut r, msg(&near)).is_empty());
    assert_eq!(
        r.stats().buffered,
        1,
        "a valid message of a near view waits for its view"
    );
}
