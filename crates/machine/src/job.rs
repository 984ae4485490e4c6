//! Work the machine hands out: pure, but too heavy for the event loop (signature batches,
//! proposals). The node runs a job on a blocking thread; the simulator inline.

use settlenet_types::{Hash, Height, SignedTransaction, View};

/// Checks transaction signatures.
pub trait TxVerifier: Send + Sync {
    /// `Ok` if every signature verifies; otherwise why not.
    fn verify(&self, txs: &[SignedTransaction]) -> Result<(), String>;
}

/// Strict ed25519, in batches ([`settlenet_crypto::verify_transactions`]): what the node uses.
#[derive(Debug, Default, Clone, Copy)]
pub struct StrictTxVerifier;

impl TxVerifier for StrictTxVerifier {
    fn verify(&self, txs: &[SignedTransaction]) -> Result<(), String> {
        settlenet_crypto::verify_transactions(txs).map_err(|e| e.to_string())
    }
}

/// A job to run off the event loop.
#[derive(Debug)]
pub enum Job {
    /// Verify gossiped transactions; keep the valid ones.
    VerifyGossip {
        /// Not yet held here.
        txs: Vec<SignedTransaction>,
    },
    /// Verify the transactions of a proposal that our mempool did not already verify.
    VerifyProposal {
        /// The proposal's view.
        view: View,
        /// Its height.
        height: Height,
        /// Its header hash.
        hash: Hash,
        /// The transactions to check.
        txs: Vec<SignedTransaction>,
    },
}

/// A job's result.
#[derive(Debug)]
pub enum JobResult {
    /// The gossiped transactions whose signatures verified, and how many did not.
    GossipVerified {
        /// Valid ones.
        good: Vec<SignedTransaction>,
        /// Count of forged ones (dropped; they would be refused in a block).
        forged: u64,
    },
    /// A proposal's signatures checked.
    ProposalChecked {
        /// Its view.
        view: View,
        /// Its height.
        height: Height,
        /// Its hash.
        hash: Hash,
        /// Why it is refused, if it is.
        result: Result<(), String>,
    },
}

impl Job {
    /// Do the work.
    pub fn run(self, verifier: &dyn TxVerifier) -> JobResult {
        match self {
            Job::VerifyGossip { txs } => {
                if verifier.verify(&txs).is_ok() {
                    return JobResult::GossipVerified {
                        good: txs,
                        forged: 0,
                    };
                }
                let total = txs.len() as u64;
                let good: Vec<SignedTransaction> = txs
                    .into_iter()
                    .filter(|t| verifier.verify(std::slice::from_ref(t)).is_ok())
                    .collect();
                let forged = total - good.len() as u64;
                JobResult::GossipVerified { good, forged }
            }
            Job::VerifyProposal {
                view,
                height,
                hash,
                txs,
            } => JobResult::ProposalChecked {
                view,
                height,
                hash,
                result: verifier.verify(&txs),
            },
        }
    }
}
