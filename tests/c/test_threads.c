/*
 * Eight threads on one store: each creates its own keys and also uses one
 * shared AEAD key and one shared signing key; one thread changes the shared
 * key's state while others use it. The last error is per thread. Run under
 * ASan+UBSan and valgrind by scripts/test-c.sh.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define THREADS 8
#define ROUNDS 20

static kl_store *store;
static kl_key *shared_aead;
static kl_key *shared_signer;

typedef struct {
    int index;
    int failures;
} job;

#define T_OK(call)                                                                             \
    do {                                                                                       \
        kl_result r_ = (call);                                                                 \
        if (r_ != KL_OK) {                                                                     \
            fprintf(stderr, "thread %d: %s -> %s\n", j->index, #call, kl_result_str(r_));     \
            j->failures++;                                                                     \
        }                                                                                      \
    } while (0)

static void *worker(void *arg) {
    job *j = arg;
    char name[32];
    snprintf(name, sizeof name, "thread-%d", j->index);
    kl_key *own = NULL;
    T_OK(kl_key_create(store, KL_PURPOSE_AEAD, name, &own));
    T_OK(kl_key_activate(own));
    uint8_t ct[128], pt[128], sig[KL_SIGNATURE_DER_MAX_LEN];
    size_t ct_len = 0, pt_len = 0, sig_len = 0;
    for (int i = 0; i < ROUNDS; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "%s/%d", name, i);
        T_OK(kl_key_encrypt(own, (const uint8_t *)msg, (size_t)n, (const uint8_t *)name,
                            strlen(name), ct, sizeof ct, &ct_len));
        T_OK(kl_store_decrypt(store, ct, ct_len, (const uint8_t *)name, strlen(name), pt,
                              sizeof pt, &pt_len));
        if (pt_len != (size_t)n || memcmp(pt, msg, pt_len) != 0) j->failures++;
        /* The shared key may be suspended by thread 0 at any moment: either
         * it works, or it says so. */
        kl_result r = kl_key_encrypt(shared_aead, (const uint8_t *)msg, (size_t)n, NULL, 0, ct,
                                     sizeof ct, &ct_len);
        if (r == KL_OK) {
            T_OK(kl_key_decrypt(shared_aead, ct, ct_len, NULL, 0, pt, sizeof pt, &pt_len));
        } else if (r != KL_ERR_WRONG_STATE) {
            fprintf(stderr, "thread %d: shared encrypt -> %s\n", j->index, kl_result_str(r));
            j->failures++;
        }
        if (i % 5 == 0) {
            T_OK(kl_key_sign(shared_signer, (const uint8_t *)msg, (size_t)n, sig, sizeof sig,
                             &sig_len));
            T_OK(kl_key_verify(shared_signer, (const uint8_t *)msg, (size_t)n, sig, sig_len));
        }
        if (j->index == 0 && i % 4 == 1) T_OK(kl_key_suspend(shared_aead, "flap"));
        if (j->index == 0 && i % 4 == 3) T_OK(kl_key_resume(shared_aead));
    }
    /* A failure on this thread leaves a message on this thread only. */
    uint32_t s = 0;
    if (kl_key_state(own, NULL) != KL_ERR_NULL_POINTER) j->failures++;
    char buf[128];
    size_t need = kl_last_error(buf, sizeof buf);
    if (need == 0 || strstr(buf, "out is NULL") == NULL) j->failures++;
    T_OK(kl_key_state(own, &s));
    if (kl_last_error(NULL, 0) != 0) j->failures++;
    kl_key_free(own);
    return NULL;
}

int main(void) {
    OK(kl_store_open_memory("threads", KL_ROLE_ADMINISTRATOR, &store));
    OK(kl_key_create(store, KL_PURPOSE_AEAD, "shared", &shared_aead));
    OK(kl_key_activate(shared_aead));
    OK(kl_key_create(store, KL_PURPOSE_SIGNING, "shared-signer", &shared_signer));
    OK(kl_key_activate(shared_signer));
    pthread_t t[THREADS];
    job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i].index = i;
        jobs[i].failures = 0;
        if (pthread_create(&t[i], NULL, worker, &jobs[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        kl_test_failures += jobs[i].failures;
    }
    /* Every thread's key is in the inventory. */
    size_t need = 0;
    EXPECT(KL_ERR_BUFFER_TOO_SMALL, kl_store_list_json(store, KL_PURPOSE_AEAD, 0, "", NULL, 0, &need));
    char *json = malloc(need);
    CHECK(json != NULL);
    if (json) {
        OK(kl_store_list_json(store, KL_PURPOSE_AEAD, 0, "", (uint8_t *)json, need, &need));
        int count = 0;
        for (const char *p = json; (p = strstr(p, "\"name\":\"thread-")) != NULL; p++) count++;
        CHECK(count == THREADS);
        free(json);
    }
    kl_key_free(shared_aead);
    kl_key_free(shared_signer);
    kl_store_free(store);
    return kl_test_done("test_threads");
}
