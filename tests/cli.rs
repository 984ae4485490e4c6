//! The operator's path through the `settlenet` binary: `testnet init`, `testnet start`, keys,
//! wallets, issue, transfer and queries, all as separate processes, as a person would run them.

mod common;

use common::{cli as run, cli_ok_json as run_json, BIN};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A base port P such that P..P+n and P+100..P+100+n are all free now.
fn free_base(n: u16) -> u16 {
    for attempt in 0..200u16 {
        let base = 30_000 + (std::process::id() as u16 % 97) * 150 + attempt * 7;
        let ok = (0..n)
            .flat_map(|i| [base + i, base + 100 + i])
            .all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if ok {
            return base;
        }
    }
    panic!("no free port range");
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("meta").permissions().mode() & 0o777
}

#[test]
fn an_operator_runs_a_testnet_from_the_cli() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("net");
    let d = dir.to_str().expect("utf8");
    let base = free_base(4).to_string();

    // init: genesis, homes, keys, nodes.json
    let nodes = run_json(&[
        "testnet",
        "init",
        "--validators",
        "4",
        "--dir",
        d,
        "--base-port",
        &base,
        "--json",
    ]);
    assert_eq!(nodes.as_array().expect("nodes").len(), 4);
    for f in [
        "genesis.json",
        "nodes.json",
        "keys/operator-a/issuer.key",
        "keys/clearing-house/clearing.key",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    for i in 0..4 {
        let home = dir.join(format!("node{i}"));
        for f in [
            "config.toml",
            "genesis.json",
            "validator.key",
            "network.key",
        ] {
            assert!(home.join(f).exists(), "node{i}/{f} missing");
        }
        #[cfg(unix)]
        assert_eq!(mode(&home.join("validator.key")), 0o600);
    }
    // A second init into the same directory is refused, changing nothing.
    let again = run(&["testnet", "init", "--dir", d]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // start: all four as child processes.
    let child = Command::new(BIN)
        .args(["testnet", "start", "--dir", d])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("testnet start");
    let _running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = run(&["--testnet", d, "--json", "status"]);
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).expect("status json");
            if v["peers"].as_array().map(|p| p.len()) == Some(3) {
                let chain = v["chain_id"].as_str().unwrap_or_default();
                assert!(chain.starts_with("settlenet-local-"), "{chain}");
                assert_eq!(v["role"], "validator");
                break;
            }
        }
        assert!(Instant::now() < deadline, "testnet did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }

    // keys, wallets, issue, transfer.
    let alice = tmp.path().join("alice.key");
    let bob = tmp.path().join("bob.key");
    for k in [&alice, &bob] {
        let v = run_json(&[
            "--json",
            "keys",
            "generate",
            "--out",
            k.to_str().expect("utf8"),
        ]);
        assert_eq!(v["kind"], "user");
    }
    let wa = run_json(&[
        "--testnet",
        d,
        "--json",
        "wallet",
        "create",
        "--issuer",
        "operator-a",
        "--owner-key",
        alice.to_str().expect("utf8"),
    ]);
    assert_eq!(wa["status"], "committed", "{wa}");
    let wa = wa["account"].as_str().expect("account").to_string();
    let wb = run_json(&[
        "--testnet",
        d,
        "--json",
        "wallet",
        "create",
        "--issuer",
        "bank-a",
        "--owner-key",
        bob.to_str().expect("utf8"),
    ]);
    let wb = wb["account"].as_str().expect("account").to_string();
    let v = run_json(&[
        "--testnet",
        d,
        "--json",
        "issue",
        "--wallet",
        &wa,
        "--amount",
        "250.00",
    ]);
    assert_eq!(v["status"], "committed", "{v}");
    let nonce = "0123456789abcdef0123456789abcdef";
    // The id binds the validity too: a retry gives the same one.
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        + 5 * 60 * 1000)
        .to_string();
    let v = run_json(&[
        "--testnet",
        d,
        "--json",
        "transfer",
        "--key",
        alice.to_str().expect("utf8"),
        "--from",
        &wa,
        "--to",
        &wb,
        "--amount",
        "12.50",
        "--nonce",
        nonce,
        "--valid-until",
        &until,
    ]);
    assert_eq!(v["status"], "committed", "{v}");
    // The id is derived from alice's key, the nonce and the validity.
    let tx_id = v["id"].as_str().expect("id").to_string();
    assert_ne!(tx_id, nonce);
    // The same command again is a safe retry: the first result, no second payment.
    let v = run_json(&[
        "--testnet",
        d,
        "--json",
        "transfer",
        "--key",
        alice.to_str().expect("utf8"),
        "--from",
        &wa,
        "--to",
        &wb,
        "--amount",
        "12.50",
        "--nonce",
        nonce,
        "--valid-until",
        &until,
    ]);
    assert_eq!(v["status"], "committed", "{v}");
    assert_eq!(
        v["id"],
        tx_id.as_str(),
        "same key, nonce and validity: same id"
    );
    let b = run_json(&["--testnet", d, "--json", "account", &wb]);
    assert_eq!(b["balance"], "12.50", "{b}");
    let a = run_json(&["--testnet", d, "--json", "account", &wa]);
    assert_eq!(a["balance"], "237.50", "{a}");

    // Queries against another node, by URL.
    let nodes: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("nodes.json")).expect("nodes.json"))
            .expect("nodes json");
    let node2 = nodes[2]["api"].as_str().expect("api").to_string();
    let t = run_json(&["--node", &node2, "--json", "tx", &tx_id]);
    assert_eq!(t["status"], "committed");
    let blk = run_json(&["--node", &node2, "--json", "block", "latest"]);
    assert!(
        blk["certificate"]["signatures"]
            .as_array()
            .expect("sigs")
            .len()
            >= 3
    );
    let human = run(&["--node", &node2, "block", "1"]);
    assert!(human.status.success());
    assert!(String::from_utf8_lossy(&human.stdout).contains("certificate"));

    // Bad input: clear errors, non-zero exit, nothing changes.
    let bad = run(&[
        "--testnet",
        d,
        "transfer",
        "--key",
        alice.to_str().expect("utf8"),
        "--from",
        &wa,
        "--to",
        &wb,
        "--amount",
        "1.005",
    ]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("decimals"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let bad = run(&[
        "--testnet",
        d,
        "transfer",
        "--key",
        alice.to_str().expect("utf8"),
        "--from",
        &wa,
        "--to",
        &wb,
        "--amount",
        "9999.00",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("insufficient_funds"));
    let bad = run(&["--testnet", d, "account", "xyz"]);
    assert!(!bad.status.success());
    let a = run_json(&["--testnet", d, "--json", "account", &wa]);
    assert_eq!(a["balance"], "237.50", "{a}");
}

/// The README's first command: `settlenet demo` runs its whole scenario on a local network of
/// four validators and ends well (it fails with a non-zero status on any surprise).
#[test]
fn the_demo_runs_to_the_end() {
    let out = Command::new(BIN)
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run settlenet demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "is now completed",
        "payment signed by a stranger -> refused at admission: forbidden_signer",
        "money conserved: yes",
        "net and settled each sum to zero: yes",
        "receipt VALID",
    ] {
        assert!(
            text.contains(line),
            "{line:?} missing from the demo:\n{text}"
        );
    }
}
