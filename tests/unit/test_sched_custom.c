/*
 * test_sched_custom.c - schedulers written by the user through
 * weft_scheduler_ops (TaskScheduler subclasses in .NET).
 *
 * Two schedulers are written here as a user would: a "thread" scheduler
 * with one dedicated thread draining a FIFO, and a "manual" scheduler that
 * only stores what it is given, so the test decides when a task runs.
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

/* ---- a user scheduler ------------------------------------------------ */

enum {
	MAXQ = 4096
};

struct user_sched {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	weft_task *q[MAXQ];
	size_t head, len;
	bool has_thread, stop;
	pthread_t thread;
	weft_scheduler *s;
	int fail_queue;	   /* non-zero: queue() returns it */
	bool allow_inline; /* try_execute_inline may run tasks */
	atomic_int queued, inline_calls, inline_prev_queued, inlined;
	atomic_int dequeue_calls, dequeued;
	atomic_int *destroyed; /* outlives the scheduler */
};

static weft_task *q_pop(struct user_sched *u)
{
	weft_task *t;

	if (!u->len)
		return NULL;
	t = u->q[u->head];
	u->head = (u->head + 1) % MAXQ;
	u->len--;
	return t;
}

static bool q_remove(struct user_sched *u, weft_task *t)
{
	for (size_t i = 0; i < u->len; i++) {
		if (u->q[(u->head + i) % MAXQ] != t)
			continue;
		for (size_t j = i; j + 1 < u->len; j++)
			u->q[(u->head + j) % MAXQ] =
				u->q[(u->head + j + 1) % MAXQ];
		u->len--;
		return true;
	}
	return false;
}

static int user_queue(weft_scheduler *s, weft_task *t, void *data)
{
	struct user_sched *u = data;

	(void)s;
	if (u->fail_queue)
		return u->fail_queue;
	pthread_mutex_lock(&u->lock);
	if (u->len == MAXQ) {
		pthread_mutex_unlock(&u->lock);
		return -EAGAIN;
	}
	u->q[(u->head + u->len) % MAXQ] = t;
	u->len++;
	atomic_fetch_add(&u->queued, 1);
	pthread_cond_signal(&u->cond);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

static bool user_try_inline(weft_scheduler *s, weft_task *t,
			    bool previously_queued, void *data)
{
	struct user_sched *u = data;

	atomic_fetch_add(&u->inline_calls, 1);
	if (previously_queued)
		atomic_fetch_add(&u->inline_prev_queued, 1);
	if (!u->allow_inline)
		return false;
	if (previously_queued) {
		bool found;

		pthread_mutex_lock(&u->lock);
		found = q_remove(u, t);
		pthread_mutex_unlock(&u->lock);
		if (!found)
			return false;
	}
	atomic_fetch_add(&u->inlined, 1);
	return weft_scheduler_execute(s, t) == 1;
}

static bool user_try_dequeue(weft_scheduler *s, weft_task *t, void *data)
{
	struct user_sched *u = data;
	bool found;

	(void)s;
	atomic_fetch_add(&u->dequeue_calls, 1);
	pthread_mutex_lock(&u->lock);
	found = q_remove(u, t);
	pthread_mutex_unlock(&u->lock);
	if (found)
		atomic_fetch_add(&u->dequeued, 1);
	return found;
}

static void *user_thread(void *arg)
{
	struct user_sched *u = arg;

	pthread_mutex_lock(&u->lock);
	for (;;) {
		weft_task *t;

		while (!u->stop && !u->len)
			pthread_cond_wait(&u->cond, &u->lock);
		if (!u->len)
			break; /* stop, and drained */
		t = q_pop(u);
		pthread_mutex_unlock(&u->lock);
		weft_scheduler_execute(u->s, t);
		pthread_mutex_lock(&u->lock);
	}
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

static void user_destroy(weft_scheduler *s, void *data)
{
	struct user_sched *u = data;
	weft_task *t;

	(void)s;
	if (u->has_thread) {
		pthread_mutex_lock(&u->lock);
		u->stop = true;
		pthread_cond_broadcast(&u->cond);
		pthread_mutex_unlock(&u->lock);
		pthread_join(u->thread, NULL);
	}
	while ((t = q_pop(u)))
		weft_task_unref(t);
	if (u->destroyed)
		atomic_fetch_add(u->destroyed, 1);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

/*
 * A user scheduler: with a thread of its own (WITH_THREAD) or manual.
 * Returns the scheduler (+1) and its state in *UP.
 */
static weft_scheduler *user_new(bool with_thread, bool allow_inline,
				int max_concurrency, struct user_sched **up,
				atomic_int *destroyed)
{
	weft_scheduler_ops ops = {
		.size = sizeof(ops),
		.queue = user_queue,
		.try_execute_inline = user_try_inline,
		.try_dequeue = user_try_dequeue,
		.destroy = user_destroy,
		.max_concurrency = max_concurrency,
	};
	struct user_sched *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	u->allow_inline = allow_inline;
	u->destroyed = destroyed;
	if (weft_scheduler_new(&u->s, &ops, u) != 0) {
		free(u);
		return NULL;
	}
	if (with_thread) {
		if (pthread_create(&u->thread, NULL, user_thread, u) != 0) {
			weft_scheduler_unref(u->s);
			return NULL;
		}
		u->has_thread = true;
	}
	*up = u;
	return u->s;
}

/* The manual scheduler: run the oldest stored task on this thread. */
static int manual_run_one(struct user_sched *u)
{
	weft_task *t;

	pthread_mutex_lock(&u->lock);
	t = q_pop(u);
	pthread_mutex_unlock(&u->lock);
	if (!t)
		return -1;
	return weft_scheduler_execute(u->s, t);
}

static size_t manual_len(struct user_sched *u)
{
	size_t n;

	pthread_mutex_lock(&u->lock);
	n = u->len;
	pthread_mutex_unlock(&u->lock);
	return n;
}

/* ---- bodies ---------------------------------------------------------- */

struct probe {
	atomic_int ran;
	pthread_t thread;
	weft_scheduler *current;
	uint64_t task_id;
};

static weft_error *probe_body(weft_task *self, void *arg)
{
	struct probe *p = arg;

	(void)self;
	p->thread = pthread_self();
	p->current = weft_scheduler_current();
	p->task_id = weft_task_current_id();
	atomic_fetch_add(&p->ran, 1);
	return NULL;
}

static weft_error *probe_cont(weft_task *self, weft_task *ante, void *arg)
{
	(void)ante;
	return probe_body(self, arg);
}

static atomic_int arg_frees;
static void count_free(void *arg)
{
	(void)arg;
	atomic_fetch_add(&arg_frees, 1);
}

/* ---- tests ----------------------------------------------------------- */

TEST(new_bad_input)
{
	weft_scheduler_ops ops = {
		.size = sizeof(ops),
		.queue = user_queue,
	};
	weft_scheduler_ops bad;
	weft_scheduler *s = (weft_scheduler *)&ops; /* must stay untouched */

	CHECK_EQ(weft_scheduler_new(NULL, &ops, NULL), -EINVAL);
	CHECK_EQ(weft_scheduler_new(&s, NULL, NULL), -EINVAL);
	bad = ops;
	bad.queue = NULL;
	CHECK_EQ(weft_scheduler_new(&s, &bad, NULL), -EINVAL);
	bad = ops;
	bad.size = 0;
	CHECK_EQ(weft_scheduler_new(&s, &bad, NULL), -EINVAL);
	bad = ops;
	bad.size = sizeof(size_t);
	CHECK_EQ(weft_scheduler_new(&s, &bad, NULL), -EINVAL);
	bad = ops;
	bad.max_concurrency = -1;
	CHECK_EQ(weft_scheduler_new(&s, &bad, NULL), -EINVAL);
	CHECK_PTR_EQ(s, &ops);

	CHECK_EQ(weft_scheduler_id(NULL), 0);
	weft_scheduler_unref(NULL);
	CHECK(weft_scheduler_ref(NULL) == NULL);
	CHECK_EQ(weft_scheduler_execute(NULL, NULL), -EINVAL);
}

TEST(max_concurrency_reported)
{
	struct user_sched *u;
	weft_scheduler *s3 = user_new(false, false, 3, &u, NULL);
	weft_scheduler *s0 = user_new(false, false, 0, &u, NULL);

	REQUIRE(s3 && s0);
	CHECK_EQ(weft_scheduler_max_concurrency(s3), 3);
	CHECK_EQ(weft_scheduler_max_concurrency(s0), 0);
	weft_scheduler_unref(s3);
	weft_scheduler_unref(s0);
}

TEST(ids_unique_and_nonzero)
{
	enum {
		N = 16
	};
	weft_scheduler *s[N];
	uint64_t id[N];
	struct user_sched *u;
	weft_scheduler *pool;
	uint64_t did, pid;

	for (int i = 0; i < N; i++) {
		s[i] = user_new(false, false, 0, &u, NULL);
		REQUIRE(s[i] != NULL);
	}
	/* ask in reverse creation order: ids are assigned lazily */
	for (int i = N - 1; i >= 0; i--)
		id[i] = weft_scheduler_id(s[i]);
	REQUIRE(weft_pool_new(&pool, 1) == 0);
	did = weft_scheduler_id(weft_scheduler_default());
	pid = weft_scheduler_id(pool);
	CHECK(did != 0);
	CHECK(pid != 0);
	CHECK(did != pid);
	for (int i = 0; i < N; i++) {
		CHECK(id[i] != 0);
		CHECK(id[i] != did);
		CHECK(id[i] != pid);
		CHECK_EQ(weft_scheduler_id(s[i]), id[i]); /* stable */
		for (int j = 0; j < i; j++)
			CHECK(id[i] != id[j]);
	}
	CHECK_EQ(weft_scheduler_id(weft_scheduler_default()), did);
	for (int i = 0; i < N; i++)
		weft_scheduler_unref(s[i]);
	CHECK_EQ(weft_pool_shutdown(pool), 0);
	weft_scheduler_unref(pool);
}

static void *id_thread(void *arg)
{
	weft_scheduler *s = arg;

	return (void *)(uintptr_t)weft_scheduler_id(s);
}

/* Concurrent first requests for an id all get the same one. */
TEST(id_race_same_value)
{
	enum {
		T = 8
	};
	struct user_sched *u;
	weft_scheduler *s = user_new(false, false, 0, &u, NULL);
	pthread_t th[T];
	void *r[T];

	REQUIRE(s != NULL);
	for (int i = 0; i < T; i++)
		REQUIRE(pthread_create(&th[i], NULL, id_thread, s) == 0);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], &r[i]);
	for (int i = 0; i < T; i++) {
		CHECK(r[i] != NULL);
		CHECK_PTR_EQ(r[i], r[0]);
	}
	CHECK_EQ((uintptr_t)r[0], weft_scheduler_id(s));
	weft_scheduler_unref(s);
}

/* Task ids: unique, never 0, and what the body sees as the current id. */
TEST(task_ids_unique_and_nonzero)
{
	enum {
		N = 64
	};
	struct user_sched *u;
	weft_scheduler *s = user_new(true, false, 0, &u, NULL);
	struct probe p[N];
	weft_task *t[N];
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	REQUIRE(s != NULL);
	memset(p, 0, sizeof(p));
	o.scheduler = s;
	for (int i = 0; i < N; i++)
		REQUIRE(weft_task_start_new(&t[i], probe_body, &p[i], &o) == 0);
	CHECK_EQ(weft_task_wait_all(t, N, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
		 0);
	for (int i = 0; i < N; i++) {
		uint64_t id = weft_task_id(t[i]);

		CHECK(id != 0);
		CHECK_EQ(p[i].task_id, id);
		for (int j = 0; j < i; j++)
			CHECK(id != weft_task_id(t[j]));
	}
	CHECK_EQ(weft_task_current_id(), 0);
	for (int i = 0; i < N; i++)
		weft_task_unref(t[i]);
	weft_scheduler_unref(s);
}

TEST(tasks_run_on_the_scheduler_thread)
{
	enum {
		N = 100
	};
	struct user_sched *u;
	atomic_int destroyed = 0;
	weft_scheduler *s = user_new(true, false, 1, &u, &destroyed);
	struct probe p[N];
	weft_task *t[N];

	REQUIRE(s != NULL);
	memset(p, 0, sizeof(p));
	for (int i = 0; i < N; i++) {
		REQUIRE(weft_task_create(&t[i], probe_body, &p[i], NULL) == 0);
		CHECK_EQ(weft_task_start(t[i], s), 0);
	}
	CHECK_EQ(weft_task_wait_all(t, N, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
		 0);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(atomic_load(&p[i].ran), 1);
		CHECK(pthread_equal(p[i].thread, u->thread));
		CHECK_PTR_EQ(p[i].current, s);
		CHECK_EQ(weft_task_get_status(t[i]),
			 WEFT_STATUS_RAN_TO_COMPLETION);
		weft_task_unref(t[i]);
	}
	CHECK_EQ(atomic_load(&u->queued), N);
	/* outside any task, the current scheduler is the default */
	CHECK_PTR_EQ(weft_scheduler_current(), weft_scheduler_default());
	weft_scheduler_unref(s);
	CHECK_EQ(atomic_load(&destroyed), 1);
}

TEST(current_scheduler_and_hide_scheduler)
{
	struct user_sched *u;
	weft_scheduler *s = user_new(true, false, 0, &u, NULL);
	struct probe shown = {.ran = 0}, hidden = {.ran = 0};
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *a, *b;

	REQUIRE(s != NULL);
	o.scheduler = s;
	REQUIRE(weft_task_start_new(&a, probe_body, &shown, &o) == 0);
	o.flags = WEFT_TASK_HIDE_SCHEDULER;
	REQUIRE(weft_task_start_new(&b, probe_body, &hidden, &o) == 0);
	CHECK_EQ(wait_inf(a), 0);
	CHECK_EQ(wait_inf(b), 0);
	CHECK_PTR_EQ(shown.current, s);
	CHECK_PTR_EQ(hidden.current, weft_scheduler_default());
	/* HIDE_SCHEDULER changes what the body sees, not where it runs */
	CHECK(pthread_equal(hidden.thread, u->thread));
	weft_task_unref(a);
	weft_task_unref(b);
	weft_scheduler_unref(s);
}

struct spawn_arg {
	unsigned child_flags;
	struct probe child;
	int rc;
};

static weft_error *spawn_body(weft_task *self, void *arg)
{
	struct spawn_arg *a = arg;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *c;

	(void)self;
	o.flags = a->child_flags;
	/* no scheduler given: the current one */
	a->rc = weft_task_start_new(&c, probe_body, &a->child, &o);
	if (a->rc == 0)
		weft_task_unref(c);
	return NULL;
}

/* Tasks started inside a task go to the current scheduler (StartNew). */
TEST(children_use_current_scheduler)
{
	struct user_sched *u;
	weft_scheduler *s = user_new(true, false, 0, &u, NULL);
	struct spawn_arg plain, hid;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *a, *b;

	REQUIRE(s != NULL);
	memset(&plain, 0, sizeof(plain));
	memset(&hid, 0, sizeof(hid));
	o.scheduler = s;
	REQUIRE(weft_task_start_new(&a, spawn_body, &plain, &o) == 0);
	o.flags = WEFT_TASK_HIDE_SCHEDULER;
	REQUIRE(weft_task_start_new(&b, spawn_body, &hid, &o) == 0);
	CHECK_EQ(wait_inf(a), 0);
	CHECK_EQ(wait_inf(b), 0);
	CHECK_EQ(plain.rc, 0);
	CHECK_EQ(hid.rc, 0);
	for (int i = 0; i < 10000 && (atomic_load(&plain.child.ran) == 0 ||
				      atomic_load(&hid.child.ran) == 0);
	     i++)
		sleep_ms(1);
	CHECK_EQ(atomic_load(&plain.child.ran), 1);
	CHECK_EQ(atomic_load(&hid.child.ran), 1);
	CHECK_PTR_EQ(plain.child.current, s);
	CHECK(pthread_equal(plain.child.thread, u->thread));
	/* the hidden parent's child went to the default pool */
	CHECK_PTR_EQ(hid.child.current, weft_scheduler_default());
	CHECK(!pthread_equal(hid.child.thread, u->thread));
	weft_task_unref(a);
	weft_task_unref(b);
	weft_scheduler_unref(s);
}

/* A queue() failure faults the task with a SCHEDULER error. */
TEST(queue_failure_faults_task)
{
	struct user_sched *u;
	weft_scheduler *s = user_new(false, false, 0, &u, NULL);
	struct probe p = {.ran = 0};
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *t, *t2;
	weft_error *err = NULL, *sch;
	int rc;

	REQUIRE(s != NULL);
	u->fail_queue = -EAGAIN;
	atomic_store(&arg_frees, 0);
	o.arg_free = count_free;
	REQUIRE(weft_task_create(&t, probe_body, &p, &o) == 0);
	rc = weft_task_start(t, s);
	CHECK(rc < 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
	CHECK(weft_task_is_faulted(t));
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	CHECK_EQ(weft_error_inner_count(err), 1);
	sch = weft_error_inner(err, 0);
	REQUIRE(sch != NULL);
	CHECK_EQ(weft_error_get_kind(sch), WEFT_ERROR_SCHEDULER);
	CHECK_EQ(rc, weft_error_code(sch));
	/* the scheduler's own error is inside */
	CHECK_EQ(weft_error_inner_count(sch), 1);
	if (weft_error_inner_count(sch) == 1)
		CHECK_EQ(weft_error_code(weft_error_inner(sch, 0)), -EAGAIN);
	weft_error_unref(err);
	/* starting again is refused: it already completed */
	CHECK_EQ(weft_task_start(t, s), -EALREADY);
	weft_task_unref(t);
	CHECK_EQ(atomic_load(&p.ran), 0);
	CHECK_EQ(atomic_load(&arg_frees), 1);

	/* the same through start_new */
	o.scheduler = s;
	t2 = NULL;
	rc = weft_task_start_new(&t2, probe_body, &p, &o);
	if (rc == 0) {
		REQUIRE(t2 != NULL);
		CHECK_EQ(wait_inf(t2), WEFT_EFAULTED);
		CHECK(weft_task_is_faulted(t2));
		weft_task_unref(t2);
	} else {
		CHECK(rc < 0);
	}
	CHECK_EQ(atomic_load(&p.ran), 0);
	CHECK_EQ(atomic_load(&arg_frees), 2);
	CHECK_EQ(atomic_load(&u->queued), 0);
	weft_scheduler_unref(s);
}

/* run_synchronously goes through try_execute_inline, on this thread. */
TEST(run_synchronously_uses_inline)
{
	struct user_sched *u;
	weft_scheduler *s = user_new(true, true, 0, &u, NULL);
	struct probe p = {.ran = 0};
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *t;

	REQUIRE(s != NULL);
	atomic_store(&arg_frees, 0);
	o.arg_free = count_free;
	REQUIRE(weft_task_create(&t, probe_body, &p, &o) == 0);
	CHECK_EQ(weft_task_run_synchronously(t, s), 0);
	/* our reference still holds the task: not freed behind our back */
	CHECK_EQ(atomic_load(&arg_frees), 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(atomic_load(&p.ran), 1);
	CHECK(pthread_equal(p.thread, pthread_self()));
	CHECK_PTR_EQ(p.current, s);
	CHECK_EQ(atomic_load(&u->inline_calls), 1);
	CHECK_EQ(atomic_load(&u->inline_prev_queued), 0);
	CHECK_EQ(atomic_load(&u->inlined), 1);
	CHECK_EQ(atomic_load(&u->queued), 0);
	/* a second run is refused */
	CHECK_EQ(weft_task_run_synchronously(t, s), -EALREADY);
	CHECK_EQ(weft_task_start(t, s), -EALREADY);
	weft_task_unref(t);
	CHECK_EQ(atomic_load(&arg_frees), 1);
	weft_scheduler_unref(s);
}

/* When the scheduler refuses to inline, the task is queued and waited. */
TEST(run_synchronously_falls_back_to_queue)
{
	struct user_sched *u;
	weft_scheduler *s = user_new(true, false, 0, &u, NULL);
	struct probe p = {.ran = 0};
	weft_task *t;

	REQUIRE(s != NULL);
	REQUIRE(weft_task_create(&t, probe_body, &p, NULL) == 0);
	CHECK_EQ(weft_task_run_synchronously(t, s), 0);
	/* it returned only once the task completed */
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(atomic_load(&p.ran), 1);
	CHECK(pthread_equal(p.thread, u->thread));
	CHECK(atomic_load(&u->inline_calls) >= 1);
	CHECK_EQ(atomic_load(&u->inlined), 0);
	CHECK_EQ(atomic_load(&u->queued), 1);
	weft_task_unref(t);
	weft_scheduler_unref(s);
}

/* No try_execute_inline at all: the same fallback. */
TEST(run_synchronously_without_inline_hook)
{
	struct user_sched *u;
	weft_scheduler *s = user_new(true, false, 0, &u, NULL);
	weft_scheduler_ops ops = {
		.size = sizeof(ops),
		.queue = user_queue,
	};
	weft_scheduler *s2;
	struct probe p = {.ran = 0};
	weft_task *t;

	REQUIRE(s != NULL);
	/* a second scheduler object on the same queue and thread */
	REQUIRE(weft_scheduler_new(&s2, &ops, u) == 0);
	u->s = s2; /* the thread now executes for s2 */
	REQUIRE(weft_task_create(&t, probe_body, &p, NULL) == 0);
	CHECK_EQ(weft_task_run_synchronously(t, s2), 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK(pthread_equal(p.thread, u->thread));
	CHECK_PTR_EQ(p.current, s2);
	CHECK_EQ(atomic_load(&u->inline_calls), 0);
	weft_task_unref(t);
	weft_scheduler_unref(s);
	weft_scheduler_unref(s2); /* no destroy hook: nothing else to do */
}

struct watchdog {
	struct user_sched *u;
	weft_task *t;
	atomic_bool done;
	atomic_int rescued;
};

/* Runs the stored task itself if the test would otherwise hang. */
static void *watchdog_thread(void *arg)
{
	struct watchdog *w = arg;

	for (int i = 0; i < 10000 && !atomic_load(&w->done); i++)
		sleep_ms(1);
	if (!atomic_load(&w->done) && manual_run_one(w->u) >= 0)
		atomic_fetch_add(&w->rescued, 1);
	return NULL;
}

/*
 * Waiting (infinite, no token) on a task queued to a custom scheduler
 * offers it to try_execute_inline with previously_queued; a scheduler
 * that accepts runs it on the waiting thread.
 */
TEST(wait_inlines_previously_queued)
{
	struct user_sched *u;
	weft_scheduler *s = user_new(false, true, 0, &u, NULL);
	struct probe p = {.ran = 0};
	struct watchdog w = {.done = false, .rescued = 0};
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	pthread_t wd;
	weft_task *t;

	REQUIRE(s != NULL);
	o.scheduler = s;
	REQUIRE(weft_task_start_new(&t, probe_body, &p, &o) == 0);
	CHECK_EQ(manual_len(u), 1);
	w.u = u;
	w.t = t;
	REQUIRE(pthread_create(&wd, NULL, watchdog_thread, &w) == 0);
	CHECK_EQ(wait_inf(t), 0);
	atomic_store(&w.done, true);
	pthread_join(wd, NULL);
	CHECK_EQ(atomic_load(&w.rescued), 0);
	CHECK_EQ(atomic_load(&p.ran), 1);
	CHECK(pthread_equal(p.thread, pthread_self()));
	CHECK(atomic_load(&u->inline_prev_queued) >= 1);
	CHECK_EQ(manual_len(u), 0);
	weft_task_unref(t);
	weft_scheduler_unref(s);
}

/* weft_scheduler_execute: ran once, already ran, wrong scheduler. */
TEST(execute_semantics)
{
	struct user_sched *u, *u2;
	weft_scheduler *s = user_new(false, false, 0, &u, NULL);
	weft_scheduler *other = user_new(false, false, 0, &u2, NULL);
	struct probe p = {.ran = 0};
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *t, *stored;

	REQUIRE(s && other);
	o.scheduler = s;
	REQUIRE(weft_task_start_new(&t, probe_body, &p, &o) == 0);
	REQUIRE(manual_len(u) == 1);
	stored = u->q[u->head];
	CHECK_PTR_EQ(stored, t);
	/* bound to S, not OTHER: refused, nothing dropped */
	CHECK_EQ(weft_scheduler_execute(other, t), -EINVAL);
	CHECK_EQ(weft_scheduler_execute(s, NULL), -EINVAL);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_WAITING_TO_RUN);
	CHECK_EQ(manual_run_one(u), 1);
	CHECK_EQ(atomic_load(&p.ran), 1);
	CHECK(pthread_equal(p.thread, pthread_self()));
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	/* again: 0, the body does not run twice (it drops the ref given) */
	weft_task_ref(t);
	CHECK_EQ(weft_scheduler_execute(s, t), 0);
	CHECK_EQ(atomic_load(&p.ran), 1);
	weft_task_unref(t);
	weft_scheduler_unref(s);
	weft_scheduler_unref(other);
}

/* A token canceled before the task is executed: it completes Canceled. */
TEST(execute_canceled_token)
{
	struct user_sched *u;
	weft_scheduler *s = user_new(false, false, 0, &u, NULL);
	struct probe p = {.ran = 0};
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_cancel_source *src;
	weft_task *t;

	REQUIRE(s != NULL);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	o.scheduler = s;
	o.token = weft_cancel_source_token(src);
	/* start_new does not register on the token: stays queued */
	REQUIRE(weft_task_start_new(&t, probe_body, &p, &o) == 0);
	CHECK_EQ(weft_cancel_source_cancel(src), 0);
	if (manual_len(u) == 1)
		CHECK_EQ(manual_run_one(u), 1);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	CHECK_EQ(atomic_load(&p.ran), 0);
	CHECK_EQ(wait_inf(t), -ECANCELED);
	weft_task_unref(t);
	weft_cancel_source_unref(src);
	weft_scheduler_unref(s);
}

/*
 * Canceling the token of a created-then-started task while it is still
 * queued completes it Canceled at once, without waiting for the scheduler
 * to get to it; when the scheduler does, executing it runs nothing.
 */
TEST(cancel_while_queued)
{
	struct user_sched *u;
	weft_scheduler *s = user_new(false, false, 0, &u, NULL);
	struct probe p = {.ran = 0};
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_cancel_source *src;
	weft_task *t;
	weft_error *err = NULL;

	REQUIRE(s != NULL);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	o.token = weft_cancel_source_token(src);
	REQUIRE(weft_task_create(&t, probe_body, &p, &o) == 0);
	REQUIRE(weft_task_start(t, s) == 0);
	CHECK_EQ(manual_len(u), 1);
	CHECK_EQ(weft_cancel_source_cancel(src), 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 -ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 1);
	CHECK_EQ(weft_error_get_kind(weft_error_inner(err, 0)),
		 WEFT_ERROR_TASK_CANCELED);
	weft_error_unref(err);
	/* if the runtime took it back (try_dequeue) nothing is left; if not,
	 * executing it now is a no-op */
	CHECK_EQ(atomic_load(&u->dequeued) + (int)manual_len(u), 1);
	if (manual_len(u))
		CHECK_EQ(manual_run_one(u), 0);
	CHECK_EQ(atomic_load(&p.ran), 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	weft_task_unref(t);
	weft_cancel_source_unref(src);
	weft_scheduler_unref(s);
}

/* Continuations can target a custom scheduler. */
TEST(continuation_on_custom_scheduler)
{
	struct user_sched *u;
	weft_scheduler *s = user_new(true, false, 0, &u, NULL);
	struct probe first = {.ran = 0}, cont = {.ran = 0};
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *a, *c;

	REQUIRE(s != NULL);
	REQUIRE(weft_task_run(&a, probe_body, &first) == 0);
	o.scheduler = s;
	REQUIRE(weft_task_continue_with(&c, a, probe_cont, &cont, &o) == 0);
	CHECK_EQ(wait_inf(c), 0);
	CHECK(!pthread_equal(first.thread, u->thread));
	CHECK(pthread_equal(cont.thread, u->thread));
	CHECK_PTR_EQ(cont.current, s);
	weft_task_unref(a);
	weft_task_unref(c);
	weft_scheduler_unref(s);
}

/* destroy runs once, when the last reference goes. */
TEST(destroy_once_on_last_unref)
{
	struct user_sched *u;
	atomic_int destroyed = 0;
	weft_scheduler *s = user_new(true, false, 0, &u, &destroyed);

	REQUIRE(s != NULL);
	CHECK_PTR_EQ(weft_scheduler_ref(s), s);
	CHECK_PTR_EQ(weft_scheduler_ref(s), s);
	weft_scheduler_unref(s);
	weft_scheduler_unref(s);
	CHECK_EQ(atomic_load(&destroyed), 0);
	weft_scheduler_unref(s);
	CHECK_EQ(atomic_load(&destroyed), 1);
}

/* Many threads queueing to one custom scheduler at once. */
struct flood_arg {
	weft_scheduler *s;
	int n;
	atomic_int *ran;
	atomic_int *errors;
};

static void *flood_thread(void *arg)
{
	struct flood_arg *f = arg;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	o.scheduler = f->s;
	for (int i = 0; i < f->n; i++) {
		weft_task *t;

		if (weft_task_start_new(&t, count_body, f->ran, &o) != 0) {
			atomic_fetch_add(f->errors, 1);
			continue;
		}
		if (weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL))
			atomic_fetch_add(f->errors, 1);
		weft_task_unref(t);
	}
	return NULL;
}

TEST(many_producers)
{
	enum {
		T = 4
	};
	struct user_sched *u;
	weft_scheduler *s = user_new(true, false, 0, &u, NULL);
	atomic_int ran = 0, errors = 0;
	struct flood_arg fa = {s, (int)weft_test_scaled(500), &ran, &errors};
	pthread_t th[T];

	REQUIRE(s != NULL);
	for (int i = 0; i < T; i++)
		REQUIRE(pthread_create(&th[i], NULL, flood_thread, &fa) == 0);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(atomic_load(&errors), 0);
	CHECK_EQ(atomic_load(&ran), T * fa.n);
	weft_scheduler_unref(s);
}
