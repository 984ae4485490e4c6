//! The consensus write-ahead log's truncation rules, shared by the node (RocksDB) and the
//! simulator (its simulated storage), so that a restart restores from the same log in both.

use settlenet_consensus::WalEntry;
use settlenet_types::Height;

/// The view-level kinds, of which only the latest entry matters.
fn view_level(entry: &WalEntry) -> Option<usize> {
    match entry {
        WalEntry::ViewChange(_) => Some(0),
        WalEntry::NewView(_) => Some(1),
        WalEntry::StableCheckpoint(_) => Some(2),
        _ => None,
    }
}

/// The entries (by position in `entries`, which is in write order) that a stable checkpoint
/// at `height` makes unnecessary: votes at or below it, and all but the latest VIEW-CHANGE,
/// NEW-VIEW and checkpoint entry.
pub fn obsolete_at_checkpoint<'a>(
    entries: impl IntoIterator<Item = &'a WalEntry>,
    height: Height,
) -> Vec<usize> {
    let mut latest: [Option<usize>; 3] = [None; 3];
    let mut drop = Vec::new();
    for (k, entry) in entries.into_iter().enumerate() {
        match view_level(entry) {
            Some(kind) => {
                if let Some(older) = latest[kind].replace(k) {
                    drop.push(older);
                }
            }
            None if entry.height() <= height => drop.push(k),
            None => {}
        }
    }
    drop.sort_unstable();
    drop
}

/// The entries a snapshot installed at `height` makes obsolete: everything at or below it but
/// the view-level entries (so the replica never forgets which view it is in).
pub fn obsolete_below_snapshot<'a>(
    entries: impl IntoIterator<Item = &'a WalEntry>,
    height: Height,
) -> Vec<usize> {
    entries
        .into_iter()
        .enumerate()
        .filter(|(_, e)| view_level(e).is_none() && e.height() <= height)
        .map(|(k, _)| k)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlenet_consensus::{CheckpointProof, WalEntry};

    #[test]
    fn truncation_keeps_later_votes_and_the_latest_view_level_entries() {
        let stable = |h: u64| {
            WalEntry::StableCheckpoint(CheckpointProof {
                height: Height(h),
                ..CheckpointProof::genesis()
            })
        };
        let entries = [stable(4), stable(8), stable(12)];
        // Only the latest checkpoint entry stays.
        assert_eq!(
            obsolete_at_checkpoint(entries.iter(), Height(8)),
            vec![0, 1]
        );
        // A snapshot never drops view-level entries.
        assert!(obsolete_below_snapshot(entries.iter(), Height(100)).is_empty());
    }
}
