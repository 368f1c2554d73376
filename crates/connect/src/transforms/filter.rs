//! `Filter`: drops every record it is applied to; with a predicate
//! (`transforms.f.predicate`), the records the predicate matches (or, with
//! `negate=true`, those it does not).

use crate::config::Config;
use crate::config_def::ConfigDef;
use crate::error::Result;
use crate::record::ConnectRecord;

use super::util::Side;
use super::Transform;

pub fn config_def() -> ConfigDef {
    ConfigDef::new()
}

pub struct Filter;

pub fn build(_config: &Config, _side: Side) -> Result<Box<dyn Transform>> {
    Ok(Box::new(Filter))
}

impl Transform for Filter {
    fn apply(&mut self, _record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Value;

    #[test]
    fn every_record_is_dropped() {
        let r = ConnectRecord::new("t", None, Value::Null, None, Value::from("x"));
        assert_eq!(Filter.apply(r).unwrap(), None);
    }
}
