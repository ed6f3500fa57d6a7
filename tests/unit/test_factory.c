/*
 * test_factory.c - task factories (TaskFactory): validated defaults for a
 * family of tasks, overridden per call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#include "harness.h"
#include "task_util.h"

struct probe {
	atomic_int ran;
	pthread_t thread;
	weft_scheduler *current;
	size_t nante;
	weft_task *ante;
};

static weft_error *probe_body(weft_task *self, void *arg)
{
	struct probe *p = arg;

	(void)self;
	p->thread = pthread_self();
	p->current = weft_scheduler_current();
	atomic_fetch_add(&p->ran, 1);
	return NULL;
}

static weft_error *probe_all(weft_task *self, weft_task *const *ante, size_t n,
			     void *arg)
{
	struct probe *p = arg;

	(void)ante;
	p->nante = n;
	return probe_body(self, arg);
}

static weft_error *probe_any(weft_task *self, weft_task *ante, void *arg)
{
	struct probe *p = arg;

	p->ante = ante;
	return probe_body(self, arg);
}

static atomic_int frees;
static void count_free(void *arg)
{
	(void)arg;
	atomic_fetch_add(&frees, 1);
}

static weft_task *done_task(void)
{
	weft_task *t = NULL;

	weft_task_from_result(&t, NULL, NULL);
	return t;
}

TEST(new_validates_creation_flags)
{
	static const unsigned bad[] = {0x20,	   0x80,	0x100,	 0x200,
				       0x1000,	   0x10000,	0x80000, 10000,
				       0x40000000, 0x80000000u, ~0u};
	weft_task_factory *f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = (weft_task_factory *)&f;
		CHECK_EQ(weft_task_factory_new(&f, WEFT_TOKEN_NONE, bad[i], 0,
					       NULL),
			 -EINVAL);
		CHECK_PTR_EQ(f, &f); /* untouched */
	}
	/* all 32 combinations of the low five bits, with and without 0x40 */
	for (unsigned flags = 0; flags < 32; flags++) {
		for (unsigned extra = 0; extra <= 0x40; extra += 0x40) {
			f = NULL;
			CHECK_EQ(weft_task_factory_new(&f, WEFT_TOKEN_NONE,
						       flags | extra, 0, NULL),
				 0);
			CHECK(f != NULL);
			weft_task_factory_free(f);
		}
	}
	CHECK_EQ(weft_task_factory_new(NULL, WEFT_TOKEN_NONE, 0, 0, NULL),
		 -EINVAL);
}

TEST(new_validates_continuation_flags)
{
	static const unsigned bad[] = {
		WEFT_CONT_NOT_ON_RAN_TO_COMPLETION,
		WEFT_CONT_NOT_ON_FAULTED,
		WEFT_CONT_NOT_ON_CANCELED,
		WEFT_CONT_ONLY_ON_RAN_TO_COMPLETION,
		WEFT_CONT_ONLY_ON_FAULTED,
		WEFT_CONT_ONLY_ON_CANCELED,
		WEFT_CONT_ONLY_ON_FAULTED | WEFT_CONT_HIDE_SCHEDULER,
		WEFT_CONT_EXECUTE_SYNCHRONOUSLY | WEFT_CONT_LONG_RUNNING,
		0x80,
		0x100,
		0x8000,
		0x100000,
		0x80000000u,
	};
	static const unsigned good[] = {
		0,
		WEFT_CONT_EXECUTE_SYNCHRONOUSLY,
		WEFT_CONT_LAZY_CANCELLATION,
		WEFT_CONT_LONG_RUNNING | WEFT_CONT_PREFER_FAIRNESS,
		WEFT_CONT_HIDE_SCHEDULER | WEFT_CONT_DENY_CHILD_ATTACH |
			WEFT_CONT_ATTACHED_TO_PARENT,
		WEFT_CONT_RUN_CONTINUATIONS_ASYNCHRONOUSLY |
			WEFT_CONT_EXECUTE_SYNCHRONOUSLY,
		0x7f,
	};
	weft_task_factory *f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(weft_task_factory_new(&f, WEFT_TOKEN_NONE, 0, bad[i],
					       NULL),
			 -EINVAL);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		f = NULL;
		CHECK_EQ(weft_task_factory_new(&f, WEFT_TOKEN_NONE, 0, good[i],
					       NULL),
			 0);
		weft_task_factory_free(f);
	}
	weft_task_factory_free(NULL);
}

/* The factory's creation flags and scheduler apply to its tasks. */
TEST(defaults_apply)
{
	weft_scheduler *loop;
	weft_task_factory *f;
	struct probe p = {.ran = 0};
	weft_task *t;
	unsigned flags =
		WEFT_TASK_PREFER_FAIRNESS | WEFT_TASK_DENY_CHILD_ATTACH;

	REQUIRE(weft_runloop_new(&loop) == 0);
	REQUIRE(weft_task_factory_new(&f, WEFT_TOKEN_NONE, flags, 0, loop) ==
		0);
	REQUIRE(weft_task_factory_start_new(f, &t, probe_body, &p, NULL) == 0);
	CHECK_EQ(weft_task_creation_options(t), flags);
	CHECK_EQ(atomic_load(&p.ran), 0); /* queued to the loop */
	CHECK_EQ(weft_runloop_run_pending(loop), 1);
	CHECK_EQ(atomic_load(&p.ran), 1);
	CHECK(pthread_equal(p.thread, pthread_self()));
	CHECK_PTR_EQ(p.current, loop);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(t);
	weft_task_factory_free(f);
	weft_scheduler_unref(loop);
}

/* Non-zero per-call fields override the factory's, field by field. */
TEST(per_call_overrides)
{
	weft_scheduler *loop, *loop2;
	weft_task_factory *f;
	weft_cancel_source *fsrc, *osrc;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	struct probe p = {.ran = 0}, q = {.ran = 0};
	weft_task *t, *u;

	REQUIRE(weft_runloop_new(&loop) == 0);
	REQUIRE(weft_runloop_new(&loop2) == 0);
	REQUIRE(weft_cancel_source_new(&fsrc) == 0);
	REQUIRE(weft_cancel_source_new(&osrc) == 0);
	REQUIRE(weft_task_factory_new(&f, weft_cancel_source_token(fsrc),
				      WEFT_TASK_PREFER_FAIRNESS, 0, loop) == 0);

	/* flags and scheduler overridden; token from the factory */
	o.flags = WEFT_TASK_HIDE_SCHEDULER;
	o.scheduler = loop2;
	REQUIRE(weft_task_factory_start_new(f, &t, probe_body, &p, &o) == 0);
	CHECK_EQ(weft_task_creation_options(t), WEFT_TASK_HIDE_SCHEDULER);
	CHECK(weft_cancel_token_equal(weft_task_token(t),
				      weft_cancel_source_token(fsrc)));
	CHECK_EQ(weft_runloop_run_pending(loop), 0);
	CHECK_EQ(weft_runloop_run_pending(loop2), 1);
	CHECK_EQ(atomic_load(&p.ran), 1);
	/* HIDE_SCHEDULER: the body sees the default scheduler */
	CHECK_PTR_EQ(p.current, weft_scheduler_default());

	/* only the token overridden */
	o = WEFT_TASK_OPTIONS_INIT;
	o.token = weft_cancel_source_token(osrc);
	REQUIRE(weft_task_factory_start_new(f, &u, probe_body, &q, &o) == 0);
	CHECK_EQ(weft_task_creation_options(u), WEFT_TASK_PREFER_FAIRNESS);
	CHECK(weft_cancel_token_equal(weft_task_token(u),
				      weft_cancel_source_token(osrc)));
	CHECK_EQ(weft_runloop_run_pending(loop2), 0);
	CHECK_EQ(weft_runloop_run_pending(loop), 1);
	CHECK_EQ(atomic_load(&q.ran), 1);
	CHECK_PTR_EQ(q.current, loop);

	weft_task_unref(t);
	weft_task_unref(u);
	weft_task_factory_free(f);
	weft_cancel_source_unref(fsrc);
	weft_cancel_source_unref(osrc);
	weft_scheduler_unref(loop);
	weft_scheduler_unref(loop2);
}

/* A factory whose token is canceled: its tasks end Canceled, never run. */
TEST(factory_token_cancels)
{
	weft_task_factory *f;
	struct probe p = {.ran = 0}, all = {.ran = 0};
	weft_task *t, *c, *ante;
	weft_error *err = NULL;

	REQUIRE(weft_task_factory_new(&f, weft_cancel_token_canceled(), 0, 0,
				      NULL) == 0);
	REQUIRE(weft_task_factory_start_new(f, &t, probe_body, &p, NULL) == 0);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 -ECANCELED);
	weft_error_unref(err);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	CHECK_EQ(atomic_load(&p.ran), 0);

	/* a multi-task continuation with a canceled token: Canceled at once */
	ante = done_task();
	REQUIRE(ante != NULL);
	REQUIRE(weft_task_factory_continue_when_all(f, &c, &ante, 1, probe_all,
						    &all, NULL) == 0);
	CHECK_EQ(wait_inf(c), -ECANCELED);
	CHECK_EQ(atomic_load(&all.ran), 0);
	weft_task_unref(c);
	weft_task_unref(ante);
	weft_task_unref(t);
	weft_task_factory_free(f);
}

static void unref_task(void *t)
{
	weft_task_unref(t);
}

struct via {
	const weft_task_factory *f;
	struct probe p;
};

static weft_error *start_via_factory(weft_task *self, void *arg)
{
	struct via *v = arg;
	weft_task *t;

	/* from inside a loop task: NULL factory scheduler = current = loop */
	if (weft_task_factory_start_new(v->f, &t, probe_body, &v->p, NULL))
		return weft_error_new(-EIO, "start failed");
	weft_task_set_result(self, t, unref_task);
	return NULL;
}

/* No factory scheduler: the scheduler current at each call. */
TEST(null_scheduler_means_current)
{
	weft_scheduler *loop;
	weft_task_factory *f;
	struct probe p = {.ran = 0};
	struct via v;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *outer, *inner, *plain;

	REQUIRE(weft_runloop_new(&loop) == 0);
	REQUIRE(weft_task_factory_new(&f, WEFT_TOKEN_NONE, 0, 0, NULL) == 0);

	/* outside any task: the default pool */
	REQUIRE(weft_task_factory_start_new(f, &plain, probe_body, &p, NULL) ==
		0);
	CHECK_EQ(wait_inf(plain), 0);
	CHECK_PTR_EQ(p.current, weft_scheduler_default());
	CHECK(!pthread_equal(p.thread, pthread_self()));

	/* inside a loop task: the loop */
	memset(&v, 0, sizeof(v));
	v.f = f;
	o.scheduler = loop;
	REQUIRE(weft_task_start_new(&outer, start_via_factory, &v, &o) == 0);
	CHECK_EQ(weft_runloop_run_pending(loop), 1);
	REQUIRE(weft_task_is_completed_successfully(outer));
	inner = weft_task_result(outer);
	REQUIRE(inner != NULL);
	CHECK(!weft_task_is_completed(inner));
	CHECK_EQ(atomic_load(&v.p.ran), 0);
	CHECK_EQ(weft_runloop_run_pending(loop), 1);
	CHECK(weft_task_is_completed_successfully(inner));
	CHECK_EQ(atomic_load(&v.p.ran), 1);
	CHECK_PTR_EQ(v.p.current, loop);
	weft_task_unref(outer);
	weft_task_unref(plain);
	weft_task_factory_free(f);
	weft_scheduler_unref(loop);
}

/* Continuations: factory continuation flags and scheduler apply. */
TEST(continue_when_all_and_any)
{
	weft_scheduler *loop;
	weft_task_factory *f;
	struct probe all = {.ran = 0}, any = {.ran = 0};
	weft_task *ante[3], *c_all, *c_any;

	REQUIRE(weft_runloop_new(&loop) == 0);
	REQUIRE(weft_task_factory_new(&f, WEFT_TOKEN_NONE,
				      WEFT_TASK_LONG_RUNNING, /* not used */
				      WEFT_CONT_HIDE_SCHEDULER |
					      WEFT_CONT_PREFER_FAIRNESS,
				      loop) == 0);
	for (int i = 0; i < 3; i++)
		REQUIRE((ante[i] = done_task()) != NULL);
	REQUIRE(weft_task_factory_continue_when_all(
			f, &c_all, ante, 3, probe_all, &all, NULL) == 0);
	REQUIRE(weft_task_factory_continue_when_any(
			f, &c_any, ante, 3, probe_any, &any, NULL) == 0);
	/* the continuations' creation options are the creation part */
	CHECK_EQ(weft_task_creation_options(c_all),
		 WEFT_TASK_HIDE_SCHEDULER | WEFT_TASK_PREFER_FAIRNESS);
	CHECK_EQ(weft_task_creation_options(c_any),
		 WEFT_TASK_HIDE_SCHEDULER | WEFT_TASK_PREFER_FAIRNESS);
	/* they are queued to the loop; nothing runs until it does */
	CHECK_EQ(weft_runloop_run_pending(loop), 2);
	CHECK_EQ(atomic_load(&all.ran), 1);
	CHECK_EQ(atomic_load(&any.ran), 1);
	CHECK(pthread_equal(all.thread, pthread_self()));
	CHECK(pthread_equal(any.thread, pthread_self()));
	CHECK_PTR_EQ(all.current, weft_scheduler_default()); /* hidden */
	CHECK_EQ(all.nante, 3);
	CHECK_PTR_EQ(any.ante, ante[0]); /* lowest index already complete */
	CHECK(weft_task_is_completed_successfully(c_all));
	CHECK(weft_task_is_completed_successfully(c_any));
	for (int i = 0; i < 3; i++)
		weft_task_unref(ante[i]);
	weft_task_unref(c_all);
	weft_task_unref(c_any);
	weft_task_factory_free(f);
	weft_scheduler_unref(loop);
}

/* Per-call continuation flags override the factory's. */
TEST(continuation_overrides)
{
	weft_task_factory *f;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	struct probe all = {.ran = 0};
	weft_task *ante, *c;

	REQUIRE(weft_task_factory_new(&f, WEFT_TOKEN_NONE, 0,
				      WEFT_CONT_HIDE_SCHEDULER, NULL) == 0);
	REQUIRE((ante = done_task()) != NULL);
	o.flags = WEFT_CONT_DENY_CHILD_ATTACH;
	REQUIRE(weft_task_factory_continue_when_all(f, &c, &ante, 1, probe_all,
						    &all, &o) == 0);
	CHECK_EQ(weft_task_creation_options(c), WEFT_TASK_DENY_CHILD_ATTACH);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_EQ(atomic_load(&all.ran), 1);
	weft_task_unref(c);
	weft_task_unref(ante);
	weft_task_factory_free(f);
}

TEST(bad_calls)
{
	weft_task_factory *f;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	struct probe p = {.ran = 0};
	weft_task *ante, *t = NULL;

	REQUIRE(weft_task_factory_new(&f, WEFT_TOKEN_NONE, 0, 0, NULL) == 0);
	REQUIRE((ante = done_task()) != NULL);
	atomic_store(&frees, 0);
	o.arg_free = count_free;

	/* NULL factory: -EINVAL, and the argument is released */
	CHECK_EQ(weft_task_factory_start_new(NULL, &t, probe_body, &p, &o),
		 -EINVAL);
	CHECK_EQ(atomic_load(&frees), 1);
	CHECK_EQ(weft_task_factory_continue_when_all(NULL, &t, &ante, 1,
						     probe_all, &p, &o),
		 -EINVAL);
	CHECK_EQ(atomic_load(&frees), 2);
	CHECK_EQ(weft_task_factory_continue_when_any(NULL, &t, &ante, 1,
						     probe_any, &p, &o),
		 -EINVAL);
	CHECK_EQ(atomic_load(&frees), 3);
	CHECK_EQ(weft_task_factory_start_new(NULL, &t, probe_body, &p, NULL),
		 -EINVAL);

	/* errors of the plain forms come through */
	CHECK_EQ(weft_task_factory_start_new(f, &t, NULL, &p, NULL), -EINVAL);
	o = WEFT_TASK_OPTIONS_INIT;
	o.flags = 0x100;
	CHECK_EQ(weft_task_factory_start_new(f, &t, probe_body, &p, &o),
		 -EINVAL);
	o.flags = WEFT_CONT_ONLY_ON_FAULTED;
	CHECK_EQ(weft_task_factory_continue_when_all(f, &t, &ante, 1, probe_all,
						     &p, &o),
		 -EINVAL);
	CHECK_EQ(weft_task_factory_continue_when_any(f, &t, &ante, 1, probe_any,
						     &p, &o),
		 -EINVAL);
	o.flags = WEFT_CONT_EXECUTE_SYNCHRONOUSLY | WEFT_CONT_LONG_RUNNING;
	CHECK_EQ(weft_task_factory_continue_when_all(f, &t, &ante, 1, probe_all,
						     &p, &o),
		 -EINVAL);
	CHECK_EQ(weft_task_factory_continue_when_all(f, &t, &ante, 0, probe_all,
						     &p, NULL),
		 -EINVAL);
	CHECK_EQ(weft_task_factory_continue_when_all(f, &t, NULL, 1, probe_all,
						     &p, NULL),
		 -EINVAL);
	CHECK_EQ(weft_task_factory_continue_when_any(f, &t, &ante, 0, probe_any,
						     &p, NULL),
		 -EINVAL);
	CHECK_EQ(weft_task_factory_continue_when_all(f, &t, &ante, 1, NULL, &p,
						     NULL),
		 -EINVAL);
	CHECK_EQ(weft_task_factory_continue_when_any(f, &t, &ante, 1, NULL, &p,
						     NULL),
		 -EINVAL);
	/* a malformed options struct */
	o = WEFT_TASK_OPTIONS_INIT;
	o.size = 1;
	o.arg_free = count_free;
	CHECK_EQ(weft_task_factory_start_new(f, &t, probe_body, &p, &o),
		 -EINVAL);
	CHECK_EQ(atomic_load(&frees), 4);
	CHECK(t == NULL);
	CHECK_EQ(atomic_load(&p.ran), 0);
	weft_task_unref(ante);
	weft_task_factory_free(f);
}

/* The factory keeps what it was given alive. */
TEST(factory_holds_references)
{
	weft_scheduler *loop;
	weft_cancel_source *src;
	weft_task_factory *f;
	struct probe p = {.ran = 0};
	weft_task *t;

	REQUIRE(weft_runloop_new(&loop) == 0);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	REQUIRE(weft_task_factory_new(&f, weft_cancel_source_token(src), 0, 0,
				      loop) == 0);
	weft_cancel_source_unref(src); /* the factory's reference remains */
	REQUIRE(weft_task_factory_start_new(f, &t, probe_body, &p, NULL) == 0);
	CHECK(weft_cancel_can_be_canceled(weft_task_token(t)));
	CHECK(!weft_cancel_requested(weft_task_token(t)));
	/* the loop is kept alive by the factory (and must outlive its task) */
	CHECK_EQ(weft_runloop_run_pending(loop), 1);
	CHECK_EQ(atomic_load(&p.ran), 1);
	weft_task_unref(t);
	weft_task_factory_free(f);
	weft_scheduler_unref(loop);
}

/* One factory used from many threads at once. */
struct user {
	const weft_task_factory *f;
	int n;
	atomic_int *ran;
	atomic_int *errors;
};

static weft_error *inc_body(weft_task *self, void *arg)
{
	(void)self;
	atomic_fetch_add((atomic_int *)arg, 1);
	return NULL;
}

static void *user_thread(void *arg)
{
	struct user *u = arg;

	for (int i = 0; i < u->n; i++) {
		weft_task *t;

		if (weft_task_factory_start_new(u->f, &t, inc_body, u->ran,
						NULL) != 0) {
			atomic_fetch_add(u->errors, 1);
			continue;
		}
		if (wait_inf(t) != 0)
			atomic_fetch_add(u->errors, 1);
		weft_task_unref(t);
	}
	return NULL;
}

TEST(shared_between_threads)
{
	enum {
		T = 4
	};
	weft_task_factory *f;
	atomic_int ran = 0, errors = 0;
	struct user u;
	pthread_t th[T];

	REQUIRE(weft_task_factory_new(&f, WEFT_TOKEN_NONE,
				      WEFT_TASK_PREFER_FAIRNESS, 0, NULL) == 0);
	u = (struct user){f, (int)weft_test_scaled(500), &ran, &errors};
	for (int i = 0; i < T; i++)
		REQUIRE(pthread_create(&th[i], NULL, user_thread, &u) == 0);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(atomic_load(&errors), 0);
	CHECK_EQ(atomic_load(&ran), T * u.n);
	weft_task_factory_free(f);
}
