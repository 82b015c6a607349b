// The two passes of Pillow's fixed-point resampling (libImaging/Resample.c, 8 bits per channel) with AVX2,
// bit-exact. Horizontal: each 22-bit weight w is split as w = hi * 2048 + lo (both fit int16), so
// sum(w * p) = (sum(hi * p) << 11) + sum(lo * p), and both sums come from vpmaddwd on int16 planes; with
// AVX-512BW, eight output pixels share each vector (horizontal_avx512), twice as fast for photos to 150-299.
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

// Each output's 22-bit weights as int16 halves, `padded` slots each: high then low, zero past its taps.
static int16_t *split_weights(int output_width, const int32_t *count, const int32_t *weights, int weights_stride, int padded) {
    int16_t *split = calloc((size_t)output_width * padded * 2, sizeof(int16_t));
    if (!split) return NULL;
    for (int x = 0; x < output_width; x++) {
        int16_t *high = split + (size_t)x * padded * 2, *low = high + padded;
        for (int tap = 0; tap < count[x]; tap++) {
            int32_t weight = weights[(size_t)x * weights_stride + tap];
            high[tap] = (int16_t)(weight >> 11);
            low[tap] = (int16_t)(weight & 2047);
        }
    }
    return split;
}

// One RGB row into three int16 planes `plane` values apart (inlined, so vectorised for the caller's target).
__attribute__((always_inline)) static inline void deinterleave(const uint8_t *source, int input_width, int16_t *planes, int plane) {
    for (int i = 0; i < input_width; i++) {
        planes[i] = source[i * 3];
        planes[plane + i] = source[i * 3 + 1];
        planes[2 * plane + i] = source[i * 3 + 2];
    }
}

// Output pixel x of a row: per channel, 16 taps at a time against its split weights.
__attribute__((target("avx2"), always_inline)) static inline void pixel_avx2(const int16_t *planes, int plane, int first, int count,
                                                                          const int16_t *high, const int16_t *low, uint8_t *target) {
    __m256i sums[3];
    for (int channel = 0; channel < 3; channel++) {
        const int16_t *pixels = planes + (size_t)channel * plane + first;
        __m256i high_sum = _mm256_setzero_si256(), low_sum = _mm256_setzero_si256();
        for (int tap = 0; tap < count; tap += block) {
            __m256i values = _mm256_loadu_si256((const __m256i *)(pixels + tap));
            high_sum = _mm256_add_epi32(high_sum, _mm256_madd_epi16(values, _mm256_loadu_si256((const __m256i *)(high + tap))));
            low_sum = _mm256_add_epi32(low_sum, _mm256_madd_epi16(values, _mm256_loadu_si256((const __m256i *)(low + tap))));
        }
        sums[channel] = _mm256_add_epi32(_mm256_slli_epi32(high_sum, 11), low_sum);
    }
    const __m128i half = _mm_set1_epi32(1 << (precision_bits - 1));
    __m128i total = _mm_srai_epi32(_mm_add_epi32(channel_sums(sums[0], sums[1], sums[2]), half), precision_bits);
    __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(total, total), _mm_setzero_si128());
    uint32_t packed = (uint32_t)_mm_cvtsi128_si32(bytes);
    target[0] = (uint8_t)packed;
    target[1] = (uint8_t)(packed >> 8);
    target[2] = (uint8_t)(packed >> 16);
}

static int widest_taps(int output_width, const int32_t *count) {
    int widest = 0;
    for (int x = 0; x < output_width; x++) widest = count[x] > widest ? count[x] : widest;
    return widest;
}

__attribute__((target("avx2"))) static int horizontal_avx2(const uint8_t *input, int input_width, int rows, uint8_t *output,
                                                           int output_width, const int32_t *first, const int32_t *count,
                                                           const int32_t *weights, int weights_stride) {
    const int padded = (widest_taps(output_width, count) + block - 1) / block * block;
    const int plane = input_width + padded;
    int16_t *planes = calloc((size_t)plane * 3, sizeof(int16_t));
    int16_t *split = split_weights(output_width, count, weights, weights_stride, padded);
    if (!planes || !split) {
        free(planes);
        free(split);
        return -1;
    }
    for (int row = 0; row < rows; row++) {
        deinterleave(input + (size_t)row * input_width * 3, input_width, planes, plane);
        uint8_t *target = output + (size_t)row * output_width * 3;
        for (int x = 0; x < output_width; x++) {
            const int16_t *high = split + (size_t)x * padded * 2;
            pixel_avx2(planes, plane, first[x], count[x], high, high + padded, target + x * 3);
        }
    }
    free(planes);
    free(split);
    return 0;
}

// AVX-512BW: eight output pixels a vector. Their taps lie within 64 consecutive pixels when the scale is
// below about 7 (photos to 150 or 299 pixels), so one vpermt2w per four taps gathers, from two 32-pixel
// registers of a channel, four taps of each of the eight outputs into 32 lanes; vpmaddwd then multiplies them
// by the split weights as in the AVX2 pass, and adjacent int32 lanes summed give each output's total. Groups
// whose taps spread wider, and the last outputs of a row, take the AVX2 pass's per-pixel route.
enum { group = 8, window = 64 };

typedef struct {
    int start;   // the group's first input pixel: the least first[x] of its outputs
    int rounds;  // four taps an output per round; 0: the group takes the per-pixel route
} resample_group;

// The group's eight outputs into `target` (24 bytes). `vectors`: per round, the window positions, the high
// weights and the low weights.
__attribute__((target("avx512f,avx512bw"), always_inline)) static inline void group_avx512(const int16_t *planes, int plane,
                                                                                        const resample_group *g,
                                                                                        const __m512i *vectors, uint8_t *target) {
    const __m512i half = _mm512_set1_epi32(1 << (precision_bits - 1));
    __m256i totals[3];
    for (int channel = 0; channel < 3; channel++) {
        const int16_t *pixels = planes + (size_t)channel * plane + g->start;
        const __m512i first_half = _mm512_loadu_si512(pixels), second_half = _mm512_loadu_si512(pixels + 32);
        __m512i high_sum = _mm512_setzero_si512(), low_sum = _mm512_setzero_si512();
        for (int round = 0; round < g->rounds; round++) {
            const __m512i values = _mm512_permutex2var_epi16(first_half, vectors[3 * round], second_half);
            high_sum = _mm512_add_epi32(high_sum, _mm512_madd_epi16(values, vectors[3 * round + 1]));
            low_sum = _mm512_add_epi32(low_sum, _mm512_madd_epi16(values, vectors[3 * round + 2]));
        }
        const __m512i sums = _mm512_add_epi32(_mm512_slli_epi32(high_sum, 11), low_sum);
        // Lanes 2o and 2o+1 hold output o's two partial sums: add them in the low half of each 64-bit lane.
        const __m512i paired = _mm512_add_epi32(sums, _mm512_srli_epi64(sums, 32));
        totals[channel] = _mm512_cvtepi64_epi32(_mm512_srai_epi32(_mm512_add_epi32(paired, half), precision_bits));
    }
    // int32 -> int16 -> uint8, saturating as Pillow clips: per 128-bit lane [r g b b] of four outputs, then
    // interleaved to r g b r g b ...
    const __m256i interleave = _mm256_setr_epi8(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1,
                                                0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1);
    const __m256i bytes = _mm256_shuffle_epi8(
        _mm256_packus_epi16(_mm256_packs_epi32(totals[0], totals[1]), _mm256_packs_epi32(totals[2], totals[2])), interleave);
    uint8_t staged[32];
    _mm_storeu_si128((__m128i *)staged, _mm256_castsi256_si128(bytes));
    _mm_storeu_si128((__m128i *)(staged + 12), _mm256_extracti128_si256(bytes, 1));
    memcpy(target, staged, 24);
}

__attribute__((target("avx512f,avx512bw"))) static int horizontal_avx512(const uint8_t *input, int input_width, int rows,
                                                                       uint8_t *output, int output_width, const int32_t *first,
                                                                       const int32_t *count, const int32_t *weights,
                                                                       int weights_stride) {
    const int padded = (widest_taps(output_width, count) + block - 1) / block * block;
    // Room past the row for the per-pixel route's 16-tap blocks and the groups' 64-pixel windows.
    const int plane = input_width + (padded > window ? padded : window);
    const int groups = output_width / group;
    resample_group *layout = calloc((size_t)(groups > 0 ? groups : 1), sizeof(resample_group));
    int16_t *planes = calloc((size_t)plane * 3, sizeof(int16_t));
    int16_t *split = split_weights(output_width, count, weights, weights_stride, padded);
    if (!layout || !planes || !split) {
        free(layout);
        free(planes);
        free(split);
        return -1;
    }
    int rounds_total = 0;
    for (int g = 0; g < groups; g++) {
        int start = first[g * group], end = 0, most = 0;
        for (int x = g * group; x < (g + 1) * group; x++) {
            start = first[x] < start ? first[x] : start;
            end = first[x] + count[x] > end ? first[x] + count[x] : end;
            most = count[x] > most ? count[x] : most;
        }
        layout[g].start = start;
        layout[g].rounds = end - start <= window ? (most + 3) / 4 : 0;
        rounds_total += layout[g].rounds;
    }
    __m512i *vectors = _mm_malloc((size_t)(rounds_total > 0 ? rounds_total : 1) * 3 * sizeof(__m512i), 64);
    if (!vectors) {
        free(layout);
        free(planes);
        free(split);
        return -1;
    }
    // Per group and round: the window positions of four taps of each output, and their split weights (zero
    // past an output's last tap, whose position then reads any pixel of the window).
    __m512i *next = vectors;
    for (int g = 0; g < groups; g++) {
        for (int round = 0; round < layout[g].rounds; round++) {
            int16_t index[32], high[32], low[32];
            for (int lane = 0; lane < 32; lane++) {
                const int x = g * group + lane / 4, tap = round * 4 + lane % 4, live = tap < count[x];
                index[lane] = (int16_t)(live ? first[x] - layout[g].start + tap : 0);
                high[lane] = live ? split[(size_t)x * padded * 2 + tap] : 0;
                low[lane] = live ? split[(size_t)x * padded * 2 + padded + tap] : 0;
            }
            next[0] = _mm512_loadu_si512(index);
            next[1] = _mm512_loadu_si512(high);
            next[2] = _mm512_loadu_si512(low);
            next += 3;
        }
    }
    for (int row = 0; row < rows; row++) {
        deinterleave(input + (size_t)row * input_width * 3, input_width, planes, plane);
        uint8_t *target = output + (size_t)row * output_width * 3;
        const __m512i *round_vectors = vectors;
        int x = 0;
        while (x < output_width) {
            const resample_group *g = x % group == 0 && x / group < groups ? &layout[x / group] : NULL;
            if (g && g->rounds > 0) {
                group_avx512(planes, plane, g, round_vectors, target + x * 3);
                round_vectors += 3 * g->rounds;
                x += group;
            } else {
                const int16_t *high = split + (size_t)x * padded * 2;
                pixel_avx2(planes, plane, first[x], count[x], high, high + padded, target + x * 3);
                x += 1;
            }
        }
    }
    free(layout);
    free(planes);
    free(split);
    _mm_free(vectors);
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

// The widest vector code this CPU runs: 0 none, 2 AVX2, 3 AVX-512BW too. Decided once; threads racing here
// all store the same answer.
enum { vectors_none = 0, vectors_avx2 = 2, vectors_avx512bw = 3 };

static int vector_level(void) {
#if defined(__x86_64__)
    static int level = -1;
    if (level < 0) {
        __builtin_cpu_init();
        if (!__builtin_cpu_supports("avx2")) {
            level = vectors_none;
        } else if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
            level = vectors_avx512bw;
        } else {
            level = vectors_avx2;
        }
    }
    return level;
#else
    return vectors_none;
#endif
}

int xceptor_resample_vertical(const unsigned char *input, int input_width, int first_column, int rows, unsigned char *output,
                              int output_width, const int *first, const int *count, const int *weights, int weights_stride) {
#if defined(__x86_64__)
    if (vector_level() >= vectors_avx2) {
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
                                int weights_stride, int allow_avx512) {
#if defined(__x86_64__)
    if (allow_avx512 && vector_level() >= vectors_avx512bw) {
        return horizontal_avx512(input, input_width, rows, output, output_width, first, count, weights, weights_stride);
    }
    if (vector_level() >= vectors_avx2) {
        return horizontal_avx2(input, input_width, rows, output, output_width, first, count, weights, weights_stride);
    }
#endif
    (void)input, (void)input_width, (void)rows, (void)output, (void)output_width, (void)first, (void)count, (void)weights,
        (void)weights_stride, (void)allow_avx512;
    return -1;
}
