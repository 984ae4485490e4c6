//! Fuzz targets: the files a node and its operators read, through the real readers (each input
//! written to a file in a temporary directory first), and the HTTP API's JSON bodies.
//! - `node_config`: `config.toml` (`NodeConfig::load`);
//! - `node_genesis`: `genesis.json` (`testnet::parse_genesis`: JSON, then `Genesis::validate`);
//! - `node_member_descriptor`: a ceremony's `member.json` (`ceremony::read_descriptor`: JSON,
//!   then every proof of possession);
//! - `node_peers`: `peers.toml` (`ceremony::PeerConfig::read`: TOML, version, every bootstrap
//!   multiaddr);
//! - `node_members_file`: `testnet init --members FILE` (`testnet::read_members`);
//! - `node_api_body`: a `POST /v1/transactions`, `/v1/transactions/batch` or `/v1/phone/alias`
//!   body as the handlers read it (JSON value, then the typed request, then the signature).
//!
//! For every input: no panic, no absurd allocation, a typed error or a value; what parses
//! round-trips through its own serialisation.
//!
//! Seeds: `fuzz/corpus/<target>/`, the files `testnet init` writes for a four-validator network
//! (regenerate with `SETTLENET_FUZZ_WRITE_CORPUS=1 cargo test --release -p settlenet-node
//! --test fuzz_config`), and for API bodies transactions signed here.

use serde_json::Value;
use settlenet_api::AliasRequest;
use settlenet_crypto::Keypair;
use settlenet_fuzz::Target;
use settlenet_node::ceremony::{read_descriptor, PeerConfig};
use settlenet_node::config::NodeConfig;
use settlenet_node::testnet::{self, TestnetOptions};
use settlenet_types::{
    AccountId, Amount, ConsensusParams, Currency, MemberId, Operation, SignedTransaction,
    Transaction, TxNonce,
};
use std::path::{Path, PathBuf};

fn writing_corpus() -> bool {
    std::env::var("SETTLENET_FUZZ_WRITE_CORPUS").is_ok_and(|v| v == "1")
}

/// The files of a fresh four-validator test network, by corpus target.
fn testnet_files() -> Vec<(&'static str, String, Vec<u8>)> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let opts = TestnetOptions {
        validators: 4,
        base_port: 47_000,
        chain_id: "fuzz-net".into(),
        currencies: vec![(Currency(*b"USD"), 2), (Currency(*b"RWF"), 0)],
        settlement_balance: 1_000_000,
        consensus: ConsensusParams::default(),
        ports: None,
        hosts: None,
        default_country: "250".into(),
        members: None,
    };
    testnet::init(dir.path(), &opts).expect("testnet init");
    let mut out = Vec::new();
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    out.push((
        "node_genesis",
        "genesis.json".to_string(),
        read(dir.path().join("genesis.json")),
    ));
    out.push((
        "node_peers",
        "peers.toml".to_string(),
        read(dir.path().join("peers.toml")),
    ));
    for i in 0..2 {
        out.push((
            "node_config",
            format!("node{i}-config.toml"),
            read(dir.path().join(format!("node{i}/config.toml"))),
        ));
    }
    let keys = dir.path().join("keys");
    let mut members: Vec<PathBuf> = std::fs::read_dir(&keys)
        .expect("member directories")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    members.sort();
    for m in members.iter().take(2) {
        let name = m.file_name().map(|n| n.to_string_lossy().to_string());
        out.push((
            "node_member_descriptor",
            format!("{}-member.json", name.unwrap_or_default()),
            read(m.join("member.json")),
        ));
    }
    out
}

/// Samples for `target`: made only when (re)writing the corpus; normal runs read the files.
fn samples(target: &str) -> Vec<(String, Vec<u8>)> {
    if !writing_corpus() {
        return Vec::new();
    }
    testnet_files()
        .into_iter()
        .filter(|(t, _, _)| *t == target)
        .map(|(_, name, bytes)| (name, bytes))
        .collect()
}

/// A temporary file the readers read each input from.
struct Scratch {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join(name);
        Scratch { _dir: dir, path }
    }

    fn holding(&self, bytes: &[u8]) -> &Path {
        std::fs::write(&self.path, bytes).expect("write the input");
        &self.path
    }
}

const TOML_TOKENS: &[&str] = &[
    "name",
    "role",
    "genesis",
    "genesis_hash",
    "validator_key",
    "network_key",
    "data_dir",
    "[p2p]",
    "[api]",
    "[mempool]",
    "[consensus]",
    "[phone]",
    "[sync]",
    "listen",
    "bootstrap",
    "version",
    "chain_id",
    "\"/ip4/127.0.0.1/tcp/1/p2p/",
    "/dns4/",
    "/ip6/::1/",
    "[[members]]",
    "kind",
    "bic",
    "clearing_id",
    "validators",
    "1979-05-27T07:32:00Z",
];

#[test]
fn fuzz_node_config() {
    let home = Scratch::new("config.toml");
    Target::new("node_config")
        .samples(samples("node_config"))
        .tokens(TOML_TOKENS)
        .run(|bytes| {
            let dir = home.holding(bytes).parent().expect("home").to_path_buf();
            if let Ok(config) = NodeConfig::load(&dir) {
                settlenet_fuzz::accepted();
                let text = toml::to_string(&config).expect("a loaded config is TOML");
                let back: NodeConfig = toml::from_str(&text).expect("its own TOML loads");
                assert_eq!(toml::to_string(&back).expect("toml"), text);
            }
        });
}

#[test]
fn fuzz_genesis() {
    Target::new("node_genesis")
        .samples(samples("node_genesis"))
        .tokens(&[
            "\"members\"",
            "\"validators\"",
            "\"accounts\"",
            "\"currencies\"",
            "\"consensus\"",
            "\"chain_id\"",
            "\"exponent\"",
            "\"staff\"",
            "\"roles\"",
            "\"net_debit_caps\"",
            "\"public_key\"",
            "\"peer_id\"",
            "\"kind\"",
            "\"balance\"",
            "\"bic\"",
        ])
        .run(|bytes| {
            let Some(text) = settlenet_fuzz::text(bytes) else {
                return;
            };
            if let Ok(g) = testnet::parse_genesis(text, Path::new("fuzz/genesis.json")) {
                settlenet_fuzz::accepted();
                let hash = g.hash().expect("a valid genesis hashes");
                let json = serde_json::to_string_pretty(&g).expect("json");
                let back = testnet::parse_genesis(&json, Path::new("again.json"))
                    .expect("a valid genesis, written and read back, is valid");
                assert_eq!(back, g);
                assert_eq!(back.hash().expect("hash"), hash);
            }
        });
}

#[test]
fn fuzz_member_descriptor() {
    let file = Scratch::new("member.json");
    Target::new("node_member_descriptor")
        .samples(samples("node_member_descriptor"))
        .tokens(&[
            "\"proofs\"",
            "\"staff\"",
            "\"validators\"",
            "\"network_key\"",
            "\"peer_id\"",
            "\"address\"",
            "\"roles\"",
            "\"issuer\"",
            "\"bank\"",
            "\"psp\"",
        ])
        .run(|bytes| {
            if let Ok(d) = read_descriptor(file.holding(bytes)) {
                settlenet_fuzz::accepted();
                let json = serde_json::to_vec_pretty(&d).expect("json");
                let back = read_descriptor(file.holding(&json))
                    .expect("a valid descriptor, written and read back, is valid");
                assert_eq!(back, d);
            }
        });
}

#[test]
fn fuzz_peers() {
    let file = Scratch::new("peers.toml");
    Target::new("node_peers")
        .samples(samples("node_peers"))
        .tokens(TOML_TOKENS)
        .run(|bytes| {
            if let Ok(p) = PeerConfig::read(file.holding(bytes)) {
                settlenet_fuzz::accepted();
                let text = toml::to_string(&p).expect("toml");
                let back = PeerConfig::read(file.holding(text.as_bytes()))
                    .expect("a valid peer config, written and read back, is valid");
                assert_eq!(back, p);
            }
        });
}

#[test]
fn fuzz_members_file() {
    let file = Scratch::new("members.toml");
    let samples = vec![(
        "members.toml".to_string(),
        b"[[members]]\nname = \"operator-a\"\nkind = \"operator\"\nbic = \"OPRAGB2L\"\n\n\
          [[members]]\nname = \"bank-a\"\nkind = \"bank\"\nbic = \"BNKAUS33XXX\"\n\
          clearing_id = \"021040078\"\nvalidators = 2\n\n\
          [[members]]\nname = \"pay-co\"\nkind = \"psp\"\nvalidators = 0\n"
            .to_vec(),
    )];
    Target::new("node_members_file")
        .samples(samples)
        .tokens(TOML_TOKENS)
        .run(|bytes| {
            if testnet::read_members(file.holding(bytes)).is_ok() {
                settlenet_fuzz::accepted();
            }
        });
}

fn signed_transactions() -> Vec<SignedTransaction> {
    let issuer = Keypair::from_seed([5; 32]);
    let owner = Keypair::from_seed([6; 32]);
    let ops = [
        Operation::CreateWallet {
            account: AccountId([1; 16]),
            issuer: MemberId(1),
            owner: owner.public(),
            currency: Currency(*b"USD"),
        },
        Operation::Issue {
            wallet: AccountId([1; 16]),
            amount: Amount(10_000),
        },
        Operation::Transfer {
            from: AccountId([1; 16]),
            to: AccountId([2; 16]),
            amount: Amount(250),
        },
    ];
    ops.into_iter()
        .enumerate()
        .map(|(i, op)| {
            let signer = if i == 2 { &owner } else { &issuer };
            let tx = Transaction::new(
                "fuzz-net",
                signer.public(),
                TxNonce([i as u8 + 1; 16]),
                op,
                u64::MAX,
            );
            let signature = signer.sign(&tx.signing_message().expect("signing message"));
            SignedTransaction { tx, signature }
        })
        .collect()
}

/// `parse_tx` of the node's API: the typed transaction, then its signature.
fn parse_tx(value: Value) -> Option<SignedTransaction> {
    let tx: SignedTransaction = serde_json::from_value(value).ok()?;
    let message = tx.tx.signing_message().ok()?;
    settlenet_crypto::verify(&tx.tx.signer, &message, &tx.signature).ok()?;
    Some(tx)
}

#[test]
fn fuzz_api_body() {
    let txs = signed_transactions();
    let mut samples: Vec<(String, Vec<u8>)> = txs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                format!("transaction-{i}.json"),
                serde_json::to_vec(t).expect("json"),
            )
        })
        .collect();
    samples.push(("batch.json".into(), serde_json::to_vec(&txs).expect("json")));
    samples.push((
        "alias.json".into(),
        br#"{"phone": "+250 70 610 388", "currency": "RWF"}"#.to_vec(),
    ));
    Target::new("node_api_body")
        .samples(samples)
        .tokens(&[
            "\"tx\"",
            "\"op\"",
            "\"signature\"",
            "\"signer\"",
            "\"phone\"",
            "\"currency\"",
            "\"transfer\"",
            "\"issue\"",
            "\"create_wallet\"",
        ])
        .run(|bytes| {
            // `body_json`: any JSON value.
            let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
                return;
            };
            // `POST /v1/transactions`.
            if let Some(tx) = parse_tx(value.clone()) {
                settlenet_fuzz::accepted();
                // A transaction that verifies from JSON verifies from its canonical encoding.
                let bin = settlenet_types::encode("tx", &tx).expect("encode");
                let back = SignedTransaction::decode(&bin).expect("decode");
                settlenet_crypto::verify_transactions(&[back])
                    .expect("the same transaction verifies in a batch");
            }
            // `POST /v1/transactions/batch`: every item typed, then one batch verification.
            if let Value::Array(items) = &value {
                let typed: Option<Vec<SignedTransaction>> = items
                    .iter()
                    .map(|v| serde_json::from_value(v.clone()).ok())
                    .collect();
                if let Some(txs) = typed {
                    let _ = settlenet_crypto::verify_transactions(&txs);
                }
            }
            // `POST /v1/phone/alias`.
            if let Ok(req) = serde_json::from_value::<AliasRequest>(value) {
                let _ = settlenet_types::normalize_e164(&req.phone, "250");
                if let Some(c) = req.currency.as_deref() {
                    let _ = c.parse::<Currency>();
                }
            }
        });
}
