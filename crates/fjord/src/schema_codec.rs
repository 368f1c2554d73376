//! `fjord schema encode|decode`: values in and out of the registry wire
//! format from the shell, through `fjord_registry::serde` (the same code
//! Fjord's own producers use). Lines in, lines out: JSON values <-> hex.

use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use fjord_registry::client::{RegistryClient, Schema};
use fjord_registry::schema::SchemaType;
use fjord_registry::serde::{
    wire, AvroDeserializer, AvroSerializer, JsonDeserializer, JsonSerializer, ProtobufDeserializer,
    ProtobufSerializer,
};

/// Each stdin line (a JSON value; for Protobuf, message bytes in hex)
/// framed with `schema`'s id under `subject`, as hex.
pub fn encode(
    client: RegistryClient,
    subject: String,
    schema: Schema,
    message_indexes: &[i32],
) -> Result<()> {
    let client = Arc::new(client);
    type Encoder = Box<dyn Fn(&str) -> Result<Vec<u8>>>;
    let encoder: Encoder = match schema.schema_type {
        SchemaType::Avro => {
            let s = AvroSerializer::with_references(
                client,
                subject,
                &schema.schema,
                schema.references.clone(),
            )?;
            Box::new(move |line| {
                let json: serde_json::Value = serde_json::from_str(line)?;
                Ok(s.serialize_value(&apache_avro::types::Value::from(json))?)
            })
        }
        SchemaType::Json => {
            let s = JsonSerializer::new(client, subject, &schema.schema)?.validate(true)?;
            Box::new(move |line| Ok(s.serialize_value(&serde_json::from_str(line)?)?))
        }
        SchemaType::Protobuf => {
            let s = ProtobufSerializer::new(client, subject, &schema.schema, schema.references);
            let indexes = message_indexes.to_vec();
            Box::new(move |line| Ok(s.serialize(&from_hex(line)?, &indexes)?))
        }
    };
    let mut stdout = std::io::stdout().lock();
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let bytes = encoder(line.trim()).with_context(|| format!("line {}", n + 1))?;
        writeln!(stdout, "{}", to_hex(&bytes))?;
    }
    Ok(())
}

/// Each stdin line (hex of a framed value) decoded with the schema it names.
pub fn decode(client: RegistryClient) -> Result<()> {
    let client = Arc::new(client);
    let avro = AvroDeserializer::new(client.clone());
    let json = JsonDeserializer::new(client.clone());
    let proto = ProtobufDeserializer::new(client.clone());
    let mut stdout = std::io::stdout().lock();
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let value = (|| -> Result<serde_json::Value> {
            let bytes = from_hex(line.trim())?;
            let (r, _) = wire::decode_header(&bytes)?;
            let kind = match r {
                wire::SchemaRef::Id(id) => client.schema_by_id(id)?.schema_type,
                wire::SchemaRef::Guid(g) => client.schema_by_guid(&g)?.schema_type,
            };
            Ok(match kind {
                SchemaType::Avro => serde_json::Value::try_from(avro.deserialize(&bytes)?)?,
                SchemaType::Json => json.deserialize(&bytes)?,
                SchemaType::Protobuf => {
                    let m = proto.deserialize(&bytes)?;
                    serde_json::json!({
                        "message_indexes": m.message_indexes,
                        "payload_hex": to_hex(&m.payload),
                    })
                }
            })
        })()
        .with_context(|| format!("line {}", n + 1))?;
        writeln!(stdout, "{value}")?;
    }
    Ok(())
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("'{}' is not hex (an even number of 0-9a-f digits)", clip(s));
    }
    Ok((0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("checked hex"))
        .collect())
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        assert_eq!(to_hex(&[0, 1, 0xab]), "0001ab");
        assert_eq!(from_hex("0001AB").unwrap(), [0, 1, 0xab]);
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
    }
}
