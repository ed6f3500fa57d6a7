/*
 * cancel_internal.h - the cancellation source layout, for code that wants
 * the "is it canceled" check inlined on a hot path.
 *
 * Two reference counts (like a strong and a weak pointer):
 *  - refs: weft_cancel_source_ref/_unref.  When it reaches zero the source
 *    is disposed: its timer is stopped, it unregisters from the tokens it
 *    is linked to, and its pending callbacks are dropped without running.
 *  - mem: keeps the memory (lock, node pool) alive.  Held by every
 *    registration value (weft_cancel_registration), by a pending
 *    cancel_after timer, by a cancel in progress, and once in total by
 *    the strong references.  A stale registration can therefore always be
 *    unregistered or disposed safely, even after the source was disposed.
 */
#ifndef WEFT_CANCEL_INTERNAL_H
#define WEFT_CANCEL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <weft/cancel.h>

#include "evloop.h"

/* Values of weft_cancel_source.state (a futex word). */
enum {
	WEFT__CANCEL_NOT_CANCELED = 0,
	WEFT__CANCEL_NOTIFYING = 1, /* canceled; callbacks running */
	WEFT__CANCEL_NOTIFIED = 2,  /* canceled; every callback ran */
};

struct weft__cancel_node;

struct weft_cancel_source {
	/* WEFT__CANCEL_*; only ever increases.  Written with release (the
	 * cancel CAS and the final store), read with acquire. */
	_Atomic uint32_t state;
	/* Threads blocked in weft_cancel_wait (futex waiters). */
	_Atomic uint32_t waiters;
	_Atomic long refs; /* strong; see above */
	_Atomic long mem;  /* memory; see above */
	bool immortal;	   /* the canceled singleton: counts unused */

	pthread_mutex_t lock;	/* never held while a callback runs */
	pthread_cond_t cb_done; /* signaled when a callback returns */
	/* All below under LOCK. */
	bool disposed;
	struct weft__cancel_node *head; /* registered, newest first */
	struct weft__cancel_node *pool; /* recycled nodes (see cancel.c) */
	uint64_t next_id;
	uint64_t executing_id; /* id of the callback running now, or 0 */
	pthread_t executing_thread;
	weft__timer *timer; /* pending cancel_after, or NULL */
	/* Linked sources: one registration per parent token (fixed). */
	size_t nlinks;
	weft_cancel_registration *links;
};

/* The inlinable form of weft_cancel_requested: one acquire load. */
static inline bool weft__cancel_requested(weft_cancel_token t)
{
	/* acquire: pairs with the acq_rel CAS in weft_cancel_source_cancel,
	 * so whatever the canceler did before canceling is visible. */
	return t.source &&
	       atomic_load_explicit(&t.source->state, memory_order_acquire) !=
		       WEFT__CANCEL_NOT_CANCELED;
}

#endif
