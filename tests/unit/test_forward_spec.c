/* Unit tests of `m87 DEVICE forward`'s SPEC: the forms, TCP and UDP, and the messages of bad
 * ones. */
#include <string.h>

#include "cli/cli-forward.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "unit-util.h"

static void test_good(void **state)
{
    (void)state;
    static const struct {
        const char *text, *laddr, *lport, *host, *port;
        bool udp;
    } good[] = {
        {"8080", "127.0.0.1", "8080", "127.0.0.1", "8080", false},
        {"3000:8080", "127.0.0.1", "3000", "127.0.0.1", "8080", false},
        {"3000:192.168.1.5:80", "127.0.0.1", "3000", "192.168.1.5", "80", false},
        {"0.0.0.0:3000:8080", "0.0.0.0", "3000", "127.0.0.1", "8080", false},
        {"0.0.0.0:3000:gw.lan:80/tcp", "0.0.0.0", "3000", "gw.lan", "80", false},
        {"5353/udp", "127.0.0.1", "5353", "127.0.0.1", "5353", true},
        {"3000:192.168.1.5:53/udp", "127.0.0.1", "3000", "192.168.1.5", "53", true},
        {"::1:53:1.2.3.4:53/udp", NULL, NULL, NULL, NULL, false}, /* bad: too many parts */
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(good); i++) {
        struct cli_forward_spec f;
        struct m87_error *err = NULL;
        if (!good[i].laddr) {
            assert_int_equal(cli_forward_spec_parse(good[i].text, &f, &err), -1);
            m87_error_free(err);
            continue;
        }
        assert_ok(cli_forward_spec_parse(good[i].text, &f, &err), &err);
        assert_string_equal(f.local_addr, good[i].laddr);
        assert_string_equal(f.local_port, good[i].lport);
        assert_string_equal(f.host, good[i].host);
        assert_string_equal(f.port, good[i].port);
        assert_int_equal(f.udp, good[i].udp);
        cli_forward_spec_release(&f);
    }
}

static void test_bad(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"http", "'http': expected [LOCALADDR:]LOCALPORT[:[HOST:]PORT][/udp] with ports from 1 "
                 "to 65535"},
        {"0:80", "'0:80': expected [LOCALADDR:]LOCALPORT[:[HOST:]PORT][/udp] with ports from 1 "
                 "to 65535"},
        {"70000/udp", "'70000/udp': expected [LOCALADDR:]LOCALPORT[:[HOST:]PORT][/udp] with "
                      "ports from 1 to 65535"},
        {"53/sctp", "'53/sctp': unknown protocol 'sctp' (expected tcp or udp)"},
        {"53/", "'53/': unknown protocol '' (expected tcp or udp)"},
        {"53/udp/udp", "'53/udp/udp': unknown protocol 'udp/udp' (expected tcp or udp)"},
        {"a:b:c:d:e", "'a:b:c:d:e': expected [LOCALADDR:]LOCALPORT[:[HOST:]PORT][/udp]"},
        {"3000::53/udp", "'3000::53/udp': empty host"},
        {":3000:53", "':3000:53': empty local address"},
        {"+53", "'+53': expected [LOCALADDR:]LOCALPORT[:[HOST:]PORT][/udp] with ports from 1 "
                "to 65535"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(bad); i++) {
        struct cli_forward_spec f;
        struct m87_error *err = NULL;
        assert_int_equal(cli_forward_spec_parse(bad[i].text, &f, &err), -1);
        assert_non_null(err);
        assert_int_equal(m87_error_code(err), M87_E_INVAL);
        assert_string_equal(err->msg, bad[i].msg);
        m87_error_free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
