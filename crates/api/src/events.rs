//! `GET /v1/events`: the ledger as a stream of Server-Sent Events, and a reader for that stream.
//!
//! # The stream
//!
//! For each committed block, in height order: one `tx` event per transaction of the block, in
//! block order (only those that changed the `account` asked for, if one was), **then** the
//! `block` event. The block event closes its block: a client that saw it has seen every
//! transaction event of that block it asked for.
//!
//! ```text
//! event: tx
//! id: 7:0
//! data: {"id":"…","height":7,"index":0,"op":"transfer","status":"committed","result":"ok","changed":["…","…"]}
//!
//! event: block
//! id: 7
//! data: {"height":7,"hash":"…","time_ms":1795000000000,"txs":1,"state_root":"…"}
//! ```
//!
//! A block whose start expired holds or charge requests (consensus time reached their
//! deadline; no transaction did it) lists their entries in its event's `expired`, so a client
//! following a charge request's entry (`account=`) sees every change of its state once: each
//! transaction that changed it as a `tx` event, an expiry in a `block` event.
//!
//! The SSE `id` of an event is its [`EventId`]: `HEIGHT` for a block, `HEIGHT:INDEX` for a
//! transaction. Resuming after an id (the `Last-Event-ID` header) continues with exactly the
//! next event: after `7:0`, the transaction at index 1 of block 7 (or block 7's event); after
//! `7`, block 8's first transaction.
//!
//! # Design
//!
//! The types are the wire format (the `data` of each event is the JSON of [`BlockEvent`] or
//! [`TxEvent`]); [`StreamEvent`] is either, tagged with `type` for programs that print one JSON
//! object per line. [`SseParser`] is a small, bounded reader of the SSE text format (no I/O),
//! used by `client::EventStream`.

use serde::{Deserialize, Serialize};
use settlenet_types::{AccountId, Hash, Height, TxId};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// The SSE event name of a [`BlockEvent`].
pub const EVENT_BLOCK: &str = "block";
/// The SSE event name of a [`TxEvent`].
pub const EVENT_TX: &str = "tx";
/// The SSE event name of the [`crate::ErrorBody`] a stream may end with (e.g. the blocks it was
/// reading were replaced by a state snapshot).
pub const EVENT_ERROR: &str = "error";

/// A committed block (sent after its transactions' events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockEvent {
    /// Its height.
    #[schema(value_type = u64)]
    pub height: Height,
    /// Its header hash.
    #[schema(value_type = String)]
    pub hash: Hash,
    /// Consensus timestamp, ms since the Unix epoch (0 for a null block).
    pub time_ms: u64,
    /// How many transactions it holds (all of them, whatever the stream's account filter).
    pub txs: u32,
    /// The ledger state root after executing it.
    #[schema(value_type = String)]
    pub state_root: Hash,
    /// Hold and charge-request entries that consensus time expired at the start of this block
    /// (no transaction changed them), by account id; with an `account` filter, only that
    /// account if it expired. Omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub expired: Vec<AccountId>,
}

/// What executing a transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TxEventStatus {
    /// The ledger applied it (`result` is `ok`).
    Committed,
    /// The ledger recorded it and refused it: nothing changed (`result` is the reason).
    Rejected,
    /// A repeat of an id executed earlier: nothing happened (`result` is `duplicate`, or
    /// `exists_with_different_body` if the repeat's body differs).
    Duplicate,
}

impl TxEventStatus {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            TxEventStatus::Committed => "committed",
            TxEventStatus::Rejected => "rejected",
            TxEventStatus::Duplicate => "duplicate",
        }
    }
}

/// A transaction of a committed block and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxEvent {
    /// The transaction id.
    #[schema(value_type = String)]
    pub id: TxId,
    /// The block that executed it.
    #[schema(value_type = u64)]
    pub height: Height,
    /// Its position in that block.
    pub index: u32,
    /// The operation's name (`transfer`, `pay`, `settle_batch`, ...).
    pub op: String,
    /// What executing it did.
    pub status: TxEventStatus,
    /// The ledger's result code (`ok`, a rejection reason, `duplicate`).
    pub result: String,
    /// The accounts it changed, by id (empty unless `status` is `committed`).
    #[schema(value_type = Vec<String>)]
    pub changed: Vec<AccountId>,
}

/// One event of the stream, tagged by `type` (`block` or `tx`) when printed as one JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// A transaction.
    Tx(TxEvent),
    /// A block, after its transactions.
    Block(BlockEvent),
}

impl StreamEvent {
    /// The event's id: where a client resumes after it.
    pub fn id(&self) -> EventId {
        match self {
            StreamEvent::Block(b) => EventId::block(b.height),
            StreamEvent::Tx(t) => EventId::tx(t.height, t.index),
        }
    }

    /// The SSE event name (`block` or `tx`).
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::Block(_) => EVENT_BLOCK,
            StreamEvent::Tx(_) => EVENT_TX,
        }
    }
}

/// The id of an event: `HEIGHT` (a block) or `HEIGHT:INDEX` (a transaction of that block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId {
    /// The block.
    pub height: Height,
    /// The transaction's position in it; `None` for the block event itself.
    pub index: Option<u32>,
}

impl EventId {
    /// The id of block `height`'s event.
    pub fn block(height: Height) -> EventId {
        EventId {
            height,
            index: None,
        }
    }

    /// The id of the event of transaction `index` of block `height`.
    pub fn tx(height: Height, index: u32) -> EventId {
        EventId {
            height,
            index: Some(index),
        }
    }

    /// Where a stream resumed after this event starts: (height, first transaction index to
    /// send in it). After a block, the next block from its first transaction; after a
    /// transaction, the same block from the next index. `None` if that position does not
    /// exist (after block `u64::MAX`).
    pub fn resume_position(self) -> Option<(Height, u64)> {
        match self.index {
            None => self.height.0.checked_add(1).map(|h| (Height(h), 0)),
            Some(i) => Some((self.height, u64::from(i) + 1)),
        }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            None => write!(f, "{}", self.height.0),
            Some(i) => write!(f, "{}:{i}", self.height.0),
        }
    }
}

/// An event id that is not `HEIGHT` or `HEIGHT:INDEX` (decimal, no sign, no spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEventId(pub String);

impl fmt::Display for InvalidEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The text came from outside: quote at most 40 characters of it.
        let shown: String = self.0.chars().take(40).collect();
        write!(
            f,
            "event id {shown:?} is not HEIGHT or HEIGHT:INDEX (decimal integers)"
        )
    }
}

impl std::error::Error for InvalidEventId {}

impl FromStr for EventId {
    type Err = InvalidEventId;

    fn from_str(text: &str) -> Result<EventId, InvalidEventId> {
        let invalid = || InvalidEventId(text.to_string());
        // Digits only: `u64::from_str` would also take a leading `+`.
        fn number(t: &str) -> Option<&str> {
            (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then_some(t)
        }
        let (height, index) = match text.split_once(':') {
            None => (text, None),
            Some((h, i)) => (h, Some(i)),
        };
        let height = number(height)
            .and_then(|h| h.parse::<u64>().ok())
            .ok_or_else(invalid)?;
        let index = match index {
            None => None,
            Some(i) => Some(
                number(i)
                    .and_then(|i| i.parse::<u32>().ok())
                    .ok_or_else(invalid)?,
            ),
        };
        Ok(EventId {
            height: Height(height),
            index,
        })
    }
}

/// One event of an SSE stream as sent: its `event` name (`message` if none), its `id` (if the
/// event carried one) and its `data` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseFrame {
    /// The `event:` field.
    pub event: String,
    /// The `id:` field of this event, if it had one.
    pub id: Option<String>,
    /// The `data:` fields, joined by newlines.
    pub data: String,
}

/// The SSE stream broke the reader's bounds: a line or an event's data longer than
/// [`SSE_LINE_MAX`] bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseTooLong {
    /// How many bytes the line or data had reached.
    pub bytes: usize,
}

impl fmt::Display for SseTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an event stream line or event reached {} bytes (the reader's limit is {SSE_LINE_MAX})",
            self.bytes
        )
    }
}

impl std::error::Error for SseTooLong {}

/// Longest line, and longest data of one event, [`SseParser`] holds (a node's events are a
/// few hundred bytes; a `tx` event's `changed` list is bounded by the ledger).
pub const SSE_LINE_MAX: usize = 1 << 20;

/// A reader of the `text/event-stream` format (the WHATWG HTML standard's "event stream
/// interpretation", without `retry`): feed it bytes as they arrive, take complete events out.
/// Comments (keep-alives) are skipped. Memory is bounded by [`SSE_LINE_MAX`].
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line not yet terminated.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    /// The event being assembled.
    event: Option<String>,
    id: Option<String>,
    data: String,
    has_data: bool,
    /// Events complete and not taken yet.
    ready: std::collections::VecDeque<SseFrame>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feed the next bytes of the stream.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), SseTooLong> {
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line()?,
                b'\r' => {
                    self.end_line()?;
                    self.after_cr = true;
                }
                _ => {
                    if self.line.len() >= SSE_LINE_MAX {
                        return Err(SseTooLong {
                            bytes: self.line.len() + 1,
                        });
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    /// The next complete event, if any.
    pub fn next_frame(&mut self) -> Option<SseFrame> {
        self.ready.pop_front()
    }

    /// Forget any partial line and event (a new connection starts a new stream).
    pub fn reset(&mut self) {
        *self = SseParser::default();
    }

    fn end_line(&mut self) -> Result<(), SseTooLong> {
        let line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        if line.is_empty() {
            if self.has_data {
                self.ready.push_back(SseFrame {
                    event: self.event.take().unwrap_or_else(|| "message".to_string()),
                    id: self.id.take(),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.event = None;
            self.id = None;
            self.data.clear();
            self.has_data = false;
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
                if self.data.len() > SSE_LINE_MAX {
                    return Err(SseTooLong {
                        bytes: self.data.len(),
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip_and_refuse_anything_else() {
        let cases: &[(&str, Option<EventId>)] = &[
            ("7", Some(EventId::block(Height(7)))),
            ("7:0", Some(EventId::tx(Height(7), 0))),
            ("0", Some(EventId::block(Height(0)))),
            (
                "18446744073709551615:4294967295",
                Some(EventId::tx(Height(u64::MAX), u32::MAX)),
            ),
            ("", None),
            (":", None),
            ("7:", None),
            (":3", None),
            ("+7", None),
            ("-1", None),
            ("7:+1", None),
            (" 7", None),
            ("7:1:2", None),
            ("18446744073709551616", None),
            ("7:4294967296", None),
            ("abc", None),
        ];
        for (text, expected) in cases {
            let got = text.parse::<EventId>().ok();
            assert_eq!(&got, expected, "{text:?}");
            if let Some(id) = got {
                assert_eq!(id.to_string(), *text);
            }
        }
        let long = "9".repeat(1000);
        let err = long.parse::<EventId>().expect_err("too long");
        assert!(err.to_string().len() < 120, "{err}");
    }

    #[test]
    fn resuming_after_an_event_starts_at_the_next_one() {
        assert_eq!(
            EventId::block(Height(7)).resume_position(),
            Some((Height(8), 0))
        );
        assert_eq!(
            EventId::tx(Height(7), 2).resume_position(),
            Some((Height(7), 3))
        );
        assert_eq!(
            EventId::tx(Height(7), u32::MAX).resume_position(),
            Some((Height(7), u64::from(u32::MAX) + 1))
        );
        assert_eq!(EventId::block(Height(u64::MAX)).resume_position(), None);
    }

    #[test]
    fn stream_events_are_tagged_by_type() {
        let b = StreamEvent::Block(BlockEvent {
            height: Height(3),
            hash: Hash([1; 32]),
            time_ms: 5,
            txs: 0,
            state_root: Hash([2; 32]),
            expired: vec![],
        });
        let v = serde_json::to_value(&b).expect("json");
        assert_eq!(v["type"], "block");
        assert_eq!(v["height"], 3);
        assert!(v.get("expired").is_none(), "omitted when empty: {v}");
        let with = StreamEvent::Block(BlockEvent {
            expired: vec![AccountId([4; 16])],
            ..match &b {
                StreamEvent::Block(b) => b.clone(),
                StreamEvent::Tx(_) => unreachable!("a block event"),
            }
        });
        let v = serde_json::to_value(&with).expect("json");
        assert_eq!(v["expired"][0], AccountId([4; 16]).to_string());
        let back: StreamEvent = serde_json::from_value(v).expect("parses");
        assert_eq!(back, with);
        assert_eq!(b.id().to_string(), "3");
        let t = StreamEvent::Tx(TxEvent {
            id: TxId([3; 16]),
            height: Height(3),
            index: 1,
            op: "transfer".into(),
            status: TxEventStatus::Rejected,
            result: "insufficient_funds".into(),
            changed: vec![],
        });
        let v = serde_json::to_value(&t).expect("json");
        assert_eq!(v["type"], "tx");
        assert_eq!(v["status"], "rejected");
        assert_eq!(t.id().to_string(), "3:1");
        let back: StreamEvent = serde_json::from_value(v).expect("parses");
        assert_eq!(back, t);
    }

    fn frames(chunks: &[&[u8]]) -> Vec<SseFrame> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c).expect("within bounds");
            while let Some(f) = p.next_frame() {
                out.push(f);
            }
        }
        out
    }

    fn frame(event: &str, id: Option<&str>, data: &str) -> SseFrame {
        SseFrame {
            event: event.into(),
            id: id.map(String::from),
            data: data.into(),
        }
    }

    #[test]
    fn the_parser_reads_events_however_the_bytes_are_cut() {
        let stream = b"event: tx\nid: 7:0\ndata: {\"a\":1}\n\n:keep-alive\n\nevent:block\r\nid:7\r\ndata:x\r\ndata: y\r\n\r\ndata\n\n";
        let expected = vec![
            frame("tx", Some("7:0"), "{\"a\":1}"),
            frame("block", Some("7"), "x\ny"),
            frame("message", None, ""),
        ];
        assert_eq!(frames(&[stream]), expected);
        // Every way of cutting it in two gives the same events (a `\r\n` split included).
        for cut in 0..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(frames(&[a, b]), expected, "cut at {cut}");
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(frames(&bytes), expected);
        // Lone `\r` line ends; an event without data is not dispatched; an unknown field and
        // an id with NUL are ignored.
        assert_eq!(
            frames(&[b"event: x\r\rid: a\0b\rretry: 5\rdata: d\r\r"]),
            vec![frame("message", None, "d")]
        );
    }

    #[test]
    fn the_parser_is_bounded() {
        let mut p = SseParser::new();
        let long = vec![b'a'; SSE_LINE_MAX];
        p.push(&long).expect("at the limit");
        assert!(p.push(b"a").is_err());
        let mut p = SseParser::new();
        let half = format!("data: {}\n", "b".repeat(SSE_LINE_MAX / 2 + 1));
        p.push(half.as_bytes()).expect("one line");
        assert!(p.push(half.as_bytes()).is_err());
    }
}
