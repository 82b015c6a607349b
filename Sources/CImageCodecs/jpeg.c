#include "image_codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

struct xceptor_error_manager {
    struct jpeg_error_mgr base;
    jmp_buf escape;
    char *message;
};

static void xceptor_error_exit(j_common_ptr cinfo) {
    struct xceptor_error_manager *manager = (struct xceptor_error_manager *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, manager->message);
    longjmp(manager->escape, 1);
}

// Corrupt-data warnings (truncated files, bad Huffman codes) become errors: a half-grey image must not
// be embedded as if it were the picture.
static void xceptor_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0) {
        struct xceptor_error_manager *manager = (struct xceptor_error_manager *)cinfo->err;
        (*cinfo->err->format_message)(cinfo, manager->message);
        longjmp(manager->escape, 1);
    }
}

static void xceptor_output_message(j_common_ptr cinfo) { (void)cinfo; }

// A progressive JPEG may split its coefficients over any number of scans, each a pass over the whole
// coefficient buffer: thousands of tiny scans make a small file cost minutes. libjpeg-turbo advises a limit
// (djpeg's -maxscans); encoders write about ten by default, and jpegtran's scan scripts at most 100.
#define XCEPTOR_MAX_SCANS 64

static void xceptor_count_scans(j_common_ptr cinfo) {
    j_decompress_ptr decompress = (j_decompress_ptr)cinfo;
    if (decompress->is_decompressor && decompress->input_scan_number > XCEPTOR_MAX_SCANS) {
        struct xceptor_error_manager *manager = (struct xceptor_error_manager *)cinfo->err;
        snprintf(manager->message, 200, "a progressive JPEG with more than %d scans", XCEPTOR_MAX_SCANS);
        longjmp(manager->escape, 1);
    }
}

#define XCEPTOR_BEGIN(cinfo, manager, error)                         \
    struct jpeg_decompress_struct cinfo;                             \
    struct xceptor_error_manager manager;                            \
    cinfo.err = jpeg_std_error(&manager.base);                       \
    manager.base.error_exit = xceptor_error_exit;                    \
    manager.base.emit_message = xceptor_emit_message;                \
    manager.base.output_message = xceptor_output_message;            \
    manager.message = (error);                                       \
    (error)[0] = 0;                                                  \
    if (setjmp(manager.escape)) {                                    \
        jpeg_destroy_decompress(&cinfo);                             \
        return 1;                                                    \
    }                                                                \
    jpeg_create_decompress(&cinfo);

int xceptor_jpeg_header(const unsigned char *data, size_t size, int *width, int *height, int *components,
                        char *error) {
    XCEPTOR_BEGIN(cinfo, manager, error)
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    *width = (int)cinfo.image_width;
    *height = (int)cinfo.image_height;
    *components = cinfo.num_components;
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

static void xceptor_configure(struct jpeg_decompress_struct *cinfo, int scale_denominator) {
    if (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK) {
        cinfo->out_color_space = JCS_CMYK;
    } else {
        cinfo->out_color_space = JCS_RGB;
    }
    cinfo->scale_num = 1;
    cinfo->scale_denom = (unsigned int)scale_denominator;
    if (scale_denominator > 1) {
        // Already an approximation of the reference pixels: take libjpeg's fastest settings too.
        cinfo->dct_method = JDCT_IFAST;
        cinfo->do_fancy_upsampling = FALSE;
    } else {
        // Pillow's defaults, so decoded pixels match what the reference pipeline saw.
        cinfo->dct_method = JDCT_ISLOW;
        cinfo->do_fancy_upsampling = TRUE;
    }
}

int xceptor_jpeg_scaled_size(const unsigned char *data, size_t size, int scale_denominator, int *width, int *height,
                             char *error) {
    XCEPTOR_BEGIN(cinfo, manager, error)
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    xceptor_configure(&cinfo, scale_denominator);
    jpeg_calc_output_dimensions(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

int xceptor_jpeg_decode(const unsigned char *data, size_t size, int scale_denominator, unsigned char *output,
                        size_t output_size, int *width, int *height, int *components, int *inverted_cmyk, char *error) {
    XCEPTOR_BEGIN(cinfo, manager, error)
    struct jpeg_progress_mgr progress = {.progress_monitor = xceptor_count_scans};
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    xceptor_configure(&cinfo, scale_denominator);
    *inverted_cmyk = cinfo.saw_Adobe_marker ? 1 : 0;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    if (stride * cinfo.output_height > output_size) {
        snprintf(error, 200, "output buffer of %zu bytes is too small for %ux%u", output_size, cinfo.output_width,
                 cinfo.output_height);
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = output + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    *components = cinfo.output_components;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

int xceptor_jpeg_encode(const unsigned char *rgb, int width, int height, int quality, unsigned char **output,
                        unsigned long *output_size, char *error) {
    struct jpeg_compress_struct cinfo;
    struct xceptor_error_manager manager;
    // volatile: read after a longjmp back into this frame.
    unsigned char *volatile buffer = NULL;
    unsigned long size = 0;
    cinfo.err = jpeg_std_error(&manager.base);
    manager.base.error_exit = xceptor_error_exit;
    manager.base.output_message = xceptor_output_message;
    manager.message = error;
    error[0] = 0;
    if (setjmp(manager.escape)) {
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        return 1;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, (unsigned char **)&buffer, &size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo.next_scanline * (size_t)width * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *output = buffer;
    *output_size = size;
    return 0;
}
