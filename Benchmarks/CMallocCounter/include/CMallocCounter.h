#ifndef CMALLOCCOUNTER_H
#define CMALLOCCOUNTER_H
#include <stdint.h>

/// Calls of malloc, calloc and realloc in this process so far (all threads).
uint64_t switchyard_malloc_count(void);

#endif
