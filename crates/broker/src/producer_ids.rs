//! Producer id allocation for idempotent producers (InitProducerId).
//!
//! Ids must never repeat across restarts, or a new producer could inherit an
//! old one's sequence state. Ids are handed out from blocks; the end of the
//! current block is persisted before any id from it is used, so after a crash
//! allocation resumes past every id that may have been given out.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::durable_file::write_atomic;
use crate::error::{BrokerError, Result};

/// Ids reserved per metadata write; a crash wastes at most this many.
const BLOCK_SIZE: i64 = 1000;

#[derive(Serialize, Deserialize)]
struct Persisted {
    /// Every id below this may have been handed out.
    reserved_until: i64,
}

pub struct ProducerIds {
    path: PathBuf,
    state: Mutex<(i64, i64)>, // (next id, end of reserved block)
}

impl ProducerIds {
    pub fn open(path: &Path) -> Result<ProducerIds> {
        let reserved_until = match std::fs::read(path) {
            Ok(bytes) => {
                let p: Persisted =
                    serde_json::from_slice(&bytes).map_err(|e| BrokerError::CorruptMetadata {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                p.reserved_until
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(BrokerError::io(format!("reading {}", path.display()), e)),
        };
        Ok(ProducerIds {
            path: path.to_path_buf(),
            state: Mutex::new((reserved_until, reserved_until)),
        })
    }

    /// A producer id never handed out before.
    pub fn next(&self) -> Result<i64> {
        let mut state = self.state.lock().unwrap();
        if state.0 >= state.1 {
            let reserved_until = state.1 + BLOCK_SIZE;
            let json = serde_json::to_vec(&Persisted { reserved_until }).expect("serializes");
            write_atomic(&self.path, &json)?;
            state.1 = reserved_until;
        }
        let id = state.0;
        state.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_repeat_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("producer_ids.json");
        let ids = ProducerIds::open(&path).unwrap();
        let first: Vec<i64> = (0..3).map(|_| ids.next().unwrap()).collect();
        assert_eq!(first, vec![0, 1, 2]);
        drop(ids);
        let reopened = ProducerIds::open(&path).unwrap();
        assert!(reopened.next().unwrap() > 2);
    }
}
