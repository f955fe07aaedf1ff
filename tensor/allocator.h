// Memory for tensor storage. Blocks of 1 MiB or more are kept when freed, by their
// (64 KiB-rounded) size, and handed out again for the next request of that size: a
// training step allocates the same large activations every step, and fresh pages from
// the OS cost a page fault and a kernel zero-fill per 4 KiB (gpt-shakespeare spent a
// third of its CPU time there). The cache holds at most a quarter of the machine's RAM;
// it is off under AddressSanitizer, so that use-after-free is still caught.
#pragma once
#include <cstddef>

namespace loupe {

// A 64-byte aligned block of at least `bytes`; `capacity` receives its real size, which
// must be passed back to storage_free. Throws loupe::Error when memory is exhausted.
void* storage_alloc(size_t bytes, size_t& capacity);
void storage_free(void* p, size_t capacity);

// Bytes currently held by the cache (freed blocks waiting for reuse).
size_t storage_cached_bytes();

// Bytes of tensor storage in use (handed out and not yet freed; cached blocks not counted), and
// the most in use at any moment since the last storage_reset_peak(): what a forward + backward
// pass really holds (models/activation_probe.h measures activations with it).
size_t storage_live_bytes();
size_t storage_peak_bytes();
void storage_reset_peak();  // the peak restarts from the bytes in use now

}  // namespace loupe
