#include "hub.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

/* Ownership: the hub owns namespaces, rooms, members and connections; rooms
 * and the namespace "all" array hold borrowed member pointers; queues hold one
 * frame reference per queued entry. All state is guarded by hub->mu. */

typedef struct member member;
typedef struct room room;
typedef struct nspace nspace;

typedef struct conn {
    uint32_t id;
    char *eio_sid;
    size_t eio_sid_len;
    fio_frame **q;          /* ring buffer */
    size_t qcap, qhead, qlen;
    int overflowed;
    uint64_t mark;          /* broadcast epoch that already reached this conn */
    member *members;        /* one per namespace, linked by next_on_conn */
} conn;

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
    uint64_t skip_mark;
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
    fio_strmap rooms;       /* name -> room */
    fio_strmap members;     /* sid -> member */
    member **all;
    size_t nall, capall;
};

struct fio_hub {
    pthread_mutex_t mu;
    fio_strmap nss;         /* name -> nspace */
    fio_strmap conns;       /* 4 id bytes -> conn */
    uint32_t next_id;
    size_t max_queue;
    uint64_t epoch;
};

/* ---- small helpers ---- */

static char *dup_bytes(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static int grow_array(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t cap2 = *cap ? *cap * 2 : 4;
    while (cap2 < need)
        cap2 *= 2;
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

/* ---- hub lifetime ---- */

fio_hub *fio_hub_new(size_t max_queue)
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
    return h;
}

static void queue_clear(conn *c)
{
    for (size_t i = 0; i < c->qlen; i++)
        fio_frame_unref(c->q[(c->qhead + i) % c->qcap]);
    c->qhead = c->qlen = 0;
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
    for (size_t i = 0; fio_strmap_next(&h->conns, &i, &s);) {
        conn *c = s->value;
        queue_clear(c);
        free(c->q);
        free(c->eio_sid);
        free(c);
    }
    fio_strmap_free(&h->nss);
    fio_strmap_free(&h->conns);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* ---- rooms (mutex held) ---- */

static int room_add(fio_hub *h, nspace *n, member *m, fio_str name)
{
    room *r = fio_strmap_get(&n->rooms, name.p, name.n);
    int created = 0;
    if (r) {
        for (size_t i = 0; i < m->nrooms; i++)
            if (m->rooms[i].room == r)
                return FIO_OK;
    } else {
        r = calloc(1, sizeof *r);
        if (!r || !(r->name = dup_bytes(name.p, name.n))) {
            free(r);
            return FIO_ENOMEM;
        }
        r->len = name.n;
        if (fio_strmap_put(&n->rooms, name.p, name.n, r) < 0) {
            room_free(r);
            return FIO_ENOMEM;
        }
        created = 1;
    }
    if (grow_array((void **)&r->m, &r->cap, r->n + 1, sizeof *r->m) < 0 ||
        grow_array((void **)&m->rooms, &m->caprooms, m->nrooms + 1, sizeof *m->rooms) < 0) {
        if (created) {
            fio_strmap_del(&n->rooms, name.p, name.n);
            room_free(r);
        }
        return FIO_ENOMEM;
    }
    (void)h;
    m->rooms[m->nrooms].room = r;
    m->rooms[m->nrooms].idx = r->n;
    m->nrooms++;
    r->m[r->n++] = m;
    return FIO_OK;
}

/* Removes m from the room at m->rooms[k]; deletes the room when empty. */
static void room_remove_at(nspace *n, member *m, size_t k)
{
    room *r = m->rooms[k].room;
    size_t idx = m->rooms[k].idx;
    member *last = r->m[--r->n];
    if (last != m) {
        r->m[idx] = last;
        for (size_t i = 0; i < last->nrooms; i++)
            if (last->rooms[i].room == r) {
                last->rooms[i].idx = idx;
                break;
            }
    }
    m->rooms[k] = m->rooms[--m->nrooms];
    if (r->n == 0) {
        fio_strmap_del(&n->rooms, r->name, r->len);
        room_free(r);
    }
}

static void member_remove(fio_hub *h, member *m)
{
    nspace *n = m->ns;
    while (m->nrooms)
        room_remove_at(n, m, m->nrooms - 1);
    member *last = n->all[--n->nall];
    if (last != m) {
        n->all[m->all_idx] = last;
        last->all_idx = m->all_idx;
    }
    fio_strmap_del(&n->members, m->sid, m->sidlen);
    for (member **pp = &m->c->members; *pp; pp = &(*pp)->next_on_conn)
        if (*pp == m) {
            *pp = m->next_on_conn;
            break;
        }
    member_free(m);
    if (n->nall == 0) {
        fio_strmap_del(&h->nss, n->name, n->len);
        ns_free(n);
    }
}

/* ---- connections and queues ---- */

int fio_hub_conn_open(fio_hub *h, fio_str eio_sid, uint32_t *out_id)
{
    int rc = FIO_ENOMEM;
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return FIO_ENOMEM;
    c->eio_sid = dup_bytes(eio_sid.p, eio_sid.n);
    c->eio_sid_len = eio_sid.n;
    if (!c->eio_sid)
        goto fail;
    pthread_mutex_lock(&h->mu);
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
    free(c->eio_sid);
    free(c);
    return rc;
}

int fio_hub_conn_close(fio_hub *h, uint32_t id)
{
    pthread_mutex_lock(&h->mu);
    conn *c = fio_strmap_del(&h->conns, (const char *)&id, sizeof id);
    if (c) {
        while (c->members)
            member_remove(h, c->members);
        queue_clear(c);
    }
    pthread_mutex_unlock(&h->mu);
    if (!c)
        return FIO_ENOCONN;
    free(c->q);
    free(c->eio_sid);
    free(c);
    return FIO_OK;
}

/* Mutex held. All n frames are queued, or none (overflow). */
static int queue_push(fio_hub *h, conn *c, fio_frame *const *frames, size_t n)
{
    if (c->overflowed || c->qlen + n > h->max_queue) {
        c->overflowed = 1;
        return 2;
    }
    if (c->qlen + n > c->qcap) {
        size_t cap = c->qcap ? c->qcap : 8;
        while (cap < c->qlen + n)
            cap *= 2;
        fio_frame **q = malloc(cap * sizeof *q);
        if (!q)
            return FIO_ENOMEM;
        for (size_t i = 0; i < c->qlen; i++)
            q[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = q;
        c->qcap = cap;
        c->qhead = 0;
    }
    int was_empty = c->qlen == 0;
    for (size_t i = 0; i < n; i++) {
        fio_frame_ref(frames[i]);
        c->q[(c->qhead + c->qlen++) % c->qcap] = frames[i];
    }
    return was_empty ? 1 : 0;
}

int fio_hub_push(fio_hub *h, uint32_t id, fio_frame *const *frames, size_t n)
{
    pthread_mutex_lock(&h->mu);
    conn *c = conn_get(h, id);
    int rc = c ? (n ? queue_push(h, c, frames, n) : 0) : FIO_ENOCONN;
    pthread_mutex_unlock(&h->mu);
    return rc;
}

long fio_hub_drain(fio_hub *h, uint32_t id, fio_frame **out, size_t max, int *overflowed)
{
    long n = 0;
    pthread_mutex_lock(&h->mu);
    conn *c = conn_get(h, id);
    if (!c) {
        pthread_mutex_unlock(&h->mu);
        return FIO_ENOCONN;
    }
    while (c->qlen && (size_t)n < max) {
        out[n++] = c->q[c->qhead];
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    if (overflowed)
        *overflowed = c->overflowed;
    pthread_mutex_unlock(&h->mu);
    return n;
}

long fio_hub_queued(fio_hub *h, uint32_t id)
{
    pthread_mutex_lock(&h->mu);
    conn *c = conn_get(h, id);
    long n = c ? (long)c->qlen : FIO_ENOCONN;
    pthread_mutex_unlock(&h->mu);
    return n;
}

size_t fio_hub_conn_count(fio_hub *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->conns.count;
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* ---- members ---- */

static nspace *ns_create(fio_hub *h, fio_str name)
{
    nspace *n = calloc(1, sizeof *n);
    if (!n || !(n->name = dup_bytes(name.p, name.n))) {
        free(n);
        return NULL;
    }
    n->len = name.n;
    fio_strmap_init(&n->rooms);
    fio_strmap_init(&n->members);
    if (fio_strmap_put(&h->nss, name.p, name.n, n) < 0) {
        ns_free(n);
        return NULL;
    }
    return n;
}

static int connect_locked(fio_hub *h, fio_str ns, fio_str sid, conn *c)
{
    if (sid.n == 0)
        return FIO_EINVAL;
    nspace *n = ns_get(h, ns);
    if (n) {
        if (fio_strmap_get(&n->members, sid.p, sid.n))
            return FIO_EEXIST;
        for (member *m = c->members; m; m = m->next_on_conn)
            if (m->ns == n)
                return FIO_EEXIST;
    } else if (!(n = ns_create(h, ns))) {
        return FIO_ENOMEM;
    }
    member *m = calloc(1, sizeof *m);
    if (!m || !(m->sid = dup_bytes(sid.p, sid.n)) ||
        grow_array((void **)&n->all, &n->capall, n->nall + 1, sizeof *n->all) < 0 ||
        fio_strmap_put(&n->members, sid.p, sid.n, m) < 0) {
        if (m)
            member_free(m);
        goto undo_ns;
    }
    m->sidlen = sid.n;
    m->c = c;
    m->ns = n;
    m->all_idx = n->nall;
    n->all[n->nall++] = m;
    m->next_on_conn = c->members;
    c->members = m;
    if (room_add(h, n, m, sid) != FIO_OK) {
        member_remove(h, m);    /* also drops the namespace if it was new */
        return FIO_ENOMEM;
    }
    return FIO_OK;
undo_ns:
    if (n->nall == 0) {
        fio_strmap_del(&h->nss, n->name, n->len);
        ns_free(n);
    }
    return FIO_ENOMEM;
}

int fio_hub_connect(fio_hub *h, fio_str ns, fio_str sid, uint32_t id)
{
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
    int rc = m ? room_add(h, m->ns, m, room_name) : FIO_ENOMEMBER;
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int fio_hub_leave(fio_hub *h, fio_str ns, fio_str sid, fio_str room_name)
{
    pthread_mutex_lock(&h->mu);
    member *m = member_get(h, ns, sid);
    if (m) {
        room *r = fio_strmap_get(&m->ns->rooms, room_name.p, room_name.n);
        for (size_t k = 0; r && k < m->nrooms; k++)
            if (m->rooms[k].room == r) {
                room_remove_at(m->ns, m, k);
                break;
            }
    }
    pthread_mutex_unlock(&h->mu);
    return FIO_OK;
}

int fio_hub_close_room(fio_hub *h, fio_str ns, fio_str room_name)
{
    pthread_mutex_lock(&h->mu);
    nspace *n = ns_get(h, ns);
    room *r = n ? fio_strmap_get(&n->rooms, room_name.p, room_name.n) : NULL;
    while (r) {
        member *m = r->m[r->n - 1];
        int last = r->n == 1;
        for (size_t k = 0; k < m->nrooms; k++)
            if (m->rooms[k].room == r) {
                room_remove_at(n, m, k);
                break;
            }
        if (last)
            break;      /* the room was freed with its last member */
    }
    pthread_mutex_unlock(&h->mu);
    return FIO_OK;
}

static int call_member(member *m, fio_member_fn fn, void *ctx)
{
    return fn(ctx, str_of(m->sid, m->sidlen), m->c->id, str_of(m->c->eio_sid, m->c->eio_sid_len));
}

int fio_hub_member_on_conn(fio_hub *h, fio_str ns, uint32_t id, fio_member_fn fn, void *ctx)
{
    int found = 0;
    pthread_mutex_lock(&h->mu);
    conn *c = conn_get(h, id);
    nspace *n = ns_get(h, ns);
    for (member *m = c && n ? c->members : NULL; m; m = m->next_on_conn)
        if (m->ns == n) {
            call_member(m, fn, ctx);
            found = 1;
            break;
        }
    pthread_mutex_unlock(&h->mu);
    return found;
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

/* Visits each member of the selection once (epoch marks on connections:
 * a connection has at most one member per namespace). Mutex held. */
typedef int (*visit_fn)(void *ctx, member *m);

static int visit_selection(fio_hub *h, nspace *n, const fio_str *rooms, size_t nrooms,
                           uint64_t epoch, visit_fn fn, void *ctx)
{
    (void)h;
    if (nrooms == 0) {
        for (size_t i = 0; i < n->nall; i++) {
            member *m = n->all[i];
            if (m->skip_mark == epoch)
                continue;
            int rc = fn(ctx, m);
            if (rc)
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
            int rc = fn(ctx, m);
            if (rc)
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
        rc = visit_selection(h, n, rooms, nrooms, ++h->epoch, visit_member, &v);
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

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

static int names_of(fio_strmap *map, fio_name_fn fn, void *ctx)
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

/* ---- fan-out ---- */

struct fanout {
    fio_hub *h;
    fio_frame *const *frames;
    size_t nframes;
    fio_wake_fn wake;
    void *ctx;
    long count;
};

static int fan_to(void *vctx, member *m)
{
    struct fanout *f = vctx;
    int rc = queue_push(f->h, m->c, f->frames, f->nframes);
    if (rc == FIO_ENOMEM)
        return FIO_ENOMEM;
    if (rc == 0 || rc == 1)
        f->count++;
    if (rc == 1 || rc == 2)
        f->wake(f->ctx, m->c->id, rc);
    return 0;
}

long fio_hub_broadcast(fio_hub *h, fio_str ns, const fio_str *rooms, size_t nrooms,
                       const fio_str *skip, size_t nskip,
                       fio_frame *const *frames, size_t nframes,
                       fio_wake_fn wake, void *ctx)
{
    struct fanout f = {h, frames, nframes, wake, ctx, 0};
    long rc = 0;
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
        rc = visit_selection(h, n, rooms, nrooms, epoch, fan_to, &f);
    }
    pthread_mutex_unlock(&h->mu);
    return rc < 0 ? rc : f.count;
}
