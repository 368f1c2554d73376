//! Who may connect: at most `max_connections` connections at once, and at
//! most `max_connections_per_ip` from one address (Kafka's max.connections
//! and max.connections.per.ip).
//!
//! A connection over either limit is accepted and closed at once, and
//! counted. It is not left waiting in the kernel's accept queue, where a
//! client cannot tell a full broker from a dead one and its connection
//! attempt only times out. Kafka clients treat the close like any lost
//! connection: they back off and retry.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::lock::lock;

pub struct Admission {
    /// One permit per connection allowed at once.
    slots: Arc<Semaphore>,
    total: usize,
    max_per_ip: usize,
    /// Open connections per client address.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Connections closed at once because a limit was reached.
    refused: AtomicU64,
}

/// Held for the life of one admitted connection; gives its place back when
/// dropped.
pub struct Ticket {
    admission: Arc<Admission>,
    ip: IpAddr,
    _slot: OwnedSemaphorePermit,
}

impl Admission {
    pub fn new(total: usize, max_per_ip: usize) -> Arc<Admission> {
        Arc::new(Admission {
            slots: Arc::new(Semaphore::new(total)),
            total,
            max_per_ip: max_per_ip.max(1),
            per_ip: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        })
    }

    /// A ticket for a connection from `ip`, or None (counted) when the
    /// broker or that address is at its limit.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Ticket> {
        let refuse = |why: &str| {
            let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
            // Once per power of two: a flood is visible without a log line each.
            if n.is_power_of_two() {
                tracing::warn!(%ip, refused_so_far = n, "connection refused: {why}");
            }
            None
        };
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return refuse("max_connections reached");
        };
        let mut per_ip = lock(&self.per_ip);
        let open = per_ip.entry(ip).or_insert(0);
        if *open >= self.max_per_ip {
            drop(per_ip);
            return refuse("max_connections_per_ip reached");
        }
        *open += 1;
        Some(Ticket {
            admission: self.clone(),
            ip,
            _slot: slot,
        })
    }

    /// Connections refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Waits (up to `grace`) until every admitted connection has ended.
    pub async fn wait_all_closed(&self, grace: std::time::Duration) {
        let all = u32::try_from(self.total).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(grace, self.slots.acquire_many(all)).await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut per_ip = lock(&self.admission.per_ip);
        if let Some(open) = per_ip.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_per_broker_and_per_address_and_places_come_back() {
        let a = Admission::new(3, 2);
        let one: IpAddr = [10, 0, 0, 1].into();
        let two: IpAddr = [10, 0, 0, 2].into();
        let t1 = a.admit(one).expect("first from one");
        let _t2 = a.admit(one).expect("second from one");
        assert!(a.admit(one).is_none(), "a third from one address");
        let _t3 = a.admit(two).expect("another address");
        assert!(a.admit(two).is_none(), "the broker is full");
        assert_eq!(a.refused(), 2);
        drop(t1);
        assert!(a.admit(one).is_some(), "a place came back");
    }
}
