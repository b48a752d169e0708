/* python-socketio's pub/sub message, read in C. See envelope.h.
 *
 * The reference (python-socketio 5.16.2, AsyncPubSubManager._thread and
 * _handle_emit, then AsyncManager.emit) does, for a message m (bytes):
 *   m = json.loads(m)   with engineio's json: bytes decoded as UTF-8 with
 *                       surrogatepass (UTF-16/32 when NULs or a BOM say so),
 *                       ints longer than 100 characters refused; any failure
 *                       and the message is dropped;
 *   no "method"                              -> dropped
 *   method == "callback"                     -> _handle_callback
 *   host_id == ours                          -> dropped
 *   method == "emit"                         -> emit(m["event"], args,
 *       namespace=m.get("namespace"), room=m.get("room"),
 *       skip_sid=m.get("skip_sid")), args being m["data"] with [x] -> x,
 *       [None] -> no arguments, and the packet
 *       Packet(EVENT, namespace, [event] + args).encode(), i.e. the compact,
 *       ensure_ascii json.dumps of [event] + args.
 * FIO_ENV_EMIT is returned only where that outcome is certain and the hub can
 * do the same; FIO_ENV_IGNORE only where the reference certainly drops the
 * message; everything else is FIO_ENV_PYTHON, which is always correct (the
 * binding hands the message to the reference code).
 *
 * The packet is the message's "event" and "data" texts re-written the way
 * Python's json.dumps(ensure_ascii=True) writes what json.loads read from
 * them: whitespace removed, every string re-escaped (so raw UTF-8 from orjson,
 * "\/" or upper-case hex come out as Python writes them). Number texts are
 * copied, and only when they are in the form Python writes (repr of a float,
 * str of an int); any other number text (orjson's 1e16, 1E5, 1.50, -0, 1e400)
 * sends the message to Python. A number text in that form is trusted to be its
 * double's shortest representation, which holds for Python, orjson and
 * JavaScript writers but not for a C "%.17g" writer. Not handled here (the
 * packet would differ from the reference's): objects in the data with
 * repeated keys, which the reference collapses. */
#include "envelope.h"

#include <stdint.h>
#include <string.h>

#include "jsonscan.h"
#include "sio.h"

/* engineio's json refuses ints written with more characters than this. */
#define PY_MAX_INT_CHARS 100
/* Scientific exponents whose doubles are normal and finite throughout. */
#define PY_MIN_EXP10 (-307)
#define PY_MAX_EXP10 307
/* Python's repr of a float never needs more significant digits. */
#define PY_MAX_DIGITS 17

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_number_char(char c)
{
    return is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

static int str_is(fio_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* Length of the UTF-8 sequence at s[0..n) as Python's UTF-8 decoder with
 * surrogatepass accepts it (encoded surrogates U+D800..U+DFFF included), or
 * 0 if it is invalid; *cp receives the code point. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;   /* range of the second byte */
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        *cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        *cp = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        *cp = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *cp = *cp << 6 | (s[i] & 0x3F);
    }
    return len;
}

/* ------------------------------------------------ what json.loads refuses */

typedef struct prescan {
    int bad_utf8;     /* json.loads fails to decode the bytes */
    int too_deep;     /* nesting beyond FIO_JSON_MAX_DEPTH */
    int long_int;     /* an int engineio's json refuses */
} prescan;

/* One pass over the raw bytes for what jsonscan does not check. On invalid
 * JSON the findings are meaningless (and harmless: the text is refused). */
static void prescan_text(const char *p, size_t n, prescan *r)
{
    size_t depth = 0, i = 0;
    int in_string = 0;
    memset(r, 0, sizeof *r);
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        uint32_t cp;
        if (c >= 0x80) {
            size_t len = utf8_seq((const unsigned char *)p + i, n - i, &cp);
            if (len == 0) {
                r->bad_utf8 = 1;
                return;
            }
            i += len;
        } else if (in_string) {
            in_string = c != '"';
            i += c == '\\' ? 2 : 1;
        } else if (c == '-' || is_digit((char)c)) {
            size_t s = i;
            int is_int = 1;
            while (i < n && is_number_char(p[i])) {
                is_int &= p[i] != '.' && p[i] != 'e' && p[i] != 'E';
                i++;
            }
            if (is_int && i - s > PY_MAX_INT_CHARS)
                r->long_int = 1;
        } else {
            if (c == '[' || c == '{') {
                if (++depth > FIO_JSON_MAX_DEPTH)
                    r->too_deep = 1;
            } else if ((c == ']' || c == '}') && depth > 0) {
                depth--;
            }
            in_string = c == '"';
            i++;
        }
    }
}

/* 1 when json.loads would not read the bytes as UTF-8: detect_encoding picks
 * UTF-16/32 for a NUL among the first two bytes or a UTF-16/32 BOM. */
static int python_decodes_otherwise(const unsigned char *m, size_t len)
{
    if (len >= 4 && (m[0] == 0 || m[1] == 0))
        return 1;
    return len >= 2 && ((m[0] == 0xFE && m[1] == 0xFF) || (m[0] == 0xFF && m[1] == 0xFE));
}

/* ------------------------------------- json.dumps(ensure_ascii=True) text */

/* Writers return PY_OK, PY_NO (a text Python would write differently, or not
 * JSON: the message goes to Python) or PY_OOM. */
enum { PY_OK = 0, PY_NO = 1, PY_OOM = -1 };

static int put(fio_buf *out, const char *p, size_t n)
{
    return fio_buf_append(out, p, n) < 0 ? PY_OOM : PY_OK;
}

/* The float text t (sign removed) is what repr() writes for its value. With
 * D the significant digits and e the decimal exponent of the first one,
 * repr writes "0.00D", "DD.D" or "D00.0" for -4 <= e < 16, else
 * "D[.DDD]e+XX" / "D[.DDD]e-XX"; zero is "0.0". */
static int py_float_form(const char *t, size_t n)
{
    char d[PY_MAX_DIGITS], want[64];
    size_t nd = 0, zeros = 0, pos = 0, i = 0, w = 0;
    long point = -1, first = -1, exp = 0;
    for (; i < n && (is_digit(t[i]) || t[i] == '.'); i++) {
        if (t[i] == '.') {
            point = (long)pos;
            continue;
        }
        pos++;
        if (t[i] == '0') {
            zeros += first >= 0;   /* kept only if a non-zero digit follows */
            continue;
        }
        if (first < 0)
            first = (long)pos - 1;
        if (nd + zeros >= PY_MAX_DIGITS)
            return 0;
        for (; zeros; zeros--)
            d[nd++] = '0';
        d[nd++] = t[i];
    }
    if (point < 0)
        point = (long)pos;
    if (i < n) {   /* exponent: 'e' or 'E', sign, digits */
        int neg = ++i < n && t[i] == '-';
        i += i < n && (t[i] == '-' || t[i] == '+');
        if (n - i > 5)
            return 0;
        for (; i < n; i++)
            exp = exp * 10 + (t[i] - '0');
        exp = neg ? -exp : exp;
    }
    if (first < 0)
        return n == 3 && memcmp(t, "0.0", 3) == 0;
    long e = point - first - 1 + exp;
    if (e < PY_MIN_EXP10 || e > PY_MAX_EXP10)
        return 0;
    if (e >= -4 && e < 16) {
        if (e < 0) {
            want[w++] = '0';
            want[w++] = '.';
            for (long z = -e - 1; z > 0; z--)
                want[w++] = '0';
            memcpy(want + w, d, nd);
            w += nd;
        } else if ((long)nd > e + 1) {
            memcpy(want, d, (size_t)e + 1);
            want[e + 1] = '.';
            memcpy(want + e + 2, d + e + 1, nd - (size_t)e - 1);
            w = nd + 1;
        } else {
            memcpy(want, d, nd);
            w = nd;
            for (long z = e + 1 - (long)nd; z > 0; z--)
                want[w++] = '0';
            want[w++] = '.';
            want[w++] = '0';
        }
    } else {
        want[w++] = d[0];
        if (nd > 1) {
            want[w++] = '.';
            memcpy(want + w, d + 1, nd - 1);
            w += nd - 1;
        }
        long a = e < 0 ? -e : e;
        want[w++] = 'e';
        want[w++] = e < 0 ? '-' : '+';
        if (a >= 100)
            want[w++] = (char)('0' + a / 100);
        want[w++] = (char)('0' + a / 10 % 10);
        want[w++] = (char)('0' + a % 10);
    }
    return w == n && memcmp(want, t, n) == 0;
}

/* The number text t is what json.dumps writes for the value json.loads reads
 * from it (ints longer than PY_MAX_INT_CHARS are refused by prescan_text). */
static int py_number_form(const char *t, size_t n)
{
    if ((n == 3 && memcmp(t, "NaN", 3) == 0) || (n == 8 && memcmp(t, "Infinity", 8) == 0))
        return 1;
    if (!memchr(t, '.', n) && !memchr(t, 'e', n) && !memchr(t, 'E', n))
        return !(n == 2 && t[0] == '-' && t[1] == '0');
    if (t[0] == '-') {
        t++;
        n--;
    }
    return py_float_form(t, n);
}

/* One UTF-16 code unit (or ASCII character) as ensure_ascii writes it. */
static int put_unit(fio_buf *out, uint32_t u)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[6] = {'\\', 0, 0, 0, 0, 0};
    size_t n = 2;
    switch (u) {
    case '"': tmp[1] = '"'; break;
    case '\\': tmp[1] = '\\'; break;
    case '\b': tmp[1] = 'b'; break;
    case '\f': tmp[1] = 'f'; break;
    case '\n': tmp[1] = 'n'; break;
    case '\r': tmp[1] = 'r'; break;
    case '\t': tmp[1] = 't'; break;
    default:
        if (u >= 0x20 && u < 0x7F) {
            tmp[0] = (char)u;
            n = 1;
            break;
        }
        tmp[1] = 'u';
        for (int k = 0; k < 4; k++)
            tmp[2 + k] = hex[u >> (12 - 4 * k) & 0xF];
        n = 6;
    }
    return put(out, tmp, n);
}

static int put_code_point(fio_buf *out, uint32_t cp)
{
    if (cp < 0x10000)
        return put_unit(out, cp);
    cp -= 0x10000;
    int rc = put_unit(out, 0xD800 | cp >> 10);
    return rc ? rc : put_unit(out, 0xDC00 | (cp & 0x3FF));
}

/* The character of the escape at p[*k] == '\\' as a code unit (a surrogate
 * escape stays one unit: Python writes a pair back as the same two escapes);
 * moves *k past it. -1 if the escape is not JSON. */
static long escape_unit(const char *p, size_t n, size_t *k)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    size_t i = *k;
    if (n - i < 2)
        return -1;
    if (p[i + 1] != 'u') {
        const char *at = p[i + 1] ? strchr(from, p[i + 1]) : NULL;
        *k = i + 2;
        return at ? (unsigned char)to[at - from] : -1;
    }
    if (n - i < 6)
        return -1;
    long u = 0;
    for (size_t h = 2; h < 6; h++) {
        int v = fio_json_hex_value(p[i + h]);
        if (v < 0)
            return -1;
        u = u << 4 | v;
    }
    *k = i + 6;
    return u;
}

static int is_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
}

/* Writes the string token at p[*i] == '"' as ensure_ascii writes its value;
 * moves *i past it. */
static int py_string(fio_buf *out, const char *p, size_t n, size_t *i)
{
    size_t k = *i + 1;
    if (put(out, "\"", 1))
        return PY_OOM;
    while (k < n) {
        size_t run = k;
        while (run < n && is_plain((unsigned char)p[run]))
            run++;
        if (run > k && put(out, p + k, run - k))
            return PY_OOM;
        if ((k = run) >= n)
            break;
        unsigned char c = (unsigned char)p[k];
        uint32_t cp;
        int rc;
        if (c == '"') {
            *i = k + 1;
            return put(out, "\"", 1);
        } else if (c == '\\') {
            long u = escape_unit(p, n, &k);
            if (u < 0)
                return PY_NO;
            rc = put_unit(out, (uint32_t)u);
        } else if (c >= 0x80) {
            size_t len = utf8_seq((const unsigned char *)p + k, n - k, &cp);
            if (len == 0)
                return PY_NO;
            k += len;
            rc = put_code_point(out, cp);
        } else if (c == 0x7F) {
            k++;
            rc = put_unit(out, c);
        } else {
            return PY_NO;   /* a control character: not JSON */
        }
        if (rc)
            return rc;
    }
    return PY_NO;   /* unterminated */
}

/* Appends the JSON text p[0..n) (one value, or values separated by commas)
 * as Python's json.dumps(separators=(",", ":")) writes what it holds. */
static int py_json(fio_buf *out, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        char c = p[i];
        size_t s = i;
        if (is_ws(c)) {
            i++;
            continue;
        }
        if (c == '"') {
            int rc = py_string(out, p, n, &i);
            if (rc)
                return rc;
            continue;
        }
        if (c == '-' || is_digit(c)) {
            while (i < n && is_number_char(p[i]))
                i++;
            /* A lone '-' starts -Infinity, whose letters follow as a run. */
            if (!(i - s == 1 && c == '-') && !py_number_form(p + s, i - s))
                return PY_NO;
        } else {
            while (i < n && !is_ws(p[i]) && p[i] != '"' && p[i] != '-' && !is_digit(p[i]))
                i++;
        }
        if (put(out, p + s, i - s))
            return PY_OOM;
    }
    return PY_OK;
}

/* ------------------------------------------------------------ the names */

/* Compares the decoded value of the string token tok with s[0..n), using the
 * end of e->names as scratch. 1 equal, 0 not (or tok is not a string), -2 oom. */
static int string_is(fio_env_emit *e, fio_str tok, const char *s, size_t n)
{
    if (tok.n < 2 || tok.p[0] != '"')
        return 0;
    if (!memchr(tok.p, '\\', tok.n))
        return tok.n - 2 == n && memcmp(tok.p + 1, s, n) == 0;
    size_t mark = e->names.len;
    int rc = fio_json_string_decode(tok.p, tok.n, &e->names);
    if (rc < 0)
        return rc == -2 ? -2 : 0;
    int eq = e->names.len - mark == n && memcmp(e->names.data + mark, s, n) == 0;
    e->names.len = mark;
    e->names.data[mark] = '\0';
    return eq;
}

/* Decodes the string token tok onto e->names; slot->n gets its length
 * (slot->p is set by fix_names once names stops growing). */
static int add_name(fio_env_emit *e, fio_str tok, fio_str *slot)
{
    if (tok.p[0] != '"')
        return PY_NO;
    size_t mark = e->names.len;
    int rc = fio_json_string_decode(tok.p, tok.n, &e->names);
    if (rc < 0)
        return rc == -2 ? PY_OOM : PY_NO;
    *slot = (fio_str){NULL, e->names.len - mark};
    return PY_OK;
}

typedef struct name_list {
    fio_env_emit *e;
    fio_str *slots;
    size_t count;
    int allow_empty;   /* empty names allowed */
} name_list;

static int add_list_name(name_list *l, fio_str tok)
{
    if (l->count == FIO_ENV_MAX_NAMES)
        return PY_NO;
    int rc = add_name(l->e, tok, &l->slots[l->count]);
    if (rc)
        return rc;
    if (!l->allow_empty && l->slots[l->count].n == 0)
        return PY_NO;
    l->count++;
    return PY_OK;
}

static int list_item(void *ctx, fio_str item)
{
    int rc = add_list_name(ctx, item);
    return rc == PY_OOM ? 2 : rc;   /* fio_json_array_each's own -1 is taken */
}

/* A room or skip_sid value: absent or null (none), a string, or a list of
 * strings (at least one unless allow_empty). *count receives the number. */
static int read_names(fio_env_emit *e, fio_str v, fio_str *slots, size_t *count,
                      int allow_empty)
{
    name_list l = {e, slots, 0, allow_empty};
    *count = 0;
    if (v.p == NULL || str_is(v, "null"))
        return PY_OK;
    if (v.p[0] == '"') {
        int rc = add_list_name(&l, v);
        *count = l.count;
        return rc;
    }
    if (v.p[0] != '[')
        return PY_NO;
    int rc = fio_json_array_each(v.p, v.n, list_item, &l);
    if (rc != 0)
        return rc == 2 ? PY_OOM : PY_NO;
    if (l.count == 0 && !allow_empty)
        return PY_NO;   /* the reference fails on room[0] */
    *count = l.count;
    return PY_OK;
}

/* Points the name slots into e->names, in the order they were appended. */
static void fix_names(fio_env_emit *e)
{
    const char *p = e->names.data;
    e->ns.p = p;
    p += e->ns.n;
    for (size_t i = 0; i < e->nrooms; i++) {
        e->rooms[i].p = p;
        p += e->rooms[i].n;
    }
    for (size_t i = 0; i < e->nskip; i++) {
        e->skip[i].p = p;
        p += e->skip[i].n;
    }
}

/* ------------------------------------------------------------ the packet */

typedef struct data_span {
    size_t count;
    fio_str first, last;
} data_span;

static int data_item(void *ctx, fio_str item)
{
    data_span *d = ctx;
    if (d->count++ == 0)
        d->first = item;
    d->last = item;
    return 0;
}

/* `2[/ns,]["event",args...]` into e->packet; e->ns is set. */
static int build_packet(fio_env_emit *e, fio_str event, fio_str data)
{
    data_span d = {0, {NULL, 0}, {NULL, 0}};
    if (fio_json_array_each(data.p, data.n, data_item, &d) != 0)
        return PY_NO;
    /* [x] is the one argument x, and [null] none (an emit of None). */
    int has_args = d.count > 0 && !(d.count == 1 && str_is(d.first, "null"));
    int rc = sio_encode_header(&e->packet, SIO_EVENT, 0, e->ns.p, e->ns.n, SIO_NO_ID);
    if (rc < 0)
        return rc == -1 ? PY_OOM : PY_NO;
    if (put(&e->packet, "[", 1) || (rc = py_json(&e->packet, event.p, event.n)) != 0)
        return rc ? rc : PY_OOM;
    if (has_args) {
        size_t n = (size_t)(d.last.p + d.last.n - d.first.p);
        if (put(&e->packet, ",", 1) || (rc = py_json(&e->packet, d.first.p, n)) != 0)
            return rc ? rc : PY_OOM;
    }
    return put(&e->packet, "]", 1);
}

/* ------------------------------------------------------------ the message */

enum { K_METHOD, K_HOST, K_EVENT, K_DATA, K_BINARY, K_NS, K_ROOM, K_SKIP, K_CALLBACK, NKEYS };
static const char *const KEYS[NKEYS] = {"method", "host_id", "event", "data", "binary",
                                        "namespace", "room", "skip_sid", "callback"};

static int route_of(int rc)
{
    return rc == PY_OOM ? -2 : FIO_ENV_PYTHON;
}

/* The route by method and host: FIO_ENV_EMIT for an "emit" to read on. */
static int route_method(fio_env_emit *e, const fio_str *v, const char *host, size_t host_len)
{
    int is = string_is(e, v[K_METHOD], "callback", 8);
    if (is != 0)
        return is < 0 ? -2 : FIO_ENV_PYTHON;
    if (v[K_HOST].p && (is = string_is(e, v[K_HOST], host, host_len)) != 0)
        return is < 0 ? -2 : FIO_ENV_IGNORE;
    is = string_is(e, v[K_METHOD], "emit", 4);
    if (is != 1)
        return is < 0 ? -2 : FIO_ENV_PYTHON;
    return FIO_ENV_EMIT;
}

/* An emit from another host: FIO_ENV_EMIT with *e filled, FIO_ENV_PYTHON or -2. */
static int read_emit(fio_env_emit *e, const fio_str *v)
{
    fio_str cb = v[K_CALLBACK], bin = v[K_BINARY], ev = v[K_EVENT], data = v[K_DATA];
    if (cb.p && !str_is(cb, "null"))
        return FIO_ENV_PYTHON;
    if (bin.p && !str_is(bin, "false") && !str_is(bin, "null"))
        return FIO_ENV_PYTHON;
    if (!ev.p || ev.p[0] != '"' || !data.p || data.p[0] != '[' || !v[K_NS].p)
        return FIO_ENV_PYTHON;
    /* A null or absent namespace matches no namespace in the reference. */
    int rc = add_name(e, v[K_NS], &e->ns);
    if (rc || e->ns.n == 0)
        return route_of(rc);
    if ((rc = read_names(e, v[K_ROOM], e->rooms, &e->nrooms, 0)) != 0 ||
        (rc = read_names(e, v[K_SKIP], e->skip, &e->nskip, 1)) != 0)
        return route_of(rc);
    fix_names(e);
    if ((rc = build_packet(e, ev, data)) != 0)
        return route_of(rc);
    return FIO_ENV_EMIT;
}

void fio_env_emit_init(fio_env_emit *e)
{
    memset(e, 0, sizeof *e);
    fio_buf_init(&e->packet);
    fio_buf_init(&e->names);
}

void fio_env_emit_free(fio_env_emit *e)
{
    fio_buf_free(&e->packet);
    fio_buf_free(&e->names);
    fio_env_emit_init(e);
}

/* Empties *e, keeping its buffers; names gets storage so that every name,
 * even an empty one, points somewhere. */
static int env_reset(fio_env_emit *e)
{
    e->ns = (fio_str){NULL, 0};
    e->nrooms = e->nskip = 0;
    e->packet.len = e->names.len = 0;
    if (e->packet.data)
        e->packet.data[0] = '\0';
    if (fio_buf_reserve(&e->names, 1) < 0)
        return -1;
    e->names.data[0] = '\0';
    return 0;
}

int fio_env_read(const char *msg, size_t len, const char *host_id, size_t host_len,
                 fio_env_emit *e)
{
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    if (env_reset(e) < 0)
        return -2;
    if (python_decodes_otherwise((const unsigned char *)msg, len))
        return FIO_ENV_PYTHON;
    if (len >= 3 && memcmp(msg, bom, 3) == 0) {   /* json.loads strips it */
        msg += 3;
        len -= 3;
    }
    prescan ps;
    prescan_text(msg, len, &ps);
    if (ps.bad_utf8)
        return FIO_ENV_IGNORE;
    fio_str v[NKEYS];
    if (fio_json_object_get(msg, len, KEYS, NKEYS, v) < 0)
        return ps.too_deep ? FIO_ENV_PYTHON : FIO_ENV_IGNORE;
    if (ps.long_int)
        return FIO_ENV_PYTHON;
    if (v[K_METHOD].p == NULL)
        return FIO_ENV_IGNORE;
    int route = route_method(e, v, host_id, host_len);
    return route == FIO_ENV_EMIT ? read_emit(e, v) : route;
}
