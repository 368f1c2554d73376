//! The JSON API: GET /api/items, POST /api/bids, GET /api/dashboard and the
//! dashboard's SSE stream GET /api/stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::Stream;
use serde_json::json;

use super::dashboard::ItemView;
use super::state::{PlaceError, WebState};
use crate::bid::BidRequest;

/// Every item with its highest bid, bid count and time left.
pub async fn items(State(state): State<Arc<WebState>>) -> Json<Vec<ItemView>> {
    Json(state.item_views())
}

/// The error body every 4xx/5xx of the API carries.
pub fn error(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    (
        status,
        Json(json!({"error": message.to_string(), "code": code})),
    )
        .into_response()
}

/// Places a bid: 201 with the bid (its id) and the new highest bid, 400
/// with a message and a code when the bid is refused, 503 when the broker
/// could not take it.
pub async fn place_bid(
    State(state): State<Arc<WebState>>,
    body: Result<Json<BidRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_json", e.body_text()),
    };
    match state.place(&req).await {
        Ok((bid, highest)) => (
            StatusCode::CREATED,
            Json(json!({"status": "bid added", "bid": bid, "highest": highest})),
        )
            .into_response(),
        Err(PlaceError::Rejected(r)) => error(StatusCode::BAD_REQUEST, r.code(), &r),
        Err(e @ PlaceError::Unavailable(_)) => {
            error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e)
        }
    }
}

/// The bids on one item as the table holds them, in stored order.
pub async fn item_bids(State(state): State<Arc<WebState>>, Path(name): Path<String>) -> Response {
    if state.catalog().get(&name).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_item",
            format!("there is no item called `{name}`"),
        );
    }
    match state.store.item_bids(&name).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e),
    }
}

pub async fn dashboard(State(state): State<Arc<WebState>>) -> Response {
    Json(state.dashboard.borrow().clone()).into_response()
}

/// Pushes the dashboard each time it changes (at most twice a second).
pub async fn stream(
    State(state): State<Arc<WebState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.dashboard.subscribe();
    let stream = futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let data = serde_json::to_string(&*rx.borrow_and_update().clone()).unwrap_or_default();
        Some((
            Ok(Event::default().event("dashboard").data(data)),
            (rx, false),
        ))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
