/*
 * test_parallel.c - fork-join (spec A.16): parallel_invoke2 and
 * parallel_invoke (every action exactly once, errors gathered, tokens,
 * max_degree), parallel_for / parallel_for_range / parallel_for_local
 * (every index exactly once, including ranges at the ends of int64, break,
 * stop, errors, cancellation, thread-local partitions).
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

/* Counters that record how often each index (or action) ran. */
struct visits {
	int64_t from;
	size_t n;
	atomic_uchar *count;
	atomic_int zero_ids; /* bodies that saw no current task id */
	atomic_int out_of_range;
};

static bool visits_init(struct visits *v, int64_t from, size_t n)
{
	v->from = from;
	v->n = n;
	v->count = calloc(n ? n : 1, sizeof(*v->count));
	atomic_init(&v->zero_ids, 0);
	atomic_init(&v->out_of_range, 0);
	return v->count != NULL;
}

static void visit(struct visits *v, int64_t i)
{
	/* unsigned distance: no overflow at the ends of int64 */
	uint64_t k = (uint64_t)i - (uint64_t)v->from;
	if (k >= v->n) {
		atomic_fetch_add(&v->out_of_range, 1);
		return;
	}
	atomic_fetch_add_explicit(&v->count[k], 1, memory_order_relaxed);
}

/* How many indices ran other than exactly once. */
static size_t visits_bad(struct visits *v)
{
	size_t bad = 0;
	for (size_t k = 0; k < v->n; k++)
		bad += atomic_load(&v->count[k]) != 1;
	return bad + (size_t)atomic_load(&v->out_of_range);
}

static void visits_free(struct visits *v)
{
	free(v->count);
}

/* ---- parallel_invoke2 ---------------------------------------------------- */

struct act {
	bool slow;
	atomic_int runs;
	weft_error *fail; /* returned (new reference) when set */
};

static weft_error *act_fn(void *arg)
{
	struct act *a = arg;
	if (a->slow)
		nap(); /* long enough for thieves to take some */
	atomic_fetch_add(&a->runs, 1);
	return a->fail ? weft_error_ref(a->fail) : NULL;
}

static void act_init(struct act *a, weft_error *fail)
{
	atomic_init(&a->runs, 0);
	a->fail = fail;
	a->slow = false;
}

TEST(invoke2_runs_both_exactly_once)
{
	struct act a, b;
	weft_error *err = (weft_error *)&err;

	act_init(&a, NULL);
	act_init(&b, NULL);
	CHECK_EQ(weft_parallel_invoke2(act_fn, &a, act_fn, &b, &err), 0);
	CHECK_PTR_EQ(err, NULL);
	CHECK_EQ(atomic_load(&a.runs), 1);
	CHECK_EQ(atomic_load(&b.runs), 1);
	CHECK_EQ(weft_parallel_invoke2(act_fn, &a, act_fn, &b, NULL), 0);
	CHECK_EQ(atomic_load(&a.runs), 2);
	CHECK_EQ(atomic_load(&b.runs), 2);
	CHECK_EQ(weft_parallel_invoke2(NULL, &a, act_fn, &b, NULL), -EINVAL);
	CHECK_EQ(weft_parallel_invoke2(act_fn, &a, NULL, &b, NULL), -EINVAL);
	CHECK_EQ(atomic_load(&a.runs), 2);
	CHECK_EQ(atomic_load(&b.runs), 2);
}

TEST(invoke2_aggregates_errors)
{
	struct act a, b;
	weft_error *ea = weft_error_new(-EIO, "a"),
		   *eb = weft_error_new(-EPIPE, "b");
	weft_error *err = NULL;

	act_init(&a, ea);
	act_init(&b, eb);
	CHECK_EQ(weft_parallel_invoke2(act_fn, &a, act_fn, &b, &err),
		 WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	REQUIRE(weft_error_inner_count(err) == 2);
	weft_error *x = weft_error_inner(err, 0), *y = weft_error_inner(err, 1);
	CHECK((x == ea && y == eb) || (x == eb && y == ea));
	weft_error_unref(err);
	CHECK_EQ(atomic_load(&a.runs), 1);
	CHECK_EQ(atomic_load(&b.runs), 1);

	/* one failing: an aggregate of that one */
	act_init(&b, NULL);
	CHECK_EQ(weft_parallel_invoke2(act_fn, &a, act_fn, &b, &err),
		 WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	REQUIRE(weft_error_inner_count(err) == 1);
	CHECK_PTR_EQ(weft_error_inner(err, 0), ea);
	weft_error_unref(err);
	/* ERR NULL: the errors are dropped, the code stays */
	CHECK_EQ(weft_parallel_invoke2(act_fn, &b, act_fn, &a, NULL),
		 WEFT_EFAULTED);
	weft_error_unref(ea);
	weft_error_unref(eb);
}

static weft_error *invoke2_in_task(weft_task *self, void *arg)
{
	struct act *ab = arg;
	(void)self;
	int rc = weft_parallel_invoke2(act_fn, &ab[0], act_fn, &ab[1], NULL);
	return rc ? weft_error_new(rc, "invoke2") : NULL;
}

TEST(invoke2_inside_a_task)
{
	struct act ab[2];
	weft_task *t;

	act_init(&ab[0], NULL);
	act_init(&ab[1], NULL);
	REQUIRE(weft_task_run(&t, invoke2_in_task, ab) == 0);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(atomic_load(&ab[0].runs), 1);
	CHECK_EQ(atomic_load(&ab[1].runs), 1);
	weft_task_unref(t);
}

/* ---- parallel_invoke
 * ---------------------------------------------------------- */

static void check_invoke_n(size_t n, bool slow)
{
	struct act *acts = calloc(n ? n : 1, sizeof(*acts));
	weft_action *list = calloc(n ? n : 1, sizeof(*list));
	weft_error *err = (weft_error *)&err;
	size_t bad = 0;

	REQUIRE(acts && list);
	for (size_t i = 0; i < n; i++) {
		act_init(&acts[i], NULL);
		acts[i].slow = slow;
		list[i].fn = act_fn;
		list[i].arg = &acts[i];
	}
	CHECK_EQ(weft_parallel_invoke(list, n, NULL, &err), 0);
	CHECK_PTR_EQ(err, NULL);
	for (size_t i = 0; i < n; i++)
		bad += atomic_load(&acts[i].runs) != 1;
	CHECK_EQ(bad, 0);
	free(acts);
	free(list);
}

TEST(invoke_runs_every_action_exactly_once)
{
	CHECK_EQ(weft_parallel_invoke(NULL, 0, NULL, NULL), 0);
	check_invoke_n(0, false);
	check_invoke_n(1, false);
	check_invoke_n(2, false);
	check_invoke_n(10, false);
	check_invoke_n(1000, false);
}

/* Actions slow enough that other workers take some of them. */
TEST(invoke_slow_actions_run_exactly_once)
{
	check_invoke_n(2, true);
	check_invoke_n(64, true);
}

TEST(invoke_argument_errors)
{
	struct act a;
	weft_action list[3];
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;

	act_init(&a, NULL);
	list[0] = (weft_action){act_fn, &a};
	list[1] = (weft_action){NULL, &a};
	list[2] = (weft_action){act_fn, &a};
	CHECK_EQ(weft_parallel_invoke(list, 3, NULL, NULL), -EINVAL);
	CHECK_EQ(weft_parallel_invoke(NULL, 3, NULL, NULL), -EINVAL);
	o.max_degree = 0;
	CHECK_EQ(weft_parallel_invoke(list, 1, &o, NULL), -EINVAL);
	o.max_degree = -2;
	CHECK_EQ(weft_parallel_invoke(list, 1, &o, NULL), -EINVAL);
	o.max_degree = -1;
	o.size = 4;
	CHECK_EQ(weft_parallel_invoke(list, 1, &o, NULL), -EINVAL);
	/* nothing ran */
	CHECK_EQ(atomic_load(&a.runs), 0);
}

TEST(invoke_precanceled_token_runs_nothing)
{
	struct act acts[5];
	weft_action list[5];
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;
	weft_cancel_source *src;
	weft_error *err = NULL;
	int runs = 0;

	REQUIRE(weft_cancel_source_new(&src) == 0);
	weft_cancel_source_cancel(src);
	o.token = weft_cancel_source_token(src);
	for (int i = 0; i < 5; i++) {
		act_init(&acts[i], NULL);
		list[i] = (weft_action){act_fn, &acts[i]};
	}
	CHECK_EQ(weft_parallel_invoke(list, 5, &o, &err), -ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_CANCELED);
	CHECK(weft_cancel_token_equal(weft_error_token(err), o.token));
	weft_error_unref(err);
	for (int i = 0; i < 5; i++)
		runs += atomic_load(&acts[i].runs);
	CHECK_EQ(runs, 0);
	/* with no action at all too */
	CHECK_EQ(weft_parallel_invoke(NULL, 0, &o, NULL), -ECANCELED);
	weft_cancel_source_unref(src);
}

TEST(invoke_gathers_all_errors_and_runs_everything)
{
	enum {
		N = 10
	};
	struct act acts[N];
	weft_action list[N];
	weft_error *errs[N] = {0};
	weft_error *err = NULL;
	int runs = 0, nfail = 0;

	for (int i = 0; i < N; i++) {
		if (i % 3 == 1) {
			errs[i] = weft_error_new(-EIO, "action %d", i);
			nfail++;
		}
		act_init(&acts[i], errs[i]);
		list[i] = (weft_action){act_fn, &acts[i]};
	}
	CHECK_EQ(weft_parallel_invoke(list, N, NULL, &err), WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	CHECK_EQ(weft_error_inner_count(err), nfail);
	/* every inner is one of the very errors, each once */
	int found = 0;
	for (int i = 0; i < N; i++) {
		if (!errs[i])
			continue;
		for (size_t k = 0; k < weft_error_inner_count(err); k++)
			found += weft_error_inner(err, k) == errs[i];
	}
	CHECK_EQ(found, nfail);
	for (int i = 0; i < N; i++)
		runs += atomic_load(&acts[i].runs);
	CHECK_EQ(runs, N);
	weft_error_unref(err);
	for (int i = 0; i < N; i++)
		weft_error_unref(errs[i]);
}

struct seq {
	atomic_int inflight, max_inflight, runs;
	pthread_mutex_t lock; /* guards first and first_set */
	pthread_t first;
	bool first_set;
	atomic_int other_thread;
};

static void seq_init(struct seq *s)
{
	atomic_init(&s->inflight, 0);
	atomic_init(&s->max_inflight, 0);
	atomic_init(&s->runs, 0);
	atomic_init(&s->other_thread, 0);
	pthread_mutex_init(&s->lock, NULL);
	s->first_set = false;
}

static void seq_enter(struct seq *s)
{
	int now = atomic_fetch_add(&s->inflight, 1) + 1;
	int m = atomic_load(&s->max_inflight);
	while (now > m &&
	       !atomic_compare_exchange_weak(&s->max_inflight, &m, now))
		;
	pthread_mutex_lock(&s->lock);
	if (!s->first_set) {
		s->first = pthread_self();
		s->first_set = true;
	} else if (!pthread_equal(s->first, pthread_self())) {
		atomic_fetch_add(&s->other_thread, 1);
	}
	pthread_mutex_unlock(&s->lock);
	nap();
	atomic_fetch_add(&s->runs, 1);
	atomic_fetch_sub(&s->inflight, 1);
}

static weft_error *seq_action(void *arg)
{
	seq_enter(arg);
	return NULL;
}

TEST(invoke_max_degree_1_is_sequential_on_one_thread)
{
	enum {
		N = 100
	};
	struct seq s;
	weft_action list[N];
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;

	seq_init(&s);
	for (int i = 0; i < N; i++)
		list[i] = (weft_action){seq_action, &s};
	o.max_degree = 1;
	CHECK_EQ(weft_parallel_invoke(list, N, &o, NULL), 0);
	CHECK_EQ(atomic_load(&s.runs), N);
	CHECK_EQ(atomic_load(&s.max_inflight), 1);
	CHECK_EQ(atomic_load(&s.other_thread), 0);
}

TEST(invoke_max_degree_bounds_concurrency)
{
	enum {
		N = 64
	};
	weft_scheduler *pool;
	struct seq s;
	weft_action list[N];
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;

	REQUIRE(weft_pool_new(&pool, 4) == 0);
	o.scheduler = pool;
	for (int degree = 2; degree <= 3; degree++) {
		for (int round = 0; round < 5; round++) {
			seq_init(&s);
			for (int i = 0; i < N; i++)
				list[i] = (weft_action){seq_action, &s};
			o.max_degree = degree;
			CHECK_EQ(weft_parallel_invoke(list, N, &o, NULL), 0);
			CHECK_EQ(atomic_load(&s.runs), N);
			CHECK(atomic_load(&s.max_inflight) <= degree);
		}
	}
	weft_scheduler_unref(pool);
}

struct handoff {
	weft_promise *p;
	atomic_int wait_rc;
	atomic_int set_rc;
};

static weft_error *wait_for_other_action(void *arg)
{
	struct handoff *h = arg;
	atomic_store(&h->wait_rc, weft_task_wait(weft_promise_task(h->p), 60000,
						 WEFT_TOKEN_NONE, NULL));
	return NULL;
}

static weft_error *complete_for_other_action(void *arg)
{
	struct handoff *h = arg;
	atomic_store(&h->set_rc, weft_promise_set_result(h->p, NULL, NULL));
	return NULL;
}

static void handoff_case(weft_scheduler *sched, bool waiter_first)
{
	struct handoff h;
	weft_action list[2];
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;

	REQUIRE(weft_promise_new(&h.p, NULL, 0) == 0);
	atomic_init(&h.wait_rc, 1);
	atomic_init(&h.set_rc, 1);
	list[waiter_first ? 0 : 1] = (weft_action){wait_for_other_action, &h};
	list[waiter_first ? 1 : 0] =
		(weft_action){complete_for_other_action, &h};
	o.scheduler = sched;
	CHECK_EQ(weft_parallel_invoke(list, 2, &o, NULL), 0);
	CHECK_EQ(atomic_load(&h.wait_rc), 0);
	CHECK_EQ(atomic_load(&h.set_rc), 0);
	weft_promise_unref(h.p);
}

TEST(invoke_action_waiting_for_another_does_not_deadlock)
{
	weft_scheduler *one;

	handoff_case(NULL, true);
	handoff_case(NULL, false);
	/* one worker: the waiting action must let the other one run */
	REQUIRE(weft_pool_new(&one, 1) == 0);
	handoff_case(one, true);
	handoff_case(one, false);
	weft_scheduler_unref(one);
}

struct cancel_mid {
	weft_cancel_source *src;
	atomic_int runs;
	int at;
};

static weft_error *cancel_mid_action(void *arg)
{
	struct cancel_mid *c = arg;
	if (atomic_fetch_add(&c->runs, 1) == c->at)
		weft_cancel_source_cancel(c->src);
	return NULL;
}

TEST(invoke_cancellation_skips_the_rest)
{
	enum {
		N = 1000
	};
	weft_scheduler *one;
	struct cancel_mid c;
	weft_action *list = calloc(N, sizeof(*list));
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;
	weft_error *err = NULL;

	REQUIRE(list != NULL);
	REQUIRE(weft_pool_new(&one, 1) == 0);
	REQUIRE(weft_cancel_source_new(&c.src) == 0);
	atomic_init(&c.runs, 0);
	c.at = 5;
	for (int i = 0; i < N; i++)
		list[i] = (weft_action){cancel_mid_action, &c};
	o.scheduler = one;
	o.token = weft_cancel_source_token(c.src);
	CHECK_EQ(weft_parallel_invoke(list, N, &o, &err), -ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_CANCELED);
	CHECK(weft_cancel_token_equal(weft_error_token(err), o.token));
	weft_error_unref(err);
	CHECK(atomic_load(&c.runs) > 5);
	CHECK(atomic_load(&c.runs) < N);
	weft_cancel_source_unref(c.src);
	weft_scheduler_unref(one);
	free(list);
}

/* ---- parallel_for
 * --------------------------------------------------------------- */

static weft_error *visit_body(int64_t i, weft_loop_state *st, void *arg)
{
	struct visits *v = arg;
	if (weft_loop_index(st) != i)
		atomic_fetch_add(&v->out_of_range, 1);
	if (weft_task_current_id() == 0)
		atomic_fetch_add(&v->zero_ids, 1);
	visit(v, i);
	return NULL;
}

static void check_for(int64_t from, int64_t to, const weft_parallel_options *o)
{
	struct visits v;
	weft_loop_result r = {false, true, 77};
	weft_error *err = (weft_error *)&err;
	size_t n = to > from ? (size_t)((uint64_t)to - (uint64_t)from) : 0;

	REQUIRE(visits_init(&v, from, n));
	CHECK_EQ(weft_parallel_for(from, to, visit_body, &v, o, &r, &err), 0);
	CHECK_PTR_EQ(err, NULL);
	CHECK_EQ(visits_bad(&v), 0);
	CHECK_EQ(atomic_load(&v.zero_ids), 0);
	CHECK(r.completed);
	CHECK(!r.has_lowest_break);
	visits_free(&v);
}

TEST(for_visits_every_index_exactly_once)
{
	check_for(0, 1, NULL);
	check_for(0, 2, NULL);
	check_for(0, 100000, NULL);
	check_for(-5000, 5000, NULL);
	check_for(-1000, -10, NULL);
	check_for(1, 12345, NULL);
}

TEST(for_empty_ranges_run_nothing)
{
	struct visits v;
	weft_loop_result r = {false, true, 77};

	REQUIRE(visits_init(&v, 0, 1));
	CHECK_EQ(weft_parallel_for(5, 5, visit_body, &v, NULL, &r, NULL), 0);
	CHECK(r.completed);
	CHECK(!r.has_lowest_break);
	CHECK_EQ(weft_parallel_for(10, 3, visit_body, &v, NULL, &r, NULL), 0);
	CHECK(r.completed);
	CHECK_EQ(weft_parallel_for(INT64_MAX, INT64_MIN, visit_body, &v, NULL,
				   NULL, NULL),
		 0);
	CHECK_EQ(atomic_load(&v.count[0]), 0);
	CHECK_EQ(atomic_load(&v.out_of_range), 0);
	visits_free(&v);
}

TEST(for_near_the_ends_of_int64)
{
	check_for(INT64_MAX - 1000, INT64_MAX, NULL);
	check_for(INT64_MAX - 1, INT64_MAX, NULL);
	check_for(INT64_MIN, INT64_MIN + 1000, NULL);
	check_for(INT64_MIN, INT64_MIN + 1, NULL);
}

TEST(for_on_explicit_pools_and_degrees)
{
	weft_scheduler *pool;
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;

	REQUIRE(weft_pool_new(&pool, 1) == 0);
	o.scheduler = pool;
	check_for(0, 10000, &o);
	weft_scheduler_unref(pool);
	REQUIRE(weft_pool_new(&pool, 4) == 0);
	o.scheduler = pool;
	check_for(-7, 99999, &o);
	o.max_degree = 2;
	check_for(0, 5000, &o);
	o.max_degree = 1;
	check_for(0, 5000, &o);
	weft_scheduler_unref(pool);
}

static weft_error *seq_body(int64_t i, weft_loop_state *st, void *arg)
{
	(void)i;
	(void)st;
	seq_enter(arg);
	return NULL;
}

struct sched_seen {
	weft_scheduler *want;
	atomic_int other;
	atomic_int ran;
};

static weft_error *sched_seen_body(int64_t i, weft_loop_state *st, void *arg)
{
	struct sched_seen *s = arg;
	(void)i;
	(void)st;
	nap();
	if (weft_scheduler_current() != s->want)
		atomic_fetch_add(&s->other, 1);
	atomic_fetch_add(&s->ran, 1);
	return NULL;
}

/* A loop on an explicit pool runs its bodies as that pool's work: a task
 * started inside with the implicit scheduler goes to the same pool. */
TEST(for_bodies_see_the_loops_scheduler)
{
	weft_scheduler *pool;
	struct sched_seen s;
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;

	REQUIRE(weft_pool_new(&pool, 4) == 0);
	s.want = pool;
	atomic_init(&s.other, 0);
	atomic_init(&s.ran, 0);
	o.scheduler = pool;
	CHECK_EQ(weft_parallel_for(0, 400, sched_seen_body, &s, &o, NULL, NULL),
		 0);
	CHECK_EQ(atomic_load(&s.ran), 400);
	CHECK_EQ(atomic_load(&s.other), 0);
	weft_scheduler_unref(pool);
}

TEST(for_max_degree_bounds_concurrency)
{
	weft_scheduler *pool;
	struct seq s;
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;

	REQUIRE(weft_pool_new(&pool, 4) == 0);
	o.scheduler = pool;
	o.max_degree = 1;
	seq_init(&s);
	CHECK_EQ(weft_parallel_for(0, 200, seq_body, &s, &o, NULL, NULL), 0);
	CHECK_EQ(atomic_load(&s.runs), 200);
	CHECK_EQ(atomic_load(&s.max_inflight), 1);
	CHECK_EQ(atomic_load(&s.other_thread), 0);
	for (int degree = 2; degree <= 3; degree++) {
		for (int round = 0; round < 12; round++) {
			seq_init(&s);
			o.max_degree = degree;
			CHECK_EQ(weft_parallel_for(0, 400, seq_body, &s, &o,
						   NULL, NULL),
				 0);
			CHECK_EQ(atomic_load(&s.runs), 400);
			CHECK(atomic_load(&s.max_inflight) <= degree);
		}
	}
	weft_scheduler_unref(pool);
}

TEST(for_argument_errors)
{
	struct visits v;
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;

	REQUIRE(visits_init(&v, 0, 10));
	CHECK_EQ(weft_parallel_for(0, 10, NULL, &v, NULL, NULL, NULL), -EINVAL);
	o.max_degree = 0;
	CHECK_EQ(weft_parallel_for(0, 10, visit_body, &v, &o, NULL, NULL),
		 -EINVAL);
	o.max_degree = -2;
	CHECK_EQ(weft_parallel_for(0, 10, visit_body, &v, &o, NULL, NULL),
		 -EINVAL);
	CHECK_EQ(weft_parallel_for_range(0, 10, 0, NULL, &v, NULL, NULL),
		 -EINVAL);
	CHECK_EQ(weft_parallel_for_range(0, 10, 0, NULL, &v, &o, NULL),
		 -EINVAL);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(atomic_load(&v.count[i]), 0);
	visits_free(&v);
}

struct breaker {
	struct visits v;
	int64_t every; /* indices with i % every == every - 1 call break */
	atomic_int break_rc_bad;
};

static weft_error *break_body(int64_t i, weft_loop_state *st, void *arg)
{
	struct breaker *b = arg;
	visit(&b->v, i);
	if (i % b->every == b->every - 1 && weft_loop_break(st) != 0)
		atomic_fetch_add(&b->break_rc_bad, 1);
	return NULL;
}

static void check_break(int64_t n, int64_t every,
			const weft_parallel_options *o)
{
	struct breaker b;
	weft_loop_result r = {true, false, -1};
	weft_error *err = (weft_error *)&err;

	REQUIRE(visits_init(&b.v, 0, (size_t)n));
	b.every = every;
	atomic_init(&b.break_rc_bad, 0);
	CHECK_EQ(weft_parallel_for(0, n, break_body, &b, o, &r, &err), 0);
	CHECK_PTR_EQ(err, NULL);
	CHECK(!r.completed);
	CHECK(r.has_lowest_break);
	CHECK_EQ(r.lowest_break % every, every - 1);
	CHECK(r.lowest_break >= 0 && r.lowest_break < n);
	CHECK_EQ(atomic_load(&b.break_rc_bad), 0);
	/* every index below the lowest break ran, exactly once; the
	 * breaking index itself ran */
	size_t bad = 0;
	for (int64_t i = 0; i <= r.lowest_break && i < n; i++)
		bad += atomic_load(&b.v.count[i]) != 1;
	CHECK_EQ(bad, 0);
	/* nothing ran twice anywhere */
	size_t twice = 0;
	for (int64_t i = 0; i < n; i++)
		twice += atomic_load(&b.v.count[i]) > 1;
	CHECK_EQ(twice, 0);
	visits_free(&b.v);
}

TEST(for_break_runs_everything_below)
{
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;

	check_break(100000, 50000, NULL); /* one breaker: 49999 */
	check_break(100000, 1000, NULL);  /* many breakers */
	check_break(100000, 1, NULL);	  /* everyone breaks */
	o.max_degree = 1;
	check_break(10000, 2500, &o);
}

struct stopper {
	struct visits v;
	int64_t at;
	atomic_int stop_rc_bad;
};

static weft_error *stop_body(int64_t i, weft_loop_state *st, void *arg)
{
	struct stopper *s = arg;
	visit(&s->v, i);
	if (i == s->at && weft_loop_stop(st) != 0)
		atomic_fetch_add(&s->stop_rc_bad, 1);
	if (i == s->at && !weft_loop_should_exit(st))
		atomic_fetch_add(&s->stop_rc_bad, 1);
	return NULL;
}

TEST(for_stop_leaves_early)
{
	struct stopper s;
	weft_loop_result r = {true, true, -1};
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;
	const int64_t n = 1000000;

	REQUIRE(visits_init(&s.v, 0, (size_t)n));
	s.at = 10;
	atomic_init(&s.stop_rc_bad, 0);
	CHECK_EQ(weft_parallel_for(0, n, stop_body, &s, NULL, &r, NULL), 0);
	CHECK(!r.completed);
	CHECK(!r.has_lowest_break);
	CHECK_EQ(atomic_load(&s.stop_rc_bad), 0);
	CHECK_EQ(atomic_load(&s.v.count[10]), 1);
	visits_free(&s.v);

	/* sequential: nothing after the stopping index starts */
	REQUIRE(visits_init(&s.v, 0, (size_t)n));
	o.max_degree = 1;
	CHECK_EQ(weft_parallel_for(0, n, stop_body, &s, &o, &r, NULL), 0);
	CHECK(!r.completed);
	size_t ran = 0;
	for (int64_t i = 0; i < n; i++)
		ran += atomic_load(&s.v.count[i]);
	CHECK_EQ(ran, 11);
	visits_free(&s.v);
}

struct mixed {
	bool stop_first;
	atomic_int second_rc;
};

static weft_error *break_and_stop_body(int64_t i, weft_loop_state *st,
				       void *arg)
{
	struct mixed *m = arg;
	if (i != 3)
		return NULL;
	if (m->stop_first) {
		weft_loop_stop(st);
		atomic_store(&m->second_rc, weft_loop_break(st));
	} else {
		weft_loop_break(st);
		atomic_store(&m->second_rc, weft_loop_stop(st));
	}
	return NULL;
}

static void check_mixed(bool stop_first)
{
	struct mixed m;
	weft_loop_result r;
	weft_error *err = NULL;

	m.stop_first = stop_first;
	atomic_init(&m.second_rc, 0);
	CHECK_EQ(weft_parallel_for(0, 100, break_and_stop_body, &m, NULL, &r,
				   &err),
		 WEFT_EFAULTED);
	CHECK(atomic_load(&m.second_rc) != 0);
	CHECK(!r.completed);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	CHECK_EQ(weft_error_inner_count(err), 1);
	weft_error_unref(err);
}

TEST(for_break_after_stop_and_stop_after_break_fail)
{
	check_mixed(true);
	check_mixed(false);
}

struct failing_loop {
	atomic_int returned;
	weft_error *errs[64];
	atomic_int nerrs;
	atomic_int ran;
};

static weft_error *failing_body(int64_t i, weft_loop_state *st, void *arg)
{
	struct failing_loop *f = arg;
	(void)st;
	atomic_fetch_add(&f->ran, 1);
	if (i % 100 != 7)
		return NULL;
	weft_error *e = weft_error_new(-EIO, "index %lld", (long long)i);
	int k = atomic_fetch_add(&f->nerrs, 1);
	if (k < 64)
		f->errs[k] = weft_error_ref(e);
	return e;
}

static void check_failing(const weft_parallel_options *o)
{
	struct failing_loop f;
	weft_loop_result r = {true, true, -1};
	weft_error *err = NULL;

	atomic_init(&f.nerrs, 0);
	atomic_init(&f.ran, 0);
	CHECK_EQ(weft_parallel_for(0, 1000, failing_body, &f, o, &r, &err),
		 WEFT_EFAULTED);
	CHECK(!r.completed);
	REQUIRE(err != NULL);
	int n = atomic_load(&f.nerrs);
	REQUIRE(n >= 1 && n <= 10);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	/* exactly the errors the bodies returned, each once */
	CHECK_EQ(weft_error_inner_count(err), n);
	int found = 0;
	for (int k = 0; k < n; k++)
		for (size_t j = 0; j < weft_error_inner_count(err); j++)
			found += weft_error_inner(err, j) == f.errs[k];
	CHECK_EQ(found, n);
	weft_error_unref(err);
	for (int k = 0; k < n; k++)
		weft_error_unref(f.errs[k]);
}

TEST(for_body_errors_are_aggregated)
{
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;

	check_failing(NULL);
	o.max_degree = 1;
	check_failing(&o);
}

struct cancel_loop {
	weft_cancel_source *src;
	int64_t at;
	atomic_llong ran;
};

static weft_error *cancel_loop_body(int64_t i, weft_loop_state *st, void *arg)
{
	struct cancel_loop *c = arg;
	(void)st;
	atomic_fetch_add(&c->ran, 1);
	if (i == c->at)
		weft_cancel_source_cancel(c->src);
	return NULL;
}

TEST(for_cancellation_mid_loop)
{
	struct cancel_loop c;
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;
	weft_loop_result r = {true, true, -1};
	weft_error *err = NULL;
	const int64_t n = 10000000;

	REQUIRE(weft_cancel_source_new(&c.src) == 0);
	c.at = 1000;
	atomic_init(&c.ran, 0);
	o.token = weft_cancel_source_token(c.src);
	CHECK_EQ(weft_parallel_for(0, n, cancel_loop_body, &c, &o, &r, &err),
		 -ECANCELED);
	CHECK(!r.completed);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_CANCELED);
	CHECK(weft_cancel_token_equal(weft_error_token(err), o.token));
	weft_error_unref(err);
	CHECK(atomic_load(&c.ran) < n);

	/* pre-canceled: before any iteration */
	atomic_store(&c.ran, 0);
	CHECK_EQ(weft_parallel_for(0, n, cancel_loop_body, &c, &o, &r, &err),
		 -ECANCELED);
	CHECK(!r.completed);
	CHECK_EQ(atomic_load(&c.ran), 0);
	CHECK(err != NULL);
	weft_error_unref(err);
	CHECK_EQ(weft_parallel_for_range(0, 10, 0, NULL, &c, &o, NULL),
		 -EINVAL);
	weft_cancel_source_unref(c.src);
}

/* ---- parallel_for_range
 * --------------------------------------------------------- */

struct ranges {
	struct visits v;
	atomic_int chunks;
	atomic_int empty_chunks;
	int64_t grain;
	atomic_int zero_ids;
};

static weft_error *range_body(int64_t b, int64_t e, void *arg)
{
	struct ranges *r = arg;
	atomic_fetch_add(&r->chunks, 1);
	if (b >= e)
		atomic_fetch_add(&r->empty_chunks, 1);
	if (weft_task_current_id() == 0)
		atomic_fetch_add(&r->zero_ids, 1);
	for (int64_t i = b; i < e; i++)
		visit(&r->v, i);
	return NULL;
}

static void check_range(int64_t from, int64_t to, int64_t grain)
{
	struct ranges r;
	weft_error *err = (weft_error *)&err;
	size_t n = to > from ? (size_t)((uint64_t)to - (uint64_t)from) : 0;

	REQUIRE(visits_init(&r.v, from, n));
	atomic_init(&r.chunks, 0);
	atomic_init(&r.empty_chunks, 0);
	atomic_init(&r.zero_ids, 0);
	r.grain = grain;
	CHECK_EQ(weft_parallel_for_range(from, to, grain, range_body, &r, NULL,
					 &err),
		 0);
	CHECK_PTR_EQ(err, NULL);
	CHECK_EQ(visits_bad(&r.v), 0);
	CHECK_EQ(atomic_load(&r.empty_chunks), 0);
	CHECK_EQ(atomic_load(&r.zero_ids), 0);
	if (n == 0)
		CHECK_EQ(atomic_load(&r.chunks), 0);
	visits_free(&r.v);
}

TEST(for_range_covers_exactly_once)
{
	check_range(0, 100000, 0);
	check_range(0, 100000, 1);
	check_range(0, 100000, 7);
	check_range(0, 100000, 1000000);
	check_range(-3333, 77777, 0);
	check_range(5, 5, 0);
	check_range(9, 2, 0);
	check_range(INT64_MAX - 5000, INT64_MAX, 0);
	check_range(INT64_MIN, INT64_MIN + 5000, 3);
	CHECK_EQ(weft_parallel_for_range(0, 10, -1, range_body, NULL, NULL,
					 NULL),
		 -EINVAL);
}

/* The whole int64 line in chunks: record them, then check they tile it. */
struct tiles {
	pthread_mutex_t lock;
	int64_t (*chunk)[2];
	size_t n, cap;
	bool overflow;
};

static weft_error *tile_body(int64_t b, int64_t e, void *arg)
{
	struct tiles *t = arg;
	pthread_mutex_lock(&t->lock);
	if (t->n < t->cap) {
		t->chunk[t->n][0] = b;
		t->chunk[t->n][1] = e;
		t->n++;
	} else {
		t->overflow = true;
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static int cmp_chunk(const void *a, const void *b)
{
	int64_t x = ((const int64_t *)a)[0], y = ((const int64_t *)b)[0];
	return x < y ? -1 : x > y;
}

static void check_tiles(int64_t from, int64_t to, int64_t grain)
{
	struct tiles t;
	t.cap = 1 << 16;
	t.chunk = calloc(t.cap, sizeof(*t.chunk));
	t.n = 0;
	t.overflow = false;
	pthread_mutex_init(&t.lock, NULL);
	REQUIRE(t.chunk != NULL);
	CHECK_EQ(weft_parallel_for_range(from, to, grain, tile_body, &t, NULL,
					 NULL),
		 0);
	CHECK(!t.overflow);
	REQUIRE(t.n >= 1);
	qsort(t.chunk, t.n, sizeof(*t.chunk), cmp_chunk);
	CHECK_EQ(t.chunk[0][0], from);
	CHECK_EQ(t.chunk[t.n - 1][1], to);
	size_t gaps = 0;
	for (size_t i = 0; i < t.n; i++) {
		gaps += t.chunk[i][0] >= t.chunk[i][1];
		if (i + 1 < t.n)
			gaps += t.chunk[i][1] != t.chunk[i + 1][0];
	}
	CHECK_EQ(gaps, 0);
	pthread_mutex_destroy(&t.lock);
	free(t.chunk);
}

TEST(for_range_over_the_whole_int64_line)
{
	/* sizes that do not fit in int64: to - from overflows if computed
	 * in signed arithmetic */
	check_tiles(INT64_MIN, INT64_MAX, 0);
	check_tiles(-1, INT64_MAX, 0);
	check_tiles(INT64_MIN, 1, 0);
	check_tiles(INT64_MIN, INT64_MAX, INT64_MAX / 4);
}

static weft_error *stop_at_once_body(int64_t i, weft_loop_state *st, void *arg)
{
	(void)i;
	atomic_fetch_add((atomic_int *)arg, 1);
	weft_loop_stop(st);
	return NULL;
}

TEST(for_over_the_whole_int64_line_with_stop)
{
	atomic_int ran;
	weft_loop_result r = {true, true, 0};

	atomic_init(&ran, 0);
	CHECK_EQ(weft_parallel_for(INT64_MIN, INT64_MAX, stop_at_once_body,
				   &ran, NULL, &r, NULL),
		 0);
	CHECK(!r.completed);
	CHECK(atomic_load(&ran) >= 1);
	CHECK(atomic_load(&ran) < 100000);
}

/* ---- parallel_for_local
 * --------------------------------------------------------- */

struct local_sum {
	atomic_int inits, finals;
	atomic_llong sum, count;
	atomic_int zero_ids;
	int64_t fail_at; /* -1: never */
	weft_error *fail;
};

struct partial {
	long long sum, count;
};

static void *local_init(void *arg)
{
	struct local_sum *s = arg;
	atomic_fetch_add(&s->inits, 1);
	return calloc(1, sizeof(struct partial));
}

static void *local_body(int64_t i, weft_loop_state *st, void *local, void *arg)
{
	struct local_sum *s = arg;
	struct partial *p = local;
	if (weft_task_current_id() == 0)
		atomic_fetch_add(&s->zero_ids, 1);
	if (i == s->fail_at)
		weft_loop_fail(st, weft_error_ref(s->fail));
	p->sum += i;
	p->count++;
	return p;
}

static void local_finally(void *local, void *arg)
{
	struct local_sum *s = arg;
	struct partial *p = local;
	atomic_fetch_add(&s->finals, 1);
	atomic_fetch_add(&s->sum, p->sum);
	atomic_fetch_add(&s->count, p->count);
	free(p);
}

static void local_sum_init(struct local_sum *s)
{
	atomic_init(&s->inits, 0);
	atomic_init(&s->finals, 0);
	atomic_init(&s->sum, 0);
	atomic_init(&s->count, 0);
	atomic_init(&s->zero_ids, 0);
	s->fail_at = -1;
	s->fail = NULL;
}

TEST(for_local_init_and_finally_once_per_partition)
{
	struct local_sum s;
	weft_loop_result r = {false, true, 1};
	const int64_t n = 200000;
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;

	local_sum_init(&s);
	CHECK_EQ(weft_parallel_for_local(0, n, local_init, local_body,
					 local_finally, &s, NULL, &r, NULL),
		 0);
	CHECK(r.completed);
	CHECK_EQ(atomic_load(&s.sum), n * (n - 1) / 2);
	CHECK_EQ(atomic_load(&s.count), n);
	CHECK(atomic_load(&s.inits) >= 1);
	CHECK_EQ(atomic_load(&s.inits), atomic_load(&s.finals));
	CHECK_EQ(atomic_load(&s.zero_ids), 0);

	/* one partition when sequential */
	local_sum_init(&s);
	o.max_degree = 1;
	CHECK_EQ(weft_parallel_for_local(-100, 100, local_init, local_body,
					 local_finally, &s, &o, NULL, NULL),
		 0);
	CHECK_EQ(atomic_load(&s.sum), -100);
	CHECK_EQ(atomic_load(&s.count), 200);
	CHECK_EQ(atomic_load(&s.inits), 1);
	CHECK_EQ(atomic_load(&s.finals), 1);

	/* empty: nothing at all */
	local_sum_init(&s);
	CHECK_EQ(weft_parallel_for_local(3, 3, local_init, local_body,
					 local_finally, &s, NULL, NULL, NULL),
		 0);
	CHECK_EQ(atomic_load(&s.inits), atomic_load(&s.finals));
	CHECK_EQ(atomic_load(&s.count), 0);
}

TEST(for_local_errors_and_arguments)
{
	struct local_sum s;
	weft_loop_result r = {true, true, 1};
	weft_error *err = NULL;

	local_sum_init(&s);
	s.fail_at = 777;
	s.fail = weft_error_new(-EIO, "local failure");
	CHECK_EQ(weft_parallel_for_local(0, 10000, local_init, local_body,
					 local_finally, &s, NULL, &r, &err),
		 WEFT_EFAULTED);
	CHECK(!r.completed);
	REQUIRE(err != NULL);
	REQUIRE(weft_error_inner_count(err) == 1);
	CHECK_PTR_EQ(weft_error_inner(err, 0), s.fail);
	/* partitions that started still finished */
	CHECK_EQ(atomic_load(&s.inits), atomic_load(&s.finals));
	weft_error_unref(err);
	weft_error_unref(s.fail);

	local_sum_init(&s);
	CHECK_EQ(weft_parallel_for_local(0, 10, NULL, local_body, local_finally,
					 &s, NULL, NULL, NULL),
		 -EINVAL);
	CHECK_EQ(weft_parallel_for_local(0, 10, local_init, NULL, local_finally,
					 &s, NULL, NULL, NULL),
		 -EINVAL);
	CHECK_EQ(weft_parallel_for_local(0, 10, local_init, local_body, NULL,
					 &s, NULL, NULL, NULL),
		 -EINVAL);
	CHECK_EQ(atomic_load(&s.inits), 0);
}

/* ---- nesting
 * --------------------------------------------------------------------- */

struct nested {
	struct visits v;
	int64_t inner;
	atomic_int failures;
};

struct nested_row {
	struct nested *n;
	int64_t row;
};

static weft_error *nested_inner(int64_t j, weft_loop_state *st, void *arg)
{
	struct nested_row *r = arg;
	(void)st;
	visit(&r->n->v, r->row * r->n->inner + j);
	return NULL;
}

static weft_error *nested_outer(int64_t i, weft_loop_state *st, void *arg)
{
	struct nested *n = arg;
	struct nested_row row = {n, i};
	(void)st;
	if (weft_parallel_for(0, n->inner, nested_inner, &row, NULL, NULL,
			      NULL) != 0)
		atomic_fetch_add(&n->failures, 1);
	return NULL;
}

TEST(nested_loops_cover_the_square)
{
	struct nested n;
	const int64_t rows = 300;

	n.inner = 300;
	atomic_init(&n.failures, 0);
	REQUIRE(visits_init(&n.v, 0, (size_t)(rows * n.inner)));
	CHECK_EQ(weft_parallel_for(0, rows, nested_outer, &n, NULL, NULL, NULL),
		 0);
	CHECK_EQ(atomic_load(&n.failures), 0);
	CHECK_EQ(visits_bad(&n.v), 0);
	visits_free(&n.v);
}

static weft_error *loop_in_task(weft_task *self, void *arg)
{
	struct visits *v = arg;
	(void)self;
	int rc = weft_parallel_for(v->from, v->from + (int64_t)v->n, visit_body,
				   v, NULL, NULL, NULL);
	return rc ? weft_error_new(rc, "parallel_for") : NULL;
}

TEST(loop_inside_a_task)
{
	struct visits v;
	weft_task *t;

	REQUIRE(visits_init(&v, 10, 50000));
	REQUIRE(weft_task_run(&t, loop_in_task, &v) == 0);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(visits_bad(&v), 0);
	weft_task_unref(t);
	visits_free(&v);
}

TEST(nested_loops_on_a_one_worker_pool)
{
	weft_scheduler *one;
	struct nested n;
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;
	const int64_t rows = 64;

	REQUIRE(weft_pool_new(&one, 1) == 0);
	o.scheduler = one;
	n.inner = 64;
	atomic_init(&n.failures, 0);
	REQUIRE(visits_init(&n.v, 0, (size_t)(rows * n.inner)));
	/* the inner loops use the current scheduler: the same single worker */
	CHECK_EQ(weft_parallel_for(0, rows, nested_outer, &n, &o, NULL, NULL),
		 0);
	CHECK_EQ(atomic_load(&n.failures), 0);
	CHECK_EQ(visits_bad(&n.v), 0);
	visits_free(&n.v);
	weft_scheduler_unref(one);
}
