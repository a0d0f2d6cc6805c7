//! A global allocator that counts live heap bytes and refuses an allocation that would
//! take them past a budget. The targets set the budget from the input size, so "nothing
//! derived from the input allocates without bound" is checked on every allocation instead
//! of only when libFuzzer's RSS limit is reached. A refused allocation aborts the process
//! through `handle_alloc_error` (unless the code asked with `try_reserve` and copes), which
//! libFuzzer reports as a crash and saves the input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct BudgetAlloc;

#[global_allocator]
static ALLOCATOR: BudgetAlloc = BudgetAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Live heap bytes may grow by at most `bytes` until the guard is dropped.
pub fn limit_heap(bytes: usize) -> HeapLimit {
    let limit = LIVE.load(Ordering::Relaxed).saturating_add(bytes);
    LIMIT.store(limit, Ordering::Relaxed);
    HeapLimit(())
}

#[must_use = "the limit is lifted when the guard is dropped"]
pub struct HeapLimit(());

impl Drop for HeapLimit {
    fn drop(&mut self) {
        LIMIT.store(usize::MAX, Ordering::Relaxed);
    }
}

/// Counts `n` more live bytes, or refuses them (and says why) when they break the limit.
fn reserve(n: usize) -> bool {
    let live = LIVE.fetch_add(n, Ordering::Relaxed).saturating_add(n);
    let limit = LIMIT.load(Ordering::Relaxed);
    if live <= limit {
        return true;
    }
    LIVE.fetch_sub(n, Ordering::Relaxed);
    report_refusal(n, live, limit);
    false
}

/// Writes the refusal to stderr without allocating (this runs inside the allocator).
fn report_refusal(n: usize, live: usize, limit: usize) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(b"\nfuzz heap budget: an allocation of ");
    write_number(&mut err, n);
    let _ = err.write_all(b" bytes would bring the live heap to ");
    write_number(&mut err, live);
    let _ = err.write_all(b" bytes, past the limit of ");
    write_number(&mut err, limit);
    let _ = err.write_all(b" set from the input size\n");
}

fn write_number(out: &mut impl Write, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let _ = out.write_all(&digits[i..]);
}

unsafe impl GlobalAlloc for BudgetAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_size = layout.size();
        if new_size > old_size && !reserve(new_size - old_size) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if new_size > old_size {
                LIVE.fetch_sub(new_size - old_size, Ordering::Relaxed);
            }
        } else if new_size < old_size {
            LIVE.fetch_sub(old_size - new_size, Ordering::Relaxed);
        }
        p
    }
}
