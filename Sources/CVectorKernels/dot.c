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

__attribute__((target("avx512f"))) static void dot4_avx512(const float *q, const float *b0, const float *b1, const float *b2,
                                                           const float *b3, size_t count, float *out) {
    // The AVX2 kernel's shape at twice the width: half the instructions per byte, which is what lets a scan on
    // a 2-core Zen 5 reach the memory-bandwidth floor (14.4 ms for 100k x 2048 against 14.9 for a plain read;
    // the AVX2 kernel took 17.2).
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps(), c2 = _mm512_setzero_ps(), c3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        __m512 x = _mm512_loadu_ps(q + i), y = _mm512_loadu_ps(q + i + 16);
        a0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b0 + i), a0);
        a1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b1 + i), a1);
        a2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b2 + i), a2);
        a3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b3 + i), a3);
        c0 = _mm512_fmadd_ps(y, _mm512_loadu_ps(b0 + i + 16), c0);
        c1 = _mm512_fmadd_ps(y, _mm512_loadu_ps(b1 + i + 16), c1);
        c2 = _mm512_fmadd_ps(y, _mm512_loadu_ps(b2 + i + 16), c2);
        c3 = _mm512_fmadd_ps(y, _mm512_loadu_ps(b3 + i + 16), c3);
    }
    if (i < count) {
        // The last 1 to 31 values, through masked loads (masked-off lanes read nothing and count zero).
        for (; i < count; i += 16) {
            __mmask16 mask = count - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (count - i)) - 1);
            __m512 x = _mm512_maskz_loadu_ps(mask, q + i);
            a0 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(mask, b0 + i), a0);
            a1 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(mask, b1 + i), a1);
            a2 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(mask, b2 + i), a2);
            a3 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(mask, b3 + i), a3);
        }
    }
    out[0] = _mm512_reduce_add_ps(_mm512_add_ps(a0, c0));
    out[1] = _mm512_reduce_add_ps(_mm512_add_ps(a1, c1));
    out[2] = _mm512_reduce_add_ps(_mm512_add_ps(a2, c2));
    out[3] = _mm512_reduce_add_ps(_mm512_add_ps(a3, c3));
}

__attribute__((target("avx2,fma,f16c"))) static void dot4_half_avx2(const float *q, const unsigned short *b, size_t count,
                                                                   float *out) {
    const unsigned short *b0 = b, *b1 = b + count, *b2 = b + 2 * count, *b3 = b + 3 * count;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 x = _mm256_loadu_ps(q + i);
        a0 = _mm256_fmadd_ps(x, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b0 + i))), a0);
        a1 = _mm256_fmadd_ps(x, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b1 + i))), a1);
        a2 = _mm256_fmadd_ps(x, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b2 + i))), a2);
        a3 = _mm256_fmadd_ps(x, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b3 + i))), a3);
    }
    out[0] = sum8(a0);
    out[1] = sum8(a1);
    out[2] = sum8(a2);
    out[3] = sum8(a3);
    for (; i < count; i++) {
        out[0] += q[i] * _cvtsh_ss(b0[i]);
        out[1] += q[i] * _cvtsh_ss(b1[i]);
        out[2] += q[i] * _cvtsh_ss(b2[i]);
        out[3] += q[i] * _cvtsh_ss(b3[i]);
    }
}

__attribute__((target("avx2,fma,f16c"))) static void to_half_f16c(const float *values, unsigned short *halves, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        _mm_storeu_si128((__m128i *)(halves + i), _mm256_cvtps_ph(_mm256_loadu_ps(values + i), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < count; i++) halves[i] = _cvtss_sh(values[i], _MM_FROUND_TO_NEAREST_INT);
}

/// IEEE half to float by bits, for CPUs without F16C.
static float half_to_float(unsigned short half) {
    unsigned sign = (unsigned)(half >> 15) << 31, exponent = (half >> 10) & 0x1F, mantissa = half & 0x3FF;
    unsigned bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        // Subnormal: shift the mantissa up until its leading one is the implicit bit.
        exponent = 113;
        while (!(mantissa & 0x400)) {
            mantissa <<= 1;
            exponent--;
        }
        bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
    }
    float value;
    __builtin_memcpy(&value, &bits, sizeof value);
    return value;
}

/// Float to IEEE half by bits, rounding to nearest even, for CPUs without F16C.
static unsigned short float_to_half(float value) {
    unsigned bits;
    __builtin_memcpy(&bits, &value, sizeof bits);
    unsigned sign = (bits >> 16) & 0x8000, exponent = (bits >> 23) & 0xFF, mantissa = bits & 0x7FFFFF;
    if (exponent == 0xFF) return (unsigned short)(sign | 0x7C00 | (mantissa ? 0x200 : 0));
    int rebased = (int)exponent - 112;
    if (rebased >= 0x1F) return (unsigned short)(sign | 0x7C00);
    if (rebased <= 0) {
        if (rebased < -10) return (unsigned short)sign;
        mantissa |= 0x800000;
        unsigned shift = (unsigned)(14 - rebased), half = mantissa >> shift, rest = mantissa & ((1u << shift) - 1), midpoint = 1u << (shift - 1);
        if (rest > midpoint || (rest == midpoint && (half & 1))) half++;
        return (unsigned short)(sign | half);
    }
    unsigned half = ((unsigned)rebased << 10) | (mantissa >> 13), rest = mantissa & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++;  // a carry into the exponent is still right
    return (unsigned short)(sign | half);
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

static int has_avx512(void) {
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f");
    }
    return known;
}

/// Four rows at once, with the widest kernel this CPU has.
static void dot4(const float *q, const float *b0, const float *b1, const float *b2, const float *b3, size_t count, float *out) {
    if (has_avx512()) {
        dot4_avx512(q, b0, b1, b2, b3, count, out);
    } else {
        dot4_avx2(q, b0, b1, b2, b3, count, out);
    }
}

static int has_f16c(void) {
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = has_avx2() && __builtin_cpu_supports("f16c");
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
            dot4(query, base + (size_t)rows[i] * count, base + (size_t)rows[i + 1] * count, base + (size_t)rows[i + 2] * count,
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
            dot4(query, b0, b1, b2, last, count, four);
            for (size_t j = 0; i < n; i++, j++) out[i] = four[j];
        }
    }
    for (; i < n; i++) out[i] = xceptor_dot(query, base + (size_t)rows[i] * count, count);
}

void xceptor_dot_consecutive(const float *query, const float *rows, size_t n, size_t count, float *out) {
    size_t i = 0;
    if (has_avx2()) {
        for (; i + 4 <= n; i += 4) {
            const float *b = rows + i * count;
            dot4(query, b, b + count, b + 2 * count, b + 3 * count, count, out + i);
        }
    }
    for (; i < n; i++) out[i] = xceptor_dot(query, rows + i * count, count);
}

void xceptor_dot_consecutive_half(const float *query, const unsigned short *rows, size_t n, size_t count, float *out) {
    size_t i = 0;
    if (has_f16c()) {
        for (; i + 4 <= n; i += 4) dot4_half_avx2(query, rows + i * count, count, out + i);
    }
    for (; i < n; i++) {
        const unsigned short *row = rows + i * count;
        float total = 0;
        for (size_t j = 0; j < count; j++) total += query[j] * half_to_float(row[j]);
        out[i] = total;
    }
}

void xceptor_to_half(const float *values, unsigned short *halves, size_t count) {
    if (has_f16c()) {
        to_half_f16c(values, halves, count);
        return;
    }
    for (size_t i = 0; i < count; i++) halves[i] = float_to_half(values[i]);
}
