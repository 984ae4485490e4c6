//! Helpers shared by the end-to-end tests (`tests/network.rs`, `tests/faults.rs`,
//! `tests/payments.rs`, `tests/cli.rs`, `tests/snapshot_sync.rs`): a local network of real
//! `settlenet node start` processes on loopback, its HTTP API, signed payments between two funded
//! wallets, and running the `settlenet` binary as a person would.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use serde_json::Value;
use settlenet_crypto::{KeyFile, Keypair};
use settlenet_node::testnet::{init, NodeEntry, TestnetOptions};
use settlenet_types::{
    AccountId, Amount, Currency, MemberId, Operation, SignedTransaction, Transaction, TxId,
    TX_VERSION,
};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_settlenet");

/// One validator process.
pub struct Node {
    pub entry: NodeEntry,
    pub child: Option<Child>,
    /// Extra environment for the process (e.g. the clock-offset test hook).
    pub env: Vec<(String, String)>,
}

impl Node {
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.entry.home.join("node.log"))
            .expect("log file");
        let child = Command::new(BIN)
            .args(["node", "start", "--home"])
            .arg(&self.entry.home)
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn node");
        self.child = Some(child);
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            c.wait().expect("wait");
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let ok = Command::new("kill")
            .arg(sig)
            .arg(pid.to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// Freeze the process (SIGSTOP): its sockets stay open, it answers nothing.
    pub fn sigstop(&self) {
        self.signal("-STOP");
    }

    /// Resume a frozen process (SIGCONT).
    pub fn sigcont(&self) {
        self.signal("-CONT");
    }

    /// Everything the process wrote to its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.entry.home.join("node.log")).unwrap_or_default()
    }

    /// The node's RocksDB directory.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.entry.home.join("data")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SIGKILL ends a frozen (SIGSTOPped) process too.
        self.kill9();
    }
}

pub fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    ls.iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

pub struct Net {
    pub nodes: Vec<Node>,
    pub http: reqwest::Client,
    pub chain: String,
    pub dir: tempfile::TempDir,
    /// When the testnet (and its genesis time) was created.
    pub created: Instant,
}

impl Net {
    pub async fn get(&self, i: usize, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.nodes[i].entry.api))
            .send()
            .await
            .expect("GET");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_raw(&self, i: usize, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.nodes[i].entry.api))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn submit(&self, i: usize, tx: &SignedTransaction) -> (u16, Value) {
        self.post_raw(i, "/v1/transactions", serde_json::to_vec(tx).expect("json"))
            .await
    }

    /// `/v1/status`, or `None` if the node does not answer within 2 s (down or frozen).
    pub async fn status(&self, i: usize) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}/v1/status", self.nodes[i].entry.api))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    pub async fn height(&self, i: usize) -> u64 {
        self.status(i).await.expect("status")["height"]
            .as_u64()
            .expect("height")
    }

    pub async fn wait_final_within(&self, i: usize, id: TxId, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (code, v) = self.get(i, &format!("/v1/transactions/{id}")).await;
            if code == 200 && (v["status"] == "committed" || v["status"] == "rejected") {
                return v;
            }
            assert!(Instant::now() < deadline, "tx {id} not final: {v}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn wait_final(&self, i: usize, id: TxId) -> Value {
        self.wait_final_within(i, id, 30).await
    }

    pub async fn wait_height(&self, i: usize, h: u64, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.status(i).await {
                if s["height"].as_u64().unwrap_or(0) >= h {
                    return s;
                }
            }
            assert!(
                Instant::now() < deadline,
                "node{i} did not reach height {h} in {secs}s (see {}/node.log)",
                self.nodes[i].entry.home.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until every listed node answers with all its validator peers connected.
    pub async fn wait_connected(&self, which: &[usize], secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        'outer: loop {
            assert!(Instant::now() < deadline, "network did not come up");
            for &i in which {
                match self.status(i).await {
                    Some(s)
                        if s["peers"].as_array().map(|p| p.len()).unwrap_or(0)
                            == self.nodes.len() - 1 => {}
                    _ => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue 'outer;
                    }
                }
            }
            return;
        }
    }

    /// Wait until node `i` is at node `j`'s height with the same state root.
    pub async fn wait_same_state(&self, i: usize, j: usize, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let (Some(a), Some(b)) = (self.status(i).await, self.status(j).await) {
                if a["height"] == b["height"] && a["state_root"] == b["state_root"] {
                    return a;
                }
            }
            assert!(
                Instant::now() < deadline,
                "node{i} did not reach node{j}'s state in {secs}s (see {}/node.log)",
                self.nodes[i].entry.home.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every listed node at height `h` has the same block hash and state root there.
    pub async fn assert_agree_at(&self, which: &[usize], h: u64) {
        let first = self.get(which[0], &format!("/v1/blocks/{h}")).await.1;
        assert!(
            first["hash"].is_string(),
            "no block {h} on node{}",
            which[0]
        );
        for &i in &which[1..] {
            let b = self.get(i, &format!("/v1/blocks/{h}")).await.1;
            assert_eq!(b["hash"], first["hash"], "node{i} differs at {h}");
            assert_eq!(b["state_root"], first["state_root"], "node{i} root at {h}");
        }
    }

    /// Wait until every node has reached node0's height, then check that all hold the same block
    /// hash and state root there. Returns that height.
    pub async fn agree(&self) -> u64 {
        let h = self.height(0).await;
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        for &i in &all {
            self.wait_height(i, h, 30).await;
        }
        self.assert_agree_at(&all, h).await;
        h
    }

    pub fn keys_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("net")
    }
}

pub fn sign(chain: &str, key: &Keypair, id: TxId, op: Operation) -> SignedTransaction {
    let tx = Transaction {
        version: TX_VERSION,
        chain_id: chain.into(),
        id,
        signer: key.public(),
        op,
    };
    let signature = key.sign(&tx.signing_message().expect("msg"));
    SignedTransaction { tx, signature }
}

pub fn id() -> TxId {
    TxId(rand::random())
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
    let dir = tempfile::tempdir().expect("tmp");
    let p = free_ports(8);
    let opts = TestnetOptions {
        ports: Some((0..4).map(|i| (p[2 * i], p[2 * i + 1])).collect()),
        chain_id: "e2e".into(),
        ..Default::default()
    };
    let entries = init(&dir.path().join("net"), &opts).expect("testnet init");
    for (i, e) in entries.iter().enumerate() {
        configure(i, e);
    }
    let created = Instant::now();
    let mut nodes: Vec<Node> = entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| Node {
            entry,
            child: None,
            env: env.get(i).cloned().unwrap_or_default(),
        })
        .collect();
    for n in nodes.iter_mut() {
        n.start();
    }
    let net = Net {
        nodes,
        http: reqwest::Client::new(),
        chain: "e2e".into(),
        dir,
        created,
    };
    net.wait_connected(&[0, 1, 2, 3], 60).await;
    net
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
        let op_key = KeyFile::read(&net.keys_dir().join("keys/operator-a/issuer.key"), None)
            .expect("issuer key")
            .1;
        let alice = Keypair::generate();
        let bob = Keypair::generate();
        let wa = AccountId(rand::random());
        let wb = AccountId(rand::random());
        let mut ids = Vec::new();
        for (w, owner) in [(wa, &alice), (wb, &bob)] {
            let tx = sign(
                &net.chain,
                &op_key,
                id(),
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
            assert_eq!(net.wait_final(node, *t).await["status"], "committed");
        }
        let topup = sign(
            &net.chain,
            &op_key,
            id(),
            Operation::Issue {
                wallet: wa,
                amount: Amount(funds),
            },
        );
        assert_eq!(net.submit(node, &topup).await.0, 202);
        assert_eq!(
            net.wait_final(node, topup.tx.id).await["status"],
            "committed"
        );
        Payer {
            key: alice,
            from: wa,
            to: wb,
            chain: net.chain.clone(),
        }
    }

    /// A signed payment of `amount` minor units.
    pub fn payment(&self, amount: u64) -> SignedTransaction {
        sign(
            &self.chain,
            &self.key,
            id(),
            Operation::Transfer {
                from: self.from,
                to: self.to,
                amount: Amount(amount),
            },
        )
    }

    /// Submit a payment to `node` (expects 202) and return its id.
    pub async fn pay(&self, net: &Net, node: usize, amount: u64) -> TxId {
        let tx = self.payment(amount);
        let (code, v) = net.submit(node, &tx).await;
        assert_eq!(code, 202, "{v}");
        tx.tx.id
    }
}

/// Run the `settlenet` binary with `args` (a separate process, as a person would).
pub fn cli(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run settlenet")
}

/// Run the CLI with `--json` put first; it must succeed and print JSON.
pub fn cli_json(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    cli_ok_json(&all)
}

/// Run the CLI with exactly `args`; it must succeed and print JSON.
pub fn cli_ok_json(args: &[&str]) -> Value {
    let out = cli(args);
    assert!(
        out.status.success(),
        "settlenet {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "settlenet {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Run the CLI expecting failure; returns its stderr.
pub fn cli_fails(args: &[&str]) -> String {
    let out = cli(args);
    assert!(
        !out.status.success(),
        "settlenet {args:?} should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}
