//! CSV batch files, read record by record (a 100,000-line file never sits in memory as text).

use crate::model::Location;
use crate::validate::{Builder, FieldNames, PartyKey, RawField, RawInstruction, RawParty};
use crate::ReasonCode;
use std::io::Read;

const NAMES: FieldNames = FieldNames {
    id: "id",
    debtor: "debtor",
    creditor: "creditor",
    amount: "amount",
    currency: "currency",
};

/// Columns a CSV file may have; the first five are required.
const COLUMNS: [&str; 7] = [
    "id",
    "debtor",
    "creditor",
    "amount",
    "currency",
    "reference",
    "creditor_phone",
];
const REQUIRED: usize = 5;

/// Read a CSV batch into `b`.
pub(crate) fn parse_csv<R: Read>(input: R, b: &mut Builder<'_>) {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .flexible(true)
        .from_reader(input);

    // Column index of each known column, from the header line.
    let mut index: [Option<usize>; 7] = [None; 7];
    let header_line;
    let header_fields;
    match rdr.headers() {
        Ok(h) => {
            header_fields = h.len();
            header_line = h.position().map(|p| p.line()).unwrap_or(1);
            for (i, name) in h.iter().enumerate() {
                let norm = name
                    .trim()
                    .trim_start_matches('\u{feff}')
                    .to_ascii_lowercase();
                match COLUMNS.iter().position(|c| *c == norm) {
                    Some(k) if index[k].is_some() => b.problem(
                        Location::Line(header_line),
                        &norm,
                        ReasonCode::InvalidFileFormat,
                        format!("column {norm:?} appears twice in the header"),
                        None,
                    ),
                    Some(k) => index[k] = Some(i),
                    None => b.problem(
                        Location::Line(header_line),
                        name,
                        ReasonCode::InvalidFileFormat,
                        format!(
                            "unknown column {name:?}; the columns are {}",
                            COLUMNS.join(",")
                        ),
                        None,
                    ),
                }
            }
        }
        Err(e) => {
            b.problem(
                Location::Line(1),
                "header",
                ReasonCode::InvalidFileFormat,
                format!("cannot read the header line: {e}"),
                None,
            );
            return;
        }
    }
    let mut missing = false;
    for (k, col) in COLUMNS.iter().enumerate().take(REQUIRED) {
        if index[k].is_none() {
            missing = true;
            b.problem(
                Location::Line(header_line),
                col,
                ReasonCode::InvalidFileFormat,
                format!(
                    "the header has no {col:?} column (expected id,debtor,creditor,amount,currency[,reference][,creditor_phone])"
                ),
                None,
            );
        }
    }
    if missing {
        return;
    }

    let mut record = csv::StringRecord::new();
    loop {
        if b.full {
            return;
        }
        match rdr.read_record(&mut record) {
            Ok(false) => return,
            Ok(true) => {
                let line = record.position().map(|p| p.line()).unwrap_or(0);
                if record.iter().all(|f| f.is_empty()) {
                    continue; // a line of only commas
                }
                let cell = |k: usize| -> Option<RawField> {
                    let i = index[k]?;
                    let v = record.get(i)?;
                    if v.is_empty() {
                        return None;
                    }
                    Some(RawField::new(v, Location::Line(line), COLUMNS[k]))
                };
                let party = |k: usize| -> Option<RawParty> {
                    cell(k).map(|f| RawParty {
                        key: PartyKey::Any(f.value),
                        location: f.location,
                        field: f.field,
                    })
                };
                let mut raw = RawInstruction::new(Location::Line(line), NAMES);
                raw.id = cell(0);
                raw.debtor = party(1);
                raw.creditor = party(2);
                raw.amount = cell(3);
                raw.currency = cell(4);
                raw.reference = cell(5);
                raw.creditor_phone = cell(6);
                if record.len() > header_fields {
                    b.problem(
                        Location::Line(line),
                        "record",
                        ReasonCode::InvalidFileFormat,
                        format!(
                            "has {} fields but the header has {header_fields}",
                            record.len()
                        ),
                        raw.id.as_ref().map(|f| f.value.as_str()),
                    );
                }
                b.instruction(raw);
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                b.problem(
                    Location::Line(line),
                    "record",
                    ReasonCode::InvalidFileFormat,
                    format!("cannot read the record: {}", csv_error_text(&e)),
                    None,
                );
                if !matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    return; // an I/O error: nothing more can be read
                }
            }
        }
    }
}

fn csv_error_text(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "it is not valid UTF-8".to_string(),
        _ => e.to_string(),
    }
}
