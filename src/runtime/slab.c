/*
 * slab.c - the magazine allocator of slab.h.
 *
 * A thread's cache per class is two magazines, "loaded" and "previous",
 * each a free list of up to MAG_OBJECTS objects.  Allocation pops from
 * loaded; when it is empty a full previous is swapped in, else a magazine
 * comes from the depot, else MAG_OBJECTS objects are carved from the
 * newest chunk.  Freeing pushes onto loaded; when it is full, previous (if
 * full too) goes to the depot and loaded becomes previous.  So a thread
 * that allocates and frees in balance never takes the lock, and one that
 * only frees (the consumer of a producer) hands whole magazines over.
 *
 * Layout of a free object: bytes 0-7 untouched (the owner's poison),
 * bytes 8-15 the free-list link, and in the first object of a magazine in
 * the depot, bytes 16-23 the next magazine and 24-31 the magazine's count.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "slab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef WEFT__ASAN
#include <sanitizer/asan_interface.h>
#endif

#define MAG_OBJECTS 256
#define CHUNK_SIZE ((size_t)2 << 20)

struct weft__slab_obj {
	uint64_t keep; /* the owner's bytes 0-7 */
	struct weft__slab_obj *next;
	struct weft__slab_obj *next_mag; /* depot only */
	size_t count;			 /* depot only */
};

struct slab_cache {
	struct weft__slab_obj *loaded, *prev;
	unsigned nloaded, nprev;
#ifdef WEFT_DEBUG_CHECKS
	void **quarantine; /* a ring of WEFT__QUARANTINE, allocated on use */
	unsigned qhead, qlen;
#endif
};

struct thread_caches {
	struct slab_cache c[WEFT__SLAB_CLASSES];
	struct weft__slab *owner[WEFT__SLAB_CLASSES];
	bool registered;
};

static _Thread_local struct thread_caches caches
	__attribute__((tls_model("initial-exec")));
static pthread_key_t caches_key;
static pthread_once_t caches_once = PTHREAD_ONCE_INIT;

/* ---- the depot and chunks (under s->lock) ------------------------------ */

static void depot_put(struct weft__slab *s, struct weft__slab_obj *list,
		      size_t n)
{
	if (!list)
		return;
	list->count = n;
	pthread_mutex_lock(&s->lock);
	list->next_mag = s->depot;
	s->depot = list;
	pthread_mutex_unlock(&s->lock);
}

/* ---- per-thread caches ------------------------------------------------- */

static void quarantine_flush(struct weft__slab *s, struct slab_cache *c);

/* Thread exit: everything cached goes back to the depots. */
static void caches_drain(void *arg)
{
	struct thread_caches *tc = arg;
	for (unsigned i = 0; i < WEFT__SLAB_CLASSES; i++) {
		struct weft__slab *s = tc->owner[i];
		if (!s)
			continue;
		struct slab_cache *c = &tc->c[i];
		quarantine_flush(s, c);
		depot_put(s, c->loaded, c->nloaded);
		depot_put(s, c->prev, c->nprev);
		c->loaded = c->prev = NULL;
		c->nloaded = c->nprev = 0;
	}
}

static void caches_key_init(void)
{
	pthread_key_create(&caches_key, caches_drain);
}

static inline struct slab_cache *cache_of(struct weft__slab *s)
{
	struct thread_caches *tc = &caches;
	if (__builtin_expect(!tc->registered, 0)) {
		/* first use on this thread: arrange for the exit drain */
		pthread_once(&caches_once, caches_key_init);
		pthread_setspecific(caches_key, tc);
		tc->registered = true;
	}
	tc->owner[s->cls] = s;
	return &tc->c[s->cls];
}

#ifndef WEFT__ASAN

/* A 2 MiB-aligned chunk, huge pages advised.  NULL when mmap fails. */
static char *chunk_map(void)
{
	size_t len = CHUNK_SIZE * 2;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uintptr_t a = ((uintptr_t)p + CHUNK_SIZE - 1) & ~(CHUNK_SIZE - 1);
	char *aligned = (char *)a;
	/* trim the slack on both sides so the chunk is exactly 2 MiB */
	if (aligned > p)
		munmap(p, (size_t)(aligned - p));
	size_t tail = (size_t)(p + len - (aligned + CHUNK_SIZE));
	if (tail)
		munmap(aligned + CHUNK_SIZE, tail);
	/* advisory: fewer page faults and TLB misses for object-heavy
	 * bursts; the kernel may refuse, which costs nothing */
	madvise(aligned, CHUNK_SIZE, MADV_HUGEPAGE);
	return aligned;
}

/* Take a magazine from the depot, or carve one.  Returns its count. */
static unsigned refill(struct weft__slab *s, struct weft__slab_obj **out)
{
	pthread_mutex_lock(&s->lock);
	struct weft__slab_obj *m = s->depot;
	if (m) {
		s->depot = m->next_mag;
		pthread_mutex_unlock(&s->lock);
		*out = m;
		return (unsigned)m->count;
	}
	if ((size_t)(s->end - s->bump) < s->size * MAG_OBJECTS) {
		/* the rest of the old chunk (less than a magazine) is left
		 * unused: at most 1/8 of a chunk for a 1 KiB class */
		char *c = chunk_map();
		if (!c) {
			pthread_mutex_unlock(&s->lock);
			*out = NULL;
			return 0;
		}
		s->bump = c;
		s->end = c + CHUNK_SIZE;
		s->chunks++;
	}
	char *base = s->bump;
	s->bump += s->size * MAG_OBJECTS;
	pthread_mutex_unlock(&s->lock);
	/* link outside the lock: this touches the pages for the first time */
	struct weft__slab_obj *head = NULL;
	for (unsigned i = MAG_OBJECTS; i-- > 0;) {
		struct weft__slab_obj *o =
			(struct weft__slab_obj *)(base + i * s->size);
		o->next = head;
		head = o;
	}
	*out = head;
	return MAG_OBJECTS;
}

/*
 * The fast paths below are a pop and a push on the thread's loaded
 * magazine; everything else (a thread's first use, a magazine exchange)
 * is kept out of line so they need no stack frame.  A magazine holding
 * objects means this thread went through a slow path for the class, which
 * registered the thread and recorded the class's owner.
 */
static __attribute__((noinline)) void *slab_take_slow(struct weft__slab *s)
{
	struct slab_cache *c = cache_of(s);
	if (c->nloaded == 0) {
		if (c->nprev) {
			struct weft__slab_obj *t = c->loaded;
			c->loaded = c->prev;
			c->nloaded = c->nprev;
			c->prev = t;
			c->nprev = 0;
		} else {
			c->nloaded = refill(s, &c->loaded);
			if (!c->nloaded)
				return NULL;
		}
	}
	struct weft__slab_obj *o = c->loaded;
	c->loaded = o->next;
	c->nloaded--;
	return o;
}

static inline __attribute__((always_inline)) void *slab_take(
	struct weft__slab *s)
{
	struct slab_cache *c = &caches.c[s->cls];
	if (__builtin_expect(c->nloaded == 0, 0))
		return slab_take_slow(s);
	struct weft__slab_obj *o = c->loaded;
	c->loaded = o->next;
	c->nloaded--;
	return o;
}

static __attribute__((noinline)) void slab_give_slow(struct weft__slab *s,
						     void *p)
{
	struct slab_cache *c = cache_of(s);
	if (c->nloaded == MAG_OBJECTS) {
		if (c->nprev == MAG_OBJECTS)
			depot_put(s, c->prev, c->nprev);
		c->prev = c->loaded;
		c->nprev = c->nloaded;
		c->loaded = NULL;
		c->nloaded = 0;
	}
	struct weft__slab_obj *o = p;
	o->next = c->loaded;
	c->loaded = o;
	c->nloaded++;
}

static inline __attribute__((always_inline)) void slab_give(
	struct weft__slab *s, void *p)
{
	struct slab_cache *c = &caches.c[s->cls];
	/* an empty magazine may be a thread's first use: slow path */
	if (__builtin_expect(c->nloaded - 1 >= MAG_OBJECTS - 1, 0)) {
		slab_give_slow(s, p);
		return;
	}
	struct weft__slab_obj *o = p;
	o->next = c->loaded;
	c->loaded = o;
	c->nloaded++;
}

bool weft__slab_poisoned(const void *p)
{
	(void)p;
	return false;
}

#else /* WEFT__ASAN: malloc and free, so the sanitizer sees every object */

static void *slab_take(struct weft__slab *s)
{
	return malloc(s->size);
}

static void slab_give(struct weft__slab *s, void *p)
{
	(void)s;
	ASAN_UNPOISON_MEMORY_REGION(p, s->size);
	free(p);
}

bool weft__slab_poisoned(const void *p)
{
	return __asan_address_is_poisoned(p);
}

#endif

/* ---- the quarantine of debug builds ------------------------------------ */

#ifdef WEFT_DEBUG_CHECKS

static void quarantine_flush(struct weft__slab *s, struct slab_cache *c)
{
	while (c->qlen) {
		void *p = c->quarantine[c->qhead];
		c->qhead = (c->qhead + 1) % WEFT__QUARANTINE;
		c->qlen--;
		slab_give(s, p);
	}
	free(c->quarantine);
	c->quarantine = NULL;
}

void weft__slab_free(struct weft__slab *s, void *p)
{
	struct slab_cache *c = cache_of(s);
#ifdef WEFT__ASAN
	/* A quarantined object references nothing (bytes 0-7 are the
	 * owner's poison), so LeakSanitizer still reports what only a
	 * released object pointed to.  Then any use is a use-after-free
	 * report; the runtime's own checks ask weft__slab_poisoned first. */
	memset((char *)p + 8, 0, s->size - 8);
	ASAN_POISON_MEMORY_REGION(p, s->size);
#endif
	if (!c->quarantine &&
	    !(c->quarantine = malloc(WEFT__QUARANTINE * sizeof(void *)))) {
		slab_give(s, p); /* no memory for the ring: no quarantine */
		return;
	}
	if (c->qlen == WEFT__QUARANTINE) {
		void *old = c->quarantine[c->qhead];
		c->quarantine[c->qhead] = p;
		c->qhead = (c->qhead + 1) % WEFT__QUARANTINE;
		slab_give(s, old);
		return;
	}
	c->quarantine[(c->qhead + c->qlen) % WEFT__QUARANTINE] = p;
	c->qlen++;
}

#else

static void quarantine_flush(struct weft__slab *s, struct slab_cache *c)
{
	(void)s;
	(void)c;
}

void weft__slab_free(struct weft__slab *s, void *p)
{
	slab_give(s, p);
}

#endif

void *weft__slab_alloc(struct weft__slab *s)
{
	return slab_take(s);
}
