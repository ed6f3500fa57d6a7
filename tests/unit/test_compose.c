/*
 * test_compose.c - combinators and pre-computed tasks: when_all,
 * when_any, from_result, from_error, from_canceled, the shared completed
 * task.  (weft_task_delay is covered elsewhere.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

#include "harness.h"
#include "task_util.h"

static atomic_int dtors;
static void count_dtor(void *v)
{
	(void)v;
	atomic_fetch_add(&dtors, 1);
}

/* TASK_CANCELED inside the aggregate a wait on T reports, with TOK. */
static void check_canceled_with(weft_task *t, weft_cancel_token tok)
{
	weft_error *err = NULL;

	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	CHECK_EQ(wait_err(t, &err), -ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 1);
	weft_error *tc = weft_error_inner(err, 0);
	REQUIRE(tc != NULL);
	CHECK_EQ(weft_error_get_kind(tc), WEFT_ERROR_TASK_CANCELED);
	CHECK_PTR_EQ(weft_error_task(tc), t);
	CHECK(weft_cancel_token_equal(weft_error_token(tc), tok));
	weft_error_unref(err);
}

/* ---- when_all
 * ---------------------------------------------------------------- */

TEST(when_all_runs_to_completion_when_all_did)
{
	weft_promise *p[3];
	weft_task *arr[3], *w = NULL;

	for (int i = 0; i < 3; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_when_all(&w, arr, 3) == 0);
	arr[0] = arr[1] = arr[2] = NULL; /* copied */
	CHECK_EQ(weft_task_get_status(w), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	CHECK_EQ(weft_task_start(w, NULL), -EPERM);
	CHECK_EQ(weft_task_run_synchronously(w, NULL), -EPERM);
	weft_promise_set_result(p[1], NULL, NULL);
	weft_promise_set_result(p[2], NULL, NULL);
	CHECK_EQ(weft_task_wait(w, 20, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	CHECK(!weft_task_is_completed(w));
	weft_promise_set_result(p[0], NULL, NULL);
	/* completed by the last input, synchronously */
	CHECK_EQ(weft_task_get_status(w), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(wait_inf(w), 0);
	weft_task_unref(w);
	for (int i = 0; i < 3; i++)
		weft_promise_unref(p[i]);
}

TEST(when_all_faulted_collects_every_error_in_array_order)
{
	weft_promise *p[5];
	weft_task *arr[5], *w = NULL;
	weft_error *e1 = weft_error_new(-EIO, "e1");
	weft_error *e2 = weft_error_new(-EPIPE, "e2");
	weft_error *e3 = weft_error_new(-EBADF, "e3");
	weft_error *err = NULL;

	for (int i = 0; i < 5; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_when_all(&w, arr, 5) == 0);
	/* completion order differs from array order on purpose */
	weft_error *two[2] = {e2, e3};
	weft_promise_set_errors(p[3], two, 2);
	weft_promise_set_canceled(p[2], weft_cancel_token_canceled());
	weft_promise_set_result(p[1], NULL, NULL);
	weft_promise_set_error(p[0], e1);
	CHECK(!weft_task_is_completed(w));
	weft_promise_set_error(p[4], e1);
	CHECK_EQ(wait_err(w, &err), WEFT_EFAULTED);
	CHECK_EQ(weft_task_get_status(w), WEFT_STATUS_FAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 4);
	CHECK_PTR_EQ(weft_error_inner(err, 0), e1);
	CHECK_PTR_EQ(weft_error_inner(err, 1), e2);
	CHECK_PTR_EQ(weft_error_inner(err, 2), e3);
	CHECK_PTR_EQ(weft_error_inner(err, 3), e1);
	weft_error_unref(err);
	weft_task_unref(w);
	for (int i = 0; i < 5; i++)
		weft_promise_unref(p[i]);
	weft_error_unref(e1);
	weft_error_unref(e2);
	weft_error_unref(e3);
}

TEST(when_all_keeps_duplicates)
{
	weft_error *e1 = weft_error_new(-EIO, "e1");
	weft_task *t1 = NULL, *w = NULL;
	weft_error *err = NULL;

	REQUIRE(weft_task_from_error(&t1, e1) == 0);
	weft_task *arr[2] = {t1, t1};
	REQUIRE(weft_task_when_all(&w, arr, 2) == 0);
	CHECK_EQ(wait_err(w, &err), WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 2);
	CHECK_PTR_EQ(weft_error_inner(err, 0), e1);
	CHECK_PTR_EQ(weft_error_inner(err, 1), e1);
	weft_error_unref(err);
	weft_task_unref(w);

	/* pending duplicates, too */
	weft_promise *p = promise(0);
	REQUIRE(p);
	weft_task *arr2[3] = {weft_promise_task(p), weft_promise_task(p),
			      weft_promise_task(p)};
	REQUIRE(weft_task_when_all(&w, arr2, 3) == 0);
	weft_promise_set_error(p, e1);
	CHECK_EQ(wait_err(w, &err), WEFT_EFAULTED);
	if (err) {
		CHECK_EQ(weft_error_inner_count(err), 3);
		for (size_t i = 0; i < 3; i++)
			CHECK_PTR_EQ(weft_error_inner(err, i), e1);
	}
	weft_error_unref(err);
	weft_task_unref(w);
	weft_promise_unref(p);
	weft_task_unref(t1);
	weft_error_unref(e1);
}

TEST(when_all_keeps_nested_aggregates_one_level)
{
	/* a faulted input whose own error is an aggregate: that aggregate is
	 * one error of the result, not flattened further */
	weft_error *a = weft_error_new(-EIO, "a");
	weft_error *b = weft_error_new(-EIO, "b");
	weft_error *agg = NULL;
	weft_task *t = NULL, *w = NULL;
	weft_error *err = NULL;
	weft_error *ab[2] = {a, b};

	REQUIRE(weft_error_aggregate(&agg, "inner", ab, 2) == 0);
	REQUIRE(weft_task_from_error(&t, agg) == 0);
	weft_task *arr[1] = {t};
	REQUIRE(weft_task_when_all(&w, arr, 1) == 0);
	CHECK_EQ(wait_err(w, &err), WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 1);
	CHECK_PTR_EQ(weft_error_inner(err, 0), agg);
	weft_error_unref(err);
	weft_task_unref(w);
	weft_task_unref(t);
	weft_error_unref(agg);
	weft_error_unref(a);
	weft_error_unref(b);
}

TEST(when_all_canceled_carries_the_first_canceled_token)
{
	weft_cancel_source *s1 = NULL, *s2 = NULL;
	weft_promise *p[3];
	weft_task *arr[3], *w = NULL;

	REQUIRE(weft_cancel_source_new(&s1) == 0);
	REQUIRE(weft_cancel_source_new(&s2) == 0);
	weft_cancel_source_cancel(s1);
	weft_cancel_source_cancel(s2);
	for (int i = 0; i < 3; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_when_all(&w, arr, 3) == 0);
	/* s2's task completes first, but s1's comes first in the array */
	weft_promise_set_canceled(p[2], weft_cancel_source_token(s2));
	weft_promise_set_result(p[0], NULL, NULL);
	weft_promise_set_canceled(p[1], weft_cancel_source_token(s1));
	check_canceled_with(w, weft_cancel_source_token(s1));
	CHECK(weft_task_error(w) == NULL);
	weft_task_unref(w);
	for (int i = 0; i < 3; i++)
		weft_promise_unref(p[i]);
	weft_cancel_source_unref(s1);
	weft_cancel_source_unref(s2);
}

static weft_error *spin_body(weft_task *self, void *arg);
static atomic_int never;

TEST(when_all_canceled_task_with_its_own_token)
{
	weft_cancel_source *cts = NULL;
	weft_task *t = NULL, *w = NULL;
	weft_task_options o = opt(0);

	REQUIRE(weft_cancel_source_new(&cts) == 0);
	o.token = weft_cancel_source_token(cts);
	REQUIRE(weft_task_create(&t, spin_body, &never, &o) == 0);
	weft_cancel_source_cancel(cts); /* Canceled before it starts */
	weft_task *arr[2] = {weft_task_completed(), t};
	REQUIRE(weft_task_when_all(&w, arr, 2) == 0);
	check_canceled_with(w, o.token);
	CHECK_EQ(atomic_load(&never), 0);
	weft_task_unref(w);
	weft_task_unref(t);
	weft_cancel_source_unref(cts);
}

TEST(when_all_fault_wins_over_cancel)
{
	weft_error *e = weft_error_new(-EIO, "e");
	weft_task *f = NULL, *c = NULL, *w = NULL;
	weft_error *err = NULL;

	REQUIRE(weft_task_from_canceled(&c, weft_cancel_token_canceled()) == 0);
	REQUIRE(weft_task_from_error(&f, e) == 0);
	weft_task *arr[2] = {c, f};
	REQUIRE(weft_task_when_all(&w, arr, 2) == 0);
	CHECK_EQ(wait_err(w, &err), WEFT_EFAULTED);
	if (err) {
		/* only the faulted task's errors, no TASK_CANCELED */
		CHECK_EQ(weft_error_inner_count(err), 1);
		CHECK_PTR_EQ(weft_error_inner(err, 0), e);
	}
	weft_error_unref(err);
	weft_task_unref(w);
	weft_task_unref(f);
	weft_task_unref(c);
	weft_error_unref(e);
}

TEST(when_all_of_nothing_is_already_complete)
{
	weft_task *w = NULL, *dummy = NULL;

	CHECK_EQ(weft_task_when_all(&w, NULL, 0), 0);
	REQUIRE(w != NULL);
	CHECK_EQ(weft_task_get_status(w), WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(w);
	w = NULL;
	CHECK_EQ(weft_task_when_all(&w, &dummy, 0), 0);
	REQUIRE(w != NULL);
	CHECK_EQ(weft_task_get_status(w), WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(w);
}

TEST(when_all_validates_arguments)
{
	weft_task *w = NULL;
	weft_task *arr[3] = {weft_task_completed(), NULL,
			     weft_task_completed()};

	CHECK_EQ(weft_task_when_all(&w, NULL, 2), -EINVAL);
	CHECK_EQ(weft_task_when_all(&w, arr, 3), -EINVAL);
	CHECK_EQ(weft_task_when_all(&w, arr + 1, 1), -EINVAL);
	CHECK_EQ(weft_task_when_all(NULL, arr, 1), -EINVAL);
	CHECK(w == NULL);
}

TEST(when_all_of_finished_tasks_is_finished_at_once)
{
	weft_task *a = NULL, *w = NULL;

	REQUIRE(weft_task_from_result(&a, NULL, NULL) == 0);
	weft_task *arr[3] = {a, weft_task_completed(), a};
	REQUIRE(weft_task_when_all(&w, arr, 3) == 0);
	CHECK_EQ(weft_task_get_status(w), WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(w);
	weft_task_unref(a);
}

TEST(when_all_over_many_inputs_keeps_array_order)
{
	/* enough inputs for the hooks to span several allocations; the
	 * faulted and canceled ones sit far apart and complete in reverse
	 * order, and the inputs are dropped before they complete */
	enum {
		N = 300
	};
	static weft_promise *p[N];
	static weft_task *arr[N];
	weft_error *e[3] = {weft_error_new(-EIO, "e0"),
			    weft_error_new(-EPIPE, "e1"),
			    weft_error_new(-EBADF, "e2")};
	const int faulted[3] = {7, 150, 299};
	weft_cancel_source *s1 = NULL, *s2 = NULL;
	weft_task *w = NULL, *wc = NULL;
	weft_error *err = NULL;

	REQUIRE(weft_cancel_source_new(&s1) == 0);
	REQUIRE(weft_cancel_source_new(&s2) == 0);
	weft_cancel_source_cancel(s1);
	weft_cancel_source_cancel(s2);
	for (int i = 0; i < N; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_when_all(&w, arr, N) == 0);
	/* the same inputs, canceled instead of faulted: a second promise
	 * over the first 100 plus two canceled ones */
	weft_task *carr[102];
	weft_task *c1 = NULL, *c2 = NULL;
	REQUIRE(weft_task_from_canceled(&c1, weft_cancel_source_token(s1)) ==
		0);
	REQUIRE(weft_task_from_canceled(&c2, weft_cancel_source_token(s2)) ==
		0);
	for (int i = 0; i < 100; i++)
		carr[i] = arr[i];
	carr[100] = c1;
	carr[101] = c2;
	REQUIRE(weft_task_when_all(&wc, carr, 102) == 0);
	weft_task_unref(c1);
	weft_task_unref(c2);
	for (int i = N; i-- > 0;) {
		int f = -1;
		for (int k = 0; k < 3; k++)
			if (faulted[k] == i)
				f = k;
		if (f >= 0)
			weft_promise_set_error(p[i], e[f]);
		else
			weft_promise_set_result(p[i], NULL, NULL);
		weft_promise_unref(p[i]);
		if (i > 0)
			CHECK(!weft_task_is_completed(w));
	}
	CHECK_EQ(wait_err(w, &err), WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 3);
	for (size_t k = 0; k < 3; k++)
		CHECK_PTR_EQ(weft_error_inner(err, k), e[k]);
	weft_error_unref(err);
	/* input 7 faulted: faults win over the cancellations after it */
	CHECK_EQ(weft_task_get_status(wc), WEFT_STATUS_FAULTED);
	weft_task_unref(w);
	weft_task_unref(wc);

	/* all of the first 100 ran: the first canceled in array order */
	for (int i = 0; i < 100; i++)
		REQUIRE(weft_task_from_result(&carr[i], NULL, NULL) == 0);
	REQUIRE(weft_task_from_canceled(&c2, weft_cancel_source_token(s2)) ==
		0);
	REQUIRE(weft_task_from_canceled(&c1, weft_cancel_source_token(s1)) ==
		0);
	weft_promise *last = promise(0);
	REQUIRE(last);
	weft_task_unref(carr[60]);
	carr[60] = c1;
	carr[100] = c2;
	carr[101] = weft_promise_task(last);
	REQUIRE(weft_task_when_all(&wc, carr, 102) == 0);
	weft_task_unref(carr[0]);
	carr[0] = weft_task_completed();
	CHECK(!weft_task_is_completed(wc));
	weft_promise_set_result(last, NULL, NULL);
	check_canceled_with(wc, weft_cancel_source_token(s1));
	weft_task_unref(wc);
	weft_promise_unref(last);
	for (int i = 1; i < 100; i++)
		weft_task_unref(carr[i]);
	weft_task_unref(c2);
	for (int k = 0; k < 3; k++)
		weft_error_unref(e[k]);
	weft_cancel_source_unref(s1);
	weft_cancel_source_unref(s2);
}

static weft_error *spin_body(weft_task *self, void *arg)
{
	(void)self;
	atomic_fetch_add((atomic_int *)arg, 1);
	return NULL;
}

TEST(when_all_over_many_running_tasks)
{
	enum {
		N = 500
	};
	static weft_task *t[N];
	static atomic_int ran;
	weft_task *w = NULL;

	for (int i = 0; i < N; i++)
		REQUIRE(weft_task_run(&t[i], spin_body, &ran) == 0);
	REQUIRE(weft_task_when_all(&w, t, N) == 0);
	for (int i = 0; i < N; i++)
		weft_task_unref(t[i]); /* when_all holds them */
	CHECK_EQ(wait_inf(w), 0);
	CHECK_EQ(atomic_load(&ran), N);
	weft_task_unref(w);
}

struct gated {
	weft_task *gate;
	weft_error *err; /* NULL: succeed */
};

static weft_error *gated_body(weft_task *self, void *arg)
{
	(void)self;
	struct gated *g = arg;
	weft_task_wait(g->gate, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	return g->err ? weft_error_ref(g->err) : NULL;
}

TEST(when_all_over_dropped_running_tasks_that_fault)
{
	/* the inputs run on the pool and are dropped by the caller before
	 * they finish: their faults still reach the result, in array order */
	enum {
		N = 64
	};
	static struct gated g[N];
	static weft_task *t[N];
	weft_error *e[2] = {weft_error_new(-EIO, "e0"),
			    weft_error_new(-EPIPE, "e1")};
	weft_promise *gate = promise(0);
	weft_task *w = NULL;
	weft_error *err = NULL;

	REQUIRE(gate);
	for (int i = 0; i < N; i++) {
		g[i].gate = weft_promise_task(gate);
		g[i].err = i == 5 ? e[0] : i == 50 ? e[1] : NULL;
		REQUIRE(weft_task_run(&t[i], gated_body, &g[i]) == 0);
	}
	REQUIRE(weft_task_when_all(&w, t, N) == 0);
	for (int i = 0; i < N; i++)
		weft_task_unref(t[i]);
	CHECK(!weft_task_is_completed(w));
	weft_promise_set_result(gate, NULL, NULL);
	CHECK_EQ(wait_err(w, &err), WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 2);
	CHECK_PTR_EQ(weft_error_inner(err, 0), e[0]);
	CHECK_PTR_EQ(weft_error_inner(err, 1), e[1]);
	weft_error_unref(err);
	weft_task_unref(w);
	weft_promise_unref(gate);
	weft_error_unref(e[0]);
	weft_error_unref(e[1]);
}

TEST(when_all_over_dropped_tasks_of_a_run_loop)
{
	/* tasks queued to a scheduler other than a pool, dropped by the
	 * caller: the when_all keeps them until they have run */
	weft_scheduler *loop = NULL;
	weft_task *t[3], *w = NULL;
	static atomic_int ran;
	weft_task_options o = opt(0);

	REQUIRE(weft_runloop_new(&loop) == 0);
	o.scheduler = loop;
	for (int i = 0; i < 3; i++)
		REQUIRE(weft_task_start_new(&t[i], spin_body, &ran, &o) == 0);
	REQUIRE(weft_task_when_all(&w, t, 3) == 0);
	for (int i = 0; i < 3; i++)
		weft_task_unref(t[i]);
	CHECK(!weft_task_is_completed(w));
	CHECK_EQ(weft_runloop_run_pending(loop), 3);
	CHECK_EQ(weft_task_get_status(w), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(atomic_load(&ran), 3);
	weft_task_unref(w);
	weft_scheduler_unref(loop);
}

/* ---- when_any
 * ---------------------------------------------------------------- */

TEST(when_any_result_is_the_first_to_finish)
{
	weft_promise *p[3];
	weft_task *arr[3], *w = NULL;
	void *out = NULL;

	for (int i = 0; i < 3; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_when_any(&w, arr, 3) == 0);
	arr[2] = NULL;
	CHECK_EQ(weft_task_get_status(w), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	CHECK_EQ(weft_task_start(w, NULL), -EPERM);
	weft_promise_set_result(p[2], NULL, NULL);
	CHECK_EQ(weft_task_get_status(w), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(weft_task_get_result(w, &out, NULL), 0);
	CHECK_PTR_EQ(out, weft_promise_task(p[2]));
	CHECK_PTR_EQ(weft_task_result(w), weft_promise_task(p[2]));
	weft_promise_set_result(p[0], NULL, NULL);
	weft_promise_set_result(p[1], NULL, NULL);
	CHECK_PTR_EQ(weft_task_result(w), weft_promise_task(p[2]));
	weft_task_unref(w);
	for (int i = 0; i < 3; i++)
		weft_promise_unref(p[i]);
}

TEST(when_any_runs_to_completion_even_when_the_winner_did_not)
{
	for (int kind = 0; kind < 2; kind++) {
		weft_promise *p[2];
		weft_task *arr[2], *w = NULL;
		weft_error *e = weft_error_new(-EIO, "winner failed");

		for (int i = 0; i < 2; i++) {
			p[i] = promise(0);
			REQUIRE(p[i]);
			arr[i] = weft_promise_task(p[i]);
		}
		REQUIRE(weft_task_when_any(&w, arr, 2) == 0);
		if (kind == 0)
			weft_promise_set_error(p[1], e);
		else
			weft_promise_set_canceled(p[1], WEFT_TOKEN_NONE);
		CHECK_EQ(wait_inf(w), 0);
		CHECK_EQ(weft_task_get_status(w),
			 WEFT_STATUS_RAN_TO_COMPLETION);
		CHECK(weft_task_error(w) == NULL);
		CHECK_PTR_EQ(weft_task_result(w), weft_promise_task(p[1]));
		weft_promise_set_result(p[0], NULL, NULL);
		weft_error_unref(weft_task_error(weft_promise_task(p[1])));
		weft_task_unref(w);
		for (int i = 0; i < 2; i++)
			weft_promise_unref(p[i]);
		weft_error_unref(e);
	}
}

TEST(when_any_of_finished_tasks_picks_the_first_in_order)
{
	weft_promise *pend = promise(0);
	weft_task *d1 = NULL, *d2 = NULL, *w = NULL;
	weft_error *e = weft_error_new(-EIO, "x");

	REQUIRE(pend);
	REQUIRE(weft_task_from_result(&d1, NULL, NULL) == 0);
	REQUIRE(weft_task_from_error(&d2, e) == 0);
	weft_task *arr[3] = {weft_promise_task(pend), d2, d1};
	REQUIRE(weft_task_when_any(&w, arr, 3) == 0);
	CHECK_EQ(weft_task_get_status(w), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_PTR_EQ(weft_task_result(w), d2);
	weft_task_unref(w);

	weft_task *arr2[2] = {d1, d2};
	REQUIRE(weft_task_when_any(&w, arr2, 2) == 0);
	CHECK_PTR_EQ(weft_task_result(w), d1);
	weft_task_unref(w);

	weft_promise_set_result(pend, NULL, NULL);
	weft_error_unref(weft_task_error(d2));
	weft_task_unref(d1);
	weft_task_unref(d2);
	weft_promise_unref(pend);
	weft_error_unref(e);
}

TEST(when_any_holds_the_winner)
{
	weft_promise *p = promise(0);
	weft_task *w = NULL;
	static char v;

	REQUIRE(p);
	weft_task *arr[2] = {weft_promise_task(p), weft_promise_task(p)};
	REQUIRE(weft_task_when_any(&w, arr, 2) == 0);
	atomic_store(&dtors, 0);
	weft_promise_set_result(p, &v, count_dtor);
	weft_promise_unref(p); /* when_any still holds the winner */
	weft_task *winner = weft_task_result(w);
	REQUIRE(winner != NULL);
	CHECK_EQ(weft_task_get_status(winner), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_PTR_EQ(weft_task_result(winner), &v);
	CHECK_EQ(atomic_load(&dtors), 0);
	weft_task_unref(w);
	CHECK_EQ(atomic_load(&dtors), 1);
}

TEST(when_any_validates_arguments)
{
	weft_task *w = NULL;
	weft_task *arr[2] = {weft_task_completed(), NULL};

	CHECK_EQ(weft_task_when_any(&w, arr, 0), -EINVAL);
	CHECK_EQ(weft_task_when_any(&w, NULL, 0), -EINVAL);
	CHECK_EQ(weft_task_when_any(&w, NULL, 2), -EINVAL);
	CHECK_EQ(weft_task_when_any(&w, arr, 2), -EINVAL);
	CHECK_EQ(weft_task_when_any(&w, arr + 1, 1), -EINVAL);
	CHECK_EQ(weft_task_when_any(NULL, arr, 1), -EINVAL);
	CHECK(w == NULL);
}

TEST(when_any_over_many_tasks)
{
	enum {
		N = 500
	};
	static weft_promise *p[N];
	static weft_task *arr[N];
	weft_task *w = NULL;

	for (int i = 0; i < N; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_when_any(&w, arr, N) == 0);
	weft_promise_set_result(p[N / 2], NULL, NULL);
	CHECK_EQ(wait_inf(w), 0);
	CHECK_PTR_EQ(weft_task_result(w), arr[N / 2]);
	for (int i = 0; i < N; i++) {
		weft_promise_try_set_result(p[i], NULL, NULL);
		weft_promise_unref(p[i]);
	}
	weft_task_unref(w);
}

/* ---- RUN_CONTINUATIONS_ASYNCHRONOUSLY through combinators (spec A.9) ---- */

TEST(run_continuations_asynchronously_applies_through_when_all_and_any)
{
	for (int any = 0; any < 2; any++) {
		weft_promise *p =
			promise(WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
		weft_task *w = NULL, *c = NULL;
		struct ran_on r = {0};
		weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

		REQUIRE(p);
		weft_task *arr[1] = {weft_promise_task(p)};
		REQUIRE((any ? weft_task_when_any(&w, arr, 1) :
			       weft_task_when_all(&w, arr, 1)) == 0);
		REQUIRE(weft_task_continue_with(&c, w, ran_on_cont, &r, &o) ==
			0);
		CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
		CHECK_EQ(wait_inf(c), 0);
		CHECK_EQ(atomic_load(&r.ran), 1);
		/* not inside set_result, on this thread */
		CHECK(!pthread_equal(r.thread, pthread_self()));
		weft_task_unref(c);
		weft_task_unref(w);
		weft_promise_unref(p);
	}
}

TEST(synchronous_continuation_of_when_all_runs_on_the_last_completer)
{
	weft_promise *p[2];
	weft_task *arr[2], *w = NULL, *c = NULL;
	struct ran_on r = {0};
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

	for (int i = 0; i < 2; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_when_all(&w, arr, 2) == 0);
	REQUIRE(weft_task_continue_with(&c, w, ran_on_cont, &r, &o) == 0);
	weft_promise_set_result(p[0], NULL, NULL);
	CHECK_EQ(atomic_load(&r.ran), 0);
	weft_promise_set_result(p[1], NULL, NULL);
	CHECK_EQ(atomic_load(&r.ran), 1);
	CHECK(pthread_equal(r.thread, pthread_self()));
	weft_task_unref(c);
	weft_task_unref(w);
	for (int i = 0; i < 2; i++)
		weft_promise_unref(p[i]);
}

/* ---- pre-computed tasks
 * ------------------------------------------------------- */

TEST(from_result_is_complete_with_the_value)
{
	weft_task *a = NULL, *b = NULL;
	static char v;
	void *out = NULL;

	atomic_store(&dtors, 0);
	REQUIRE(weft_task_from_result(&a, &v, count_dtor) == 0);
	REQUIRE(weft_task_from_result(&b, &v, count_dtor) == 0);
	CHECK_EQ(weft_task_get_status(a), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK(weft_task_is_completed_successfully(a));
	CHECK_PTR_EQ(weft_task_result(a), &v);
	CHECK_EQ(weft_task_get_result(a, &out, NULL), 0);
	CHECK_PTR_EQ(out, &v);
	CHECK_EQ(weft_task_start(a, NULL), -EALREADY);
	CHECK(weft_task_error(a) == NULL);
	/* each call a task of its own: each value destroyed with its task */
	weft_task_unref(a);
	CHECK_EQ(atomic_load(&dtors), 1);
	weft_task_unref(b);
	CHECK_EQ(atomic_load(&dtors), 2);
	REQUIRE(weft_task_from_result(&a, NULL, NULL) == 0);
	CHECK(weft_task_result(a) == NULL);
	weft_task_unref(a);
	CHECK_EQ(weft_task_from_result(NULL, NULL, NULL), -EINVAL);
}

TEST(from_error_is_faulted_with_that_error)
{
	weft_error *e = weft_error_new(-EIO, "e");
	weft_error *oce = weft_error_canceled(weft_cancel_token_canceled());
	weft_task *t = NULL;
	weft_error *err = NULL;

	CHECK_EQ(weft_task_from_error(&t, NULL), -EINVAL);
	CHECK(t == NULL);
	REQUIRE(weft_task_from_error(&t, e) == 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
	CHECK_EQ(wait_err(t, &err), WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 1);
	CHECK_PTR_EQ(weft_error_inner(err, 0), e);
	weft_error_unref(err);
	weft_task_unref(t);
	CHECK_EQ(weft_error_code(e), -EIO); /* our reference is intact */

	/* even a cancellation error faults it: from_error never cancels */
	REQUIRE(weft_task_from_error(&t, oce) == 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
	CHECK(!weft_task_is_canceled(t));
	err = weft_task_error(t);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 1);
	CHECK_PTR_EQ(weft_error_inner(err, 0), oce);
	weft_error_unref(err);
	weft_task_unref(t);
	weft_error_unref(oce);
	weft_error_unref(e);
}

TEST(from_canceled_needs_a_canceled_token)
{
	weft_cancel_source *cts = NULL;
	weft_task *t = NULL;

	REQUIRE(weft_cancel_source_new(&cts) == 0);
	CHECK_EQ(weft_task_from_canceled(&t, WEFT_TOKEN_NONE), -EINVAL);
	CHECK_EQ(weft_task_from_canceled(&t, weft_cancel_source_token(cts)),
		 -EINVAL);
	CHECK(t == NULL);
	weft_cancel_source_cancel(cts);
	REQUIRE(weft_task_from_canceled(&t, weft_cancel_source_token(cts)) ==
		0);
	CHECK(weft_task_is_canceled(t));
	check_canceled_with(t, weft_cancel_source_token(cts));
	CHECK(weft_task_error(t) == NULL);
	weft_task_unref(t);

	REQUIRE(weft_task_from_canceled(&t, weft_cancel_token_canceled()) == 0);
	check_canceled_with(t, weft_cancel_token_canceled());
	weft_task_unref(t);
	weft_cancel_source_unref(cts);
}

TEST(completed_task_is_one_shared_finished_task)
{
	weft_task *c = weft_task_completed();

	REQUIRE(c != NULL);
	CHECK_PTR_EQ(weft_task_completed(), c);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK(weft_task_is_completed_successfully(c));
	CHECK(weft_task_result(c) == NULL);
	CHECK_EQ(wait_inf(c), 0);
	CHECK(weft_task_id(c) != 0);
	CHECK_EQ(weft_task_id(c), weft_task_id(weft_task_completed()));
	for (int i = 0; i < 1000; i++)
		CHECK_PTR_EQ(weft_task_ref(c), c);
	for (int i = 0; i < 1000; i++)
		weft_task_unref(c);
	/* and it keeps working */
	CHECK_EQ(weft_task_get_status(weft_task_completed()),
		 WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(weft_task_start(c, NULL), -EALREADY);
	weft_task *w = NULL;
	weft_task *arr[2] = {c, c};
	REQUIRE(weft_task_when_all(&w, arr, 2) == 0);
	CHECK_EQ(wait_inf(w), 0);
	weft_task_unref(w);
	REQUIRE(weft_task_when_any(&w, arr, 2) == 0);
	CHECK_PTR_EQ(weft_task_result(w), c);
	weft_task_unref(w);
	CHECK_PTR_EQ(weft_task_completed(), c);
}

static void *completed_from_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10000; i++) {
		weft_task_ref(weft_task_completed());
		weft_task_unref(weft_task_completed());
	}
	return weft_task_completed();
}

TEST(completed_task_from_many_threads)
{
	pthread_t th[4];
	void *ret[4];

	for (int i = 0; i < 4; i++)
		REQUIRE(pthread_create(&th[i], NULL, completed_from_thread,
				       NULL) == 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], &ret[i]);
		CHECK_PTR_EQ(ret[i], weft_task_completed());
	}
	CHECK_EQ(weft_task_get_status(weft_task_completed()),
		 WEFT_STATUS_RAN_TO_COMPLETION);
}
