/* libFuzzer target: python-socketio pub/sub messages (csrc/redis/envelope.c).
 *
 * The input is one message, read with fio_env_read into a fresh struct and
 * again into the same struct (reuse must give the same result). Checked:
 *  - the route is IGNORE, PYTHON or EMIT; EMIT only for a JSON object
 *    (after a UTF-8 BOM) whose "method" is "emit";
 *  - an EMIT: a non-empty namespace, at most FIO_ENV_MAX_NAMES rooms (none
 *    empty) and skip sids, every name inside the struct's storage; the
 *    namespace and rooms equal the message's decoded values; the packet is
 *    "2" + ("/" namespace: nothing | namespace + ",") + a compact JSON array
 *    of printable ASCII (ensure_ascii, no raw controls), and sio_decode reads
 *    it back (when the namespace is one a client can join: '/', no ',' or
 *    '?'); the array is ["event", args...] holding the same values as the
 *    message's "event" and "data" (compared as UTF-16 strings: the packet
 *    re-escapes them), with [null] meaning no arguments. */
#include "envelope.h"

#include "fuzz_json.h"
#include "sio.h"

#define HOST "0123456789abcdef0123456789abcdef"

static int inside(fio_str s, const fio_buf *b)
{
    return s.n == 0 || (b->data && s.p >= b->data && s.p + s.n <= b->data + b->len);
}

typedef struct list {
    fio_str *v;
    size_t n, cap;
} list;

static int on_item(void *ctx, fio_str item)
{
    list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        FZ_CHECK(l->v != NULL);
    }
    l->v[l->n++] = item;
    return 0;
}

static int decoded_is(fio_str tok, fio_str want)
{
    fio_buf d;
    fio_buf_init(&d);
    FZ_OK(fio_json_string_decode(tok.p, tok.n, &d));
    int eq = fz_eq(d.data, d.len, want.p, want.n);
    fio_buf_free(&d);
    return eq;
}

static void same_value(fio_str a, fio_str b)
{
    fio_buf na, nb;
    fio_buf_init(&na);
    fio_buf_init(&nb);
    FZ_OK(fz_normalize(a.p, a.n, &na));
    FZ_OK(fz_normalize(b.p, b.n, &nb));
    FZ_CHECK(fz_eq(na.data, na.len, nb.data, nb.len));
    fio_buf_free(&na);
    fio_buf_free(&nb);
}

static void check_emit(const char *msg, size_t len, const fio_env_emit *e)
{
    static const char *const keys[] = {"method", "event", "data", "namespace", "room"};
    if (len >= 3 && memcmp(msg, "\xef\xbb\xbf", 3) == 0) {
        msg += 3;
        len -= 3;
    }
    fio_str v[5];
    FZ_OK(fio_json_object_get(msg, len, keys, 5, v));
    FZ_CHECK(v[0].p && decoded_is(v[0], (fio_str){"emit", 4}));

    /* names */
    FZ_CHECK(e->ns.n > 0 && inside(e->ns, &e->names));
    FZ_CHECK(v[3].p && decoded_is(v[3], e->ns));
    FZ_CHECK(e->nrooms <= FIO_ENV_MAX_NAMES && e->nskip <= FIO_ENV_MAX_NAMES);
    for (size_t i = 0; i < e->nrooms; i++)
        FZ_CHECK(e->rooms[i].n > 0 && inside(e->rooms[i], &e->names));
    for (size_t i = 0; i < e->nskip; i++)
        FZ_CHECK(inside(e->skip[i], &e->names));
    if (e->nrooms > 0) {
        FZ_CHECK(v[4].p != NULL);
        list rooms = {0};
        if (v[4].p[0] == '[')
            FZ_OK(fio_json_array_each(v[4].p, v[4].n, on_item, &rooms));
        else
            on_item(&rooms, v[4]);
        FZ_CHECK(rooms.n == e->nrooms);
        for (size_t i = 0; i < e->nrooms; i++)
            FZ_CHECK(decoded_is(rooms.v[i], e->rooms[i]));
        free(rooms.v);
    } else {
        FZ_CHECK(!v[4].p || fz_eq(v[4].p, v[4].n, "null", 4));
    }

    /* the packet */
    const fio_buf *pk = &e->packet;
    FZ_CHECK(pk->len >= 3 && pk->data[0] == '2');
    size_t body = 1;
    if (!fz_eq(e->ns.p, e->ns.n, "/", 1)) {
        FZ_CHECK(pk->len > e->ns.n + 1 && memcmp(pk->data + 1, e->ns.p, e->ns.n) == 0 &&
                 pk->data[1 + e->ns.n] == ',');
        body = e->ns.n + 2;
    }
    const char *arr = pk->data + body;
    size_t arrn = pk->len - body;
    for (size_t i = 0; i < arrn; i++)   /* the namespace is written as is */
        FZ_CHECK(arr[i] >= 0x20 && arr[i] < 0x7f);
    FZ_CHECK(fio_json_kind(arr, arrn) == FIO_JSON_ARRAY);
    fio_buf c;
    fio_buf_init(&c);
    FZ_OK(fio_json_compact(arr, arrn, &c));
    FZ_CHECK(fz_eq(c.data, c.len, arr, arrn));
    fio_buf_free(&c);

    if (e->ns.p[0] == '/' && !memchr(e->ns.p, ',', e->ns.n) && !memchr(e->ns.p, '?', e->ns.n)) {
        sio_packet sp;
        const char *err;
        char *copy = fz_dup(pk->data, pk->len);
        FZ_OK(sio_decode(copy, pk->len, &sp, &err));
        FZ_CHECK(sp.type == SIO_EVENT && sp.id == SIO_NO_ID && sp.attachments == 0);
        FZ_CHECK(fz_eq(sp.nsp, sp.nsplen, e->ns.p, e->ns.n));
        FZ_CHECK(fz_eq(sp.data, sp.datalen, arr, arrn));
        free(copy);
    }

    /* ["event", args...] against the message's event and data */
    list out = {0}, args = {0};
    FZ_OK(fio_json_array_each(arr, arrn, on_item, &out));
    FZ_CHECK(v[1].p && v[2].p && v[2].p[0] == '[');
    FZ_OK(fio_json_array_each(v[2].p, v[2].n, on_item, &args));
    FZ_CHECK(out.n >= 1 && out.v[0].p[0] == '"');
    same_value(out.v[0], v[1]);
    if (args.n == 1 && fz_eq(args.v[0].p, args.v[0].n, "null", 4))
        args.n = 0;
    FZ_CHECK(out.n == args.n + 1);
    for (size_t i = 0; i < args.n; i++)
        same_value(out.v[i + 1], args.v[i]);
    free(out.v);
    free(args.v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *msg = (const char *)data;
    fio_env_emit e;
    fio_env_emit_init(&e);
    int route = fio_env_read(msg, size, HOST, strlen(HOST), &e);
    FZ_CHECK(route == FIO_ENV_IGNORE || route == FIO_ENV_PYTHON || route == FIO_ENV_EMIT);
    if (route == FIO_ENV_EMIT)
        check_emit(msg, size, &e);

    /* the same struct again: same result */
    fio_buf first;
    fio_buf_init(&first);
    fz_buf_set(&first, e.packet.data ? e.packet.data : "", e.packet.len);
    int again = fio_env_read(msg, size, HOST, strlen(HOST), &e);
    FZ_CHECK(again == route);
    if (route == FIO_ENV_EMIT) {
        FZ_CHECK(fz_eq(first.data, first.len, e.packet.data, e.packet.len));
        check_emit(msg, size, &e);
    }
    fio_buf_free(&first);
    fio_env_emit_free(&e);
    return 0;
}
