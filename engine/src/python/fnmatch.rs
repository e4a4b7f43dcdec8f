//! Python's `fnmatch.fnmatch` on POSIX (case-sensitive), the pattern language of pytest's `python_files`, `norecursedirs`, `--ignore-glob` and `--doctest-glob`: `*` matches any run of characters, `/` included, `?` one character, `[seq]` / `[!seq]` a set; anything else is literal.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    Star,
    /// Characters and inclusive ranges; `negated` for `[!…]`.
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Self::Char(expected) => *expected == c,
            Self::Any => true,
            Self::Star => false,
            Self::Set { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

/// Compiles as `fnmatch.translate` does: an unclosed `[` is a literal; `]` right after
/// `[` or `[!` belongs to the set; a range whose ends are reversed matches nothing.
fn tokens(pattern: &str) -> Vec<Token> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                if out.last() != Some(&Token::Star) {
                    out.push(Token::Star);
                }
            }
            '?' => out.push(Token::Any),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push(Token::Char('['));
                    continue;
                }
                let mut inner = &chars[i..j];
                i = j + 1;
                let negated = inner.first() == Some(&'!');
                if negated {
                    inner = &inner[1..];
                }
                let mut ranges = Vec::new();
                let mut k = 0;
                while k < inner.len() {
                    if k + 2 < inner.len() && inner[k + 1] == '-' {
                        if inner[k] <= inner[k + 2] {
                            ranges.push((inner[k], inner[k + 2]));
                        }
                        k += 3;
                    } else {
                        ranges.push((inner[k], inner[k]));
                        k += 1;
                    }
                }
                out.push(Token::Set { negated, ranges });
            }
            other => out.push(Token::Char(other)),
        }
    }
    out
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    tokens: Vec<Token>,
    /// No wildcard at all: plain string equality.
    literal: bool,
}

impl Pattern {
    pub fn new(pattern: &str) -> Self {
        let tokens = tokens(pattern);
        let literal = tokens.iter().all(|t| matches!(t, Token::Char(_)));
        Self { text: pattern.to_owned(), tokens, literal }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when `name` matches in full.
    pub fn matches(&self, name: &str) -> bool {
        if self.literal {
            return self.text == name;
        }
        if name.is_ascii() {
            run(&self.tokens, name.as_bytes())
        } else {
            run(&self.tokens, &name.chars().collect::<Vec<char>>())
        }
    }
}

/// True when `name` matches `pattern` in full.
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    Pattern::new(pattern).matches(name)
}

/// Greedy matching with one backtrack point: the last star and where it stood.
fn run<C: Copy + Into<char>>(tokens: &[Token], name: &[C]) -> bool {
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if t < tokens.len() && tokens[t] == Token::Star {
            star = Some((t, n));
            t += 1;
        } else if t < tokens.len() && tokens[t].matches(name[n].into()) {
            t += 1;
            n += 1;
        } else if let Some((star_t, star_n)) = star {
            t = star_t + 1;
            n = star_n + 1;
            star = Some((star_t, star_n + 1));
        } else {
            return false;
        }
    }
    tokens[t..].iter().all(|token| *token == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[test]
    fn matches_like_pythons_fnmatch() {
        // Each row was checked with Python 3.11's fnmatch.fnmatch.
        let rows: &[(&str, &str, bool)] = &[
            ("test_x.py", "test_*.py", true),
            ("test_.py", "test_*.py", true),
            ("tests.py", "test_*.py", false),
            ("x_test.py", "*_test.py", true),
            ("a/b/x_test.py", "*_test.py", true),
            ("/r/tests/unit/x.py", "*/tests/*.py", true),
            ("mlk_day_rrule_solution.py", "*_solution.py", true),
            ("build", "build", true),
            ("builds", "build", false),
            (".git", ".*", true),
            ("pkg.egg", "*.egg", true),
            ("{arch}", "{arch}", true),
            ("a", "?", true),
            ("ab", "?", false),
            ("b", "[abc]", true),
            ("d", "[!abc]", true),
            ("a", "[!abc]", false),
            ("m", "[a-z]", true),
            ("]", "[]]", true),
            ("a", "[!]]", true),
            ("[", "[", true),
            ("[x", "[x", true),
            ("a", "[z-a]", false),
            ("-", "[a-]", true),
            ("Test_x.py", "test_*.py", false),
            ("", "*", true),
            ("abcabd", "*ab?", true),
            ("abcab", "a*b*c*", true),
            ("abcab", "a*b*d*", false),
        ];
        for (name, pattern, expected) in rows {
            assert_eq!(fnmatch(name, pattern), *expected, "fnmatch({name:?}, {pattern:?})");
        }
        // Names beyond ASCII match character by character.
        assert!(fnmatch("tést_ü.py", "t?st_*.py") && fnmatch("ü", "[ü]") && !fnmatch("üü", "?"));
    }
}
