//! Code actions and formatting: quick fixes from the fix each lint diagnostic carries, "fix all" and document formatting through the hermetic tools on the buffer's text (cached by content).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CodeActionResponse, TextEdit, Uri,
    WorkspaceEdit,
};

use super::event::{Event, ask};

/// `source.fixAll.pleat`: every safe fix, as ruff applies them.
pub static FIX_ALL: LazyLock<CodeActionKind> = LazyLock::new(|| CodeActionKind::new("source.fixAll.pleat"));

/// Which buffer transform to run.
#[derive(Clone, Copy)]
enum Transform {
    Format,
    FixAll,
}

pub async fn code_actions(
    events: &mpsc::UnboundedSender<Event>,
    params: CodeActionParams,
) -> Result<Option<CodeActionResponse>> {
    let uri = params.text_document.uri;
    let only = params.context.only.unwrap_or_default();
    let wanted =
        |kind: &CodeActionKind| only.is_empty() || only.iter().any(|o| kind.as_str().starts_with(o.as_str()));
    let mut actions = Vec::new();
    if wanted(&CodeActionKind::QUICKFIX) {
        for diagnostic in &params.context.diagnostics {
            let Some(fix) = diagnostic.data.as_ref().and_then(|d| d.get("fix")) else { continue };
            let Ok(edits) =
                serde_json::from_value::<Vec<TextEdit>>(fix.get("edits").cloned().unwrap_or(Value::Null))
            else {
                continue;
            };
            let safe = fix.get("safe").and_then(Value::as_bool).unwrap_or(false);
            let title = fix.get("title").and_then(Value::as_str).unwrap_or("Fix");
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: if safe { title.to_owned() } else { format!("{title} (unsafe)") },
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![diagnostic.clone()]),
                edit: Some(WorkspaceEdit {
                    changes: Some(HashMap::from([(uri.clone(), edits)])),
                    ..Default::default()
                }),
                is_preferred: Some(safe),
                ..CodeAction::default()
            }));
        }
    }
    let fix_all_wanted =
        only.iter().any(|o| FIX_ALL.as_str().starts_with(o.as_str()) && o.as_str().starts_with("source"));
    let has_fixes =
        params.context.diagnostics.iter().any(|d| d.data.as_ref().is_some_and(|d| d.get("fix").is_some()));
    if fix_all_wanted || (only.is_empty() && has_fixes) {
        let mut action = CodeAction {
            title: "Fix all auto-fixable problems (ruff)".to_owned(),
            kind: Some(FIX_ALL.clone()),
            data: Some(json!({ "uri": uri.as_str() })),
            ..CodeAction::default()
        };
        // Editors that fix on save ask for this kind alone and apply the edit directly.
        if fix_all_wanted {
            action.edit = edit(events, &uri, Transform::FixAll).await?;
            action.data = None;
        }
        actions.push(CodeActionOrCommand::CodeAction(action));
    }
    Ok(Some(actions))
}

pub async fn resolve(events: &mpsc::UnboundedSender<Event>, mut action: CodeAction) -> Result<CodeAction> {
    let uri = action
        .data
        .as_ref()
        .and_then(|d| d.get("uri"))
        .and_then(Value::as_str)
        .and_then(|u| u.parse::<Uri>().ok());
    if let Some(uri) = uri
        && action.edit.is_none()
    {
        action.edit = edit(events, &uri, Transform::FixAll).await?;
    }
    Ok(action)
}

pub async fn format(events: &mpsc::UnboundedSender<Event>, uri: &Uri) -> Result<Option<Vec<TextEdit>>> {
    transform(events, uri, Transform::Format).await
}

async fn edit(
    events: &mpsc::UnboundedSender<Event>,
    uri: &Uri,
    which: Transform,
) -> Result<Option<WorkspaceEdit>> {
    let edits = transform(events, uri, which).await?;
    Ok(edits.map(|edits| WorkspaceEdit {
        changes: Some(HashMap::from([(uri.clone(), edits)])),
        ..Default::default()
    }))
}

/// Runs a transform on the buffer's text on a blocking thread; the result replaces the
/// whole document (None when nothing changes).
async fn transform(
    events: &mpsc::UnboundedSender<Event>,
    uri: &Uri,
    which: Transform,
) -> Result<Option<Vec<TextEdit>>> {
    let target = uri.clone();
    let Some((goals, project, path, text)) = ask(events, move |s| s.buffer(&target)).await? else {
        return Err(Error::invalid_params(format!(
            "{} is not an open Python document of a loaded workspace; open it first",
            uri.as_str()
        )));
    };
    let before = text.clone();
    let result = tokio::task::spawn_blocking(move || {
        let goals = goals.with_cancel(engine::exec::Cancel::new());
        let project = Arc::clone(&project);
        let mut quiet = |_: &str| {};
        match which {
            Transform::Format => engine::goals::fmt::format_text(
                &goals,
                &project,
                &path,
                &text,
                engine::goals::fmt::Formatter::Ruff,
                &mut quiet,
            ),
            Transform::FixAll => engine::goals::lint::fix_text(&goals, &project, &path, &text, &mut quiet),
        }
    })
    .await
    .map_err(|_| Error::internal_error())?
    .map_err(|e| Error { message: e.to_string().into(), ..Error::internal_error() })?;
    Ok(result
        .text
        .map(|after| vec![TextEdit { range: super::text::Text::new(&before).whole(), new_text: after }]))
}
