/*
 * test_promise.c - promises (TaskCompletionSource): creation flags, the
 * task they own, the try_set / set calls, races between setters, and
 * what the completed task reports.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
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

/* ---- creation ------------------------------------------------------------ */

TEST(promise_new_accepts_only_two_flags)
{
	static const unsigned good[] = {
		0,
		WEFT_TASK_ATTACHED_TO_PARENT,
		WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
		WEFT_TASK_ATTACHED_TO_PARENT |
			WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
	};
	static const unsigned bad[] = {
		WEFT_TASK_PREFER_FAIRNESS,
		WEFT_TASK_LONG_RUNNING,
		WEFT_TASK_DENY_CHILD_ATTACH,
		WEFT_TASK_HIDE_SCHEDULER,
		0x20,
		0x80,
		0x100,
		0x10000,
		WEFT_TASK_ATTACHED_TO_PARENT | WEFT_TASK_PREFER_FAIRNESS,
		WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY |
			WEFT_TASK_HIDE_SCHEDULER,
		0x80000000u,
	};
	int state;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		weft_promise *p = NULL;

		CHECK_EQ(weft_promise_new(&p, &state, good[i]), 0);
		REQUIRE(p != NULL);
		weft_task *t = weft_promise_task(p);
		CHECK_EQ(weft_task_creation_options(t), good[i]);
		CHECK_PTR_EQ(weft_task_async_state(t), &state);
		CHECK_EQ(weft_task_get_status(t),
			 WEFT_STATUS_WAITING_FOR_ACTIVATION);
		CHECK(!weft_cancel_can_be_canceled(weft_task_token(t)));
		weft_promise_set_result(p, NULL, NULL);
		weft_promise_unref(p);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		weft_promise *p = (weft_promise *)&state;

		CHECK_EQ(weft_promise_new(&p, NULL, bad[i]), -EINVAL);
	}
	CHECK_EQ(weft_promise_new(NULL, NULL, 0), -EINVAL);

	weft_promise *p = NULL;
	CHECK_EQ(weft_promise_new(&p, NULL, 0), 0);
	REQUIRE(p != NULL);
	CHECK(weft_task_async_state(weft_promise_task(p)) == NULL);
	weft_promise_set_result(p, NULL, NULL);
	weft_promise_unref(p);
}

TEST(promise_task_is_the_same_object_and_cannot_be_started)
{
	weft_promise *p = NULL;

	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	weft_task *t = weft_promise_task(p);
	CHECK_PTR_EQ(weft_promise_task(p), t);
	CHECK_PTR_EQ(weft_promise_task(p), t);
	CHECK_PTR_EQ(weft_promise_ref(p), p);
	weft_promise_unref(p);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	CHECK(!weft_task_is_completed(t));
	CHECK(!weft_task_is_faulted(t));
	CHECK(!weft_task_is_canceled(t));
	CHECK(!weft_task_is_completed_successfully(t));
	CHECK_EQ(weft_task_start(t, NULL), -EPERM);
	CHECK_EQ(weft_task_run_synchronously(t, NULL), -EPERM);
	CHECK_EQ(weft_task_wait(t, 10, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	CHECK(weft_task_result(t) == NULL);
	CHECK(weft_task_error(t) == NULL);
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK_PTR_EQ(weft_promise_task(p), t);
	CHECK(weft_task_start(t, NULL) < 0);
	weft_promise_unref(p);
}

TEST(task_outlives_the_promise)
{
	weft_promise *p = NULL;
	static char value;

	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	weft_task *t = weft_task_ref(weft_promise_task(p));
	atomic_store(&dtors, 0);
	CHECK_EQ(weft_promise_try_set_result(p, &value, count_dtor), 1);
	weft_promise_unref(p);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_PTR_EQ(weft_task_result(t), &value);
	CHECK_EQ(atomic_load(&dtors), 0);
	weft_task_unref(t);
	/* the winner's value is destroyed with the task */
	CHECK_EQ(atomic_load(&dtors), 1);
}

/* ---- the set calls ---------------------------------------------------------
 */

TEST(try_set_result_wins_once)
{
	weft_promise *p = NULL;
	static char v1, v2;
	void *out = NULL;
	weft_error *e = weft_error_new(-EIO, "late");

	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	atomic_store(&dtors, 0);
	CHECK_EQ(weft_promise_try_set_result(p, &v1, count_dtor), 1);
	CHECK_EQ(weft_task_get_status(weft_promise_task(p)),
		 WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK(weft_task_is_completed_successfully(weft_promise_task(p)));
	/* the losers: nothing changes, a loser's value is destroyed now */
	CHECK_EQ(weft_promise_try_set_result(p, &v2, count_dtor), 0);
	CHECK_EQ(atomic_load(&dtors), 1);
	CHECK_EQ(weft_promise_try_set_error(p, e), 0);
	CHECK_EQ(weft_promise_try_set_errors(p, &e, 1), 0);
	CHECK_EQ(weft_promise_try_set_canceled(p, WEFT_TOKEN_NONE), 0);
	CHECK_EQ(weft_task_get_status(weft_promise_task(p)),
		 WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(weft_task_get_result(weft_promise_task(p), &out, NULL), 0);
	CHECK_PTR_EQ(out, &v1);
	CHECK_PTR_EQ(weft_task_result(weft_promise_task(p)), &v1);
	CHECK_EQ(atomic_load(&dtors), 1);
	weft_promise_unref(p);
	CHECK_EQ(atomic_load(&dtors), 2);
	weft_error_unref(e);
}

TEST(try_set_error_wins_once)
{
	weft_promise *p = NULL;
	weft_error *e = weft_error_new(-EIO, "first");
	weft_error *e2 = weft_error_new(-EPIPE, "second");
	weft_error *err = NULL;

	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	weft_task *t = weft_promise_task(p);
	CHECK_EQ(weft_promise_try_set_error(p, e), 1);
	CHECK_EQ(weft_promise_try_set_error(p, e2), 0);
	atomic_store(&dtors, 0);
	CHECK_EQ(weft_promise_try_set_result(p, NULL, count_dtor), 0);
	CHECK_EQ(atomic_load(&dtors), 1);
	CHECK_EQ(weft_promise_try_set_canceled(p, WEFT_TOKEN_NONE), 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
	CHECK(weft_task_is_faulted(t));
	CHECK(!weft_task_is_canceled(t));
	CHECK_EQ(wait_err(t, &err), WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	CHECK_EQ(weft_error_inner_count(err), 1);
	CHECK_PTR_EQ(weft_error_inner(err, 0), e);
	weft_error_unref(err);
	/* weft_task_error gives the same objects */
	err = weft_task_error(t);
	REQUIRE(err != NULL);
	CHECK_PTR_EQ(weft_error_inner(err, 0), e);
	weft_error_unref(err);
	CHECK(weft_task_result(t) == NULL);
	/* the errors were referenced, not stolen: ours are still ours */
	weft_promise_unref(p);
	CHECK_EQ(weft_error_code(e), -EIO);
	weft_error_unref(e);
	weft_error_unref(e2);
}

TEST(try_set_errors_keeps_the_order)
{
	weft_promise *p = NULL;
	weft_error *e[4];
	weft_error *err = NULL;

	for (int i = 0; i < 4; i++)
		e[i] = weft_error_new(-100 - i, "error %d", i);
	/* a duplicate is kept too */
	weft_error *list[5] = {e[2], e[0], e[3], e[1], e[2]};
	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	CHECK_EQ(weft_promise_try_set_errors(p, list, 5), 1);
	CHECK_EQ(weft_promise_try_set_errors(p, e, 4), 0);
	CHECK_EQ(wait_err(weft_promise_task(p), &err), WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 5);
	for (size_t i = 0; i < 5; i++)
		CHECK_PTR_EQ(weft_error_inner(err, i), list[i]);
	weft_error_unref(err);
	weft_promise_unref(p);
	for (int i = 0; i < 4; i++)
		weft_error_unref(e[i]);
}

TEST(try_set_errors_with_a_cancellation_error_still_faults)
{
	weft_promise *p = NULL;
	weft_error *oce = weft_error_canceled(weft_cancel_token_canceled());
	weft_error *err = NULL;

	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	CHECK_EQ(weft_promise_try_set_error(p, oce), 1);
	CHECK_EQ(weft_task_get_status(weft_promise_task(p)),
		 WEFT_STATUS_FAULTED);
	CHECK_EQ(wait_err(weft_promise_task(p), &err), WEFT_EFAULTED);
	if (err)
		CHECK_PTR_EQ(weft_error_inner(err, 0), oce);
	weft_error_unref(err);
	weft_promise_unref(p);
	weft_error_unref(oce);
}

static void check_canceled_with(weft_task *t, weft_cancel_token tok)
{
	weft_error *err = NULL;

	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	CHECK(weft_task_is_canceled(t));
	CHECK(!weft_task_is_faulted(t));
	CHECK(weft_task_error(t) == NULL);
	CHECK_EQ(wait_err(t, &err), -ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	CHECK_EQ(weft_error_inner_count(err), 1);
	weft_error *tc = weft_error_inner(err, 0);
	REQUIRE(tc != NULL);
	CHECK_EQ(weft_error_get_kind(tc), WEFT_ERROR_TASK_CANCELED);
	CHECK(weft_error_is_cancellation(tc));
	CHECK_PTR_EQ(weft_error_task(tc), t);
	CHECK(weft_cancel_token_equal(weft_error_token(tc), tok));
	weft_error_unref(err);
}

TEST(try_set_canceled_wins_once_and_carries_the_token)
{
	weft_cancel_source *cts = NULL;
	weft_promise *p = NULL;

	REQUIRE(weft_cancel_source_new(&cts) == 0);
	weft_cancel_source_cancel(cts);
	weft_cancel_token tok = weft_cancel_source_token(cts);

	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	CHECK_EQ(weft_promise_try_set_canceled(p, tok), 1);
	CHECK_EQ(weft_promise_try_set_canceled(p, WEFT_TOKEN_NONE), 0);
	CHECK_EQ(weft_promise_try_set_result(p, NULL, NULL), 0);
	check_canceled_with(weft_promise_task(p), tok);
	weft_promise_unref(p);

	/* without a token: a TASK_CANCELED with the none token */
	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	CHECK_EQ(weft_promise_try_set_canceled(p, WEFT_TOKEN_NONE), 1);
	check_canceled_with(weft_promise_task(p), WEFT_TOKEN_NONE);
	weft_promise_unref(p);

	/* a token that is not (yet) canceled is carried all the same */
	weft_cancel_source *cts2 = NULL;
	REQUIRE(weft_cancel_source_new(&cts2) == 0);
	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	CHECK_EQ(weft_promise_set_canceled(p, weft_cancel_source_token(cts2)),
		 0);
	check_canceled_with(weft_promise_task(p),
			    weft_cancel_source_token(cts2));
	weft_promise_unref(p);
	weft_cancel_source_unref(cts2);
	weft_cancel_source_unref(cts);
}

TEST(canceled_promise_and_a_canceled_wait_token)
{
	weft_cancel_source *cts = NULL;
	weft_promise *p = NULL;
	weft_error *err = NULL;

	REQUIRE(weft_cancel_source_new(&cts) == 0);
	weft_cancel_source_cancel(cts);
	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	CHECK_EQ(weft_promise_set_canceled(p, weft_cancel_source_token(cts)),
		 0);
	/* waiting with a canceled token on a canceled task: the wait's own
	 * cancellation (OperationCanceled(token)), not an aggregate */
	CHECK_EQ(weft_task_wait(weft_promise_task(p), WEFT_INFINITE,
				weft_cancel_source_token(cts), &err),
		 -ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_CANCELED);
	weft_error_unref(err);
	weft_promise_unref(p);
	weft_cancel_source_unref(cts);
}

TEST(set_calls_report_ealready_after_completion)
{
	for (int first = 0; first < 4; first++) {
		weft_promise *p = NULL;
		weft_error *e = weft_error_new(-EIO, "x");
		static char v;

		REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
		switch (first) {
		case 0:
			CHECK_EQ(weft_promise_set_result(p, &v, NULL), 0);
			break;
		case 1:
			CHECK_EQ(weft_promise_set_error(p, e), 0);
			break;
		case 2:
			CHECK_EQ(weft_promise_set_errors(p, &e, 1), 0);
			break;
		default:
			CHECK_EQ(weft_promise_set_canceled(p, WEFT_TOKEN_NONE),
				 0);
		}
		weft_task_status st =
			weft_task_get_status(weft_promise_task(p));
		CHECK(st == WEFT_STATUS_RAN_TO_COMPLETION ||
		      st == WEFT_STATUS_FAULTED || st == WEFT_STATUS_CANCELED);
		atomic_store(&dtors, 0);
		CHECK_EQ(weft_promise_set_result(p, &v, count_dtor), -EALREADY);
		CHECK_EQ(atomic_load(&dtors), 1);
		CHECK_EQ(weft_promise_set_error(p, e), -EALREADY);
		CHECK_EQ(weft_promise_set_errors(p, &e, 1), -EALREADY);
		CHECK_EQ(weft_promise_set_canceled(p, WEFT_TOKEN_NONE),
			 -EALREADY);
		/* argument errors are checked first */
		weft_error *with_null[2] = {e, NULL};
		CHECK_EQ(weft_promise_set_error(p, NULL), -EINVAL);
		CHECK_EQ(weft_promise_set_errors(p, NULL, 1), -EINVAL);
		CHECK_EQ(weft_promise_set_errors(p, &e, 0), -EINVAL);
		CHECK_EQ(weft_promise_set_errors(p, with_null, 2), -EINVAL);
		CHECK_EQ(weft_promise_try_set_error(p, NULL), -EINVAL);
		CHECK_EQ(weft_promise_try_set_errors(p, NULL, 1), -EINVAL);
		CHECK_EQ(weft_promise_try_set_errors(p, &e, 0), -EINVAL);
		CHECK_EQ(weft_promise_try_set_errors(p, with_null, 2), -EINVAL);
		CHECK_EQ(weft_task_get_status(weft_promise_task(p)), st);
		weft_promise_unref(p);
		weft_error_unref(e);
	}
}

TEST(argument_errors_do_not_complete_the_task)
{
	weft_promise *p = NULL;
	weft_error *e = weft_error_new(-EIO, "x");
	weft_error *with_null[3] = {e, e, NULL};

	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	CHECK_EQ(weft_promise_try_set_error(p, NULL), -EINVAL);
	CHECK_EQ(weft_promise_try_set_errors(p, NULL, 0), -EINVAL);
	CHECK_EQ(weft_promise_try_set_errors(p, NULL, 2), -EINVAL);
	CHECK_EQ(weft_promise_try_set_errors(p, &e, 0), -EINVAL);
	CHECK_EQ(weft_promise_try_set_errors(p, with_null, 3), -EINVAL);
	CHECK_EQ(weft_promise_set_error(p, NULL), -EINVAL);
	CHECK_EQ(weft_promise_set_errors(p, with_null, 3), -EINVAL);
	CHECK_EQ(weft_task_get_status(weft_promise_task(p)),
		 WEFT_STATUS_WAITING_FOR_ACTIVATION);
	/* NULL promise */
	CHECK_EQ(weft_promise_try_set_result(NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(weft_promise_try_set_error(NULL, e), -EINVAL);
	CHECK_EQ(weft_promise_try_set_errors(NULL, &e, 1), -EINVAL);
	CHECK_EQ(weft_promise_try_set_canceled(NULL, WEFT_TOKEN_NONE), -EINVAL);
	CHECK_EQ(weft_promise_set_result(NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(weft_promise_set_error(NULL, e), -EINVAL);
	CHECK_EQ(weft_promise_set_errors(NULL, &e, 1), -EINVAL);
	CHECK_EQ(weft_promise_set_canceled(NULL, WEFT_TOKEN_NONE), -EINVAL);
	/* still completable */
	CHECK_EQ(weft_promise_set_errors(p, with_null, 2), 0);
	CHECK_EQ(weft_task_get_status(weft_promise_task(p)),
		 WEFT_STATUS_FAULTED);
	weft_promise_unref(p);
	weft_error_unref(e);
}

/* ---- waiting and continuations ----------------------------------------------
 */

struct waiter {
	weft_task *t;
	int rc;
	void *result;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	w->rc = weft_task_get_result(w->t, &w->result, NULL);
	return NULL;
}

TEST(waiters_on_other_threads_are_released)
{
	enum {
		N = 8
	};
	weft_promise *p = NULL;
	struct waiter w[N];
	pthread_t th[N];
	static char v;

	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	for (int i = 0; i < N; i++) {
		w[i].t = weft_promise_task(p);
		w[i].rc = -1;
		w[i].result = NULL;
		REQUIRE(pthread_create(&th[i], NULL, waiter_main, &w[i]) == 0);
	}
	struct timespec ts = {0, 20 * 1000000L};
	nanosleep(&ts, NULL);
	CHECK_EQ(weft_promise_set_result(p, &v, NULL), 0);
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(w[i].rc, 0);
		CHECK_PTR_EQ(w[i].result, &v);
	}
	weft_promise_unref(p);
}

struct cont_rec {
	atomic_int ran;
	pthread_t thread;
};

static weft_error *cont_body(weft_task *self, weft_task *ante, void *arg)
{
	struct cont_rec *r = arg;

	(void)self;
	(void)ante;
	r->thread = pthread_self();
	atomic_fetch_add(&r->ran, 1);
	return NULL;
}

TEST(run_continuations_asynchronously_keeps_them_off_the_setter)
{
	for (int rca = 0; rca < 2; rca++) {
		weft_promise *p = NULL;
		weft_task *c = NULL;
		struct cont_rec r = {0};
		weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

		REQUIRE(weft_promise_new(
				&p, NULL,
				rca ? WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY :
				      0) == 0);
		REQUIRE(weft_task_continue_with(&c, weft_promise_task(p),
						cont_body, &r, &o) == 0);
		CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
		CHECK_EQ(wait_inf(c), 0);
		CHECK_EQ(atomic_load(&r.ran), 1);
		if (rca)
			CHECK(!pthread_equal(r.thread, pthread_self()));
		else
			CHECK(pthread_equal(r.thread, pthread_self()));
		weft_task_unref(c);
		weft_promise_unref(p);
	}
}

/* ---- attached promises ------------------------------------------------------
 */

struct parent_ctx {
	weft_promise *p;
	unsigned flags;
	int rc;
	atomic_int ready; /* publishes P and RC */
};

static weft_error *parent_body(weft_task *self, void *arg)
{
	struct parent_ctx *pc = arg;

	(void)self;
	pc->rc = weft_promise_new(&pc->p, NULL, pc->flags);
	atomic_store(&pc->ready, 1);
	return NULL;
}

TEST(attached_promise_keeps_its_parent_waiting)
{
	for (int fail = 0; fail < 2; fail++) {
		struct parent_ctx pc = {0};
		weft_task *parent = NULL;
		weft_error *e = weft_error_new(-EIO, "child promise failed");
		weft_error *err = NULL;

		pc.flags = WEFT_TASK_ATTACHED_TO_PARENT;
		REQUIRE(weft_task_start_new(&parent, parent_body, &pc, NULL) ==
			0);
		CHECK_EQ(weft_task_wait(parent, 50, WEFT_TOKEN_NONE, NULL),
			 -ETIMEDOUT);
		while (!atomic_load(&pc.ready))
			sched_yield();
		REQUIRE(pc.rc == 0);
		CHECK_EQ(weft_task_get_status(parent),
			 WEFT_STATUS_WAITING_FOR_CHILDREN);
		if (fail)
			CHECK_EQ(weft_promise_set_error(pc.p, e), 0);
		else
			CHECK_EQ(weft_promise_set_result(pc.p, NULL, NULL), 0);
		int rc = wait_err(parent, &err);
		if (fail) {
			CHECK_EQ(rc, WEFT_EFAULTED);
			/* Aggregate[ Aggregate[e] ] */
			if (err) {
				weft_error *in = weft_error_inner(err, 0);
				REQUIRE(in != NULL);
				CHECK_EQ(weft_error_get_kind(in),
					 WEFT_ERROR_AGGREGATE);
				CHECK_PTR_EQ(weft_error_inner(in, 0), e);
			}
		} else {
			CHECK_EQ(rc, 0);
		}
		weft_error_unref(err);
		weft_promise_unref(pc.p);
		weft_task_unref(parent);
		weft_error_unref(e);
	}
}

TEST(detached_promise_does_not_hold_its_parent)
{
	struct parent_ctx pc = {0};
	weft_task *parent = NULL;

	REQUIRE(weft_task_start_new(&parent, parent_body, &pc, NULL) == 0);
	CHECK_EQ(wait_inf(parent), 0);
	REQUIRE(pc.rc == 0);
	CHECK(!weft_task_is_completed(weft_promise_task(pc.p)));
	weft_promise_set_result(pc.p, NULL, NULL);
	weft_promise_unref(pc.p);
	weft_task_unref(parent);
}

/* ---- races between setters
 * --------------------------------------------------- */

struct race {
	weft_promise *p;
	atomic_int *go;
	int kind;
	int rc;
	weft_error *err;
	weft_cancel_token tok;
};

static void *racer_main(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(r->go))
		sched_yield();
	switch (r->kind) {
	case 0:
		r->rc = weft_promise_try_set_result(r->p, r, count_dtor);
		break;
	case 1:
		r->rc = weft_promise_try_set_error(r->p, r->err);
		break;
	case 2:
		r->rc = weft_promise_try_set_errors(r->p, &r->err, 1);
		break;
	case 3:
		r->rc = weft_promise_try_set_canceled(r->p, r->tok);
		break;
	default:
		r->rc = weft_promise_set_result(r->p, r, count_dtor) == 0;
	}
	return NULL;
}

TEST(concurrent_setters_exactly_one_wins)
{
	enum {
		T = 5
	};
	long iters = weft_test_scaled(1000);
	weft_error *e = weft_error_new(-EIO, "racer");
	weft_cancel_source *cts = NULL;

	REQUIRE(weft_cancel_source_new(&cts) == 0);
	for (long it = 0; it < iters; it++) {
		weft_promise *p = NULL;
		struct race r[T];
		pthread_t th[T];
		atomic_int go = 0;

		REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
		atomic_store(&dtors, 0);
		for (int i = 0; i < T; i++) {
			r[i] = (struct race){
				.p = p,
				.go = &go,
				.kind = (int)((i + it) % 5),
				.rc = -1,
				.err = e,
				.tok = weft_cancel_source_token(cts)};
			REQUIRE(pthread_create(&th[i], NULL, racer_main,
					       &r[i]) == 0);
		}
		atomic_store(&go, 1);
		int wins = 0, winner = -1, result_setters = 0;
		for (int i = 0; i < T; i++) {
			pthread_join(th[i], NULL);
			if (r[i].rc == 1) {
				wins++;
				winner = i;
			} else {
				CHECK_EQ(r[i].rc, 0);
			}
			if (r[i].kind == 0 || r[i].kind == 4)
				result_setters++;
		}
		CHECK_EQ(wins, 1);
		if (wins != 1) {
			weft_promise_unref(p);
			break;
		}
		weft_task *t = weft_promise_task(p);
		switch (r[winner].kind) {
		case 0:
		case 4:
			CHECK_EQ(weft_task_get_status(t),
				 WEFT_STATUS_RAN_TO_COMPLETION);
			CHECK_PTR_EQ(weft_task_result(t), &r[winner]);
			/* every losing value already destroyed */
			CHECK_EQ(atomic_load(&dtors), result_setters - 1);
			break;
		case 1:
		case 2:
			CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
			CHECK_EQ(atomic_load(&dtors), result_setters);
			break;
		default:
			CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
			CHECK_EQ(atomic_load(&dtors), result_setters);
		}
		weft_error_unref(weft_task_error(t));
		weft_promise_unref(p);
		CHECK_EQ(atomic_load(&dtors), result_setters);
	}
	weft_cancel_source_unref(cts);
	weft_error_unref(e);
}

/* set from inside a continuation or task body: the common producer shape */
static weft_error *producer(weft_task *self, void *arg)
{
	(void)self;
	return weft_promise_set_result(arg, arg, NULL) == 0 ?
		       NULL :
		       weft_error_new(-EALREADY, "lost");
}

TEST(promise_completed_from_a_task)
{
	weft_promise *p = NULL;
	weft_task *t = NULL;
	void *out = NULL;

	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	REQUIRE(weft_task_run(&t, producer, p) == 0);
	CHECK_EQ(weft_task_get_result(weft_promise_task(p), &out, NULL), 0);
	CHECK_PTR_EQ(out, p);
	CHECK_EQ(wait_inf(t), 0);
	weft_task_unref(t);
	weft_promise_unref(p);
}
