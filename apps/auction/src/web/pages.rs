//! The HTML pages: the items with their bid forms, one item, the bid result
//! and the dashboard. Rendered as strings (every value escaped), no
//! template engine.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;

use super::dashboard::ItemView;
use super::state::{PlaceError, WebState};
use crate::bid::BidRequest;

const CHART_JS: &str = include_str!("../../static/vendor/chart.umd.min.js");
const DASHBOARD_JS: &str = include_str!("../../static/dashboard.js");
const STYLE: &str = include_str!("../../static/style.css");

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Fjord auction</title><style>{STYLE}</style></head><body>\
         <header><a href=\"/\" class=\"brand\">Fjord auction</a>\
         <nav><a href=\"/\">Items</a> <a href=\"/dashboard\">Dashboard</a></nav></header>\
         <main>{body}</main></body></html>",
        t = esc(title)
    )
}

/// A message shown above the items after a bid.
enum Notice {
    Added {
        item: String,
        price: i64,
        highest: i64,
    },
    Refused(String),
}

fn notice_html(n: &Notice) -> String {
    match n {
        Notice::Added { item, price, highest } => format!(
            "<p class=\"notice ok\" id=\"notice\">bid added: {price} on {} · highest bid now {highest}</p>",
            esc(item)
        ),
        Notice::Refused(msg) => format!("<p class=\"notice err\" id=\"notice\">{}</p>", esc(msg)),
    }
}

fn item_card(v: &ItemView, name_value: &str) -> String {
    let highest = match (&v.stats.highest, &v.stats.leader) {
        (Some(h), Some(who)) => format!("<b class=\"highest\">{h}</b> by {}", esc(who)),
        _ => format!(
            "no bids yet · starting price <b class=\"highest\">{}</b>",
            v.starting_price
        ),
    };
    let status = match (&v.open, &v.winner) {
        (true, _) => format!("<span class=\"left\">{} left</span>", esc(&v.time_left)),
        (false, Some(w)) => format!("<span class=\"closed\">closed · winner: {}</span>", esc(w)),
        (false, None) => "<span class=\"closed\">closed · no bids</span>".to_string(),
    };
    let form = if v.open {
        format!(
            "<form method=\"post\" action=\"/bid\" class=\"bid\">\
             <input type=\"hidden\" name=\"item\" value=\"{item}\">\
             <input type=\"hidden\" name=\"id\" value=\"{id}\">\
             <label>Your name <input name=\"name\" maxlength=\"64\" value=\"{name}\" required></label>\
             <label>Price <input name=\"price\" inputmode=\"numeric\" required></label>\
             <button type=\"submit\">Bid</button></form>",
            item = esc(&v.stats.item),
            // A fresh id per rendered form: resubmitting the same form
            // (a retry, a double click) stores the bid once.
            id = uuid::Uuid::new_v4(),
            name = esc(name_value)
        )
    } else {
        String::new()
    };
    format!(
        "<section class=\"item\" id=\"item-{item}\"><h2><a href=\"/items/{item}\">{item}</a></h2>\
         <p class=\"desc\">{desc}</p><p>Highest bid: {highest}</p>\
         <p>{bids} bid(s) · {status}</p>{form}</section>",
        item = esc(&v.stats.item),
        desc = esc(&v.description),
        bids = v.stats.bids,
    )
}

fn items_page(state: &WebState, only: Option<&str>, notice: Option<&Notice>, name: &str) -> String {
    let mut body = String::new();
    if let Some(n) = notice {
        body.push_str(&notice_html(n));
    }
    let views = state.item_views();
    let shown: Vec<&ItemView> = views
        .iter()
        .filter(|v| only.is_none_or(|o| v.stats.item == o))
        .collect();
    if shown.is_empty() {
        body.push_str(
            "<p>No items on auction. Add one with <code>fjord auction item add</code>.</p>",
        );
    }
    for v in shown {
        body.push_str(&item_card(v, name));
    }
    layout(only.unwrap_or("Items"), &body)
}

pub async fn index(State(state): State<Arc<WebState>>) -> Html<String> {
    Html(items_page(&state, None, None, ""))
}

pub async fn item(State(state): State<Arc<WebState>>, Path(name): Path<String>) -> Response {
    if state.catalog().get(&name).is_none() {
        let body = format!(
            "<p class=\"notice err\">there is no item called `{}`</p>",
            esc(&name)
        );
        return (StatusCode::NOT_FOUND, Html(layout("Not found", &body))).into_response();
    }
    Html(items_page(&state, Some(&name), None, "")).into_response()
}

/// The bid form's target: "bid added" and the new highest bid, or the
/// reason the bid was refused, above the items.
pub async fn bid_form(
    State(state): State<Arc<WebState>>,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    let text = |k: &str| fields.get(k).map(|v| serde_json::Value::String(v.clone()));
    let req = BidRequest {
        item: text("item"),
        name: text("name"),
        price: text("price"),
        id: fields.get("id").filter(|s| !s.is_empty()).cloned(),
    };
    let name = fields.get("name").cloned().unwrap_or_default();
    let (status, notice) = match state.place(&req).await {
        Ok((bid, highest)) => (
            StatusCode::OK,
            Notice::Added {
                item: bid.item,
                price: bid.price,
                highest,
            },
        ),
        Err(PlaceError::Rejected(r)) => (StatusCode::BAD_REQUEST, Notice::Refused(r.to_string())),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Notice::Refused(e.to_string()),
        ),
    };
    (status, Html(items_page(&state, None, Some(&notice), &name))).into_response()
}

pub async fn dashboard() -> Html<String> {
    let body = format!(
        "<h1>Live dashboard</h1>\
         <div class=\"counters\"><div><span id=\"total\">0</span> bids</div>\
         <div>DB writers lag <span id=\"lag-db\">?</span></div>\
         <div>backup lag <span id=\"lag-backup\">?</span></div>\
         <div title=\"records of bids that were not bids, set aside by the writers\">dead letters <span id=\"dead-letters\">?</span></div>\
         <div title=\"bids that arrived after their minute closed, in the topic bids-late (stream statistics)\">late bids <span id=\"late-bids\">?</span></div>\
         <div class=\"live\" id=\"live\">connecting…</div></div>\
         <div class=\"grid\">\
         <figure><figcaption>Highest bid per item</figcaption><div class=\"chart\"><canvas id=\"c-highest\"></canvas></div></figure>\
         <figure><figcaption>Bids per minute</figcaption><div class=\"chart\"><canvas id=\"c-rate\"></canvas></div></figure>\
         <figure><figcaption>Bids and outbid bids per item</figcaption><div class=\"chart\"><canvas id=\"c-counts\"></canvas></div></figure>\
         <figure><figcaption>Top bidders</figcaption><div class=\"chart\"><canvas id=\"c-bidders\"></canvas></div></figure>\
         <figure><figcaption>Price distribution (latest bids)</figcaption><div class=\"chart\"><canvas id=\"c-prices\"></canvas></div></figure>\
         <figure><figcaption>Consumer group lag</figcaption><div class=\"chart\"><canvas id=\"c-lag\"></canvas></div></figure>\
         </div>\
         <h2>Items</h2><table id=\"items\"><thead><tr><th>item</th><th>highest</th><th>leader / winner</th><th>bids</th><th>left</th></tr></thead><tbody></tbody></table>\
         <h2>This minute (stream statistics)</h2><table id=\"minutes\"><thead><tr><th>item</th><th>minute</th><th>bids</th><th>highest</th></tr></thead><tbody></tbody></table>\
         <h2>Latest bids</h2><table id=\"latest\"><thead><tr><th>item</th><th>name</th><th>price</th><th>status</th></tr></thead><tbody></tbody></table>\
         <script src=\"/static/chart.umd.min.js\"></script><script>{DASHBOARD_JS}</script>"
    );
    Html(layout("Dashboard", &body))
}

pub async fn chart_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        CHART_JS,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
