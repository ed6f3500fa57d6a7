/*
 * task_fifo.h - a growable ring of task pointers, for schedulers built on
 * the public custom-scheduler API (sched_limited.c, runloop.c).  Not
 * thread-safe: the owner locks around every call.
 */
#ifndef WEFT_RUNTIME_TASK_FIFO_H
#define WEFT_RUNTIME_TASK_FIFO_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "weft/task.h"

struct weft__task_fifo {
	weft_task **buf;
	size_t cap; /* 0 or a power of two */
	size_t head;
	size_t len;
};

static inline size_t weft__fifo_len(const struct weft__task_fifo *q)
{
	return q->len;
}

/* Append T.  -ENOMEM when the ring cannot grow (T is not stored). */
static inline int weft__fifo_push(struct weft__task_fifo *q, weft_task *t)
{
	if (q->len == q->cap) {
		size_t ncap = q->cap ? q->cap * 2 : 16, i;
		weft_task **nb;

		if (ncap < q->cap || ncap > SIZE_MAX / sizeof(*nb))
			return -ENOMEM;
		nb = malloc(ncap * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		/* Unroll the ring so the new one starts at 0. */
		for (i = 0; i < q->len; i++)
			nb[i] = q->buf[(q->head + i) & (q->cap - 1)];
		free(q->buf);
		q->buf = nb;
		q->cap = ncap;
		q->head = 0;
	}
	q->buf[(q->head + q->len) & (q->cap - 1)] = t;
	q->len++;
	return 0;
}

/* The oldest task, removed; NULL when empty. */
static inline weft_task *weft__fifo_pop(struct weft__task_fifo *q)
{
	weft_task *t;

	if (!q->len)
		return NULL;
	t = q->buf[q->head];
	q->head = (q->head + 1) & (q->cap - 1);
	q->len--;
	return t;
}

/*
 * Remove T wherever it is, keeping the others in order; true if found.
 * O(n), searching from the newest end first since the task being waited
 * for was usually queued last.
 */
static inline bool weft__fifo_remove(struct weft__task_fifo *q, weft_task *t)
{
	size_t i, j, mask = q->cap - 1;

	for (i = q->len; i-- > 0;) {
		if (q->buf[(q->head + i) & mask] != t)
			continue;
		for (j = i; j + 1 < q->len; j++)
			q->buf[(q->head + j) & mask] =
				q->buf[(q->head + j + 1) & mask];
		q->len--;
		return true;
	}
	return false;
}

/* Free the ring; the tasks still in it are the caller's business. */
static inline void weft__fifo_destroy(struct weft__task_fifo *q)
{
	free(q->buf);
	q->buf = NULL;
	q->cap = q->head = q->len = 0;
}

/* weft__fifo_remove under LOCK: a scheduler taking a queued task back. */
static inline bool weft__fifo_take_back(struct weft__task_fifo *q,
					pthread_mutex_t *lock, weft_task *t)
{
	pthread_mutex_lock(lock);
	bool found = weft__fifo_remove(q, t);
	pthread_mutex_unlock(lock);
	return found;
}

/* Drop the reference held on every task still queued, then free the ring
 * (a scheduler going away with tasks that will never run). */
static inline void weft__fifo_drop_all(struct weft__task_fifo *q)
{
	weft_task *t;
	while ((t = weft__fifo_pop(q)))
		weft_task_unref(t);
	weft__fifo_destroy(q);
}

#endif
