/*
 * A growable byte buffer with a maximum size. It always keeps a NUL after
 * the data, so text can be read as a C string.
 */
#ifndef SITESMITH_CORE_BUF_H
#define SITESMITH_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* appends past this many bytes fail */
};

/* Starts an empty buffer that may hold up to max bytes. */
void buf_init(struct buf *b, size_t max);

/* Appends n bytes; returns -1 (buffer unchanged) past max or out of memory. */
int buf_append(struct buf *b, const void *data, size_t n);
int buf_append_str(struct buf *b, const char *text);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Empties the buffer and keeps its memory. */
void buf_reset(struct buf *b);

/* Hands the data (NUL-terminated, or NULL when empty) to the caller. */
char *buf_detach(struct buf *b, size_t *len);

void buf_free(struct buf *b);

#endif
