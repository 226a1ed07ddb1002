//! Property tests against an independent RESP implementation (the `redis-protocol` crate):
//! replies encoded by our encoder decode with theirs to the same values (RESP3 as is, RESP2
//! lowered the way Redis lowers), requests encoded by theirs parse with our `RequestParser`
//! to the same arguments however the bytes are split, and any byte stream parses the same
//! whether it arrives at once or in pieces.

use bytes::{Bytes, BytesMut};
use flotilla_protocol::{encode, ProtocolError, Reply, RequestParser};
use proptest::prelude::*;
use redis_protocol::resp2::types::{OwnedFrame as Frame2, Resp2Frame};
use redis_protocol::resp3::types::{OwnedFrame as Frame3, VerbatimStringFormat};
use std::borrow::Cow;

/// A comparable model of a decoded value: aggregates whose order the other crate does not
/// keep (maps, sets) are sorted.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Model {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Model>),
    Map(Vec<(Model, Model)>),
    Set(Vec<Model>),
    Push(Vec<Model>),
    /// Compared by value; -0.0 and 0.0 are the same reply text.
    Double(f64),
    Bool(bool),
    BigNumber(Vec<u8>),
    Verbatim(&'static str, Vec<u8>),
}

fn sorted<T: PartialOrd>(mut items: Vec<T>) -> Vec<T> {
    items.sort_by(|a, b| a.partial_cmp(b).expect("no NaN in generated replies"));
    items
}

/// What a RESP3 client sees for `reply`.
fn expected3(reply: &Reply) -> Model {
    match reply {
        Reply::Simple(text) => Model::Simple(text.as_bytes().to_vec()),
        Reply::Error(text) => Model::Error(text.as_bytes().to_vec()),
        Reply::Int(value) => Model::Int(*value),
        Reply::Bulk(bytes) => Model::Bulk(bytes.to_vec()),
        Reply::Nil | Reply::NilArray => Model::Null,
        Reply::Array(items) => Model::Array(items.iter().map(expected3).collect()),
        Reply::Map(pairs) | Reply::PairMap(pairs) => Model::Map(sorted(
            pairs.iter().map(|(k, v)| (expected3(k), expected3(v))).collect(),
        )),
        Reply::Set(items) => Model::Set(sorted(items.iter().map(expected3).collect())),
        Reply::Push(items) => Model::Push(items.iter().map(expected3).collect()),
        Reply::Pairs(pairs) => Model::Array(
            pairs
                .iter()
                .map(|(a, b)| Model::Array(vec![expected3(a), expected3(b)]))
                .collect(),
        ),
        Reply::Double(value) | Reply::HumanDouble(value) => Model::Double(*value),
        Reply::Bool(value) => Model::Bool(*value),
        Reply::BigNumber(text) => Model::BigNumber(text.as_bytes().to_vec()),
        Reply::Verbatim(format, bytes) => Model::Verbatim(format, bytes.to_vec()),
        Reply::Raw(_) => unreachable!("not generated"),
    }
}

/// What a RESP2 client sees for `reply`: Redis's lowering of the RESP3 types.
fn expected2(reply: &Reply) -> Model {
    match reply {
        Reply::Simple(text) => Model::Simple(text.as_bytes().to_vec()),
        Reply::Error(text) => Model::Error(text.as_bytes().to_vec()),
        Reply::Int(value) => Model::Int(*value),
        Reply::Bool(value) => Model::Int(*value as i64),
        Reply::Bulk(bytes) | Reply::Verbatim(_, bytes) => Model::Bulk(bytes.to_vec()),
        Reply::Double(value) => Model::Bulk(flotilla_protocol::format_double(*value).into_bytes()),
        Reply::HumanDouble(value) => Model::Bulk(flotilla_protocol::format_human_double(*value).into_bytes()),
        Reply::BigNumber(text) => Model::Bulk(text.as_bytes().to_vec()),
        Reply::Nil | Reply::NilArray => Model::Null,
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            Model::Array(items.iter().map(expected2).collect())
        }
        Reply::Map(pairs) | Reply::Pairs(pairs) => Model::Array(
            pairs
                .iter()
                .flat_map(|(k, v)| [expected2(k), expected2(v)])
                .collect(),
        ),
        Reply::PairMap(pairs) => Model::Array(
            pairs
                .iter()
                .map(|(k, v)| Model::Array(vec![expected2(k), expected2(v)]))
                .collect(),
        ),
        Reply::Raw(_) => unreachable!("not generated"),
    }
}

fn from3(frame: Frame3) -> Model {
    match frame {
        Frame3::SimpleString { data, .. } => Model::Simple(data),
        Frame3::SimpleError { data, .. } => Model::Error(data.into_bytes()),
        Frame3::BlobError { data, .. } => Model::Error(data),
        Frame3::Number { data, .. } => Model::Int(data),
        Frame3::BlobString { data, .. } => Model::Bulk(data),
        Frame3::Null => Model::Null,
        Frame3::Array { data, .. } => Model::Array(data.into_iter().map(from3).collect()),
        Frame3::Push { data, .. } => Model::Push(data.into_iter().map(from3).collect()),
        Frame3::Map { data, .. } => Model::Map(sorted(
            data.into_iter().map(|(k, v)| (from3(k), from3(v))).collect(),
        )),
        Frame3::Set { data, .. } => Model::Set(sorted(data.into_iter().map(from3).collect())),
        Frame3::Double { data, .. } => Model::Double(data),
        Frame3::Boolean { data, .. } => Model::Bool(data),
        Frame3::BigNumber { data, .. } => Model::BigNumber(data),
        Frame3::VerbatimString { data, format, .. } => Model::Verbatim(
            match format {
                VerbatimStringFormat::Text => "txt",
                VerbatimStringFormat::Markdown => "mkd",
            },
            data,
        ),
        other => panic!("unexpected frame {other:?}"),
    }
}

fn from2(frame: Frame2) -> Model {
    match frame {
        Frame2::SimpleString(data) => Model::Simple(data),
        Frame2::Error(text) => Model::Error(text.into_bytes()),
        Frame2::Integer(value) => Model::Int(value),
        Frame2::BulkString(data) => Model::Bulk(data),
        Frame2::Array(items) => Model::Array(items.into_iter().map(from2).collect()),
        Frame2::Null => Model::Null,
    }
}

/// Text allowed in simple strings and errors: printable, no CR or LF.
fn line_text() -> impl Strategy<Value = String> {
    "[ -~]{0,24}"
}

fn binary() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..48),
        // Bytes that look like protocol inside a bulk.
        Just(b"\r\n$3\r\nfoo\r\n*-1\r\n".to_vec()),
        Just(Vec::new()),
    ]
}

fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("NaN has no single reply text", |v| !v.is_nan()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.1),
        Just(1e300),
        Just(-1.5e-7),
        (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
    ]
}

/// Map keys are distinct (the other crate decodes maps into a hash map).
fn distinct_keys(pairs: Vec<(Vec<u8>, Reply)>) -> Vec<(Reply, Reply)> {
    let mut seen = std::collections::HashSet::new();
    pairs
        .into_iter()
        .filter(|(key, _)| seen.insert(key.clone()))
        .map(|(key, value)| (Reply::Bulk(Bytes::from(key)), value))
        .collect()
}

fn leaf() -> impl Strategy<Value = Reply> {
    prop_oneof![
        line_text().prop_map(|t| Reply::Simple(Cow::Owned(t))),
        line_text().prop_map(|t| Reply::Error(Cow::Owned(format!("ERR {t}")))),
        any::<i64>().prop_map(Reply::Int),
        binary().prop_map(|b| Reply::Bulk(Bytes::from(b))),
        Just(Reply::Nil),
        Just(Reply::NilArray),
        double().prop_map(Reply::Double),
        any::<bool>().prop_map(Reply::Bool),
        "-?[1-9][0-9]{0,40}".prop_map(Reply::BigNumber),
        (prop_oneof![Just("txt"), Just("mkd")], binary())
            .prop_map(|(format, b)| Reply::Verbatim(format, Bytes::from(b))),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    leaf().prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Reply::Array),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Reply::Push),
            proptest::collection::vec((binary(), inner.clone()), 0..5)
                .prop_map(|pairs| Reply::Map(distinct_keys(pairs))),
            proptest::collection::vec((binary(), inner.clone()), 0..5)
                .prop_map(|pairs| Reply::PairMap(distinct_keys(pairs))),
            proptest::collection::vec(binary(), 0..5).prop_map(|members| {
                let mut seen = std::collections::HashSet::new();
                Reply::Set(
                    members
                        .into_iter()
                        .filter(|m| seen.insert(m.clone()))
                        .map(|m| Reply::Bulk(Bytes::from(m)))
                        .collect(),
                )
            }),
            proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Reply::Pairs),
        ]
    })
}

/// Splits `bytes` into pieces at the given fractions (sorted cut points).
fn pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    points.push(bytes.len());
    let mut start = 0;
    points
        .into_iter()
        .map(|end| {
            let piece = bytes[start..end].to_vec();
            start = end;
            piece
        })
        .collect()
}

/// Everything the parser yields for `chunks` arriving one after the other: the requests,
/// then the error that stopped it (if any).
fn parse_chunks(chunks: &[Vec<u8>]) -> (Vec<Vec<Bytes>>, Option<ProtocolError>) {
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
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

fn their_request(args: &[Vec<u8>]) -> Vec<u8> {
    let frame = Frame2::Array(args.iter().map(|a| Frame2::BulkString(a.clone())).collect());
    let mut buf = vec![0u8; frame.encode_len(false)];
    let len = redis_protocol::resp2::encode::encode(&mut buf, &frame, false).expect("their encoder");
    buf.truncate(len);
    buf
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Our RESP3 encoding decodes with theirs to the same value, using every byte.
    #[test]
    fn resp3_replies_decode_with_redis_protocol(reply in reply()) {
        let mut out = BytesMut::new();
        encode(&reply, true, &mut out);
        let (frame, used) = redis_protocol::resp3::decode::complete::decode(&out)
            .expect("valid RESP3")
            .expect("complete frame");
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(from3(frame), expected3(&reply));
    }

    /// Our RESP2 encoding decodes with theirs to Redis's RESP2 form of the value.
    #[test]
    fn resp2_replies_decode_with_redis_protocol(reply in reply()) {
        let mut out = BytesMut::new();
        encode(&reply, false, &mut out);
        let (frame, used) = redis_protocol::resp2::decode::decode(&out)
            .expect("valid RESP2")
            .expect("complete frame");
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(from2(frame), expected2(&reply));
    }

    /// Requests encoded by their encoder, pipelined and split anywhere, parse to the same
    /// arguments.
    #[test]
    fn their_requests_parse(
        requests in proptest::collection::vec(
            proptest::collection::vec(binary(), 1..6), 1..5),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let stream: Vec<u8> = requests.iter().flat_map(|r| their_request(r)).collect();
        let (parsed, error) = parse_chunks(&pieces(&stream, &cuts));
        prop_assert!(error.is_none(), "{:?}", error);
        let parsed: Vec<Vec<Vec<u8>>> = parsed
            .into_iter()
            .map(|args| args.into_iter().map(|a| a.to_vec()).collect())
            .collect();
        prop_assert_eq!(parsed, requests);
    }

    /// Inline requests of plain words parse to those words.
    #[test]
    fn inline_words_parse(words in proptest::collection::vec("[a-zA-Z0-9:_.-]{1,12}", 1..6)) {
        let line = format!("{}\r\n", words.join(" "));
        let (parsed, error) = parse_chunks(&[line.into_bytes()]);
        prop_assert!(error.is_none());
        let expected: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.clone())).collect();
        prop_assert_eq!(parsed, vec![expected]);
    }

    /// Any bytes, split anywhere, give the same requests and the same error as all at once:
    /// the parser's saved position never changes the outcome.
    #[test]
    fn splitting_never_changes_the_outcome(
        stream in proptest::collection::vec(
            prop_oneof![
                any::<u8>(),
                Just(b'*'), Just(b'$'), Just(b'\r'), Just(b'\n'), Just(b'1'), Just(b'2'), Just(b'"'),
            ],
            0..96),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let whole = parse_chunks(std::slice::from_ref(&stream));
        let split = parse_chunks(&pieces(&stream, &cuts));
        prop_assert_eq!(split, whole);
    }
}
