/* Socket.IO v5 packet header codec. See sio.h for the contracts.
 *
 * On input that python-socketio 5.16.2 (Packet.decode) accepts, sio_decode
 * yields the same type, attachment count, namespace and id, and leaves as
 * data exactly the text the reference hands to json.loads. It deliberately
 * rejects more (each also refused by the JavaScript socket.io-parser):
 *  - a type digit '7'..'9' (the reference keeps it and ignores the packet);
 *  - "<n>-" on a non-binary type (the reference takes the count);
 *  - a binary type without "<n>-" (the reference assumes 0 attachments and
 *    then waits forever for them);
 *  - more than SIO_MAX_ATTACHMENTS attachments (the reference allows up to
 *    ten digits' worth);
 *  - an id of more than 18 digits (the reference allows 100);
 *  - non-ASCII digits, which Python's str.isdigit() accepts. */
#include "sio.h"

#define SIO_MAX_ID_DIGITS 18
/* python-socketio refuses a count written with more digits than this. */
#define SIO_MAX_COUNT_DIGITS 10

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_binary_type(int type)
{
    return type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK;
}

/* Index of the first non-digit at or after i (len if none). */
static size_t skip_digits(const char *s, size_t i, size_t len)
{
    while (i < len && is_digit(s[i]))
        i++;
    return i;
}

static int fail(const char **err, const char *msg)
{
    if (err)
        *err = msg;
    return -1;
}

int sio_decode(const char *s, size_t len, sio_packet *out, const char **err)
{
    static const char root[] = "/";

    if (len == 0)
        return fail(err, "empty packet");
    if (s[0] < '0' || s[0] > '6')
        return fail(err, "invalid packet type");
    out->type = s[0] - '0';
    out->attachments = 0;
    out->nsp = root;
    out->nsplen = 1;
    out->id = SIO_NO_ID;
    size_t i = 1;

    /* Attachment count: digits directly followed by '-'. */
    size_t j = skip_digits(s, i, len);
    if (j > i && j < len && s[j] == '-') {
        if (!is_binary_type(out->type))
            return fail(err, "attachment count on a non-binary packet");
        if (j - i > SIO_MAX_COUNT_DIGITS)
            return fail(err, "too many attachments");
        int count = 0;
        for (size_t k = i; k < j; k++) {
            count = count * 10 + (s[k] - '0');
            if (count > SIO_MAX_ATTACHMENTS)
                return fail(err, "too many attachments");
        }
        out->attachments = count;
        i = j + 1;
    } else if (is_binary_type(out->type)) {
        return fail(err, "binary packet without an attachment count");
    }

    /* Namespace: from '/' to the first ',' (consumed) or to the end of the
     * packet; a "?query" inside it is not part of the name. */
    if (i < len && s[i] == '/') {
        size_t end = i;
        while (end < len && s[end] != ',')
            end++;
        size_t name_end = i;
        while (name_end < end && s[name_end] != '?')
            name_end++;
        out->nsp = s + i;
        out->nsplen = name_end - i;
        i = end < len ? end + 1 : end;
    }

    /* Ack id. */
    j = skip_digits(s, i, len);
    if (j > i) {
        if (j - i > SIO_MAX_ID_DIGITS)
            return fail(err, "id field is too long");
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

/* A namespace of length 0 is treated as absent, like None in the reference. */
int sio_encode_header(fio_buf *out, int type, int attachments,
                      const char *nsp, size_t nsplen, long long id)
{
    int binary = is_binary_type(type);
    if (type < SIO_CONNECT || type > SIO_BINARY_ACK || attachments < 0 ||
        (!binary && attachments != 0) || (id < 0 && id != SIO_NO_ID) ||
        (nsplen > 0 && nsp == NULL))
        return -2;
    int with_nsp = nsplen > 0 && !(nsplen == 1 && nsp[0] == '/');
    size_t mark = out->len;
    if (fio_buf_putc(out, (char)('0' + type)) < 0)
        goto oom;
    if (binary && (fio_buf_put_u64(out, (unsigned long long)attachments) < 0 ||
                   fio_buf_putc(out, '-') < 0))
        goto oom;
    if (with_nsp && (fio_buf_append(out, nsp, nsplen) < 0 || fio_buf_putc(out, ',') < 0))
        goto oom;
    if (id != SIO_NO_ID && fio_buf_put_u64(out, (unsigned long long)id) < 0)
        goto oom;
    return 0;

oom:
    out->len = mark;
    if (out->data)
        out->data[mark] = '\0';
    return -1;
}
