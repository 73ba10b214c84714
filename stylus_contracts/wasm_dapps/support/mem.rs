//! A bump allocator over linear memory: the program runs once per call, so nothing is freed.
//! Memory grows with `memory.grow`; the Stylus VM charges for new pages through the
//! `pay_for_memory_grow` hook, which it calls before every `memory.grow`.

use core::arch::wasm32;

const PAGE: usize = 65536;

extern "C" {
    static __heap_base: u8;
}

static mut TOP: usize = 0;

/// A zeroed buffer of `size` bytes that lives until the call ends.
pub fn alloc(size: usize) -> &'static mut [u8] {
    unsafe {
        if TOP == 0 {
            TOP = &__heap_base as *const u8 as usize;
        }
        let start = (TOP + 7) & !7;
        let end = match start.checked_add(size) {
            Some(end) => end,
            None => wasm32::unreachable(),
        };
        let have = wasm32::memory_size(0) * PAGE;
        if end > have {
            let pages = (end - have + PAGE - 1) / PAGE;
            if wasm32::memory_grow(0, pages) == usize::MAX {
                wasm32::unreachable();
            }
        }
        TOP = end;
        core::slice::from_raw_parts_mut(start as *mut u8, size)
    }
}

/// A call-lived copy of `data`.
pub fn copy(data: &[u8]) -> &'static [u8] {
    let out = alloc(data.len());
    out.copy_from_slice(data);
    out
}
