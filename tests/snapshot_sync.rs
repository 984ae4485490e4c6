//! End to end, snapshot state transfer: four validator processes; the fourth is stopped, the
//! others commit a few hundred blocks, the fourth's data directory is wiped and it restarts
//! with a low `[sync] snapshot_threshold_blocks`. It must install a snapshot anchored by a
//! stable checkpoint, catch up block by block to the others' height and state root, refuse
//! block requests below its base with a clear 404, and then vote: with another validator
//! stopped, blocks still commit and their certificates carry its signature.

use serde_json::Value;
use settlenet_crypto::{KeyFile, Keypair};
use settlenet_node::config::NodeConfig;
use settlenet_node::testnet::{init, NodeEntry, TestnetOptions};
use settlenet_types::{
    AccountId, Amount, Currency, MemberId, Operation, SignedTransaction, Transaction, TxId,
    TX_VERSION,
};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_settlenet");
const CHAIN: &str = "snap-e2e";

struct Node {
    entry: NodeEntry,
    child: Option<Child>,
}

impl Node {
    fn start(&mut self) {
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

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            c.wait().expect("wait");
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.entry.home.join("node.log")).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    ls.iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

struct Net {
    nodes: Vec<Node>,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Net {
    async fn get(&self, i: usize, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.nodes[i].entry.api))
            .send()
            .await
            .expect("GET");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn submit(&self, i: usize, tx: &SignedTransaction) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/transactions", self.nodes[i].entry.api))
            .json(tx)
            .send()
            .await
            .expect("POST");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn status(&self, i: usize) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}/v1/status", self.nodes[i].entry.api))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    async fn height(&self, i: usize) -> u64 {
        self.status(i)
            .await
            .and_then(|s| s["height"].as_u64())
            .unwrap_or(0)
    }

    async fn wait_final(&self, i: usize, id: TxId) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (code, v) = self.get(i, &format!("/v1/transactions/{id}")).await;
            if code == 200 && (v["status"] == "committed" || v["status"] == "rejected") {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "tx {id} not final on node{i}: {v} (see {})",
                self.nodes[i].entry.home.display()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Wait until node `i` is at node `j`'s height with the same state root.
    async fn wait_same_state(&self, i: usize, j: usize, secs: u64) -> Value {
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
}

fn sign(key: &Keypair, op: Operation) -> SignedTransaction {
    let tx = Transaction {
        version: TX_VERSION,
        chain_id: CHAIN.into(),
        id: TxId(rand::random()),
        signer: key.public(),
        op,
    };
    let signature = key.sign(&tx.signing_message().expect("msg"));
    SignedTransaction { tx, signature }
}

/// Set `[sync]` in a node's config.toml.
fn configure_sync(entry: &NodeEntry, threshold: u64, interval: u64) {
    let mut config = NodeConfig::load(&entry.home).expect("config");
    config.sync.snapshot_threshold_blocks = threshold;
    config.sync.snapshot_interval_blocks = interval;
    std::fs::write(
        entry.home.join("config.toml"),
        toml::to_string_pretty(&config).expect("toml"),
    )
    .expect("write config");
}

async fn start_net() -> Net {
    let dir = tempfile::tempdir().expect("tmp");
    let p = free_ports(8);
    let opts = TestnetOptions {
        ports: Some((0..4).map(|i| (p[2 * i], p[2 * i + 1])).collect()),
        chain_id: CHAIN.into(),
        ..Default::default()
    };
    let entries = init(&dir.path().join("net"), &opts).expect("testnet init");
    // Every node serves a snapshot every 32 blocks; only node3 switches to snapshots early.
    for (i, e) in entries.iter().enumerate() {
        configure_sync(e, if i == 3 { 50 } else { 5_000 }, 32);
    }
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
        dir,
    };
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_validator_installs_a_snapshot_catches_up_and_votes() {
    let mut net = start_net().await;
    let kd = net.dir.path().join("net");
    let operator = KeyFile::read(&kd.join("keys").join("operator-a").join("issuer.key"), None)
        .expect("issuer key")
        .1;
    let genesis: Value = net.get(0, "/v1/genesis").await.1;
    let operator_id = genesis["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["name"] == "operator-a")
        .and_then(|m| m["id"].as_u64())
        .expect("operator-a") as u16;
    let wallet = AccountId(rand::random());
    let owner = Keypair::generate();
    let create = sign(
        &operator,
        Operation::CreateWallet {
            account: wallet,
            issuer: MemberId(operator_id),
            owner: owner.public(),
            currency: Currency(*b"USD"),
        },
    );
    assert_eq!(net.submit(0, &create).await.0, 202);
    assert_eq!(net.wait_final(0, create.tx.id).await["status"], "committed");

    // node3 goes down; the others commit a few hundred blocks (one top-up per block or so).
    net.nodes[3].kill9();
    let start = net.height(0).await;
    let target = start + 300;
    let mut last = None;
    let begun = Instant::now();
    while net.height(0).await < target {
        assert!(
            begun.elapsed() < Duration::from_secs(240),
            "the three validators did not commit 300 blocks in 240s"
        );
        let tx = sign(
            &operator,
            Operation::Issue {
                wallet,
                amount: Amount(1),
            },
        );
        let (code, v) = net.submit(0, &tx).await;
        assert_eq!(code, 202, "{v}");
        last = Some(tx.tx.id);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let last = last.expect("submitted");
    assert_eq!(net.wait_final(0, last).await["status"], "committed");
    let _ = net.wait_same_state(1, 0, 60).await;
    let _ = net.wait_same_state(2, 0, 60).await;

    // Wipe node3's state and start it: it is far more than 50 blocks behind.
    let data = net.nodes[3].entry.home.join("data");
    std::fs::remove_dir_all(&data).expect("wipe data");
    std::fs::create_dir_all(&data).expect("data dir");
    net.nodes[3].start();
    let s3 = net.wait_same_state(3, 0, 120).await;
    let base = s3["base_height"].as_u64().expect("base_height");
    assert!(
        base >= 32 && base % 32 == 0 && base > start,
        "node3 should have installed a snapshot at a checkpoint after {start}: {s3}"
    );
    assert_eq!(s3["counters"]["snapshots_installed"], 1, "{s3}");
    let log = net.nodes[3].log();
    assert!(
        log.contains(&format!("installed snapshot at height {base}")),
        "node3's log does not report the snapshot"
    );
    // It holds blocks from its base only, and says so.
    let (code, v) = net.get(3, "/v1/blocks/1").await;
    assert_eq!(code, 404, "{v}");
    assert_eq!(v["error"]["code"], "below_base", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("holds blocks from {base}")),
        "{v}"
    );
    let (code, anchor) = net.get(3, &format!("/v1/blocks/{base}")).await;
    assert_eq!(code, 200, "{anchor}");
    let (_, same) = net.get(0, &format!("/v1/blocks/{base}")).await;
    assert_eq!(anchor["hash"], same["hash"]);
    assert_eq!(anchor["state_root"], same["state_root"]);
    let bal3 = net.get(3, &format!("/v1/accounts/{wallet}")).await.1;
    let bal0 = net.get(0, &format!("/v1/accounts/{wallet}")).await.1;
    assert_eq!(bal3["balance_minor"], bal0["balance_minor"]);

    // node1 goes down: a quorum (3 of 4) now needs node3's votes.
    net.nodes[1].kill9();
    let before = net.height(0).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        let tx = sign(
            &operator,
            Operation::Issue {
                wallet,
                amount: Amount(1),
            },
        );
        let (code, v) = net.submit(3, &tx).await;
        assert_eq!(code, 202, "{v}");
        ids.push(tx.tx.id);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    for id in &ids {
        assert_eq!(net.wait_final(0, *id).await["status"], "committed");
    }
    let after = net.wait_same_state(3, 0, 60).await;
    let after_h = after["height"].as_u64().expect("height");
    assert!(after_h > before);
    for h in before + 1..=after_h {
        let (code, b) = net.get(0, &format!("/v1/blocks/{h}")).await;
        assert_eq!(code, 200, "{b}");
        let signers: Vec<u64> = b["certificate"]["signatures"]
            .as_array()
            .expect("signatures")
            .iter()
            .map(|s| s["replica"].as_u64().expect("replica"))
            .collect();
        assert!(
            signers.contains(&3) && !signers.contains(&1),
            "block {h} certified by {signers:?}"
        );
    }
    let bal3 = net.get(3, &format!("/v1/accounts/{wallet}")).await.1;
    let bal0 = net.get(0, &format!("/v1/accounts/{wallet}")).await.1;
    assert_eq!(bal3["balance_minor"], bal0["balance_minor"]);
}
