/* check.h -- the smallest test harness: each CHECK prints "ok - what" or
 * "not ok - what (details)", and tests/run.sh counts the lines. */
#ifndef PP_CHECK_H
#define PP_CHECK_H

#include <stdio.h>

static int check_failed;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        int ok_ = (cond);                                             \
        printf("%s - ", ok_ ? "ok" : "not ok");                       \
        printf(__VA_ARGS__);                                          \
        if (!ok_) printf("   [%s:%d: %s]", __FILE__, __LINE__, #cond); \
        printf("\n");                                                 \
        if (!ok_) check_failed++;                                     \
    } while (0)

#endif
