//! `/connector-plugins`: the built-in connector classes (and, with
//! `connectorsOnly=false`, transforms, predicates and converters), their
//! settings, and validation of a config against them.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{json, Value as Json};

use super::{ok, Shared};
use crate::config::Config;
use crate::runtime::validate::common_config_def;
use crate::runtime::{ApiError, ApiResult};

pub async fn list(
    State(ctx): State<Shared>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let version = env!("CARGO_PKG_VERSION");
    let mut out: Vec<Json> = ctx
        .worker
        .plugins
        .plugins()
        .iter()
        .map(|p| json!({"class": p.class_name(), "type": p.kind().name(), "version": p.version()}))
        .collect();
    let connectors_only = params
        .get("connectorsOnly")
        .is_none_or(|v| !v.eq_ignore_ascii_case("false"));
    if !connectors_only {
        for class in crate::transforms::transform_class_names() {
            out.push(json!({"class": class, "type": "transformation", "version": version}));
        }
        for class in crate::transforms::predicate_class_names() {
            out.push(json!({"class": class, "type": "predicate", "version": version}));
        }
        for class in crate::converters::class::SUPPORTED {
            out.push(json!({"class": class, "type": "converter", "version": version}));
        }
    }
    Ok(ok(&Json::Array(out)))
}

/// KIP-769: the plugin's settings, as the validate report defines them.
pub async fn config(State(ctx): State<Shared>, Path(plugin): Path<String>) -> ApiResult<Response> {
    let p = ctx
        .worker
        .plugins
        .find(&plugin)
        .ok_or_else(|| ApiError::new(404, format!("Unknown plugin {plugin}.")))?;
    let def = common_config_def(p.kind()).extend(p.config_def());
    let keys: Vec<Json> = def
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| k.definition_json(i + 1))
        .collect();
    Ok(ok(&Json::Array(keys)))
}

/// `PUT /connector-plugins/{plugin}/config/validate`: the per-field
/// report, with `error_count`.
pub async fn validate(
    State(ctx): State<Shared>,
    Path(plugin): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let body: Json = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, format!("Malformed JSON: {e}")))?;
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::new(400, "The config must be a JSON object"))?;
    let config = Config::from_json(object).map_err(|e| ApiError::new(400, e.to_string()))?;
    let class = config
        .string("connector.class")
        .unwrap_or(&plugin)
        .to_string();
    let p = ctx.worker.plugin(&class)?;
    let named = ctx.worker.plugin(&plugin).ok();
    if named.is_some_and(|n| n.class_name() != p.class_name()) {
        return Err(ApiError::new(
            400,
            "Included connector type must be the same as the connector type in the URL",
        ));
    }
    Ok(ok(&ctx.worker.validate(p.as_ref(), &config)))
}
