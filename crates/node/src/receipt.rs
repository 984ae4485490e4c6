//! Settlement receipts and account proofs, checked offline: the checks live in the pure
//! `settlenet-verify` crate (so that an auditor's verifier needs no node); they are re-exported
//! here for the node's users.

pub use settlenet_verify::{
    verify_anchor, verify_committed, verify_proof, verify_receipt, Anchor, MemberSettled,
    ProofVerified, ReceiptVerified, VerifyError,
};
