/*
 * deque.c - Chase-Lev work-stealing deque with the C11 orderings of Le et
 * al. (PPoPP 2013, figure 1).  The comments name, for each atomic, the
 * access it synchronizes with.
 */
#include "deque.h"

#include <errno.h>
#include <stdlib.h>

static struct weft__deque_buf *buf_new(int64_t capacity)
{
	struct weft__deque_buf *b =
		malloc(sizeof(*b) + (size_t)capacity * sizeof(b->slots[0]));
	if (!b)
		return NULL;
	b->mask = capacity - 1;
	b->retired = NULL;
	return b;
}

int weft__deque_init(struct weft__deque *dq, size_t capacity)
{
	int64_t cap = 16;
	while ((size_t)cap < capacity)
		cap <<= 1;
	struct weft__deque_buf *b = buf_new(cap);
	if (!b)
		return -ENOMEM;
	atomic_init(&dq->top, 0);
	atomic_init(&dq->bottom, 0);
	atomic_init(&dq->buf, b);
	dq->single_owner = false;
	return 0;
}

void weft__deque_destroy(struct weft__deque *dq)
{
	struct weft__deque_buf *b =
		atomic_load_explicit(&dq->buf, memory_order_relaxed);
	while (b) {
		struct weft__deque_buf *old = b->retired;
		free(b);
		b = old;
	}
	atomic_store_explicit(&dq->buf, NULL, memory_order_relaxed);
}

static inline void *slot_get(struct weft__deque_buf *b, int64_t i)
{
	/* relaxed: the slot is ordered by the top/bottom accesses around it */
	return atomic_load_explicit(&b->slots[i & b->mask],
				    memory_order_relaxed);
}

static inline void slot_put(struct weft__deque_buf *b, int64_t i, void *v)
{
	atomic_store_explicit(&b->slots[i & b->mask], v, memory_order_relaxed);
}

/* Owner only: a buffer twice as large holding items [t, b). */
static struct weft__deque_buf *grow(struct weft__deque *dq,
				    struct weft__deque_buf *old, int64_t t,
				    int64_t b)
{
	struct weft__deque_buf *nb = buf_new((old->mask + 1) * 2);
	if (!nb)
		return NULL;
	for (int64_t i = t; i < b; i++)
		slot_put(nb, i, slot_get(old, i));
	nb->retired = old;
	/* release: pairs with the acquire load of buf in steal, so a thief
	 * that sees the new buffer sees the copied slots. */
	atomic_store_explicit(&dq->buf, nb, memory_order_release);
	return nb;
}

int weft__deque_push(struct weft__deque *dq, void *item)
{
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
	/* acquire: pairs with the seq_cst CAS on top in steal/pop, so the
	 * size check never overwrites a slot a thief has not finished with */
	int64_t t = atomic_load_explicit(&dq->top, memory_order_acquire);
	struct weft__deque_buf *a =
		atomic_load_explicit(&dq->buf, memory_order_relaxed);
	if (b - t > a->mask) {
		a = grow(dq, a, t, b);
		if (!a)
			return -ENOMEM;
	}
	slot_put(a, b, item);
	/* release: pairs with the acquire load of bottom in steal, which
	 * then sees the slot written above. */
	atomic_store_explicit(&dq->bottom, b + 1, memory_order_release);
	return 0;
}

void *weft__deque_pop(struct weft__deque *dq)
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
	void *x = slot_get(a, b);
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

bool weft__deque_pop_if(struct weft__deque *dq, void *item)
{
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
	struct weft__deque_buf *a =
		atomic_load_explicit(&dq->buf, memory_order_relaxed);
	int64_t t = atomic_load_explicit(&dq->top, memory_order_relaxed);
	/* A cheap owner-side look first: only the owner writes bottom and the
	 * slots below it, so if the bottom slot is not ITEM it never will be
	 * while we look.  A stale top only makes us try and fail. */
	if (b <= t || slot_get(a, b - 1) != item)
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

void *weft__deque_steal(struct weft__deque *dq, bool *lost)
{
	/* acquire: pairs with the seq_cst CAS on top by other thieves */
	int64_t t = atomic_load_explicit(&dq->top, memory_order_acquire);
	/* seq_cst: pairs with the fence in pop (see there). */
	atomic_thread_fence(memory_order_seq_cst);
	/* acquire: pairs with the release store of bottom in push */
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_acquire);
	*lost = false;
	if (t >= b)
		return NULL;
	/* acquire: pairs with the release store of buf in grow */
	struct weft__deque_buf *a =
		atomic_load_explicit(&dq->buf, memory_order_acquire);
	void *x = slot_get(a, t);
	if (!atomic_compare_exchange_strong_explicit(&dq->top, &t, t + 1,
						     memory_order_seq_cst,
						     memory_order_relaxed)) {
		*lost = true;
		return NULL;
	}
	return x;
}
