//! Fuzzes the record-batch validation that Produce runs on client bytes
//! before anything is stored: a partition must refuse garbage without
//! panicking, and never store a batch that fails validation.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fs = Arc::new(fjord_log::FaultFs::new());
    let dir = std::path::PathBuf::from("/fuzz/p-0");
    let p = fjord_log::Partition::open(dir, fjord_log::LogConfig::default(), fs).unwrap();
    let before = p.log_end_offset();
    if p.append(data, 0).is_err() {
        assert_eq!(p.log_end_offset(), before, "a refused batch must store nothing");
    }
});
