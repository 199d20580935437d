//! The global allocator of Polyret's binaries (`polyret`, `trainer`, `xtask`), defined once:
//! each binary's root says
//!
//! ```ignore
//! polyret_alloc::jemalloc!();
//! ```
//!
//! A library crate never does: the allocator is the process's choice. On Windows MSVC, which
//! jemalloc does not support, the macro expands to nothing and the system allocator stays.

/// jemalloc's configuration, for a training loop that frees and re-allocates tensor buffers of
/// the same few sizes at every step. By default jemalloc (and glibc, and mimalloc) hand such
/// pages back to the kernel, or re-zero them with `madvise(MADV_DONTNEED)` for every `calloc`,
/// and the next step page-faults them in again: 15-25% of a training step's CPU time in
/// `clear_page` and TLB shoot-downs, measured with perf and strace. The configuration keeps freed
/// pages (`dirty_decay_ms:-1`, `muzzy_decay_ms:-1`), serves large buffers from the normal arenas
/// (`oversize_threshold:0`; the dedicated huge arena purges at once) and zeroes reused memory
/// with `memset` rather than by purging (`thp:always`, which also backs tensors with transparent
/// huge pages).
pub const MALLOC_CONF: &[u8] = b"dirty_decay_ms:-1,muzzy_decay_ms:-1,oversize_threshold:0,thp:always\0";

#[cfg(not(target_env = "msvc"))]
#[doc(hidden)]
pub use tikv_jemallocator as __jemallocator;

/// Makes jemalloc, configured with [`MALLOC_CONF`], the global allocator of the binary whose
/// root calls it (statics `GLOBAL` and `MALLOC_CONF`).
#[macro_export]
macro_rules! jemalloc {
    () => {
        /// jemalloc, configured for training loops (see [`polyret_alloc::MALLOC_CONF`]).
        #[cfg(not(target_env = "msvc"))]
        #[global_allocator]
        static GLOBAL: $crate::__jemallocator::Jemalloc = $crate::__jemallocator::Jemalloc;

        /// jemalloc's configuration, read at start-up (see [`GLOBAL`]).
        #[cfg(not(target_env = "msvc"))]
        #[unsafe(export_name = "_rjem_malloc_conf")]
        pub static MALLOC_CONF: &[u8] = $crate::MALLOC_CONF;
    };
}
