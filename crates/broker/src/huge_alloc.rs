//! A global allocator that survives hostile length prefixes.
//!
//! Why this exists: the `kafka-protocol` decoders call
//! `Vec::with_capacity(n)` with `n` read straight from the wire, before any
//! element is decoded. A request claiming 2^31 array elements of 72 bytes
//! asks for ~150 GB; with Linux's default heuristic overcommit that mmap is
//! refused, the allocation fails, and Rust aborts the whole process — one
//! malformed frame would take the broker down. (Measured: a 23-byte
//! Metadata request did exactly that.)
//!
//! The fix: allocations of 1 GiB or more (nothing legitimate in Fjord comes
//! near that: requests are capped at 100 MiB) are served by `mmap` with
//! `MAP_NORESERVE`, which reserves address space without committing memory.
//! The decoder then fails on the missing bytes after touching at most the
//! frame's worth of elements, the buffer is unmapped, and only that
//! connection is closed. Everything smaller goes to the system allocator.
//!
//! Install it with `#[global_allocator]` in every binary that decodes
//! requests: the `fjord` binary, the fuzz target, the decode tests.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations at or above this size are reserved lazily with mmap.
const HUGE: usize = 1 << 30;
const PAGE: usize = 4096;

pub struct HugeAwareAllocator;

fn is_huge(layout: &Layout) -> bool {
    layout.size() >= HUGE && layout.align() <= PAGE
}

// SAFETY: every pointer handed out comes either from `System` (and goes
// back to it) or from `mmap` (and goes back to `munmap` with the same
// size); `is_huge` on the layout decides which, and callers must pass the
// layout the block was allocated with, as `GlobalAlloc` requires.
unsafe impl GlobalAlloc for HugeAwareAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !is_huge(&layout) {
            return unsafe { System.alloc(layout) };
        }
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p.cast()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_huge(&layout) {
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_huge(&layout) {
            // Fresh anonymous mappings are zero-filled.
            unsafe { self.alloc(layout) }
        } else {
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !is_huge(&layout) && !is_huge(&new_layout) {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // Crossing (or staying above) the threshold: move the block.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_reservation_succeeds_without_committing_memory() {
        // 256 GiB: more than this machine has; must not abort.
        let layout = Layout::from_size_align(256 << 30, 8).unwrap();
        let a = HugeAwareAllocator;
        let p = unsafe { a.alloc(layout) };
        assert!(!p.is_null());
        unsafe {
            *p = 7; // touching one page commits one page
            assert_eq!(*p, 7);
            a.dealloc(p, layout);
        }
    }
}
