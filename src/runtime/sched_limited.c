/*
 * sched_limited.c - a scheduler that runs at most MAX tasks at once on top
 * of another scheduler (.NET's LimitedConcurrencyLevelTaskScheduler sample,
 * and the concurrent side of ConcurrentExclusiveSchedulerPair).
 *
 * It is written only on the public custom-scheduler API, as a user would
 * write it.  Queued tasks wait in a FIFO.  Up to MAX "runners" exist at a
 * time; each runner is an ordinary task started on the inner scheduler that
 * pops tasks from the FIFO and executes them until the FIFO is empty, then
 * retires.  The number of runners is what bounds the concurrency, so the
 * invariant is simple: the FIFO is only non-empty while at least one runner
 * exists (or while a runner could not be started; see limited_queue()).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "context.h"
#include "task_fifo.h"
#include "weft/error.h"
#include "weft/sched.h"
#include "weft/task.h"

struct limited {
	pthread_mutex_t lock;
	struct weft__task_fifo q; /* under lock; holds the queued references */
	int running;		  /* under lock; runners started, not retired */
	int max;
	weft_scheduler *inner; /* +1 */
	weft_scheduler *self;  /* no reference: runners hold their own */
};

/*
 * The runners active on this thread, innermost first.  A chain rather than
 * one pointer because a limited scheduler may sit on top of another one:
 * the outer runner then runs inside an inner runner on the same thread.
 */
struct runner_frame {
	const struct limited *l;
	struct runner_frame *prev;
};

static _Thread_local struct runner_frame *runner_frames;

static bool on_runner_of(const struct limited *l)
{
	const struct runner_frame *f;

	for (f = runner_frames; f; f = f->prev)
		if (f->l == l)
			return true;
	return false;
}

static weft_error *runner_body(weft_task *self, void *arg)
{
	struct limited *l = arg;
	struct runner_frame frame = {l, runner_frames};
	weft_task *t;

	(void)self;
	runner_frames = &frame;
	for (;;) {
		pthread_mutex_lock(&l->lock);
		t = weft__fifo_pop(&l->q);
		if (!t) {
			/* Retire under the lock: a queue() that pushes after
			 * this sees running < max and starts a new runner. */
			l->running--;
			pthread_mutex_unlock(&l->lock);
			break;
		}
		pthread_mutex_unlock(&l->lock);
		/* Drops the reference the FIFO held. */
		weft_scheduler_execute(l->self, t);
	}
	runner_frames = frame.prev;
	return NULL;
}

/* The runner's reference on the scheduler, dropped when the runner goes. */
static void runner_release(void *arg)
{
	struct limited *l = arg;

	weft_scheduler_unref(l->self);
}

/* The code to report for a runner the inner scheduler refused. */
static int refusal_code(weft_task *runner)
{
	weft_error *agg = weft_task_error(runner);
	weft_error *e = agg ? weft_error_inner(agg, 0) : NULL;
	int code = -EAGAIN;

	while (e && weft_error_code(e) >= 0 && weft_error_inner_count(e))
		e = weft_error_inner(e, 0);
	if (e && weft_error_code(e) < 0)
		code = weft_error_code(e);
	weft_error_unref(agg);
	return code;
}

/* Start one runner on the inner scheduler.  0 or a negative errno. */
static int start_runner(struct limited *l)
{
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	struct weft__context *saved;
	weft_task *r = NULL;
	int rc;

	o.flags = WEFT_TASK_DENY_CHILD_ATTACH;
	o.scheduler = l->inner;
	o.arg_free = runner_release;
	weft_scheduler_ref(l->self);
	/* Runners serve many tasks, each of which brings its own context;
	 * do not let a runner pin the context of whoever happened to queue
	 * the task that started it. */
	saved = weft__context_enter(NULL);
	rc = weft_task_start_new(&r, runner_body, l, &o);
	weft__context_leave(saved);
	/* The runner body never fails, so a fault means the inner scheduler
	 * refused to queue it.  Either way runner_release runs exactly once:
	 * when the failed creation cleans up, or when R is freed. */
	if (rc == 0 && weft_task_is_faulted(r))
		rc = refusal_code(r);
	weft_task_unref(r);
	return rc;
}

static int limited_queue(weft_scheduler *s, weft_task *t, void *data)
{
	struct limited *l = data;
	bool start = false;
	int rc;

	(void)s;
	pthread_mutex_lock(&l->lock);
	rc = weft__fifo_push(&l->q, t);
	if (rc == 0 && l->running < l->max) {
		l->running++;
		start = true;
	}
	pthread_mutex_unlock(&l->lock);
	if (rc < 0 || !start)
		return rc;

	rc = start_runner(l);
	if (rc == 0)
		return 0;
	/*
	 * No runner: take T back so that it faults with a scheduler error,
	 * unless a running runner already took it.  Other tasks that were
	 * queued meanwhile counting on this runner stay queued and are picked
	 * up by the runner of the next successful queue().
	 */
	pthread_mutex_lock(&l->lock);
	l->running--;
	if (!weft__fifo_remove(&l->q, t))
		rc = 0;
	pthread_mutex_unlock(&l->lock);
	return rc;
}

/*
 * Inline only on a thread that is already one of our runners: that thread
 * counts against MAX already, so running T on it keeps the bound (and this
 * is what lets a task wait for another task of the same scheduler even
 * when MAX is 1).
 */
static bool limited_try_inline(weft_scheduler *s, weft_task *t,
			       bool previously_queued, void *data)
{
	struct limited *l = data;

	if (!on_runner_of(l))
		return false;
	if (previously_queued && !weft__fifo_take_back(&l->q, &l->lock, t))
		return false; /* a runner has it, or it ran */
	return weft_scheduler_execute(s, t) == 1;
}

static bool limited_try_dequeue(weft_scheduler *s, weft_task *t, void *data)
{
	struct limited *l = data;

	(void)s;
	return weft__fifo_take_back(&l->q, &l->lock, t);
}

static void limited_destroy(weft_scheduler *s, void *data)
{
	struct limited *l = data;

	(void)s;
	/* Runners hold references, so the FIFO is normally empty here; what
	 * is left could only be tasks no runner could be started for. */
	weft__fifo_drop_all(&l->q);
	weft_scheduler_unref(l->inner);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

int weft_scheduler_new_limited(weft_scheduler **out, weft_scheduler *inner,
			       int max)
{
	weft_scheduler_ops ops = {
		.size = sizeof(ops),
		.queue = limited_queue,
		.try_execute_inline = limited_try_inline,
		.try_dequeue = limited_try_dequeue,
		.destroy = limited_destroy,
		.max_concurrency = max,
	};
	struct limited *l;
	int rc;

	if (!out || max < 1)
		return -EINVAL;
	if (!inner)
		inner = weft_scheduler_default();
	if (!inner)
		return -ENOMEM;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	rc = pthread_mutex_init(&l->lock, NULL);
	if (rc) {
		free(l);
		return -rc;
	}
	l->max = max;
	l->inner = weft_scheduler_ref(inner);
	rc = weft_scheduler_new(&l->self, &ops, l);
	if (rc < 0) {
		weft_scheduler_unref(l->inner);
		pthread_mutex_destroy(&l->lock);
		free(l);
		return rc;
	}
	*out = l->self;
	return 0;
}
