/* Delta merging of streamed chat events. See merge.h for the contract.
 *
 * An event is classified from the raw spans fio_json_object_get gives (the
 * text is validated once per level: whole, E, D). Offsets into the text:
 *   [es, ee)  E, the top-level "data" value
 *   [ds, de)  D, E's "data" value
 *   [bs, be)  the body of the delta string token (inside the quotes)
 * The merge key is a list of parts (raw spans of the text) stored as
 * '+' len bytes, or '-' for an absent part, and compared in place.
 *
 * Buffers: pend holds the pending text, spare and spare_key are where a new
 * pending text and key are built before they replace pend and key (so a
 * failed allocation leaves the state as it was), out[0..1] hold pending
 * texts that were emitted (a flush swaps pend with an out slot: no copy). */
#include "merge.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonscan.h"

enum { EV_NONE = 0, EV_OTHER, EV_RDELTA, EV_MDELTA, EV_SNAP, EV_REPLACE };

#define N_FIELDS 5          /* response delta key fields */
#define N_ENV_PARTS 2       /* the envelope: text before and after E */
#define MAX_PARTS (5 + N_FIELDS)

typedef struct ev {
    int kind;
    int level;              /* EV_SNAP: 2 output, 1 content */
    int nl_guard;           /* EV_RDELTA of type response.output_text.delta */
    size_t es, ee, ds, de, bs, be;
    fio_str f[N_FIELDS];    /* EV_RDELTA: type, item_id, output/content/summary_index */
} ev;

struct fio_merge {
    size_t max_bytes;
    int kind;               /* EV_NONE or the pending event's kind */
    int level, nl_guard;
    size_t bs, be;          /* deltas: body span in pend */
    int64_t since;
    fio_buf pend, key;
    fio_buf spare, spare_key;
    fio_buf out[2];
};

/* ------------------------------------------------------- classification */

/* 1 if v is the string token "lit" written without escapes. */
static int tok_is(fio_str v, const char *lit)
{
    size_t len = strlen(lit);
    return v.p && v.n == len + 2 && v.p[0] == '"' && memcmp(v.p + 1, lit, len) == 0;
}

/* 1 if v is a string token without escapes whose text starts with prefix
 * and ends with suffix (they may overlap, as in Python and JS). */
static int tok_affix(fio_str v, const char *prefix, const char *suffix)
{
    if (!v.p || v.n < 2 || v.p[0] != '"')
        return 0;
    const char *body = v.p + 1;
    size_t n = v.n - 2, pl = strlen(prefix), sl = strlen(suffix);
    return !memchr(body, '\\', n) && n >= pl && n >= sl && memcmp(body, prefix, pl) == 0 &&
           memcmp(body + n - sl, suffix, sl) == 0;
}

static int is_string(fio_str v)
{
    return v.p && v.p[0] == '"';
}

static int is_container(fio_str v)
{
    return v.p && (v.p[0] == '{' || v.p[0] == '[');
}

/* Absent, null or false: a member the client's `if (x)` ignores. */
static int inactive(fio_str v)
{
    return !v.p || (v.n == 4 && memcmp(v.p, "null", 4) == 0) ||
           (v.n == 5 && memcmp(v.p, "false", 5) == 0);
}

static size_t off(const char *base, fio_str v)
{
    return (size_t)(v.p - base);
}

/* Sets e->kind (and the spans it needs) for the text p[0..n). */
static void classify(const char *p, size_t n, ev *e)
{
    static const char *const top_keys[] = {"data"};
    static const char *const e_keys[] = {"type", "data"};
    static const char *const r_keys[] = {"type", "item_id", "output_index", "content_index",
                                         "summary_index", "delta"};
    static const char *const m_keys[] = {"content"};
    static const char *const s_keys[] = {"content", "output", "done", "error", "usage",
                                         "sources", "selected_model_id", "choices"};
    fio_str v[8];
    memset(e, 0, sizeof *e);
    e->kind = EV_OTHER;
    if (fio_json_object_get(p, n, top_keys, 1, v) < 0 || !v[0].p || v[0].p[0] != '{')
        return;
    fio_str E = v[0];
    fio_json_object_get(E.p, E.n, e_keys, 2, v);   /* E is valid: cannot fail */
    fio_str T = v[0], D = v[1];
    if (!D.p || D.p[0] != '{')
        return;
    e->es = off(p, E);
    e->ee = e->es + E.n;
    e->ds = off(p, D);
    e->de = e->ds + D.n;
    if (tok_is(T, "response:completion")) {
        fio_json_object_get(D.p, D.n, r_keys, 6, v);
        if (!tok_affix(v[0], "response.", ".delta") || !is_string(v[5]))
            return;
        e->kind = EV_RDELTA;
        e->nl_guard = tok_is(v[0], "response.output_text.delta");
        memcpy(e->f, v, sizeof e->f);
        e->bs = off(p, v[5]) + 1;
        e->be = off(p, v[5]) + v[5].n - 1;
    } else if (tok_is(T, "message") || tok_is(T, "chat:message:delta")) {
        fio_json_object_get(D.p, D.n, m_keys, 1, v);
        if (!is_string(v[0]))
            return;
        e->kind = EV_MDELTA;
        e->bs = off(p, v[0]) + 1;
        e->be = off(p, v[0]) + v[0].n - 1;
    } else if (tok_is(T, "chat:completion")) {
        fio_json_object_get(D.p, D.n, s_keys, 8, v);
        for (size_t i = 2; i < 8; i++)
            if (!inactive(v[i]))
                return;
        if (is_container(v[1]))
            e->level = 2;
        else if (inactive(v[1]) && is_string(v[0]) && v[0].n > 2)
            e->level = 1;
        else
            return;
        e->kind = EV_SNAP;
    } else if (tok_is(T, "replace") || tok_is(T, "chat:message")) {
        e->kind = EV_REPLACE;
    }
}

enum fio_merge_kind fio_merge_classify(fio_str text)
{
    ev e;
    classify(text.p, text.n, &e);
    switch (e.kind) {
    case EV_RDELTA:
    case EV_MDELTA:
        return FIO_MERGE_DELTA;
    case EV_SNAP:
        return FIO_MERGE_SNAPSHOT;
    case EV_REPLACE:
        return FIO_MERGE_REPLACE;
    default:
        return FIO_MERGE_OTHER;
    }
}

/* ------------------------------------------------------------------ keys */

/* The key parts of a classified event (envelope first); returns the count. */
static size_t ev_parts(const char *p, size_t n, const ev *e, fio_str *parts)
{
    static const char tags[] = "NORMSP";   /* indexed by kind */
    parts[0] = (fio_str){p, e->es};
    parts[1] = (fio_str){p + e->ee, n - e->ee};
    parts[2] = (fio_str){p + e->es, e->ds - e->es};
    parts[3] = (fio_str){p + e->de, e->ee - e->de};
    parts[4] = (fio_str){tags + e->kind, 1};
    if (e->kind != EV_RDELTA)
        return 5;
    memcpy(parts + 5, e->f, sizeof e->f);
    return 5 + N_FIELDS;
}

static int key_build(fio_buf *key, const fio_str *parts, size_t nparts)
{
    for (size_t i = 0; i < nparts; i++) {
        if (!parts[i].p) {
            if (fio_buf_putc(key, '-') < 0)
                return -1;
            continue;
        }
        if (fio_buf_putc(key, '+') < 0 ||
            fio_buf_append(key, &parts[i].n, sizeof parts[i].n) < 0 ||
            fio_buf_append(key, parts[i].p, parts[i].n) < 0)
            return -1;
    }
    return 0;
}

/* 1 if the first nparts parts of key are parts[0..nparts). */
static int key_match(const fio_buf *key, const fio_str *parts, size_t nparts)
{
    size_t pos = 0;
    for (size_t i = 0; i < nparts; i++) {
        if (pos >= key->len)
            return 0;
        char tag = key->data[pos++];
        if (!parts[i].p) {
            if (tag != '-')
                return 0;
            continue;
        }
        size_t len;
        if (tag != '+' || key->len - pos < sizeof len)
            return 0;
        memcpy(&len, key->data + pos, sizeof len);
        pos += sizeof len;
        if (len != parts[i].n || key->len - pos < len || memcmp(key->data + pos, parts[i].p, len) != 0)
            return 0;
        pos += len;
    }
    return 1;
}

/* ---------------------------------------------------------------- merger */

fio_merge *fio_merge_new(size_t max_bytes)
{
    fio_merge *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->max_bytes = max_bytes;
    m->kind = EV_NONE;
    fio_buf_init(&m->pend);
    fio_buf_init(&m->key);
    fio_buf_init(&m->spare);
    fio_buf_init(&m->spare_key);
    fio_buf_init(&m->out[0]);
    fio_buf_init(&m->out[1]);
    return m;
}

void fio_merge_free(fio_merge *m)
{
    if (!m)
        return;
    fio_buf_free(&m->pend);
    fio_buf_free(&m->key);
    fio_buf_free(&m->spare);
    fio_buf_free(&m->spare_key);
    fio_buf_free(&m->out[0]);
    fio_buf_free(&m->out[1]);
    free(m);
}

static void buf_swap(fio_buf *a, fio_buf *b)
{
    fio_buf t = *a;
    *a = *b;
    *b = t;
}

static void emit_text(fio_merge_out *out, const char *p, size_t n)
{
    out->text[out->n++] = (fio_str){p, n};
}

/* Emits the pending text, if any, by moving it to the next out slot. A push
 * emits it at most once, so the slot is free. */
static void emit_pending(fio_merge *m, fio_merge_out *out)
{
    if (m->kind == EV_NONE)
        return;
    fio_buf *slot = &m->out[out->n];
    buf_swap(slot, &m->pend);
    m->pend.len = 0;
    m->kind = EV_NONE;
    emit_text(out, slot->data, slot->len);
}

static void drop_pending(fio_merge *m)
{
    m->pend.len = 0;
    m->kind = EV_NONE;
}

/* Nothing pending: the event becomes pending, or goes out as is when it is
 * over the bound or cannot be copied. */
static void become_pending(fio_merge *m, const char *p, size_t n, const ev *e,
                           const fio_str *parts, size_t nparts, int64_t now, fio_merge_out *out)
{
    if (n > m->max_bytes) {
        emit_text(out, p, n);
        return;
    }
    m->spare.len = 0;
    m->spare_key.len = 0;
    if (fio_buf_append(&m->spare, p, n) < 0 || key_build(&m->spare_key, parts, nparts) < 0) {
        emit_text(out, p, n);
        return;
    }
    buf_swap(&m->spare, &m->pend);
    buf_swap(&m->spare_key, &m->key);
    m->kind = e->kind;
    m->level = e->level;
    m->nl_guard = e->nl_guard;
    m->bs = e->bs;
    m->be = e->be;
    m->since = now;
}

/* The pending delta's text is exactly "\n". */
static int pending_is_newline(const fio_merge *m)
{
    const char *b = m->pend.data + m->bs;
    size_t n = m->be - m->bs;
    return (n == 2 && memcmp(b, "\\n", 2) == 0) ||
           (n == 6 && memcmp(b, "\\u000", 5) == 0 && (b[5] == 'a' || b[5] == 'A'));
}

/* pend := text[0..bs) + pending body + text[bs..n): the new event's text
 * with the concatenated body. 0, or -1 on oom with pend unchanged. */
static int merge_delta(fio_merge *m, const char *p, size_t n, const ev *e)
{
    size_t old_body = m->be - m->bs, new_len = n + old_body;
    if (fio_buf_reserve(&m->pend, new_len > m->pend.len ? new_len - m->pend.len : 0) < 0)
        return -1;
    char *d = m->pend.data;
    memmove(d + e->bs, d + m->bs, old_body);
    memcpy(d, p, e->bs);
    memcpy(d + e->bs + old_body, p + e->bs, n - e->bs);
    m->pend.len = new_len;
    d[new_len] = '\0';
    m->bs = e->bs;
    m->be = e->be + old_body;
    return 0;
}

/* A covering snapshot replaces the pending one (same key, since kept).
 * 0, or -1 on oom with the state unchanged. */
static int replace_snapshot(fio_merge *m, const char *p, size_t n, const ev *e)
{
    m->spare.len = 0;
    if (fio_buf_append(&m->spare, p, n) < 0)
        return -1;
    buf_swap(&m->spare, &m->pend);
    m->level = e->level;
    return 0;
}

size_t fio_merge_push(fio_merge *m, fio_str text, int64_t now, fio_merge_out *out)
{
    const char *p = text.p;
    size_t n = text.n;
    ev e;
    fio_str parts[MAX_PARTS];
    out->n = 0;
    classify(p, n, &e);
    if (e.kind == EV_OTHER) {
        emit_pending(m, out);
        emit_text(out, p, n);
        return out->n;
    }
    size_t nparts = ev_parts(p, n, &e, parts);
    int same = m->kind == e.kind && key_match(&m->key, parts, nparts);

    switch (e.kind) {
    case EV_RDELTA:
    case EV_MDELTA:
        if (same && !(m->nl_guard && pending_is_newline(m))) {
            if (merge_delta(m, p, n, &e) < 0) {
                emit_pending(m, out);
                emit_text(out, p, n);
            } else if (m->pend.len > m->max_bytes) {
                emit_pending(m, out);
            }
            return out->n;
        }
        break;
    case EV_SNAP:
        if (same && e.level >= m->level) {
            if (n > m->max_bytes) {
                drop_pending(m);
                emit_text(out, p, n);
            } else if (replace_snapshot(m, p, n, &e) < 0) {
                emit_pending(m, out);
                emit_text(out, p, n);
            }
            return out->n;
        }
        break;
    default:   /* EV_REPLACE */
        if ((m->kind == EV_MDELTA || (m->kind == EV_SNAP && m->level == 1)) &&
            key_match(&m->key, parts, N_ENV_PARTS))
            drop_pending(m);
        else
            emit_pending(m, out);
        emit_text(out, p, n);
        return out->n;
    }
    emit_pending(m, out);
    become_pending(m, p, n, &e, parts, nparts, now, out);
    return out->n;
}

size_t fio_merge_flush(fio_merge *m, fio_merge_out *out)
{
    out->n = 0;
    emit_pending(m, out);
    return out->n;
}

int fio_merge_pending(const fio_merge *m, int64_t *since)
{
    if (m->kind == EV_NONE)
        return 0;
    if (since)
        *since = m->since;
    return 1;
}

size_t fio_merge_pending_bytes(const fio_merge *m)
{
    return m->kind == EV_NONE ? 0 : m->pend.len;
}
