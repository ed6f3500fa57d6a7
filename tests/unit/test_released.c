/*
 * test_released.c - using a task or promise after its last reference was
 * dropped.  Debug builds (WEFT_DEBUG_CHECKS) detect it until the memory is
 * reused: int functions return -EBADF, the others answer as documented in
 * weft_task(3) ("Released objects"), and nothing is registered, freed twice
 * or leaked.  Other builds skip these tests (the use is undefined there).
 *
 * Every object released here is freed on the test's own thread, so the
 * check below cannot race with a free on another thread: tasks run on a
 * run loop driven by this thread, on a pool that was shut down before the
 * last reference went, or are completed here.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <weft.h>

#include "harness.h"
#include "task_internal.h"
#include "task_util.h"

#ifdef WEFT_DEBUG_CHECKS
#define NEED_DEBUG_CHECKS() ((void)0)
#else
#define NEED_DEBUG_CHECKS() SKIP("needs a debug build (WEFT_DEBUG_CHECKS)")
#endif

static atomic_int dtors, arg_frees, bodies;

static void count_dtor(void *v)
{
	(void)v;
	atomic_fetch_add(&dtors, 1);
}

static void count_arg_free(void *arg)
{
	(void)arg;
	atomic_fetch_add(&arg_frees, 1);
}

static weft_error *body(weft_task *self, void *arg)
{
	(void)arg;
	atomic_fetch_add(&bodies, 1);
	weft_task_set_result(self, (void *)(intptr_t)7, count_dtor);
	return NULL;
}

static weft_error *cont_body(weft_task *self, weft_task *ante, void *arg)
{
	(void)self;
	(void)ante;
	(void)arg;
	atomic_fetch_add(&bodies, 1);
	return NULL;
}

static weft_error *cont_all_body(weft_task *self, weft_task *const *antes,
				 size_t n, void *arg)
{
	(void)self;
	(void)antes;
	(void)n;
	(void)arg;
	atomic_fetch_add(&bodies, 1);
	return NULL;
}

/* Options whose ARG_FREE counts in arg_frees. */
static weft_task_options freeing_opts(unsigned flags)
{
	weft_task_options o = opt(flags);

	o.arg_free = count_arg_free;
	return o;
}

static uint32_t refs_of(weft_task *t)
{
	return atomic_load(&t->refs);
}

static uintptr_t conts_of(weft_task *t)
{
	return atomic_load(&t->conts);
}

/* The creating calls that take one task or an array of tasks, called with
 * TASKS (one of them released): each must refuse with RC, call ARG_FREE
 * once and create nothing. */
static void check_array_calls(weft_task *const *tasks, size_t n, int rc)
{
	weft_task *out = NULL;
	weft_task_factory *f = NULL;
	weft_task_options o;
	size_t index = SIZE_MAX;
	weft_error *err = NULL;
	int frees = atomic_load(&arg_frees);

	CHECK_EQ(weft_task_wait_all(tasks, n, WEFT_INFINITE, WEFT_TOKEN_NONE,
				    &err),
		 rc);
	CHECK_PTR_EQ(err, NULL);
	CHECK_EQ(weft_task_wait_all(tasks, n, 0, WEFT_TOKEN_NONE, NULL), rc);
	CHECK_EQ(weft_task_wait_any(tasks, n, WEFT_INFINITE, WEFT_TOKEN_NONE,
				    &index),
		 rc);
	CHECK_EQ(index, SIZE_MAX);
	CHECK_EQ(weft_task_when_all(&out, tasks, n), rc);
	CHECK_EQ(weft_task_when_any(&out, tasks, n), rc);
	CHECK_PTR_EQ(out, NULL);

	o = freeing_opts(0);
	CHECK_EQ(weft_task_continue_when_all(&out, tasks, n, cont_all_body,
					     NULL, &o),
		 rc);
	CHECK_EQ(weft_task_continue_when_any(&out, tasks, n, cont_body, NULL,
					     &o),
		 rc);
	/* OUT NULL: the fire-and-forget form refuses the same way */
	CHECK_EQ(weft_task_continue_when_all(NULL, tasks, n, cont_all_body,
					     NULL, &o),
		 rc);
	CHECK_PTR_EQ(out, NULL);
	CHECK_EQ(atomic_load(&arg_frees), frees + 3);

	REQUIRE(weft_task_factory_new(&f, WEFT_TOKEN_NONE, 0, 0, NULL) == 0);
	CHECK_EQ(weft_task_factory_continue_when_all(f, &out, tasks, n,
						     cont_all_body, NULL, &o),
		 rc);
	CHECK_EQ(weft_task_factory_continue_when_any(f, &out, tasks, n,
						     cont_body, NULL, &o),
		 rc);
	CHECK_PTR_EQ(out, NULL);
	CHECK_EQ(atomic_load(&arg_frees), frees + 5);
	weft_task_factory_free(f);
}

/* Every function that takes a task, called with the released task T. */
static void check_stale_task(weft_task *t)
{
	weft_task_options o;
	weft_task *out = NULL;
	weft_error *err = NULL;
	void *res = (void *)1;
	size_t index = SIZE_MAX;
	int d = atomic_load(&dtors), frees = atomic_load(&arg_frees);
	int ran = atomic_load(&bodies);

	CHECK(weft__task_released(t));

	CHECK_EQ(weft_task_start(t, NULL), -EBADF);
	CHECK_EQ(weft_task_start(t, weft_scheduler_default()), -EBADF);
	CHECK_EQ(weft_task_run_synchronously(t, NULL), -EBADF);

	CHECK_PTR_EQ(weft_task_ref(t), NULL);
	weft_task_unref(t); /* ignored: not a second free */
	weft_task_unref_any(t);

	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CREATED);
	CHECK(!weft_task_is_completed(t));
	CHECK(!weft_task_is_completed_successfully(t));
	CHECK(!weft_task_is_faulted(t));
	CHECK(!weft_task_is_canceled(t));
	CHECK_EQ(weft_task_id(t), 0);
	CHECK_EQ(weft_task_creation_options(t), 0);
	CHECK_PTR_EQ(weft_task_async_state(t), NULL);
	CHECK_PTR_EQ(weft_task_token(t).source, NULL);

	CHECK_EQ(weft_task_set_result(t, (void *)1, count_dtor), -EBADF);
	CHECK_PTR_EQ(weft_task_result(t), NULL);
	CHECK_EQ(weft_task_get_result(t, &res, &err), -EBADF);
	CHECK_PTR_EQ(res, NULL);
	CHECK_PTR_EQ(err, NULL);
	CHECK_PTR_EQ(weft_task_error(t), NULL);

	err = (weft_error *)1;
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 -EBADF);
	CHECK_PTR_EQ(err, NULL);
	CHECK_EQ(weft_task_wait(t, 0, weft_cancel_token_canceled(), NULL),
		 -EBADF);
	/* argument errors come first */
	CHECK_EQ(weft_task_wait(t, -2, WEFT_TOKEN_NONE, NULL), -EINVAL);
	CHECK_EQ(
		weft_task_wait_all(&t, 1, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
		-EBADF);
	CHECK_EQ(weft_task_wait_any(&t, 1, WEFT_INFINITE, WEFT_TOKEN_NONE,
				    &index),
		 -EBADF);

	o = freeing_opts(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);
	CHECK_EQ(weft_task_continue_with(&out, t, cont_body, NULL, &o), -EBADF);
	CHECK_EQ(weft_task_continue_with(NULL, t, cont_body, NULL, &o), -EBADF);
	CHECK_EQ(atomic_load(&arg_frees), frees + 2);
	CHECK_EQ(weft_task_when_all(&out, &t, 1), -EBADF);
	CHECK_EQ(weft_task_when_any(&out, &t, 1), -EBADF);
	CHECK_EQ(weft_task_unwrap(&out, t), -EBADF);
	CHECK_PTR_EQ(out, NULL);
	CHECK_EQ(weft_scheduler_execute(weft_scheduler_default(), t), -EBADF);

	check_array_calls(&t, 1, -EBADF);

	/* nothing ran, nothing was destroyed a second time */
	CHECK_EQ(atomic_load(&bodies), ran);
	CHECK_EQ(atomic_load(&dtors), d);
	CHECK(weft__task_released(t));
}

/* Every promise function, with the released promise P (its task PT). */
static void check_stale_promise(weft_promise *p, weft_task *pt)
{
	weft_error *e = weft_error_new(-EIO, "lost");
	int d = atomic_load(&dtors);

	REQUIRE(e != NULL);
	CHECK_PTR_EQ(weft_promise_ref(p), NULL);
	CHECK_PTR_EQ(weft_promise_task(p), NULL);
	weft_promise_unref(p); /* ignored */

	CHECK_EQ(weft_promise_try_set_result(p, (void *)1, count_dtor), -EBADF);
	CHECK_EQ(weft_promise_try_set_error(p, e), -EBADF);
	CHECK_EQ(weft_promise_try_set_errors(p, &e, 1), -EBADF);
	CHECK_EQ(weft_promise_try_set_canceled(p, WEFT_TOKEN_NONE), -EBADF);
	CHECK_EQ(weft_promise_set_result(p, (void *)1, count_dtor), -EBADF);
	CHECK_EQ(weft_promise_set_error(p, e), -EBADF);
	CHECK_EQ(weft_promise_set_errors(p, &e, 1), -EBADF);
	CHECK_EQ(weft_promise_set_canceled(p, WEFT_TOKEN_NONE), -EBADF);
	/* -EINVAL is checked first */
	CHECK_EQ(weft_promise_try_set_error(p, NULL), -EINVAL);
	CHECK_EQ(weft_promise_set_errors(p, &e, 0), -EINVAL);
	/* the value stays the caller's: DTOR is not called */
	CHECK_EQ(atomic_load(&dtors), d);
	weft_error_unref(e);

	check_stale_task(pt);
}

/* A new task still runs, and two new tasks are two objects. */
static void check_fresh_tasks(void)
{
	weft_task *a = NULL, *b = NULL;
	int ran = atomic_load(&bodies);
	void *res = NULL;

	REQUIRE(weft_task_run(&a, body, NULL) == 0);
	REQUIRE(weft_task_run(&b, body, NULL) == 0);
	CHECK(a != b);
	CHECK_EQ(weft_task_get_result(a, &res, NULL), 0);
	CHECK_EQ((intptr_t)res, 7);
	CHECK_EQ(wait_inf(b), 0);
	CHECK_EQ(atomic_load(&bodies), ran + 2);
	CHECK(!weft__task_released(a));
	CHECK(weft_task_id(a) != 0);
	weft_task_unref(a);
	weft_task_unref(b);
}

/* ---- tasks --------------------------------------------------------------- */

TEST(created_task_never_started)
{
	weft_task_options o = freeing_opts(WEFT_TASK_PREFER_FAIRNESS);
	weft_task *t = NULL;

	NEED_DEBUG_CHECKS();
	atomic_store(&arg_frees, 0);
	REQUIRE(weft_task_create(&t, body, (void *)1, &o) == 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CREATED);
	CHECK(!weft__task_released(t));
	weft_task_unref(t);
	CHECK_EQ(atomic_load(&arg_frees), 1);
	check_stale_task(t);
	/* the stale calls freed their own arguments, never T's again */
	CHECK_EQ(atomic_load(&arg_frees), 1 + 2 + 5);
	CHECK_EQ(atomic_load(&bodies), 0);
	check_fresh_tasks();
}

TEST(created_task_with_a_token_never_started)
{
	weft_cancel_source *src = NULL;
	weft_task_options o = opt(0);
	weft_task *t = NULL;

	NEED_DEBUG_CHECKS();
	REQUIRE(weft_cancel_source_new(&src) == 0);
	o.token = weft_cancel_source_token(src);
	REQUIRE(weft_task_create(&t, body, NULL, &o) == 0);
	weft_task_unref(t);
	check_stale_task(t);
	/* the token no longer knows the task */
	CHECK_EQ(weft_cancel_source_cancel(src), 0);
	CHECK(weft__task_released(t));
	weft_cancel_source_unref(src);
	check_fresh_tasks();
}

TEST(task_that_ran_on_a_run_loop)
{
	weft_scheduler *loop = NULL;
	weft_task_options o = opt(0);
	weft_task *t = NULL;

	NEED_DEBUG_CHECKS();
	atomic_store(&dtors, 0);
	REQUIRE(weft_runloop_new(&loop) == 0);
	o.scheduler = loop;
	REQUIRE(weft_task_start_new(&t, body, NULL, &o) == 0);
	CHECK_EQ(weft_runloop_run_pending(loop), 1);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_EQ((intptr_t)weft_task_result(t), 7);
	weft_task_unref(t);
	CHECK_EQ(atomic_load(&dtors), 1); /* the result went with the task */
	check_stale_task(t);
	CHECK_EQ(atomic_load(&dtors), 1);
	CHECK_EQ(weft_runloop_run_pending(loop), 0);
	weft_scheduler_unref(loop);
	check_fresh_tasks();
}

TEST(task_that_ran_on_a_pool)
{
	weft_scheduler *pool = NULL;
	weft_task_options o = opt(0);
	weft_task *t = NULL;

	NEED_DEBUG_CHECKS();
	REQUIRE(weft_pool_new(&pool, 2) == 0);
	o.scheduler = pool;
	REQUIRE(weft_task_start_new(&t, body, NULL, &o) == 0);
	CHECK_EQ(wait_inf(t), 0);
	/* the workers' references are gone once the pool has stopped: the
	 * task is then freed here, by the next line */
	CHECK_EQ(weft_pool_shutdown(pool), 0);
	weft_scheduler_unref(pool);
	weft_task_unref(t);
	check_stale_task(t);
	check_fresh_tasks();
}

TEST(task_run_synchronously)
{
	weft_task *t = NULL;

	NEED_DEBUG_CHECKS();
	REQUIRE(weft_task_create(&t, body, NULL, NULL) == 0);
	CHECK_EQ(weft_task_run_synchronously(t, NULL), 0);
	CHECK(weft_task_is_completed_successfully(t));
	weft_task_unref(t);
	check_stale_task(t);
	check_fresh_tasks();
}

TEST(final_states_and_their_payloads)
{
	weft_cancel_source *src = NULL;
	weft_error *e = weft_error_new(-EIO, "boom");
	weft_task *ts[3] = {NULL, NULL, NULL};

	NEED_DEBUG_CHECKS();
	REQUIRE(e != NULL);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	REQUIRE(weft_cancel_source_cancel(src) == 0);
	atomic_store(&dtors, 0);
	REQUIRE(weft_task_from_result(&ts[0], (void *)3, count_dtor) == 0);
	REQUIRE(weft_task_from_error(&ts[1], e) == 0);
	REQUIRE(weft_task_from_canceled(&ts[2],
					weft_cancel_source_token(src)) == 0);
	CHECK(weft_task_is_faulted(ts[1]));
	CHECK(weft_task_is_canceled(ts[2]));
	weft_error_unref(e);
	weft_cancel_source_unref(src);
	for (int i = 0; i < 3; i++)
		weft_task_unref(ts[i]);
	CHECK_EQ(atomic_load(&dtors), 1);
	for (int i = 0; i < 3; i++)
		check_stale_task(ts[i]);
	CHECK_EQ(atomic_load(&dtors), 1);
	check_fresh_tasks();
}

TEST(double_unref)
{
	weft_task *t = NULL;

	NEED_DEBUG_CHECKS();
	REQUIRE(weft_task_create(&t, body, NULL, NULL) == 0);
	REQUIRE(weft_task_ref(t) == t);
	weft_task_unref(t);
	CHECK(!weft__task_released(t));
	weft_task_unref(t);
	CHECK(weft__task_released(t));
	for (int i = 0; i < 3; i++)
		weft_task_unref(t); /* each is ignored */
	CHECK(weft__task_released(t));
	check_fresh_tasks();
}

/* ---- continuations and combinators --------------------------------------- */

TEST(continuations)
{
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);
	weft_task *ante = NULL, *c1 = NULL, *call = NULL, *cany = NULL;

	NEED_DEBUG_CHECKS();
	atomic_store(&bodies, 0);
	REQUIRE(weft_task_from_result(&ante, NULL, NULL) == 0);
	/* the antecedent has completed: they run here, at once */
	REQUIRE(weft_task_continue_with(&c1, ante, cont_body, NULL, &o) == 0);
	REQUIRE(weft_task_continue_when_all(&call, &ante, 1, cont_all_body,
					    NULL, &o) == 0);
	REQUIRE(weft_task_continue_when_any(&cany, &ante, 1, cont_body, NULL,
					    &o) == 0);
	CHECK_EQ(wait_inf(c1), 0);
	CHECK_EQ(wait_inf(call), 0);
	CHECK_EQ(wait_inf(cany), 0);
	CHECK_EQ(atomic_load(&bodies), 3);
	weft_task_unref(c1);
	weft_task_unref(call);
	weft_task_unref(cany);
	check_stale_task(c1);
	check_stale_task(call);
	check_stale_task(cany);
	/* the antecedent is alive and still works */
	CHECK(!weft__task_released(ante));
	CHECK(weft_task_is_completed_successfully(ante));
	weft_task_unref(ante);
	check_stale_task(ante);
	check_fresh_tasks();
}

TEST(combinator_results)
{
	weft_promise *p = promise(0), *outer = promise(0);
	weft_task *pt, *all = NULL, *any = NULL, *proxy = NULL, *inner = NULL;

	NEED_DEBUG_CHECKS();
	REQUIRE(p && outer);
	pt = weft_promise_task(p);
	REQUIRE(weft_task_when_all(&all, &pt, 1) == 0);
	REQUIRE(weft_task_when_any(&any, &pt, 1) == 0);
	REQUIRE(weft_task_unwrap(&proxy, weft_promise_task(outer)) == 0);
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK_EQ(wait_inf(all), 0);
	CHECK_EQ(wait_inf(any), 0);
	CHECK_PTR_EQ(weft_task_result(any), pt);
	/* the proxy mirrors INNER, which the outer promise hands over */
	REQUIRE(weft_task_from_result(&inner, (void *)9, NULL) == 0);
	CHECK_EQ(weft_promise_set_result(outer, inner, weft_task_unref_any), 0);
	CHECK_EQ(wait_inf(proxy), 0);
	CHECK_EQ((intptr_t)weft_task_result(proxy), 9);
	weft_task_unref(all);
	weft_task_unref(any);
	weft_task_unref(proxy);
	weft_promise_unref(p);
	weft_promise_unref(outer); /* frees INNER too: its result's dtor */
	check_stale_task(all);
	check_stale_task(any);
	check_stale_task(proxy);
	check_stale_task(inner);
	check_stale_promise(p, pt);
	check_fresh_tasks();
}

/* ---- promises ------------------------------------------------------------ */

TEST(promise_completed_then_released)
{
	weft_promise *p = promise(0);
	weft_task *pt;

	NEED_DEBUG_CHECKS();
	REQUIRE(p != NULL);
	pt = weft_promise_task(p);
	atomic_store(&dtors, 0);
	CHECK_EQ(weft_promise_set_result(p, (void *)5, count_dtor), 0);
	weft_promise_unref(p);
	CHECK_EQ(atomic_load(&dtors), 1);
	check_stale_promise(p, pt);
	CHECK_EQ(atomic_load(&dtors), 1);
	check_fresh_tasks();
}

TEST(promise_released_pending)
{
	weft_promise *p = promise(0);
	weft_task *pt;

	NEED_DEBUG_CHECKS();
	REQUIRE(p != NULL);
	pt = weft_promise_task(p);
	REQUIRE(weft_promise_ref(p) == p);
	weft_promise_unref(p);
	CHECK(!weft__task_released(pt));
	weft_promise_unref(p);
	check_stale_promise(p, pt);
	check_fresh_tasks();
}

/* ---- arrays with one released element ------------------------------------ */

TEST(arrays_with_one_released_element)
{
	weft_promise *p0 = promise(0), *p2 = promise(0);
	weft_task *done = NULL, *gone = NULL, *arr[3];
	uint32_t r0, r2;

	NEED_DEBUG_CHECKS();
	REQUIRE(p0 && p2);
	REQUIRE(weft_task_create(&gone, body, NULL, NULL) == 0);
	weft_task_unref(gone);
	REQUIRE(weft__task_released(gone));
	atomic_store(&bodies, 0);
	atomic_store(&arg_frees, 0);

	arr[0] = weft_promise_task(p0);
	arr[1] = gone;
	arr[2] = weft_promise_task(p2);
	r0 = refs_of(arr[0]);
	r2 = refs_of(arr[2]);
	check_array_calls(arr, 3, -EBADF);
	/* nothing was hooked onto the live elements, no reference taken */
	CHECK_EQ(refs_of(arr[0]), r0);
	CHECK_EQ(refs_of(arr[2]), r2);
	CHECK_EQ(conts_of(arr[0]), 0);
	CHECK_EQ(conts_of(arr[2]), 0);
	CHECK_EQ(atomic_load(&arg_frees), 5);

	/* released last, and released next to a completed task: the ones
	 * that would return at once for the completed task refuse too */
	REQUIRE(weft_task_from_result(&done, NULL, NULL) == 0);
	arr[0] = done;
	arr[1] = weft_promise_task(p0);
	arr[2] = gone;
	r0 = refs_of(done);
	check_array_calls(arr, 3, -EBADF);
	CHECK_EQ(refs_of(done), r0);
	CHECK_EQ(refs_of(arr[1]), refs_of(weft_promise_task(p2)));
	CHECK_EQ(conts_of(arr[1]), 0);

	/* a NULL element is an argument error, checked first */
	arr[0] = gone;
	arr[1] = NULL;
	check_array_calls(arr, 2, -EINVAL);

	/* completing the live ones runs nothing: no continuation was made */
	CHECK_EQ(weft_promise_set_result(p0, NULL, NULL), 0);
	CHECK_EQ(weft_promise_set_result(p2, NULL, NULL), 0);
	CHECK_EQ(atomic_load(&bodies), 0);
	CHECK_EQ(atomic_load(&arg_frees), 15);

	weft_task_unref(done);
	weft_promise_unref(p0);
	weft_promise_unref(p2);
	check_fresh_tasks();
}

/* ---- a custom scheduler executing a task twice --------------------------- */

static weft_task *stored;

static int store_queue(weft_scheduler *s, weft_task *t, void *data)
{
	(void)s;
	(void)data;
	stored = t;
	return 0;
}

TEST(scheduler_execute_after_release)
{
	weft_scheduler_ops ops = {.size = sizeof(ops), .queue = store_queue};
	weft_scheduler *s = NULL;
	weft_task *t = NULL;

	NEED_DEBUG_CHECKS();
	REQUIRE(weft_scheduler_new(&s, &ops, NULL) == 0);
	REQUIRE(weft_task_create(&t, body, NULL, NULL) == 0);
	REQUIRE(weft_task_start(t, s) == 0);
	REQUIRE(stored == t);
	CHECK_EQ(weft_scheduler_execute(s, t), 1); /* drops the queue's ref */
	CHECK_EQ(wait_inf(t), 0);
	weft_task_unref(t);
	/* the scheduler runs it again from a stale queue entry */
	CHECK_EQ(weft_scheduler_execute(s, stored), -EBADF);
	CHECK_EQ(weft_scheduler_execute(NULL, stored), -EINVAL);
	check_stale_task(t);
	weft_scheduler_unref(s);
	check_fresh_tasks();
}
