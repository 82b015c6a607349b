// glibc's allocator tuning (mallopt); Swift's Glibc module does not include <malloc.h>.
#if defined(__linux__)
#include <malloc.h>
#endif
