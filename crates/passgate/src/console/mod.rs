//! The operator console: JSON endpoints on the admin HTTP listener and the
//! page that reads them (`web/console/`, served from `http.assets`).
//!
//! - `GET /api/console/calls`: the calls in progress and the last ones that
//!   ended ([`live`]).
//! - `GET /api/console/audit?number=&account=&outcome=&before=&limit=`: the
//!   audit trail, newest first, a page at a time.
//! - `GET|POST /api/console/accounts`, `PUT /api/console/accounts/{id}/passphrase`,
//!   `DELETE /api/console/accounts/{id}`: accounts, by the command line's
//!   rules and code (`crate::accounts`).
//! - `GET /api/console/metrics`: the key metrics as time series ([`series`]).
//! - `GET /api/console/demo`: in `passgate demo` only, the demo account, its
//!   passphrase and the codes the console SMS gateway sent; 404 otherwise.
//!
//! The endpoints sit behind `http.token` like the rest of the admin HTTP.
//! The page's files hold nothing secret and are served without it; the page
//! asks for the token and sends it with each request. No response carries a
//! passphrase, a hash or a code, outside the demo's own.

mod accounts_api;
mod assets;
pub mod demo;
pub mod live;
pub mod series;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use auth::flow::AccountId;
use auth::phone::NumberingPlan;
use auth::store::{AuditQuery, Store};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use serde::Deserialize;

pub use demo::{Demo, SmsInbox};
pub use live::LiveCalls;

/// What the console reads and changes; cheap to clone.
#[derive(Clone)]
pub struct Console {
    pub store: Store,
    pub live: Arc<LiveCalls>,
    pub series: Arc<series::Series>,
    pub numbering: Arc<NumberingPlan>,
    /// Set in `passgate demo` only.
    pub demo: Option<Arc<Demo>>,
    /// `http.assets`: the page is `console/` under it.
    pub assets: PathBuf,
}

/// The JSON endpoints, to be put behind the admin token.
pub fn api<S: Clone + Send + Sync + 'static>(console: Console) -> Router<S> {
    Router::new()
        .route("/api/console/calls", get(calls))
        .route("/api/console/audit", get(audit))
        .route(
            "/api/console/accounts",
            get(accounts_api::list).post(accounts_api::add),
        )
        .route("/api/console/accounts/{id}", delete(accounts_api::remove))
        .route(
            "/api/console/accounts/{id}/passphrase",
            put(accounts_api::set_passphrase),
        )
        .route("/api/console/metrics", get(metrics))
        .route("/api/console/demo", get(demo))
        .with_state(console)
}

/// The page's files. A missing page is said once, at start: the endpoints
/// work without it.
pub fn pages<S: Clone + Send + Sync + 'static>(console: Console) -> Router<S> {
    let dir = console.assets.join("console");
    if !dir.join("index.html").is_file() {
        tracing::warn!(dir = %dir.display(), "the console's page is not there (http.assets); /console/ answers 404");
    }
    assets::router(dir)
}

async fn calls(State(console): State<Console>) -> Response {
    let now = Instant::now();
    Json(serde_json::json!({
        "live": console.live.live(now),
        "recent": console.live.recent(),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct AuditParams {
    number: Option<String>,
    account: Option<String>,
    outcome: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

/// Rows per audit page unless the request asks otherwise.
const AUDIT_PAGE: u32 = 50;

async fn audit(State(console): State<Console>, Query(p): Query<AuditParams>) -> Response {
    let given = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let number = match given(p.number) {
        Some(n) => match console.numbering.normalise(&n) {
            Some(number) => Some(number),
            None => return bad_request(&format!("{n:?} is not a phone number")),
        },
        None => None,
    };
    let query = AuditQuery {
        number,
        account: given(p.account).map(AccountId),
        outcome: given(p.outcome),
        before: p.before,
        limit: p.limit.unwrap_or(AUDIT_PAGE),
    };
    match console.store.search_audit(&query).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => store_unavailable(&e),
    }
}

async fn metrics(State(console): State<Console>) -> Response {
    Json(serde_json::json!({
        "every_ms": series::SAMPLE_EVERY.as_millis() as u64,
        "samples": console.series.samples(),
    }))
    .into_response()
}

async fn demo(State(console): State<Console>) -> Response {
    match &console.demo {
        Some(demo) => Json(demo.view()).into_response(),
        None => (StatusCode::NOT_FOUND, "not a demo\n").into_response(),
    }
}

fn bad_request(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": why })),
    )
        .into_response()
}

fn store_unavailable(e: &auth::store::StoreError) -> Response {
    tracing::warn!(error = %e, "console: the account store failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "error": format!("the account store failed: {}", e.failure()) })),
    )
        .into_response()
}
