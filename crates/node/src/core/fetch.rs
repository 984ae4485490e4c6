//! Snapshot fetching, the node's side: the machine asks for a snapshot
//! ([`settlenet_machine::Effect::FetchSnapshot`]); a task asks the peers in turn for a manifest
//! and its chunks over libp2p, checks them with [`Assembly`] (manifest against the genesis
//! before any chunk, each chunk against its hash, the whole against the certified root, the
//! last step on a blocking thread) and hands the verified snapshot back as
//! [`settlenet_machine::Event::SnapshotFetched`]. See `settlenet_machine::snapshot` for the
//! protocol.

use crate::shared::{Counters, Shared};
use settlenet_machine::snapshot::Assembly;
use settlenet_machine::wire::{Request, Response};
use settlenet_machine::{FetchPlan, Fetched};
use settlenet_net::{NetHandle, PeerId};
use settlenet_types::{encode, Genesis, ReplicaId};
use std::sync::Arc;
use tracing::warn;

/// Fetch a snapshot as `plan` says: each peer in turn until one verifies. `Err` names why each
/// peer was refused.
pub(super) async fn fetch(
    plan: FetchPlan,
    genesis: Arc<Genesis>,
    net: NetHandle,
    peers: Vec<(ReplicaId, PeerId)>,
    shared: Arc<Shared>,
) -> Result<Box<Fetched>, String> {
    let mut reasons = Vec::new();
    for (replica, peer) in peers {
        match fetch_from(&plan, &genesis, &net, replica, peer).await {
            Ok(f) => return Ok(f),
            Err(reason) => {
                Counters::inc(&shared.counters.snapshots_refused);
                warn!(%peer, "state transfer: snapshot from peer refused: {reason}");
                reasons.push(format!("{peer}: {reason}"));
            }
        }
    }
    Err(format!("every peer refused ({})", reasons.join("; ")))
}

async fn ask(net: &NetHandle, peer: PeerId, request: &Request) -> Result<Response, String> {
    let bytes = encode("request", request).map_err(|e| e.to_string())?;
    let answer = net
        .request(peer, bytes)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    settlenet_types::decode::<Response>("response", &answer)
        .map_err(|e| format!("undecodable answer: {e}"))
}

async fn fetch_from(
    plan: &FetchPlan,
    genesis: &Arc<Genesis>,
    net: &NetHandle,
    replica: ReplicaId,
    peer: PeerId,
) -> Result<Box<Fetched>, String> {
    let manifest = match ask(net, peer, &Request::SnapshotManifest).await? {
        Response::SnapshotManifest(m) => *m,
        Response::Error(e) => return Err(format!("peer has no snapshot: {e}")),
        other => return Err(format!("unexpected answer to SnapshotManifest: {other:?}")),
    };
    let mut assembly = Assembly::new(genesis, plan.our_height, plan.max_bytes, manifest)?;
    let height = assembly.height();
    for index in 0..assembly.chunk_count() {
        let request = Request::SnapshotChunk { height, index };
        match ask(net, peer, &request).await? {
            Response::SnapshotChunk {
                height: h,
                index: i,
                bytes,
            } if h == height && i == index => assembly.accept_chunk(index, bytes)?,
            Response::Error(e) => return Err(format!("chunk {index}: {e}")),
            _ => return Err(format!("unexpected answer to chunk {index}")),
        }
    }
    let genesis = genesis.clone();
    let fetched = tokio::task::spawn_blocking(move || assembly.finish(&genesis, replica))
        .await
        .map_err(|e| format!("verification task failed: {e}"))??;
    Ok(Box::new(fetched))
}

#[cfg(test)]
mod tests {
    use crate::testnet::{init, read_genesis, TestnetOptions};
    use settlenet_consensus::CheckpointBody;
    use settlenet_consensus::CheckpointProof;
    use settlenet_crypto::{KeyFile, KeyKind, Keypair};
    use settlenet_ledger::Account;
    use settlenet_ledger::Ledger;
    use settlenet_ledger::LedgerSnapshot;
    use settlenet_machine::snapshot::{encode_chunks, plan_chunks_within, read_chunk, Assembly};
    use settlenet_machine::wire::{chunk_hash, SnapshotManifest, MANIFEST_VERSION};
    use settlenet_machine::Fetched;
    use settlenet_types::block::BLOCK_VERSION;
    use settlenet_types::block::{VoteBody, VoteKind};
    use settlenet_types::{Block, BlockHeader, CommitCertificate, CommitSignature, View};
    use settlenet_types::{Genesis, Hash, Height, ReplicaId, StoredBlock};

    struct Fixture {
        genesis: Genesis,
        manifest: SnapshotManifest,
        chunks: Vec<Vec<u8>>,
        root: Hash,
        dir: std::path::PathBuf,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// A real 4-validator genesis, a ledger at height 32, a certified block 32 and a stable
    /// checkpoint proof for its root, served in several chunks.
    fn fixture() -> Fixture {
        let dir =
            std::env::temp_dir().join(format!("settlenet-snapshot-test-{}", rand::random::<u64>()));
        let entries = init(&dir, &TestnetOptions::default()).expect("testnet");
        let genesis = read_genesis(&entries[0].home.join("genesis.json")).expect("genesis");
        let keys: Vec<Keypair> = entries
            .iter()
            .map(|e| {
                KeyFile::read(&e.home.join("validator.key"), Some(KeyKind::Validator))
                    .expect("key")
                    .1
            })
            .collect();
        let key_of = |r: usize| {
            keys.iter()
                .find(|k| k.public() == genesis.validators[r].public_key)
                .expect("validator key")
        };
        let height = Height(32);
        let accounts: Vec<Account> = Ledger::from_genesis(&genesis)
            .expect("ledger")
            .accounts()
            .expect("accounts in memory")
            .cloned()
            .collect();
        assert!(accounts.len() >= 3, "enough accounts for several chunks");
        // A history of 32 empty blocks (what the root commits to; its records do not matter).
        let mut history = settlenet_ledger::History::default();
        for _ in 0..height.0 {
            history.append(settlenet_types::Hash::ZERO);
        }
        let ledger = Ledger::restore(&genesis, height, accounts, vec![], history).expect("restore");
        let root = ledger.state_root();
        let header = BlockHeader {
            version: BLOCK_VERSION,
            chain_id: genesis.chain_id.clone(),
            height,
            timestamp_ms: 1_000,
            proposer: ReplicaId(0),
            tx_count: 0,
            tx_root: Block::compute_tx_root(&[]).expect("root"),
            state_height: Height(31),
            state_root: Hash::ZERO,
        };
        let hash = header.hash().expect("hash");
        let vote = VoteBody {
            kind: VoteKind::Commit,
            chain_id: genesis.chain_id.clone(),
            view: View(0),
            height,
            block_hash: hash,
        }
        .signing_message()
        .expect("vote");
        let checkpoint = CheckpointBody::new(&genesis.chain_id, height, root)
            .signing_message()
            .expect("checkpoint");
        let block = StoredBlock {
            block: Block {
                header,
                txs: vec![],
            },
            certificate: CommitCertificate {
                height,
                view: View(0),
                block_hash: hash,
                signatures: (0..3)
                    .map(|r| CommitSignature {
                        replica: ReplicaId(r as u16),
                        signature: key_of(r).sign(&vote),
                    })
                    .collect(),
            },
            hash,
            prev_hash: Hash([5; 32]),
            state_root: root,
        };
        let proof = CheckpointProof {
            height,
            state_root: root,
            signatures: (0..3)
                .map(|r| (ReplicaId(r as u16), key_of(r).sign(&checkpoint)))
                .collect(),
        };
        let chunks: Vec<Vec<u8>> = ledger
            .snapshot_chunks(1)
            .expect("accounts in memory")
            .map(|p| p.to_bytes().expect("part"))
            .collect();
        let manifest = SnapshotManifest {
            version: MANIFEST_VERSION,
            height,
            state_root: root,
            proof,
            block,
            chunk_hashes: chunks.iter().map(|c| chunk_hash(c)).collect(),
            total_bytes: chunks.iter().map(|c| c.len() as u64).sum(),
        };
        Fixture {
            genesis,
            manifest,
            chunks,
            root,
            dir,
        }
    }

    fn receive(
        fx: &Fixture,
        manifest: SnapshotManifest,
        chunks: &[Vec<u8>],
    ) -> std::result::Result<Fetched, String> {
        let mut a = Assembly::new(&fx.genesis, Height(3), u64::MAX, manifest)?;
        for (i, c) in chunks.iter().enumerate() {
            a.accept_chunk(i as u32, c.clone())?;
        }
        a.finish(&fx.genesis, ReplicaId(1))
    }

    #[test]
    fn an_honest_snapshot_is_accepted() {
        let fx = fixture();
        assert!(fx.chunks.len() >= 3);
        let f = receive(&fx, fx.manifest.clone(), &fx.chunks).expect("accepted");
        assert_eq!(f.ledger().state_root(), fx.root);
        assert_eq!(f.ledger().height(), Height(32));
        assert_eq!(f.account_count() as u64, f.ledger().account_count());
        // The serving side's own chunking gives parts that assemble to the same state.
        let served =
            encode_chunks(&f.ledger().snapshot().expect("accounts in memory")).expect("chunks");
        let mut m = fx.manifest.clone();
        m.chunk_hashes = served.iter().map(|c| chunk_hash(c)).collect();
        m.total_bytes = served.iter().map(|c| c.len() as u64).sum();
        let again = receive(&fx, m, &served).expect("accepted");
        assert_eq!(again.ledger().state_root(), fx.root);
    }

    #[test]
    fn a_tampered_chunk_is_refused() {
        let fx = fixture();
        let mut chunks = fx.chunks.clone();
        let last = chunks[1].len() - 1;
        chunks[1][last] ^= 1;
        let err = receive(&fx, fx.manifest.clone(), &chunks).expect_err("refused");
        assert!(err.contains("chunk 1") && err.contains("tampered"), "{err}");
    }

    #[test]
    fn a_consistent_manifest_over_a_wrong_state_is_refused_by_the_root() {
        let fx = fixture();
        // The peer changes an account (money untouched) and lists hashes that match what it
        // sends: every chunk passes, the rebuilt state does not reproduce the certified root.
        let mut chunks = fx.chunks.clone();
        let mut part = LedgerSnapshot::from_bytes(&chunks[0]).expect("part");
        part.accounts[0].created_height = Height(1);
        chunks[0] = part.to_bytes().expect("bytes");
        let mut m = fx.manifest.clone();
        m.chunk_hashes = chunks.iter().map(|c| chunk_hash(c)).collect();
        m.total_bytes = chunks.iter().map(|c| c.len() as u64).sum();
        let err = receive(&fx, m, &chunks).expect_err("refused");
        assert!(err.contains("state root"), "{err}");
    }

    #[test]
    fn bad_anchors_and_oversized_snapshots_are_refused_before_any_chunk() {
        let fx = fixture();
        type Tamper = Box<dyn Fn(&mut SnapshotManifest)>;
        let cases: Vec<(&str, Tamper, &str)> = vec![
            (
                "another root, proof unchanged",
                Box::new(|m| m.state_root = Hash([9; 32])),
                "checkpoint proof is for",
            ),
            (
                "another root with a proof claiming it",
                Box::new(|m| {
                    m.state_root = Hash([9; 32]);
                    m.proof.state_root = Hash([9; 32]);
                }),
                "bad checkpoint proof",
            ),
            (
                "a forged commit signature",
                Box::new(|m| m.block.certificate.signatures[0].signature.0[0] ^= 1),
                "anchoring block",
            ),
            (
                "a certificate below quorum",
                Box::new(|m| {
                    m.block.certificate.signatures.pop();
                }),
                "anchoring block",
            ),
            (
                "a proof below quorum",
                Box::new(|m| {
                    m.proof.signatures.pop();
                }),
                "bad checkpoint proof",
            ),
            (
                "a block of another height",
                Box::new(|m| m.height = Height(48)),
                "checkpoint proof is for",
            ),
            (
                "no chunks",
                Box::new(|m| m.chunk_hashes.clear()),
                "0 chunks",
            ),
        ];
        for (what, tamper, expected) in cases {
            let mut m = fx.manifest.clone();
            tamper(&mut m);
            let err = Assembly::new(&fx.genesis, Height(3), u64::MAX, m)
                .err()
                .unwrap_or_else(|| panic!("{what}: accepted"));
            assert!(err.contains(expected), "{what}: {err}");
        }
        let err = Assembly::new(&fx.genesis, Height(32), u64::MAX, fx.manifest.clone())
            .expect_err("not ahead");
        assert!(err.contains("not ahead"), "{err}");
        let err =
            Assembly::new(&fx.genesis, Height(3), 10, fx.manifest.clone()).expect_err("too big");
        assert!(err.contains("over the limit"), "{err}");
    }

    #[test]
    fn oversized_parts_are_split_below_the_chunk_limit_and_read_back_the_same() {
        let fx = fixture();
        let f = receive(&fx, fx.manifest.clone(), &fx.chunks).expect("accepted");
        let snapshot = f.ledger().snapshot().expect("accounts in memory");
        let whole = snapshot.to_bytes().expect("bytes").len();
        let limit = whole / 2;
        let mut out = Vec::new();
        let plans = plan_chunks_within(
            &snapshot,
            snapshot.height,
            &snapshot.history,
            limit,
            &mut |b| out.push(b.to_vec()),
        )
        .expect("encode");
        assert!(out.len() >= 2, "split into {} parts", out.len());
        assert_eq!(plans.len(), out.len());
        assert!(out.iter().all(|c| c.len() <= limit));
        // What a serving node does: read each chunk again from where its plan says.
        for (plan, bytes) in plans.iter().zip(&out) {
            let again =
                read_chunk(&snapshot, snapshot.height, &snapshot.history, plan).expect("read");
            assert_eq!(&again, bytes, "{plan:?}");
        }
        let mut m = fx.manifest.clone();
        m.chunk_hashes = out.iter().map(|c| chunk_hash(c)).collect();
        m.total_bytes = out.iter().map(|c| c.len() as u64).sum();
        let again = receive(&fx, m, &out).expect("accepted");
        assert_eq!(again.ledger().state_root(), fx.root);
        // One item over the limit cannot be split: refused, not looped on.
        let err = plan_chunks_within(
            &snapshot,
            snapshot.height,
            &snapshot.history,
            8,
            &mut |_| {},
        )
        .expect_err("refused");
        assert!(err.contains("over the chunk limit"), "{err}");
        // A source that lost items since it was planned is refused, not sent short.
        let mut fewer = snapshot.clone();
        fewer.accounts.pop();
        let last = plans.last().expect("a plan");
        let err = read_chunk(&fewer, snapshot.height, &snapshot.history, last).expect_err("short");
        assert!(err.contains("where the chunk has"), "{err}");
    }
}
