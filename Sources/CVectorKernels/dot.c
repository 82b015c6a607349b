#include "vector_kernels.h"

#include <immintrin.h>

static inline float sum8(__m256 v) __attribute__((target("avx2,fma")));
static inline float sum8(__m256 v) {
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_shuffle_ps(half, half, 1));
    return _mm_cvtss_f32(half);
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, size_t count) {
    // Four independent accumulators hide the FMA latency.
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    float total = sum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < count; i++) total += a[i] * b[i];
    return total;
}

__attribute__((target("avx2,fma"))) static void dot4_avx2(const float *q, const float *b0, const float *b1, const float *b2,
                                                         const float *b3, size_t count, float *out) {
    // Two accumulators per row: eight independent FMA chains.
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m256 x = _mm256_loadu_ps(q + i), y = _mm256_loadu_ps(q + i + 8);
        a0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b0 + i), a0);
        a1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b1 + i), a1);
        a2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b2 + i), a2);
        a3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b3 + i), a3);
        c0 = _mm256_fmadd_ps(y, _mm256_loadu_ps(b0 + i + 8), c0);
        c1 = _mm256_fmadd_ps(y, _mm256_loadu_ps(b1 + i + 8), c1);
        c2 = _mm256_fmadd_ps(y, _mm256_loadu_ps(b2 + i + 8), c2);
        c3 = _mm256_fmadd_ps(y, _mm256_loadu_ps(b3 + i + 8), c3);
    }
    out[0] = sum8(_mm256_add_ps(a0, c0));
    out[1] = sum8(_mm256_add_ps(a1, c1));
    out[2] = sum8(_mm256_add_ps(a2, c2));
    out[3] = sum8(_mm256_add_ps(a3, c3));
    for (; i < count; i++) {
        out[0] += q[i] * b0[i];
        out[1] += q[i] * b1[i];
        out[2] += q[i] * b2[i];
        out[3] += q[i] * b3[i];
    }
}

static float dot_plain(const float *a, const float *b, size_t count) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= count; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < count; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

// Decided once; threads racing here all store the same answer.
static int has_avx2(void) {
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return known;
}

float xceptor_dot(const float *a, const float *b, size_t count) {
    return has_avx2() ? dot_avx2(a, b, count) : dot_plain(a, b, count);
}

void xceptor_dot_rows(const float *query, const float *base, const int *rows, size_t n, size_t count, float *out) {
    size_t i = 0;
    if (has_avx2()) {
        for (; i + 4 <= n; i += 4) {
            dot4_avx2(query, base + (size_t)rows[i] * count, base + (size_t)rows[i + 1] * count, base + (size_t)rows[i + 2] * count,
                      base + (size_t)rows[i + 3] * count, count, out + i);
        }
        if (i < n) {
            // One to three rows left: the last one stands in for the missing ones (already in cache, so the
            // extra loads are cheap) and their results are dropped.
            const float *last = base + (size_t)rows[n - 1] * count;
            const float *b0 = base + (size_t)rows[i] * count;
            const float *b1 = i + 1 < n ? base + (size_t)rows[i + 1] * count : last;
            const float *b2 = i + 2 < n ? base + (size_t)rows[i + 2] * count : last;
            float four[4];
            dot4_avx2(query, b0, b1, b2, last, count, four);
            for (size_t j = 0; i < n; i++, j++) out[i] = four[j];
        }
    }
    for (; i < n; i++) out[i] = xceptor_dot(query, base + (size_t)rows[i] * count, count);
}
