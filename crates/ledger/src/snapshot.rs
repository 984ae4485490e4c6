//! Ledger snapshots: the state at one height, to send to a replica that is far behind.
//!
//! ```text
//!   sender:   ledger.snapshot_chunks(n) ──▶ encode each part ──▶ wire (each part < 32 MiB)
//!   receiver: decode each part ──▶ snapshot.append(part)? ──▶
//!             Ledger::restore_verified(genesis, snapshot, certified_root)?
//! ```
//! A snapshot is not trusted: [`crate::Ledger::restore_verified`] recomputes the state root
//! (accounts and records) and refuses the snapshot unless it equals the root the caller trusts,
//! e.g. the `state_root` a block header with a valid commit certificate carries for that
//! height. Parts are not verified one by one: a lying peer is caught when the whole snapshot is
//! checked, so the receiver must bound what it accepts (parts, bytes) before that.

use crate::account::Account;
use crate::error::LedgerError;
use crate::history::History;
use crate::outcome::TxRecord;
use serde::{Deserialize, Serialize};
use settlenet_types::{decode, encode, Height, TxId};

/// Version of the [`LedgerSnapshot`] encoding: 2 holds the live records only, and the history
/// accumulator.
pub const SNAPSHOT_VERSION: u16 = 2;

/// The ledger's state at `height`, or one part of it (see [`crate::Ledger::snapshot_chunks`]).
///
/// Produced in id order (accounts by account id, records by transaction id), so one state has
/// one encoding; [`crate::Ledger::restore_verified`] accepts any order, since the root does not
/// depend on it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LedgerSnapshot {
    /// Encoding version ([`SNAPSHOT_VERSION`]).
    pub version: u16,
    /// Height of the last block executed into this state.
    pub height: Height,
    /// Accounts: all of them, or (as in storage) only those changed since genesis.
    pub accounts: Vec<Account>,
    /// Every live transaction record, with its transaction id.
    pub records: Vec<(TxId, TxRecord)>,
    /// The history accumulator at `height` (every part carries it).
    pub history: History,
}

impl LedgerSnapshot {
    /// An empty snapshot at `height`, to [`LedgerSnapshot::append`] received parts to.
    pub fn empty(height: Height) -> LedgerSnapshot {
        LedgerSnapshot {
            version: SNAPSHOT_VERSION,
            height,
            accounts: Vec::new(),
            records: Vec::new(),
            history: History::default(),
        }
    }

    /// Number of accounts plus records.
    pub fn len(&self) -> usize {
        self.accounts.len() + self.records.len()
    }

    /// Whether the snapshot holds no account and no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add a received part. Refused (and `self` unchanged) if the part is of another version or
    /// height. Repeated ids are caught later by [`crate::Ledger::restore_verified`].
    pub fn append(&mut self, part: LedgerSnapshot) -> Result<(), LedgerError> {
        if part.version != self.version {
            return Err(LedgerError::Restore(format!(
                "snapshot part has version {}, expected {}",
                part.version, self.version
            )));
        }
        if part.height != self.height {
            return Err(LedgerError::Restore(format!(
                "snapshot part is at height {}, the snapshot at {}",
                part.height, self.height
            )));
        }
        if self.is_empty() && self.history == History::default() {
            self.history = part.history;
        } else if part.history != self.history {
            return Err(LedgerError::Restore(
                "snapshot parts carry different history accumulators".into(),
            ));
        }
        self.accounts.extend(part.accounts);
        self.records.extend(part.records);
        Ok(())
    }

    /// The canonical encoding (`settlenet_types::encode`). Fails above the 32 MiB message
    /// limit: send large states in parts.
    pub fn to_bytes(&self) -> Result<Vec<u8>, LedgerError> {
        encode("ledger snapshot", self).map_err(|e| LedgerError::Restore(e.to_string()))
    }

    /// Decode a snapshot or part (canonical encoding, no trailing bytes, at most 32 MiB, of
    /// version [`SNAPSHOT_VERSION`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<LedgerSnapshot, LedgerError> {
        let snapshot: LedgerSnapshot =
            decode("ledger snapshot", bytes).map_err(|e| LedgerError::Restore(e.to_string()))?;
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(LedgerError::Restore(format!(
                "snapshot version {} is not supported (expected {SNAPSHOT_VERSION})",
                snapshot.version
            )));
        }
        Ok(snapshot)
    }
}
