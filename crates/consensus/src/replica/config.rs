//! How a replica is configured: its identity, the validator set, the pipelining window, the
//! view timer and the checkpoint interval, with their defaults and limits.

use settlenet_crypto::{Keypair, SignatureVerifier, StrictVerifier};
use settlenet_types::{PublicKey, ReplicaId};
use std::sync::Arc;

/// Largest accepted `max_in_flight`. The replica keeps up to `2 * max_in_flight` slots, each
/// holding one block, so this bounds memory whatever the configuration says.
pub const MAX_IN_FLIGHT_LIMIT: u64 = 1024;

/// Everything a replica needs to know about itself and the validator set.
#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    /// The chain id from the genesis; part of every signed message.
    pub chain_id: String,
    /// The validators' consensus keys; the index is the [`ReplicaId`].
    pub validators: Vec<PublicKey>,
    /// This replica's id; `validators[me]` must be `key.public()`.
    pub me: ReplicaId,
    /// This replica's consensus key.
    pub key: Keypair,
    /// How many heights the primary may have proposed but not committed (the genesis
    /// `ConsensusParams::max_in_flight`); 1 ..= [`MAX_IN_FLIGHT_LIMIT`].
    pub max_in_flight: u64,
    /// The view timer's first duration (after a commit), in ms; >= 1.
    pub view_timeout_ms_min: u64,
    /// The cap of the view timer's exponential backoff, in ms; >= `view_timeout_ms_min`.
    pub view_timeout_ms_max: u64,
    /// A block's encoded size at most (the genesis `ConsensusParams::block_max_bytes`):
    /// larger PRE-PREPAREs are dropped, and [`crate::Replica::new`] refuses a configuration
    /// whose largest VIEW-CHANGE or NEW-VIEW would not fit a network message.
    pub block_max_bytes: u64,
    /// A CHECKPOINT is taken every this many heights (K in §4.3); 1 ..=
    /// [`MAX_CHECKPOINT_INTERVAL`]. Must be equal on every validator.
    pub checkpoint_interval: u64,
    /// Checks every signature the replica receives. It must answer exactly as
    /// `settlenet_crypto::verify` (strict ed25519) does; [`ReplicaConfig::new`] uses a
    /// [`StrictVerifier`] with the validators' keys decoded once. A simulator running many
    /// replicas in one process may share a memoising one among them (a message broadcast to n-1
    /// replicas is then verified once).
    pub verifier: Arc<dyn SignatureVerifier>,
}

/// Default [`ReplicaConfig::view_timeout_ms_min`].
pub const DEFAULT_VIEW_TIMEOUT_MS_MIN: u64 = 2_000;
/// Default [`ReplicaConfig::view_timeout_ms_max`] (Besu #611/#7642: the backoff is capped).
pub const DEFAULT_VIEW_TIMEOUT_MS_MAX: u64 = 30_000;
/// Default [`ReplicaConfig::checkpoint_interval`].
pub const DEFAULT_CHECKPOINT_INTERVAL: u64 = 16;
/// Largest accepted [`ReplicaConfig::checkpoint_interval`] (bounds the log).
pub const MAX_CHECKPOINT_INTERVAL: u64 = 1024;

impl ReplicaConfig {
    /// A configuration with the default timer and checkpoint settings.
    pub fn new(
        chain_id: String,
        validators: Vec<PublicKey>,
        me: ReplicaId,
        key: Keypair,
        max_in_flight: u64,
    ) -> ReplicaConfig {
        ReplicaConfig {
            verifier: Arc::new(StrictVerifier::with_keys(&validators)),
            chain_id,
            validators,
            me,
            key,
            max_in_flight,
            block_max_bytes: settlenet_types::BLOCK_MAX_BYTES_DEFAULT,
            view_timeout_ms_min: DEFAULT_VIEW_TIMEOUT_MS_MIN,
            view_timeout_ms_max: DEFAULT_VIEW_TIMEOUT_MS_MAX,
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
        }
    }
}
