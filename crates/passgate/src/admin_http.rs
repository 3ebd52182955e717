//! Admin HTTP: `/livez` (the process answers), `/readyz` (it can take calls:
//! store reachable, audit spool writable, under its caps, not draining; 503
//! with the reasons otherwise), `/healthz` (the same as `/readyz`) and
//! `/metrics` (Prometheus text), and the operator console (`crate::console`:
//! its JSON endpoints, and its page at `/console/`). When `http.token` is
//! set (it must be off loopback) every request but the console page's
//! files must carry `Authorization: Bearer <http.token>`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sip::driver::SipHandle;

use crate::health::{CallCaps, Health};
use crate::metrics::Metrics;

/// What `/readyz` judges by: the node's health and its call caps.
#[derive(Clone)]
pub struct Readiness {
    pub health: Arc<Health>,
    pub caps: CallCaps,
}

#[derive(Clone)]
struct Admin {
    metrics: Arc<Metrics>,
    sip: SipHandle,
    readiness: Readiness,
    token: Option<Arc<str>>,
}

/// Binds the listener (so a bad address fails start-up) and serves in the
/// background, with `pages` (routes of their own, such as the test phone's)
/// beside the admin routes.
pub async fn start(
    listen: SocketAddr,
    token: &str,
    metrics: Arc<Metrics>,
    sip: SipHandle,
    readiness: Readiness,
    console: crate::console::Console,
    pages: Router,
) -> anyhow::Result<SocketAddr> {
    let state = Admin {
        metrics,
        sip,
        readiness,
        token: (!token.is_empty()).then(|| Arc::from(token)),
    };
    let app = Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/healthz", get(readyz))
        .route("/metrics", get(metrics_text))
        .merge(crate::console::api(console.clone()))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
        .merge(crate::console::pages(console))
        .merge(pages);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin HTTP stopped");
        }
    });
    Ok(bound)
}

async fn require_token(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    if let Some(token) = &admin.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_ref()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "token required\n",
            )
                .into_response();
        }
    }
    next.run(request).await
}

async fn livez(State(admin): State<Admin>) -> Response {
    match admin.sip.stats().await {
        Some(s) => (StatusCode::OK, format!("ok calls={}\n", s.active_calls)).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "SIP stopped\n").into_response(),
    }
}

async fn readyz(State(admin): State<Admin>) -> Response {
    let Some(s) = admin.sip.stats().await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: SIP stopped\n").into_response();
    };
    let ready = admin
        .readiness
        .health
        .readiness(&admin.metrics, admin.readiness.caps);
    match ready {
        Ok(()) => (StatusCode::OK, format!("ok calls={}\n", s.active_calls)).into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

async fn metrics_text(State(admin): State<Admin>) -> Response {
    let sip = admin.sip.stats().await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        admin.metrics.render(sip),
    )
        .into_response()
}
