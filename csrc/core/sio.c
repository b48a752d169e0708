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
 *  - non-ASCII digits, which Python's str.isdigit() accepts.
 * Ack ids: up to SIO_MAX_ID_DIGITS digits, leading zeros counted, exactly as
 * the reference reads them; like its int() the id then drops leading zeros,
 * so "2007[...]" is acked as "37[...]". */
#include "sio.h"

#define SIO_STR_(x) #x
#define SIO_STR(x) SIO_STR_(x)
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
    out->id_digits = NULL;
    out->id_len = 0;
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

    /* Ack id: its value only when short enough, the digits always. */
    j = skip_digits(s, i, len);
    if (j > i) {
        if (j - i > SIO_MAX_ID_DIGITS)
            return fail(err, "id field is too long (more than "
                             SIO_STR(SIO_MAX_ID_DIGITS) " digits)");
        size_t k = i;
        while (k + 1 < j && s[k] == '0')
            k++;
        out->id_digits = s + k;
        out->id_len = j - k;
        if (j - k <= SIO_ID_VALUE_DIGITS) {
            long long id = 0;
            for (; k < j; k++)
                id = id * 10 + (s[k] - '0');
            out->id = id;
        } else {
            out->id = SIO_BIG_ID;
        }
        i = j;
    }

    out->data = s + i;
    out->datalen = len - i;
    return 0;
}

/* Shared by both encoders: the id is either a value (digits NULL) or text.
 * A namespace of length 0 is treated as absent, like None in the reference. */
static int encode_header(fio_buf *out, int type, int attachments, const char *nsp,
                         size_t nsplen, long long id, const char *digits, size_t ndigits)
{
    int binary = is_binary_type(type);
    if (type < SIO_CONNECT || type > SIO_BINARY_ACK || attachments < 0 ||
        (!binary && attachments != 0) || (nsplen > 0 && nsp == NULL))
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
    if (digits ? fio_buf_append(out, digits, ndigits) < 0
               : id != SIO_NO_ID && fio_buf_put_u64(out, (unsigned long long)id) < 0)
        goto oom;
    return 0;

oom:
    out->len = mark;
    if (out->data)
        out->data[mark] = '\0';
    return -1;
}

int sio_encode_header(fio_buf *out, int type, int attachments,
                      const char *nsp, size_t nsplen, long long id)
{
    if (id < 0 && id != SIO_NO_ID)
        return -2;
    return encode_header(out, type, attachments, nsp, nsplen, id, NULL, 0);
}

int sio_encode_header_digits(fio_buf *out, int type, int attachments,
                             const char *nsp, size_t nsplen, const char *digits, size_t n)
{
    if (digits == NULL) {
        if (n != 0)
            return -2;
    } else {
        if (n == 0 || (n > 1 && digits[0] == '0') || skip_digits(digits, 0, n) != n)
            return -2;
    }
    return encode_header(out, type, attachments, nsp, nsplen, SIO_NO_ID, digits, n);
}
