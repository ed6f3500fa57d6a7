/*
 * test_pool.c - work-stealing pools: sizes, real parallelism, stealing,
 * shutdown (drains, joins, refuses new work), the default pool's
 * configuration, and the current scheduler.
 *
 * Every test runs in a fresh child process, so the default pool is not
 * created yet when a test starts: the configuration tests rely on that.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

#include "harness.h"
#include "task_util.h"

/* ---- support ------------------------------------------------------------ */

/* ---- sizes and parallelism -------------------------------------------------
 */

/*
 * N tasks that each wait (polling, not blocking in weft) until all N have
 * started: only possible when N workers run at once.
 */
struct barrier {
	int n;
	atomic_int arrived;
	atomic_int timed_out;
	pthread_t threads[8];
	_Atomic(weft_scheduler *) seen_sched[8];
};

static weft_error *barrier_body(weft_task *self, void *arg)
{
	struct barrier *b = arg;
	(void)self;
	int k = atomic_fetch_add(&b->arrived, 1);
	if (k < 8) {
		b->threads[k] = pthread_self();
		atomic_store(&b->seen_sched[k], weft_scheduler_current());
	}
	if (!poll_until(&b->arrived, b->n))
		atomic_fetch_add(&b->timed_out, 1);
	return NULL;
}

static void check_pool_of(unsigned n)
{
	weft_scheduler *pool = NULL;
	struct barrier b;
	weft_task *ts[8];
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	REQUIRE(weft_pool_new(&pool, n) == 0);
	REQUIRE(pool != NULL);
	CHECK_EQ(weft_pool_size(pool), n);
	CHECK_EQ(weft_scheduler_max_concurrency(pool), (int)n);
	CHECK(weft_scheduler_id(pool) != 0);
	CHECK(weft_scheduler_id(pool) !=
	      weft_scheduler_id(weft_scheduler_default()));
	b.n = (int)n;
	atomic_init(&b.arrived, 0);
	atomic_init(&b.timed_out, 0);
	for (int i = 0; i < 8; i++)
		atomic_init(&b.seen_sched[i], NULL);
	o.scheduler = pool;
	for (unsigned i = 0; i < n; i++)
		REQUIRE(weft_task_start_new(&ts[i], barrier_body, &b, &o) == 0);
	CHECK_EQ(weft_task_wait_all(ts, n, 60000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(atomic_load(&b.timed_out), 0);
	/* n distinct threads, none of them this one */
	for (unsigned i = 0; i < n; i++) {
		CHECK(!pthread_equal(b.threads[i], pthread_self()));
		CHECK_PTR_EQ(atomic_load(&b.seen_sched[i]), pool);
		for (unsigned j = 0; j < i; j++)
			CHECK(!pthread_equal(b.threads[i], b.threads[j]));
	}
	for (unsigned i = 0; i < n; i++)
		weft_task_unref(ts[i]);
	CHECK_EQ(weft_pool_shutdown(pool), 0);
	weft_scheduler_unref(pool);
}

TEST(pool_of_1)
{
	check_pool_of(1);
}

TEST(pool_of_2)
{
	check_pool_of(2);
}

TEST(pool_of_4)
{
	check_pool_of(4);
}

TEST(pool_new_argument_errors)
{
	weft_scheduler *pool = NULL;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	CHECK_EQ(weft_pool_new(&pool, 4097), -EINVAL);
	CHECK_EQ(weft_pool_new(NULL, 1), -EINVAL);
	/* 0: one per online CPU */
	REQUIRE(weft_pool_new(&pool, 0) == 0);
	CHECK_EQ(weft_pool_size(pool), ncpu > 0 ? (unsigned)ncpu : 1u);
	weft_scheduler_unref(pool);
	CHECK_EQ(weft_pool_size(NULL), 0);
}

/* A task that fills its own deque and then waits, busy, until all its
 * children have started elsewhere: they can only have been stolen. */
struct steal {
	int n;
	atomic_int started;
	atomic_int timed_out;
	pthread_t parent;
	atomic_int on_parent_thread;
};

static weft_error *steal_child(weft_task *self, void *arg)
{
	struct steal *s = arg;
	(void)self;
	if (pthread_equal(pthread_self(), s->parent))
		atomic_fetch_add(&s->on_parent_thread, 1);
	atomic_fetch_add(&s->started, 1);
	if (!poll_until(&s->started, s->n))
		atomic_fetch_add(&s->timed_out, 1);
	return NULL;
}

static weft_error *steal_parent(weft_task *self, void *arg)
{
	struct steal *s = arg;
	weft_task *cs[8];
	(void)self;
	s->parent = pthread_self();
	for (int i = 0; i < s->n; i++)
		if (weft_task_start_new(&cs[i], steal_child, s, NULL) != 0)
			return weft_error_new(-ENOMEM, "start_new");
	/* do not help: poll, so the children must be stolen */
	if (!poll_until(&s->started, s->n))
		atomic_fetch_add(&s->timed_out, 1);
	int rc = weft_task_wait_all(cs, (size_t)s->n, WEFT_INFINITE,
				    WEFT_TOKEN_NONE, NULL);
	for (int i = 0; i < s->n; i++)
		weft_task_unref(cs[i]);
	return rc ? weft_error_new(rc, "wait_all") : NULL;
}

TEST(idle_workers_steal_from_a_busy_one)
{
	weft_scheduler *pool;
	struct steal s;
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	s.n = 3;
	atomic_init(&s.started, 0);
	atomic_init(&s.timed_out, 0);
	atomic_init(&s.on_parent_thread, 0);
	REQUIRE(weft_pool_new(&pool, 4) == 0);
	o.scheduler = pool;
	REQUIRE(weft_task_start_new(&t, steal_parent, &s, &o) == 0);
	CHECK_EQ(weft_task_wait(t, 60000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(atomic_load(&s.timed_out), 0);
	CHECK_EQ(atomic_load(&s.on_parent_thread), 0);
	CHECK_EQ(atomic_load(&s.started), 3);
	weft_task_unref(t);
	weft_scheduler_unref(pool);
}

/* ---- shutdown --------------------------------------------------------------
 */

struct spawner {
	atomic_int count;
	int fanout;
	int depth;
};

struct spawn_arg {
	struct spawner *s;
	int depth;
};

static void spawn_arg_free(void *arg)
{
	free(arg);
}

static atomic_uint busy_work;

static weft_error *spawn_body(weft_task *self, void *arg)
{
	struct spawn_arg *a = arg;
	(void)self;
	atomic_fetch_add(&a->s->count, 1);
	/* a little work, so shutdown finds things still queued */
	for (int i = 0; i < 2000; i++)
		atomic_fetch_add_explicit(&busy_work, 1, memory_order_relaxed);
	if (a->depth >= a->s->depth)
		return NULL;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	o.arg_free = spawn_arg_free;
	for (int i = 0; i < a->s->fanout; i++) {
		struct spawn_arg *c = malloc(sizeof(*c));
		if (!c)
			return weft_error_new(-ENOMEM, "malloc");
		c->s = a->s;
		c->depth = a->depth + 1;
		/* queued by a worker during shutdown: still accepted */
		weft_task_start_new(NULL, spawn_body, c, &o);
	}
	return NULL;
}

TEST(shutdown_runs_everything_queued_then_joins)
{
	weft_scheduler *pool;
	struct spawner s;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	int expect = 0, roots = 200;

	/* each root: 1 + 3 + 9 + 27 tasks */
	s.fanout = 3;
	s.depth = 3;
	atomic_init(&s.count, 0);
	REQUIRE(weft_pool_new(&pool, 2) == 0);
	o.scheduler = pool;
	o.arg_free = spawn_arg_free;
	for (int i = 0; i < roots; i++) {
		struct spawn_arg *a = malloc(sizeof(*a));
		REQUIRE(a != NULL);
		a->s = &s;
		a->depth = 0;
		REQUIRE(weft_task_start_new(NULL, spawn_body, a, &o) == 0);
		expect += 1 + 3 + 9 + 27;
	}
	CHECK_EQ(weft_pool_shutdown(pool), 0);
	/* everything ran before shutdown returned */
	CHECK_EQ(atomic_load(&s.count), expect);
	/* a second shutdown is harmless */
	CHECK_EQ(weft_pool_shutdown(pool), 0);
	CHECK_EQ(atomic_load(&s.count), expect);
	weft_scheduler_unref(pool);
}

TEST(unref_of_a_pool_drains_it)
{
	weft_scheduler *pool;
	atomic_int count;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	atomic_init(&count, 0);
	REQUIRE(weft_pool_new(&pool, 2) == 0);
	o.scheduler = pool;
	for (int i = 0; i < 5000; i++)
		REQUIRE(weft_task_start_new(NULL, count_body, &count, &o) == 0);
	weft_scheduler_unref(pool);
	CHECK_EQ(atomic_load(&count), 5000);
}

struct self_shutdown {
	weft_scheduler *pool;
	atomic_int rc;
};

static weft_error *self_shutdown_body(weft_task *self, void *arg)
{
	struct self_shutdown *s = arg;
	(void)self;
	atomic_store(&s->rc, weft_pool_shutdown(s->pool));
	return NULL;
}

TEST(shutdown_from_a_worker_is_edeadlk)
{
	struct self_shutdown s;
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	atomic_int count;

	atomic_init(&s.rc, 1);
	atomic_init(&count, 0);
	REQUIRE(weft_pool_new(&s.pool, 2) == 0);
	o.scheduler = s.pool;
	REQUIRE(weft_task_start_new(&t, self_shutdown_body, &s, &o) == 0);
	CHECK_EQ(weft_task_wait(t, 60000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(atomic_load(&s.rc), -EDEADLK);
	weft_task_unref(t);
	/* the pool still works */
	REQUIRE(weft_task_start_new(&t, count_body, &count, &o) == 0);
	CHECK_EQ(weft_task_wait(t, 60000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(atomic_load(&count), 1);
	weft_task_unref(t);
	weft_scheduler_unref(s.pool);
}

static void check_shutdown_error(weft_task *t)
{
	weft_error *err = NULL;

	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	REQUIRE(err != NULL);
	REQUIRE(weft_error_inner_count(err) == 1);
	weft_error *se = weft_error_inner(err, 0);
	CHECK_EQ(weft_error_get_kind(se), WEFT_ERROR_SCHEDULER);
	CHECK_EQ(weft_error_code(se), -ESHUTDOWN);
	REQUIRE(weft_error_inner_count(se) == 1);
	CHECK_EQ(weft_error_code(weft_error_inner(se, 0)), -ESHUTDOWN);
	weft_error_unref(err);
}

struct gated {
	atomic_int entered, open, left;
};

static weft_error *gated_body(weft_task *self, void *arg)
{
	struct gated *g = arg;
	(void)self;
	atomic_fetch_add(&g->entered, 1);
	if (!poll_until(&g->open, 1))
		return weft_error_new(-ETIMEDOUT, "never opened");
	atomic_fetch_add(&g->left, 1);
	return NULL;
}

struct shutdown_call {
	weft_scheduler *pool;
	atomic_int rc;
	atomic_int returned;
};

static void *shutdown_main(void *arg)
{
	struct shutdown_call *c = arg;
	atomic_store(&c->rc, weft_pool_shutdown(c->pool));
	atomic_store(&c->returned, 1);
	return NULL;
}

TEST(shutdown_waits_for_long_running_tasks)
{
	weft_scheduler *pool;
	struct gated g;
	struct shutdown_call c;
	pthread_t th;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	atomic_init(&g.entered, 0);
	atomic_init(&g.open, 0);
	atomic_init(&g.left, 0);
	REQUIRE(weft_pool_new(&pool, 1) == 0);
	o.scheduler = pool;
	o.flags = WEFT_TASK_LONG_RUNNING;
	REQUIRE(weft_task_start_new(NULL, gated_body, &g, &o) == 0);
	REQUIRE(poll_until(&g.entered, 1));
	c.pool = pool;
	atomic_init(&c.rc, 1);
	atomic_init(&c.returned, 0);
	REQUIRE(pthread_create(&th, NULL, shutdown_main, &c) == 0);
	for (int i = 0; i < 100; i++)
		nap();
	/* still running: shutdown has not returned */
	CHECK_EQ(atomic_load(&c.returned), 0);
	atomic_store(&g.open, 1);
	pthread_join(th, NULL);
	CHECK_EQ(atomic_load(&c.rc), 0);
	CHECK_EQ(atomic_load(&g.left), 1);
	weft_scheduler_unref(pool);
}

TEST(tasks_queued_after_shutdown_fault_with_eshutdown)
{
	weft_scheduler *pool;
	weft_task *t;
	atomic_int count;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	atomic_init(&count, 0);
	REQUIRE(weft_pool_new(&pool, 2) == 0);
	CHECK_EQ(weft_pool_shutdown(pool), 0);

	REQUIRE(weft_task_create(&t, count_body, &count, NULL) == 0);
	CHECK_EQ(weft_task_start(t, pool), -ESHUTDOWN);
	check_shutdown_error(t);
	weft_task_unref(t);

	o.scheduler = pool;
	REQUIRE(weft_task_start_new(&t, count_body, &count, &o) == 0);
	check_shutdown_error(t);
	weft_task_unref(t);

	CHECK_EQ(atomic_load(&count), 0);
	weft_scheduler_unref(pool);
}

TEST(shutdown_of_a_non_pool_is_einval)
{
	weft_scheduler *lim;

	CHECK_EQ(weft_pool_shutdown(NULL), -EINVAL);
	REQUIRE(weft_scheduler_new_limited(&lim, NULL, 1) == 0);
	CHECK_EQ(weft_pool_shutdown(lim), -EINVAL);
	CHECK_EQ(weft_pool_size(lim), 0);
	weft_scheduler_unref(lim);
}

/* ---- the default pool -------------------------------------------------------
 */

TEST(default_pool_configure)
{
	atomic_int count;
	weft_task *t;

	atomic_init(&count, 0);
	CHECK_EQ(weft_default_pool_configure(0), -EINVAL);
	CHECK_EQ(weft_default_pool_configure(4097), -EINVAL);
	CHECK_EQ(weft_default_pool_configure(3), 0);
	/* the last call before first use wins */
	CHECK_EQ(weft_default_pool_configure(5), 0);
	REQUIRE(weft_task_run(&t, count_body, &count) == 0);
	CHECK_EQ(weft_task_wait(t, 60000, WEFT_TOKEN_NONE, NULL), 0);
	weft_task_unref(t);
	CHECK_EQ(weft_pool_size(weft_scheduler_default()), 5);
	CHECK_EQ(weft_default_pool_configure(2), -EBUSY);
	CHECK_EQ(weft_default_pool_configure(0), -EINVAL);
	CHECK_EQ(weft_pool_size(weft_scheduler_default()), 5);
	CHECK_EQ(atomic_load(&count), 1);
}

TEST(default_pool_from_environment)
{
	setenv("WEFT_NUM_THREADS", "3", 1);
	CHECK_EQ(weft_pool_size(weft_scheduler_default()), 3);
	CHECK_EQ(weft_default_pool_configure(2), -EBUSY);
}

TEST(default_pool_ignores_a_bad_environment)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	setenv("WEFT_NUM_THREADS", "zero", 1);
	CHECK_EQ(weft_pool_size(weft_scheduler_default()),
		 ncpu > 0 ? (unsigned)ncpu : 1u);
}

TEST(default_pool_is_one_object)
{
	weft_scheduler *d = weft_scheduler_default();
	REQUIRE(d != NULL);
	CHECK_PTR_EQ(weft_scheduler_default(), d);
	CHECK_PTR_EQ(weft_scheduler_current(), d);
	CHECK(weft_pool_size(d) >= 1);
	CHECK_EQ(weft_scheduler_id(d), weft_scheduler_id(d));
}

/* ---- many external submitters
 * ------------------------------------------------ */

struct submitter {
	weft_scheduler *pool;
	atomic_int *count;
	int n;
	atomic_int failures;
};

static void *submit_main(void *arg)
{
	struct submitter *s = arg;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *batch[16];
	o.scheduler = s->pool;
	for (int i = 0; i < s->n; i += 16) {
		int k = 0;
		for (; k < 16 && i + k < s->n; k++)
			if (weft_task_start_new(&batch[k], count_body, s->count,
						&o) != 0)
				break;
		if (weft_task_wait_all(batch, (size_t)k, WEFT_INFINITE,
				       WEFT_TOKEN_NONE, NULL) != 0)
			atomic_fetch_add(&s->failures, 1);
		for (int j = 0; j < k; j++)
			weft_task_unref(batch[j]);
	}
	return NULL;
}

TEST(external_threads_submit_concurrently)
{
	enum {
		THREADS = 6
	};
	weft_scheduler *pool;
	atomic_int count;
	struct submitter s[THREADS];
	pthread_t th[THREADS];
	int per = (int)weft_test_scaled(20000);

	atomic_init(&count, 0);
	REQUIRE(weft_pool_new(&pool, 2) == 0);
	for (int i = 0; i < THREADS; i++) {
		s[i].pool = pool;
		s[i].count = &count;
		s[i].n = per;
		atomic_init(&s[i].failures, 0);
		REQUIRE(pthread_create(&th[i], NULL, submit_main, &s[i]) == 0);
	}
	int failures = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		failures += atomic_load(&s[i].failures);
	}
	CHECK_EQ(failures, 0);
	CHECK_EQ(atomic_load(&count), THREADS * per);
	weft_scheduler_unref(pool);
}
