//! Glob-style pattern matching as Redis's `stringmatchlen`: `*`, `?`, `[abc]`, `[^a-z]`, and
//! `\x` escapes. Used by KEYS, SCAN MATCH, PSUBSCRIBE and CONFIG GET.

/// True when `text` matches `pattern`. `nocase` folds ASCII case.
pub fn matches(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    matches_at(pattern, text, nocase, 0)
}

fn matches_at(mut pattern: &[u8], mut text: &[u8], nocase: bool, depth: usize) -> bool {
    // A bound on recursion: patterns with very many stars cannot blow the stack.
    if depth > 1000 {
        return false;
    }
    let eq = |a: u8, b: u8| if nocase { a.eq_ignore_ascii_case(&b) } else { a == b };
    while let Some(&p) = pattern.first() {
        match p {
            b'*' => {
                while pattern.len() > 1 && pattern[1] == b'*' {
                    pattern = &pattern[1..];
                }
                if pattern.len() == 1 {
                    return true;
                }
                for start in 0..=text.len() {
                    if matches_at(&pattern[1..], &text[start..], nocase, depth + 1) {
                        return true;
                    }
                }
                return false;
            }
            b'?' => {
                if text.is_empty() {
                    return false;
                }
                text = &text[1..];
            }
            b'[' => {
                let Some(&c) = text.first() else { return false };
                pattern = &pattern[1..];
                let negate = pattern.first() == Some(&b'^');
                if negate {
                    pattern = &pattern[1..];
                }
                let mut matched = false;
                loop {
                    match pattern {
                        [] => break,
                        [b']', ..] => break,
                        [b'\\', escaped, ..] => {
                            if eq(*escaped, c) {
                                matched = true;
                            }
                            pattern = &pattern[2..];
                        }
                        [start, b'-', end, ..] if *end != b']' => {
                            let (mut low, mut high) = (*start, *end);
                            if low > high {
                                std::mem::swap(&mut low, &mut high);
                            }
                            let (c_low, c_up) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
                            let inside = |x: u8| x >= low && x <= high;
                            if inside(c) || (nocase && (inside(c_low) || inside(c_up))) {
                                matched = true;
                            }
                            pattern = &pattern[3..];
                        }
                        [single, ..] => {
                            if eq(*single, c) {
                                matched = true;
                            }
                            pattern = &pattern[1..];
                        }
                    }
                }
                if negate {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                text = &text[1..];
                if pattern.is_empty() {
                    // Unterminated class: Redis treats the end of pattern as its end.
                    return text.is_empty();
                }
            }
            b'\\' if pattern.len() >= 2 => {
                pattern = &pattern[1..];
                if text.first().is_none_or(|&c| !eq(pattern[0], c)) {
                    return false;
                }
                text = &text[1..];
            }
            _ => {
                if text.first().is_none_or(|&c| !eq(p, c)) {
                    return false;
                }
                text = &text[1..];
            }
        }
        pattern = &pattern[1..];
    }
    text.is_empty()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn redis_glob_rules() {
        assert!(matches(b"*", b"anything", false));
        assert!(matches(b"h?llo", b"hello", false));
        assert!(matches(b"h*llo", b"heeeello", false));
        assert!(matches(b"h[ae]llo", b"hallo", false));
        assert!(!matches(b"h[^e]llo", b"hello", false));
        assert!(matches(b"h[a-b]llo", b"hbllo", false));
        assert!(matches(b"a\\*b", b"a*b", false));
        assert!(!matches(b"a\\*b", b"axb", false));
        assert!(matches(b"FOO*", b"foobar", true));
        assert!(!matches(b"foo", b"foobar", false));
        assert!(matches(b"*o*", b"foo", false));
    }
}
