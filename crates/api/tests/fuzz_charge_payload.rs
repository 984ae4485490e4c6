//! Fuzz target `api_charge_payload`: the charge-request payload a wallet reads from a QR code
//! or a link (`ChargePayload::parse`), which anyone can print and show.
//!
//! For every input: no panic, no allocation beyond the input's size bound (`PAYLOAD_MAX_BYTES`);
//! a payload that parses prints back to a URI that parses to the same payload.
//!
//! Seeds: `fuzz/corpus/api_charge_payload/` (payloads as the node writes them: an ASCII
//! reference, one with escapes and multi-byte characters).

use settlenet_api::ChargePayload;
use settlenet_fuzz::Target;
use settlenet_types::{AccountId, ChargeId};

fn sample(reference: &str, chain: &str) -> Vec<u8> {
    ChargePayload {
        chain_id: chain.into(),
        charge: ChargeId([7; 16]),
        merchant: AccountId([2; 16]),
        amount_minor: 1_250,
        currency: "USD".parse().expect("usd"),
        expires_at_ms: 1_795_000_300_000,
        reference: reference.into(),
    }
    .to_uri()
    .into_bytes()
}

#[test]
fn fuzz_charge_payload() {
    Target::new("api_charge_payload")
        .samples(vec![
            ("ascii.txt".into(), sample("order-1001", "settlenet-local")),
            (
                "escaped.txt".into(),
                sample("Café #7 / ümlaut & co", "e2e-0123456789ab"),
            ),
        ])
        .tokens(&[
            "settlenet:charge?",
            "v=1",
            "&chain=",
            "&id=",
            "&m=",
            "&a=",
            "&c=USD",
            "&x=",
            "&r=",
            "%20",
            "%C3%A9",
            "%",
            "=",
            "&",
            "18446744073709551615",
            "18446744073709551616",
        ])
        .run(|bytes| {
            let Ok(text) = std::str::from_utf8(bytes) else {
                return;
            };
            if let Ok(p) = ChargePayload::parse(text) {
                settlenet_fuzz::accepted();
                let again =
                    ChargePayload::parse(&p.to_uri()).expect("a parsed payload prints back");
                assert_eq!(again, p);
            }
        });
}
