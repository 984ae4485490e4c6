//! Helpers shared by the end-to-end tests: a local network of four real `settlenet node start`
//! processes on loopback (run by `settlenet-localnet`), its API read through the typed client
//! (`settlenet_api::client`), the waits and agreement checks the tests assert with, signed
//! payments between two funded wallets, and (in `command_line.rs`) running the `settlenet`
//! binary as a person would.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

mod command_line;
pub mod netns;

#[allow(unused_imports)] // Not every test binary runs the CLI.
pub use command_line::*;

use serde_json::Value;
use settlenet_api::client::Client;
use settlenet_api::{AccountView, Block, ErrorBody, Status, TxStatus, TxView};
use settlenet_crypto::{KeyFile, Keypair};
use settlenet_localnet::LocalNet;
use settlenet_node::testnet::{NodeEntry, TestnetOptions};
use settlenet_types::{
    AccountId, Amount, Currency, Genesis, MemberId, Operation, SignedTransaction, Transaction,
    TxId, TxNonce,
};
use std::time::{Duration, Instant};

/// The `settlenet` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_settlenet");

/// The network name of every test network (its chain id is this name bound to its genesis:
/// `e2e-<12 hex digits>`, read into [`Net::chain`]).
pub const CHAIN: &str = "e2e";

/// How long a status probe waits: a node that does not answer within it is down or frozen.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A node's answer to a submission: the HTTP status, and the body read as a [`TxView`] on 2xx
/// or as the [`ErrorBody`] otherwise.
pub type Submitted = (u16, Result<TxView, ErrorBody>);

/// A running test network and the ways to talk to it.
pub struct Net {
    /// The node processes.
    pub local: LocalNet,
    /// A typed client per node.
    pub clients: Vec<Client>,
    /// A typed client per node with a short timeout, for status probes.
    probes: Vec<Client>,
    /// Raw HTTP, for what the typed client cannot send (malformed bodies) or read.
    pub http: reqwest::Client,
    /// The chain id.
    pub chain: String,
    /// Holds the testnet (`net/`) and anything a test writes; deleted after the processes.
    pub dir: tempfile::TempDir,
    /// When the testnet (and its genesis time) was created.
    pub created: Instant,
}

impl Drop for Net {
    fn drop(&mut self) {
        // SIGKILL at once, frozen (SIGSTOPped) nodes included: a test's end needs no grace.
        self.local.kill_all();
    }
}

impl Net {
    /// The typed client of node `i`.
    pub fn client(&self, i: usize) -> &Client {
        &self.clients[i]
    }

    /// Node `i`'s entry in `nodes.json`.
    pub fn entry(&self, i: usize) -> &NodeEntry {
        self.local.entry(i)
    }

    /// Crash node `i` (SIGKILL).
    pub fn kill9(&mut self, i: usize) {
        self.local.kill9(i);
    }

    /// Start node `i` again from its own data directory.
    pub fn restart(&mut self, i: usize) {
        self.local.start_node(i).expect("start node");
    }

    /// Freeze node `i` (SIGSTOP): its sockets stay open, it answers nothing.
    pub fn sigstop(&self, i: usize) {
        self.local.sigstop(i).expect("SIGSTOP");
    }

    /// Resume a frozen node (SIGCONT).
    pub fn sigcont(&self, i: usize) {
        self.local.sigcont(i).expect("SIGCONT");
    }

    /// GET a path as raw JSON (`Null` if the body is not JSON), with the status.
    pub async fn get(&self, i: usize, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.local.api(i)))
            .send()
            .await
            .expect("GET");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// POST raw bytes as JSON, with the status and the answer as raw JSON.
    pub async fn post_raw(&self, i: usize, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.local.api(i)))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Submit a transaction; the status tells a new submission (202) from a retry (200).
    pub async fn submit(&self, i: usize, tx: &SignedTransaction) -> Submitted {
        let r = self
            .http
            .post(format!("{}/v1/transactions", self.local.api(i)))
            .json(tx)
            .send()
            .await
            .expect("POST");
        let code = r.status().as_u16();
        let body = r.bytes().await.expect("body");
        let parsed = if (200..300).contains(&code) {
            serde_json::from_slice(&body).map(Ok)
        } else {
            serde_json::from_slice(&body).map(Err)
        };
        let answer = parsed.unwrap_or_else(|e| {
            panic!(
                "submit to node{i}: {code} with an unexpected body ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        (code, answer)
    }

    /// `GET /v1/status`, or `None` if the node does not answer within 2 s (down or frozen).
    pub async fn status(&self, i: usize) -> Option<Status> {
        self.probes[i].status().await.ok()
    }

    /// Node `i`'s committed height.
    pub async fn height(&self, i: usize) -> u64 {
        self.status(i).await.expect("status").height.0
    }

    /// The network's genesis, as node 0 serves it.
    pub async fn genesis(&self) -> Genesis {
        self.client(0).genesis().await.expect("genesis")
    }

    /// Block `h` on node `i`, or `None` if the node does not hold it.
    pub async fn block(&self, i: usize, h: u64) -> Option<Block> {
        match self.client(i).block(Some(h)).await {
            Ok(b) => Some(b),
            Err(settlenet_api::client::ClientError::Status { status: 404, .. }) => None,
            Err(e) => panic!("block {h} on node{i}: {e}"),
        }
    }

    /// Account `id` on node `i` (it must exist).
    pub async fn account(&self, i: usize, id: AccountId) -> AccountView {
        self.client(i)
            .account(id)
            .await
            .expect("account")
            .unwrap_or_else(|| panic!("no account {id} on node{i}"))
    }

    /// Transaction `id` on node `i` (`None`: unknown there).
    pub async fn tx(&self, i: usize, id: TxId) -> Option<TxView> {
        self.client(i).tx(id).await.expect("transaction")
    }

    /// Wait until transaction `id` is committed or rejected on node `i`.
    pub async fn wait_final_within(&self, i: usize, id: TxId, secs: u64) -> TxView {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.tx(i, id).await;
            if let Some(v) = &v {
                if v.status.is_final() {
                    return v.clone();
                }
            }
            assert!(Instant::now() < deadline, "tx {id} not final: {v:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// [`Net::wait_final_within`] 30 s.
    pub async fn wait_final(&self, i: usize, id: TxId) -> TxView {
        self.wait_final_within(i, id, 30).await
    }

    /// Wait until transaction `id` is final on node `i`; it must be committed.
    pub async fn wait_committed(&self, i: usize, id: TxId) -> TxView {
        let v = self.wait_final(i, id).await;
        assert_eq!(v.status, TxStatus::Committed, "{v:?}");
        v
    }

    /// Wait until node `i` has committed height `h`.
    pub async fn wait_height(&self, i: usize, h: u64, secs: u64) -> Status {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.status(i).await {
                if s.height.0 >= h {
                    return s;
                }
            }
            assert!(
                Instant::now() < deadline,
                "node{i} did not reach height {h} in {secs}s (see {}/node.log)",
                self.entry(i).home.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until node `i` answers its status (after a restart).
    pub async fn wait_up(&self, i: usize, secs: u64) -> Status {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.status(i).await {
                return s;
            }
            assert!(Instant::now() < deadline, "node{i} did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until node `i` is at node `j`'s height with the same state root.
    pub async fn wait_same_state(&self, i: usize, j: usize, secs: u64) -> Status {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let (Some(a), Some(b)) = (self.status(i).await, self.status(j).await) {
                if a.height == b.height && a.state_root == b.state_root {
                    return a;
                }
            }
            assert!(
                Instant::now() < deadline,
                "node{i} did not reach node{j}'s state in {secs}s (see {}/node.log)",
                self.entry(i).home.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every listed node at height `h` has the same block hash and state root there.
    pub async fn assert_agree_at(&self, which: &[usize], h: u64) {
        let first = self
            .block(which[0], h)
            .await
            .unwrap_or_else(|| panic!("no block {h} on node{}", which[0]));
        for &i in &which[1..] {
            let b = self
                .block(i, h)
                .await
                .unwrap_or_else(|| panic!("no block {h} on node{i}"));
            assert_eq!(b.hash, first.hash, "node{i} differs at {h}");
            assert_eq!(b.state_root, first.state_root, "node{i} root at {h}");
        }
    }

    /// Wait until every node has reached node0's height, then check that all hold the same block
    /// hash and state root there. Returns that height.
    pub async fn agree(&self) -> u64 {
        let h = self.height(0).await;
        let all: Vec<usize> = (0..self.local.len()).collect();
        for &i in &all {
            self.wait_height(i, h, 30).await;
        }
        self.assert_agree_at(&all, h).await;
        h
    }

    /// The testnet directory (`nodes.json`, homes, `keys/`).
    pub fn keys_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("net")
    }

    /// The issuer staff key of `member`.
    pub fn issuer_key(&self, member: &str) -> Keypair {
        KeyFile::read(
            &self.keys_dir().join("keys").join(member).join("issuer.key"),
            None,
        )
        .expect("issuer key")
        .1
    }
}

/// Sign `op`, valid for ten minutes.
pub fn sign(chain: &str, key: &Keypair, nonce: TxNonce, op: Operation) -> SignedTransaction {
    sign_valid_until(chain, key, nonce, op, now_ms() + 600_000)
}

/// Sign `op`, valid until `valid_until_ms` (ms since the Unix epoch).
pub fn sign_valid_until(
    chain: &str,
    key: &Keypair,
    nonce: TxNonce,
    op: Operation,
    valid_until_ms: u64,
) -> SignedTransaction {
    let tx = Transaction::new(chain, key.public(), nonce, op, valid_until_ms);
    let signature = key.sign(&tx.signing_message().expect("msg"));
    SignedTransaction { tx, signature }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A fresh random nonce (the transaction id is derived from it and the signing key).
pub fn nonce() -> TxNonce {
    TxNonce(rand::random())
}

/// Change a node's `config.toml` before it starts (for [`start_net_configured`]).
pub fn edit_config(entry: &NodeEntry, edit: impl FnOnce(&mut settlenet_node::config::NodeConfig)) {
    let mut config = settlenet_node::config::NodeConfig::load(&entry.home).expect("config");
    edit(&mut config);
    std::fs::write(
        entry.home.join("config.toml"),
        toml::to_string_pretty(&config).expect("toml"),
    )
    .expect("write config");
}

/// Start four validators; `env[i]` is extra environment for node i (may be shorter).
pub async fn start_net_with(env: &[Vec<(String, String)>]) -> Net {
    start_net_configured(env, |_, _| {}).await
}

/// Start four validators; `configure(i, entry)` runs after `testnet init` and before node i
/// starts (e.g. to edit its config.toml); `env[i]` is extra environment for node i.
pub async fn start_net_configured(
    env: &[Vec<(String, String)>],
    configure: impl Fn(usize, &NodeEntry),
) -> Net {
    start_net_on(None, env, configure).await
}

/// [`start_net_configured`], each node in its own network namespace of `hosts` when given
/// (listening on its address there, reached through the hosts' bridge).
pub async fn start_net_on(
    hosts: Option<&netns::Hosts>,
    env: &[Vec<(String, String)>],
    configure: impl Fn(usize, &NodeEntry),
) -> Net {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = TestnetOptions {
        chain_id: CHAIN.into(),
        hosts: hosts.map(netns::Hosts::ips),
        ..Default::default()
    };
    let entries =
        settlenet_localnet::init_free(&dir.path().join("net"), opts).expect("testnet init");
    let chain = settlenet_node::testnet::read_genesis(&dir.path().join("net/genesis.json"))
        .expect("genesis")
        .chain_id;
    for (i, e) in entries.iter().enumerate() {
        configure(i, e);
    }
    let created = Instant::now();
    let launchers: Vec<Vec<String>> = match hosts {
        Some(h) => (0..entries.len()).map(|i| h.launcher(i)).collect(),
        None => Vec::new(),
    };
    let mut local =
        LocalNet::start_launched(BIN, entries, "info", env, &launchers).expect("start nodes");
    local
        .wait_ready(Duration::from_secs(60))
        .await
        .expect("network up");
    let clients = local.clients().expect("clients");
    let probes = (0..local.len())
        .map(|i| Client::with_timeout(local.api(i), PROBE_TIMEOUT).expect("client"))
        .collect();
    Net {
        local,
        clients,
        probes,
        http: reqwest::Client::new(),
        chain,
        dir,
        created,
    }
}

pub async fn start_net() -> Net {
    start_net_with(&[]).await
}

/// Two wallets at member 0 (operator-a), the first funded; payments move minor units from
/// the first to the second.
pub struct Payer {
    pub key: Keypair,
    pub from: AccountId,
    pub to: AccountId,
    pub chain: String,
}

impl Payer {
    /// Create and fund the wallets through `node` (waits until final there).
    pub async fn setup(net: &Net, node: usize, funds: u64) -> Payer {
        let op_key = net.issuer_key("operator-a");
        let alice = Keypair::generate();
        let bob = Keypair::generate();
        let wa = AccountId(rand::random());
        let wb = AccountId(rand::random());
        let mut ids = Vec::new();
        for (w, owner) in [(wa, &alice), (wb, &bob)] {
            let tx = sign(
                &net.chain,
                &op_key,
                nonce(),
                Operation::CreateWallet {
                    account: w,
                    issuer: MemberId(0),
                    owner: owner.public(),
                    currency: Currency(*b"USD"),
                },
            );
            assert_eq!(net.submit(node, &tx).await.0, 202);
            ids.push(tx.tx.id);
        }
        for t in &ids {
            net.wait_committed(node, *t).await;
        }
        let topup = sign(
            &net.chain,
            &op_key,
            nonce(),
            Operation::Issue {
                wallet: wa,
                amount: Amount(funds),
            },
        );
        assert_eq!(net.submit(node, &topup).await.0, 202);
        net.wait_committed(node, topup.tx.id).await;
        Payer {
            key: alice,
            from: wa,
            to: wb,
            chain: net.chain.clone(),
        }
    }

    /// The transfer of `amount` minor units from the first wallet to the second.
    pub fn transfer(&self, amount: u64) -> Operation {
        Operation::Transfer {
            from: self.from,
            to: self.to,
            amount: Amount(amount),
        }
    }

    /// A signed payment of `amount` minor units.
    pub fn payment(&self, amount: u64) -> SignedTransaction {
        sign(&self.chain, &self.key, nonce(), self.transfer(amount))
    }

    /// Submit a payment to `node` (expects 202) and return its id.
    pub async fn pay(&self, net: &Net, node: usize, amount: u64) -> TxId {
        let tx = self.payment(amount);
        let (code, v) = net.submit(node, &tx).await;
        assert_eq!(code, 202, "{v:?}");
        tx.tx.id
    }
}

/// The test in validator `i`'s place on the network, holding its keys: a Byzantine validator
/// the test drives (node `i`'s process must be stopped first). Connected to the nodes given to
/// [`Net::impostor`]; whatever those nodes send it is drained and ignored.
pub struct Impostor {
    /// Its network.
    pub handle: settlenet_net::NetHandle,
    /// Node `i`'s validator key.
    pub key: Keypair,
    /// Node `i`'s replica id.
    pub replica: settlenet_types::ReplicaId,
    /// Every validator's peer id, by replica index.
    pub peers: Vec<settlenet_net::PeerId>,
    /// The genesis.
    pub genesis: Genesis,
}

impl Net {
    /// Take stopped validator `i`'s place on the network with its own keys, connected to the
    /// validators `to` (waits up to 20 s for each connection).
    pub async fn impostor(&self, i: usize, to: &[usize]) -> Impostor {
        use settlenet_crypto::KeyKind;
        let home = self.entry(i).home.clone();
        let (_, key) =
            KeyFile::read(&home.join("validator.key"), Some(KeyKind::Validator)).expect("vkey");
        let (_, nkey) =
            KeyFile::read(&home.join("network.key"), Some(KeyKind::Network)).expect("nkey");
        let genesis = self.genesis().await;
        let peers: Vec<settlenet_net::PeerId> = genesis
            .validators
            .iter()
            .map(|v| v.peer_id.parse().expect("peer id"))
            .collect();
        let port = settlenet_localnet::free_ports(1).expect("free port")[0];
        let (handle, mut events) = settlenet_net::spawn(settlenet_net::NetConfig {
            keypair: settlenet_net::keypair_from_seed(nkey.secret_bytes()).expect("net key"),
            listen: vec![format!("/ip4/127.0.0.1/tcp/{port}")
                .parse()
                .expect("listen")],
            bootstrap: to
                .iter()
                .map(|&j| (peers[j], self.entry(j).p2p.parse().expect("addr")))
                .collect(),
            allowed: peers.clone(),
            advertise: vec![],
            request_timeout: Duration::from_secs(5),
            inbound: Default::default(),
        })
        .expect("spawn net");
        let mut missing: std::collections::BTreeSet<settlenet_net::PeerId> =
            to.iter().map(|&j| peers[j]).collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !missing.is_empty() {
            assert!(
                Instant::now() < deadline,
                "could not connect to {missing:?}"
            );
            if let Ok(Some(settlenet_net::NetEvent::PeerConnected(p))) =
                tokio::time::timeout(Duration::from_secs(1), events.recv()).await
            {
                missing.remove(&p);
            }
        }
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        Impostor {
            handle,
            key,
            replica: genesis.validators[i].id,
            peers,
            genesis,
        }
    }
}

impl Impostor {
    /// The encoded wire form of a consensus message.
    pub fn wire(m: &settlenet_consensus::SignedMessage) -> Vec<u8> {
        settlenet_types::encode(
            "wire message",
            &settlenet_node::wire::Wire::Consensus(m.clone()),
        )
        .expect("encode")
    }

    /// Send a consensus message to validator `j` (waits only for the command queue).
    pub async fn send(&self, j: usize, m: &settlenet_consensus::SignedMessage) {
        self.handle.send(self.peers[j], Self::wire(m)).await;
    }

    /// A PREPARE in `view` at `height` for a random digest, with a random signature (no two
    /// alike, so a receiver must check each one), encoded for the wire.
    pub fn bad_prepare(&self, view: settlenet_types::View, height: u64) -> Vec<u8> {
        use settlenet_types::block::{VoteBody, VoteKind};
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&rand::random::<[u8; 32]>());
        let m = settlenet_consensus::SignedMessage {
            from: self.replica,
            payload: settlenet_consensus::Payload::Prepare(VoteBody {
                kind: VoteKind::Prepare,
                chain_id: self.genesis.chain_id.clone(),
                view,
                height: settlenet_types::Height(height),
                block_hash: settlenet_types::Hash(rand::random()),
            }),
            signature: settlenet_types::Signature(signature),
        };
        Self::wire(&m)
    }

    /// Offer `rate` bad-signature PREPAREs a second (see [`Impostor::bad_prepare`]) for `time`,
    /// round robin to the validators `to`, at heights just above `height`; `tick` runs every
    /// 10 ms (to send more). Returns (offered, taken by the local network queue).
    pub async fn flood(
        &self,
        to: &[usize],
        view: settlenet_types::View,
        height: u64,
        rate: u64,
        time: Duration,
        mut tick: impl FnMut(&Impostor),
    ) -> (u64, u64) {
        let started = Instant::now();
        let (mut offered, mut taken) = (0u64, 0u64);
        let mut last_tick = Duration::ZERO;
        while started.elapsed() < time {
            // Catch up with rate × elapsed time, then yield for a millisecond.
            let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
            while offered < due {
                let bytes = self.bad_prepare(view, height + 1 + offered % 100);
                let peer = self.peers[to[(offered % to.len() as u64) as usize]];
                offered += 1;
                if self.handle.try_send(peer, bytes).is_ok() {
                    taken += 1;
                }
            }
            if started.elapsed() >= last_tick + Duration::from_millis(10) {
                last_tick = started.elapsed();
                tick(self);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (offered, taken)
    }
}
