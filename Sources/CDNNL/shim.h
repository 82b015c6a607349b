// oneDNN's C API from Debian's libdnnl-dev. Swift cannot import DNNL_MEMORY_ALLOCATE (a pointer-valued
// macro) or the post-op argument macro, so they are spelled here as functions.
#include <oneapi/dnnl/dnnl.h>

static inline void *xceptor_dnnl_memory_allocate(void) { return DNNL_MEMORY_ALLOCATE; }
static inline int xceptor_dnnl_arg_post_op(int index, int argument) {
    return DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | argument;
}
