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
	dq->top_seen = 0;
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

/* Owner only: a buffer twice as large holding items [t, b). */
struct weft__deque_buf *weft__deque_grow(struct weft__deque *dq,
					 struct weft__deque_buf *old, int64_t t,
					 int64_t b)
{
	struct weft__deque_buf *nb = buf_new((old->mask + 1) * 2);
	if (!nb)
		return NULL;
	for (int64_t i = t; i < b; i++)
		weft__slot_put(nb, i, weft__slot_get(old, i));
	nb->retired = old;
	/* release: pairs with the acquire load of buf in steal, so a thief
	 * that sees the new buffer sees the copied slots. */
	atomic_store_explicit(&dq->buf, nb, memory_order_release);
	return nb;
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
	void *x = weft__slot_get(a, t);
	if (!atomic_compare_exchange_strong_explicit(&dq->top, &t, t + 1,
						     memory_order_seq_cst,
						     memory_order_relaxed)) {
		*lost = true;
		return NULL;
	}
	return x;
}
