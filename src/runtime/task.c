/*
 * task.c - the task object: creation, starting, execution, completion,
 * attached children, results, errors and reference counting.
 *
 * The state word follows .NET's Task: options in the low bits, state bits
 * above, every transition a single atomic RMW.  A task that is started,
 * runs and completes with nothing else going on costs three RMWs on its
 * state and continuation words plus the reference count.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "error_internal.h"
#include "pool.h"
#include "task_internal.h"

_Thread_local struct weft__tls weft__tls
	__attribute__((tls_model("initial-exec")));

static _Atomic uint64_t next_task_id = 1;

#define CREATION_OPTIONS                                                       \
	(WEFT_TASK_PREFER_FAIRNESS | WEFT_TASK_LONG_RUNNING |                  \
	 WEFT_TASK_ATTACHED_TO_PARENT | WEFT_TASK_DENY_CHILD_ATTACH |          \
	 WEFT_TASK_HIDE_SCHEDULER |                                            \
	 WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY)

/* ---- allocation ------------------------------------------------------ */

/*
 * Task objects and cold blocks come from the slab allocator (slab.h):
 * per-thread magazines, so the spawn path does not go through malloc, and
 * a burst of tasks leaves its memory ready for the next one.
 */
_Static_assert(_Alignof(weft_task) <= 8 && _Alignof(struct weft_task_cold) <= 8,
	       "slab objects are only 8-byte aligned");
static struct weft__slab task_slab =
	WEFT__SLAB_INIT(sizeof(weft_task), WEFT__SLAB_TASK);
static struct weft__slab cold_slab =
	WEFT__SLAB_INIT(sizeof(struct weft_task_cold), WEFT__SLAB_COLD);

/* weft__task_alloc, inline for the spawn path */
static inline weft_task *task_alloc(unsigned state, void *fn, void *arg)
{
	weft_task *t = weft__slab_alloc(&task_slab);
	if (!t)
		return NULL;
	atomic_init(&t->state, state);
	atomic_init(&t->refs, 1);
	atomic_init(&t->conts, 0);
	t->fn.any = fn;
	t->arg = arg;
	t->result = NULL;
	t->result_dtor = NULL;
	atomic_init(&t->sched, NULL);
	atomic_init(&t->cold, NULL);
	atomic_init(&t->id, 0);
	t->ante = NULL;
	t->ctx = weft__context_capture();
	/* act is set up by whoever hooks or queues the task */
	return t;
}

weft_task *weft__task_alloc(unsigned state, void *fn, void *arg)
{
	return task_alloc(state, fn, arg);
}

struct weft_task_cold *weft__task_cold(weft_task *t)
{
	/* acquire: pairs with the release CAS below, so the block's fields
	 * are initialised when we see the pointer */
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	if (c)
		return c;
	struct weft_task_cold *n = weft__slab_alloc(&cold_slab);
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	atomic_init(&n->pending, 1);
	pthread_mutex_init(&n->lock, NULL);
	/* release: pairs with the acquire load above; losing the race means
	 * someone else's block is used and ours is dropped */
	if (!atomic_compare_exchange_strong_explicit(&t->cold, &c, n,
						     memory_order_acq_rel,
						     memory_order_acquire)) {
		pthread_mutex_destroy(&n->lock);
		weft__slab_free(&cold_slab, n);
		return c;
	}
	return n;
}

static void (*unobserved_fn)(weft_error *, void *);
static void *unobserved_arg;
static pthread_mutex_t unobserved_lock = PTHREAD_MUTEX_INITIALIZER;

void weft_set_unobserved_error_handler(void (*fn)(weft_error *, void *),
				       void *arg)
{
	pthread_mutex_lock(&unobserved_lock);
	unobserved_fn = fn;
	unobserved_arg = arg;
	pthread_mutex_unlock(&unobserved_lock);
}

void weft__report_unobserved(weft_error *err)
{
	pthread_mutex_lock(&unobserved_lock);
	void (*fn)(weft_error *, void *) = unobserved_fn;
	void *arg = unobserved_arg;
	pthread_mutex_unlock(&unobserved_lock);
	if (fn)
		fn(err, arg);
}

static void cold_free(weft_task *t, struct weft_task_cold *c)
{
	/* A registration still here belongs to a task that never completed:
	 * remove it, waiting for its callback if one is running right now
	 * (the callback found the count at zero and is leaving). */
	if (c->reg.node)
		weft_cancel_registration_dispose(&c->reg);
	uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
	if ((st & TS_FAULTED) && !(st & TS_OBSERVED) && c->nerrors) {
		weft_error *agg = c->aggregate;
		if (!agg) {
			for (size_t i = 0; i < c->nerrors; i++)
				weft_error_ref(c->errors[i]);
			agg = weft__error_aggregate_take(c->errors, c->nerrors);
			c->aggregate = agg;
		}
		weft__report_unobserved(agg);
	}
	for (size_t i = 0; i < c->nerrors; i++)
		weft_error_unref(c->errors[i]);
	if (c->errors != &c->error_inline)
		free(c->errors);
	weft_error_unref(c->aggregate);
	weft_error_unref(c->cancel_error);
	for (size_t i = 0; i < c->nfaulted; i++)
		weft_task_unref(c->faulted_children[i]);
	free(c->faulted_children);
	for (size_t i = 0; i < c->nantecedents; i++)
		weft_task_unref(c->antecedents[i]);
	if (c->antecedents != &c->antecedent_inline)
		free(c->antecedents);
	free(c->hooks);
	weft_task_unref(c->parent);
	weft_task_unref(c->winner);
	weft_cancel_source_unref(c->token.source);
	if (c->arg_free)
		c->arg_free(t->arg);
	pthread_mutex_destroy(&c->lock);
	weft__slab_free(&cold_slab, c);
}

static void task_free_one(weft_task *t)
{
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	/* relaxed: we hold the last reference, nothing else writes it */
	uintptr_t w = atomic_load_explicit(&t->conts, memory_order_relaxed);
	if (w && w != CONTS_COMPLETED)
		weft__actions_drop(w);
	if (t->result_dtor)
		t->result_dtor(t->result);
	if (c)
		cold_free(t, c);
	if (!weft__ante_is_borrowed(t->ante))
		weft_task_unref(t->ante);
	if (t->ctx)
		weft__context_release(t->ctx);
#ifdef WEFT_DEBUG_CHECKS
	/* relaxed: a stale user's check (weft__task_released) reads it
	 * without any ordering to pair with */
	atomic_store_explicit(&t->state, WEFT__TASK_POISON,
			      memory_order_relaxed);
#endif
	weft__slab_free(&task_slab, t);
}

/*
 * Freeing a task releases what it held (antecedent, parent, dropped
 * continuations), which may free more tasks: a chain of a million
 * never-started continuations would recurse a million deep.  Nested frees
 * are queued on this thread and run by the outermost one in a loop.  A
 * task at zero references is in no action list (a list holds a
 * reference), so its act.next is free to link the queue.
 */
static _Thread_local struct {
	bool active;
	weft_task *head;
} free_queue __attribute__((tls_model("initial-exec")));

void weft__task_free(weft_task *t)
{
	if (free_queue.active) {
		t->act.next = (struct weft__action *)free_queue.head;
		free_queue.head = t;
		return;
	}
	free_queue.active = true;
	for (;;) {
		task_free_one(t);
		t = free_queue.head;
		if (!t)
			break;
		free_queue.head = (weft_task *)t->act.next;
	}
	free_queue.active = false;
}

weft_task *weft_task_ref(weft_task *t)
{
	if (!t || weft__task_released(t))
		return NULL;
	/* relaxed: the caller already holds a reference */
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

void weft_task_unref(weft_task *t)
{
	/* a released task is left alone: dropping its count again would
	 * free it twice */
	if (t && !weft__task_released(t))
		weft__unref(t);
}

void weft_task_unref_any(void *task)
{
	weft_task_unref(task);
}

/* ---- identity and state ---------------------------------------------- */

uint64_t weft_task_id(weft_task *t)
{
	if (!t || weft__task_released(t))
		return 0;
	/* relaxed: an id is a value that orders nothing */
	uint64_t id = atomic_load_explicit(&t->id, memory_order_relaxed);
	if (id)
		return id;
	uint64_t fresh;
	do
		fresh = atomic_fetch_add_explicit(&next_task_id, 1,
						  memory_order_relaxed);
	while (fresh == 0);
	/* first writer wins; the others adopt its id */
	if (!atomic_compare_exchange_strong_explicit(&t->id, &id, fresh,
						     memory_order_relaxed,
						     memory_order_relaxed))
		return id;
	return fresh;
}

weft_task *weft_task_current(void)
{
	return weft__tls.current;
}

uint64_t weft_task_current_id(void)
{
	weft_task *t = weft__tls.current;
	return t ? weft_task_id(t) : 0;
}

weft_task_status weft_task_get_status(const weft_task *t)
{
	/* a released task answers as NULL does (see weft_task(3)) */
	if (!t || weft__task_released(t))
		return WEFT_STATUS_CREATED;
	uint32_t st = weft__task_state(t);
	if (st & TS_FAULTED)
		return WEFT_STATUS_FAULTED;
	if (st & TS_CANCELED)
		return WEFT_STATUS_CANCELED;
	if (st & TS_RAN_TO_COMPLETION)
		return WEFT_STATUS_RAN_TO_COMPLETION;
	if (st & TS_WAITING_ON_CHILDREN)
		return WEFT_STATUS_WAITING_FOR_CHILDREN;
	if (st & TS_INVOKED)
		return WEFT_STATUS_RUNNING;
	if (st & TS_STARTED)
		return WEFT_STATUS_WAITING_TO_RUN;
	if (st & TS_WAITING_FOR_ACTIVATION)
		return WEFT_STATUS_WAITING_FOR_ACTIVATION;
	return WEFT_STATUS_CREATED;
}

bool weft_task_is_completed(const weft_task *t)
{
	return t && !weft__task_released(t) &&
	       (weft__task_state(t) & TS_COMPLETED);
}

bool weft_task_is_completed_successfully(const weft_task *t)
{
	return t && !weft__task_released(t) &&
	       (weft__task_state(t) & TS_COMPLETED) == TS_RAN_TO_COMPLETION;
}

bool weft_task_is_faulted(const weft_task *t)
{
	return t && !weft__task_released(t) &&
	       (weft__task_state(t) & TS_FAULTED);
}

bool weft_task_is_canceled(const weft_task *t)
{
	return t && !weft__task_released(t) &&
	       (weft__task_state(t) & (TS_CANCELED | TS_FAULTED)) ==
		       TS_CANCELED;
}

unsigned weft_task_creation_options(const weft_task *t)
{
	if (!t || weft__task_released(t))
		return 0;
	return weft__task_state(t) & CREATION_OPTIONS;
}

void *weft_task_async_state(const weft_task *t)
{
	if (!t || weft__task_released(t))
		return NULL;
	return t->arg;
}

weft_cancel_token weft_task_token(const weft_task *t)
{
	if (!t || weft__task_released(t))
		return WEFT_TOKEN_NONE;
	struct weft_task_cold *c = atomic_load_explicit(&((weft_task *)t)->cold,
							memory_order_acquire);
	return c ? c->token : WEFT_TOKEN_NONE;
}

/* ---- results and errors ---------------------------------------------- */

int weft_task_set_result(weft_task *self, void *value, void (*dtor)(void *))
{
	if (self && weft__task_released(self))
		return -EBADF;
	if (!self || weft__tls.current != self)
		return -EPERM;
	if (self->result_dtor)
		self->result_dtor(self->result);
	self->result = value;
	self->result_dtor = dtor;
	return 0;
}

void *weft_task_result(const weft_task *t)
{
	if (!t || weft__task_released(t) ||
	    (weft__task_state(t) & TS_COMPLETED) != TS_RAN_TO_COMPLETION)
		return NULL;
	return t->result;
}

weft_error *weft__task_aggregate(weft_task *t)
{
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	if (!c)
		return NULL;
	/* relaxed: observation is a hint for the unobserved-error report */
	atomic_fetch_or_explicit(&t->state, TS_OBSERVED, memory_order_relaxed);
	pthread_mutex_lock(&c->lock);
	if (!c->aggregate && c->nerrors) {
		for (size_t i = 0; i < c->nerrors; i++)
			weft_error_ref(c->errors[i]);
		c->aggregate =
			weft__error_aggregate_take(c->errors, c->nerrors);
	}
	weft_error *agg = c->aggregate;
	pthread_mutex_unlock(&c->lock);
	return agg;
}

weft_error *weft_task_error(weft_task *t)
{
	if (!t || weft__task_released(t) || !(weft__task_state(t) & TS_FAULTED))
		return NULL;
	return weft_error_ref(weft__task_aggregate(t));
}

/* Append ERR (stolen) to T's faults.  Never fails: on ENOMEM the fault is
 * replaced by the out-of-memory error, which still faults the task. */
static void add_error(weft_task *t, weft_error *err)
{
	struct weft_task_cold *c = weft__task_cold(t);
	if (!c) {
		/* no memory for the cold block: nothing can record the
		 * fault, and a faulted task must not look successful */
		abort();
	}
	pthread_mutex_lock(&c->lock);
	if (c->nerrors == 0) {
		/* the first error has a slot in the cold block itself */
		c->errors = &c->error_inline;
		c->cap = 1;
	} else if (c->nerrors == c->cap) {
		size_t cap = c->cap * 2;
		weft_error **n = malloc(cap * sizeof(*n));
		if (!n) {
			/* the task is faulted already; only this extra
			 * error is lost */
			pthread_mutex_unlock(&c->lock);
			weft_error_unref(err);
			return;
		}
		memcpy(n, c->errors, c->nerrors * sizeof(*n));
		if (c->errors != &c->error_inline)
			free(c->errors);
		c->errors = n;
		c->cap = cap;
	}
	c->errors[c->nerrors++] = err;
	pthread_mutex_unlock(&c->lock);
}

/* ---- creation ---------------------------------------------------------- */

static void arg_free_now(const weft_task_options *opts, void *arg)
{
	if (opts && opts->arg_free)
		opts->arg_free(arg);
}

static int check_options(const weft_task_options *opts)
{
	if (!opts)
		return 0;
	if (opts->size < sizeof(weft_task_options))
		return -EINVAL;
	return 0;
}

int weft__task_attach_to_current(weft_task *t, unsigned flags)
{
	if (!(flags & WEFT_TASK_ATTACHED_TO_PARENT))
		return 0;
	weft_task *parent = weft__tls.current;
	if (!parent ||
	    (atomic_load_explicit(&parent->state, memory_order_relaxed) &
	     WEFT_TASK_DENY_CHILD_ATTACH))
		return 0;
	struct weft_task_cold *pc = weft__task_cold(parent);
	struct weft_task_cold *c = weft__task_cold(t);
	if (!pc || !c)
		return -ENOMEM;
	/* relaxed: the parent cannot finish before this returns (we run in
	 * its body); the child's completion decrements with acq_rel */
	atomic_fetch_add_explicit(&pc->pending, 1, memory_order_relaxed);
	c->parent = weft_task_ref(parent);
	return 0;
}

/* The cancellation callback of weft_task_create's registration.  The
 * registration holds the task weakly: if the task is already being freed
 * there is nothing to cancel (its free path waits for this callback). */
static void created_token_canceled(void *arg)
{
	weft_task *t = arg;
	if (!weft__task_try_ref(t))
		return;
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	weft__task_cancel_now(t, c->token);
	weft__unref(t);
}

static int task_new(weft_task **out, weft_task_fn fn, void *arg,
		    const weft_task_options *opts, unsigned extra_state,
		    bool register_token)
{
	int rc = check_options(opts);
	unsigned flags = opts ? opts->flags : 0;
	if (!rc && (!fn || (flags & ~CREATION_OPTIONS)))
		rc = -EINVAL;
	if (rc) {
		arg_free_now(opts, arg);
		return rc;
	}
	weft_task *t = weft__task_alloc(flags | extra_state, (void *)fn, arg);
	if (!t) {
		arg_free_now(opts, arg);
		return -ENOMEM;
	}
	bool has_token = opts && opts->token.source;
	if (has_token || (opts && opts->arg_free)) {
		struct weft_task_cold *c = weft__task_cold(t);
		if (!c) {
			t->arg = NULL;
			weft_task_unref(t);
			arg_free_now(opts, arg);
			return -ENOMEM;
		}
		c->arg_free = opts->arg_free;
		if (has_token)
			c->token.source =
				weft_cancel_source_ref(opts->token.source);
	}
	rc = weft__task_attach_to_current(t, flags);
	if (rc) {
		weft_task_unref(t);
		return rc;
	}
	if (has_token && register_token) {
		struct weft_task_cold *c = weft__task_cold(t);
		if (weft_cancel_requested(c->token))
			weft__task_cancel_now(t, c->token);
		else
			/* weak: see created_token_canceled */
			weft_cancel_register(c->token, created_token_canceled,
					     t, &c->reg);
	}
	*out = t;
	return 0;
}

int weft_task_create(weft_task **out, weft_task_fn fn, void *arg,
		     const weft_task_options *opts)
{
	if (!out) {
		arg_free_now(opts, arg);
		return -EINVAL;
	}
	return task_new(out, fn, arg, opts, 0, true);
}

/* Queue T to SCHED; QUEUE_REF_TAKEN says the caller already counted the
 * queue's reference in T's count (the spawn path sets the count directly
 * instead of paying for an atomic increment). */
static int start_on(weft_task *t, weft_scheduler *sched, bool queue_ref_taken)
{
	weft__task_set_sched(t, sched);
	if (!queue_ref_taken)
		weft_task_ref(t); /* the queue's reference */
	int rc = weft__sched_queue(sched, t);
	if (rc) {
		weft_task_unref(t);
		weft_error *e =
			weft_error_new(rc, "the scheduler refused the task");
		weft_error *se = weft__error_scheduler(e);
		weft_error_unref(e);
		weft__task_fault_now(t, se);
	}
	return rc;
}

/* Mark T started; the Start/RunSynchronously checks of spec A.4. */
static int mark_started(weft_task *t)
{
	uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
	for (;;) {
		if (st & TS_COMPLETED)
			return -EALREADY;
		if (st & (TS_PROMISE | TS_CONTINUATION))
			return -EPERM;
		if (st & (TS_STARTED | TS_RESERVED))
			return -EALREADY;
		/* acq_rel: pairs with a concurrent canceller's CAS; only one
		 * of us moves the task out of Created */
		if (atomic_compare_exchange_weak_explicit(
			    &t->state, &st, st | TS_STARTED,
			    memory_order_acq_rel, memory_order_relaxed))
			return 0;
	}
}

int weft_task_start(weft_task *t, weft_scheduler *sched)
{
	if (!t)
		return -EINVAL;
	if (weft__task_released(t))
		return -EBADF;
	int rc = mark_started(t);
	if (rc)
		return rc;
	return start_on(t, sched ? sched : weft_scheduler_current(), false);
}

int weft_task_run_synchronously(weft_task *t, weft_scheduler *sched)
{
	if (!t)
		return -EINVAL;
	if (weft__task_released(t))
		return -EBADF;
	int rc = mark_started(t);
	if (rc)
		return rc;
	weft_scheduler *s = sched ? sched : weft_scheduler_current();
	weft__task_set_sched(t, s);
	if (!weft__sched_try_inline(s, t, false)) {
		rc = start_on(t, s, false);
		if (rc)
			return rc;
	}
	weft__task_wait_done(t, WEFT_INFINITE, WEFT_TOKEN_NONE);
	return 0;
}

int weft_task_start_new(weft_task **out, weft_task_fn fn, void *arg,
			const weft_task_options *opts)
{
	if (fn && (!opts ||
		   (opts->size >= sizeof(weft_task_options) && !opts->flags &&
		    !opts->token.source && !opts->arg_free))) {
		/* the spawn path of fork-join code: no options (at most a
		 * scheduler), no cold block */
		weft_scheduler *s = opts && opts->scheduler ?
					    opts->scheduler :
					    weft_scheduler_current();
		weft_task *nt =
			task_alloc(TS_STARTED | (s->pool ? TS_ON_POOL : 0),
				   (void *)fn, arg);
		if (!nt)
			return -ENOMEM;
		/* relaxed: nobody else knows the task yet; one count for
		 * the queue, one for the caller */
		atomic_store_explicit(&nt->refs, out ? 2 : 1,
				      memory_order_relaxed);
		/* a worker spawning onto its own pool: straight to its deque */
		weft__task_set_sched(nt, s);
		if (!s->pool || !weft__pool_push_local(s->pool, nt))
			start_on(nt, s, true);
		if (out)
			*out = nt;
		return 0;
	}
	weft_task *t;
	int rc = task_new(&t, fn, arg, opts, TS_STARTED, false);
	if (rc)
		return rc;
	weft_scheduler *s = opts && opts->scheduler ? opts->scheduler :
						      weft_scheduler_current();
	/* relaxed: nobody else knows the task yet; one count for the queue,
	 * one for the caller */
	atomic_store_explicit(&t->refs, out ? 2 : 1, memory_order_relaxed);
	start_on(t, s, true);
	if (out)
		*out = t;
	return 0;
}

int weft_task_run(weft_task **out, weft_task_fn fn, void *arg)
{
	if (!fn)
		return -EINVAL;
	weft_task *t = weft__task_alloc(WEFT_TASK_DENY_CHILD_ATTACH |
						TS_STARTED | TS_ON_POOL,
					(void *)fn, arg);
	if (!t)
		return -ENOMEM;
	atomic_store_explicit(&t->refs, out ? 2 : 1, memory_order_relaxed);
	start_on(t, weft_scheduler_default(), true);
	if (out)
		*out = t;
	return 0;
}

/* ---- execution --------------------------------------------------------- */

static void finish(weft_task *t, weft_error *err);
static void finish_stage2(weft_task *t);

bool weft__task_execute(weft_task *t)
{
	uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
	/* acquire: pairs with the release CAS in weft__task_cold */
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	if (!c) {
		/* No cold block: no token, no parent, not a promise and at
		 * most a single-antecedent continuation (started once, by its
		 * antecedent), so no other thread can change the state word
		 * before we complete the task (cancellers need a token, and
		 * observers only mark completed tasks).  A plain store is
		 * enough; only a second execute (a scheduler bug) could race.
		 */
		if (st & (TS_INVOKED | TS_RESERVED | TS_COMPLETED))
			return false;
		st |= TS_INVOKED;
		atomic_store_explicit(&t->state, st, memory_order_relaxed);
	} else {
		do {
			if (st & (TS_INVOKED | TS_RESERVED | TS_COMPLETED))
				return false;
			/* acq_rel: pairs with a canceller's CAS; one wins */
		} while (!atomic_compare_exchange_weak_explicit(
			&t->state, &st, st | TS_INVOKED, memory_order_acq_rel,
			memory_order_relaxed));
	}

	if ((st & TS_CANCEL_REQUESTED) ||
	    (c && c->token.source && weft_cancel_requested(c->token))) {
		/* canceled before the body ran (StartNew's check at dequeue) */
		atomic_fetch_or_explicit(&t->state, TS_CANCEL_ACK,
					 memory_order_relaxed);
		finish(t, NULL);
		return true;
	}

	struct weft__tls *tls = &weft__tls;
	weft_task *prev = tls->current;
	bool tramp = tls->tramp_active;
	struct weft__action *th = NULL, *tt = NULL;
	if (tramp) {
		/* the body gets a fresh trampoline: it may wait for
		 * completions the outer one would only run after it returns */
		th = tls->tramp_head;
		tt = tls->tramp_tail;
		tls->tramp_active = false;
		tls->tramp_head = tls->tramp_tail = NULL;
	}
	tls->current = t;
	tls->inline_depth++;
	struct weft__context *saved = weft__context_enter(t->ctx);
	weft_error *err = (st & TS_CONTINUATION) ?
				  weft__continuation_invoke(t) :
				  t->fn.task(t, t->arg);
	weft__context_leave(saved);
	tls->inline_depth--;
	tls->current = prev;
	if (tramp) {
		tls->tramp_active = true;
		tls->tramp_head = th;
		tls->tramp_tail = tt;
	}
	if (!err && !c &&
	    !atomic_load_explicit(&t->cold, memory_order_acquire)) {
		/* The plain task's completion, fused: still nobody else writes
		 * the state word (no cold block appeared: no children, no
		 * fault), so publish the final state with one release store
		 * and close the continuation word with one CAS when empty. */
		atomic_store_explicit(&t->state,
				      st | TS_RESERVED | TS_RAN_TO_COMPLETION,
				      memory_order_release);
		/* Close the word with the one CAS its current value needs
		 * (instead of trying "empty" first and failing whenever
		 * something is hooked).  acquire: pairs with
		 * weft__task_add_action's release CAS, so a listed action's
		 * fields are visible. */
		uintptr_t w =
			atomic_load_explicit(&t->conts, memory_order_acquire);
		/* acq_rel: pairs with weft__task_add_action's release CAS;
		 * an adder that loses sees CONTS_COMPLETED and runs its
		 * action itself.  A remover's lock bit makes us wait for
		 * it in the general path. */
		if ((w & CONTS_LOCKED) ||
		    !atomic_compare_exchange_strong_explicit(
			    &t->conts, &w, CONTS_COMPLETED,
			    memory_order_acq_rel, memory_order_relaxed))
			weft__task_run_actions(t);
		else if (w)
			weft__task_run_closed((struct weft__action *)w, t);
		return true;
	}
	finish(t, err);
	return true;
}

/* The body returned ERR (stolen; NULL = success). */
static void finish(weft_task *t, weft_error *err)
{
	if (err) {
		struct weft_task_cold *c = weft__task_cold(t);
		if (c && weft_error_get_kind(err) == WEFT_ERROR_CANCELED &&
		    c->token.source &&
		    weft_cancel_token_equal(weft_error_token(err), c->token) &&
		    weft_cancel_requested(c->token)) {
			/* the body acknowledged its own cancellation */
			c->cancel_error = err;
			atomic_fetch_or_explicit(&t->state, TS_CANCEL_ACK,
						 memory_order_relaxed);
		} else {
			add_error(t, err);
		}
	}
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	if (c) {
		/* Announce the wait for children before giving up our count:
		 * the last child may finish us the moment we do. */
		if (atomic_load_explicit(&c->pending, memory_order_acquire) > 1)
			atomic_fetch_or_explicit(&t->state,
						 TS_WAITING_ON_CHILDREN,
						 memory_order_relaxed);
		/* acq_rel: pairs with the children's decrements, so whoever
		 * reaches zero sees every child's recorded fault */
		if (atomic_fetch_sub_explicit(&c->pending, 1,
					      memory_order_acq_rel) != 1)
			return;
	}
	finish_stage2(t);
}

/* The body and all attached children are done. */
static void finish_stage2(weft_task *t)
{
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	uint32_t final = TS_RAN_TO_COMPLETION;
	if (c) {
		pthread_mutex_lock(&c->lock);
		size_t nf = c->nfaulted;
		weft_task **fc = c->faulted_children;
		c->nfaulted = 0;
		c->faulted_children = NULL;
		c->faulted_cap = 0;
		pthread_mutex_unlock(&c->lock);
		for (size_t i = 0; i < nf; i++) {
			uint32_t cst = weft__task_state(fc[i]);
			/* a child whose error our body already received
			 * through a wait contributes nothing more */
			if (!(cst & TS_OBSERVED_BY_PARENT))
				add_error(t,
					  weft_error_ref(
						  weft__task_aggregate(fc[i])));
			weft_task_unref(fc[i]);
		}
		free(fc);
		pthread_mutex_lock(&c->lock);
		bool faulted = c->nerrors > 0;
		pthread_mutex_unlock(&c->lock);
		if (faulted)
			final = TS_FAULTED;
		else if (atomic_load_explicit(&t->state, memory_order_relaxed) &
			 TS_CANCEL_ACK)
			final = TS_CANCELED;
	}
	if (!c) {
		/* the fast path of execute: still nobody else writes the
		 * state word; release: pairs with weft__task_state's acquire */
		uint32_t st =
			atomic_load_explicit(&t->state, memory_order_relaxed);
		atomic_store_explicit(&t->state, st | TS_RESERVED | final,
				      memory_order_release);
		weft__task_run_actions(t);
		return;
	}
	atomic_fetch_or_explicit(&t->state, TS_RESERVED, memory_order_relaxed);
	weft__task_complete_final(t, final);
}

/* A child of PARENT completed. */
static void child_done(weft_task *parent, weft_task *child)
{
	struct weft_task_cold *pc =
		atomic_load_explicit(&parent->cold, memory_order_acquire);
	if (weft__task_state(child) & TS_FAULTED) {
		pthread_mutex_lock(&pc->lock);
		if (pc->nfaulted == pc->faulted_cap) {
			size_t cap = pc->faulted_cap ? pc->faulted_cap * 2 : 4;
			weft_task **n =
				realloc(pc->faulted_children, cap * sizeof(*n));
			if (n) {
				pc->faulted_children = n;
				pc->faulted_cap = cap;
			}
		}
		if (pc->nfaulted < pc->faulted_cap)
			pc->faulted_children[pc->nfaulted++] =
				weft_task_ref(child);
		pthread_mutex_unlock(&pc->lock);
	}
	/* acq_rel: pairs with the parent's own decrement in finish() */
	if (atomic_fetch_sub_explicit(&pc->pending, 1, memory_order_acq_rel) ==
	    1)
		finish_stage2(parent);
}

void weft__task_complete_final(weft_task *t, uint32_t final)
{
	/* release: pairs with the acquire in weft__task_state, publishing
	 * the result and errors written before */
	atomic_fetch_or_explicit(&t->state, final, memory_order_release);
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	if (!c) {
		weft__task_run_actions(t);
		return;
	}
	struct weft__action *list = weft__task_close_actions(t);
	weft__actions_wake_waiters(&list, t);
	/* the token has nothing more to do for a completed task */
	if (c->reg.node)
		weft_cancel_unregister(&c->reg);
	if (c->parent) {
		weft_task *parent = c->parent;
		child_done(parent, t);
	}
	weft__actions_run(list, t);
}

bool weft__task_cancel_now(weft_task *t, weft_cancel_token tok)
{
	uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
	do {
		if (st & (TS_INVOKED | TS_RESERVED | TS_COMPLETED))
			return false;
		/* acq_rel: pairs with weft__task_execute's CAS; one wins */
	} while (!atomic_compare_exchange_weak_explicit(
		&t->state, &st, st | TS_RESERVED | TS_CANCEL_ACK,
		memory_order_acq_rel, memory_order_relaxed));
	struct weft_task_cold *c = weft__task_cold(t);
	if (c && tok.source && !c->token.source)
		c->token.source = weft_cancel_source_ref(tok.source);
	/* a canceled task that never ran: its attached-child count still
	 * holds the body's share */
	if (c && atomic_fetch_sub_explicit(&c->pending, 1,
					   memory_order_acq_rel) != 1) {
		atomic_fetch_or_explicit(&t->state, TS_WAITING_ON_CHILDREN,
					 memory_order_relaxed);
		return true;
	}
	weft__task_complete_final(t, TS_CANCELED);
	return true;
}

void weft__task_fault_now(weft_task *t, weft_error *err)
{
	uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
	do {
		if (st & (TS_INVOKED | TS_RESERVED | TS_COMPLETED)) {
			weft_error_unref(err);
			return;
		}
	} while (!atomic_compare_exchange_weak_explicit(
		&t->state, &st, st | TS_RESERVED | TS_INVOKED,
		memory_order_acq_rel, memory_order_relaxed));
	add_error(t, err);
	finish(t, NULL);
}

bool weft__task_try_complete(weft_task *t, uint32_t state, void *result,
			     void (*dtor)(void *), weft_error *const *errs,
			     size_t n, weft_cancel_token tok)
{
	uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
	do {
		if (st & (TS_RESERVED | TS_COMPLETED))
			return false;
		/* acq_rel: concurrent setters race here; exactly one wins */
	} while (!atomic_compare_exchange_weak_explicit(
		&t->state, &st, st | TS_RESERVED, memory_order_acq_rel,
		memory_order_relaxed));
	struct weft_task_cold *c = NULL;
	switch (state) {
	case TS_RAN_TO_COMPLETION:
		t->result = result;
		t->result_dtor = dtor;
		break;
	case TS_FAULTED:
		for (size_t i = 0; i < n; i++)
			add_error(t, weft_error_ref(errs[i]));
		break;
	case TS_CANCELED:
		c = weft__task_cold(t);
		if (c && tok.source && !c->token.source)
			c->token.source = weft_cancel_source_ref(tok.source);
		atomic_fetch_or_explicit(&t->state, TS_CANCEL_ACK,
					 memory_order_relaxed);
		break;
	}
	c = atomic_load_explicit(&t->cold, memory_order_acquire);
	if (c && atomic_fetch_sub_explicit(&c->pending, 1,
					   memory_order_acq_rel) != 1) {
		/* a promise with attached children (rare): they finish it */
		atomic_fetch_or_explicit(&t->state, TS_WAITING_ON_CHILDREN,
					 memory_order_relaxed);
		return true;
	}
	weft__task_complete_final(t, state);
	return true;
}
