//! `ListValue`: a list packed into chunks of bytes, as Redis's quicklist of listpacks.
//!
//! A `VecDeque<Bytes>` took a 32-byte handle and a heap allocation per element: ~60 B per
//! element of 10 bytes against Redis's ~12, and a list that grew to millions of elements was
//! copied whole each time the deque doubled. Packed, an element is its bytes and a length
//! before and after it (one byte each up to 127 bytes), in chunks of about `CHUNK_BYTES`; a
//! chunk keeps free room at its front, so pushes at either end append without moving the
//! chunk.

use bytes::Bytes;

use crate::varint;
use std::collections::VecDeque;

/// Bytes a chunk fills before a push at its end starts a new one (Redis's default
/// `list-max-listpack-size -2`, 8 KiB). An element longer than this has a chunk of its own.
const CHUNK_BYTES: usize = 8 * 1024;

/// A chunk: `count` elements in `buf[head..]`, each `len ‖ bytes ‖ len reversed`, where `len`
/// is LEB128 and its reversed copy lets a reader walk back from the end.
#[derive(Clone, Default)]
struct Chunk {
    buf: Vec<u8>,
    head: usize,
    count: usize,
}

/// An element's encoding.
fn encode(element: &[u8]) -> Vec<u8> {
    let prefix = varint::len(element.len());
    let mut out = Vec::with_capacity(element.len() + 2 * prefix);
    varint::put(&mut out, element.len());
    out.extend_from_slice(element);
    for at in (0..prefix).rev() {
        out.push(out[at]);
    }
    out
}

/// The element whose encoding starts at `at`: (its bytes' range, where the next one starts).
fn read_forward(buf: &[u8], at: usize) -> (std::ops::Range<usize>, usize) {
    let (len, prefix) = varint::read(&buf[at..]);
    let pos = at + prefix;
    (pos..pos + len, pos + len + prefix)
}

/// The element whose encoding ends at `end`: (its bytes' range, where its encoding starts).
fn read_backward(buf: &[u8], end: usize) -> (std::ops::Range<usize>, usize) {
    let (mut len, mut shift, mut pos) = (0usize, 0, end);
    loop {
        pos -= 1;
        let byte = buf[pos];
        len |= ((byte & 0x7f) as usize) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let suffix = end - pos;
    let start = pos - len;
    (start..pos, start - suffix)
}

impl Chunk {
    fn data_len(&self) -> usize {
        self.buf.len() - self.head
    }

    fn push_back(&mut self, encoded: &[u8]) {
        // A small chunk grows to fit (most lists are short); a larger one by doubling.
        if self.buf.capacity() < 1024 {
            self.buf.reserve_exact(encoded.len());
        }
        self.buf.extend_from_slice(encoded);
        self.count += 1;
    }

    fn push_front(&mut self, encoded: &[u8]) {
        if self.head < encoded.len() {
            // Room at the front for about as much again as the chunk holds, but never past
            // what fills it: a chunk filled from the front then wastes at most one element.
            let data = self.data_len();
            let room = encoded.len() + data.max(64).min(CHUNK_BYTES.saturating_sub(data + encoded.len()));
            let mut buf = Vec::with_capacity(room + data);
            buf.resize(room, 0);
            buf.extend_from_slice(&self.buf[self.head..]);
            self.buf = buf;
            self.head = room;
        }
        self.head -= encoded.len();
        self.buf[self.head..self.head + encoded.len()].copy_from_slice(encoded);
        self.count += 1;
    }

    fn pop_front(&mut self) -> Bytes {
        let (range, next) = read_forward(&self.buf, self.head);
        let element = Bytes::copy_from_slice(&self.buf[range]);
        self.head = next;
        self.count -= 1;
        element
    }

    fn pop_back(&mut self) -> Bytes {
        let (range, start) = read_backward(&self.buf, self.buf.len());
        let element = Bytes::copy_from_slice(&self.buf[range]);
        self.buf.truncate(start);
        self.count -= 1;
        element
    }

    /// Where the `index`th element's encoding starts.
    fn offset_of(&self, index: usize) -> usize {
        if index <= self.count / 2 {
            let mut at = self.head;
            for _ in 0..index {
                at = read_forward(&self.buf, at).1;
            }
            at
        } else {
            let mut at = self.buf.len();
            for _ in index..self.count {
                at = read_backward(&self.buf, at).1;
            }
            at
        }
    }

    fn elements(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        ChunkIter { buf: &self.buf, front: self.head, back: self.buf.len() }
    }
}

struct ChunkIter<'a> {
    buf: &'a [u8],
    front: usize,
    back: usize,
}

impl<'a> Iterator for ChunkIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        (self.front < self.back).then(|| {
            let (range, next) = read_forward(self.buf, self.front);
            self.front = next;
            &self.buf[range]
        })
    }
}

impl DoubleEndedIterator for ChunkIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        (self.front < self.back).then(|| {
            let (range, start) = read_backward(self.buf, self.back);
            self.back = start;
            &self.buf[range]
        })
    }
}

#[derive(Clone, Default)]
pub struct ListValue {
    chunks: VecDeque<Chunk>,
    len: usize,
}

impl ListValue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push_back(&mut self, element: &[u8]) {
        let encoded = encode(element);
        let full = self.chunks.back().is_none_or(|chunk| chunk.count > 0 && chunk.data_len() + encoded.len() > CHUNK_BYTES);
        if full {
            self.add_chunk();
            self.chunks.push_back(Chunk::default());
        }
        self.chunks.back_mut().expect("a chunk").push_back(&encoded);
        self.len += 1;
    }

    pub fn push_front(&mut self, element: &[u8]) {
        let encoded = encode(element);
        let full = self.chunks.front().is_none_or(|chunk| chunk.count > 0 && chunk.data_len() + encoded.len() > CHUNK_BYTES);
        if full {
            self.add_chunk();
            self.chunks.push_front(Chunk::default());
        }
        self.chunks.front_mut().expect("a chunk").push_front(&encoded);
        self.len += 1;
    }

    /// Makes room for one more chunk: exactly one for a list's first (most lists never have a
    /// second; the deque would reserve four), doubling after that.
    fn add_chunk(&mut self) {
        if self.chunks.capacity() == 0 {
            self.chunks.reserve_exact(1);
        }
    }

    pub fn pop_front(&mut self) -> Option<Bytes> {
        let chunk = self.chunks.front_mut()?;
        let element = chunk.pop_front();
        if chunk.count == 0 {
            self.chunks.pop_front();
        }
        self.len -= 1;
        Some(element)
    }

    pub fn pop_back(&mut self) -> Option<Bytes> {
        let chunk = self.chunks.back_mut()?;
        let element = chunk.pop_back();
        if chunk.count == 0 {
            self.chunks.pop_back();
        }
        self.len -= 1;
        Some(element)
    }

    /// The chunk holding element `index` (< len) and the element's index in it.
    fn locate(&self, index: usize) -> (usize, usize) {
        debug_assert!(index < self.len);
        if index < self.len / 2 {
            let mut skipped = 0;
            for (at, chunk) in self.chunks.iter().enumerate() {
                if index < skipped + chunk.count {
                    return (at, index - skipped);
                }
                skipped += chunk.count;
            }
        } else {
            let mut first_after = self.len;
            for (at, chunk) in self.chunks.iter().enumerate().rev() {
                let first = first_after - chunk.count;
                if index >= first {
                    return (at, index - first);
                }
                first_after = first;
            }
        }
        unreachable!("index {index} is inside the list")
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len {
            return None;
        }
        let (chunk, inside) = self.locate(index);
        let chunk = &self.chunks[chunk];
        let (range, _) = read_forward(&chunk.buf, chunk.offset_of(inside));
        Some(&chunk.buf[range])
    }

    /// Replaces element `index` (< len).
    pub fn set(&mut self, index: usize, element: &[u8]) {
        let (at, inside) = self.locate(index);
        let chunk = &mut self.chunks[at];
        let start = chunk.offset_of(inside);
        let (_, end) = read_forward(&chunk.buf, start);
        chunk.buf.splice(start..end, encode(element));
        self.split_if_oversized(at);
    }

    /// Inserts `element` so that it becomes element `index` (≤ len).
    pub fn insert(&mut self, index: usize, element: &[u8]) {
        if index == 0 {
            return self.push_front(element);
        }
        if index == self.len {
            return self.push_back(element);
        }
        let (at, inside) = self.locate(index);
        let chunk = &mut self.chunks[at];
        let start = chunk.offset_of(inside);
        chunk.buf.splice(start..start, encode(element));
        chunk.count += 1;
        self.len += 1;
        self.split_if_oversized(at);
    }

    /// Splits chunk `at` in two once it holds twice `CHUNK_BYTES` (inserts and replacements
    /// in the middle grow a chunk in place).
    fn split_if_oversized(&mut self, at: usize) {
        let chunk = &self.chunks[at];
        if chunk.data_len() <= 2 * CHUNK_BYTES || chunk.count < 2 {
            return;
        }
        let keep = chunk.count / 2;
        let split = chunk.offset_of(keep);
        let tail = Chunk { buf: chunk.buf[split..].to_vec(), head: 0, count: chunk.count - keep };
        let chunk = &mut self.chunks[at];
        chunk.buf.truncate(split);
        chunk.count = keep;
        self.chunks.insert(at + 1, tail);
    }

    /// Keeps the elements for which `keep` holds, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        let mut kept = ListValue::new();
        for element in self.iter() {
            if keep(element) {
                kept.push_back(element);
            }
        }
        *self = kept;
    }

    /// Keeps elements `start..=end` (both < len, start ≤ end), dropping whole chunks first.
    pub fn trim(&mut self, start: usize, end: usize) {
        let mut drop_back = self.len - 1 - end;
        while self.chunks.back().is_some_and(|chunk| chunk.count <= drop_back) {
            let chunk = self.chunks.pop_back().expect("checked");
            drop_back -= chunk.count;
            self.len -= chunk.count;
        }
        for _ in 0..drop_back {
            self.pop_back();
        }
        let mut drop_front = start;
        while self.chunks.front().is_some_and(|chunk| chunk.count <= drop_front) {
            let chunk = self.chunks.pop_front().expect("checked");
            drop_front -= chunk.count;
            self.len -= chunk.count;
        }
        for _ in 0..drop_front {
            self.pop_front();
        }
    }

    pub fn clear(&mut self) {
        *self = ListValue::new();
    }

    /// The elements in order (`.rev()` from the tail).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.chunks.iter().flat_map(Chunk::elements)
    }

    /// The elements from `start` on, skipping whole chunks to get there.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let mut skip = start;
        let mut first = 0;
        for chunk in &self.chunks {
            if skip < chunk.count {
                break;
            }
            skip -= chunk.count;
            first += 1;
        }
        self.chunks.iter().skip(first).flat_map(Chunk::elements).skip(skip)
    }

    /// Heap bytes held beyond the `ListValue` itself, as MEMORY USAGE estimates them.
    pub fn heap_bytes(&self) -> usize {
        use crate::memory::allocation_size;
        allocation_size(self.chunks.capacity() * std::mem::size_of::<Chunk>())
            + self.chunks.iter().map(|chunk| allocation_size(chunk.buf.capacity())).sum::<usize>()
    }
}

impl<'a> FromIterator<&'a [u8]> for ListValue {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(elements: I) -> Self {
        let mut list = ListValue::new();
        for element in elements {
            list.push_back(element);
        }
        list
    }
}

impl FromIterator<Bytes> for ListValue {
    fn from_iter<I: IntoIterator<Item = Bytes>>(elements: I) -> Self {
        let mut list = ListValue::new();
        for element in elements {
            list.push_back(&element);
        }
        list
    }
}

impl From<Vec<Bytes>> for ListValue {
    fn from(elements: Vec<Bytes>) -> Self {
        elements.into_iter().collect()
    }
}

impl PartialEq for ListValue {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for ListValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(Bytes::copy_from_slice)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(list: &ListValue) -> Vec<Vec<u8>> {
        list.iter().map(<[u8]>::to_vec).collect()
    }

    /// Checks every view of `list` against `reference`.
    fn check(list: &ListValue, reference: &VecDeque<Vec<u8>>) {
        assert_eq!(list.len(), reference.len());
        assert_eq!(contents(list), reference.iter().cloned().collect::<Vec<_>>());
        let backwards: Vec<Vec<u8>> = list.iter().rev().map(<[u8]>::to_vec).collect();
        assert_eq!(backwards, reference.iter().rev().cloned().collect::<Vec<_>>());
        for (index, element) in reference.iter().enumerate() {
            assert_eq!(list.get(index), Some(&element[..]), "{index}");
        }
        assert_eq!(list.get(reference.len()), None);
        for start in [0, 1, reference.len() / 2, reference.len().saturating_sub(1), reference.len()] {
            let from: Vec<Vec<u8>> = list.iter_from(start).map(<[u8]>::to_vec).collect();
            assert_eq!(from, reference.iter().skip(start).cloned().collect::<Vec<_>>(), "from {start}");
        }
        assert_eq!(list.len, list.chunks.iter().map(|chunk| chunk.count).sum::<usize>());
        assert!(list.chunks.iter().all(|chunk| chunk.count > 0), "no empty chunk is kept");
    }

    #[test]
    fn follows_a_deque_through_every_operation() {
        let mut list = ListValue::new();
        let mut reference: VecDeque<Vec<u8>> = VecDeque::new();
        let mut state: u64 = 5;
        let mut step = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for round in 0..20_000 {
            // Lengths across one- and two-byte varints and past a chunk.
            let len = match step() % 20 {
                0 => 200,
                1 => CHUNK_BYTES + 10,
                n => n * 3,
            };
            let element = vec![b'a' + (round % 26) as u8; len];
            match step() % 12 {
                0..=2 => {
                    list.push_front(&element);
                    reference.push_front(element);
                }
                3..=5 => {
                    list.push_back(&element);
                    reference.push_back(element);
                }
                6 => assert_eq!(list.pop_front().map(|b| b.to_vec()), reference.pop_front()),
                7 => assert_eq!(list.pop_back().map(|b| b.to_vec()), reference.pop_back()),
                8 if !reference.is_empty() => {
                    let index = step() % reference.len();
                    list.set(index, &element);
                    reference[index] = element;
                }
                9 => {
                    let index = step() % (reference.len() + 1);
                    list.insert(index, &element);
                    reference.insert(index, element);
                }
                10 if reference.len() > 4 && step() % 10 == 0 => {
                    let (start, end) = (step() % (reference.len() / 2), reference.len() - 1 - step() % (reference.len() / 2));
                    list.trim(start, end);
                    reference.truncate(end + 1);
                    reference.drain(..start);
                }
                11 if step() % 10 == 0 => {
                    let byte = b'a' + (step() % 26) as u8;
                    list.retain(|element| element.first() != Some(&byte));
                    reference.retain(|element| element.first() != Some(&byte));
                }
                _ => {}
            }
            if round % 997 == 0 {
                check(&list, &reference);
            }
        }
        check(&list, &reference);
        while list.pop_back().is_some() {}
        assert!(list.is_empty() && list.chunks.is_empty());
    }

    #[test]
    fn pushes_fill_chunks_and_an_element_is_its_bytes_and_two_lengths() {
        let mut list = ListValue::new();
        for i in 0..1000u32 {
            list.push_front(format!("item{i:06}").as_bytes());
        }
        // 10-byte elements take 12 bytes: 682 to an 8 KiB chunk.
        assert_eq!(list.chunks.len(), 1000usize.div_ceil(CHUNK_BYTES / 12));
        let data: usize = list.chunks.iter().map(Chunk::data_len).sum();
        assert_eq!(data, 1000 * 12);
        // Filled from the front, a full chunk holds at most one element's room more than its
        // elements; the one being filled, at most as much room again as it holds.
        for (at, chunk) in list.chunks.iter().enumerate() {
            let (held, data) = (chunk.buf.capacity(), chunk.data_len());
            let most = if at == 0 { 2 * data + 64 + 12 } else { CHUNK_BYTES + 12 };
            assert!(held <= most, "chunk {at}: {held} bytes for {data}");
        }
        assert_eq!(list.get(0), Some(&b"item000999"[..]));
        assert_eq!(list.get(999), Some(&b"item000000"[..]));
        let long = vec![b'x'; 3 * CHUNK_BYTES];
        list.push_back(&long);
        assert_eq!(list.pop_back().as_deref(), Some(&long[..]));
    }

    #[test]
    fn inserts_in_the_middle_split_a_chunk_that_grows_too_big() {
        let mut list: ListValue = [&b"first"[..], b"last"].into_iter().collect();
        for i in 0..3000u32 {
            list.insert(1, format!("middle{i:05}").as_bytes());
        }
        assert!(list.chunks.len() > 1);
        assert!(list.chunks.iter().all(|chunk| chunk.data_len() <= 2 * CHUNK_BYTES + 20));
        assert_eq!(list.get(0), Some(&b"first"[..]));
        assert_eq!(list.get(1), Some(&b"middle02999"[..]));
        assert_eq!(list.get(3000), Some(&b"middle00000"[..]));
        assert_eq!(list.get(3001), Some(&b"last"[..]));
    }
}
