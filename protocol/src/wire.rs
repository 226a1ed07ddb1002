//! Serde for `Reply`, so replies can travel between nodes (commands forwarded to a shard's
//! leader come back as replies). The wire form mirrors `Reply` with owned strings; a verbatim
//! string's format comes back as one of the formats Redis defines (`txt`, `mkd`).

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;

use crate::Reply;

#[derive(Serialize, Deserialize)]
enum Wire {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Bytes),
    Nil,
    NilArray,
    Array(Vec<Wire>),
    Map(Vec<(Wire, Wire)>),
    Set(Vec<Wire>),
    Double(f64),
    Bool(bool),
    Verbatim(String, Bytes),
    BigNumber(String),
    Push(Vec<Wire>),
    Pairs(Vec<(Wire, Wire)>),
    Raw(Bytes),
    HumanDouble(f64),
    PairMap(Vec<(Wire, Wire)>),
}

fn to_wire(reply: &Reply) -> Wire {
    let list = |items: &[Reply]| items.iter().map(to_wire).collect();
    match reply {
        Reply::Simple(text) => Wire::Simple(text.to_string()),
        Reply::Error(text) => Wire::Error(text.to_string()),
        Reply::Int(value) => Wire::Int(*value),
        Reply::Bulk(bytes) => Wire::Bulk(bytes.clone()),
        Reply::Nil => Wire::Nil,
        Reply::NilArray => Wire::NilArray,
        Reply::Array(items) => Wire::Array(list(items)),
        Reply::Map(pairs) => Wire::Map(pairs.iter().map(|(k, v)| (to_wire(k), to_wire(v))).collect()),
        Reply::Set(items) => Wire::Set(list(items)),
        Reply::Double(value) => Wire::Double(*value),
        Reply::HumanDouble(value) => Wire::HumanDouble(*value),
        Reply::Bool(value) => Wire::Bool(*value),
        Reply::Verbatim(format, bytes) => Wire::Verbatim(format.to_string(), bytes.clone()),
        Reply::BigNumber(text) => Wire::BigNumber(text.clone()),
        Reply::Push(items) => Wire::Push(list(items)),
        Reply::Pairs(pairs) => Wire::Pairs(pairs.iter().map(|(k, v)| (to_wire(k), to_wire(v))).collect()),
        Reply::Raw(bytes) => Wire::Raw(bytes.clone()),
        Reply::PairMap(pairs) => Wire::PairMap(pairs.iter().map(|(k, v)| (to_wire(k), to_wire(v))).collect()),
    }
}

fn from_wire(wire: Wire) -> Reply {
    let list = |items: Vec<Wire>| items.into_iter().map(from_wire).collect();
    match wire {
        Wire::Simple(text) => Reply::Simple(Cow::Owned(text)),
        Wire::Error(text) => Reply::Error(Cow::Owned(text)),
        Wire::Int(value) => Reply::Int(value),
        Wire::Bulk(bytes) => Reply::Bulk(bytes),
        Wire::Nil => Reply::Nil,
        Wire::NilArray => Reply::NilArray,
        Wire::Array(items) => Reply::Array(list(items)),
        Wire::Map(pairs) => Reply::Map(pairs.into_iter().map(|(k, v)| (from_wire(k), from_wire(v))).collect()),
        Wire::Set(items) => Reply::Set(list(items)),
        Wire::Double(value) => Reply::Double(value),
        Wire::HumanDouble(value) => Reply::HumanDouble(value),
        Wire::Bool(value) => Reply::Bool(value),
        Wire::Verbatim(format, bytes) => Reply::Verbatim(if format == "mkd" { "mkd" } else { "txt" }, bytes),
        Wire::BigNumber(text) => Reply::BigNumber(text),
        Wire::Push(items) => Reply::Push(list(items)),
        Wire::Pairs(pairs) => Reply::Pairs(pairs.into_iter().map(|(k, v)| (from_wire(k), from_wire(v))).collect()),
        Wire::Raw(bytes) => Reply::Raw(bytes),
        Wire::PairMap(pairs) => Reply::PairMap(pairs.into_iter().map(|(k, v)| (from_wire(k), from_wire(v))).collect()),
    }
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        to_wire(self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Reply {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Reply, D::Error> {
        Wire::deserialize(deserializer).map(from_wire)
    }
}
