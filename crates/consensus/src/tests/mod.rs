//! Table-driven unit tests of the replica, one input at a time: a shared fixture, and one
//! file per sub-protocol (mirroring `replica/`).

mod checkpoint;
mod commit;
mod config;
mod fixture;
mod messages;
mod normal;
mod recovery;
mod sizes;
mod view_change;
