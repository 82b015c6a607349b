// Dot products for the search index, compiled for AVX2+FMA and chosen at run time, so one binary uses
// the wide instructions where the CPU has them and still runs where it does not (Swift code cannot pick
// per-function targets).
#ifndef XCEPTOR_VECTOR_KERNELS_H
#define XCEPTOR_VECTOR_KERNELS_H
#include <stddef.h>

/// The dot product of two float arrays of `count` values.
float xceptor_dot(const float *a, const float *b, size_t count);

/// Hints that `address` will be read soon (a neighbour's vector, while another distance is computed).
static inline void xceptor_prefetch(const void *address) { __builtin_prefetch(address, 0, 1); }

#endif
