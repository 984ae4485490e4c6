//! Fuzz target `api_event_stream`: the API client's reader of a node's event stream
//! (`SseParser`, the `text/event-stream` format) and the typed events in its frames (`TxEvent`,
//! `BlockEvent`, `StreamEvent`, `EventId`), all of which come from a node over HTTP.
//!
//! For every input: no panic, memory bounded by `SSE_LINE_MAX`; the frames do not depend on how
//! the bytes were split into chunks; an event that parses prints back to itself.
//!
//! Seeds: `fuzz/corpus/api_event_stream/` (a stream of block and transaction events as the
//! node writes them, with keep-alive comments, CRLF line ends and a multi-line data field).

use settlenet_api::events::{SseFrame, SseParser};
use settlenet_api::{BlockEvent, EventId, StreamEvent, TxEvent};
use settlenet_fuzz::Target;

const STREAM: &str = ": keep-alive\n\n\
event: tx\nid: 7-0\ndata: {\"type\":\"tx\",\"id\":\"7-0\",\"height\":7,\"index\":0}\n\n\
event: block\r\nid: 7\r\ndata: {\"type\":\"block\",\"id\":\"7\",\"height\":7}\r\n\r\n\
data: line one\ndata: line two\n\n\
event: error\ndata: {\"error\":\"lagged\",\"message\":\"resume from 7\"}\n\n";

/// Every frame of `bytes` fed in chunks of `chunk` bytes (0: all at once), and whether the
/// parser kept within its bounds.
fn frames(bytes: &[u8], chunk: usize) -> (Vec<SseFrame>, bool) {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    let pieces: Vec<&[u8]> = if chunk == 0 {
        vec![bytes]
    } else {
        bytes.chunks(chunk).collect()
    };
    for piece in pieces {
        if p.push(piece).is_err() {
            return (out, false);
        }
        while let Some(f) = p.next_frame() {
            out.push(f);
        }
    }
    (out, true)
}

#[test]
fn fuzz_event_stream() {
    Target::new("api_event_stream")
        .samples(vec![("stream.txt".into(), STREAM.as_bytes().to_vec())])
        .tokens(&[
            "event:",
            "id:",
            "data:",
            "retry:",
            ": ",
            "\n\n",
            "\r\n\r\n",
            "\r",
            "tx",
            "block",
            "error",
            "\"type\":\"tx\"",
            "\"type\":\"block\"",
            "7-0",
            "18446744073709551615-1",
        ])
        .run(|bytes| {
            let (whole, ok) = frames(bytes, 0);
            for chunk in [1, 3, 64] {
                let (split, split_ok) = frames(bytes, chunk);
                assert_eq!(ok, split_ok, "chunks of {chunk} changed the outcome");
                assert_eq!(split, whole, "chunks of {chunk} changed the frames");
            }
            for f in whole {
                settlenet_fuzz::accepted();
                if let Some(id) = &f.id {
                    if let Ok(parsed) = id.parse::<EventId>() {
                        let back: EventId = parsed.to_string().parse().expect("prints back");
                        assert_eq!(back, parsed);
                        let _ = parsed.resume_position();
                    }
                }
                if let Ok(e) = serde_json::from_str::<StreamEvent>(&f.data) {
                    let json = serde_json::to_string(&e).expect("json");
                    let back: StreamEvent = serde_json::from_str(&json).expect("its own JSON");
                    assert_eq!(back, e);
                    let _ = e.id();
                }
                let _ = serde_json::from_str::<TxEvent>(&f.data);
                let _ = serde_json::from_str::<BlockEvent>(&f.data);
            }
        });
}
