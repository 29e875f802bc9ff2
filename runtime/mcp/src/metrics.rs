//! The metrics endpoint: `GET /metrics` in the Prometheus text format, on a
//! listener of its own (`airlock serve --metrics ADDR`), apart from the MCP
//! endpoint and its authentication. The metrics hold no identity, token or
//! secret (see [`airlock_gateway::metrics`]).

use std::sync::Arc;

use airlock_gateway::Metrics;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};
use tokio::net::TcpListener;

use crate::error::ServeError;

/// Where the metrics are served.
pub const METRICS_PATH: &str = "/metrics";

/// The content type of the Prometheus text exposition format 0.0.4.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `metrics` at [`METRICS_PATH`] on `listener` until the process
/// ends. Every other path is `404`.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> Result<(), ServeError> {
    axum::serve(listener, router(metrics)).await?;
    Ok(())
}

/// The one route.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(METRICS_PATH, get(scrape)).with_state(metrics)
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot render the metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot render the metrics\n").into_response()
        }
    }
}
