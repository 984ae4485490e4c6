//! JSON batch files.
//!
//! The file is read whole (bounded by [`JSON_BYTES_MAX`]) into a `serde_json::Value` and then
//! checked field by field, so that every problem is reported with its JSON Pointer rather than
//! the first one serde would stop at.

use crate::model::Location;
use crate::validate::{Builder, FieldNames, PartyKey, RawField, RawInstruction, RawParty};
use crate::ReasonCode;
use serde_json::Value;

/// Largest JSON batch file accepted (a 1,000,000-instruction file is about 150 MB).
pub const JSON_BYTES_MAX: usize = 256 * 1024 * 1024;

const NAMES: FieldNames = FieldNames {
    id: "id",
    debtor: "debtor",
    creditor: "creditor",
    amount: "amount",
    currency: "currency",
};

const TOP_KEYS: [&str; 3] = ["currency", "message_id", "instructions"];
const KEYS: [&str; 7] = [
    "id",
    "debtor",
    "creditor",
    "amount",
    "currency",
    "reference",
    "creditor_phone",
];

fn ptr(base: &str, key: &str) -> Location {
    Location::JsonPath(format!("{base}/{key}"))
}

/// A string value, or a problem saying it must be one.
fn string_field(
    b: &mut Builder<'_>,
    obj: &serde_json::Map<String, Value>,
    base: &str,
    key: &str,
) -> Option<RawField> {
    let reported = || RawField {
        reported: true,
        ..RawField::new("", ptr(base, key), key)
    };
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(RawField::new(s.clone(), ptr(base, key), key)),
        Some(Value::Number(n)) if key == "amount" => {
            b.problem(
                ptr(base, key),
                key,
                ReasonCode::InvalidAmount,
                format!("amounts are decimal strings (\"{n}\"), never JSON numbers, which may be floats"),
                None,
            );
            // Present, so that "missing" is not reported as well.
            Some(reported())
        }
        Some(_) => {
            b.problem(
                ptr(base, key),
                key,
                ReasonCode::InvalidFileFormat,
                "must be a string".into(),
                None,
            );
            Some(reported())
        }
    }
}

/// Read a JSON batch into `b`.
pub(crate) fn parse_json(bytes: &[u8], b: &mut Builder<'_>) {
    if bytes.len() > JSON_BYTES_MAX {
        b.problem(
            Location::File,
            "json",
            ReasonCode::InvalidFileFormat,
            format!(
                "the file has {} bytes; JSON batches are limited to {JSON_BYTES_MAX}",
                bytes.len()
            ),
            None,
        );
        return;
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let root: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            b.problem(
                Location::Line(e.line() as u64),
                "json",
                ReasonCode::InvalidFileFormat,
                format!("not valid JSON: {e}"),
                None,
            );
            return;
        }
    };
    let Value::Object(top) = root else {
        b.problem(
            Location::JsonPath(String::new()),
            "json",
            ReasonCode::InvalidFileFormat,
            "the file must be a JSON object with an \"instructions\" array".into(),
            None,
        );
        return;
    };
    for k in top.keys() {
        if !TOP_KEYS.contains(&k.as_str()) {
            b.problem(
                ptr("", k),
                k,
                ReasonCode::InvalidFileFormat,
                format!("unknown key; the keys are {}", TOP_KEYS.join(", ")),
                None,
            );
        }
    }
    if let Some(f) = string_field(b, &top, "", "message_id") {
        if !f.reported {
            b.message_id = Some(f.value);
        }
    }
    let file_currency = string_field(b, &top, "", "currency").filter(|f| !f.reported);
    if let Some(f) = &file_currency {
        b.check_currency(f, None);
    }
    let list = match top.get("instructions") {
        Some(Value::Array(list)) => list,
        Some(_) => {
            b.problem(
                ptr("", "instructions"),
                "instructions",
                ReasonCode::InvalidFileFormat,
                "must be an array".into(),
                None,
            );
            return;
        }
        None => {
            b.problem(
                ptr("", "instructions"),
                "instructions",
                ReasonCode::InvalidFileFormat,
                "is missing".into(),
                None,
            );
            return;
        }
    };
    for (i, item) in list.iter().enumerate() {
        if b.full {
            return;
        }
        let base = format!("/instructions/{i}");
        let Value::Object(obj) = item else {
            b.problem(
                Location::JsonPath(base),
                "instruction",
                ReasonCode::InvalidFileFormat,
                "must be an object".into(),
                None,
            );
            continue;
        };
        let mut prior_problem = false;
        for k in obj.keys() {
            if !KEYS.contains(&k.as_str()) {
                prior_problem = true;
                b.problem(
                    ptr(&base, k),
                    k,
                    ReasonCode::InvalidFileFormat,
                    format!("unknown key; the keys are {}", KEYS.join(", ")),
                    None,
                );
            }
        }
        let mut raw = RawInstruction::new(Location::JsonPath(base.clone()), NAMES);
        raw.prior_problem = prior_problem;
        raw.id = string_field(b, obj, &base, "id");
        let party = |f: Option<RawField>| {
            f.map(|f| RawParty {
                key: if f.reported {
                    PartyKey::Reported
                } else {
                    PartyKey::Any(f.value)
                },
                location: f.location,
                field: f.field,
            })
        };
        raw.debtor = party(string_field(b, obj, &base, "debtor"));
        raw.creditor = party(string_field(b, obj, &base, "creditor"));
        raw.amount = string_field(b, obj, &base, "amount");
        raw.currency = string_field(b, obj, &base, "currency").or_else(|| file_currency.clone());
        raw.reference = string_field(b, obj, &base, "reference");
        raw.creditor_phone = string_field(b, obj, &base, "creditor_phone");
        b.instruction(raw);
    }
}
