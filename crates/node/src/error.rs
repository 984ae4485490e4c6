//! The node's error type: what stops the node, what is wrong in its configuration, and
//! encoding failures. (A bad peer message or client request is never an error of the node:
//! the first is dropped and counted, the second answered with a typed error by the API.)

use std::fmt::Display;

/// Why the node stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node cannot go on with a state it cannot persist (a failed store write): it stops.
    #[error("FATAL: {0}; stopping the node")]
    Fatal(String),
    /// The configuration or the genesis is unusable.
    #[error("configuration: {0}")]
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
}
