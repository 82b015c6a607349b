// C shims for image codecs whose error handling Swift cannot express: libjpeg reports errors by calling
// a handler that must longjmp out (its default calls exit()). Each function returns 0 on success, or
// non-zero with a message in `error` (at least 200 bytes).
#ifndef XCEPTOR_IMAGE_CODECS_H
#define XCEPTOR_IMAGE_CODECS_H
#include <stddef.h>

/// Reads a JPEG header: dimensions and the number of colour components (1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK).
int xceptor_jpeg_header(const unsigned char *data, size_t size, int *width, int *height, int *components,
                        char *error);

/// Decodes a JPEG to interleaved 8-bit pixels: RGB for gray and colour images, CMYK (as stored, with the
/// Adobe inversion flag in `*inverted_cmyk`) for 4-component images. `scale_denominator` (1, 2, 4 or 8)
/// lets libjpeg downscale in the DCT domain. `output` must hold width*height*components bytes of the
/// scaled size, which `xceptor_jpeg_scaled_size` reports.
int xceptor_jpeg_decode(const unsigned char *data, size_t size, int scale_denominator, unsigned char *output,
                        size_t output_size, int *width, int *height, int *components, int *inverted_cmyk, char *error);

/// The output size of a decode at `scale_denominator`, without decoding.
int xceptor_jpeg_scaled_size(const unsigned char *data, size_t size, int scale_denominator, int *width, int *height,
                             char *error);

/// Encodes interleaved 8-bit RGB as a baseline JPEG at `quality` (1-100). On success `*output` is a buffer
/// from malloc (the caller frees it with `free`) holding `*output_size` bytes.
int xceptor_jpeg_encode(const unsigned char *rgb, int width, int height, int quality, unsigned char **output,
                        unsigned long *output_size, char *error);

/// The logical screen size of a GIF, from its header.
int xceptor_gif_screen_size(const unsigned char *data, size_t size, int *width, int *height, char *error);

/// The first frame of a GIF as RGB on its logical screen (width*height*3 bytes in `output`), the rest of
/// the screen in the background colour. Returns 2 (with the frame's size) when the frame itself has more
/// than `max_pixels` pixels.
int xceptor_gif_decode_first_frame(const unsigned char *data, size_t size, unsigned char *output, size_t output_size,
                                   size_t max_pixels, int *frame_width, int *frame_height, char *error);

/// The horizontal pass of Pillow's 8-bit fixed-point resampling, vectorised (AVX-512BW where the CPU has it
/// and `allow_avx512` is set, else AVX2): for each of `rows` rows of `input` (`input_width` RGB pixels),
/// output pixel x is the taps weights[x * weights_stride + t] over pixels first[x] + t (t < count[x]),
/// rounded and clamped as Pillow does. Returns 0, or -1 when this CPU has no AVX2 or memory ran out: the
/// caller then runs its plain loop.
int xceptor_resample_horizontal(const unsigned char *input, int input_width, int rows, unsigned char *output,
                                int output_width, const int *first, const int *count, const int *weights,
                                int weights_stride, int allow_avx512);

/// The vertical pass, vectorised (AVX2): output row r (`output_width` RGB pixels) is the taps
/// weights[r * weights_stride + t] over input rows first[r] + t (t < count[r]), from column `first_column`
/// of `input` (`input_width` RGB pixels a row) on. Returns 0, or -1 when this CPU has no AVX2.
int xceptor_resample_vertical(const unsigned char *input, int input_width, int first_column, int rows, unsigned char *output,
                              int output_width, const int *first, const int *count, const int *weights, int weights_stride);

#endif
