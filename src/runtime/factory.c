/*
 * factory.c - TaskFactory: defaults (token, creation flags, continuation
 * flags, scheduler) for a family of tasks, on top of the public task API.
 *
 * A factory is immutable after creation, so any number of threads may use
 * one at once without locking.  It holds references on its token's source
 * and its scheduler so that both outlive every call made through it.
 */
#include <errno.h>
#include <stdlib.h>

#include "weft/cancel.h"
#include "weft/factory.h"
#include "weft/sched.h"
#include "weft/task.h"

/* The creation flags weft_task_create accepts. */
#define CREATION_MASK                                                          \
	(WEFT_TASK_PREFER_FAIRNESS | WEFT_TASK_LONG_RUNNING |                  \
	 WEFT_TASK_ATTACHED_TO_PARENT | WEFT_TASK_DENY_CHILD_ATTACH |          \
	 WEFT_TASK_HIDE_SCHEDULER |                                            \
	 WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY)

/*
 * The continuation flags a multi-task continuation accepts: NOT_ON_* and
 * ONLY_ON_* make no sense when there are several antecedents.
 */
#define CONTINUATION_MASK                                                      \
	(WEFT_CONT_PREFER_FAIRNESS | WEFT_CONT_LONG_RUNNING |                  \
	 WEFT_CONT_ATTACHED_TO_PARENT | WEFT_CONT_DENY_CHILD_ATTACH |          \
	 WEFT_CONT_HIDE_SCHEDULER | WEFT_CONT_LAZY_CANCELLATION |              \
	 WEFT_CONT_RUN_CONTINUATIONS_ASYNCHRONOUSLY |                          \
	 WEFT_CONT_EXECUTE_SYNCHRONOUSLY)

struct weft_task_factory {
	weft_cancel_token token; /* holds a reference on token.source */
	unsigned creation;
	unsigned continuation;
	weft_scheduler *scheduler; /* +1, or NULL: current at each call */
};

int weft_task_factory_new(weft_task_factory **out, weft_cancel_token token,
			  unsigned creation, unsigned continuation,
			  weft_scheduler *scheduler)
{
	weft_task_factory *f;

	if (!out)
		return -EINVAL;
	if (creation & ~(unsigned)CREATION_MASK)
		return -EINVAL;
	if (continuation & ~(unsigned)CONTINUATION_MASK)
		return -EINVAL;
	if ((continuation & WEFT_CONT_EXECUTE_SYNCHRONOUSLY) &&
	    (continuation & WEFT_CONT_LONG_RUNNING))
		return -EINVAL;
	f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->token.source = weft_cancel_source_ref(token.source);
	f->creation = creation;
	f->continuation = continuation;
	f->scheduler = scheduler ? weft_scheduler_ref(scheduler) : NULL;
	*out = f;
	return 0;
}

void weft_task_factory_free(weft_task_factory *f)
{
	if (!f)
		return;
	weft_cancel_source_unref(f->token.source);
	weft_scheduler_unref(f->scheduler);
	free(f);
}

/*
 * The options for one call: OPTS's non-zero fields, else F's defaults
 * (DEFAULT_FLAGS being the factory's creation or continuation flags).
 * Returns -EINVAL when F is NULL or OPTS is malformed, after calling
 * OPTS->arg_free(ARG) as the plain forms do on error.
 */
static int merge(const weft_task_factory *f, const weft_task_options *opts,
		 unsigned default_flags, void *arg, weft_task_options *o)
{
	*o = WEFT_TASK_OPTIONS_INIT;
	if (!f || (opts && opts->size < sizeof(*opts))) {
		if (opts && opts->arg_free)
			opts->arg_free(arg);
		return -EINVAL;
	}
	o->flags = opts && opts->flags ? opts->flags : default_flags;
	o->token = opts && opts->token.source ? opts->token : f->token;
	o->scheduler = opts && opts->scheduler ? opts->scheduler : f->scheduler;
	o->arg_free = opts ? opts->arg_free : NULL;
	return 0;
}

int weft_task_factory_start_new(const weft_task_factory *f, weft_task **out,
				weft_task_fn fn, void *arg,
				const weft_task_options *opts)
{
	weft_task_options o;
	int rc = merge(f, opts, f ? f->creation : 0, arg, &o);

	if (rc < 0)
		return rc;
	return weft_task_start_new(out, fn, arg, &o);
}

int weft_task_factory_continue_when_all(const weft_task_factory *f,
					weft_task **out,
					weft_task *const *tasks, size_t n,
					weft_continuation_all_fn fn, void *arg,
					const weft_task_options *opts)
{
	weft_task_options o;
	int rc = merge(f, opts, f ? f->continuation : 0, arg, &o);

	if (rc < 0)
		return rc;
	return weft_task_continue_when_all(out, tasks, n, fn, arg, &o);
}

int weft_task_factory_continue_when_any(const weft_task_factory *f,
					weft_task **out,
					weft_task *const *tasks, size_t n,
					weft_continuation_fn fn, void *arg,
					const weft_task_options *opts)
{
	weft_task_options o;
	int rc = merge(f, opts, f ? f->continuation : 0, arg, &o);

	if (rc < 0)
		return rc;
	return weft_task_continue_when_any(out, tasks, n, fn, arg, &o);
}
