/*
 * The keylife C ABI from C: lifecycle, every purpose, buffers, secrets,
 * NULL pointers, wrong state and purpose, consumed handles, enums out of
 * range, free(NULL), persistent stores. Run by scripts/test-c.sh against the
 * shared and the static library, under ASan+UBSan and valgrind.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define U8(s) ((const uint8_t *)(s))

static kl_key *new_key(const kl_store *store, uint32_t purpose, int active) {
    kl_key *k = NULL;
    OK(kl_key_create(store, purpose, "test-key", &k));
    if (active) OK(kl_key_activate(k));
    return k;
}

static uint32_t state_of(const kl_key *k) {
    uint32_t s = 0;
    OK(kl_key_state(k, &s));
    return s;
}

static void test_version(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", KEYLIFE_VERSION_MAJOR, KEYLIFE_VERSION_MINOR,
             KEYLIFE_VERSION_PATCH);
    CHECK(strcmp(want, KEYLIFE_VERSION) == 0);
    CHECK(strcmp(kl_version(), KEYLIFE_VERSION) == 0);
    CHECK(strcmp(kl_result_str(KL_OK), "ok") == 0);
    CHECK(strcmp(kl_result_str(KL_ERR_WRONG_STATE), "wrong key state") == 0);
    CHECK(strcmp(kl_result_str(12345), "unknown result code") == 0);
    /* scripts/test-c.sh builds the library with the aws-lc feature: the
       accelerated provider is the default without any call. */
    CHECK(strcmp(kl_crypto_provider_default(), "aws-lc") == 0);
    CHECK(kl_crypto_provider_install("openssl") == KL_ERR_INVALID_ARGUMENT);
    CHECK(kl_crypto_provider_install(NULL) == KL_ERR_NULL_POINTER);
    CHECK(kl_crypto_provider_install("aws-lc") == KL_OK);
    CHECK(kl_crypto_provider_install("rustcrypto") == KL_ERR_CONFLICT);
    CHECK(strcmp(kl_crypto_provider_default(), "aws-lc") == 0);
}

static void test_aead_lifecycle(const kl_store *store) {
    kl_key *k = new_key(store, KL_PURPOSE_AEAD, 0);
    CHECK(state_of(k) == KL_STATE_PRE_ACTIVE);
    uint8_t ct[128], pt[128];
    size_t ct_len = 0, pt_len = 0;
    EXPECT(KL_ERR_WRONG_STATE, kl_key_encrypt(k, U8("m"), 1, NULL, 0, ct, sizeof ct, &ct_len));
    OK(kl_key_activate(k));
    OK(kl_key_encrypt(k, U8("hello"), 5, U8("ctx"), 3, ct, sizeof ct, &ct_len));
    CHECK(ct_len == 5 + KL_CIPHERTEXT_OVERHEAD);
    OK(kl_key_decrypt(k, ct, ct_len, U8("ctx"), 3, pt, sizeof pt, &pt_len));
    CHECK(pt_len == 5 && memcmp(pt, "hello", 5) == 0);
    EXPECT(KL_ERR_AUTHENTICATION_FAILED,
           kl_key_decrypt(k, ct, ct_len, U8("ctX"), 3, pt, sizeof pt, &pt_len));
    ct[ct_len - 1] ^= 1;
    EXPECT(KL_ERR_AUTHENTICATION_FAILED,
           kl_store_decrypt(store, ct, ct_len, U8("ctx"), 3, pt, sizeof pt, &pt_len));
    ct[ct_len - 1] ^= 1;
    EXPECT(KL_ERR_MALFORMED, kl_store_decrypt(store, ct, 10, NULL, 0, pt, sizeof pt, &pt_len));
    /* The exact-size call: the plaintext straight into the caller's buffer. */
    uint8_t exact[5];
    OK(kl_store_decrypt_into(store, ct, ct_len, U8("ctx"), 3, exact));
    CHECK(memcmp(exact, "hello", 5) == 0);
    EXPECT(KL_ERR_AUTHENTICATION_FAILED, kl_store_decrypt_into(store, ct, ct_len, U8("ctX"), 3, exact));
    EXPECT(KL_ERR_MALFORMED, kl_store_decrypt_into(store, ct, 10, NULL, 0, exact));
    EXPECT(KL_ERR_NULL_POINTER, kl_store_decrypt_into(store, ct, ct_len, U8("ctx"), 3, NULL));

    uint32_t v = 0;
    OK(kl_key_rotate(k, &v));
    CHECK(v == 2);
    uint8_t re[128];
    size_t re_len = 0;
    OK(kl_key_rewrap(k, ct, ct_len, U8("ctx"), 3, re, sizeof re, &re_len));
    CHECK(re_len == ct_len && re[21] == 2);
    OK(kl_store_decrypt(store, re, re_len, U8("ctx"), 3, pt, sizeof pt, &pt_len));

    OK(kl_key_suspend(k, "hold"));
    CHECK(state_of(k) == KL_STATE_SUSPENDED);
    OK(kl_key_decrypt(k, ct, ct_len, U8("ctx"), 3, pt, sizeof pt, &pt_len));
    OK(kl_key_resume(k));
    OK(kl_key_deactivate(k, "done"));
    EXPECT(KL_ERR_WRONG_STATE, kl_key_encrypt(k, U8("m"), 1, NULL, 0, ct, sizeof ct, &ct_len));
    OK(kl_key_decrypt(k, ct, ct_len, U8("ctx"), 3, pt, sizeof pt, &pt_len));
    OK(kl_key_compromise(k, "leak"));
    EXPECT(KL_ERR_WRONG_STATE, kl_key_decrypt(k, ct, ct_len, U8("ctx"), 3, pt, sizeof pt, &pt_len));
    OK(kl_key_schedule_destruction(k, 30u * 86400u, "leak"));
    CHECK(state_of(k) == KL_STATE_PENDING_DESTRUCTION);
    OK(kl_key_cancel_destruction(k));
    CHECK(state_of(k) == KL_STATE_COMPROMISED);

    /* The info JSON, with a size query first. */
    size_t need = 0;
    EXPECT(KL_ERR_BUFFER_TOO_SMALL, kl_key_info_json(k, NULL, 0, &need));
    char *json = malloc(need);
    CHECK(json != NULL);
    if (json) {
        size_t got = 0;
        OK(kl_key_info_json(k, (uint8_t *)json, need, &got));
        CHECK(got == need && json[got - 1] == '\0');
        CHECK(strstr(json, "\"state\":\"compromised\"") != NULL);
        free(json);
    }

    /* Load again by id. */
    char id[KL_KEY_ID_HEX_LEN + 1];
    size_t id_len = 0;
    OK(kl_key_id(k, id, sizeof id, &id_len));
    CHECK(id_len == sizeof id && strlen(id) == KL_KEY_ID_HEX_LEN);
    kl_key *again = NULL;
    OK(kl_key_load(store, id, &again));
    CHECK(state_of(again) == KL_STATE_COMPROMISED);
    kl_key_free(again);
    kl_key_free(k);

    kl_key *unused = new_key(store, KL_PURPOSE_AEAD, 0);
    OK(kl_key_destroy(unused, "never used"));
    CHECK(state_of(unused) == KL_STATE_DESTROYED);
    kl_key_free(unused);
}

static void test_other_purposes(const kl_store *store) {
    kl_key *signer = new_key(store, KL_PURPOSE_SIGNING, 1);
    uint8_t sig[KL_SIGNATURE_DER_MAX_LEN], fixed[KL_SIGNATURE_FIXED_LEN], der[128];
    size_t sig_len = 0, fixed_len = 0, der_len = 0;
    OK(kl_key_sign(signer, U8("msg"), 3, sig, sizeof sig, &sig_len));
    OK(kl_key_verify(signer, U8("msg"), 3, sig, sig_len));
    EXPECT(KL_ERR_AUTHENTICATION_FAILED, kl_key_verify(signer, U8("msG"), 3, sig, sig_len));
    OK(kl_key_sign_fixed(signer, U8("msg"), 3, fixed, sizeof fixed, &fixed_len));
    CHECK(fixed_len == KL_SIGNATURE_FIXED_LEN);
    OK(kl_key_verify_fixed(signer, U8("msg"), 3, fixed, fixed_len));
    OK(kl_key_public_key_der(signer, der, sizeof der, &der_len));
    OK(kl_public_key_verify(der, der_len, U8("msg"), 3, sig, sig_len));

    kl_key *mac = new_key(store, KL_PURPOSE_MAC, 1);
    uint8_t tag[KL_MAC_LEN];
    size_t tag_len = 0;
    OK(kl_key_mac(mac, U8("msg"), 3, tag, sizeof tag, &tag_len));
    OK(kl_key_verify_mac(mac, U8("msg"), 3, tag, tag_len));
    tag[0] ^= 1;
    EXPECT(KL_ERR_AUTHENTICATION_FAILED, kl_key_verify_mac(mac, U8("msg"), 3, tag, tag_len));

    kl_key *kdf = new_key(store, KL_PURPOSE_DERIVATION, 1);
    kl_secret *d1 = NULL, *d2 = NULL;
    OK(kl_key_derive(kdf, NULL, 0, U8("tenant=1"), 8, 32, &d1));
    OK(kl_key_derive(kdf, NULL, 0, U8("tenant=1"), 8, 32, &d2));
    CHECK(kl_secret_len(d1) == 32 && memcmp(kl_secret_data(d1), kl_secret_data(d2), 32) == 0);
    kl_secret_free(d1);
    kl_secret_free(d2);

    kl_key *alice = new_key(store, KL_PURPOSE_AGREEMENT, 1);
    kl_key *bob = new_key(store, KL_PURPOSE_AGREEMENT, 1);
    uint8_t a_pub[128], b_pub[65];
    size_t a_len = 0, b_len = 0;
    OK(kl_key_public_key_der(alice, a_pub, sizeof a_pub, &a_len));
    OK(kl_key_public_key_sec1(bob, b_pub, sizeof b_pub, &b_len));
    kl_secret *ab = NULL, *ba = NULL;
    OK(kl_key_agree(alice, b_pub, b_len, U8("salt"), 4, U8("ctx"), 3, 32, &ab));
    OK(kl_key_agree(bob, a_pub, a_len, U8("salt"), 4, U8("ctx"), 3, 32, &ba));
    CHECK(ab && ba && memcmp(kl_secret_data(ab), kl_secret_data(ba), 32) == 0);
    kl_secret_free(ab);
    kl_secret_free(ba);

    /* Wrong purpose. */
    uint8_t out[128];
    size_t out_len = 0;
    EXPECT(KL_ERR_WRONG_PURPOSE, kl_key_encrypt(signer, U8("m"), 1, NULL, 0, out, sizeof out, &out_len));
    EXPECT(KL_ERR_WRONG_PURPOSE, kl_key_sign(mac, U8("m"), 1, out, sizeof out, &out_len));
    EXPECT(KL_ERR_WRONG_PURPOSE, kl_key_public_key_der(mac, out, sizeof out, &out_len));

    kl_key_free(signer);
    kl_key_free(mac);
    kl_key_free(kdf);
    kl_key_free(alice);
    kl_key_free(bob);
}

static void test_buffers_and_nulls(const kl_store *store) {
    kl_key *k = new_key(store, KL_PURPOSE_AEAD, 1);
    uint8_t small[20];
    memset(small, 0xAA, sizeof small);
    size_t len = 0;
    EXPECT(KL_ERR_BUFFER_TOO_SMALL,
           kl_key_encrypt(k, U8("0123456789"), 10, NULL, 0, small, sizeof small, &len));
    CHECK(len == 10 + KL_CIPHERTEXT_OVERHEAD);
    int untouched = 1;
    for (size_t i = 0; i < sizeof small; i++) untouched &= small[i] == 0xAA;
    CHECK(untouched);

    EXPECT(KL_ERR_NULL_POINTER, kl_key_encrypt(NULL, U8("m"), 1, NULL, 0, small, sizeof small, &len));
    EXPECT(KL_ERR_NULL_POINTER, kl_key_encrypt(k, NULL, 1, NULL, 0, small, sizeof small, &len));
    EXPECT(KL_ERR_NULL_POINTER, kl_key_encrypt(k, U8("m"), 1, NULL, 0, small, sizeof small, NULL));
    EXPECT(KL_ERR_NULL_POINTER, kl_key_encrypt(k, U8("m"), 1, NULL, 0, NULL, 10, &len));
    char msg[128];
    size_t need = kl_last_error(msg, sizeof msg);
    CHECK(need > 0 && need <= sizeof msg && strstr(msg, "out is NULL") != NULL);
    kl_store *s = NULL;
    EXPECT(KL_ERR_NULL_POINTER, kl_store_open_memory(NULL, KL_ROLE_ADMINISTRATOR, &s));
    EXPECT(KL_ERR_NULL_POINTER, kl_store_open_memory("x", KL_ROLE_ADMINISTRATOR, NULL));
    EXPECT(KL_ERR_INVALID_ARGUMENT, kl_store_open_memory("x", 0, &s));
    EXPECT(KL_ERR_INVALID_ARGUMENT, kl_store_open_memory("x", 77, &s));
    CHECK(s == NULL);
    kl_key *none = NULL;
    CHECK(strcmp(kl_store_crypto_provider(store), kl_crypto_provider_default()) == 0);
    CHECK(kl_store_crypto_provider(NULL) == NULL);
    /* The library is built with aws-lc, not its FIPS module (feature fips). */
    CHECK(kl_crypto_provider_fips_mode() == 0);
    CHECK(kl_store_fips_mode(store) == 0);
    CHECK(kl_store_fips_mode(NULL) == 0);
    EXPECT(KL_ERR_INVALID_ARGUMENT, kl_key_create(store, 0, "k", &none));
    EXPECT(KL_ERR_INVALID_ARGUMENT, kl_key_create(store, 6, "k", &none));
    EXPECT(KL_ERR_INVALID_ARGUMENT, kl_key_create(store, KL_PURPOSE_AEAD, "", &none));
    EXPECT(KL_ERR_MALFORMED, kl_key_load(store, "xyz", &none));
    CHECK(none == NULL);
    EXPECT(KL_ERR_NULL_POINTER, kl_key_activate(NULL));
    EXPECT(KL_ERR_NULL_POINTER, kl_key_suspend(k, NULL));

    kl_store_free(NULL);
    kl_key_free(NULL);
    kl_secret_free(NULL);
    CHECK(kl_secret_data(NULL) == NULL && kl_secret_len(NULL) == 0);
    kl_key_free(k);
}

/* The fixed-size calls: the caller sizes the output from the input. */
static void test_into(const kl_store *store) {
    kl_key *k = new_key(store, KL_PURPOSE_AEAD, 1);
    uint8_t ct[5 + KL_CIPHERTEXT_OVERHEAD], pt[5];
    OK(kl_key_encrypt_into(k, U8("hello"), 5, U8("ctx"), 3, ct));
    OK(kl_key_decrypt_into(k, ct, sizeof ct, U8("ctx"), 3, pt));
    CHECK(memcmp(pt, "hello", 5) == 0);
    size_t pt_len = 0;
    uint8_t pt2[16];
    OK(kl_key_decrypt(k, ct, sizeof ct, U8("ctx"), 3, pt2, sizeof pt2, &pt_len));
    CHECK(pt_len == 5 && memcmp(pt2, "hello", 5) == 0);
    EXPECT(KL_ERR_AUTHENTICATION_FAILED, kl_key_decrypt_into(k, ct, sizeof ct, NULL, 0, pt));
    EXPECT(KL_ERR_MALFORMED, kl_key_decrypt_into(k, ct, KL_CIPHERTEXT_OVERHEAD - 1, NULL, 0, pt));
    EXPECT(KL_ERR_NULL_POINTER, kl_key_encrypt_into(k, U8("hello"), 5, NULL, 0, NULL));
    EXPECT(KL_ERR_NULL_POINTER, kl_key_decrypt_into(NULL, ct, sizeof ct, NULL, 0, pt));
    OK(kl_key_suspend(k, "hold"));
    EXPECT(KL_ERR_WRONG_STATE, kl_key_encrypt_into(k, U8("hello"), 5, NULL, 0, ct));
    OK(kl_key_decrypt_into(k, ct, sizeof ct, U8("ctx"), 3, pt));
    kl_key_free(k);
}

static void test_consumed_handle(const kl_store *admin) {
    kl_key *k = new_key(admin, KL_PURPOSE_MAC, 0);
    char id[KL_KEY_ID_HEX_LEN + 1];
    size_t id_len = 0;
    OK(kl_key_id(k, id, sizeof id, &id_len));
    kl_store *app = NULL;
    OK(kl_store_register_principal(admin, "payments", KL_ROLE_APPLICATION));
    OK(kl_store_as_principal(admin, "payments", &app));
    /* Handles are capabilities: a principal handle mints no other, and
     * only registered principals get one. */
    kl_store *again = NULL;
    EXPECT(KL_ERR_PERMISSION_DENIED, kl_store_as_principal(app, "payments", &again));
    CHECK(again == NULL);
    EXPECT(KL_ERR_NOT_FOUND, kl_store_as_principal(admin, "nobody", &again));
    CHECK(again == NULL);
    kl_key *h = NULL;
    OK(kl_key_load(app, id, &h));
    EXPECT(KL_ERR_PERMISSION_DENIED, kl_key_activate(h));
    uint32_t s = 0;
    EXPECT(KL_ERR_ALREADY_CONSUMED, kl_key_state(h, &s));
    EXPECT(KL_ERR_ALREADY_CONSUMED, kl_key_activate(h));
    /* The id is still there, to load the key again. */
    char id2[KL_KEY_ID_HEX_LEN + 1];
    OK(kl_key_id(h, id2, sizeof id2, &id_len));
    CHECK(strcmp(id, id2) == 0);
    kl_key_free(h);
    kl_store_free(app); /* the admin handle still works */
    OK(kl_key_activate(k));
    kl_key_free(k);
}

static void test_file_store(void) {
    char dir[] = "/tmp/keylife-c-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/keys.db", dir);
    uint8_t kek[32];
    memset(kek, 7, sizeof kek);
    uint8_t ct[128], pt[128];
    size_t ct_len = 0, pt_len = 0;
    char id[KL_KEY_ID_HEX_LEN + 1];
    size_t id_len = 0;
    const uint32_t backends[2] = {KL_BACKEND_SQLITE, KL_BACKEND_FILE};
    for (int b = 0; b < 2; b++) {
        kl_store *s = NULL;
        OK(kl_store_open(backends[b], path, KL_KEK_RAW, kek, sizeof kek, "ops",
                         KL_ROLE_ADMINISTRATOR, &s));
        kl_key *k = new_key(s, KL_PURPOSE_AEAD, 1);
        OK(kl_key_encrypt(k, U8("kept"), 4, NULL, 0, ct, sizeof ct, &ct_len));
        OK(kl_key_id(k, id, sizeof id, &id_len));
        kl_key_free(k);
        kl_store_free(s);

        kek[0] ^= 1;
        s = NULL;
        EXPECT(KL_ERR_WRONG_KEK, kl_store_open(backends[b], path, KL_KEK_RAW, kek, sizeof kek,
                                               "ops", KL_ROLE_ADMINISTRATOR, &s));
        CHECK(s == NULL);
        kek[0] ^= 1;
        OK(kl_store_open(backends[b], path, KL_KEK_RAW, kek, sizeof kek, "ops",
                         KL_ROLE_ADMINISTRATOR, &s));
        OK(kl_store_decrypt(s, ct, ct_len, NULL, 0, pt, sizeof pt, &pt_len));
        CHECK(pt_len == 4 && memcmp(pt, "kept", 4) == 0);
        size_t changed = 99;
        OK(kl_store_maintenance(s, &changed));
        CHECK(changed == 0);
        kl_store_free(s);
        snprintf(path, sizeof path, "%s/keys.kl", dir);
    }
    /* Clean up the temporary directory (best effort). */
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* Large files: kl_key_encrypt_file / kl_store_decrypt_file stream in
   constant memory; a truncated stream fails and leaves no output. */
static void test_stream_files(const kl_store *store) {
    char dir[] = "/tmp/keylife-c-stream-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    char plain[128], sealed[128], back[128], cut[128];
    snprintf(plain, sizeof plain, "%s/plain", dir);
    snprintf(sealed, sizeof sealed, "%s/plain.kl", dir);
    snprintf(back, sizeof back, "%s/back", dir);
    snprintf(cut, sizeof cut, "%s/cut.kl", dir);
    const size_t len = (3u << 20) + 17; /* four segments */
    uint8_t *data = malloc(len);
    uint8_t *read = malloc(len + 1);
    if (data == NULL || read == NULL) {
        CHECK(!"malloc");
        free(data);
        free(read);
        return;
    }
    for (size_t i = 0; i < len; i++) data[i] = (uint8_t)(i * 7);
    FILE *f = fopen(plain, "wb");
    CHECK(f != NULL && fwrite(data, 1, len, f) == len);
    if (f) fclose(f);

    kl_key *k = new_key(store, KL_PURPOSE_AEAD, 1);
    uint64_t n = 0;
    OK(kl_key_encrypt_file(k, plain, sealed, U8("ctx"), 3, &n));
    CHECK(n == len);
    OK(kl_store_decrypt_file(store, sealed, back, U8("ctx"), 3, NULL));
    f = fopen(back, "rb");
    size_t got = f ? fread(read, 1, len + 1, f) : 0;
    if (f) fclose(f);
    CHECK(got == len && memcmp(read, data, len) == 0);
    EXPECT(KL_ERR_AUTHENTICATION_FAILED,
           kl_store_decrypt_file(store, sealed, back, U8("other"), 5, &n));

    /* Truncate at the end of the first segment (header 65, segment 1 MiB + tag). */
    f = fopen(sealed, "rb");
    FILE *g = fopen(cut, "wb");
    const size_t keep = 65 + (1u << 20) + 16;
    uint8_t *buf = malloc(keep);
    CHECK(f != NULL && g != NULL && buf != NULL);
    if (f && g && buf) {
        CHECK(fread(buf, 1, keep, f) == keep);
        CHECK(fwrite(buf, 1, keep, g) == keep);
    }
    if (f) fclose(f);
    if (g) fclose(g);
    free(buf);
    char out2[160];
    snprintf(out2, sizeof out2, "%s/never", dir);
    EXPECT(KL_ERR_AUTHENTICATION_FAILED, kl_store_decrypt_file(store, cut, out2, U8("ctx"), 3, NULL));
    CHECK(access(out2, F_OK) != 0); /* no partial plaintext left behind */
    EXPECT(KL_ERR_NOT_FOUND, kl_key_encrypt_file(k, "/nonexistent/in", out2, NULL, 0, NULL));
    EXPECT(KL_ERR_NULL_POINTER, kl_key_encrypt_file(k, NULL, out2, NULL, 0, NULL));
    EXPECT(KL_ERR_NULL_POINTER, kl_store_decrypt_file(store, sealed, NULL, NULL, 0, NULL));
    kl_key_free(k);
    free(data);
    free(read);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
    test_version();
    kl_store *store = NULL;
    OK(kl_store_open_memory("c-tests", KL_ROLE_ADMINISTRATOR, &store));
    if (store == NULL) return kl_test_done("test_abi");
    test_aead_lifecycle(store);
    test_other_purposes(store);
    test_buffers_and_nulls(store);
    test_into(store);
    test_consumed_handle(store);
    test_stream_files(store);

    size_t need = 0;
    EXPECT(KL_ERR_BUFFER_TOO_SMALL, kl_store_list_json(store, 0, 0, "", NULL, 0, &need));
    char *list = malloc(need);
    if (list) {
        OK(kl_store_list_json(store, KL_PURPOSE_AEAD, 0, "", (uint8_t *)list, need, &need));
        CHECK(strstr(list, "\"purpose\":\"signing\"") == NULL);
        CHECK(strstr(list, "\"purpose\":\"aead\"") != NULL);
        free(list);
    }
    kl_store_free(store);
    test_file_store();
    return kl_test_done("test_abi");
}
