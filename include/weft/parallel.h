/*
 * weft/parallel.h - fork-join: Parallel.Invoke and Parallel.For.
 */
#ifndef WEFT_PARALLEL_H
#define WEFT_PARALLEL_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An action: return NULL, or an error (+1, passed to the caller). */
typedef weft_error *(*weft_action_fn)(void *arg);

typedef struct weft_action {
	weft_action_fn fn;
	void *arg;
} weft_action;

/*
 * ParallelOptions.  MAX_DEGREE: -1 unlimited (default), else >= 1.
 * SCHEDULER NULL: current scheduler.
 */
typedef struct weft_parallel_options {
	size_t size;
	int max_degree;
	weft_cancel_token token;
	weft_scheduler *scheduler;
} weft_parallel_options;

#ifdef __cplusplus
#define WEFT_PARALLEL_OPTIONS_INIT                                             \
	(weft_parallel_options{                                                \
		sizeof(weft_parallel_options), -1, {nullptr}, nullptr})
#else
#define WEFT_PARALLEL_OPTIONS_INIT                                             \
	((weft_parallel_options){.size = sizeof(weft_parallel_options),        \
				 .max_degree = -1})
#endif

/*
 * weft_parallel_invoke2 - run A(ARG_A) and B(ARG_B), possibly in parallel,
 * and return when both are done.  The fork-join fast path: nothing is
 * allocated on the heap; B is offered to thieves while this thread runs A.
 * Errors of the actions: returns WEFT_EFAULTED with *ERR = aggregate of
 * them (ERR may be NULL: they are dropped).  -EINVAL for NULL functions.
 */
WEFT_API int weft_parallel_invoke2(weft_action_fn a, void *arg_a,
				   weft_action_fn b, void *arg_b,
				   weft_error **err);

/*
 * weft_parallel_invoke - run N actions, possibly in parallel; return when
 * all finished.  Every action runs exactly once; errors are gathered into
 * one aggregate (WEFT_EFAULTED).  When OPTS->token is canceled actions not
 * yet started are skipped and -ECANCELED is returned with CANCELED(token)
 * (an aggregate if actions also failed; WEFT_EFAULTED then).  OPTS may be
 * NULL.  Errors: -EINVAL (ACTIONS NULL with N > 0, a NULL function, bad
 * options).
 */
WEFT_API int weft_parallel_invoke(const weft_action *actions, size_t n,
				  const weft_parallel_options *opts,
				  weft_error **err);

/* Loop state handed to per-index bodies. */
typedef struct weft_loop_state weft_loop_state;

/* Break: finish indices below this one, start none above
 * (ParallelLoopState.Break). */
WEFT_API int weft_loop_break(weft_loop_state *st);
/* Stop: start no further index. */
WEFT_API int weft_loop_stop(weft_loop_state *st);
/* True when a Stop, a Break below this index, an error or cancellation asks the
 * body to leave early. */
WEFT_API bool weft_loop_should_exit(const weft_loop_state *st);
/* The index of the current call. */
WEFT_API int64_t weft_loop_index(const weft_loop_state *st);

/* ParallelLoopResult. */
typedef struct weft_loop_result {
	bool completed;	       /* every index ran */
	bool has_lowest_break; /* Break was called */
	int64_t lowest_break;  /* lowest index that called Break */
} weft_loop_result;

typedef weft_error *(*weft_for_fn)(int64_t i, weft_loop_state *st, void *arg);

/*
 * weft_parallel_for - call BODY(i) for every i in [FROM, TO) exactly once
 * (none when FROM >= TO), spread over the scheduler's workers with
 * automatically sized chunks.  RESULT may be NULL.  Returns 0, WEFT_EFAULTED
 * (aggregate of the bodies' errors), -ECANCELED, -EINVAL.
 */
WEFT_API int weft_parallel_for(int64_t from, int64_t to, weft_for_fn body,
			       void *arg, const weft_parallel_options *opts,
			       weft_loop_result *result, weft_error **err);

/*
 * weft_parallel_for_range - the fast form: BODY(begin, end) for disjoint
 * chunks that together cover [FROM, TO) exactly once.  GRAIN is the smallest
 * chunk (0: automatic).
 */
typedef weft_error *(*weft_range_fn)(int64_t begin, int64_t end, void *arg);
WEFT_API int weft_parallel_for_range(int64_t from, int64_t to, int64_t grain,
				     weft_range_fn body, void *arg,
				     const weft_parallel_options *opts,
				     weft_error **err);

/*
 * weft_parallel_for_local - the thread-local form: INIT(arg) makes a local
 * once per partition, BODY(i, st, local, arg) returns the updated local,
 * FINALLY(local, arg) is called once per partition (use it to combine).
 * Errors from the body are reported through weft_loop_fail(st, err).
 */
typedef void *(*weft_local_init_fn)(void *arg);
typedef void *(*weft_local_body_fn)(int64_t i, weft_loop_state *st, void *local,
				    void *arg);
typedef void (*weft_local_finally_fn)(void *local, void *arg);
WEFT_API int weft_parallel_for_local(int64_t from, int64_t to,
				     weft_local_init_fn init,
				     weft_local_body_fn body,
				     weft_local_finally_fn fin, void *arg,
				     const weft_parallel_options *opts,
				     weft_loop_result *result,
				     weft_error **err);
/* Record an error from a thread-local body (+1 passes to the loop). */
WEFT_API void weft_loop_fail(weft_loop_state *st, weft_error *err);

#ifdef __cplusplus
}
#endif
#endif
