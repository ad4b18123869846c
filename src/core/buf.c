#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

static int reserve(struct buf *b, size_t extra)
{
    size_t needed;
    size_t cap;
    char *grown;

    if (extra > b->max || b->len > b->max - extra)
        return -1;
    needed = b->len + extra + 1;
    if (needed <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < needed)
        cap *= 2;
    grown = realloc(b->data, cap);
    if (!grown)
        return -1;
    b->data = grown;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
    if (reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_append_str(struct buf *b, const char *text)
{
    return buf_append(b, text, strlen(text));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_list copy;
    int length;

    va_start(ap, fmt);
    va_copy(copy, ap);
    length = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (length < 0 || reserve(b, (size_t)length) != 0) {
        va_end(ap);
        return -1;
    }
    vsnprintf(b->data + b->len, (size_t)length + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)length;
    return 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *buf_detach(struct buf *b, size_t *len)
{
    char *data = b->data;

    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return data;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
