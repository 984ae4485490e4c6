//! Fuzz targets: the canonical decoder (`settlenet_types::decode`, bincode with the 32 MiB limit)
//! for what peers and clients send (transactions, blocks, stored blocks), transactions as JSON
//! (the API's body), and the text forms of ids (API paths and queries).
//!
//! Each target replays its corpus (`fuzz/corpus/<target>/`), then tries arbitrary and mutated
//! inputs (see `settlenet-fuzz`). For every input: no panic, no absurd allocation, a typed error
//! or a value; and a value decoded from bytes re-encodes to exactly those bytes (one value, one
//! encoding) and round-trips.

use serde::{de::DeserializeOwned, Serialize};
use settlenet_fuzz::Target;
use settlenet_types::block::{CommitCertificate, CommitSignature, BLOCK_VERSION};
use settlenet_types::settlement::SettlementInstruction;
use settlenet_types::{
    decode, encode, AccountId, Amount, BatchId, Block, BlockHeader, ChargeId, ChargePayer,
    Currency, Hash, Height, HoldId, MemberId, Operation, Payee, PublicKey, ReplicaId,
    SettlementPolicy, Signature, SignedTransaction, StoredBlock, Transaction, TxId, TxNonce, View,
};
use std::fmt::Debug;

const CHAIN: &str = "fuzz-chain";

fn usd() -> Currency {
    "USD".parse().expect("USD is a currency")
}

/// One operation of every kind (the variant index is part of the encoding).
fn operations() -> Vec<Operation> {
    let a = AccountId([1; 16]);
    let b = AccountId([2; 16]);
    let owner = PublicKey([4; 32]);
    vec![
        Operation::CreateWallet {
            account: a,
            issuer: MemberId(0),
            owner,
            currency: usd(),
        },
        Operation::Issue {
            wallet: a,
            amount: Amount(10_000),
        },
        Operation::Transfer {
            from: a,
            to: b,
            amount: Amount(1250),
        },
        Operation::RegisterWallet {
            account: a,
            issuer: MemberId(1),
            alias: Hash([7; 32]),
            alias_key_version: 1,
            owner,
            currency: usd(),
            tier: 1,
        },
        Operation::Redeem {
            wallet: a,
            amount: Amount(5),
        },
        Operation::Pay {
            from: a,
            to: Payee::Alias(Hash([7; 32])),
            amount: Amount(5),
            fee: Some(Amount(1)),
        },
        Operation::RegisterMerchant {
            account: b,
            acquirer: MemberId(0),
            owner,
            currency: usd(),
        },
        Operation::Authorize {
            hold: HoldId([9; 16]),
            from: a,
            merchant: b,
            amount: Amount(5),
            timeout_ms: 60_000,
        },
        Operation::Capture {
            hold: HoldId([9; 16]),
            amount: Amount(5),
        },
        Operation::Void {
            hold: HoldId([9; 16]),
        },
        Operation::Refund {
            capture: TxId([3; 16]),
            amount: Amount(5),
        },
        Operation::CloseWindow {
            currency: usd(),
            window: 7,
        },
        Operation::StageBatch {
            batch: BatchId([8; 16]),
            currency: usd(),
            window: 7,
            chunk: 1,
            instructions: vec![
                SettlementInstruction {
                    id: "E2E-1".into(),
                    debtor: MemberId(0),
                    creditor: MemberId(1),
                    amount: Amount(5),
                    beneficiary: Some(a),
                },
                SettlementInstruction {
                    id: "E2E-2".into(),
                    debtor: MemberId(1),
                    creditor: MemberId(0),
                    amount: Amount(7),
                    beneficiary: None,
                },
            ],
        },
        Operation::SettleBatch {
            batch: BatchId([8; 16]),
            currency: usd(),
            window: 7,
            chunks: 2,
            instructions: 3,
            digest: Hash([6; 32]),
            policy: SettlementPolicy::Unwind,
        },
        Operation::AbortBatch {
            batch: BatchId([8; 16]),
        },
        Operation::FundSettlement {
            member: MemberId(1),
            currency: usd(),
            amount: Amount(5),
        },
        Operation::WithdrawSettlement {
            member: MemberId(1),
            currency: usd(),
            amount: Amount(5),
        },
        Operation::SetNetDebitCap {
            member: MemberId(1),
            currency: usd(),
            cap: Some(Amount(9)),
        },
        Operation::RegisterObserver {
            member: MemberId(1),
            peer_id: "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA".into(),
            name: "acme-indexer".into(),
        },
        Operation::RemoveObserver {
            member: MemberId(1),
            peer_id: "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA".into(),
        },
        // Charge requests.
        Operation::CreateCharge {
            charge: ChargeId([5; 16]),
            merchant: AccountId([2; 16]),
            amount: Amount(1_250),
            reference: "order-77".into(),
            payer: Some(ChargePayer::Alias(Hash([7; 32]))),
            timeout_ms: 300_000,
            hold_timeout_ms: 3_600_000,
        },
        Operation::ApproveCharge {
            charge: ChargeId([5; 16]),
            hold: HoldId([9; 16]),
            from: AccountId([1; 16]),
            amount: Amount(1_250),
        },
        Operation::DeclineCharge {
            charge: ChargeId([5; 16]),
            from: AccountId([1; 16]),
        },
        Operation::CancelCharge {
            charge: ChargeId([5; 16]),
        },
    ]
}

fn transactions() -> Vec<SignedTransaction> {
    operations()
        .into_iter()
        .enumerate()
        .map(|(i, op)| SignedTransaction {
            tx: Transaction::new(
                CHAIN,
                PublicKey([4; 32]),
                TxNonce([i as u8 + 1; 16]),
                op,
                1_800_000_000_000 + i as u64,
            ),
            signature: Signature([5; 64]),
        })
        .collect()
}

fn block(txs: Vec<SignedTransaction>) -> Block {
    Block {
        header: BlockHeader {
            version: BLOCK_VERSION,
            chain_id: CHAIN.into(),
            height: Height(3),
            timestamp_ms: 1_700_000_000_000,
            proposer: ReplicaId(1),
            tx_count: txs.len() as u32,
            tx_root: Block::compute_tx_root(&txs).expect("tx root"),
            state_height: Height(2),
            state_root: Hash([11; 32]),
        },
        txs,
    }
}

fn stored_block() -> StoredBlock {
    let block = block(transactions().into_iter().take(3).collect());
    let hash = block.header.hash().expect("header hash");
    StoredBlock {
        block,
        certificate: CommitCertificate {
            height: Height(3),
            view: View(0),
            block_hash: hash,
            signatures: (0..3)
                .map(|r| CommitSignature {
                    replica: ReplicaId(r),
                    signature: Signature([r as u8; 64]),
                })
                .collect(),
        },
        hash,
        prev_hash: Hash([12; 32]),
        state_root: Hash([13; 32]),
    }
}

fn bincode_samples<T: Serialize>(prefix: &str, values: &[T]) -> Vec<(String, Vec<u8>)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (
                format!("{prefix}-{i:02}.bin"),
                encode("sample", v).expect("encode"),
            )
        })
        .collect()
}

/// A value decoded from bytes is canonical: it encodes back to exactly those bytes, and decodes
/// again to itself.
fn canonical<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    what: &'static str,
    bytes: &[u8],
) -> Option<T> {
    let value: T = decode(what, bytes).ok()?;
    settlenet_fuzz::accepted();
    let again = encode(what, &value).expect("a decoded value encodes");
    assert_eq!(again, bytes, "{what}: decoded value re-encodes differently");
    let back: T = decode(what, &again).expect("its own encoding decodes");
    assert_eq!(back, value, "{what}: round trip changed the value");
    Some(value)
}

#[test]
fn fuzz_signed_transaction_bincode() {
    Target::new("types_signed_transaction")
        .samples(bincode_samples("tx", &transactions()))
        .run(|bytes| {
            if let Some(tx) = canonical::<SignedTransaction>("signed transaction", bytes) {
                assert_eq!(SignedTransaction::decode(bytes).ok(), Some(tx.clone()));
                // What the node does next with a decoded transaction: hash it.
                let _ = tx.leaf_hash();
                let _ = tx.tx.signing_message();
            }
        });
}

#[test]
fn fuzz_block_bincode() {
    let blocks = vec![block(Vec::new()), block(transactions())];
    Target::new("types_block")
        .samples(bincode_samples("block", &blocks))
        .run(|bytes| {
            if let Some(b) = canonical::<Block>("block", bytes) {
                let _ = b.header.hash();
                let _ = b.check_body();
            }
        });
}

#[test]
fn fuzz_stored_block_bincode() {
    Target::new("types_stored_block")
        .samples(bincode_samples("stored-block", &[stored_block()]))
        .run(|bytes| {
            if let Some(b) = canonical::<StoredBlock>("stored block", bytes) {
                let _ = b.block.check_body();
                let _ = b.certificate.vote_body(CHAIN).signing_message();
            }
        });
}

#[test]
fn fuzz_signed_transaction_json() {
    let samples = transactions()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let json = serde_json::to_vec_pretty(t).expect("json");
            (format!("tx-{i:02}.json"), json)
        })
        .collect();
    Target::new("types_signed_transaction_json")
        .samples(samples)
        .tokens(&[
            "\"tx\"",
            "\"op\"",
            "\"signature\"",
            "\"signer\"",
            "\"chain_id\"",
            "\"transfer\"",
            "\"amount\"",
            "\"0x",
            "\"currency\"",
        ])
        .run(|bytes| {
            if let Ok(tx) = serde_json::from_slice::<SignedTransaction>(bytes) {
                settlenet_fuzz::accepted();
                let json = serde_json::to_vec(&tx).expect("a decoded transaction is JSON");
                let back: SignedTransaction =
                    serde_json::from_slice(&json).expect("its own JSON parses");
                assert_eq!(back, tx, "JSON round trip changed the transaction");
                // The same value through the canonical codec.
                let bin = encode("tx", &tx).expect("encode");
                assert_eq!(SignedTransaction::decode(&bin).expect("decode"), tx);
            }
        });
}

/// Text forms of ids, hashes, keys and currencies (API paths and query strings), and phone
/// numbers (wallet aliases): parsed or refused, and what parses prints back to itself.
#[test]
fn fuzz_text_ids() {
    let samples = vec![
        ("tx-id.txt".to_string(), TxId([0xab; 16]).to_string()),
        (
            "account-id.txt".to_string(),
            AccountId([0x01; 16]).to_string(),
        ),
        ("hash.txt".to_string(), Hash([0xcd; 32]).to_string()),
        (
            "public-key.txt".to_string(),
            PublicKey([0x11; 32]).to_string(),
        ),
        (
            "signature.txt".to_string(),
            Signature([0x22; 64]).to_string(),
        ),
        ("currency.txt".to_string(), "USD".to_string()),
        ("phone.txt".to_string(), "+250-70610388".to_string()),
        ("phone-national.txt".to_string(), "0788 123 456".to_string()),
        (
            "policy.txt".to_string(),
            SettlementPolicy::Unwind.to_string(),
        ),
    ]
    .into_iter()
    .map(|(n, s)| (n, s.into_bytes()))
    .collect();
    fn round_trip<T>(s: &str)
    where
        T: std::str::FromStr + std::fmt::Display + PartialEq + Debug,
    {
        if let Ok(v) = s.parse::<T>() {
            settlenet_fuzz::accepted();
            let back: T = v
                .to_string()
                .parse()
                .unwrap_or_else(|_| panic!("{v:?} prints as text it cannot parse"));
            assert_eq!(back, v);
        }
    }
    Target::new("types_text_ids").samples(samples).run(|bytes| {
        let Some(s) = settlenet_fuzz::text(bytes) else {
            return;
        };
        round_trip::<TxId>(s);
        round_trip::<AccountId>(s);
        round_trip::<BatchId>(s);
        round_trip::<HoldId>(s);
        round_trip::<Hash>(s);
        round_trip::<PublicKey>(s);
        round_trip::<Signature>(s);
        round_trip::<Currency>(s);
        round_trip::<SettlementPolicy>(s);
        if let Ok(n) = settlenet_types::normalize_e164(s, "250") {
            // Normal form is a fixed point.
            let again = settlenet_types::normalize_e164(n.as_str(), "250")
                .expect("a normalised number normalises");
            assert_eq!(again.as_str(), n.as_str());
        }
        let _ = settlenet_types::genesis::normalize_bic(s);
        let _ = settlenet_types::check_peer_id(s);
        let _ = settlenet_types::check_observer_name(s);
    });
}

/// A transaction whose `chain_id` length prefix (after the `u16` version) claims more than the
/// 32 MiB message limit, up to `u64::MAX`: refused before anything is allocated (the fuzz
/// binaries' heap cap would abort otherwise). Kept in the corpus as
/// `regression-chain-id-claims-*.bin`.
#[test]
fn forged_length_prefixes_are_refused_before_allocating() {
    let tx = encode("tx", &transactions()[2]).expect("encode");
    let mut samples = Vec::new();
    for (name, claim) in [
        ("32mib-plus-1", 32 * 1024 * 1024 + 1),
        ("4gib", 4 * 1024 * 1024 * 1024),
        ("u64-max", u64::MAX),
    ] {
        let mut forged = tx.clone();
        forged[2..10].copy_from_slice(&claim.to_be_bytes());
        assert!(SignedTransaction::decode(&forged).is_err(), "{name}");
        samples.push((format!("regression-chain-id-claims-{name}.bin"), forged));
    }
    // Written with the other samples when the corpus is rewritten.
    Target::new("types_signed_transaction")
        .samples(samples)
        .run(|bytes| {
            let _ = SignedTransaction::decode(bytes);
        });
}
