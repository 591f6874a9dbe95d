//! The reassembler's real heap, not only its own count, stays within
//! `max_bytes` under floods shaped to make bookkeeping outweigh payload:
//! empty and one-byte fragments, many messages, many fragments per message.
//! A counting allocator measures what the process holds (each allocation
//! rounded the way glibc's malloc rounds its chunks).

use plpmtud_path::fragment::{Bounds, Reassembler, HEADER_LEN};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The chunk glibc hands out for `size` bytes: 8 bytes of header, 16-byte
/// granularity, 32 bytes at least.
fn chunk(size: usize) -> usize {
    ((size + 8 + 15) & !15).max(32)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(chunk(layout.size()), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(chunk(layout.size()), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Writes a fragment header into `buf` (no allocation).
fn header(buf: &mut [u8], id: u32, index: u16, count: u16, crc: u32) {
    buf[..4].copy_from_slice(b"PF\x01\x00");
    buf[4..8].copy_from_slice(&id.to_be_bytes());
    buf[8..10].copy_from_slice(&index.to_be_bytes());
    buf[10..12].copy_from_slice(&count.to_be_bytes());
    buf[12..16].copy_from_slice(&crc.to_be_bytes());
}

/// A flood's fragment number `i` as (id, index, count, crc, payload length).
type Shape = fn(u32) -> (u32, u16, u16, u32, usize);

/// Pushes `pushes` forged fragments shaped by `shape` and returns the most heap the reassembler
/// held beyond its empty self.
fn flood(bounds: Bounds, pushes: u32, shape: Shape) -> usize {
    let mut buf = vec![0u8; HEADER_LEN + 2_000];
    let mut r = Reassembler::new(bounds);
    let base = LIVE.load(Ordering::Relaxed);
    let mut peak = 0;
    for i in 0..pushes {
        let (id, index, count, crc, len) = shape(i);
        header(&mut buf, id, index, count, crc);
        let _ = r.push(u64::from(i / 1_000), &buf[..HEADER_LEN + len]);
        let held = LIVE.load(Ordering::Relaxed).saturating_sub(base);
        peak = peak.max(held);
        assert!(r.bytes_held() <= bounds.max_bytes);
    }
    drop(r);
    let left = LIVE.load(Ordering::Relaxed).saturating_sub(base);
    assert!(left < 4_096, "{left} bytes left after drop (peak {peak})");
    peak
}

const MAX_BYTES: usize = 1 << 20;

fn bounds(max_messages: usize) -> Bounds {
    Bounds {
        max_messages,
        max_bytes: MAX_BYTES,
        timeout_ms: 1 << 40,
    }
}

/// One test: the allocation count is process-wide, and a second test
/// running beside it would be counted too.
#[test]
fn the_heap_stays_within_max_bytes_under_bookkeeping_heavy_floods() {
    let floods: [(&str, usize, u32, Shape); 4] = [
        (
            "empty first fragments of many messages",
            1_000_000,
            200_000,
            |i| (i, 0, 2, i, 0),
        ),
        (
            "one-byte fragments under one id, random checksums",
            1_000_000,
            200_000,
            |i| (42, (i % 3) as u16, 3, i.wrapping_mul(2_654_435_761) >> 2, 1),
        ),
        ("5 000 one-byte fragments per message", 64, 200_000, |i| {
            (i / 5_000, (i % 5_000) as u16, u16::MAX, 7, 1)
        }),
        ("full-size fragments of few messages", 8, 20_000, |i| {
            (i / 100, (i % 100) as u16, 200, 9, 1_384)
        }),
    ];
    for (name, max_messages, pushes, shape) in floods {
        let peak = flood(bounds(max_messages), pushes, shape);
        eprintln!("{name}: peak heap {peak} bytes (bound {MAX_BYTES})");
        assert!(
            peak <= MAX_BYTES,
            "{name}: peak heap {peak} over {MAX_BYTES}"
        );
    }
}
