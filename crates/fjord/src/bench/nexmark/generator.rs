//! Nexmark's events (persons, auctions, bids: the online auction of seed
//! 000) as JSON records, in Nexmark's proportions: of every 50 events, 1
//! person, 3 auctions and 46 bids. One event per millisecond of event time
//! (`dateTime`, also the record timestamp); sellers are among the latest
//! persons and bids go to the latest auctions, as Nexmark's generator
//! does, so joins find their matches. Deterministic: the same count gives
//! the same events.
//!
//! Keys: a person's id, an auction's seller, a bid's auction. Persons and
//! auctions are so partitioned by the person they are about (the keys of
//! q3's and q8's joins), as a Kafka Streams user would key them; the
//! Flink jobs read values only.

use serde_json::{json, Value};

pub const PERSON_TOPIC: &str = "nexmark-person";
pub const AUCTION_TOPIC: &str = "nexmark-auction";
pub const BID_TOPIC: &str = "nexmark-bid";

/// First person and auction id (Nexmark's).
const FIRST_ID: u64 = 1000;
/// How far back sellers and bid targets reach (Nexmark's "hot" window).
const RECENT: u64 = 100;

const STATES: &[&str] = &["AZ", "CA", "ID", "OR", "WA", "WY"];
const CITIES: &[&str] = &[
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: &[&str] = &[
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: &[&str] = &[
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
const CHANNELS: &[&str] = &["Google", "Facebook", "Baidu", "Apple"];

/// One generated event: its topic, key and JSON value, and its time.
pub struct Event {
    pub topic: &'static str,
    pub key: String,
    pub value: Vec<u8>,
    pub timestamp: i64,
}

pub struct Generator {
    next_event: u64,
    base_time: i64,
    rng: u64,
    persons: u64,
    auctions: u64,
}

impl Generator {
    /// Events whose times start at `base_time` (epoch ms).
    pub fn new(base_time: i64) -> Generator {
        Generator {
            next_event: 0,
            base_time,
            rng: 0x9E37_79B9_7F4A_7C15,
            persons: 0,
            auctions: 0,
        }
    }

    fn random(&mut self, n: u64) -> u64 {
        // xorshift64*: fast and good enough to pick names and prices.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) % n.max(1)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.random(from.len() as u64) as usize]
    }

    /// An id among the latest `RECENT` of `count` made so far.
    fn recent(&mut self, count: u64) -> u64 {
        let span = count.clamp(1, RECENT);
        FIRST_ID + count.saturating_sub(1) - self.random(span)
    }

    pub fn next_event(&mut self) -> Event {
        let n = self.next_event;
        self.next_event += 1;
        let time = self.base_time + n as i64;
        let (topic, key, value) = match n % 50 {
            0 => self.person(time),
            1..=3 => self.auction(time),
            _ => self.bid(time),
        };
        Event {
            topic,
            key,
            value: serde_json::to_vec(&value).expect("JSON of plain values"),
            timestamp: time,
        }
    }

    fn person(&mut self, time: i64) -> (&'static str, String, Value) {
        let id = FIRST_ID + self.persons;
        self.persons += 1;
        let name = format!("{} {}", self.pick(FIRST_NAMES), self.pick(LAST_NAMES));
        let value = json!({
            "id": id,
            "name": name,
            "emailAddress": format!("{}@example.com", name.replace(' ', ".").to_lowercase()),
            "creditCard": format!("{:04} {:04} {:04} {:04}", self.random(10_000),
                self.random(10_000), self.random(10_000), self.random(10_000)),
            "city": self.pick(CITIES),
            "state": self.pick(STATES),
            "dateTime": time,
            "extra": "",
        });
        (PERSON_TOPIC, id.to_string(), value)
    }

    fn auction(&mut self, time: i64) -> (&'static str, String, Value) {
        let id = FIRST_ID + self.auctions;
        self.auctions += 1;
        let initial = 100 + self.random(10_000);
        let seller = self.recent(self.persons);
        let value = json!({
            "id": id,
            "itemName": format!("item-{}", self.random(100_000)),
            "description": "",
            "initialBid": initial,
            "reserve": initial + self.random(5_000),
            "dateTime": time,
            "expires": time + 10_000 + self.random(20_000) as i64,
            "seller": seller,
            "category": 10 + self.random(5),
            "extra": "",
        });
        (AUCTION_TOPIC, seller.to_string(), value)
    }

    fn bid(&mut self, time: i64) -> (&'static str, String, Value) {
        let auction = self.recent(self.auctions);
        let value = json!({
            "auction": auction,
            "bidder": self.recent(self.persons),
            "price": 100 + self.random(100_000),
            "channel": self.pick(CHANNELS),
            "url": format!("https://www.nexmark.com/item.htm?query={}", self.random(1_000_000)),
            "dateTime": time,
            "extra": "",
        });
        (BID_TOPIC, auction.to_string(), value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportions_ids_and_times_are_nexmarks() {
        let mut g = Generator::new(1_000);
        let events: Vec<Event> = (0..5_000).map(|_| g.next_event()).collect();
        let count = |t| events.iter().filter(|e| e.topic == t).count();
        assert_eq!(count(PERSON_TOPIC), 100);
        assert_eq!(count(AUCTION_TOPIC), 300);
        assert_eq!(count(BID_TOPIC), 4_600);
        assert!(events
            .windows(2)
            .all(|w| w[1].timestamp == w[0].timestamp + 1));
        // Every seller and bid target was made before it is referred to.
        let mut persons = 0u64;
        let mut auctions = 0u64;
        for e in &events {
            let v: Value = serde_json::from_slice(&e.value).unwrap();
            match e.topic {
                PERSON_TOPIC => persons += 1,
                AUCTION_TOPIC => {
                    auctions += 1;
                    assert!(v["seller"].as_u64().unwrap() < FIRST_ID + persons);
                    assert_eq!(e.key, v["seller"].to_string());
                }
                _ => {
                    assert!(v["auction"].as_u64().unwrap() < FIRST_ID + auctions);
                    assert_eq!(e.key, v["auction"].to_string());
                }
            }
        }
    }
}
