//! Target specs as in Pants: `::` (all), `dir::` (recursive), `dir:` (that folder only), file paths, globs, and `-spec` to exclude.

use globset::GlobMatcher;

use crate::python::source_roots::is_under;
use crate::vfs;

/// One spec.
#[derive(Debug, Clone)]
enum Spec {
    All,
    Recursive(String),
    Folder(String),
    /// A file, or a folder given without a colon (that folder only, as in Pants).
    Path(String),
    Glob(String, GlobMatcher),
}

impl Spec {
    fn matches(&self, path: &str) -> bool {
        match self {
            Self::All => true,
            Self::Recursive(dir) => is_under(path, dir),
            Self::Folder(dir) => vfs::parent(path) == dir,
            Self::Path(p) => path == p || vfs::parent(path) == p,
            Self::Glob(_, matcher) => matcher.is_match(path),
        }
    }

    fn text(&self) -> String {
        match self {
            Self::All => "::".to_owned(),
            Self::Recursive(d) => format!("{d}::"),
            Self::Folder(d) => format!("{d}:"),
            Self::Path(p) | Self::Glob(p, _) => p.clone(),
        }
    }
}

/// A spec that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("invalid glob `{0}`: {1}")]
    Glob(String, String),
    #[error(
        "`{0}` matches no Python file under the root; specs are paths relative to the root, `dir:` (one folder), `dir::` (recursive), `::` (everything) or globs"
    )]
    NoMatch(String),
    #[error("no specs given; pass `::` for every file, or paths, `dir:`, `dir::` and globs")]
    Empty,
}

/// Parsed specs: what to include, what to exclude.
#[derive(Debug, Clone)]
pub struct Specs {
    include: Vec<Spec>,
    exclude: Vec<Spec>,
}

impl Specs {
    /// Parses command-line specs (repository-relative).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Self, SpecError> {
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        for arg in args {
            let arg = arg.as_ref().trim();
            // `!spec` is the same exclude: the command line writes `-spec` that way.
            let (negated, text) = match arg.strip_prefix('-').or_else(|| arg.strip_prefix('!')) {
                Some(rest) => (true, rest),
                None => (false, arg),
            };
            let spec = parse_one(text)?;
            if negated { exclude.push(spec) } else { include.push(spec) }
        }
        if include.is_empty() {
            if exclude.is_empty() {
                return Err(SpecError::Empty);
            }
            include.push(Spec::All);
        }
        Ok(Self { include, exclude })
    }

    /// True when a repository-relative path is selected.
    pub fn matches(&self, path: &str) -> bool {
        self.include.iter().any(|s| s.matches(path)) && !self.exclude.iter().any(|s| s.matches(path))
    }

    /// Selects from `paths`; an include spec that matches nothing at all is an error
    /// (a typo should not silently select nothing).
    pub fn select<'a>(
        &self,
        paths: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<Vec<&'a str>, SpecError> {
        for spec in &self.include {
            if !matches!(spec, Spec::All) && !paths.clone().into_iter().any(|p| spec.matches(p)) {
                return Err(SpecError::NoMatch(spec.text()));
            }
        }
        Ok(paths.into_iter().filter(|p| self.matches(p)).collect())
    }
}

fn parse_one(text: &str) -> Result<Spec, SpecError> {
    let clean = |s: &str| {
        let s = s.strip_prefix("./").unwrap_or(s).trim_end_matches('/');
        if s == "." { String::new() } else { s.to_owned() }
    };
    if text == "::" {
        return Ok(Spec::All);
    }
    if let Some(dir) = text.strip_suffix("::") {
        return Ok(Spec::Recursive(clean(dir)));
    }
    if let Some(dir) = text.strip_suffix(':') {
        return Ok(Spec::Folder(clean(dir)));
    }
    if text.contains(['*', '?', '[', '{']) {
        let pattern = clean(text);
        let matcher = globset::GlobBuilder::new(&pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| SpecError::Glob(text.to_owned(), e.kind().to_string()))?
            .compile_matcher();
        return Ok(Spec::Glob(pattern, matcher));
    }
    Ok(Spec::Path(clean(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATHS: &[&str] =
        &["a.py", "pkg/__init__.py", "pkg/a.py", "pkg/sub/b.py", "pkg/sub/test_b.py", "tests/t.py"];

    fn select(args: &[&str]) -> Result<Vec<&'static str>, SpecError> {
        Specs::parse(args)?.select(PATHS.iter().copied())
    }

    #[test]
    fn pants_style_specs() {
        assert_eq!(select(&["::"]).unwrap().len(), PATHS.len());
        assert_eq!(
            select(&["pkg::"]).unwrap(),
            ["pkg/__init__.py", "pkg/a.py", "pkg/sub/b.py", "pkg/sub/test_b.py"]
        );
        assert_eq!(select(&["pkg:"]).unwrap(), ["pkg/__init__.py", "pkg/a.py"]);
        assert_eq!(select(&["pkg"]).unwrap(), ["pkg/__init__.py", "pkg/a.py"]);
        assert_eq!(select(&["./pkg/a.py"]).unwrap(), ["pkg/a.py"]);
        assert_eq!(select(&[":"]).unwrap(), ["a.py"]);
        assert_eq!(select(&["pkg/**/test_*.py"]).unwrap(), ["pkg/sub/test_b.py"]);
        assert_eq!(select(&["pkg/*.py"]).unwrap(), ["pkg/__init__.py", "pkg/a.py"]);
        assert_eq!(
            select(&["::", "-pkg/sub::"]).unwrap(),
            ["a.py", "pkg/__init__.py", "pkg/a.py", "tests/t.py"]
        );
        assert_eq!(select(&["-tests::"]).unwrap().len(), PATHS.len() - 1);
    }

    #[test]
    fn bad_specs_say_what_to_write() {
        assert_eq!(select(&["nope.py"]), Err(SpecError::NoMatch("nope.py".to_owned())));
        assert!(matches!(select(&["pkg/[.py"]), Err(SpecError::Glob(..))));
        assert_eq!(select(&[]), Err(SpecError::Empty));
        assert!(SpecError::Empty.to_string().contains("::"));
    }
}
