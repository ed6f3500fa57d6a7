/*
 * weft/compose.h - composing tasks: when_all, when_any, delay, pre-computed
 * tasks, unwrap.  Every task returned here is a promise-style task: it is
 * WaitingForActivation until it completes, and cannot be started by hand.
 */
#ifndef WEFT_COMPOSE_H
#define WEFT_COMPOSE_H

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * weft_task_when_all - a task that completes when all N TASKS have: Faulted
 * with every error of every faulted task (array order, duplicates kept) if
 * any faulted; else Canceled (token of the first canceled one) if any was
 * canceled; else RanToCompletion.  N == 0: already RanToCompletion.  The
 * array is copied.  Errors: -EINVAL (TASKS NULL with N > 0, NULL element),
 * -EBADF ((debug builds) an element was released: nothing is hooked).
 */
WEFT_API int weft_task_when_all(weft_task **out, weft_task *const *tasks,
				size_t n);

/*
 * weft_task_when_any - a task that always RanToCompletion, with the first of
 * TASKS to complete as its result (weft_task_result() gives that task,
 * borrowed from the when_any task, which holds a reference).  Errors:
 * -EINVAL (N == 0, NULL array or element), -EBADF ((debug builds) an
 * element was released).
 */
WEFT_API int weft_task_when_any(weft_task **out, weft_task *const *tasks,
				size_t n);

/*
 * weft_task_delay - a task that completes after MS milliseconds (0: at once;
 * WEFT_INFINITE: only through TOKEN).  Canceling TOKEN completes it Canceled
 * at once.  Errors: -EINVAL (MS < -1 or > 0xFFFFFFFE).
 */
WEFT_API int weft_task_delay(weft_task **out, int64_t ms,
			     weft_cancel_token token);

/* A task that already RanToCompletion with VALUE (DTOR: see set_result). */
WEFT_API int weft_task_from_result(weft_task **out, void *value,
				   void (*dtor)(void *value));
/* A task already Faulted with [ERR] (a new reference is taken).  -EINVAL for
 * NULL ERR. */
WEFT_API int weft_task_from_error(weft_task **out, weft_error *err);
/* A task already Canceled with TOKEN.  -EINVAL unless TOKEN is canceled. */
WEFT_API int weft_task_from_canceled(weft_task **out, weft_cancel_token token);
/* The shared task that already RanToCompletion (borrowed; immortal). */
WEFT_API weft_task *weft_task_completed(void);

/*
 * weft_task_unwrap - a proxy for the task that OUTER's result is (OUTER's
 * body must set a weft_task * result, with weft_task_unref_any as
 * destructor).
 * If OUTER already ran to completion, *OUT is the inner task itself (+1).
 * OUTER canceled or faulted -> the proxy is too (same errors); inner NULL ->
 * Canceled; else the proxy mirrors the inner task.  -EINVAL for NULL OUTER,
 * -EBADF ((debug builds) OUTER was released).
 */
WEFT_API int weft_task_unwrap(weft_task **out, weft_task *outer);

/*
 * weft_task_run_unwrap - Task.Run of a function that returns a task: run FN
 * on the default scheduler and return a proxy for the task it sets as its
 * result.  If FN itself reports a cancellation error the proxy is Canceled.
 * A TOKEN already canceled gives a Canceled task and FN never runs.
 */
WEFT_API int weft_task_run_unwrap(weft_task **out, weft_task_fn fn, void *arg,
				  weft_cancel_token token);

#ifdef __cplusplus
}
#endif
#endif
