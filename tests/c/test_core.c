/* C tests of the core: codecs against the corpus in argv[1], base64, payloads,
 * the OPEN packet, and the hub (queues, overflow, rooms, fan-out, refcounts),
 * including a randomized check against a simple model. Prints
 * "N passed, N failed"; exit status 1 on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "eio.h"
#include "frame.h"
#include "hub.h"
#include "sio.h"

#include "check.h"

static fio_str S(const char *s)
{
    fio_str r = {s, strlen(s)};
    return r;
}

/* Decodes \xHH escapes in place; returns the new length. */
static size_t unescape(char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '\\' && s[i + 1] == 'x' && s[i + 2] && s[i + 3]) {
            char hex[3] = {s[i + 2], s[i + 3], 0};
            s[o++] = (char)strtol(hex, NULL, 16);
            i += 3;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return o;
}

/* Splits line on tabs into at most max fields (missing ones are ""). */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    fields[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') {
            *p = '\0';
            fields[n++] = p + 1;
        }
    for (int i = n; i < max; i++)
        fields[i] = "";
    return n;
}

static FILE *open_corpus(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    return f;
}

static void test_sio_corpus(const char *dir)
{
    FILE *f = open_corpus(dir, "sio.txt");
    if (!f)
        return;
    char line[4096];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *fl[7];
        split_tabs(line, fl, 7);
        size_t plen = unescape(fl[1]);
        sio_packet p;
        const char *err = NULL;
        int rc = sio_decode(fl[1], plen, &p, &err);
        cases++;
        if (strcmp(fl[0], "err") == 0) {
            CHECK(rc == -1 && err != NULL, "expected an error for [%s]", fl[1]);
            continue;
        }
        CHECK(rc == 0, "decode [%s]: %s", fl[1], err ? err : "");
        if (rc != 0)
            continue;
        size_t dlen = unescape(fl[6]);
        int has_id = strcmp(fl[4], "-") != 0;
        size_t idlen = has_id ? strlen(fl[4]) : 0;
        long long id = !has_id ? SIO_NO_ID
                     : idlen <= SIO_ID_VALUE_DIGITS ? atoll(fl[4]) : SIO_BIG_ID;
        CHECK(p.type == atoi(fl[2]), "[%s] type %d", fl[1], p.type);
        CHECK(p.nsplen == strlen(fl[3]) && memcmp(p.nsp, fl[3], p.nsplen) == 0,
              "[%s] namespace %.*s", fl[1], (int)p.nsplen, p.nsp);
        CHECK(p.id == id && p.id_len == idlen &&
                  (!has_id || memcmp(p.id_digits, fl[4], idlen) == 0),
              "[%s] id %lld [%.*s]", fl[1], p.id, (int)p.id_len, p.id_digits ? p.id_digits : "");
        CHECK(p.attachments == atoi(fl[5]), "[%s] attachments %d", fl[1], p.attachments);
        CHECK(p.datalen == dlen && memcmp(p.data, fl[6], dlen) == 0, "[%s] data", fl[1]);
        CHECK(p.data >= fl[1] && p.data + p.datalen <= fl[1] + plen, "[%s] view bounds", fl[1]);
        if (strcmp(fl[0], "ok") == 0) {
            fio_buf b;
            fio_buf_init(&b);
            int erc = sio_encode_header_digits(&b, p.type, p.attachments, p.nsp, p.nsplen,
                                               p.id_digits, p.id_len);
            erc = erc ? erc : fio_buf_append(&b, p.data, p.datalen);
            CHECK(erc == 0 && b.len == plen && memcmp(b.data, fl[1], plen) == 0,
                  "round trip of [%s] gave [%s]", fl[1], b.data ? b.data : "");
            fio_buf_free(&b);
        }
    }
    fclose(f);
    CHECK(cases >= 30, "only %d Socket.IO corpus cases", cases);
}

static void test_eio_corpus(const char *dir)
{
    FILE *f = open_corpus(dir, "eio.txt");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *fl[4];
        split_tabs(line, fl, 4);
        size_t plen = unescape(fl[1]);
        int type;
        const char *data;
        size_t dlen;
        int rc = eio_decode_text(fl[1], plen, &type, &data, &dlen);
        if (strcmp(fl[0], "err") == 0) {
            CHECK(rc == -1, "expected an error for [%s]", fl[1]);
            continue;
        }
        CHECK(rc == 0 && type == atoi(fl[2]) && dlen == strlen(fl[3]) &&
                  memcmp(data, fl[3], dlen) == 0, "[%s]", fl[1]);
    }
    fclose(f);
}

static void test_base64(void)
{
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        fio_buf b;
        fio_buf_init(&b);
        CHECK(fio_b64_encode((const unsigned char *)plain[i], strlen(plain[i]), &b) == 0 &&
                  b.len == strlen(coded[i]) && memcmp(b.data ? b.data : "", coded[i], b.len) == 0,
              "encode %s", plain[i]);
        fio_buf_free(&b);
        CHECK(fio_b64_decode(coded[i], strlen(coded[i]), &b) == 0 && b.len == strlen(plain[i]) &&
                  memcmp(b.data ? b.data : "", plain[i], b.len) == 0, "decode %s", coded[i]);
        fio_buf_free(&b);
    }
    const char *bad[] = {"Zg=", "Z===", "Zm9v!A==", "=Zm9", "Zm=v"};
    for (int i = 0; i < 5; i++) {
        fio_buf b;
        fio_buf_init(&b);
        CHECK(fio_b64_decode(bad[i], strlen(bad[i]), &b) == -1, "bad base64 %s accepted", bad[i]);
        fio_buf_free(&b);
    }
}

struct collected {
    char items[8][64];
    size_t lens[8];
    int n;
};

static int collect(void *ctx, const char *elem, size_t len)
{
    struct collected *c = ctx;
    if (c->n == 8 || len >= 64)
        return 99;
    memcpy(c->items[c->n], elem, len);
    c->lens[c->n++] = len;
    return 0;
}

static void test_payloads(void)
{
    struct collected c = {0};
    const char body[] = "40\x1e" "42[\"x\"]\x1e" "bAQID\x1e";
    CHECK(eio_payload_split(body, sizeof body - 1, 16, collect, &c) == 0 && c.n == 4,
          "split into %d", c.n);
    CHECK(c.lens[0] == 2 && c.lens[3] == 0 && eio_is_b64(c.items[2], c.lens[2]), "elements");
    struct collected d = {0};
    CHECK(eio_payload_split("1\x1e" "2\x1e" "3", 5, 2, collect, &d) == -1 && d.n == 0,
          "max packets must refuse without delivering");
    CHECK(eio_payload_split("", 0, 16, collect, &d) == -2, "empty body");

    fio_buf out;
    fio_buf_init(&out);
    CHECK(eio_decode_b64("bAQID", 5, &out) == 0 && out.len == 3 && out.data[2] == 3, "b64 packet");
    fio_buf_free(&out);

    fio_frame *frames[3] = {fio_frame_text(EIO_MESSAGE, "2[1]", 4),
                            fio_frame_new("\x01\x02\x03", 3, 1), fio_frame_text(EIO_PING, "", 0)};
    CHECK(eio_payload_join(frames, 3, &out) == 0 &&
              strcmp(out.data, "42[1]\x1e" "bAQID\x1e" "2") == 0, "join gave %s", out.data);
    fio_buf_free(&out);
    for (int i = 0; i < 3; i++)
        fio_frame_unref(frames[i]);

    CHECK(eio_open_packet(&out, "abc", 3, 1, 20000, 25000, 1000000) == 0 &&
              strcmp(out.data, "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingTimeout\":20000,"
                               "\"pingInterval\":25000,\"maxPayload\":1000000}") == 0,
          "open packet %s", out.data);
    fio_buf_free(&out);
    CHECK(eio_open_packet(&out, "s", 1, 0, 1, 2, 3) == 0 &&
              strcmp(out.data, "0{\"sid\":\"s\",\"upgrades\":[],\"pingTimeout\":1,"
                               "\"pingInterval\":2,\"maxPayload\":3}") == 0, "open packet %s", out.data);
    fio_buf_free(&out);
}

/* Decoders must never read outside their input, whatever the bytes. */
static void test_random_input(void)
{
    unsigned seed = 12345;
    const char alphabet[] = "0123456789-/,?[]{}\"b\x1e" "abcAZ+=";
    int bad = 0;
    for (int round = 0; round < 20000; round++) {
        size_t len = (seed = seed * 1103515245 + 12345) % 24;
        char *s = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            s[i] = alphabet[(seed = seed * 1103515245 + 12345) % (sizeof alphabet - 1)];
        sio_packet p;
        const char *err;
        if (sio_decode(s, len, &p, &err) == 0 &&
            (p.data < s || p.data + p.datalen > s + len || p.attachments > SIO_MAX_ATTACHMENTS))
            bad++;
        int type;
        const char *data;
        size_t dlen;
        if (eio_decode_text(s, len, &type, &data, &dlen) == 0 && data + dlen != s + len)
            bad++;
        struct collected c = {0};
        eio_payload_split(s, len, 4, collect, &c);
        fio_buf b;
        fio_buf_init(&b);
        fio_b64_decode(s, len, &b);
        fio_buf_free(&b);
        free(s);
    }
    CHECK(bad == 0, "%d decodes pointed outside their input", bad);
}

/* ---- hub ---- */

static void count_wake(void *ctx, uint32_t conn, int status)
{
    (void)conn;
    int *counts = ctx;
    counts[status == 2 ? 1 : 0]++;
}

static int count_members(void *ctx, fio_str sid, uint32_t conn, fio_str eio_sid)
{
    (void)sid;
    (void)conn;
    (void)eio_sid;
    (*(int *)ctx)++;
    return 0;
}

static int count_names(void *ctx, fio_str name)
{
    (void)name;
    (*(int *)ctx)++;
    return 0;
}

static long drain_all(fio_hub *h, uint32_t id, int *overflowed)
{
    fio_frame *out[64];
    long n = fio_hub_drain(h, id, out, 64, overflowed);
    for (long i = 0; i < n; i++)
        fio_frame_unref(out[i]);
    return n;
}

static void test_hub_basics(void)
{
    fio_hub *h = fio_hub_new(3);
    uint32_t a, b, c;
    CHECK(fio_hub_conn_open(h, S("EA"), &a) == 0 && fio_hub_conn_open(h, S("EB"), &b) == 0 &&
              fio_hub_conn_open(h, S("EC"), &c) == 0 && a != b && b != c, "open");
    CHECK(fio_hub_connect(h, S("/"), S("sa"), a) == 0, "connect a");
    CHECK(fio_hub_connect(h, S("/"), S("sb"), b) == 0, "connect b");
    CHECK(fio_hub_connect(h, S("/"), S("sc"), c) == 0, "connect c");
    CHECK(fio_hub_connect(h, S("/"), S("sa2"), a) == FIO_EEXIST, "second member on a conn");
    CHECK(fio_hub_connect(h, S("/"), S("sa"), b) == FIO_EEXIST, "sid taken");
    CHECK(fio_hub_connect(h, S("/chat"), S("ca"), a) == 0, "another namespace");
    CHECK(fio_hub_enter(h, S("/"), S("sa"), S("red")) == 0, "enter");
    CHECK(fio_hub_enter(h, S("/"), S("sa"), S("red")) == 0, "enter twice");
    CHECK(fio_hub_enter(h, S("/"), S("sa"), S("blue")) == 0, "enter blue");
    CHECK(fio_hub_enter(h, S("/"), S("sb"), S("blue")) == 0, "enter blue b");
    CHECK(fio_hub_enter(h, S("/"), S("zz"), S("blue")) == FIO_ENOMEMBER, "unknown member");

    int names = 0;
    fio_hub_rooms_of(h, S("/"), S("sa"), count_names, &names);
    CHECK(names == 3, "rooms of sa: %d", names);

    fio_frame *f = fio_frame_text(EIO_MESSAGE, "2[1]", 4);
    fio_str rooms[2] = {S("red"), S("blue")};
    int wakes[2] = {0, 0};
    long n = fio_hub_broadcast(h, S("/"), rooms, 2, NULL, 0, &f, 1, count_wake, wakes);
    CHECK(n == 2 && wakes[0] == 2, "union without duplicates: %ld recipients", n);
    CHECK(atomic_load(&f->refs) == 3, "one ref per queued copy: %d", atomic_load(&f->refs));
    fio_str skip = S("sb");
    n = fio_hub_broadcast(h, S("/"), NULL, 0, &skip, 1, &f, 1, count_wake, wakes);
    CHECK(n == 2 && wakes[0] == 3, "whole namespace minus skip: %ld", n);
    int over = 0;
    CHECK(drain_all(h, a, &over) == 2 && !over, "a got two frames");
    CHECK(drain_all(h, b, &over) == 1, "b got one frame");
    CHECK(drain_all(h, c, &over) == 1, "c got one frame");
    CHECK(atomic_load(&f->refs) == 1, "refs back to 1");

    /* overflow: bound 3 frames */
    fio_frame *three[3] = {f, f, f};
    CHECK(fio_hub_push(h, a, three, 3) == 1, "fill to the bound");
    CHECK(fio_hub_push(h, a, &f, 1) == 2, "past the bound overflows");
    CHECK(fio_hub_queued(h, a) == 3, "the dropped frame is not queued");
    CHECK(drain_all(h, a, &over) == 3 && over, "overflow flag reported");
    fio_frame_unref(f);

    int count = 0;
    fio_hub_members(h, S("/"), rooms, 2, count_members, &count);
    CHECK(count == 2, "members of red+blue: %d", count);
    fio_hub_close_room(h, S("/"), S("blue"));
    count = 0;
    fio_hub_members(h, S("/"), rooms + 1, 1, count_members, &count);
    CHECK(count == 0, "closed room is empty");
    CHECK(fio_hub_leave(h, S("/"), S("sa"), S("red")) == 0, "leave");
    names = 0;
    fio_hub_room_names(h, S("/"), count_names, &names);
    CHECK(names == 3, "only the sid rooms remain: %d", names);

    CHECK(fio_hub_conn_close(h, a) == 0, "close a");
    CHECK(fio_hub_conn_close(h, a) == FIO_ENOCONN, "close twice");
    count = 0;
    fio_hub_members(h, S("/"), NULL, 0, count_members, &count);
    CHECK(count == 2, "closing a conn removes its members: %d", count);
    names = 0;
    fio_hub_namespaces(h, count_names, &names);
    CHECK(names == 1, "empty namespace /chat is gone: %d", names);
    CHECK(fio_hub_push(h, a, &f, 0) == FIO_ENOCONN, "push to a closed conn");
    fio_hub_free(h);
}

/* Random operations against a model: membership bitmaps of 8 members x 4 rooms. */
static void test_hub_model(void)
{
    enum { M = 8, R = 4 };
    fio_hub *h = fio_hub_new(100000);
    uint32_t conn[M];
    int in[M][R] = {{0}};
    int connected[M] = {0};
    char sid[M][16], room[R][16];
    long expected_queued[M] = {0};
    for (int i = 0; i < M; i++) {
        snprintf(sid[i], sizeof sid[i], "s%d", i);
        fio_hub_conn_open(h, S(sid[i]), &conn[i]);
    }
    for (int r = 0; r < R; r++)
        snprintf(room[r], sizeof room[r], "r%d", r);
    unsigned seed = 7;
    int mismatches = 0;
    fio_frame *f = fio_frame_text(EIO_MESSAGE, "2[0]", 4);
    for (int step = 0; step < 20000; step++) {
        seed = seed * 1103515245 + 12345;
        int m = (seed >> 8) % M, r = (seed >> 16) % R, op = (seed >> 24) % 6;
        if (op == 0 && !connected[m]) {
            connected[m] = fio_hub_connect(h, S("/"), S(sid[m]), conn[m]) == 0;
        } else if (op == 1 && connected[m]) {
            fio_hub_disconnect(h, S("/"), S(sid[m]));
            connected[m] = 0;
            memset(in[m], 0, sizeof in[m]);
        } else if (op == 2) {
            int rc = fio_hub_enter(h, S("/"), S(sid[m]), S(room[r]));
            if (connected[m])
                in[m][r] = 1;
            else if (rc != FIO_ENOMEMBER)
                mismatches++;
        } else if (op == 3) {
            fio_hub_leave(h, S("/"), S(sid[m]), S(room[r]));
            in[m][r] = 0;
        } else {
            fio_str sel[2] = {S(room[r]), S(room[(r + 1) % R])};
            fio_str skip = S(sid[m]);
            int nsel = op == 4 ? 2 : 0;
            int wakes[2] = {0, 0};
            long n = fio_hub_broadcast(h, S("/"), sel, (size_t)nsel, &skip, 1, &f, 1,
                                       count_wake, wakes);
            long want = 0;
            for (int i = 0; i < M; i++) {
                int hit = connected[i] && i != m &&
                          (nsel == 0 || in[i][r] || in[i][(r + 1) % R]);
                want += hit;
                expected_queued[i] += hit;
            }
            if (n != want)
                mismatches++;
        }
    }
    for (int i = 0; i < M; i++)
        if (fio_hub_queued(h, conn[i]) != expected_queued[i])
            mismatches++;
    CHECK(mismatches == 0, "%d differences from the model", mismatches);
    fio_hub_free(h);
    CHECK(atomic_load(&f->refs) == 1, "freeing the hub released every queued frame");
    fio_frame_unref(f);
}

int main(int argc, char **argv)
{
    const char *corpus = argc > 1 ? argv[1] : "tests/c/corpus";
    test_sio_corpus(corpus);
    test_eio_corpus(corpus);
    test_base64();
    test_payloads();
    test_random_input();
    test_hub_basics();
    test_hub_model();
    return check_summary();
}
