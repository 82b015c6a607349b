#include "image_codecs.h"

#include <gif_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xceptor_gif_source {
    const unsigned char *data;
    size_t size;
    size_t offset;
};

static int xceptor_gif_read(GifFileType *gif, GifByteType *buffer, int length) {
    struct xceptor_gif_source *source = (struct xceptor_gif_source *)gif->UserData;
    size_t available = source->size - source->offset;
    size_t count = (size_t)length < available ? (size_t)length : available;
    memcpy(buffer, source->data + source->offset, count);
    source->offset += count;
    return (int)count;
}

static int xceptor_gif_fail(GifFileType *gif, int code, char *error) {
    snprintf(error, 200, "%s", GifErrorString(code) ? GifErrorString(code) : "unreadable GIF");
    if (gif) DGifCloseFile(gif, NULL);
    return 1;
}

int xceptor_gif_screen_size(const unsigned char *data, size_t size, int *width, int *height, char *error) {
    struct xceptor_gif_source source = {data, size, 0};
    int code = 0;
    GifFileType *gif = DGifOpen(&source, xceptor_gif_read, &code);
    if (!gif) return xceptor_gif_fail(NULL, code, error);
    *width = gif->SWidth;
    *height = gif->SHeight;
    DGifCloseFile(gif, NULL);
    return 0;
}

int xceptor_gif_decode_first_frame(const unsigned char *data, size_t size, unsigned char *output, size_t output_size,
                                   size_t max_pixels, int *frame_width, int *frame_height, char *error) {
    struct xceptor_gif_source source = {data, size, 0};
    int code = 0;
    GifFileType *gif = DGifOpen(&source, xceptor_gif_read, &code);
    if (!gif) return xceptor_gif_fail(NULL, code, error);
    size_t width = (size_t)gif->SWidth, height = (size_t)gif->SHeight;
    if (width * height * 3 > output_size) {
        snprintf(error, 200, "output buffer too small for %zux%zu", width, height);
        DGifCloseFile(gif, NULL);
        return 1;
    }
    // The canvas starts as the background colour, as the first frame may cover only part of it.
    const ColorMapObject *screen_colors = gif->SColorMap;
    GifColorType background = {0, 0, 0};
    if (screen_colors && gif->SBackGroundColor < screen_colors->ColorCount) {
        background = screen_colors->Colors[gif->SBackGroundColor];
    }
    for (size_t pixel = 0; pixel < width * height; pixel++) {
        output[pixel * 3] = background.Red;
        output[pixel * 3 + 1] = background.Green;
        output[pixel * 3 + 2] = background.Blue;
    }
    GifRecordType record;
    do {
        if (DGifGetRecordType(gif, &record) == GIF_ERROR) return xceptor_gif_fail(gif, gif->Error, error);
        if (record == EXTENSION_RECORD_TYPE) {
            int extension_code;
            GifByteType *extension;
            if (DGifGetExtension(gif, &extension_code, &extension) == GIF_ERROR) return xceptor_gif_fail(gif, gif->Error, error);
            while (extension) {
                if (DGifGetExtensionNext(gif, &extension) == GIF_ERROR) return xceptor_gif_fail(gif, gif->Error, error);
            }
        } else if (record == IMAGE_DESC_RECORD_TYPE) {
            if (DGifGetImageDesc(gif) == GIF_ERROR) return xceptor_gif_fail(gif, gif->Error, error);
            GifImageDesc *frame = &gif->Image;
            const ColorMapObject *colors = frame->ColorMap ? frame->ColorMap : screen_colors;
            if (!colors || frame->Width <= 0 || frame->Height <= 0 || frame->Width > 65535 || frame->Height > 65535) {
                snprintf(error, 200, "the first frame has no colour table or no size");
                DGifCloseFile(gif, NULL);
                return 1;
            }
            // The frame's own size, not only the screen's: a small screen may carry a frame of 65535 x 65535,
            // whose rows are all decompressed even where they fall outside the canvas.
            *frame_width = frame->Width;
            *frame_height = frame->Height;
            if ((size_t)frame->Width * (size_t)frame->Height > max_pixels) {
                snprintf(error, 200, "the first frame is %dx%d", frame->Width, frame->Height);
                DGifCloseFile(gif, NULL);
                return 2;
            }
            GifPixelType *line = malloc((size_t)frame->Width);
            if (!line) {
                snprintf(error, 200, "out of memory");
                DGifCloseFile(gif, NULL);
                return 1;
            }
            // Interlaced frames deliver rows in four passes.
            static const int starts[] = {0, 4, 2, 1}, steps[] = {8, 8, 4, 2};
            int passes = frame->Interlace ? 4 : 1;
            for (int pass = 0; pass < passes; pass++) {
                int start = frame->Interlace ? starts[pass] : 0, step = frame->Interlace ? steps[pass] : 1;
                for (int row = start; row < frame->Height; row += step) {
                    if (DGifGetLine(gif, line, frame->Width) == GIF_ERROR) {
                        free(line);
                        return xceptor_gif_fail(gif, gif->Error, error);
                    }
                    size_t y = (size_t)(frame->Top + row);
                    if (y >= height) continue;
                    for (int column = 0; column < frame->Width; column++) {
                        size_t x = (size_t)(frame->Left + column);
                        if (x >= width || line[column] >= colors->ColorCount) continue;
                        GifColorType color = colors->Colors[line[column]];
                        output[(y * width + x) * 3] = color.Red;
                        output[(y * width + x) * 3 + 1] = color.Green;
                        output[(y * width + x) * 3 + 2] = color.Blue;
                    }
                }
            }
            free(line);
            DGifCloseFile(gif, NULL);
            return 0;
        }
    } while (record != TERMINATE_RECORD_TYPE);
    snprintf(error, 200, "the file has no image");
    DGifCloseFile(gif, NULL);
    return 1;
}
