/*
 * sched.c - schedulers: the pool wrapper, custom schedulers, the default
 * and current scheduler.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "task_internal.h"

static _Atomic uint64_t next_sched_id = 1;

static weft_scheduler *sched_alloc(void)
{
	weft_scheduler *s = calloc(1, sizeof(*s));
	if (s)
		atomic_init(&s->refs, 1);
	return s;
}

int weft_scheduler_new(weft_scheduler **out, const weft_scheduler_ops *ops,
		       void *data)
{
	if (!out || !ops || !ops->queue)
		return -EINVAL;
	/* ops->size lets the table grow: the fields we know must be there */
	if (ops->size < offsetof(weft_scheduler_ops, max_concurrency) +
				sizeof(int) ||
	    ops->max_concurrency < 0)
		return -EINVAL;
	weft_scheduler *s = sched_alloc();
	if (!s)
		return -ENOMEM;
	memcpy(&s->ops, ops, sizeof(s->ops));
	s->ops.size = sizeof(s->ops);
	s->data = data;
	*out = s;
	return 0;
}

weft_scheduler *weft_scheduler_ref(weft_scheduler *s)
{
	if (s)
		/* relaxed: taking a reference needs no ordering (the
		 * caller already holds one) */
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void weft_scheduler_unref(weft_scheduler *s)
{
	if (!s)
		return;
	/* acq_rel: pairs with every other unref so the last one sees all
	 * writes made through the scheduler before it is destroyed */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (s->pool) {
		if (weft__pool_shutdown(s->pool) == 0)
			weft__pool_destroy(s->pool);
		/* -EDEADLK (dropped by one of its own workers): the pool
		 * cannot join itself; its threads are left to the process */
	} else if (s->ops.destroy) {
		s->ops.destroy(s, s->data);
	}
	free(s);
}

uint64_t weft_scheduler_id(weft_scheduler *s)
{
	if (!s)
		return 0;
	/* relaxed: the id is a value, ordered by nothing else */
	uint64_t id = atomic_load_explicit(&s->id, memory_order_relaxed);
	if (id)
		return id;
	uint64_t fresh;
	do
		fresh = atomic_fetch_add_explicit(&next_sched_id, 1,
						  memory_order_relaxed);
	while (fresh == 0);
	/* relaxed CAS: whoever assigns first wins; losers read the winner */
	if (!atomic_compare_exchange_strong_explicit(&s->id, &id, fresh,
						     memory_order_relaxed,
						     memory_order_relaxed))
		return id;
	return fresh;
}

int weft_scheduler_max_concurrency(const weft_scheduler *s)
{
	if (!s)
		return -EINVAL;
	return s->pool ? (int)s->pool->nthreads : s->ops.max_concurrency;
}

int weft_pool_new(weft_scheduler **out, unsigned nthreads)
{
	if (!out || nthreads > WEFT_POOL_MAX_THREADS)
		return -EINVAL;
	weft_scheduler *s = sched_alloc();
	if (!s)
		return -ENOMEM;
	int rc = weft__pool_create(&s->pool, nthreads);
	if (rc) {
		free(s);
		return rc;
	}
	s->pool->sched = s;
	*out = s;
	return 0;
}

int weft_pool_shutdown(weft_scheduler *s)
{
	if (!s || !s->pool)
		return -EINVAL;
	return weft__pool_shutdown(s->pool);
}

unsigned weft_pool_size(const weft_scheduler *s)
{
	return s && s->pool ? s->pool->nthreads : 0;
}

/* ---- the default scheduler ----------------------------------------------- */

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static weft_scheduler *default_sched;
static _Atomic unsigned default_threads;
static _Atomic bool default_created;

static void default_init(void)
{
	unsigned n = atomic_load(&default_threads);
	if (n == 0) {
		const char *env = getenv("WEFT_NUM_THREADS");
		if (env) {
			char *end;
			unsigned long v = strtoul(env, &end, 10);
			if (*env && !*end && v > 0 &&
			    v <= WEFT_POOL_MAX_THREADS)
				n = (unsigned)v;
		}
	}
	/* The default pool lives until exit.  If its threads cannot be
	 * created there is no scheduler to fall back to: abort rather than
	 * hand out NULL to every caller (a library that never exits makes
	 * this its one exception, as malloc failure at startup). */
	if (weft_pool_new(&default_sched, n) != 0)
		abort();
	atomic_store(&default_created, true);
}

weft_scheduler *weft_scheduler_default(void)
{
	pthread_once(&default_once, default_init);
	return default_sched;
}

int weft_default_pool_configure(unsigned nthreads)
{
	if (nthreads == 0 || nthreads > WEFT_POOL_MAX_THREADS)
		return -EINVAL;
	if (atomic_load(&default_created))
		return -EBUSY;
	atomic_store(&default_threads, nthreads);
	return 0;
}

weft_scheduler *weft_scheduler_current(void)
{
	weft_task *cur = weft__tls.current;
	if (cur && weft__task_sched(cur) &&
	    !(atomic_load_explicit(&cur->state, memory_order_relaxed) &
	      WEFT_TASK_HIDE_SCHEDULER))
		return weft__task_sched(cur);
	return weft_scheduler_default();
}

/* ---- queueing and inlining ----------------------------------------------- */

int weft__sched_queue(weft_scheduler *s, weft_task *t)
{
	if (s->pool)
		return weft__pool_push(s->pool, t);
	return s->ops.queue(s, t, s->data);
}

bool weft__sched_try_inline(weft_scheduler *s, weft_task *t,
			    bool previously_queued)
{
	if (s->pool) {
		if (!previously_queued)
			return weft__task_execute(t), true;
		/* only a task still at the bottom of this worker's deque can
		 * be taken back: anywhere else a thief may own it */
		struct weft__deque *dq = weft__pool_local_deque(s->pool);
		if (!dq || !weft__deque_pop_if(dq, t))
			return false;
		weft__task_execute(t);
		weft_task_unref(t); /* the queue's reference */
		return true;
	}
	if (!s->ops.try_execute_inline)
		return false;
	/* weft_scheduler_execute() drops the reference a scheduler holds.
	 * A queued task's is the queue's; a task never queued (run
	 * synchronously) gets one here, as queue() would have. */
	if (!previously_queued)
		weft_task_ref(t);
	if (s->ops.try_execute_inline(s, t, previously_queued, s->data)) {
		if (weft__task_state(t) & (TS_INVOKED | TS_COMPLETED))
			return true;
		/* it said yes without running the task (spec A.15: an
		 * error); treat it as a refusal */
	}
	if (!previously_queued)
		weft_task_unref(t);
	return false;
}

int weft_scheduler_execute(weft_scheduler *s, weft_task *t)
{
	if (!s || !t)
		return -EINVAL;
	/* before reading T: a released task's fields are stale */
	if (weft__task_released(t))
		return -EBADF;
	if (weft__task_sched(t) != s)
		return -EINVAL;
	bool ran = weft__task_execute(t);
	weft_task_unref(t); /* the reference the scheduler held */
	return ran ? 1 : 0;
}
