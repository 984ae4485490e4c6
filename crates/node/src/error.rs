//! The node's error type.
//!
//! Three kinds of failure reach a node, and only the first two are errors of the node:
//! - **fatal**: the node cannot go on with a state it cannot persist (a failed store write), or
//!   cannot start (a store or port it cannot open): [`NodeError::Fatal`], [`NodeError::Startup`];
//! - **configuration**: something an operator must fix (config, genesis, key or members file):
//!   [`NodeError::Config`], naming the file and the field;
//! - **peer and client** mistakes are never a `NodeError`: a bad peer message is dropped and
//!   counted (`messages_dropped`), a bad client request is answered by the API with a typed
//!   error body (`api::ApiError`, `settlenet_api::ErrorBody`).

use std::fmt::Display;

/// Why the node stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node cannot go on with a state it cannot persist (a failed store write): it stops.
    #[error("FATAL: {0}; stopping the node")]
    Fatal(String),
    /// The node cannot start: its store, its data directory or a port cannot be opened.
    #[error("cannot start: {0}")]
    Startup(String),
    /// The configuration, the genesis or a key or members file is unusable.
    #[error("{0}")]
    Config(String),
    /// Something this node built did not encode (a bug, or a value over a size limit).
    #[error(transparent)]
    Codec(#[from] settlenet_types::TypesError),
}

impl NodeError {
    /// A fatal error: `what` failed because of `cause`.
    pub fn fatal(what: impl Display, cause: impl Display) -> NodeError {
        NodeError::Fatal(format!("{what}: {cause}"))
    }

    /// A start-up failure: `what` failed because of `cause`.
    pub fn startup(what: impl Display, cause: impl Display) -> NodeError {
        NodeError::Startup(format!("{what}: {cause}"))
    }
}

/// `Result` with [`NodeError`].
pub type Result<T, E = NodeError> = std::result::Result<T, E>;

/// Context for a failure the operator must fix: `what: cause` as a [`NodeError::Config`]
/// (an error that is already a `NodeError` keeps its kind, with the context in front).
pub trait Context<T> {
    /// Name what failed.
    fn context(self, what: impl Display) -> Result<T>;
    /// Name what failed, built only on failure.
    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: Into<Cause>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|e| e.into().under(what))
    }

    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| e.into().under(what()))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: impl Display) -> Result<T> {
        self.ok_or_else(|| NodeError::Config(what.to_string()))
    }

    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.ok_or_else(|| NodeError::Config(what().to_string()))
    }
}

/// A failure to put context on: a `NodeError` (its kind kept) or any other error (becoming
/// configuration).
pub struct Cause(CauseKind);

enum CauseKind {
    Node(NodeError),
    Other(String),
}

impl Cause {
    fn under(self, what: impl Display) -> NodeError {
        match self.0 {
            CauseKind::Node(NodeError::Fatal(m)) => NodeError::Fatal(format!("{what}: {m}")),
            CauseKind::Node(NodeError::Startup(m)) => NodeError::Startup(format!("{what}: {m}")),
            CauseKind::Node(e) => NodeError::Config(format!("{what}: {e}")),
            CauseKind::Other(m) => NodeError::Config(format!("{what}: {m}")),
        }
    }
}

impl From<NodeError> for Cause {
    fn from(e: NodeError) -> Cause {
        Cause(CauseKind::Node(e))
    }
}

macro_rules! cause_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Cause {
            fn from(e: $t) -> Cause {
                Cause(CauseKind::Other(e.to_string()))
            }
        }
    )*};
}

cause_from!(
    std::io::Error,
    serde_json::Error,
    toml::de::Error,
    toml::ser::Error,
    settlenet_types::TypesError,
    settlenet_crypto::CryptoError,
    settlenet_storage::StorageError,
    settlenet_ledger::LedgerError,
    std::num::ParseIntError,
    std::net::AddrParseError,
    libp2p::multiaddr::Error,
    String,
    &str,
);

/// Return early with a [`NodeError::Config`] built like `format!`.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::NodeError::Config(format!($($arg)*)))
    };
}
pub(crate) use bail;

/// A [`NodeError::Config`] built like `format!`.
macro_rules! config_err {
    ($($arg:tt)*) => {
        $crate::error::NodeError::Config(format!($($arg)*))
    };
}
pub(crate) use config_err;

impl From<settlenet_crypto::CryptoError> for NodeError {
    fn from(e: settlenet_crypto::CryptoError) -> NodeError {
        NodeError::Config(e.to_string())
    }
}

impl From<settlenet_ledger::LedgerError> for NodeError {
    fn from(e: settlenet_ledger::LedgerError) -> NodeError {
        NodeError::Config(e.to_string())
    }
}

impl From<settlenet_storage::StorageError> for NodeError {
    fn from(e: settlenet_storage::StorageError) -> NodeError {
        NodeError::Startup(e.to_string())
    }
}

impl From<std::io::Error> for NodeError {
    fn from(e: std::io::Error) -> NodeError {
        NodeError::Startup(e.to_string())
    }
}

impl From<serde_json::Error> for NodeError {
    fn from(e: serde_json::Error) -> NodeError {
        NodeError::Config(e.to_string())
    }
}
