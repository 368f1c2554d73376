//! A broker-wide budget for the bytes of requests being read and handled
//! (Kafka's queued.max.request.bytes): a connection reserves a frame's
//! size before it reads the frame's body and gives it back once the
//! request has been dispatched. When the budget is spent, connections wait
//! before reading more, so many clients sending large requests at once
//! cannot make the broker hold more than the budget in request buffers.
//!
//! A frame larger than the whole budget reserves the whole budget (it still
//! fits `max_request_bytes`, which is checked first), so it waits for the
//! others and then goes alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct RequestBudget {
    /// One permit per byte; None: no budget (0 in the config).
    bytes: Option<Arc<Semaphore>>,
    total: usize,
    /// Times a connection had to wait for the budget.
    waits: AtomicU64,
}

/// Bytes of one frame, reserved while it is read and dispatched.
pub struct Reservation(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl RequestBudget {
    /// `total` bytes (0: unlimited).
    pub fn new(total: usize) -> RequestBudget {
        // A semaphore holds at most u32::MAX permits per acquire.
        let total = total.min(u32::MAX as usize);
        RequestBudget {
            bytes: (total > 0).then(|| Arc::new(Semaphore::new(total))),
            total,
            waits: AtomicU64::new(0),
        }
    }

    /// Reserves `size` bytes, waiting until they are free.
    pub async fn reserve(&self, size: usize) -> Reservation {
        let Some(bytes) = &self.bytes else {
            return Reservation(None);
        };
        let want = size.clamp(1, self.total) as u32;
        if let Ok(p) = bytes.clone().try_acquire_many_owned(want) {
            return Reservation(Some(p));
        }
        let n = self.waits.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::info!(
                budget = self.total,
                waits_so_far = n,
                "request bytes budget spent (queued_max_request_bytes): connections wait before reading"
            );
        }
        // The semaphore is never closed.
        Reservation(bytes.clone().acquire_many_owned(want).await.ok())
    }

    /// Times a connection waited for the budget.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }
}
