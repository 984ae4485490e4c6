//! Fuzz targets: what a node decodes from its peers (`crates/machine/src/wire.rs`), then hands
//! to its machine.
//! - `machine_wire`: one-way messages (`Wire`: consensus messages, gossiped transactions),
//!   decoded and handled by a validator's machine, each consensus message also signed again
//!   by its sender's real key (a Byzantine validator) so that it gets past verification;
//! - `machine_request`: requests (`Request`), decoded and answered by a machine;
//! - `machine_response`: responses (`Response`: blocks, snapshot manifests and chunks, submit
//!   outcomes), decoded and handed to a machine as the answer to its request;
//! - `ledger_snapshot_chunk`: a snapshot chunk's bytes (`LedgerSnapshot::from_bytes`), then
//!   `Ledger::restore_verified` as a catching-up node does once it holds every chunk.
//!
//! Every input: no panic, no absurd allocation; a decoded value re-encodes to exactly its bytes.
//!
//! Seeds: `fuzz/corpus/<target>/`, real traffic of a four-validator cluster run here (every
//! message and request its machines sent, and every response they answered, through a view
//! change with a crashed primary, checkpoints and a snapshot). Regenerate with
//! `SETTLENET_FUZZ_WRITE_CORPUS=1 cargo test --release -p settlenet-machine --test fuzz_wire`.

use settlenet_consensus::{Payload, Replica, ReplicaConfig, SignedMessage};
use settlenet_crypto::Keypair;
use settlenet_fuzz::Target;
use settlenet_ledger::test_util::{GenesisBuilder, MemberSpec};
use settlenet_ledger::{Ledger, LedgerSnapshot};
use settlenet_machine::snapshot::prepare_served;
use settlenet_machine::wire::{Request, Response, Wire};
use settlenet_machine::{
    Answer, Effect, Event, MachineParts, NodeMachine, StrictTxVerifier, SyncConfig,
};
use settlenet_types::{
    decode, encode, AccountId, Amount, Currency, Genesis, Hash, Height, MemberId, Operation,
    ReplicaId, Role, SignedTransaction, StoredBlock, Transaction, TxNonce, View,
    TX_VALIDITY_MAX_MS,
};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

const CHAIN: &str = "fuzz-machine";
const N: usize = 4;
/// The cluster's clock at the start (genesis time is 0).
const START_MS: u64 = 10_000;

fn usd() -> Currency {
    Currency(*b"USD")
}

fn validator_keys() -> Vec<Keypair> {
    (0..N as u8)
        .map(|i| Keypair::from_seed([i + 1; 32]))
        .collect()
}

fn issuer() -> Keypair {
    Keypair::from_seed([42; 32])
}

fn genesis() -> Genesis {
    let keys: Vec<_> = validator_keys().iter().map(Keypair::public).collect();
    GenesisBuilder::new(CHAIN)
        .currency(usd(), 2)
        .member(MemberSpec::bank("bank-a").staff("issuer", issuer().public(), &[Role::Issuer]))
        .validators(&keys)
        .build()
}

/// Validator `me`'s machine at genesis (checkpoints and snapshots every 4 blocks).
fn machine(genesis: &Arc<Genesis>, me: usize) -> NodeMachine {
    let keys = validator_keys();
    let ledger = Ledger::from_genesis(genesis).expect("genesis");
    let root = ledger.state_root();
    let mut config = ReplicaConfig::new(
        CHAIN.into(),
        keys.iter().map(Keypair::public).collect(),
        ReplicaId(me as u16),
        keys[me].clone(),
        genesis.consensus.max_in_flight,
    );
    config.checkpoint_interval = 4;
    let replica = Replica::new(config, Height(0), View(0)).expect("replica");
    NodeMachine::new(MachineParts {
        genesis: Arc::clone(genesis),
        validator: Some((ReplicaId(me as u16), replica)),
        certified_root: root,
        ledger,
        genesis_root: root,
        last_hash: Hash::ZERO,
        last_block_time_ms: 0,
        recent: Vec::new(),
        mempool_max: 1_000,
        mempool_max_bytes: 64 * 1024 * 1024,
        max_clock_skew_ms: 2_000,
        sync: SyncConfig {
            snapshot_interval_blocks: 4,
            ..SyncConfig::default()
        },
        base_height: Height(0),
        pruned_below: Height(0),
        now_ms: START_MS,
    })
}

/// The issuer's transactions: wallets, issuance, transfers (valid, so they commit).
fn transactions(from: u8, count: u8) -> Vec<SignedTransaction> {
    let issuer = issuer();
    let owner = Keypair::from_seed([7; 32]);
    (from..from + count)
        .map(|i| {
            let op = match i % 3 {
                0 => Operation::CreateWallet {
                    account: AccountId([i + 1; 16]),
                    issuer: MemberId(0),
                    owner: owner.public(),
                    currency: usd(),
                },
                1 => Operation::Issue {
                    wallet: AccountId([i; 16]),
                    amount: Amount(10_000),
                },
                _ => Operation::Transfer {
                    from: AccountId([i - 1; 16]),
                    to: AccountId([1; 16]),
                    amount: Amount(25),
                },
            };
            let signer = if i % 3 == 2 { &owner } else { &issuer };
            let tx = Transaction::new(
                CHAIN,
                signer.public(),
                TxNonce([i + 100; 16]),
                op,
                TX_VALIDITY_MAX_MS,
            );
            let signature = signer.sign(&tx.signing_message().expect("signing message"));
            SignedTransaction { tx, signature }
        })
        .collect()
}

/// Four machines wired to each other in memory, keeping a copy of everything that crosses
/// the "network".
struct Cluster {
    nodes: Vec<NodeMachine>,
    blocks: Vec<BTreeMap<u64, StoredBlock>>,
    /// Each node's state at its snapshot heights (what a node's store checkpoint holds).
    captures: Vec<BTreeMap<Height, LedgerSnapshot>>,
    now: u64,
    /// A crashed validator: sends and receives nothing.
    down: Option<usize>,
    wires: Vec<Wire>,
    requests: Vec<Request>,
    responses: Vec<Response>,
}

impl Cluster {
    fn new() -> Cluster {
        let genesis = Arc::new(genesis());
        Cluster {
            nodes: (0..N).map(|i| machine(&genesis, i)).collect(),
            blocks: vec![BTreeMap::new(); N],
            captures: vec![BTreeMap::new(); N],
            now: START_MS,
            down: None,
            wires: Vec::new(),
            requests: Vec::new(),
            responses: Vec::new(),
        }
    }

    fn up(&self, i: usize) -> bool {
        self.down != Some(i)
    }

    fn deliver(&mut self, first: VecDeque<(usize, Event)>) {
        let mut queue = first;
        let mut steps = 0;
        while let Some((i, event)) = queue.pop_front() {
            steps += 1;
            assert!(steps < 200_000, "the cluster does not settle");
            if !self.up(i) {
                continue;
            }
            let mut out = Vec::new();
            self.nodes[i].handle(self.now, event, &mut out);
            self.effects(i, out, &mut queue);
        }
    }

    fn effects(&mut self, i: usize, out: Vec<Effect>, queue: &mut VecDeque<(usize, Event)>) {
        for effect in out {
            match effect {
                Effect::Send { to, wire } => {
                    self.wires.push(wire.clone());
                    let targets: Vec<usize> = match to {
                        Some(r) => vec![usize::from(r.0)],
                        None => (0..N).filter(|j| *j != i).collect(),
                    };
                    for j in targets {
                        if self.up(i) && self.up(j) {
                            let from = ReplicaId(i as u16);
                            queue.push_back((
                                j,
                                Event::Wire {
                                    from,
                                    wire: wire.clone(),
                                },
                            ));
                        }
                    }
                }
                Effect::Request { to, request } => {
                    self.requests.push(request.clone());
                    let j = usize::from(to.0);
                    let result = if self.up(j) {
                        let response = self.answer(j, request.clone());
                        self.responses.push(response.clone());
                        Ok(response)
                    } else {
                        Err("unreachable".to_string())
                    };
                    queue.push_back((
                        i,
                        Event::Answer {
                            from: to,
                            request,
                            result,
                        },
                    ));
                }
                Effect::CommitBlock(commit) => {
                    let h = commit.stored.block.header.height.0;
                    self.blocks[i].insert(h, commit.stored);
                }
                Effect::Spawn(job) => {
                    queue.push_back((i, Event::JobDone(job.run(&StrictTxVerifier))));
                }
                Effect::CaptureSnapshot { height } => {
                    let state = self.nodes[i]
                        .ledger()
                        .snapshot()
                        .expect("accounts in memory");
                    assert_eq!(state.height, height, "captured right after the block");
                    self.captures[i].insert(height, state);
                    let in_use = self.nodes[i].snapshot_heights_in_use();
                    self.captures[i].retain(|h, _| in_use.contains(h));
                }
                Effect::PrepareSnapshot(p) => {
                    let height = p.height;
                    let result = match self.captures[i].get(&height) {
                        Some(state) => prepare_served(state, *p),
                        None => Err(format!("no capture at {height}")),
                    };
                    queue.push_back((i, Event::SnapshotPrepared { height, result }));
                }
                _ => {}
            }
        }
    }

    fn answer(&mut self, j: usize, request: Request) -> Response {
        match self.nodes[j].answer(self.now, request) {
            Answer::Ready(response) => response,
            Answer::Blocks {
                from,
                upto,
                max,
                max_bytes,
            } => {
                let mut bytes = 0usize;
                let mut blocks = Vec::new();
                for (_, b) in self.blocks[j].range(from.0..=upto.0).take(max as usize) {
                    let size = settlenet_types::encoded_len("block", b).unwrap_or(usize::MAX);
                    if !Answer::take_block(blocks.len(), bytes, size, max_bytes) {
                        break;
                    }
                    bytes = bytes.saturating_add(size);
                    blocks.push(b.clone());
                }
                Response::Blocks(blocks)
            }
            Answer::SnapshotChunk(read) => match self.captures[j].get(&read.height) {
                Some(state) => read.read(state),
                None => Response::Error(format!("no capture at {}", read.height)),
            },
        }
    }

    /// Advance the clock by `ms` in 50 ms ticks, waking each machine when it asks.
    fn run_for(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now += 50;
            let mut queue = VecDeque::new();
            for i in 0..N {
                if self.up(i) && self.nodes[i].next_wake_ms() <= self.now {
                    queue.push_back((i, Event::Wake));
                }
            }
            self.deliver(queue);
        }
    }

    fn submit(&mut self, i: usize, txs: Vec<SignedTransaction>) {
        let mut out = Vec::new();
        let _ = self.nodes[i].submit(self.now, txs, &mut out);
        let mut queue = VecDeque::new();
        self.effects(i, out, &mut queue);
        self.deliver(queue);
    }
}

/// Run the cluster: blocks with transactions, checkpoints, the primary crashing (a view
/// change and a new view), its return (block sync), and every kind of request answered.
fn traffic() -> Cluster {
    let mut c = Cluster::new();
    let mut queue = VecDeque::new();
    for i in 0..N {
        for j in 0..N {
            if i != j {
                queue.push_back((i, Event::PeerConnected(ReplicaId(j as u16))));
            }
        }
    }
    c.deliver(queue);
    for round in 0..6u8 {
        c.submit(usize::from(round) % N, transactions(round * 3, 3));
        c.run_for(500);
    }
    c.down = Some(0);
    c.submit(1, transactions(30, 3));
    c.run_for(40_000);
    c.down = None;
    c.submit(2, transactions(40, 3));
    c.run_for(10_000);
    for request in [
        Request::Status,
        Request::Blocks {
            from: Height(1),
            max: 8,
        },
        Request::SnapshotManifest,
        Request::Submit(transactions(50, 2)),
    ] {
        c.requests.push(request.clone());
        let response = c.answer(1, request);
        if let Response::SnapshotManifest(m) = &response {
            for index in 0..m.chunk_hashes.len().min(2) as u32 {
                let request = Request::SnapshotChunk {
                    height: m.height,
                    index,
                };
                c.requests.push(request.clone());
                let chunk = c.answer(1, request);
                c.responses.push(chunk);
            }
        }
        c.responses.push(response);
    }
    c
}

/// Kind of a value (its variant's name) from its Debug text.
fn kind(debug: String) -> String {
    debug
        .split(|c: char| !c.is_alphanumeric())
        .find(|s| !s.is_empty())
        .unwrap_or("value")
        .to_lowercase()
}

/// At most `per_kind` distinct encodings of each kind (the corpus stays small).
fn pick<T: serde::Serialize + std::fmt::Debug>(
    values: &[T],
    per_kind: usize,
    max_bytes: usize,
    describe: impl Fn(&T) -> String,
) -> Vec<(String, Vec<u8>)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for v in values {
        let bytes = encode("sample", v).expect("encode");
        let k = describe(v);
        let n = counts.entry(k.clone()).or_default();
        if *n < per_kind && bytes.len() <= max_bytes && !out.iter().any(|(_, b)| *b == bytes) {
            *n += 1;
            out.push((format!("{k}-{n}.bin"), bytes));
        }
    }
    out
}

fn wire_kind(w: &Wire) -> String {
    match w {
        Wire::Consensus(m) => format!("consensus-{}", kind(format!("{:?}", m.payload.kind()))),
        Wire::Txs(_) => "txs".into(),
    }
}

fn samples(
    target: &str,
    make: impl FnOnce(&Cluster) -> Vec<(String, Vec<u8>)>,
) -> Vec<(String, Vec<u8>)> {
    // The cluster runs only to (re)write the committed corpus; normal runs read the files.
    if std::env::var("SETTLENET_FUZZ_WRITE_CORPUS").is_ok_and(|v| v == "1") {
        let c = traffic();
        let s = make(&c);
        assert!(!s.is_empty(), "{target}: the cluster produced no samples");
        s
    } else {
        Vec::new()
    }
}

/// A fresh validator (replica 1) at genesis.
fn fresh() -> NodeMachine {
    machine(&Arc::new(genesis()), 1)
}

#[test]
fn fuzz_wire() {
    let samples = samples("machine_wire", |c| pick(&c.wires, 2, 64 * 1024, wire_kind));
    let keys = validator_keys();
    let mut node = fresh();
    let mut messages = 0u64;
    Target::new("machine_wire").samples(samples).run(|bytes| {
        let Ok(wire) = decode::<Wire>("wire message", bytes) else {
            return;
        };
        settlenet_fuzz::accepted();
        assert_eq!(encode("wire message", &wire).expect("encodes"), bytes);
        // A long-lived machine sees the stream, as a node does; renewed now and then so that
        // its state stays small.
        messages += 1;
        if messages.is_multiple_of(64) {
            node = fresh();
        }
        // As sent, and (a consensus message) signed again by its sender's real key, as a
        // Byzantine validator would: past verification, into the replica and the machine.
        let resigned = match &wire {
            Wire::Consensus(m) => resign(m.clone(), &keys).map(Wire::Consensus),
            Wire::Txs(_) => None,
        };
        for wire in std::iter::once(wire).chain(resigned) {
            let from = match &wire {
                Wire::Consensus(m) if usize::from(m.from.0) < N => m.from,
                _ => ReplicaId(0),
            };
            let mut out = Vec::new();
            node.handle(START_MS, Event::Wire { from, wire }, &mut out);
            // Jobs (proposal checks) done, as the driver would.
            for effect in out {
                if let Effect::Spawn(job) = effect {
                    let mut more = Vec::new();
                    node.handle(
                        START_MS,
                        Event::JobDone(job.run(&StrictTxVerifier)),
                        &mut more,
                    );
                }
            }
        }
    });
}

/// `message` with its payload signed by its sender's real key (a Byzantine validator signs
/// whatever it likes), if the sender is a validator.
fn resign(message: SignedMessage, keys: &[Keypair]) -> Option<SignedMessage> {
    let from = message.from;
    let key = keys.get(usize::from(from.0))?;
    match message.payload {
        Payload::PrePrepare { view, block } => {
            let chain = block.header.chain_id.clone();
            SignedMessage::pre_prepare(&chain, view, block, from, key).ok()
        }
        Payload::Prepare(body) | Payload::Commit(body) => SignedMessage::vote(body, from, key).ok(),
        Payload::Checkpoint(body) => {
            let signature = key.sign(&body.signing_message().ok()?);
            Some(SignedMessage {
                from,
                payload: Payload::Checkpoint(body),
                signature,
            })
        }
        Payload::ViewChange(body) => SignedMessage::view_change(body, from, key).ok(),
        Payload::NewView(body) => SignedMessage::new_view(body, from, key).ok(),
    }
}

#[test]
fn fuzz_request() {
    let samples = samples("machine_request", |c| {
        pick(&c.requests, 2, 64 * 1024, |r| kind(format!("{r:?}")))
    });
    let mut node = fresh();
    Target::new("machine_request")
        .samples(samples)
        .run(|bytes| {
            let Ok(request) = decode::<Request>("request", bytes) else {
                return;
            };
            settlenet_fuzz::accepted();
            assert_eq!(encode("request", &request).expect("encodes"), bytes);
            let _ = node.answer(START_MS, request);
        });
}

#[test]
fn fuzz_response() {
    let samples = samples("machine_response", |c| {
        pick(&c.responses, 2, 256 * 1024, |r| kind(format!("{r:?}")))
    });
    let mut node = fresh();
    let mut answers = 0u64;
    Target::new("machine_response")
        .samples(samples)
        .run(|bytes| {
            let Ok(response) = decode::<Response>("response", bytes) else {
                return;
            };
            settlenet_fuzz::accepted();
            assert_eq!(encode("response", &response).expect("encodes"), bytes);
            // As the answer to the request it would answer (what a peer can send back).
            let request = match &response {
                Response::Status { .. } => Request::Status,
                Response::Blocks(_) | Response::BlocksFrom { .. } | Response::Error(_) => {
                    Request::Blocks {
                        from: Height(1),
                        max: 64,
                    }
                }
                Response::SnapshotManifest(_) => Request::SnapshotManifest,
                Response::SnapshotChunk { height, index, .. } => Request::SnapshotChunk {
                    height: *height,
                    index: *index,
                },
                Response::Submitted(_) => Request::Submit(Vec::new()),
            };
            answers += 1;
            if answers.is_multiple_of(64) {
                node = fresh();
            }
            let mut out = Vec::new();
            node.handle(
                START_MS,
                Event::Answer {
                    from: ReplicaId(2),
                    request,
                    result: Ok(response),
                },
                &mut out,
            );
        });
}

#[test]
fn fuzz_snapshot_chunk() {
    let samples = samples("ledger_snapshot_chunk", |c| {
        let mut out = Vec::new();
        for r in &c.responses {
            if let Response::SnapshotChunk { index, bytes, .. } = r {
                out.push((format!("chunk-{index}.bin"), bytes.clone()));
            }
        }
        out
    });
    let genesis = genesis();
    let root = Ledger::from_genesis(&genesis)
        .expect("genesis")
        .state_root();
    Target::new("ledger_snapshot_chunk")
        .samples(samples)
        .run(|bytes| {
            let Ok(snapshot) = LedgerSnapshot::from_bytes(bytes) else {
                return;
            };
            settlenet_fuzz::accepted();
            assert_eq!(snapshot.to_bytes().expect("encodes"), bytes);
            let mut whole = LedgerSnapshot::empty(snapshot.height);
            if whole.append(snapshot).is_ok() {
                // Refused (the roots differ) or accepted; never a panic.
                let _ = Ledger::restore_verified(&genesis, whole, &root);
            }
        });
}

#[test]
fn the_corpus_holds_real_traffic() {
    // Run the committed seeds through the decoders: every kind must still decode (a type
    // change that makes the corpus stale shows here; rewrite it as the module doc says).
    let decoded = |target: &str, ok: &dyn Fn(&[u8]) -> bool| {
        let t = Target::new(target);
        let good = t.seeds().iter().filter(|s| ok(s)).count();
        assert!(good > 0, "{target}: no seed decodes");
        good
    };
    decoded("machine_wire", &|b| decode::<Wire>("w", b).is_ok());
    decoded("machine_request", &|b| decode::<Request>("r", b).is_ok());
    decoded("machine_response", &|b| decode::<Response>("r", b).is_ok());
    decoded("ledger_snapshot_chunk", &|b| {
        LedgerSnapshot::from_bytes(b).is_ok()
    });
}
