/*
 * runloop.c - a single-thread run loop scheduler (the C analogue of a UI
 * synchronization context), written on the public custom-scheduler API.
 *
 * queue() appends to a FIFO under a mutex and signals a condition variable;
 * the thread inside weft_runloop_run() (or weft_runloop_run_pending())
 * executes the tasks one at a time.  Only that thread may run a task
 * inline, so every task of the loop runs on the loop thread.
 *
 * Stop requests are sticky: weft_runloop_stop() sets a flag that the
 * current run() (or, when none is active, the next one) consumes when it
 * returns.  This way a stop issued just before another thread enters run()
 * is not lost.  run_pending() never consumes a stop request.
 *
 * The public API hands us the scheduler, not our data, so the loops are
 * kept in a small registry mapping one to the other.  Lookups happen once
 * per run/run_pending/stop call, never per task.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

#include "task_fifo.h"
#include "weft/sched.h"
#include "weft/task.h"

struct runloop {
	pthread_mutex_t lock;
	pthread_cond_t wake;	  /* signaled by queue() and stop() */
	struct weft__task_fifo q; /* under lock; holds the queued references */
	bool stop;		  /* under lock; a pending stop request */
	bool active;		  /* under lock; a thread is processing */
	weft_scheduler *self;	  /* no reference */
	struct runloop *next;	  /* registry link, under registry_lock */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct runloop *registry;

/* The loop this thread is processing now (innermost), or NULL. */
static _Thread_local struct runloop *loop_here;

static struct runloop *lookup(const weft_scheduler *s)
{
	struct runloop *l;

	if (!s)
		return NULL;
	pthread_mutex_lock(&registry_lock);
	for (l = registry; l && l->self != s; l = l->next)
		;
	pthread_mutex_unlock(&registry_lock);
	return l;
}

static void registry_add(struct runloop *l)
{
	pthread_mutex_lock(&registry_lock);
	l->next = registry;
	registry = l;
	pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(struct runloop *l)
{
	struct runloop **p;

	pthread_mutex_lock(&registry_lock);
	for (p = &registry; *p; p = &(*p)->next) {
		if (*p == l) {
			*p = l->next;
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
}

static int loop_queue(weft_scheduler *s, weft_task *t, void *data)
{
	struct runloop *l = data;
	int rc;

	(void)s;
	pthread_mutex_lock(&l->lock);
	rc = weft__fifo_push(&l->q, t);
	if (rc == 0)
		pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->lock);
	return rc;
}

/*
 * Inline only on the loop thread, which is what keeps the loop's promise
 * that its tasks run there; a loop task waiting for another loop task then
 * runs it in place instead of deadlocking.
 */
static bool loop_try_inline(weft_scheduler *s, weft_task *t,
			    bool previously_queued, void *data)
{
	struct runloop *l = data;

	if (loop_here != l)
		return false;
	if (previously_queued && !weft__fifo_take_back(&l->q, &l->lock, t))
		return false;
	return weft_scheduler_execute(s, t) == 1;
}

static bool loop_try_dequeue(weft_scheduler *s, weft_task *t, void *data)
{
	struct runloop *l = data;

	(void)s;
	return weft__fifo_take_back(&l->q, &l->lock, t);
}

static void loop_destroy(weft_scheduler *s, void *data)
{
	struct runloop *l = data;

	(void)s;
	registry_remove(l);
	/* Tasks never run: drop the references the loop held on them. */
	weft__fifo_drop_all(&l->q);
	pthread_cond_destroy(&l->wake);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

int weft_runloop_new(weft_scheduler **out)
{
	const weft_scheduler_ops ops = {
		.size = sizeof(ops),
		.queue = loop_queue,
		.try_execute_inline = loop_try_inline,
		.try_dequeue = loop_try_dequeue,
		.destroy = loop_destroy,
		.max_concurrency = 1,
	};
	struct runloop *l;
	int rc;

	if (!out)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	rc = pthread_mutex_init(&l->lock, NULL);
	if (rc) {
		free(l);
		return -rc;
	}
	rc = pthread_cond_init(&l->wake, NULL);
	if (rc) {
		pthread_mutex_destroy(&l->lock);
		free(l);
		return -rc;
	}
	rc = weft_scheduler_new(&l->self, &ops, l);
	if (rc < 0) {
		pthread_cond_destroy(&l->wake);
		pthread_mutex_destroy(&l->lock);
		free(l);
		return rc;
	}
	registry_add(l);
	*out = l->self;
	return 0;
}

/* Claim the loop for this thread: -EBUSY when a thread processes it. */
static int enter_loop(struct runloop *l, struct runloop **prev)
{
	pthread_mutex_lock(&l->lock);
	if (l->active) {
		pthread_mutex_unlock(&l->lock);
		return -EBUSY;
	}
	l->active = true;
	pthread_mutex_unlock(&l->lock);
	*prev = loop_here;
	loop_here = l;
	return 0;
}

int weft_runloop_run(weft_scheduler *loop)
{
	struct runloop *l = lookup(loop), *prev;
	weft_task *t;
	int rc;

	if (!l)
		return -EINVAL;
	rc = enter_loop(l, &prev);
	if (rc < 0)
		return rc;
	for (;;) {
		pthread_mutex_lock(&l->lock);
		while (!l->stop && !weft__fifo_len(&l->q))
			pthread_cond_wait(&l->wake, &l->lock);
		if (l->stop) {
			l->stop = false;
			l->active = false;
			pthread_mutex_unlock(&l->lock);
			break;
		}
		t = weft__fifo_pop(&l->q);
		pthread_mutex_unlock(&l->lock);
		/* Drops the reference the FIFO held. */
		weft_scheduler_execute(loop, t);
	}
	loop_here = prev;
	return 0;
}

int weft_runloop_run_pending(weft_scheduler *loop)
{
	struct runloop *l = lookup(loop), *prev;
	size_t n, i;
	int rc, ran = 0;

	if (!l)
		return -EINVAL;
	rc = enter_loop(l, &prev);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&l->lock);
	n = weft__fifo_len(&l->q);
	pthread_mutex_unlock(&l->lock);
	/* Only what was queued on entry: a task that queues another must
	 * not keep this call going forever. */
	for (i = 0; i < n; i++) {
		weft_task *t;

		pthread_mutex_lock(&l->lock);
		t = weft__fifo_pop(&l->q);
		pthread_mutex_unlock(&l->lock);
		if (!t)
			break; /* taken back by try_dequeue or inlined */
		if (weft_scheduler_execute(loop, t) == 1 && ran < INT_MAX)
			ran++;
	}
	loop_here = prev;
	pthread_mutex_lock(&l->lock);
	l->active = false;
	pthread_mutex_unlock(&l->lock);
	return ran;
}

int weft_runloop_stop(weft_scheduler *loop)
{
	struct runloop *l = lookup(loop);

	if (!l)
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_cond_broadcast(&l->wake);
	pthread_mutex_unlock(&l->lock);
	return 0;
}
