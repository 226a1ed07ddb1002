//! LEB128 varints, as the packed list chunks and small sorted sets write their lengths and
//! integer scores: 7 bits a byte, low bits first, the top bit set on every byte but the last.

/// Bytes `value` takes.
pub fn len(mut value: usize) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// Appends `value`.
pub fn put(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The varint at the start of `buf`: (its value, its bytes).
pub fn read(buf: &[u8]) -> (usize, usize) {
    let mut value = 0usize;
    for (at, &byte) in buf.iter().enumerate() {
        value |= ((byte & 0x7f) as usize) << (7 * at);
        if byte & 0x80 == 0 {
            return (value, at + 1);
        }
    }
    panic!("a varint runs past its buffer");
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_read_back_as_written() {
        for value in [0, 1, 63, 127, 128, 300, 16_383, 16_384, 1 << 42, usize::MAX] {
            let mut out = Vec::new();
            super::put(&mut out, value);
            assert_eq!(out.len(), super::len(value));
            assert_eq!(super::read(&out), (value, out.len()));
        }
    }
}
