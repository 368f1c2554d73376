//! Group commit: concurrent `sync_to` callers share fsyncs.
//!
//! The watermark `durable_end` means every offset below it is on stable
//! storage. It only rises. One caller at a time is the *syncer*: it takes a
//! snapshot of (log end, active segment file) under the log lock, releases
//! every lock, fsyncs, and publishes the snapshot's end. Callers whose
//! offset the syncer did not cover wait on the condvar and, once the syncer
//! finishes, one of them becomes the next syncer; its fsync covers every
//! append made meanwhile. So with N producers waiting, one fsync serves
//! all of them, and appends continue while an fsync is in flight.
//!
//! Why publishing the snapshot's end is correct: segments before the active
//! one were fsynced when they were rolled (before the new segment took
//! writes), so fsyncing the active file makes everything below the end
//! durable.
//!
//! A failed fsync poisons the partition for durability: after one, the
//! kernel may have dropped dirty pages, so retrying could report data
//! durable that is gone. Every later `sync_to` fails.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{LogError, Result};
use crate::fs::LogFile;
use crate::Offset;

#[derive(Debug)]
struct SyncState {
    /// Every offset below this is durable.
    durable_end: Offset,
    /// Someone is fsyncing right now.
    syncing: bool,
    /// Set by a failed fsync; sticky.
    failed: Option<String>,
}

#[derive(Debug)]
pub(crate) struct GroupCommit {
    state: Mutex<SyncState>,
    done: Condvar,
}

fn lock(m: &Mutex<SyncState>) -> MutexGuard<'_, SyncState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl GroupCommit {
    pub fn new(durable_end: Offset) -> GroupCommit {
        GroupCommit {
            state: Mutex::new(SyncState {
                durable_end,
                syncing: false,
                failed: None,
            }),
            done: Condvar::new(),
        }
    }

    pub fn durable_end(&self) -> Offset {
        lock(&self.state).durable_end
    }

    /// Raises the watermark after an fsync done elsewhere (segment roll,
    /// close). Never lowers it.
    pub fn raise(&self, end: Offset) {
        let mut st = lock(&self.state);
        if end > st.durable_end {
            st.durable_end = end;
            self.done.notify_all();
        }
    }

    /// Marks durability as failed (an fsync outside `sync_to` failed).
    pub fn poison(&self, why: String) {
        let mut st = lock(&self.state);
        st.failed.get_or_insert(why);
        self.done.notify_all();
    }

    /// The error for a poisoned partition, if it is one.
    pub fn check(&self) -> Result<()> {
        match &lock(&self.state).failed {
            Some(why) => Err(poisoned(why)),
            None => Ok(()),
        }
    }

    /// Blocks until every offset below `target_end` is durable. `snapshot`
    /// returns (log end, active file) taken atomically under the log lock;
    /// it is called without this module's lock held.
    pub fn sync_to(
        &self,
        target_end: Offset,
        snapshot: impl Fn() -> Result<(Offset, Arc<dyn LogFile>)>,
    ) -> Result<()> {
        let mut st = lock(&self.state);
        loop {
            if let Some(why) = &st.failed {
                return Err(poisoned(why));
            }
            if st.durable_end >= target_end {
                return Ok(());
            }
            if st.syncing {
                st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            st.syncing = true;
            drop(st);
            let result = snapshot().and_then(|(end, file)| {
                file.sync_data()
                    .map(|()| end)
                    .map_err(|e| LogError::io("fsyncing the active segment", e))
            });
            st = lock(&self.state);
            st.syncing = false;
            self.done.notify_all();
            match result {
                Ok(end) => st.durable_end = st.durable_end.max(end),
                Err(e) => {
                    st.failed.get_or_insert_with(|| e.to_string());
                    return Err(e);
                }
            }
        }
    }
}

fn poisoned(why: &str) -> LogError {
    LogError::io(
        "syncing: an earlier fsync failed, so durability cannot be promised",
        io::Error::other(why.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault_fs::FaultFs;
    use crate::fs::FileSystem;
    use std::path::Path;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::Duration;

    #[test]
    fn concurrent_callers_share_fsyncs() {
        let fs = FaultFs::new();
        fs.set_sync_delay(Duration::from_millis(2));
        fs.create_dir_all(Path::new("/d")).unwrap();
        let file = fs.open(Path::new("/d/f"), true).unwrap();
        let end = Arc::new(AtomicI64::new(0));
        let gc = Arc::new(GroupCommit::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gc, end, file) = (gc.clone(), end.clone(), file.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let mine = end.fetch_add(1, Ordering::SeqCst) + 1;
                        gc.sync_to(mine, || Ok((end.load(Ordering::SeqCst), file.clone())))
                            .unwrap();
                        assert!(gc.durable_end() >= mine);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(
            fs.fsync_count() < 160,
            "{} fsyncs for 160 syncs",
            fs.fsync_count()
        );
    }

    #[test]
    fn a_failed_fsync_poisons() {
        let fs = FaultFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let file = fs.open(Path::new("/d/f"), true).unwrap();
        let gc = GroupCommit::new(0);
        fs.fail_syncs(true);
        assert!(gc.sync_to(1, || Ok((1, file.clone()))).is_err());
        fs.fail_syncs(false);
        assert!(gc.sync_to(1, || Ok((1, file.clone()))).is_err());
        assert!(gc.check().is_err());
    }
}
