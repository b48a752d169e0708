/* Delta merging of streamed chat events: the pending state of ONE stream of
 * Open WebUI `events` messages (the caller keeps one merger per
 * (room, chat_id, message_id)), so that the one-message-per-token stream
 * reaches the clients as one message per window, with the same result.
 *
 * Input: the JSON text of one emitted argument, as the app's json module
 * wrote it: {"chat_id": .., "message_id": .., ["shared", "user_id",
 * "internal": ..,] "data": E}, E = {"type": T, "data": D}. Classification:
 *   - delta: T == "response:completion" and D.type starts with "response."
 *     and ends with ".delta" and D.delta is a string; or T == "message" or
 *     "chat:message:delta" and D.content is a string.
 *   - snapshot: T == "chat:completion", D an object whose members the
 *     client acts on other than content/output (done, error, usage, sources,
 *     selected_model_id, choices) are absent, null or false, and either
 *     D.output is an array or object (level 2: sets output and content) or
 *     D.output is absent/null/false and D.content a non-empty string
 *     (level 1: sets content).
 *   - replace: T == "replace" or "chat:message" and D an object.
 *   - other: everything else, including texts that are not one valid JSON
 *     object and types written with escapes (T and D.type are compared as
 *     raw tokens).
 * Merge key: the text without D (the envelope with chat_id, message_id and
 * any other member, and E's other members, T included, byte for byte) plus,
 * for response deltas, the raw texts of D's type, item_id, output_index,
 * content_index and summary_index (present or absent): the fields the
 * client's reducer addresses a delta with.
 *
 * Rules (fio_merge_push, in order of the stream):
 *   - a delta with the pending delta's key is appended to it: the pending
 *     text becomes the NEW event's text with its delta string (D.delta or
 *     D.content) replaced by the concatenation of every merged delta string.
 *     The concatenation is of the string tokens' bodies as written: each
 *     piece keeps its producer's escapes (\uXXXX under ensure_ascii, raw
 *     UTF-8 otherwise), which is what json.dumps writes for the concatenated
 *     str, and decodes in the client to the concatenated UTF-16 string
 *     (a surrogate pair split over two deltas joins as it would in JS). D's
 *     members outside the key other than the delta (sequence_number,
 *     logprobs, ...) are the last event's. Exception: a pending
 *     "response.output_text.delta" whose text is exactly "\n" takes no more
 *     deltas (the client drops a lone "\n" delta on an empty message; "\n"
 *     followed by more would not be dropped).
 *   - a snapshot with the pending snapshot's key and a level >= its level
 *     replaces it (it overwrites everything the pending one would set).
 *   - a replace drops a pending "message"/"chat:message:delta" delta or
 *     level-1 snapshot with the same envelope (they only set content, which
 *     the replace overwrites); anything else pending is emitted first. The
 *     replace itself is emitted.
 *   - any other case: what is pending is emitted first, then the event
 *     becomes pending (delta, snapshot) or is emitted (replace, other).
 *   - bound: a pending text longer than max_bytes is emitted at once (a
 *     merge that passes the bound emits the merged text; an event longer
 *     than max_bytes that would begin a pending state is not copied: it
 *     goes out as is).
 * Nothing is lost or reordered within the stream: every emitted text is an
 * input event or the merge of consecutive ones, in input order; merging
 * only joins consecutive deltas and drops pending state that the next
 * event overwrites in the client. Order against OTHER streams (another
 * message, another event name, the same room) is the caller's: their
 * messages overtake this stream's pending text unless it flushes first.
 *
 * Memory: push never fails. When a copy or a growth cannot be allocated it
 * degrades to emitting what is pending and then the event as is. The
 * merger keeps its buffers' capacity between windows (about four times
 * max_bytes plus the largest event at most) and frees them with itself.
 *
 * Outputs: fio_merge_out holds 0, 1 or 2 texts, in emission order. Each is
 * either exactly the pushed text (same pointer and length: the caller may
 * send its own object) or a text in a buffer owned by the merger, valid
 * until the next call on the merger. Pushed texts are copied, never kept;
 * a pushed text must not be one of the merger's own outputs.
 *
 * Time: the caller passes a monotonic timestamp (any unit) to push; the
 * merger records the one of the push that began the pending state (a merge
 * or a replaced snapshot does not move it). The caller's timer flushes at
 * since + window (default window 50 ms, max_bytes 16 KiB); the end of the
 * stream flushes too.
 *
 * Threads: none; a merger is used by one thread at a time (the loop thread).
 * No Python, no locks. */
#ifndef FASTSIO_MERGE_H
#define FASTSIO_MERGE_H
#include <stddef.h>
#include <stdint.h>

#include "hub.h"   /* fio_str */

#define FIO_MERGE_WINDOW_MS 50
#define FIO_MERGE_MAX_BYTES 16384

enum fio_merge_kind {
    FIO_MERGE_OTHER = 0,
    FIO_MERGE_DELTA,
    FIO_MERGE_SNAPSHOT,
    FIO_MERGE_REPLACE
};

typedef struct fio_merge fio_merge;

typedef struct fio_merge_out {
    size_t n;            /* 0, 1 or 2 */
    fio_str text[2];     /* text[0] is emitted before text[1] */
} fio_merge_out;

/* A merger with nothing pending; NULL when out of memory. */
fio_merge *fio_merge_new(size_t max_bytes);
/* Frees the merger and what is pending (flush first to keep it). NULL ok. */
void fio_merge_free(fio_merge *m);

/* How push classifies text (see the top of this file). */
enum fio_merge_kind fio_merge_classify(fio_str text);

/* Feeds one event; out receives what must be emitted now, in order.
 * Returns out->n. */
size_t fio_merge_push(fio_merge *m, fio_str text, int64_t now, fio_merge_out *out);

/* Moves the pending text, if any, to out. Returns out->n (0 or 1). */
size_t fio_merge_flush(fio_merge *m, fio_merge_out *out);

/* 1 if something is pending (*since, if not NULL, receives the timestamp
 * of the push that began it), else 0. */
int fio_merge_pending(const fio_merge *m, int64_t *since);

/* Length of the pending text (0 when none); never above max_bytes. */
size_t fio_merge_pending_bytes(const fio_merge *m);

#endif
