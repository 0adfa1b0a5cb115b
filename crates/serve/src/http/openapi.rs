//! The OpenAPI document, generated from the handlers' `#[utoipa::path]`
//! attributes and the documents' `ToSchema` derives.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(title = "relaxvqa", description = "No-reference video quality (ReLaX-VQA) as a service: submit a video, poll its job, read its score and report."),
    paths(
        crate::http::routes::submit,
        crate::http::routes::job,
        crate::http::routes::cancel,
        crate::http::routes::job_report,
        crate::http::routes::score,
        crate::http::routes::healthz,
        crate::http::routes::readyz,
        crate::http::routes::metrics,
        crate::http::routes::openapi,
    ),
    components(schemas(
        crate::http::wire::JobDoc,
        crate::http::wire::PathRequest,
        crate::error::ErrorBody,
        relaxvqa::Score,
        relaxvqa::Segment,
        relaxvqa::Provenance
    )),
    modifiers(&BearerToken),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = doc.components.as_mut() {
            c.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        }
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
