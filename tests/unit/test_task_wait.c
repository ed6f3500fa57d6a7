/*
 * test_task_wait.c - waiting (spec A.6): weft_task_wait with timeouts and
 * tokens, wait_all (errors in array order), wait_any (lowest completed
 * index), waits on pool workers that run the awaited task inline, and
 * waits that block a worker (the pool must compensate).
 *
 * Time is only ever checked against generous sanity bounds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

#include "harness.h"
#include "task_util.h"

/* ---- support ------------------------------------------------------------ */

/*
 * Several tests hold a default-pool worker in a gate while others run: make
 * sure the default pool has room for that even on a one-CPU machine.  (Each
 * test runs in a fresh child, so this reaches every test.)
 */
__attribute__((constructor)) static void widen_default_pool(void)
{
	weft_default_pool_configure(4);
}

struct gate {
	atomic_int entered;
	atomic_int open;
	atomic_int left;
	weft_error *fail; /* returned (a new reference) once opened */
};

static void gate_init(struct gate *g)
{
	atomic_init(&g->entered, 0);
	atomic_init(&g->open, 0);
	atomic_init(&g->left, 0);
	g->fail = NULL;
}

static void gate_open(struct gate *g)
{
	atomic_store(&g->open, 1);
}

static weft_error *gate_body(weft_task *self, void *arg)
{
	struct gate *g = arg;
	(void)self;
	atomic_fetch_add(&g->entered, 1);
	if (!poll_until(&g->open, 1))
		return weft_error_new(-ETIMEDOUT, "the gate never opened");
	atomic_fetch_add(&g->left, 1);
	return g->fail ? weft_error_ref(g->fail) : NULL;
}

static weft_error *fail_body(weft_task *self, void *arg)
{
	(void)self;
	return weft_error_ref((weft_error *)arg);
}

/* Cancel SRC from another thread after MS milliseconds. */
struct canceler {
	pthread_t th;
	weft_cancel_source *src;
	long ms;
};

static void *canceler_main(void *arg)
{
	struct canceler *c = arg;
	sleep_ms(c->ms);
	weft_cancel_source_cancel(c->src);
	return NULL;
}

static void cancel_later(struct canceler *c, weft_cancel_source *src, long ms)
{
	c->src = src;
	c->ms = ms;
	if (pthread_create(&c->th, NULL, canceler_main, c) != 0)
		abort();
}

/* A task already in a final state. */
static weft_task *done_task(atomic_int *counter)
{
	weft_task *t;
	if (weft_task_run(&t, count_body, counter) != 0)
		return NULL;
	wait_inf(t);
	return t;
}

static weft_task *canceled_task(void)
{
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	atomic_int *none = NULL;
	o.token = weft_cancel_token_canceled();
	if (weft_task_create(&t, count_body, none, &o) != 0)
		return NULL;
	return t;
}

/* ---- weft_task_wait --------------------------------------------------------
 */

TEST(wait_timeouts)
{
	struct gate g;
	weft_task *t;
	weft_error *err = (weft_error *)&err;
	double t0, dt;

	gate_init(&g);
	REQUIRE(weft_task_run(&t, gate_body, &g) == 0);
	REQUIRE(poll_until(&g.entered, 1));

	CHECK_EQ(weft_task_wait(t, 0, WEFT_TOKEN_NONE, &err), -ETIMEDOUT);
	CHECK_PTR_EQ(err, NULL);

	t0 = now_s();
	err = (weft_error *)&err;
	CHECK_EQ(weft_task_wait(t, 50, WEFT_TOKEN_NONE, &err), -ETIMEDOUT);
	dt = now_s() - t0;
	CHECK_PTR_EQ(err, NULL);
	CHECK(dt >= 0.040);
	CHECK(dt < 30);
	/* the task goes on */
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RUNNING);
	CHECK_EQ(atomic_load(&g.left), 0);

	gate_open(&g);
	CHECK_EQ(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, &err), 0);
	CHECK_PTR_EQ(err, NULL);
	CHECK_EQ(atomic_load(&g.left), 1);
	/* completed: every timeout returns 0 at once */
	CHECK_EQ(weft_task_wait(t, 0, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(weft_task_wait(t, 100, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL), 0);
	weft_task_unref(t);
}

TEST(wait_bad_arguments)
{
	atomic_int runs;
	weft_task *t;
	weft_error *err = (weft_error *)&err;

	atomic_init(&runs, 0);
	t = done_task(&runs);
	REQUIRE(t != NULL);
	CHECK_EQ(weft_task_wait(t, -2, WEFT_TOKEN_NONE, &err), -EINVAL);
	CHECK_PTR_EQ(err, NULL);
	CHECK_EQ(weft_task_wait(t, INT64_MIN, WEFT_TOKEN_NONE, NULL), -EINVAL);
	err = (weft_error *)&err;
	CHECK_EQ(weft_task_wait(NULL, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 -EINVAL);
	CHECK_PTR_EQ(err, NULL);
	weft_task_unref(t);
}

TEST(timed_out_wait_reports_no_later_fault)
{
	struct gate g;
	weft_task *t;
	weft_error *err = NULL;

	gate_init(&g);
	g.fail = weft_error_new(-EIO, "later");
	REQUIRE(weft_task_run(&t, gate_body, &g) == 0);
	CHECK_EQ(weft_task_wait(t, 20, WEFT_TOKEN_NONE, &err), -ETIMEDOUT);
	CHECK_PTR_EQ(err, NULL);
	gate_open(&g);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_PTR_EQ(weft_error_inner(err, 0), g.fail);
	weft_error_unref(err);
	weft_task_unref(t);
	weft_error_unref(g.fail);
}

TEST(wait_on_never_started_task_times_out)
{
	atomic_int runs;
	weft_task *t;
	weft_cancel_source *src;
	weft_error *err = NULL;

	atomic_init(&runs, 0);
	REQUIRE(weft_task_create(&t, count_body, &runs, NULL) == 0);
	CHECK_EQ(weft_task_wait(t, 20, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	struct canceler c;
	cancel_later(&c, src, 20);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, weft_cancel_source_token(src),
				&err),
		 -ECANCELED);
	pthread_join(c.th, NULL);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_CANCELED);
	weft_error_unref(err);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CREATED);
	CHECK_EQ(atomic_load(&runs), 0);
	weft_task_unref(t);
	weft_cancel_source_unref(src);
}

TEST(wait_token_canceled_while_waiting)
{
	struct gate g;
	weft_task *t;
	weft_cancel_source *src;
	weft_cancel_token tok;
	weft_error *err = NULL;
	struct canceler c;
	double t0, dt;

	gate_init(&g);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	tok = weft_cancel_source_token(src);
	REQUIRE(weft_task_run(&t, gate_body, &g) == 0);
	REQUIRE(poll_until(&g.entered, 1));
	t0 = now_s();
	cancel_later(&c, src, 30);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, tok, &err), -ECANCELED);
	dt = now_s() - t0;
	pthread_join(c.th, NULL);
	CHECK(dt < 30);
	REQUIRE(err != NULL);
	/* OperationCanceled(token) itself, not an aggregate */
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_CANCELED);
	CHECK(weft_cancel_token_equal(weft_error_token(err), tok));
	weft_error_unref(err);
	/* the task itself is not affected */
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RUNNING);
	/* a canceled token on an unfinished task: at once */
	err = NULL;
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, tok, &err), -ECANCELED);
	CHECK(err != NULL && weft_error_get_kind(err) == WEFT_ERROR_CANCELED);
	weft_error_unref(err);
	CHECK_EQ(weft_task_wait(t, 0, tok, NULL), -ECANCELED);
	CHECK_EQ(weft_task_wait(t, 1000, tok, NULL), -ECANCELED);
	gate_open(&g);
	CHECK_EQ(wait_inf(t), 0);
	/* RanToCompletion wins over the canceled token */
	err = (weft_error *)&err;
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, tok, &err), 0);
	CHECK_PTR_EQ(err, NULL);
	CHECK_EQ(weft_task_wait(t, 0, weft_cancel_token_canceled(), NULL), 0);
	weft_task_unref(t);
	weft_cancel_source_unref(src);
}

TEST(wait_with_token_and_timeout_that_completes)
{
	struct gate g;
	weft_task *t;
	weft_cancel_source *src;

	gate_init(&g);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	REQUIRE(weft_task_run(&t, gate_body, &g) == 0);
	REQUIRE(poll_until(&g.entered, 1));
	CHECK_EQ(weft_task_wait(t, 20, weft_cancel_source_token(src), NULL),
		 -ETIMEDOUT);
	gate_open(&g);
	CHECK_EQ(weft_task_wait(t, 30000, weft_cancel_source_token(src), NULL),
		 0);
	weft_task_unref(t);
	weft_cancel_source_unref(src);
}

TEST(wait_on_canceled_task_with_canceled_token)
{
	weft_task *t = canceled_task();
	weft_cancel_source *src;
	weft_error *err = NULL;

	REQUIRE(t != NULL);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	weft_cancel_source_cancel(src);
	/* Canceled task + canceled wait token: OperationCanceled(token) */
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, weft_cancel_source_token(src),
				&err),
		 -ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_CANCELED);
	CHECK(weft_cancel_token_equal(weft_error_token(err),
				      weft_cancel_source_token(src)));
	weft_error_unref(err);
	/* without a token: aggregate [TASK_CANCELED] */
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 -ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	REQUIRE(weft_error_inner_count(err) == 1);
	CHECK_EQ(weft_error_get_kind(weft_error_inner(err, 0)),
		 WEFT_ERROR_TASK_CANCELED);
	CHECK_PTR_EQ(weft_error_task(weft_error_inner(err, 0)), t);
	weft_error_unref(err);
	weft_task_unref(t);
	weft_cancel_source_unref(src);
}

TEST(get_result_of_canceled_task)
{
	weft_task *t = canceled_task();
	weft_error *err = NULL;
	void *out = &out;

	REQUIRE(t != NULL);
	CHECK_EQ(weft_task_get_result(t, &out, &err), -ECANCELED);
	CHECK_PTR_EQ(out, NULL);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(weft_error_inner(err, 0)),
		 WEFT_ERROR_TASK_CANCELED);
	weft_error_unref(err);
	weft_task_unref(t);
}

struct multi_waiter {
	weft_task *t;
	atomic_int ok;
};

static void *multi_wait_main(void *arg)
{
	struct multi_waiter *m = arg;
	if (weft_task_wait(m->t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL) == 0 &&
	    weft_task_is_completed(m->t))
		atomic_fetch_add(&m->ok, 1);
	return NULL;
}

TEST(many_threads_wait_for_one_task)
{
	enum {
		N = 8
	};
	struct gate g;
	struct multi_waiter m;
	pthread_t th[N];

	gate_init(&g);
	atomic_init(&m.ok, 0);
	REQUIRE(weft_task_run(&m.t, gate_body, &g) == 0);
	for (int i = 0; i < N; i++)
		REQUIRE(pthread_create(&th[i], NULL, multi_wait_main, &m) == 0);
	sleep_ms(20);
	CHECK_EQ(atomic_load(&m.ok), 0);
	gate_open(&g);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(atomic_load(&m.ok), N);
	weft_task_unref(m.t);
}

/* ---- wait_all
 * ------------------------------------------------------------------ */

TEST(wait_all_errors_in_array_order)
{
	atomic_int runs;
	struct gate g1;
	weft_error *e1 = weft_error_new(-EIO, "first in the array");
	weft_error *e3 = weft_error_new(-EPIPE, "finishes first");
	weft_task *ts[5];
	weft_error *err = NULL;

	atomic_init(&runs, 0);
	gate_init(&g1);
	g1.fail = e1;
	ts[0] = done_task(&runs);
	REQUIRE(weft_task_run(&ts[1], gate_body, &g1) == 0);
	ts[2] = canceled_task();
	REQUIRE(weft_task_run(&ts[3], fail_body, e3) == 0);
	ts[4] = done_task(&runs);
	REQUIRE(ts[0] && ts[2] && ts[4]);
	/* the later task in the array completes first */
	weft_task_wait(ts[3], WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	gate_open(&g1);
	CHECK_EQ(
		weft_task_wait_all(ts, 5, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	REQUIRE(weft_error_inner_count(err) == 3);
	CHECK_PTR_EQ(weft_error_inner(err, 0), e1);
	CHECK_EQ(weft_error_get_kind(weft_error_inner(err, 1)),
		 WEFT_ERROR_TASK_CANCELED);
	CHECK_PTR_EQ(weft_error_task(weft_error_inner(err, 1)), ts[2]);
	CHECK_PTR_EQ(weft_error_inner(err, 2), e3);
	weft_error_unref(err);
	for (int i = 0; i < 5; i++)
		weft_task_unref(ts[i]);
	weft_error_unref(e1);
	weft_error_unref(e3);
}

TEST(wait_all_flattens_each_task_one_level)
{
	weft_promise *p;
	weft_error *a = weft_error_new(-EIO, "a"),
		   *b = weft_error_new(-EIO, "b");
	weft_error *errs[2] = {a, b};
	weft_error *err = NULL;
	weft_task *ts[2];

	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	REQUIRE(weft_promise_set_errors(p, errs, 2) == 0);
	ts[0] = weft_promise_task(p);
	ts[1] = weft_promise_task(p);
	CHECK_EQ(
		weft_task_wait_all(ts, 2, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		WEFT_EFAULTED);
	REQUIRE(err != NULL);
	REQUIRE(weft_error_inner_count(err) == 4);
	CHECK_PTR_EQ(weft_error_inner(err, 0), a);
	CHECK_PTR_EQ(weft_error_inner(err, 1), b);
	CHECK_PTR_EQ(weft_error_inner(err, 2), a);
	CHECK_PTR_EQ(weft_error_inner(err, 3), b);
	weft_error_unref(err);
	weft_promise_unref(p);
	weft_error_unref(a);
	weft_error_unref(b);
}

TEST(wait_all_only_canceled_is_ecanceled)
{
	atomic_int runs;
	weft_task *ts[3];
	weft_error *err = NULL;

	atomic_init(&runs, 0);
	ts[0] = canceled_task();
	ts[1] = done_task(&runs);
	ts[2] = canceled_task();
	REQUIRE(ts[0] && ts[1] && ts[2]);
	CHECK_EQ(
		weft_task_wait_all(ts, 3, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		-ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	REQUIRE(weft_error_inner_count(err) == 2);
	CHECK_EQ(weft_error_get_kind(weft_error_inner(err, 0)),
		 WEFT_ERROR_TASK_CANCELED);
	CHECK_PTR_EQ(weft_error_task(weft_error_inner(err, 0)), ts[0]);
	CHECK_PTR_EQ(weft_error_task(weft_error_inner(err, 1)), ts[2]);
	weft_error_unref(err);
	for (int i = 0; i < 3; i++)
		weft_task_unref(ts[i]);
}

TEST(wait_all_success_and_edge_cases)
{
	atomic_int runs;
	weft_task *ts[16];
	weft_task *with_null[2];
	weft_error *err = (weft_error *)&err;

	atomic_init(&runs, 0);
	for (int i = 0; i < 16; i++)
		REQUIRE(weft_task_run(&ts[i], count_body, &runs) == 0);
	CHECK_EQ(weft_task_wait_all(ts, 16, WEFT_INFINITE, WEFT_TOKEN_NONE,
				    &err),
		 0);
	CHECK_PTR_EQ(err, NULL);
	CHECK_EQ(atomic_load(&runs), 16);
	for (int i = 0; i < 16; i++)
		CHECK(weft_task_is_completed_successfully(ts[i]));

	/* empty */
	CHECK_EQ(weft_task_wait_all(NULL, 0, WEFT_INFINITE, WEFT_TOKEN_NONE,
				    NULL),
		 0);
	CHECK_EQ(weft_task_wait_all(ts, 0, 0, WEFT_TOKEN_NONE, NULL), 0);
	/* argument errors */
	with_null[0] = ts[0];
	with_null[1] = NULL;
	CHECK_EQ(weft_task_wait_all(with_null, 2, WEFT_INFINITE,
				    WEFT_TOKEN_NONE, NULL),
		 -EINVAL);
	CHECK_EQ(weft_task_wait_all(NULL, 1, WEFT_INFINITE, WEFT_TOKEN_NONE,
				    NULL),
		 -EINVAL);
	CHECK_EQ(weft_task_wait_all(ts, 16, -2, WEFT_TOKEN_NONE, NULL),
		 -EINVAL);
	/* a canceled token is checked first, even when all are done */
	err = NULL;
	CHECK_EQ(weft_task_wait_all(ts, 16, WEFT_INFINITE,
				    weft_cancel_token_canceled(), &err),
		 -ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_CANCELED);
	CHECK(weft_cancel_token_equal(weft_error_token(err),
				      weft_cancel_token_canceled()));
	weft_error_unref(err);
	for (int i = 0; i < 16; i++)
		weft_task_unref(ts[i]);
}

TEST(wait_all_timeout_and_token)
{
	atomic_int runs;
	struct gate g;
	weft_task *ts[2];
	weft_cancel_source *src;
	struct canceler c;
	weft_error *err = NULL;
	double t0, dt;

	atomic_init(&runs, 0);
	gate_init(&g);
	ts[0] = done_task(&runs);
	REQUIRE(ts[0] != NULL);
	REQUIRE(weft_task_run(&ts[1], gate_body, &g) == 0);
	t0 = now_s();
	CHECK_EQ(weft_task_wait_all(ts, 2, 50, WEFT_TOKEN_NONE, &err),
		 -ETIMEDOUT);
	dt = now_s() - t0;
	CHECK(dt >= 0.040 && dt < 30);
	CHECK_PTR_EQ(err, NULL);
	CHECK_EQ(weft_task_wait_all(ts, 2, 0, WEFT_TOKEN_NONE, NULL),
		 -ETIMEDOUT);

	REQUIRE(weft_cancel_source_new(&src) == 0);
	cancel_later(&c, src, 30);
	CHECK_EQ(weft_task_wait_all(ts, 2, WEFT_INFINITE,
				    weft_cancel_source_token(src), &err),
		 -ECANCELED);
	pthread_join(c.th, NULL);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_CANCELED);
	weft_error_unref(err);

	gate_open(&g);
	CHECK_EQ(weft_task_wait_all(ts, 2, 30000, WEFT_TOKEN_NONE, NULL), 0);
	weft_task_unref(ts[0]);
	weft_task_unref(ts[1]);
	weft_cancel_source_unref(src);
}

/* ---- wait_any
 * ------------------------------------------------------------------ */

TEST(wait_any_lowest_completed_index)
{
	atomic_int runs;
	struct gate g;
	weft_task *ts[4];
	size_t idx = 99;

	atomic_init(&runs, 0);
	gate_init(&g);
	REQUIRE(weft_task_run(&ts[0], gate_body, &g) == 0);
	ts[1] = canceled_task();
	ts[2] = done_task(&runs);
	ts[3] = done_task(&runs);
	REQUIRE(ts[1] && ts[2] && ts[3]);
	CHECK_EQ(
		weft_task_wait_any(ts, 4, WEFT_INFINITE, WEFT_TOKEN_NONE, &idx),
		0);
	CHECK_EQ(idx, 1);
	idx = 99;
	CHECK_EQ(weft_task_wait_any(ts + 2, 2, 0, WEFT_TOKEN_NONE, &idx), 0);
	CHECK_EQ(idx, 0);
	gate_open(&g);
	CHECK_EQ(wait_inf(ts[0]), 0);
	CHECK_EQ(weft_task_wait_any(ts, 4, 0, WEFT_TOKEN_NONE, &idx), 0);
	CHECK_EQ(idx, 0);
	for (int i = 0; i < 4; i++)
		weft_task_unref(ts[i]);
}

TEST(wait_any_first_to_complete)
{
	struct gate g[3];
	weft_task *ts[3];
	size_t idx = 99;
	weft_scheduler *pool;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	/* one worker per task: all three are running at once */
	REQUIRE(weft_pool_new(&pool, 3) == 0);
	o.scheduler = pool;
	for (int i = 0; i < 3; i++) {
		gate_init(&g[i]);
		REQUIRE(weft_task_start_new(&ts[i], gate_body, &g[i], &o) == 0);
	}
	for (int i = 0; i < 3; i++)
		REQUIRE(poll_until(&g[i].entered, 1));
	CHECK_EQ(weft_task_wait_any(ts, 3, 10, WEFT_TOKEN_NONE, &idx),
		 -ETIMEDOUT);
	gate_open(&g[2]);
	CHECK_EQ(
		weft_task_wait_any(ts, 3, WEFT_INFINITE, WEFT_TOKEN_NONE, &idx),
		0);
	CHECK_EQ(idx, 2);
	CHECK(weft_task_is_completed(ts[2]));
	gate_open(&g[0]);
	gate_open(&g[1]);
	CHECK_EQ(
		weft_task_wait_all(ts, 3, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
		0);
	for (int i = 0; i < 3; i++)
		weft_task_unref(ts[i]);
	weft_scheduler_unref(pool);
}

TEST(wait_any_many_tasks)
{
	/* more than the waiter's on-stack slots */
	enum {
		N = 40
	};
	struct gate g[N];
	weft_promise *ps[N];
	weft_task *ts[N];
	size_t idx = 99;

	for (int i = 0; i < N; i++) {
		gate_init(&g[i]);
		REQUIRE(weft_promise_new(&ps[i], NULL, 0) == 0);
		ts[i] = weft_promise_task(ps[i]);
	}
	CHECK_EQ(weft_task_wait_any(ts, N, 10, WEFT_TOKEN_NONE, &idx),
		 -ETIMEDOUT);
	REQUIRE(weft_promise_set_result(ps[33], NULL, NULL) == 0);
	CHECK_EQ(
		weft_task_wait_any(ts, N, WEFT_INFINITE, WEFT_TOKEN_NONE, &idx),
		0);
	CHECK_EQ(idx, 33);
	for (int i = 0; i < N; i++)
		weft_promise_unref(ps[i]);
}

TEST(wait_any_never_reports_task_errors)
{
	weft_error *e = weft_error_new(-EIO, "ignored here");
	weft_task *ts[2];
	size_t idx = 99;

	REQUIRE(weft_task_run(&ts[0], fail_body, e) == 0);
	ts[1] = ts[0];
	CHECK_EQ(
		weft_task_wait_any(ts, 1, WEFT_INFINITE, WEFT_TOKEN_NONE, &idx),
		0);
	CHECK_EQ(idx, 0);
	CHECK(weft_task_is_faulted(ts[0]));
	CHECK_EQ(weft_task_wait_any(ts, 2, 0, WEFT_TOKEN_NONE, &idx), 0);
	CHECK_EQ(idx, 0);
	/* observe it, for tidiness */
	CHECK_EQ(wait_inf(ts[0]), WEFT_EFAULTED);
	weft_task_unref(ts[0]);
	weft_error_unref(e);
}

TEST(wait_any_edge_cases)
{
	atomic_int runs;
	struct gate g;
	weft_task *ts[2];
	weft_task *with_null[2];
	weft_cancel_source *src;
	struct canceler c;
	size_t idx = 99;
	double t0, dt;

	atomic_init(&runs, 0);
	gate_init(&g);
	REQUIRE(weft_task_run(&ts[0], gate_body, &g) == 0);
	ts[1] = done_task(&runs);
	REQUIRE(ts[1] != NULL);

	CHECK_EQ(
		weft_task_wait_any(ts, 0, WEFT_INFINITE, WEFT_TOKEN_NONE, &idx),
		-ETIMEDOUT);
	CHECK_EQ(weft_task_wait_any(ts, 2, -2, WEFT_TOKEN_NONE, &idx), -EINVAL);
	CHECK_EQ(weft_task_wait_any(ts, 2, 0, WEFT_TOKEN_NONE, NULL), -EINVAL);
	with_null[0] = ts[0];
	with_null[1] = NULL;
	CHECK_EQ(weft_task_wait_any(with_null, 2, 0, WEFT_TOKEN_NONE, &idx),
		 -EINVAL);
	CHECK_EQ(weft_task_wait_any(NULL, 2, 0, WEFT_TOKEN_NONE, &idx),
		 -EINVAL);
	/* canceled token: checked first */
	CHECK_EQ(weft_task_wait_any(ts, 2, WEFT_INFINITE,
				    weft_cancel_token_canceled(), &idx),
		 -ECANCELED);

	/* nothing completes: timeout */
	t0 = now_s();
	CHECK_EQ(weft_task_wait_any(ts, 1, 50, WEFT_TOKEN_NONE, &idx),
		 -ETIMEDOUT);
	dt = now_s() - t0;
	CHECK(dt >= 0.040 && dt < 30);

	/* token canceled while waiting */
	REQUIRE(weft_cancel_source_new(&src) == 0);
	cancel_later(&c, src, 30);
	CHECK_EQ(weft_task_wait_any(ts, 1, WEFT_INFINITE,
				    weft_cancel_source_token(src), &idx),
		 -ECANCELED);
	pthread_join(c.th, NULL);

	gate_open(&g);
	CHECK_EQ(wait_inf(ts[0]), 0);
	weft_task_unref(ts[0]);
	weft_task_unref(ts[1]);
	weft_cancel_source_unref(src);
}

/* ---- waits on pool workers
 * ----------------------------------------------------- */

struct inline_probe {
	pthread_t waiter; /* written before the children start */
	atomic_int child_ran;
	atomic_int child_elsewhere; /* children not on the waiter's thread */
	atomic_int wait_rc;
};

static void inline_probe_init(struct inline_probe *p)
{
	atomic_init(&p->child_ran, 0);
	atomic_init(&p->child_elsewhere, 0);
	atomic_init(&p->wait_rc, 1);
}

static weft_error *inline_child(weft_task *self, void *arg)
{
	struct inline_probe *p = arg;
	(void)self;
	if (!pthread_equal(pthread_self(), p->waiter))
		atomic_fetch_add(&p->child_elsewhere, 1);
	atomic_fetch_add(&p->child_ran, 1);
	return NULL;
}

static weft_error *inline_parent(weft_task *self, void *arg)
{
	struct inline_probe *p = arg;
	weft_task *c;
	(void)self;
	p->waiter = pthread_self();
	if (weft_task_start_new(&c, inline_child, p, NULL) != 0)
		return weft_error_new(-ENOMEM, "start_new");
	atomic_store(&p->wait_rc,
		     weft_task_wait(c, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL));
	weft_task_unref(c);
	return NULL;
}

TEST(wait_on_worker_runs_queued_task_inline)
{
	weft_scheduler *pool;
	struct inline_probe p;
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	inline_probe_init(&p);
	REQUIRE(weft_pool_new(&pool, 1) == 0);
	o.scheduler = pool;
	REQUIRE(weft_task_start_new(&t, inline_parent, &p, &o) == 0);
	CHECK_EQ(weft_task_wait(t, 60000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(atomic_load(&p.wait_rc), 0);
	CHECK_EQ(atomic_load(&p.child_ran), 1);
	CHECK_EQ(atomic_load(&p.child_elsewhere), 0);
	weft_task_unref(t);
	weft_scheduler_unref(pool);

	/* on the default pool too (where a thief may take the child first,
	 * so only that it ran and the wait succeeded is certain) */
	inline_probe_init(&p);
	REQUIRE(weft_task_run(&t, inline_parent, &p) == 0);
	CHECK_EQ(weft_task_wait(t, 60000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(atomic_load(&p.wait_rc), 0);
	CHECK_EQ(atomic_load(&p.child_ran), 1);
	weft_task_unref(t);
}

struct nest {
	atomic_int ran;
	atomic_int deepest;
	atomic_int failures;
};

struct nest_arg {
	struct nest *n;
	int depth;
};

static weft_error *nest_body(weft_task *self, void *arg)
{
	struct nest_arg *a = arg;
	(void)self;
	atomic_fetch_add(&a->n->ran, 1);
	if (a->depth > atomic_load(&a->n->deepest))
		atomic_store(&a->n->deepest, a->depth);
	if (a->depth == 20)
		return NULL;
	struct nest_arg child = {a->n, a->depth + 1};
	weft_task *c;
	if (weft_task_start_new(&c, nest_body, &child, NULL) != 0) {
		atomic_fetch_add(&a->n->failures, 1);
		return NULL;
	}
	if (weft_task_wait(c, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL) != 0)
		atomic_fetch_add(&a->n->failures, 1);
	weft_task_unref(c);
	return NULL;
}

TEST(nested_waits_on_one_worker_do_not_deadlock)
{
	weft_scheduler *pool;
	struct nest n;
	struct nest_arg root;
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	atomic_init(&n.ran, 0);
	atomic_init(&n.deepest, 0);
	atomic_init(&n.failures, 0);
	root.n = &n;
	root.depth = 1;
	REQUIRE(weft_pool_new(&pool, 1) == 0);
	o.scheduler = pool;
	REQUIRE(weft_task_start_new(&t, nest_body, &root, &o) == 0);
	CHECK_EQ(weft_task_wait(t, 60000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(atomic_load(&n.ran), 20);
	CHECK_EQ(atomic_load(&n.deepest), 20);
	CHECK_EQ(atomic_load(&n.failures), 0);
	weft_task_unref(t);
	weft_scheduler_unref(pool);
}

static weft_error *wait_all_children_body(weft_task *self, void *arg)
{
	enum {
		N = 10
	};
	struct inline_probe *p = arg;
	weft_task *cs[N];
	(void)self;
	p->waiter = pthread_self();
	for (int i = 0; i < N; i++)
		if (weft_task_start_new(&cs[i], inline_child, p, NULL) != 0)
			return weft_error_new(-ENOMEM, "start_new");
	atomic_store(&p->wait_rc, weft_task_wait_all(cs, N, WEFT_INFINITE,
						     WEFT_TOKEN_NONE, NULL));
	for (int i = 0; i < N; i++)
		weft_task_unref(cs[i]);
	return NULL;
}

TEST(wait_all_on_one_worker_runs_children_inline)
{
	weft_scheduler *pool;
	struct inline_probe p;
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	inline_probe_init(&p);
	REQUIRE(weft_pool_new(&pool, 1) == 0);
	o.scheduler = pool;
	REQUIRE(weft_task_start_new(&t, wait_all_children_body, &p, &o) == 0);
	CHECK_EQ(weft_task_wait(t, 60000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(atomic_load(&p.wait_rc), 0);
	CHECK_EQ(atomic_load(&p.child_ran), 10);
	CHECK_EQ(atomic_load(&p.child_elsewhere), 0);
	weft_task_unref(t);
	weft_scheduler_unref(pool);
}

struct blocked {
	weft_promise *p;
	atomic_int entered;
	atomic_int wait_rc;
};

static weft_error *wait_promise_body(weft_task *self, void *arg)
{
	struct blocked *b = arg;
	(void)self;
	atomic_fetch_add(&b->entered, 1);
	atomic_store(&b->wait_rc,
		     weft_task_wait(weft_promise_task(b->p), WEFT_INFINITE,
				    WEFT_TOKEN_NONE, NULL));
	return NULL;
}

static weft_error *set_promise_body(weft_task *self, void *arg)
{
	struct blocked *b = arg;
	(void)self;
	weft_promise_set_result(b->p, NULL, NULL);
	return NULL;
}

/*
 * The only worker blocks on a promise that only a task queued after it
 * completes: the pool must bring in another thread.
 */
TEST(blocked_worker_is_compensated)
{
	weft_scheduler *pool;
	struct blocked b;
	weft_task *ta, *tb;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	atomic_init(&b.entered, 0);
	atomic_init(&b.wait_rc, 1);
	REQUIRE(weft_promise_new(&b.p, NULL, 0) == 0);
	REQUIRE(weft_pool_new(&pool, 1) == 0);
	o.scheduler = pool;
	REQUIRE(weft_task_start_new(&ta, wait_promise_body, &b, &o) == 0);
	REQUIRE(poll_until(&b.entered, 1));
	sleep_ms(20); /* most likely asleep in the wait by now */
	REQUIRE(weft_task_start_new(&tb, set_promise_body, &b, &o) == 0);
	CHECK_EQ(weft_task_wait(ta, 30000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(weft_task_wait(tb, 30000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(atomic_load(&b.wait_rc), 0);
	CHECK_EQ(weft_pool_size(pool), 1);
	weft_task_unref(ta);
	weft_task_unref(tb);
	weft_promise_unref(b.p);
	weft_scheduler_unref(pool);
}

static weft_error *wait_any_promise_body(weft_task *self, void *arg)
{
	struct blocked *b = arg;
	weft_task *t = weft_promise_task(b->p);
	size_t idx = 99;
	(void)self;
	atomic_fetch_add(&b->entered, 1);
	int rc =
		weft_task_wait_any(&t, 1, WEFT_INFINITE, WEFT_TOKEN_NONE, &idx);
	atomic_store(&b->wait_rc, rc == 0 && idx == 0 ? 0 : -1);
	return NULL;
}

/* The same with wait_any, which has a blocking path of its own. */
TEST(worker_blocked_in_wait_any_is_compensated)
{
	weft_scheduler *pool;
	struct blocked b;
	weft_task *ta, *tb;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	atomic_init(&b.entered, 0);
	atomic_init(&b.wait_rc, 1);
	REQUIRE(weft_promise_new(&b.p, NULL, 0) == 0);
	REQUIRE(weft_pool_new(&pool, 1) == 0);
	o.scheduler = pool;
	REQUIRE(weft_task_start_new(&ta, wait_any_promise_body, &b, &o) == 0);
	REQUIRE(poll_until(&b.entered, 1));
	sleep_ms(20);
	REQUIRE(weft_task_start_new(&tb, set_promise_body, &b, &o) == 0);
	CHECK_EQ(weft_task_wait(ta, 30000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(weft_task_wait(tb, 30000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(atomic_load(&b.wait_rc), 0);
	weft_task_unref(ta);
	weft_task_unref(tb);
	weft_promise_unref(b.p);
	weft_scheduler_unref(pool);
}

/* A chain: every worker-held task waits for the next one's promise. */
TEST(chain_of_blocked_workers_is_compensated)
{
	enum {
		N = 6
	};
	weft_scheduler *pool;
	struct blocked b[N];
	weft_task *ts[N], *last;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	REQUIRE(weft_pool_new(&pool, 1) == 0);
	o.scheduler = pool;
	for (int i = 0; i < N; i++) {
		atomic_init(&b[i].entered, 0);
		atomic_init(&b[i].wait_rc, 1);
		REQUIRE(weft_promise_new(&b[i].p, NULL, 0) == 0);
	}
	for (int i = 0; i < N; i++) {
		REQUIRE(weft_task_start_new(&ts[i], wait_promise_body, &b[i],
					    &o) == 0);
		REQUIRE(poll_until(&b[i].entered, 1));
	}
	/* complete them, newest first, each from a task queued after */
	for (int i = N - 1; i >= 0; i--) {
		REQUIRE(weft_task_start_new(&last, set_promise_body, &b[i],
					    &o) == 0);
		CHECK_EQ(weft_task_wait(last, 30000, WEFT_TOKEN_NONE, NULL), 0);
		weft_task_unref(last);
	}
	CHECK_EQ(weft_task_wait_all(ts, N, 30000, WEFT_TOKEN_NONE, NULL), 0);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(atomic_load(&b[i].wait_rc), 0);
		weft_task_unref(ts[i]);
		weft_promise_unref(b[i].p);
	}
	weft_scheduler_unref(pool);
}
