/* libFuzzer target: Engine.IO packets (csrc/core/eio.c, frame.c).
 *
 * The input is one packet (a websocket text frame or one element of a
 * polling payload):
 *  - eio_decode_text accepts exactly the texts starting with '0'..'6'; the
 *    data view is the rest of the input; the frame fio_frame_text builds
 *    from (type, data) is the input again (round trip);
 *  - eio_decode_b64 accepts a "b..." element only, and exactly when
 *    fio_b64_decode accepts the rest; the frame it makes, joined into a
 *    polling body (eio_payload_join), decodes to the same bytes;
 *  - eio_open_packet with a sid and numbers taken from the input writes one
 *    JSON object (checked with jsonscan) holding them. */
#include "eio.h"

#include "base64.h"
#include "frame.h"
#include "fuzz_util.h"
#include "jsonscan.h"

static void check_text(const char *s, size_t n)
{
    int type = -1;
    const char *d = NULL;
    size_t dn = 0;
    int rc = eio_decode_text(s, n, &type, &d, &dn);
    int want = n > 0 && s[0] >= '0' && s[0] <= '6';
    FZ_CHECK(rc == (want ? 0 : -1));
    if (rc != 0)
        return;
    FZ_CHECK(type == s[0] - '0' && d == s + 1 && dn == n - 1);
    fio_frame *f = fio_frame_text(type, d, dn);
    FZ_CHECK(f != NULL);
    FZ_CHECK(!f->binary && fz_eq(f->data, f->len, s, n) && f->data[f->len] == '\0');
    fio_frame_unref(f);
}

static void check_b64(const char *s, size_t n)
{
    fio_buf out, body, again;
    fio_buf_init(&out);
    fio_buf_init(&body);
    fio_buf_init(&again);
    int rc = eio_decode_b64(s, n, &out);
    FZ_CHECK(rc == 0 || rc == -1);
    FZ_CHECK(eio_is_b64(s, n) == (n > 0 && s[0] == 'b'));
    if (!eio_is_b64(s, n)) {
        FZ_CHECK(rc == -1 && out.len == 0);
    } else {
        FZ_CHECK(rc == fio_b64_decode(s + 1, n - 1, &again));
        if (rc == 0) {
            FZ_CHECK(fz_eq(out.data, out.len, again.data, again.len));
            fio_frame *f = fio_frame_new(out.data, out.len, 1);
            FZ_CHECK(f != NULL);
            fio_frame *frames[1] = {f};
            FZ_OK(eio_payload_join(frames, 1, &body));
            FZ_CHECK(body.len == n && body.data[0] == 'b');
            again.len = 0;
            char *copy = fz_dup(body.data, body.len);
            FZ_OK(eio_decode_b64(copy, body.len, &again));
            free(copy);
            FZ_CHECK(fz_eq(again.data, again.len, out.data, out.len));
            fio_frame_unref(f);
        }
    }
    fio_buf_free(&out);
    fio_buf_free(&body);
    fio_buf_free(&again);
}

static long long take_ll(const uint8_t *d, size_t n, size_t at)
{
    unsigned long long v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (at + i < n ? d[at + i] : 0);
    return (long long)v;
}

static void check_open(const uint8_t *d, size_t n)
{
    static const char urlsafe[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char sid[32];
    size_t sidlen = n < sizeof sid ? n : sizeof sid;
    for (size_t i = 0; i < sidlen; i++)
        sid[i] = urlsafe[d[i] & 63];
    long long t = take_ll(d, n, 0), iv = take_ll(d, n, 8), mp = take_ll(d, n, 16);
    int up = n > 0 && (d[n - 1] & 1);
    fio_buf out;
    fio_buf_init(&out);
    FZ_OK(eio_open_packet(&out, sid, sidlen, up, t, iv, mp));
    FZ_CHECK(out.len > 2 && out.data[0] == '0');
    static const char *const keys[] = {"sid", "upgrades", "pingTimeout", "pingInterval",
                                       "maxPayload"};
    fio_str v[5];
    FZ_OK(fio_json_object_get(out.data + 1, out.len - 1, keys, 5, v));
    FZ_CHECK(v[0].n == sidlen + 2 && memcmp(v[0].p + 1, sid, sidlen) == 0);
    FZ_CHECK(up ? fz_eq(v[1].p, v[1].n, "[\"websocket\"]", 13) : fz_eq(v[1].p, v[1].n, "[]", 2));
    long long nums[3] = {t, iv, mp};
    for (int k = 0; k < 3; k++) {
        char tmp[32];
        int len = snprintf(tmp, sizeof tmp, "%lld", nums[k]);
        FZ_CHECK(fz_eq(v[2 + k].p, v[2 + k].n, tmp, (size_t)len));
    }
    fio_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_text(s, size);
    check_b64(s, size);
    check_open(data, size);
    return 0;
}
