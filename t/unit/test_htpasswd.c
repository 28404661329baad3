
/*
 * Copyright (C) ngx_fcfh_module authors
 */


/*
 * Unit tests of the credentials-file parser (cmocka):
 * "user:hash[:guids[:names]]" lines, what is refused and with which
 * reason and line, GUID lists, and the GUIDs and names a line reserves.
 * The loader is run too, for how it reports an error.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <setjmp.h>
#include <cmocka.h>

#include "ngx_fcfh_htpasswd.h"


#define G1  "00000000-0000-4000-8000-0000000de001"
#define G2  "00000000-0000-4000-8000-0000000de002"
#define G3  "00000000-0000-4000-8000-0000000de003"


static ngx_int_t parse(const char *text, size_t len);
static ngx_str_t *reserved(const char *guid);
static ngx_str_t *owner(const char *name);


static ngx_log_t             test_log;
static ngx_pool_t           *pool;
static ngx_fcfh_htpasswd_t   h;
static ngx_uint_t            line;
static const char           *err;
static u_char                logged[512];


#define PARSE(lit)  parse(lit, sizeof(lit) - 1)


/* what the loader logs, for its message; the file is read for real */

void ngx_cdecl
ngx_conf_log_error(ngx_uint_t level, ngx_conf_t *cf, ngx_err_t e,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(logged, logged + sizeof(logged) - 1, fmt, args);
    va_end(args);

    *p = '\0';
}


ngx_int_t
ngx_conf_full_name(ngx_cycle_t *cycle, ngx_str_t *name,
    ngx_uint_t conf_prefix)
{
    return NGX_OK;
}


ssize_t
ngx_read_file(ngx_file_t *file, u_char *buf, size_t size, off_t offset)
{
    return pread(file->fd, buf, size, offset);
}


static int
setup(void **state)
{
    if (ngx_pagesize == 0) {
        ngx_pagesize = 4096;
    }

    pool = ngx_create_pool(4096, &test_log);

    return pool ? 0 : -1;
}


static int
teardown(void **state)
{
    ngx_destroy_pool(pool);

    return 0;
}


static ngx_int_t
parse(const char *text, size_t len)
{
    u_char  *copy;

    /* an exact-size copy: nothing past the file's bytes to read */
    copy = ngx_pnalloc(pool, len ? len : 1);
    assert_non_null(copy);
    ngx_memcpy(copy, text, len);

    ngx_memzero(&h, sizeof(ngx_fcfh_htpasswd_t));
    line = 99;
    err = NULL;

    return ngx_fcfh_htpasswd_parse(&h, copy, len, pool, &line, &err);
}


static void
assert_str(ngx_str_t *s, const char *want)
{
    assert_int_equal(s->len, strlen(want));
    assert_memory_equal(s->data, want, s->len);
}


static void
assert_refused(ngx_int_t rc, const char *reason, ngx_uint_t at)
{
    assert_int_equal(rc, NGX_ERROR);
    assert_non_null(err);
    assert_string_equal(err, reason);
    assert_int_equal(line, at);
}


static ngx_fcfh_cred_t *
cred(ngx_uint_t i)
{
    assert_true(i < h.creds.nelts);

    return (ngx_fcfh_cred_t *) h.creds.elts + i;
}


static void
test_fields(void **state)
{
    ngx_fcfh_cred_t  *c;

    assert_int_equal(PARSE("zed:$apr1$s$h\n"
                           "dev1:$6$salt$hash:" G1 "\n"
                           "dev2:{SHA}x=:" G2 "," G3 ":Dev2.Example.TEST,"
                           " *.lab\n"
                           "any:hash:*\n"
                           "named:hash::~^gw-[0-9]+$ certificate\n"),
                     NGX_OK);
    assert_int_equal(line, 0);
    assert_int_equal(h.creds.nelts, 5);

    /* sorted by user */
    c = cred(0);
    assert_str(&c->user, "any");
    assert_str(&c->guids, "*");
    assert_int_equal(c->names.len, 0);

    c = cred(1);
    assert_str(&c->user, "dev1");
    assert_str(&c->hash, "$6$salt$hash");
    assert_int_equal(c->hash.data[c->hash.len], '\0');
    assert_str(&c->guids, G1);
    assert_int_equal(c->names.len, 0);

    /* the fourth field in lower case */
    c = cred(2);
    assert_str(&c->user, "dev2");
    assert_str(&c->hash, "{SHA}x=");
    assert_str(&c->guids, G2 "," G3);
    assert_str(&c->names, "dev2.example.test, *.lab");

    c = cred(3);
    assert_str(&c->user, "named");
    assert_int_equal(c->guids.len, 0);
    assert_str(&c->names, "~^gw-[0-9]+$ certificate");

    c = cred(4);
    assert_str(&c->user, "zed");
    assert_str(&c->hash, "$apr1$s$h");
    assert_int_equal(c->hash.data[c->hash.len], '\0');
    assert_null(c->guids.data);
    assert_null(c->names.data);
    assert_null(c->seen);
}


static void
test_comments_blanks_crlf(void **state)
{
    assert_int_equal(PARSE("# a comment: not:a:user\n"
                           "\n"
                           "   \t\n"
                           "  # indented\r\n"
                           "\r\n"
                           "  a:hash-a \t\r\n"
                           "b:hash-b:" G1 "\r\n"
                           "c:hash-c"),
                     NGX_OK);
    assert_int_equal(h.creds.nelts, 3);

    /* neither the CR nor trailing blanks belong to a field */
    assert_str(&cred(0)->user, "a");
    assert_str(&cred(0)->hash, "hash-a");
    assert_str(&cred(1)->guids, G1);
    assert_str(&cred(2)->hash, "hash-c");

    assert_int_equal(PARSE(""), NGX_OK);
    assert_int_equal(h.creds.nelts, 0);
    assert_int_equal(PARSE("# only\n\n"), NGX_OK);
    assert_int_equal(h.creds.nelts, 0);
}


static void
test_line_length(void **state)
{
    u_char  *text, *p;

    text = ngx_pnalloc(pool, 2 * NGX_FCFH_MAX_CRED_LINE + 16);
    assert_non_null(text);

    /* the longest line taken (its CR not counted), and one more byte */
    p = ngx_cpymem(text, "ok:h\n", 5);
    p = ngx_cpymem(p, "u:", 2);
    ngx_memset(p, 'h', NGX_FCFH_MAX_CRED_LINE - 2);
    p += NGX_FCFH_MAX_CRED_LINE - 2;
    p = ngx_cpymem(p, "\r\n", 2);

    assert_int_equal(parse((char *) text, p - text), NGX_OK);
    assert_int_equal(cred(1)->hash.len, NGX_FCFH_MAX_CRED_LINE - 2);

    p = ngx_cpymem(text + 5, "u:", 2);
    ngx_memset(p, 'h', NGX_FCFH_MAX_CRED_LINE - 1);
    p += NGX_FCFH_MAX_CRED_LINE - 1;

    assert_refused(parse((char *) text, p - text), "line too long", 2);
}


static void
test_malformed(void **state)
{
    assert_refused(PARSE("a:h\nno-colon\n"), "expected \"user:hash\"", 2);
    assert_refused(PARSE(":hash\n"), "expected \"user:hash\"", 1);
    assert_refused(PARSE("\n\nuser:\n"), "expected \"user:hash\"", 3);
    assert_refused(PARSE("user: \r\n"), "expected \"user:hash\"", 1);
    assert_refused(PARSE("user::" G1 "\n"), "empty password hash", 1);

    /* a NUL in any field */
    assert_refused(PARSE("a:h\nu\0ser:hash\n"), "NUL byte", 2);
    assert_refused(PARSE("user:ha\0sh\n"), "NUL byte", 1);
    assert_refused(PARSE("user:hash:" G1 "\0\n"), "NUL byte", 1);

    assert_refused(PARSE("user:hash:not-a-guid\n"), "invalid GUID list", 1);
    assert_refused(PARSE("user:hash:" G1 ",*,x\n"), "invalid GUID list", 1);
    assert_refused(PARSE("a:h\nuser:hash::bad!name\n"), "invalid name list",
                   2);
    assert_refused(PARSE("user:hash:*:ok.example,*.\n"), "invalid name list",
                   1);
}


/*
 * Errors found once the whole file is read: a duplicate user names the
 * later of its two lines (comments and blank lines counted); the GUIDs
 * and names bound twice name no line (line 0 is the parser's "none", and
 * the loader's message has no line then).
 */

static void
test_duplicates(void **state)
{
    assert_refused(PARSE("a:h1\nb:h2\na:h3\n"), "duplicate user", 3);
    assert_refused(PARSE("# users\nb:h2\n\na:h1\nb:h3\n"), "duplicate user",
                   5);

    /* the same GUID for two users, even with one allowed any */
    assert_refused(PARSE("a:h:" G1 "\nb:h:*," G1 "\n"),
                   "a GUID bound to two users", 0);
    assert_refused(PARSE("a:h:" G1 "\nb:h:" G2 " 00000000-0000-4000-8000-"
                         "0000000DE001\n"),
                   "a GUID bound to two users", 0);

    /* the same name for two users, whatever its case */
    assert_refused(PARSE("a:h::gw1.example\nb:h::GW1.Example\n"),
                   "a name bound to two users", 0);

    /* one user may name a GUID or a name twice */
    assert_int_equal(PARSE("a:h:" G1 "," G1 ":x.example x.example\n"),
                     NGX_OK);

    /* patterns are no one's */
    assert_int_equal(PARSE("a:h::*.lab ~gw certificate *\n"
                           "b:h::*.lab ~gw certificate *\n"),
                     NGX_OK);
}


static void
test_load_reports(void **state)
{
    int              fd;
    char             path[] = "/tmp/fcfh-test-htpasswd-XXXXXX";
    ngx_str_t        file;
    ngx_conf_t       cf;
    ngx_cycle_t      cycle;

    static const char  text[] = "a:h1\nb:h2\na:h3\n";

    fd = mkstemp(path);
    assert_true(fd != -1);
    assert_int_equal(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
    close(fd);

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    ngx_memzero(&cycle, sizeof(ngx_cycle_t));
    cf.pool = pool;
    cf.temp_pool = pool;
    cf.cycle = &cycle;
    cf.log = &test_log;

    file.data = (u_char *) path;
    file.len = strlen(path);

    logged[0] = '\0';
    assert_null(ngx_fcfh_htpasswd_load(&cf, &file));
    unlink(path);

    /* where the second "a" is, not "line 0" */
    assert_non_null(strstr((char *) logged, "duplicate user"));
    assert_non_null(strstr((char *) logged, "line 3"));

    /* a line's error names it */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd != -1);
    assert_int_equal(write(fd, "a:h\nbad\n", 8), 8);
    close(fd);

    logged[0] = '\0';
    assert_null(ngx_fcfh_htpasswd_load(&cf, &file));
    unlink(path);

    assert_non_null(strstr((char *) logged, "expected \"user:hash\""));
    assert_non_null(strstr((char *) logged, "line 2"));
}


static void
test_guid_list(void **state)
{
    u_char     g1[NGX_FCFH_APF_GUID_SIZE], g3[NGX_FCFH_APF_GUID_SIZE];
    ngx_str_t  list;

    assert_int_equal(ngx_fcfh_apf_guid_from_text(G1, sizeof(G1) - 1, g1), 0);
    assert_int_equal(ngx_fcfh_apf_guid_from_text(G3, sizeof(G3) - 1, g3), 0);

#define ALLOWS(lit, guid)                                                    \
    (list.data = (u_char *) (lit), list.len = sizeof(lit) - 1,              \
     ngx_fcfh_guid_list_allows(&list, guid))

    assert_int_equal(ALLOWS("*", g1), NGX_DONE);
    assert_int_equal(ALLOWS("*", NULL), NGX_DONE);
    assert_int_equal(ALLOWS(G1, g1), NGX_OK);
    assert_int_equal(ALLOWS(G1, g3), NGX_DECLINED);
    assert_int_equal(ALLOWS(G1, NULL), NGX_DECLINED);

    /* separated by commas, spaces, tabs, any number of them */
    assert_int_equal(ALLOWS(G2 "," G1, g1), NGX_OK);
    assert_int_equal(ALLOWS(G2 ", " G1, g1), NGX_OK);
    assert_int_equal(ALLOWS(" " G2 " \t" G1 " ,", g1), NGX_OK);
    assert_int_equal(ALLOWS(G2 " " G1, g3), NGX_DECLINED);

    /* upper case is the same GUID */
    assert_int_equal(ALLOWS("00000000-0000-4000-8000-0000000DE001", g1),
                     NGX_OK);

    /* named beats "*" */
    assert_int_equal(ALLOWS("*, " G1, g1), NGX_OK);
    assert_int_equal(ALLOWS("*, " G1, g3), NGX_DONE);

    assert_int_equal(ALLOWS("", g1), NGX_DECLINED);
    assert_int_equal(ALLOWS(" , ,", g1), NGX_DECLINED);

    assert_int_equal(ALLOWS("**", g1), NGX_ERROR);
    assert_int_equal(ALLOWS(G1 "0", NULL), NGX_ERROR);
    assert_int_equal(ALLOWS(G1 ";" G3, NULL), NGX_ERROR);

#undef ALLOWS
}


static void
test_name_list(void **state)
{
    ngx_str_t  list;

#define VALID(lit)                                                           \
    (list.data = (u_char *) (lit), list.len = sizeof(lit) - 1,              \
     ngx_fcfh_name_list_valid(&list))

    assert_int_equal(VALID(""), NGX_OK);
    assert_int_equal(VALID("*"), NGX_OK);
    assert_int_equal(VALID("certificate"), NGX_OK);
    assert_int_equal(VALID("*.example.test, .lab ~^gw-[0-9]+$"), NGX_OK);
    assert_int_equal(VALID("gw1.example.test,10.0.0.1"), NGX_OK);
    assert_int_equal(VALID(G1), NGX_OK);

    assert_int_equal(VALID("bad!name"), NGX_ERROR);
    assert_int_equal(VALID("ok.example *."), NGX_ERROR);
    assert_int_equal(VALID("."), NGX_ERROR);

#undef VALID
}


static void
test_reserved(void **state)
{
    assert_int_equal(PARSE("a:h:" G1 ", " G2 ":gw-a.example *.a\n"
                           "b:h:*:GW-B.example,certificate\n"
                           "c:h:" G3 "\n"),
                     NGX_OK);

    assert_str(reserved(G1), "a");
    assert_str(reserved(G2), "a");
    assert_str(reserved(G3), "c");
    assert_null(reserved("00000000-0000-4000-8000-0000000de004"));

    /* exact names only, stored in lower case */
    assert_str(owner("gw-a.example"), "a");
    assert_str(owner("gw-b.example"), "b");
    assert_null(owner("GW-B.example"));
    assert_null(owner("x.a"));
    assert_null(owner("*.a"));
    assert_null(owner("certificate"));

    /* no file: nothing reserved */
    assert_null(ngx_fcfh_htpasswd_reserved(NULL, (u_char *) G1));
    assert_null(ngx_fcfh_htpasswd_name_owner(NULL, &h.file));

    /* a file without GUIDs or names */
    assert_int_equal(PARSE("a:h\nb:h:*\n"), NGX_OK);
    assert_null(reserved(G1));
    assert_null(owner("a"));
}


static ngx_str_t *
reserved(const char *guid)
{
    u_char  wire[NGX_FCFH_APF_GUID_SIZE];

    assert_int_equal(ngx_fcfh_apf_guid_from_text(guid, strlen(guid), wire),
                     0);

    return ngx_fcfh_htpasswd_reserved(&h, wire);
}


static ngx_str_t *
owner(const char *name)
{
    ngx_str_t  s;

    s.data = (u_char *) name;
    s.len = strlen(name);

    return ngx_fcfh_htpasswd_name_owner(&h, &s);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_comments_blanks_crlf, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_line_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_reports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guid_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserved, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
