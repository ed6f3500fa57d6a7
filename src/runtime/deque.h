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
	/* A deque nobody can steal from (a pool of one worker) pops without
	 * the store-load fence that races against thieves need. */
	bool single_owner;
};

int weft__deque_init(struct weft__deque *dq, size_t capacity);
void weft__deque_destroy(struct weft__deque *dq);

/* Owner only.  Returns 0 or -ENOMEM (the item was not pushed). */
int weft__deque_push(struct weft__deque *dq, void *item);
/* Owner only.  The most recently pushed item, or NULL when empty. */
void *weft__deque_pop(struct weft__deque *dq);
/* Owner only.  Pop only if ITEM is at the bottom; true when taken. */
bool weft__deque_pop_if(struct weft__deque *dq, void *item);
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
