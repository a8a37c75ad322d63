/* Unit tests of src/common/sign.c: Ed25519 keys, signatures and revision signatures. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/sign.h"
#include "unit-util.h"

static const char HASH[] = "3242ec69ac967604857b8c6c9100b061ff74fd25f82e5a7e76a7358aac71215b";
static const struct m87_sign_revision_fields REV = {"gw-1", "d-3f2a9c01", 3,
                                                    HASH,   false,        1700000000};

static struct m87_sign_key *gen(void)
{
    struct m87_error *err = NULL;
    struct m87_sign_key *k = m87_sign_key_generate(&err);
    if (k == NULL)
        fail_msg("generate: %s", err ? err->msg : "?");
    return k;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *k = gen();
    _cleanup_free_ char *sig = m87_sign(k, "hello", 5, &err);
    assert_non_null(sig);
    assert_int_equal(strlen(sig), M87_SIGN_SIG_TEXT_LEN);
    assert_true(m87_sign_verify(k, "hello", 5, sig));
    assert_false(m87_sign_verify(k, "hellO", 5, sig));
    assert_false(m87_sign_verify(k, "hello", 4, sig));
}

/* Every single flipped bit of the signature makes it fail. */
static void test_flipped_bit_fails(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *k = gen();
    _cleanup_free_ char *sig = m87_sign_revision(k, &REV, &err);
    assert_non_null(sig);
    assert_true(m87_sign_revision_verify(k, &REV, sig));
    /* the last character before "==" carries 2 bits of padding: flip only data characters */
    for (size_t i = 0; i < M87_SIGN_SIG_TEXT_LEN - 3; i++) {
        char copy[M87_SIGN_SIG_TEXT_LEN + 1];
        memcpy(copy, sig, sizeof(copy));
        copy[i] = copy[i] == 'A' ? 'B' : 'A';
        assert_false(m87_sign_revision_verify(k, &REV, copy));
    }
    char hash[sizeof(HASH)];
    memcpy(hash, HASH, sizeof(hash));
    hash[10] = hash[10] == '0' ? '1' : '0';
    struct m87_sign_revision_fields f = REV;
    f.hash = hash;
    assert_false(m87_sign_revision_verify(k, &f, sig));
    /* malformed signatures are refused, not crashed on */
    assert_false(m87_sign_revision_verify(k, &REV, ""));
    assert_false(m87_sign_revision_verify(k, &REV, NULL));
    assert_false(m87_sign_revision_verify(k, &REV, "!!!!"));
}

/* The signature binds every field: another device, deployment, number, now or time fails. */
static void test_revision_fields_bound(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *k = gen();
    _cleanup_free_ char *sig = m87_sign_revision(k, &REV, &err);
    struct m87_sign_revision_fields f;

    assert_true(m87_sign_revision_verify(k, &REV, sig));
    f = REV, f.device = "gw-2";
    assert_false(m87_sign_revision_verify(k, &f, sig));
    f = REV, f.deployment = "d-3f2a9c02";
    assert_false(m87_sign_revision_verify(k, &f, sig));
    f = REV, f.revision = 2;
    assert_false(m87_sign_revision_verify(k, &f, sig));
    f = REV, f.now = true;
    assert_false(m87_sign_revision_verify(k, &f, sig));
    f = REV, f.time = REV.time + 1;
    assert_false(m87_sign_revision_verify(k, &f, sig));
    _cleanup_free_ char *text = m87_sign_revision_payload(&REV);
    assert_string_equal(text, "m87-revision-signature-v2\ndevice gw-1\ndeployment d-3f2a9c01\n"
                              "revision 3\nhash "
                              "3242ec69ac967604857b8c6c9100b061ff74fd25f82e5a7e76a7358aac71215b"
                              "\nnow 0\ntime 1700000000\n");
}

/* A fleet release signature binds the fleet, the number, the hash and the time; its text is
 * not a revision's, so neither verifies as the other. */
static void test_release_fields_bound(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *k = gen();
    const struct m87_sign_release_fields rel = {"berlin", 4, REV.hash, 1700000000};
    _cleanup_free_ char *sig = m87_sign_release(k, &rel, &err);
    struct m87_sign_release_fields f;

    assert_non_null(sig);
    assert_true(m87_sign_release_verify(k, &rel, sig));
    f = rel, f.fleet = "munich";
    assert_false(m87_sign_release_verify(k, &f, sig));
    f = rel, f.release = 3;
    assert_false(m87_sign_release_verify(k, &f, sig));
    f = rel, f.hash = "00";
    assert_false(m87_sign_release_verify(k, &f, sig));
    f = rel, f.time = rel.time + 1;
    assert_false(m87_sign_release_verify(k, &f, sig));
    assert_false(m87_sign_revision_verify(k, &REV, sig));
    _cleanup_free_ char *text = m87_sign_release_payload(&rel);
    assert_string_equal(text, "m87-fleet-release-signature-v1\nfleet berlin\nrelease 4\nhash "
                              "3242ec69ac967604857b8c6c9100b061ff74fd25f82e5a7e76a7358aac71215b"
                              "\ntime 1700000000\n");
}

static void test_wrong_key_fails(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *a = gen();
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *b = gen();
    _cleanup_free_ char *sig = m87_sign_revision(a, &REV, &err);
    assert_false(m87_sign_revision_verify(b, &REV, sig));
    char ida[M87_SIGN_KEY_ID_LEN + 1], idb[M87_SIGN_KEY_ID_LEN + 1];
    m87_sign_key_id(a, ida);
    m87_sign_key_id(b, idb);
    assert_int_equal(strlen(ida), M87_SIGN_KEY_ID_LEN);
    assert_string_not_equal(ida, idb);
}

/* PEM out and back in: the public key alone verifies, cannot sign, and has the same id. */
static void test_pem_round_trip(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *k = gen();
    _cleanup_free_ char *priv = m87_sign_key_private_pem(k);
    _cleanup_free_ char *pub = m87_sign_key_public_pem(k);
    assert_non_null(strstr(priv, "-----BEGIN PRIVATE KEY-----"));
    assert_non_null(strstr(pub, "-----BEGIN PUBLIC KEY-----"));

    _cleanup_(m87_sign_key_freep) struct m87_sign_key *k2 =
        m87_sign_key_from_pem(priv, strlen(priv), true, "priv", &err);
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *p =
        m87_sign_key_from_pem(pub, strlen(pub), false, "pub", &err);
    assert_non_null(k2);
    assert_non_null(p);
    assert_false(m87_sign_key_is_private(p));
    assert_null(m87_sign_key_private_pem(p));
    char id1[M87_SIGN_KEY_ID_LEN + 1], id2[M87_SIGN_KEY_ID_LEN + 1];
    m87_sign_key_id(k, id1);
    m87_sign_key_id(p, id2);
    assert_string_equal(id1, id2);

    _cleanup_free_ char *sig = m87_sign_revision(k2, &REV, &err);
    assert_true(m87_sign_revision_verify(p, &REV, sig));
    assert_null(m87_sign_revision(p, &REV, &err));
    assert_int_equal(m87_error_code(err), M87_E_INVAL);
    m87_error_clear(&err);

    /* a public key is no private key, garbage is neither */
    assert_null(m87_sign_key_from_pem(pub, strlen(pub), true, "pub", &err));
    assert_string_equal(err->msg, "pub: not an Ed25519 private key in PEM");
    m87_error_clear(&err);
    assert_null(m87_sign_key_from_pem("junk", 4, false, "junk", &err));
    assert_int_equal(m87_error_code(err), M87_E_PARSE);
    m87_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_flipped_bit_fails),
        cmocka_unit_test(test_release_fields_bound),
        cmocka_unit_test(test_wrong_key_fails),
        cmocka_unit_test(test_revision_fields_bound),
        cmocka_unit_test(test_pem_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
