//! Fuzz target `net_frame`: the frame reader of both libp2p protocols (`FrameCodec`: a
//! big-endian `u32` length, then that many bytes), on whatever a peer writes into a stream.
//!
//! For every input: no panic; a length above the limit is refused before any buffer is sized
//! from it (the harness's heap cap would abort the run otherwise); a frame is returned exactly
//! when the stream holds the whole announced payload, and it is that payload.
//!
//! Seeds: `fuzz/corpus/net_frame/` (frames as `FrameCodec` writes them).

use futures::io::Cursor;
use libp2p::request_response::Codec;
use settlenet_fuzz::Target;
use settlenet_net::{FrameCodec, MAX_FRAME_BYTES, SYNC_PROTOCOL};

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

#[test]
fn fuzz_frame() {
    let samples = vec![
        ("empty.bin".to_string(), frame(b"")),
        ("short.bin".to_string(), frame(b"a settlenet payload")),
        ("binary.bin".to_string(), frame(&[0, 1, 2, 255, 254, 128])),
    ];
    // Production's limit, and a small one (tests run the network with small frames too).
    let codecs = [
        FrameCodec::default(),
        FrameCodec {
            max_frame_bytes: 16,
        },
    ];
    Target::new("net_frame").samples(samples).run(|bytes| {
        for mut codec in codecs {
            let mut io = Cursor::new(bytes.to_vec());
            let got = futures::executor::block_on(codec.read_request(&SYNC_PROTOCOL, &mut io));
            let announced = bytes
                .get(..4)
                .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize);
            match (got, announced) {
                (Ok(payload), Some(len)) => {
                    settlenet_fuzz::accepted();
                    assert!(len <= codec.max_frame_bytes && len <= MAX_FRAME_BYTES);
                    assert_eq!(&payload[..], &bytes[4..4 + len]);
                }
                (Ok(_), None) => panic!("a frame from fewer than 4 bytes"),
                (Err(_), Some(len)) => {
                    assert!(
                        len > codec.max_frame_bytes || bytes.len() < 4 + len,
                        "a whole frame of {len} bytes refused"
                    );
                }
                (Err(_), None) => {}
            }
        }
    });
}
