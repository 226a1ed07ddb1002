//! Fuzzes `RequestParser` with arbitrary bytes. Checks, beyond "never panics":
//! - the bytes split into pieces (cut points taken from the input) give the same requests and
//!   the same error as the bytes all at once;
//! - every request parsed, encoded again as a multibulk, parses back to the same arguments
//!   (with and without the unauthenticated limits, chosen by the first byte).

#![no_main]

use bytes::{Bytes, BytesMut};
use flotilla_protocol::{ProtocolError, RequestParser};
use libfuzzer_sys::fuzz_target;

fn parse_pieces(pieces: &[&[u8]], auth_required: bool) -> (Vec<Vec<Bytes>>, Option<ProtocolError>) {
    let mut parser = RequestParser::new();
    parser.set_auth_required(auth_required);
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match parser.parse(&mut buf) {
                Ok(Some(args)) => requests.push(args),
                Ok(None) => break,
                Err(error) => return (requests, Some(error)),
            }
        }
    }
    (requests, None)
}

fn multibulk(args: &[Bytes]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    // First byte: flags; second: how many pieces; the rest is the stream.
    let auth_required = data[0] & 1 == 1;
    let piece_count = 1 + (data[1] as usize % 8);
    let stream = &data[2..];
    let whole = parse_pieces(&[stream], auth_required);

    let step = (stream.len() / piece_count).max(1);
    let pieces: Vec<&[u8]> = stream.chunks(step).collect();
    let split = parse_pieces(&pieces, auth_required);
    assert_eq!(whole, split, "splitting changed the outcome");

    for args in &whole.0 {
        if args.is_empty() {
            continue;
        }
        let again = parse_pieces(&[&multibulk(args)], false);
        assert_eq!(again, (vec![args.clone()], None), "re-encoded request differs");
    }
});
