//! Accounts from the console: the command line's code paths
//! (`crate::accounts::{add, set_passphrase, remove}`), so the same rules
//! hold, and each change is an audit row saying it came from the console.
//! Request bodies are read here rather than by a JSON extractor: a parse
//! error names only what was expected, never a value sent (which may be a
//! passphrase).

use auth::flow::AccountId;
use auth::store::StoreError;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::{bad_request, store_unavailable, Console};
use crate::accounts::{self, NewAccountInput};

const BY: &str = "console";

pub async fn list(State(console): State<Console>) -> Response {
    match console.store.list_accounts().await {
        // The record skips its passphrase when serialized.
        Ok(accounts) => Json(accounts).into_response(),
        Err(e) => store_unavailable(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    name: String,
    phones: Vec<String>,
    passphrase: String,
    #[serde(default = "zero")]
    balance: String,
    #[serde(default)]
    id: Option<String>,
}

fn zero() -> String {
    "0".into()
}

pub async fn add(State(console): State<Console>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<AddBody>(&body) else {
        return bad_request(
            "expected a JSON object {name, phones: [..], passphrase, balance?, id?}",
        );
    };
    let new = NewAccountInput {
        name: &body.name,
        phones: &body.phones,
        passphrase: &body.passphrase,
        balance: &body.balance,
        id: body.id.clone().filter(|id| !id.is_empty()),
    };
    match accounts::add(&console.store, &console.numbering, new, BY).await {
        Ok(id) => {
            tracing::info!(account = %id, by = BY, "account added");
            (StatusCode::CREATED, Json(serde_json::json!({ "id": id.0 }))).into_response()
        }
        Err(e) => refused(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PassphraseBody {
    passphrase: String,
}

pub async fn set_passphrase(
    State(console): State<Console>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<PassphraseBody>(&body) else {
        return bad_request("expected a JSON object {passphrase}");
    };
    let id = AccountId(id);
    match accounts::set_passphrase(&console.store, &id, &body.passphrase, BY).await {
        Ok(()) => {
            tracing::info!(account = %id, by = BY, "passphrase replaced");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => refused(&e),
    }
}

pub async fn remove(State(console): State<Console>, Path(id): Path<String>) -> Response {
    let id = AccountId(id);
    match accounts::remove(&console.store, &id, BY).await {
        Ok(()) => {
            tracing::info!(account = %id, by = BY, "account removed");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => refused(&e),
    }
}

/// Why a change was refused, with the status that says whose fault it is.
/// The messages are the command line's: they name numbers and ids, never
/// a passphrase.
fn refused(e: &anyhow::Error) -> Response {
    let store = e.chain().find_map(|c| c.downcast_ref::<StoreError>());
    let status = match store {
        Some(StoreError::UnknownAccount(_)) => StatusCode::NOT_FOUND,
        Some(StoreError::DuplicatePhone(_) | StoreError::DuplicateAccount(_)) => {
            StatusCode::CONFLICT
        }
        Some(StoreError::Database(_) | StoreError::Migrate(_) | StoreError::Worker(_)) => {
            return store_unavailable_any(e);
        }
        _ => StatusCode::BAD_REQUEST,
    };
    (
        status,
        Json(serde_json::json!({ "error": format!("{e:#}") })),
    )
        .into_response()
}

fn store_unavailable_any(e: &anyhow::Error) -> Response {
    tracing::warn!(error = %format!("{e:#}"), "console: the account store failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "error": "the account store failed" })),
    )
        .into_response()
}
