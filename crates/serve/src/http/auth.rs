//! Bearer-token authentication (`--token-file`): every route except the
//! health probes needs `Authorization: Bearer <token>`. `/metrics` is
//! protected too: Prometheus sends a bearer token from its scrape
//! configuration (`authorization: {credentials_file: ...}`), and job counts
//! are nobody else's business.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::jobs::app::App;

/// Routes open without a token.
pub const OPEN_ROUTES: [&str; 2] = ["/healthz", "/readyz"];

/// Compares in time independent of where the inputs differ (the length of
/// the token is not secret-dependent beyond its length).
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Whether `value` (an `Authorization` header) carries `token`.
pub fn authorized(value: Option<&HeaderValue>, token: &str) -> bool {
    let Some(v) = value.and_then(|v| v.to_str().ok()) else { return false };
    let Some((scheme, given)) = v.trim().split_once(' ') else { return false };
    scheme.eq_ignore_ascii_case("bearer") && same(given.trim().as_bytes(), token.as_bytes())
}

/// The middleware: 401 with `WWW-Authenticate: Bearer` without the token.
pub async fn require_token(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let Some(token) = app.config.token.as_deref() else { return next.run(req).await };
    if OPEN_ROUTES.contains(&req.uri().path()) || authorized(req.headers().get(header::AUTHORIZATION), token) {
        return next.run(req).await;
    }
    let mut r =
        ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token (Authorization: Bearer <token>)")
            .into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert!(authorized(Some(&h("Bearer secret-token")), "secret-token"));
        assert!(authorized(Some(&h("bearer  secret-token ")), "secret-token"));
        assert!(!authorized(Some(&h("Bearer secret-tokem")), "secret-token"));
        assert!(!authorized(Some(&h("Bearer secret")), "secret-token"));
        assert!(!authorized(Some(&h("Basic secret-token")), "secret-token"));
        assert!(!authorized(None, "secret-token"));
    }
}
