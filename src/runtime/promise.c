/*
 * promise.c - TaskCompletionSource: tasks completed by set calls.
 *
 * A weft_promise is the promise task itself seen through a separate type,
 * so that only the producer holding the promise can complete it.
 */
#define _GNU_SOURCE
#include <errno.h>

#include "task_internal.h"

#define PROMISE_FLAGS                                                          \
	(WEFT_TASK_ATTACHED_TO_PARENT |                                        \
	 WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY)

static inline weft_task *task_of(weft_promise *p)
{
	return (weft_task *)p;
}

weft_task *weft__promise_new_task(void *state, unsigned flags)
{
	return weft__task_alloc(flags | TS_PROMISE | TS_WAITING_FOR_ACTIVATION,
				NULL, state);
}

int weft_promise_new(weft_promise **out, void *state, unsigned flags)
{
	if (!out || (flags & ~PROMISE_FLAGS))
		return -EINVAL;
	weft_task *t = weft__promise_new_task(state, flags);
	if (!t)
		return -ENOMEM;
	int rc = weft__task_attach_to_current(t, flags);
	if (rc) {
		weft_task_unref(t);
		return rc;
	}
	*out = (weft_promise *)t;
	return 0;
}

weft_promise *weft_promise_ref(weft_promise *p)
{
	/* NULL for a released promise, as weft_task_ref */
	return (weft_promise *)weft_task_ref(task_of(p));
}

void weft_promise_unref(weft_promise *p)
{
	weft_task_unref(task_of(p));
}

weft_task *weft_promise_task(weft_promise *p)
{
	if (p && weft__task_released(task_of(p)))
		return NULL;
	return task_of(p);
}

int weft_promise_try_set_result(weft_promise *p, void *value,
				void (*dtor)(void *))
{
	if (!p)
		return -EINVAL;
	if (weft__task_released(task_of(p)))
		return -EBADF;
	if (weft__task_try_complete(task_of(p), TS_RAN_TO_COMPLETION, value,
				    dtor, NULL, 0, WEFT_TOKEN_NONE))
		return 1;
	if (dtor)
		dtor(value); /* lost: the value is nobody's */
	return 0;
}

int weft_promise_try_set_errors(weft_promise *p, weft_error *const *errs,
				size_t n)
{
	if (!p || !errs || n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!errs[i])
			return -EINVAL;
	if (weft__task_released(task_of(p)))
		return -EBADF;
	return weft__task_try_complete(task_of(p), TS_FAULTED, NULL, NULL, errs,
				       n, WEFT_TOKEN_NONE) ?
		       1 :
		       0;
}

int weft_promise_try_set_error(weft_promise *p, weft_error *err)
{
	if (!err)
		return -EINVAL;
	return weft_promise_try_set_errors(p, &err, 1);
}

int weft_promise_try_set_canceled(weft_promise *p, weft_cancel_token token)
{
	if (!p)
		return -EINVAL;
	if (weft__task_released(task_of(p)))
		return -EBADF;
	return weft__task_try_complete(task_of(p), TS_CANCELED, NULL, NULL,
				       NULL, 0, token) ?
		       1 :
		       0;
}

/* The set forms: a lost race is an error. */
static int must_win(int rc)
{
	return rc < 0 ? rc : rc == 1 ? 0 : -EALREADY;
}

int weft_promise_set_result(weft_promise *p, void *value, void (*dtor)(void *))
{
	return must_win(weft_promise_try_set_result(p, value, dtor));
}

int weft_promise_set_error(weft_promise *p, weft_error *err)
{
	return must_win(weft_promise_try_set_error(p, err));
}

int weft_promise_set_errors(weft_promise *p, weft_error *const *errs, size_t n)
{
	return must_win(weft_promise_try_set_errors(p, errs, n));
}

int weft_promise_set_canceled(weft_promise *p, weft_cancel_token token)
{
	return must_win(weft_promise_try_set_canceled(p, token));
}
