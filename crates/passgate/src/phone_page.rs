//! The browser test phone on the admin HTTP listener: `/phone` (the page),
//! `/phone/phone.js`, `/phone/jssip.min.js` (the browser SIP library, built
//! from npm by `make deps` into the assets directory's `dist/`) and
//! `/phone/config.json` (where the page's WebSocket goes, and the demo
//! account to call as, when the node runs `passgate demo`).
//!
//! Off loopback the page's requests must carry `http.token`, as a Bearer
//! header or, since a browser opening a link can send no header, as the
//! `token` query parameter; the page hands the same token to the SIP
//! WebSocket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// What the page needs to know about this node.
#[derive(Debug, Clone, Default)]
pub struct PhoneInfo {
    /// The SIP WebSocket listener, if on.
    pub ws: Option<SocketAddr>,
    /// The number, name and passphrase of the demo account (`passgate
    /// demo` only: elsewhere a passphrase is never shown).
    pub demo: Option<DemoAccount>,
}

#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub number: String,
    pub name: String,
    pub passphrase: String,
}

#[derive(Clone)]
struct Phone {
    assets: Arc<PathBuf>,
    info: Arc<PhoneInfo>,
    token: Option<Arc<str>>,
}

/// The page's routes, with their own token check.
pub fn routes<S: Clone + Send + Sync + 'static>(
    assets: PathBuf,
    info: PhoneInfo,
    token: &str,
) -> Router<S> {
    let state = Phone {
        assets: Arc::new(assets),
        info: Arc::new(info),
        token: (!token.is_empty()).then(|| Arc::from(token)),
    };
    Router::new()
        .route("/phone", get(page))
        .route("/phone/phone.js", get(script))
        .route("/phone/jssip.min.js", get(bundle))
        .route("/phone/config.json", get(config))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

async fn require_token(State(phone): State<Phone>, request: Request, next: Next) -> Response {
    if let Some(token) = &phone.token {
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let query = request
            .uri()
            .query()
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|pair| pair.strip_prefix("token="));
        if bearer != Some(token.as_ref()) && query != Some(token.as_ref()) {
            return (StatusCode::UNAUTHORIZED, "token required\n").into_response();
        }
    }
    next.run(request).await
}

async fn page(State(phone): State<Phone>) -> Response {
    asset(&phone, "phone.html", "text/html; charset=utf-8").await
}

async fn script(State(phone): State<Phone>) -> Response {
    asset(&phone, "phone.js", "text/javascript; charset=utf-8").await
}

async fn bundle(State(phone): State<Phone>) -> Response {
    asset(
        &phone,
        "dist/jssip.min.js",
        "text/javascript; charset=utf-8",
    )
    .await
}

async fn asset(phone: &Phone, name: &str, content_type: &'static str) -> Response {
    let path = phone.assets.join(name);
    match tokio::fs::read(&path).await {
        Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "test phone asset missing");
            let hint = if name.starts_with("dist/") {
                " (the browser SIP library is built by `make deps`, or `cd web && npm ci && npm run build`)"
            } else {
                " (http.assets names the directory)"
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{} is missing: {e}{hint}\n", path.display()),
            )
                .into_response()
        }
    }
}

async fn config(State(phone): State<Phone>) -> Response {
    let info = &phone.info;
    let demo = info.demo.as_ref().map(|d| {
        serde_json::json!({
            "number": d.number,
            "name": d.name,
            "passphrase": d.passphrase,
        })
    });
    let body = serde_json::json!({
        "ws_port": info.ws.map(|a| a.port()),
        "demo": demo,
    });
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    fn app(assets: PathBuf, token: &str) -> Router {
        routes(assets, PhoneInfo::default(), token)
    }

    async fn get(app: Router, uri: &str) -> (StatusCode, String) {
        let response = app
            .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_missing_bundle_says_how_to_build_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (status, body) = get(app(dir.path().into(), ""), "/phone/jssip.min.js").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("make deps"), "{body}");
    }

    #[tokio::test]
    async fn the_token_may_come_as_a_query_parameter() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("phone.html"), "<html>").expect("write");
        let (status, _) = get(app(dir.path().into(), "s3cret"), "/phone").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = get(app(dir.path().into(), "s3cret"), "/phone?token=s3cret").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "<html>"));
    }
}
