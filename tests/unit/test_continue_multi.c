/*
 * test_continue_multi.c - continuations over several antecedents
 * (TaskFactory.ContinueWhenAll / ContinueWhenAny): what the body receives,
 * when it runs, validation, tokens and the options that are legal there.
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

static bool wait_count(atomic_int *n, int want, double secs)
{
	return wait_until(atomic_load(n) == want, secs);
}

#define NMAX 8

/* What a when-all / when-any body saw. */
struct rec {
	atomic_int ran;
	size_t n;
	weft_task *ante[NMAX];
	weft_task_status status[NMAX];
	pthread_t thread;
	weft_task *self;
};

static weft_error *all_body(weft_task *self, weft_task *const *ante, size_t n,
			    void *arg)
{
	struct rec *r = arg;

	r->self = self;
	r->n = n;
	for (size_t i = 0; i < n && i < NMAX; i++) {
		r->ante[i] = ante[i];
		r->status[i] = weft_task_get_status(ante[i]);
	}
	r->thread = pthread_self();
	atomic_fetch_add(&r->ran, 1);
	return NULL;
}

static weft_error *any_body(weft_task *self, weft_task *ante, void *arg)
{
	struct rec *r = arg;

	r->self = self;
	r->n = 1;
	r->ante[0] = ante;
	r->status[0] = weft_task_get_status(ante);
	r->thread = pthread_self();
	atomic_fetch_add(&r->ran, 1);
	return NULL;
}

static atomic_int frees;
static void count_free(void *arg)
{
	(void)arg;
	atomic_fetch_add(&frees, 1);
}

/* ---- continue_when_all -------------------------------------------------- */

TEST(when_all_receives_every_task_in_order)
{
	weft_promise *p[3];
	weft_task *arr[3], *c = NULL;
	struct rec r = {0};

	for (int i = 0; i < 3; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_continue_when_all(&c, arr, 3, all_body, &r, NULL) ==
		0);
	/* the array was copied: what we do with ours changes nothing */
	arr[0] = arr[2];
	arr[1] = NULL;
	arr[2] = (weft_task *)&r;
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	CHECK_EQ(weft_task_start(c, NULL), -EPERM);
	CHECK_EQ(weft_task_run_synchronously(c, NULL), -EPERM);
	/* not before every one of them is done, whatever the order */
	weft_promise_set_result(p[2], NULL, NULL);
	weft_promise_set_result(p[0], NULL, NULL);
	CHECK_EQ(weft_task_wait(c, 30, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	CHECK_EQ(atomic_load(&r.ran), 0);
	weft_promise_set_result(p[1], NULL, NULL);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_EQ(atomic_load(&r.ran), 1);
	CHECK_EQ(r.n, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_PTR_EQ(r.ante[i], weft_promise_task(p[i]));
		CHECK_EQ(r.status[i], WEFT_STATUS_RAN_TO_COMPLETION);
	}
	CHECK_PTR_EQ(r.self, c);
	CHECK_PTR_EQ(weft_task_async_state(c), &r);
	weft_task_unref(c);
	for (int i = 0; i < 3; i++)
		weft_promise_unref(p[i]);
}

TEST(when_all_runs_whatever_the_final_states)
{
	weft_promise *p[3];
	weft_task *arr[3], *c = NULL;
	struct rec r = {0};
	weft_error *e = weft_error_new(-EIO, "one failed");

	for (int i = 0; i < 3; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_continue_when_all(&c, arr, 3, all_body, &r, NULL) ==
		0);
	weft_promise_set_canceled(p[0], WEFT_TOKEN_NONE);
	weft_promise_set_error(p[1], e);
	weft_promise_set_result(p[2], NULL, NULL);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(r.status[0], WEFT_STATUS_CANCELED);
	CHECK_EQ(r.status[1], WEFT_STATUS_FAULTED);
	CHECK_EQ(r.status[2], WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(c);
	for (int i = 0; i < 3; i++)
		weft_promise_unref(p[i]);
	weft_error_unref(e);
}

TEST(when_all_of_finished_tasks_and_duplicates)
{
	weft_task *a = NULL, *c = NULL;
	struct rec r = {0};
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

	REQUIRE(weft_task_from_result(&a, NULL, NULL) == 0);
	weft_task *arr[4] = {a, weft_task_completed(), a, a};
	REQUIRE(weft_task_continue_when_all(&c, arr, 4, all_body, &r, &o) == 0);
	/* all done already, synchronous: ran on this thread, right now */
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(atomic_load(&r.ran), 1);
	CHECK(pthread_equal(r.thread, pthread_self()));
	CHECK_EQ(r.n, 4);
	CHECK_PTR_EQ(r.ante[0], a);
	CHECK_PTR_EQ(r.ante[1], weft_task_completed());
	CHECK_PTR_EQ(r.ante[3], a);
	weft_task_unref(c);
	weft_task_unref(a);
}

TEST(when_all_with_one_task)
{
	weft_promise *p = promise(0);
	weft_task *arr[1], *c = NULL;
	struct rec r = {0};

	REQUIRE(p);
	arr[0] = weft_promise_task(p);
	REQUIRE(weft_task_continue_when_all(&c, arr, 1, all_body, &r, NULL) ==
		0);
	weft_promise_set_result(p, NULL, NULL);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_EQ(r.n, 1);
	CHECK_PTR_EQ(r.ante[0], weft_promise_task(p));
	weft_task_unref(c);
	weft_promise_unref(p);
}

static weft_error *all_nop(weft_task *self, weft_task *const *ante, size_t n,
			   void *arg)
{
	(void)self;
	(void)ante;
	(void)n;
	(void)arg;
	return NULL;
}

static weft_error *any_nop(weft_task *self, weft_task *ante, void *arg)
{
	(void)self;
	(void)ante;
	(void)arg;
	return NULL;
}

static const unsigned multi_bad[] = {
	WEFT_CONT_NOT_ON_RAN_TO_COMPLETION,
	WEFT_CONT_NOT_ON_FAULTED,
	WEFT_CONT_NOT_ON_CANCELED,
	WEFT_CONT_ONLY_ON_RAN_TO_COMPLETION,
	WEFT_CONT_ONLY_ON_FAULTED,
	WEFT_CONT_ONLY_ON_CANCELED,
	WEFT_CONT_NOT_ON_CANCELED | WEFT_CONT_EXECUTE_SYNCHRONOUSLY,
	WEFT_CONT_NOT_ON_FAULTED | WEFT_CONT_LAZY_CANCELLATION,
	WEFT_CONT_EXECUTE_SYNCHRONOUSLY | WEFT_CONT_LONG_RUNNING,
	0x1000000,
	0x80,
	0x100,
	0x100000,
	0x80000000u,
};

static const unsigned multi_good[] = {
	0,
	WEFT_CONT_PREFER_FAIRNESS,
	WEFT_CONT_LONG_RUNNING,
	WEFT_CONT_ATTACHED_TO_PARENT,
	WEFT_CONT_DENY_CHILD_ATTACH,
	WEFT_CONT_HIDE_SCHEDULER,
	WEFT_CONT_LAZY_CANCELLATION,
	WEFT_CONT_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
	WEFT_CONT_EXECUTE_SYNCHRONOUSLY,
	WEFT_CONT_EXECUTE_SYNCHRONOUSLY | WEFT_CONT_LAZY_CANCELLATION |
		WEFT_CONT_DENY_CHILD_ATTACH | WEFT_CONT_HIDE_SCHEDULER,
};

static void check_validation(bool any)
{
	weft_task *a = NULL, *c;
	weft_task_options o = opt(0);
	int before;

	REQUIRE(weft_task_from_result(&a, NULL, NULL) == 0);
	weft_task *arr[2] = {a, a};
	weft_task *with_null[2] = {a, NULL};

	o.arg_free = count_free;
	atomic_store(&frees, 0);
#define CALL(arr_, n_, fnok_)                                                  \
	(any ? weft_task_continue_when_any(&c, (arr_), (n_),                   \
					   (fnok_) ? any_nop : NULL, &frees,   \
					   &o) :                               \
	       weft_task_continue_when_all(&c, (arr_), (n_),                   \
					   (fnok_) ? all_nop : NULL, &frees,   \
					   &o))
	for (size_t i = 0; i < sizeof(multi_bad) / sizeof(multi_bad[0]); i++) {
		before = atomic_load(&frees);
		o.flags = multi_bad[i];
		CHECK_EQ(CALL(arr, 2, true), -EINVAL);
		CHECK_EQ(atomic_load(&frees), before + 1);
	}
	o.flags = 0;
	before = atomic_load(&frees);
	CHECK_EQ(CALL(arr, 0, true), -EINVAL); /* empty */
	CHECK_EQ(CALL(NULL, 2, true), -EINVAL);
	CHECK_EQ(CALL(NULL, 0, true), -EINVAL);
	CHECK_EQ(CALL(with_null, 2, true), -EINVAL);
	CHECK_EQ(CALL(arr, 2, false), -EINVAL);
	CHECK_EQ(atomic_load(&frees), before + 5);
#undef CALL
	/* the legal ones */
	o.arg_free = NULL;
	for (size_t i = 0; i < sizeof(multi_good) / sizeof(multi_good[0]);
	     i++) {
		o.flags = multi_good[i];
		c = NULL;
		int rc = any ? weft_task_continue_when_any(&c, arr, 2, any_nop,
							   NULL, &o) :
			       weft_task_continue_when_all(&c, arr, 2, all_nop,
							   NULL, &o);
		CHECK_EQ(rc, 0);
		if (rc == 0) {
			CHECK_EQ(wait_inf(c), 0);
			weft_task_unref(c);
		}
	}
	weft_task_unref(a);
}

TEST(when_all_validates_arguments)
{
	check_validation(false);
}

TEST(when_any_validates_arguments)
{
	check_validation(true);
}

TEST(creation_options_are_the_creation_part_of_the_flags)
{
	static const struct {
		unsigned flags, creation;
	} cases[] = {
		{WEFT_CONT_LONG_RUNNING, WEFT_TASK_LONG_RUNNING},
		{WEFT_CONT_PREFER_FAIRNESS | WEFT_CONT_LAZY_CANCELLATION,
		 WEFT_TASK_PREFER_FAIRNESS},
		{WEFT_CONT_EXECUTE_SYNCHRONOUSLY | WEFT_CONT_HIDE_SCHEDULER,
		 WEFT_TASK_HIDE_SCHEDULER},
		{WEFT_CONT_DENY_CHILD_ATTACH |
			 WEFT_CONT_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
		 WEFT_TASK_DENY_CHILD_ATTACH |
			 WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY},
		{WEFT_CONT_ATTACHED_TO_PARENT, WEFT_TASK_ATTACHED_TO_PARENT},
	};
	weft_promise *p = promise(0);

	REQUIRE(p);
	weft_task *arr[2] = {weft_promise_task(p), weft_task_completed()};
	weft_task *c[10];
	int k = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		weft_task_options o = opt(cases[i].flags);

		REQUIRE(weft_task_continue_when_all(&c[k], arr, 2, all_nop,
						    NULL, &o) == 0);
		CHECK_EQ(weft_task_creation_options(c[k]), cases[i].creation);
		k++;
		REQUIRE(weft_task_continue_when_any(&c[k], arr, 2, any_nop,
						    NULL, &o) == 0);
		CHECK_EQ(weft_task_creation_options(c[k]), cases[i].creation);
		k++;
	}
	weft_promise_set_result(p, NULL, NULL);
	for (int i = 0; i < k; i++) {
		CHECK_EQ(wait_inf(c[i]), 0);
		weft_task_unref(c[i]);
	}
	weft_promise_unref(p);
}

/* ---- continue_when_any -------------------------------------------------- */

TEST(when_any_receives_the_first_to_finish)
{
	weft_promise *p[3];
	weft_task *arr[3], *c = NULL;
	struct rec r = {0};

	for (int i = 0; i < 3; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_continue_when_any(&c, arr, 3, any_body, &r, NULL) ==
		0);
	arr[1] = NULL; /* ours; theirs is a copy */
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	CHECK_EQ(weft_task_start(c, NULL), -EPERM);
	weft_promise_set_result(p[1], NULL, NULL);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_EQ(atomic_load(&r.ran), 1);
	CHECK_PTR_EQ(r.ante[0], weft_promise_task(p[1]));
	/* the others finishing later change nothing */
	weft_promise_set_result(p[0], NULL, NULL);
	weft_promise_set_result(p[2], NULL, NULL);
	sleep_ms(5);
	CHECK_EQ(atomic_load(&r.ran), 1);
	weft_task_unref(c);
	for (int i = 0; i < 3; i++)
		weft_promise_unref(p[i]);
}

TEST(when_any_receives_a_faulted_or_canceled_winner)
{
	for (int kind = 0; kind < 2; kind++) {
		weft_promise *p[2];
		weft_task *arr[2], *c = NULL;
		struct rec r = {0};
		weft_error *e = weft_error_new(-EIO, "first failed");

		for (int i = 0; i < 2; i++) {
			p[i] = promise(0);
			REQUIRE(p[i]);
			arr[i] = weft_promise_task(p[i]);
		}
		REQUIRE(weft_task_continue_when_any(&c, arr, 2, any_body, &r,
						    NULL) == 0);
		if (kind == 0)
			weft_promise_set_error(p[1], e);
		else
			weft_promise_set_canceled(p[1], WEFT_TOKEN_NONE);
		CHECK_EQ(wait_inf(c), 0);
		CHECK_PTR_EQ(r.ante[0], weft_promise_task(p[1]));
		CHECK_EQ(r.status[0], kind == 0 ? WEFT_STATUS_FAULTED :
						  WEFT_STATUS_CANCELED);
		weft_promise_set_result(p[0], NULL, NULL);
		weft_task_unref(c);
		for (int i = 0; i < 2; i++)
			weft_promise_unref(p[i]);
		weft_error_unref(e);
	}
}

TEST(when_any_picks_the_lowest_index_already_complete)
{
	weft_promise *pending = promise(0);
	weft_task *d1 = NULL, *d2 = NULL, *c = NULL;
	struct rec r = {0};
	weft_error *e = weft_error_new(-EIO, "x");

	REQUIRE(pending);
	REQUIRE(weft_task_from_error(&d1, e) == 0);
	REQUIRE(weft_task_from_result(&d2, NULL, NULL) == 0);
	weft_task *arr[3] = {weft_promise_task(pending), d1, d2};
	REQUIRE(weft_task_continue_when_any(&c, arr, 3, any_body, &r, NULL) ==
		0);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_PTR_EQ(r.ante[0], d1);
	weft_task_unref(c);

	struct rec r2 = {0};
	weft_task *arr2[3] = {d2, d1, weft_promise_task(pending)};
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);
	REQUIRE(weft_task_continue_when_any(&c, arr2, 3, any_body, &r2, &o) ==
		0);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_PTR_EQ(r2.ante[0], d2);
	CHECK(pthread_equal(r2.thread, pthread_self()));
	weft_task_unref(c);

	weft_promise_set_result(pending, NULL, NULL);
	weft_task_unref(d1);
	weft_task_unref(d2);
	weft_promise_unref(pending);
	weft_error_unref(e);
}

/* ---- which thread runs a synchronous one -------------------------------- */

struct setter {
	weft_promise *p;
	pthread_t thread;
};

static void *set_main(void *arg)
{
	struct setter *s = arg;

	s->thread = pthread_self();
	weft_promise_set_result(s->p, NULL, NULL);
	return NULL;
}

TEST(synchronous_when_all_runs_on_the_last_completer)
{
	weft_promise *p[2];
	weft_task *arr[2], *c = NULL;
	struct rec r = {0};
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);
	struct setter s;
	pthread_t th;

	for (int i = 0; i < 2; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_continue_when_all(&c, arr, 2, all_body, &r, &o) == 0);
	weft_promise_set_result(p[0], NULL, NULL);
	CHECK_EQ(atomic_load(&r.ran), 0);
	s.p = p[1];
	REQUIRE(pthread_create(&th, NULL, set_main, &s) == 0);
	pthread_join(th, NULL);
	/* ran inside that thread's set_result */
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK(pthread_equal(r.thread, s.thread));
	weft_task_unref(c);
	for (int i = 0; i < 2; i++)
		weft_promise_unref(p[i]);
}

TEST(synchronous_when_any_runs_on_the_first_completer)
{
	weft_promise *p[2];
	weft_task *arr[2], *c = NULL;
	struct rec r = {0};
	weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);
	struct setter s;
	pthread_t th;

	for (int i = 0; i < 2; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_continue_when_any(&c, arr, 2, any_body, &r, &o) == 0);
	s.p = p[1];
	REQUIRE(pthread_create(&th, NULL, set_main, &s) == 0);
	pthread_join(th, NULL);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK(pthread_equal(r.thread, s.thread));
	CHECK_PTR_EQ(r.ante[0], weft_promise_task(p[1]));
	weft_promise_set_result(p[0], NULL, NULL);
	weft_task_unref(c);
	for (int i = 0; i < 2; i++)
		weft_promise_unref(p[i]);
}

/* An antecedent with RUN_CONTINUATIONS_ASYNCHRONOUSLY: not even a
 * synchronous multi-task continuation runs on the thread completing it
 * (spec A.9). */
TEST(run_continuations_asynchronously_antecedent_of_multi_continuations)
{
	for (int any = 0; any < 2; any++) {
		weft_promise *p =
			promise(WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
		weft_task *c = NULL;
		struct rec r = {0};
		weft_task_options o = opt(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

		REQUIRE(p);
		weft_task *arr[2] = {weft_promise_task(p),
				     weft_promise_task(p)};
		if (any)
			REQUIRE(weft_task_continue_when_any(
					&c, arr, 2, any_body, &r, &o) == 0);
		else
			REQUIRE(weft_task_continue_when_all(
					&c, arr, 2, all_body, &r, &o) == 0);
		CHECK_EQ(weft_promise_set_result(p, NULL, NULL), 0);
		CHECK_EQ(wait_inf(c), 0);
		CHECK_EQ(atomic_load(&r.ran), 1);
		CHECK(!pthread_equal(r.thread, pthread_self()));
		weft_task_unref(c);
		weft_promise_unref(p);
	}
}

/* ---- tokens ------------------------------------------------------------- */

static void check_task_canceled(weft_task *t, weft_cancel_token tok)
{
	weft_error *err = NULL;

	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 -ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 1);
	weft_error *tc = weft_error_inner(err, 0);
	if (tc) {
		CHECK_EQ(weft_error_get_kind(tc), WEFT_ERROR_TASK_CANCELED);
		CHECK_PTR_EQ(weft_error_task(tc), t);
		CHECK(weft_cancel_token_equal(weft_error_token(tc), tok));
	}
	weft_error_unref(err);
}

static int make_multi(bool any, weft_task **c, weft_task **arr, size_t n,
		      struct rec *r, const weft_task_options *o)
{
	return any ? weft_task_continue_when_any(c, arr, n, any_body, r, o) :
		     weft_task_continue_when_all(c, arr, n, all_body, r, o);
}

TEST(precanceled_token_cancels_at_once)
{
	for (int any = 0; any < 2; any++) {
		weft_cancel_source *cts = NULL;
		weft_task *a = NULL, *b = NULL, *c = NULL;
		struct rec r = {0};
		weft_task_options o = opt(0);

		REQUIRE(weft_cancel_source_new(&cts) == 0);
		weft_cancel_source_cancel(cts);
		o.token = weft_cancel_source_token(cts);
		weft_promise *pa = promise(0), *pb = promise(0);
		REQUIRE(pa && pb);
		a = weft_promise_task(pa);
		b = weft_promise_task(pb);
		weft_task *arr[2] = {a, b};
		REQUIRE(make_multi(any, &c, arr, 2, &r, &o) == 0);
		CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_CANCELED);
		check_task_canceled(c, o.token);
		weft_task_unref(c);
		weft_promise_set_result(pa, NULL, NULL);
		weft_promise_set_result(pb, NULL, NULL);
		CHECK_EQ(atomic_load(&r.ran), 0);
		weft_promise_unref(pa);
		weft_promise_unref(pb);
		weft_cancel_source_unref(cts);
	}
}

TEST(token_canceled_while_waiting_cancels_at_once)
{
	for (int any = 0; any < 2; any++) {
		weft_cancel_source *cts = NULL;
		weft_promise *p[2];
		weft_task *c = NULL;
		struct rec r = {0};
		weft_task_options o = opt(0);

		REQUIRE(weft_cancel_source_new(&cts) == 0);
		o.token = weft_cancel_source_token(cts);
		for (int i = 0; i < 2; i++) {
			p[i] = promise(0);
			REQUIRE(p[i]);
		}
		weft_task *arr[2] = {weft_promise_task(p[0]),
				     weft_promise_task(p[1])};
		REQUIRE(make_multi(any, &c, arr, 2, &r, &o) == 0);
		if (!any) {
			/* one done, one not: still waiting */
			weft_promise_set_result(p[0], NULL, NULL);
		}
		CHECK(!weft_task_is_completed(c));
		weft_cancel_source_cancel(cts);
		CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_CANCELED);
		check_task_canceled(c, o.token);
		for (int i = 0; i < 2; i++)
			weft_promise_try_set_result(p[i], NULL, NULL);
		sleep_ms(5);
		CHECK_EQ(atomic_load(&r.ran), 0);
		CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_CANCELED);
		weft_task_unref(c);
		for (int i = 0; i < 2; i++)
			weft_promise_unref(p[i]);
		weft_cancel_source_unref(cts);
	}
}

TEST(lazy_cancellation_waits_for_the_antecedents)
{
	for (int any = 0; any < 2; any++) {
		weft_cancel_source *cts = NULL;
		weft_promise *p[2];
		weft_task *c = NULL;
		struct rec r = {0};
		weft_task_options o = opt(WEFT_CONT_LAZY_CANCELLATION);

		REQUIRE(weft_cancel_source_new(&cts) == 0);
		o.token = weft_cancel_source_token(cts);
		for (int i = 0; i < 2; i++) {
			p[i] = promise(0);
			REQUIRE(p[i]);
		}
		weft_task *arr[2] = {weft_promise_task(p[0]),
				     weft_promise_task(p[1])};
		REQUIRE(make_multi(any, &c, arr, 2, &r, &o) == 0);
		weft_cancel_source_cancel(cts);
		CHECK_EQ(weft_task_wait(c, 20, WEFT_TOKEN_NONE, NULL),
			 -ETIMEDOUT);
		weft_promise_set_result(p[0], NULL, NULL);
		if (!any) {
			/* when_all: still one to go */
			CHECK_EQ(weft_task_wait(c, 20, WEFT_TOKEN_NONE, NULL),
				 -ETIMEDOUT);
			weft_promise_set_result(p[1], NULL, NULL);
		}
		check_task_canceled(c, o.token);
		CHECK_EQ(atomic_load(&r.ran), 0);
		weft_promise_try_set_result(p[1], NULL, NULL);
		weft_task_unref(c);
		for (int i = 0; i < 2; i++)
			weft_promise_unref(p[i]);
		weft_cancel_source_unref(cts);
	}
}

TEST(token_not_canceled_runs_normally)
{
	for (int any = 0; any < 2; any++) {
		weft_cancel_source *cts = NULL;
		weft_promise *p = promise(0);
		weft_task *c = NULL;
		struct rec r = {0};
		weft_task_options o = opt(0);

		REQUIRE(p);
		REQUIRE(weft_cancel_source_new(&cts) == 0);
		o.token = weft_cancel_source_token(cts);
		weft_task *arr[2] = {weft_promise_task(p),
				     weft_task_completed()};
		REQUIRE(make_multi(any, &c, arr, 2, &r, &o) == 0);
		weft_promise_set_result(p, NULL, NULL);
		CHECK_EQ(wait_inf(c), 0);
		CHECK_EQ(atomic_load(&r.ran), 1);
		weft_cancel_source_cancel(cts);
		CHECK_EQ(weft_task_get_status(c),
			 WEFT_STATUS_RAN_TO_COMPLETION);
		weft_task_unref(c);
		weft_promise_unref(p);
		weft_cancel_source_unref(cts);
	}
}

/* ---- references ---------------------------------------------------------- */

/* The continuation holds its antecedents: the caller may drop its own
 * references right after the call, also to tasks that never finish. */
TEST(caller_may_drop_antecedents_after_the_call)
{
	for (int sync = 0; sync < 2; sync++) {
		for (int any = 0; any < 2; any++) {
			weft_promise *p[3];
			weft_task *arr[3], *c = NULL;
			struct rec r = {0};
			weft_task_options o =
				opt(sync ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY : 0);

			for (int i = 0; i < 3; i++) {
				p[i] = promise(0);
				REQUIRE(p[i]);
				arr[i] = weft_promise_task(p[i]);
			}
			REQUIRE(make_multi(any, &c, arr, 3, &r, &o) == 0);
			weft_promise *keep0 = p[0];
			if (any) {
				/* the losers will never complete */
				weft_promise_unref(p[1]);
				weft_promise_unref(p[2]);
				p[1] = p[2] = NULL;
			} else {
				weft_promise_set_result(p[1], NULL, NULL);
				weft_promise_set_result(p[2], NULL, NULL);
				weft_promise_unref(p[1]);
				weft_promise_unref(p[2]);
			}
			weft_promise_set_result(keep0, NULL, NULL);
			CHECK_EQ(wait_inf(c), 0);
			CHECK_EQ(atomic_load(&r.ran), 1);
			CHECK_PTR_EQ(r.ante[0], weft_promise_task(keep0));
			weft_task_unref(c);
			weft_promise_unref(keep0);
		}
	}
}

TEST(arg_free_called_once)
{
	weft_promise *p = promise(0);
	weft_cancel_source *cts = NULL;
	weft_task *c[4];

	REQUIRE(p);
	REQUIRE(weft_cancel_source_new(&cts) == 0);
	atomic_store(&frees, 0);
	weft_task *arr[2] = {weft_promise_task(p), weft_task_completed()};
	for (int i = 0; i < 4; i++) {
		weft_task_options o = opt(0);

		o.arg_free = count_free;
		if (i >= 2)
			o.token = weft_cancel_source_token(cts);
		REQUIRE((i % 2 ? weft_task_continue_when_any(
					 &c[i], arr, 2, any_nop, NULL, &o) :
				 weft_task_continue_when_all(&c[i], arr, 2,
							     all_nop, NULL,
							     &o)) == 0);
	}
	weft_cancel_source_cancel(cts);
	weft_promise_set_result(p, NULL, NULL);
	for (int i = 0; i < 4; i++) {
		wait_inf(c[i]);
		weft_task_unref(c[i]);
	}
	CHECK(wait_count(&frees, 4, 30));
	weft_promise_unref(p);
	weft_cancel_source_unref(cts);
}

/* ---- attachment ---------------------------------------------------------- */

struct parent_ctx {
	weft_task *ante[2];
	weft_task *cont;
	int rc;
};

static weft_error *parent_body(weft_task *self, void *arg)
{
	struct parent_ctx *pc = arg;
	weft_task_options o = opt(WEFT_CONT_ATTACHED_TO_PARENT);

	(void)self;
	pc->rc = weft_task_continue_when_all(&pc->cont, pc->ante, 2, all_nop,
					     NULL, &o);
	return NULL;
}

TEST(attached_when_all_keeps_its_parent_waiting)
{
	weft_promise *p = promise(0);
	weft_task *parent = NULL;
	struct parent_ctx pc = {0};

	REQUIRE(p);
	pc.ante[0] = weft_promise_task(p);
	pc.ante[1] = weft_task_completed();
	REQUIRE(weft_task_start_new(&parent, parent_body, &pc, NULL) == 0);
	CHECK_EQ(weft_task_wait(parent, 50, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	weft_promise_set_result(p, NULL, NULL);
	CHECK_EQ(wait_inf(parent), 0);
	CHECK_EQ(pc.rc, 0);
	CHECK(weft_task_is_completed(pc.cont));
	weft_task_unref(pc.cont);
	weft_task_unref(parent);
	weft_promise_unref(p);
}

/* ---- errors ---------------------------------------------------------------
 */

static weft_error *all_fail(weft_task *self, weft_task *const *ante, size_t n,
			    void *arg)
{
	(void)self;
	(void)ante;
	(void)n;
	return weft_error_ref(arg);
}

TEST(errors_of_a_multi_continuation_stay_with_it)
{
	weft_error *e = weft_error_new(-EIO, "continuation failed");
	weft_task *a = NULL, *c = NULL;
	weft_error *err = NULL;

	REQUIRE(weft_task_from_result(&a, NULL, NULL) == 0);
	weft_task *arr[2] = {a, a};
	REQUIRE(weft_task_continue_when_all(&c, arr, 2, all_fail, e, NULL) ==
		0);
	CHECK_EQ(weft_task_wait(c, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 1);
	CHECK_PTR_EQ(weft_error_inner(err, 0), e);
	CHECK_EQ(weft_task_get_status(a), WEFT_STATUS_RAN_TO_COMPLETION);
	weft_error_unref(err);
	weft_task_unref(c);
	weft_task_unref(a);
	weft_error_unref(e);
}

TEST(many_antecedents)
{
	enum {
		N = 1000
	};
	static weft_promise *p[N];
	static weft_task *arr[N];
	weft_task *all = NULL, *any = NULL;
	struct rec ra = {0}, rn = {0};

	for (int i = 0; i < N; i++) {
		p[i] = promise(0);
		REQUIRE(p[i]);
		arr[i] = weft_promise_task(p[i]);
	}
	REQUIRE(weft_task_continue_when_all(&all, arr, N, all_body, &ra,
					    NULL) == 0);
	REQUIRE(weft_task_continue_when_any(&any, arr, N, any_body, &rn,
					    NULL) == 0);
	for (int i = N - 1; i >= 0; i--)
		weft_promise_set_result(p[i], NULL, NULL);
	CHECK_EQ(wait_inf(all), 0);
	CHECK_EQ(wait_inf(any), 0);
	CHECK_EQ(ra.n, N);
	CHECK_PTR_EQ(rn.ante[0], arr[N - 1]);
	weft_task_unref(all);
	weft_task_unref(any);
	for (int i = 0; i < N; i++)
		weft_promise_unref(p[i]);
}
