//! `settlenet node store`: what a stopped node's store holds on disk, by column family and by
//! kind of file, and (with `--compact`) what a full compaction reclaims. For capacity planning
//! (docs/benchmarks.md, "Disk") and for operators checking a data directory.

use crate::config::NodeConfig;
use crate::error::{bail, Context, Result};
use serde::Serialize;
use settlenet_storage::{FamilyStats, Store};
use std::path::{Path, PathBuf};

/// Bytes of the files of a data directory, by kind.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DirBytes {
    /// RocksDB table files (`*.sst`), outside `checkpoints/`.
    pub sst: u64,
    /// RocksDB's write-ahead log (`*.log`).
    pub wal: u64,
    /// Everything else (manifest, options, info logs), outside `checkpoints/`.
    pub other: u64,
    /// Files under `checkpoints/` (snapshots being served) that are not hard links to the
    /// store's own files (hard links cost no extra space).
    pub checkpoints: u64,
}

impl DirBytes {
    /// All of it.
    pub fn total(&self) -> u64 {
        self.sst + self.wal + self.other + self.checkpoints
    }
}

/// One column family's figures (see [`FamilyStats`]).
#[derive(Debug, Clone, Serialize)]
pub struct Family {
    /// Column family name.
    pub name: String,
    /// Table file bytes.
    pub sst_bytes: u64,
    /// Estimated live data bytes.
    pub live_bytes: u64,
    /// Estimated keys.
    pub keys: u64,
    /// Memtable bytes (a few KiB after a flush: the arena of an empty memtable).
    pub memtable_bytes: u64,
}

impl From<FamilyStats> for Family {
    fn from(s: FamilyStats) -> Family {
        Family {
            name: s.name.to_string(),
            sst_bytes: s.sst_bytes,
            live_bytes: s.live_bytes,
            keys: s.keys,
            memtable_bytes: s.memtable_bytes,
        }
    }
}

/// The store at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct StoreFigures {
    /// Files of the data directory by kind.
    pub files: DirBytes,
    /// Column families.
    pub families: Vec<Family>,
}

/// What `settlenet node store` reports.
#[derive(Debug, Clone, Serialize)]
pub struct StoreReport {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The chain height the store holds.
    pub height: u64,
    /// Before compaction (or the only figures, without `--compact`).
    pub before: StoreFigures,
    /// After a full compaction, if one was asked for.
    pub after: Option<StoreFigures>,
}

/// Read (and with `compact`, fully compact) the store of the node at `home`. The node must be
/// stopped: RocksDB's lock refuses a second opener.
pub fn store_report(home: &Path, compact: bool) -> Result<StoreReport> {
    let config = NodeConfig::load(home)?;
    let data_dir = NodeConfig::resolve(home, &config.data_dir);
    if !data_dir.join("CURRENT").exists() {
        bail!(
            "{} holds no store (no RocksDB CURRENT file)",
            data_dir.display()
        );
    }
    let store = Store::open(&data_dir, config.genesis_hash).with_context(|| {
        format!(
            "cannot open the store in {} (stop the node first: a running node holds its lock)",
            data_dir.display()
        )
    })?;
    let height = store.last_height()?.0;
    let figures = |store: &Store| -> Result<StoreFigures> {
        Ok(StoreFigures {
            files: dir_bytes(&data_dir)?,
            families: store
                .family_stats()?
                .into_iter()
                .map(Family::from)
                .collect(),
        })
    };
    let before = figures(&store)?;
    let after = if compact {
        store.compact()?;
        Some(figures(&store)?)
    } else {
        None
    };
    Ok(StoreReport {
        data_dir,
        height,
        before,
        after,
    })
}

/// Sum the files under `dir` by kind (not following symlinks).
pub fn dir_bytes(dir: &Path) -> Result<DirBytes> {
    let mut out = DirBytes::default();
    walk(dir, false, &mut out)
        .with_context(|| format!("cannot read the data directory {}", dir.display()))?;
    Ok(out)
}

fn walk(dir: &Path, in_checkpoints: bool, out: &mut DirBytes) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if meta.is_dir() {
            walk(&entry.path(), in_checkpoints || name == "checkpoints", out)?;
            continue;
        }
        let size = meta.len();
        if in_checkpoints {
            // A hard link to a live table file costs nothing more.
            if meta.nlink() <= 1 {
                out.checkpoints += size;
            }
        } else if name.ends_with(".sst") {
            out.sst += size;
        } else if name.ends_with(".log") && !name.starts_with("LOG") {
            out.wal += size;
        } else {
            out.other += size;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_counted_by_kind_and_hard_links_in_checkpoints_cost_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("000012.sst"), vec![0u8; 1000]).expect("sst");
        std::fs::write(d.join("000013.log"), vec![0u8; 300]).expect("wal");
        std::fs::write(d.join("LOG"), vec![0u8; 20]).expect("info log");
        std::fs::write(d.join("MANIFEST-000005"), vec![0u8; 7]).expect("manifest");
        let cp = d.join("checkpoints").join("1024");
        std::fs::create_dir_all(&cp).expect("checkpoint dir");
        std::fs::hard_link(d.join("000012.sst"), cp.join("000012.sst")).expect("link");
        std::fs::write(cp.join("000014.log"), vec![0u8; 50]).expect("copied wal");
        let bytes = dir_bytes(d).expect("walk");
        assert_eq!(
            bytes,
            DirBytes {
                sst: 1000,
                wal: 300,
                other: 27,
                checkpoints: 50
            }
        );
        assert_eq!(bytes.total(), 1377);
    }

    #[test]
    fn a_node_store_is_reported_by_family_before_and_after_compaction() {
        use crate::testnet::{init, read_genesis, TestnetOptions};
        let dir = tempfile::tempdir().expect("tempdir");
        let entries = init(dir.path(), &TestnetOptions::default()).expect("testnet");
        let home = &entries[0].home;
        // Before the node ever ran: no store yet, and the report says so.
        let err = store_report(home, false).expect_err("no store");
        assert!(err.to_string().contains("holds no store"), "{err}");
        // The store a node makes at its first start (genesis accounts, height 0).
        let genesis = read_genesis(&home.join("genesis.json")).expect("genesis");
        let config = NodeConfig::load(home).expect("config");
        let data_dir = NodeConfig::resolve(home, &config.data_dir);
        drop(
            crate::open_state(
                &genesis,
                &data_dir,
                Default::default(),
                settlenet_ledger::ACCOUNT_CACHE_DEFAULT,
            )
            .expect("store"),
        );
        let report = store_report(home, true).expect("report");
        assert_eq!(report.height, 0);
        let accounts = |f: &StoreFigures| {
            f.families
                .iter()
                .find(|c| c.name == "accounts")
                .map(|c| (c.keys, c.sst_bytes + c.memtable_bytes))
                .expect("accounts family")
        };
        let (keys, bytes) = accounts(&report.before);
        assert!(
            keys > 0 && bytes > 0,
            "genesis accounts: {keys} keys, {bytes} bytes"
        );
        let after = report.after.as_ref().expect("compacted");
        assert_eq!(accounts(after).0, keys, "compaction keeps every account");
        assert!(after.files.sst > 0, "{:?}", after.files);
    }

    #[test]
    fn a_home_without_a_store_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = store_report(dir.path(), false).expect_err("no config");
        assert!(!err.to_string().is_empty());
    }
}
