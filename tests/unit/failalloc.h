/* failalloc.h - make one allocation fail, for tests linked with
 *   -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup
 * (tests/CMakeLists.txt, quench_wrap_alloc). The wrap reaches the calls of
 * the objects in the link - the test and libquench_core_ut's objects -
 * not those inside shared libraries (jansson, libc): those allocate
 * untouched. Allocations are counted only while armed. */
#ifndef QUENCH_FAILALLOC_H
#define QUENCH_FAILALLOC_H

/* Fail the Nth allocation from now (1-based) and, with STICKY, every one
 * after it, until failalloc_disarm. */
void failalloc_arm(unsigned long n, int sticky);
/* Stop failing and counting. Whether an allocation failed since the arm. */
int failalloc_disarm(void);

#endif
