//! How a bid becomes a record value and back: the one seam between the
//! auction and the schema registry's serde API.

use crate::bid::Bid;
use crate::error::Result;

/// The topic every bid goes through (4 partitions, keyed by item).
pub const TOPIC: &str = "bids";
/// Partitions of [`TOPIC`] when the auction creates it.
pub const PARTITIONS: i32 = 4;
/// The registry subject of the record value's schema (TopicNameStrategy).
pub const SUBJECT: &str = "bids-value";

/// The bid's Avro schema, registered under [`SUBJECT`]. `bid_ts` is a
/// timestamp-millis as in the seed's table.
pub const BID_SCHEMA: &str = r#"{
  "type": "record",
  "name": "Bid",
  "namespace": "io.fjord.auction",
  "doc": "One bid placed on the auction website.",
  "fields": [
    {"name": "id", "type": "string", "doc": "Unique bid id (UUID) assigned at the website"},
    {"name": "item", "type": "string"},
    {"name": "name", "type": "string", "doc": "Bidder name"},
    {"name": "price", "type": "long"},
    {"name": "bid_ts", "type": {"type": "long", "logicalType": "timestamp-millis"}}
  ]
}"#;

/// Encodes bids for the topic and decodes them back.
pub trait BidCodec: Send + Sync {
    fn encode(&self, bid: &Bid) -> Result<Vec<u8>>;
    fn decode(&self, bytes: &[u8]) -> Result<Bid>;
}

/// Bids as JSON objects: the codec used until the registry's Avro serde API
/// is wired in (and a readable fallback for debugging with `fjord consume`).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonCodec;

impl BidCodec for JsonCodec {
    fn encode(&self, bid: &Bid) -> Result<Vec<u8>> {
        serde_json::to_vec(bid).map_err(|e| crate::AuctionError::Codec(e.to_string()))
    }

    fn decode(&self, bytes: &[u8]) -> Result<Bid> {
        serde_json::from_slice(bytes)
            .map_err(|e| crate::AuctionError::Codec(format!("not a JSON bid: {e}")))
    }
}

/// Bids as Avro in the Confluent wire format (magic byte, schema id, Avro
/// binary datum) through the registry's serde API: the schema is registered
/// under [`SUBJECT`], and readers fetch whichever schema wrote a record.
pub struct AvroCodec {
    serializer: fjord_registry::serde::AvroSerializer,
    deserializer: fjord_registry::serde::AvroDeserializer,
}

impl AvroCodec {
    /// Connects to the registry at `url` and registers (or finds) the bid
    /// schema. Blocking (the registry client is): call it off the async
    /// runtime's workers.
    pub fn connect(url: &str) -> Result<AvroCodec> {
        let client = std::sync::Arc::new(fjord_registry::client::RegistryClient::new(url));
        let codec_err = |e: fjord_registry::serde::SerdeError| {
            crate::AuctionError::Codec(format!("schema registry {url}: {e}"))
        };
        let serializer =
            fjord_registry::serde::AvroSerializer::new(client.clone(), SUBJECT, BID_SCHEMA)
                .map_err(codec_err)?;
        serializer.schema_id().map_err(codec_err)?;
        Ok(AvroCodec {
            serializer,
            deserializer: fjord_registry::serde::AvroDeserializer::new(client),
        })
    }
}

impl BidCodec for AvroCodec {
    fn encode(&self, bid: &Bid) -> Result<Vec<u8>> {
        self.serializer
            .serialize(bid)
            .map_err(|e| crate::AuctionError::Codec(e.to_string()))
    }

    fn decode(&self, bytes: &[u8]) -> Result<Bid> {
        self.deserializer
            .deserialize_into(bytes)
            .map_err(|e| crate::AuctionError::Codec(format!("not an Avro bid: {e}")))
    }
}
