/* The hub: connection table, per-connection bounded outbound queues of shared
 * frames, and rooms ((namespace, room) -> members, (namespace, sid) -> rooms).
 *
 * Threads: every function takes the hub's mutex itself, so any thread may call
 * any function; none calls back into the caller with the mutex held except the
 * iteration functions (fio_hub_members, fio_hub_rooms_of, ...), whose callback
 * must not call the hub. No Python here.
 *
 * Identity: a connection (one Engine.IO session) has a uint32 id given by
 * fio_hub_conn_open and its eio sid string. A member is one Socket.IO
 * namespace session on a connection: (namespace, sid) -> conn. Every member
 * is in its namespace's "all" set and in the room named after its own sid.
 * Strings are (pointer, length) pairs, copied by the hub; they may hold any
 * bytes except that room names must not be empty.
 *
 * Queue policy for slow clients: a queue holds at most max_queue frames and at
 * most max_queue_bytes bytes, counted as the sum of fio_frame.len over its
 * entries (a frame shared by several queues, as a broadcast's is, counts in
 * full against each of them; the ring's slots and the frame headers are not
 * counted). A push takes its frames in order while both bounds hold; at the
 * first frame that would pass either bound it drops that frame and every later
 * one of the push, marks the connection overflowed (sticky: every later push
 * is dropped whole) and reports it; the owner is expected to close that
 * connection (transport error). So a single frame longer than max_queue_bytes
 * always overflows its connection. Draining gives the bytes back. */
#ifndef FASTSIO_HUB_H
#define FASTSIO_HUB_H
#include <stddef.h>
#include <stdint.h>
#include "frame.h"

typedef struct fio_hub fio_hub;

typedef struct fio_str { const char *p; size_t n; } fio_str;

enum {
    FIO_OK = 0,
    FIO_ENOMEM = -1,
    FIO_ENOCONN = -2,      /* unknown or closed connection id */
    FIO_EEXIST = -3,       /* connection already has a member in that namespace / sid taken */
    FIO_ENOMEMBER = -4,    /* (namespace, sid) not connected */
    FIO_EINVAL = -5
};

/* max_queue (frames) and max_queue_bytes bound every connection's queue (0 is
 * taken as 1 for either). fio_hub_new has no byte bound (SIZE_MAX). NULL on oom. */
fio_hub *fio_hub_new_bounded(size_t max_queue, size_t max_queue_bytes);
fio_hub *fio_hub_new(size_t max_queue);
void fio_hub_free(fio_hub *h);   /* drops every queue (unrefs frames) and room */

/* ---- connections and queues ---- */
int fio_hub_conn_open(fio_hub *h, fio_str eio_sid, uint32_t *out_id);
/* Removes the connection's members from every namespace and room, unrefs its
 * queued frames. FIO_ENOCONN if unknown. Ids are not reused while the hub lives
 * (a 32-bit counter; wrap-around is handled by skipping live ids). */
int fio_hub_conn_close(fio_hub *h, uint32_t id);

/* Queues frames (in order) on one connection, taking a new reference to each.
 * Returns 1 if the queue went from empty to non-empty (the owner must wake
 * its writer), 0 if it was already non-empty, FIO_ENOCONN, or 2 if the queue
 * overflowed (frames past either bound were dropped; connection now
 * overflowed). */
int fio_hub_push(fio_hub *h, uint32_t id, fio_frame *const *frames, size_t n);

/* Moves up to max queued frames to out (caller now owns those references),
 * oldest first. Returns the count (0 if empty), or FIO_ENOCONN.
 * *overflowed (may be NULL) receives the connection's overflow flag. */
long fio_hub_drain(fio_hub *h, uint32_t id, fio_frame **out, size_t max, int *overflowed);
/* Frames currently queued (held ones included), or FIO_ENOCONN. */
long fio_hub_queued(fio_hub *h, uint32_t id);

/* Holds: a place in a connection's queue kept for frames that are not known
 * yet (the answer to a Socket.IO CONNECT, sent once its handler has run),
 * while later pushes queue up behind it. fio_hub_drain stops at the oldest
 * hold. fio_hub_hold opens one at the queue's tail and gives its token;
 * fio_hub_unhold puts frames (n may be 0) in its place, in order, taking a
 * reference to each, and closes it. Held and inserted frames count against
 * both bounds; an insert past them overflows the connection as a push does.
 * unhold returns 1 if frames became drainable (the owner must wake its
 * writer), 0, 2 (overflowed), FIO_ENOCONN, or FIO_EINVAL for an unknown
 * token. A push while a hold is open may return 1 with nothing drainable. */
int fio_hub_hold(fio_hub *h, uint32_t id, uint64_t *token);
int fio_hub_unhold(fio_hub *h, uint32_t id, uint64_t token, fio_frame *const *frames, size_t n);
/* Bytes currently queued (as counted against max_queue_bytes) into *out.
 * FIO_OK, or FIO_ENOCONN (*out untouched). */
int fio_hub_queued_bytes(fio_hub *h, uint32_t id, size_t *out);

/* ---- members and rooms ---- */
/* Adds member (ns, sid) on conn: into the namespace's "all" set and room sid.
 * FIO_EEXIST if conn already has a member in ns or sid is taken in ns. */
int fio_hub_connect(fio_hub *h, fio_str ns, fio_str sid, uint32_t conn);
/* Removes the member from every room of ns. FIO_ENOMEMBER if absent. */
int fio_hub_disconnect(fio_hub *h, fio_str ns, fio_str sid);
int fio_hub_enter(fio_hub *h, fio_str ns, fio_str sid, fio_str room);   /* idempotent */
int fio_hub_leave(fio_hub *h, fio_str ns, fio_str sid, fio_str room);   /* absent: FIO_OK */
int fio_hub_close_room(fio_hub *h, fio_str ns, fio_str room);           /* absent: FIO_OK */

/* Looks up the member of ns on conn. Calls fn once with its sid, or not at all. */
typedef int (*fio_member_fn)(void *ctx, fio_str sid, uint32_t conn, fio_str eio_sid);
typedef int (*fio_name_fn)(void *ctx, fio_str name);
int fio_hub_member_on_conn(fio_hub *h, fio_str ns, uint32_t conn, fio_member_fn fn, void *ctx);
/* Looks up (ns, sid); calls fn once if present. Returns 1 found, 0 not. */
int fio_hub_member(fio_hub *h, fio_str ns, fio_str sid, fio_member_fn fn, void *ctx);
/* Members of the union of rooms (no duplicates), or of the whole namespace when
 * nrooms == 0. Iteration stops early when fn returns non-zero (that value is
 * returned). Unknown rooms or namespace: no calls, returns 0. */
int fio_hub_members(fio_hub *h, fio_str ns, const fio_str *rooms, size_t nrooms,
                    fio_member_fn fn, void *ctx);
/* Room names of a member, including its own sid room. */
int fio_hub_rooms_of(fio_hub *h, fio_str ns, fio_str sid, fio_name_fn fn, void *ctx);
int fio_hub_namespaces(fio_hub *h, fio_name_fn fn, void *ctx);  /* namespaces with >= 1 member */
int fio_hub_room_names(fio_hub *h, fio_str ns, fio_name_fn fn, void *ctx);  /* non-empty rooms */
/* Members in the room (0 when the room or namespace does not exist). */
size_t fio_hub_room_size(fio_hub *h, fio_str ns, fio_str room);

/* ---- fan-out ---- */
/* Queues the same frames on every member of the union of rooms (whole
 * namespace when nrooms == 0), skipping members whose sid is in skip. Each
 * connection receives the frames once even when it is in several rooms or has
 * several members. For every connection whose push returned 1 (woken) or 2
 * (overflowed), wake(ctx, conn, status) is called; it runs with the hub mutex
 * held and must not call the hub (collect the ids, act on them after).
 * Returns the number of connections the frames were queued on, or < 0. */
typedef void (*fio_wake_fn)(void *ctx, uint32_t conn, int status);
long fio_hub_broadcast(fio_hub *h, fio_str ns, const fio_str *rooms, size_t nrooms,
                       const fio_str *skip, size_t nskip,
                       fio_frame *const *frames, size_t nframes,
                       fio_wake_fn wake, void *ctx);
size_t fio_hub_conn_count(fio_hub *h);

#endif
