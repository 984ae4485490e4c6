//! Helpers shared by the end-to-end tests: a testnet of real `settlenet node start` processes
//! on loopback, an HTTP client for their APIs, transaction signing, and running the CLI.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use serde_json::Value;
use settlenet_crypto::Keypair;
use settlenet_node::testnet::{init, NodeEntry, TestnetOptions};
use settlenet_types::{Operation, SignedTransaction, Transaction, TxId, TX_VERSION};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_settlenet");

pub struct Node {
    pub entry: NodeEntry,
    pub child: Option<Child>,
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
}

impl Drop for Node {
    fn drop(&mut self) {
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

    pub async fn status(&self, i: usize) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}/v1/status", self.nodes[i].entry.api))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    pub async fn wait_final(&self, i: usize, id: TxId) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (code, v) = self.get(i, &format!("/v1/transactions/{id}")).await;
            if code == 200 && (v["status"] == "committed" || v["status"] == "rejected") {
                return v;
            }
            assert!(Instant::now() < deadline, "tx {id} not final: {v}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
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

pub async fn start_net() -> Net {
    let dir = tempfile::tempdir().expect("tmp");
    let p = free_ports(8);
    let opts = TestnetOptions {
        ports: Some((0..4).map(|i| (p[2 * i], p[2 * i + 1])).collect()),
        chain_id: "e2e".into(),
        ..Default::default()
    };
    let entries = init(&dir.path().join("net"), &opts).expect("testnet init");
    let mut nodes: Vec<Node> = entries
        .into_iter()
        .map(|entry| Node { entry, child: None })
        .collect();
    for n in nodes.iter_mut() {
        n.start();
    }
    let net = Net {
        nodes,
        http: reqwest::Client::new(),
        chain: "e2e".into(),
        dir,
    };
    // All up and connected.
    let deadline = Instant::now() + Duration::from_secs(60);
    'outer: loop {
        assert!(Instant::now() < deadline, "network did not come up");
        for i in 0..4 {
            match net.status(i).await {
                Some(s) if s["peers"].as_array().map(|p| p.len()).unwrap_or(0) == 3 => {}
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'outer;
                }
            }
        }
        break;
    }
    net
}

pub fn keys_dir(net: &Net) -> std::path::PathBuf {
    net.dir.path().join("net")
}

/// Run the `settlenet` binary with `args` (a separate process, as a person would).
pub fn cli(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run settlenet")
}

/// Run the CLI with `--json`; it must succeed and print JSON.
pub fn cli_json(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = cli(&all);
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

impl Net {
    /// Wait until every node has reached node0's height, then check that all hold the same block
    /// hash and state root there. Returns that height.
    pub async fn agree(&self) -> u64 {
        let h = self.status(0).await.expect("status")["height"]
            .as_u64()
            .expect("height");
        for i in 0..self.nodes.len() {
            self.wait_height(i, h, 30).await;
        }
        let b0 = self.get(0, &format!("/v1/blocks/{h}")).await.1;
        for i in 1..self.nodes.len() {
            let bi = self.get(i, &format!("/v1/blocks/{h}")).await.1;
            assert_eq!(bi["hash"], b0["hash"], "node{i} differs at height {h}");
            assert_eq!(bi["state_root"], b0["state_root"], "node{i} root at {h}");
        }
        h
    }
}
