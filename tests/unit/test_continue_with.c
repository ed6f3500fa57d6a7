/*
 * test_continue_with.c - continuations of a single antecedent
 * (Task.ContinueWith): activation, the NOT_ON / ONLY_ON conditions,
 * EXECUTE_SYNCHRONOUSLY, RUN_CONTINUATIONS_ASYNCHRONOUSLY, cancellation
 * (eager and lazy), attachment, the other creation options, the order in
 * which a completing task releases waiters and continuations, and errors.
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

/* ---- utilities ---------------------------------------------------------- */

/* Wait until *F is non-zero; false after SECS (a sanity bound only). */
static bool wait_flag(atomic_int *f, double secs)
{
	return wait_until(atomic_load(f), secs);
}

/* Wait until *N == WANT; false after SECS (a sanity bound only). */
static bool wait_count(atomic_int *n, int want, double secs)
{
	return wait_until(atomic_load(n) == want, secs);
}

/* Wait until T's status is S; false after SECS (a sanity bound only). */
static bool wait_status(weft_task *t, weft_task_status s, double secs)
{
	return wait_until(weft_task_get_status(t) == s, secs);
}

/* What a continuation body saw. */
struct rec {
	atomic_int ran;
	pthread_t thread;
	weft_task *self;
	weft_task *ante;
	weft_task_status ante_status;
	void *ante_result;
	weft_scheduler *current;
	long seq; /* value of the global sequence when it ran */
};

static atomic_long seq;

static weft_error *rec_cont(weft_task *self, weft_task *ante, void *arg)
{
	struct rec *r = arg;

	r->self = self;
	r->ante = ante;
	r->ante_status = weft_task_get_status(ante);
	r->ante_result = weft_task_result(ante);
	r->thread = pthread_self();
	r->current = weft_scheduler_current();
	r->seq = atomic_fetch_add(&seq, 1);
	atomic_fetch_add(&r->ran, 1);
	return NULL;
}

static weft_error *count_cont(weft_task *self, weft_task *ante, void *arg)
{
	(void)self;
	(void)ante;
	atomic_fetch_add((atomic_int *)arg, 1);
	return NULL;
}

static weft_error *nop_body(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	return NULL;
}

static atomic_int frees;
static void count_free(void *arg)
{
	(void)arg;
	atomic_fetch_add(&frees, 1);
}

/*
 * A scheduler driven by hand: queue() only records the task (and the value
 * of the global sequence at that moment); the test runs them with
 * manual_run_*.  Lets a test see exactly what was queued and when.
 */
struct manual {
	weft_scheduler *s;
	int refuse; /* queue() fails with this (negative) code when set */
	pthread_mutex_t lock;
	weft_task *q[256];
	long qseq[256];
	size_t head, n;
	atomic_int queued;
};

static int manual_queue(weft_scheduler *s, weft_task *t, void *data)
{
	struct manual *m = data;

	(void)s;
	if (m->refuse)
		return m->refuse;
	pthread_mutex_lock(&m->lock);
	if (m->n == 256) {
		pthread_mutex_unlock(&m->lock);
		return -ENOSPC;
	}
	m->qseq[m->n] = atomic_fetch_add(&seq, 1);
	m->q[m->n++] = t;
	pthread_mutex_unlock(&m->lock);
	atomic_fetch_add(&m->queued, 1);
	return 0;
}

static void manual_init(struct manual *m)
{
	weft_scheduler_ops ops = {0};

	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	ops.size = sizeof(ops);
	ops.queue = manual_queue;
	if (weft_scheduler_new(&m->s, &ops, m) != 0)
		m->s = NULL;
}

/* Run the oldest queued task; false when none is queued. */
static bool manual_run_one(struct manual *m)
{
	weft_task *t = NULL;

	pthread_mutex_lock(&m->lock);
	if (m->head < m->n)
		t = m->q[m->head++];
	pthread_mutex_unlock(&m->lock);
	if (!t)
		return false;
	weft_scheduler_execute(m->s, t);
	return true;
}

static int manual_run_all(struct manual *m)
{
	int k = 0;

	while (manual_run_one(m))
		k++;
	return k;
}

static void manual_fini(struct manual *m)
{
	manual_run_all(m);
	weft_scheduler_unref(m->s);
	pthread_mutex_destroy(&m->lock);
}

/* ---- basics ------------------------------------------------------------- */

static weft_error *result_body(weft_task *self, void *arg)
{
	weft_task_set_result(self, arg, NULL);
	return NULL;
}

static weft_error *result_cont(weft_task *self, weft_task *ante, void *arg)
{
	struct rec *r = arg;

	rec_cont(self, ante, arg);
	weft_task_set_result(self, (char *)r->ante_result + 1, NULL);
	return NULL;
}

TEST(continuation_gets_antecedent_and_its_result)
{
	static char value[4];
	weft_task *a = NULL, *c = NULL;
	struct rec r = {0};
	void *out = NULL;

	REQUIRE(weft_task_start_new(&a, result_body, value, NULL) == 0);
	REQUIRE(weft_task_continue_with(&c, a, result_cont, &r, NULL) == 0);
	CHECK_EQ(weft_task_get_result(c, &out, NULL), 0);
	CHECK_EQ(atomic_load(&r.ran), 1);
	CHECK_PTR_EQ(r.ante, a);
	CHECK_PTR_EQ(r.self, c);
	CHECK_EQ(r.ante_status, WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_PTR_EQ(r.ante_result, value);
	CHECK_PTR_EQ(out, value + 1);
	CHECK_PTR_EQ(weft_task_async_state(c), &r);
	CHECK_EQ(weft_task_get_status(a), WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(c);
	weft_task_unref(a);
}

TEST(continuation_waits_for_activation_and_cannot_be_started)
{
	weft_promise *p = promise(0);
	weft_task *c = NULL;
	atomic_int ran = 0;

	REQUIRE(p);
	REQUIRE(weft_task_continue_with(&c, weft_promise_task(p), count_cont,
					&ran, NULL) == 0);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	CHECK(!weft_task_is_completed(c));
	CHECK_EQ(weft_task_start(c, NULL), -EPERM);
	CHECK_EQ(weft_task_start(c, weft_scheduler_default()), -EPERM);
	CHECK_EQ(weft_task_run_synchronously(c, NULL), -EPERM);
	CHECK_EQ(weft_task_wait(c, 20, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	CHECK_EQ(atomic_load(&ran), 0);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_WAITING_FOR_ACTIVATION);

	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_EQ(atomic_load(&ran), 1);
	/* finished: still not startable, and the body never runs again */
	CHECK(weft_task_start(c, NULL) < 0);
	CHECK(weft_task_run_synchronously(c, NULL) < 0);
	sleep_ms(5);
	CHECK_EQ(atomic_load(&ran), 1);
	weft_task_unref(c);
	weft_promise_unref(p);
}

TEST(many_continuations_on_one_antecedent_each_run_once)
{
	enum {
		N = 200
	};
	static atomic_int ran[N];
	weft_promise *p = promise(0);
	weft_task *c[N];

	REQUIRE(p);
	for (int i = 0; i < N; i++) {
		weft_task_options o =
			opt(i % 3 == 0 ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY : 0);
		atomic_init(&ran[i], 0);
		REQUIRE(weft_task_continue_with(&c[i], weft_promise_task(p),
						count_cont, &ran[i], &o) == 0);
	}
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(wait_inf(c[i]), 0);
		CHECK_EQ(atomic_load(&ran[i]), 1);
		weft_task_unref(c[i]);
	}
	weft_promise_unref(p);
}

TEST(chain_of_continuations_passes_results_along)
{
	enum {
		N = 2000
	};
	weft_promise *p = promise(0);
	weft_task *prev, *last = NULL;
	static struct rec r[N];
	void *out = NULL;
	static char base[N + 1];

	REQUIRE(p);
	prev = weft_task_ref(weft_promise_task(p));
	for (int i = 0; i < N; i++) {
		weft_task_options o =
			opt(i % 2 ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY : 0);
		weft_task *c = NULL;

		memset(&r[i], 0, sizeof(r[i]));
		REQUIRE(weft_task_continue_with(&c, prev, result_cont, &r[i],
						&o) == 0);
		weft_task_unref(prev);
		prev = c;
	}
	last = prev;
	CHECK(!weft_task_is_completed(last));
	CHECK_EQ(weft_promise_set_result(p, base, NULL), 0);
	CHECK_EQ(weft_task_get_result(last, &out, NULL), 0);
	CHECK_PTR_EQ(out, base + N);
	for (int i = 0; i < N; i++)
		CHECK_EQ(atomic_load(&r[i].ran), 1);
	weft_task_unref(last);
	weft_promise_unref(p);
}

TEST(continuation_of_finished_task_runs_at_once)
{
	weft_task *a = NULL, *c = NULL;
	struct rec r = {0};
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

	REQUIRE(weft_task_from_result(&a, (void *)&r, NULL) == 0);
	REQUIRE(weft_task_continue_with(&c, a, rec_cont, &r, &o) == 0);
	/* synchronous: done before continue_with returned, on this thread */
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(atomic_load(&r.ran), 1);
	CHECK(pthread_equal(r.thread, pthread_self()));
	CHECK_PTR_EQ(r.ante_result, &r);
	weft_task_unref(c);

	/* asynchronous: runs without anyone completing anything */
	struct rec r2 = {0};
	REQUIRE(weft_task_continue_with(&c, a, rec_cont, &r2, NULL) == 0);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_EQ(atomic_load(&r2.ran), 1);
	CHECK_PTR_EQ(r2.ante, a);
	weft_task_unref(c);

	/* on the shared completed task too */
	struct rec r3 = {0};
	REQUIRE(weft_task_continue_with(&c, weft_task_completed(), rec_cont,
					&r3, &o) == 0);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_PTR_EQ(r3.ante, weft_task_completed());
	weft_task_unref(c);
	weft_task_unref(a);
}

TEST(continuation_with_null_out_still_runs)
{
	weft_promise *p = promise(0);
	static atomic_int ran;
	weft_task_options o = opt(0);

	REQUIRE(p);
	o.arg_free = count_free;
	atomic_store(&frees, 0);
	CHECK_EQ(weft_task_continue_with(NULL, weft_promise_task(p), count_cont,
					 &ran, &o),
		 0);
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK(wait_flag(&ran, 30));
	CHECK_EQ(atomic_load(&ran), 1);
	/* weft kept it alive until it ran, then let it go */
	CHECK(wait_count(&frees, 1, 30));
	weft_promise_unref(p);
}

/* ---- validation --------------------------------------------------------- */

TEST(continue_with_validates_arguments)
{
	weft_task *a = NULL, *c;
	weft_task_options o = opt(0);
	int sentinel;

	REQUIRE(weft_task_from_result(&a, NULL, NULL) == 0);
	o.arg_free = count_free;
	atomic_store(&frees, 0);

	c = (weft_task *)&sentinel;
	CHECK_EQ(weft_task_continue_with(&c, NULL, count_cont, &sentinel, &o),
		 -EINVAL);
	CHECK_EQ(atomic_load(&frees), 1);
	CHECK_EQ(weft_task_continue_with(&c, a, NULL, &sentinel, &o), -EINVAL);
	CHECK_EQ(atomic_load(&frees), 2);
	CHECK_EQ(weft_task_continue_with(&c, NULL, NULL, &sentinel, NULL),
		 -EINVAL);

	static const unsigned bad[] = {
		0x1000000,
		0x80,
		0x100,
		0x200,
		0x8000,
		0x100000,
		0x80000000u,
		/* all three NOT_ON bits, however spelled */
		WEFT_CONT_NOT_ON_RAN_TO_COMPLETION | WEFT_CONT_NOT_ON_FAULTED |
			WEFT_CONT_NOT_ON_CANCELED,
		WEFT_CONT_ONLY_ON_FAULTED | WEFT_CONT_NOT_ON_FAULTED,
		WEFT_CONT_ONLY_ON_CANCELED |
			WEFT_CONT_ONLY_ON_RAN_TO_COMPLETION,
		WEFT_CONT_EXECUTE_SYNCHRONOUSLY | WEFT_CONT_LONG_RUNNING,
		WEFT_CONT_EXECUTE_SYNCHRONOUSLY | WEFT_CONT_LONG_RUNNING |
			WEFT_CONT_ONLY_ON_FAULTED,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int before = atomic_load(&frees);
		o.flags = bad[i];
		CHECK_EQ(weft_task_continue_with(&c, a, count_cont, &sentinel,
						 &o),
			 -EINVAL);
		CHECK_EQ(atomic_load(&frees), before + 1);
	}

	/* a struct too small for what we know */
	o = opt(0);
	o.size = sizeof(size_t);
	CHECK_EQ(weft_task_continue_with(&c, a, count_cont, &sentinel, &o),
		 -EINVAL);
	weft_task_unref(a);
}

TEST(continue_with_accepts_every_legal_flag)
{
	static const unsigned good[] = {
		0,
		WEFT_CONT_PREFER_FAIRNESS,
		WEFT_CONT_LONG_RUNNING,
		WEFT_CONT_ATTACHED_TO_PARENT,
		WEFT_CONT_DENY_CHILD_ATTACH,
		WEFT_CONT_HIDE_SCHEDULER,
		WEFT_CONT_LAZY_CANCELLATION,
		WEFT_CONT_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
		WEFT_CONT_NOT_ON_RAN_TO_COMPLETION,
		WEFT_CONT_NOT_ON_FAULTED,
		WEFT_CONT_NOT_ON_CANCELED,
		WEFT_CONT_ONLY_ON_RAN_TO_COMPLETION,
		WEFT_CONT_ONLY_ON_FAULTED,
		WEFT_CONT_ONLY_ON_CANCELED,
		WEFT_CONT_EXECUTE_SYNCHRONOUSLY,
		WEFT_CONT_EXECUTE_SYNCHRONOUSLY | WEFT_CONT_ONLY_ON_FAULTED |
			WEFT_CONT_LAZY_CANCELLATION,
		WEFT_CONT_LONG_RUNNING | WEFT_CONT_PREFER_FAIRNESS |
			WEFT_CONT_HIDE_SCHEDULER | WEFT_CONT_DENY_CHILD_ATTACH,
	};
	weft_task *a = NULL;
	atomic_int ran = 0;
	int expect = 0;

	REQUIRE(weft_task_from_result(&a, NULL, NULL) == 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		weft_task_options o = opt(good[i]);
		weft_task *c = NULL;

		CHECK_EQ(weft_task_continue_with(&c, a, count_cont, &ran, &o),
			 0);
		if (!c)
			continue;
		if (!(good[i] & WEFT_CONT_NOT_ON_RAN_TO_COMPLETION))
			expect++;
		wait_inf(c);
		weft_task_unref(c);
	}
	CHECK_EQ(atomic_load(&ran), expect);
	weft_task_unref(a);
}

TEST(creation_options_are_the_creation_part_of_the_flags)
{
	static const unsigned creation_bits[] = {
		WEFT_CONT_PREFER_FAIRNESS,
		WEFT_CONT_LONG_RUNNING,
		WEFT_CONT_ATTACHED_TO_PARENT,
		WEFT_CONT_DENY_CHILD_ATTACH,
		WEFT_CONT_HIDE_SCHEDULER,
		WEFT_CONT_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
	};
	static const unsigned other_bits[] = {
		0,
		WEFT_CONT_LAZY_CANCELLATION,
		WEFT_CONT_NOT_ON_FAULTED,
		WEFT_CONT_ONLY_ON_CANCELED | WEFT_CONT_LAZY_CANCELLATION,
		WEFT_CONT_EXECUTE_SYNCHRONOUSLY,
	};
	weft_promise *p = promise(0);
	weft_task *c[64 * 5];
	size_t nc = 0;

	REQUIRE(p);
	for (unsigned m = 0; m < 64; m++) {
		unsigned cre = 0;
		for (int b = 0; b < 6; b++)
			if (m & (1u << b))
				cre |= creation_bits[b];
		for (size_t k = 0; k < 5; k++) {
			unsigned f = cre | other_bits[k];
			weft_task_options o = opt(f);
			weft_task *t = NULL;
			int rc = weft_task_continue_with(
				&t, weft_promise_task(p), count_cont, &frees,
				&o);

			if ((f & WEFT_CONT_EXECUTE_SYNCHRONOUSLY) &&
			    (f & WEFT_CONT_LONG_RUNNING)) {
				CHECK_EQ(rc, -EINVAL);
				continue;
			}
			CHECK_EQ(rc, 0);
			if (rc)
				continue;
			CHECK_EQ(weft_task_creation_options(t), cre);
			CHECK_EQ(weft_task_get_status(t),
				 WEFT_STATUS_WAITING_FOR_ACTIVATION);
			c[nc++] = t;
		}
	}
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	for (size_t i = 0; i < nc; i++) {
		CHECK(wait_inf(c[i]) != -ETIMEDOUT);
		CHECK(weft_task_is_completed(c[i]));
		weft_task_unref(c[i]);
	}
	weft_promise_unref(p);
}

/* ---- NOT_ON / ONLY_ON: every option against every final state ---------- */

static const unsigned matrix_opts[] = {
	WEFT_CONT_NONE,
	WEFT_CONT_NOT_ON_RAN_TO_COMPLETION,
	WEFT_CONT_NOT_ON_FAULTED,
	WEFT_CONT_NOT_ON_CANCELED,
	WEFT_CONT_ONLY_ON_RAN_TO_COMPLETION,
	WEFT_CONT_ONLY_ON_FAULTED,
	WEFT_CONT_ONLY_ON_CANCELED,
};

/* expected "body runs" for [antecedent RTC, Faulted, Canceled][option] */
static const bool matrix_runs[3][7] = {
	/* NONE  !RTC   !FLT   !CAN   =RTC   =FLT   =CAN */
	{true, false, true, true, true, false, false}, /* RanToCompletion */
	{true, true, false, true, false, true, false}, /* Faulted */
	{true, true, true, false, false, false, true}, /* Canceled */
};

static void complete_promise(weft_promise *p, int state, weft_error *err,
			     weft_cancel_token tok)
{
	if (state == 0)
		weft_promise_set_result(p, NULL, NULL);
	else if (state == 1)
		weft_promise_set_error(p, err);
	else
		weft_promise_set_canceled(p, tok);
}

static void run_matrix(bool pending, unsigned extra)
{
	weft_cancel_source *cts = NULL;
	weft_error *err = weft_error_new(-EIO, "antecedent failed");

	REQUIRE(weft_cancel_source_new(&cts) == 0);
	weft_cancel_source_cancel(cts);
	weft_cancel_token tok = weft_cancel_source_token(cts);

	for (int st = 0; st < 3; st++) {
		weft_promise *p = promise(0);
		weft_task *a = NULL;

		REQUIRE(p);
		if (pending) {
			a = weft_task_ref(weft_promise_task(p));
		} else {
			complete_promise(p, st, err, tok);
			a = weft_task_ref(weft_promise_task(p));
		}
		weft_task *c[7];
		struct rec r[7];
		for (int k = 0; k < 7; k++) {
			weft_task_options o = opt(matrix_opts[k] | extra);

			memset(&r[k], 0, sizeof(r[k]));
			c[k] = NULL;
			CHECK_EQ(weft_task_continue_with(&c[k], a, rec_cont,
							 &r[k], &o),
				 0);
		}
		if (pending)
			complete_promise(p, st, err, tok);
		for (int k = 0; k < 7; k++) {
			if (!c[k])
				continue;
			int rc = wait_inf(c[k]);
			if (matrix_runs[st][k]) {
				CHECK_EQ(rc, 0);
				CHECK_EQ(weft_task_get_status(c[k]),
					 WEFT_STATUS_RAN_TO_COMPLETION);
				CHECK_EQ(atomic_load(&r[k].ran), 1);
				CHECK_PTR_EQ(r[k].ante, a);
			} else {
				CHECK_EQ(rc, -ECANCELED);
				CHECK_EQ(weft_task_get_status(c[k]),
					 WEFT_STATUS_CANCELED);
				CHECK_EQ(atomic_load(&r[k].ran), 0);
			}
			weft_task_unref(c[k]);
		}
		/* the antecedent keeps its own state */
		CHECK_EQ(weft_task_get_status(a),
			 st == 0 ? WEFT_STATUS_RAN_TO_COMPLETION :
			 st == 1 ? WEFT_STATUS_FAULTED :
				   WEFT_STATUS_CANCELED);
		weft_task_unref(a);
		weft_promise_unref(p);
	}
	weft_error_unref(err);
	weft_cancel_source_unref(cts);
}

TEST(not_on_only_on_matrix_pending_antecedent)
{
	run_matrix(true, 0);
}

TEST(not_on_only_on_matrix_finished_antecedent)
{
	run_matrix(false, 0);
}

TEST(not_on_only_on_matrix_synchronous)
{
	run_matrix(true, WEFT_CONT_EXECUTE_SYNCHRONOUSLY);
	run_matrix(false, WEFT_CONT_EXECUTE_SYNCHRONOUSLY);
}

TEST(not_on_only_on_matrix_lazy)
{
	run_matrix(true, WEFT_CONT_LAZY_CANCELLATION);
}

TEST(not_on_only_on_with_real_task_states)
{
	/* antecedents that are tasks with bodies, not promises: one that
	 * runs, one canceled through its creation token before it starts */
	weft_cancel_source *cts = NULL;
	weft_task *a[2] = {NULL, NULL};
	weft_task_options to = opt(0);
	static const int state_of[2] = {0, 2}; /* RTC, Canceled */
	weft_task *c[2][7];
	struct rec r[2][7];

	REQUIRE(weft_cancel_source_new(&cts) == 0);
	to.token = weft_cancel_source_token(cts);
	REQUIRE(weft_task_create(&a[0], nop_body, NULL, NULL) == 0);
	REQUIRE(weft_task_create(&a[1], nop_body, NULL, &to) == 0);
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < 7; k++) {
			weft_task_options o = opt(matrix_opts[k]);

			memset(&r[i][k], 0, sizeof(r[i][k]));
			c[i][k] = NULL;
			CHECK_EQ(weft_task_continue_with(&c[i][k], a[i],
							 rec_cont, &r[i][k],
							 &o),
				 0);
		}
	}
	weft_cancel_source_cancel(cts);
	CHECK_EQ(weft_task_get_status(a[1]), WEFT_STATUS_CANCELED);
	CHECK_EQ(weft_task_start(a[0], NULL), 0);
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < 7; k++) {
			bool runs = matrix_runs[state_of[i]][k];

			if (!c[i][k])
				continue;
			CHECK_EQ(wait_inf(c[i][k]), runs ? 0 : -ECANCELED);
			CHECK_EQ(atomic_load(&r[i][k].ran), runs ? 1 : 0);
			weft_task_unref(c[i][k]);
		}
	}
	weft_task_unref(a[0]);
	weft_task_unref(a[1]);
	weft_cancel_source_unref(cts);
}

static weft_error *fail_body(weft_task *self, void *arg)
{
	(void)self;
	return weft_error_ref(arg);
}

TEST(not_on_only_on_with_faulted_task_body)
{
	weft_error *e = weft_error_new(-EIO, "body failed");
	weft_task *a = NULL;
	weft_task *c[7];
	struct rec r[7];

	REQUIRE(weft_task_create(&a, fail_body, e, NULL) == 0);
	for (int k = 0; k < 7; k++) {
		weft_task_options o = opt(matrix_opts[k]);

		memset(&r[k], 0, sizeof(r[k]));
		CHECK_EQ(weft_task_continue_with(&c[k], a, rec_cont, &r[k], &o),
			 0);
	}
	CHECK_EQ(weft_task_start(a, NULL), 0);
	for (int k = 0; k < 7; k++) {
		CHECK_EQ(wait_inf(c[k]), matrix_runs[1][k] ? 0 : -ECANCELED);
		CHECK_EQ(atomic_load(&r[k].ran), matrix_runs[1][k] ? 1 : 0);
		if (matrix_runs[1][k])
			CHECK_EQ(r[k].ante_status, WEFT_STATUS_FAULTED);
		weft_task_unref(c[k]);
	}
	weft_task_unref(a);
	weft_error_unref(e);
}

TEST(canceled_by_condition_runs_its_own_continuations)
{
	weft_task *a = NULL, *c = NULL, *d = NULL;
	atomic_int ran = 0;
	struct rec r = {0};
	weft_task_options o = opt(WEFT_CONT_ONLY_ON_FAULTED);
	weft_error *err = NULL;

	REQUIRE(weft_task_from_result(&a, NULL, NULL) == 0);
	REQUIRE(weft_task_continue_with(&c, a, count_cont, &ran, &o) == 0);
	REQUIRE(weft_task_continue_with(&d, c, rec_cont, &r, NULL) == 0);
	CHECK_EQ(wait_inf(d), 0);
	CHECK_EQ(atomic_load(&ran), 0);
	CHECK_EQ(atomic_load(&r.ran), 1);
	CHECK_PTR_EQ(r.ante, c);
	CHECK_EQ(r.ante_status, WEFT_STATUS_CANCELED);
	/* a continuation canceled by its condition: TASK_CANCELED naming it */
	CHECK_EQ(wait_err(c, &err), -ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 1);
	weft_error *tc = weft_error_inner(err, 0);
	REQUIRE(tc != NULL);
	CHECK_EQ(weft_error_get_kind(tc), WEFT_ERROR_TASK_CANCELED);
	CHECK_PTR_EQ(weft_error_task(tc), c);
	weft_error_unref(err);
	weft_task_unref(d);
	weft_task_unref(c);
	weft_task_unref(a);
}

/* ---- EXECUTE_SYNCHRONOUSLY --------------------------------------------- */

struct gate_ctx {
	atomic_int go;
	atomic_int started;
	pthread_t thread;
	bool saw;
};

static weft_error *gated_body(weft_task *self, void *arg)
{
	struct gate_ctx *g = arg;

	(void)self;
	g->thread = pthread_self();
	atomic_store(&g->started, 1);
	g->saw = wait_flag(&g->go, 30);
	return NULL;
}

TEST(synchronous_continuation_runs_on_the_completing_thread)
{
	for (int round = 0; round < 20; round++) {
		struct gate_ctx g = {0};
		struct rec r = {0};
		weft_task *a = NULL, *c = NULL;
		weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

		REQUIRE(weft_task_run(&a, gated_body, &g) == 0);
		REQUIRE(weft_task_continue_with(&c, a, rec_cont, &r, &o) == 0);
		atomic_store(&g.go, 1);
		CHECK_EQ(wait_inf(c), 0);
		CHECK(g.saw);
		CHECK_EQ(atomic_load(&r.ran), 1);
		CHECK(pthread_equal(r.thread, g.thread));
		weft_task_unref(c);
		weft_task_unref(a);
	}
}

struct setter_ctx {
	weft_promise *p;
	weft_task *c;
	pthread_t thread;
	bool done_when_set_returned;
	int rc;
};

static void *setter_main(void *arg)
{
	struct setter_ctx *s = arg;

	s->thread = pthread_self();
	s->rc = weft_promise_set_result(s->p, NULL, NULL);
	s->done_when_set_returned = weft_task_is_completed(s->c);
	return NULL;
}

TEST(synchronous_continuation_runs_inside_set_result)
{
	weft_promise *p = promise(0);
	struct rec r = {0};
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);
	struct setter_ctx s = {0};
	pthread_t th;

	REQUIRE(p);
	s.p = p;
	REQUIRE(weft_task_continue_with(&s.c, weft_promise_task(p), rec_cont,
					&r, &o) == 0);
	REQUIRE(pthread_create(&th, NULL, setter_main, &s) == 0);
	pthread_join(th, NULL);
	CHECK_EQ(s.rc, 0);
	CHECK(s.done_when_set_returned);
	CHECK_EQ(atomic_load(&r.ran), 1);
	CHECK(pthread_equal(r.thread, s.thread));
	weft_task_unref(s.c);
	weft_promise_unref(p);
}

TEST(synchronous_continuation_of_finished_task_runs_on_caller)
{
	struct gate_ctx g = {0};
	weft_task *a = NULL, *c = NULL;
	struct rec r = {0};
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

	atomic_store(&g.go, 1);
	REQUIRE(weft_task_run(&a, gated_body, &g) == 0);
	REQUIRE(wait_inf(a) == 0);
	REQUIRE(weft_task_continue_with(&c, a, rec_cont, &r, &o) == 0);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK(pthread_equal(r.thread, pthread_self()));
	weft_task_unref(c);
	weft_task_unref(a);
}

/* ---- RUN_CONTINUATIONS_ASYNCHRONOUSLY ---------------------------------- */

TEST(run_continuations_asynchronously_promise_queues_synchronous_ones)
{
	struct manual m;
	weft_promise *p = promise(WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
	weft_task *c = NULL;
	struct rec r = {0};
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

	REQUIRE(p);
	manual_init(&m);
	REQUIRE(m.s);
	o.scheduler = m.s;
	REQUIRE(weft_task_continue_with(&c, weft_promise_task(p), rec_cont, &r,
					&o) == 0);
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	/* not run inside set_result: queued to its scheduler */
	CHECK_EQ(atomic_load(&r.ran), 0);
	CHECK_EQ(atomic_load(&m.queued), 1);
	CHECK_EQ(manual_run_all(&m), 1);
	CHECK_EQ(atomic_load(&r.ran), 1);
	CHECK_EQ(wait_inf(c), 0);
	weft_task_unref(c);
	weft_promise_unref(p);

	/* control: without the flag the same continuation runs inline */
	p = promise(0);
	REQUIRE(p);
	struct rec r2 = {0};
	REQUIRE(weft_task_continue_with(&c, weft_promise_task(p), rec_cont, &r2,
					&o) == 0);
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK_EQ(atomic_load(&r2.ran), 1);
	CHECK_EQ(atomic_load(&m.queued), 1);
	weft_task_unref(c);
	weft_promise_unref(p);
	manual_fini(&m);
}

TEST(run_continuations_asynchronously_task_queues_synchronous_ones)
{
	struct manual m;
	weft_task *a = NULL, *c = NULL;
	struct rec r = {0};
	weft_task_options ao = opt(WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

	manual_init(&m);
	REQUIRE(m.s);
	o.scheduler = m.s;
	REQUIRE(weft_task_create(&a, nop_body, NULL, &ao) == 0);
	CHECK_EQ(weft_task_creation_options(a),
		 WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
	REQUIRE(weft_task_continue_with(&c, a, rec_cont, &r, &o) == 0);
	CHECK_EQ(weft_task_run_synchronously(a, NULL), 0);
	CHECK_EQ(weft_task_get_status(a), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(atomic_load(&r.ran), 0);
	CHECK_EQ(atomic_load(&m.queued), 1);
	CHECK_EQ(manual_run_all(&m), 1);
	CHECK_EQ(atomic_load(&r.ran), 1);
	weft_task_unref(c);
	weft_task_unref(a);
	manual_fini(&m);
}

TEST(run_continuations_asynchronously_on_a_continuation)
{
	struct manual m;
	weft_promise *p = promise(0);
	weft_task *c1 = NULL, *c2 = NULL;
	struct rec r1 = {0}, r2 = {0};
	weft_task_options o1 = opt(WEFT_CONT_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
	weft_task_options o2 = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

	REQUIRE(p);
	manual_init(&m);
	REQUIRE(m.s);
	o1.scheduler = m.s;
	o2.scheduler = m.s;
	REQUIRE(weft_task_continue_with(&c1, weft_promise_task(p), rec_cont,
					&r1, &o1) == 0);
	REQUIRE(weft_task_continue_with(&c2, c1, rec_cont, &r2, &o2) == 0);
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK_EQ(atomic_load(&m.queued), 1);
	CHECK(manual_run_one(&m));
	CHECK_EQ(atomic_load(&r1.ran), 1);
	CHECK_EQ(weft_task_get_status(c1), WEFT_STATUS_RAN_TO_COMPLETION);
	/* c1 asked for asynchronous continuations: c2 was queued */
	CHECK_EQ(atomic_load(&r2.ran), 0);
	CHECK_EQ(atomic_load(&m.queued), 2);
	CHECK(manual_run_one(&m));
	CHECK_EQ(atomic_load(&r2.ran), 1);
	weft_task_unref(c2);
	weft_task_unref(c1);
	weft_promise_unref(p);
	manual_fini(&m);
}

/* ---- cancellation ------------------------------------------------------ */

static void check_task_canceled_error(weft_task *t, weft_cancel_token tok)
{
	weft_error *err = NULL;

	CHECK_EQ(wait_err(t, &err), -ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	CHECK_EQ(weft_error_inner_count(err), 1);
	weft_error *tc = weft_error_inner(err, 0);
	if (tc) {
		CHECK_EQ(weft_error_get_kind(tc), WEFT_ERROR_TASK_CANCELED);
		CHECK_PTR_EQ(weft_error_task(tc), t);
		CHECK(weft_cancel_token_equal(weft_error_token(tc), tok));
	}
	weft_error_unref(err);
}

TEST(precanceled_token_cancels_synchronously)
{
	weft_cancel_source *cts = NULL;
	weft_task *a = NULL, *c = NULL;
	atomic_int ran = 0;
	weft_task_options o = opt(0);

	REQUIRE(weft_cancel_source_new(&cts) == 0);
	weft_cancel_source_cancel(cts);
	o.token = weft_cancel_source_token(cts);
	o.arg_free = count_free;
	atomic_store(&frees, 0);
	/* the antecedent is never even started */
	REQUIRE(weft_task_create(&a, nop_body, NULL, NULL) == 0);
	REQUIRE(weft_task_continue_with(&c, a, count_cont, &ran, &o) == 0);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_CANCELED);
	CHECK(weft_task_is_canceled(c));
	CHECK(weft_cancel_token_equal(weft_task_token(c), o.token));
	check_task_canceled_error(c, o.token);
	weft_task_unref(c);

	/* synchronous and lazy flavours behave the same with a token that
	 * is canceled up front, except lazy waits for the antecedent */
	o.flags = WEFT_CONT_EXECUTE_SYNCHRONOUSLY;
	REQUIRE(weft_task_continue_with(&c, a, count_cont, &ran, &o) == 0);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_CANCELED);
	weft_task_unref(c);

	o.flags = 0;
	o.token = weft_cancel_token_canceled();
	REQUIRE(weft_task_continue_with(&c, a, count_cont, &ran, &o) == 0);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_CANCELED);
	weft_task_unref(c);

	CHECK_EQ(weft_task_start(a, NULL), 0);
	CHECK_EQ(wait_inf(a), 0);
	sleep_ms(5);
	CHECK_EQ(atomic_load(&ran), 0);
	weft_task_unref(a);
	CHECK(wait_count(&frees, 3, 30));
	weft_cancel_source_unref(cts);
}

TEST(token_canceled_while_waiting_cancels_at_once)
{
	weft_cancel_source *cts = NULL;
	weft_promise *p = promise(0);
	weft_task *c = NULL, *d = NULL;
	atomic_int ran = 0;
	struct rec rd = {0};
	weft_task_options o = opt(0);

	REQUIRE(p);
	REQUIRE(weft_cancel_source_new(&cts) == 0);
	o.token = weft_cancel_source_token(cts);
	REQUIRE(weft_task_continue_with(&c, weft_promise_task(p), count_cont,
					&ran, &o) == 0);
	REQUIRE(weft_task_continue_with(&d, c, rec_cont, &rd, NULL) == 0);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	weft_cancel_source_cancel(cts);
	/* completed inside cancel(), long before the antecedent */
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_CANCELED);
	CHECK(!weft_task_is_completed(weft_promise_task(p)));
	/* its own continuation runs now */
	CHECK_EQ(wait_inf(d), 0);
	CHECK_EQ(rd.ante_status, WEFT_STATUS_CANCELED);
	check_task_canceled_error(c, o.token);

	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	sleep_ms(5);
	CHECK_EQ(atomic_load(&ran), 0);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_CANCELED);
	weft_task_unref(d);
	weft_task_unref(c);
	weft_promise_unref(p);
	weft_cancel_source_unref(cts);
}

TEST(synchronous_continuation_canceled_while_waiting)
{
	weft_cancel_source *cts = NULL;
	weft_promise *p = promise(0);
	weft_task *c = NULL;
	atomic_int ran = 0;
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

	REQUIRE(p);
	REQUIRE(weft_cancel_source_new(&cts) == 0);
	o.token = weft_cancel_source_token(cts);
	REQUIRE(weft_task_continue_with(&c, weft_promise_task(p), count_cont,
					&ran, &o) == 0);
	weft_cancel_source_cancel(cts);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_CANCELED);
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK_EQ(atomic_load(&ran), 0);
	weft_task_unref(c);
	weft_promise_unref(p);
	weft_cancel_source_unref(cts);
}

TEST(lazy_cancellation_waits_for_the_antecedent)
{
	weft_cancel_source *cts = NULL;
	weft_promise *p = promise(0);
	weft_task *c = NULL, *d = NULL;
	atomic_int ran = 0;
	struct rec rd = {0};
	weft_task_options o = opt(WEFT_CONT_LAZY_CANCELLATION);

	REQUIRE(p);
	REQUIRE(weft_cancel_source_new(&cts) == 0);
	o.token = weft_cancel_source_token(cts);
	REQUIRE(weft_task_continue_with(&c, weft_promise_task(p), count_cont,
					&ran, &o) == 0);
	REQUIRE(weft_task_continue_with(&d, c, rec_cont, &rd, NULL) == 0);
	weft_cancel_source_cancel(cts);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	CHECK_EQ(weft_task_wait(c, 30, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	CHECK_EQ(atomic_load(&rd.ran), 0);
	CHECK(!weft_task_is_completed(c));

	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	check_task_canceled_error(c, o.token);
	CHECK_EQ(atomic_load(&ran), 0);
	CHECK_EQ(wait_inf(d), 0);
	CHECK_EQ(rd.ante_status, WEFT_STATUS_CANCELED);
	weft_task_unref(d);
	weft_task_unref(c);
	weft_promise_unref(p);
	weft_cancel_source_unref(cts);
}

TEST(lazy_cancellation_with_precanceled_token)
{
	weft_promise *p = promise(0);
	weft_task *c = NULL;
	atomic_int ran = 0;
	weft_task_options o = opt(WEFT_CONT_LAZY_CANCELLATION);

	REQUIRE(p);
	o.token = weft_cancel_token_canceled();
	REQUIRE(weft_task_continue_with(&c, weft_promise_task(p), count_cont,
					&ran, &o) == 0);
	CHECK(!weft_task_is_completed(c));
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK_EQ(wait_inf(c), -ECANCELED);
	CHECK_EQ(atomic_load(&ran), 0);
	weft_task_unref(c);
	weft_promise_unref(p);
}

TEST(lazy_cancellation_not_canceled_runs)
{
	weft_cancel_source *cts = NULL;
	weft_promise *p = promise(0);
	weft_task *c = NULL;
	atomic_int ran = 0;
	weft_task_options o = opt(WEFT_CONT_LAZY_CANCELLATION);

	REQUIRE(p);
	REQUIRE(weft_cancel_source_new(&cts) == 0);
	o.token = weft_cancel_source_token(cts);
	REQUIRE(weft_task_continue_with(&c, weft_promise_task(p), count_cont,
					&ran, &o) == 0);
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_EQ(atomic_load(&ran), 1);
	/* canceling after completion changes nothing */
	weft_cancel_source_cancel(cts);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(c);
	weft_promise_unref(p);
	weft_cancel_source_unref(cts);
}

struct late_cancel {
	atomic_int started, go;
	int mode; /* 0: return NULL, 1: OCE(own token), 2: OCE(other) */
	weft_cancel_token own, other;
	weft_error *returned;
};

static weft_error *late_cancel_cont(weft_task *self, weft_task *ante, void *arg)
{
	struct late_cancel *l = arg;

	(void)self;
	(void)ante;
	atomic_store(&l->started, 1);
	wait_flag(&l->go, 30);
	if (l->mode == 0)
		return NULL;
	l->returned = weft_error_canceled(l->mode == 1 ? l->own : l->other);
	return weft_error_ref(l->returned);
}

TEST(canceling_after_the_body_started_is_cooperative)
{
	for (int mode = 0; mode < 3; mode++) {
		weft_cancel_source *cts = NULL;
		weft_promise *p = promise(0);
		weft_task *c = NULL;
		struct late_cancel l = {0};
		weft_task_options o = opt(0);
		weft_error *err = NULL;

		REQUIRE(p);
		REQUIRE(weft_cancel_source_new(&cts) == 0);
		l.mode = mode;
		l.own = weft_cancel_source_token(cts);
		l.other = weft_cancel_token_canceled();
		o.token = l.own;
		REQUIRE(weft_task_continue_with(&c, weft_promise_task(p),
						late_cancel_cont, &l, &o) == 0);
		CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
		CHECK(wait_flag(&l.started, 30));
		weft_cancel_source_cancel(cts);
		CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_RUNNING);
		atomic_store(&l.go, 1);
		int rc = wait_err(c, &err);
		if (mode == 0) {
			CHECK_EQ(rc, 0);
			CHECK_EQ(weft_task_get_status(c),
				 WEFT_STATUS_RAN_TO_COMPLETION);
		} else if (mode == 1) {
			CHECK_EQ(rc, -ECANCELED);
			CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_CANCELED);
		} else {
			CHECK_EQ(rc, WEFT_EFAULTED);
			CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_FAULTED);
			if (err)
				CHECK_PTR_EQ(weft_error_inner(err, 0),
					     l.returned);
		}
		weft_error_unref(err);
		weft_error_unref(l.returned);
		weft_task_unref(c);
		weft_promise_unref(p);
		weft_cancel_source_unref(cts);
	}
}

/* ---- attachment and the other creation options ------------------------- */

struct parent_ctx {
	weft_task *ante;
	weft_task *cont;
	weft_error *cont_err; /* returned by the continuation if set */
	atomic_int cont_ran;
	unsigned flags;
	int rc;
};

static weft_error *attach_cont(weft_task *self, weft_task *ante, void *arg)
{
	struct parent_ctx *pc = arg;

	(void)self;
	(void)ante;
	atomic_fetch_add(&pc->cont_ran, 1);
	return pc->cont_err ? weft_error_ref(pc->cont_err) : NULL;
}

static weft_error *attaching_parent(weft_task *self, void *arg)
{
	struct parent_ctx *pc = arg;
	weft_task_options o = opt(pc->flags);

	(void)self;
	pc->rc = weft_task_continue_with(&pc->cont, pc->ante, attach_cont, pc,
					 &o);
	return NULL;
}

TEST(attached_continuation_keeps_its_parent_waiting)
{
	weft_promise *p = promise(0);
	weft_task *parent = NULL;
	struct parent_ctx pc = {0};

	REQUIRE(p);
	pc.ante = weft_promise_task(p);
	pc.flags = WEFT_CONT_ATTACHED_TO_PARENT;
	REQUIRE(weft_task_start_new(&parent, attaching_parent, &pc, NULL) == 0);
	CHECK(wait_status(parent, WEFT_STATUS_WAITING_FOR_CHILDREN, 30));
	CHECK_EQ(weft_task_wait(parent, 30, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK_EQ(wait_inf(parent), 0);
	CHECK_EQ(pc.rc, 0);
	CHECK_EQ(atomic_load(&pc.cont_ran), 1);
	/* the parent is not completed before its child */
	CHECK(weft_task_is_completed(pc.cont));
	CHECK_EQ(weft_task_creation_options(pc.cont),
		 WEFT_TASK_ATTACHED_TO_PARENT);
	weft_task_unref(pc.cont);
	weft_task_unref(parent);
	weft_promise_unref(p);
}

TEST(attached_continuation_error_reaches_the_parent)
{
	weft_promise *p = promise(0);
	weft_task *parent = NULL;
	struct parent_ctx pc = {0};
	weft_error *err = NULL;

	REQUIRE(p);
	pc.ante = weft_promise_task(p);
	pc.flags = WEFT_CONT_ATTACHED_TO_PARENT;
	pc.cont_err = weft_error_new(-EIO, "continuation failed");
	REQUIRE(weft_task_start_new(&parent, attaching_parent, &pc, NULL) == 0);
	CHECK(wait_status(parent, WEFT_STATUS_WAITING_FOR_CHILDREN, 30));
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK_EQ(wait_err(parent, &err), WEFT_EFAULTED);
	REQUIRE(err != NULL);
	/* Aggregate[ Aggregate[childErr] ] */
	CHECK_EQ(weft_error_inner_count(err), 1);
	weft_error *inner = weft_error_inner(err, 0);
	REQUIRE(inner != NULL);
	CHECK_EQ(weft_error_get_kind(inner), WEFT_ERROR_AGGREGATE);
	CHECK_EQ(weft_error_inner_count(inner), 1);
	CHECK_PTR_EQ(weft_error_inner(inner, 0), pc.cont_err);
	/* and the antecedent is untouched */
	CHECK_EQ(weft_task_get_status(pc.ante), WEFT_STATUS_RAN_TO_COMPLETION);
	weft_error_unref(err);
	weft_error_unref(pc.cont_err);
	weft_task_unref(pc.cont);
	weft_task_unref(parent);
	weft_promise_unref(p);
}

TEST(detached_continuation_inside_a_task_does_not_hold_it)
{
	weft_promise *p = promise(0);
	weft_task *parent = NULL;
	struct parent_ctx pc = {0};

	REQUIRE(p);
	pc.ante = weft_promise_task(p);
	pc.flags = 0;
	REQUIRE(weft_task_start_new(&parent, attaching_parent, &pc, NULL) == 0);
	CHECK_EQ(wait_inf(parent), 0);
	CHECK(!weft_task_is_completed(pc.cont));
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK_EQ(wait_inf(pc.cont), 0);
	weft_task_unref(pc.cont);
	weft_task_unref(parent);
	weft_promise_unref(p);
}

TEST(attached_continuation_respects_deny_child_attach_of_parent)
{
	weft_promise *p = promise(0);
	weft_task *parent = NULL;
	struct parent_ctx pc = {0};
	weft_task_options po = opt(WEFT_TASK_DENY_CHILD_ATTACH);

	REQUIRE(p);
	pc.ante = weft_promise_task(p);
	pc.flags = WEFT_CONT_ATTACHED_TO_PARENT;
	REQUIRE(weft_task_start_new(&parent, attaching_parent, &pc, &po) == 0);
	CHECK_EQ(wait_inf(parent), 0);
	CHECK(!weft_task_is_completed(pc.cont));
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK_EQ(wait_inf(pc.cont), 0);
	weft_task_unref(pc.cont);
	weft_task_unref(parent);
	weft_promise_unref(p);
}

/* An attached child of P1; K, ATTACHED_TO_PARENT, is created on the main
 * thread on that child: it attaches to nobody (no task is current), so P1
 * completes while K is still blocked. */
struct child_parent_ctx {
	weft_task *child;
	atomic_int child_ready; /* publishes CHILD */
	atomic_int child_go;
	atomic_int k_go, k_started;
	bool child_saw, k_saw;
};

static weft_error *blocked_child(weft_task *self, void *arg)
{
	struct child_parent_ctx *cp = arg;

	(void)self;
	cp->child_saw = wait_flag(&cp->child_go, 30);
	return NULL;
}

static weft_error *parent_with_child(weft_task *self, void *arg)
{
	struct child_parent_ctx *cp = arg;
	weft_task_options o = opt(WEFT_TASK_ATTACHED_TO_PARENT);

	(void)self;
	weft_task_start_new(&cp->child, blocked_child, cp, &o);
	atomic_store(&cp->child_ready, 1);
	return NULL;
}

static weft_error *k_cont(weft_task *self, weft_task *ante, void *arg)
{
	struct child_parent_ctx *cp = arg;

	(void)self;
	(void)ante;
	atomic_store(&cp->k_started, 1);
	cp->k_saw = wait_flag(&cp->k_go, 30);
	return NULL;
}

TEST(attachment_is_to_the_current_task_not_the_antecedent)
{
	struct child_parent_ctx cp = {0};
	weft_task *parent = NULL, *k = NULL;
	weft_task_options o = opt(WEFT_CONT_ATTACHED_TO_PARENT);

	REQUIRE(weft_task_start_new(&parent, parent_with_child, &cp, NULL) ==
		0);
	CHECK(wait_status(parent, WEFT_STATUS_WAITING_FOR_CHILDREN, 30));
	REQUIRE(wait_flag(&cp.child_ready, 30));
	REQUIRE(cp.child != NULL);
	REQUIRE(weft_task_continue_with(&k, cp.child, k_cont, &cp, &o) == 0);
	atomic_store(&cp.child_go, 1);
	CHECK(wait_flag(&cp.k_started, 30));
	/* K is blocked; the parent does not wait for it */
	CHECK_EQ(weft_task_wait(parent, 30000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK(!weft_task_is_completed(k));
	atomic_store(&cp.k_go, 1);
	CHECK_EQ(wait_inf(k), 0);
	CHECK(cp.child_saw);
	CHECK(cp.k_saw);
	weft_task_unref(k);
	weft_task_unref(cp.child);
	weft_task_unref(parent);
}

/* DENY_CHILD_ATTACH on the continuation: its body's attached children do
 * not attach. */
struct deny_ctx {
	weft_task *child;
	atomic_int go;
	bool saw;
};

static weft_error *deny_child(weft_task *self, void *arg)
{
	struct deny_ctx *d = arg;

	(void)self;
	d->saw = wait_flag(&d->go, 30);
	return NULL;
}

static weft_error *deny_cont(weft_task *self, weft_task *ante, void *arg)
{
	struct deny_ctx *d = arg;
	weft_task_options o = opt(WEFT_TASK_ATTACHED_TO_PARENT);

	(void)self;
	(void)ante;
	weft_task_start_new(&d->child, deny_child, d, &o);
	return NULL;
}

TEST(deny_child_attach_on_a_continuation)
{
	for (int deny = 0; deny < 2; deny++) {
		struct deny_ctx d = {0};
		weft_task *c = NULL;
		weft_task_options o =
			opt(deny ? WEFT_CONT_DENY_CHILD_ATTACH : 0);

		REQUIRE(weft_task_continue_with(&c, weft_task_completed(),
						deny_cont, &d, &o) == 0);
		if (deny) {
			CHECK_EQ(
				weft_task_wait(c, 30000, WEFT_TOKEN_NONE, NULL),
				0);
			REQUIRE(d.child != NULL);
			CHECK(!weft_task_is_completed(d.child));
		} else {
			CHECK(wait_status(c, WEFT_STATUS_WAITING_FOR_CHILDREN,
					  30));
			CHECK_EQ(weft_task_wait(c, 30, WEFT_TOKEN_NONE, NULL),
				 -ETIMEDOUT);
		}
		atomic_store(&d.go, 1);
		CHECK_EQ(wait_inf(c), 0);
		CHECK_EQ(wait_inf(d.child), 0);
		CHECK(d.saw);
		weft_task_unref(d.child);
		weft_task_unref(c);
	}
}

TEST(hide_scheduler_on_a_continuation)
{
	struct manual m;

	manual_init(&m);
	REQUIRE(m.s);
	for (int hide = 0; hide < 2; hide++) {
		weft_task *c = NULL;
		struct rec r = {0};
		weft_task_options o = opt(hide ? WEFT_CONT_HIDE_SCHEDULER : 0);

		o.scheduler = m.s;
		REQUIRE(weft_task_continue_with(&c, weft_task_completed(),
						rec_cont, &r, &o) == 0);
		CHECK_EQ(manual_run_all(&m), 1);
		CHECK_EQ(atomic_load(&r.ran), 1);
		CHECK_PTR_EQ(r.current, hide ? weft_scheduler_default() : m.s);
		weft_task_unref(c);
	}
	manual_fini(&m);
}

/* With no scheduler given, a continuation uses the current one. */
struct inner_sched_ctx {
	weft_task *c;
	struct rec r;
};

static weft_error *make_cont_body(weft_task *self, void *arg)
{
	struct inner_sched_ctx *x = arg;

	(void)self;
	weft_task_continue_with(&x->c, weft_task_completed(), rec_cont, &x->r,
				NULL);
	return NULL;
}

TEST(continuation_defaults_to_the_current_scheduler)
{
	struct manual m;
	struct inner_sched_ctx x = {0};
	weft_task *t = NULL;
	weft_task_options o = opt(0);

	manual_init(&m);
	REQUIRE(m.s);
	o.scheduler = m.s;
	REQUIRE(weft_task_start_new(&t, make_cont_body, &x, &o) == 0);
	CHECK(manual_run_one(&m)); /* the task: queues the continuation */
	REQUIRE(x.c != NULL);
	CHECK_EQ(atomic_load(&m.queued), 2);
	CHECK(manual_run_one(&m));
	CHECK_EQ(atomic_load(&x.r.ran), 1);
	CHECK_PTR_EQ(x.r.current, m.s);
	weft_task_unref(x.c);
	weft_task_unref(t);
	manual_fini(&m);
}

/* LONG_RUNNING: a dedicated thread, so it runs even when every worker of
 * the pool is busy. */
struct lr_ctx {
	atomic_int started, flag;
	bool saw;
};

static weft_error *hog_body(weft_task *self, void *arg)
{
	struct lr_ctx *l = arg;

	(void)self;
	atomic_store(&l->started, 1);
	l->saw = wait_flag(&l->flag, 30);
	return NULL;
}

static weft_error *lr_cont(weft_task *self, weft_task *ante, void *arg)
{
	struct lr_ctx *l = arg;

	(void)self;
	(void)ante;
	atomic_store(&l->flag, 1);
	return NULL;
}

TEST(long_running_continuation_gets_its_own_thread)
{
	weft_scheduler *pool = NULL;
	weft_task *hog = NULL, *c = NULL;
	struct lr_ctx l = {0};
	weft_task_options o = opt(0);

	REQUIRE(weft_pool_new(&pool, 1) == 0);
	o.scheduler = pool;
	REQUIRE(weft_task_start_new(&hog, hog_body, &l, &o) == 0);
	CHECK(wait_flag(&l.started, 30));
	o.flags = WEFT_CONT_LONG_RUNNING;
	REQUIRE(weft_task_continue_with(&c, weft_task_completed(), lr_cont, &l,
					&o) == 0);
	CHECK_EQ(weft_task_creation_options(c), WEFT_TASK_LONG_RUNNING);
	CHECK_EQ(wait_inf(hog), 0);
	CHECK(l.saw); /* the continuation ran while the only worker was busy */
	CHECK_EQ(wait_inf(c), 0);
	weft_task_unref(c);
	weft_task_unref(hog);
	CHECK_EQ(weft_pool_shutdown(pool), 0);
	weft_scheduler_unref(pool);
}

/* PREFER_FAIRNESS: queued to the pool's global FIFO, so continuations
 * queued by a worker run in the order they were queued (without it, a
 * worker's own queue is LIFO). */
struct fair_ctx;
struct fair_slot {
	struct fair_ctx *f;
	int i;
};
struct fair_ctx {
	weft_scheduler *pool;
	unsigned flags;
	weft_task *c[16];
	struct fair_slot slot[16];
	int order[16];
	atomic_int next;
};

static weft_error *fair_cont(weft_task *self, weft_task *ante, void *arg)
{
	struct fair_slot *s = arg;

	(void)self;
	(void)ante;
	s->f->order[atomic_fetch_add(&s->f->next, 1)] = s->i;
	return NULL;
}

static weft_error *fair_queuer(weft_task *self, void *arg)
{
	struct fair_ctx *f = arg;
	weft_task_options o = opt(f->flags);

	(void)self;
	o.scheduler = f->pool;
	for (int i = 0; i < 16; i++) {
		f->slot[i].f = f;
		f->slot[i].i = i;
		weft_task_continue_with(&f->c[i], weft_task_completed(),
					fair_cont, &f->slot[i], &o);
	}
	return NULL;
}

TEST(prefer_fairness_continuations_run_in_fifo_order)
{
	weft_scheduler *pool = NULL;

	REQUIRE(weft_pool_new(&pool, 1) == 0);
	for (int fair = 0; fair < 2; fair++) {
		struct fair_ctx f = {0};
		weft_task *q = NULL;
		weft_task_options o = opt(0);

		f.pool = pool;
		f.flags = fair ? WEFT_CONT_PREFER_FAIRNESS : 0;
		o.scheduler = pool;
		REQUIRE(weft_task_start_new(&q, fair_queuer, &f, &o) == 0);
		CHECK_EQ(wait_inf(q), 0);
		for (int i = 0; i < 16; i++) {
			if (!f.c[i])
				continue;
			CHECK_EQ(wait_inf(f.c[i]), 0);
			CHECK_EQ(weft_task_creation_options(f.c[i]), f.flags);
			weft_task_unref(f.c[i]);
		}
		CHECK_EQ(atomic_load(&f.next), 16);
		for (int i = 0; i < 16; i++)
			CHECK_EQ(f.order[i], fair ? i : 15 - i);
		weft_task_unref(q);
	}
	CHECK_EQ(weft_pool_shutdown(pool), 0);
	weft_scheduler_unref(pool);
}

/* ---- what a completing task does, in order (spec A.8) ------------------ */

TEST(asynchronous_continuations_are_queued_before_synchronous_ones_run)
{
	struct manual m;
	weft_promise *p = promise(0);
	weft_task *c[6];
	struct rec r[6];

	REQUIRE(p);
	manual_init(&m);
	REQUIRE(m.s);
	/* registration order: async, sync, async, sync, async, sync */
	for (int i = 0; i < 6; i++) {
		weft_task_options o =
			opt(i % 2 ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY : 0);

		o.scheduler = m.s;
		memset(&r[i], 0, sizeof(r[i]));
		REQUIRE(weft_task_continue_with(&c[i], weft_promise_task(p),
						rec_cont, &r[i], &o) == 0);
	}
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	/* the three synchronous ones ran inside set_result ... */
	for (int i = 1; i < 6; i += 2)
		CHECK_EQ(atomic_load(&r[i].ran), 1);
	/* ... in registration order ... */
	CHECK(r[1].seq < r[3].seq);
	CHECK(r[3].seq < r[5].seq);
	/* ... after all three asynchronous ones had been queued, in order */
	REQUIRE(atomic_load(&m.queued) == 3);
	for (int k = 0; k < 3; k++) {
		CHECK_PTR_EQ(m.q[k], c[2 * k]);
		CHECK(m.qseq[k] < r[1].seq);
	}
	CHECK(m.qseq[0] < m.qseq[1]);
	CHECK(m.qseq[1] < m.qseq[2]);
	CHECK_EQ(manual_run_all(&m), 3);
	for (int i = 0; i < 6; i++) {
		CHECK_EQ(wait_inf(c[i]), 0);
		CHECK_EQ(atomic_load(&r[i].ran), 1);
		weft_task_unref(c[i]);
	}
	weft_promise_unref(p);
	manual_fini(&m);
}

struct waiter_ctx {
	weft_promise *p;
	atomic_int waiting, returned;
	bool saw_waiter;
	int rc;
};

static void *waiter_main(void *arg)
{
	struct waiter_ctx *w = arg;

	atomic_store(&w->waiting, 1);
	w->rc = wait_inf(weft_promise_task(w->p));
	atomic_store(&w->returned, 1);
	return NULL;
}

static weft_error *wait_for_waiter_cont(weft_task *self, weft_task *ante,
					void *arg)
{
	struct waiter_ctx *w = arg;

	(void)self;
	(void)ante;
	w->saw_waiter = wait_flag(&w->returned, 30);
	return NULL;
}

TEST(waiters_are_released_before_synchronous_continuations_run)
{
	struct waiter_ctx w = {0};
	weft_task *c = NULL;
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);
	pthread_t th;

	w.p = promise(0);
	REQUIRE(w.p);
	REQUIRE(weft_task_continue_with(&c, weft_promise_task(w.p),
					wait_for_waiter_cont, &w, &o) == 0);
	REQUIRE(pthread_create(&th, NULL, waiter_main, &w) == 0);
	CHECK(wait_flag(&w.waiting, 30));
	sleep_ms(50); /* let the waiter block (not required to pass) */
	/* the continuation runs here, inside set_result, and blocks until
	 * the waiter has returned */
	CHECK_EQ(weft_promise_set_result(w.p, NULL, NULL), 0);
	CHECK(w.saw_waiter);
	pthread_join(th, NULL);
	CHECK_EQ(w.rc, 0);
	CHECK_EQ(wait_inf(c), 0);
	weft_task_unref(c);
	weft_promise_unref(w.p);
}

/* ---- errors ------------------------------------------------------------- */

static weft_error *failing_cont(weft_task *self, weft_task *ante, void *arg)
{
	(void)self;
	(void)ante;
	return weft_error_ref(arg);
}

struct observe_rec {
	atomic_int ran;
	weft_task_status status;
	weft_error *first; /* first inner of the antecedent's error */
};

static weft_error *observe_cont(weft_task *self, weft_task *ante, void *arg)
{
	struct observe_rec *o = arg;
	weft_error *agg = weft_task_error(ante);

	(void)self;
	o->status = weft_task_get_status(ante);
	o->first = agg ? weft_error_ref(weft_error_inner(agg, 0)) : NULL;
	weft_error_unref(agg);
	atomic_fetch_add(&o->ran, 1);
	return NULL;
}

TEST(continuation_errors_do_not_flow_back)
{
	weft_error *e = weft_error_new(-EIO, "continuation failed");
	weft_task *a = NULL, *c = NULL, *d = NULL;
	struct observe_rec ob = {0};
	weft_error *err = NULL;

	REQUIRE(weft_task_start_new(&a, nop_body, NULL, NULL) == 0);
	REQUIRE(weft_task_continue_with(&c, a, failing_cont, e, NULL) == 0);
	REQUIRE(weft_task_continue_with(&d, c, observe_cont, &ob, NULL) == 0);
	/* observed by waiting on the continuation */
	CHECK_EQ(wait_err(c, &err), WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 1);
	CHECK_PTR_EQ(weft_error_inner(err, 0), e);
	weft_error_unref(err);
	/* the antecedent did fine and knows nothing of it */
	CHECK_EQ(wait_inf(a), 0);
	CHECK_EQ(weft_task_get_status(a), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK(weft_task_error(a) == NULL);
	/* observed by a further continuation */
	CHECK_EQ(wait_inf(d), 0);
	CHECK_EQ(ob.status, WEFT_STATUS_FAULTED);
	CHECK_PTR_EQ(ob.first, e);
	weft_error_unref(ob.first);
	weft_task_unref(d);
	weft_task_unref(c);
	weft_task_unref(a);
	weft_error_unref(e);
}

TEST(only_on_faulted_continuation_handles_the_error)
{
	weft_error *e = weft_error_new(-EIO, "antecedent failed");
	weft_task *a = NULL, *c = NULL;
	struct observe_rec ob = {0};
	weft_task_options o = opt(WEFT_CONT_ONLY_ON_FAULTED);

	REQUIRE(weft_task_create(&a, fail_body, e, NULL) == 0);
	REQUIRE(weft_task_continue_with(&c, a, observe_cont, &ob, &o) == 0);
	CHECK_EQ(weft_task_start(a, NULL), 0);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_EQ(atomic_load(&ob.ran), 1);
	CHECK_PTR_EQ(ob.first, e);
	weft_error_unref(ob.first);
	weft_task_unref(c);
	weft_task_unref(a);
	weft_error_unref(e);
}

/* ---- antecedents with children ----------------------------------------- */

struct kids_ctx {
	weft_task *child;
	unsigned child_flags;
	atomic_int go, body_done;
	bool child_saw;
	bool child_done_in_cont;
	weft_task_status parent_status_in_cont;
};

static weft_error *kid_body(weft_task *self, void *arg)
{
	struct kids_ctx *k = arg;

	(void)self;
	k->child_saw = wait_flag(&k->go, 30);
	return NULL;
}

static weft_error *kids_parent(weft_task *self, void *arg)
{
	struct kids_ctx *k = arg;
	weft_task_options o = opt(k->child_flags);

	(void)self;
	weft_task_start_new(&k->child, kid_body, k, &o);
	atomic_store(&k->body_done, 1);
	return NULL;
}

static weft_error *kids_cont(weft_task *self, weft_task *ante, void *arg)
{
	struct kids_ctx *k = arg;

	(void)self;
	k->child_done_in_cont = weft_task_is_completed(k->child);
	k->parent_status_in_cont = weft_task_get_status(ante);
	/* releases a detached child; harmless for an attached one */
	atomic_store(&k->go, 1);
	return NULL;
}

TEST(continuation_runs_after_attached_children)
{
	struct kids_ctx k = {0};
	weft_task *parent = NULL, *c = NULL;

	k.child_flags = WEFT_TASK_ATTACHED_TO_PARENT;
	REQUIRE(weft_task_create(&parent, kids_parent, &k, NULL) == 0);
	REQUIRE(weft_task_continue_with(&c, parent, kids_cont, &k, NULL) == 0);
	CHECK_EQ(weft_task_start(parent, NULL), 0);
	CHECK(wait_flag(&k.body_done, 30));
	CHECK(wait_status(parent, WEFT_STATUS_WAITING_FOR_CHILDREN, 30));
	sleep_ms(20);
	CHECK(!weft_task_is_completed(c));
	atomic_store(&k.go, 1);
	CHECK_EQ(wait_inf(c), 0);
	CHECK(k.child_saw);
	CHECK(k.child_done_in_cont);
	CHECK_EQ(k.parent_status_in_cont, WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(k.child);
	weft_task_unref(c);
	weft_task_unref(parent);
}

TEST(continuation_does_not_wait_for_detached_children)
{
	struct kids_ctx k = {0};
	weft_task *parent = NULL, *c = NULL;

	k.child_flags = 0;
	REQUIRE(weft_task_create(&parent, kids_parent, &k, NULL) == 0);
	REQUIRE(weft_task_continue_with(&c, parent, kids_cont, &k, NULL) == 0);
	CHECK_EQ(weft_task_start(parent, NULL), 0);
	/* the child waits for the continuation, which must not wait for it */
	CHECK_EQ(wait_inf(c), 0);
	CHECK(!k.child_done_in_cont);
	CHECK_EQ(wait_inf(k.child), 0);
	CHECK(k.child_saw);
	weft_task_unref(k.child);
	weft_task_unref(c);
	weft_task_unref(parent);
}

TEST(faulted_attached_child_makes_continuation_see_faulted_antecedent)
{
	weft_error *e = weft_error_new(-EIO, "child failed");
	weft_task *parent = NULL, *c = NULL;
	struct observe_rec ob = {0};
	struct parent_ctx pc = {0};

	/* the parent attaches a continuation (a child) that fails */
	pc.ante = weft_task_completed();
	pc.flags = WEFT_CONT_ATTACHED_TO_PARENT;
	pc.cont_err = e;
	REQUIRE(weft_task_create(&parent, attaching_parent, &pc, NULL) == 0);
	REQUIRE(weft_task_continue_with(&c, parent, observe_cont, &ob, NULL) ==
		0);
	CHECK_EQ(weft_task_start(parent, NULL), 0);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_EQ(ob.status, WEFT_STATUS_FAULTED);
	REQUIRE(ob.first != NULL);
	CHECK_EQ(weft_error_get_kind(ob.first), WEFT_ERROR_AGGREGATE);
	CHECK_PTR_EQ(weft_error_inner(ob.first, 0), e);
	weft_error_unref(ob.first);
	weft_task_unref(pc.cont);
	weft_task_unref(c);
	weft_task_unref(parent);
	weft_error_unref(e);
}

/* ---- arguments ---------------------------------------------------------- */

TEST(arg_free_is_called_once_whatever_happens)
{
	weft_promise *p = promise(0);
	weft_cancel_source *cts = NULL;
	weft_task *c[4];
	atomic_int ran = 0;

	REQUIRE(p);
	REQUIRE(weft_cancel_source_new(&cts) == 0);
	atomic_store(&frees, 0);
	for (int i = 0; i < 4; i++) {
		weft_task_options o =
			opt(i == 1 ? WEFT_CONT_ONLY_ON_FAULTED :
			    i == 2 ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY :
				     0);
		if (i == 3)
			o.token = weft_cancel_source_token(cts);
		o.arg_free = count_free;
		REQUIRE(weft_task_continue_with(&c[i], weft_promise_task(p),
						count_cont, &ran, &o) == 0);
	}
	weft_cancel_source_cancel(cts);
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	for (int i = 0; i < 4; i++) {
		wait_inf(c[i]);
		weft_task_unref(c[i]);
	}
	CHECK_EQ(atomic_load(&ran), 2);
	/* a worker may still hold a finished task for a moment */
	CHECK(wait_count(&frees, 4, 30));
	weft_promise_unref(p);
	weft_cancel_source_unref(cts);
}

/* ---- more edges ---------------------------------------------------------- */

TEST(scheduler_refusing_the_continuation_faults_it)
{
	struct manual m;
	weft_promise *p = promise(0);
	weft_task *c1 = NULL, *c2 = NULL;
	atomic_int ran = 0;
	weft_task_options o = opt(0);

	REQUIRE(p);
	manual_init(&m);
	REQUIRE(m.s);
	m.refuse = -EAGAIN;
	o.scheduler = m.s;
	/* pending antecedent: refused at activation */
	REQUIRE(weft_task_continue_with(&c1, weft_promise_task(p), count_cont,
					&ran, &o) == 0);
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	/* finished antecedent: refused inside continue_with, which still
	 * succeeds (the error belongs to the continuation) */
	CHECK_EQ(weft_task_continue_with(&c2, weft_promise_task(p), count_cont,
					 &ran, &o),
		 0);
	weft_task *cs[2] = {c1, c2};
	for (int i = 0; i < 2; i++) {
		weft_error *err = NULL;

		if (!cs[i])
			continue;
		CHECK_EQ(wait_err(cs[i], &err), WEFT_EFAULTED);
		CHECK_EQ(weft_task_get_status(cs[i]), WEFT_STATUS_FAULTED);
		if (err) {
			CHECK_EQ(weft_error_inner_count(err), 1);
			weft_error *se = weft_error_inner(err, 0);
			REQUIRE(se != NULL);
			CHECK_EQ(weft_error_get_kind(se), WEFT_ERROR_SCHEDULER);
			CHECK_EQ(weft_error_code(se), -EAGAIN);
		}
		weft_error_unref(err);
		weft_task_unref(cs[i]);
	}
	CHECK_EQ(atomic_load(&ran), 0);
	CHECK_EQ(weft_task_get_status(weft_promise_task(p)),
		 WEFT_STATUS_RAN_TO_COMPLETION);
	weft_promise_unref(p);
	m.refuse = 0;
	manual_fini(&m);
}

TEST(token_canceled_while_the_continuation_is_queued)
{
	struct manual m;
	weft_cancel_source *cts = NULL;
	weft_promise *p = promise(0);
	weft_task *c = NULL;
	atomic_int ran = 0;
	weft_task_options o = opt(0);

	REQUIRE(p);
	manual_init(&m);
	REQUIRE(m.s);
	REQUIRE(weft_cancel_source_new(&cts) == 0);
	o.scheduler = m.s;
	o.token = weft_cancel_source_token(cts);
	REQUIRE(weft_task_continue_with(&c, weft_promise_task(p), count_cont,
					&ran, &o) == 0);
	CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
	CHECK_EQ(atomic_load(&m.queued), 1);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_WAITING_TO_RUN);
	weft_cancel_source_cancel(cts);
	manual_run_all(&m);
	CHECK_EQ(wait_inf(c), -ECANCELED);
	CHECK_EQ(atomic_load(&ran), 0);
	weft_task_unref(c);
	weft_promise_unref(p);
	weft_cancel_source_unref(cts);
	manual_fini(&m);
}

/* Attached continuations that never run do not keep the parent waiting. */
struct attached_cancel_ctx {
	weft_cancel_source *cts;
	weft_task *c[3];
	atomic_int ran;
};

static weft_error *attach_canceled_children(weft_task *self, void *arg)
{
	struct attached_cancel_ctx *x = arg;
	weft_task_options o = opt(WEFT_CONT_ATTACHED_TO_PARENT);

	(void)self;
	/* canceled up front */
	o.token = weft_cancel_token_canceled();
	weft_task_continue_with(&x->c[0], weft_task_completed(), count_cont,
				&x->ran, &o);
	/* canceled by its condition */
	o.token = WEFT_TOKEN_NONE;
	o.flags |= WEFT_CONT_ONLY_ON_FAULTED;
	weft_task_continue_with(&x->c[1], weft_task_completed(), count_cont,
				&x->ran, &o);
	/* canceled later, while it waits for a task that never finishes
	 * before the cancellation */
	o.flags = WEFT_CONT_ATTACHED_TO_PARENT;
	o.token = weft_cancel_source_token(x->cts);
	weft_task_continue_with(&x->c[2], weft_task_current(), count_cont,
				&x->ran, &o);
	return NULL;
}

TEST(canceled_attached_continuations_release_the_parent)
{
	struct attached_cancel_ctx x = {0};
	weft_task *parent = NULL;

	REQUIRE(weft_cancel_source_new(&x.cts) == 0);
	REQUIRE(weft_task_start_new(&parent, attach_canceled_children, &x,
				    NULL) == 0);
	/* c[2] waits for its own parent: only the cancellation frees both */
	CHECK(wait_status(parent, WEFT_STATUS_WAITING_FOR_CHILDREN, 30));
	CHECK_EQ(weft_task_wait(parent, 20, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	weft_cancel_source_cancel(x.cts);
	/* canceled children contribute nothing: the parent ran fine */
	CHECK_EQ(wait_inf(parent), 0);
	for (int i = 0; i < 3; i++) {
		REQUIRE(x.c[i] != NULL);
		CHECK_EQ(weft_task_get_status(x.c[i]), WEFT_STATUS_CANCELED);
		weft_task_unref(x.c[i]);
	}
	CHECK_EQ(atomic_load(&x.ran), 0);
	weft_task_unref(parent);
	weft_cancel_source_unref(x.cts);
}

/* A parent that waits for its failing attached continuation has seen the
 * error: it is not added to the parent again (spec A.5). */
struct observed_ctx {
	weft_error *e;
	weft_task *c;
	int wait_rc;
};

static weft_error *parent_observes_child(weft_task *self, void *arg)
{
	struct observed_ctx *x = arg;
	weft_task_options o = opt(WEFT_CONT_ATTACHED_TO_PARENT);
	weft_error *err = NULL;

	(void)self;
	if (weft_task_continue_with(&x->c, weft_task_completed(), failing_cont,
				    x->e, &o) != 0)
		return weft_error_new(-ENOMEM, NULL);
	x->wait_rc = wait_err(x->c, &err);
	weft_error_unref(err);
	return NULL;
}

TEST(parent_that_observed_the_continuation_error_is_not_faulted)
{
	struct observed_ctx x = {0};
	weft_task *parent = NULL;

	x.e = weft_error_new(-EIO, "observed");
	REQUIRE(weft_task_start_new(&parent, parent_observes_child, &x, NULL) ==
		0);
	CHECK_EQ(wait_inf(parent), 0);
	CHECK_EQ(x.wait_rc, WEFT_EFAULTED);
	CHECK_EQ(weft_task_get_status(parent), WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(x.c);
	weft_task_unref(parent);
	weft_error_unref(x.e);
}

/* A synchronous continuation whose body adds a synchronous continuation
 * to a finished task runs it inline, nested; beyond a depth limit weft
 * queues instead, so deep nesting cannot overflow the stack. */
struct nest {
	long n;
	atomic_long ran;
	weft_task *last;
	atomic_int done;
};

static weft_error *nest_body(weft_task *self, weft_task *ante, void *arg)
{
	struct nest *x = arg;
	long k = atomic_fetch_add(&x->ran, 1) + 1;
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

	(void)self;
	(void)ante;
	if (k == x->n) {
		atomic_store(&x->done, 1);
		return NULL;
	}
	if (weft_task_continue_with(NULL, weft_task_completed(), nest_body, x,
				    &o) != 0)
		return weft_error_new(-ENOMEM, NULL);
	return NULL;
}

TEST(nested_synchronous_continuations_do_not_overflow)
{
	struct nest x = {0};
	weft_task *c = NULL;
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

	x.n = 100000;
	REQUIRE(weft_task_continue_with(&c, weft_task_completed(), nest_body,
					&x, &o) == 0);
	CHECK(wait_flag(&x.done, 120));
	CHECK_EQ(atomic_load(&x.ran), x.n);
	CHECK_EQ(wait_inf(c), 0);
	weft_task_unref(c);
}

/* ---- tasks released before they could complete ----------------------------
 *
 * A continuation does not keep alive an antecedent that nothing else holds
 * (it takes its reference when the antecedent completes).  A task freed
 * without completing releases the continuations and combinators hooked on
 * it: they can never be activated, so they stay WaitingForActivation for
 * whoever still holds them, and are freed with their last reference.
 */

static weft_error *never_body(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	return weft_error_new(-EPROTO, "a released task's body must not run");
}

static weft_error *never_cont(weft_task *self, weft_task *ante, void *arg)
{
	(void)self;
	(void)ante;
	(void)arg;
	return weft_error_new(-EPROTO, "an orphaned continuation ran");
}

/* A Created task *T with a continuation *C whose arg_free counts frees. */
static bool created_with_continuation(weft_task **t, weft_task **c)
{
	atomic_store(&frees, 0);
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	o.arg_free = count_free;
	if (weft_task_create(t, never_body, NULL, NULL))
		return false;
	return weft_task_continue_with(c, *t, never_cont, NULL, &o) == 0;
}

TEST(created_task_dropped_releases_its_continuation)
{
	weft_task *t, *c;
	REQUIRE(created_with_continuation(&t, &c));
	weft_task_unref(t);
	/* the continuation is still ours and can no longer start */
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	CHECK_EQ(atomic_load(&frees), 0);
	weft_task_unref(c);
	CHECK_EQ(atomic_load(&frees), 1);
}

TEST(created_task_dropped_first_with_its_continuation_dropped)
{
	weft_task *t, *c;
	REQUIRE(created_with_continuation(&t, &c));
	weft_task_unref(c);
	CHECK_EQ(atomic_load(&frees), 0); /* the antecedent's list */
	weft_task_unref(t);
	CHECK_EQ(atomic_load(&frees), 1);
}

TEST(pending_promise_dropped_releases_continuations)
{
	atomic_store(&frees, 0);
	weft_promise *p = promise(0);
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	o.arg_free = count_free;
	for (int i = 0; i < 10; i++)
		REQUIRE(weft_task_continue_with(NULL, weft_promise_task(p),
						never_cont, NULL, &o) == 0);
	weft_promise_unref(p);
	CHECK_EQ(atomic_load(&frees), 10);
}

TEST(long_chain_on_a_dropped_task_is_freed_without_recursion)
{
	/* each link holds the next one in its action list: freeing the
	 * first frees the million others, in a loop */
	atomic_store(&frees, 0);
	int n = (int)(1000000 * weft_test_scale());
	weft_task *t;
	REQUIRE(weft_task_create(&t, never_body, NULL, NULL) == 0);
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	o.arg_free = count_free;
	weft_task *prev = weft_task_ref(t);
	for (int i = 0; i < n; i++) {
		weft_task *c;
		REQUIRE(weft_task_continue_with(&c, prev, never_cont, NULL,
						&o) == 0);
		weft_task_unref(prev);
		prev = c;
	}
	weft_task_unref(prev);
	CHECK_EQ(atomic_load(&frees), 0);
	weft_task_unref(t);
	CHECK_EQ(atomic_load(&frees), n);
}

TEST(token_continuation_of_dropped_task_is_released_by_cancel)
{
	/* with a token the continuation holds its antecedent (its cancel
	 * callback unhooks from it); canceling breaks the pair */
	atomic_store(&frees, 0);
	weft_cancel_source *src;
	REQUIRE(weft_cancel_source_new(&src) == 0);
	weft_task *t, *c;
	REQUIRE(weft_task_create(&t, never_body, NULL, NULL) == 0);
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	o.arg_free = count_free;
	o.token = weft_cancel_source_token(src);
	REQUIRE(weft_task_continue_with(&c, t, never_cont, NULL, &o) == 0);
	weft_task_unref(t);
	weft_task_unref(c);
	CHECK_EQ(atomic_load(&frees), 0);
	weft_cancel_source_cancel(src);
	CHECK_EQ(atomic_load(&frees), 1);
	weft_cancel_source_unref(src);
}
