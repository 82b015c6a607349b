// Dot products for the search index, compiled for AVX2+FMA and chosen at run time, so one binary uses
// the wide instructions where the CPU has them and still runs where it does not (Swift code cannot pick
// per-function targets).
#ifndef XCEPTOR_VECTOR_KERNELS_H
#define XCEPTOR_VECTOR_KERNELS_H
#include <sched.h>
#include <stddef.h>

/// The dot product of two float arrays of `count` values.
float xceptor_dot(const float *a, const float *b, size_t count);

/// `out[i]` = the dot product of `query` with row `rows[i]` of `base` (rows of `count` floats), for
/// `n` rows: four rows at a time share each load of the query and keep four memory streams going.
void xceptor_dot_rows(const float *query, const float *base, const int *rows, size_t n, size_t count, float *out);

/// `out[i]` = the dot product of `query` with row i of `rows` (`n` consecutive rows of `count` floats).
void xceptor_dot_consecutive(const float *query, const float *rows, size_t n, size_t count, float *out);

/// The same over rows stored as IEEE half floats (`xceptor_to_half` makes them): half the bytes to read.
void xceptor_dot_consecutive_half(const float *query, const unsigned short *rows, size_t n, size_t count, float *out);

/// Converts `count` floats to IEEE half floats (round to nearest even; out-of-range values saturate to
/// infinity, which unit-length vectors never reach).
void xceptor_to_half(const float *values, unsigned short *halves, size_t count);

/// The widest FMA this CPU has, in float lanes: 16 (AVX-512), 8 (AVX2+FMA), or 0.
int xceptor_fma_lanes(void);

/// Runs `iterations` rounds of twelve independent fused multiply-adds at that width, the most arithmetic a
/// core can do (the benchmark's peak reference); returns the floating-point operations done. `sink`, if
/// given, receives the result, so the loop cannot be optimised away.
double xceptor_fma_loop(size_t iterations, float *sink);

/// Hints that `address` will be read soon (a neighbour's vector, while another distance is computed).
static inline void xceptor_prefetch(const void *address) { __builtin_prefetch(address, 0, 1); }

/// Hints that all `count` floats from `values` will be read soon, one cache line at a time: the hardware
/// prefetcher alone starts too late on a vector of a few kilobytes.
static inline void xceptor_prefetch_floats(const float *values, size_t count) {
    for (size_t i = 0; i < count; i += 16) __builtin_prefetch(values + i, 0, 1);
}

/// A one-byte spin lock (one per index node: a mutex each would cost 40 bytes): short critical sections,
/// so spin, pausing the core, and give the CPU away if the holder was preempted.
static inline void xceptor_spin_lock(unsigned char *lock) {
    unsigned spins = 0;
    while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(lock, __ATOMIC_RELAXED)) {
            if (++spins % 64 == 0) {
                sched_yield();
            } else {
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#elif defined(__aarch64__)
                __asm__ __volatile__("yield");
#endif
            }
        }
    }
}

static inline void xceptor_spin_unlock(unsigned char *lock) { __atomic_store_n(lock, 0, __ATOMIC_RELEASE); }

#endif
