//! glibc's malloc tuned for a node: a fixed mmap threshold, set through `GLIBC_TUNABLES` by
//! re-executing `settlenet node start` once, before anything else runs.
//!
//! RocksDB's C++ allocates through the system allocator (the Rust side uses jemalloc). glibc
//! raises its mmap threshold each time a large mmapped block is freed (up to 32 MiB), after which
//! memtable arena blocks and large filter and index blocks come from the heap instead; freed,
//! they stay in the process. With the threshold fixed at 128 KiB, blocks that large are mapped
//! and returned to the OS when freed: in 20-minute `settlenet bench soak` runs a validator's RSS
//! was 40-60 MB lower at every minute and followed the memtables down when they flushed
//! (docs/benchmarks.md, "Where the memory goes"; about 3 MB a minute of growth outside what
//! the node can account for remains).

/// What the node runs with, unless its environment already sets `GLIBC_TUNABLES`.
pub const NODE_GLIBC_TUNABLES: &str = "glibc.malloc.mmap_threshold=131072";

/// The environment variable glibc reads its tunables from (at process start only).
const VAR: &str = "GLIBC_TUNABLES";

/// Re-execute this process with [`NODE_GLIBC_TUNABLES`] unless `GLIBC_TUNABLES` is already
/// set (by the operator, or by this function in the process it replaced). Returns only if it
/// did not re-execute: already set, not glibc, or `exec` failed (then with the reason; the node
/// runs anyway, with glibc's defaults).
pub fn tune_or_reexec() -> Result<(), String> {
    if std::env::var_os(VAR).is_some() {
        return Ok(());
    }
    reexec()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn reexec() -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot locate this executable to set {VAR}: {e}"))?;
    // `exec` replaces this process (same PID); it returns only on failure.
    let err = std::process::Command::new(&exe)
        .args(std::env::args_os().skip(1))
        .env(VAR, NODE_GLIBC_TUNABLES)
        .exec();
    Err(format!(
        "cannot re-execute {} with {VAR}={NODE_GLIBC_TUNABLES}: {err}",
        exe.display()
    ))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn reexec() -> Result<(), String> {
    Ok(())
}
