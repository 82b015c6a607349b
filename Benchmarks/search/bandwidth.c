// The memory-bandwidth floor of an exact scan: the time to read 100k x 2048 float32 (819 MB) once with all
// cores, four AVX2 accumulators each, best of 10. `Benchmarks/search/run.sh` prints it before the scans.
// Build: cc -O2 -mavx2 -fopenmp bandwidth.c -o bandwidth
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(void) {
    const size_t count = 100000UL * 2048, chunk = 4096;
    float *values = aligned_alloc(64, count * sizeof(float));
    if (!values) return 1;
    for (size_t i = 0; i < count; i++) values[i] = (float)(i % 7);
    double best = 1e9;
    for (int round = 0; round < 10; round++) {
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        float total = 0;
#pragma omp parallel for reduction(+ : total)
        for (size_t block = 0; block < count; block += chunk) {
            __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            for (size_t i = block; i < block + chunk; i += 32) {
                s0 = _mm256_add_ps(s0, _mm256_load_ps(values + i));
                s1 = _mm256_add_ps(s1, _mm256_load_ps(values + i + 8));
                s2 = _mm256_add_ps(s2, _mm256_load_ps(values + i + 16));
                s3 = _mm256_add_ps(s3, _mm256_load_ps(values + i + 24));
            }
            float lanes[8];
            _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
            total += lanes[0];
        }
        clock_gettime(CLOCK_MONOTONIC, &end);
        double ms = (end.tv_sec - start.tv_sec) * 1e3 + (end.tv_nsec - start.tv_nsec) / 1e6;
        if (ms < best) best = ms;
        if (total < 0) puts("");
    }
    printf("{\"kind\": \"bandwidth-floor\", \"threads\": %d, \"milliseconds_per_query\": %.2f, \"gigabytes_per_second\": %.1f}\n",
           omp_get_max_threads(), best, count * sizeof(float) / best / 1e6);
    free(values);
    return 0;
}
