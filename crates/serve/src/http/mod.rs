//! What a client sees: the routes of the API ([`routes`]) and their wire
//! types ([`wire`]), the OpenAPI document ([`openapi`]), bearer tokens
//! ([`auth`]), request bodies ([`upload`]), and [`ingest`], which turns
//! every video a request brings into a stored (or media-root) file probed
//! as untrusted input before a job exists.

pub mod auth;
pub mod ingest;
pub mod openapi;
pub mod routes;
pub mod upload;
pub mod wire;
