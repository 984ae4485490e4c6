//! `GET /v1/events`: committed blocks and transaction results as Server-Sent Events.
//!
//! ```text
//!   core ──commit_block──> store ──then──> Shared::committed (watch: the height)
//!                            │                     │ wakes
//!                            └── read ≤ 64 blocks ─┴── stream task (one per client) ──> SSE
//! ```
//! A stream reads everything from the store at its own pace: history first, then, once caught
//! up, it sleeps on the `watch` channel the core sets after each stored block and reads the new
//! blocks. The core never waits for a stream and a slow client loses nothing (a `watch` holds
//! one value, the latest height; the blocks are in the store). Nothing here touches consensus:
//! an observer node that stores blocks and sets the same channel can serve the same streams.
//!
//! Order and ids (see `settlenet_api::events`): per block, its transactions' `tx` events
//! (`HEIGHT:INDEX`), then the `block` event (`HEIGHT`). `Last-Event-ID` resumes exactly after
//! the event it names and wins over `from` (a browser's `EventSource` reconnects to the same URL,
//! `from` included, with the header set: the header is where the client is).
//!
//! Bounds: [`EVENT_STREAMS_DEFAULT`] concurrent streams (`[api] max_event_streams`; beyond it
//! 503), [`BLOCKS_PER_READ_MAX`] blocks and about [`TXS_PER_READ_MAX`] transactions per store
//! read (the events of one read are what a stream holds in memory), a keep-alive comment every
//! [`KEEP_ALIVE`].

use super::{bad, internal, ApiError, ApiState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use settlenet_api as wire;
use settlenet_api::{BlockEvent, EventId, StreamEvent, TxEvent, TxEventStatus};
use settlenet_ledger::TxRecord;
use settlenet_storage::Store;
use settlenet_types::{AccountId, Height};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Default most concurrent event streams per node (`[api] max_event_streams`).
pub const EVENT_STREAMS_DEFAULT: usize = 256;
/// Most blocks one store read of a stream covers.
pub const BLOCKS_PER_READ_MAX: u64 = 64;
/// A store read stops after the block that takes it to this many transactions (at least one
/// block is read, so a read holds at most this plus one block's transactions).
pub const TXS_PER_READ_MAX: usize = 4096;
/// Interval of the keep-alive comment (`: keep-alive`) on an idle stream; it also makes a
/// vanished client's connection fail, which ends its stream and frees its slot.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The event streams of one node: the slots (a semaphore of `[api] max_event_streams`
/// permits, one held by each open stream) and the shutdown signal that ends them (the
/// server's graceful shutdown waits for open responses, and a stream never ends on its own).
#[derive(Clone)]
pub struct EventStreams {
    /// One permit per stream allowed.
    slots: Arc<Semaphore>,
    /// The most streams.
    max: usize,
    /// `true`: the node is stopping.
    shutdown: watch::Receiver<bool>,
}

impl EventStreams {
    /// At most `max` concurrent streams, ended when `shutdown` turns `true`.
    pub fn new(max: usize, shutdown: watch::Receiver<bool>) -> EventStreams {
        EventStreams {
            slots: Arc::new(Semaphore::new(max)),
            max,
            shutdown,
        }
    }
}

/// The query of `GET /v1/events`, as text (parsed here, for our error codes).
#[derive(serde::Deserialize)]
pub(super) struct EventsQuery {
    from: Option<String>,
    account: Option<String>,
}

/// Where a stream starts: the block, and the first transaction index to send in it.
type Position = (Height, u64);

/// A decimal integer with digits only (`u64::from_str` would take a sign too).
fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The lowest height whose events this node can serve: 1, or on a node installed from a
/// snapshot the block after its base (the base block is held, but not what each of its
/// transactions changed), or the lowest full block retention kept (`blocks_from`).
fn lowest_served(base: Height, blocks_from: Height) -> Height {
    Height(base.0.saturating_add(1).max(1).max(blocks_from.0))
}

/// [`lowest_served`] of `store`.
fn lowest_served_by(store: &Store) -> Result<Height, settlenet_storage::StorageError> {
    Ok(lowest_served(store.base_height()?, store.blocks_from()?))
}

/// The start position a request asks for: `Last-Event-ID` (resume after it), else `from`, else
/// the next block to be committed (`head + 1`). `from=0` is the first block.
fn start_position(
    last_event_id: Option<&str>,
    from: Option<&str>,
    head: Height,
) -> Result<Position, ApiError> {
    if let Some(text) = last_event_id {
        let id: EventId = text.parse().map_err(|e: wire::events::InvalidEventId| {
            bad("invalid_last_event_id", e.to_string())
        })?;
        return id.resume_position().ok_or_else(|| {
            bad(
                "invalid_last_event_id",
                format!("no event follows {id}: heights end at {}", u64::MAX),
            )
        });
    }
    if let Some(text) = from {
        let h = parse_u64(text).ok_or_else(|| {
            let shown: String = text.chars().take(40).collect();
            bad(
                "invalid_from",
                format!("from {shown:?}: must be a block height (a non-negative decimal integer)"),
            )
        })?;
        return Ok((Height(h.max(1)), 0));
    }
    Ok((head.next(), 0))
}

/// The `below_base` refusal of a start below what this node serves.
fn below_base(start: Height, lowest: Height) -> ApiError {
    ApiError(
        StatusCode::GONE,
        "below_base",
        format!(
            "this node serves events from block {lowest} (it was installed from a state \
             snapshot below it, or keeps only its latest blocks: [sync] retain_blocks); block \
             {start} is older: ask a node that holds it"
        ),
    )
}

/// `GET /v1/events?from=H&account=ID` (and `Last-Event-ID`): see the module doc.
pub(super) async fn events(
    State(s): State<ApiState>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| bad("invalid_query", e.body_text()))?;
    let account = q
        .account
        .as_deref()
        .map(|a| {
            a.parse::<AccountId>().map_err(|e| {
                bad(
                    "invalid_account",
                    format!("account: {e} (an account id is 32 hex characters)"),
                )
            })
        })
        .transpose()?;
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str().map_err(|_| {
                bad(
                    "invalid_last_event_id",
                    "Last-Event-ID is not visible ASCII",
                )
            })
        })
        .transpose()?;
    // Subscribe before reading the head: a block stored after this point wakes the stream.
    let committed = s.shared.committed.subscribe();
    let head = s.store.last_height().map_err(internal)?;
    let start = start_position(last_event_id, q.from.as_deref(), head)?;
    let lowest = lowest_served_by(&s.store).map_err(internal)?;
    if start.0 < lowest {
        return Err(below_base(start.0, lowest));
    }
    let permit = s.events.slots.clone().try_acquire_owned().map_err(|_| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            format!(
                "this node serves at most {} event streams at once; retry later or ask \
                     another node",
                s.events.max
            ),
        )
    })?;
    let state = StreamState {
        store: s.store.clone(),
        account,
        next: start,
        queue: VecDeque::new(),
        committed,
        shutdown: s.events.shutdown.clone(),
        finished: false,
        _permit: permit,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        let event = st.next_event().await?;
        Some((Ok::<Event, Infallible>(event), st))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response())
}

/// One open stream.
struct StreamState {
    /// Where the events come from.
    store: Arc<Store>,
    /// Only transactions that changed this account.
    account: Option<AccountId>,
    /// The next position to read.
    next: Position,
    /// Events read and not yet sent (at most one store read's worth).
    queue: VecDeque<StreamEvent>,
    /// The committed height, set by the core after each stored block.
    committed: watch::Receiver<Height>,
    /// The node is stopping.
    shutdown: watch::Receiver<bool>,
    /// The stream sent its error event: end it.
    finished: bool,
    /// This stream's slot, freed when the stream is dropped (the client went away).
    _permit: OwnedSemaphorePermit,
}

impl StreamState {
    /// The next SSE event, waiting for blocks when caught up; `None` ends the stream.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(sse_event(&event));
            }
            if self.finished || *self.shutdown.borrow() {
                return None;
            }
            // Mark the current value seen before reading the head: a later block wakes us.
            self.committed.borrow_and_update();
            let head = match self.store.last_height() {
                Ok(h) => h,
                Err(e) => return Some(self.fail(ReadError::Store(e.to_string()))),
            };
            if self.next.0 > head {
                tokio::select! {
                    changed = self.committed.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                    _ = self.shutdown.changed() => return None,
                }
                continue;
            }
            let store = self.store.clone();
            let (account, next) = (self.account, self.next);
            let read =
                tokio::task::spawn_blocking(move || read_events(&store, account, next, head))
                    .await
                    .unwrap_or_else(|e| Err(ReadError::Store(format!("reader task: {e}"))));
            match read {
                Ok((events, next)) => {
                    self.queue.extend(events);
                    self.next = next;
                }
                Err(e) => return Some(self.fail(e)),
            }
        }
    }

    /// The error event a stream ends with.
    fn fail(&mut self, e: ReadError) -> Event {
        self.finished = true;
        let body = match e {
            ReadError::Gone { start, lowest } => {
                let e = below_base(start, lowest);
                wire::ErrorBody::new(e.1, e.2)
            }
            ReadError::Store(message) => wire::ErrorBody::new("internal", message),
        };
        Event::default()
            .event(wire::events::EVENT_ERROR)
            .data(serde_json::to_string(&body).unwrap_or_default())
    }
}

/// The SSE form of an event: its name, its id, its payload as JSON.
fn sse_event(event: &StreamEvent) -> Event {
    let data = match event {
        StreamEvent::Block(b) => serde_json::to_string(b),
        StreamEvent::Tx(t) => serde_json::to_string(t),
    };
    Event::default()
        .event(event.name())
        .id(event.id().to_string())
        .data(data.unwrap_or_default())
}

/// Why a stream cannot go on.
#[derive(Debug, PartialEq)]
enum ReadError {
    /// The blocks from `start` are gone (a snapshot was installed above them).
    Gone {
        /// The position the stream was at.
        start: Height,
        /// The lowest height now served.
        lowest: Height,
    },
    /// The store failed or holds something it should not.
    Store(String),
}

/// Read the events from `from` up to `head`: at most [`BLOCKS_PER_READ_MAX`] blocks, stopping
/// after the block that reaches [`TXS_PER_READ_MAX`] transactions. Returns the events and the
/// position after them (always the start of a block).
fn read_events(
    store: &Store,
    account: Option<AccountId>,
    from: Position,
    head: Height,
) -> Result<(Vec<StreamEvent>, Position), ReadError> {
    let store_err = |e: settlenet_storage::StorageError| ReadError::Store(e.to_string());
    let gone_check = |start: Height| -> Result<(), ReadError> {
        let lowest = lowest_served_by(store).map_err(store_err)?;
        if start < lowest {
            return Err(ReadError::Gone { start, lowest });
        }
        Ok(())
    };
    gone_check(from.0)?;
    let (mut h, mut first_tx) = from;
    let mut events = Vec::new();
    let mut txs_read = 0usize;
    let mut blocks_read = 0u64;
    while h <= head && blocks_read < BLOCKS_PER_READ_MAX && txs_read < TXS_PER_READ_MAX {
        let Some(stored) = store.block(h).map_err(store_err)? else {
            // Not held although at or below the head: replaced by a snapshot meanwhile.
            gone_check(h)?;
            return Err(ReadError::Store(format!(
                "the store holds no block {h} below its head {head}"
            )));
        };
        let mut changes: Vec<Vec<AccountId>> = vec![Vec::new(); stored.block.txs.len()];
        let mut expired = Vec::new();
        for (index, account_changed) in store.block_changes(h).map_err(store_err)? {
            if index == settlenet_storage::EXPIRED_POSITION {
                if account.is_none_or(|a| a == account_changed) {
                    expired.push(account_changed);
                }
            } else if let Some(c) = changes.get_mut(index as usize) {
                c.push(account_changed);
            }
        }
        for (index, (signed, changed)) in stored.block.txs.iter().zip(changes).enumerate() {
            if (index as u64) < first_tx {
                continue;
            }
            if account.is_some_and(|a| !changed.contains(&a)) {
                continue;
            }
            let index = u32::try_from(index)
                .map_err(|_| ReadError::Store(format!("block {h} holds over u32::MAX txs")))?;
            let record: Option<TxRecord> = store
                .record(&signed.tx.id)
                .map_err(store_err)?
                .map(|bytes| settlenet_types::decode("tx record", &bytes))
                .transpose()
                .map_err(|e| ReadError::Store(format!("tx record {}: {e}", signed.tx.id)))?;
            let (status, result) = match record {
                Some(r) if r.height == h && r.index == index => {
                    let status = if r.result.is_ok() {
                        TxEventStatus::Committed
                    } else {
                        TxEventStatus::Rejected
                    };
                    (status, r.result.as_str())
                }
                // An id executed at another position: the ledger ignored this repeat.
                Some(r) => {
                    let same_body = signed.tx.intent_hash().is_ok_and(|b| b == r.body_hash);
                    let result = if same_body {
                        "duplicate"
                    } else {
                        settlenet_ledger::ResultCode::ExistsWithDifferentBody.as_str()
                    };
                    (TxEventStatus::Duplicate, result)
                }
                // Refused by the block without a record (outside its validity): the same
                // verdict, recomputed from the block's time.
                None => match settlenet_ledger::Ledger::unrecorded_refusal(
                    &signed.tx,
                    stored.block.header.timestamp_ms,
                ) {
                    Some(code) => (TxEventStatus::Rejected, code.as_str()),
                    None => {
                        return Err(ReadError::Store(format!(
                            "transaction {} of block {h} has no record",
                            signed.tx.id
                        )))
                    }
                },
            };
            events.push(StreamEvent::Tx(TxEvent {
                id: signed.tx.id,
                height: h,
                index,
                op: signed.tx.op.name().to_string(),
                status,
                result: result.to_string(),
                changed,
            }));
        }
        let header = &stored.block.header;
        events.push(StreamEvent::Block(BlockEvent {
            height: h,
            hash: stored.hash,
            time_ms: header.timestamp_ms,
            txs: header.tx_count,
            state_root: stored.state_root,
            expired,
        }));
        txs_read += stored.block.txs.len();
        blocks_read += 1;
        first_tx = 0;
        h = h.next();
    }
    // A snapshot installed during the read may have replaced what was read.
    gone_check(from.0)?;
    Ok((events, (h, first_tx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_of_a_stream() {
        let head = Height(9);
        /// (Last-Event-ID, from, expected start or error code)
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<Position, &'a str>);
        let cases: &[Case] = &[
            (None, None, Ok((Height(10), 0))),
            (None, Some("3"), Ok((Height(3), 0))),
            (None, Some("0"), Ok((Height(1), 0))),
            (None, Some("1000000"), Ok((Height(1_000_000), 0))),
            (Some("3"), None, Ok((Height(4), 0))),
            (Some("3:0"), None, Ok((Height(3), 1))),
            (Some("3:0"), Some("1"), Ok((Height(3), 1))),
            (Some("0"), None, Ok((Height(1), 0))),
            (None, Some("-1"), Err("invalid_from")),
            (None, Some("+3"), Err("invalid_from")),
            (None, Some(""), Err("invalid_from")),
            (None, Some("18446744073709551616"), Err("invalid_from")),
            (None, Some("3;drop"), Err("invalid_from")),
            (Some("x"), Some("3"), Err("invalid_last_event_id")),
            (
                Some("18446744073709551615"),
                None,
                Err("invalid_last_event_id"),
            ),
        ];
        for (last, from, expected) in cases {
            let got = start_position(*last, *from, head).map_err(|e| e.1);
            assert_eq!(&got, expected, "Last-Event-ID {last:?}, from {from:?}");
        }
    }

    #[test]
    fn a_snapshot_node_serves_from_the_block_after_its_base() {
        assert_eq!(lowest_served(Height(0), Height(1)), Height(1));
        assert_eq!(lowest_served(Height(64), Height(64)), Height(65));
        assert_eq!(lowest_served(Height(u64::MAX), Height(1)), Height(u64::MAX));
        // Retention: from the lowest full block kept.
        assert_eq!(lowest_served(Height(0), Height(5_000)), Height(5_000));
        assert_eq!(lowest_served(Height(64), Height(5_000)), Height(5_000));
        let e = below_base(Height(3), Height(65));
        assert_eq!((e.0, e.1), (StatusCode::GONE, "below_base"));
        assert!(e.2.contains("from block 65"), "{}", e.2);
    }
}
