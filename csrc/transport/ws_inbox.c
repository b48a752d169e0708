/* Posting the native transport's events to a fio_inbox. See ws_inbox.h. */
#include "ws_inbox.h"

#include <stdlib.h>
#include <string.h>

#include "sio.h"

static void on_open(void *ctx, uint32_t conn)
{
    fio_ws_inbox_link *l = ctx;
    fio_inbox_item it = {FIO_WS_ITEM_OPEN, 0, conn, NULL, NULL};
    fio_inbox_post(l->q, &it);   /* oom: lost, see the header */
}

/* The decoded header of a plain EVENT (ws_inbox.h), else {0}. */
static fio_ws_sio_event sio_event_of(int binary, const char *data, size_t len)
{
    fio_ws_sio_event e = {0, 0, 0, SIO_NO_ID, 0};
    sio_packet pkt;
    const char *err = NULL;
    if (binary || len == 0 || data[0] != '0' + SIO_EVENT || sio_decode(data, len, &pkt, &err) < 0)
        return e;
    if (pkt.type != SIO_EVENT || pkt.attachments != 0 || pkt.id == SIO_BIG_ID ||
        pkt.datalen == 0)
        return e;
    e.event = 1;
    if (pkt.nsp >= data && pkt.nsp < data + len) {   /* else the default "/" */
        e.nsp_off = (size_t)(pkt.nsp - data);
        e.nsp_len = pkt.nsplen;
    }
    e.id = pkt.id;
    e.body_off = (size_t)(pkt.data - data);
    return e;
}

static int on_message(void *ctx, uint32_t conn, int binary, const char *data, size_t len)
{
    fio_ws_inbox_link *l = ctx;
    fio_ws_inmsg *m = malloc(sizeof *m + len + 1);
    if (!m)
        return -1;
    m->binary = binary;
    m->len = len;
    if (len)
        memcpy(m->data, data, len);
    m->data[len] = '\0';
    m->sio = sio_event_of(binary, m->data, len);
    fio_inbox_item it = {FIO_WS_ITEM_MESSAGE, 1, conn, m, free};
    int rc = fio_inbox_post(l->q, &it);
    if (rc < 0) {
        free(m);
        return -1;
    }
    return rc;   /* 1: bound reached, pause reading */
}

static void on_close(void *ctx, uint32_t conn, fio_ws_reason reason)
{
    fio_ws_inbox_link *l = ctx;
    fio_inbox_item it = {FIO_WS_ITEM_CLOSE, 0, (uint64_t)conn | (uint64_t)reason << 32, NULL,
                         NULL};
    fio_inbox_post(l->q, &it);   /* oom: lost, see the header */
}

static void on_upgrade(void *ctx, uint32_t conn, int stage)
{
    fio_ws_inbox_link *l = ctx;
    fio_inbox_item it = {stage == FIO_WS_UPGRADED ? FIO_WS_ITEM_UPGRADED : FIO_WS_ITEM_PROBED,
                         0, conn, NULL, NULL};
    fio_inbox_post(l->q, &it);   /* oom: lost, see the header */
}

static void on_pass_end(void *ctx)
{
    fio_ws_inbox_link *l = ctx;
    fio_inbox_flush(l->q);
}

void fio_ws_inbox_config(fio_ws_config *cfg, fio_ws_inbox_link *link)
{
    fio_inbox_defer_signals(link->q);
    cfg->on_pass_end = on_pass_end;
    cfg->on_upgrade = on_upgrade;
    cfg->on_open = on_open;
    cfg->on_message = on_message;
    cfg->on_close = on_close;
    cfg->ctx = link;
}

void fio_ws_inbox_resume(void *ctx)
{
    fio_ws_inbox_link *l = ctx;
    if (l->srv)
        fio_ws_resume_reading(l->srv);   /* oom: stays paused until the next resume */
}
