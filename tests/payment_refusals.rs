//! Bad payment input end to end, through the `settlenet` CLI and straight at the API of four
//! real validator processes: each mistake is refused with a clear error, phone numbers are
//! never echoed, and no balance changes.

mod common;

use common::{balance, cli_fails, cli_json, fields, nonce, s, sign, start_net, user_key};
use settlenet_crypto::KeyFile;
use settlenet_types::{AccountId, Amount, Operation, Payee};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_clearly_and_changes_nothing() {
    let net = start_net().await;
    let dir = net.dir.path().join("net");
    let d = s(&dir);
    let alice = user_key(net.dir.path(), "alice");
    let wa = cli_json(&[
        "--testnet",
        d,
        "wallet",
        "register",
        "--phone",
        "+250 700 000 001",
        "--owner-key",
        s(&alice),
        "--issuer",
        "operator-a",
    ])["account"]
        .as_str()
        .expect("wallet")
        .to_string();
    cli_json(&[
        "--testnet",
        d,
        "issue",
        "--wallet",
        &wa,
        "--amount",
        "50.00",
    ]);
    let before = fields(&balance(d, &wa));
    let pay = |to: &str, amount: &str| {
        cli_fails(&[
            "--testnet",
            d,
            "pay",
            "--key",
            s(&alice),
            "--from",
            &wa,
            "--to",
            to,
            "--amount",
            amount,
        ])
    };

    // Unknown payee, by account and by phone: rejected in a block, nothing moves.
    let err = pay("0123456789abcdef0123456789abcdef", "1.00");
    assert!(err.contains("unknown_payee"), "{err}");
    let err = pay("+250 799 999 999", "1.00");
    assert!(err.contains("unknown_payee"), "{err}");
    // Malformed phone numbers: refused before anything is signed; the number is not repeated.
    for bad in [
        "+250 70610388x",
        "12345",
        "+0250706103",
        "tel:+25070610388",
        "+1234567890123456",
    ] {
        let err = pay(bad, "1.00");
        assert!(err.contains("invalid_phone"), "{bad}: {err}");
        let digits: String = bad.chars().filter(|c| c.is_ascii_digit()).collect();
        assert!(!err.contains(&digits), "{bad}: the number leaked: {err}");
        let err = cli_fails(&[
            "--testnet",
            d,
            "wallet",
            "register",
            "--phone",
            bad,
            "--owner-key",
            s(&alice),
            "--issuer",
            "bank-a",
        ]);
        assert!(err.contains("invalid_phone"), "{bad}: {err}");
    }
    // Amounts: zero, beyond u64, too many decimals, not a number.
    let err = pay("+250 700 000 001", "0");
    assert!(err.contains("zero_amount"), "{err}");
    let err = pay("+250 700 000 001", "184467440737095516.16");
    assert!(err.contains("does not fit in 64 bits"), "{err}");
    let err = pay("+250 700 000 001", "1.005");
    assert!(err.contains("decimals"), "{err}");
    let err = pay("+250 700 000 001", "1,00");
    assert!(err.contains("plain decimal"), "{err}");
    // Wrong role: the clearing house's key cannot open wallets; an issuer key cannot open
    // merchant accounts for its member... unless it has the role (operator-a's issuer key has
    // only `issuer`).
    let err = cli_fails(&[
        "--testnet",
        d,
        "wallet",
        "register",
        "--phone",
        "+250 700 000 002",
        "--owner-key",
        s(&alice),
        "--issuer",
        "clearing-house",
    ]);
    assert!(
        err.contains("forbidden_role") || err.contains("clearing"),
        "{err}"
    );
    let err = cli_fails(&[
        "--testnet",
        d,
        "wallet",
        "register",
        "--phone",
        "+250 700 000 002",
        "--owner-key",
        s(&alice),
        "--issuer",
        "clearing-house",
        "--key",
        s(&dir.join("keys/clearing-house/clearing.key")),
    ]);
    assert!(err.contains("forbidden_role"), "{err}");
    let err = cli_fails(&[
        "--testnet",
        d,
        "merchant",
        "register",
        "--owner-key",
        s(&alice),
        "--acquirer",
        "operator-a",
        "--key",
        s(&dir.join("keys/operator-a/issuer.key")),
    ]);
    assert!(err.contains("forbidden_role"), "{err}");
    // Someone else's key cannot spend Alice's wallet.
    let mallory = user_key(net.dir.path(), "mallory");
    let err = cli_fails(&[
        "--testnet",
        d,
        "pay",
        "--key",
        s(&mallory),
        "--from",
        &wa,
        "--to",
        "+250 700 000 001",
        "--amount",
        "1.00",
    ]);
    assert!(
        err.contains("forbidden_signer") || err.contains("same_account"),
        "{err}"
    );

    // Forged and missing signatures, straight at the API.
    let key = KeyFile::read(&alice, None).expect("alice").1;
    let wa_id: AccountId = wa.parse().expect("id");
    let mut forged = sign(
        &net.chain,
        &key,
        nonce(),
        Operation::Pay {
            from: wa_id,
            to: Payee::Account(AccountId([9; 16])),
            amount: Amount(1),
            fee: None,
        },
    );
    forged.tx.op = Operation::Pay {
        from: wa_id,
        to: Payee::Account(AccountId([9; 16])),
        amount: Amount(4_000),
        fee: None,
    };
    let (code, v) = net.submit(1, &forged).await;
    assert_eq!(code, 400, "{v:?}");
    assert_eq!(v.expect_err("refused").error.code, "invalid_signature");
    let mut unsigned = serde_json::to_value(&forged).expect("json");
    unsigned
        .as_object_mut()
        .expect("object")
        .remove("signature");
    let (code, v) = net
        .post_raw(
            2,
            "/v1/transactions",
            serde_json::to_vec(&unsigned).expect("json"),
        )
        .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["error"]["code"], "malformed_transaction", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("signature"),
        "{v}"
    );
    // The alias endpoint: malformed bodies and numbers are 400s that never echo the number.
    for body in [
        r#"{"phone": 25070610388}"#.to_string(),
        r#"{"phone": "+250 70610388x"}"#.to_string(),
        r#"{"phone": "+250 706 103 88", "currency": "usd"}"#.to_string(),
        r#"{"phone": "+250 706 103 88", "extra": 1}"#.to_string(),
    ] {
        let (code, v) = net
            .post_raw(0, "/v1/phone/alias", body.clone().into_bytes())
            .await;
        assert_eq!(code, 400, "{body}: {v}");
        assert!(!v.to_string().contains("70610388"), "{body}: leaked: {v}");
    }

    // Nothing changed.
    assert_eq!(fields(&balance(d, &wa)), before);
    let status = net.status(0).await.expect("status");
    assert!(status.height.0 > 0);
    net.agree().await;
}
