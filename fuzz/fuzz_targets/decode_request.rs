//! Fuzzes request decoding: frame prefix, header and every implemented
//! API's body at every implemented version. Must never panic or abort.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOCATOR: fjord_broker::huge_alloc::HugeAwareAllocator = fjord_broker::huge_alloc::HugeAwareAllocator;

fuzz_target!(|data: &[u8]| {
    let _ = fjord_broker::dispatch::decode_request(bytes::Bytes::copy_from_slice(data));
});
