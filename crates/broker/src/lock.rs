//! Locks that outlive a panic of an earlier holder.
//!
//! A panic while a `std::sync::Mutex` is held poisons it, and
//! `.lock().unwrap()` then panics for every later caller: one request that
//! hit a bug would take every consumer group, or every transactional id,
//! down until the broker restarts. The coordinators take their locks
//! through [`lock`] instead, which logs the poisoning once, clears it and
//! goes on with the data as the panicking holder left it. That is safe
//! for them because each request validates before it mutates, so a panic
//! (a bug) leaves at worst that one group's or id's state half-updated,
//! where the next request or timer sees and corrects it.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering it if an earlier holder panicked.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| {
        tracing::error!("a lock was poisoned by a panic in an earlier request; recovering it");
        mutex.clear_poison();
        poisoned.into_inner()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_recovered_with_its_data() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let mut g = m2.lock().unwrap();
            *g = 2;
            panic!("a bug while holding the lock");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), 2);
        assert!(
            !m.is_poisoned(),
            "cleared: later callers are not told again"
        );
    }
}
