//! Key files: JSON, mode 0600, self-describing.

use crate::error::CryptoError;
use crate::keys::Keypair;
use serde::{Deserialize, Serialize};
use settlenet_types::PublicKey;
use std::path::Path;

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Signs consensus messages for a validator.
    Validator,
    /// The node's libp2p identity.
    Network,
    /// A member's staff key (issuer, clearing, ...).
    Staff,
    /// A wallet owner's key.
    User,
}

/// The on-disk form of a key.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyFile {
    /// What the key is for.
    pub kind: KeyKind,
    /// Always "ed25519".
    pub algorithm: String,
    /// Public key, hex.
    pub public_key: PublicKey,
    /// 32-byte secret seed, hex.
    pub secret_key: String,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyFile({:?}, {})", self.kind, self.public_key)
    }
}

impl KeyFile {
    /// Wrap a key pair.
    pub fn new(kind: KeyKind, key: &Keypair) -> KeyFile {
        KeyFile {
            kind,
            algorithm: "ed25519".into(),
            public_key: key.public(),
            secret_key: hex::encode(key.secret_bytes()),
        }
    }

    /// The key pair, checked against the stored public key.
    pub fn keypair(&self) -> Result<Keypair, String> {
        if self.algorithm != "ed25519" {
            return Err(format!("algorithm {:?} is not ed25519", self.algorithm));
        }
        let mut seed = [0u8; 32];
        hex::decode_to_slice(self.secret_key.trim(), &mut seed)
            .map_err(|e| format!("secret_key is not 64 hex characters: {e}"))?;
        let key = Keypair::from_seed(seed);
        if key.public() != self.public_key {
            return Err("secret_key does not match public_key (file corrupt?)".into());
        }
        Ok(key)
    }

    /// Write to `path` with mode 0600 (created exclusively: an existing key is never overwritten).
    pub fn write(&self, path: &Path) -> Result<(), CryptoError> {
        let err = |reason: String| CryptoError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| err(e.to_string()))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(|e| err(e.to_string()))?;
        use std::io::Write;
        f.write_all(&json)
            .and_then(|_| f.write_all(b"\n"))
            .and_then(|_| f.sync_all())
            .map_err(|e| err(e.to_string()))
    }

    /// Read a key file and check it is of the expected kind (any kind if `None`).
    pub fn read(path: &Path, expect: Option<KeyKind>) -> Result<(KeyFile, Keypair), CryptoError> {
        let err = |reason: String| CryptoError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        if bytes.len() > 64 * 1024 {
            return Err(err("larger than 64 KiB: not a key file".into()));
        }
        let file: KeyFile =
            serde_json::from_slice(&bytes).map_err(|e| err(format!("not a key file: {e}")))?;
        if let Some(kind) = expect {
            if file.kind != kind {
                return Err(err(format!(
                    "is a {:?} key, expected a {:?} key",
                    file.kind, kind
                )));
            }
        }
        let key = file.keypair().map_err(err)?;
        Ok((file, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_with_mode_0600_and_never_overwrite() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("k.key");
        let key = Keypair::generate();
        KeyFile::new(KeyKind::Staff, &key)
            .write(&path)
            .expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (_, back) = KeyFile::read(&path, Some(KeyKind::Staff)).expect("read");
        assert_eq!(back.public(), key.public());
        assert!(KeyFile::read(&path, Some(KeyKind::User)).is_err());
        assert!(KeyFile::new(KeyKind::Staff, &key).write(&path).is_err());
    }

    #[test]
    fn corrupt_key_file_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("k.key");
        let key = Keypair::generate();
        let mut f = KeyFile::new(KeyKind::User, &key);
        f.secret_key = hex::encode([9u8; 32]);
        f.write(&path).expect("write");
        let err = KeyFile::read(&path, None).expect_err("mismatch");
        assert!(err.to_string().contains("does not match"), "{err}");
    }
}
