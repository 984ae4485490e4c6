//! The wire format of both protocols: one length-prefixed frame per stream direction.
//!
//! ```text
//! +----------------------+---------------------------+
//! | length: u32, BE      | payload: `length` bytes   |
//! +----------------------+---------------------------+
//! ```
//!
//! A length above [`MAX_FRAME_BYTES`] is an `InvalidData` error, raised before any buffer is
//! sized from it; the payload is then read incrementally, so a peer that announces a large frame
//! and sends nothing cannot make us reserve it up front.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::bytes::Bytes;
use libp2p::request_response;
use libp2p::StreamProtocol;

/// Largest payload accepted or sent in one frame: the workspace-wide bound on any encoded value.
pub const MAX_FRAME_BYTES: usize = settlenet_types::codec::MAX_MESSAGE_BYTES;

/// Protocol of fire-and-forget messages (request = payload, response = empty ack).
pub const MSG_PROTOCOL: StreamProtocol = StreamProtocol::new("/settlenet/msg/1");

/// Protocol of sync requests (request and response are both payloads).
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/settlenet/sync/1");

/// Initial read buffer; the buffer grows with the bytes that actually arrive.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Reads one frame. Errors (never panics, never over-allocates) on an oversized length prefix or
/// a stream that ends early.
pub async fn read_frame<T>(io: &mut T, max_frame_bytes: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let length_bytes = u32::from_be_bytes(prefix) as usize;
    if length_bytes > max_frame_bytes {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {length_bytes} bytes exceeds the limit of {max_frame_bytes} bytes"),
        ));
    }
    let mut payload = Vec::with_capacity(length_bytes.min(READ_CHUNK_BYTES));
    // `take` caps what `read_to_end` may append, so the buffer never exceeds the announced length.
    io.take(length_bytes as u64)
        .read_to_end(&mut payload)
        .await?;
    if payload.len() != length_bytes {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "frame announced {length_bytes} bytes, stream ended after {}",
                payload.len()
            ),
        ));
    }
    Ok(payload)
}

/// Writes one frame. Refuses (as `InvalidInput`) a payload over the limit.
pub async fn write_frame<T>(io: &mut T, payload: &[u8], max_frame_bytes: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    let length = match u32::try_from(payload.len()) {
        Ok(length) if payload.len() <= max_frame_bytes => length,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "frame of {} bytes exceeds the limit of {max_frame_bytes} bytes",
                    payload.len()
                ),
            ))
        }
    };
    io.write_all(&length.to_be_bytes()).await?;
    io.write_all(payload).await?;
    io.flush().await
}

/// `request_response` codec for both protocols: every request and response is one frame.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    /// Limit applied to both directions; [`MAX_FRAME_BYTES`] in production, small in tests.
    pub max_frame_bytes: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self {
            max_frame_bytes: MAX_FRAME_BYTES,
        }
    }
}

#[async_trait::async_trait]
impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    // `Bytes` so a broadcast shares one buffer between all peers instead of copying it per peer.
    type Request = Bytes;
    type Response = Bytes;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Bytes>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_frame_bytes).await.map(Bytes::from)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Bytes>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_frame_bytes).await.map(Bytes::from)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Bytes,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request, self.max_frame_bytes).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Bytes,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response, self.max_frame_bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;
    use libp2p::request_response::Codec;

    fn framed(length: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = length.to_be_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn round_trip_table() {
        // (description, payload)
        let cases: [(&str, Vec<u8>); 4] = [
            ("empty ack", vec![]),
            ("one byte", vec![7]),
            ("small", b"hello settlenet".to_vec()),
            (
                "larger than one read chunk",
                vec![0xAB; 3 * READ_CHUNK_BYTES + 5],
            ),
        ];
        for (description, payload) in cases {
            let mut wire = Cursor::new(Vec::new());
            block_on(write_frame(&mut wire, &payload, MAX_FRAME_BYTES)).expect(description);
            let wire = wire.into_inner();
            assert_eq!(wire.len(), 4 + payload.len(), "{description}");
            assert_eq!(
                wire[..4],
                (payload.len() as u32).to_be_bytes(),
                "{description}"
            );
            let read = block_on(read_frame(&mut Cursor::new(wire), MAX_FRAME_BYTES));
            assert_eq!(read.expect(description), payload, "{description}");
        }
    }

    #[test]
    fn frame_over_the_limit_is_rejected_before_allocation() {
        // Announces u32::MAX bytes (4 GiB) and carries none: a decoder that allocated from the
        // prefix would abort the test process; ours must return an error.
        let wire = framed(u32::MAX, &[]);
        let error = block_on(read_frame(&mut Cursor::new(wire), MAX_FRAME_BYTES))
            .expect_err("oversized frame accepted");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);

        // Exactly one byte over the production limit.
        let wire = framed(MAX_FRAME_BYTES as u32 + 1, &[1, 2, 3]);
        let error =
            block_on(FrameCodec::default().read_request(&MSG_PROTOCOL, &mut Cursor::new(wire)))
                .expect_err("oversized frame accepted");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn limit_is_inclusive_and_configurable() {
        let mut codec = FrameCodec { max_frame_bytes: 8 };
        let at_limit = framed(8, &[1; 8]);
        let read = block_on(codec.read_response(&SYNC_PROTOCOL, &mut Cursor::new(at_limit)));
        assert_eq!(read.expect("frame at the limit"), Bytes::from(vec![1; 8]));

        let over = framed(9, &[1; 9]);
        let read = block_on(codec.read_response(&SYNC_PROTOCOL, &mut Cursor::new(over)));
        assert_eq!(
            read.expect_err("over limit").kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn writer_refuses_oversized_payload() {
        let mut codec = FrameCodec { max_frame_bytes: 4 };
        let mut wire = Cursor::new(Vec::new());
        let error =
            block_on(codec.write_request(&MSG_PROTOCOL, &mut wire, Bytes::from_static(b"12345")))
                .expect_err("oversized write accepted");
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(wire.into_inner().is_empty(), "nothing may reach the wire");
    }

    #[test]
    fn truncated_frames_are_errors() {
        // (description, wire bytes)
        let cases: [(&str, Vec<u8>); 3] = [
            ("empty stream", vec![]),
            ("partial prefix", vec![0, 0]),
            ("short payload", framed(10, &[1, 2, 3])),
        ];
        for (description, wire) in cases {
            let read = block_on(read_frame(&mut Cursor::new(wire), MAX_FRAME_BYTES));
            assert_eq!(
                read.expect_err(description).kind(),
                io::ErrorKind::UnexpectedEof,
                "{description}"
            );
        }
    }
}
