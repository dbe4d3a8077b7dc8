/* secret.h - immutable, reference-counted secret buffers.
 *
 * A token value or a client secret lives in one struct secret. The token
 * table holds a reference; a reply in progress takes its own, so swapping
 * in a new value never frees bytes that are still being written out. The
 * last unref wipes the bytes with OPENSSL_cleanse before freeing them.
 *
 * The buffers live in pages of their own marked MADV_DONTDUMP, so a core
 * dump (or a crash handler's minidump) never carries a token even when the
 * process was made dumpable again. Pages are unmapped as soon as the last
 * secret on them is freed. Not thread-safe: only the event loop's thread
 * creates and drops secrets.
 */
#ifndef TOKEND_SECRET_H
#define TOKEND_SECRET_H

#include <stddef.h>

struct secret {
	unsigned refs;
	size_t len;
	char data[]; /* len bytes and a NUL */
};

/* Copies len bytes of data; never NULL (out of memory aborts). */
struct secret *secret_new(const char *data, size_t len);
struct secret *secret_new_str(const char *s);
struct secret *secret_ref(struct secret *s);
/* Drops a reference; NULL does nothing. */
void secret_unref(struct secret *s);

/* Wipes and frees a NUL-terminated heap string; NULL does nothing. */
void secret_free_str(char *s);
/* Wipes and frees len bytes at p; NULL does nothing. */
void secret_free_mem(void *p, size_t len);

/* What the secret arena holds now, for tests and debugging. */
struct secret_stats {
	size_t live;     /* struct secret buffers not yet freed */
	size_t mapped;   /* bytes of MADV_DONTDUMP pages mapped */
	size_t fallback; /* live buffers on the heap (mmap failed) */
};

void secret_stats(struct secret_stats *out);

#endif
