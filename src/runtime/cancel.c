/*
 * cancel.c - cancellation sources, tokens and registrations (.NET's
 * CancellationTokenSource, see spec A.14 / C11).
 *
 * Registrations are nodes of a doubly linked list per source, pushed at the
 * head, so cancel() (which always takes the head) runs them last registered
 * first.  Cancel pops ONE node at a time under the lock and runs it with
 * the lock released, so unregistering a node that has not run yet keeps
 * working during a cancel, and a callback may register, unregister or
 * dispose freely.  The canceler publishes the id and thread of the callback
 * it runs (executing_id / executing_thread) so dispose can wait for exactly
 * that callback, and not when it is called from inside it.
 *
 * Nodes are never returned to malloc while the source's memory lives: they
 * go to a per-source pool with id 0.  A registration value holds a memory
 * reference on its source, so its node pointer always points at a node of
 * that source; ids are unique per source and never 0, so comparing the ids
 * under the lock tells "still registered" from "ran / removed / recycled".
 *
 * Concurrent unregister vs cancel: both decide under the lock; whoever
 * unlinks the node first wins.  Unregister returns true iff it unlinked it,
 * and then cancel can never see it: exactly one of the two happens.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft/cancel.h>
#include <weft/error.h>

#include "cancel_internal.h"
#include "evloop.h"
#include "futex.h"

struct weft__cancel_node {
	struct weft__cancel_node *prev, *next;
	uint64_t id; /* 0 while in the pool */
	void (*fn)(void *arg);
	void *arg;
};

/* The source behind weft_cancel_token_canceled(): canceled from the start,
 * never freed, no reference counting. */
static struct weft_cancel_source canceled_source = {
	.state = WEFT__CANCEL_NOTIFIED,
	.immortal = true,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cb_done = PTHREAD_COND_INITIALIZER,
};

/* ---- memory references ------------------------------------------------- */

static void source_free(weft_cancel_source *s)
{
	struct weft__cancel_node *n = s->pool;
	while (n) {
		struct weft__cancel_node *next = n->next;
		free(n);
		n = next;
	}
	for (n = s->head; n;) { /* empty after dispose; be safe anyway */
		struct weft__cancel_node *next = n->next;
		free(n);
		n = next;
	}
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cb_done);
	free(s->links);
	free(s);
}

static void mem_ref(weft_cancel_source *s)
{
	if (!s->immortal)
		/* relaxed: the caller already holds a memory reference (or a
		 * strong one, which implies it). */
		atomic_fetch_add_explicit(&s->mem, 1, memory_order_relaxed);
}

static void mem_unref(weft_cancel_source *s)
{
	/* acq_rel: the last one must see every other holder's uses before
	 * freeing; pairs with the same fetch_sub by the other holders. */
	if (!s->immortal &&
	    atomic_fetch_sub_explicit(&s->mem, 1, memory_order_acq_rel) == 1)
		source_free(s);
}

/* ---- nodes (under s->lock) ----------------------------------------------- */

static void node_unlink(weft_cancel_source *s, struct weft__cancel_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		s->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
}

static void node_recycle(weft_cancel_source *s, struct weft__cancel_node *n)
{
	n->id = 0;
	n->fn = NULL;
	n->arg = NULL;
	n->prev = NULL;
	n->next = s->pool;
	s->pool = n;
}

/* Drop every registration without running it. */
static void drop_all_nodes(weft_cancel_source *s)
{
	while (s->head) {
		struct weft__cancel_node *n = s->head;
		node_unlink(s, n);
		node_recycle(s, n);
	}
}

/* ---- sources ------------------------------------------------------------- */

static int source_alloc(weft_cancel_source **out, size_t nlinks)
{
	weft_cancel_source *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	if (nlinks) {
		s->links = calloc(nlinks, sizeof(*s->links));
		if (!s->links) {
			free(s);
			return -ENOMEM;
		}
		s->nlinks = nlinks;
	}
	if (pthread_mutex_init(&s->lock, NULL)) {
		free(s->links);
		free(s);
		return -ENOMEM;
	}
	if (pthread_cond_init(&s->cb_done, NULL)) {
		pthread_mutex_destroy(&s->lock);
		free(s->links);
		free(s);
		return -ENOMEM;
	}
	/* relaxed: S is not shared yet. */
	atomic_init(&s->state, WEFT__CANCEL_NOT_CANCELED);
	atomic_init(&s->waiters, 0);
	atomic_init(&s->refs, 1);
	atomic_init(&s->mem, 1); /* the strong references' share */
	s->next_id = 1;
	*out = s;
	return 0;
}

int weft_cancel_source_new(weft_cancel_source **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	return source_alloc(out, 0);
}

static void link_cb(void *arg)
{
	/* ARG's memory is valid here: its dispose unregisters this callback
	 * and waits for it when it runs on another thread. */
	weft_cancel_source_cancel(arg);
}

int weft_cancel_source_new_linked(weft_cancel_source **out,
				  const weft_cancel_token *tokens, size_t n)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!tokens || n == 0)
		return -EINVAL;
	weft_cancel_source *s;
	int rc = source_alloc(&s, n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		rc = weft_cancel_register(tokens[i], link_cb, s, &s->links[i]);
		if (rc) {
			weft_cancel_source_unref(s); /* unregisters the rest */
			return rc;
		}
	}
	*out = s;
	return 0;
}

weft_cancel_source *weft_cancel_source_ref(weft_cancel_source *s)
{
	if (s && !s->immortal)
		/* relaxed: the caller holds a reference already. */
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

/* Take a strong reference unless the source is being disposed. */
static bool source_try_ref(weft_cancel_source *s)
{
	/* relaxed: the caller holds a memory reference, so S is readable;
	 * the count itself orders nothing else. */
	long r = atomic_load_explicit(&s->refs, memory_order_relaxed);
	while (r > 0)
		if (atomic_compare_exchange_weak_explicit(&s->refs, &r, r + 1,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return true;
	return false;
}

static void source_dispose(weft_cancel_source *s)
{
	/* Stop hearing from the parents first (waits for a link callback
	 * running on another thread), then drop what is left. */
	for (size_t i = 0; i < s->nlinks; i++)
		weft_cancel_registration_dispose(&s->links[i]);

	pthread_mutex_lock(&s->lock);
	s->disposed = true;
	weft__timer *t = s->timer;
	s->timer = NULL;
	/* Not canceled: pending callbacks will never run; drop them.  If a
	 * cancel is in progress (a callback dropped the last reference), it
	 * still runs the rest, as .NET does.  No new cancel can start: the
	 * links are gone and the timer cannot take a strong reference.
	 * acquire: pairs with the cancel CAS. */
	if (!atomic_load_explicit(&s->state, memory_order_acquire))
		drop_all_nodes(s);
	pthread_mutex_unlock(&s->lock);

	if (t && weft__timer_cancel(t))
		mem_unref(s); /* the timer's reference: it will never fire */
	mem_unref(s);	      /* the strong references' share */
}

void weft_cancel_source_unref(weft_cancel_source *s)
{
	if (!s || s->immortal)
		return;
	/* acq_rel: pairs with the other holders' fetch_sub so the disposer
	 * sees all their uses. */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		source_dispose(s);
}

int weft_cancel_source_cancel(weft_cancel_source *s)
{
	if (!s)
		return -EINVAL;
	if (s->immortal)
		return 0;
	uint32_t expected = WEFT__CANCEL_NOT_CANCELED;
	/* seq_cst: release publishes the canceler's prior writes to the
	 * acquire loads in weft__cancel_requested; and with the seq_cst load
	 * of WAITERS below it forms a Dekker pair with weft_cancel_wait
	 * (fetch_add WAITERS, then load STATE): one side sees the other. */
	if (!atomic_compare_exchange_strong_explicit(
		    &s->state, &expected, WEFT__CANCEL_NOTIFYING,
		    memory_order_seq_cst, memory_order_relaxed))
		return 0;
	/* A callback may drop the last strong reference: keep the memory
	 * until the notification loop is done. */
	mem_ref(s);

	/* seq_cst: see the CAS above. */
	if (atomic_load_explicit(&s->waiters, memory_order_seq_cst))
		weft__futex_wake(&s->state, INT_MAX);

	pthread_mutex_lock(&s->lock);
	weft__timer *t = s->timer;
	s->timer = NULL;
	pthread_mutex_unlock(&s->lock);
	if (t && weft__timer_cancel(t))
		mem_unref(s); /* the timer's reference (never the last) */

	pthread_t self = pthread_self();
	for (;;) {
		pthread_mutex_lock(&s->lock);
		if (s->executing_id) {
			s->executing_id = 0;
			pthread_cond_broadcast(&s->cb_done);
		}
		struct weft__cancel_node *n = s->head;
		if (!n) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		node_unlink(s, n);
		void (*fn)(void *) = n->fn;
		void *arg = n->arg;
		s->executing_id = n->id;
		s->executing_thread = self;
		node_recycle(s, n);
		pthread_mutex_unlock(&s->lock);
		fn(arg);
	}
	/* release: pairs with the acquire loads of STATE (informational: the
	 * source counts as canceled since the CAS). */
	atomic_store_explicit(&s->state, WEFT__CANCEL_NOTIFIED,
			      memory_order_release);
	mem_unref(s);
	return 0;
}

static void cancel_after_fired(void *arg)
{
	weft_cancel_source *s = arg;
	/* We hold a memory reference only: cancel unless the source is
	 * already being disposed (then nobody can observe it anyway). */
	if (source_try_ref(s)) {
		weft_cancel_source_cancel(s);
		weft_cancel_source_unref(s);
	}
	mem_unref(s); /* the timer's reference */
}

int weft_cancel_source_cancel_after(weft_cancel_source *s, int64_t ms)
{
	if (!s || ms < -1 || ms > 0xFFFFFFFELL)
		return -EINVAL;
	if (s->immortal)
		return 0;
	if (ms == 0)
		return weft_cancel_source_cancel(s);

	pthread_mutex_lock(&s->lock);
	/* acquire: pairs with the CAS in weft_cancel_source_cancel. */
	if (atomic_load_explicit(&s->state, memory_order_acquire) ||
	    s->disposed) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	weft__timer *t = NULL;
	if (ms > 0) {
		mem_ref(s); /* held by the timer until it fired or is removed */
		int rc = weft__timer_start(&t, ms, cancel_after_fired, s);
		if (rc) {
			pthread_mutex_unlock(&s->lock);
			mem_unref(s); /* never the last: the caller holds one */
			return rc;
		}
	}
	weft__timer *old = s->timer;
	s->timer = t;
	pthread_mutex_unlock(&s->lock);
	/* The old due time is replaced.  If it is firing right now it may
	 * still cancel the source: that race is inherent. */
	if (old && weft__timer_cancel(old))
		mem_unref(s);
	return 0;
}

bool weft_cancel_source_try_reset(weft_cancel_source *s)
{
	if (!s || s->immortal)
		return false;
	bool timer_removed = false;
	pthread_mutex_lock(&s->lock);
	/* acquire: pairs with the CAS in weft_cancel_source_cancel. */
	if (atomic_load_explicit(&s->state, memory_order_acquire)) {
		pthread_mutex_unlock(&s->lock);
		return false;
	}
	weft__timer *t = s->timer;
	s->timer = NULL;
	if (t && !weft__timer_cancel(t)) {
		/* The timer fired: the source is being canceled. */
		pthread_mutex_unlock(&s->lock);
		return false;
	}
	timer_removed = t != NULL;
	drop_all_nodes(s);
	pthread_mutex_unlock(&s->lock);
	if (timer_removed)
		mem_unref(s);
	return true;
}

/* ---- tokens -------------------------------------------------------------- */

weft_cancel_token weft_cancel_source_token(weft_cancel_source *s)
{
	weft_cancel_token t = {s};
	return t;
}

weft_cancel_token weft_cancel_token_canceled(void)
{
	weft_cancel_token t = {&canceled_source};
	return t;
}

bool weft_cancel_requested(weft_cancel_token t)
{
	return weft__cancel_requested(t);
}

bool weft_cancel_can_be_canceled(weft_cancel_token t)
{
	return t.source != NULL;
}

bool weft_cancel_token_equal(weft_cancel_token a, weft_cancel_token b)
{
	return a.source == b.source;
}

weft_error *weft_cancel_throw_if_requested(weft_cancel_token t)
{
	return weft__cancel_requested(t) ? weft_error_canceled(t) : NULL;
}

int weft_cancel_wait(weft_cancel_token t, int64_t timeout_ms)
{
	if (timeout_ms < -1)
		return -EINVAL;
	weft_cancel_source *s = t.source;
	if (!s) {
		/* Never canceled: sleep out the timeout. */
		if (timeout_ms == WEFT_INFINITE)
			return -EINVAL;
		struct timespec d = weft__deadline_after(timeout_ms);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d,
				       NULL) == EINTR)
			;
		return -ETIMEDOUT;
	}
	if (weft__cancel_requested(t))
		return 0;
	if (timeout_ms == 0)
		return -ETIMEDOUT;

	struct timespec deadline;
	if (timeout_ms != WEFT_INFINITE)
		deadline = weft__deadline_after(timeout_ms);
	int rc = 0;
	/* seq_cst: the Dekker pair with the CAS and WAITERS load in
	 * weft_cancel_source_cancel (see there). */
	atomic_fetch_add_explicit(&s->waiters, 1, memory_order_seq_cst);
	while (atomic_load_explicit(&s->state, memory_order_seq_cst) ==
	       WEFT__CANCEL_NOT_CANCELED) {
		int r = weft__futex_wait(
			&s->state, WEFT__CANCEL_NOT_CANCELED,
			timeout_ms == WEFT_INFINITE ? NULL : &deadline);
		/* acquire: pairs with the cancel CAS. */
		if (r == -ETIMEDOUT &&
		    atomic_load_explicit(&s->state, memory_order_acquire) ==
			    WEFT__CANCEL_NOT_CANCELED) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	/* relaxed: only a hint for the canceler (an extra wake is harmless). */
	atomic_fetch_sub_explicit(&s->waiters, 1, memory_order_relaxed);
	return rc;
}

/* ---- registrations ------------------------------------------------------- */

int weft_cancel_register(weft_cancel_token t, void (*fn)(void *arg), void *arg,
			 weft_cancel_registration *reg)
{
	if (reg)
		memset(reg, 0, sizeof *reg);
	if (!fn)
		return -EINVAL;
	weft_cancel_source *s = t.source;
	if (!s)
		return 0;
	if (weft__cancel_requested(t)) {
		fn(arg);
		return 0;
	}
	pthread_mutex_lock(&s->lock);
	/* acquire: pairs with the cancel CAS.  Checked under the lock: if the
	 * CAS came first, either we see it here or cancel's loop (which
	 * takes the lock after the CAS) sees our node. */
	if (atomic_load_explicit(&s->state, memory_order_acquire)) {
		pthread_mutex_unlock(&s->lock);
		fn(arg);
		return 0;
	}
	if (s->disposed) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	struct weft__cancel_node *n = s->pool;
	if (n) {
		s->pool = n->next;
	} else {
		n = malloc(sizeof *n);
		if (!n) {
			pthread_mutex_unlock(&s->lock);
			return -ENOMEM;
		}
	}
	n->id = s->next_id++;
	n->fn = fn;
	n->arg = arg;
	n->prev = NULL;
	n->next = s->head;
	if (s->head)
		s->head->prev = n;
	s->head = n;
	if (reg) {
		reg->node = n;
		reg->id = n->id;
		reg->source = s;
		mem_ref(s); /* the registration value's */
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Unlink REG's node if it is still registered.  Under s->lock. */
static bool try_remove(weft_cancel_source *s, void *node, uint64_t id)
{
	struct weft__cancel_node *n = node;
	if (!n || n->id != id)
		return false;
	node_unlink(s, n);
	node_recycle(s, n);
	return true;
}

bool weft_cancel_unregister(weft_cancel_registration *reg)
{
	if (!reg || !reg->source)
		return false;
	weft_cancel_source *s = reg->source;
	void *node = reg->node;
	uint64_t id = reg->id;
	memset(reg, 0, sizeof *reg);

	pthread_mutex_lock(&s->lock);
	bool removed = try_remove(s, node, id);
	pthread_mutex_unlock(&s->lock);
	mem_unref(s);
	return removed;
}

void weft_cancel_registration_dispose(weft_cancel_registration *reg)
{
	if (!reg || !reg->source) {
		if (reg)
			memset(reg, 0, sizeof *reg);
		return;
	}
	weft_cancel_source *s = reg->source;
	void *node = reg->node;
	uint64_t id = reg->id;
	memset(reg, 0, sizeof *reg);

	pthread_t self = pthread_self();
	pthread_mutex_lock(&s->lock);
	if (!try_remove(s, node, id)) {
		/* It ran, or is running: wait for it unless it runs on this
		 * very thread (we are inside it, or below it). */
		while (s->executing_id == id &&
		       !pthread_equal(s->executing_thread, self))
			pthread_cond_wait(&s->cb_done, &s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	mem_unref(s);
}
