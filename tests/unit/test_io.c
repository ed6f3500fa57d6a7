/*
 * test_io.c - tasks from OS events (weft_task_from_fd / _pid / _timer) and
 * weft_task_delay (spec A.11 Delay): completion, cancellation of each
 * adapter, bad input, races, fork.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

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

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static weft_cancel_source *new_source(void)
{
	weft_cancel_source *s = NULL;
	weft_cancel_source_new(&s);
	return s;
}

/* T is Canceled, and waiting reports TASK_CANCELED carrying TOK. */
static void check_canceled_with(weft_task *t, weft_cancel_token tok)
{
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_CANCELED);
	CHECK(weft_task_is_canceled(t));
	CHECK(weft_task_is_completed(t));
	weft_error *err = NULL;
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 -ECANCELED);
	REQUIRE(err != NULL);
	REQUIRE(weft_error_inner_count(err) == 1);
	weft_error *tc = weft_error_inner(err, 0);
	CHECK_EQ(weft_error_get_kind(tc), WEFT_ERROR_TASK_CANCELED);
	CHECK(weft_cancel_token_equal(weft_error_token(tc), tok));
	weft_error_unref(err);
}

/* ---- weft_task_delay --------------------------------------------------------
 */

TEST(delay_bad_args)
{
	weft_task *t = (weft_task *)&t;
	CHECK_EQ(weft_task_delay(NULL, 10, WEFT_TOKEN_NONE), -EINVAL);
	CHECK_EQ(weft_task_delay(&t, -2, WEFT_TOKEN_NONE), -EINVAL);
	CHECK(t == NULL);
	CHECK_EQ(weft_task_delay(&t, 0xFFFFFFFFLL, WEFT_TOKEN_NONE), -EINVAL);
	CHECK_EQ(weft_task_delay(&t, INT64_MIN, WEFT_TOKEN_NONE), -EINVAL);
	/* Bad values are rejected even with a canceled token. */
	CHECK_EQ(weft_task_delay(&t, -5, weft_cancel_token_canceled()),
		 -EINVAL);
}

TEST(delay_zero_is_completed)
{
	weft_task *t;
	REQUIRE(weft_task_delay(&t, 0, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(t);
}

TEST(delay_completes_after_due_time)
{
	int64_t t0 = now_ms();
	weft_task *t;
	REQUIRE(weft_task_delay(&t, 40, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK(now_ms() - t0 >= 39); /* never early (1 ms rounding slack) */
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK(weft_task_result(t) == NULL);
	weft_task_unref(t);
}

TEST(delay_with_token_completes_normally)
{
	weft_cancel_source *s = new_source();
	weft_task *t;
	REQUIRE(weft_task_delay(&t, 5, weft_cancel_source_token(s)) == 0);
	CHECK_EQ(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL), 0);
	/* Canceling afterwards changes nothing. */
	weft_cancel_source_cancel(s);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_RAN_TO_COMPLETION);
	weft_task_unref(t);
	weft_cancel_source_unref(s);
}

TEST(delay_precanceled_token)
{
	weft_cancel_token c = weft_cancel_token_canceled();
	int64_t values[] = {0, 1, 1000, WEFT_INFINITE};
	for (size_t i = 0; i < 4; i++) {
		weft_task *t;
		REQUIRE(weft_task_delay(&t, values[i], c) == 0);
		check_canceled_with(t, c);
		weft_task_unref(t);
	}
	weft_cancel_source *s = new_source();
	weft_cancel_source_cancel(s);
	weft_task *t;
	REQUIRE(weft_task_delay(&t, 0, weft_cancel_source_token(s)) == 0);
	check_canceled_with(t, weft_cancel_source_token(s));
	weft_task_unref(t);
	weft_cancel_source_unref(s);
}

TEST(delay_canceled_synchronously_inside_cancel)
{
	int64_t values[] = {WEFT_INFINITE, 100000, 1};
	for (size_t i = 0; i < 3; i++) {
		weft_cancel_source *s = new_source();
		weft_cancel_token tok = weft_cancel_source_token(s);
		weft_task *t;
		REQUIRE(weft_task_delay(&t, values[i], tok) == 0);
		if (values[i] != 1)
			CHECK_EQ(weft_task_get_status(t),
				 WEFT_STATUS_WAITING_FOR_ACTIVATION);
		weft_cancel_source_cancel(s);
		if (values[i] != 1) {
			/* No wait: it is Canceled when cancel returns. */
			check_canceled_with(t, tok);
		} else {
			/* 1 ms may have fired first: either outcome. */
			int rc =
				weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL);
			CHECK(rc == 0 || rc == -ECANCELED);
		}
		weft_task_unref(t);
		weft_cancel_source_unref(s);
	}
}

TEST(delay_infinite_without_cancel_stays_pending)
{
	weft_cancel_source *s = new_source();
	weft_task *t;
	REQUIRE(weft_task_delay(&t, WEFT_INFINITE,
				weft_cancel_source_token(s)) == 0);
	CHECK_EQ(weft_task_wait(t, 50, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	weft_cancel_source_cancel(s); /* let it finish (no leak) */
	CHECK(weft_task_is_canceled(t));
	weft_task_unref(t);
	weft_cancel_source_unref(s);
}

TEST(delay_source_released_while_pending)
{
	/* The task keeps what it needs: the caller may drop its source. */
	weft_cancel_source *s = new_source();
	weft_task *t;
	REQUIRE(weft_task_delay(&t, 10, weft_cancel_source_token(s)) == 0);
	weft_cancel_source_unref(s);
	CHECK_EQ(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL), 0);
	weft_task_unref(t);
}

TEST(delay_task_released_before_firing)
{
	/* Dropping the task early is fine: the timer still fires into live
	 * memory and everything is released (ASan / LSan). */
	for (int i = 0; i < 100; i++) {
		weft_task *t;
		REQUIRE(weft_task_delay(&t, i % 4, WEFT_TOKEN_NONE) == 0);
		weft_task_unref(t);
	}
	weft_task *last;
	REQUIRE(weft_task_delay(&last, 20, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(weft_task_wait(last, 30000, WEFT_TOKEN_NONE, NULL), 0);
	weft_task_unref(last);
	sleep_ms(20);
}

struct cancel_race {
	weft_cancel_source *s;
	atomic_int go;
};

static void *race_cancel(void *arg)
{
	struct cancel_race *r = arg;
	while (!atomic_load(&r->go))
		;
	weft_cancel_source_cancel(r->s);
	return NULL;
}

TEST(delay_fire_vs_cancel_race)
{
	/* The timer and the cancel race; the task ends in exactly one final
	 * state and every resource is released once (ASan / LSan / TSan). */
	int iters = (int)(300 * weft_test_scale());
	if (iters < 30)
		iters = 30;
	int ok = 0, canceled = 0;
	for (int i = 0; i < iters; i++) {
		struct cancel_race r = {.s = new_source()};
		weft_task *t;
		REQUIRE(weft_task_delay(&t, 1, weft_cancel_source_token(r.s)) ==
			0);
		pthread_t th;
		pthread_create(&th, NULL, race_cancel, &r);
		if (i % 2)
			sleep_ms(1);
		atomic_store(&r.go, 1);
		int rc = weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL);
		pthread_join(th, NULL);
		if (rc == 0)
			ok++;
		else if (rc == -ECANCELED)
			canceled++;
		weft_task_unref(t);
		weft_cancel_source_unref(r.s);
	}
	CHECK_EQ(ok + canceled, iters);
}

TEST(delay_many_concurrent)
{
	enum {
		N = 500
	};
	static weft_task *t[N];
	for (int i = 0; i < N; i++)
		REQUIRE(weft_task_delay(&t[i], 1 + i % 50, WEFT_TOKEN_NONE) ==
			0);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(weft_task_wait(t[i], 30000, WEFT_TOKEN_NONE, NULL), 0);
		weft_task_unref(t[i]);
	}
}

/* ---- weft_task_from_timer
 * ---------------------------------------------------- */

TEST(from_timer_is_delay)
{
	weft_task *t = (weft_task *)&t;
	CHECK_EQ(weft_task_from_timer(&t, -2, WEFT_TOKEN_NONE), -EINVAL);
	CHECK_EQ(weft_task_from_timer(NULL, 1, WEFT_TOKEN_NONE), -EINVAL);
	REQUIRE(weft_task_from_timer(&t, 0, WEFT_TOKEN_NONE) == 0);
	CHECK(weft_task_is_completed_successfully(t));
	weft_task_unref(t);

	int64_t t0 = now_ms();
	REQUIRE(weft_task_from_timer(&t, 20, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK(now_ms() - t0 >= 19);
	weft_task_unref(t);

	weft_cancel_source *s = new_source();
	REQUIRE(weft_task_from_timer(&t, WEFT_INFINITE,
				     weft_cancel_source_token(s)) == 0);
	weft_cancel_source_cancel(s);
	check_canceled_with(t, weft_cancel_source_token(s));
	weft_task_unref(t);
	weft_cancel_source_unref(s);
}

/* ---- weft_task_from_fd
 * --------------------------------------------------------- */

TEST(from_fd_bad_args)
{
	weft_task *t = (weft_task *)&t;
	int p[2];
	REQUIRE(pipe(p) == 0);
	CHECK_EQ(weft_task_from_fd(NULL, p[0], EPOLLIN, WEFT_TOKEN_NONE),
		 -EINVAL);
	CHECK_EQ(weft_task_from_fd(&t, -1, EPOLLIN, WEFT_TOKEN_NONE), -EINVAL);
	CHECK(t == NULL);
	CHECK_EQ(weft_task_from_fd(&t, p[0], 0, WEFT_TOKEN_NONE), -EINVAL);
	CHECK_EQ(
		weft_task_from_fd(&t, p[0], EPOLLIN | EPOLLET, WEFT_TOKEN_NONE),
		-EINVAL);
	close(p[0]);
	close(p[1]);
	CHECK_EQ(weft_task_from_fd(&t, p[0], EPOLLIN, WEFT_TOKEN_NONE), -EBADF);

	char path[] = "/tmp/weft-io-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	unlink(path);
	CHECK_EQ(weft_task_from_fd(&t, fd, EPOLLIN, WEFT_TOKEN_NONE), -EPERM);
	CHECK(t == NULL);
	close(fd);
}

TEST(from_fd_completes_with_ready_mask)
{
	int p[2];
	REQUIRE(pipe(p) == 0);
	weft_task *t, *t2;
	REQUIRE(weft_task_from_fd(&t, p[0], EPOLLIN, WEFT_TOKEN_NONE) == 0);
	REQUIRE(weft_task_from_fd(&t2, p[0], EPOLLIN, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(weft_task_wait(t, 50, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_WAITING_FOR_ACTIVATION);
	REQUIRE(write(p[1], "x", 1) == 1);
	CHECK_EQ(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(weft_task_wait(t2, 30000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK((uintptr_t)weft_task_result(t) & EPOLLIN);
	CHECK((uintptr_t)weft_task_result(t2) & EPOLLIN);
	/* Nothing was consumed, and the fd is still ours. */
	char c;
	CHECK_EQ(read(p[0], &c, 1), 1);
	weft_task_unref(t);
	weft_task_unref(t2);
	close(p[0]);
	close(p[1]);
}

TEST(from_fd_writable_at_once)
{
	int p[2];
	REQUIRE(pipe(p) == 0);
	weft_task *t;
	REQUIRE(weft_task_from_fd(&t, p[1], EPOLLOUT, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK((uintptr_t)weft_task_result(t) & EPOLLOUT);
	weft_task_unref(t);
	close(p[0]);
	close(p[1]);
}

TEST(from_fd_cancel)
{
	int p[2];
	REQUIRE(pipe(p) == 0);
	/* Pre-canceled. */
	weft_task *t;
	REQUIRE(weft_task_from_fd(&t, p[0], EPOLLIN,
				  weft_cancel_token_canceled()) == 0);
	check_canceled_with(t, weft_cancel_token_canceled());
	weft_task_unref(t);

	/* Canceled while pending: at once, inside the cancel call. */
	weft_cancel_source *s = new_source();
	weft_cancel_token tok = weft_cancel_source_token(s);
	REQUIRE(weft_task_from_fd(&t, p[0], EPOLLIN, tok) == 0);
	weft_cancel_source_cancel(s);
	check_canceled_with(t, tok);
	/* Later readiness changes nothing. */
	REQUIRE(write(p[1], "x", 1) == 1);
	sleep_ms(20);
	CHECK(weft_task_is_canceled(t));
	weft_task_unref(t);
	weft_cancel_source_unref(s);

	/* Ready first: cancel afterwards changes nothing. */
	s = new_source();
	REQUIRE(weft_task_from_fd(&t, p[0], EPOLLIN,
				  weft_cancel_source_token(s)) == 0);
	CHECK_EQ(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL), 0);
	weft_cancel_source_cancel(s);
	CHECK(weft_task_is_completed_successfully(t));
	weft_task_unref(t);
	weft_cancel_source_unref(s);
	close(p[0]);
	close(p[1]);
}

TEST(from_fd_ready_vs_cancel_race)
{
	int iters = (int)(300 * weft_test_scale());
	if (iters < 30)
		iters = 30;
	int done = 0;
	for (int i = 0; i < iters; i++) {
		int p[2];
		REQUIRE(pipe(p) == 0);
		struct cancel_race r = {.s = new_source()};
		weft_task *t;
		REQUIRE(weft_task_from_fd(&t, p[0], EPOLLIN,
					  weft_cancel_source_token(r.s)) == 0);
		pthread_t th;
		pthread_create(&th, NULL, race_cancel, &r);
		atomic_store(&r.go, 1);
		REQUIRE(write(p[1], "x", 1) == 1);
		int rc = weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL);
		pthread_join(th, NULL);
		done += rc == 0 || rc == -ECANCELED;
		weft_task_unref(t);
		weft_cancel_source_unref(r.s);
		close(p[0]);
		close(p[1]);
	}
	CHECK_EQ(done, iters);
}

/* ---- weft_task_from_pid
 * ---------------------------------------------------------- */

static bool have_pidfd(void)
{
	int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

TEST(from_pid_bad_args)
{
	if (!have_pidfd())
		SKIP("pidfd_open not supported by this kernel");
	weft_task *t = (weft_task *)&t;
	CHECK_EQ(weft_task_from_pid(NULL, getpid(), WEFT_TOKEN_NONE), -EINVAL);
	CHECK_EQ(weft_task_from_pid(&t, 0, WEFT_TOKEN_NONE), -EINVAL);
	CHECK(t == NULL);
	CHECK_EQ(weft_task_from_pid(&t, -1, WEFT_TOKEN_NONE), -EINVAL);
	/* A process that is gone (reaped). */
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		_exit(0);
	REQUIRE(waitpid(pid, NULL, 0) == pid);
	CHECK_EQ(weft_task_from_pid(&t, pid, WEFT_TOKEN_NONE), -ESRCH);
}

TEST(from_pid_child_exit_status)
{
	if (!have_pidfd())
		SKIP("pidfd_open not supported by this kernel");
	int go[2];
	REQUIRE(pipe(go) == 0);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		char c;
		close(go[1]);
		if (read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(7);
	}
	close(go[0]);
	weft_task *t;
	REQUIRE(weft_task_from_pid(&t, pid, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(weft_task_wait(t, 50, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	close(go[1]); /* let the child exit */
	CHECK_EQ(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL), 0);
	int status = (int)(uintptr_t)weft_task_result(t);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 7);
	/* The child was reaped. */
	CHECK_EQ(waitpid(pid, NULL, WNOHANG), -1);
	CHECK_EQ(errno, ECHILD);
	weft_task_unref(t);
}

TEST(from_pid_child_killed_and_already_exited)
{
	if (!have_pidfd())
		SKIP("pidfd_open not supported by this kernel");
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	weft_task *t;
	REQUIRE(weft_task_from_pid(&t, pid, WEFT_TOKEN_NONE) == 0);
	kill(pid, SIGKILL);
	CHECK_EQ(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL), 0);
	int status = (int)(uintptr_t)weft_task_result(t);
	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), SIGKILL);
	weft_task_unref(t);

	/* A zombie (exited, not yet reaped) completes at once. */
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		_exit(3);
	siginfo_t si;
	REQUIRE(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == 0);
	REQUIRE(weft_task_from_pid(&t, pid, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL), 0);
	status = (int)(uintptr_t)weft_task_result(t);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 3);
	weft_task_unref(t);
}

TEST(from_pid_not_our_child)
{
	if (!have_pidfd())
		SKIP("pidfd_open not supported by this kernel");
	/* A grandchild is re-parented when its parent exits: not ours. */
	int info[2], go[2];
	REQUIRE(pipe(info) == 0 && pipe(go) == 0);
	pid_t child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		pid_t g = fork();
		if (g == 0) {
			char c;
			close(go[1]);
			if (read(go[0], &c, 1) < 0)
				_exit(1);
			_exit(5);
		}
		if (write(info[1], &g, sizeof g) != sizeof g)
			_exit(1);
		_exit(0);
	}
	pid_t g = 0;
	REQUIRE(read(info[0], &g, sizeof g) == sizeof g);
	REQUIRE(waitpid(child, NULL, 0) == child);
	close(go[0]);
	weft_task *t;
	REQUIRE(weft_task_from_pid(&t, g, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(weft_task_wait(t, 50, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	close(go[1]);
	CHECK_EQ(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL), 0);
	int sub = 0;
	prctl(PR_GET_CHILD_SUBREAPER, &sub);
	if (sub) /* we adopted it: then it is our child after all */
		CHECK_EQ(WEXITSTATUS((int)(uintptr_t)weft_task_result(t)), 5);
	else
		CHECK(weft_task_result(t) == NULL); /* status unknown: 0 */
	weft_task_unref(t);
	close(info[0]);
	close(info[1]);
}

TEST(from_pid_cancel_does_not_reap)
{
	if (!have_pidfd())
		SKIP("pidfd_open not supported by this kernel");
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	weft_task *t;
	REQUIRE(weft_task_from_pid(&t, pid, weft_cancel_token_canceled()) == 0);
	check_canceled_with(t, weft_cancel_token_canceled());
	weft_task_unref(t);

	weft_cancel_source *s = new_source();
	weft_cancel_token tok = weft_cancel_source_token(s);
	REQUIRE(weft_task_from_pid(&t, pid, tok) == 0);
	weft_cancel_source_cancel(s);
	check_canceled_with(t, tok);
	/* The child is still ours to reap. */
	kill(pid, SIGKILL);
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status));
	CHECK(weft_task_is_canceled(t));
	weft_task_unref(t);
	weft_cancel_source_unref(s);
}

/* ---- fork
 * ----------------------------------------------------------------------- */

TEST(io_works_in_forked_child)
{
	if (UNDER_TSAN)
		SKIP("ThreadSanitizer cannot start threads after a multithreaded fork");
	/* Use the event thread, fork, and use it again in both processes. */
	weft_task *t;
	REQUIRE(weft_task_delay(&t, 1, WEFT_TOKEN_NONE) == 0);
	REQUIRE(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL) == 0);
	weft_task_unref(t);

	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		weft_task *c;
		if (weft_task_delay(&c, 5, WEFT_TOKEN_NONE))
			_exit(2);
		if (weft_task_wait(c, 30000, WEFT_TOKEN_NONE, NULL))
			_exit(3);
		weft_task_unref(c);
		int p[2];
		if (pipe(p) || write(p[1], "x", 1) != 1)
			_exit(4);
		if (weft_task_from_fd(&c, p[0], EPOLLIN, WEFT_TOKEN_NONE))
			_exit(5);
		if (weft_task_wait(c, 30000, WEFT_TOKEN_NONE, NULL))
			_exit(6);
		weft_task_unref(c);
		_exit(0);
	}
	REQUIRE(weft_task_delay(&t, 5, WEFT_TOKEN_NONE) == 0);
	CHECK_EQ(weft_task_wait(t, 30000, WEFT_TOKEN_NONE, NULL), 0);
	weft_task_unref(t);
	int status;
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}
