//! The exported virtualenv in the editor: the `pleat.export` command, the exported interpreter for `pleat/status`, and one `window/showMessage` (with "Export now") when a workspace's requirements or lock changed since its last export.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use engine::goals::Goals;
use engine::goals::export::{self, ExportOptions};
use engine::project::Project;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{MessageActionItem, MessageType};

use super::execute_command::Reply;
use super::state::State;

/// The action the stale-export message offers.
const EXPORT_NOW: &str = "Export now";

/// (root, inputs digest) pairs already said stale: each is said once per server.
static SAID: Mutex<Option<HashSet<(PathBuf, String)>>> = Mutex::new(None);

/// The workspace a command argument names (`{"folder": uri or path}`), else the first.
fn workspace(state: &State, args: &Value) -> Result<usize, String> {
    let Some(text) = args.get("folder").and_then(Value::as_str) else {
        return if state.workspaces.is_empty() {
            Err("no workspace folder is loaded yet; open a folder and try again".to_owned())
        } else {
            Ok(0)
        };
    };
    let path = match text
        .parse::<tower_lsp_server::ls_types::Uri>()
        .ok()
        .and_then(|u| u.to_file_path().map(std::borrow::Cow::into_owned))
    {
        Some(path) if text.starts_with("file:") => path,
        _ => PathBuf::from(text),
    };
    state
        .workspaces
        .iter()
        .position(|w| path.starts_with(&w.project.root) || path.starts_with(&w.folder))
        .ok_or_else(|| format!("{text} is not in any workspace folder"))
}

/// The default export of a project: the default resolve with the project's tools.
fn default_options(project: &Project) -> ExportOptions {
    ExportOptions { resolve: engine::resolves::DEFAULT.to_owned(), tools: export::default_tools(project) }
}

/// `pleat.export` (`{"folder"?, "resolve"?, "with"?: [tools]}`): exports off the state task;
/// answers `{"resolve", "path", "python", "pythonVersion", "packages", "rebuilt"}` or `{"error"}`.
pub fn execute(state: &State, args: &Value) -> Result<Reply, String> {
    let index = workspace(state, args)?;
    let project = Arc::clone(&state.workspaces[index].project);
    let goals = state
        .goals_of(&project.root)
        .ok_or("the cache is not open yet; try again once the workspace is loaded")?;
    let mut options = default_options(&project);
    if let Some(resolve) = args.get("resolve").and_then(Value::as_str) {
        resolve.clone_into(&mut options.resolve);
    }
    if let Some(tools) = args.get("with").and_then(Value::as_array) {
        options.tools = tools.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    }
    let (sender, receiver) = oneshot::channel();
    let client = state.client.clone();
    tokio::task::spawn_blocking(move || {
        let answer = run(&goals, &project, &options, &client);
        let _ = sender.send(answer);
    });
    Ok(Reply::Later(vec![receiver]))
}

/// Exports, telling the client's log what happens; the command's answer.
fn run(goals: &Goals, project: &Project, options: &ExportOptions, client: &Client) -> Value {
    let handle = tokio::runtime::Handle::current();
    let mut progress = |message: &str| {
        let (client, message) = (client.clone(), format!("pleat: {message}"));
        handle.spawn(async move { client.log_message(MessageType::INFO, message).await });
    };
    match export::export(goals, project, options, &mut progress) {
        Ok(e) => json!({
            "resolve": e.resolve, "path": e.root, "python": e.python, "pythonVersion": e.python_version,
            "packages": e.packages.len(), "tools": e.tools, "rebuilt": e.rebuilt,
        }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// The interpreter of a workspace's default export, when there is one (for `pleat/status`).
pub fn exported_python(state: &State) -> Option<PathBuf> {
    state.workspaces.iter().find_map(|w| {
        let goals = state.goals_of(&w.project.root)?;
        let root = export::folder(&w.project, engine::resolves::DEFAULT, &goals.tools.interpreter.version);
        export::recorded(&root).map(|_| root.join("bin").join("python"))
    })
}

/// After a workspace (re)loaded: when it has an export made from other requirements or
/// another lock than it declares now, says so once, offering to export again.
pub fn notice_stale(state: &State, index: usize) {
    let project = Arc::clone(&state.workspaces[index].project);
    let Some(goals) = state.goals_of(&project.root) else { return };
    let client = state.client.clone();
    tokio::task::spawn_blocking(move || {
        let options = default_options(&project);
        let Ok(inputs) = export::inputs(&goals, &project, &options) else { return };
        let root = export::folder(&project, &options.resolve, &goals.tools.interpreter.version);
        let Some((_, recorded)) = export::recorded(&root) else { return };
        if recorded == inputs.digest.hex() {
            return;
        }
        let first = SAID.lock().is_ok_and(|mut said| {
            said.get_or_insert_default().insert((project.root.clone(), inputs.digest.hex()))
        });
        if !first {
            return;
        }
        let shown = root.strip_prefix(&project.root).unwrap_or(&root).display().to_string();
        let message = format!(
            "Pleat: the requirements or the lock changed since {shown} was exported; the editor's interpreter there is out of date."
        );
        let handle = tokio::runtime::Handle::current();
        handle.clone().spawn(async move {
            let action = MessageActionItem {
                title: EXPORT_NOW.to_owned(),
                properties: std::collections::HashMap::default(),
            };
            let chosen = client.show_message_request(MessageType::WARNING, message, Some(vec![action])).await;
            if let Ok(Some(item)) = chosen
                && item.title == EXPORT_NOW
            {
                let done = tokio::task::spawn_blocking({
                    let client = client.clone();
                    move || run(&goals, &project, &options, &client)
                })
                .await
                .unwrap_or_default();
                let text = match done.get("python").and_then(Value::as_str) {
                    Some(python) => format!("Pleat: exported; interpreter: {python}"),
                    None => format!("Pleat: the export failed: {}", done["error"].as_str().unwrap_or("")),
                };
                client.show_message(MessageType::INFO, text).await;
            }
        });
    });
}
