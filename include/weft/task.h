/*
 * weft/task.h - tasks: asynchronous operations on a scheduler.
 *
 * The model is the .NET Task Parallel Library's.  A task runs a body once,
 * on a scheduler (by default the process-wide work-stealing pool), and ends
 * in one of three final states: RanToCompletion (with an optional result
 * pointer), Faulted (with one or more error objects) or Canceled.
 *
 * Bodies report failure by returning an error (NULL = success).  Returning
 * weft_error_canceled(tok) for the task's own, canceled token acknowledges
 * cancellation: the task becomes Canceled.  Any other error faults it.
 *
 * Handles are reference-counted.  Every function that hands out a task
 * (out-parameter) gives +1; the caller drops it with weft_task_unref().  Where
 * an out-parameter may be NULL the task still runs: weft keeps it alive.
 * A task freed without ever completing releases the single-antecedent
 * continuations and unwrap proxies hooked on it (they stay
 * WaitingForActivation); see weft_task(3), Lifetime, for the two cases
 * where what is hooked on a task keeps it alive instead.
 *
 * Released objects: passing a task or promise whose last reference was
 * dropped is detected in debug builds (WEFT_DEBUG_CHECKS, on by default in
 * CMake Debug builds) for as long as its memory is not reused: each thread
 * keeps the last 1024 objects it released out of reuse (while it runs).
 * The int functions then return -EBADF and do nothing else (OPTS->arg_free
 * is called as for -EINVAL); the others return what they return for NULL
 * (weft_task_ref NULL, the unrefs nothing, the bool queries false, status
 * WEFT_STATUS_CREATED, id 0).  Argument errors (-EINVAL) are checked first.
 * In other builds using a released object is undefined behaviour.
 */
#ifndef WEFT_TASK_H
#define WEFT_TASK_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TaskStatus, with .NET's values. */
typedef enum weft_task_status {
	WEFT_STATUS_CREATED = 0,
	WEFT_STATUS_WAITING_FOR_ACTIVATION = 1,
	WEFT_STATUS_WAITING_TO_RUN = 2,
	WEFT_STATUS_RUNNING = 3,
	WEFT_STATUS_WAITING_FOR_CHILDREN = 4,
	WEFT_STATUS_RAN_TO_COMPLETION = 5,
	WEFT_STATUS_CANCELED = 6,
	WEFT_STATUS_FAULTED = 7,
} weft_task_status;

/* TaskCreationOptions, with .NET's values; combine with |. */
enum {
	WEFT_TASK_NONE = 0x00,
	WEFT_TASK_PREFER_FAIRNESS = 0x01, /* global FIFO queue */
	WEFT_TASK_LONG_RUNNING = 0x02,	  /* a dedicated thread */
	WEFT_TASK_ATTACHED_TO_PARENT = 0x04,
	WEFT_TASK_DENY_CHILD_ATTACH = 0x08,
	WEFT_TASK_HIDE_SCHEDULER = 0x10,
	WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY = 0x40,
};

/* TaskContinuationOptions, with .NET's values; combine with |. */
enum {
	WEFT_CONT_NONE = 0x00,
	WEFT_CONT_PREFER_FAIRNESS = 0x01,
	WEFT_CONT_LONG_RUNNING = 0x02,
	WEFT_CONT_ATTACHED_TO_PARENT = 0x04,
	WEFT_CONT_DENY_CHILD_ATTACH = 0x08,
	WEFT_CONT_HIDE_SCHEDULER = 0x10,
	WEFT_CONT_LAZY_CANCELLATION = 0x20,
	WEFT_CONT_RUN_CONTINUATIONS_ASYNCHRONOUSLY = 0x40,
	WEFT_CONT_NOT_ON_RAN_TO_COMPLETION = 0x10000,
	WEFT_CONT_NOT_ON_FAULTED = 0x20000,
	WEFT_CONT_NOT_ON_CANCELED = 0x40000,
	WEFT_CONT_ONLY_ON_RAN_TO_COMPLETION = 0x60000,
	WEFT_CONT_ONLY_ON_FAULTED = 0x50000,
	WEFT_CONT_ONLY_ON_CANCELED = 0x30000,
	WEFT_CONT_EXECUTE_SYNCHRONOUSLY = 0x80000,
};

/*
 * A task body.  SELF is the running task (borrowed), ARG the argument given
 * at creation.  Return NULL on success or an error (+1, ownership passes to
 * the task).  Set a result with weft_task_set_result(SELF, ...).
 */
typedef weft_error *(*weft_task_fn)(weft_task *self, void *arg);

/* A continuation body: ANTECEDENT is the task that completed (borrowed). */
typedef weft_error *(*weft_continuation_fn)(weft_task *self,
					    weft_task *antecedent, void *arg);

/* A continue-when-all body: all N antecedents, in the caller's order. */
typedef weft_error *(*weft_continuation_all_fn)(weft_task *self,
						weft_task *const *antecedents,
						size_t n, void *arg);

/*
 * Options for creating tasks and continuations.  Start from
 * WEFT_TASK_OPTIONS_INIT; SIZE lets the struct grow without breaking ABI.
 * FLAGS holds WEFT_TASK_* (creation) or WEFT_CONT_* (continuations).
 * SCHEDULER NULL means the current scheduler (weft_scheduler_current()).
 * ARG_FREE, when set, is called on ARG exactly once: when the task is freed,
 * also if it never ran (canceled before it started) or creation failed.
 */
typedef struct weft_task_options {
	size_t size;
	unsigned flags;
	weft_cancel_token token;
	weft_scheduler *scheduler;
	void (*arg_free)(void *arg);
} weft_task_options;

#ifdef __cplusplus
#define WEFT_TASK_OPTIONS_INIT                                                 \
	(weft_task_options{                                                    \
		sizeof(weft_task_options), 0, {nullptr}, nullptr, nullptr})
#else
#define WEFT_TASK_OPTIONS_INIT                                                 \
	((weft_task_options){.size = sizeof(weft_task_options)})
#endif

/* ---- creating and starting ------------------------------------------- */

/*
 * weft_task_create - a task in state Created (the `new Task(...)` form); it
 * runs once weft_task_start() or weft_task_run_synchronously() is called.
 * If OPTS->token is already canceled the task is Canceled at once; if it is
 * canceled later, before the body starts, the task becomes Canceled and its
 * body never runs.  With WEFT_TASK_ATTACHED_TO_PARENT inside a running task
 * (that does not deny attachment) the new task is its child from now on.
 * OPTS may be NULL (all defaults).
 * Ownership: +1 in *OUT.  Thread safety: any thread.
 * Errors: -EINVAL (OUT or FN NULL, unknown flag bits, bad OPTS->size),
 * -ENOMEM.  On error ARG_FREE(ARG) has been called.
 */
WEFT_API int weft_task_create(weft_task **out, weft_task_fn fn, void *arg,
			      const weft_task_options *opts);

/*
 * weft_task_start - queue a Created task to SCHED (NULL: the current
 * scheduler).  Errors: -EALREADY (already started, or already completed,
 * e.g. canceled before start), -EPERM (a continuation or promise task: they
 * are started by the runtime), -EINVAL (T NULL), -EBADF ((debug builds) T
 * was released).  If the scheduler fails to
 * queue the task, the task becomes Faulted with a SCHEDULER error and that
 * error's code is returned.
 */
WEFT_API int weft_task_start(weft_task *t, weft_scheduler *sched);

/*
 * weft_task_run_synchronously - run a Created task on this thread (through
 * SCHED's inline hook; NULL: current scheduler) and return when it is
 * completed, attached children included.  The body's own errors do not make
 * this call fail: they are stored for the waiters.  Errors as weft_task_start.
 */
WEFT_API int weft_task_run_synchronously(weft_task *t, weft_scheduler *sched);

/*
 * weft_task_run - create and start FN(ARG) on the default scheduler, with
 * WEFT_TASK_DENY_CHILD_ATTACH (Task.Run).  OUT may be NULL (fire and forget).
 * Errors: -EINVAL (FN NULL), -ENOMEM.
 */
WEFT_API int weft_task_run(weft_task **out, weft_task_fn fn, void *arg);

/*
 * weft_task_start_new - create and start with options (TaskFactory.StartNew).
 * Unlike weft_task_create, a token canceled before the body runs is noticed
 * when the task is dequeued (it becomes Canceled then).  OUT may be NULL.
 * Errors: -EINVAL (FN NULL, unknown flag bits), -ENOMEM.
 */
WEFT_API int weft_task_start_new(weft_task **out, weft_task_fn fn, void *arg,
				 const weft_task_options *opts);

/* ---- references, identity, state ------------------------------------- */

/* weft_task_ref / weft_task_unref - NULL is accepted and ignored.  (Debug
 * builds) a released T too: weft_task_ref returns NULL and takes no
 * reference, weft_task_unref does nothing. */
WEFT_API weft_task *weft_task_ref(weft_task *t);
WEFT_API void weft_task_unref(weft_task *t);
/*
 * weft_task_unref_any - weft_task_unref with a void * parameter, for use as
 * a result destructor (e.g. a body whose result is a task, for unwrap).
 * Calling weft_task_unref through a cast function pointer would be
 * undefined behaviour.  Ignores NULL and (debug builds) a released task.
 */
WEFT_API void weft_task_unref_any(void *task);

/* Status at this instant.  Thread safety: any thread.  For NULL and
 * (debug builds) a released task: WEFT_STATUS_CREATED and false. */
WEFT_API weft_task_status weft_task_get_status(const weft_task *t);
WEFT_API bool weft_task_is_completed(const weft_task *t);
WEFT_API bool weft_task_is_completed_successfully(const weft_task *t);
WEFT_API bool weft_task_is_faulted(const weft_task *t);
WEFT_API bool weft_task_is_canceled(const weft_task *t);

/* Unique id, assigned on first request; never 0.  0 for NULL and (debug
 * builds) a released task. */
WEFT_API uint64_t weft_task_id(weft_task *t);
/* The task whose body runs on this thread (borrowed), or NULL. */
WEFT_API weft_task *weft_task_current(void);
/* Its id, or 0 when no task body runs on this thread. */
WEFT_API uint64_t weft_task_current_id(void);
/* The creation options given (WEFT_TASK_* bits only).  These three
 * answer 0, NULL and the none token for NULL and (debug builds) a
 * released task. */
WEFT_API unsigned weft_task_creation_options(const weft_task *t);
/* The ARG given at creation (AsyncState); NULL for promises without one. */
WEFT_API void *weft_task_async_state(const weft_task *t);
/* The task's own cancellation token (none if it has none). */
WEFT_API weft_cancel_token weft_task_token(const weft_task *t);

/* ---- results and errors ---------------------------------------------- */

/*
 * weft_task_set_result - from inside SELF's body, set its result.  DTOR (may
 * be NULL) is called on VALUE when the task is freed or the result replaced.
 * Errors: -EPERM when SELF is not the task running on this thread, -EBADF
 * ((debug builds) SELF was released; DTOR is not called).
 */
WEFT_API int weft_task_set_result(weft_task *self, void *value,
				  void (*dtor)(void *value));

/*
 * weft_task_result - the result of a task that RanToCompletion (borrowed:
 * valid while T lives), else NULL (also for a released task in debug
 * builds).  Never blocks.
 */
WEFT_API void *weft_task_result(const weft_task *t);

/*
 * weft_task_get_result - wait for T (as weft_task_wait with no timeout and no
 * token) and store its result in *OUT (borrowed).  Returns 0; WEFT_EFAULTED
 * or -ECANCELED when the task did not run to completion (reading the result
 * of a faulted or canceled task is an error), with *ERR as weft_task_wait;
 * the argument errors of weft_task_wait (-EINVAL, -EBADF).
 */
WEFT_API int weft_task_get_result(weft_task *t, void **out, weft_error **err);

/*
 * weft_task_error - when T is Faulted, an aggregate of its errors (+1; the
 * inners are the very objects its body and children reported) and the
 * errors are marked observed; otherwise NULL (also for a released task in
 * debug builds).
 */
WEFT_API weft_error *weft_task_error(weft_task *t);

/* ---- waiting --------------------------------------------------------- */

/*
 * weft_task_wait - wait until T is completed (attached children included),
 * TIMEOUT_MS passes (WEFT_INFINITE: never), or TOKEN is canceled.
 * Inside a pool worker the wait never blocks the worker: it runs T inline
 * when T is still queued on this worker, else runs other work meanwhile.
 * Returns:
 *   0             T RanToCompletion (returned at once, token not checked)
 *   WEFT_EFAULTED T is Faulted; *ERR = aggregate of its errors (observed)
 *   -ECANCELED    T is Canceled; *ERR = aggregate [TASK_CANCELED error];
 *                 or TOKEN was canceled first; *ERR = CANCELED(TOKEN)
 *   -ETIMEDOUT    time ran out; T goes on (no error even if it later faults)
 *   -EINVAL       T NULL or TIMEOUT_MS < -1
 *   -EBADF        (debug builds) T was released
 * ERR may be NULL; otherwise it is set (+1) or NULL on every return.
 */
WEFT_API int weft_task_wait(weft_task *t, int64_t timeout_ms,
			    weft_cancel_token token, weft_error **err);

/*
 * weft_task_wait_all - wait until all N tasks are completed.  Returns 0 when
 * all ran to completion; WEFT_EFAULTED / -ECANCELED when some did not, with
 * *ERR = aggregate of, in array order, each faulted task's errors and a
 * TASK_CANCELED error per canceled task (-ECANCELED only when none faulted);
 * -ETIMEDOUT; -ECANCELED with CANCELED(TOKEN) when TOKEN is canceled (checked
 * first); -EINVAL (TASKS NULL with N > 0, NULL element, TIMEOUT_MS < -1);
 * -EBADF ((debug builds) an element was released; nothing is waited for).
 * N == 0 returns 0.
 */
WEFT_API int weft_task_wait_all(weft_task *const *tasks, size_t n,
				int64_t timeout_ms, weft_cancel_token token,
				weft_error **err);

/*
 * weft_task_wait_any - wait until one of N tasks completes; *INDEX = the
 * lowest index already completed, else the first to complete.  Task errors
 * are never reported here.  Returns 0, -ETIMEDOUT (also for N == 0),
 * -ECANCELED (TOKEN canceled), -EINVAL (NULL arguments or element,
 * TIMEOUT_MS < -1), -EBADF ((debug builds) an element was released).
 */
WEFT_API int weft_task_wait_any(weft_task *const *tasks, size_t n,
				int64_t timeout_ms, weft_cancel_token token,
				size_t *index);

/* ---- continuations (seed 002) ---------------------------------------- */

/*
 * weft_task_continue_with - a task that runs FN once ANTECEDENT completes
 * (at once if it already has).  The continuation starts
 * WaitingForActivation; starting it by hand is -EPERM.  OPTS->flags takes
 * WEFT_CONT_*; when the NOT_ON / ONLY_ON condition is not met the
 * continuation becomes Canceled without running.  A canceled OPTS->token
 * cancels it (at once, or when the antecedent completes with
 * LAZY_CANCELLATION).  OPTS may be NULL.  OUT may be NULL.
 * Errors: -EINVAL (ANTECEDENT or FN NULL, unknown bits, all three NOT_ON
 * bits, EXECUTE_SYNCHRONOUSLY with LONG_RUNNING), -EBADF ((debug builds)
 * ANTECEDENT was released), -ENOMEM.  On error OPTS->arg_free(ARG) has been
 * called.
 */
WEFT_API int weft_task_continue_with(weft_task **out, weft_task *antecedent,
				     weft_continuation_fn fn, void *arg,
				     const weft_task_options *opts);

/*
 * weft_task_continue_when_all - run FN once all N TASKS completed, whatever
 * their states.  The array is copied.  NOT_ON / ONLY_ON flags are -EINVAL,
 * as are N == 0, NULL TASKS or element, and the continue_with errors;
 * -EBADF ((debug builds) an element was released: nothing is hooked).
 */
WEFT_API int weft_task_continue_when_all(weft_task **out,
					 weft_task *const *tasks, size_t n,
					 weft_continuation_all_fn fn, void *arg,
					 const weft_task_options *opts);

/*
 * weft_task_continue_when_any - run FN with the first of N TASKS to complete
 * (the lowest index among those already complete).  Errors as
 * continue_when_all.
 */
WEFT_API int weft_task_continue_when_any(weft_task **out,
					 weft_task *const *tasks, size_t n,
					 weft_continuation_fn fn, void *arg,
					 const weft_task_options *opts);

/*
 * weft_set_unobserved_error_handler - FN(ERR, ARG) is called when a Faulted
 * task whose errors nobody observed (no wait, get_result or task_error) is
 * freed; ERR is the task's aggregate (its inners are the errors the body
 * and its children reported), borrowed.  NULL removes the handler.  Called on
 * whichever thread drops the last reference.
 */
WEFT_API void weft_set_unobserved_error_handler(void (*fn)(weft_error *err,
							   void *arg),
						void *arg);

#ifdef __cplusplus
}
#endif
#endif
