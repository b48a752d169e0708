#include "sio.h"

#define SIO_MAX_ID_DIGITS 18

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int sio_decode(const char *s, size_t len, sio_packet *out, const char **err)
{
    static const char root[] = "/";
    size_t i = 1, j;

    if (len == 0) {
        *err = "empty packet";
        return -1;
    }
    if (s[0] < '0' || s[0] > '6') {
        *err = "invalid packet type";
        return -1;
    }
    out->type = s[0] - '0';
    out->attachments = 0;
    out->nsp = root;
    out->nsplen = 1;
    out->id = SIO_NO_ID;

    /* "<count>-" : leading digits followed by a dash */
    for (j = i; j < len && is_digit(s[j]); j++)
        ;
    if (j > i && j < len && s[j] == '-') {
        if (out->type != SIO_BINARY_EVENT && out->type != SIO_BINARY_ACK) {
            *err = "attachment count on a non-binary packet";
            return -1;
        }
        long count = 0;
        for (size_t k = i; k < j; k++) {
            count = count * 10 + (s[k] - '0');
            if (count > SIO_MAX_ATTACHMENTS) {
                *err = "too many attachments";
                return -1;
            }
        }
        out->attachments = (int)count;
        i = j + 1;
    } else if (out->type == SIO_BINARY_EVENT || out->type == SIO_BINARY_ACK) {
        *err = "binary packet without attachment count";
        return -1;
    }

    /* "/nsp[?query]," up to the first comma, or to the end */
    if (i < len && s[i] == '/') {
        size_t start = i, end = i;
        while (end < len && s[end] != ',')
            end++;
        size_t nsend = start;
        while (nsend < end && s[nsend] != '?')
            nsend++;
        out->nsp = s + start;
        out->nsplen = nsend - start;
        i = end < len ? end + 1 : end;
    }

    /* ack id */
    for (j = i; j < len && is_digit(s[j]); j++)
        ;
    if (j > i) {
        if (j - i > SIO_MAX_ID_DIGITS) {
            *err = "id field is too long";
            return -1;
        }
        long long id = 0;
        for (size_t k = i; k < j; k++)
            id = id * 10 + (s[k] - '0');
        out->id = id;
        i = j;
    }
    out->data = s + i;
    out->datalen = len - i;
    return 0;
}

int sio_encode_header(fio_buf *out, int type, int attachments,
                      const char *nsp, size_t nsplen, long long id)
{
    int binary = type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK;
    if (type < SIO_CONNECT || type > SIO_BINARY_ACK || attachments < 0 ||
        (!binary && attachments != 0) || (id < 0 && id != SIO_NO_ID))
        return -2;
    if (fio_buf_putc(out, (char)('0' + type)) < 0)
        return -1;
    if (binary && (fio_buf_put_u64(out, (unsigned long long)attachments) < 0 ||
                   fio_buf_putc(out, '-') < 0))
        return -1;
    if (!(nsplen == 1 && nsp[0] == '/') && nsplen > 0 &&
        (fio_buf_append(out, nsp, nsplen) < 0 || fio_buf_putc(out, ',') < 0))
        return -1;
    if (id != SIO_NO_ID && fio_buf_put_u64(out, (unsigned long long)id) < 0)
        return -1;
    return 0;
}
