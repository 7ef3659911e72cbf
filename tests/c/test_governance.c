/*
 * Governance and audit through the keylife C ABI: a policy in force, a
 * registered application principal with a grant, the audit log verified,
 * exported as JSON Lines and checkpointed, the integrity check, dual control
 * with approvals signed by keys in the approvers' own stores, version
 * management, and a passphrase store moved to a raw KEK with a progress
 * callback. Run by scripts/test-c.sh against the shared and the static
 * library, under ASan+UBSan and valgrind.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define U8(s) ((const uint8_t *)(s))

static const char *POLICY =
    "version = 1\n"
    "classifications = ['internal', 'secret']\n"
    "\n"
    "[purpose.aead]\n"
    "usage_limit = 1000\n"
    "\n"
    "[approvals.destroy]\n"
    "required = 2\n"
    "approvers = ['carol', 'dave', 'erin']\n";

static kl_key *new_key(const kl_store *store, uint32_t purpose, int active) {
    kl_key *k = NULL;
    OK(kl_key_create(store, purpose, "gov-key", &k));
    if (active && k) OK(kl_key_activate(k));
    return k;
}

/* Calls a text-producing function twice (size query, then for real) and
 * returns a malloc'd NUL-terminated copy, or NULL. */
#define FETCH_TEXT(result_var, call_with_buf)                                                  \
    do {                                                                                       \
        size_t need_ = 0;                                                                      \
        uint8_t *buf = NULL;                                                                   \
        size_t cap = 0;                                                                        \
        size_t *len = &need_;                                                                  \
        kl_result r_ = (call_with_buf);                                                        \
        (result_var) = NULL;                                                                   \
        if (r_ != KL_ERR_BUFFER_TOO_SMALL) {                                                   \
            kl_test_report(__FILE__, __LINE__, #call_with_buf, r_, KL_ERR_BUFFER_TOO_SMALL);   \
            break;                                                                             \
        }                                                                                      \
        buf = malloc(need_);                                                                   \
        cap = need_;                                                                           \
        if (buf == NULL) break;                                                                \
        r_ = (call_with_buf);                                                                  \
        if (r_ != KL_OK) {                                                                     \
            kl_test_report(__FILE__, __LINE__, #call_with_buf, r_, KL_OK);                     \
            free(buf);                                                                         \
            break;                                                                             \
        }                                                                                      \
        CHECK(*len == cap && buf[cap - 1] == 0);                                               \
        (result_var) = (char *)buf;                                                            \
    } while (0)

static size_t count_lines(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        if (*s == '\n') n++;
    return n;
}

static void test_policy_and_grants(const kl_store *admin) {
    char *toml = NULL;
    size_t len = 0;
    EXPECT(KL_ERR_NOT_FOUND, kl_store_policy_toml(admin, NULL, 0, &len));
    EXPECT(KL_ERR_POLICY, kl_store_set_policy_toml(admin, "version = \n"));
    EXPECT(KL_ERR_POLICY, kl_store_set_policy_toml(admin, "version = 1\nmystery = true\n"));
    OK(kl_store_set_policy_toml(admin, POLICY));
    EXPECT(KL_ERR_POLICY, kl_store_set_policy_toml(admin, POLICY)); /* same version */
    FETCH_TEXT(toml, kl_store_policy_toml(admin, (char *)buf, cap, len));
    if (toml) {
        CHECK(strncmp(toml, "version = 1\n", 12) == 0);
        CHECK(strstr(toml, "usage_limit = 1000") != NULL);
        free(toml);
    }
    char digest[KL_POLICY_DIGEST_HEX_LEN + 1];
    OK(kl_policy_digest(POLICY, digest, sizeof digest, &len));
    CHECK(len == sizeof digest && strlen(digest) == KL_POLICY_DIGEST_HEX_LEN);

    /* A registered application uses a key only through a grant. */
    kl_key *k = new_key(admin, KL_PURPOSE_AEAD, 1);
    char id[KL_KEY_ID_HEX_LEN + 1];
    OK(kl_key_id(k, id, sizeof id, &len));
    EXPECT(KL_ERR_NOT_FOUND, kl_key_grant(k, "billing", KL_OP_ENCRYPT, 0));
    OK(kl_store_register_principal(admin, "billing", KL_ROLE_APPLICATION));
    EXPECT(KL_ERR_INVALID_ARGUMENT, kl_key_grant(k, "billing", 0, 0));
    EXPECT(KL_ERR_INVALID_ARGUMENT, kl_key_grant(k, "billing", 1u << 20, 0));
    kl_store *app = NULL;
    OK(kl_store_as_principal(admin, "billing", &app));
    kl_key *ka = NULL;
    OK(kl_key_load(app, id, &ka));
    uint8_t ct[128], pt[128];
    size_t ct_len = 0, pt_len = 0;
    EXPECT(KL_ERR_PERMISSION_DENIED,
           kl_key_encrypt(ka, U8("invoice"), 7, NULL, 0, ct, sizeof ct, &ct_len));
    OK(kl_key_grant(k, "billing", KL_OP_ENCRYPT | KL_OP_DECRYPT, 0));
    OK(kl_key_encrypt(ka, U8("invoice"), 7, U8("t=1"), 3, ct, sizeof ct, &ct_len));
    OK(kl_store_decrypt(app, ct, ct_len, U8("t=1"), 3, pt, sizeof pt, &pt_len));
    CHECK(pt_len == 7 && memcmp(pt, "invoice", 7) == 0);
    /* An expiry in the past (1 ms after the epoch) is no grant at all. */
    OK(kl_key_grant(k, "billing", KL_OP_DECRYPT, 1));
    EXPECT(KL_ERR_PERMISSION_DENIED,
           kl_store_decrypt(app, ct, ct_len, U8("t=1"), 3, pt, sizeof pt, &pt_len));
    EXPECT(KL_ERR_PERMISSION_DENIED, kl_key_grant(ka, "billing", KL_OP_DECRYPT, 0));
    OK(kl_key_revoke_grant(k, "billing"));
    EXPECT(KL_ERR_NOT_FOUND, kl_key_revoke_grant(k, "billing"));
    char *info = NULL;
    FETCH_TEXT(info, kl_key_info_json(k, buf, cap, len));
    if (info) {
        CHECK(strstr(info, "\"usage_limit\":1000") != NULL);
        CHECK(strstr(info, "\"policy_version\":1") != NULL);
        CHECK(strstr(info, digest) != NULL);
        free(info);
    }
    char *report = NULL;
    FETCH_TEXT(report, kl_store_compliance_report_json(admin, buf, cap, len));
    if (report) {
        CHECK(strstr(report, "\"without_owner\"") != NULL);
        CHECK(strstr(report, id) != NULL);
        free(report);
    }
    /* The fix for that finding: an owner. The key leaves the report. */
    OK(kl_key_set_owner(k, "payments"));
    EXPECT(KL_ERR_INVALID_ARGUMENT, kl_key_set_owner(k, " "));
    EXPECT(KL_ERR_NULL_POINTER, kl_key_set_owner(k, NULL));
    report = NULL;
    FETCH_TEXT(report, kl_store_compliance_report_json(admin, buf, cap, len));
    if (report) {
        CHECK(strstr(report, id) == NULL);
        free(report);
    }
    kl_key_free(ka);
    kl_key_free(k);
    kl_store_free(app);
}

static void test_audit(const kl_store *admin) {
    uint64_t entries = 0, seq = 0;
    char head[KL_AUDIT_HEAD_MAC_HEX_LEN + 1];
    size_t len = 0;
    OK(kl_store_flush_audit(admin));
    OK(kl_store_verify_audit(admin, &entries, &seq, head, sizeof head, &len));
    CHECK(entries > 5 && seq == entries && len == sizeof head);
    CHECK(strlen(head) == KL_AUDIT_HEAD_MAC_HEX_LEN);
    char small[8];
    EXPECT(KL_ERR_BUFFER_TOO_SMALL,
           kl_store_verify_audit(admin, &entries, &seq, small, sizeof small, &len));
    CHECK(len == KL_AUDIT_HEAD_MAC_HEX_LEN + 1);

    /* JSON Lines up to the head just verified: a fixed range, so the size
     * query and the real call agree. */
    char *jsonl = NULL;
    FETCH_TEXT(jsonl, kl_store_export_audit_jsonl(admin, 1, seq, buf, cap, len));
    if (jsonl) {
        CHECK(count_lines(jsonl) == seq);
        CHECK(strncmp(jsonl, "{\"seq\":1,", 9) == 0);
        CHECK(strstr(jsonl, "\"operation\":\"set_policy\"") != NULL);
        CHECK(strstr(jsonl, "\"operation\":\"grant\"") != NULL);
        CHECK(strstr(jsonl, "\"principal\":\"billing\"") != NULL);
        CHECK(strstr(jsonl, "\"outcome\":\"denied\"") != NULL);
        CHECK(strstr(jsonl, "invoice") == NULL); /* never plaintext */
        free(jsonl);
    }
    EXPECT(KL_ERR_INVALID_ARGUMENT, kl_store_export_audit_jsonl(admin, 3, 2, NULL, 0, &len));

    uint64_t keys = 0, audited = 0;
    OK(kl_store_verify_integrity(admin, &keys, &audited));
    CHECK(keys >= 1 && audited > entries);

    /* A checkpoint, signed, kept outside, verified later. */
    kl_key *signer = new_key(admin, KL_PURPOSE_SIGNING, 1);
    char cp[KL_AUDIT_CHECKPOINT_JSON_MAX];
    EXPECT(KL_ERR_BUFFER_TOO_SMALL, kl_store_audit_checkpoint(admin, signer, (uint8_t *)cp, 100,
                                                              &len));
    CHECK(len == KL_AUDIT_CHECKPOINT_JSON_MAX);
    OK(kl_store_audit_checkpoint(admin, signer, (uint8_t *)cp, sizeof cp, &len));
    CHECK(len == strlen(cp) + 1 && strstr(cp, "\"head_mac\":\"") != NULL);
    uint32_t v = 0;
    OK(kl_key_rotate(signer, &v));
    OK(kl_store_verify_audit_checkpoint(admin, cp, signer, &entries));
    uint8_t der[128];
    size_t der_len = 0;
    OK(kl_key_public_key_der(signer, der, sizeof der, &der_len));
    kl_key *other = new_key(admin, KL_PURPOSE_SIGNING, 1);
    EXPECT(KL_ERR_AUTHENTICATION_FAILED,
           kl_store_verify_audit_checkpoint(admin, cp, other, &entries));
    EXPECT(KL_ERR_MALFORMED, kl_store_verify_audit_checkpoint(admin, "{", signer, &entries));
    /* Tampered: claims a later head. */
    char *seqp = strstr(cp, "\"seq\":");
    if (seqp) {
        seqp[6] = seqp[6] == '9' ? '8' : (char)(seqp[6] + 1);
        EXPECT(KL_ERR_AUTHENTICATION_FAILED,
               kl_store_verify_audit_checkpoint(admin, cp, signer, &entries));
    }
    kl_key_free(other);
    kl_key_free(signer);

    kl_store *app = NULL;
    OK(kl_store_as_principal(admin, "billing", &app));
    EXPECT(KL_ERR_PERMISSION_DENIED,
           kl_store_verify_audit(app, &entries, &seq, head, sizeof head, &len));
    EXPECT(KL_ERR_PERMISSION_DENIED, kl_store_verify_integrity(app, &keys, &audited));
    kl_store_free(app);
}

/* An approver: a signing key in their own in-memory store. */
typedef struct {
    const char *name;
    kl_store *store;
    kl_key *key;
} approver;

static approver approver_new(const kl_store *admin, const char *name) {
    approver a = {name, NULL, NULL};
    OK(kl_store_open_memory(name, KL_ROLE_ADMINISTRATOR, &a.store));
    if (a.store) a.key = new_key(a.store, KL_PURPOSE_SIGNING, 1);
    uint8_t der[128];
    size_t der_len = 0;
    OK(kl_key_public_key_der(a.key, der, sizeof der, &der_len));
    OK(kl_store_register_approver(admin, name, der, der_len));
    return a;
}

static void approver_free(approver *a) {
    kl_key_free(a->key);
    kl_store_free(a->store);
}

static void test_dual_control(const kl_store *admin) {
    approver carol = approver_new(admin, "carol");
    approver dave = approver_new(admin, "dave");
    kl_key *k = new_key(admin, KL_PURPOSE_MAC, 0);
    char id[KL_KEY_ID_HEX_LEN + 1];
    size_t len = 0;
    OK(kl_key_id(k, id, sizeof id, &len));
    EXPECT(KL_ERR_APPROVAL_REQUIRED, kl_key_destroy(k, "cleanup"));
    kl_key_free(k); /* consumed by the refused transition */

    char *req = NULL;
    FETCH_TEXT(req, kl_store_request_approval(admin, KL_APPROVAL_DESTROY, id, "", 3600, buf, cap,
                                              len));
    if (req == NULL) goto out;
    CHECK(strstr(req, "\"operation\": \"destroy\"") != NULL);
    char a1[512], a2[512], approvals[1100];
    OK(kl_key_approve(carol.key, carol.name, req, (uint8_t *)a1, sizeof a1, &len));
    OK(kl_key_approve(dave.key, dave.name, req, (uint8_t *)a2, sizeof a2, &len));
    snprintf(approvals, sizeof approvals, "[%s]", a1);
    EXPECT(KL_ERR_APPROVAL_REQUIRED, kl_store_submit_approvals(admin, req, approvals));
    EXPECT(KL_ERR_MALFORMED, kl_store_submit_approvals(admin, req, "[{\"approver\":1}]"));
    EXPECT(KL_ERR_MALFORMED, kl_store_submit_approvals(admin, "{}", "[]"));
    snprintf(approvals, sizeof approvals, "[%s,%s]", a1, a2);
    OK(kl_store_submit_approvals(admin, req, approvals));
    OK(kl_key_load(admin, id, &k));
    OK(kl_key_destroy(k, "approved by carol and dave"));
    uint32_t st = 0;
    OK(kl_key_state(k, &st));
    CHECK(st == KL_STATE_DESTROYED);
    EXPECT(KL_ERR_APPROVAL_REQUIRED, kl_store_submit_approvals(admin, req, approvals));
    kl_key_free(k);
    free(req);
out:
    approver_free(&carol);
    approver_free(&dave);
}

static void test_versions(const kl_store *admin) {
    kl_key *k = new_key(admin, KL_PURPOSE_AEAD, 1);
    uint8_t ct1[128], ct2[128], pt[128];
    size_t ct1_len = 0, ct2_len = 0, pt_len = 0;
    uint32_t v = 0;
    OK(kl_key_encrypt(k, U8("one"), 3, NULL, 0, ct1, sizeof ct1, &ct1_len));
    OK(kl_key_rotate(k, &v));
    OK(kl_key_encrypt(k, U8("two"), 3, NULL, 0, ct2, sizeof ct2, &ct2_len));
    EXPECT(KL_ERR_INVALID_ARGUMENT, kl_key_destroy_version(k, 2, "primary"));
    OK(kl_key_compromise_version(k, 1, "old backup leaked"));
    CHECK(kl_key_decrypt(k, ct1, ct1_len, NULL, 0, pt, sizeof pt, &pt_len) != KL_OK);
    OK(kl_key_decrypt(k, ct2, ct2_len, NULL, 0, pt, sizeof pt, &pt_len));
    OK(kl_key_destroy_version(k, 1, "trim"));
    EXPECT(KL_ERR_VERSION_UNAVAILABLE, kl_key_destroy_version(k, 1, "again"));
    EXPECT(KL_ERR_NOT_FOUND, kl_key_compromise_version(k, 9, ""));
    OK(kl_key_set_min_decryption_version(k, 2));
    EXPECT(KL_ERR_INVALID_ARGUMENT, kl_key_set_min_decryption_version(k, 1));
    kl_key *idle = new_key(admin, KL_PURPOSE_AEAD, 0);
    EXPECT(KL_ERR_WRONG_STATE, kl_key_set_min_decryption_version(idle, 1));
    kl_key_free(idle);
    kl_key_free(k);
}

typedef struct {
    uint64_t calls, last_done, last_total;
} progress;

static void on_progress(void *user_data, uint64_t done, uint64_t total) {
    progress *p = user_data;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
}

static void test_kek_rotation(void) {
    char dir[] = "/tmp/keylife-c-gov-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/keys.db", dir);
    kl_store *s = NULL;
    /* Cheap Argon2id costs, for a fast test; real stores use the default. */
    EXPECT(KL_ERR_INVALID_ARGUMENT, kl_store_open_passphrase(KL_BACKEND_SQLITE, path, "pw", 1024,
                                                             0, 1, "ops", KL_ROLE_ADMINISTRATOR,
                                                             &s));
    OK(kl_store_open_passphrase(KL_BACKEND_SQLITE, path, "correct horse", 1024, 1, 1, "ops",
                                KL_ROLE_ADMINISTRATOR, &s));
    if (s == NULL) return;
    kl_key *k = new_key(s, KL_PURPOSE_AEAD, 1);
    uint8_t ct[128], pt[128];
    size_t ct_len = 0, pt_len = 0;
    OK(kl_key_encrypt(k, U8("kept"), 4, NULL, 0, ct, sizeof ct, &ct_len));
    kl_key_free(k);

    uint8_t kek[32];
    memset(kek, 0x42, sizeof kek);
    EXPECT(KL_ERR_INVALID_ARGUMENT, kl_store_rotate_kek(s, kek, 16, NULL, NULL));
    progress p = {0, 0, 0};
    OK(kl_store_rotate_kek(s, kek, sizeof kek, on_progress, &p));
    CHECK(p.calls >= 2 && p.last_total > 0 && p.last_done == p.last_total);
    uint32_t pending = 9;
    OK(kl_store_kek_rotation_pending(s, &pending));
    CHECK(pending == 0);
    kl_store_free(s);

    s = NULL;
    EXPECT(KL_ERR_WRONG_KEK, kl_store_open_passphrase(KL_BACKEND_SQLITE, path, "correct horse",
                                                      1024, 1, 1, "ops", KL_ROLE_ADMINISTRATOR,
                                                      &s));
    CHECK(s == NULL);
    OK(kl_store_open(KL_BACKEND_SQLITE, path, KL_KEK_RAW, kek, sizeof kek, "ops",
                     KL_ROLE_ADMINISTRATOR, &s));
    OK(kl_store_decrypt(s, ct, ct_len, NULL, 0, pt, sizeof pt, &pt_len));
    CHECK(pt_len == 4 && memcmp(pt, "kept", 4) == 0);
    uint64_t keys = 0, audited = 0;
    OK(kl_store_verify_integrity(s, &keys, &audited));
    CHECK(keys == 1);
    kl_store_free(s);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static void test_nulls(const kl_store *admin) {
    uint64_t u = 0;
    size_t len = 0;
    char buf[64];
    EXPECT(KL_ERR_NULL_POINTER, kl_store_flush_audit(NULL));
    EXPECT(KL_ERR_NULL_POINTER, kl_store_verify_audit(admin, NULL, &u, buf, sizeof buf, &len));
    EXPECT(KL_ERR_NULL_POINTER, kl_store_export_audit_jsonl(NULL, 1, 2, NULL, 0, &len));
    EXPECT(KL_ERR_NULL_POINTER, kl_store_verify_integrity(admin, &u, NULL));
    EXPECT(KL_ERR_NULL_POINTER, kl_store_set_policy_toml(admin, NULL));
    EXPECT(KL_ERR_NULL_POINTER, kl_store_register_principal(admin, NULL, KL_ROLE_AUDITOR));
    EXPECT(KL_ERR_NULL_POINTER, kl_key_grant(NULL, "x", KL_OP_SIGN, 0));
    EXPECT(KL_ERR_NULL_POINTER, kl_store_submit_approvals(admin, NULL, "[]"));
    EXPECT(KL_ERR_NULL_POINTER, kl_key_set_min_decryption_version(NULL, 1));
    EXPECT(KL_ERR_NULL_POINTER, kl_store_rotate_kek(admin, NULL, 32, NULL, NULL));
    EXPECT(KL_ERR_NULL_POINTER, kl_audit_checkpoint_verify("{}", NULL, 65));
}

int main(void) {
    kl_store *admin = NULL;
    OK(kl_store_open_memory("security-team", KL_ROLE_ADMINISTRATOR, &admin));
    if (admin == NULL) return kl_test_done("test_governance");
    test_policy_and_grants(admin);
    test_audit(admin);
    test_dual_control(admin);
    test_versions(admin);
    test_nulls(admin);
    kl_store_free(admin);
    test_kek_rotation();
    return kl_test_done("test_governance");
}
