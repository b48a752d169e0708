/* Tests of the pure-C codecs (base64, Engine.IO, Socket.IO header).
 *
 * Usage: test_codecs <corpus-dir>. Runs unit checks, the corpus files in
 * <corpus-dir> (format described at the top of each file; the same files are
 * cross-checked against python-socketio/python-engineio by
 * tests/test_c_core.py) and a randomized robustness loop. Every decoder input
 * is copied into a buffer of exactly its length so that ASan catches any
 * read past the end. Prints "<n> passed, <m> failed"; exit status 1 if m > 0. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "eio.h"
#include "frame.h"
#include "jsonscan.h"
#include "sio.h"

#include "check.h"
#include "test_util.h"

/* ---------------------------------------------------------------- helpers */

static int str_eq(const char *a, size_t alen, const char *b)
{
    return mem_eq(a, alen, b, strlen(b));
}

/* Corpus field unescaping, in place: "~" alone is the empty string; "\xHH"
 * is one byte; any other backslash is literal. Returns the new length. */
static size_t unescape(char *s)
{
    if (strcmp(s, "~") == 0) {
        s[0] = '\0';
        return 0;
    }
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        int hex = s[i] == '\\' && s[i + 1] == 'x' && s[i + 2] && s[i + 3];
        if (hex) {
            char h[3] = {s[i + 2], s[i + 3], '\0'};
            char *end;
            long v = strtol(h, &end, 16);
            hex = *end == '\0';
            if (hex) {
                s[o++] = (char)v;
                i += 3;
                continue;
            }
        }
        s[o++] = s[i];
    }
    s[o] = '\0';
    return o;
}

/* Calls fn for each case line of dir/name, split on TABs. */
typedef void (*line_fn)(char **f, int nf, int lineno);

static void call_line_fn(void *fn, char **f, int nf, int lineno)
{
    (*(line_fn *)fn)(f, nf, lineno);   /* ctx: the address of fn */
}

static int run_corpus(const char *dir, const char *name, line_fn fn)
{
    int cases = corpus_each_line(dir, name, call_line_fn, &fn);
    CHECK(cases >= 0, "cannot open %s/%s", dir, name);
    return cases < 0 ? 0 : cases;
}

/* Decodes a hex string in place ("~" is empty); returns the length or -1. */
static long unhex(char *s)
{
    if (strcmp(s, "~") == 0)
        return 0;
    size_t n = strlen(s), o = 0;
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = fio_json_hex_value(s[i]), lo = fio_json_hex_value(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        s[o++] = (char)(hi << 4 | lo);
    }
    return (long)o;
}

/* --------------------------------------------------------- Socket.IO */

static const char *ROOT_NSP;   /* the static "/" sio_decode reports, learned once */

/* The id fields agree: no id at all, or digits (a view into s, without
 * leading zeros, at most SIO_MAX_ID_DIGITS) whose value id holds when it has
 * at most SIO_ID_VALUE_DIGITS digits, SIO_BIG_ID otherwise. */
static int sio_id_ok(const sio_packet *p, const char *s, size_t len)
{
    if (p->id_digits == NULL)
        return p->id == SIO_NO_ID && p->id_len == 0;
    if (p->id_digits < s || p->id_len < 1 || p->id_len > SIO_MAX_ID_DIGITS ||
        p->id_len > (size_t)(s + len - p->id_digits) ||
        (p->id_len > 1 && p->id_digits[0] == '0'))
        return 0;
    long long v = 0;
    for (size_t i = 0; i < p->id_len; i++) {
        char c = p->id_digits[i];
        if (c < '0' || c > '9')
            return 0;
        if (p->id_len <= SIO_ID_VALUE_DIGITS)
            v = v * 10 + (c - '0');
    }
    return p->id == (p->id_len <= SIO_ID_VALUE_DIGITS ? v : SIO_BIG_ID);
}

/* Checks the invariants every successful sio_decode must satisfy. */
static int sio_views_ok(const sio_packet *p, const char *s, size_t len)
{
    int nsp_ok = (p->nsp == ROOT_NSP && p->nsplen == 1) ||
                 (p->nsp >= s && p->nsplen <= len && p->nsp + p->nsplen <= s + len &&
                  p->nsplen >= 1 && p->nsp[0] == '/');
    int binary = p->type == SIO_BINARY_EVENT || p->type == SIO_BINARY_ACK;
    return p->type >= 0 && p->type <= 6 && p->attachments >= 0 &&
           p->attachments <= SIO_MAX_ATTACHMENTS && (binary || p->attachments == 0) &&
           nsp_ok && p->data >= s && p->data + p->datalen == s + len && sio_id_ok(p, s, len);
}

/* Header of p followed by its data, as python-socketio would write it. The
 * id goes through its digits; when it also has a value, encoding that must
 * give the same header (else -3). */
static int sio_reencode(const sio_packet *p, fio_buf *out)
{
    size_t mark = out->len;
    int rc = sio_encode_header_digits(out, p->type, p->attachments, p->nsp, p->nsplen,
                                      p->id_digits, p->id_len);
    if (rc == 0 && p->id != SIO_BIG_ID) {
        fio_buf v;
        fio_buf_init(&v);
        rc = sio_encode_header(&v, p->type, p->attachments, p->nsp, p->nsplen, p->id);
        if (rc == 0 && !mem_eq(v.data, v.len, out->data + mark, out->len - mark))
            rc = -3;
        fio_buf_free(&v);
    }
    if (rc == 0 && fio_buf_append(out, p->data, p->datalen) < 0)
        rc = -1;
    return rc;
}

static int sio_same(const sio_packet *a, const sio_packet *b)
{
    return a->type == b->type && a->attachments == b->attachments && a->id == b->id &&
           mem_eq(a->id_digits, a->id_len, b->id_digits, b->id_len) &&
           mem_eq(a->nsp, a->nsplen, b->nsp, b->nsplen) &&
           mem_eq(a->data, a->datalen, b->data, b->datalen);
}

/* Every prefix of a packet must decode without reading past it. */
static void sio_prefixes(const char *pkt, size_t len)
{
    int bad = 0;
    for (size_t n = 0; n < len; n++) {
        char *s = dup_exact(pkt, n);
        sio_packet p;
        const char *err = NULL;
        int rc = sio_decode(s, n, &p, &err);
        if (rc == 0 ? !sio_views_ok(&p, s, n) : (rc != -1 || err == NULL))
            bad++;
        free(s);
    }
    CHECK(bad == 0, "%d prefixes of a corpus packet misbehaved", bad);
}

/* sio_valid.txt: form, json, packet, type, nsp, id, attachments, data. */
static void sio_valid_line(char **f, int nf, int lineno)
{
    CHECK(nf == 8, "sio_valid.txt:%d: %d fields", lineno, nf);
    if (nf != 8)
        return;
    int canon = strcmp(f[0], "canon") == 0;
    CHECK(canon || strcmp(f[0], "alt") == 0, "sio_valid.txt:%d: form %s", lineno, f[0]);
    size_t plen = unescape(f[2]);
    size_t nsplen = unescape(f[4]);
    size_t dlen = unescape(f[7]);
    /* the id as python-socketio's int() gives it, in decimal */
    int has_id = strcmp(f[5], "-") != 0;
    size_t idlen = has_id ? strlen(f[5]) : 0;
    long long id = !has_id ? SIO_NO_ID : idlen <= SIO_ID_VALUE_DIGITS ? atoll(f[5]) : SIO_BIG_ID;
    char *s = dup_exact(f[2], plen);
    sio_packet p;
    const char *err = NULL;
    int rc = sio_decode(s, plen, &p, &err);
    CHECK(rc == 0, "sio_valid.txt:%d: rejected: %s", lineno, err ? err : "?");
    if (rc == 0) {
        CHECK(sio_views_ok(&p, s, plen), "sio_valid.txt:%d: views", lineno);
        CHECK(p.type == atoi(f[3]), "sio_valid.txt:%d: type %d", lineno, p.type);
        CHECK(mem_eq(p.nsp, p.nsplen, f[4], nsplen), "sio_valid.txt:%d: namespace [%.*s]",
              lineno, (int)p.nsplen, p.nsp);
        CHECK(p.id == id && (has_id ? mem_eq(p.id_digits, p.id_len, f[5], idlen)
                                    : p.id_digits == NULL),
              "sio_valid.txt:%d: id %lld [%.*s]", lineno, p.id, (int)p.id_len,
              p.id_digits ? p.id_digits : "");
        CHECK(p.attachments == atoi(f[6]), "sio_valid.txt:%d: attachments %d", lineno,
              p.attachments);
        CHECK(mem_eq(p.data, p.datalen, f[7], dlen), "sio_valid.txt:%d: data [%.*s]", lineno,
              (int)p.datalen, p.data);
        fio_buf b;
        fio_buf_init(&b);
        CHECK(sio_reencode(&p, &b) == 0, "sio_valid.txt:%d: re-encode", lineno);
        if (canon) {
            CHECK(mem_eq(b.data, b.len, s, plen), "sio_valid.txt:%d: re-encoded as [%s]",
                  lineno, b.data ? b.data : "");
        } else {
            /* Not what python-socketio writes, but it must re-decode to the
             * same packet. */
            CHECK(!mem_eq(b.data, b.len, s, plen), "sio_valid.txt:%d: is canonical", lineno);
            sio_packet q;
            CHECK(sio_decode(b.data, b.len, &q, &err) == 0 && sio_same(&p, &q),
                  "sio_valid.txt:%d: canonical form [%s] decodes differently", lineno, b.data);
        }
        fio_buf_free(&b);
    }
    free(s);
    sio_prefixes(f[2], plen);
}

/* sio_invalid.txt: kind, packet, expected error message. */
static void sio_invalid_line(char **f, int nf, int lineno)
{
    CHECK(nf == 3, "sio_invalid.txt:%d: %d fields", lineno, nf);
    if (nf != 3)
        return;
    CHECK(strcmp(f[0], "both") == 0 || strcmp(f[0], "strict") == 0,
          "sio_invalid.txt:%d: kind %s", lineno, f[0]);
    size_t plen = unescape(f[1]);
    char *s = dup_exact(f[1], plen);
    sio_packet p;
    const char *err = NULL;
    int rc = sio_decode(s, plen, &p, &err);
    CHECK(rc == -1 && err != NULL && strcmp(err, f[2]) == 0,
          "sio_invalid.txt:%d: rc %d, error [%s], expected [%s]", lineno, rc,
          err ? err : "(none)", f[2]);
    free(s);
    sio_prefixes(f[1], plen);
}

static void test_sio_decode_units(void)
{
    sio_packet p;
    const char *err = NULL;
    CHECK(sio_decode("2", 1, &p, &err) == 0 && p.nsplen == 1 && strcmp(p.nsp, "/") == 0,
          "root namespace");
    ROOT_NSP = p.nsp;
    CHECK(sio_decode("0{}", 3, &p, &err) == 0 && p.nsp == ROOT_NSP, "same static root");

    /* The input need not be NUL-terminated: only len bytes are read. */
    const char no_nul[] = {'2', '/', 'x', 'y', ',', '1', '[', ']'};
    CHECK(sio_decode(no_nul, 5, &p, &err) == 0 && str_eq(p.nsp, p.nsplen, "/xy") &&
              p.id == SIO_NO_ID && p.datalen == 0, "length bounds the namespace");
    CHECK(sio_decode(no_nul, 3, &p, &err) == 0 && str_eq(p.nsp, p.nsplen, "/x"),
          "namespace up to the end");

    /* err may be NULL. */
    CHECK(sio_decode("9", 1, &p, NULL) == -1, "NULL err");

    /* Ids: up to SIO_MAX_ID_DIGITS digits written, leading zeros included. */
    CHECK(sio_decode("2999999999999999999[]", 21, &p, &err) == 0 &&
              p.id == 999999999999999999LL && str_eq(p.id_digits, p.id_len, "999999999999999999"),
          "18-digit id: a value");
    CHECK(sio_decode("21000000000000000000[]", 22, &p, &err) == 0 && p.id == SIO_BIG_ID &&
              str_eq(p.id_digits, p.id_len, "1000000000000000000"), "19-digit id: digits only");
    CHECK(sio_decode("20000000000000000000000007[]", 28, &p, &err) == 0 && p.id == 7 &&
              str_eq(p.id_digits, p.id_len, "7"), "leading zeros are dropped");
    CHECK(sio_decode("2000[]", 6, &p, &err) == 0 && p.id == 0 &&
              str_eq(p.id_digits, p.id_len, "0"), "zero keeps one digit");
    char ids[SIO_MAX_ID_DIGITS + 8];
    for (size_t n = SIO_MAX_ID_DIGITS - 1; n <= SIO_MAX_ID_DIGITS + 1; n++) {
        for (int zeros = 0; zeros <= 1; zeros++) {
            /* "2" then n digits ("0...07" or "9...9"), then "[]" */
            ids[0] = '2';
            memset(ids + 1, zeros ? '0' : '9', n);
            ids[n] = zeros ? '7' : '9';
            memcpy(ids + 1 + n, "[]", 2);
            char *s = dup_exact(ids, n + 3);
            err = NULL;
            int rc = sio_decode(s, n + 3, &p, &err);
            if (n <= SIO_MAX_ID_DIGITS)
                CHECK(rc == 0 && p.id_len == (zeros ? 1 : n) &&
                          p.id == (zeros ? 7 : SIO_BIG_ID) && p.datalen == 2,
                      "%zu-digit id (zeros %d): rc %d", n, zeros, rc);
            else
                CHECK(rc == -1 && err && strcmp(err, "id field is too long (more than 100 digits)") == 0,
                      "%zu-digit id (zeros %d) accepted", n, zeros);
            free(s);
        }
    }
    CHECK(sio_decode("510-[]", 6, &p, &err) == 0 && p.attachments == 10, "10 attachments");
    CHECK(sio_decode("50000000010-[]", 14, &p, &err) == 0 && p.attachments == 10,
          "leading zeros within ten digits");
    CHECK(sio_decode("500000000010-[]", 15, &p, &err) == -1,
          "more than ten count digits is refused, as python-socketio does");
}

static void test_sio_encode(void)
{
    struct {
        int type, att;
        const char *nsp;
        long long id;
        const char *want;
    } ok[] = {
        {SIO_CONNECT, 0, "/", SIO_NO_ID, "0"},
        {SIO_CONNECT, 0, "/chat", SIO_NO_ID, "0/chat,"},
        {SIO_DISCONNECT, 0, "/a/b", SIO_NO_ID, "1/a/b,"},
        {SIO_EVENT, 0, "/", 0, "20"},
        {SIO_EVENT, 0, "/x", 42, "2/x,42"},
        {SIO_ACK, 0, "/", 7, "37"},
        {SIO_CONNECT_ERROR, 0, "/", SIO_NO_ID, "4"},
        {SIO_BINARY_EVENT, 0, "/", SIO_NO_ID, "50-"},
        {SIO_BINARY_EVENT, 3, "/n", 9, "53-/n,9"},
        {SIO_BINARY_ACK, 12, "/", 5, "612-5"},   /* encoding has no SIO_MAX_ATTACHMENTS limit */
        {SIO_EVENT, 0, "", SIO_NO_ID, "2"},       /* empty namespace = absent */
        {SIO_EVENT, 0, "/", LLONG_MAX, "29223372036854775807"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        fio_buf b;
        fio_buf_init(&b);
        int rc = sio_encode_header(&b, ok[i].type, ok[i].att, ok[i].nsp, strlen(ok[i].nsp),
                                   ok[i].id);
        CHECK(rc == 0 && str_eq(b.data, b.len, ok[i].want), "encode case %zu gave [%s]", i,
              b.data ? b.data : "");
        fio_buf_free(&b);
    }

    /* Appends after existing content. */
    fio_buf b;
    fio_buf_init(&b);
    CHECK(fio_buf_append(&b, "xy", 2) == 0 && sio_encode_header(&b, 3, 0, "/q", 2, 1) == 0 &&
              str_eq(b.data, b.len, "xy3/q,1"), "append gave [%s]", b.data);
    fio_buf_free(&b);

    /* NULL namespace of length 0 is the root. */
    fio_buf_init(&b);
    CHECK(sio_encode_header(&b, 2, 0, NULL, 0, SIO_NO_ID) == 0 && str_eq(b.data, b.len, "2"),
          "NULL namespace");
    fio_buf_free(&b);

    struct {
        int type, att;
        long long id;
    } bad[] = {
        {-1, 0, SIO_NO_ID}, {7, 0, SIO_NO_ID}, {SIO_EVENT, 1, SIO_NO_ID},
        {SIO_CONNECT, 2, SIO_NO_ID}, {SIO_BINARY_EVENT, -1, SIO_NO_ID},
        {SIO_EVENT, 0, -2}, {SIO_ACK, 0, LLONG_MIN},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fio_buf_init(&b);
        CHECK(sio_encode_header(&b, bad[i].type, bad[i].att, "/", 1, bad[i].id) == -2 &&
                  b.len == 0, "invalid encode case %zu accepted", i);
        fio_buf_free(&b);
    }
    fio_buf_init(&b);
    CHECK(sio_encode_header(&b, 2, 0, NULL, 3, SIO_NO_ID) == -2, "NULL namespace, length 3");
    CHECK(sio_encode_header(&b, 3, 0, "/", 1, SIO_BIG_ID) == -2 && b.len == 0,
          "SIO_BIG_ID is not a value");
    fio_buf_free(&b);
}

static void test_sio_encode_digits(void)
{
    static const char big[] = "1234567890123456789012345678901234567890123456789012345678901234567890"
                              "1234567890123456789012345678901234567890123456789012345678901234567890";
    struct {
        int type, att;
        const char *nsp;
        const char *digits;   /* NULL: no id */
        size_t n;
        const char *want;
    } ok[] = {
        {SIO_EVENT, 0, "/", NULL, 0, "2"},
        {SIO_ACK, 0, "/", "0", 1, "30"},
        {SIO_ACK, 0, "/x", "9223372036854775808", 19, "3/x,9223372036854775808"},
        {SIO_BINARY_ACK, 2, "/", "12345678901234567890", 20, "62-12345678901234567890"},
        {SIO_ACK, 0, "/", "12", 1, "31"},   /* n bounds the digits */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        fio_buf b;
        fio_buf_init(&b);
        int rc = sio_encode_header_digits(&b, ok[i].type, ok[i].att, ok[i].nsp, strlen(ok[i].nsp),
                                          ok[i].digits, ok[i].n);
        CHECK(rc == 0 && str_eq(b.data, b.len, ok[i].want), "digits case %zu gave [%s]", i,
              b.data ? b.data : "");
        fio_buf_free(&b);
    }

    /* No length limit on encoding: python-socketio writes str(id) whatever its size. */
    fio_buf b;
    fio_buf_init(&b);
    CHECK(sio_encode_header_digits(&b, SIO_ACK, 0, "/", 1, big, sizeof big - 1) == 0 &&
              b.len == sizeof big && b.data[0] == '3' && memcmp(b.data + 1, big, sizeof big - 1) == 0,
          "140-digit id");
    fio_buf_free(&b);

    struct {
        const char *digits;
        size_t n;
    } bad[] = {{NULL, 3}, {"", 0}, {"07", 2}, {"00", 2}, {"1a", 2}, {"-1", 2}, {"1 ", 2}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fio_buf_init(&b);
        CHECK(fio_buf_append(&b, "k", 1) == 0 &&
                  sio_encode_header_digits(&b, SIO_ACK, 0, "/", 1, bad[i].digits, bad[i].n) == -2 &&
                  str_eq(b.data, b.len, "k"), "invalid digits case %zu accepted", i);
        fio_buf_free(&b);
    }
    fio_buf_init(&b);
    CHECK(sio_encode_header_digits(&b, 7, 0, "/", 1, "1", 1) == -2 && b.len == 0,
          "type checked with digits");
    fio_buf_free(&b);
}

/* ---------------------------------------------------------- Engine.IO */

/* eio_text.txt: kind, packet[, type, data]. */
static void eio_text_line(char **f, int nf, int lineno)
{
    int ok = strcmp(f[0], "ok") == 0;
    CHECK(ok ? nf == 4 : nf == 2 && (strcmp(f[0], "err") == 0 || strcmp(f[0], "strict") == 0),
          "eio_text.txt:%d: malformed line", lineno);
    if (nf < 2)
        return;
    size_t plen = unescape(f[1]);
    char *s = dup_exact(f[1], plen);
    int type = -1;
    const char *data = NULL;
    size_t dlen = 0;
    int rc = eio_decode_text(s, plen, &type, &data, &dlen);
    if (ok && nf == 4) {
        size_t want_len = unescape(f[3]);
        CHECK(rc == 0 && type == atoi(f[2]) && data == s + 1 &&
                  mem_eq(data, dlen, f[3], want_len), "eio_text.txt:%d: rc %d type %d", lineno,
              rc, type);
        CHECK(!eio_is_b64(s, plen), "eio_text.txt:%d: taken for base64", lineno);
    } else {
        CHECK(rc == -1, "eio_text.txt:%d: accepted", lineno);
    }
    free(s);
}

/* eio_b64.txt: kind, element[, hex of the decoded bytes]. */
static void eio_b64_line(char **f, int nf, int lineno)
{
    int ok = strcmp(f[0], "ok") == 0;
    CHECK(ok ? nf == 3 : nf == 2 && (strcmp(f[0], "err") == 0 || strcmp(f[0], "strict") == 0),
          "eio_b64.txt:%d: malformed line", lineno);
    if (nf < 2)
        return;
    size_t plen = unescape(f[1]);
    char *s = dup_exact(f[1], plen);
    fio_buf out;
    fio_buf_init(&out);
    int rc = eio_decode_b64(s, plen, &out);
    if (ok && nf == 3) {
        long want = unhex(f[2]);
        CHECK(want >= 0, "eio_b64.txt:%d: bad hex", lineno);
        CHECK(eio_is_b64(s, plen) && rc == 0 && want >= 0 &&
                  mem_eq(out.data, out.len, f[2], (size_t)want), "eio_b64.txt:%d: rc %d", lineno,
              rc);
    } else {
        CHECK(rc == -1 && out.len == 0, "eio_b64.txt:%d: rc %d", lineno, rc);
    }
    fio_buf_free(&out);
    free(s);
}

struct elems {
    fio_buf joined;   /* the elements, each followed by \x1e */
    int n;
    int stop_at;      /* return 7 from the callback for this element (0-based), -1 never */
};

static int collect(void *ctx, const char *elem, size_t len)
{
    struct elems *e = ctx;
    if (e->n == e->stop_at)
        return 7;
    e->n++;
    if (fio_buf_append(&e->joined, elem, len) < 0 || fio_buf_putc(&e->joined, EIO_RECORD_SEP) < 0)
        return 99;
    return 0;
}

/* eio_payload.txt: "ok" max body n elem..., "toomany" max body, "empty" max body. */
static void eio_payload_line(char **f, int nf, int lineno)
{
    CHECK(nf >= 3, "eio_payload.txt:%d: malformed line", lineno);
    if (nf < 3)
        return;
    size_t max = (size_t)strtoull(f[1], NULL, 10);
    size_t blen = unescape(f[2]);
    char *s = dup_exact(f[2], blen);
    struct elems e = {{0}, 0, -1};
    fio_buf_init(&e.joined);
    int rc = eio_payload_split(s, blen, max, collect, &e);
    if (strcmp(f[0], "ok") == 0) {
        int n = nf >= 4 ? atoi(f[3]) : -1;
        CHECK(rc == 0 && e.n == n && nf == 4 + n, "eio_payload.txt:%d: rc %d, %d elements", lineno,
              rc, e.n);
        fio_buf want;
        fio_buf_init(&want);
        for (int i = 4; i < nf; i++) {
            size_t l = unescape(f[i]);
            if (fio_buf_append(&want, f[i], l) < 0 || fio_buf_putc(&want, EIO_RECORD_SEP) < 0)
                exit(2);
        }
        CHECK(mem_eq(e.joined.data, e.joined.len, want.data, want.len),
              "eio_payload.txt:%d: elements differ", lineno);
        fio_buf_free(&want);
    } else if (strcmp(f[0], "toomany") == 0) {
        CHECK(rc == -1 && e.n == 0, "eio_payload.txt:%d: rc %d, %d delivered", lineno, rc, e.n);
    } else {
        CHECK(strcmp(f[0], "empty") == 0 && rc == -2 && e.n == 0, "eio_payload.txt:%d: rc %d",
              lineno, rc);
    }
    fio_buf_free(&e.joined);
    free(s);
}

/* eio_join.txt: expected body, then frames as "t:<text>" or "b:<hex>". */
static void eio_join_line(char **f, int nf, int lineno)
{
    size_t wlen = unescape(f[0]);
    fio_frame *frames[CORPUS_MAX_FIELDS];
    int n = 0, bad = 0;
    for (int i = 1; i < nf; i++) {
        char *spec = f[i];
        if (strncmp(spec, "t:", 2) == 0) {
            size_t l = unescape(spec + 2);
            frames[n] = fio_frame_new(spec + 2, l, 0);
        } else if (strncmp(spec, "b:", 2) == 0) {
            long l = unhex(spec + 2);
            frames[n] = l < 0 ? NULL : fio_frame_new(spec + 2, (size_t)l, 1);
        } else {
            frames[n] = NULL;
        }
        if (frames[n])
            n++;
        else
            bad++;
    }
    CHECK(bad == 0, "eio_join.txt:%d: bad frame spec", lineno);
    fio_buf out;
    fio_buf_init(&out);
    CHECK(eio_payload_join(frames, (size_t)n, &out) == 0 && mem_eq(out.data, out.len, f[0], wlen),
          "eio_join.txt:%d: joined as [%s]", lineno, out.data ? out.data : "");
    fio_buf_free(&out);
    for (int i = 0; i < n; i++)
        fio_frame_unref(frames[i]);
}

/* eio_open.txt: sid, upgrade_websocket, ping timeout, ping interval, max payload, packet. */
static void eio_open_line(char **f, int nf, int lineno)
{
    CHECK(nf == 6, "eio_open.txt:%d: %d fields", lineno, nf);
    if (nf != 6)
        return;
    size_t sidlen = unescape(f[0]);
    fio_buf out;
    fio_buf_init(&out);
    CHECK(eio_open_packet(&out, f[0], sidlen, atoi(f[1]), atoll(f[2]), atoll(f[3]), atoll(f[4])) == 0 &&
              str_eq(out.data, out.len, f[5]),
          "eio_open.txt:%d: gave [%s]", lineno, out.data ? out.data : "");
    fio_buf_free(&out);
}

static void test_eio_units(void)
{
    int type;
    const char *data;
    size_t dlen;
    for (int t = 0; t <= 6; t++) {
        char s[2] = {(char)('0' + t), 'x'};
        CHECK(eio_decode_text(s, 1, &type, &data, &dlen) == 0 && type == t && dlen == 0 &&
                  data == s + 1, "bare type %d", t);
    }
    CHECK(eio_decode_text("4hello", 6, &type, &data, &dlen) == 0 && type == EIO_MESSAGE &&
              str_eq(data, dlen, "hello"), "message");
    CHECK(eio_decode_text("2probe", 6, &type, &data, &dlen) == 0 && type == EIO_PING &&
              str_eq(data, dlen, "probe"), "ping probe");
    CHECK(eio_decode_text("", 0, &type, &data, &dlen) == -1, "empty");
    CHECK(eio_decode_text("4hello", 0, &type, &data, &dlen) == -1, "length 0");
    CHECK(eio_decode_text("/4", 2, &type, &data, &dlen) == -1, "below '0'");
    CHECK(eio_decode_text("7", 1, &type, &data, &dlen) == -1, "above '6'");

    CHECK(!eio_is_b64("", 0) && !eio_is_b64("b", 0) && eio_is_b64("b", 1) &&
              !eio_is_b64("4b", 2), "eio_is_b64");

    fio_buf out;
    fio_buf_init(&out);
    CHECK(eio_decode_b64("b", 1, &out) == 0 && out.len == 0, "empty binary message");
    CHECK(eio_decode_b64("4AQID", 5, &out) == -1 && out.len == 0, "not a b packet");
    CHECK(eio_decode_b64("", 0, &out) == -1, "empty element");
    CHECK(eio_decode_b64("bAQID", 5, &out) == 0 && mem_eq(out.data, out.len, "\x01\x02\x03", 3),
          "b64 packet");
    fio_buf_free(&out);

    /* Split edge cases the corpus cannot express. */
    struct elems e = {{0}, 0, 1};
    fio_buf_init(&e.joined);
    CHECK(eio_payload_split("a\x1e" "b\x1e" "c", 5, 16, collect, &e) == 7 && e.n == 1,
          "callback result stops the split");
    fio_buf_free(&e.joined);
    e.n = 0;
    e.stop_at = -1;
    fio_buf_init(&e.joined);
    CHECK(eio_payload_split("4x", 2, 0, collect, &e) == -1 && e.n == 0, "max_packets 0");
    CHECK(eio_payload_split("4x", 0, 16, collect, &e) == -2 && e.n == 0, "length 0");
    CHECK(eio_payload_split("4x\x1e" "4y", 2, 1, collect, &e) == 0 && e.n == 1 &&
              str_eq(e.joined.data, e.joined.len, "4x\x1e"), "length bounds the body");
    fio_buf_free(&e.joined);

    /* Join: no frames, and appending after existing content. */
    fio_buf_init(&out);
    CHECK(eio_payload_join(NULL, 0, &out) == 0 && out.len == 0, "join of nothing");
    fio_frame *fr[2] = {fio_frame_text(EIO_MESSAGE, "2[1]", 4), fio_frame_new("", 0, 1)};
    CHECK(fr[0] && fr[1], "frames");
    if (fr[0] && fr[1]) {
        CHECK(fio_buf_append(&out, "pre", 3) == 0 && eio_payload_join(fr, 2, &out) == 0 &&
                  str_eq(out.data, out.len, "pre42[1]\x1e" "b"), "join appends: [%s]", out.data);
    }
    fio_frame_unref(fr[0]);
    fio_frame_unref(fr[1]);
    fio_buf_free(&out);

    /* OPEN packet: extreme numbers and appending. */
    fio_buf_init(&out);
    CHECK(eio_open_packet(&out, "", 0, 0, LLONG_MIN, -1, LLONG_MAX) == 0 &&
              str_eq(out.data, out.len,
                     "0{\"sid\":\"\",\"upgrades\":[],\"pingTimeout\":-9223372036854775808,"
                     "\"pingInterval\":-1,\"maxPayload\":9223372036854775807}"),
          "extreme open packet [%s]", out.data);
    size_t first = out.len;
    CHECK(eio_open_packet(&out, "ab", 2, 1, 0, 0, 0) == 0 &&
              str_eq(out.data + first, out.len - first,
                     "0{\"sid\":\"ab\",\"upgrades\":[\"websocket\"],\"pingTimeout\":0,"
                     "\"pingInterval\":0,\"maxPayload\":0}"), "open packet appends");
    fio_buf_free(&out);
}

/* ------------------------------------------------------------- base64 */

static void test_base64(void)
{
    /* RFC 4648 section 10 vectors. */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        fio_buf b;
        fio_buf_init(&b);
        CHECK(fio_b64_encode((const unsigned char *)plain[i], strlen(plain[i]), &b) == 0 &&
                  str_eq(b.data, b.len, coded[i]), "encode [%s]", plain[i]);
        fio_buf_free(&b);
        char *c = dup_exact(coded[i], strlen(coded[i]));
        CHECK(fio_b64_decode(c, strlen(coded[i]), &b) == 0 && str_eq(b.data, b.len, plain[i]),
              "decode [%s]", coded[i]);
        free(c);
        fio_buf_free(&b);
    }

    /* All 64 symbols and bytes with the high bit set. */
    const unsigned char all[] = {0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8b,
                                 0x30, 0xd3, 0x8f, 0x41, 0x14, 0x93, 0x51, 0x55, 0x97,
                                 0x61, 0x96, 0x9b, 0x71, 0xd7, 0x9f, 0x82, 0x18, 0xa3,
                                 0x92, 0x59, 0xa7, 0xa2, 0x9a, 0xab, 0xb2, 0xdb, 0xaf,
                                 0xc3, 0x1c, 0xb3, 0xd3, 0x5d, 0xb7, 0xe3, 0x9e, 0xbb,
                                 0xf3, 0xdf, 0xbf};
    const char all64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fio_buf b;
    fio_buf_init(&b);
    CHECK(fio_b64_encode(all, sizeof all, &b) == 0 && str_eq(b.data, b.len, all64),
          "alphabet [%s]", b.data);
    fio_buf_free(&b);
    CHECK(fio_b64_decode(all64, 64, &b) == 0 && mem_eq(b.data, b.len, (const char *)all, sizeof all),
          "alphabet decode");
    fio_buf_free(&b);

    /* Non-zero unused bits are accepted, as Python does ("Zh==" is "f"). */
    CHECK(fio_b64_decode("Zh==", 4, &b) == 0 && str_eq(b.data, b.len, "f"), "loose last bits");
    fio_buf_free(&b);

    const char *bad[] = {"Z", "Zg", "Zg=", "Zg=====", "Z===", "====", "=Zm9", "Zm=v", "Zg==Zm9v",
                         "Zm9v!A==", "Zm9v\nA==", "Zm9-", "Zm9_", "Zm 9", "Zm9v\x80QQ=", "Zm9\0"};
    const size_t badlen[] = {1, 2, 3, 7, 4, 4, 4, 4, 8, 8, 8, 4, 4, 4, 8, 4};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fio_buf_init(&b);
        CHECK(fio_buf_append(&b, "keep", 4) == 0, "setup");
        char *c = dup_exact(bad[i], badlen[i]);
        CHECK(fio_b64_decode(c, badlen[i], &b) == -1 && str_eq(b.data, b.len, "keep") &&
                  b.data[b.len] == '\0', "bad base64 case %zu accepted or output kept", i);
        free(c);
        fio_buf_free(&b);
    }

    /* Decode appends. */
    fio_buf_init(&b);
    CHECK(fio_buf_append(&b, "x", 1) == 0 && fio_b64_decode("Zm8=", 4, &b) == 0 &&
              str_eq(b.data, b.len, "xfo"), "decode appends");
    CHECK(fio_b64_encode((const unsigned char *)"o", 1, &b) == 0 &&
              str_eq(b.data, b.len, "xfobw=="), "encode appends");
    fio_buf_free(&b);
}

/* ------------------------------------------------------ random inputs */

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* Random text biased towards the characters the decoders care about; one
 * mode in five is a Socket.IO packet with an ack id of 0..110 digits (often
 * with leading zeros) between random header and body characters. */
static size_t random_input(char *s, size_t cap)
{
    static const char alphabet[] = "0123456789012345-/,?[]{}\"b=+ \x1e\x1e" "aZ-/,";
    int mode = (int)rnd(5);
    if (mode == 4 && cap >= 128) {
        size_t len = 0, ndigits = rnd(111), zeros = rnd(3) ? 0 : rnd((unsigned)ndigits + 1);
        s[len++] = (char)('0' + rnd(7));
        if (rnd(2))
            s[len++] = alphabet[rnd(sizeof alphabet - 1)];
        for (size_t i = 0; i < ndigits; i++)
            s[len++] = i < zeros ? '0' : (char)('0' + rnd(10));
        for (size_t tail = rnd(8); tail > 0 && len < cap; tail--)
            s[len++] = alphabet[rnd(sizeof alphabet - 1)];
        return len;
    }
    size_t len = rnd(64 + 1);
    for (size_t i = 0; i < len; i++) {
        if (mode == 0)
            s[i] = (char)rnd(256);
        else if (mode == 1)
            s[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="[rnd(65)];
        else
            s[i] = alphabet[rnd(sizeof alphabet - 1)];
    }
    return len;
}

static void test_random_inputs(void)
{
    int bad_sio = 0, bad_rt = 0, bad_eio = 0, bad_split = 0, bad_b64 = 0, accepted = 0;
    int long_ids = 0, too_long = 0;
    char tmp[128];
    for (int round = 0; round < 50000; round++) {
        size_t len = random_input(tmp, sizeof tmp);
        char *s = dup_exact(tmp, len);

        sio_packet p;
        const char *err = NULL;
        int rc = sio_decode(s, len, &p, &err);
        if (rc == 0) {
            accepted++;
            long_ids += p.id == SIO_BIG_ID;
            if (!sio_views_ok(&p, s, len))
                bad_sio++;
            /* Re-encoding then decoding gives the same packet, except after an
             * explicit root namespace ("/," or "/?q,"), which the canonical
             * form drops so that a following '/' or "<digits>-" is read anew. */
            int explicit_root = p.nsp != ROOT_NSP && p.nsplen == 1;
            fio_buf b;
            fio_buf_init(&b);
            sio_packet q;
            if (!explicit_root && (sio_reencode(&p, &b) != 0 ||
                                   sio_decode(b.data, b.len, &q, &err) != 0 || !sio_same(&p, &q)))
                bad_rt++;
            fio_buf_free(&b);
        } else if (rc != -1 || err == NULL) {
            bad_sio++;
        } else {
            too_long += strstr(err, "id field is too long") == err;
        }

        int type = -1;
        const char *data = NULL;
        size_t dlen = 0;
        rc = eio_decode_text(s, len, &type, &data, &dlen);
        int want = len > 0 && s[0] >= '0' && s[0] <= '6';
        if (want ? rc != 0 || type != s[0] - '0' || data != s + 1 || dlen != len - 1 : rc != -1)
            bad_eio++;

        size_t max = rnd(6);
        size_t seps = 0;
        for (size_t i = 0; i < len; i++)
            seps += s[i] == EIO_RECORD_SEP;
        struct elems e = {{0}, 0, -1};
        fio_buf_init(&e.joined);
        rc = eio_payload_split(s, len, max, collect, &e);
        if (len == 0)
            bad_split += rc != -2 || e.n != 0;
        else if (seps + 1 > max)
            bad_split += rc != -1 || e.n != 0;
        else /* the elements, rejoined, are the body */
            bad_split += rc != 0 || (size_t)e.n != seps + 1 || e.joined.len != len + 1 ||
                         memcmp(e.joined.data, s, len) != 0;
        fio_buf_free(&e.joined);

        fio_buf d, r;
        fio_buf_init(&d);
        fio_buf_init(&r);
        rc = fio_b64_decode(s, len, &d);
        if (rc == 0) {
            /* Canonical re-encoding decodes to the same bytes. */
            char *c = NULL;
            if (fio_b64_encode((const unsigned char *)d.data, d.len, &r) != 0 || r.len != len)
                bad_b64++;
            else
                c = dup_exact(r.data, r.len);
            fio_buf again;
            fio_buf_init(&again);
            if (c && (fio_b64_decode(c, r.len, &again) != 0 ||
                      !mem_eq(again.data, again.len, d.data, d.len)))
                bad_b64++;
            fio_buf_free(&again);
            free(c);
        } else if (rc != -1 || d.len != 0) {
            bad_b64++;
        }
        fio_buf_free(&d);
        fio_buf_free(&r);

        /* Random bytes survive encode + decode. */
        fio_buf_init(&d);
        fio_buf_init(&r);
        if (fio_b64_encode((const unsigned char *)s, len, &d) != 0 ||
            fio_b64_decode(d.data, d.len, &r) != 0 || !mem_eq(r.data, r.len, s, len))
            bad_b64++;
        fio_buf_free(&d);
        fio_buf_free(&r);
        free(s);
    }
    CHECK(bad_sio == 0, "%d sio_decode results broke invariants", bad_sio);
    CHECK(bad_rt == 0, "%d sio packets did not survive re-encoding", bad_rt);
    CHECK(bad_eio == 0, "%d eio_decode_text results were wrong", bad_eio);
    CHECK(bad_split == 0, "%d payload splits were wrong", bad_split);
    CHECK(bad_b64 == 0, "%d base64 round trips failed", bad_b64);
    CHECK(accepted > 1000, "only %d random Socket.IO packets decoded", accepted);
    CHECK(long_ids > 500 && too_long > 100, "only %d long ids and %d too long ones", long_ids,
          too_long);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    test_sio_decode_units();
    test_sio_encode();
    test_sio_encode_digits();
    test_eio_units();
    test_base64();

    struct {
        const char *name;
        line_fn fn;
        int min_cases;
    } corpora[] = {
        {"sio_valid.txt", sio_valid_line, 40},
        {"sio_invalid.txt", sio_invalid_line, 20},
        {"eio_text.txt", eio_text_line, 10},
        {"eio_b64.txt", eio_b64_line, 10},
        {"eio_payload.txt", eio_payload_line, 10},
        {"eio_join.txt", eio_join_line, 5},
        {"eio_open.txt", eio_open_line, 3},
    };
    for (size_t i = 0; i < sizeof corpora / sizeof corpora[0]; i++) {
        int cases = run_corpus(dir, corpora[i].name, corpora[i].fn);
        CHECK(cases >= corpora[i].min_cases, "%s has only %d cases", corpora[i].name, cases);
    }

    test_random_inputs();

    return check_summary();
}
