//! One module per command family. Each uses [`crate::support`] and the client, never another
//! command module.

pub mod account;
pub mod batch;
pub mod ceremony;
pub mod chain;
pub mod charge;
pub mod network;
pub mod observer;
pub mod pay;
pub mod receipt;
pub mod settlement;
pub mod statement;
pub mod wallet;
pub mod watch;
pub mod window;
