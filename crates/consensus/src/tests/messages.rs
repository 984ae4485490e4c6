//! Signed messages: domain separation between message kinds, and the canonical codec.

use super::fixture::*;
use crate::*;
use settlenet_types::block::{VoteBody, VoteKind};
use settlenet_types::{decode, encode, Height, ReplicaId, SignedTransaction, View};

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
