#include "vector_kernels.h"

#include <immintrin.h>

// Twelve independent FMA chains: enough to cover the FMA latency (4 cycles) on two FMA ports. The result
// is returned so the compiler cannot drop the loop.

__attribute__((target("avx512f"))) static float fma_loop_avx512(size_t iterations) {
    __m512 a[12];
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (size_t n = 0; n < iterations; n++) {
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
    }
    __m512 sum = a[0];
    for (int i = 1; i < 12; i++) sum = _mm512_add_ps(sum, a[i]);
    return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx2,fma"))) static float fma_loop_avx2(size_t iterations) {
    __m256 a[12];
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (size_t n = 0; n < iterations; n++) {
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    }
    __m256 sum = a[0];
    for (int i = 1; i < 12; i++) sum = _mm256_add_ps(sum, a[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}

int xceptor_fma_lanes(void) {
    if (__builtin_cpu_supports("avx512f")) return 16;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 8;
    return 0;
}

double xceptor_fma_loop(size_t iterations, float *sink) {
    int lanes = xceptor_fma_lanes();
    float result = 0;
    if (lanes == 16) result = fma_loop_avx512(iterations);
    else if (lanes == 8) result = fma_loop_avx2(iterations);
    if (sink) *sink = result;
    return (double)iterations * 12.0 * lanes * 2.0;
}
