//! Zed extension that starts `pleat lsp` for Python files: the binary from the `lsp.pleat.binary`
//! settings, else `pleat` on the worktree's PATH; `lsp.pleat.initialization_options` and
//! `lsp.pleat.settings` are passed through.

use zed_extension_api::settings::LspSettings;
use zed_extension_api::{self as zed, serde_json, LanguageServerId, Result};

struct Pleat;

/// `lsp.pleat` in Zed's settings for this worktree.
fn settings(id: &LanguageServerId, worktree: &zed::Worktree) -> Option<LspSettings> {
    LspSettings::for_worktree(id.as_ref(), worktree).ok()
}

impl zed::Extension for Pleat {
    fn new() -> Self {
        Pleat
    }

    fn language_server_command(
        &mut self,
        language_server_id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<zed::Command> {
        let binary = settings(language_server_id, worktree).and_then(|s| s.binary);
        let path = binary.as_ref().and_then(|b| b.path.clone()).or_else(|| worktree.which("pleat"));
        let Some(command) = path else {
            return Err("pleat is not on PATH: build it (cargo build --release -p pleat) and put it on \
                        PATH, or set lsp.pleat.binary.path in Zed's settings"
                .to_owned());
        };
        let args =
            binary.as_ref().and_then(|b| b.arguments.clone()).unwrap_or_else(|| vec!["lsp".to_owned()]);
        let mut env = worktree.shell_env();
        if let Some(extra) = binary.and_then(|b| b.env) {
            env.extend(extra);
        }
        Ok(zed::Command { command, args, env })
    }

    fn language_server_initialization_options(
        &mut self,
        language_server_id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<Option<serde_json::Value>> {
        Ok(settings(language_server_id, worktree).and_then(|s| s.initialization_options))
    }

    fn language_server_workspace_configuration(
        &mut self,
        language_server_id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<Option<serde_json::Value>> {
        Ok(settings(language_server_id, worktree).and_then(|s| s.settings))
    }
}

zed::register_extension!(Pleat);
