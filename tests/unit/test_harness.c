/*
 * test_harness.c - tests of the test harness itself.
 *
 * The tests whose names start with '_' are hidden: the harness runs them
 * only when asked by name.  The visible tests run this very binary again
 * (/proc/self/exe) with such names and check what it prints and how it
 * exits, so failing, crashing and hanging tests can be examined without
 * failing this run.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- hidden tests: the subjects ----------------------------------------- */

TEST(_pass)
{
	CHECK(1 + 1 == 2);
}

TEST(_fail_check)
{
	CHECK(1 + 1 == 3);
	printf("line=%d\n", __LINE__ - 1);
	printf("after the failed check\n");
}

TEST(_fail_eq)
{
	CHECK_EQ(2 + 2, 5);
	CHECK_EQ(1LL << 40, 0);
	CHECK_EQ(-1, 4294967295U);
}

TEST(_fail_ptr)
{
	static int x;

	CHECK_PTR_EQ(&x, NULL);
}

TEST(_fail_str)
{
	const char *none = NULL;

	CHECK_STR_EQ("abc", none);
	CHECK_STR_EQ("a\"b\nc", "abc");
}

TEST(_require)
{
	REQUIRE(0 == 1);
	printf("not reached\n");
}

TEST(_skip)
{
	SKIP("because %d", 42);
}

TEST(_skip_after_fail)
{
	CHECK(0);
	SKIP("too late");
}

TEST(_signal)
{
	raise(SIGTERM);
}

TEST(_exit_status)
{
	exit(3);
}

TEST(_exit_early)
{
	exit(0);
}

TEST(_hang)
{
	for (;;)
		pause();
}

/* Start a child that would sleep forever, detached from our output. */
static pid_t start_sleeper(void)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		FILE *f = freopen("/dev/null", "w", stdout);

		(void)f;
		dup2(STDOUT_FILENO, STDERR_FILENO);
		for (;;)
			pause();
	}
	printf("sleeper=%d\n", (int)pid);
	return pid;
}

TEST(_hang_with_sleeper)
{
	REQUIRE(start_sleeper() > 0);
	for (;;)
		pause();
}

TEST(_leave_sleeper)
{
	CHECK(start_sleeper() > 0);
}

static void *failing_thread(void *arg)
{
	(void)arg;
	CHECK(2 + 2 == 5);
	return NULL;
}

TEST(_thread_check)
{
	pthread_t th;

	REQUIRE(pthread_create(&th, NULL, failing_thread, NULL) == 0);
	pthread_join(th, NULL);
}

TEST(_print_scale)
{
	printf("scale=%g scaled=%lld\n", weft_test_scale(),
	       weft_test_scaled(1000));
}

TEST(_print_pid)
{
	printf("pid=%d name=%s\n", (int)getpid(), weft_test_name());
}

/* ---- running this binary again ------------------------------------------- */

struct run {
	pid_t pid;
	int status;  /* as from waitpid */
	char *out;   /* stdout and stderr together, NUL-terminated */
	double secs; /* wall time */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Run /proc/self/exe with ARGS (NULL-terminated); ENV holds "NAME=value"
 * to set or "NAME" to unset (NULL: no change).  Returns false when the run
 * itself could not be made.
 */
static bool run_self(struct run *r, const char *const *env,
		     const char *const *args)
{
	const char *argv[16];
	size_t n = 0, len = 0, cap = 4096;
	int fds[2];
	double start = now();

	memset(r, 0, sizeof(*r));
	argv[n++] = "test_harness";
	while (args && *args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	if (pipe(fds) < 0)
		return false;
	fflush(NULL);
	r->pid = fork();
	if (r->pid < 0)
		return false;
	if (r->pid == 0) {
		for (; env && *env; env++) {
			const char *eq = strchr(*env, '=');

			if (eq) {
				char name[64];

				snprintf(name, sizeof(name), "%.*s",
					 (int)(eq - *env), *env);
				setenv(name, eq + 1, 1);
			} else {
				unsetenv(*env);
			}
		}
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	r->out = malloc(cap);
	if (!r->out) {
		close(fds[0]);
		return false;
	}
	for (;;) {
		ssize_t k;

		if (cap - len < 1024) {
			char *p = realloc(r->out, cap * 2);

			if (!p)
				break;
			r->out = p;
			cap *= 2;
		}
		k = read(fds[0], r->out + len, cap - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	r->out[len] = '\0';
	close(fds[0]);
	while (waitpid(r->pid, &r->status, 0) < 0 && errno == EINTR)
		;
	r->secs = now() - start;
	return true;
}

static int exit_code(const struct run *r)
{
	return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

/* Is LINE one whole line of OUT? */
static bool has_line(const char *out, const char *line)
{
	size_t n = strlen(line);
	const char *p = out;

	while ((p = strstr(p, line))) {
		if ((p == out || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
			return true;
		p++;
	}
	return false;
}

static int count_lines(const char *out, const char *line)
{
	size_t n = strlen(line);
	const char *p = out;
	int c = 0;

	while ((p = strstr(p, line))) {
		if ((p == out || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
			c++;
		p++;
	}
	return c;
}

/* The last non-empty line of OUT, copied into BUF. */
static const char *last_line(const char *out, char *buf, size_t size)
{
	size_t len = strlen(out);
	const char *end, *begin;

	while (len && out[len - 1] == '\n')
		len--;
	end = out + len;
	begin = end;
	while (begin > out && begin[-1] != '\n')
		begin--;
	snprintf(buf, size, "%.*s", (int)(end - begin), begin);
	return buf;
}

/* The number after "KEY=" in OUT, or -1. */
static long value_of(const char *out, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "%s=", key);
	p = strstr(out, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* Reap PID (we are its subreaper); true if SIGKILL ended it. */
static bool reaped_killed(pid_t pid)
{
	double start = now();
	int status;

	while (now() - start < 30) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			return WIFSIGNALED(status) &&
			       WTERMSIG(status) == SIGKILL;
		if (w < 0 && errno != EINTR)
			return false;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return false;
}

/* ---- the visible tests --------------------------------------------------- */

static int counter;

static const char *next_word(void)
{
	static const char *words[] = {"one", "two", "three"};

	return words[counter++ % 3];
}

TEST(checks_evaluate_each_argument_once)
{
	int i = 0;
	char buf[4] = "ab";

	CHECK(i++ == 0);
	CHECK_EQ(i, 1);
	CHECK_EQ(i++, 1);
	CHECK_EQ(i, 2);
	CHECK_PTR_EQ(&buf[i++], &buf[2]);
	CHECK_EQ(i, 3);
	counter = 0;
	CHECK_STR_EQ(next_word(), "one");
	CHECK_EQ(counter, 1);
	REQUIRE(i++ == 3);
	CHECK_EQ(i, 4);
}

TEST(checks_compare_as_documented)
{
	char one[] = "same", other[] = "same";
	const char *a = one, *b = other;

	/* Integers as long long: no truncation to int, no sign games. */
	CHECK_EQ((unsigned char)200, 200);
	CHECK_EQ(-1, -1LL);
	CHECK_EQ(UINT32_MAX, 4294967295LL);
	CHECK_EQ(1LL << 40, 1099511627776LL);
	/* Strings by content (two different buffers), NULL-safe. */
	CHECK_STR_EQ(a, b);
	CHECK_STR_EQ(NULL, NULL);
	CHECK_STR_EQ(weft_test_name(), "checks_compare_as_documented");
}

TEST(failing_check_reports_and_continues)
{
	const char *args[] = {"_fail_check", NULL};
	struct run r;
	char diag[128], buf[256];
	long line;

	REQUIRE(run_self(&r, NULL, args));
	CHECK_EQ(exit_code(&r), 1);
	line = value_of(r.out, "line");
	CHECK(line > 0);
	snprintf(diag, sizeof(diag),
		 "# tests/unit/test_harness.c:%ld: 1 + 1 == 3", line);
	CHECK(has_line(r.out, diag));
	CHECK(has_line(r.out, "after the failed check"));
	CHECK(has_line(r.out, "1..1"));
	CHECK(has_line(r.out, "not ok 1 - _fail_check"));
	CHECK_STR_EQ(last_line(r.out, buf, sizeof(buf)), "0 passed, 1 failed");
	if (!has_line(r.out, diag))
		printf("# output was:\n%s", r.out);
	free(r.out);
}

TEST(failures_show_both_values)
{
	const char *args[] = {"_fail_eq", "_fail_ptr", "_fail_str", NULL};
	struct run r;
	char buf[256];

	REQUIRE(run_self(&r, NULL, args));
	CHECK_EQ(exit_code(&r), 1);
	CHECK(strstr(r.out, ": 2 + 2 == 5 (4 != 5)\n") != NULL);
	CHECK(strstr(r.out, ": 1LL << 40 == 0 (1099511627776 != 0)\n") != NULL);
	CHECK(strstr(r.out, ": -1 == 4294967295U (-1 != 4294967295)\n") !=
	      NULL);
	CHECK(strstr(r.out, ": &x == NULL (0x") != NULL);
	CHECK(strstr(r.out, ": \"abc\" == none (\"abc\" != NULL)\n") != NULL);
	/* Escaped, so a failure stays on one line. */
	CHECK(strstr(r.out, "(\"a\\\"b\\nc\" != \"abc\")\n") != NULL);
	CHECK(has_line(r.out, "not ok 1 - _fail_eq"));
	CHECK(has_line(r.out, "not ok 2 - _fail_ptr"));
	CHECK(has_line(r.out, "not ok 3 - _fail_str"));
	CHECK_STR_EQ(last_line(r.out, buf, sizeof(buf)), "0 passed, 3 failed");
	free(r.out);
}

TEST(require_returns_from_the_test)
{
	const char *args[] = {"_require", NULL};
	struct run r;

	REQUIRE(run_self(&r, NULL, args));
	CHECK_EQ(exit_code(&r), 1);
	CHECK(strstr(r.out, ": REQUIRE(0 == 1)\n") != NULL);
	CHECK(strstr(r.out, "not reached") == NULL);
	CHECK(has_line(r.out, "not ok 1 - _require"));
	free(r.out);
}

TEST(skip_gives_its_reason_and_does_not_fail)
{
	const char *args[] = {"_skip", NULL};
	const char *args2[] = {"_skip_after_fail", NULL};
	struct run r;
	char buf[256];

	REQUIRE(run_self(&r, NULL, args));
	CHECK_EQ(exit_code(&r), 0);
	CHECK(has_line(r.out, "ok 1 - _skip # SKIP because 42"));
	CHECK_STR_EQ(last_line(r.out, buf, sizeof(buf)),
		     "0 passed, 0 failed, 1 skipped");
	free(r.out);

	/* A failure before the skip still counts. */
	REQUIRE(run_self(&r, NULL, args2));
	CHECK_EQ(exit_code(&r), 1);
	CHECK(has_line(r.out, "not ok 1 - _skip_after_fail"));
	CHECK_STR_EQ(last_line(r.out, buf, sizeof(buf)), "0 passed, 1 failed");
	free(r.out);
}

TEST(crashes_and_exits_fail_the_test)
{
	const char *args[] = {"_signal", "_exit_status", "_exit_early",
			      "_print_scale", NULL};
	struct run r;
	char buf[256];

	REQUIRE(run_self(&r, NULL, args));
	CHECK_EQ(exit_code(&r), 1);
	/* In file order, whatever the order of the names. */
	CHECK(has_line(r.out, "not ok 1 - _signal"));
	CHECK(strstr(r.out, "# _signal: killed by signal 15") != NULL);
	CHECK(has_line(r.out, "not ok 2 - _exit_status"));
	CHECK(has_line(r.out, "# _exit_status: exited with status 3"));
	CHECK(has_line(r.out, "not ok 3 - _exit_early"));
	CHECK(has_line(
		r.out,
		"# _exit_early: exited before the test function returned"));
	/* The runner survives all of it and goes on. */
	CHECK(has_line(r.out, "ok 4 - _print_scale"));
	CHECK_STR_EQ(last_line(r.out, buf, sizeof(buf)), "1 passed, 3 failed");
	free(r.out);
}

TEST(checks_from_other_threads_are_counted)
{
	const char *args[] = {"_thread_check", NULL};
	struct run r;

	REQUIRE(run_self(&r, NULL, args));
	CHECK_EQ(exit_code(&r), 1);
	CHECK(strstr(r.out, ": 2 + 2 == 5\n") != NULL);
	CHECK(has_line(r.out, "not ok 1 - _thread_check"));
	free(r.out);
}

TEST(timeout_kills_the_whole_process_group)
{
	const char *env[] = {"WEFT_TEST_TIMEOUT=1", NULL};
	const char *args[] = {"_hang_with_sleeper", "_print_scale", NULL};
	struct run r;
	long sleeper;

	/* Orphans of the run come to us, so we can see how they ended. */
	REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	REQUIRE(run_self(&r, env, args));
	CHECK_EQ(exit_code(&r), 1);
	CHECK(has_line(r.out, "not ok 1 - _hang_with_sleeper"));
	CHECK(strstr(r.out, "# _hang_with_sleeper: timed out after 1 s") !=
	      NULL);
	CHECK(has_line(r.out, "ok 2 - _print_scale"));
	/* Not before the timeout; the upper bound is only a sanity limit. */
	CHECK(r.secs >= 1.0);
	CHECK(r.secs < 60.0);
	sleeper = value_of(r.out, "sleeper");
	REQUIRE(sleeper > 0);
	CHECK(reaped_killed((pid_t)sleeper));
	free(r.out);
}

TEST(what_a_test_leaves_running_is_killed)
{
	const char *args[] = {"_leave_sleeper", NULL};
	struct run r;
	long sleeper;

	REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	REQUIRE(run_self(&r, NULL, args));
	CHECK_EQ(exit_code(&r), 0);
	CHECK(has_line(r.out, "ok 1 - _leave_sleeper"));
	sleeper = value_of(r.out, "sleeper");
	REQUIRE(sleeper > 0);
	CHECK(reaped_killed((pid_t)sleeper));
	free(r.out);
}

TEST(list_shows_visible_tests_in_file_order)
{
	const char *none[] = {"--list", NULL};
	const char *hidden[] = {"--list", "_fail_*", NULL};
	const char *first, *second;
	struct run r;

	REQUIRE(run_self(&r, NULL, none));
	CHECK_EQ(exit_code(&r), 0);
	first = strstr(r.out, "checks_evaluate_each_argument_once\n");
	second = strstr(r.out, "list_shows_visible_tests_in_file_order\n");
	CHECK(first != NULL);
	CHECK(second != NULL);
	CHECK(first < second);
	/* Hidden tests are not listed. */
	CHECK(strstr(r.out, "\n_") == NULL && r.out[0] != '_');
	CHECK(strstr(r.out, "1..") == NULL);
	free(r.out);

	REQUIRE(run_self(&r, NULL, hidden));
	CHECK_EQ(exit_code(&r), 0);
	CHECK_STR_EQ(r.out, "_fail_check\n_fail_eq\n_fail_ptr\n_fail_str\n");
	free(r.out);
}

TEST(names_select_and_bad_arguments_are_errors)
{
	const char *one[] = {"_pass", NULL};
	const char *unknown[] = {"no_such_test", NULL};
	const char *bogus[] = {"--bogus", NULL};
	struct run r;

	REQUIRE(run_self(&r, NULL, one));
	CHECK_EQ(exit_code(&r), 0);
	CHECK_STR_EQ(r.out, "1..1\nok 1 - _pass\n1 passed, 0 failed\n");
	free(r.out);

	REQUIRE(run_self(&r, NULL, unknown));
	CHECK_EQ(exit_code(&r), 2);
	CHECK(strstr(r.out, "no test matches 'no_such_test'") != NULL);
	free(r.out);

	REQUIRE(run_self(&r, NULL, bogus));
	CHECK_EQ(exit_code(&r), 2);
	CHECK(strstr(r.out, "unknown option --bogus") != NULL);
	free(r.out);
}

TEST(output_is_written_once)
{
	const char *args[] = {"_pass", "_fail_check", "_skip", "_print_pid",
			      NULL};
	struct run r;
	char buf[256];

	REQUIRE(run_self(&r, NULL, args));
	CHECK_EQ(count_lines(r.out, "1..4"), 1);
	CHECK_EQ(count_lines(r.out, "ok 1 - _pass"), 1);
	CHECK_EQ(count_lines(r.out, "not ok 2 - _fail_check"), 1);
	CHECK_EQ(count_lines(r.out, "after the failed check"), 1);
	CHECK_EQ(count_lines(r.out, "ok 3 - _skip # SKIP because 42"), 1);
	CHECK_EQ(count_lines(r.out, "ok 4 - _print_pid"), 1);
	CHECK_STR_EQ(last_line(r.out, buf, sizeof(buf)),
		     "2 passed, 1 failed, 1 skipped");
	free(r.out);
}

TEST(each_test_runs_in_a_child_unless_no_fork)
{
	const char *forked[] = {"_print_pid", NULL};
	const char *inproc[] = {"--no-fork", "_fail_check", "_print_pid", NULL};
	struct run r;
	char buf[256];

	REQUIRE(run_self(&r, NULL, forked));
	CHECK_EQ(exit_code(&r), 0);
	CHECK(value_of(r.out, "pid") > 0);
	CHECK(value_of(r.out, "pid") != (long)r.pid);
	CHECK(strstr(r.out, "name=_print_pid\n") != NULL);
	free(r.out);

	REQUIRE(run_self(&r, NULL, inproc));
	CHECK_EQ(exit_code(&r), 1);
	CHECK_EQ(value_of(r.out, "pid"), (long)r.pid);
	CHECK(has_line(r.out, "not ok 1 - _fail_check"));
	CHECK(has_line(r.out, "ok 2 - _print_pid"));
	CHECK_STR_EQ(last_line(r.out, buf, sizeof(buf)), "1 passed, 1 failed");
	free(r.out);
}

TEST(scale_comes_from_the_environment)
{
	const char *args[] = {"_print_scale", NULL};
	const char *quarter[] = {"WEFT_TEST_SCALE=0.25", NULL};
	const char *tiny[] = {"WEFT_TEST_SCALE=0.0001", NULL};
	const char *junk[] = {"WEFT_TEST_SCALE=fast", NULL};
	const char *unset[] = {"WEFT_TEST_SCALE", NULL};
	struct run r;

	REQUIRE(run_self(&r, quarter, args));
	CHECK(strstr(r.out, "scale=0.25 scaled=250\n") != NULL);
	free(r.out);
	REQUIRE(run_self(&r, tiny, args));
	CHECK(strstr(r.out, "scale=0.0001 scaled=1\n") != NULL);
	free(r.out);
	REQUIRE(run_self(&r, junk, args));
	CHECK(strstr(r.out, "scale=1 scaled=1000\n") != NULL);
	free(r.out);
	REQUIRE(run_self(&r, unset, args));
	CHECK(strstr(r.out, "scale=1 scaled=1000\n") != NULL);
	free(r.out);
}
