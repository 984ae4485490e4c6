//! Observer nodes: the textual checks of a `RegisterObserver` / `RemoveObserver` transaction,
//! shared by the ledger (which refuses a malformed one) and the CLI (which refuses it before
//! signing).
//!
//! An observer is a non-validator node (an integrator's node that syncs blocks and serves
//! reads) that validators admit only if a sponsoring member registered its libp2p peer id on
//! the ledger. This crate does not depend on libp2p, so the peer id is checked as text: the
//! base58btc alphabet and a length that covers every peer id libp2p prints (an ed25519 key's
//! identity multihash, `12D3KooW...`, is 52 characters; a sha2-256 one, `Qm...`, 46). A string
//! that passes may still not decode as a peer id; the node's allow-list simply never matches
//! it.

use crate::error::TypesError;

/// Fewest characters of a peer id accepted.
pub const PEER_ID_MIN_CHARS: usize = 40;
/// Most characters of a peer id accepted.
pub const PEER_ID_MAX_CHARS: usize = 64;
/// Most characters of an observer's name (its label).
pub const OBSERVER_NAME_MAX_CHARS: usize = 64;

/// The base58btc alphabet (Bitcoin's): digits and letters without `0`, `O`, `I` and `l`.
const BASE58BTC: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Check that `peer_id` looks like a libp2p peer id in its usual text form: 40 to 64
/// characters of the base58btc alphabet.
pub fn check_peer_id(peer_id: &str) -> Result<(), TypesError> {
    let err = |reason: String| TypesError::Parse {
        field: "peer id",
        reason,
    };
    // Bytes, not chars: any non-ASCII character is outside the alphabet anyway.
    let n = peer_id.len();
    if !(PEER_ID_MIN_CHARS..=PEER_ID_MAX_CHARS).contains(&n) {
        return Err(err(format!(
            "must be {PEER_ID_MIN_CHARS} to {PEER_ID_MAX_CHARS} characters, not {n}"
        )));
    }
    let base58 = |c: &char| u8::try_from(*c).is_ok_and(|b| BASE58BTC.contains(&b));
    if let Some(c) = peer_id.chars().find(|c| !base58(c)) {
        return Err(err(format!(
            "{c:?} is not a base58btc character (digits and letters without 0, O, I and l)"
        )));
    }
    Ok(())
}

/// Check an observer's name: 1 to [`OBSERVER_NAME_MAX_CHARS`] printable ASCII characters
/// (space to `~`). ASCII only, because names are printed in logs and terminals, where control
/// characters, bidirectional overrides and look-alike letters would mislead a reader.
pub fn check_observer_name(name: &str) -> Result<(), TypesError> {
    let err = |reason: String| TypesError::Parse {
        field: "observer name",
        reason,
    };
    let n = name.len();
    if n == 0 || n > OBSERVER_NAME_MAX_CHARS {
        return Err(err(format!(
            "must be 1 to {OBSERVER_NAME_MAX_CHARS} characters, not {}",
            name.chars().count()
        )));
    }
    if let Some(c) = name.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(err(format!(
            "{c:?} is not a printable ASCII character (space to ~)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ids_are_checked_as_base58btc_text() {
        // Table: (peer id, accepted).
        let ed25519 = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
        assert_eq!(ed25519.len(), 52);
        let cases: Vec<(String, bool)> = vec![
            (ed25519.into(), true),
            (
                "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N".into(),
                true,
            ),
            ("1".repeat(PEER_ID_MIN_CHARS), true),
            ("z".repeat(PEER_ID_MAX_CHARS), true),
            ("1".repeat(PEER_ID_MIN_CHARS - 1), false),
            ("z".repeat(PEER_ID_MAX_CHARS + 1), false),
            (String::new(), false),
            (ed25519.replace('D', "0"), false),
            (ed25519.replace('D', "O"), false),
            (ed25519.replace('D', "I"), false),
            (ed25519.replace('D', "l"), false),
            (ed25519.replace('D', " "), false),
            (ed25519.replace('D', "/"), false),
            (ed25519.replace('D', "é"), false),
            (format!("/p2p/{ed25519}"), false),
        ];
        for (peer_id, ok) in cases {
            assert_eq!(check_peer_id(&peer_id).is_ok(), ok, "{peer_id:?}");
        }
    }

    #[test]
    fn observer_names_are_short_printable_ascii() {
        let cases: Vec<(String, bool)> = vec![
            ("acme-indexer-1".into(), true),
            ("Acme Corp. read replica (eu-west) #2 ~".into(), true),
            ("x".into(), true),
            ("x".repeat(OBSERVER_NAME_MAX_CHARS), true),
            ("x".repeat(OBSERVER_NAME_MAX_CHARS + 1), false),
            (String::new(), false),
            ("tab\there".into(), false),
            ("line\nbreak".into(), false),
            ("bidi\u{202e}override".into(), false),
            ("caf\u{e9}".into(), false),
            ("del\u{7f}".into(), false),
        ];
        for (name, ok) in cases {
            assert_eq!(check_observer_name(&name).is_ok(), ok, "{name:?}");
        }
    }
}
