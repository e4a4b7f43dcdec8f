//! How a worker gets the tool environments an action runs from: the client publishes each environment's spec (the tool, its pinned requirements, the project's lock) in the remote action cache under a key made from the environment's folder name (an `Action` salted with it), and the worker builds the environment from it with its own interpreter, checking that the folder name (the environment's key) comes out the same. The action itself names the folder through `${PLEAT_TOOLS}`, so its digest — the cache key — is untouched.

use std::path::Path;

use engine::hash::Digest;
use engine::reapi;
use engine::store::Store;
use engine::tools::ToolSpec;

use crate::blobs::{self, Limits};
use crate::client::Client;
use crate::{RemoteError, convert, digest};

/// What `${PLEAT_TOOLS}` stands for in a command.
pub const PLACEHOLDER: &str = "${PLEAT_TOOLS}";

/// The spec of one environment as it travels (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSpec {
    /// The tool (`pytest`, `mypy`, …).
    pub tool: String,
    /// The pinned requirements file's text.
    pub requirements: String,
    /// The project's PEP 751 lock (test and check environments), if any.
    pub lock: Option<String>,
}

impl EnvSpec {
    fn to_json(&self) -> Vec<u8> {
        serde_json::json!({ "tool": self.tool, "requirements": self.requirements, "lock": self.lock })
            .to_string()
            .into_bytes()
    }

    fn from_json(bytes: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        Some(Self {
            tool: value["tool"].as_str()?.to_owned(),
            requirements: value["requirements"].as_str()?.to_owned(),
            lock: value["lock"].as_str().map(str::to_owned),
        })
    }

    /// The spec the environment at `root` was built from: the files Pleat wrote beside it
    /// (`<folder>.requirements.txt`, `pylock.<folder>.toml`).
    pub fn beside(root: &Path) -> Option<Self> {
        let folder = root.file_name()?.to_str()?;
        let tools = root.parent()?;
        let requirements = std::fs::read_to_string(tools.join(format!("{folder}.requirements.txt"))).ok()?;
        let lock =
            std::fs::read_to_string(tools.join(format!("pylock.{}.toml", folder.replace('.', "-")))).ok();
        let label = folder.rsplit_once('-')?.0;
        let tool = label.strip_suffix("-project").unwrap_or(label).to_owned();
        Some(Self { tool, requirements, lock })
    }

    /// The tool spec to build from.
    pub fn tool_spec(&self) -> Result<ToolSpec, String> {
        let mut spec = ToolSpec::builtin(&self.tool).map_err(|e| e.to_string())?;
        spec.requirements.clone_from(&self.requirements);
        if let Some(text) = &self.lock {
            let packages = engine::tools::lock::lock_packages(text)
                .ok_or_else(|| format!("the lock of the {} environment is not a PEP 751 lock", self.tool))?;
            spec.project = Some(engine::tools::lock::Resolution {
                text: text.clone(),
                packages,
                source: engine::tools::lock::ResolutionSource::Resolved,
            });
        }
        Ok(spec)
    }
}

/// The action-cache key under which the spec of the environment in `folder` is published:
/// an `Action` that runs nothing, salted with the folder's name (BuildGrid reads the action
/// an action-cache key names, so it must be one).
fn key(store: &Store, folder: &str) -> Result<Digest, RemoteError> {
    let action = reapi::Action {
        salt: format!("pleat tool environment {folder}").into_bytes(),
        do_not_cache: false,
        ..reapi::Action::default()
    };
    Ok(store.put(&prost::Message::encode_to_vec(&action))?)
}

/// Publishes the spec of the environment at `root` (the blob, then the action-cache entry
/// naming it); `Ok(false)` when no spec lies beside it.
pub fn publish(client: &Client, store: &Store, limits: Limits, root: &Path) -> Result<bool, RemoteError> {
    let (Some(spec), Some(folder)) = (EnvSpec::beside(root), root.file_name().and_then(|n| n.to_str()))
    else {
        return Ok(false);
    };
    let blob = store.put(&spec.to_json())?;
    let key = key(store, folder)?;
    blobs::upload(client, store, &[blob, key], limits)?;
    let result = reapi::ActionResult {
        output_files: vec![reapi::OutputFile {
            path: "spec.json".to_owned(),
            digest: Some(reapi::Digest::from_content(&blob)),
            is_executable: false,
        }],
        ..reapi::ActionResult::default()
    };
    client.update_action_result(&digest(&key), &convert(&result), limits.function)?;
    Ok(true)
}

/// The spec published for the environment folder `folder`, fetched and verified.
pub fn fetch(
    client: &Client,
    store: &Store,
    limits: Limits,
    folder: &str,
) -> Result<Option<EnvSpec>, RemoteError> {
    let key = key(store, folder)?;
    let Some(result) = client.get_action_result(&digest(&key), limits.function)? else { return Ok(None) };
    let result: reapi::ActionResult = convert(&result);
    let Some(blob) = result
        .output_files
        .first()
        .and_then(|f| f.digest.as_ref())
        .and_then(|d| d.to_content(store.function()))
    else {
        return Ok(None);
    };
    blobs::download(client, store, &[blob], limits)?;
    Ok(store.get(&blob)?.and_then(|bytes| EnvSpec::from_json(&bytes)))
}

/// The environment folders a command names through the placeholder.
pub fn folders(command: &reapi::Command) -> Vec<String> {
    let texts = command.arguments.iter().chain(command.environment_variables.iter().map(|v| &v.value));
    let mut out = Vec::new();
    for text in texts {
        for (at, _) in text.match_indices(PLACEHOLDER) {
            let rest = &text[at + PLACEHOLDER.len()..];
            let Some(rest) = rest.strip_prefix('/') else { continue };
            let folder: String = rest.chars().take_while(|c| *c != '/' && *c != ':').collect();
            if !folder.is_empty() && !out.contains(&folder) {
                out.push(folder);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_found_in_arguments_and_variables() {
        let command = reapi::Command {
            arguments: vec!["${PLEAT_TOOLS}/pytest-project-0123/bin/python".into(), "-m".into()],
            environment_variables: vec![reapi::EnvironmentVariable {
                name: "PATH".into(),
                value: "${PLEAT_TOOLS}/pytest-project-0123/bin:${PLEAT_TOOLS}/coverage-77/bin:/usr/bin"
                    .into(),
            }],
            ..reapi::Command::default()
        };
        assert_eq!(folders(&command), ["pytest-project-0123", "coverage-77"]);
    }

    #[test]
    fn a_spec_round_trips_and_is_read_from_beside_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pytest-project-0123abcd");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(dir.path().join("pytest-project-0123abcd.requirements.txt"), "pytest==8\n").unwrap();
        std::fs::write(dir.path().join("pylock.pytest-project-0123abcd.toml"), "lock = 1\n").unwrap();
        let spec = EnvSpec::beside(&root).unwrap();
        assert_eq!(spec.tool, "pytest");
        assert_eq!(spec.lock.as_deref(), Some("lock = 1\n"));
        assert_eq!(EnvSpec::from_json(&spec.to_json()), Some(spec));
        assert!(EnvSpec::from_json(b"not json").is_none());
    }
}
