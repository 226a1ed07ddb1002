//! Cursor paging shared by SCAN, HSCAN, SSCAN and ZSCAN over insertion-ordered maps.
//!
//! The cursor walks positions from the end towards 0. Removal is `swap_remove` (the last
//! element fills the hole), so an element is only ever moved from a position already visited
//! or to a position not yet visited: every element present for the whole scan is returned at
//! least once, as Redis guarantees. Cursor 0 starts and ends a scan.

use std::ops::Range;

/// Positions to visit for this call and the cursor to return.
/// `len` is the collection's current size, `count` the COUNT hint (≥ 1).
pub fn page(len: usize, cursor: u64, count: usize) -> (Range<usize>, u64) {
    let end = if cursor == 0 { len } else { (cursor as usize).min(len) };
    let start = end.saturating_sub(count.max(1));
    let next = if start == 0 { 0 } else { start as u64 };
    (start..end, next)
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn walks_from_the_end_to_zero() {
        assert_eq!(page(25, 0, 10), (15..25, 15));
        assert_eq!(page(25, 15, 10), (5..15, 5));
        assert_eq!(page(25, 5, 10), (0..5, 0));
        assert_eq!(page(0, 0, 10), (0..0, 0));
        // A cursor past the end (keys were deleted) clamps to the end.
        assert_eq!(page(3, 15, 10), (0..3, 0));
    }
}
