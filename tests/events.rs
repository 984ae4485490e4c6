//! End to end, the event stream (`GET /v1/events`) of four validator processes: a subscriber
//! reads live events, disconnects mid-way while payments keep committing, reconnects with
//! `Last-Event-ID`, and must have received every committed transaction exactly once and in
//! chain order, each block's event after its transactions; a raw read checks the SSE ids and a
//! resume inside a block; the account filter sends only the transactions that changed the
//! account; hostile `from`, `account` and `Last-Event-ID` values are refused with 400; the
//! connection cap answers 503 (and a slot frees when its client leaves); the typed client reconnects by itself when its node is killed
//! and restarted, and resumes exactly.

mod common;

use common::*;
use settlenet_api::client::{EventStream, EventsRequest};
use settlenet_api::events::{SseFrame, SseParser};
use settlenet_api::{ErrorBody, EventId, StreamEvent, TxEventStatus};
use settlenet_node::testnet::NodeEntry;
use settlenet_types::{Height, TxId};
use std::collections::HashSet;
use std::time::Duration;

/// The stream cap every node runs with here (small, to reach it).
const STREAMS_MAX: usize = 3;

/// How long one read of a stream may wait before the test fails.
const READ_WAIT: Duration = Duration::from_secs(20);

fn configure(entry: &NodeEntry) {
    edit_config(entry, |c| c.api.max_event_streams = STREAMS_MAX);
}

async fn next(stream: &mut EventStream) -> StreamEvent {
    tokio::time::timeout(READ_WAIT, stream.next())
        .await
        .expect("an event in time")
        .expect("an event")
}

/// Read events until the block event of `last` (included).
async fn read_through(stream: &mut EventStream, last: u64, out: &mut Vec<StreamEvent>) {
    loop {
        let e = next(stream).await;
        let done = matches!(&e, StreamEvent::Block(b) if b.height.0 == last);
        out.push(e);
        if done {
            return;
        }
    }
}

/// The events a stream of blocks `from..=to` must carry, from the blocks themselves: each
/// transaction's (height, index, id), then the block, in chain order.
async fn expected_events(net: &Net, from: u64, to: u64) -> Vec<(EventId, Option<TxId>)> {
    let mut out = Vec::new();
    for h in from..=to {
        let b = net.block(0, h).await.expect("block");
        for (i, t) in b.transactions.iter().enumerate() {
            out.push((
                EventId::tx(Height(h), u32::try_from(i).expect("index")),
                Some(t.id),
            ));
        }
        out.push((EventId::block(Height(h)), None));
    }
    out
}

fn shape(events: &[StreamEvent]) -> Vec<(EventId, Option<TxId>)> {
    events
        .iter()
        .map(|e| match e {
            StreamEvent::Tx(t) => (e.id(), Some(t.id)),
            StreamEvent::Block(_) => (e.id(), None),
        })
        .collect()
}

/// Open `GET /v1/events` on node `i` by hand; the status and, on 2xx, the open response.
async fn raw_open(
    net: &Net,
    i: usize,
    query: &str,
    last_event_id: Option<&str>,
) -> (u16, reqwest::Response) {
    let mut req = net
        .http
        .get(format!("{}/v1/events{query}", net.local.api(i)));
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    let resp = req.send().await.expect("GET /v1/events");
    (resp.status().as_u16(), resp)
}

/// The first SSE frame of an open response.
async fn first_frame(resp: &mut reqwest::Response) -> SseFrame {
    let mut parser = SseParser::new();
    loop {
        if let Some(f) = parser.next_frame() {
            return f;
        }
        let chunk = tokio::time::timeout(READ_WAIT, resp.chunk())
            .await
            .expect("bytes in time")
            .expect("read")
            .expect("the stream is open");
        parser.push(&chunk).expect("bounded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_delivered_once_in_order_across_a_reconnect() {
    let mut net = start_net_configured(&[], |_, e| configure(e)).await;
    let payer = Payer::setup(&net, 0, 1_000_000).await;
    let c = net.client(0).clone();
    let start = net.height(0).await + 1;

    // Live from the next block: the first wave of payments (and one that will be rejected).
    let mut live = c
        .events(EventsRequest {
            from: Some(start),
            ..Default::default()
        })
        .expect("stream")
        .retry_limit(20);
    let mut wave1: Vec<_> = (1..=8).map(|a| payer.payment(a)).collect();
    wave1.push(payer.payment(10_000_000)); // more than the wallet holds: rejected
    let rejected = wave1[8].tx.id;
    let answer = c.submit_batch(&wave1).await.expect("batch");
    assert_eq!(answer.accepted, 9, "{answer:?}");

    // Read a few events, then go away in the middle of the stream.
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next(&mut live).await);
    }
    let resume_after = live.last_id().expect("an event was read");
    drop(live);

    // Meanwhile, a second wave commits.
    let mut ids: Vec<TxId> = wave1.iter().map(|t| t.tx.id).collect();
    for a in 20..26 {
        ids.push(payer.pay(&net, 0, a).await);
    }
    for id in &ids {
        net.wait_final(0, *id).await;
    }
    let head = net.height(0).await;

    // Back, after the last event seen: the rest, nothing twice.
    let mut resumed = c
        .events(EventsRequest {
            after: Some(resume_after),
            ..Default::default()
        })
        .expect("stream")
        .retry_limit(20);
    read_through(&mut resumed, head, &mut seen).await;
    assert_eq!(shape(&seen), expected_events(&net, start, head).await);
    let delivered: Vec<TxId> = seen
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Tx(t) => Some(t.id),
            StreamEvent::Block(_) => None,
        })
        .collect();
    assert_eq!(
        delivered.iter().collect::<HashSet<_>>().len(),
        delivered.len(),
        "a transaction was delivered twice"
    );
    assert_eq!(
        ids.iter().collect::<HashSet<_>>(),
        delivered.iter().collect::<HashSet<_>>()
    );
    // Results and blocks as the node's other answers give them.
    for e in &seen {
        match e {
            StreamEvent::Tx(t) if t.id == rejected => {
                assert_eq!(t.status, TxEventStatus::Rejected, "{t:?}");
                assert_eq!(t.result, "insufficient_funds");
                assert!(t.changed.is_empty(), "{t:?}");
            }
            StreamEvent::Tx(t) => {
                assert_eq!(t.status, TxEventStatus::Committed, "{t:?}");
                assert_eq!((t.op.as_str(), t.result.as_str()), ("transfer", "ok"));
                assert!(
                    t.changed.contains(&payer.from) && t.changed.contains(&payer.to),
                    "{t:?}"
                );
            }
            StreamEvent::Block(b) => {
                let block = net.block(0, b.height.0).await.expect("block");
                assert_eq!(
                    (b.hash, b.state_root, b.txs, b.time_ms),
                    (
                        block.hash,
                        block.state_root,
                        block.tx_count,
                        block.timestamp
                    )
                );
            }
        }
    }

    // The SSE ids on the wire, and a resume inside a block: after `H:0` comes `H:1`.
    let multi = seen
        .iter()
        .find_map(|e| match e {
            StreamEvent::Block(b) if b.txs >= 2 => Some(b.height.0),
            _ => None,
        })
        .expect("a block with two transactions or more (the first wave was one batch)");
    let (code, mut resp) = raw_open(&net, 0, "?from=1", Some(&format!("{multi}:0"))).await;
    assert_eq!(code, 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let f = first_frame(&mut resp).await;
    assert_eq!(
        (f.event.as_str(), f.id.as_deref()),
        ("tx", Some(format!("{multi}:1").as_str())),
        "{f:?}"
    );
    drop(resp);
    let (code, mut resp) = raw_open(&net, 0, &format!("?from={head}"), None).await;
    assert_eq!(code, 200);
    let f = first_frame(&mut resp).await;
    let last_tx = expected_events(&net, head, head).await[0].0;
    assert_eq!(f.id, Some(last_tx.to_string()), "{f:?}");
    drop(resp);

    // The account filter: from the first block, only what changed the payee's wallet.
    let mut filtered = c
        .events(EventsRequest {
            from: Some(1),
            account: Some(payer.to),
            ..Default::default()
        })
        .expect("stream")
        .retry_limit(20);
    let mut fseen = Vec::new();
    read_through(&mut filtered, head, &mut fseen).await;
    drop(filtered);
    let blocks: Vec<u64> = fseen
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Block(b) => Some(b.height.0),
            StreamEvent::Tx(_) => None,
        })
        .collect();
    assert_eq!(
        blocks,
        (1..=head).collect::<Vec<_>>(),
        "every block, in order"
    );
    let history = c
        .history(payer.to, 100, None)
        .await
        .expect("history")
        .expect("the wallet exists");
    let mut from_history: Vec<TxId> = history.entries.iter().map(|e| e.tx).collect();
    from_history.reverse(); // newest first there
    let from_stream: Vec<TxId> = fseen
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Tx(t) => {
                assert!(t.changed.contains(&payer.to), "{t:?}");
                Some(t.id)
            }
            StreamEvent::Block(_) => None,
        })
        .collect();
    assert_eq!(from_stream, from_history);
    assert!(!from_stream.contains(&rejected));

    // A start far ahead just waits (no event, no error).
    let (code, mut resp) = raw_open(&net, 0, "?from=1000000000", None).await;
    assert_eq!(code, 200);
    let waited = tokio::time::timeout(Duration::from_millis(500), resp.chunk()).await;
    assert!(waited.is_err(), "an event from the future: {waited:?}");
    drop(resp);

    // Hostile values: 400 with the usual error body, naming the parameter.
    let long = "f".repeat(10_000);
    let cases: Vec<(String, Option<&str>, &str)> = vec![
        ("?from=-1".into(), None, "invalid_from"),
        ("?from=abc".into(), None, "invalid_from"),
        ("?from=%2B5".into(), None, "invalid_from"),
        ("?from=18446744073709551616".into(), None, "invalid_from"),
        ("?from=1%00".into(), None, "invalid_from"),
        (format!("?from={long}"), None, "invalid_from"),
        ("?account=zz".into(), None, "invalid_account"),
        ("?account=".into(), None, "invalid_account"),
        (format!("?account={long}"), None, "invalid_account"),
        ("?account=%FF%FE".into(), None, "invalid_account"),
        ("?from=1&from=2".into(), None, "invalid_query"),
        ("".into(), Some("1:x"), "invalid_last_event_id"),
        ("".into(), Some("-1"), "invalid_last_event_id"),
        (
            "?from=1".into(),
            Some("18446744073709551615"),
            "invalid_last_event_id",
        ),
    ];
    for (query, header, code) in &cases {
        let (status, resp) = raw_open(&net, 0, query, *header).await;
        let body = resp.bytes().await.expect("body");
        let shown: String = query.chars().take(40).collect();
        assert_eq!(status, 400, "{shown} {header:?}");
        let e: ErrorBody = serde_json::from_slice(&body)
            .unwrap_or_else(|err| panic!("{shown}: not an error body ({err})"));
        assert_eq!(e.error.code, *code, "{shown} {header:?}: {e:?}");
        assert!(e.error.message.len() < 300, "{shown}: {e:?}");
    }

    // The cap: node3 serves STREAMS_MAX streams; one more is refused while they are open.
    let mut open = Vec::new();
    for _ in 0..STREAMS_MAX {
        let (code, resp) = raw_open(&net, 3, "", None).await;
        assert_eq!(code, 200);
        open.push(resp);
    }
    let (code, resp) = raw_open(&net, 3, "", None).await;
    assert_eq!(code, 503);
    let e: ErrorBody = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("body");
    assert_eq!(e.error.code, "too_many_streams", "{e:?}");
    assert!(e.error.message.contains(&STREAMS_MAX.to_string()), "{e:?}");
    // A client that goes away frees its slot (at once in practice: the server sees the
    // connection close; at the latest at the next keep-alive, 15 s).
    drop(open);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (code, resp) = raw_open(&net, 3, "", None).await;
        drop(resp);
        if code == 200 {
            break;
        }
        assert_eq!(code, 503);
        assert!(std::time::Instant::now() < deadline, "no slot freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The client reconnects by itself: node2 is killed and restarted under its stream, which
    // then goes on exactly after the last event it returned.
    let mut auto = net
        .client(2)
        .events(EventsRequest {
            from: Some(start),
            ..Default::default()
        })
        .expect("stream")
        .retry_limit(30);
    let mut aseen = Vec::new();
    for _ in 0..2 {
        aseen.push(next(&mut auto).await);
    }
    net.kill9(2);
    net.restart(2);
    // New blocks, which only a new connection can bring.
    let mut more = Vec::new();
    for a in 30..33 {
        more.push(payer.pay(&net, 0, a).await);
    }
    for id in &more {
        net.wait_final(0, *id).await;
    }
    let head = net.height(0).await;
    read_through(&mut auto, head, &mut aseen).await;
    assert!(auto.reconnects() >= 1, "the stream did not reconnect");
    assert_eq!(shape(&aseen), expected_events(&net, start, head).await);
}
