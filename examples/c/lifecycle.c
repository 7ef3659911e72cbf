/*
 * A key's life through the keylife C ABI: create, activate, encrypt with
 * associated data, rotate, rewrap, suspend, deactivate, compromise, schedule
 * destruction; a signing key and its exported public key.
 *
 * Built and run by scripts/test-c.sh (gcc -std=c11 -Wall -Wextra -Werror,
 * AddressSanitizer + UBSan, valgrind); shown verbatim in examples/c/README.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keylife.h"

/* Stops at the first failure, with the thread's detailed message. */
static void check(kl_result r, const char *what) {
    if (r != KL_OK) {
        char msg[256];
        size_t need = kl_last_error(msg, sizeof msg);
        fprintf(stderr, "%s: %s (%s)\n", what, kl_result_str(r),
                need > 0 && need <= sizeof msg ? msg : "");
        exit(1);
    }
}

static const char *state_name(const kl_key *key) {
    static const char *names[] = {"?", "pre-active", "active", "suspended", "deactivated",
                                  "compromised", "pending destruction", "destroyed",
                                  "destroyed (compromised)"};
    uint32_t s = 0;
    check(kl_key_state(key, &s), "kl_key_state");
    return s < sizeof names / sizeof names[0] ? names[s] : "?";
}

int main(void) {
    printf("keylife %s\n", kl_version());

    /* A store, acting as an administrator. Free it with kl_store_free. */
    kl_store *store = NULL;
    check(kl_store_open_memory("security-team", KL_ROLE_ADMINISTRATOR, &store), "open");

    /* An AES-256-GCM key: created PreActive, then activated. */
    kl_key *key = NULL;
    check(kl_key_create(store, KL_PURPOSE_AEAD, "customer-pii", &key), "create");
    char id[KL_KEY_ID_HEX_LEN + 1];
    size_t id_len = 0;
    check(kl_key_id(key, id, sizeof id, &id_len), "id");
    printf("created key %s (%s)\n", id, state_name(key));
    check(kl_key_activate(key), "activate");

    /* Encrypt with associated data: the ciphertext is bound to it. */
    const char *email = "jane@example.com";
    const char *context = "customer=42";
    uint8_t ct[256];
    size_t ct_len = 0;
    check(kl_key_encrypt(key, (const uint8_t *)email, strlen(email), (const uint8_t *)context,
                         strlen(context), ct, sizeof ct, &ct_len),
          "encrypt");
    printf("encrypted %zu bytes into %zu\n", strlen(email), ct_len);

    /* Any handle on the store decrypts: the header names the key. */
    uint8_t pt[256];
    size_t pt_len = 0;
    check(kl_store_decrypt(store, ct, ct_len, (const uint8_t *)context, strlen(context), pt,
                           sizeof pt, &pt_len),
          "decrypt");
    printf("decrypted: %.*s\n", (int)pt_len, (const char *)pt);

    /* The wrong context fails, with one opaque code. */
    kl_result r = kl_store_decrypt(store, ct, ct_len, (const uint8_t *)"customer=43", 11, pt,
                                   sizeof pt, &pt_len);
    printf("wrong context: %s\n", kl_result_str(r));

    /* Rotate: version 2 encrypts, version 1 still decrypts; rewrap moves old
     * ciphertexts to the new version without exposing the plaintext. */
    uint32_t version = 0;
    check(kl_key_rotate(key, &version), "rotate");
    uint8_t ct2[256];
    size_t ct2_len = 0;
    check(kl_key_rewrap(key, ct, ct_len, (const uint8_t *)context, strlen(context), ct2,
                        sizeof ct2, &ct2_len),
          "rewrap");
    printf("rotated to version %u and rewrapped\n", version);

    /* Suspend, resume, deactivate: no more encryption, decryption goes on. */
    check(kl_key_suspend(key, "audit hold"), "suspend");
    check(kl_key_resume(key), "resume");
    check(kl_key_deactivate(key, "superseded"), "deactivate");
    r = kl_key_encrypt(key, (const uint8_t *)"x", 1, NULL, 0, ct, sizeof ct, &ct_len);
    printf("encrypt while %s: %s\n", state_name(key), kl_result_str(r));

    /* Compromise stops everything; destruction is scheduled 30 days out. */
    check(kl_key_compromise(key, "laptop stolen"), "compromise");
    check(kl_key_schedule_destruction(key, 30u * 86400u, "compromised"), "schedule");
    printf("key is now %s\n", state_name(key));

    /* Signing: the public key leaves as PEM, e.g. for openssl. */
    kl_key *signer = NULL;
    check(kl_key_create(store, KL_PURPOSE_SIGNING, "release-signing", &signer), "create signer");
    check(kl_key_activate(signer), "activate signer");
    uint8_t sig[KL_SIGNATURE_DER_MAX_LEN];
    size_t sig_len = 0;
    const char *release = "release-1.0.tar.gz";
    check(kl_key_sign(signer, (const uint8_t *)release, strlen(release), sig, sizeof sig,
                      &sig_len),
          "sign");
    check(kl_key_verify(signer, (const uint8_t *)release, strlen(release), sig, sig_len),
          "verify");

    /* Unknown sizes: ask first (NULL, 0), then allocate. */
    size_t pem_len = 0;
    r = kl_key_public_key_pem(signer, NULL, 0, &pem_len);
    if (r != KL_ERR_BUFFER_TOO_SMALL) check(r, "pem size");
    char *pem = malloc(pem_len);
    if (pem == NULL) return 1;
    check(kl_key_public_key_pem(signer, pem, pem_len, &pem_len), "pem");
    printf("%s", pem);
    free(pem);

    kl_key_free(signer);
    kl_key_free(key);
    kl_store_free(store);
    return 0;
}
