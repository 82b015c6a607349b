// libpng's simplified API (png_image): it handles its own errors, so Swift calls it directly. Its
// format and flag macros combine other macros, which Swift does not import: constants for those.
#include <png.h>

static const unsigned int xceptor_png_format_rgba = PNG_FORMAT_RGBA;
// 16-bit files without gamma information are taken as sRGB (as every viewer and Pillow do), not linear.
static const unsigned int xceptor_png_flag_16bit_srgb = PNG_IMAGE_FLAG_16BIT_sRGB;
