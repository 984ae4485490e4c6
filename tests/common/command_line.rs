//! Running the `settlenet` binary as a person would: a separate process per command.

use super::BIN;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// Run the CLI; return (success, stdout, stderr).
pub fn cli_outcome(args: &[&str]) -> (bool, String, String) {
    let out = cli(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run the CLI; it must succeed; return its stdout.
pub fn cli_ok(args: &[&str]) -> String {
    let (good, out, err) = cli_outcome(args);
    assert!(good, "settlenet {args:?} failed:\n{out}\n{err}");
    out
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// Generate a user key `<dir>/<name>.key` with `settlenet keys generate`.
pub fn user_key(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(format!("{name}.key"));
    let v = cli_json(&["keys", "generate", "--out", s(&p)]);
    assert_eq!(v["kind"], "user");
    p
}

/// An account as `settlenet balance` prints it (`--json`).
pub fn balance(d: &str, id: &str) -> Value {
    cli_json(&["--testnet", d, "balance", id])
}

/// The four fields and balance of an account, for before/after comparisons.
pub fn fields(v: &Value) -> [String; 5] {
    [
        "debits_pending",
        "debits_posted",
        "credits_pending",
        "credits_posted",
        "balance",
    ]
    .map(|k| v[k].as_str().unwrap_or("").to_string())
}

/// A member's settlement balance in minor units, from `settlement liquidity` (`--testnet DIR`).
pub fn settlement_balance(d: &str, member: &str) -> i128 {
    let v = cli_json(&["--testnet", d, "settlement", "liquidity"]);
    let m = v["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["member"] == member)
        .expect("member in liquidity")
        .clone();
    let text = m["balance"].as_str().expect("balance");
    let (whole, frac) = text.split_once('.').unwrap_or((text, "00"));
    whole.parse::<i128>().expect("whole") * 100 + frac.parse::<i128>().expect("frac")
}

/// Register a phone wallet at `issuer` for `owner`'s key with KYC `tier` (`--testnet DIR`);
/// returns its id.
pub fn register_phone_wallet(
    d: &str,
    phone: &str,
    owner: &Path,
    issuer: &str,
    tier: &str,
) -> String {
    let v = cli_json(&[
        "--testnet",
        d,
        "wallet",
        "register",
        "--phone",
        phone,
        "--owner-key",
        s(owner),
        "--issuer",
        issuer,
        "--tier",
        tier,
    ]);
    v["account"].as_str().expect("wallet").to_string()
}
