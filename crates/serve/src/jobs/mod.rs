//! What runs behind the API: the durable job table ([`store`]), the wake-up
//! queue ([`queue`]), the threads that score ([`workers`]), media-root files
//! opened once beneath the root ([`media`]), the Prometheus metrics
//! ([`metrics`]), and the state all of them share ([`app`]).

pub mod app;
pub mod media;
pub mod metrics;
pub mod queue;
pub mod store;
pub mod workers;
