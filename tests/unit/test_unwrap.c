/*
 * test_unwrap.c - proxies for a task that another task produces:
 * weft_task_unwrap (Unwrap) and weft_task_run_unwrap (Task.Run of a
 * function returning a task), spec A.13.
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

static void task_dtor(void *t)
{
	weft_task_unref(t);
}

/* Complete promise OUTER with INNER (a new reference) as its result. */
static int set_inner(weft_promise *outer, weft_task *inner)
{
	return weft_promise_set_result(outer, weft_task_ref(inner), task_dtor);
}

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

/* A wait on T reports exactly [E...] (no extra nesting). */
static void check_faulted_with(weft_task *t, weft_error *const *e, size_t n)
{
	weft_error *err = NULL;

	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
	CHECK_EQ(wait_err(t, &err), WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	CHECK_EQ(weft_error_inner_count(err), n);
	for (size_t i = 0; i < n; i++)
		CHECK_PTR_EQ(weft_error_inner(err, i), e[i]);
	weft_error_unref(err);
}

/* ---- outer already finished -----------------------------------------------
 */

TEST(unwrap_of_finished_outer_is_the_inner_itself)
{
	weft_promise *inner = promise(0);
	weft_task *outer = NULL, *u = NULL;

	REQUIRE(inner);
	REQUIRE(weft_task_from_result(&outer,
				      weft_task_ref(weft_promise_task(inner)),
				      task_dtor) == 0);
	REQUIRE(weft_task_unwrap(&u, outer) == 0);
	CHECK_PTR_EQ(u, weft_promise_task(inner));
	weft_task_unref(outer); /* u is our own reference */
	CHECK(!weft_task_is_completed(u));
	weft_promise_set_result(inner, NULL, NULL);
	CHECK_EQ(wait_inf(u), 0);
	weft_task_unref(u);
	weft_promise_unref(inner);
}

TEST(unwrap_of_finished_outer_with_null_inner_is_canceled)
{
	weft_task *outer = NULL, *u = NULL;

	REQUIRE(weft_task_from_result(&outer, NULL, NULL) == 0);
	REQUIRE(weft_task_unwrap(&u, outer) == 0);
	REQUIRE(u != NULL);
	check_canceled_with(u, WEFT_TOKEN_NONE);
	weft_task_unref(u);
	weft_task_unref(outer);
}

TEST(unwrap_of_canceled_outer_is_canceled_with_its_token)
{
	weft_cancel_source *cts = NULL;
	weft_task *outer = NULL, *u = NULL;

	REQUIRE(weft_cancel_source_new(&cts) == 0);
	weft_cancel_source_cancel(cts);
	REQUIRE(weft_task_from_canceled(&outer,
					weft_cancel_source_token(cts)) == 0);
	REQUIRE(weft_task_unwrap(&u, outer) == 0);
	check_canceled_with(u, weft_cancel_source_token(cts));
	weft_task_unref(u);
	weft_task_unref(outer);

	/* pending, then canceled */
	weft_promise *po = promise(0);
	REQUIRE(po);
	REQUIRE(weft_task_unwrap(&u, weft_promise_task(po)) == 0);
	CHECK_EQ(weft_task_get_status(u), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	weft_promise_set_canceled(po, weft_cancel_source_token(cts));
	check_canceled_with(u, weft_cancel_source_token(cts));
	weft_task_unref(u);
	weft_promise_unref(po);
	weft_cancel_source_unref(cts);
}

TEST(unwrap_of_faulted_outer_has_the_same_errors)
{
	weft_error *e1 = weft_error_new(-EIO, "e1");
	weft_error *e2 = weft_error_new(-EPIPE, "e2");
	weft_task *outer = NULL, *u = NULL;

	REQUIRE(weft_task_from_error(&outer, e1) == 0);
	REQUIRE(weft_task_unwrap(&u, outer) == 0);
	check_faulted_with(u, &e1, 1);
	weft_task_unref(u);
	weft_task_unref(outer);

	weft_promise *po = promise(0);
	weft_error *both[2] = {e2, e1};
	REQUIRE(po);
	REQUIRE(weft_task_unwrap(&u, weft_promise_task(po)) == 0);
	weft_promise_set_errors(po, both, 2);
	check_faulted_with(u, both, 2);
	weft_task_unref(u);
	weft_promise_unref(po);
	weft_error_unref(e1);
	weft_error_unref(e2);
}

TEST(unwrap_validates_arguments)
{
	weft_task *u = NULL;

	CHECK_EQ(weft_task_unwrap(&u, NULL), -EINVAL);
	CHECK(u == NULL);
	CHECK_EQ(weft_task_unwrap(NULL, weft_task_completed()), -EINVAL);
}

/* ---- the proxy mirrors the inner task --------------------------------------
 */

TEST(proxy_mirrors_an_inner_that_runs_to_completion)
{
	weft_promise *po = promise(0), *pi = promise(0);
	weft_task *u = NULL;
	static char v;
	void *out = NULL;

	REQUIRE(po && pi);
	REQUIRE(weft_task_unwrap(&u, weft_promise_task(po)) == 0);
	CHECK(u != weft_promise_task(po));
	CHECK_EQ(weft_task_get_status(u), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	CHECK_EQ(weft_task_start(u, NULL), -EPERM);
	CHECK_EQ(weft_task_run_synchronously(u, NULL), -EPERM);
	CHECK_EQ(set_inner(po, weft_promise_task(pi)), 0);
	/* the outer is done, the inner is not: neither is the proxy */
	CHECK_EQ(weft_task_wait(u, 20, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	CHECK_EQ(weft_task_get_status(u), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	weft_promise_set_result(pi, &v, NULL);
	CHECK_EQ(weft_task_get_status(u), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(weft_task_get_result(u, &out, NULL), 0);
	CHECK_PTR_EQ(out, &v);
	CHECK_PTR_EQ(weft_task_result(u), &v);
	weft_task_unref(u);
	weft_promise_unref(po);
	weft_promise_unref(pi);
}

static atomic_int dtors;
static void count_dtor(void *v)
{
	(void)v;
	atomic_fetch_add(&dtors, 1);
}

TEST(proxy_keeps_the_result_alive)
{
	weft_promise *po = promise(0), *pi = promise(0);
	weft_task *u = NULL;
	static char v;

	REQUIRE(po && pi);
	atomic_store(&dtors, 0);
	REQUIRE(weft_task_unwrap(&u, weft_promise_task(po)) == 0);
	CHECK_EQ(set_inner(po, weft_promise_task(pi)), 0);
	weft_promise_set_result(pi, &v, count_dtor);
	weft_promise_unref(po);
	weft_promise_unref(pi);
	/* only the proxy is left: its result must still be valid */
	CHECK_EQ(weft_task_get_status(u), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_PTR_EQ(weft_task_result(u), &v);
	CHECK_EQ(atomic_load(&dtors), 0);
	weft_task_unref(u);
	CHECK_EQ(atomic_load(&dtors), 1);
}

TEST(proxy_mirrors_a_faulted_inner_without_nesting)
{
	weft_promise *po = promise(0), *pi = promise(0);
	weft_task *u = NULL;
	weft_error *e = weft_error_new(-EIO, "inner failed");

	REQUIRE(po && pi);
	REQUIRE(weft_task_unwrap(&u, weft_promise_task(po)) == 0);
	CHECK_EQ(set_inner(po, weft_promise_task(pi)), 0);
	weft_promise_set_error(pi, e);
	check_faulted_with(u, &e, 1);
	/* the outer ran fine */
	CHECK_EQ(weft_task_get_status(weft_promise_task(po)),
		 WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(u);
	weft_promise_unref(po);
	weft_promise_unref(pi);
	weft_error_unref(e);
}

TEST(proxy_mirrors_a_canceled_inner_and_its_token)
{
	weft_cancel_source *cts = NULL;
	weft_promise *po = promise(0), *pi = promise(0);
	weft_task *u = NULL;

	REQUIRE(po && pi);
	REQUIRE(weft_cancel_source_new(&cts) == 0);
	weft_cancel_source_cancel(cts);
	REQUIRE(weft_task_unwrap(&u, weft_promise_task(po)) == 0);
	CHECK_EQ(set_inner(po, weft_promise_task(pi)), 0);
	weft_promise_set_canceled(pi, weft_cancel_source_token(cts));
	check_canceled_with(u, weft_cancel_source_token(cts));
	weft_task_unref(u);
	weft_promise_unref(po);
	weft_promise_unref(pi);
	weft_cancel_source_unref(cts);
}

TEST(proxy_with_an_inner_already_finished)
{
	weft_promise *po = promise(0);
	weft_task *inner = NULL, *u = NULL;
	static char v;

	REQUIRE(po);
	REQUIRE(weft_task_from_result(&inner, &v, NULL) == 0);
	REQUIRE(weft_task_unwrap(&u, weft_promise_task(po)) == 0);
	CHECK_EQ(set_inner(po, inner), 0);
	CHECK_EQ(weft_task_get_status(u), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_PTR_EQ(weft_task_result(u), &v);
	weft_task_unref(u);
	weft_task_unref(inner);
	weft_promise_unref(po);
}

TEST(proxy_with_null_inner_is_canceled)
{
	weft_promise *po = promise(0);
	weft_task *u = NULL;

	REQUIRE(po);
	REQUIRE(weft_task_unwrap(&u, weft_promise_task(po)) == 0);
	weft_promise_set_result(po, NULL, NULL);
	check_canceled_with(u, WEFT_TOKEN_NONE);
	weft_task_unref(u);
	weft_promise_unref(po);
}

TEST(proxy_creation_options_keep_only_attached_to_parent)
{
	static const unsigned flags[] = {
		0,
		WEFT_TASK_ATTACHED_TO_PARENT,
		WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
		WEFT_TASK_ATTACHED_TO_PARENT |
			WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
	};

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		weft_promise *po = promise(flags[i]);
		weft_task *u = NULL;

		REQUIRE(po);
		REQUIRE(weft_task_unwrap(&u, weft_promise_task(po)) == 0);
		CHECK_EQ(weft_task_creation_options(u),
			 flags[i] & WEFT_TASK_ATTACHED_TO_PARENT);
		weft_promise_set_result(po, NULL, NULL);
		CHECK_EQ(wait_inf(u), -ECANCELED);
		weft_task_unref(u);
		weft_promise_unref(po);
	}
}

/* Unwrap over a task with a body that produces the inner task. */
static weft_error *produce_inner(weft_task *self, void *arg)
{
	weft_task *inner = NULL;

	if (weft_task_from_result(&inner, arg, NULL) != 0)
		return weft_error_new(-ENOMEM, NULL);
	weft_task_set_result(self, inner, task_dtor);
	return NULL;
}

TEST(unwrap_of_a_running_task)
{
	static char v;
	weft_task *outer = NULL, *u = NULL;
	void *out = NULL;

	REQUIRE(weft_task_run(&outer, produce_inner, &v) == 0);
	REQUIRE(weft_task_unwrap(&u, outer) == 0);
	CHECK_EQ(weft_task_get_result(u, &out, NULL), 0);
	CHECK_PTR_EQ(out, &v);
	weft_task_unref(u);
	weft_task_unref(outer);
}

/* ---- RUN_CONTINUATIONS_ASYNCHRONOUSLY through the proxy (spec A.9) ------- */

TEST(run_continuations_asynchronously_applies_through_unwrap)
{
	weft_promise *po = promise(0);
	weft_promise *pi = promise(WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
	weft_task *u = NULL, *c = NULL;
	struct ran_on r = {0};
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

	REQUIRE(po && pi);
	REQUIRE(weft_task_unwrap(&u, weft_promise_task(po)) == 0);
	REQUIRE(weft_task_continue_with(&c, u, ran_on_cont, &r, &o) == 0);
	CHECK_EQ(set_inner(po, weft_promise_task(pi)), 0);
	CHECK_EQ(weft_promise_set_result(pi, NULL, NULL), 0);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_EQ(atomic_load(&r.ran), 1);
	CHECK(!pthread_equal(r.thread, pthread_self()));
	weft_task_unref(c);
	weft_task_unref(u);
	weft_promise_unref(po);
	weft_promise_unref(pi);
}

TEST(run_continuations_asynchronously_outer_keeps_the_proxy_off_the_setter)
{
	/* the outer forbids inline continuations; the inner is already done,
	 * so without care the proxy would complete inside the outer's set */
	weft_promise *po = promise(WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
	weft_task *inner = NULL, *u = NULL, *c = NULL;
	struct ran_on r = {0};
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

	REQUIRE(po);
	REQUIRE(weft_task_from_result(&inner, NULL, NULL) == 0);
	REQUIRE(weft_task_unwrap(&u, weft_promise_task(po)) == 0);
	REQUIRE(weft_task_continue_with(&c, u, ran_on_cont, &r, &o) == 0);
	CHECK_EQ(set_inner(po, inner), 0);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_EQ(atomic_load(&r.ran), 1);
	CHECK(!pthread_equal(r.thread, pthread_self()));
	weft_task_unref(c);
	weft_task_unref(u);
	weft_task_unref(inner);
	weft_promise_unref(po);
}

/* The caller may drop the outer task right after unwrap: the proxy must
 * keep what it needs.  Here the outer is a synchronous continuation, so
 * it completes inside another synchronous action (the trampoline). */
static weft_error *outer_cont(weft_task *self, weft_task *ante, void *arg)
{
	weft_task *inner = NULL;

	(void)ante;
	if (weft_task_from_result(&inner, arg, NULL) != 0)
		return weft_error_new(-ENOMEM, NULL);
	weft_task_set_result(self, inner, task_dtor);
	return NULL;
}

TEST(caller_may_drop_the_outer_after_unwrap)
{
	for (int sync = 0; sync < 2; sync++) {
		weft_promise *p = promise(0);
		weft_task *outer = NULL, *u = NULL;
		weft_task_options o =
			opt(sync ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY : 0);
		static char v;
		void *out = NULL;

		REQUIRE(p);
		REQUIRE(weft_task_continue_with(&outer, weft_promise_task(p),
						outer_cont, &v, &o) == 0);
		REQUIRE(weft_task_unwrap(&u, outer) == 0);
		weft_task_unref(outer);
		CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
		CHECK_EQ(weft_task_get_result(u, &out, NULL), 0);
		CHECK_PTR_EQ(out, &v);
		weft_task_unref(u);
		weft_promise_unref(p);
	}
}

TEST(unwrap_of_a_dropped_when_any)
{
	/* the classic when_any(...) + unwrap: the caller keeps only the
	 * proxy; the when_any task completes inside its input's completion */
	weft_promise *p[2];
	weft_task *arr[2], *w = NULL, *u = NULL;
	static char v;
	void *out = NULL;

	for (int i = 0; i < 2; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_when_any(&w, arr, 2) == 0);
	REQUIRE(weft_task_unwrap(&u, w) == 0);
	weft_task_unref(w);
	/* when_any's result is the winner: the proxy mirrors the winner */
	CHECK_EQ(weft_promise_set_result(p[1], &v, NULL), 0);
	CHECK_EQ(weft_task_get_result(u, &out, NULL), 0);
	CHECK_PTR_EQ(out, &v);
	weft_promise_set_result(p[0], NULL, NULL);
	weft_task_unref(u);
	for (int i = 0; i < 2; i++)
		weft_promise_unref(p[i]);
}

/* ---- deep chains
 * ---------------------------------------------------------------- */

TEST(deep_chain_of_unwraps_does_not_overflow_the_stack)
{
	long n = 20000;
	weft_promise *root = promise(0);
	weft_task *prev, *last;
	static char v;
	void *out = NULL;

	REQUIRE(root);
	prev = weft_task_ref(weft_promise_task(root));
	/* U_i = unwrap(O_i), O_i's result is U_{i-1}: finishing the root
	 * finishes N proxies, each mirroring the one below */
	for (long i = 0; i < n; i++) {
		weft_promise *o = promise(0);
		weft_task *u = NULL;

		REQUIRE(o);
		REQUIRE(weft_task_unwrap(&u, weft_promise_task(o)) == 0);
		REQUIRE(set_inner(o, prev) == 0);
		weft_promise_unref(o);
		weft_task_unref(prev);
		prev = u;
	}
	last = prev;
	CHECK(!weft_task_is_completed(last));
	CHECK_EQ(weft_promise_set_result(root, &v, NULL), 0);
	CHECK_EQ(weft_task_get_result(last, &out, NULL), 0);
	CHECK_PTR_EQ(out, &v);
	weft_task_unref(last);
	weft_promise_unref(root);
}

TEST(deep_chain_of_unwraps_faulted)
{
	long n = 20000;
	weft_promise *root = promise(0);
	weft_task *prev, *last;
	weft_error *e = weft_error_new(-EIO, "deep");

	REQUIRE(root);
	prev = weft_task_ref(weft_promise_task(root));
	for (long i = 0; i < n; i++) {
		weft_promise *o = promise(0);
		weft_task *u = NULL;

		REQUIRE(o);
		REQUIRE(weft_task_unwrap(&u, weft_promise_task(o)) == 0);
		REQUIRE(set_inner(o, prev) == 0);
		weft_promise_unref(o);
		weft_task_unref(prev);
		prev = u;
	}
	last = prev;
	CHECK_EQ(weft_promise_set_error(root, e), 0);
	check_faulted_with(last, &e, 1);
	weft_task_unref(last);
	weft_promise_unref(root);
	weft_error_unref(e);
}

TEST(deep_chain_of_outers_completing_last)
{
	/* the proxies first, then the outers complete from the top down:
	 * each outer hands over an inner that is still pending */
	long n = 20000;
	weft_promise *root = promise(0);
	weft_promise **o = calloc((size_t)n, sizeof(*o));
	weft_task **u = calloc((size_t)n, sizeof(*u));
	static char v;
	void *out = NULL;

	REQUIRE(root && o && u);
	for (long i = 0; i < n; i++) {
		o[i] = promise(0);
		REQUIRE(o[i]);
		REQUIRE(weft_task_unwrap(&u[i], weft_promise_task(o[i])) == 0);
	}
	for (long i = n - 1; i >= 0; i--)
		REQUIRE(set_inner(o[i],
				  i ? u[i - 1] : weft_promise_task(root)) == 0);
	for (long i = 0; i < n - 1; i++) {
		weft_promise_unref(o[i]);
		weft_task_unref(u[i]);
	}
	weft_promise_unref(o[n - 1]);
	CHECK_EQ(weft_promise_set_result(root, &v, NULL), 0);
	CHECK_EQ(weft_task_get_result(u[n - 1], &out, NULL), 0);
	CHECK_PTR_EQ(out, &v);
	weft_task_unref(u[n - 1]);
	weft_promise_unref(root);
	free(o);
	free(u);
}

/* ---- weft_task_run_unwrap
 * ------------------------------------------------------- */

struct ru_ctx {
	atomic_int ran;
	int mode;
	weft_error *err; /* returned by the outer function (mode 1) */
	weft_task *inner;
	bool denies_children;
	weft_cancel_token tok; /* the inner task's token (mode 3/4) */
	weft_cancel_token oce_tok;
	atomic_int inner_started;
};

static weft_error *inner_waits_for_cancel(weft_task *self, void *arg)
{
	struct ru_ctx *x = arg;
	double end = now_s() + 30;

	(void)self;
	atomic_store(&x->inner_started, 1);
	while (!weft_cancel_requested(x->tok) && now_s() < end)
		sleep_ms(1);
	return weft_error_canceled(x->oce_tok);
}

static weft_error *ru_fn(weft_task *self, void *arg)
{
	struct ru_ctx *x = arg;
	weft_task_options o = opt(0);

	atomic_fetch_add(&x->ran, 1);
	x->denies_children =
		weft_task_creation_options(self) & WEFT_TASK_DENY_CHILD_ATTACH;
	switch (x->mode) {
	case 0: /* a task that already has a result */
		weft_task_set_result(self, weft_task_ref(x->inner), task_dtor);
		return NULL;
	case 1: /* an error of its own */
		return weft_error_ref(x->err);
	case 2: /* no task at all */
		return NULL;
	case 3: /* an inner task that observes its token */
		o.token = x->tok;
		if (weft_task_start_new(&x->inner, inner_waits_for_cancel, x,
					&o) != 0)
			return weft_error_new(-ENOMEM, NULL);
		weft_task_set_result(self, weft_task_ref(x->inner), task_dtor);
		return NULL;
	}
	return NULL;
}

TEST(run_unwrap_with_a_precanceled_token_never_runs_fn)
{
	weft_cancel_source *cts = NULL;
	struct ru_ctx x = {0};
	weft_task *u = NULL;

	REQUIRE(weft_cancel_source_new(&cts) == 0);
	weft_cancel_source_cancel(cts);
	REQUIRE(weft_task_run_unwrap(&u, ru_fn, &x,
				     weft_cancel_source_token(cts)) == 0);
	REQUIRE(u != NULL);
	CHECK_EQ(weft_task_get_status(u), WEFT_STATUS_CANCELED);
	check_canceled_with(u, weft_cancel_source_token(cts));
	sleep_ms(10);
	CHECK_EQ(atomic_load(&x.ran), 0);
	weft_task_unref(u);
	weft_cancel_source_unref(cts);
}

TEST(run_unwrap_mirrors_the_inner_task)
{
	static char v;
	struct ru_ctx x = {0};
	weft_task *u = NULL;
	weft_promise *pi = promise(0);
	void *out = NULL;

	REQUIRE(pi);
	x.mode = 0;
	x.inner = weft_promise_task(pi);
	REQUIRE(weft_task_run_unwrap(&u, ru_fn, &x, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(weft_task_start(u, NULL), -EPERM);
	CHECK_EQ(weft_task_wait(u, 20, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	weft_promise_set_result(pi, &v, NULL);
	CHECK_EQ(weft_task_get_result(u, &out, NULL), 0);
	CHECK_PTR_EQ(out, &v);
	CHECK_EQ(atomic_load(&x.ran), 1);
	CHECK(x.denies_children);
	weft_task_unref(u);
	weft_promise_unref(pi);
}

TEST(run_unwrap_fn_error_faults_the_proxy)
{
	struct ru_ctx x = {0};
	weft_task *u = NULL;

	x.mode = 1;
	x.err = weft_error_new(-EIO, "outer failed");
	REQUIRE(weft_task_run_unwrap(&u, ru_fn, &x, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(wait_inf(u), WEFT_EFAULTED);
	check_faulted_with(u, &x.err, 1);
	weft_task_unref(u);
	weft_error_unref(x.err);
}

TEST(run_unwrap_fn_without_a_task_is_canceled)
{
	struct ru_ctx x = {0};
	weft_task *u = NULL;

	x.mode = 2;
	REQUIRE(weft_task_run_unwrap(&u, ru_fn, &x, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(wait_inf(u), -ECANCELED);
	CHECK_EQ(weft_task_get_status(u), WEFT_STATUS_CANCELED);
	weft_task_unref(u);
}

TEST(run_unwrap_fn_cancellation_error_with_any_token_cancels)
{
	weft_cancel_source *other = NULL, *canceled = NULL;

	REQUIRE(weft_cancel_source_new(&other) == 0);
	REQUIRE(weft_cancel_source_new(&canceled) == 0);
	weft_cancel_source_cancel(canceled);
	weft_cancel_token toks[4] = {WEFT_TOKEN_NONE,
				     weft_cancel_source_token(other),
				     weft_cancel_source_token(canceled),
				     weft_cancel_token_canceled()};
	for (int i = 0; i < 4; i++) {
		struct ru_ctx x = {0};
		weft_task *u = NULL;

		x.mode = 1;
		x.err = weft_error_canceled(toks[i]);
		REQUIRE(weft_task_run_unwrap(&u, ru_fn, &x, WEFT_TOKEN_NONE) ==
			0);
		CHECK_EQ(wait_inf(u), -ECANCELED);
		CHECK_EQ(weft_task_get_status(u), WEFT_STATUS_CANCELED);
		check_canceled_with(u, toks[i]);
		weft_task_unref(u);
		weft_error_unref(x.err);
	}
	weft_cancel_source_unref(other);
	weft_cancel_source_unref(canceled);
}

TEST(run_unwrap_fn_task_canceled_error_cancels)
{
	/* TASK_CANCELED is a kind of OperationCanceled too */
	weft_task *c = NULL, *u = NULL;
	weft_error *agg = NULL;
	struct ru_ctx x = {0};

	REQUIRE(weft_task_from_canceled(&c, weft_cancel_token_canceled()) == 0);
	CHECK_EQ(wait_err(c, &agg), -ECANCELED);
	REQUIRE(agg != NULL);
	x.mode = 1;
	x.err = weft_error_ref(weft_error_inner(agg, 0));
	REQUIRE(x.err != NULL);
	CHECK_EQ(weft_error_get_kind(x.err), WEFT_ERROR_TASK_CANCELED);
	REQUIRE(weft_task_run_unwrap(&u, ru_fn, &x, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(wait_inf(u), -ECANCELED);
	CHECK_EQ(weft_task_get_status(u), WEFT_STATUS_CANCELED);
	weft_task_unref(u);
	weft_error_unref(x.err);
	weft_error_unref(agg);
	weft_task_unref(c);
}

TEST(plain_unwrap_does_not_look_for_cancellation_errors)
{
	/* only run_unwrap's own function gets that treatment */
	weft_error *oce = weft_error_canceled(weft_cancel_token_canceled());
	weft_task *u = NULL;
	weft_promise *po = promise(0);

	REQUIRE(po);
	REQUIRE(weft_task_unwrap(&u, weft_promise_task(po)) == 0);
	weft_promise_set_error(po, oce);
	check_faulted_with(u, &oce, 1);
	weft_task_unref(u);
	weft_promise_unref(po);
	weft_error_unref(oce);
}

TEST(run_unwrap_inner_acknowledging_its_own_token_cancels)
{
	weft_cancel_source *cts = NULL;
	struct ru_ctx x = {0};
	weft_task *u = NULL;

	REQUIRE(weft_cancel_source_new(&cts) == 0);
	x.mode = 3;
	x.tok = weft_cancel_source_token(cts);
	x.oce_tok = x.tok;
	REQUIRE(weft_task_run_unwrap(&u, ru_fn, &x, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(weft_task_wait(u, 20, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	weft_cancel_source_cancel(cts);
	CHECK_EQ(wait_inf(u), -ECANCELED);
	check_canceled_with(u, x.tok);
	if (x.inner) {
		CHECK_EQ(weft_task_get_status(x.inner), WEFT_STATUS_CANCELED);
		weft_task_unref(x.inner);
	}
	weft_task_unref(u);
	weft_cancel_source_unref(cts);
}

TEST(run_unwrap_inner_with_another_token_faults)
{
	weft_cancel_source *cts = NULL, *other = NULL;
	struct ru_ctx x = {0};
	weft_task *u = NULL;
	weft_error *err = NULL;

	REQUIRE(weft_cancel_source_new(&cts) == 0);
	REQUIRE(weft_cancel_source_new(&other) == 0);
	weft_cancel_source_cancel(other);
	x.mode = 3;
	x.tok = weft_cancel_source_token(cts);
	x.oce_tok = weft_cancel_source_token(other);
	REQUIRE(weft_task_run_unwrap(&u, ru_fn, &x, WEFT_TOKEN_NONE) == 0);
	/* cancel once the inner body runs (before, it would just be
	 * Canceled without running) */
	double end = now_s() + 30;
	while (!atomic_load(&x.inner_started) && now_s() < end)
		sleep_ms(1);
	CHECK(atomic_load(&x.inner_started));
	weft_cancel_source_cancel(cts);
	CHECK_EQ(wait_err(u, &err), WEFT_EFAULTED);
	CHECK_EQ(weft_task_get_status(u), WEFT_STATUS_FAULTED);
	if (err) {
		CHECK_EQ(weft_error_inner_count(err), 1);
		weft_error *in = weft_error_inner(err, 0);
		REQUIRE(in != NULL);
		CHECK_EQ(weft_error_get_kind(in), WEFT_ERROR_CANCELED);
		CHECK(weft_cancel_token_equal(weft_error_token(in), x.oce_tok));
	}
	weft_error_unref(err);
	weft_task_unref(x.inner);
	weft_task_unref(u);
	weft_cancel_source_unref(cts);
	weft_cancel_source_unref(other);
}

TEST(run_unwrap_fn_acknowledging_the_run_token_cancels)
{
	weft_cancel_source *run = NULL;
	struct ru_ctx x = {0};
	weft_task *u = NULL;

	REQUIRE(weft_cancel_source_new(&run) == 0);
	x.mode = 1;
	x.err = weft_error_canceled(weft_cancel_source_token(run));
	REQUIRE(weft_task_run_unwrap(&u, ru_fn, &x,
				     weft_cancel_source_token(run)) == 0);
	weft_cancel_source_cancel(run);
	CHECK_EQ(wait_inf(u), -ECANCELED);
	CHECK_EQ(weft_task_get_status(u), WEFT_STATUS_CANCELED);
	check_canceled_with(u, weft_cancel_source_token(run));
	weft_task_unref(u);
	weft_error_unref(x.err);
	weft_cancel_source_unref(run);
}

TEST(run_unwrap_validates_arguments)
{
	weft_task *u = NULL;

	CHECK_EQ(weft_task_run_unwrap(&u, NULL, NULL, WEFT_TOKEN_NONE),
		 -EINVAL);
	CHECK(u == NULL);
	CHECK_EQ(weft_task_run_unwrap(NULL, ru_fn, NULL, WEFT_TOKEN_NONE),
		 -EINVAL);
}

static weft_error *unused_body(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	return NULL;
}

TEST(proxy_of_an_outer_dropped_unstarted_is_released)
{
	/* the proxy does not hold its outer task: when the outer is freed
	 * without ever running, the proxy's hook is released with it (the
	 * leak check of the sanitizer build sees the rest) */
	weft_task *outer, *proxy;
	REQUIRE(weft_task_create(&outer, unused_body, NULL, NULL) == 0);
	REQUIRE(weft_task_unwrap(&proxy, outer) == 0);
	weft_task_unref(outer);
	CHECK_EQ(weft_task_get_status(proxy),
		 WEFT_STATUS_WAITING_FOR_ACTIVATION);
	CHECK(!weft_task_is_completed(proxy));
	weft_task_unref(proxy);

	REQUIRE(weft_task_create(&outer, unused_body, NULL, NULL) == 0);
	REQUIRE(weft_task_unwrap(&proxy, outer) == 0);
	weft_task_unref(proxy);
	weft_task_unref(outer);
}
