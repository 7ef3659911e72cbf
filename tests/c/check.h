/* A minimal test harness for the keylife C tests. */
#ifndef KL_TEST_CHECK_H
#define KL_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "keylife.h"

static int kl_test_failures = 0;

static void kl_test_report(const char *file, int line, const char *expr, kl_result got,
                           kl_result want) {
    char msg[512];
    size_t need = kl_last_error(msg, sizeof msg);
    fprintf(stderr, "%s:%d: %s returned %u (%s), expected %u (%s); last error: %s\n", file, line,
            expr, (unsigned)got, kl_result_str(got), (unsigned)want, kl_result_str(want),
            need > 0 && need <= sizeof msg ? msg : "-");
    kl_test_failures++;
}

/* EXPECT(code, call): the call returns `code`. */
#define EXPECT(want, call)                                                                     \
    do {                                                                                       \
        kl_result kl_got_ = (call);                                                            \
        if (kl_got_ != (kl_result)(want))                                                      \
            kl_test_report(__FILE__, __LINE__, #call, kl_got_, (kl_result)(want));             \
    } while (0)

#define OK(call) EXPECT(KL_OK, call)

/* CHECK(condition). */
#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
            kl_test_failures++;                                                                \
        }                                                                                      \
    } while (0)

static int kl_test_done(const char *name) {
    if (kl_test_failures) {
        fprintf(stderr, "%s: %d failure(s)\n", name, kl_test_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
