/*
 * test_task.c - the task object (spec A.1-A.5): creation, starting, the
 * state machine, identity, results, creation options, tokens given at
 * creation, errors and the unobserved-error handler.
 *
 * Tasks that must stay in a state while the test looks at them wait on a
 * "gate": an atomic flag the test opens.  The wait polls (it does not use
 * weft's waits), so a blocked worker stays blocked: no spare thread is
 * started for it.
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
	atomic_int entered; /* bodies that started */
	atomic_int open;    /* set by the test */
	atomic_int left;    /* bodies that returned */
};

static void gate_init(struct gate *g)
{
	atomic_init(&g->entered, 0);
	atomic_init(&g->open, 0);
	atomic_init(&g->left, 0);
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
	return NULL;
}

static atomic_int arg_frees;
static void count_arg_free(void *arg)
{
	(void)arg;
	atomic_fetch_add(&arg_frees, 1);
}

/* An arg_free that counts into the atomic_int ARG points to. */
static void inc_arg_free(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

/* ---- creation and the state machine ------------------------------------- */

TEST(create_is_created_until_started)
{
	atomic_int runs;
	weft_task *t = NULL;

	atomic_init(&runs, 0);
	REQUIRE(weft_task_create(&t, count_body, &runs, NULL) == 0);
	REQUIRE(t != NULL);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CREATED);
	CHECK(!weft_task_is_completed(t));
	CHECK(!weft_task_is_completed_successfully(t));
	CHECK(!weft_task_is_faulted(t));
	CHECK(!weft_task_is_canceled(t));
	CHECK_PTR_EQ(weft_task_async_state(t), &runs);
	CHECK_EQ(weft_task_creation_options(t), 0);
	CHECK(!weft_cancel_can_be_canceled(weft_task_token(t)));
	CHECK_PTR_EQ(weft_task_result(t), NULL);
	CHECK_PTR_EQ(weft_task_error(t), NULL);
	/* a Created task does not run by itself */
	for (int i = 0; i < 20; i++)
		nap();
	CHECK_EQ(atomic_load(&runs), 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CREATED);

	CHECK_EQ(weft_task_start(t, NULL), 0);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_EQ(atomic_load(&runs), 1);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK(weft_task_is_completed(t));
	CHECK(weft_task_is_completed_successfully(t));
	CHECK(!weft_task_is_faulted(t));
	CHECK(!weft_task_is_canceled(t));
	CHECK_PTR_EQ(weft_task_error(t), NULL);
	CHECK_PTR_EQ(weft_task_async_state(t), &runs);
	weft_task_unref(t);
}

struct status_probe {
	struct gate g;
	_Atomic int seen_inside; /* status of SELF read inside the body */
};

static weft_error *status_probe_body(weft_task *self, void *arg)
{
	struct status_probe *p = arg;
	atomic_store(&p->seen_inside, (int)weft_task_get_status(self));
	return gate_body(self, &p->g);
}

/*
 * Created -> WaitingToRun (queued behind a busy worker) -> Running ->
 * RanToCompletion, each observed while the task is held there.
 */
TEST(status_transitions_are_exact)
{
	weft_scheduler *pool;
	struct gate a;
	struct status_probe b;
	weft_task *ta, *tb;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	gate_init(&a);
	gate_init(&b.g);
	atomic_init(&b.seen_inside, -1);
	REQUIRE(weft_pool_new(&pool, 1) == 0);
	o.scheduler = pool;
	/* occupy the only worker */
	REQUIRE(weft_task_start_new(&ta, gate_body, &a, &o) == 0);
	REQUIRE(poll_until(&a.entered, 1));
	CHECK_EQ(weft_task_get_status(ta), WEFT_STATUS_RUNNING);

	REQUIRE(weft_task_create(&tb, status_probe_body, &b, NULL) == 0);
	CHECK_EQ(weft_task_get_status(tb), WEFT_STATUS_CREATED);
	CHECK_EQ(weft_task_start(tb, pool), 0);
	CHECK_EQ(weft_task_get_status(tb), WEFT_STATUS_WAITING_TO_RUN);
	CHECK(!weft_task_is_completed(tb));
	for (int i = 0; i < 20; i++)
		nap();
	CHECK_EQ(weft_task_get_status(tb), WEFT_STATUS_WAITING_TO_RUN);
	CHECK_EQ(atomic_load(&b.g.entered), 0);

	gate_open(&a);
	REQUIRE(poll_until(&b.g.entered, 1));
	CHECK_EQ(weft_task_get_status(tb), WEFT_STATUS_RUNNING);
	CHECK_EQ(atomic_load(&b.seen_inside), WEFT_STATUS_RUNNING);
	CHECK(!weft_task_is_completed(tb));
	CHECK_EQ(weft_task_wait(tb, 0, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	gate_open(&b.g);
	CHECK_EQ(wait_inf(tb), 0);
	CHECK_EQ(weft_task_get_status(tb), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(wait_inf(ta), 0);
	CHECK_EQ(weft_task_get_status(ta), WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(ta);
	weft_task_unref(tb);
	weft_scheduler_unref(pool);
}

TEST(task_run_runs_with_deny_child_attach)
{
	atomic_int runs;
	weft_task *t;

	atomic_init(&runs, 0);
	REQUIRE(weft_task_run(&t, count_body, &runs) == 0);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_EQ(atomic_load(&runs), 1);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	/* Task.Run's task reports DenyChildAttach, as in .NET */
	CHECK_EQ(weft_task_creation_options(t), WEFT_TASK_DENY_CHILD_ATTACH);
	CHECK_PTR_EQ(weft_task_async_state(t), &runs);
	weft_task_unref(t);

	/* fire and forget: the task still runs */
	REQUIRE(weft_task_run(NULL, count_body, &runs) == 0);
	CHECK(poll_until(&runs, 2));

	CHECK_EQ(weft_task_run(&t, NULL, NULL), -EINVAL);
}

TEST(start_new_honours_options)
{
	weft_scheduler *pool;
	atomic_int runs, freed;
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	atomic_init(&runs, 0);
	atomic_init(&freed, 0);
	REQUIRE(weft_pool_new(&pool, 2) == 0);
	o.scheduler = pool;
	o.flags = WEFT_TASK_PREFER_FAIRNESS | WEFT_TASK_HIDE_SCHEDULER;
	o.arg_free = inc_arg_free;
	REQUIRE(weft_task_start_new(&t, count_body, &freed, &o) == 0);
	CHECK_EQ(weft_task_creation_options(t),
		 WEFT_TASK_PREFER_FAIRNESS | WEFT_TASK_HIDE_SCHEDULER);
	CHECK_PTR_EQ(weft_task_async_state(t), &freed);
	CHECK_EQ(wait_inf(t), 0);
	/* the body ran once (it counted into the same variable) ... */
	CHECK_EQ(atomic_load(&freed), 1);
	/* ... and the task is started: a second start is refused */
	CHECK_EQ(weft_task_start(t, NULL), -EALREADY);
	weft_task_unref(t);
	/* arg_free: exactly once, when the last reference goes */
	CHECK(poll_until(&freed, 2));
	for (int i = 0; i < 20; i++)
		nap();
	CHECK_EQ(atomic_load(&freed), 2);

	/* OUT may be NULL */
	o = (weft_task_options)WEFT_TASK_OPTIONS_INIT;
	o.scheduler = pool;
	REQUIRE(weft_task_start_new(NULL, count_body, &runs, &o) == 0);
	CHECK(poll_until(&runs, 1));
	/* OPTS may be NULL */
	REQUIRE(weft_task_start_new(&t, count_body, &runs, NULL) == 0);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_EQ(atomic_load(&runs), 2);
	weft_task_unref(t);
	weft_scheduler_unref(pool);
}

/* ---- identity ------------------------------------------------------------ */

struct id_probe {
	_Atomic uint64_t inside_id;
	_Atomic(weft_task *) inside_cur;
	_Atomic(weft_task *) self;
};

static weft_error *id_probe_body(weft_task *self, void *arg)
{
	struct id_probe *p = arg;
	atomic_store(&p->inside_id, weft_task_current_id());
	atomic_store(&p->inside_cur, weft_task_current());
	atomic_store(&p->self, self);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

TEST(ids_are_lazy_unique_and_stable)
{
	enum {
		N = 1000
	};
	weft_task *ts[N];
	uint64_t ids[N];
	atomic_int dummy;

	atomic_init(&dummy, 0);
	for (int i = 0; i < N; i++)
		REQUIRE(weft_task_create(&ts[i], count_body, &dummy, NULL) ==
			0);
	/* assigned on first request, in any order */
	for (int i = N - 1; i >= 0; i--) {
		ids[i] = weft_task_id(ts[i]);
		CHECK(ids[i] != 0);
	}
	for (int i = 0; i < N; i++)
		CHECK_EQ(weft_task_id(ts[i]), ids[i]);
	qsort(ids, N, sizeof(ids[0]), cmp_u64);
	int dups = 0;
	for (int i = 1; i < N; i++)
		dups += ids[i] == ids[i - 1];
	CHECK_EQ(dups, 0);
	for (int i = 0; i < N; i++)
		weft_task_unref(ts[i]);
}

TEST(current_id_inside_and_outside)
{
	struct id_probe p;
	weft_task *t;

	atomic_init(&p.inside_id, 0);
	atomic_init(&p.inside_cur, NULL);
	atomic_init(&p.self, NULL);
	CHECK_EQ(weft_task_current_id(), 0);
	CHECK_PTR_EQ(weft_task_current(), NULL);
	REQUIRE(weft_task_create(&t, id_probe_body, &p, NULL) == 0);
	/* nobody asked for the id before the body did */
	REQUIRE(weft_task_start(t, NULL) == 0);
	CHECK_EQ(wait_inf(t), 0);
	CHECK(atomic_load(&p.inside_id) != 0);
	CHECK_EQ(atomic_load(&p.inside_id), weft_task_id(t));
	CHECK_PTR_EQ(atomic_load(&p.inside_cur), t);
	CHECK_PTR_EQ(atomic_load(&p.self), t);
	CHECK_EQ(weft_task_current_id(), 0);
	CHECK_PTR_EQ(weft_task_current(), NULL);
	weft_task_unref(t);

	/* and through run_synchronously on this very thread */
	atomic_store(&p.inside_id, 0);
	REQUIRE(weft_task_create(&t, id_probe_body, &p, NULL) == 0);
	uint64_t before = weft_task_id(t);
	REQUIRE(weft_task_run_synchronously(t, NULL) == 0);
	CHECK_EQ(atomic_load(&p.inside_id), before);
	CHECK_PTR_EQ(atomic_load(&p.inside_cur), t);
	CHECK_EQ(weft_task_current_id(), 0);
	CHECK_PTR_EQ(weft_task_current(), NULL);
	weft_task_unref(t);
}

struct id_race {
	weft_task *t;
	atomic_int go;
};

static void *id_racer(void *arg)
{
	struct id_race *r = arg;
	while (!atomic_load(&r->go))
		;
	return (void *)(uintptr_t)weft_task_id(r->t);
}

TEST(id_assigned_once_under_races)
{
	enum {
		THREADS = 4,
		ROUNDS = 200
	};
	atomic_int dummy;
	int mismatches = 0;

	atomic_init(&dummy, 0);
	for (int round = 0; round < ROUNDS; round++) {
		struct id_race r;
		pthread_t th[THREADS];
		atomic_init(&r.go, 0);
		REQUIRE(weft_task_create(&r.t, count_body, &dummy, NULL) == 0);
		for (int i = 0; i < THREADS; i++)
			REQUIRE(pthread_create(&th[i], NULL, id_racer, &r) ==
				0);
		atomic_store(&r.go, 1);
		uint64_t mine = weft_task_id(r.t);
		for (int i = 0; i < THREADS; i++) {
			void *v;
			pthread_join(th[i], &v);
			if ((uint64_t)(uintptr_t)v != mine)
				mismatches++;
		}
		if (mine == 0)
			mismatches++;
		weft_task_unref(r.t);
	}
	CHECK_EQ(mismatches, 0);
}

/* ---- results ------------------------------------------------------------- */

static void bump(void *v)
{
	atomic_fetch_add((atomic_int *)v, 1);
}

struct result_probe {
	atomic_int first, second; /* dtor counts of the two values */
	atomic_int set_rc_first, set_rc_second;
	struct gate g;
	bool fail; /* return an error after setting */
};

static weft_error *result_body(weft_task *self, void *arg)
{
	struct result_probe *p = arg;
	atomic_store(&p->set_rc_first,
		     weft_task_set_result(self, &p->first, bump));
	/* replacing a result destroys the old one, once */
	atomic_store(&p->set_rc_second,
		     weft_task_set_result(self, &p->second, bump));
	weft_error *e = gate_body(self, &p->g);
	if (e)
		return e;
	return p->fail ? weft_error_new(-EIO, "after setting a result") : NULL;
}

static void result_probe_init(struct result_probe *p, bool fail)
{
	atomic_init(&p->first, 0);
	atomic_init(&p->second, 0);
	atomic_init(&p->set_rc_first, 1);
	atomic_init(&p->set_rc_second, 1);
	gate_init(&p->g);
	p->fail = fail;
}

TEST(result_and_destructor_exactly_once)
{
	struct result_probe p;
	weft_task *t;
	void *out = (void *)&out;

	result_probe_init(&p, false);
	REQUIRE(weft_task_run(&t, result_body, &p) == 0);
	REQUIRE(poll_until(&p.g.entered, 1));
	CHECK_EQ(atomic_load(&p.set_rc_first), 0);
	CHECK_EQ(atomic_load(&p.set_rc_second), 0);
	CHECK_EQ(atomic_load(&p.first), 1);
	CHECK_EQ(atomic_load(&p.second), 0);
	/* set, but the task is still running: no result yet */
	CHECK_PTR_EQ(weft_task_result(t), NULL);
	/* only the running task may set its result */
	CHECK_EQ(weft_task_set_result(t, &p.first, bump), -EPERM);
	CHECK_EQ(weft_task_set_result(NULL, &p.first, bump), -EPERM);
	gate_open(&p.g);
	CHECK_EQ(weft_task_get_result(t, &out, NULL), 0);
	CHECK_PTR_EQ(out, &p.second);
	CHECK_PTR_EQ(weft_task_result(t), &p.second);
	CHECK_PTR_EQ(weft_task_result(t), &p.second);
	CHECK_EQ(atomic_load(&p.first), 1);
	CHECK_EQ(atomic_load(&p.second), 0);
	weft_task_unref(t);
	/* the pool may drop the last reference a little later */
	CHECK(poll_until(&p.second, 1));
	for (int i = 0; i < 20; i++)
		nap();
	CHECK_EQ(atomic_load(&p.first), 1);
	CHECK_EQ(atomic_load(&p.second), 1);
}

TEST(result_of_faulted_task_is_null_but_destroyed)
{
	struct result_probe p;
	weft_task *t;
	weft_error *err = NULL;
	void *out = (void *)&out;

	result_probe_init(&p, true);
	gate_open(&p.g);
	REQUIRE(weft_task_run(&t, result_body, &p) == 0);
	CHECK_EQ(weft_task_get_result(t, &out, &err), WEFT_EFAULTED);
	CHECK_PTR_EQ(out, NULL);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	CHECK_PTR_EQ(weft_task_result(t), NULL);
	weft_error_unref(err);
	weft_task_unref(t);
	CHECK(poll_until(&p.second, 1));
	CHECK_EQ(atomic_load(&p.first), 1);
}

TEST(refcounting_keeps_the_task_alive)
{
	atomic_int runs, freed;
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	atomic_init(&runs, 0);
	atomic_init(&freed, 0);
	o.arg_free = count_arg_free;
	atomic_store(&arg_frees, 0);
	REQUIRE(weft_task_create(&t, count_body, &runs, &o) == 0);
	CHECK_PTR_EQ(weft_task_ref(t), t);
	CHECK_PTR_EQ(weft_task_ref(NULL), NULL);
	weft_task_unref(NULL);
	weft_task_unref(t); /* one reference left */
	CHECK_EQ(atomic_load(&arg_frees), 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CREATED);
	REQUIRE(weft_task_start(t, NULL) == 0);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_EQ(atomic_load(&runs), 1);
	CHECK_EQ(atomic_load(&arg_frees), 0);
	weft_task_unref(t);
	CHECK(poll_until(&arg_frees, 1));

	/* a task that is never started is freed too, arg_free included */
	REQUIRE(weft_task_create(&t, count_body, &runs, &o) == 0);
	weft_task_unref(t);
	CHECK_EQ(atomic_load(&arg_frees), 2);
	CHECK_EQ(atomic_load(&runs), 1);
}

/* ---- run_synchronously --------------------------------------------------- */

struct where {
	pthread_t thread;
	atomic_int ran;
	_Atomic(weft_scheduler *) sched;
};

static weft_error *where_body(weft_task *self, void *arg)
{
	struct where *w = arg;
	(void)self;
	w->thread = pthread_self();
	atomic_store(&w->sched, weft_scheduler_current());
	/* take a little time: the caller must not return before this */
	for (int i = 0; i < 10; i++)
		nap();
	atomic_fetch_add(&w->ran, 1);
	return NULL;
}

TEST(run_synchronously_runs_here_and_returns_after_completion)
{
	struct where w;
	weft_task *t;

	atomic_init(&w.ran, 0);
	atomic_init(&w.sched, NULL);
	REQUIRE(weft_task_create(&t, where_body, &w, NULL) == 0);
	CHECK_EQ(weft_task_run_synchronously(t, NULL), 0);
	CHECK_EQ(atomic_load(&w.ran), 1);
	CHECK(pthread_equal(w.thread, pthread_self()));
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	/* the task is started and completed: both are refused now */
	CHECK_EQ(weft_task_run_synchronously(t, NULL), -EALREADY);
	CHECK_EQ(weft_task_start(t, NULL), -EALREADY);
	CHECK_EQ(atomic_load(&w.ran), 1);
	weft_task_unref(t);
}

TEST(run_synchronously_on_an_explicit_pool)
{
	struct where w;
	weft_task *t;
	weft_scheduler *pool;

	atomic_init(&w.ran, 0);
	atomic_init(&w.sched, NULL);
	REQUIRE(weft_pool_new(&pool, 1) == 0);
	REQUIRE(weft_task_create(&t, where_body, &w, NULL) == 0);
	CHECK_EQ(weft_task_run_synchronously(t, pool), 0);
	CHECK_EQ(atomic_load(&w.ran), 1);
	CHECK(weft_task_is_completed(t));
	/* inside the body the current scheduler is the one used */
	CHECK_PTR_EQ(atomic_load(&w.sched), pool);
	weft_task_unref(t);
	weft_scheduler_unref(pool);
}

static weft_error *fail_body(weft_task *self, void *arg)
{
	(void)self;
	return weft_error_ref((weft_error *)arg);
}

TEST(run_synchronously_does_not_report_body_errors)
{
	weft_error *e = weft_error_new(-EIO, "body failed");
	weft_task *t;
	weft_error *err = NULL;

	REQUIRE(weft_task_create(&t, fail_body, e, NULL) == 0);
	CHECK_EQ(weft_task_run_synchronously(t, NULL), 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 1);
	CHECK_PTR_EQ(weft_error_inner(err, 0), e);
	weft_error_unref(err);
	weft_task_unref(t);
	weft_error_unref(e);
}

TEST(run_synchronously_after_start_is_ealready)
{
	struct gate g;
	weft_task *t;

	gate_init(&g);
	REQUIRE(weft_task_create(&t, gate_body, &g, NULL) == 0);
	REQUIRE(weft_task_start(t, NULL) == 0);
	CHECK_EQ(weft_task_run_synchronously(t, NULL), -EALREADY);
	CHECK_EQ(weft_task_start(t, NULL), -EALREADY);
	gate_open(&g);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_EQ(atomic_load(&g.entered), 1);
	CHECK_EQ(weft_task_run_synchronously(t, NULL), -EALREADY);
	weft_task_unref(t);
	CHECK_EQ(weft_task_start(NULL, NULL), -EINVAL);
	CHECK_EQ(weft_task_run_synchronously(NULL, NULL), -EINVAL);
}

/* ---- start errors -------------------------------------------------------- */

static weft_error *cont_body(weft_task *self, weft_task *ante, void *arg)
{
	(void)self;
	(void)ante;
	atomic_fetch_add((atomic_int *)arg, 1);
	return NULL;
}

TEST(start_of_continuation_or_promise_is_eperm)
{
	struct gate g;
	atomic_int conts;
	weft_task *ante, *cont;
	weft_promise *p;

	gate_init(&g);
	atomic_init(&conts, 0);
	REQUIRE(weft_task_create(&ante, gate_body, &g, NULL) == 0);
	REQUIRE(weft_task_continue_with(&cont, ante, cont_body, &conts, NULL) ==
		0);
	CHECK_EQ(weft_task_get_status(cont),
		 WEFT_STATUS_WAITING_FOR_ACTIVATION);
	CHECK_EQ(weft_task_start(cont, NULL), -EPERM);
	CHECK_EQ(weft_task_run_synchronously(cont, NULL), -EPERM);

	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	CHECK_EQ(weft_task_start(weft_promise_task(p), NULL), -EPERM);
	CHECK_EQ(weft_task_run_synchronously(weft_promise_task(p), NULL),
		 -EPERM);
	/* a completed promise: completion is checked first */
	REQUIRE(weft_promise_set_result(p, NULL, NULL) == 0);
	CHECK_EQ(weft_task_start(weft_promise_task(p), NULL), -EALREADY);
	weft_promise_unref(p);

	gate_open(&g);
	REQUIRE(weft_task_start(ante, NULL) == 0);
	CHECK_EQ(wait_inf(cont), 0);
	CHECK_EQ(atomic_load(&conts), 1);
	CHECK_EQ(weft_task_start(cont, NULL), -EALREADY);
	weft_task_unref(cont);
	weft_task_unref(ante);
}

/* ---- creation options ---------------------------------------------------- */

TEST(all_creation_option_combinations_are_reported_back)
{
	atomic_int runs;
	int bad = 0, started = 0;

	atomic_init(&runs, 0);
	for (unsigned extra = 0; extra <= 0x40; extra += 0x40) {
		for (unsigned f = 0; f < 0x20; f++) {
			weft_task_options o = WEFT_TASK_OPTIONS_INIT;
			weft_task *t;
			o.flags = f | extra;
			if (weft_task_create(&t, count_body, &runs, &o) != 0) {
				bad++;
				continue;
			}
			if (weft_task_creation_options(t) != (f | extra))
				bad++;
			if (weft_task_get_status(t) != WEFT_STATUS_CREATED)
				bad++;
			if (weft_task_start(t, NULL) == 0)
				started++;
			if (wait_inf(t) != 0 ||
			    weft_task_get_status(t) !=
				    WEFT_STATUS_RAN_TO_COMPLETION)
				bad++;
			/* still exactly what was passed, internal bits
			 * never show */
			if (weft_task_creation_options(t) != (f | extra))
				bad++;
			weft_task_unref(t);

			/* the same through start_new */
			if (weft_task_start_new(&t, count_body, &runs, &o) !=
			    0) {
				bad++;
				continue;
			}
			started++;
			if (weft_task_creation_options(t) != (f | extra))
				bad++;
			if (wait_inf(t) != 0)
				bad++;
			weft_task_unref(t);
		}
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(started, 128);
	CHECK_EQ(atomic_load(&runs), 128);
}

TEST(invalid_creation_options_are_einval_and_free_arg)
{
	static const unsigned bad_flags[] = {0x100, 0x20,  0x40000000, 10000,
					     0x80,  0x200, 0x400};
	atomic_int runs;

	atomic_init(&runs, 0);
	atomic_store(&arg_frees, 0);
	int expect_frees = 0;
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		weft_task_options o = WEFT_TASK_OPTIONS_INIT;
		weft_task *t = (weft_task *)&o; /* must not be used */
		o.flags = bad_flags[i] | WEFT_TASK_PREFER_FAIRNESS;
		o.arg_free = count_arg_free;
		CHECK_EQ(weft_task_create(&t, count_body, &runs, &o), -EINVAL);
		expect_frees++;
		CHECK_EQ(atomic_load(&arg_frees), expect_frees);
		CHECK_EQ(weft_task_start_new(&t, count_body, &runs, &o),
			 -EINVAL);
		expect_frees++;
		CHECK_EQ(atomic_load(&arg_frees), expect_frees);
		CHECK_EQ(weft_task_start_new(NULL, count_body, &runs, &o),
			 -EINVAL);
		expect_frees++;
		CHECK_EQ(atomic_load(&arg_frees), expect_frees);
	}
	CHECK_EQ(atomic_load(&runs), 0);
}

TEST(null_fn_or_out_or_bad_size_are_einval)
{
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *t = NULL;
	atomic_int runs;

	atomic_init(&runs, 0);
	atomic_store(&arg_frees, 0);
	o.arg_free = count_arg_free;
	CHECK_EQ(weft_task_create(&t, NULL, &runs, &o), -EINVAL);
	CHECK_EQ(atomic_load(&arg_frees), 1);
	CHECK_EQ(weft_task_create(NULL, count_body, &runs, &o), -EINVAL);
	CHECK_EQ(atomic_load(&arg_frees), 2);
	CHECK_EQ(weft_task_start_new(&t, NULL, &runs, &o), -EINVAL);
	CHECK_EQ(atomic_load(&arg_frees), 3);
	o.size = sizeof(o) / 2;
	CHECK_EQ(weft_task_create(&t, count_body, &runs, &o), -EINVAL);
	CHECK_EQ(atomic_load(&arg_frees), 4);
	CHECK_EQ(weft_task_create(&t, NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(weft_task_run(NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(atomic_load(&runs), 0);
}

/* Collect the threads normal tasks run on, then check LONG_RUNNING is on
 * none of them (and not on the caller either). */
struct lr_probe {
	pthread_t thread;
	atomic_int ran;
	_Atomic(weft_task *) cur;
};

static weft_error *lr_body(weft_task *self, void *arg)
{
	struct lr_probe *p = arg;
	(void)self;
	p->thread = pthread_self();
	atomic_store(&p->cur, weft_task_current());
	atomic_fetch_add(&p->ran, 1);
	return NULL;
}

TEST(long_running_gets_a_dedicated_thread)
{
	weft_scheduler *pool;
	struct gate g;
	struct lr_probe normal, lr;
	weft_task *blocker, *tn, *tl;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	gate_init(&g);
	atomic_init(&normal.ran, 0);
	atomic_init(&lr.ran, 0);
	atomic_init(&normal.cur, NULL);
	atomic_init(&lr.cur, NULL);
	REQUIRE(weft_pool_new(&pool, 1) == 0);
	o.scheduler = pool;
	/* the one worker's thread */
	REQUIRE(weft_task_start_new(&tn, lr_body, &normal, &o) == 0);
	CHECK_EQ(wait_inf(tn), 0);
	/* occupy it; a LONG_RUNNING task must still run meanwhile */
	REQUIRE(weft_task_start_new(&blocker, gate_body, &g, &o) == 0);
	REQUIRE(poll_until(&g.entered, 1));
	o.flags = WEFT_TASK_LONG_RUNNING;
	REQUIRE(weft_task_start_new(&tl, lr_body, &lr, &o) == 0);
	CHECK(poll_until(&lr.ran, 1));
	CHECK_EQ(weft_task_wait(tl, 30000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK(!pthread_equal(lr.thread, normal.thread));
	CHECK(!pthread_equal(lr.thread, pthread_self()));
	CHECK_PTR_EQ(atomic_load(&lr.cur), tl);
	CHECK_EQ(atomic_load(&g.left), 0); /* the worker was busy all along */
	CHECK_EQ(weft_pool_size(pool), 1);
	gate_open(&g);
	CHECK_EQ(wait_inf(blocker), 0);
	weft_task_unref(blocker);
	weft_task_unref(tn);
	weft_task_unref(tl);
	weft_scheduler_unref(pool);
}

static weft_error *spawn_fair_body(weft_task *self, void *arg)
{
	enum {
		N = 64
	};
	weft_task *ts[N];
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	(void)self;
	o.flags = WEFT_TASK_PREFER_FAIRNESS;
	for (int i = 0; i < N; i++)
		if (weft_task_start_new(&ts[i], count_body, arg, &o) != 0)
			return weft_error_new(-ENOMEM, "start_new");
	int rc =
		weft_task_wait_all(ts, N, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	for (int i = 0; i < N; i++)
		weft_task_unref(ts[i]);
	return rc ? weft_error_new(rc, "wait_all") : NULL;
}

TEST(prefer_fairness_tasks_run)
{
	atomic_int runs;
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *ts[32];

	atomic_init(&runs, 0);
	o.flags = WEFT_TASK_PREFER_FAIRNESS;
	for (int i = 0; i < 32; i++)
		REQUIRE(weft_task_start_new(&ts[i], count_body, &runs, &o) ==
			0);
	CHECK_EQ(weft_task_wait_all(ts, 32, WEFT_INFINITE, WEFT_TOKEN_NONE,
				    NULL),
		 0);
	for (int i = 0; i < 32; i++)
		weft_task_unref(ts[i]);
	CHECK_EQ(atomic_load(&runs), 32);
	/* from inside a worker too (the global queue, not the local deque) */
	REQUIRE(weft_task_run(&t, spawn_fair_body, &runs) == 0);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_EQ(atomic_load(&runs), 32 + 64);
	weft_task_unref(t);
}

struct sched_probe {
	_Atomic(weft_scheduler *) outer, inner;
	atomic_int done;
};

static weft_error *sched_probe_inner(weft_task *self, void *arg)
{
	struct sched_probe *p = arg;
	(void)self;
	atomic_store(&p->inner, weft_scheduler_current());
	return NULL;
}

static weft_error *sched_probe_outer(weft_task *self, void *arg)
{
	struct sched_probe *p = arg;
	weft_task *t;
	(void)self;
	atomic_store(&p->outer, weft_scheduler_current());
	/* implicit scheduler: the current one */
	if (weft_task_start_new(&t, sched_probe_inner, p, NULL) != 0)
		return weft_error_new(-ENOMEM, "start_new");
	weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	weft_task_unref(t);
	return NULL;
}

TEST(hide_scheduler_shows_the_default_inside)
{
	weft_scheduler *pool;
	struct sched_probe p;
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	REQUIRE(weft_pool_new(&pool, 2) == 0);
	CHECK_PTR_EQ(weft_scheduler_current(), weft_scheduler_default());
	o.scheduler = pool;

	atomic_init(&p.outer, NULL);
	atomic_init(&p.inner, NULL);
	REQUIRE(weft_task_start_new(&t, sched_probe_outer, &p, &o) == 0);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_PTR_EQ(atomic_load(&p.outer), pool);
	CHECK_PTR_EQ(atomic_load(&p.inner), pool);
	weft_task_unref(t);

	o.flags = WEFT_TASK_HIDE_SCHEDULER;
	atomic_store(&p.outer, NULL);
	atomic_store(&p.inner, NULL);
	REQUIRE(weft_task_start_new(&t, sched_probe_outer, &p, &o) == 0);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_PTR_EQ(atomic_load(&p.outer), weft_scheduler_default());
	/* a task started inside with the implicit scheduler goes to the
	 * default one */
	CHECK_PTR_EQ(atomic_load(&p.inner), weft_scheduler_default());
	weft_task_unref(t);
	weft_scheduler_unref(pool);
}

static weft_error *start_inside_body(weft_task *self, void *arg)
{
	struct sched_probe *p = arg;
	weft_task *t;
	(void)self;
	if (weft_task_create(&t, sched_probe_inner, p, NULL) != 0)
		return weft_error_new(-ENOMEM, "create");
	int rc = weft_task_start(t, NULL); /* NULL: the current scheduler */
	if (rc == 0)
		rc = weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	weft_task_unref(t);
	return rc ? weft_error_new(rc, "start/wait") : NULL;
}

TEST(start_with_null_scheduler_uses_the_current_one)
{
	weft_scheduler *pool;
	struct sched_probe p;
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	atomic_init(&p.outer, NULL);
	atomic_init(&p.inner, NULL);
	REQUIRE(weft_pool_new(&pool, 1) == 0);
	o.scheduler = pool;
	REQUIRE(weft_task_start_new(&t, start_inside_body, &p, &o) == 0);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_PTR_EQ(atomic_load(&p.inner), pool);
	weft_task_unref(t);
	weft_scheduler_unref(pool);
}

/* ---- tokens given at creation (spec A.3, A.5) ---------------------------- */

static void check_task_canceled_error(weft_error *err, weft_task *t,
				      weft_cancel_token tok)
{
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	REQUIRE(weft_error_inner_count(err) == 1);
	weft_error *in = weft_error_inner(err, 0);
	CHECK_EQ(weft_error_get_kind(in), WEFT_ERROR_TASK_CANCELED);
	CHECK_PTR_EQ(weft_error_task(in), t);
	CHECK(weft_cancel_token_equal(weft_error_token(in), tok));
	CHECK(weft_error_is_cancellation(in));
}

TEST(precanceled_token_cancels_at_creation)
{
	weft_cancel_source *src;
	weft_task *t;
	weft_error *err = NULL;
	atomic_int runs;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	atomic_init(&runs, 0);
	atomic_store(&arg_frees, 0);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	REQUIRE(weft_cancel_source_cancel(src) == 0);
	o.token = weft_cancel_source_token(src);
	o.arg_free = count_arg_free;
	REQUIRE(weft_task_create(&t, count_body, &runs, &o) == 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	CHECK(weft_task_is_canceled(t));
	CHECK(weft_task_is_completed(t));
	CHECK(!weft_task_is_faulted(t));
	CHECK(!weft_task_is_completed_successfully(t));
	CHECK(weft_cancel_token_equal(weft_task_token(t), o.token));
	CHECK_EQ(weft_task_start(t, NULL), -EALREADY);
	CHECK_EQ(weft_task_run_synchronously(t, NULL), -EALREADY);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 -ECANCELED);
	check_task_canceled_error(err, t, o.token);
	weft_error_unref(err);
	CHECK_PTR_EQ(weft_task_error(t), NULL);
	CHECK_PTR_EQ(weft_task_result(t), NULL);
	CHECK_EQ(atomic_load(&runs), 0);
	weft_task_unref(t);
	CHECK_EQ(atomic_load(&arg_frees), 1);
	weft_cancel_source_unref(src);

	/* the canceled singleton token works the same way */
	o.token = weft_cancel_token_canceled();
	o.arg_free = NULL;
	REQUIRE(weft_task_create(&t, count_body, &runs, &o) == 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 -ECANCELED);
	weft_error_unref(err);
	weft_task_unref(t);
	CHECK_EQ(atomic_load(&runs), 0);
}

TEST(token_canceled_while_created_cancels)
{
	weft_cancel_source *src;
	weft_task *t;
	weft_error *err = NULL;
	atomic_int runs;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	atomic_init(&runs, 0);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	o.token = weft_cancel_source_token(src);
	REQUIRE(weft_task_create(&t, count_body, &runs, &o) == 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CREATED);
	REQUIRE(weft_cancel_source_cancel(src) == 0);
	/* at once, through the registration */
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	CHECK_EQ(weft_task_start(t, NULL), -EALREADY);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 -ECANCELED);
	check_task_canceled_error(err, t, o.token);
	weft_error_unref(err);
	CHECK_EQ(atomic_load(&runs), 0);
	weft_task_unref(t);
	weft_cancel_source_unref(src);
}

/*
 * A Created task with a token that is dropped without ever being started
 * or canceled must still be freed (ARG_FREE called once), whatever happens
 * to the source afterwards.
 */
TEST(unstarted_task_with_token_is_freed_when_dropped)
{
	weft_cancel_source *src;
	weft_task *t;
	atomic_int runs;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	atomic_init(&runs, 0);
	atomic_store(&arg_frees, 0);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	o.token = weft_cancel_source_token(src);
	o.arg_free = count_arg_free;
	REQUIRE(weft_task_create(&t, count_body, &runs, &o) == 0);
	weft_task_unref(t);
	CHECK_EQ(atomic_load(&arg_frees), 1);
	weft_cancel_source_unref(src);
	CHECK_EQ(atomic_load(&arg_frees), 1);
	CHECK_EQ(atomic_load(&runs), 0);
}

TEST(token_canceled_while_queued_cancels_without_running)
{
	weft_scheduler *pool;
	weft_cancel_source *src;
	struct gate g;
	weft_task *blocker, *t;
	atomic_int runs;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	gate_init(&g);
	atomic_init(&runs, 0);
	REQUIRE(weft_pool_new(&pool, 1) == 0);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	o.scheduler = pool;
	REQUIRE(weft_task_start_new(&blocker, gate_body, &g, &o) == 0);
	REQUIRE(poll_until(&g.entered, 1));

	o.scheduler = NULL;
	o.token = weft_cancel_source_token(src);
	REQUIRE(weft_task_create(&t, count_body, &runs, &o) == 0);
	REQUIRE(weft_task_start(t, pool) == 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_WAITING_TO_RUN);
	weft_cancel_source_cancel(src);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	gate_open(&g);
	CHECK_EQ(wait_inf(blocker), 0);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
		 -ECANCELED);
	/* let the worker dequeue it: it must not run */
	weft_pool_shutdown(pool);
	CHECK_EQ(atomic_load(&runs), 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	weft_task_unref(t);
	weft_task_unref(blocker);
	weft_cancel_source_unref(src);
	weft_scheduler_unref(pool);
}

enum cancel_reply {
	REPLY_NOTHING,	   /* return NULL */
	REPLY_OWN_TOKEN,   /* return CANCELED(own token) */
	REPLY_OTHER_TOKEN, /* return CANCELED(another canceled token) */
};

struct cancel_probe {
	struct gate g;
	enum cancel_reply reply;
	weft_cancel_token other;
	_Atomic(weft_error *) returned; /* what the body returned */
};

static weft_error *cancel_probe_body(weft_task *self, void *arg)
{
	struct cancel_probe *p = arg;
	weft_error *e = gate_body(self, &p->g);
	if (e)
		return e;
	switch (p->reply) {
	case REPLY_NOTHING:
		return NULL;
	case REPLY_OWN_TOKEN:
		e = weft_cancel_throw_if_requested(weft_task_token(self));
		break;
	case REPLY_OTHER_TOKEN:
		e = weft_error_canceled(p->other);
		break;
	}
	atomic_store(&p->returned, weft_error_ref(e));
	return e;
}

static weft_task *start_cancel_probe(struct cancel_probe *p,
				     weft_cancel_source *src,
				     enum cancel_reply reply)
{
	weft_task *t = NULL;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	gate_init(&p->g);
	p->reply = reply;
	atomic_init(&p->returned, NULL);
	o.token = weft_cancel_source_token(src);
	if (weft_task_create(&t, cancel_probe_body, p, &o) != 0)
		return NULL;
	if (weft_task_start(t, NULL) != 0 || !poll_until(&p->g.entered, 1)) {
		gate_open(&p->g);
		return t;
	}
	/* running: cancellation is only a request now */
	weft_cancel_source_cancel(src);
	gate_open(&p->g);
	return t;
}

TEST(token_canceled_while_running_is_cooperative)
{
	weft_cancel_source *src;
	struct cancel_probe p;
	weft_task *t;
	weft_error *err = NULL;

	REQUIRE(weft_cancel_source_new(&src) == 0);
	t = start_cancel_probe(&p, src, REPLY_NOTHING);
	REQUIRE(t != NULL);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err), 0);
	CHECK_PTR_EQ(err, NULL);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(atomic_load(&p.g.left), 1);
	weft_task_unref(t);
	weft_cancel_source_unref(src);
}

TEST(body_acknowledging_its_token_is_canceled)
{
	weft_cancel_source *src;
	struct cancel_probe p;
	weft_task *t;
	weft_error *err = NULL;

	REQUIRE(weft_cancel_source_new(&src) == 0);
	t = start_cancel_probe(&p, src, REPLY_OWN_TOKEN);
	REQUIRE(t != NULL);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 -ECANCELED);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	CHECK(weft_task_is_canceled(t));
	check_task_canceled_error(err, t, weft_cancel_source_token(src));
	CHECK_PTR_EQ(weft_task_error(t), NULL);
	weft_error_unref(err);
	weft_error_unref(atomic_load(&p.returned));
	weft_task_unref(t);
	weft_cancel_source_unref(src);
}

TEST(body_returning_another_tokens_cancellation_faults)
{
	weft_cancel_source *src, *other;
	struct cancel_probe p;
	weft_task *t;
	weft_error *err = NULL;

	REQUIRE(weft_cancel_source_new(&src) == 0);
	REQUIRE(weft_cancel_source_new(&other) == 0);
	weft_cancel_source_cancel(other);
	p.other = weft_cancel_source_token(other);
	t = start_cancel_probe(&p, src, REPLY_OTHER_TOKEN);
	REQUIRE(t != NULL);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
	REQUIRE(err != NULL);
	REQUIRE(weft_error_inner_count(err) == 1);
	CHECK_PTR_EQ(weft_error_inner(err, 0), atomic_load(&p.returned));
	CHECK_EQ(weft_error_get_kind(weft_error_inner(err, 0)),
		 WEFT_ERROR_CANCELED);
	weft_error_unref(err);
	weft_error_unref(atomic_load(&p.returned));
	weft_task_unref(t);
	weft_cancel_source_unref(src);
	weft_cancel_source_unref(other);
}

static weft_error *ack_uncanceled_body(weft_task *self, void *arg)
{
	weft_error **out = arg;
	/* CANCELED for its own token, but the token was never canceled */
	*out = weft_error_canceled(weft_task_token(self));
	return weft_error_ref(*out);
}

TEST(cancellation_error_for_an_uncanceled_own_token_faults)
{
	weft_cancel_source *src;
	weft_task *t;
	weft_error *returned = NULL, *err = NULL;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	REQUIRE(weft_cancel_source_new(&src) == 0);
	o.token = weft_cancel_source_token(src);
	REQUIRE(weft_task_start_new(&t, ack_uncanceled_body, &returned, &o) ==
		0);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
	REQUIRE(err != NULL);
	CHECK_PTR_EQ(weft_error_inner(err, 0), returned);
	weft_error_unref(err);
	weft_error_unref(returned);
	weft_task_unref(t);
	weft_cancel_source_unref(src);
}

TEST(start_new_with_precanceled_token_cancels_when_dequeued)
{
	atomic_int runs;
	weft_task *t;
	weft_error *err = NULL;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_cancel_source *src;

	atomic_init(&runs, 0);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	weft_cancel_source_cancel(src);
	o.token = weft_cancel_source_token(src);
	REQUIRE(weft_task_start_new(&t, count_body, &runs, &o) == 0);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 -ECANCELED);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	check_task_canceled_error(err, t, o.token);
	weft_error_unref(err);
	CHECK_EQ(atomic_load(&runs), 0);
	weft_task_unref(t);
	weft_cancel_source_unref(src);
}

/* ---- errors ----------------------------------------------------------------
 */

TEST(body_error_is_the_very_object_the_waiter_gets)
{
	weft_error *e = weft_error_new(-EIO, "disk on fire");
	weft_task *t;
	weft_error *err = NULL, *agg;

	REQUIRE(weft_task_run(&t, fail_body, e) == 0);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
	CHECK(weft_task_is_faulted(t));
	CHECK(!weft_task_is_canceled(t));
	CHECK(weft_task_is_completed(t));
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	CHECK_EQ(weft_error_inner_count(err), 1);
	CHECK_PTR_EQ(weft_error_inner(err, 0), e);
	agg = weft_task_error(t);
	REQUIRE(agg != NULL);
	CHECK_EQ(weft_error_inner_count(agg), 1);
	CHECK_PTR_EQ(weft_error_inner(agg, 0), e);
	weft_error_unref(agg);
	weft_error_unref(err);
	/* a second wait reports it again */
	CHECK_EQ(weft_task_wait(t, 0, WEFT_TOKEN_NONE, &err), WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_PTR_EQ(weft_error_inner(err, 0), e);
	weft_error_unref(err);
	weft_task_unref(t);
	weft_error_unref(e);
}

TEST(error_of_succeeded_canceled_or_running_task_is_null)
{
	struct gate g;
	atomic_int runs;
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	gate_init(&g);
	atomic_init(&runs, 0);
	REQUIRE(weft_task_run(&t, gate_body, &g) == 0);
	REQUIRE(poll_until(&g.entered, 1));
	CHECK_PTR_EQ(weft_task_error(t), NULL);
	gate_open(&g);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_PTR_EQ(weft_task_error(t), NULL);
	weft_task_unref(t);

	o.token = weft_cancel_token_canceled();
	REQUIRE(weft_task_create(&t, count_body, &runs, &o) == 0);
	CHECK_PTR_EQ(weft_task_error(t), NULL);
	weft_task_unref(t);
}

static struct {
	atomic_int calls;
	_Atomic(weft_error *) last_inner;
} unobserved;

static void unobserved_handler(weft_error *err, void *arg)
{
	(void)arg;
	atomic_fetch_add(&unobserved.calls, 1);
	if (err && weft_error_get_kind(err) == WEFT_ERROR_AGGREGATE &&
	    weft_error_inner_count(err) == 1)
		atomic_store(&unobserved.last_inner, weft_error_inner(err, 0));
}

/* Start a task failing with E; wait for it without observing the error
 * (wait_any never reports task errors). */
static weft_task *fault_unobserved(weft_error *e)
{
	weft_task *t;
	size_t idx;

	if (weft_task_start_new(&t, fail_body, e, NULL) != 0)
		return NULL;
	if (weft_task_wait_any(&t, 1, WEFT_INFINITE, WEFT_TOKEN_NONE, &idx) !=
	    0) {
		weft_task_unref(t);
		return NULL;
	}
	return t;
}

TEST(unobserved_error_handler_called_once)
{
	weft_error *e = weft_error_new(-EIO, "nobody looks");
	weft_task *t;

	atomic_init(&unobserved.calls, 0);
	atomic_init(&unobserved.last_inner, NULL);
	weft_set_unobserved_error_handler(unobserved_handler, NULL);
	t = fault_unobserved(e);
	REQUIRE(t != NULL);
	CHECK(weft_task_is_faulted(t));
	/* status queries do not observe */
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
	CHECK_EQ(atomic_load(&unobserved.calls), 0);
	weft_task_unref(t);
	/* the pool may hold the last reference for a moment */
	CHECK(poll_until(&unobserved.calls, 1));
	for (int i = 0; i < 20; i++)
		nap();
	CHECK_EQ(atomic_load(&unobserved.calls), 1);
	CHECK_PTR_EQ(atomic_load(&unobserved.last_inner), e);
	weft_set_unobserved_error_handler(NULL, NULL);
	weft_error_unref(e);
}

/* The task's arg_free runs after the unobserved report (same free), so it
 * tells us the task is gone. */
struct freed_fail {
	weft_error *e;
	atomic_int freed;
};

static weft_error *freed_fail_body(weft_task *self, void *arg)
{
	struct freed_fail *f = arg;
	(void)self;
	return weft_error_ref(f->e);
}

static void freed_fail_free(void *arg)
{
	atomic_fetch_add(&((struct freed_fail *)arg)->freed, 1);
}

enum observe_how {
	BY_WAIT,
	BY_WAIT_NULL_ERR,
	BY_TASK_ERROR,
	BY_GET_RESULT,
	BY_WAIT_ALL
};

static void observed_case(enum observe_how how)
{
	struct freed_fail f;
	weft_task *t;
	weft_error *err = NULL;
	void *out;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	f.e = weft_error_new(-EIO, "observed");
	atomic_init(&f.freed, 0);
	atomic_init(&unobserved.calls, 0);
	weft_set_unobserved_error_handler(unobserved_handler, NULL);
	o.arg_free = freed_fail_free;
	REQUIRE(weft_task_start_new(&t, freed_fail_body, &f, &o) == 0);
	switch (how) {
	case BY_WAIT:
		CHECK_EQ(
			weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
			WEFT_EFAULTED);
		break;
	case BY_WAIT_NULL_ERR:
		CHECK_EQ(
			weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
			WEFT_EFAULTED);
		break;
	case BY_TASK_ERROR: {
		size_t idx;
		CHECK_EQ(weft_task_wait_any(&t, 1, WEFT_INFINITE,
					    WEFT_TOKEN_NONE, &idx),
			 0);
		err = weft_task_error(t);
		CHECK(err != NULL);
		break;
	}
	case BY_GET_RESULT:
		CHECK_EQ(weft_task_get_result(t, &out, &err), WEFT_EFAULTED);
		break;
	case BY_WAIT_ALL:
		CHECK_EQ(weft_task_wait_all(&t, 1, WEFT_INFINITE,
					    WEFT_TOKEN_NONE, &err),
			 WEFT_EFAULTED);
		break;
	}
	weft_error_unref(err);
	weft_task_unref(t);
	CHECK(poll_until(&f.freed, 1));
	CHECK_EQ(atomic_load(&unobserved.calls), 0);
	weft_set_unobserved_error_handler(NULL, NULL);
	weft_error_unref(f.e);
}

TEST(unobserved_handler_not_called_after_wait)
{
	observed_case(BY_WAIT);
}

TEST(unobserved_handler_not_called_after_wait_without_err)
{
	observed_case(BY_WAIT_NULL_ERR);
}

TEST(unobserved_handler_not_called_after_task_error)
{
	observed_case(BY_TASK_ERROR);
}

TEST(unobserved_handler_not_called_after_get_result)
{
	observed_case(BY_GET_RESULT);
}

TEST(unobserved_handler_not_called_after_wait_all)
{
	observed_case(BY_WAIT_ALL);
}

TEST(unobserved_handler_not_called_for_canceled_or_succeeded)
{
	atomic_int runs;
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	atomic_init(&runs, 0);
	atomic_init(&unobserved.calls, 0);
	weft_set_unobserved_error_handler(unobserved_handler, NULL);
	o.token = weft_cancel_token_canceled();
	o.arg_free = inc_arg_free;
	REQUIRE(weft_task_create(&t, count_body, &runs, &o) == 0);
	weft_task_unref(t);
	CHECK_EQ(atomic_load(&runs), 1); /* arg_free counted once */
	o.token = WEFT_TOKEN_NONE;
	REQUIRE(weft_task_start_new(&t, count_body, &runs, &o) == 0);
	size_t idx;
	CHECK_EQ(
		weft_task_wait_any(&t, 1, WEFT_INFINITE, WEFT_TOKEN_NONE, &idx),
		0);
	weft_task_unref(t);
	CHECK(poll_until(&runs, 3)); /* body + arg_free */
	CHECK_EQ(atomic_load(&unobserved.calls), 0);
	weft_set_unobserved_error_handler(NULL, NULL);
}
