/*
 * weft/sched.h - schedulers: where tasks run.
 *
 * The default scheduler is a process-wide work-stealing pool with one worker
 * per core, created on first use.  Explicit pools take a thread count.  Users
 * write their own schedulers by filling a weft_scheduler_ops table; weft
 * ships two more: a limited-concurrency scheduler over another scheduler and
 * a single-thread run loop (the C analogue of a UI context).
 */
#ifndef WEFT_SCHED_H
#define WEFT_SCHED_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The custom-scheduler contract (TaskScheduler).  DATA is the pointer given
 * to weft_scheduler_new().
 *  queue               hand T over to run later, by calling
 *                      weft_scheduler_execute(S, T) on some thread.  The
 *                      scheduler holds a reference to T (taken by weft
 *                      before the call, dropped by weft_scheduler_execute),
 *                      or returns a negative errno: T then becomes Faulted
 *                      with a SCHEDULER error.  Required.
 *  try_execute_inline  run T now on this thread via weft_scheduler_execute()
 *                      and return true, or return false.  May be NULL (never
 *                      inline).  PREVIOUSLY_QUEUED says queue() got T: then
 *                      the reference execute() drops is the queue's, so
 *                      take T out of your queue first.  A task never queued
 *                      (run synchronously) comes with a reference of its own
 *                      for execute() to drop.
 *  try_dequeue         take back a queued T so the caller can run it;
 *                      true on success (the scheduler's reference passes to
 *                      the caller).  May be NULL.
 *  destroy             called once when the last reference goes.  May be
 *                      NULL.
 *  max_concurrency     how many tasks may run at once (0: unlimited).
 */
typedef struct weft_scheduler_ops {
	size_t size; /* sizeof(weft_scheduler_ops) */
	int (*queue)(weft_scheduler *s, weft_task *t, void *data);
	bool (*try_execute_inline)(weft_scheduler *s, weft_task *t,
				   bool previously_queued, void *data);
	bool (*try_dequeue)(weft_scheduler *s, weft_task *t, void *data);
	void (*destroy)(weft_scheduler *s, void *data);
	int max_concurrency;
} weft_scheduler_ops;

/*
 * weft_scheduler_new - a scheduler driven by OPS (copied).  +1 in *OUT.
 * Errors: -EINVAL (NULL arguments, OPS->queue NULL, bad size), -ENOMEM.
 */
WEFT_API int weft_scheduler_new(weft_scheduler **out,
				const weft_scheduler_ops *ops, void *data);

/*
 * weft_scheduler_execute - TryExecuteTask: run T (bound to S) on this thread
 * now, or complete it Canceled if its token is canceled.  Drops the
 * reference the scheduler held.  Returns 1 when this call ran or completed
 * T, 0 when T was already executed, -EINVAL when T is not bound to S,
 * -EBADF ((debug builds) T was released, e.g. executed a second time after
 * its last reference went).
 */
WEFT_API int weft_scheduler_execute(weft_scheduler *s, weft_task *t);

WEFT_API weft_scheduler *weft_scheduler_ref(weft_scheduler *s);
WEFT_API void weft_scheduler_unref(weft_scheduler *s);
/* Unique id, assigned lazily, never 0. */
WEFT_API uint64_t weft_scheduler_id(weft_scheduler *s);
/* 0 for unlimited. */
WEFT_API int weft_scheduler_max_concurrency(const weft_scheduler *s);

/*
 * weft_scheduler_default - the process-wide pool (borrowed; lives until
 * exit).  Created on first use with weft_default_pool_configure()'s count,
 * else $WEFT_NUM_THREADS, else one worker per online CPU.
 */
WEFT_API weft_scheduler *weft_scheduler_default(void);

/*
 * weft_scheduler_current - the scheduler of the task running on this thread
 * (the default scheduler if none, or if that task hides its scheduler).
 * Borrowed.
 */
WEFT_API weft_scheduler *weft_scheduler_current(void);

/*
 * weft_default_pool_configure - set the default pool's worker count before
 * its first use.  Errors: -EBUSY (already created), -EINVAL (0 or > 4096).
 */
WEFT_API int weft_default_pool_configure(unsigned nthreads);

/*
 * weft_pool_new - a work-stealing pool with NTHREADS workers (0: one per
 * online CPU).  Errors: -EINVAL (> 4096), -ENOMEM, -EAGAIN (threads).
 */
WEFT_API int weft_pool_new(weft_scheduler **out, unsigned nthreads);

/*
 * weft_pool_shutdown - wait until every task queued to pool S has run, then
 * stop and join all its threads.  Tasks queued afterwards are refused
 * (they fault with -ESHUTDOWN).  Must not be called from one of S's own
 * workers (-EDEADLK).  Errors: -EINVAL (not a pool).  The caller still
 * drops its reference with weft_scheduler_unref().
 */
WEFT_API int weft_pool_shutdown(weft_scheduler *s);

/* Number of workers of pool S (not counting long-running threads). */
WEFT_API unsigned weft_pool_size(const weft_scheduler *s);

/*
 * weft_scheduler_new_limited - a scheduler that runs at most MAX tasks at
 * once, queuing them to INNER (NULL: default).  Errors: -EINVAL (MAX < 1).
 */
WEFT_API int weft_scheduler_new_limited(weft_scheduler **out,
					weft_scheduler *inner, int max);

/*
 * A run loop: a scheduler whose tasks run only on the thread that calls
 * weft_runloop_run() (a UI context).  weft_runloop_run processes tasks until
 * weft_runloop_stop() is called (from any thread, or a task in the loop); a
 * stop made before run() starts is kept, and that run returns at once.
 * weft_runloop_run_pending runs what is queued now and returns how many ran
 * (it never consumes a stop).  Errors: -EINVAL (not a run loop), -EBUSY
 * (another call is already processing this loop, e.g. from a loop task).
 */
WEFT_API int weft_runloop_new(weft_scheduler **out);
WEFT_API int weft_runloop_run(weft_scheduler *loop);
WEFT_API int weft_runloop_run_pending(weft_scheduler *loop);
WEFT_API int weft_runloop_stop(weft_scheduler *loop);

#ifdef __cplusplus
}
#endif
#endif
