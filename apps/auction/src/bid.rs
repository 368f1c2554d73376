//! The bid model and the website's validation rules.
//!
//! Validation happens once, at the website, before a bid is produced: what
//! reaches the topic is well-formed. The auction rule itself (a bid must beat
//! every earlier bid on its item) is settled again by the DB writers in
//! partition order, because two websites, or two concurrent requests, can
//! both believe their bid is the highest.

use serde::{Deserialize, Serialize};

use crate::items::{Catalog, Item};

/// Bidder names longer than this are refused (and fit any name column).
pub const MAX_NAME: usize = 64;
/// Prices are whole currency units; anything above this is a typo or abuse.
pub const MAX_PRICE: i64 = 1_000_000_000;

/// One bid as it travels through the topic and lands in the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bid {
    /// Unique per bid, assigned at the website (or by a retrying client):
    /// the DB writers store a bid id once however often it is delivered.
    pub id: String,
    pub item: String,
    pub name: String,
    pub price: i64,
    /// When the website accepted the bid, epoch milliseconds (UTC).
    pub bid_ts: i64,
}

/// A bid as submitted, before validation: every field optional and of any
/// JSON type, so a bad request gets a message about the field, not a parse
/// error.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BidRequest {
    #[serde(default)]
    pub item: Option<serde_json::Value>,
    #[serde(default)]
    pub name: Option<serde_json::Value>,
    #[serde(default)]
    pub price: Option<serde_json::Value>,
    /// Optional client-chosen bid id (a UUID): a client retrying a request
    /// sends the same id and the bid is stored once.
    #[serde(default)]
    pub id: Option<String>,
}

/// Why a bid was refused; `Display` is the message shown to the bidder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BidRejection {
    #[error("please enter your name")]
    EmptyName,
    #[error("the name is too long (at most {MAX_NAME} characters)")]
    NameTooLong,
    #[error("the name may not contain control characters")]
    NameControlChars,
    #[error("please enter a price")]
    MissingPrice,
    #[error("the price must be a whole number, like 120")]
    PriceNotNumber,
    #[error("the price must be above zero")]
    PriceZero,
    #[error("the price cannot be negative")]
    PriceNegative,
    #[error("the price is absurdly high (at most {MAX_PRICE})")]
    PriceAbsurd,
    #[error("please choose an item")]
    MissingItem,
    #[error("there is no item called `{0}`")]
    UnknownItem(String),
    #[error("bidding on `{0}` has closed")]
    ItemClosed(String),
    #[error("the first bid must be at least the starting price of {0}")]
    BelowStartingPrice(i64),
    #[error("your bid must be above the highest bid of {0}")]
    NotAboveHighest(i64),
    #[error("the bid id must be a UUID")]
    BadId,
}

impl BidRejection {
    /// A stable machine-readable code for the JSON API.
    pub fn code(&self) -> &'static str {
        match self {
            BidRejection::EmptyName => "empty_name",
            BidRejection::NameTooLong => "name_too_long",
            BidRejection::NameControlChars => "name_invalid",
            BidRejection::MissingPrice => "missing_price",
            BidRejection::PriceNotNumber => "price_not_number",
            BidRejection::PriceZero => "price_zero",
            BidRejection::PriceNegative => "price_negative",
            BidRejection::PriceAbsurd => "price_absurd",
            BidRejection::MissingItem => "missing_item",
            BidRejection::UnknownItem(_) => "unknown_item",
            BidRejection::ItemClosed(_) => "item_closed",
            BidRejection::BelowStartingPrice(_) => "below_starting_price",
            BidRejection::NotAboveHighest(_) => "not_above_highest",
            BidRejection::BadId => "bad_id",
        }
    }
}

fn as_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Parses a price as typed by a person or sent as JSON: a whole number,
/// optionally with spaces around it.
pub fn parse_price(v: Option<&serde_json::Value>) -> Result<i64, BidRejection> {
    let text = v.and_then(as_text).unwrap_or_default();
    let t = text.trim();
    if t.is_empty() {
        return Err(BidRejection::MissingPrice);
    }
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    // "120.00" is a whole number typed with cents; "1e3" and "12.5" are not.
    let digits = digits
        .strip_suffix(".00")
        .or_else(|| digits.strip_suffix(".0"))
        .unwrap_or(digits);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(BidRejection::PriceNotNumber);
    }
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return Err(BidRejection::PriceZero);
    }
    if negative {
        return Err(BidRejection::PriceNegative);
    }
    match significant.parse::<i64>() {
        Ok(p) if p <= MAX_PRICE => Ok(p),
        _ => Err(BidRejection::PriceAbsurd),
    }
}

/// Checks a submitted bid against the items and the highest bid this website
/// knows for the item (`None`: no bid yet), and stamps it with an id and time.
pub fn validate(
    req: &BidRequest,
    catalog: &Catalog,
    known_highest: impl Fn(&str) -> Option<i64>,
    now_ms: i64,
) -> Result<Bid, BidRejection> {
    let item_name = req
        .item
        .as_ref()
        .and_then(as_text)
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if item_name.is_empty() {
        return Err(BidRejection::MissingItem);
    }
    let item: &Item = catalog
        .get(&item_name)
        .ok_or_else(|| BidRejection::UnknownItem(truncate(&item_name, 80)))?;
    let name = req
        .name
        .as_ref()
        .and_then(as_text)
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if name.is_empty() {
        return Err(BidRejection::EmptyName);
    }
    if name.chars().count() > MAX_NAME {
        return Err(BidRejection::NameTooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(BidRejection::NameControlChars);
    }
    let price = parse_price(req.price.as_ref())?;
    if !item.is_open(now_ms) {
        return Err(BidRejection::ItemClosed(item.name.clone()));
    }
    match known_highest(&item.name) {
        Some(h) if price <= h => return Err(BidRejection::NotAboveHighest(h)),
        None if price < item.starting_price => {
            return Err(BidRejection::BelowStartingPrice(item.starting_price))
        }
        _ => {}
    }
    let id = match &req.id {
        Some(id) => uuid::Uuid::parse_str(id.trim())
            .map_err(|_| BidRejection::BadId)?
            .to_string(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    Ok(Bid {
        id,
        item: item.name.clone(),
        name,
        price,
        bid_ts: now_ms,
    })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Catalog {
        Catalog {
            items: vec![
                Item {
                    name: "lamp".into(),
                    description: String::new(),
                    starting_price: 10,
                    closes_at_ms: 1_000_000,
                },
                Item {
                    name: "old".into(),
                    description: String::new(),
                    starting_price: 1,
                    closes_at_ms: 5,
                },
            ],
        }
    }

    fn req(
        item: serde_json::Value,
        name: serde_json::Value,
        price: serde_json::Value,
    ) -> BidRequest {
        BidRequest {
            item: Some(item),
            name: Some(name),
            price: Some(price),
            id: None,
        }
    }

    fn check(r: BidRequest, highest: Option<i64>) -> Result<Bid, BidRejection> {
        validate(&r, &catalog(), |_| highest, 100)
    }

    #[test]
    fn a_good_bid_gets_an_id_and_time() {
        let b = check(req(json!("lamp"), json!(" Ann "), json!("25")), Some(20)).unwrap();
        assert_eq!(
            (b.item.as_str(), b.name.as_str(), b.price, b.bid_ts),
            ("lamp", "Ann", 25, 100)
        );
        assert!(uuid::Uuid::parse_str(&b.id).is_ok());
        let b2 = check(req(json!("lamp"), json!("Ann"), json!(25)), Some(20)).unwrap();
        assert_ne!(b.id, b2.id, "every bid gets its own id");
        let mut r = req(json!("lamp"), json!("Ann"), json!(25));
        r.id = Some("6f1c1f8e-0b7a-4a52-9a43-6c8f0f3f7a11".into());
        assert_eq!(
            check(r, None).unwrap().id,
            "6f1c1f8e-0b7a-4a52-9a43-6c8f0f3f7a11"
        );
    }

    #[test]
    fn bad_names() {
        assert_eq!(
            check(req(json!("lamp"), json!("  "), json!(20)), None),
            Err(BidRejection::EmptyName)
        );
        assert_eq!(
            check(req(json!("lamp"), json!(null), json!(20)), None),
            Err(BidRejection::EmptyName)
        );
        let long = "x".repeat(MAX_NAME + 1);
        assert_eq!(
            check(req(json!("lamp"), json!(long), json!(20)), None),
            Err(BidRejection::NameTooLong)
        );
        let ok = "é".repeat(MAX_NAME);
        assert!(
            check(req(json!("lamp"), json!(ok), json!(20)), None).is_ok(),
            "limit counts characters"
        );
        assert_eq!(
            check(req(json!("lamp"), json!("a\u{7}b"), json!(20)), None),
            Err(BidRejection::NameControlChars)
        );
    }

    #[test]
    fn bad_prices() {
        let p =
            |v: serde_json::Value| check(req(json!("lamp"), json!("Ann"), v), None).unwrap_err();
        assert_eq!(p(json!("abc")), BidRejection::PriceNotNumber);
        assert_eq!(p(json!("12.5")), BidRejection::PriceNotNumber);
        assert_eq!(p(json!(12.5)), BidRejection::PriceNotNumber);
        assert_eq!(p(json!("1e3")), BidRejection::PriceNotNumber);
        assert_eq!(p(json!(true)), BidRejection::PriceNotNumber);
        assert_eq!(p(json!("")), BidRejection::MissingPrice);
        assert_eq!(p(json!(0)), BidRejection::PriceZero);
        assert_eq!(p(json!("000")), BidRejection::PriceZero);
        assert_eq!(p(json!(-5)), BidRejection::PriceNegative);
        assert_eq!(p(json!("- 5")), BidRejection::PriceNegative);
        assert_eq!(p(json!(MAX_PRICE + 1)), BidRejection::PriceAbsurd);
        assert_eq!(
            p(json!("99999999999999999999999")),
            BidRejection::PriceAbsurd
        );
        assert_eq!(p(json!(5)), BidRejection::BelowStartingPrice(10));
        assert_eq!(parse_price(Some(&json!("120.00"))), Ok(120));
    }

    #[test]
    fn bad_items_and_the_highest_bid() {
        assert_eq!(
            check(req(json!("nope"), json!("Ann"), json!(20)), None),
            Err(BidRejection::UnknownItem("nope".into()))
        );
        assert_eq!(
            check(req(json!(""), json!("Ann"), json!(20)), None),
            Err(BidRejection::MissingItem)
        );
        assert_eq!(
            check(req(json!("old"), json!("Ann"), json!(20)), None),
            Err(BidRejection::ItemClosed("old".into()))
        );
        assert_eq!(
            check(req(json!("lamp"), json!("Ann"), json!(20)), Some(20)),
            Err(BidRejection::NotAboveHighest(20))
        );
        assert_eq!(
            check(req(json!("lamp"), json!("Ann"), json!(10)), None)
                .unwrap()
                .price,
            10
        );
        let mut r = req(json!("lamp"), json!("Ann"), json!(25));
        r.id = Some("not-a-uuid".into());
        assert_eq!(check(r, None), Err(BidRejection::BadId));
    }
}
