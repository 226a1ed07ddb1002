//! The sorted-set value: members ordered by (score, member) with O(1) score lookup and
//! O(log n) rank, as Redis's skiplist + dict encoding.
//!
//! Two views of the same members:
//! - `dict`, an insertion-ordered map member → score with a fixed hasher. Its positions are
//!   what ZSCAN pages over and what ZRANDMEMBER draws from, so both depend only on the history
//!   of operations (never on a random seed) and agree on every replica.
//! - a skiplist with spans, kept in an arena (`Vec<Node>` + free list, indexes instead of
//!   pointers), giving rank ↔ node in O(log n) and ordered walks in both directions.
//!
//! A node's level is derived from a fixed hash of its member rather than drawn at random:
//! the skiplist's shape is then a function of its contents alone, so a replica rebuilt from a
//! snapshot has the same shape, and even searches whose result depends on the shape (lex ranges
//! over members with different scores, which Redis leaves unspecified) answer the same
//! everywhere.

use bytes::Bytes;
use indexmap::IndexMap;
use std::cmp::Ordering;
use std::hash::BuildHasher;

use crate::value::FixedHasher;
use crate::varint;

/// Levels of the skiplist (as Redis's ZSKIPLIST_MAXLEVEL); enough for 2^64 elements at p = 1/4.
const LEVEL_MAX: usize = 32;
/// No node (end of a level, or no backward neighbour).
const NIL: u32 = u32::MAX;
/// The header node's slot in the arena.
const HEADER: u32 = 0;

/// The limits of Redis's compact encoding (`zset-max-listpack-entries` / `-value`). Members
/// are always stored the same way here; the limits only decide what OBJECT ENCODING reports
/// and whether ZSCAN answers in one call, following Redis's conversions: a set becomes
/// "skiplist" when an insert would exceed them, and never turns back (except results built
/// afresh by the *STORE commands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactLimits {
    pub entries: usize,
    pub value: usize,
}

impl Default for CompactLimits {
    fn default() -> Self {
        CompactLimits {
            entries: 128,
            value: 64,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Level {
    forward: u32,
    /// Number of level-0 steps this link jumps over.
    span: usize,
}

#[derive(Debug, Clone)]
struct Node {
    member: Bytes,
    score: f64,
    backward: u32,
    levels: Box<[Level]>,
}

/// A node of the ordered view, valid until the set is next modified.
pub type NodeId = u32;

/// A score interval (`ZRANGEBYSCORE min max`, with `(` marking an exclusive end).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_exclusive: bool,
    pub max_exclusive: bool,
}

impl ScoreRange {
    pub fn gte_min(&self, score: f64) -> bool {
        if self.min_exclusive {
            score > self.min
        } else {
            score >= self.min
        }
    }

    pub fn lte_max(&self, score: f64) -> bool {
        if self.max_exclusive {
            score < self.max
        } else {
            score <= self.max
        }
    }

    /// True when no score can be inside.
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_exclusive || self.max_exclusive))
    }
}

/// One end of a lex interval: `-`, `+`, `[member` or `(member`.
#[derive(Debug, Clone, PartialEq)]
pub enum LexBound {
    NegativeInfinity,
    PositiveInfinity,
    Inclusive(Bytes),
    Exclusive(Bytes),
}

/// A member interval (`ZRANGEBYLEX min max`).
#[derive(Debug, Clone, PartialEq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

/// Compares a member with a bound's value, treating `-`/`+` as below/above every string.
fn compare_with_bound(member: &[u8], bound: &LexBound) -> Ordering {
    match bound {
        LexBound::NegativeInfinity => Ordering::Greater,
        LexBound::PositiveInfinity => Ordering::Less,
        LexBound::Inclusive(value) | LexBound::Exclusive(value) => member.cmp(value),
    }
}

impl LexRange {
    pub fn gte_min(&self, member: &[u8]) -> bool {
        let order = compare_with_bound(member, &self.min);
        match self.min {
            LexBound::Exclusive(_) | LexBound::NegativeInfinity | LexBound::PositiveInfinity => {
                order == Ordering::Greater
            }
            LexBound::Inclusive(_) => order != Ordering::Less,
        }
    }

    pub fn lte_max(&self, member: &[u8]) -> bool {
        let order = compare_with_bound(member, &self.max);
        match self.max {
            LexBound::Exclusive(_) | LexBound::NegativeInfinity | LexBound::PositiveInfinity => {
                order == Ordering::Less
            }
            LexBound::Inclusive(_) => order != Ordering::Greater,
        }
    }

    /// True when no member can be inside (min above max, or equal with an exclusive end).
    pub fn is_empty(&self) -> bool {
        use LexBound::*;
        let order = match (&self.min, &self.max) {
            (NegativeInfinity, NegativeInfinity) | (PositiveInfinity, PositiveInfinity) => Ordering::Equal,
            (NegativeInfinity, _) | (_, PositiveInfinity) => Ordering::Less,
            (PositiveInfinity, _) | (_, NegativeInfinity) => Ordering::Greater,
            (Inclusive(a) | Exclusive(a), Inclusive(b) | Exclusive(b)) => a.cmp(b),
        };
        let exclusive = |bound: &LexBound| !matches!(bound, Inclusive(_));
        order == Ordering::Greater || (order == Ordering::Equal && (exclusive(&self.min) || exclusive(&self.max)))
    }
}

/// (score, member) order; scores are never NaN.
fn entry_cmp(score_a: f64, member_a: &[u8], score_b: f64, member_b: &[u8]) -> Ordering {
    score_a
        .partial_cmp(&score_b)
        .expect("zset scores are never NaN")
        .then_with(|| member_a.cmp(member_b))
}

/// The large form: a dict and a skiplist, as Redis's skiplist encoding.
#[derive(Debug, Clone)]
struct SkipList {
    dict: IndexMap<Bytes, f64, FixedHasher>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    tail: u32,
    /// Nodes linked in the skiplist (equals `dict.len()` between operations).
    length: usize,
    /// Levels in use (≥ 1).
    level: usize,
}

impl SkipList {
    /// Heap bytes the set holds (MEMORY USAGE): the dict's entries and table, the skiplist
    /// arena and each node's levels, and each member once (the dict and its node share it).
    pub fn heap_bytes(&self) -> usize {
        use crate::memory::{allocation_size, table_bytes};
        use std::mem::size_of;
        let dict_entry = size_of::<u64>() + size_of::<Bytes>() + size_of::<f64>();
        let dict = allocation_size(self.dict.capacity() * dict_entry)
            + table_bytes(self.dict.capacity(), size_of::<usize>());
        let arena = allocation_size(self.nodes.capacity() * size_of::<Node>())
            + allocation_size(self.free.capacity() * size_of::<u32>());
        let nodes: usize = self
            .nodes
            .iter()
            .map(|node| allocation_size(node.levels.len() * size_of::<Level>()) + allocation_size(node.member.len()))
            .sum();
        dict + arena + nodes
    }

    pub fn new() -> Self {
        let header = Node {
            member: Bytes::new(),
            score: 0.0,
            backward: NIL,
            levels: vec![Level { forward: NIL, span: 0 }; LEVEL_MAX].into_boxed_slice(),
        };
        SkipList {
            dict: IndexMap::with_hasher(FixedHasher::default()),
            nodes: vec![header],
            free: Vec::new(),
            tail: NIL,
            length: 0,
            level: 1,
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.dict.get(member).copied()
    }

    /// Sets `member`'s score; returns true when the member is new.
    fn insert(&mut self, member: Bytes, score: f64) -> bool {
        match self.dict.get_mut(&member[..]) {
            Some(current) => {
                let old = *current;
                if old.to_bits() != score.to_bits() {
                    *current = score;
                    let removed = self.list_delete(old, &member);
                    debug_assert!(removed);
                    self.list_insert(score, member);
                }
                false
            }
            None => {
                self.dict.insert(member.clone(), score);
                self.list_insert(score, member);
                true
            }
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (key, score) = self.dict.swap_remove_entry(member)?;
        let removed = self.list_delete(score, &key);
        debug_assert!(removed);
        Some(score)
    }

    // --- ordered view ---

    pub fn first(&self) -> Option<NodeId> {
        self.forward(HEADER, 0)
    }

    pub fn last(&self) -> Option<NodeId> {
        (self.tail != NIL).then_some(self.tail)
    }

    pub fn next(&self, node: NodeId) -> Option<NodeId> {
        self.forward(node, 0)
    }

    pub fn prev(&self, node: NodeId) -> Option<NodeId> {
        let backward = self.nodes[node as usize].backward;
        (backward != NIL).then_some(backward)
    }

    pub fn entry(&self, node: NodeId) -> (&Bytes, f64) {
        let node = &self.nodes[node as usize];
        (&node.member, node.score)
    }

    /// The node at 0-based `rank` in ascending order.
    pub fn node_at_rank(&self, rank: usize) -> Option<NodeId> {
        if rank >= self.length {
            return None;
        }
        let target = rank + 1;
        let mut x = HEADER;
        let mut traversed = 0;
        for i in (0..self.level).rev() {
            loop {
                let link = self.nodes[x as usize].levels[i];
                if link.forward != NIL && traversed + link.span <= target {
                    traversed += link.span;
                    x = link.forward;
                } else {
                    break;
                }
            }
            if traversed == target {
                return Some(x);
            }
        }
        None
    }

    /// 0-based ascending rank of `member`, with its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        let score = self.score(member)?;
        let mut x = HEADER;
        let mut rank = 0;
        for i in (0..self.level).rev() {
            loop {
                let link = self.nodes[x as usize].levels[i];
                if link.forward == NIL {
                    break;
                }
                let next = &self.nodes[link.forward as usize];
                if entry_cmp(next.score, &next.member, score, member) != Ordering::Greater {
                    rank += link.span;
                    x = link.forward;
                } else {
                    break;
                }
            }
            if x != HEADER && self.nodes[x as usize].member[..] == *member {
                return Some((rank - 1, score));
            }
        }
        unreachable!("member present in the dict but not in the skiplist")
    }

    /// 0-based ascending rank of a node.
    pub fn rank_of_node(&self, node: NodeId) -> usize {
        let (member, _) = self.entry(node);
        self.rank(&member.clone()).expect("node is in the set").0
    }

    /// The first node whose score is inside `range` (None if none is).
    pub fn first_in_score_range(&self, range: &ScoreRange) -> Option<NodeId> {
        if !self.intersects_score_range(range) {
            return None;
        }
        let x = self.last_below(|node| !range.gte_min(node.score));
        let x = self.forward(x, 0)?;
        range.lte_max(self.nodes[x as usize].score).then_some(x)
    }

    /// The last node whose score is inside `range`.
    pub fn last_in_score_range(&self, range: &ScoreRange) -> Option<NodeId> {
        if !self.intersects_score_range(range) {
            return None;
        }
        let x = self.last_below(|node| range.lte_max(node.score));
        (x != HEADER && range.gte_min(self.nodes[x as usize].score)).then_some(x)
    }

    /// The first node not below `range`'s minimum, without checking the maximum (where
    /// ZREMRANGEBYSCORE starts deleting).
    pub fn first_not_below_score(&self, range: &ScoreRange) -> Option<NodeId> {
        let x = self.last_below(|node| !range.gte_min(node.score));
        self.forward(x, 0)
    }

    pub fn first_in_lex_range(&self, range: &LexRange) -> Option<NodeId> {
        if !self.intersects_lex_range(range) {
            return None;
        }
        let x = self.last_below(|node| !range.gte_min(&node.member));
        let x = self.forward(x, 0)?;
        range.lte_max(&self.nodes[x as usize].member).then_some(x)
    }

    pub fn last_in_lex_range(&self, range: &LexRange) -> Option<NodeId> {
        if !self.intersects_lex_range(range) {
            return None;
        }
        let x = self.last_below(|node| range.lte_max(&node.member));
        (x != HEADER && range.gte_min(&self.nodes[x as usize].member)).then_some(x)
    }

    /// The first node not below `range`'s minimum (where ZREMRANGEBYLEX starts deleting).
    pub fn first_not_below_lex(&self, range: &LexRange) -> Option<NodeId> {
        let x = self.last_below(|node| !range.gte_min(&node.member));
        self.forward(x, 0)
    }

    fn intersects_score_range(&self, range: &ScoreRange) -> bool {
        if range.is_empty() {
            return false;
        }
        match (self.first(), self.last()) {
            (Some(first), Some(last)) => {
                range.gte_min(self.nodes[last as usize].score) && range.lte_max(self.nodes[first as usize].score)
            }
            _ => false,
        }
    }

    fn intersects_lex_range(&self, range: &LexRange) -> bool {
        if range.is_empty() {
            return false;
        }
        match (self.first(), self.last()) {
            (Some(first), Some(last)) => {
                range.gte_min(&self.nodes[last as usize].member) && range.lte_max(&self.nodes[first as usize].member)
            }
            _ => false,
        }
    }

    /// Walks from the header, moving forward at each level while `advance` holds for the
    /// next node; returns the last node reached (possibly the header).
    fn last_below(&self, advance: impl Fn(&Node) -> bool) -> u32 {
        let mut x = HEADER;
        for i in (0..self.level).rev() {
            loop {
                let forward = self.nodes[x as usize].levels[i].forward;
                if forward != NIL && advance(&self.nodes[forward as usize]) {
                    x = forward;
                } else {
                    break;
                }
            }
        }
        x
    }

    fn forward(&self, node: u32, level: usize) -> Option<NodeId> {
        let forward = self.nodes[node as usize].levels[level].forward;
        (forward != NIL).then_some(forward)
    }

    // --- skiplist maintenance (Redis's zslInsert / zslDeleteNode with spans) ---

    /// A member's level: derived from a fixed hash of it, so the skiplist's shape is a
    /// function of its members (see the module doc), and the small form can walk the same
    /// shape (`Small::last_below`).
    fn level_for(member: &[u8]) -> usize {
        let mut hash = FixedHasher::default().hash_one(member);
        let mut level = 1;
        // p = 1/4 per extra level, as Redis's ZSKIPLIST_P.
        while level < LEVEL_MAX && hash & 3 == 0 {
            level += 1;
            hash >>= 2;
        }
        level
    }

    fn list_insert(&mut self, score: f64, member: Bytes) {
        let mut update = [HEADER; LEVEL_MAX];
        let mut rank = [0usize; LEVEL_MAX];
        let mut x = HEADER;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let link = self.nodes[x as usize].levels[i];
                if link.forward == NIL {
                    break;
                }
                let next = &self.nodes[link.forward as usize];
                if entry_cmp(next.score, &next.member, score, &member) == Ordering::Less {
                    rank[i] += link.span;
                    x = link.forward;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let level = Self::level_for(&member);
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEADER;
                self.nodes[HEADER as usize].levels[i].span = self.length;
            }
            self.level = level;
        }
        let node = Node {
            member,
            score,
            backward: NIL,
            levels: vec![Level { forward: NIL, span: 0 }; level].into_boxed_slice(),
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..level {
            let before = update[i] as usize;
            let link = self.nodes[before].levels[i];
            self.nodes[id as usize].levels[i] = Level {
                forward: link.forward,
                span: link.span - (rank[0] - rank[i]),
            };
            self.nodes[before].levels[i] = Level {
                forward: id,
                span: rank[0] - rank[i] + 1,
            };
        }
        for (i, &before) in update.iter().enumerate().take(self.level).skip(level) {
            self.nodes[before as usize].levels[i].span += 1;
        }
        self.nodes[id as usize].backward = if update[0] == HEADER { NIL } else { update[0] };
        match self.nodes[id as usize].levels[0].forward {
            NIL => self.tail = id,
            next => self.nodes[next as usize].backward = id,
        }
        self.length += 1;
    }

    /// Unlinks the node holding (score, member); false if absent. The dict is updated by
    /// the caller.
    fn list_delete(&mut self, score: f64, member: &[u8]) -> bool {
        let mut update = [HEADER; LEVEL_MAX];
        let mut x = HEADER;
        for i in (0..self.level).rev() {
            loop {
                let forward = self.nodes[x as usize].levels[i].forward;
                if forward == NIL {
                    break;
                }
                let next = &self.nodes[forward as usize];
                if entry_cmp(next.score, &next.member, score, member) == Ordering::Less {
                    x = forward;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let Some(target) = self.forward(x, 0) else {
            return false;
        };
        {
            let node = &self.nodes[target as usize];
            if node.score.to_bits() != score.to_bits() || node.member[..] != *member {
                return false;
            }
        }
        for (i, &before) in update.iter().enumerate().take(self.level) {
            let before = before as usize;
            if self.nodes[before].levels[i].forward == target {
                let link = self.nodes[target as usize].levels[i];
                self.nodes[before].levels[i].span += link.span;
                self.nodes[before].levels[i].span -= 1;
                self.nodes[before].levels[i].forward = link.forward;
            } else {
                self.nodes[before].levels[i].span -= 1;
            }
        }
        let backward = self.nodes[target as usize].backward;
        match self.nodes[target as usize].levels[0].forward {
            NIL => self.tail = backward,
            next => self.nodes[next as usize].backward = backward,
        }
        while self.level > 1 && self.nodes[HEADER as usize].levels[self.level - 1].forward == NIL {
            self.level -= 1;
        }
        // Release the member's bytes now; the slot is reused by the next insert.
        let node = &mut self.nodes[target as usize];
        node.member = Bytes::new();
        node.levels = Box::new([]);
        self.free.push(target);
        self.length -= 1;
        if self.length == 0 {
            self.compact_arena();
        }
        true
    }

    /// Drops every arena slot once the set is empty (keeps the header).
    fn compact_arena(&mut self) {
        self.nodes.truncate(1);
        self.free.clear();
        self.tail = NIL;
        self.level = 1;
        for link in self.nodes[HEADER as usize].levels.iter_mut() {
            *link = Level { forward: NIL, span: 0 };
        }
    }
}

/// Most members the small form holds (Redis's default `zset-max-listpack-entries`).
const SMALL_MEMBERS_MAX: usize = 128;
/// Longest member the small form holds (Redis's default `zset-max-listpack-value`).
const SMALL_MEMBER_LEN_MAX: usize = 64;

/// The small form: the members packed in one byte buffer in (score, member) order, as Redis
/// keeps a small sorted set in a listpack. Each entry is
/// `level ‖ position ‖ len ‖ score ‖ member ‖ size`: the level's top bit says whether the
/// score is an integer, written as a zigzag LEB128 varint (1 byte for small scores, 6 for a
/// timestamp in ms), else the f64's 8 bytes; the trailing size of the whole entry lets a walk
/// step backwards. A node is an entry's offset in the buffer.
///
/// It answers exactly as the skiplist would, so that a set may change form on one replica
/// and not another (a restore builds the small form from what fits):
/// - each member keeps its position in the insertion-ordered view (`position`), moved as the
///   skiplist's dict moves it (a removal moves the last position into the hole);
/// - each member keeps its skiplist level, and searches walk the skiplist's shape over the
///   buffer (`last_below`): a lex range over members of different scores, which Redis leaves
///   unspecified, depends on that shape.
#[derive(Debug, Clone, Default)]
struct Small {
    buf: Vec<u8>,
    count: usize,
}

/// Bytes of an entry before its score: level, position, member length.
const SMALL_HEAD: usize = 3;
/// The level byte's flag for a score written as a varint.
const INTEGER_SCORE: u8 = 0x80;
/// Largest integer score written as a varint: every integer up to it is an exact f64.
const INTEGER_SCORE_MAX: f64 = (1u64 << 53) as f64;

/// A score's varint in the small form, zigzagged, when it is an integer an f64 holds exactly
/// (not -0.0, whose sign the varint would lose); None when it is written as its 8 bytes.
fn score_varint(score: f64) -> Option<usize> {
    let integral = score.fract() == 0.0 && score.abs() <= INTEGER_SCORE_MAX && !(score == 0.0 && score.is_sign_negative());
    integral.then(|| {
        let value = score as i64;
        ((value << 1) ^ (value >> 63)) as usize
    })
}

impl Small {
    fn integer_score(&self, at: usize) -> bool {
        self.buf[at] & INTEGER_SCORE != 0
    }

    /// Bytes of the score of the entry at `at`.
    fn score_len(&self, at: usize) -> usize {
        if !self.integer_score(at) {
            return 8;
        }
        varint::read(&self.buf[at + SMALL_HEAD..]).1
    }

    fn score_at(&self, at: usize) -> f64 {
        let start = at + SMALL_HEAD;
        if !self.integer_score(at) {
            return f64::from_le_bytes(self.buf[start..start + 8].try_into().expect("8 bytes"));
        }
        let zigzag = varint::read(&self.buf[start..]).0;
        ((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64)) as f64
    }

    fn level_at(&self, at: usize) -> usize {
        (self.buf[at] & !INTEGER_SCORE) as usize
    }

    fn position_at(&self, at: usize) -> usize {
        self.buf[at + 1] as usize
    }

    fn member_at(&self, at: usize) -> &[u8] {
        let start = at + SMALL_HEAD + self.score_len(at);
        &self.buf[start..start + self.buf[at + 2] as usize]
    }

    fn size_at(&self, at: usize) -> usize {
        SMALL_HEAD + self.score_len(at) + self.buf[at + 2] as usize + 1
    }

    /// The entry after the one at `at`, if any.
    fn after(&self, at: usize) -> Option<usize> {
        let next = at + self.size_at(at);
        (next < self.buf.len()).then_some(next)
    }

    /// The entry before the one at `at`, if any.
    fn before(&self, at: usize) -> Option<usize> {
        (at > 0).then(|| at - self.buf[at - 1] as usize)
    }

    fn last(&self) -> Option<usize> {
        self.before(self.buf.len())
    }

    /// Every entry's offset, in (score, member) order.
    fn offsets(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors((!self.buf.is_empty()).then_some(0), |&at| self.after(at))
    }

    fn find(&self, member: &[u8]) -> Option<usize> {
        self.offsets().find(|&at| self.member_at(at) == member)
    }

    /// The entry at 0-based `rank`.
    fn at_rank(&self, rank: usize) -> Option<usize> {
        self.offsets().nth(rank)
    }

    /// The 0-based rank of the entry at `at`.
    fn rank_of(&self, at: usize) -> usize {
        self.offsets().take_while(|&other| other < at).count()
    }

    /// Where (score, member) goes in the order.
    fn offset_for(&self, score: f64, member: &[u8]) -> usize {
        self.offsets()
            .find(|&at| entry_cmp(self.score_at(at), self.member_at(at), score, member) != Ordering::Less)
            .unwrap_or(self.buf.len())
    }

    fn put(&mut self, member: &[u8], score: f64, level: usize, position: usize) {
        let at = self.offset_for(score, member);
        let integer = score_varint(score);
        let flag = if integer.is_some() { INTEGER_SCORE } else { 0 };
        let mut entry = Vec::with_capacity(SMALL_HEAD + 10 + member.len() + 1);
        entry.extend_from_slice(&[level as u8 | flag, position as u8, member.len() as u8]);
        match integer {
            Some(zigzag) => varint::put(&mut entry, zigzag),
            None => entry.extend_from_slice(&score.to_le_bytes()),
        }
        entry.extend_from_slice(member);
        entry.push((entry.len() + 1) as u8);
        // Grown by what it needs, as a listpack is: doubling left up to half of it unused.
        self.buf.reserve_exact(entry.len());
        self.buf.splice(at..at, entry);
    }

    /// Takes the entry at `at` out, returning its score, level and position.
    fn take(&mut self, at: usize) -> (f64, usize, usize) {
        let taken = (self.score_at(at), self.level_at(at), self.position_at(at));
        let size = self.size_at(at);
        self.buf.drain(at..at + size);
        taken
    }

    fn insert(&mut self, member: &[u8], score: f64) -> bool {
        match self.find(member) {
            Some(at) => {
                if self.score_at(at).to_bits() != score.to_bits() {
                    let (_, level, position) = self.take(at);
                    self.put(member, score, level, position);
                }
                false
            }
            None => {
                self.put(member, score, SkipList::level_for(member), self.count);
                self.count += 1;
                true
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (score, _, position) = self.take(self.find(member)?);
        self.count -= 1;
        if position != self.count {
            let moved = self.offsets().find(|&at| self.position_at(at) == self.count).expect("positions are 0..len");
            self.buf[moved + 1] = position as u8;
        }
        Some(score)
    }

    /// Entry offsets in insertion order.
    fn insertion_order(&self) -> Vec<usize> {
        let mut order = vec![0; self.count];
        for at in self.offsets() {
            order[self.position_at(at)] = at;
        }
        order
    }

    /// `SkipList::last_below` over the same shape: from the header (None), at each level from
    /// the top, move to the next member of a higher level while `advance` holds for it.
    fn last_below(&self, advance: impl Fn(f64, &[u8]) -> bool) -> Option<usize> {
        let top = self.offsets().map(|at| self.level_at(at)).max().unwrap_or(1);
        let mut x: Option<usize> = None;
        for level in (0..top).rev() {
            loop {
                let mut forward = self.forward(x);
                while let Some(at) = forward.filter(|&at| self.level_at(at) <= level) {
                    forward = self.after(at);
                }
                match forward {
                    Some(at) if advance(self.score_at(at), self.member_at(at)) => x = Some(at),
                    _ => break,
                }
            }
        }
        x
    }

    /// The entry after `x` (None: the header), if any.
    fn forward(&self, x: Option<usize>) -> Option<usize> {
        match x {
            Some(at) => self.after(at),
            None => (!self.buf.is_empty()).then_some(0),
        }
    }
}

/// A member as a sorted set holds it: a slice of a small set's buffer, or a large set's own
/// handle (handed on to replies without a copy).
#[derive(Debug, Clone, Copy)]
pub enum Member<'a> {
    Packed(&'a [u8]),
    Shared(&'a Bytes),
}

impl<'a> Member<'a> {
    /// The member's bytes, for as long as the set is borrowed.
    pub fn as_slice(self) -> &'a [u8] {
        match self {
            Member::Packed(bytes) => bytes,
            Member::Shared(bytes) => bytes,
        }
    }

    /// The member as a handle of its own.
    pub fn to_bytes(self) -> Bytes {
        match self {
            Member::Packed(bytes) => Bytes::copy_from_slice(bytes),
            Member::Shared(bytes) => bytes.clone(),
        }
    }
}

impl std::ops::Deref for Member<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Member<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

#[derive(Debug, Clone)]
enum Repr {
    Small(Small),
    SkipList(Box<SkipList>),
}

/// A sorted set: small sets in the small form, larger ones in a dict and a skiplist (see
/// `Small`), with Redis's encoding name tracked beside.
#[derive(Debug, Clone)]
pub struct ZSet {
    repr: Repr,
    /// Set once the set has outgrown the compact encoding's limits (see `CompactLimits`).
    outgrown: bool,
}

impl Default for ZSet {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for ZSet {
    /// Equal when they hold the same members with the same scores in the same insertion
    /// order (the order ZSCAN and ZRANDMEMBER observe), whatever their form.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter_insertion_order()
                .zip(other.iter_insertion_order())
                .all(|((m1, s1), (m2, s2))| m1 == m2 && s1.to_bits() == s2.to_bits())
    }
}

impl ZSet {
    pub fn new() -> Self {
        ZSet { repr: Repr::Small(Small::default()), outgrown: false }
    }

    /// Heap bytes the set holds (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        use crate::memory::allocation_size;
        match &self.repr {
            Repr::Small(small) => allocation_size(small.buf.capacity()),
            Repr::SkipList(list) => allocation_size(std::mem::size_of::<SkipList>()) + list.heap_bytes(),
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(small) => small.count,
            Repr::SkipList(list) => list.dict.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Small(small) => small.find(member).map(|at| small.score_at(at)),
            Repr::SkipList(list) => list.dict.get(member).copied(),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.score(member).is_some()
    }

    /// The encoding Redis would report for this set with its default limits.
    pub fn encoding(&self) -> &'static str {
        if self.outgrown {
            "skiplist"
        } else {
            "listpack"
        }
    }

    /// True while the set is small enough for Redis's compact encoding (ZSCAN then returns
    /// the whole set in one call, as Redis does for listpacks).
    pub fn is_compact(&self) -> bool {
        !self.outgrown
    }

    /// An empty set sized for `size_hint` members of about `value_len_hint` bytes, in the
    /// encoding Redis would pick for those hints (zsetTypeCreate).
    pub fn with_hint(size_hint: usize, value_len_hint: usize, limits: CompactLimits) -> Self {
        let mut zset = ZSet::new();
        zset.outgrown = size_hint > limits.entries || value_len_hint > limits.value;
        if size_hint > SMALL_MEMBERS_MAX {
            zset.repr = Repr::SkipList(Box::new(SkipList::new()));
        }
        zset
    }

    /// Leaves the compact encoding if `size_hint` members are about to be added and that is
    /// more than it holds (zsetTypeMaybeConvert).
    pub fn expect_members(&mut self, size_hint: usize, limits: CompactLimits) {
        if size_hint > limits.entries {
            self.outgrown = true;
        }
    }

    /// Picks the encoding from the content, as for a freshly built result.
    pub fn fit_encoding(&mut self, limits: CompactLimits) {
        self.outgrown = self.len() > limits.entries
            || self.iter_insertion_order().any(|(member, _)| member.len() > limits.value);
    }

    /// Sets `member`'s score; returns true when the member is new.
    pub fn insert(&mut self, member: Bytes, score: f64) -> bool {
        self.insert_within(member, score, CompactLimits::default())
    }

    /// `insert`, leaving the compact encoding when a new member would exceed `limits`.
    pub fn insert_within(&mut self, member: Bytes, score: f64, limits: CompactLimits) -> bool {
        assert!(!score.is_nan(), "zset scores are never NaN");
        let new = !self.contains(&member);
        if new {
            if member.len() > limits.value || self.len() + 1 > limits.entries {
                self.outgrown = true;
            }
            if member.len() > SMALL_MEMBER_LEN_MAX || self.len() + 1 > SMALL_MEMBERS_MAX {
                self.unpack();
            }
        }
        match &mut self.repr {
            Repr::Small(small) => small.insert(&member, score),
            Repr::SkipList(list) => list.insert(member, score),
        }
    }

    /// Moves a small set into the large form, keeping its insertion order.
    fn unpack(&mut self) {
        if let Repr::Small(small) = &self.repr {
            let mut list = SkipList::new();
            for at in small.insertion_order() {
                list.insert(Bytes::copy_from_slice(small.member_at(at)), small.score_at(at));
            }
            self.repr = Repr::SkipList(Box::new(list));
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Small(small) => small.remove(member),
            Repr::SkipList(list) => list.remove(member),
        }
    }

    /// Members in ascending (score, member) order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            zset: self,
            front: self.first(),
            back: self.last(),
            remaining: self.len(),
        }
    }

    /// Members in insertion order (the order snapshots should keep: rebuilding by `insert`
    /// in this order gives back an equal set).
    pub fn iter_insertion_order(&self) -> impl Iterator<Item = (Member<'_>, f64)> {
        let (small, list) = match &self.repr {
            Repr::Small(small) => {
                let order = small.insertion_order();
                (Some(order.into_iter().map(|at| (Member::Packed(small.member_at(at)), small.score_at(at)))), None)
            }
            Repr::SkipList(list) => {
                (None, Some(list.dict.iter().map(|(member, score)| (Member::Shared(member), *score))))
            }
        };
        small.into_iter().flatten().chain(list.into_iter().flatten())
    }

    /// The member at `position` of the insertion-ordered view (`0..len()`).
    pub fn get_position(&self, position: usize) -> Option<(Member<'_>, f64)> {
        match &self.repr {
            Repr::Small(small) => small
                .offsets()
                .find(|&at| small.position_at(at) == position)
                .map(|at| (Member::Packed(small.member_at(at)), small.score_at(at))),
            Repr::SkipList(list) => list.dict.get_index(position).map(|(member, score)| (Member::Shared(member), *score)),
        }
    }

    // --- ordered view ---

    pub fn first(&self) -> Option<NodeId> {
        match &self.repr {
            Repr::Small(small) => small.forward(None).map(|at| at as NodeId),
            Repr::SkipList(list) => list.first(),
        }
    }

    pub fn last(&self) -> Option<NodeId> {
        match &self.repr {
            Repr::Small(small) => small.last().map(|at| at as NodeId),
            Repr::SkipList(list) => list.last(),
        }
    }

    pub fn next(&self, node: NodeId) -> Option<NodeId> {
        match &self.repr {
            Repr::Small(small) => small.after(node as usize).map(|at| at as NodeId),
            Repr::SkipList(list) => list.next(node),
        }
    }

    pub fn prev(&self, node: NodeId) -> Option<NodeId> {
        match &self.repr {
            Repr::Small(small) => small.before(node as usize).map(|at| at as NodeId),
            Repr::SkipList(list) => list.prev(node),
        }
    }

    pub fn entry(&self, node: NodeId) -> (Member<'_>, f64) {
        match &self.repr {
            Repr::Small(small) => (Member::Packed(small.member_at(node as usize)), small.score_at(node as usize)),
            Repr::SkipList(list) => {
                let (member, score) = list.entry(node);
                (Member::Shared(member), score)
            }
        }
    }

    /// The node at 0-based `rank` in ascending order.
    pub fn node_at_rank(&self, rank: usize) -> Option<NodeId> {
        match &self.repr {
            Repr::Small(small) => small.at_rank(rank).map(|at| at as NodeId),
            Repr::SkipList(list) => list.node_at_rank(rank),
        }
    }

    /// 0-based ascending rank of `member`, with its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Small(small) => small.find(member).map(|at| (small.rank_of(at), small.score_at(at))),
            Repr::SkipList(list) => list.rank(member),
        }
    }

    /// 0-based ascending rank of a node.
    pub fn rank_of_node(&self, node: NodeId) -> usize {
        match &self.repr {
            Repr::Small(small) => small.rank_of(node as usize),
            Repr::SkipList(list) => list.rank_of_node(node),
        }
    }

    /// The first node whose score is inside `range` (None if none is).
    pub fn first_in_score_range(&self, range: &ScoreRange) -> Option<NodeId> {
        match &self.repr {
            Repr::Small(small) => {
                if !self.intersects(|first, last| range.gte_min(last.1) && range.lte_max(first.1), range.is_empty()) {
                    return None;
                }
                let x = small.forward(small.last_below(|score, _| !range.gte_min(score)))?;
                range.lte_max(small.score_at(x)).then_some(x as NodeId)
            }
            Repr::SkipList(list) => list.first_in_score_range(range),
        }
    }

    /// The last node whose score is inside `range`.
    pub fn last_in_score_range(&self, range: &ScoreRange) -> Option<NodeId> {
        match &self.repr {
            Repr::Small(small) => {
                if !self.intersects(|first, last| range.gte_min(last.1) && range.lte_max(first.1), range.is_empty()) {
                    return None;
                }
                let x = small.last_below(|score, _| range.lte_max(score))?;
                range.gte_min(small.score_at(x)).then_some(x as NodeId)
            }
            Repr::SkipList(list) => list.last_in_score_range(range),
        }
    }

    /// The first node not below `range`'s minimum, without checking the maximum (where
    /// ZREMRANGEBYSCORE starts deleting).
    pub fn first_not_below_score(&self, range: &ScoreRange) -> Option<NodeId> {
        match &self.repr {
            Repr::Small(small) => {
                small.forward(small.last_below(|score, _| !range.gte_min(score))).map(|at| at as NodeId)
            }
            Repr::SkipList(list) => list.first_not_below_score(range),
        }
    }

    pub fn first_in_lex_range(&self, range: &LexRange) -> Option<NodeId> {
        match &self.repr {
            Repr::Small(small) => {
                if !self.intersects(|first, last| range.gte_min(last.0) && range.lte_max(first.0), range.is_empty()) {
                    return None;
                }
                let x = small.forward(small.last_below(|_, member| !range.gte_min(member)))?;
                range.lte_max(small.member_at(x)).then_some(x as NodeId)
            }
            Repr::SkipList(list) => list.first_in_lex_range(range),
        }
    }

    pub fn last_in_lex_range(&self, range: &LexRange) -> Option<NodeId> {
        match &self.repr {
            Repr::Small(small) => {
                if !self.intersects(|first, last| range.gte_min(last.0) && range.lte_max(first.0), range.is_empty()) {
                    return None;
                }
                let x = small.last_below(|_, member| range.lte_max(member))?;
                range.gte_min(small.member_at(x)).then_some(x as NodeId)
            }
            Repr::SkipList(list) => list.last_in_lex_range(range),
        }
    }

    /// The first node not below `range`'s minimum (where ZREMRANGEBYLEX starts deleting).
    pub fn first_not_below_lex(&self, range: &LexRange) -> Option<NodeId> {
        match &self.repr {
            Repr::Small(small) => {
                small.forward(small.last_below(|_, member| !range.gte_min(member))).map(|at| at as NodeId)
            }
            Repr::SkipList(list) => list.first_not_below_lex(range),
        }
    }

    /// Whether a range can hold any member: not `empty`, and `overlaps` the first and last
    /// (member, score) of the order.
    fn intersects(&self, overlaps: impl Fn((&[u8], f64), (&[u8], f64)) -> bool, empty: bool) -> bool {
        if empty {
            return false;
        }
        match (self.first(), self.last()) {
            (Some(first), Some(last)) => {
                let (first, last) = (self.entry(first), self.entry(last));
                overlaps((&first.0[..], first.1), (&last.0[..], last.1))
            }
            _ => false,
        }
    }
}

/// Ascending (member, score) iterator over a `ZSet`; `.rev()` walks descending.
pub struct Iter<'a> {
    zset: &'a ZSet,
    front: Option<NodeId>,
    back: Option<NodeId>,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (Member<'a>, f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let node = self.front?;
        self.remaining -= 1;
        self.front = self.zset.next(node);
        Some(self.zset.entry(node))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let node = self.back?;
        self.remaining -= 1;
        self.back = self.zset.prev(node);
        Some(self.zset.entry(node))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    /// Checks every rank, node and span against a sorted reference.
    fn check(zset: &ZSet) {
        let mut reference: Vec<(f64, Bytes)> = zset.iter_insertion_order().map(|(m, s)| (s, m.to_bytes())).collect();
        reference.sort_by(|a, b| entry_cmp(a.0, &a.1, b.0, &b.1));
        let walked: Vec<(f64, Bytes)> = zset.iter().map(|(m, s)| (s, m.to_bytes())).collect();
        assert_eq!(walked, reference);
        let backwards: Vec<(f64, Bytes)> = zset.iter().rev().map(|(m, s)| (s, m.to_bytes())).collect();
        assert_eq!(backwards, reference.iter().rev().cloned().collect::<Vec<_>>());
        for (rank, (score, member)) in reference.iter().enumerate() {
            assert_eq!(zset.rank(member), Some((rank, *score)));
            let node = zset.node_at_rank(rank).unwrap();
            assert_eq!(zset.entry(node), (Member::Shared(member), *score));
        }
        assert_eq!(zset.node_at_rank(reference.len()), None);
    }

    #[test]
    fn ranks_follow_inserts_updates_and_removals() {
        // Deterministic pseudo-random workload against a sorted reference; 300 members is
        // past the small form, which the set leaves on the way.
        let mut zset = ZSet::new();
        let mut state: u64 = 7;
        let mut step = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 33
        };
        for round in 0..3000 {
            let member = b(&format!("m{}", step() % 300));
            let score = (step() % 50) as f64 - 25.0;
            if step() % 4 == 0 {
                zset.remove(&member);
            } else {
                zset.insert(member, score);
            }
            if round % 250 == 0 {
                check(&zset);
            }
        }
        check(&zset);
        assert!(matches!(zset.repr, Repr::SkipList(_)));
        let members: Vec<Bytes> = zset.iter_insertion_order().map(|(m, _)| m.to_bytes()).collect();
        for member in members {
            zset.remove(&member);
        }
        assert!(zset.is_empty());
        let Repr::SkipList(list) = &zset.repr else { unreachable!() };
        assert_eq!(list.nodes.len(), 1);
        check(&zset);
    }

    /// The same operations on a set in the small form and one in the skiplist form.
    fn both_forms() -> (ZSet, ZSet) {
        let small = ZSet::new();
        let large = ZSet::with_hint(SMALL_MEMBERS_MAX + 1, 1, CompactLimits::default());
        assert!(matches!(small.repr, Repr::Small(_)) && matches!(large.repr, Repr::SkipList(_)));
        (small, large)
    }

    /// Every view and search of the two forms gives the same answer.
    fn assert_same_answers(small: &ZSet, large: &ZSet, bounds: &[(f64, bool)], names: &[LexBound]) {
        assert_eq!(small, large);
        let entries = |zset: &ZSet| zset.iter().map(|(m, s)| (m.to_bytes(), s.to_bits())).collect::<Vec<_>>();
        assert_eq!(entries(small), entries(large));
        let inserted = |zset: &ZSet| zset.iter_insertion_order().map(|(m, s)| (m.to_bytes(), s.to_bits())).collect::<Vec<_>>();
        assert_eq!(inserted(small), inserted(large));
        for position in 0..=small.len() {
            assert_eq!(small.get_position(position), large.get_position(position));
        }
        for (member, _) in small.iter() {
            assert_eq!(small.rank(&member), large.rank(&member));
        }
        let at = |zset: &ZSet, node: Option<NodeId>| node.map(|node| (zset.entry(node).0.to_bytes(), zset.rank_of_node(node)));
        for &(min, min_exclusive) in bounds {
            for &(max, max_exclusive) in bounds {
                let range = ScoreRange { min, max, min_exclusive, max_exclusive };
                assert_eq!(at(small, small.first_in_score_range(&range)), at(large, large.first_in_score_range(&range)));
                assert_eq!(at(small, small.last_in_score_range(&range)), at(large, large.last_in_score_range(&range)));
                assert_eq!(at(small, small.first_not_below_score(&range)), at(large, large.first_not_below_score(&range)));
            }
        }
        for min in names {
            for max in names {
                let range = LexRange { min: min.clone(), max: max.clone() };
                assert_eq!(at(small, small.first_in_lex_range(&range)), at(large, large.first_in_lex_range(&range)), "{range:?}");
                assert_eq!(at(small, small.last_in_lex_range(&range)), at(large, large.last_in_lex_range(&range)), "{range:?}");
                assert_eq!(at(small, small.first_not_below_lex(&range)), at(large, large.first_not_below_lex(&range)));
            }
        }
    }

    #[test]
    fn the_small_form_answers_as_the_skiplist_does() {
        // Members with different scores make lex ranges depend on the skiplist's shape
        // (Redis leaves them unspecified): the small form must still answer alike.
        let (mut small, mut large) = both_forms();
        let mut state: u64 = 11;
        let mut step = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 33
        };
        let bounds: Vec<(f64, bool)> = [-1.0, 0.0, 1.5, 3.0, 7.0]
            .into_iter()
            .flat_map(|score| [(score, false), (score, true)])
            .chain([(f64::NEG_INFINITY, false), (f64::INFINITY, false)])
            .collect();
        let mut names = vec![LexBound::NegativeInfinity, LexBound::PositiveInfinity];
        for name in ["a", "m10", "m3", "m35", "m7", "z"] {
            names.push(LexBound::Inclusive(b(name)));
            names.push(LexBound::Exclusive(b(name)));
        }
        for round in 0..2000 {
            let member = b(&format!("m{}", step() % 60));
            // Mostly small integers (scores tie often), some of every encoding.
            let score = match step() % 8 {
                0 => (step() % 7) as f64 + 0.5,
                1 => -((step() % 3) as f64),
                2 => 1.7e12 + (step() % 3) as f64,
                3 => [-0.0, f64::INFINITY, f64::NEG_INFINITY][step() as usize % 3],
                _ => (step() % 7) as f64,
            };
            if step() % 3 == 0 {
                assert_eq!(small.remove(&member), large.remove(&member));
            } else {
                assert_eq!(small.insert(member.clone(), score), large.insert(member, score));
            }
            if round % 100 == 0 {
                assert_same_answers(&small, &large, &bounds, &names);
            }
        }
        assert!(matches!(small.repr, Repr::Small(_)));
        assert_same_answers(&small, &large, &bounds, &names);
    }

    #[test]
    fn the_small_form_keeps_every_score_to_the_bit() {
        let scores = [
            0.0, -0.0, 1.0, -1.0, 63.0, 64.0, -64.0, -65.0, 127.0, 128.0, 1.5, -2.25, 1.7e12, -1.7e12,
            9007199254740992.0, -9007199254740992.0, 9007199254740994.0, 1e300, -1e300, f64::MIN_POSITIVE,
            3.0e-10, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN,
        ];
        let mut zset = ZSet::new();
        for (i, score) in scores.iter().enumerate() {
            zset.insert(b(&format!("m{i}")), *score);
        }
        assert!(matches!(zset.repr, Repr::Small(_)));
        for (i, score) in scores.iter().enumerate() {
            assert_eq!(zset.score(format!("m{i}").as_bytes()).map(f64::to_bits), Some(score.to_bits()), "{score}");
        }
        let mut sorted = scores.to_vec();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let walked: Vec<f64> = zset.iter().map(|(_, score)| score).collect();
        // -0.0 and 0.0 compare equal; the members then order them ("m0" < "m1").
        assert_eq!(walked.iter().map(|s| *s == 0.0).collect::<Vec<_>>(), sorted.iter().map(|s| *s == 0.0).collect::<Vec<_>>());
        assert_eq!(walked.iter().filter(|s| **s != 0.0).map(|s| s.to_bits()).collect::<Vec<_>>(),
                   sorted.iter().filter(|s| **s != 0.0).map(|s| s.to_bits()).collect::<Vec<_>>());
        check(&zset);
    }

    #[test]
    fn a_set_past_the_small_limits_moves_to_the_skiplist_in_the_same_order() {
        let (mut small, mut large) = both_forms();
        for i in 0..SMALL_MEMBERS_MAX {
            let member = b(&format!("member:{i}"));
            small.insert(member.clone(), (i % 5) as f64);
            large.insert(member, (i % 5) as f64);
            if i == 10 {
                small.remove(b"member:3");
                large.remove(b"member:3");
            }
        }
        for member in ["one more", "and the one too many"] {
            assert!(matches!(small.repr, Repr::Small(_)), "{} members", small.len());
            small.insert(b(member), 1.0);
            large.insert(b(member), 1.0);
        }
        assert_eq!(small.len(), SMALL_MEMBERS_MAX + 1);
        assert!(matches!(small.repr, Repr::SkipList(_)));
        assert_same_answers(&small, &large, &[(1.0, false)], &[LexBound::NegativeInfinity]);

        let mut long = ZSet::new();
        long.insert(b("a"), 1.0);
        long.insert(Bytes::from(vec![b'x'; SMALL_MEMBER_LEN_MAX + 1]), 0.0);
        assert!(matches!(long.repr, Repr::SkipList(_)));
        assert_eq!(long.get_position(0).unwrap().0.as_slice(), &b("a")[..]);
    }

    #[test]
    fn score_and_lex_ranges() {
        let mut zset = ZSet::new();
        for (score, member) in [(1.0, "a"), (2.0, "b"), (2.0, "c"), (3.0, "d")] {
            zset.insert(b(member), score);
        }
        let range = ScoreRange {
            min: 2.0,
            max: 3.0,
            min_exclusive: false,
            max_exclusive: true,
        };
        let first = zset.first_in_score_range(&range).unwrap();
        let last = zset.last_in_score_range(&range).unwrap();
        assert_eq!(zset.entry(first).0.as_slice(), &b("b")[..]);
        assert_eq!(zset.entry(last).0.as_slice(), &b("c")[..]);
        let empty = ScoreRange {
            min: 3.0,
            max: 3.0,
            min_exclusive: true,
            max_exclusive: false,
        };
        assert_eq!(zset.first_in_score_range(&empty), None);

        let mut lex = ZSet::new();
        for member in ["a", "b", "c", "d"] {
            lex.insert(b(member), 0.0);
        }
        let range = LexRange {
            min: LexBound::Exclusive(b("a")),
            max: LexBound::Inclusive(b("c")),
        };
        assert_eq!(lex.entry(lex.first_in_lex_range(&range).unwrap()).0.as_slice(), &b("b")[..]);
        assert_eq!(lex.entry(lex.last_in_lex_range(&range).unwrap()).0.as_slice(), &b("c")[..]);
        let all = LexRange {
            min: LexBound::NegativeInfinity,
            max: LexBound::PositiveInfinity,
        };
        assert_eq!(lex.entry(lex.last_in_lex_range(&all).unwrap()).0.as_slice(), &b("d")[..]);
        let inverted = LexRange {
            min: LexBound::PositiveInfinity,
            max: LexBound::NegativeInfinity,
        };
        assert_eq!(lex.first_in_lex_range(&inverted), None);
    }

    #[test]
    fn encoding_sticks_once_outgrown() {
        let mut zset = ZSet::new();
        zset.insert(b("a"), 1.0);
        assert_eq!(zset.encoding(), "listpack");
        zset.insert(Bytes::from(vec![b'x'; 65]), 1.0);
        assert_eq!(zset.encoding(), "skiplist");
        zset.remove(&[b'x'; 65][..]);
        assert_eq!(zset.encoding(), "skiplist");
        zset.fit_encoding(CompactLimits::default());
        assert_eq!(zset.encoding(), "listpack");
        let limits = CompactLimits { entries: 2, value: 64 };
        assert_eq!(ZSet::with_hint(3, 1, limits).encoding(), "skiplist");
        let mut small = ZSet::with_hint(2, 1, limits);
        small.insert_within(b("a"), 1.0, limits);
        small.insert_within(b("b"), 1.0, limits);
        assert_eq!(small.encoding(), "listpack");
        small.insert_within(b("b"), 2.0, limits);
        assert_eq!(small.encoding(), "listpack");
        small.insert_within(b("c"), 1.0, limits);
        assert_eq!(small.encoding(), "skiplist");
    }
}
