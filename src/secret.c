/* secret.c - immutable, reference-counted secret buffers.
 *
 * Each struct secret sits in a chunk of a small slab arena: 16 KiB slabs
 * of mmap'd pages marked MADV_DONTDUMP, one list of slabs per power-of-two
 * chunk size (64 B to 2 KiB); a bigger secret gets pages of its own. A
 * hidden header in front of each struct secret names its slab, so freeing
 * needs no lookup and callers keep the struct secret they always had. A
 * slab whose last chunk is freed is unmapped at once, so the arena is empty
 * (nothing mapped) whenever no secret is alive: a clean shutdown leaves
 * nothing for valgrind or LeakSanitizer to report.
 *
 * If mmap fails the secret goes to malloc (it is still wiped on free): a
 * token that may end up in a core dump beats a token that is not served.
 */
#include "secret.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define SECRET_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SECRET_ASAN 1
#endif
#endif

#ifdef SECRET_ASAN
#include <sanitizer/asan_interface.h>
/* ASan does not watch mmap'd memory: poison what is not handed out so an
 * overrun past a secret's NUL is still caught. */
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define SLAB_BYTES      16384u
#define CHUNK_MIN_SHIFT 6  /* 64 B */
#define CHUNK_MAX_SHIFT 11 /* 2 KiB */
#define NCLASSES        (CHUNK_MAX_SHIFT - CHUNK_MIN_SHIFT + 1)
#define MAX_CHUNKS      (SLAB_BYTES >> CHUNK_MIN_SHIFT)
#define SLAB_HEAD       128u /* struct slab, rounded up to the largest alignment */

struct slab {
	struct slab *next, *prev;
	size_t map_len;   /* bytes mapped, this header included */
	unsigned cls;     /* size class; NCLASSES for a large secret */
	unsigned nchunks; /* chunks the slab holds */
	unsigned used;    /* chunks handed out */
	uint64_t busy[MAX_CHUNKS / 64];
};

/* In front of every struct secret. slab is NULL for a malloc fallback.
 * Under ASan, canary is a heap byte only this header points to: mmap'd
 * pages are not scanned for pointers, so a secret never unref'd shows up
 * as a leak of its canary, with the stack of the secret_new that made it. */
union chunk_head {
	struct {
		struct slab *slab;
		void *canary;
	} h;
	max_align_t align;
};

_Static_assert(sizeof(struct slab) <= SLAB_HEAD, "slab header too big");
_Static_assert(SLAB_HEAD % sizeof(max_align_t) == 0, "slab header alignment");

/* The arena is process-wide like malloc's own state: secrets are made in
 * config loading and in every source, and dropped wherever a token goes. */
static struct {
	struct slab *classes[NCLASSES];
	size_t live, mapped, fallback;
} arena;

static size_t
page_size(void)
{
	static size_t page;

	if (page == 0) {
		long v = sysconf(_SC_PAGESIZE);
		page = v > 0 ? (size_t)v : 4096;
	}
	return page;
}

static struct slab *
slab_map(unsigned cls, size_t len)
{
	struct slab *sl;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
	               0);

	if (p == MAP_FAILED) {
		log_debug("secret: mmap of %zu bytes failed (%s); using the heap", len,
		          strerror(errno));
		return NULL;
	}
#ifdef MADV_DONTDUMP
	if (madvise(p, len, MADV_DONTDUMP) != 0)
		log_debug("secret: madvise(MADV_DONTDUMP) failed: %s", strerror(errno));
#endif
	sl = p;
	memset(sl, 0, sizeof(*sl));
	sl->map_len = len;
	sl->cls = cls;
	if (cls < NCLASSES)
		sl->nchunks = (SLAB_BYTES - SLAB_HEAD) >> (cls + CHUNK_MIN_SHIFT);
	else
		sl->nchunks = 1;
	POISON((char *)p + SLAB_HEAD, len - SLAB_HEAD);
	arena.mapped += len;
	return sl;
}

static void
slab_unmap(struct slab *sl)
{
	if (sl->cls < NCLASSES) {
		if (sl->prev != NULL)
			sl->prev->next = sl->next;
		else
			arena.classes[sl->cls] = sl->next;
		if (sl->next != NULL)
			sl->next->prev = sl->prev;
	}
	arena.mapped -= sl->map_len;
	UNPOISON(sl, sl->map_len);
	munmap(sl, sl->map_len);
}

static void *
chunk_at(struct slab *sl, unsigned i)
{
	return (char *)sl + SLAB_HEAD + ((size_t)i << (sl->cls + CHUNK_MIN_SHIFT));
}

/* Takes a free chunk from the class's first slab with room, mapping a new
 * slab (put first) when all are full. */
static void *
class_take(unsigned cls, struct slab **slab)
{
	struct slab *sl = arena.classes[cls];
	unsigned w, bit;

	while (sl != NULL && sl->used == sl->nchunks)
		sl = sl->next;
	if (sl == NULL) {
		sl = slab_map(cls, SLAB_BYTES);
		if (sl == NULL)
			return NULL;
		sl->next = arena.classes[cls];
		if (sl->next != NULL)
			sl->next->prev = sl;
		arena.classes[cls] = sl;
	}
	for (w = 0; ~sl->busy[w] == 0; w++)
		;
	bit = (unsigned)__builtin_ctzll(~sl->busy[w]);
	sl->busy[w] |= UINT64_C(1) << bit;
	sl->used++;
	*slab = sl;
	return chunk_at(sl, w * 64 + bit);
}

static void *
arena_take(size_t need, struct slab **slab)
{
	unsigned cls;
	size_t len;

	for (cls = 0; cls < NCLASSES; cls++)
		if (need <= (size_t)1 << (cls + CHUNK_MIN_SHIFT))
			return class_take(cls, slab);
	len = (SLAB_HEAD + need + page_size() - 1) & ~(page_size() - 1);
	*slab = slab_map(NCLASSES, len);
	if (*slab == NULL)
		return NULL;
	(*slab)->used = 1;
	return (char *)*slab + SLAB_HEAD;
}

static void
arena_give_back(struct slab *sl, void *chunk, size_t need)
{
	unsigned i;

	OPENSSL_cleanse(chunk, need);
	if (sl->cls < NCLASSES) {
		i = (unsigned)(((char *)chunk - (char *)sl - SLAB_HEAD) >>
		               (sl->cls + CHUNK_MIN_SHIFT));
		sl->busy[i / 64] &= ~(UINT64_C(1) << (i % 64));
	}
	POISON(chunk, need);
	if (--sl->used == 0)
		slab_unmap(sl);
}

struct secret *
secret_new(const char *data, size_t len)
{
	size_t need = sizeof(union chunk_head) + sizeof(struct secret) + len + 1;
	struct slab *sl = NULL;
	union chunk_head *head = arena_take(need, &sl);
	struct secret *s;

	if (head == NULL) {
		head = xmalloc(need);
		arena.fallback++;
	}
	UNPOISON(head, need);
	head->h.slab = sl;
	head->h.canary = NULL;
#ifdef SECRET_ASAN
	head->h.canary = xmalloc(1);
#endif
	s = (struct secret *)(head + 1);
	s->refs = 1;
	s->len = len;
	memcpy(s->data, data, len);
	s->data[len] = '\0';
	arena.live++;
	return s;
}

struct secret *
secret_new_str(const char *str)
{
	return secret_new(str, strlen(str));
}

struct secret *
secret_ref(struct secret *s)
{
	if (s != NULL)
		s->refs++;
	return s;
}

void
secret_unref(struct secret *s)
{
	union chunk_head *head;
	size_t need;

	if (s == NULL || --s->refs > 0)
		return;
	head = (union chunk_head *)s - 1;
	need = sizeof(*head) + sizeof(*s) + s->len + 1;
	free(head->h.canary);
	arena.live--;
	if (head->h.slab != NULL) {
		arena_give_back(head->h.slab, head, need);
		return;
	}
	arena.fallback--;
	OPENSSL_cleanse(head, need);
	free(head);
}

void
secret_stats(struct secret_stats *out)
{
	out->live = arena.live;
	out->mapped = arena.mapped;
	out->fallback = arena.fallback;
}

void
secret_free_str(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void
secret_free_mem(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}
