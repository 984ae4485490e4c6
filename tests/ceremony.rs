//! The genesis ceremony across four institutions, on loopback, through the `settlenet` CLI as
//! each institution would run it: `member init` in four separate directories, `genesis
//! assemble` by two coordinators (same hash), `genesis show`, `node init` at each member; the
//! hostile cases (another genesis, a key readable by others, a stranger's node); then an
//! integrator's observer from `join`: admitted by the validators, it follows every block,
//! checks certificates itself, serves reads and forwards payments.

mod common;

use common::{cli_fails, cli_json, cli_ok, s, sign, BIN};
use serde_json::Value;
use settlenet_api::client::Client;
use settlenet_api::TxStatus;
use settlenet_crypto::{KeyFile, Keypair};
use settlenet_localnet::{free_ports, LocalNet};
use settlenet_node::testnet::NodeEntry;
use settlenet_types::{AccountId, Amount, Currency, MemberId, Operation, TxId, TxNonce};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const MEMBERS: [(&str, &str, &str); 4] = [
    ("operator-a", "operator", "OPRARWRWXXX"),
    ("bank-a", "bank", "BNKARWRWXXX"),
    ("bank-b", "bank", "BNKBRWRWXXX"),
    ("clearing-house", "clearing-house", "CLRHRWRWXXX"),
];

/// `node start` on `home` must fail at once, saying `why`.
fn start_refused(home: &Path, why: &str) {
    let out = Command::new(BIN)
        .args(["node", "start", "--home", s(home)])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "node start should have failed");
    assert!(err.contains(why), "expected {why:?} in: {err}");
}

/// Copy a directory tree (homes are small: keys, config, genesis).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// The peer id of a node home's network key.
fn stranger_peer_id(home: &Path) -> String {
    let (_, key) = KeyFile::read(&home.join("network.key"), None).expect("network key");
    settlenet_net::peer_id_from_seed(key.secret_bytes())
        .expect("peer id")
        .to_string()
}

async fn wait_for(what: &str, secs: u64, mut ok: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_institutions_found_a_network_and_an_integrator_joins_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    let ports = free_ports(12).expect("ports");

    // 1. Each institution, on its own: keys stay in its directory.
    for (i, (name, kind, bic)) in MEMBERS.iter().enumerate() {
        let p2p = format!("127.0.0.1:{}", ports[i]);
        let v = cli_json(&[
            "member",
            "init",
            "--name",
            name,
            "--kind",
            kind,
            "--bic",
            bic,
            "--p2p",
            &p2p,
            "--dir",
            s(&d.join(name)),
        ]);
        assert_eq!(v["name"], *name);
        let text = std::fs::read_to_string(d.join(name).join("member.json")).expect("descriptor");
        assert!(!text.contains("secret"), "a descriptor holds no secret");
    }
    // Running it again over the same directory is refused (a key is never overwritten).
    let err = cli_fails(&[
        "member",
        "init",
        "--name",
        "bank-a",
        "--kind",
        "bank",
        "--p2p",
        "127.0.0.1:1",
        "--dir",
        s(&d.join("bank-a")),
    ]);
    assert!(err.contains("not empty"), "{err}");

    // 2. Two coordinators assemble from the same descriptors: the same genesis hash.
    let descriptors: Vec<String> = MEMBERS
        .iter()
        .map(|(n, _, _)| s(&d.join(n).join("member.json")).to_string())
        .collect();
    let assemble = |out: &Path| -> Value {
        let mut args = vec![
            "genesis",
            "assemble",
            "--currencies",
            "USD,EUR",
            "--chain-name",
            "ceremony",
            "--genesis-time-ms",
            "1750000000000",
            "--out",
            s(out),
            "--members",
        ];
        args.extend(descriptors.iter().map(String::as_str));
        cli_json(&args)
    };
    let a = assemble(&d.join("coordinator/genesis.json"));
    let b = assemble(&d.join("clearing-copy/genesis.json"));
    assert_eq!(
        a["hash"], b["hash"],
        "two assemblies of the same ceremony differ"
    );
    assert_eq!(a["validators"], 4);
    let genesis = d.join("coordinator/genesis.json");
    let shown = cli_json(&["genesis", "show", s(&genesis)]);
    assert_eq!(shown["hash"], a["hash"]);
    assert_eq!(shown["chain_id_bound"], true);
    let chain = shown["chain_id"].as_str().expect("chain id").to_string();
    assert!(chain.starts_with("ceremony-"), "{chain}");
    // A descriptor tampered with after signing is refused by the assembly.
    let tampered = d.join("tampered.json");
    let text = std::fs::read_to_string(&descriptors[1]).expect("read");
    std::fs::write(&tampered, text.replace("BNKARWRWXXX", "BNKZRWRWXXX")).expect("write");
    let err = cli_fails(&[
        "genesis",
        "assemble",
        "--out",
        s(&d.join("bad/genesis.json")),
        "--members",
        &descriptors[0],
        s(&tampered),
    ]);
    assert!(err.contains("proof of possession"), "{err}");

    // 3. Each institution makes its node's home from the genesis and its own directory.
    let mut entries = Vec::new();
    for (i, (name, _, _)) in MEMBERS.iter().enumerate() {
        let home = d.join(format!("{name}-home"));
        cli_ok(&[
            "node",
            "init",
            "--genesis",
            s(&genesis),
            "--member-dir",
            s(&d.join(name)),
            "--home",
            s(&home),
            "--listen",
            &format!("/ip4/127.0.0.1/tcp/{}", ports[i]),
            "--api-listen",
            &format!("127.0.0.1:{}", ports[4 + i]),
        ]);
        entries.push(NodeEntry {
            name: name.to_string(),
            home,
            api: format!("http://127.0.0.1:{}", ports[4 + i]),
            p2p: String::new(),
            member: name.to_string(),
        });
    }

    // 4. Hostile homes: another genesis, and a key that others can read.
    let forged = d.join("forged-home");
    copy_dir(&entries[1].home, &forged);
    let g = std::fs::read_to_string(forged.join("genesis.json")).expect("genesis");
    std::fs::write(
        forged.join("genesis.json"),
        g.replacen("100000000", "900000000", 1),
    )
    .expect("write");
    start_refused(&forged, "refusing to start on another network's genesis");
    let loose = d.join("loose-home");
    copy_dir(&entries[1].home, &loose);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            loose.join("validator.key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        start_refused(&loose, "chmod 600");
    }

    // 5. An integrator joins from the genesis and the peer config a member hands it; a member
    //    validator admits it by config here (the ledger registration is tested elsewhere).
    let observer_home = d.join("observer");
    let joined = cli_json(&[
        "join",
        "--genesis",
        s(&genesis),
        "--peers",
        s(&d.join("coordinator/peers.toml")),
        "--home",
        s(&observer_home),
        "--name",
        "psp-observer",
        "--listen",
        &format!("/ip4/127.0.0.1/tcp/{}", ports[8]),
        "--api-listen",
        &format!("127.0.0.1:{}", ports[9]),
    ]);
    let observer_peer = joined["peer_id"].as_str().expect("peer id").to_string();
    // A stranger's node from the same public files, never admitted.
    let stranger_home = d.join("stranger");
    cli_ok(&[
        "join",
        "--genesis",
        s(&genesis),
        "--peers",
        s(&d.join("coordinator/peers.toml")),
        "--home",
        s(&stranger_home),
        "--listen",
        &format!("/ip4/127.0.0.1/tcp/{}", ports[10]),
        "--api-listen",
        &format!("127.0.0.1:{}", ports[11]),
    ]);
    for e in &entries {
        let path = e.home.join("config.toml");
        let mut config: toml::Value =
            toml::from_str(&std::fs::read_to_string(&path).expect("config")).expect("toml");
        config["p2p"]["observers"] = toml::Value::Array(vec![observer_peer.clone().into()]);
        std::fs::write(&path, toml::to_string(&config).expect("toml")).expect("write");
    }

    // 6. The four validators start and agree; then the observers.
    let mut validators = LocalNet::start(BIN, entries, "info").expect("start validators");
    validators
        .wait_ready(Duration::from_secs(60))
        .await
        .expect("validators up");
    let obs_entry = |name: &str, home: PathBuf, port: u16| NodeEntry {
        name: name.into(),
        home,
        api: format!("http://127.0.0.1:{port}"),
        p2p: String::new(),
        member: "integrator".into(),
    };
    let mut observers = LocalNet::start(
        BIN,
        vec![
            obs_entry("psp-observer", observer_home, ports[9]),
            obs_entry("stranger", stranger_home, ports[11]),
        ],
        "info",
    )
    .expect("start observers");
    let v0 = validators.client(0).expect("client");
    let obs = Client::new(observers.api(0)).expect("client");
    let stranger = Client::new(observers.api(1)).expect("client");
    wait_for(
        "the observer to connect to every validator",
        30,
        async || obs.status().await.is_ok_and(|s| s.peers.len() == 4),
    )
    .await;
    let st = obs.status().await.expect("status");
    assert_eq!(st.role, "observer");
    assert_eq!(
        st.genesis_hash.to_string(),
        a["hash"].as_str().expect("hash")
    );
    assert_eq!(st.chain_id, chain);

    // 7. Payments submitted through the observer: forwarded, committed, followed.
    let op_key = KeyFile::read(&d.join("operator-a/issuer.key"), None)
        .expect("staff key")
        .1;
    let alice = Keypair::generate();
    let bob = Keypair::generate();
    let (wa, wb) = (AccountId(rand::random()), AccountId(rand::random()));
    let usd = Currency(*b"USD");
    let mut txs = Vec::new();
    for (w, owner) in [(wa, &alice), (wb, &bob)] {
        txs.push(sign(
            &chain,
            &op_key,
            TxNonce(rand::random()),
            Operation::CreateWallet {
                account: w,
                issuer: MemberId(0),
                owner: owner.public(),
                currency: usd,
            },
        ));
    }
    let ids: Vec<TxId> = txs.iter().map(|t| t.tx.id).collect();
    for t in &txs {
        let v = obs.submit(t).await.expect("submitted through the observer");
        assert_eq!(v.status, TxStatus::Pending, "{v:?}");
    }
    let wait_done = async |id: TxId| {
        // Pending on the observer while forwarded, then committed there (followed by sync).
        let v = obs
            .wait_tx(id, Duration::from_secs(30))
            .await
            .expect("a forwarded transaction commits on the observer");
        assert_eq!(v.status, TxStatus::Committed, "{v:?}");
    };
    for id in ids {
        wait_done(id).await;
    }
    let issue = sign(
        &chain,
        &op_key,
        TxNonce(rand::random()),
        Operation::Issue {
            wallet: wa,
            amount: Amount(10_000),
        },
    );
    obs.submit(&issue).await.expect("issue");
    wait_done(issue.tx.id).await;
    let mut last = issue.tx.id;
    for k in 0..20u64 {
        let pay = sign(
            &chain,
            &alice,
            TxNonce(rand::random()),
            Operation::Transfer {
                from: wa,
                to: wb,
                amount: Amount(10 + k),
            },
        );
        // Alternate: through the observer and directly to a validator.
        let v = if k % 2 == 0 {
            obs.submit(&pay).await
        } else {
            v0.submit(&pay).await
        }
        .expect("payment");
        assert_eq!(v.status, TxStatus::Pending);
        last = pay.tx.id;
    }
    wait_done(last).await;
    // A forged payment through the observer is refused by the validator (never trusted).
    let mut forged = sign(
        &chain,
        &alice,
        TxNonce(rand::random()),
        Operation::Transfer {
            from: wa,
            to: wb,
            amount: Amount(1),
        },
    );
    forged.signature = bob.sign(b"not this transaction");
    let err = obs
        .submit(&forged)
        .await
        .expect_err("a forged signature passed");
    assert!(err.to_string().contains("invalid_signature"), "{err}");

    // 8. The observer's state equals the validators' at the same height.
    wait_for(
        "the observer to reach the validators' state",
        30,
        async || match (v0.status().await, obs.status().await) {
            (Ok(a), Ok(b)) => a.height == b.height && a.state_root == b.state_root,
            _ => false,
        },
    )
    .await;
    // The observer's event stream, from block 1: every committed transaction exactly once,
    // and block events whose roots are the validators'.
    let head = obs.status().await.expect("status").height.0;
    let mut stream = obs
        .events(settlenet_api::client::EventsRequest {
            from: Some(1),
            account: None,
            after: None,
        })
        .expect("event stream");
    let mut seen = std::collections::BTreeSet::new();
    let mut txs_in_blocks = 0u64;
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event in time")
            .expect("event");
        match ev {
            settlenet_api::StreamEvent::Tx(t) => {
                assert!(seen.insert(t.id), "transaction {} delivered twice", t.id);
            }
            settlenet_api::StreamEvent::Block(b) => {
                txs_in_blocks += u64::from(b.txs);
                let on_v0 = v0
                    .block(Some(b.height.0))
                    .await
                    .expect("block on a validator");
                assert_eq!(
                    on_v0.hash, b.hash,
                    "observer and validator differ at {}",
                    b.height
                );
                if b.height.0 == head {
                    break;
                }
            }
        }
    }
    assert_eq!(seen.len() as u64, txs_in_blocks);
    assert!(seen.contains(&last) && seen.contains(&issue.tx.id));
    let account = obs
        .account(wb)
        .await
        .expect("account via observer")
        .expect("bob's wallet");
    let paid: u64 = (0..20u64).map(|k| 10 + k).sum();
    assert_eq!(account.balance_minor, paid.to_string());

    // 9. The stranger was refused by every validator and holds no block.
    let st = stranger.status().await.expect("stranger status");
    assert!(st.peers.is_empty(), "a stranger connected: {:?}", st.peers);
    assert_eq!(st.height.0, 0);
    let refused = v0.status().await.expect("status").counters["peers_refused"];
    assert!(refused > 0, "validators counted no refusal");

    // 10. bank-a sponsors it on the ledger: every validator admits it, and it syncs. Then
    //     bank-a removes it: every validator drops it.
    let stranger_peer = stranger_peer_id(&d.join("stranger"));
    let api0 = validators.api(0).to_string();
    let bank_a_key = d.join("bank-a/issuer.key");
    cli_ok(&[
        "--node",
        &api0,
        "observer",
        "register",
        "--member",
        "bank-a",
        "--peer-id",
        &stranger_peer,
        "--name",
        "acme-pay",
        "--key",
        s(&bank_a_key),
    ]);
    // Another member's staff cannot remove bank-a's observer.
    let err = cli_fails(&[
        "--node",
        &api0,
        "observer",
        "remove",
        "--member",
        "bank-a",
        "--peer-id",
        &stranger_peer,
        "--key",
        s(&d.join("bank-b/issuer.key")),
    ]);
    assert!(
        err.contains("forbidden_signer") || err.contains("sponsor"),
        "{err}"
    );
    wait_for(
        "the registered observer to be admitted and synced",
        30,
        async || match (stranger.status().await, v0.status().await) {
            (Ok(a), Ok(b)) => a.peers.len() == 4 && a.height == b.height,
            _ => false,
        },
    )
    .await;
    cli_ok(&[
        "--node",
        &api0,
        "observer",
        "remove",
        "--member",
        "bank-a",
        "--peer-id",
        &stranger_peer,
        "--key",
        s(&bank_a_key),
    ]);
    wait_for(
        "every validator to drop the removed observer",
        30,
        async || stranger.status().await.is_ok_and(|s| s.peers.is_empty()),
    )
    .await;
    // The observer admitted by config is unaffected.
    assert_eq!(obs.status().await.expect("status").peers.len(), 4);
    observers.stop();
    validators.stop();
}
