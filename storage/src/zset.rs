//! The sorted-set value: members ordered by (score, member), with O(1) score lookup.

use bytes::Bytes;
use indexmap::IndexMap;
use std::collections::BTreeSet;

use crate::value::FixedHasher;

/// A score with a total order (scores are never NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.partial_cmp(&other.0).expect("zset scores are never NaN")
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZSet {
    pub scores: IndexMap<Bytes, f64, FixedHasher>,
    pub ordered: BTreeSet<(Score, Bytes)>,
}

impl ZSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member`'s score; returns true when the member is new.
    pub fn insert(&mut self, member: Bytes, score: f64) -> bool {
        assert!(!score.is_nan(), "zset scores are never NaN");
        match self.scores.insert(member.clone(), score) {
            Some(old) => {
                self.ordered.remove(&(Score(old), member.clone()));
                self.ordered.insert((Score(score), member));
                false
            }
            None => {
                self.ordered.insert((Score(score), member));
                true
            }
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (key, score) = self.scores.swap_remove_entry(member)?;
        self.ordered.remove(&(Score(score), key));
        Some(score)
    }

    /// Members in ascending (score, member) order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        self.ordered.iter().map(|(score, member)| (member, score.0))
    }
}
