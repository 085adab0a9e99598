#ifndef CMALLOCCOUNTER_H
#define CMALLOCCOUNTER_H
#include <stdint.h>

/// Calls of malloc, calloc and realloc in this process so far (all threads).
uint64_t switchyard_malloc_count(void);

/// Bytes of heap in use right now (glibc's mallinfo2: arena chunks in use plus mmapped ones).
uint64_t switchyard_heap_in_use(void);

#endif
