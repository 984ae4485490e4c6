//! Serving state snapshots from store checkpoints, the node's side (see
//! `settlenet_machine::snapshot` for the protocol): at a snapshot height the machine asks for a
//! checkpoint of the store ([`Checkpoints::capture`]); once the height's checkpoint is stable it
//! asks for the checkpoint to be indexed ([`Checkpoints::prepare`], a blocking thread); a peer's
//! chunk request is read from the checkpoint on a blocking thread ([`Checkpoints::read_chunk`]).
//! Checkpoints live in `<data_dir>/checkpoints/<height>`; those the machine no longer names are
//! deleted ([`Checkpoints::retain`]), and all of them at start (the machine starts with none).
//!
//! Bounds: at most `CAPTURED_MAX + SERVED_MAX` (4) checkpoints at once (the machine's); at
//! most [`CHUNK_READS_MAX`] chunk reads running (past it a peer is told to retry); one open
//! read-only store per served checkpoint (8 MiB block cache each).

use crate::shared::CheckpointReaders;
use settlenet_ledger::{Account, TxRecord};
use settlenet_machine::snapshot::{prepare_served, ChunkRead, PrepareSnapshot, SnapshotSource};
use settlenet_machine::wire::Response;
use settlenet_machine::Event;
use settlenet_storage::Store;
use settlenet_types::{decode, encode, AccountId, Hash, Height, TxId};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Most snapshot chunk reads running at once (each on a blocking thread). An honest fetcher
/// asks for one chunk at a time.
pub const CHUNK_READS_MAX: usize = 4;

/// A store checkpoint read as a [`SnapshotSource`].
struct StoreSource<'a>(&'a Store);

impl SnapshotSource for StoreSource<'_> {
    fn accounts_after(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, String> {
        self.0
            .accounts_after(after.as_ref(), limit)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(id, bytes)| {
                decode::<Account>("account", &bytes)
                    .map_err(|e| format!("checkpoint account {id}: {e}"))
            })
            .collect()
    }

    fn records_after(
        &self,
        after: Option<TxId>,
        limit: usize,
    ) -> Result<Vec<(TxId, TxRecord)>, String> {
        self.0
            .live_records_after(after.as_ref(), limit)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(id, bytes)| {
                decode::<TxRecord>("tx record", &bytes)
                    .map(|r| (id, r))
                    .map_err(|e| format!("checkpoint record {id}: {e}"))
            })
            .collect()
    }
}

/// The node's store checkpoints and the read-only stores open on them.
pub(crate) struct Checkpoints {
    dir: PathBuf,
    genesis_hash: Hash,
    readers: CheckpointReaders,
    reads_running: Arc<AtomicUsize>,
}

impl Checkpoints {
    /// Checkpoints under `dir`, opened read-only into `readers`; any left from an earlier run
    /// are deleted.
    pub(crate) fn new(dir: PathBuf, genesis_hash: Hash, readers: CheckpointReaders) -> Checkpoints {
        if dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                warn!(dir = %dir.display(), "cannot delete old store checkpoints: {e}");
            }
        }
        Checkpoints {
            dir,
            genesis_hash,
            readers,
            reads_running: Default::default(),
        }
    }

    fn path(&self, height: Height) -> PathBuf {
        self.dir.join(height.0.to_string())
    }

    /// Start flushing the memtables a few blocks before a snapshot height, so that the
    /// checkpoint, taken on the event loop, has little left to flush.
    pub(crate) fn before_capture(store: &Store) {
        if let Err(e) = store.flush_in_background() {
            warn!("cannot start flushing before a snapshot checkpoint: {e}");
        }
    }

    /// Checkpoint the store at `height` (just committed). A failure costs only that snapshot.
    pub(crate) fn capture(&self, store: &Store, height: Height) {
        let path = self.path(height);
        let started = std::time::Instant::now();
        let result = std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))
            .and_then(|()| {
                if path.exists() {
                    std::fs::remove_dir_all(&path)
                        .map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
                }
                store.checkpoint(&path).map_err(|e| e.to_string())
            });
        match result {
            Ok(()) => info!(
                %height,
                ms = started.elapsed().as_millis() as u64,
                "store checkpoint taken for a snapshot"
            ),
            Err(e) => warn!(%height, "no snapshot at height {height}: {e}"),
        }
    }

    /// Index the checkpoint at `p.height` on a blocking thread; the result goes back to the
    /// machine as [`Event::SnapshotPrepared`].
    pub(crate) fn prepare(&self, p: Box<PrepareSnapshot>, internal: mpsc::Sender<Event>) {
        let path = self.path(p.height);
        let genesis_hash = self.genesis_hash;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let height = p.height;
            let result = open_checked(&path, genesis_hash, &p).and_then(|store| {
                let served = prepare_served(&StoreSource(&store), *p)?;
                if let Ok(mut r) = readers.lock() {
                    r.insert(height, Arc::new(store));
                }
                Ok(served)
            });
            let _ = internal.blocking_send(Event::SnapshotPrepared { height, result });
        });
    }

    /// Read the chunk a peer asked for on a blocking thread and answer it there.
    pub(crate) fn read_chunk(&self, read: Box<ChunkRead>, reply: settlenet_net::Responder) {
        let answer = |reply: settlenet_net::Responder, response: &Response| {
            reply.send(encode("response", response).unwrap_or_default());
        };
        if self.reads_running.fetch_add(1, Ordering::AcqRel) >= CHUNK_READS_MAX {
            self.reads_running.fetch_sub(1, Ordering::AcqRel);
            return answer(
                reply,
                &Response::Error(format!(
                    "busy: {CHUNK_READS_MAX} snapshot chunk reads running; retry"
                )),
            );
        }
        let path = self.path(read.height);
        let genesis_hash = self.genesis_hash;
        let readers = self.readers.clone();
        let running = self.reads_running.clone();
        tokio::task::spawn_blocking(move || {
            let store = reader(&readers, read.height, &path, genesis_hash);
            let response = match store {
                Ok(store) => read.read(&StoreSource(&store)),
                Err(e) => Response::Error(format!("snapshot at height {}: {e}", read.height)),
            };
            running.fetch_sub(1, Ordering::AcqRel);
            answer(reply, &response);
        });
    }

    /// Delete the checkpoints (and close the stores) of heights the machine no longer needs.
    pub(crate) fn retain(&self, in_use: &BTreeSet<Height>) {
        if let Ok(mut r) = self.readers.lock() {
            r.retain(|h, _| in_use.contains(h));
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let height = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok());
            if height.is_some_and(|h| in_use.contains(&Height(h))) {
                continue;
            }
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                warn!(path = %entry.path().display(), "cannot delete a store checkpoint: {e}");
            }
        }
    }
}

/// Open the checkpoint at `path` read-only and check that it holds the state `p` describes.
fn open_checked(path: &Path, genesis_hash: Hash, p: &PrepareSnapshot) -> Result<Store, String> {
    let store = Store::open_read_only(path, genesis_hash).map_err(|e| e.to_string())?;
    let head = store.head_root().map_err(|e| e.to_string())?;
    if head != Some((p.height, p.state_root)) {
        return Err(format!(
            "the checkpoint holds {head:?}, not height {} with root {}",
            p.height, p.state_root
        ));
    }
    let history = store
        .ledger_history()
        .map_err(|e| e.to_string())?
        .map(|b| decode::<settlenet_ledger::History>("ledger history", &b))
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    if history != p.history {
        return Err("the checkpoint's history accumulator differs from the ledger's".into());
    }
    Ok(store)
}

/// The open read-only store on the checkpoint at `height`, opening it if needed.
fn reader(
    readers: &Mutex<HashMap<Height, Arc<Store>>>,
    height: Height,
    path: &Path,
    genesis_hash: Hash,
) -> Result<Arc<Store>, String> {
    let mut r = readers
        .lock()
        .map_err(|_| "the checkpoint readers' lock is poisoned".to_string())?;
    if let Some(s) = r.get(&height) {
        return Ok(s.clone());
    }
    let store = Arc::new(Store::open_read_only(path, genesis_hash).map_err(|e| e.to_string())?);
    r.insert(height, store.clone());
    Ok(store)
}
