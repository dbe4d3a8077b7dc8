/* xalloc.h - allocation that aborts on out of memory.
 *
 * tokend does not try to limp on without memory: systemd or the container
 * runtime restarts it, and the persisted tokens make that restart cheap.
 */
#ifndef TOKEND_XALLOC_H
#define TOKEND_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
int xasprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
