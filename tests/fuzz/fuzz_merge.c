/* libFuzzer target: the delta merger (csrc/merge/merge.c).
 *
 * The input is a stream, one event text per line ('\n'-separated; a line
 * "F" is a flush instead). A first line of 1 to 6 digits sets max_bytes
 * (otherwise 256 and that line is an event). Each text is pushed from an
 * exact-size heap copy at time = its line number. Checked after every call:
 *  - push emits at most 2 texts, flush at most 1 and leaves nothing pending;
 *  - an output that is the pushed text itself (same pointer) has its length
 *    and comes last; an "other" or "replace" event is always emitted itself;
 *  - any other output is the merger's own: a valid JSON object that
 *    classifies as a delta or a snapshot, at most max_bytes + the pushed
 *    length long;
 *  - nothing grows: bytes emitted so far + bytes pending <= bytes pushed;
 *  - pending bytes <= max_bytes, fio_merge_pending agrees with them, and
 *    its timestamp is that of a push not later than now;
 *  - the end of the stream flushes; the merger is freed (LeakSanitizer). */
#include "merge.h"

#include "fuzz_util.h"
#include "jsonscan.h"

typedef struct totals {
    size_t max_bytes;
    uint64_t pushed, emitted;
} totals;

static void check_state(const fio_merge *m, const totals *t, int64_t now)
{
    size_t pend = fio_merge_pending_bytes(m);
    int64_t since = -1;
    int is = fio_merge_pending(m, &since);
    FZ_CHECK(pend <= t->max_bytes);
    FZ_CHECK(is == (pend > 0));
    if (is)
        FZ_CHECK(since >= 0 && since <= now);
    FZ_CHECK(t->emitted + pend <= t->pushed);
}

static void check_owned(fio_str s, size_t limit)
{
    FZ_CHECK(s.p != NULL && s.n <= limit);
    char *copy = fz_dup(s.p, s.n);
    FZ_CHECK(fio_json_kind(copy, s.n) == FIO_JSON_OBJECT);
    enum fio_merge_kind k = fio_merge_classify((fio_str){copy, s.n});
    FZ_CHECK(k == FIO_MERGE_DELTA || k == FIO_MERGE_SNAPSHOT);
    free(copy);
}

static void push(fio_merge *m, totals *t, const char *line, size_t n, int64_t now)
{
    char *text = fz_dup(line, n);
    fio_str in = {text, n};
    enum fio_merge_kind kind = fio_merge_classify(in);
    fio_merge_out out;
    memset(&out, 0xA5, sizeof out);
    size_t k = fio_merge_push(m, in, now, &out);
    t->pushed += n;
    FZ_CHECK(k == out.n && k <= 2);
    int self = 0;
    for (size_t i = 0; i < k; i++) {
        t->emitted += out.text[i].n;
        if (out.text[i].p == text) {
            FZ_CHECK(out.text[i].n == n && i == k - 1);
            self = 1;
        } else {
            check_owned(out.text[i], t->max_bytes + n);
        }
    }
    if (kind == FIO_MERGE_OTHER || kind == FIO_MERGE_REPLACE)
        FZ_CHECK(self);
    free(text);
    check_state(m, t, now);
}

static void flush(fio_merge *m, totals *t, int64_t now)
{
    fio_merge_out out;
    size_t k = fio_merge_flush(m, &out);
    FZ_CHECK(k == out.n && k <= 1);
    if (k) {
        check_owned(out.text[0], t->max_bytes);
        t->emitted += out.text[0].n;
    }
    FZ_CHECK(fio_merge_pending_bytes(m) == 0 && !fio_merge_pending(m, NULL));
    check_state(m, t, now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *end = s + size;
    totals t = {256, 0, 0};
    const char *nl = memchr(s, '\n', size);
    size_t first = nl ? (size_t)(nl - s) : size;
    if (first >= 1 && first <= 6) {
        size_t v = 0, i = 0;
        for (; i < first && s[i] >= '0' && s[i] <= '9'; i++)
            v = v * 10 + (size_t)(s[i] - '0');
        if (i == first) {
            t.max_bytes = v;
            s = nl ? nl + 1 : end;
        }
    }
    fio_merge *m = fio_merge_new(t.max_bytes);
    FZ_CHECK(m != NULL);
    int64_t now = 0;
    while (s < end) {
        nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
        if (n == 1 && s[0] == 'F')
            flush(m, &t, now);
        else
            push(m, &t, s, n, now);
        now++;
        s = nl ? nl + 1 : end;
    }
    flush(m, &t, now);
    fio_merge_free(m);
    return 0;
}
