// The two passes of Pillow's fixed-point resampling (libImaging/Resample.c, 8 bits per channel) with AVX2,
// bit-exact. Horizontal: each 22-bit weight w is split as w = hi * 2048 + lo (both fit int16), so
// sum(w * p) = (sum(hi * p) << 11) + sum(lo * p), and both sums come from vpmaddwd on int16 planes.
// Vertical: every value of an output row has the same taps, so 16 values at a time are widened to int32
// and multiplied by the tap's weight. Integer sums do not depend on their order, so the results equal Pillow's
// loops exactly. (Swift compiles the same loops for baseline x86-64, whose SSE2 has no 32-bit multiply.)

#include "image_codecs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

enum { precision_bits = 22, block = 16 };

__attribute__((target("avx2"))) static inline __m128i channel_sums(__m256i red, __m256i green, __m256i blue) {
    // [r, g, b, 0] from three 8-lane sums.
    __m256i rg = _mm256_hadd_epi32(red, green);
    __m256i b0 = _mm256_hadd_epi32(blue, _mm256_setzero_si256());
    __m256i rgb = _mm256_hadd_epi32(rg, b0);
    return _mm_add_epi32(_mm256_castsi256_si128(rgb), _mm256_extracti128_si256(rgb, 1));
}

__attribute__((target("avx2"))) static int horizontal_avx2(const uint8_t *input, int input_width, int rows, uint8_t *output,
                                                           int output_width, const int32_t *first, const int32_t *count,
                                                           const int32_t *weights, int weights_stride) {
    int widest = 0;
    for (int x = 0; x < output_width; x++) widest = count[x] > widest ? count[x] : widest;
    const int padded = (widest + block - 1) / block * block;
    const int plane = input_width + padded;
    int16_t *planes = calloc((size_t)plane * 3, sizeof(int16_t));
    int16_t *split = calloc((size_t)output_width * padded * 2, sizeof(int16_t));
    if (!planes || !split) {
        free(planes);
        free(split);
        return -1;
    }
    for (int x = 0; x < output_width; x++) {
        int16_t *high = split + (size_t)x * padded * 2, *low = high + padded;
        for (int tap = 0; tap < count[x]; tap++) {
            int32_t weight = weights[(size_t)x * weights_stride + tap];
            high[tap] = (int16_t)(weight >> 11);
            low[tap] = (int16_t)(weight & 2047);
        }
    }
    const __m128i half = _mm_set1_epi32(1 << (precision_bits - 1));
    for (int row = 0; row < rows; row++) {
        const uint8_t *source = input + (size_t)row * input_width * 3;
        for (int i = 0; i < input_width; i++) {
            planes[i] = source[i * 3];
            planes[plane + i] = source[i * 3 + 1];
            planes[2 * plane + i] = source[i * 3 + 2];
        }
        uint8_t *target = output + (size_t)row * output_width * 3;
        for (int x = 0; x < output_width; x++) {
            const int16_t *high = split + (size_t)x * padded * 2, *low = high + padded;
            __m256i sums[3];
            for (int channel = 0; channel < 3; channel++) {
                const int16_t *pixels = planes + (size_t)channel * plane + first[x];
                __m256i high_sum = _mm256_setzero_si256(), low_sum = _mm256_setzero_si256();
                for (int tap = 0; tap < count[x]; tap += block) {
                    __m256i values = _mm256_loadu_si256((const __m256i *)(pixels + tap));
                    high_sum = _mm256_add_epi32(high_sum, _mm256_madd_epi16(values, _mm256_loadu_si256((const __m256i *)(high + tap))));
                    low_sum = _mm256_add_epi32(low_sum, _mm256_madd_epi16(values, _mm256_loadu_si256((const __m256i *)(low + tap))));
                }
                sums[channel] = _mm256_add_epi32(_mm256_slli_epi32(high_sum, 11), low_sum);
            }
            __m128i total = _mm_srai_epi32(_mm_add_epi32(channel_sums(sums[0], sums[1], sums[2]), half), precision_bits);
            __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(total, total), _mm_setzero_si128());
            uint32_t packed = (uint32_t)_mm_cvtsi128_si32(bytes);
            target[x * 3] = (uint8_t)packed;
            target[x * 3 + 1] = (uint8_t)(packed >> 8);
            target[x * 3 + 2] = (uint8_t)(packed >> 16);
        }
    }
    free(planes);
    free(split);
    return 0;
}

__attribute__((target("avx2"))) static void vertical_avx2(const uint8_t *input, int input_width, int first_column, int rows,
                                                         uint8_t *output, int output_width, const int32_t *first,
                                                         const int32_t *count, const int32_t *weights, int weights_stride) {
    const int values = output_width * 3;
    for (int row = 0; row < rows; row++) {
        const int32_t *row_weights = weights + (size_t)row * weights_stride;
        const uint8_t *top = input + ((size_t)first[row] * input_width + first_column) * 3;
        const size_t stride = (size_t)input_width * 3;
        uint8_t *target = output + (size_t)row * values;
        int i = 0;
        for (; i + 16 <= values; i += 16) {
            __m256i low = _mm256_set1_epi32(1 << (precision_bits - 1)), high = low;
            for (int tap = 0; tap < count[row]; tap++) {
                const __m128i bytes = _mm_loadu_si128((const __m128i *)(top + tap * stride + i));
                const __m256i weight = _mm256_set1_epi32(row_weights[tap]);
                low = _mm256_add_epi32(low, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(bytes), weight));
                high = _mm256_add_epi32(high, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8)), weight));
            }
            // Shift, then clamp to 0...255 through the saturating packs (int32 -> int16 -> uint8).
            low = _mm256_srai_epi32(low, precision_bits);
            high = _mm256_srai_epi32(high, precision_bits);
            const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(low), _mm256_extracti128_si256(low, 1));
            const __m128i more = _mm_packs_epi32(_mm256_castsi256_si128(high), _mm256_extracti128_si256(high, 1));
            _mm_storeu_si128((__m128i *)(target + i), _mm_packus_epi16(words, more));
        }
        for (; i < values; i++) {
            int32_t sum = 1 << (precision_bits - 1);
            for (int tap = 0; tap < count[row]; tap++) sum += (int32_t)top[tap * stride + i] * row_weights[tap];
            sum >>= precision_bits;
            target[i] = (uint8_t)(sum < 0 ? 0 : sum > 255 ? 255 : sum);
        }
    }
}
#endif

static int cpu_has_avx2(void) {
#if defined(__x86_64__)
    static int has_avx2 = -1;  // decided once; threads racing here all store the same answer
    if (has_avx2 < 0) {
        __builtin_cpu_init();
        has_avx2 = __builtin_cpu_supports("avx2");
    }
    return has_avx2;
#else
    return 0;
#endif
}

int xceptor_resample_vertical(const unsigned char *input, int input_width, int first_column, int rows, unsigned char *output,
                              int output_width, const int *first, const int *count, const int *weights, int weights_stride) {
#if defined(__x86_64__)
    if (cpu_has_avx2()) {
        vertical_avx2(input, input_width, first_column, rows, output, output_width, first, count, weights, weights_stride);
        return 0;
    }
#endif
    (void)input, (void)input_width, (void)first_column, (void)rows, (void)output, (void)output_width, (void)first, (void)count,
        (void)weights, (void)weights_stride;
    return -1;
}

int xceptor_resample_horizontal(const unsigned char *input, int input_width, int rows, unsigned char *output,
                                int output_width, const int *first, const int *count, const int *weights,
                                int weights_stride) {
#if defined(__x86_64__)
    if (cpu_has_avx2()) {
        return horizontal_avx2(input, input_width, rows, output, output_width, first, count, weights, weights_stride);
    }
#endif
    (void)input, (void)input_width, (void)rows, (void)output, (void)output_width, (void)first, (void)count, (void)weights,
        (void)weights_stride;
    return -1;
}
