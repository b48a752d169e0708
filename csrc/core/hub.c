#include "hub.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

/* Ownership: the hub owns connections, namespaces, rooms and members.
 * h->conns and ns->members own their values; ns->rooms owns its rooms; a
 * room's member array, ns->all and conn->members hold borrowed pointers to
 * members owned by ns->members. Each queued entry holds one frame reference.
 *
 * Locking: every public function takes h->mu for its whole run (except
 * fio_hub_new/fio_hub_free, which must not race with anything). Callbacks
 * (fio_member_fn, fio_name_fn, fio_wake_fn) run with h->mu held: they must
 * not call any fio_hub_* function on the same hub (the mutex is not
 * recursive: that deadlocks) and should be short.
 *
 * Invariants (mutex held, between calls):
 *  - a namespace exists iff it has >= 1 member; a room exists iff it has >= 1
 *    member, so every listed room/namespace is non-empty;
 *  - member m is at ns->all[m->all_idx]; for each m->rooms[k] = {r, idx},
 *    r->m[idx] == m; m->rooms lists sid room first, then join order;
 *  - a connection has at most one member per namespace;
 *  - conn->qlen <= h->max_queue; qcap is 0 or a power of two;
 *  - conn->qbytes == sum of len over the queued frames <= h->max_queue_bytes;
 *  - conn->holds[i].pos is non-decreasing in i and >= pushed - qlen (drain
 *    never passes the oldest hold). 
 *
 * Cost: n = members of a room, k = rooms of one member, c = namespaces of one
 * connection. Hash look-ups are expected O(1).
 *   conn_open O(1); conn_close O(sum over its members of k^2) + O(queued);
 *   push O(frames) amortised; drain O(moved); queued, queued_bytes O(1);
 *   connect O(c + key); disconnect O(k^2); enter O(k); leave O(k);
 *   close_room O(n * k); rooms_of O(k); members/broadcast O(selected
 *   memberships + skip) with no allocation except queue growth. */

typedef struct member member;
typedef struct room room;
typedef struct nspace nspace;

typedef struct conn {
    uint32_t id;
    int overflowed;         /* sticky: once set, every later push is dropped */
    uint64_t mark;          /* selection epoch that already reached this conn */
    char *eio_sid;
    size_t eio_sid_len;
    fio_frame **q;          /* ring buffer, qcap slots (power of two or 0) */
    size_t qcap, qhead, qlen;
    size_t qbytes;          /* sum of len of the queued frames */
    uint64_t pushed;        /* frames ever queued: the queue's tail position */
    struct hold *holds;     /* open holds, oldest (lowest position) first */
    size_t nholds, holdcap;
    uint64_t next_token;
    member *members;        /* one per namespace, linked by next_on_conn */
} conn;

/* A hold at absolute queue position pos (the head's is pushed - qlen). */
struct hold {
    uint64_t pos;
    uint64_t token;
};

typedef struct room_ref {
    room *room;
    size_t idx;             /* position of the member in room->m */
} room_ref;

struct member {
    char *sid;
    size_t sidlen;
    conn *c;
    nspace *ns;
    room_ref *rooms;
    size_t nrooms, caprooms;
    size_t all_idx;         /* position in ns->all */
    uint64_t skip_mark;     /* epoch of a broadcast that skips this member */
    member *next_on_conn;
};

struct room {
    char *name;
    size_t len;
    member **m;
    size_t n, cap;
};

struct nspace {
    char *name;
    size_t len;
    fio_strmap rooms;       /* name -> room (owned) */
    fio_strmap members;     /* sid -> member (owned) */
    member **all;           /* every member, unordered */
    size_t nall, capall;
};

struct fio_hub {
    pthread_mutex_t mu;
    fio_strmap nss;         /* name -> nspace (owned) */
    fio_strmap conns;       /* 4 id bytes (host order) -> conn (owned) */
    uint32_t next_id;
    size_t max_queue;
    size_t max_queue_bytes;
    uint64_t epoch;         /* selection counter for dedupe/skip marks */
};

/* Queues whose capacity exceeds this are released when they drain empty, so
 * one burst does not pin memory for the rest of a connection's life. */
#define QUEUE_KEEP 1024

/* ---- small helpers (no locking) ---- */

static char *dup_bytes(const char *p, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Ensures *cap >= need (doubling). 0 ok, -1 oom (array unchanged). */
static int reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t cap2 = *cap ? *cap : 4;
    while (cap2 < need) {
        if (cap2 > SIZE_MAX / 2)
            return -1;
        cap2 *= 2;
    }
    if (cap2 > SIZE_MAX / elem)
        return -1;
    void *p = realloc(*arr, cap2 * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = cap2;
    return 0;
}

static fio_str str_of(const char *p, size_t n)
{
    fio_str s = {p, n};
    return s;
}

static conn *conn_get(fio_hub *h, uint32_t id)
{
    return fio_strmap_get(&h->conns, (const char *)&id, sizeof id);
}

static nspace *ns_get(fio_hub *h, fio_str ns)
{
    return fio_strmap_get(&h->nss, ns.p, ns.n);
}

static member *member_get(fio_hub *h, fio_str ns, fio_str sid)
{
    nspace *n = ns_get(h, ns);
    return n ? fio_strmap_get(&n->members, sid.p, sid.n) : NULL;
}

static member *conn_member(conn *c, nspace *n)
{
    for (member *m = c->members; m; m = m->next_on_conn)
        if (m->ns == n)
            return m;
    return NULL;
}

/* Index k with m->rooms[k].room == r, or m->nrooms. */
static size_t ref_index(const member *m, const room *r)
{
    size_t k = 0;
    while (k < m->nrooms && m->rooms[k].room != r)
        k++;
    return k;
}

/* ---- lifetime ---- */

fio_hub *fio_hub_new(size_t max_queue)
{
    return fio_hub_new_bounded(max_queue, SIZE_MAX);
}

fio_hub *fio_hub_new_bounded(size_t max_queue, size_t max_queue_bytes)
{
    fio_hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        free(h);
        return NULL;
    }
    fio_strmap_init(&h->nss);
    fio_strmap_init(&h->conns);
    h->next_id = 1;
    h->max_queue = max_queue ? max_queue : 1;
    h->max_queue_bytes = max_queue_bytes ? max_queue_bytes : 1;
    return h;
}

/* Unrefs every queued frame and frees the ring. c must be unreachable by
 * other threads or the mutex held. */
static void queue_release(conn *c)
{
    for (size_t i = 0; i < c->qlen; i++)
        fio_frame_unref(c->q[(c->qhead + i) & (c->qcap - 1)]);
    free(c->q);
    c->q = NULL;
    c->qcap = c->qhead = c->qlen = c->qbytes = 0;
    free(c->holds);
    c->holds = NULL;
    c->nholds = c->holdcap = 0;
}

static void conn_free(conn *c)
{
    queue_release(c);
    free(c->eio_sid);
    free(c);
}

static void room_free(room *r)
{
    free(r->m);
    free(r->name);
    free(r);
}

static void member_free(member *m)
{
    free(m->rooms);
    free(m->sid);
    free(m);
}

static void ns_free(nspace *n)
{
    const fio_strmap_slot *s;
    for (size_t i = 0; fio_strmap_next(&n->rooms, &i, &s);)
        room_free(s->value);
    for (size_t i = 0; fio_strmap_next(&n->members, &i, &s);)
        member_free(s->value);
    fio_strmap_free(&n->rooms);
    fio_strmap_free(&n->members);
    free(n->all);
    free(n->name);
    free(n);
}

void fio_hub_free(fio_hub *h)
{
    if (!h)
        return;
    const fio_strmap_slot *s;
    for (size_t i = 0; fio_strmap_next(&h->nss, &i, &s);)
        ns_free(s->value);
    for (size_t i = 0; fio_strmap_next(&h->conns, &i, &s);)
        conn_free(s->value);
    fio_strmap_free(&h->nss);
    fio_strmap_free(&h->conns);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* ---- rooms and members (mutex held) ---- */

static void ns_delete(fio_hub *h, nspace *n)
{
    fio_strmap_del(&h->nss, n->name, n->len);
    ns_free(n);
}

static nspace *ns_create(fio_hub *h, fio_str name)
{
    nspace *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    fio_strmap_init(&n->rooms);
    fio_strmap_init(&n->members);
    n->len = name.n;
    if (!(n->name = dup_bytes(name.p, name.n)) ||
        fio_strmap_put(&h->nss, name.p, name.n, n) < 0) {
        ns_free(n);
        return NULL;
    }
    return n;
}

/* Puts m in room `name` of its namespace, creating the room. Idempotent.
 * FIO_OK or FIO_ENOMEM (then nothing changed). */
static int room_add(member *m, fio_str name)
{
    nspace *n = m->ns;
    room *r = fio_strmap_get(&n->rooms, name.p, name.n);
    room *fresh = NULL;
    if (r && ref_index(m, r) < m->nrooms)
        return FIO_OK;
    if (reserve((void **)&m->rooms, &m->caprooms, m->nrooms + 1, sizeof *m->rooms) < 0)
        goto fail;
    if (!r) {
        fresh = r = calloc(1, sizeof *r);
        if (!r || !(r->name = dup_bytes(name.p, name.n)))
            goto fail;
        r->len = name.n;
    }
    if (reserve((void **)&r->m, &r->cap, r->n + 1, sizeof *r->m) < 0)
        goto fail;
    if (fresh && fio_strmap_put(&n->rooms, name.p, name.n, r) < 0)
        goto fail;
    m->rooms[m->nrooms].room = r;
    m->rooms[m->nrooms].idx = r->n;
    m->nrooms++;
    r->m[r->n++] = m;
    return FIO_OK;
fail:
    if (fresh)
        room_free(fresh);
    return FIO_ENOMEM;
}

/* Removes m from room m->rooms[k] (swap-remove in the room, ordered removal
 * in m->rooms); deletes the room when it becomes empty. */
static void room_unlink(member *m, size_t k)
{
    room *r = m->rooms[k].room;
    size_t idx = m->rooms[k].idx;
    member *last = r->m[--r->n];
    if (last != m) {
        r->m[idx] = last;
        last->rooms[ref_index(last, r)].idx = idx;
    }
    memmove(m->rooms + k, m->rooms + k + 1, (m->nrooms - k - 1) * sizeof *m->rooms);
    m->nrooms--;
    if (r->n == 0) {
        fio_strmap_del(&m->ns->rooms, r->name, r->len);
        room_free(r);
    }
}

/* Removes m from every room, the namespace and its connection, frees it,
 * and deletes the namespace when it was the last member. */
static void member_remove(fio_hub *h, member *m)
{
    nspace *n = m->ns;
    while (m->nrooms)
        room_unlink(m, m->nrooms - 1);
    member *last = n->all[--n->nall];
    if (last != m) {
        n->all[m->all_idx] = last;
        last->all_idx = m->all_idx;
    }
    for (member **pp = &m->c->members; *pp; pp = &(*pp)->next_on_conn)
        if (*pp == m) {
            *pp = m->next_on_conn;
            break;
        }
    fio_strmap_del(&n->members, m->sid, m->sidlen);
    member_free(m);
    if (n->nall == 0)
        ns_delete(h, n);
}

static int connect_locked(fio_hub *h, fio_str ns, fio_str sid, conn *c)
{
    int rc = FIO_ENOMEM, in_map = 0;
    member *m = NULL;
    nspace *n = ns_get(h, ns);
    if (n) {
        if (fio_strmap_get(&n->members, sid.p, sid.n) || conn_member(c, n))
            return FIO_EEXIST;
    } else if (!(n = ns_create(h, ns))) {
        return FIO_ENOMEM;
    }
    m = calloc(1, sizeof *m);
    if (!m || !(m->sid = dup_bytes(sid.p, sid.n)))
        goto fail;
    m->sidlen = sid.n;
    m->c = c;
    m->ns = n;
    if (reserve((void **)&n->all, &n->capall, n->nall + 1, sizeof *n->all) < 0)
        goto fail;
    if (fio_strmap_put(&n->members, m->sid, m->sidlen, m) < 0)
        goto fail;
    in_map = 1;
    if ((rc = room_add(m, sid)) != FIO_OK)
        goto fail;
    m->all_idx = n->nall;
    n->all[n->nall++] = m;
    m->next_on_conn = c->members;
    c->members = m;
    return FIO_OK;
fail:
    if (in_map)
        fio_strmap_del(&n->members, m->sid, m->sidlen);
    if (m)
        member_free(m);
    if (n->nall == 0)
        ns_delete(h, n);
    return rc;
}

/* ---- queues (mutex held) ---- */

/* Ensures room for `need` entries, keeping the ring's order. -1 on oom. */
static int queue_reserve(conn *c, size_t need)
{
    if (need <= c->qcap)
        return 0;
    size_t old = c->qcap, cap = old ? old : 8;
    while (cap < need) {
        if (cap > SIZE_MAX / 2 / sizeof *c->q)
            return -1;
        cap *= 2;
    }
    fio_frame **q = realloc(c->q, cap * sizeof *q);
    if (!q)
        return -1;
    /* entries that wrapped to the front move just past the old end (cap >= 2 * old) */
    if (c->qhead + c->qlen > old)
        memcpy(q + old, q, (c->qhead + c->qlen - old) * sizeof *q);
    c->q = q;
    c->qcap = cap;
    return 0;
}

/* Inserts frames[0..n) at queue offset `at` (0 = head, qlen = tail), in
 * order, while both bounds hold, WITHOUT taking references; the caller takes
 * one per frame in frames[0..*queued) before releasing the mutex. Returns 0,
 * or 2: the connection is (now) overflowed and the frames from the first one
 * past either bound on were dropped; a connection whose queue cannot grow
 * (oom) is treated as overflowed too. */
static int queue_insert(fio_hub *h, conn *c, size_t at, fio_frame *const *frames, size_t n,
                        size_t *queued)
{
    *queued = 0;
    if (n == 0)
        return 0;
    if (c->overflowed)
        return 2;
    size_t space = h->max_queue - c->qlen;
    size_t room = h->max_queue_bytes - c->qbytes;
    size_t take = 0, bytes = 0;
    while (take < n && take < space && frames[take]->len <= room - bytes)
        bytes += frames[take++]->len;
    if (take && queue_reserve(c, c->qlen + take) < 0) {
        c->overflowed = 1;
        return 2;
    }
    size_t mask = c->qcap - 1;
    for (size_t i = c->qlen; take && i-- > at;)
        c->q[(c->qhead + i + take) & mask] = c->q[(c->qhead + i) & mask];
    for (size_t i = 0; i < take; i++)
        c->q[(c->qhead + at + i) & mask] = frames[i];
    c->qlen += take;
    c->qbytes += bytes;
    c->pushed += take;
    *queued = take;
    if (take < n) {
        c->overflowed = 1;
        return 2;
    }
    return 0;
}

/* Appends frames at the tail, as queue_insert; returns 1 instead of 0 when the
 * queue was empty (the owner must wake its writer). */
static int queue_put(fio_hub *h, conn *c, fio_frame *const *frames, size_t n, size_t *queued)
{
    int was_empty = c->qlen == 0;
    int rc = queue_insert(h, c, c->qlen, frames, n, queued);
    return rc == 0 && *queued ? was_empty : rc;
}

/* ---- connections and queues ---- */

int fio_hub_conn_open(fio_hub *h, fio_str eio_sid, uint32_t *out_id)
{
    int rc = FIO_ENOMEM;
    conn *c = calloc(1, sizeof *c);
    if (!c || !(c->eio_sid = dup_bytes(eio_sid.p, eio_sid.n)))
        goto fail;
    c->eio_sid_len = eio_sid.n;
    pthread_mutex_lock(&h->mu);
    if (h->conns.count >= UINT32_MAX - 1) {
        pthread_mutex_unlock(&h->mu);
        goto fail;
    }
    do {
        c->id = h->next_id++;
    } while (c->id == 0 || conn_get(h, c->id));
    if (fio_strmap_put(&h->conns, (const char *)&c->id, sizeof c->id, c) == 0) {
        *out_id = c->id;
        rc = FIO_OK;
    }
    pthread_mutex_unlock(&h->mu);
    if (rc == FIO_OK)
        return rc;
fail:
    if (c)
        free(c->eio_sid);
    free(c);
    return rc;
}

int fio_hub_conn_close(fio_hub *h, uint32_t id)
{
    pthread_mutex_lock(&h->mu);
    conn *c = fio_strmap_del(&h->conns, (const char *)&id, sizeof id);
    while (c && c->members)
        member_remove(h, c->members);
    pthread_mutex_unlock(&h->mu);
    if (!c)
        return FIO_ENOCONN;
    conn_free(c);   /* unreachable now: unref its frames outside the mutex */
    return FIO_OK;
}

int fio_hub_push(fio_hub *h, uint32_t id, fio_frame *const *frames, size_t n)
{
    pthread_mutex_lock(&h->mu);
    conn *c = conn_get(h, id);
    int rc = FIO_ENOCONN;
    if (c) {
        size_t queued;
        rc = queue_put(h, c, frames, n, &queued);
        for (size_t i = 0; i < queued; i++)
            fio_frame_ref(frames[i]);
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

long fio_hub_drain(fio_hub *h, uint32_t id, fio_frame **out, size_t max, int *overflowed)
{
    long n = FIO_ENOCONN;
    pthread_mutex_lock(&h->mu);
    conn *c = conn_get(h, id);
    if (c) {
        size_t ready = c->nholds ? (size_t)(c->holds[0].pos - (c->pushed - c->qlen)) : c->qlen;
        size_t take = ready < max ? ready : max;
        for (size_t i = 0; i < take; i++) {
            out[i] = c->q[(c->qhead + i) & (c->qcap - 1)];
            c->qbytes -= out[i]->len;
        }
        if (take) {
            c->qhead = (c->qhead + take) & (c->qcap - 1);
            c->qlen -= take;
        }
        if (c->qlen == 0) {
            c->qhead = 0;
            if (c->qcap > QUEUE_KEEP) {
                free(c->q);
                c->q = NULL;
                c->qcap = 0;
            }
        }
        if (overflowed)
            *overflowed = c->overflowed;
        n = (long)take;
    }
    pthread_mutex_unlock(&h->mu);
    return n;
}

int fio_hub_hold(fio_hub *h, uint32_t id, uint64_t *token)
{
    int rc = FIO_ENOCONN;
    pthread_mutex_lock(&h->mu);
    conn *c = conn_get(h, id);
    if (c) {
        rc = FIO_OK;
        if (c->nholds == c->holdcap) {
            size_t cap = c->holdcap ? c->holdcap * 2 : 2;
            struct hold *holds = realloc(c->holds, cap * sizeof *holds);
            if (holds) {
                c->holds = holds;
                c->holdcap = cap;
            } else {
                rc = FIO_ENOMEM;
            }
        }
        if (rc == FIO_OK) {
            *token = ++c->next_token;
            c->holds[c->nholds++] = (struct hold){c->pushed, *token};
        }
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int fio_hub_unhold(fio_hub *h, uint32_t id, uint64_t token, fio_frame *const *frames, size_t n)
{
    int rc = FIO_ENOCONN;
    pthread_mutex_lock(&h->mu);
    conn *c = conn_get(h, id);
    if (c) {
        size_t k = 0;
        while (k < c->nholds && c->holds[k].token != token)
            k++;
        if (k == c->nholds) {
            rc = FIO_EINVAL;
        } else {
            uint64_t head = c->pushed - c->qlen;
            size_t at = (size_t)(c->holds[k].pos - head);
            size_t queued;
            rc = queue_insert(h, c, at, frames, n, &queued);
            for (size_t i = 0; i < queued; i++)
                fio_frame_ref(frames[i]);
            /* later holds sit behind the inserted frames */
            for (size_t i = k + 1; i < c->nholds; i++)
                c->holds[i].pos += queued;
            memmove(c->holds + k, c->holds + k + 1, (c->nholds - k - 1) * sizeof *c->holds);
            c->nholds--;
            if (rc == 0 && k == 0) {
                size_t ready = c->nholds ? (size_t)(c->holds[0].pos - head) : c->qlen;
                rc = ready > 0;
            }
        }
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

long fio_hub_queued(fio_hub *h, uint32_t id)
{
    pthread_mutex_lock(&h->mu);
    conn *c = conn_get(h, id);
    long n = c ? (long)c->qlen : FIO_ENOCONN;
    pthread_mutex_unlock(&h->mu);
    return n;
}

int fio_hub_queued_bytes(fio_hub *h, uint32_t id, size_t *out)
{
    pthread_mutex_lock(&h->mu);
    conn *c = conn_get(h, id);
    if (c)
        *out = c->qbytes;
    pthread_mutex_unlock(&h->mu);
    return c ? FIO_OK : FIO_ENOCONN;
}

size_t fio_hub_conn_count(fio_hub *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->conns.count;
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* ---- members and rooms ---- */

int fio_hub_connect(fio_hub *h, fio_str ns, fio_str sid, uint32_t id)
{
    if (sid.n == 0)
        return FIO_EINVAL;      /* the sid names a room, and room names are non-empty */
    pthread_mutex_lock(&h->mu);
    conn *c = conn_get(h, id);
    int rc = c ? connect_locked(h, ns, sid, c) : FIO_ENOCONN;
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int fio_hub_disconnect(fio_hub *h, fio_str ns, fio_str sid)
{
    pthread_mutex_lock(&h->mu);
    member *m = member_get(h, ns, sid);
    if (m)
        member_remove(h, m);
    pthread_mutex_unlock(&h->mu);
    return m ? FIO_OK : FIO_ENOMEMBER;
}

int fio_hub_enter(fio_hub *h, fio_str ns, fio_str sid, fio_str room_name)
{
    if (room_name.n == 0)
        return FIO_EINVAL;
    pthread_mutex_lock(&h->mu);
    member *m = member_get(h, ns, sid);
    int rc = m ? room_add(m, room_name) : FIO_ENOMEMBER;
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* FIO_OK also when the member is unknown (python-socketio's leave_room is
 * silent then). */
int fio_hub_leave(fio_hub *h, fio_str ns, fio_str sid, fio_str room_name)
{
    pthread_mutex_lock(&h->mu);
    member *m = member_get(h, ns, sid);
    room *r = m ? fio_strmap_get(&m->ns->rooms, room_name.p, room_name.n) : NULL;
    if (r) {
        size_t k = ref_index(m, r);
        if (k < m->nrooms)
            room_unlink(m, k);
    }
    pthread_mutex_unlock(&h->mu);
    return FIO_OK;
}

int fio_hub_close_room(fio_hub *h, fio_str ns, fio_str room_name)
{
    pthread_mutex_lock(&h->mu);
    nspace *n = ns_get(h, ns);
    room *r = n ? fio_strmap_get(&n->rooms, room_name.p, room_name.n) : NULL;
    /* Unlinking the last entry needs no swap; the final unlink frees r. */
    for (size_t left = r ? r->n : 0; left--;) {
        member *m = r->m[left];
        room_unlink(m, ref_index(m, r));
    }
    pthread_mutex_unlock(&h->mu);
    return FIO_OK;
}

static int call_member(member *m, fio_member_fn fn, void *ctx)
{
    return fn(ctx, str_of(m->sid, m->sidlen), m->c->id, str_of(m->c->eio_sid, m->c->eio_sid_len));
}

/* Returns 1 when found (fn called once), 0 otherwise. */
int fio_hub_member_on_conn(fio_hub *h, fio_str ns, uint32_t id, fio_member_fn fn, void *ctx)
{
    pthread_mutex_lock(&h->mu);
    conn *c = conn_get(h, id);
    nspace *n = ns_get(h, ns);
    member *m = c && n ? conn_member(c, n) : NULL;
    if (m)
        call_member(m, fn, ctx);
    pthread_mutex_unlock(&h->mu);
    return m != NULL;
}

int fio_hub_member(fio_hub *h, fio_str ns, fio_str sid, fio_member_fn fn, void *ctx)
{
    pthread_mutex_lock(&h->mu);
    member *m = member_get(h, ns, sid);
    if (m)
        call_member(m, fn, ctx);
    pthread_mutex_unlock(&h->mu);
    return m != NULL;
}

/* Calls fn once per selected member: the whole namespace when nrooms == 0,
 * else the union of the rooms, deduplicated by marking connections with
 * `epoch` (a connection has at most one member per namespace). Members with
 * skip_mark == epoch are left out. Stops at fn's first non-zero result and
 * returns it. Mutex held. */
typedef int (*visit_fn)(void *ctx, member *m);

static int visit_selection(nspace *n, const fio_str *rooms, size_t nrooms, uint64_t epoch,
                           visit_fn fn, void *ctx)
{
    int rc;
    if (nrooms == 0) {
        for (size_t i = 0; i < n->nall; i++) {
            member *m = n->all[i];
            if (m->skip_mark != epoch && (rc = fn(ctx, m)) != 0)
                return rc;
        }
        return 0;
    }
    for (size_t k = 0; k < nrooms; k++) {
        room *r = fio_strmap_get(&n->rooms, rooms[k].p, rooms[k].n);
        for (size_t i = 0; r && i < r->n; i++) {
            member *m = r->m[i];
            if (m->skip_mark == epoch || m->c->mark == epoch)
                continue;
            m->c->mark = epoch;
            if ((rc = fn(ctx, m)) != 0)
                return rc;
        }
    }
    return 0;
}

struct member_visit {
    fio_member_fn fn;
    void *ctx;
};

static int visit_member(void *vctx, member *m)
{
    struct member_visit *v = vctx;
    return call_member(m, v->fn, v->ctx);
}

int fio_hub_members(fio_hub *h, fio_str ns, const fio_str *rooms, size_t nrooms,
                    fio_member_fn fn, void *ctx)
{
    int rc = 0;
    pthread_mutex_lock(&h->mu);
    nspace *n = ns_get(h, ns);
    if (n) {
        struct member_visit v = {fn, ctx};
        rc = visit_selection(n, rooms, nrooms, ++h->epoch, visit_member, &v);
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* Sid room first, then the other rooms in join order. Stops at fn's first
 * non-zero result and returns it; 0 when the member is unknown. */
int fio_hub_rooms_of(fio_hub *h, fio_str ns, fio_str sid, fio_name_fn fn, void *ctx)
{
    int rc = 0;
    pthread_mutex_lock(&h->mu);
    member *m = member_get(h, ns, sid);
    for (size_t k = 0; m && k < m->nrooms && !rc; k++)
        rc = fn(ctx, str_of(m->rooms[k].room->name, m->rooms[k].room->len));
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static int names_of(const fio_strmap *map, fio_name_fn fn, void *ctx)
{
    const fio_strmap_slot *s;
    int rc = 0;
    for (size_t i = 0; !rc && fio_strmap_next(map, &i, &s);)
        rc = fn(ctx, str_of(s->key, s->keylen));
    return rc;
}

int fio_hub_namespaces(fio_hub *h, fio_name_fn fn, void *ctx)
{
    pthread_mutex_lock(&h->mu);
    int rc = names_of(&h->nss, fn, ctx);
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int fio_hub_room_names(fio_hub *h, fio_str ns, fio_name_fn fn, void *ctx)
{
    pthread_mutex_lock(&h->mu);
    nspace *n = ns_get(h, ns);
    int rc = n ? names_of(&n->rooms, fn, ctx) : 0;
    pthread_mutex_unlock(&h->mu);
    return rc;
}

size_t fio_hub_room_size(fio_hub *h, fio_str ns, fio_str name)
{
    size_t size = 0;
    pthread_mutex_lock(&h->mu);
    nspace *n = ns_get(h, ns);
    room *r = n ? fio_strmap_get(&n->rooms, name.p, name.n) : NULL;
    if (r)
        size = r->n;
    pthread_mutex_unlock(&h->mu);
    return size;
}

/* ---- fan-out ---- */

struct fanout {
    fio_hub *h;
    fio_frame *const *frames;
    size_t nframes;
    fio_wake_fn wake;
    void *ctx;
    long full;              /* connections that got every frame */
};

static int fan_to(void *vctx, member *m)
{
    struct fanout *f = vctx;
    size_t queued;
    int st = queue_put(f->h, m->c, f->frames, f->nframes, &queued);
    if (st == 2) {
        for (size_t i = 0; i < queued; i++)
            fio_frame_ref(f->frames[i]);
    } else {
        f->full++;
    }
    if (st != 0 && f->wake)
        f->wake(f->ctx, m->c->id, st);
    return 0;
}

/* Complete deliveries take their references in one atomic add per frame
 * after the loop: the caller's own reference keeps each frame alive, and
 * nobody can drain the new entries before the mutex is released. A
 * connection that overflows (or whose queue cannot grow) is reported with
 * status 2 and not counted; the broadcast goes on for the others, so it
 * never fails half-way. wake may be NULL. */
long fio_hub_broadcast(fio_hub *h, fio_str ns, const fio_str *rooms, size_t nrooms,
                       const fio_str *skip, size_t nskip,
                       fio_frame *const *frames, size_t nframes,
                       fio_wake_fn wake, void *ctx)
{
    struct fanout f = {h, frames, nframes, wake, ctx, 0};
    if ((nrooms && !rooms) || (nskip && !skip) || (nframes && !frames))
        return FIO_EINVAL;
    if (nframes == 0)
        return 0;
    pthread_mutex_lock(&h->mu);
    nspace *n = ns_get(h, ns);
    if (n) {
        uint64_t epoch = ++h->epoch;
        for (size_t i = 0; i < nskip; i++) {
            member *m = fio_strmap_get(&n->members, skip[i].p, skip[i].n);
            if (m)
                m->skip_mark = epoch;
        }
        visit_selection(n, rooms, nrooms, epoch, fan_to, &f);
        for (size_t i = 0; f.full && i < nframes; i++)
            atomic_fetch_add_explicit(&frames[i]->refs, (int)f.full, memory_order_relaxed);
    }
    pthread_mutex_unlock(&h->mu);
    return f.full;
}
