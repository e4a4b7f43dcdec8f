//! The client's `pleat.*` settings (initializationOptions and workspace/didChangeConfiguration), read leniently: an unknown value is reported and the default kept.

use engine::goals::check::Checker;
use engine::goals::lint::Linter;
use serde_json::Value;

/// What a save runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSave {
    Off,
    Lint,
    Tests,
    LintAndTests,
}

impl OnSave {
    pub fn lint(self) -> bool {
        matches!(self, Self::Lint | Self::LintAndTests)
    }

    pub fn tests(self) -> bool {
        matches!(self, Self::Tests | Self::LintAndTests)
    }
}

/// Which import cycles get a hint on the import that closes them (`pleat.importCycles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleHints {
    /// Cycles of imports that run when their module is imported: no function-level
    /// import (how projects break cycles on purpose), no `if TYPE_CHECKING:` import.
    ModuleLevel,
    /// Every cycle the graph has.
    All,
    Off,
}

/// Seconds a test file may run in an editor run unless `pleat.test.timeout` says otherwise.
pub const DEFAULT_TEST_TIMEOUT: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub on_save: OnSave,
    /// Linters run on save (`pleat.lint.tools`), ruff by default.
    pub linters: Vec<Linter>,
    /// The type checker run on save (`pleat.typecheck`), none by default.
    pub typecheck: Option<Checker>,
    /// A test file's time limit in seconds (`pleat.test.timeout`; 0 for none). An editor
    /// run has one by default, so a hung test cannot keep a run going for ever.
    pub test_timeout: Option<u64>,
    pub import_cycles: CycleHints,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            on_save: OnSave::LintAndTests,
            linters: vec![Linter::Ruff],
            typecheck: None,
            test_timeout: Some(DEFAULT_TEST_TIMEOUT),
            import_cycles: CycleHints::ModuleLevel,
        }
    }
}

impl Settings {
    /// Reads settings from `{"pleat": {...}}` or the bare `{...}`; returns them with one
    /// sentence per value that was not understood.
    pub fn from_json(value: &Value) -> (Self, Vec<String>) {
        let mut settings = Self::default();
        let mut problems = Vec::new();
        let value = value.get("pleat").unwrap_or(value);
        if let Some(on_save) = value.get("onSave") {
            match on_save.as_str() {
                Some("off") => settings.on_save = OnSave::Off,
                Some("lint") => settings.on_save = OnSave::Lint,
                Some("tests") => settings.on_save = OnSave::Tests,
                Some("lint+tests") => settings.on_save = OnSave::LintAndTests,
                _ => problems.push(format!(
                    "pleat.onSave is {on_save}; use \"off\", \"lint\", \"tests\" or \"lint+tests\""
                )),
            }
        }
        if let Some(tools) = value.get("lint").and_then(|l| l.get("tools")) {
            let names: Vec<&str> =
                tools.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            let linters: Vec<Linter> = names.iter().filter_map(|n| Linter::parse(n)).collect();
            if linters.len() == names.len() && tools.is_array() {
                settings.linters = linters;
            } else {
                problems.push(format!(
                    "pleat.lint.tools is {tools}; use a list of \"ruff\", \"flake8\" or \"pylint\""
                ));
            }
        }
        if let Some(typecheck) = value.get("typecheck") {
            let parsed = match typecheck {
                Value::Null => Some(None),
                Value::String(name) if name == "off" || name.is_empty() => Some(None),
                Value::String(name) => Checker::parse(name).map(Some),
                _ => None,
            };
            match parsed {
                Some(checker) => settings.typecheck = checker,
                None => problems
                    .push(format!("pleat.typecheck is {typecheck}; use \"off\", \"mypy\" or \"pyright\"")),
            }
        }
        if let Some(timeout) = value.get("test").and_then(|t| t.get("timeout")) {
            match timeout.as_u64() {
                Some(0) => settings.test_timeout = None,
                Some(seconds) => settings.test_timeout = Some(seconds),
                None => problems.push(format!("pleat.test.timeout is {timeout}; use a number of seconds")),
            }
        }
        if let Some(cycles) = value.get("importCycles") {
            match cycles.as_str() {
                Some("module-level") => settings.import_cycles = CycleHints::ModuleLevel,
                Some("all") => settings.import_cycles = CycleHints::All,
                Some("off") => settings.import_cycles = CycleHints::Off,
                _ => problems.push(format!(
                    "pleat.importCycles is {cycles}; use \"module-level\", \"all\" or \"off\""
                )),
            }
        }
        (settings, problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_nested_and_bare_settings() {
        let (s, problems) = Settings::from_json(&json!({"pleat": {"onSave": "lint", "typecheck": "mypy"}}));
        assert!(problems.is_empty());
        assert_eq!(s.on_save, OnSave::Lint);
        assert_eq!(s.typecheck, Some(Checker::Mypy));
        let (s, _) = Settings::from_json(&json!({"onSave": "off", "lint": {"tools": ["flake8"]}}));
        assert_eq!(s.on_save, OnSave::Off);
        assert_eq!(s.linters, vec![Linter::Flake8]);
        assert_eq!(Settings::from_json(&Value::Null).0, Settings::default());
        assert_eq!(Settings::default().test_timeout, Some(DEFAULT_TEST_TIMEOUT));
        assert_eq!(Settings::from_json(&json!({"test": {"timeout": 0}})).0.test_timeout, None);
        assert_eq!(Settings::default().import_cycles, CycleHints::ModuleLevel);
        assert_eq!(Settings::from_json(&json!({"importCycles": "all"})).0.import_cycles, CycleHints::All);
    }

    #[test]
    fn bad_values_keep_the_default_and_say_why() {
        let (s, problems) = Settings::from_json(
            &json!({"onSave": 3, "lint": {"tools": ["nope"]}, "typecheck": "x", "importCycles": 1}),
        );
        assert_eq!(s, Settings::default());
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("pleat.onSave"));
    }
}
