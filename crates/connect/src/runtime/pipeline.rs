//! A connector's record pipeline: its key and value converters and its
//! transform chain, built from the connector's settings over the worker's
//! defaults as Kafka Connect does (a connector's own `value.converter`
//! replaces the worker's, with the connector's `value.converter.*` keys).

use crate::config::Config;
use crate::converters::{build_converter, Converter};
use crate::error::Result;
use crate::runtime::errors::ErrorPolicy;
use crate::runtime::settings::WorkerSettings;
use crate::transforms::TransformChain;

pub struct Pipeline {
    pub key_converter: Box<dyn Converter>,
    pub key_converter_class: String,
    pub value_converter: Box<dyn Converter>,
    pub value_converter_class: String,
    pub transforms: TransformChain,
    pub errors: ErrorPolicy,
}

impl Pipeline {
    pub fn build(worker: &WorkerSettings, connector: &Config) -> Result<Pipeline> {
        let (key_converter_class, key_converter) = converter(worker, connector, true)?;
        let (value_converter_class, value_converter) = converter(worker, connector, false)?;
        Ok(Pipeline {
            key_converter,
            key_converter_class,
            value_converter,
            value_converter_class,
            transforms: TransformChain::from_config(connector)?,
            errors: ErrorPolicy::from_config(connector)?,
        })
    }
}

fn converter(
    worker: &WorkerSettings,
    connector: &Config,
    is_key: bool,
) -> Result<(String, Box<dyn Converter>)> {
    let key = if is_key {
        "key.converter"
    } else {
        "value.converter"
    };
    let prefix = format!("{key}.");
    let (class, settings) = match connector.string(key) {
        Some(class) => (class.to_string(), connector.subset(&prefix)),
        None => {
            // The worker's converter, with the connector's keys for it on
            // top (a common way to turn schemas.enable off per connector).
            let mut settings = worker.raw.subset(&prefix);
            for (k, v) in connector.subset(&prefix).as_map() {
                settings.set(k.clone(), v.clone());
            }
            (worker.converter_class(is_key).to_string(), settings)
        }
    };
    let converter = build_converter(&class, &settings, is_key)?;
    Ok((class, converter))
}
