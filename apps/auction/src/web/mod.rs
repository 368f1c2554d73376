//! The website: HTML pages with a bid form, the JSON API, and the live
//! dashboard, on one HTTP port (axum).
//!
//! The website validates a bid against the highest bid it knows (the
//! table's, refreshed twice a second, and the bids it produced itself),
//! gives it a unique id, and produces it to `bids` with acks=all. The
//! auction rule is settled again by the DB writers in partition order, so
//! two bids racing through two requests cannot both win.

mod api;
mod dashboard;
mod pages;
mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

pub use dashboard::Dashboard;
pub use state::{PlaceError, WebState};

use crate::error::{AuctionError, Result};

/// The routes; `state` is shared by every request.
pub fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/", get(pages::index))
        .route("/items/{name}", get(pages::item))
        .route("/bid", post(pages::bid_form))
        .route("/dashboard", get(pages::dashboard))
        .route("/static/chart.umd.min.js", get(pages::chart_js))
        .route("/api/items", get(api::items))
        .route("/api/bids", post(api::place_bid))
        .route("/api/items/{name}/bids", get(api::item_bids))
        .route("/api/dashboard", get(api::dashboard))
        .route("/api/stream", get(api::stream))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

/// Serves the website on `listener` until `shutdown` completes, with the
/// background task that refreshes what the pages and dashboard show.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<WebState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(listen = ?addr, "auction website ready");
    let refresher = tokio::spawn(state::refresh_loop(state.clone()));
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(AuctionError::Http);
    refresher.abort();
    result
}
