/*
 * deque.h - the Chase-Lev work-stealing deque (Le, Pop, Cohen, Zappa
 * Nardelli, "Correct and Efficient Work-Stealing for Weak Memory Models",
 * PPoPP 2013), holding task pointers.
 *
 * One owner thread pushes and pops at the bottom (LIFO); any number of
 * thieves steal from the top (FIFO).  The buffer grows by doubling; old
 * buffers are kept on a retire list until the deque is destroyed, because a
 * thief may still be reading one (the paper's simple reclamation scheme).
 */
#ifndef WEFT_DEQUE_H
#define WEFT_DEQUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>

struct weft__deque_buf {
	int64_t mask; /* capacity - 1; capacity is a power of two */
	struct weft__deque_buf *retired; /* the buffer this one replaced */
	_Atomic(void *) slots[];
};

struct weft__deque {
	/* top and bottom on separate cache lines: thieves hammer top, the
	 * owner hammers bottom. */
	_Alignas(64) _Atomic int64_t top;
	_Alignas(64) _Atomic int64_t bottom;
	_Atomic(struct weft__deque_buf *) buf;
	/* Owner only: a value top had, so a lower bound of it (top only
	 * grows).  Push checks for room against it and reads the real top,
	 * which every steal writes, only when that check fails. */
	int64_t top_seen;
	/* A deque nobody can steal from (a pool of one worker) pops without
	 * the store-load fence that races against thieves need. */
	bool single_owner;
};

int weft__deque_init(struct weft__deque *dq, size_t capacity);
void weft__deque_destroy(struct weft__deque *dq);

/* Owner only: replace the full buffer OLD holding [t, b) by one twice as
 * large.  NULL on ENOMEM. */
struct weft__deque_buf *weft__deque_grow(struct weft__deque *dq,
					 struct weft__deque_buf *old, int64_t t,
					 int64_t b);

/*
 * The owner's operations are inline: they are the spawn and join path of
 * every task and fork.  weft__deque_push: 0 or -ENOMEM (not pushed).
 * weft__deque_pop: the most recently pushed item, or NULL when empty.
 * weft__deque_pop_if: pop only if ITEM is at the bottom; true when taken.
 */
static inline void *weft__slot_get(struct weft__deque_buf *b, int64_t i)
{
	/* relaxed: the slot is ordered by the top/bottom accesses around it */
	return atomic_load_explicit(&b->slots[i & b->mask],
				    memory_order_relaxed);
}

static inline void weft__slot_put(struct weft__deque_buf *b, int64_t i, void *v)
{
	atomic_store_explicit(&b->slots[i & b->mask], v, memory_order_relaxed);
}

static inline int weft__deque_push(struct weft__deque *dq, void *item)
{
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
	struct weft__deque_buf *a =
		atomic_load_explicit(&dq->buf, memory_order_relaxed);
	if (b - dq->top_seen > a->mask) {
		/* acquire: pairs with the seq_cst CAS on top in steal/pop, so
		 * the size check never overwrites a slot a thief has not
		 * finished with (a slot below top_seen was released to us by
		 * the acquire load that read top_seen) */
		int64_t t =
			atomic_load_explicit(&dq->top, memory_order_acquire);
		dq->top_seen = t;
		if (b - t > a->mask) {
			a = weft__deque_grow(dq, a, t, b);
			if (!a)
				return -ENOMEM;
		}
	}
	weft__slot_put(a, b, item);
	/* release: pairs with the acquire load of bottom in steal, which
	 * then sees the slot written above. */
	atomic_store_explicit(&dq->bottom, b + 1, memory_order_release);
	return 0;
}

static inline void *weft__deque_pop(struct weft__deque *dq)
{
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed) - 1;
	struct weft__deque_buf *a =
		atomic_load_explicit(&dq->buf, memory_order_relaxed);
	atomic_store_explicit(&dq->bottom, b, memory_order_relaxed);
	if (!dq->single_owner) {
		/* seq_cst: the store-load fence of the paper; pairs with the
		 * fence in steal so owner and thief cannot both take the
		 * last item. */
		atomic_thread_fence(memory_order_seq_cst);
	}
	int64_t t = atomic_load_explicit(&dq->top, memory_order_relaxed);
	if (t > b) {
		/* empty: restore */
		atomic_store_explicit(&dq->bottom, b + 1, memory_order_relaxed);
		return NULL;
	}
	void *x = weft__slot_get(a, b);
	if (t == b) {
		/* the last item: race the thieves for it through top */
		if (!atomic_compare_exchange_strong_explicit(
			    &dq->top, &t, t + 1, memory_order_seq_cst,
			    memory_order_relaxed))
			x = NULL; /* a thief won */
		atomic_store_explicit(&dq->bottom, b + 1, memory_order_relaxed);
	}
	return x;
}

static inline bool weft__deque_pop_if(struct weft__deque *dq, void *item)
{
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
	struct weft__deque_buf *a =
		atomic_load_explicit(&dq->buf, memory_order_relaxed);
	/* A cheap owner-side look first: only the owner writes bottom and the
	 * slots below it, so if the bottom slot is not ITEM it never will be
	 * while we look.  A stale top (top_seen: a lower bound, read without
	 * touching the line thieves write) only makes us try and fail. */
	if (b <= dq->top_seen || weft__slot_get(a, b - 1) != item)
		return false;
	void *x = weft__deque_pop(dq);
	if (x == item)
		return true;
	if (x) {
		/* cannot happen: the owner alone changes the bottom slot */
		weft__deque_push(dq, x);
	}
	return false;
}

/*
 * Any thread.  The oldest item, or NULL when empty.  *LOST is set when a
 * race with another thief or the owner made this attempt fail although the
 * deque was not empty (the caller may retry).
 */
void *weft__deque_steal(struct weft__deque *dq, bool *lost);
/* Any thread; a racy estimate used only for heuristics. */
static inline int64_t weft__deque_size(struct weft__deque *dq)
{
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
	int64_t t = atomic_load_explicit(&dq->top, memory_order_relaxed);
	return b > t ? b - t : 0;
}

#endif
