/*
 * test_runloop.c - the single-thread run loop scheduler (a UI context):
 * its tasks run only on the thread inside weft_runloop_run(), in order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

#include "harness.h"
#include "task_util.h"

/* A log of which task ran, where, in what order. */
enum {
	LOG_MAX = 4096
};
struct log {
	atomic_int n;
	int id[LOG_MAX];
	pthread_t thread[LOG_MAX];
	weft_scheduler *current[LOG_MAX];
};

struct entry {
	struct log *log;
	int id;
	weft_scheduler *stop; /* non-NULL: stop this loop after logging */
};

static weft_error *log_body(weft_task *self, void *arg)
{
	struct entry *e = arg;
	int i = atomic_fetch_add(&e->log->n, 1);

	(void)self;
	if (i < LOG_MAX) {
		e->log->id[i] = e->id;
		e->log->thread[i] = pthread_self();
		e->log->current[i] = weft_scheduler_current();
	}
	if (e->stop)
		weft_runloop_stop(e->stop);
	return NULL;
}

static weft_task *post(weft_scheduler *loop, struct entry *e)
{
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *t = NULL;

	o.scheduler = loop;
	if (weft_task_start_new(&t, log_body, e, &o) != 0)
		return NULL;
	return t;
}

/* A thread running the loop until stopped. */
struct loop_thread {
	weft_scheduler *loop;
	pthread_t thread;
	int rc;
};

static void *loop_main(void *arg)
{
	struct loop_thread *lt = arg;

	lt->rc = weft_runloop_run(lt->loop);
	return NULL;
}

static int loop_thread_start(struct loop_thread *lt, weft_scheduler *loop)
{
	lt->loop = loop;
	lt->rc = 1;
	return pthread_create(&lt->thread, NULL, loop_main, lt);
}

static void loop_thread_stop(struct loop_thread *lt)
{
	weft_runloop_stop(lt->loop);
	pthread_join(lt->thread, NULL);
}

TEST(bad_input)
{
	weft_scheduler *loop, *pool;

	CHECK_EQ(weft_runloop_new(NULL), -EINVAL);
	CHECK_EQ(weft_runloop_run(NULL), -EINVAL);
	CHECK_EQ(weft_runloop_run_pending(NULL), -EINVAL);
	CHECK_EQ(weft_runloop_stop(NULL), -EINVAL);
	/* schedulers that are not run loops */
	CHECK_EQ(weft_runloop_run(weft_scheduler_default()), -EINVAL);
	CHECK_EQ(weft_runloop_run_pending(weft_scheduler_default()), -EINVAL);
	CHECK_EQ(weft_runloop_stop(weft_scheduler_default()), -EINVAL);
	REQUIRE(weft_pool_new(&pool, 1) == 0);
	CHECK_EQ(weft_runloop_run(pool), -EINVAL);
	REQUIRE(weft_scheduler_new_limited(&loop, NULL, 1) == 0);
	CHECK_EQ(weft_runloop_run_pending(loop), -EINVAL);
	weft_scheduler_unref(loop);
	CHECK_EQ(weft_pool_shutdown(pool), 0);
	weft_scheduler_unref(pool);
}

TEST(basic_properties)
{
	weft_scheduler *a, *b;

	REQUIRE(weft_runloop_new(&a) == 0);
	REQUIRE(weft_runloop_new(&b) == 0);
	CHECK(a != b);
	CHECK_EQ(weft_scheduler_max_concurrency(a), 1);
	CHECK(weft_scheduler_id(a) != 0);
	CHECK(weft_scheduler_id(a) != weft_scheduler_id(b));
	CHECK_EQ(weft_runloop_run_pending(a), 0); /* nothing queued */
	weft_scheduler_unref(a);
	weft_scheduler_unref(b);
}

/* Nothing runs until the loop is run; then in FIFO order, on this thread. */
TEST(run_pending_fifo_on_caller)
{
	enum {
		N = 50
	};
	static struct log log;
	struct entry e[N];
	weft_task *t[N];
	weft_scheduler *loop;

	REQUIRE(weft_runloop_new(&loop) == 0);
	for (int i = 0; i < N; i++) {
		e[i] = (struct entry){&log, i, NULL};
		REQUIRE((t[i] = post(loop, &e[i])) != NULL);
	}
	sleep_ms(20);
	CHECK_EQ(atomic_load(&log.n), 0);
	CHECK_EQ(weft_task_get_status(t[0]), WEFT_STATUS_WAITING_TO_RUN);
	CHECK_EQ(weft_runloop_run_pending(loop), N);
	CHECK_EQ(atomic_load(&log.n), N);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(log.id[i], i);
		CHECK(pthread_equal(log.thread[i], pthread_self()));
		CHECK_PTR_EQ(log.current[i], loop);
		CHECK_EQ(weft_task_get_status(t[i]),
			 WEFT_STATUS_RAN_TO_COMPLETION);
		weft_task_unref(t[i]);
	}
	CHECK_EQ(weft_runloop_run_pending(loop), 0);
	weft_scheduler_unref(loop);
}

static weft_error *requeue_body(weft_task *self, void *arg)
{
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	atomic_int *count = arg;

	(void)self;
	/* queue another one to the current scheduler (the loop) */
	atomic_fetch_add(count, 1);
	o.flags = 0;
	weft_task_start_new(NULL, requeue_body, arg, &o);
	return NULL;
}

/* run_pending runs what was queued on entry, not what tasks add. */
TEST(run_pending_is_bounded)
{
	weft_scheduler *loop;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	atomic_int count = 0;

	REQUIRE(weft_runloop_new(&loop) == 0);
	o.scheduler = loop;
	REQUIRE(weft_task_start_new(NULL, requeue_body, &count, &o) == 0);
	CHECK_EQ(weft_runloop_run_pending(loop), 1);
	CHECK_EQ(atomic_load(&count), 1);
	CHECK_EQ(weft_runloop_run_pending(loop), 1);
	CHECK_EQ(atomic_load(&count), 2);
	/* the one left queued is dropped with the loop */
	weft_scheduler_unref(loop);
}

struct producer {
	weft_scheduler *loop;
	struct log *log;
	int base, n;
	struct entry *e;
	weft_task **t;
};

static void *producer_thread(void *arg)
{
	struct producer *p = arg;

	for (int i = 0; i < p->n; i++) {
		p->e[i] = (struct entry){p->log, p->base + i, NULL};
		p->t[i] = post(p->loop, &p->e[i]);
	}
	return NULL;
}

/*
 * Several threads post to a loop running on its own thread: every task
 * runs on the loop thread, and each producer's tasks in its order.
 */
TEST(tasks_run_only_on_loop_thread)
{
	enum {
		P = 4,
		N = 200
	};
	static struct log log;
	static struct entry e[P][N];
	static weft_task *t[P][N];
	struct producer prod[P];
	pthread_t th[P];
	struct loop_thread lt;
	weft_scheduler *loop;
	int last[P];

	REQUIRE(weft_runloop_new(&loop) == 0);
	REQUIRE(loop_thread_start(&lt, loop) == 0);
	for (int i = 0; i < P; i++) {
		prod[i] = (struct producer){loop, &log, i * N, N, e[i], t[i]};
		REQUIRE(pthread_create(&th[i], NULL, producer_thread,
				       &prod[i]) == 0);
	}
	for (int i = 0; i < P; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < P; i++) {
		REQUIRE(t[i][N - 1] != NULL);
		CHECK_EQ(weft_task_wait_all(t[i], N, WEFT_INFINITE,
					    WEFT_TOKEN_NONE, NULL),
			 0);
	}
	loop_thread_stop(&lt);
	CHECK_EQ(lt.rc, 0);
	CHECK_EQ(atomic_load(&log.n), P * N);
	for (int i = 0; i < P; i++)
		last[i] = -1;
	for (int i = 0; i < P * N && i < LOG_MAX; i++) {
		int p = log.id[i] / N, k = log.id[i] % N;

		CHECK(pthread_equal(log.thread[i], lt.thread));
		CHECK_PTR_EQ(log.current[i], loop);
		if (k != last[p] + 1)
			CHECK_EQ(k, last[p] + 1);
		last[p] = k;
	}
	for (int i = 0; i < P; i++)
		for (int k = 0; k < N; k++)
			weft_task_unref(t[i][k]);
	weft_scheduler_unref(loop);
}

/* ---- the UI pattern -------------------------------------------------- */

struct ui {
	weft_scheduler *loop;
	pthread_t loop_thread;
	pthread_t work_thread;
	pthread_t update_thread;
	weft_scheduler *update_current;
	long result;
	long shown;
	atomic_int errors;
};

static weft_error *background_work(weft_task *self, void *arg)
{
	struct ui *u = arg;
	long sum = 0;

	u->work_thread = pthread_self();
	for (long i = 1; i <= 1000; i++)
		sum += i;
	weft_task_set_result(self, (void *)sum, NULL);
	return NULL;
}

static weft_error *update_ui(weft_task *self, weft_task *ante, void *arg)
{
	struct ui *u = arg;

	(void)self;
	u->update_thread = pthread_self();
	u->update_current = weft_scheduler_current();
	u->shown = (long)weft_task_result(ante);
	weft_runloop_stop(u->loop);
	return NULL;
}

/* "Button click": runs on the loop, offloads work, updates on the loop. */
static weft_error *on_click(weft_task *self, void *arg)
{
	struct ui *u = arg;
	weft_scheduler *ui_sched = weft_scheduler_current();
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *work, *cont;

	(void)self;
	u->loop_thread = pthread_self();
	if (ui_sched != u->loop)
		atomic_fetch_add(&u->errors, 1);
	if (weft_task_run(&work, background_work, u) != 0) {
		atomic_fetch_add(&u->errors, 1);
		return NULL;
	}
	o.scheduler = ui_sched;
	if (weft_task_continue_with(&cont, work, update_ui, u, &o) != 0)
		atomic_fetch_add(&u->errors, 1);
	else
		weft_task_unref(cont);
	weft_task_unref(work);
	return NULL;
}

TEST(ui_pattern_continuation_back_to_loop)
{
	struct ui u;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *click;

	memset(&u, 0, sizeof(u));
	REQUIRE(weft_runloop_new(&u.loop) == 0);
	o.scheduler = u.loop;
	REQUIRE(weft_task_start_new(&click, on_click, &u, &o) == 0);
	/* this thread is the UI thread: run until update_ui stops us */
	CHECK_EQ(weft_runloop_run(u.loop), 0);
	CHECK_EQ(atomic_load(&u.errors), 0);
	CHECK(pthread_equal(u.loop_thread, pthread_self()));
	CHECK(!pthread_equal(u.work_thread, pthread_self()));
	CHECK(pthread_equal(u.update_thread, pthread_self()));
	CHECK_PTR_EQ(u.update_current, u.loop);
	CHECK_EQ(u.shown, 500500);
	CHECK_EQ(weft_task_get_status(click), WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(click);
	weft_scheduler_unref(u.loop);
}

/* Continuations created by pool tasks, targeting the loop, land there. */
struct pool_to_loop {
	weft_scheduler *loop;
	struct log *log;
	struct entry e;
	weft_task *cont;
	atomic_int errors;
};

static weft_error *log_cont(weft_task *self, weft_task *ante, void *arg)
{
	(void)ante;
	return log_body(self, arg);
}

static weft_error *pool_side(weft_task *self, void *arg)
{
	struct pool_to_loop *p = arg;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	o.scheduler = p->loop;
	if (weft_task_continue_with(&p->cont, self, log_cont, &p->e, &o) != 0)
		atomic_fetch_add(&p->errors, 1);
	return NULL;
}

TEST(pool_continuations_land_on_loop)
{
	enum {
		N = 64
	};
	static struct log log;
	static struct pool_to_loop p[N];
	weft_task *t[N], *conts[N];
	struct loop_thread lt;
	weft_scheduler *loop;

	REQUIRE(weft_runloop_new(&loop) == 0);
	REQUIRE(loop_thread_start(&lt, loop) == 0);
	for (int i = 0; i < N; i++) {
		p[i].loop = loop;
		p[i].e = (struct entry){&log, i, NULL};
		REQUIRE(weft_task_run(&t[i], pool_side, &p[i]) == 0);
	}
	CHECK_EQ(weft_task_wait_all(t, N, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
		 0);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(atomic_load(&p[i].errors), 0);
		REQUIRE(p[i].cont != NULL);
		conts[i] = p[i].cont;
	}
	CHECK_EQ(weft_task_wait_all(conts, N, WEFT_INFINITE, WEFT_TOKEN_NONE,
				    NULL),
		 0);
	loop_thread_stop(&lt);
	CHECK_EQ(atomic_load(&log.n), N);
	for (int i = 0; i < N; i++) {
		CHECK(pthread_equal(log.thread[i], lt.thread));
		CHECK_PTR_EQ(log.current[i], loop);
		weft_task_unref(t[i]);
		weft_task_unref(conts[i]);
	}
	weft_scheduler_unref(loop);
}

/* ---- stop ------------------------------------------------------------ */

/*
 * A task that stops the loop ends run() after it; the tasks behind it
 * stay queued, and so do tasks queued after the stop, until the next run.
 */
TEST(stop_from_task_leaves_rest_queued)
{
	static struct log log;
	struct entry e[6];
	weft_task *t[6];
	weft_scheduler *loop;

	REQUIRE(weft_runloop_new(&loop) == 0);
	for (int i = 0; i < 4; i++) {
		e[i] = (struct entry){&log, i, i == 1 ? loop : NULL};
		REQUIRE((t[i] = post(loop, &e[i])) != NULL);
	}
	CHECK_EQ(weft_runloop_run(loop), 0);
	CHECK_EQ(atomic_load(&log.n), 2);
	CHECK_EQ(weft_task_get_status(t[2]), WEFT_STATUS_WAITING_TO_RUN);
	CHECK_EQ(weft_task_get_status(t[3]), WEFT_STATUS_WAITING_TO_RUN);

	/* queued after the stop: waits for the next run too */
	e[4] = (struct entry){&log, 4, loop};
	REQUIRE((t[4] = post(loop, &e[4])) != NULL);
	sleep_ms(10);
	CHECK_EQ(atomic_load(&log.n), 2);

	/* the next run picks up where it left off, in order */
	CHECK_EQ(weft_runloop_run(loop), 0);
	CHECK_EQ(atomic_load(&log.n), 5);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(log.id[i], i);

	/* run_pending ignores nothing and stops nothing it did not see */
	e[5] = (struct entry){&log, 5, NULL};
	REQUIRE((t[5] = post(loop, &e[5])) != NULL);
	CHECK_EQ(weft_runloop_run_pending(loop), 1);
	CHECK_EQ(log.id[5], 5);
	for (int i = 0; i < 6; i++) {
		CHECK_EQ(weft_task_get_status(t[i]),
			 WEFT_STATUS_RAN_TO_COMPLETION);
		weft_task_unref(t[i]);
	}
	weft_scheduler_unref(loop);
}

/* A stop request made before run() starts is not lost. */
TEST(stop_before_run_is_kept)
{
	weft_scheduler *loop;

	REQUIRE(weft_runloop_new(&loop) == 0);
	CHECK_EQ(weft_runloop_stop(loop), 0);
	CHECK_EQ(weft_runloop_stop(loop), 0); /* twice is once */
	CHECK_EQ(weft_runloop_run(loop), 0);  /* returns at once */
	weft_scheduler_unref(loop);
}

/* stop() from another thread wakes an idle loop. */
TEST(stop_wakes_idle_loop)
{
	struct loop_thread lt;
	weft_scheduler *loop;

	REQUIRE(weft_runloop_new(&loop) == 0);
	REQUIRE(loop_thread_start(&lt, loop) == 0);
	sleep_ms(20); /* let it go idle (not required for correctness) */
	loop_thread_stop(&lt);
	CHECK_EQ(lt.rc, 0);
	weft_scheduler_unref(loop);
}

/* ---- one thread at a time -------------------------------------------- */

struct busy_arg {
	weft_scheduler *loop;
	atomic_int nested_run;
	atomic_int nested_pending;
	atomic_bool entered;
	atomic_bool release;
};

static weft_error *busy_body(weft_task *self, void *arg)
{
	struct busy_arg *b = arg;

	(void)self;
	atomic_store(&b->nested_run, weft_runloop_run(b->loop));
	atomic_store(&b->nested_pending, weft_runloop_run_pending(b->loop));
	atomic_store(&b->entered, true);
	for (int i = 0; i < 60000 && !atomic_load(&b->release); i++)
		sleep_ms(1);
	return NULL;
}

TEST(one_thread_at_a_time)
{
	struct busy_arg b = {.nested_run = 1, .nested_pending = 1};
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	struct loop_thread lt;
	weft_task *t;

	REQUIRE(weft_runloop_new(&b.loop) == 0);
	o.scheduler = b.loop;
	REQUIRE(weft_task_start_new(&t, busy_body, &b, &o) == 0);
	REQUIRE(loop_thread_start(&lt, b.loop) == 0);
	for (int i = 0; i < 10000 && !atomic_load(&b.entered); i++)
		sleep_ms(1);
	REQUIRE(atomic_load(&b.entered));
	/* from inside the loop: no nested processing */
	CHECK_EQ(atomic_load(&b.nested_run), -EBUSY);
	CHECK_EQ(atomic_load(&b.nested_pending), -EBUSY);
	/* from another thread while the loop thread runs */
	CHECK_EQ(weft_runloop_run(b.loop), -EBUSY);
	CHECK_EQ(weft_runloop_run_pending(b.loop), -EBUSY);
	atomic_store(&b.release, true);
	CHECK_EQ(wait_inf(t), 0);
	loop_thread_stop(&lt);
	CHECK_EQ(lt.rc, 0);
	/* free again */
	CHECK_EQ(weft_runloop_run_pending(b.loop), 0);
	weft_task_unref(t);
	weft_scheduler_unref(b.loop);
}

/* ---- inlining only on the loop thread -------------------------------- */

struct waiter {
	weft_scheduler *loop;
	struct log *log;
	struct entry later;
	int wait_rc;
	int sync_rc;
	int sync_freed_early;
	struct entry sync;
};

static atomic_int sync_frees;
static void count_sync_free(void *arg)
{
	(void)arg;
	atomic_fetch_add(&sync_frees, 1);
}

/*
 * A loop task waiting for a loop task queued behind it: the wait runs it
 * inline (on the loop thread) instead of deadlocking; run_synchronously
 * of a new task inside the loop runs it here too.
 */
static weft_error *waiter_body(weft_task *self, void *arg)
{
	struct waiter *w = arg;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *t, *s;

	(void)self;
	t = post(w->loop, &w->later);
	if (!t) {
		w->wait_rc = -ENOMEM;
		return NULL;
	}
	w->wait_rc = weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	weft_task_unref(t);
	o.arg_free = count_sync_free;
	if (weft_task_create(&s, log_body, &w->sync, &o) != 0) {
		w->sync_rc = -ENOMEM;
		return NULL;
	}
	w->sync_rc = weft_task_run_synchronously(s, w->loop);
	/* still ours: the inline run must not have dropped our reference */
	w->sync_freed_early = atomic_load(&sync_frees);
	weft_task_unref(s);
	return NULL;
}

TEST(wait_inside_loop_inlines)
{
	static struct log log;
	struct waiter w;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *t;

	memset(&w, 0, sizeof(w));
	REQUIRE(weft_runloop_new(&w.loop) == 0);
	w.log = &log;
	w.later = (struct entry){&log, 1, NULL};
	w.sync = (struct entry){&log, 2, NULL};
	w.wait_rc = w.sync_rc = 1;
	o.scheduler = w.loop;
	REQUIRE(weft_task_start_new(&t, waiter_body, &w, &o) == 0);
	CHECK_EQ(weft_runloop_run_pending(w.loop), 1);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(w.wait_rc, 0);
	CHECK_EQ(w.sync_rc, 0);
	CHECK_EQ(w.sync_freed_early, 0);
	CHECK_EQ(atomic_load(&sync_frees), 1);
	CHECK_EQ(atomic_load(&log.n), 2);
	CHECK_EQ(log.id[0], 1);
	CHECK_EQ(log.id[1], 2);
	CHECK(pthread_equal(log.thread[0], pthread_self()));
	CHECK(pthread_equal(log.thread[1], pthread_self()));
	CHECK_EQ(weft_runloop_run_pending(w.loop), 0); /* nothing left */
	weft_task_unref(t);
	weft_scheduler_unref(w.loop);
}

/* run_synchronously from another thread: runs on the loop thread. */
TEST(run_synchronously_from_other_thread)
{
	static struct log log;
	struct entry e = {&log, 7, NULL};
	struct loop_thread lt;
	weft_scheduler *loop;
	weft_task *t;

	REQUIRE(weft_runloop_new(&loop) == 0);
	REQUIRE(loop_thread_start(&lt, loop) == 0);
	REQUIRE(weft_task_create(&t, log_body, &e, NULL) == 0);
	CHECK_EQ(weft_task_run_synchronously(t, loop), 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(atomic_load(&log.n), 1);
	CHECK(pthread_equal(log.thread[0], lt.thread));
	loop_thread_stop(&lt);
	weft_task_unref(t);
	weft_scheduler_unref(loop);
}

/* A queued loop task whose token is canceled is taken back at once. */
TEST(cancel_queued_task)
{
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_cancel_source *src;
	atomic_int ran = 0;
	weft_scheduler *loop;
	weft_task *t;

	REQUIRE(weft_runloop_new(&loop) == 0);
	REQUIRE(weft_cancel_source_new(&src) == 0);
	o.token = weft_cancel_source_token(src);
	REQUIRE(weft_task_create(&t, count_body, &ran, &o) == 0);
	REQUIRE(weft_task_start(t, loop) == 0);
	CHECK_EQ(weft_cancel_source_cancel(src), 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	CHECK_EQ(weft_runloop_run_pending(loop), 0);
	CHECK_EQ(atomic_load(&ran), 0);
	weft_task_unref(t);
	weft_cancel_source_unref(src);
	weft_scheduler_unref(loop);
}

static atomic_int freed;
static void count_free(void *arg)
{
	(void)arg;
	atomic_fetch_add(&freed, 1);
}

/* Dropping a loop with tasks still queued releases them (no leak). */
TEST(unref_with_pending_tasks)
{
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	atomic_int ran = 0;
	weft_scheduler *loop;
	weft_task *t[3];

	REQUIRE(weft_runloop_new(&loop) == 0);
	o.scheduler = loop;
	o.arg_free = count_free;
	atomic_store(&freed, 0);
	for (int i = 0; i < 3; i++)
		REQUIRE(weft_task_start_new(&t[i], count_body, &ran, &o) == 0);
	weft_scheduler_unref(loop);
	for (int i = 0; i < 3; i++) {
		CHECK(!weft_task_is_completed(t[i]));
		weft_task_unref(t[i]);
	}
	CHECK_EQ(atomic_load(&ran), 0);
	CHECK_EQ(atomic_load(&freed), 3);
}
