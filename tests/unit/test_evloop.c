/*
 * test_evloop.c - the internal event thread (src/runtime/evloop.h): timer
 * order, timer cancel, fd readiness, fork.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "harness.h"
#include "task_util.h"

/* ThreadSanitizer cannot start threads in the child of a multithreaded
 * fork, which is exactly what the fork tests do. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

static bool wait_count(atomic_int *v, int want, long timeout_ms)
{
	return wait_until(atomic_load(v) >= want, timeout_ms / 1000.0);
}

static void count_cb(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

/* ---- timers
 * ------------------------------------------------------------------ */

TEST(evloop_timer_bad_args)
{
	weft__timer *t = (weft__timer *)&t;
	atomic_int n = 0;
	CHECK_EQ(weft__timer_start(&t, 10, NULL, NULL), -EINVAL);
	CHECK(t == NULL);
	CHECK_EQ(weft__timer_start(&t, -1, count_cb, &n), -EINVAL);
	CHECK(!weft__timer_cancel(NULL));
}

struct fired {
	pthread_mutex_t lock;
	int order[1000];
	int n;
	int64_t lower[1000], upper[1000]; /* bounds of each deadline */
	int64_t fired_at[1000];
	atomic_int count;
	bool on_event_thread;
};

struct fired_arg {
	struct fired *f;
	int id;
};

static void record_cb(void *arg)
{
	struct fired_arg *a = arg;
	struct fired *f = a->f;
	pthread_mutex_lock(&f->lock);
	f->fired_at[a->id] = weft__monotonic_ns();
	f->order[f->n++] = a->id;
	if (!weft__evloop_is_event_thread())
		f->on_event_thread = false;
	pthread_mutex_unlock(&f->lock);
	atomic_fetch_add(&f->count, 1);
}

TEST(evloop_timers_fire_in_deadline_order)
{
	enum {
		N = 300
	};
	static struct fired f = {.lock = PTHREAD_MUTEX_INITIALIZER,
				 .on_event_thread = true};
	static struct fired_arg args[N];
	srand(12345);
	for (int i = 0; i < N; i++) {
		int64_t ms = rand() % 200;
		args[i] = (struct fired_arg){&f, i};
		f.lower[i] = weft__monotonic_ns() + ms * 1000000;
		REQUIRE(weft__timer_start(NULL, ms, record_cb, &args[i]) == 0);
		f.upper[i] = weft__monotonic_ns() + ms * 1000000;
	}
	REQUIRE(wait_count(&f.count, N, 60000));
	pthread_mutex_lock(&f.lock);
	CHECK_EQ(f.n, N);
	CHECK(f.on_event_thread);
	int bad_order = 0, early = 0;
	for (int k = 0; k < N; k++) {
		int id = f.order[k];
		if (f.fired_at[id] < f.lower[id])
			early++;
		/* A timer fired after another must not have had a deadline
		 * surely earlier than that one's. */
		if (k > 0 && f.upper[id] < f.lower[f.order[k - 1]])
			bad_order++;
	}
	pthread_mutex_unlock(&f.lock);
	CHECK_EQ(early, 0);
	CHECK_EQ(bad_order, 0);
	CHECK(!weft__evloop_is_event_thread());
}

TEST(evloop_equal_delays_fire_in_start_order)
{
	enum {
		N = 100
	};
	static struct fired f = {.lock = PTHREAD_MUTEX_INITIALIZER};
	static struct fired_arg args[N];
	for (int i = 0; i < N; i++) {
		args[i] = (struct fired_arg){&f, i};
		REQUIRE(weft__timer_start(NULL, 20, record_cb, &args[i]) == 0);
	}
	REQUIRE(wait_count(&f.count, N, 60000));
	pthread_mutex_lock(&f.lock);
	for (int k = 0; k < N; k++)
		CHECK_EQ(f.order[k], k);
	pthread_mutex_unlock(&f.lock);
}

TEST(evloop_timer_zero_fires)
{
	atomic_int n = 0;
	weft__timer *t;
	REQUIRE(weft__timer_start(&t, 0, count_cb, &n) == 0);
	CHECK(wait_count(&n, 1, 30000));
	/* Already fired: cancel says so and releases the handle. */
	CHECK(!weft__timer_cancel(t));
	CHECK_EQ(atomic_load(&n), 1);
}

TEST(evloop_timer_cancel)
{
	atomic_int n = 0;
	weft__timer *t;
	REQUIRE(weft__timer_start(&t, 100000, count_cb, &n) == 0);
	CHECK(weft__timer_cancel(t));
	CHECK_EQ(atomic_load(&n), 0);

	/* Many timers, every other one canceled: only the rest fire. */
	enum {
		N = 400
	};
	static weft__timer *ts[N];
	static atomic_int hits[N];
	for (int i = 0; i < N; i++)
		REQUIRE(weft__timer_start(&ts[i], 1 + i % 40, count_cb,
					  &hits[i]) == 0);
	int removed = 0;
	static bool was_removed[N];
	for (int i = 0; i < N; i += 2)
		removed += was_removed[i] = weft__timer_cancel(ts[i]);
	for (int i = 1; i < N; i += 2)
		CHECK(wait_count(&hits[i], 1, 30000));
	/* Canceled too late: the callback has run or is running. */
	for (int i = 0; i < N; i += 2)
		if (!was_removed[i])
			CHECK(wait_count(&hits[i], 1, 30000));
	sleep_ms(20);
	int fired_even = 0;
	for (int i = 0; i < N; i += 2)
		fired_even += atomic_load(&hits[i]);
	/* A canceled timer fired iff its cancel came too late. */
	CHECK_EQ(fired_even + removed, N / 2);
	for (int i = 1; i < N; i += 2) {
		CHECK_EQ(atomic_load(&hits[i]), 1);
		CHECK(!weft__timer_cancel(ts[i]));
	}
}

struct race_timer {
	atomic_int ran;
};

TEST(evloop_timer_cancel_vs_fire_exactly_one)
{
	int iters = (int)(400 * weft_test_scale());
	if (iters < 40)
		iters = 40;
	int both = 0, neither = 0;
	for (int i = 0; i < iters; i++) {
		atomic_int ran = 0;
		weft__timer *t;
		REQUIRE(weft__timer_start(&t, 1, count_cb, &ran) == 0);
		/* Cancel around the deadline. */
		struct timespec ts = {0, (i % 3) * 500000L};
		nanosleep(&ts, NULL);
		bool removed = weft__timer_cancel(t);
		if (!removed && !wait_count(&ran, 1, 30000))
			neither++;
		if (removed) {
			sleep_ms(2);
			if (atomic_load(&ran))
				both++;
		}
	}
	CHECK_EQ(both, 0);
	CHECK_EQ(neither, 0);
}

struct self_cancel {
	weft__timer *t;
	atomic_int done;
	bool result;
};

static void cancel_self_cb(void *arg)
{
	struct self_cancel *s = arg;
	/* Inside its own callback: too late, and it must not block. */
	s->result = weft__timer_cancel(s->t);
	atomic_store(&s->done, 1);
}

TEST(evloop_timer_cancel_inside_callback)
{
	/* The handle is stored before the timer can fire (under the loop's
	 * lock), so the callback may read it. */
	static struct self_cancel s;
	REQUIRE(weft__timer_start(&s.t, 10, cancel_self_cb, &s) == 0);
	CHECK(wait_count(&s.done, 1, 30000));
	CHECK(!s.result);
}

struct chain {
	atomic_int left;
	atomic_int err;
};

static void chain_cb(void *arg)
{
	struct chain *c = arg;
	/* Starting timers from a timer callback (on the event thread). */
	if (atomic_fetch_sub(&c->left, 1) > 1)
		if (weft__timer_start(NULL, 1, chain_cb, c))
			atomic_store(&c->err, 1);
}

TEST(evloop_timer_started_from_callback)
{
	static struct chain c;
	atomic_store(&c.left, 20);
	REQUIRE(weft__timer_start(NULL, 1, chain_cb, &c) == 0);
	int64_t end = weft__monotonic_ns() + 30000000000LL;
	while (atomic_load(&c.left) > 0 && weft__monotonic_ns() < end)
		sleep_ms(1);
	CHECK_EQ(atomic_load(&c.left), 0);
	CHECK_EQ(atomic_load(&c.err), 0);
}

/* ---- fd watches
 * --------------------------------------------------------------- */

struct ready {
	atomic_int n;
	atomic_uint revents;
};

static void ready_cb(void *arg, uint32_t revents)
{
	struct ready *r = arg;
	atomic_store(&r->revents, revents);
	atomic_fetch_add(&r->n, 1);
}

TEST(evloop_watch_bad_args)
{
	struct ready r = {0};
	weft__watch *w = (weft__watch *)&w;
	int p[2];
	REQUIRE(pipe(p) == 0);
	CHECK_EQ(weft__watch_fd(&w, -1, EPOLLIN, ready_cb, &r), -EINVAL);
	CHECK(w == NULL);
	CHECK_EQ(weft__watch_fd(&w, p[0], 0, ready_cb, &r), -EINVAL);
	CHECK_EQ(weft__watch_fd(&w, p[0], EPOLLIN, NULL, &r), -EINVAL);
	close(p[0]);
	close(p[1]);
	/* A closed descriptor. */
	CHECK_EQ(weft__watch_fd(&w, p[0], EPOLLIN, ready_cb, &r), -EBADF);
	/* A regular file cannot be polled. */
	char path[] = "/tmp/weft-evloop-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	unlink(path);
	CHECK_EQ(weft__watch_fd(&w, fd, EPOLLIN, ready_cb, &r), -EPERM);
	close(fd);
	CHECK(!weft__watch_cancel(NULL));
}

TEST(evloop_watch_pipe_readable)
{
	int p[2];
	REQUIRE(pipe(p) == 0);
	struct ready r = {0};
	weft__watch *w;
	REQUIRE(weft__watch_fd(&w, p[0], EPOLLIN, ready_cb, &r) == 0);
	sleep_ms(50);
	CHECK_EQ(atomic_load(&r.n), 0); /* nothing to read yet */
	REQUIRE(write(p[1], "x", 1) == 1);
	CHECK(wait_count(&r.n, 1, 30000));
	CHECK(atomic_load(&r.revents) & EPOLLIN);
	/* One-shot: more data does not fire it again. */
	REQUIRE(write(p[1], "y", 1) == 1);
	sleep_ms(50);
	CHECK_EQ(atomic_load(&r.n), 1);
	CHECK(!weft__watch_cancel(w));
	/* The data was not consumed. */
	char buf[4];
	CHECK_EQ(read(p[0], buf, sizeof buf), 2);
	close(p[0]);
	close(p[1]);
}

TEST(evloop_watch_same_fd_twice_and_closed_original)
{
	int p[2];
	REQUIRE(pipe(p) == 0);
	struct ready a = {0}, b = {0};
	REQUIRE(weft__watch_fd(NULL, p[0], EPOLLIN, ready_cb, &a) == 0);
	REQUIRE(weft__watch_fd(NULL, p[0], EPOLLIN, ready_cb, &b) == 0);
	/* The watches hold their own descriptors. */
	close(p[0]);
	REQUIRE(write(p[1], "x", 1) == 1);
	CHECK(wait_count(&a.n, 1, 30000));
	CHECK(wait_count(&b.n, 1, 30000));
	close(p[1]);
}

TEST(evloop_watch_writable_and_hangup)
{
	int p[2];
	REQUIRE(pipe(p) == 0);
	struct ready r = {0};
	REQUIRE(weft__watch_fd(NULL, p[1], EPOLLOUT, ready_cb, &r) == 0);
	CHECK(wait_count(&r.n, 1, 30000));
	CHECK(atomic_load(&r.revents) & EPOLLOUT);

	/* Closing the write end wakes a reader with EPOLLHUP. */
	struct ready h = {0};
	REQUIRE(weft__watch_fd(NULL, p[0], EPOLLIN, ready_cb, &h) == 0);
	close(p[1]);
	CHECK(wait_count(&h.n, 1, 30000));
	CHECK(atomic_load(&h.revents) & EPOLLHUP);
	close(p[0]);
}

static int count_open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

TEST(evloop_watch_cancel)
{
	int p[2];
	REQUIRE(pipe(p) == 0);
	/* Start the event thread first so its own descriptors are counted. */
	static atomic_int started;
	REQUIRE(weft__timer_start(NULL, 0, count_cb, &started) == 0);
	REQUIRE(wait_count(&started, 1, 30000));
	int base = count_open_fds();
	struct ready r = {0};
	enum {
		N = 100
	};
	weft__watch *w[N];
	for (int i = 0; i < N; i++)
		REQUIRE(weft__watch_fd(&w[i], p[0], EPOLLIN, ready_cb, &r) ==
			0);
	CHECK_EQ(count_open_fds(), base + N);
	for (int i = 0; i < N; i++)
		CHECK(weft__watch_cancel(w[i]));
	/* Every dup is closed again, and nothing fires. */
	CHECK_EQ(count_open_fds(), base);
	REQUIRE(write(p[1], "x", 1) == 1);
	sleep_ms(50);
	CHECK_EQ(atomic_load(&r.n), 0);
	close(p[0]);
	close(p[1]);
}

TEST(evloop_watch_cancel_vs_fire_exactly_one)
{
	int iters = (int)(300 * weft_test_scale());
	if (iters < 30)
		iters = 30;
	int both = 0, neither = 0;
	for (int i = 0; i < iters; i++) {
		int p[2];
		REQUIRE(pipe(p) == 0);
		struct ready r = {0};
		weft__watch *w;
		REQUIRE(weft__watch_fd(&w, p[0], EPOLLIN, ready_cb, &r) == 0);
		REQUIRE(write(p[1], "x", 1) == 1);
		if (i % 2)
			sched_yield();
		bool removed = weft__watch_cancel(w);
		if (!removed && !wait_count(&r.n, 1, 30000))
			neither++;
		if (removed) {
			sleep_ms(1);
			if (atomic_load(&r.n))
				both++;
		}
		close(p[0]);
		close(p[1]);
	}
	CHECK_EQ(both, 0);
	CHECK_EQ(neither, 0);
}

/* ---- fork
 * ------------------------------------------------------------------------ */

static atomic_int inherited_hits;

TEST(evloop_fork_child_restarts_event_thread)
{
	if (UNDER_TSAN)
		SKIP("ThreadSanitizer cannot start threads after a multithreaded fork");
	/* The parent's event thread is running and has a timer pending. */
	atomic_int n = 0;
	REQUIRE(weft__timer_start(NULL, 0, count_cb, &n) == 0);
	REQUIRE(wait_count(&n, 1, 30000));
	REQUIRE(weft__timer_start(NULL, 200, count_cb, &inherited_hits) == 0);

	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		/* Child: no event thread until we use it again. */
		atomic_int c = 0;
		if (weft__timer_start(NULL, 5, count_cb, &c))
			_exit(2);
		if (!wait_count(&c, 1, 30000))
			_exit(3);
		int p[2];
		if (pipe(p))
			_exit(4);
		struct ready r = {0};
		if (weft__watch_fd(NULL, p[0], EPOLLIN, ready_cb, &r))
			_exit(5);
		if (write(p[1], "x", 1) != 1)
			_exit(6);
		if (!wait_count(&r.n, 1, 30000))
			_exit(7);
		/* The timer inherited from the parent fires here too. */
		if (!wait_count(&inherited_hits, 1, 30000))
			_exit(8);
		_exit(0);
	}
	/* Parent: still working. */
	atomic_int after = 0;
	REQUIRE(weft__timer_start(NULL, 5, count_cb, &after) == 0);
	CHECK(wait_count(&after, 1, 30000));
	CHECK(wait_count(&inherited_hits, 1, 30000));
	int status;
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

TEST(evloop_monotonic_clock)
{
	int64_t a = weft__monotonic_ns();
	sleep_ms(5);
	int64_t b = weft__monotonic_ns();
	CHECK(b - a >= 5000000);
}
