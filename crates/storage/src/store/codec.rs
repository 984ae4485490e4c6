//! Key layouts and value encoding: big-endian heights so that iteration follows the chain, and
//! the canonical encoding for every value this crate interprets (a value that does not decode is
//! [`StorageError::Corrupt`], never a panic).

use crate::error::StorageError;
use serde::{de::DeserializeOwned, Serialize};
use settlenet_types::{AccountId, Height, TypesError};

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn height_key(height: Height) -> [u8; 8] {
    height.0.to_be_bytes()
}

/// `account || height || index`: big-endian, so one account's entries sort by chain position.
pub(super) fn history_key(account: &AccountId, height: Height, index: u32) -> [u8; 28] {
    let mut k = [0u8; 28];
    k[..16].copy_from_slice(account.as_bytes());
    k[16..24].copy_from_slice(&height.0.to_be_bytes());
    k[24..].copy_from_slice(&index.to_be_bytes());
    k
}

/// `level || index`: a history accumulator node's key (index big-endian).
pub(super) fn history_node_key(level: u8, index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

/// `0xff || height`: which history leaf a block's records are (levels are at most 64, so the
/// key never collides with a node's).
pub(super) fn history_leaf_key(height: Height) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = 0xff;
    k[1..].copy_from_slice(&height.0.to_be_bytes());
    k
}

/// `height || index || account`: big-endian, so one block's entries sort by position.
pub(super) fn changes_key(height: Height, index: u32, account: &AccountId) -> [u8; 28] {
    let mut k = [0u8; 28];
    k[..8].copy_from_slice(&height.0.to_be_bytes());
    k[8..12].copy_from_slice(&index.to_be_bytes());
    k[12..].copy_from_slice(account.as_bytes());
    k
}

pub(super) fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, StorageError> {
    settlenet_types::encode(what, value).map_err(|e| match e {
        TypesError::Encode { what, reason } => StorageError::Encode { what, reason },
        other => StorageError::Encode {
            what,
            reason: other.to_string(),
        },
    })
}

pub(super) fn decode<T: DeserializeOwned>(
    what: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StorageError> {
    settlenet_types::decode(what, bytes).map_err(|e| StorageError::Corrupt {
        what,
        key: hex(key),
        reason: e.to_string(),
    })
}

/// A fixed-size id from a stored key; a key of another length is corruption.
pub(super) fn key_array<const N: usize>(
    what: &'static str,
    key: &[u8],
) -> Result<[u8; N], StorageError> {
    <[u8; N]>::try_from(key).map_err(|_| StorageError::Corrupt {
        what,
        key: hex(key),
        reason: format!("key is {} bytes, expected {N}", key.len()),
    })
}
