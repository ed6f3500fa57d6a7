/*
 * slab.h - fixed-size object allocator for the runtime's hot objects.
 *
 * Objects of one size class come from 2 MiB chunks (transparent huge pages
 * where the kernel allows them) and are recycled through per-thread
 * magazines (Bonwick's design): a thread allocates from and frees to its
 * own two magazines, and only every MAG_OBJECTS operations exchanges a full
 * magazine with the class's depot under a lock.  Memory is never returned
 * to the kernel: a burst of a million tasks leaves its chunks ready for the
 * next burst.
 *
 * A freed object keeps its first 8 bytes: the free-list links live from
 * byte 8 on, so a poison value written there (see weft__task_released)
 * stays readable until the object is reused.
 *
 * Debug builds (WEFT_DEBUG_CHECKS) hold the last WEFT__QUARANTINE objects
 * each thread freed back from reuse, so that a stale pointer keeps finding
 * the poison.  AddressSanitizer builds allocate every object with malloc
 * (so leaks and use-after-free stay visible to the sanitizer), poison the
 * quarantined ones for ASan, and free them when they leave the quarantine.
 */
#ifndef WEFT_SLAB_H
#define WEFT_SLAB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT__ASAN 1
#endif
#endif

/* Objects a debug-build thread keeps from reuse after freeing them. */
#define WEFT__QUARANTINE 1024

/* The size classes: one static weft__slab each, indexed by these. */
enum weft__slab_class {
	WEFT__SLAB_TASK,
	WEFT__SLAB_COLD,
	WEFT__SLAB_HOOKS, /* when_all's blocks of hooks (compose.c) */
	WEFT__SLAB_CLASSES
};

struct weft__slab_obj;
struct weft__slab {
	size_t size;		      /* object size: a multiple of 8, >= 32 */
	unsigned cls;		      /* its enum weft__slab_class */
	pthread_mutex_t lock;	      /* guards everything below */
	struct weft__slab_obj *depot; /* magazines, linked by first objects */
	char *bump, *end;	      /* the unused rest of the newest chunk */
	size_t chunks;		      /* chunks mapped so far (statistics) */
};

/* Objects are 8-byte aligned: the runtime's objects hold nothing wider,
 * and a 120-byte task then takes 120 bytes, not 128. */
#define WEFT__SLAB_INIT(sz, c)                                                 \
	{                                                                      \
		.size = ((sz) + 7) & ~(size_t)7, .cls = (c),                   \
		.lock = PTHREAD_MUTEX_INITIALIZER,                             \
	}

/*
 * An object of S's size, uninitialised, or NULL when memory is exhausted.
 * Thread-safe; lock-free except once per magazine.
 */
void *weft__slab_alloc(struct weft__slab *s);

/*
 * Give P (from weft__slab_alloc of S, on any thread) back.  Its first 8
 * bytes are left as they are.  Thread-safe.
 */
void weft__slab_free(struct weft__slab *s, void *p);

/*
 * True when P lies in memory that AddressSanitizer reports as poisoned
 * (released, or in the quarantine).  Always false without ASan.  Reading
 * P's first word is safe after this returned false for P's slab objects.
 */
bool weft__slab_poisoned(const void *p);

#endif
