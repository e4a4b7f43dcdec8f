//! INI files (setup.cfg, tox.ini, pytest.ini) read as Python's configparser reads them with its default options: `[section]` headers, `key = value` and `key: value` entries, indented continuation lines, whole-line `#` and `;` comments; values are kept as written (no interpolation), each with its line.

/// A parsed INI file: its sections in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ini {
    pub sections: Vec<Section>,
}

/// One `[name]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The text between the brackets, as written (section names keep their case).
    pub name: String,
    /// 1-based line of the header.
    pub line: usize,
    pub entries: Vec<Entry>,
}

/// One `key = value` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as written; lookups ignore ASCII case, as configparser's default does.
    pub key: String,
    /// The value: the first line and every continuation line, each stripped and joined
    /// with `\n`; blank lines inside are kept, trailing ones dropped. A value written on
    /// the lines after its key starts with `\n` (`"\ntests\ndocs"`).
    pub value: String,
    /// 1-based line of the key.
    pub line: usize,
}

/// A line configparser would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct IniError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

impl Ini {
    /// The section called exactly `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

impl Section {
    /// The entry whose key is `key`, ignoring ASCII case.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key.eq_ignore_ascii_case(key))
    }

    /// The value of `key`, ignoring ASCII case.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.value.as_str())
    }
}

/// The non-empty lines of a multi-line value, stripped (configparser users' usual
/// "one item per line" reading).
pub fn value_lines(value: &str) -> impl Iterator<Item = &str> {
    value.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// Parses INI text. Like configparser (strict, no inline comments, empty lines allowed in
/// values): a line indented deeper than its entry's key continues the value; a section
/// or key that appears twice is an error, as is any line before the first section and a
/// line that is neither a header, an entry nor a continuation. A leading UTF-8 byte
/// order mark is skipped. `[DEFAULT]` is an ordinary section here (configparser's
/// fallback to it is the caller's choice), and repeated `[DEFAULT]` headers add to it.
pub fn parse(text: &str) -> Result<Ini, IniError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut ini = Ini::default();
    // The section being filled, and the value being continued with its key's indentation.
    let mut current: Option<usize> = None;
    let mut open_value: Option<usize> = None;
    let mut key_indent = 0;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let stripped = raw.trim();
        let is_comment = stripped.starts_with('#') || stripped.starts_with(';');
        if stripped.is_empty() || is_comment {
            // A blank line may belong to a value; a comment line never does.
            if !is_comment && let (Some(s), Some(e)) = (current, open_value) {
                ini.sections[s].entries[e].value.push('\n');
            }
            continue;
        }
        let indent = raw.chars().take_while(|c| c.is_whitespace()).count();
        if let (Some(s), Some(e)) = (current, open_value)
            && indent > key_indent
        {
            let value = &mut ini.sections[s].entries[e].value;
            value.push('\n');
            value.push_str(stripped);
            continue;
        }
        key_indent = indent;
        if let Some(name) = header(stripped) {
            current = Some(open_section(&mut ini, name, line)?);
            open_value = None;
            continue;
        }
        let Some(s) = current else {
            return Err(IniError {
                line,
                message: format!("`{stripped}` comes before any [section] header; start the file with one"),
            });
        };
        let Some(split) = stripped.find(['=', ':']) else {
            return Err(IniError {
                line,
                message: format!(
                    "`{stripped}` is not `key = value`, a [section] header or an indented continuation line"
                ),
            });
        };
        let key = stripped[..split].trim_end();
        if key.is_empty() {
            return Err(IniError { line, message: format!("`{stripped}` has no key before its `=` or `:`") });
        }
        let section = &mut ini.sections[s];
        if let Some(first) = section.entry(key) {
            return Err(IniError {
                line,
                message: format!(
                    "`{key}` is set twice in [{}] (first on line {}); keep one",
                    section.name, first.line
                ),
            });
        }
        section.entries.push(Entry {
            key: key.to_owned(),
            value: stripped[split + 1..].trim().to_owned(),
            line,
        });
        open_value = Some(section.entries.len() - 1);
    }
    for entry in ini.sections.iter_mut().flat_map(|s| s.entries.iter_mut()) {
        entry.value.truncate(entry.value.trim_end().len());
    }
    Ok(ini)
}

/// `[name]` → `name`: configparser's header pattern, the text up to the last `]` (what
/// follows it is ignored); `[]` is not a header.
fn header(stripped: &str) -> Option<&str> {
    let rest = stripped.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// Starts (or, for `[DEFAULT]`, reopens) a section; returns its index.
fn open_section(ini: &mut Ini, name: &str, line: usize) -> Result<usize, IniError> {
    if let Some(index) = ini.sections.iter().position(|s| s.name == name) {
        if name == "DEFAULT" {
            return Ok(index);
        }
        return Err(IniError {
            line,
            message: format!(
                "section [{name}] appears twice (first on line {}); merge them into one",
                ini.sections[index].line
            ),
        });
    }
    ini.sections.push(Section { name: name.to_owned(), line, entries: Vec::new() });
    Ok(ini.sections.len() - 1)
}

#[cfg(test)]
mod tests;
