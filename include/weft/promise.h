/*
 * weft/promise.h - tasks without delegates (TaskCompletionSource).
 *
 * A promise owns a task that stays WaitingForActivation until one of the
 * set functions completes it; only the first one wins.  Hand the task to
 * consumers and keep the promise for the producer.
 */
#ifndef WEFT_PROMISE_H
#define WEFT_PROMISE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * weft_promise_new - a promise whose task has async state STATE and creation
 * FLAGS (only WEFT_TASK_ATTACHED_TO_PARENT and
 * WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY are allowed: -EINVAL otherwise).
 */
WEFT_API int weft_promise_new(weft_promise **out, void *state, unsigned flags);
/* NULL for NULL and (debug builds) a released P (no reference taken). */
WEFT_API weft_promise *weft_promise_ref(weft_promise *p);
/* Dropping the last promise reference leaves an uncompleted task pending
 * forever.  NULL and (debug builds) a released P are ignored. */
WEFT_API void weft_promise_unref(weft_promise *p);
/* The promise's task, the same object every call (borrowed); NULL for
 * NULL and (debug builds) a released P. */
WEFT_API weft_task *weft_promise_task(weft_promise *p);

/*
 * The try_set calls return 1 when this call completed the task, 0 when it
 * was already completed.
 * The set calls return 0, or -EALREADY when it was already completed.
 * Argument errors (-EINVAL, checked first): NULL promise; NULL ERR; NULL
 * ERRS or N == 0 or a NULL element.  Then -EBADF: (debug builds) P was
 * released (see weft/task.h, "Released objects").  Error objects are
 * referenced, not stolen.  DTOR is called on VALUE when the task is freed,
 * or at once when the set did not win; not on -EINVAL or -EBADF (VALUE
 * stays the caller's).
 */
WEFT_API int weft_promise_try_set_result(weft_promise *p, void *value,
					 void (*dtor)(void *value));
WEFT_API int weft_promise_try_set_error(weft_promise *p, weft_error *err);
WEFT_API int weft_promise_try_set_errors(weft_promise *p,
					 weft_error *const *errs, size_t n);
WEFT_API int weft_promise_try_set_canceled(weft_promise *p,
					   weft_cancel_token token);
WEFT_API int weft_promise_set_result(weft_promise *p, void *value,
				     void (*dtor)(void *value));
WEFT_API int weft_promise_set_error(weft_promise *p, weft_error *err);
WEFT_API int weft_promise_set_errors(weft_promise *p, weft_error *const *errs,
				     size_t n);
WEFT_API int weft_promise_set_canceled(weft_promise *p,
				       weft_cancel_token token);

#ifdef __cplusplus
}
#endif
#endif
