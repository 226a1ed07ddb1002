//! Glob-style pattern matching as Redis's `stringmatchlen`: `*`, `?`, `[abc]`, `[^a-z]`, and
//! `\x` escapes. Used by KEYS, SCAN MATCH, PSUBSCRIBE and CONFIG GET.

/// True when `text` matches `pattern`. `nocase` folds ASCII case.
pub fn matches(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let mut skip_longer_matches = false;
    matches_at(pattern, text, nocase, &mut skip_longer_matches, 0)
}

/// Follows Redis's algorithm step by step, including its corner cases (an empty text matches
/// no pattern but the empty one; `[a-]` is a range ending at `]`). `skip_longer_matches`
/// is Redis's guard against exponential work: once the rest of a pattern after a `*` matches
/// nowhere in the remaining text, no earlier `*` can make it match by consuming more, so every
/// pending `*` gives up.
fn matches_at(
    pattern: &[u8],
    text: &[u8],
    nocase: bool,
    skip_longer_matches: &mut bool,
    depth: usize,
) -> bool {
    // A bound on recursion: patterns with very many stars cannot blow the stack.
    if depth > 1000 {
        return false;
    }
    let fold = |c: u8| if nocase { c.to_ascii_lowercase() } else { c };
    let (mut p, mut s) = (0usize, 0usize);
    while p < pattern.len() && s < text.len() {
        match pattern[p] {
            b'*' => {
                while p + 1 < pattern.len() && pattern[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == pattern.len() {
                    return true;
                }
                while s < text.len() {
                    if matches_at(
                        &pattern[p + 1..],
                        &text[s..],
                        nocase,
                        skip_longer_matches,
                        depth + 1,
                    ) {
                        return true;
                    }
                    if *skip_longer_matches {
                        return false;
                    }
                    s += 1;
                }
                *skip_longer_matches = true;
                return false;
            }
            b'?' => s += 1,
            b'[' => {
                p += 1;
                let negate = pattern.get(p) == Some(&b'^');
                if negate {
                    p += 1;
                }
                let c = text[s];
                let mut matched = false;
                loop {
                    let remaining = pattern.len() - p;
                    if remaining >= 2 && pattern[p] == b'\\' {
                        p += 1;
                        if pattern[p] == c {
                            matched = true;
                        }
                    } else if remaining >= 1 && pattern[p] == b']' {
                        break;
                    } else if remaining == 0 {
                        // Unterminated class: step back so the advance below ends the pattern.
                        p -= 1;
                        break;
                    } else if remaining >= 3 && pattern[p + 1] == b'-' {
                        let (mut low, mut high) = (fold(pattern[p]), fold(pattern[p + 2]));
                        if low > high {
                            std::mem::swap(&mut low, &mut high);
                        }
                        if (low..=high).contains(&fold(c)) {
                            matched = true;
                        }
                        p += 2;
                    } else if fold(pattern[p]) == fold(c) {
                        matched = true;
                    }
                    p += 1;
                }
                if matched == negate {
                    return false;
                }
                s += 1;
            }
            literal => {
                let literal = if literal == b'\\' && pattern.len() - p >= 2 {
                    p += 1;
                    pattern[p]
                } else {
                    literal
                };
                if fold(literal) != fold(text[s]) {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == text.len() {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            break;
        }
    }
    p == pattern.len() && s == text.len()
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
        assert!(matches(b"a*", b"a", false));
        assert!(!matches(b"a[", b"ab", false));
        assert!(matches(b"a[b", b"ab", false));
        assert!(matches(b"[a-]", b"]", false));
        assert!(matches(b"[A-C]x", b"bx", true));
        assert!(matches(b"h[\\]]llo", b"h]llo", false));
    }

    #[test]
    fn nested_stars_do_not_take_exponential_time() {
        let text = [b'a'; 40];
        let pattern = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        assert!(!matches(pattern, &text, false));
        assert!(matches(
            b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a",
            &text,
            false
        ));
    }
}
