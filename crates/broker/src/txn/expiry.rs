//! transactional.id.expiration.ms: a transactional id that has had no
//! transaction under way and no request for that long is forgotten, as
//! Kafka does, so ids of producers that are gone do not pile up in memory
//! and in `__transaction_state` for ever.
//!
//! The id is marked `pending` Dead while its tombstone is written, so a
//! request that arrives meanwhile is told CONCURRENT_TRANSACTIONS and
//! retries; once the tombstone is written the id is gone, and its next
//! InitProducerId starts afresh with a new producer id.

use std::sync::Arc;

use super::coordinator::{Entry, TxnCoordinator};
use super::state::TxnState;
use crate::lock::lock;
use crate::server::now_ms;

impl TxnCoordinator {
    /// Forgets every expired transactional id; returns how many.
    pub async fn expire_ids(self: &Arc<Self>) -> usize {
        let now = now_ms();
        let expiration = self.config.id_expiration_ms;
        let doomed: Vec<(String, Entry)> = {
            let txns = lock(&self.txns);
            txns.iter()
                .filter_map(|(id, entry)| {
                    let mut m = lock(entry);
                    let idle = m.pending.is_none()
                        && matches!(
                            m.state,
                            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                        )
                        && now.saturating_sub(m.last_update_ms) >= expiration;
                    if !idle {
                        return None;
                    }
                    m.pending = Some(TxnState::Dead);
                    Some((id.clone(), entry.clone()))
                })
                .collect()
        };
        let mut expired = 0;
        for (id, entry) in doomed {
            let me = self.clone();
            let removed = {
                let id = id.clone();
                tokio::task::spawn_blocking(move || me.log.remove(&id)).await
            };
            match removed {
                Ok(Ok(())) => {
                    let producer_id = lock(&entry).producer_id;
                    lock(&self.txns).remove(&id);
                    self.producers.write().unwrap().remove(&producer_id);
                    tracing::info!(transactional_id = %id, "expired an idle transactional id (transactional.id.expiration.ms)");
                    expired += 1;
                }
                other => {
                    tracing::warn!(transactional_id = %id, outcome = ?other.map(|r| r.err()), "could not expire a transactional id; will try again");
                    lock(&entry).pending = None;
                }
            }
        }
        expired
    }
}
