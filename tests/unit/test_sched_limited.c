/*
 * test_sched_limited.c - weft_scheduler_new_limited: at most MAX tasks at
 * once on top of another scheduler.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

#include "harness.h"
#include "task_util.h"

/* Shared by the bodies of one measurement. */
struct meter {
	atomic_int active; /* bodies running now */
	atomic_int peak;   /* most ever seen at once */
	atomic_int done;
	atomic_int wrong_sched;
	weft_scheduler *expect; /* weft_scheduler_current() inside */
	struct meter *outer;	/* also counted in this one (nesting) */
};

static void meter_enter(struct meter *m)
{
	int now = atomic_fetch_add(&m->active, 1) + 1;
	int peak = atomic_load(&m->peak);

	while (now > peak &&
	       !atomic_compare_exchange_weak(&m->peak, &peak, now))
		;
}

/* Busy for a little while so that overlaps would be seen. */
static void linger(void)
{
	for (int i = 0; i < 200; i++)
		sched_yield();
}

static weft_error *metered_body(weft_task *self, void *arg)
{
	struct meter *m = arg;

	(void)self;
	if (m->expect && weft_scheduler_current() != m->expect)
		atomic_fetch_add(&m->wrong_sched, 1);
	meter_enter(m);
	if (m->outer)
		meter_enter(m->outer);
	linger();
	if (m->outer) {
		atomic_fetch_sub(&m->outer->active, 1);
		atomic_fetch_add(&m->outer->done, 1);
	}
	atomic_fetch_sub(&m->active, 1);
	atomic_fetch_add(&m->done, 1);
	return NULL;
}

/* Start N metered tasks on S and wait for all of them. */
static int run_metered(weft_scheduler *s, struct meter *m, int n)
{
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task **t = calloc((size_t)n, sizeof(*t));
	int rc = 0;

	if (!t)
		return -ENOMEM;
	o.scheduler = s;
	for (int i = 0; i < n && rc == 0; i++)
		rc = weft_task_start_new(&t[i], metered_body, m, &o);
	if (rc == 0)
		rc = weft_task_wait_all(t, (size_t)n, WEFT_INFINITE,
					WEFT_TOKEN_NONE, NULL);
	for (int i = 0; i < n; i++)
		weft_task_unref(t[i]);
	free(t);
	return rc;
}

TEST(bad_input)
{
	weft_scheduler *s = NULL;

	CHECK_EQ(weft_scheduler_new_limited(NULL, NULL, 1), -EINVAL);
	CHECK_EQ(weft_scheduler_new_limited(&s, NULL, 0), -EINVAL);
	CHECK_EQ(weft_scheduler_new_limited(&s, NULL, -1), -EINVAL);
	CHECK_EQ(weft_scheduler_new_limited(&s, NULL, -2147483647 - 1),
		 -EINVAL);
	CHECK(s == NULL);
}

TEST(reports_max_and_id)
{
	weft_scheduler *a, *b;

	REQUIRE(weft_scheduler_new_limited(&a, NULL, 3) == 0);
	REQUIRE(weft_scheduler_new_limited(&b, a, 1) == 0);
	CHECK_EQ(weft_scheduler_max_concurrency(a), 3);
	CHECK_EQ(weft_scheduler_max_concurrency(b), 1);
	CHECK(weft_scheduler_id(a) != 0);
	CHECK(weft_scheduler_id(b) != 0);
	CHECK(weft_scheduler_id(a) != weft_scheduler_id(b));
	CHECK(weft_scheduler_id(a) !=
	      weft_scheduler_id(weft_scheduler_default()));
	weft_scheduler_unref(b);
	weft_scheduler_unref(a);
}

/*
 * Never more than MAX at once, even on an inner pool with more threads
 * than MAX; and every task runs.
 */
TEST(never_more_than_max)
{
	static const int maxes[] = {1, 2, 3};
	weft_scheduler *pool;
	int n = (int)weft_test_scaled(400);

	REQUIRE(weft_pool_new(&pool, 6) == 0);
	for (size_t k = 0; k < sizeof(maxes) / sizeof(maxes[0]); k++) {
		struct meter m;
		weft_scheduler *s;

		memset(&m, 0, sizeof(m));
		REQUIRE(weft_scheduler_new_limited(&s, pool, maxes[k]) == 0);
		m.expect = s;
		CHECK_EQ(run_metered(s, &m, n), 0);
		CHECK_EQ(atomic_load(&m.done), n);
		CHECK(atomic_load(&m.peak) >= 1);
		CHECK(atomic_load(&m.peak) <= maxes[k]);
		CHECK_EQ(atomic_load(&m.wrong_sched), 0);
		weft_scheduler_unref(s);
	}
	/* the same pool without a limit does overlap (sanity of the meter),
	 * at least once in a few tries on a loaded machine */
	{
		struct meter m;
		int tries = 0;

		do {
			memset(&m, 0, sizeof(m));
			CHECK_EQ(run_metered(pool, &m, n), 0);
		} while (atomic_load(&m.peak) < 2 && ++tries < 20);
		CHECK(atomic_load(&m.peak) >= 2);
	}
	CHECK_EQ(weft_pool_shutdown(pool), 0);
	weft_scheduler_unref(pool);
}

/* Over the default scheduler (INNER NULL). */
TEST(default_inner)
{
	struct meter m;
	weft_scheduler *s;
	int n = (int)weft_test_scaled(200);

	memset(&m, 0, sizeof(m));
	REQUIRE(weft_scheduler_new_limited(&s, NULL, 2) == 0);
	m.expect = s;
	CHECK_EQ(run_metered(s, &m, n), 0);
	CHECK_EQ(atomic_load(&m.done), n);
	CHECK(atomic_load(&m.peak) <= 2);
	CHECK_EQ(atomic_load(&m.wrong_sched), 0);
	weft_scheduler_unref(s);
}

struct order {
	atomic_int next;
	int seen[1024];
};

struct order_arg {
	struct order *o;
	int index;
};

static weft_error *order_body(weft_task *self, void *arg)
{
	struct order_arg *a = arg;
	int slot = atomic_fetch_add(&a->o->next, 1);

	(void)self;
	if (slot < 1024)
		a->o->seen[slot] = a->index;
	return NULL;
}

/* With MAX 1 the tasks run one by one in the order they were queued. */
TEST(max_one_is_fifo)
{
	enum {
		N = 1024
	};
	static struct order o;
	static struct order_arg args[N];
	weft_task *t[N];
	weft_task_options opt = WEFT_TASK_OPTIONS_INIT;
	weft_scheduler *s;

	REQUIRE(weft_scheduler_new_limited(&s, NULL, 1) == 0);
	opt.scheduler = s;
	for (int i = 0; i < N; i++) {
		args[i] = (struct order_arg){&o, i};
		REQUIRE(weft_task_start_new(&t[i], order_body, &args[i],
					    &opt) == 0);
	}
	CHECK_EQ(weft_task_wait_all(t, N, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
		 0);
	CHECK_EQ(atomic_load(&o.next), N);
	for (int i = 0; i < N; i++) {
		if (o.seen[i] != i) {
			CHECK_EQ(o.seen[i], i);
			break;
		}
	}
	for (int i = 0; i < N; i++)
		weft_task_unref(t[i]);
	weft_scheduler_unref(s);
}

/*
 * Nesting: a task of a MAX-1 scheduler starts children on the same
 * scheduler (the current one) and waits for them.  The only runner is
 * busy with the parent, so the children must run inline on it.
 */
struct nest {
	weft_scheduler *s;
	int children;
	atomic_int child_ran;
	atomic_int child_wrong_sched;
	atomic_int child_other_thread;
	atomic_int errors;
};

struct nest_child {
	struct nest *n;
	pthread_t parent;
};

static weft_error *nest_child_body(weft_task *self, void *arg)
{
	struct nest_child *c = arg;

	(void)self;
	if (weft_scheduler_current() != c->n->s)
		atomic_fetch_add(&c->n->child_wrong_sched, 1);
	if (!pthread_equal(pthread_self(), c->parent))
		atomic_fetch_add(&c->n->child_other_thread, 1);
	atomic_fetch_add(&c->n->child_ran, 1);
	return NULL;
}

static weft_error *nest_parent_body(weft_task *self, void *arg)
{
	struct nest *n = arg;
	struct nest_child c = {n, pthread_self()};

	(void)self;
	for (int i = 0; i < n->children; i++) {
		weft_task *t;

		if (weft_task_start_new(&t, nest_child_body, &c, NULL) != 0) {
			atomic_fetch_add(&n->errors, 1);
			continue;
		}
		if (weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL))
			atomic_fetch_add(&n->errors, 1);
		weft_task_unref(t);
	}
	return NULL;
}

TEST(nested_wait_on_same_scheduler)
{
	struct nest n;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *p[4];

	memset(&n, 0, sizeof(n));
	REQUIRE(weft_scheduler_new_limited(&n.s, NULL, 1) == 0);
	n.children = 20;
	o.scheduler = n.s;
	for (int i = 0; i < 4; i++)
		REQUIRE(weft_task_start_new(&p[i], nest_parent_body, &n, &o) ==
			0);
	CHECK_EQ(weft_task_wait_all(p, 4, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
		 0);
	CHECK_EQ(atomic_load(&n.errors), 0);
	CHECK_EQ(atomic_load(&n.child_ran), 4 * n.children);
	CHECK_EQ(atomic_load(&n.child_wrong_sched), 0);
	/* with one runner, a waited-for child can only run on its parent's
	 * thread */
	CHECK_EQ(atomic_load(&n.child_other_thread), 0);
	for (int i = 0; i < 4; i++)
		weft_task_unref(p[i]);
	weft_scheduler_unref(n.s);
}

/*
 * A limited scheduler on top of another: tasks of the inner one and of
 * the outer one together never exceed the inner's MAX, and the outer's
 * alone never exceed its own.
 */
TEST(limited_over_limited)
{
	weft_scheduler *pool, *inner, *outer;
	struct meter all, only_outer, only_inner;
	int n = (int)weft_test_scaled(300);
	weft_task_options oi = WEFT_TASK_OPTIONS_INIT,
			  oo = WEFT_TASK_OPTIONS_INIT;
	weft_task **t = calloc((size_t)(2 * n), sizeof(*t));

	REQUIRE(t != NULL);
	memset(&all, 0, sizeof(all));
	memset(&only_outer, 0, sizeof(only_outer));
	memset(&only_inner, 0, sizeof(only_inner));
	REQUIRE(weft_pool_new(&pool, 6) == 0);
	REQUIRE(weft_scheduler_new_limited(&inner, pool, 3) == 0);
	REQUIRE(weft_scheduler_new_limited(&outer, inner, 1) == 0);
	only_outer.outer = &all;
	only_outer.expect = outer;
	only_inner.outer = &all;
	only_inner.expect = inner;
	oi.scheduler = inner;
	oo.scheduler = outer;
	for (int i = 0; i < n; i++) {
		REQUIRE(weft_task_start_new(&t[2 * i], metered_body,
					    &only_outer, &oo) == 0);
		REQUIRE(weft_task_start_new(&t[2 * i + 1], metered_body,
					    &only_inner, &oi) == 0);
	}
	CHECK_EQ(weft_task_wait_all(t, (size_t)(2 * n), WEFT_INFINITE,
				    WEFT_TOKEN_NONE, NULL),
		 0);
	CHECK_EQ(atomic_load(&all.done), 2 * n);
	CHECK(atomic_load(&only_outer.peak) <= 1);
	CHECK(atomic_load(&only_inner.peak) <= 3);
	CHECK(atomic_load(&all.peak) <= 3);
	CHECK_EQ(atomic_load(&only_outer.wrong_sched), 0);
	CHECK_EQ(atomic_load(&only_inner.wrong_sched), 0);
	for (int i = 0; i < 2 * n; i++)
		weft_task_unref(t[i]);
	free(t);
	weft_scheduler_unref(outer);
	weft_scheduler_unref(inner);
	CHECK_EQ(weft_pool_shutdown(pool), 0);
	weft_scheduler_unref(pool);
}

/* Many threads queueing at once. */
struct producer {
	weft_scheduler *s;
	struct meter *m;
	int n;
	atomic_int *errors;
};

static void *producer_thread(void *arg)
{
	struct producer *p = arg;

	if (run_metered(p->s, p->m, p->n) != 0)
		atomic_fetch_add(p->errors, 1);
	return NULL;
}

TEST(many_producers)
{
	enum {
		T = 6
	};
	struct meter m;
	atomic_int errors = 0;
	weft_scheduler *s;
	pthread_t th[T];
	struct producer p;

	memset(&m, 0, sizeof(m));
	REQUIRE(weft_scheduler_new_limited(&s, NULL, 2) == 0);
	m.expect = s;
	p = (struct producer){s, &m, (int)weft_test_scaled(200), &errors};
	for (int i = 0; i < T; i++)
		REQUIRE(pthread_create(&th[i], NULL, producer_thread, &p) == 0);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(atomic_load(&errors), 0);
	CHECK_EQ(atomic_load(&m.done), T * p.n);
	CHECK(atomic_load(&m.peak) <= 2);
	CHECK_EQ(atomic_load(&m.wrong_sched), 0);
	weft_scheduler_unref(s);
}

struct gate {
	atomic_bool open;
	atomic_bool entered;
};

static weft_error *gate_body(weft_task *self, void *arg)
{
	struct gate *g = arg;

	(void)self;
	atomic_store(&g->entered, true);
	for (int i = 0; i < 60000 && !atomic_load(&g->open); i++)
		sleep_ms(1);
	return NULL;
}

static weft_error *must_not_run(weft_task *self, void *arg)
{
	(void)self;
	atomic_fetch_add((atomic_int *)arg, 1);
	return NULL;
}

/*
 * A queued task whose token is canceled completes Canceled while the only
 * runner is still busy, and its body never runs.
 */
TEST(cancel_queued_task)
{
	struct gate g = {false, false};
	atomic_int ran = 0;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_cancel_source *src;
	weft_scheduler *s;
	weft_task *blocker, *victim;

	REQUIRE(weft_scheduler_new_limited(&s, NULL, 1) == 0);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	o.scheduler = s;
	REQUIRE(weft_task_start_new(&blocker, gate_body, &g, &o) == 0);
	for (int i = 0; i < 10000 && !atomic_load(&g.entered); i++)
		sleep_ms(1);
	REQUIRE(atomic_load(&g.entered));
	o.scheduler = NULL;
	o.token = weft_cancel_source_token(src);
	REQUIRE(weft_task_create(&victim, must_not_run, &ran, &o) == 0);
	REQUIRE(weft_task_start(victim, s) == 0);
	CHECK_EQ(weft_task_get_status(victim), WEFT_STATUS_WAITING_TO_RUN);
	CHECK_EQ(weft_cancel_source_cancel(src), 0);
	/* the runner is still blocked */
	CHECK_EQ(weft_task_get_status(victim), WEFT_STATUS_CANCELED);
	atomic_store(&g.open, true);
	CHECK_EQ(wait_inf(blocker), 0);
	CHECK_EQ(wait_inf(victim), -ECANCELED);
	CHECK_EQ(atomic_load(&ran), 0);
	weft_task_unref(blocker);
	weft_task_unref(victim);
	weft_cancel_source_unref(src);
	weft_scheduler_unref(s);
}

/* ---- an inner scheduler that can refuse work ------------------------ */

struct refuser {
	atomic_int refuse; /* non-zero: queue() fails with it */
	weft_scheduler *pool;
};

static weft_error *forward_body(weft_task *self, void *arg);

struct forward {
	weft_scheduler *s;
	weft_task *t;
};

/* queue() forwards to a real pool by running execute there. */
static weft_error *forward_body(weft_task *self, void *arg)
{
	struct forward *f = arg;

	(void)self;
	weft_scheduler_execute(f->s, f->t);
	free(f);
	return NULL;
}

static int refuser_queue(weft_scheduler *s, weft_task *t, void *data)
{
	struct refuser *r = data;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	struct forward *f;
	int rc = atomic_load(&r->refuse);

	if (rc)
		return rc;
	f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->s = s;
	f->t = t;
	o.scheduler = r->pool;
	o.arg_free = NULL;
	rc = weft_task_start_new(NULL, forward_body, f, &o);
	if (rc)
		free(f);
	return rc;
}

/*
 * When the inner scheduler refuses the runner, the task faults with a
 * scheduler error; once the inner accepts work again, tasks run.
 */
TEST(inner_refuses_runner)
{
	struct refuser r = {0, NULL};
	weft_scheduler_ops ops = {
		.size = sizeof(ops),
		.queue = refuser_queue,
	};
	weft_scheduler *inner, *s;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	atomic_int ran = 0;
	weft_task *t, *ok;
	weft_error *err = NULL;
	int rc;

	REQUIRE(weft_pool_new(&r.pool, 2) == 0);
	REQUIRE(weft_scheduler_new(&inner, &ops, &r) == 0);
	REQUIRE(weft_scheduler_new_limited(&s, inner, 2) == 0);

	atomic_store(&r.refuse, -EAGAIN);
	REQUIRE(weft_task_create(&t, must_not_run, &ran, NULL) == 0);
	rc = weft_task_start(t, s);
	CHECK(rc < 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	REQUIRE(err != NULL);
	REQUIRE(weft_error_inner_count(err) == 1);
	CHECK_EQ(weft_error_get_kind(weft_error_inner(err, 0)),
		 WEFT_ERROR_SCHEDULER);
	weft_error_unref(err);
	weft_task_unref(t);
	CHECK_EQ(atomic_load(&ran), 0);

	atomic_store(&r.refuse, 0);
	o.scheduler = s;
	REQUIRE(weft_task_start_new(&ok, must_not_run, &ran, &o) == 0);
	CHECK_EQ(wait_inf(ok), 0);
	CHECK_EQ(atomic_load(&ran), 1);
	weft_task_unref(ok);

	weft_scheduler_unref(s);
	weft_scheduler_unref(inner);
	CHECK_EQ(weft_pool_shutdown(r.pool), 0);
	weft_scheduler_unref(r.pool);
}

static weft_error *probe_current(weft_task *self, void *arg)
{
	(void)self;
	*(weft_scheduler **)arg = weft_scheduler_current();
	return NULL;
}

/* Inside its tasks the limited scheduler is current (unless hidden). */
TEST(current_inside_tasks)
{
	weft_scheduler *s, *seen = NULL, *seen_hidden = NULL;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *a, *b;

	REQUIRE(weft_scheduler_new_limited(&s, NULL, 2) == 0);
	o.scheduler = s;
	REQUIRE(weft_task_start_new(&a, probe_current, &seen, &o) == 0);
	o.flags = WEFT_TASK_HIDE_SCHEDULER;
	REQUIRE(weft_task_start_new(&b, probe_current, &seen_hidden, &o) == 0);
	CHECK_EQ(wait_inf(a), 0);
	CHECK_EQ(wait_inf(b), 0);
	CHECK_PTR_EQ(seen, s);
	CHECK_PTR_EQ(seen_hidden, weft_scheduler_default());
	weft_task_unref(a);
	weft_task_unref(b);
	weft_scheduler_unref(s);
}

static weft_error *probe_thread(weft_task *self, void *arg)
{
	(void)self;
	*(pthread_t *)arg = pthread_self();
	return NULL;
}

/*
 * run_synchronously from a thread that is not one of the scheduler's
 * runners does not inline (that would exceed MAX): the task is queued and
 * the call returns once it ran on a runner.
 */
TEST(run_synchronously_from_outside)
{
	weft_scheduler *s;
	pthread_t where = pthread_self();
	weft_task *t;

	REQUIRE(weft_scheduler_new_limited(&s, NULL, 1) == 0);
	REQUIRE(weft_task_create(&t, probe_thread, &where, NULL) == 0);
	CHECK_EQ(weft_task_run_synchronously(t, s), 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK(!pthread_equal(where, pthread_self()));
	weft_task_unref(t);
	weft_scheduler_unref(s);
}
