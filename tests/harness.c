/*
 * harness.c - registry, runner and checks of the test harness (harness.h).
 *
 * The runner forks one child per test.  What a child records (failed
 * checks, a skip and its reason, whether the test function returned) goes
 * into one page of MAP_SHARED memory, so the parent still knows it when the
 * child crashes.  The child reports its own failures on stdout while it
 * runs; the parent prints the TAP result line after reaping it.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT 120.0
/* A test slower than this gets a "# took" note, to help tune CI time. */
#define SLOW_NOTE_SECONDS 5.0
#define MAX_SHOWN 200 /* characters of a string value shown in a failure */

struct test {
	const char *name;
	void (*fn)(void);
	const char *file;
	int line;
	bool selected;
};

/* What one test run records; shared with the forked child. */
struct record {
	atomic_int failures; /* relaxed: read by the parent after waitpid */
	int skipped;
	int returned;
	char skip_reason[512];
};

static struct test *tests;
static size_t ntests, cap_tests;
static struct record local_record;
static struct record *rec = &local_record;
static const struct test *current;
static volatile sig_atomic_t child_pgid; /* for the signal handler */

/* ---- registration ------------------------------------------------------ */

void weft_test__register(const char *name, void (*fn)(void), const char *file,
			 int line)
{
	if (ntests == cap_tests) {
		size_t ncap = cap_tests ? 2 * cap_tests : 64;
		struct test *n = realloc(tests, ncap * sizeof(*n));

		if (!n) {
			fputs("harness: out of memory\n", stderr);
			abort();
		}
		tests = n;
		cap_tests = ncap;
	}
	tests[ntests++] = (struct test){name, fn, file, line, false};
}

static int by_position(const void *a, const void *b)
{
	const struct test *x = a, *y = b;
	int c = strcmp(x->file, y->file);

	if (c)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

/* ---- settings ---------------------------------------------------------- */

static double env_double(const char *name, double dflt, bool allow_zero)
{
	const char *s = getenv(name);
	char *end;
	double v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || v != v || v < 0 || (v == 0 && !allow_zero))
		return dflt;
	return v;
}

double weft_test_scale(void)
{
	return env_double("WEFT_TEST_SCALE", 1.0, false);
}

long long weft_test_scaled(long long n)
{
	double v = (double)n * weft_test_scale();

	if (n >= 1 && v < 1)
		return 1;
	return (long long)v;
}

double weft_test_timeout(void)
{
	return env_double("WEFT_TEST_TIMEOUT", DEFAULT_TIMEOUT, true);
}

const char *weft_test_name(void)
{
	return current ? current->name : NULL;
}

/* ---- checks ------------------------------------------------------------ */

static void fail_begin(const char *file, int line)
{
	/* relaxed: a counter; the parent reads it after reaping the child */
	atomic_fetch_add_explicit(&rec->failures, 1, memory_order_relaxed);
	flockfile(stdout);
	printf("# %s:%d: ", file, line);
}

static void fail_end(void)
{
	putchar('\n');
	funlockfile(stdout);
	fflush(stdout);
}

/* A string value on one line: quoted, escaped, cut after MAX_SHOWN. */
static void put_value(const char *s)
{
	size_t i;

	if (!s) {
		fputs("NULL", stdout);
		return;
	}
	putchar('"');
	for (i = 0; s[i] && i < MAX_SHOWN; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	putchar('"');
	if (s[i])
		fputs("...", stdout);
}

bool weft_test__check(bool ok, const char *file, int line, const char *text)
{
	if (ok)
		return true;
	fail_begin(file, line);
	fputs(text, stdout);
	fail_end();
	return false;
}

bool weft_test__check_eq(long long a, long long b, const char *file, int line,
			 const char *ta, const char *tb)
{
	if (a == b)
		return true;
	fail_begin(file, line);
	printf("%s == %s (%lld != %lld)", ta, tb, a, b);
	fail_end();
	return false;
}

bool weft_test__check_ptr_eq(const void *a, const void *b, const char *file,
			     int line, const char *ta, const char *tb)
{
	if (a == b)
		return true;
	fail_begin(file, line);
	printf("%s == %s (%p != %p)", ta, tb, a, b);
	fail_end();
	return false;
}

bool weft_test__check_str_eq(const char *a, const char *b, const char *file,
			     int line, const char *ta, const char *tb)
{
	if (a == b || (a && b && strcmp(a, b) == 0))
		return true;
	fail_begin(file, line);
	printf("%s == %s (", ta, tb);
	put_value(a);
	fputs(" != ", stdout);
	put_value(b);
	putchar(')');
	fail_end();
	return false;
}

void weft_test__skip(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	char *p;

	(void)file;
	(void)line;
	va_start(ap, fmt);
	vsnprintf(rec->skip_reason, sizeof(rec->skip_reason), fmt, ap);
	va_end(ap);
	/* The reason goes on the TAP line: keep it on one line. */
	for (p = rec->skip_reason; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	rec->skipped = 1;
}

/* ---- running ----------------------------------------------------------- */

enum outcome {
	PASSED,
	FAILED,
	SKIPPED
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void reset_record(void)
{
	atomic_store_explicit(&rec->failures, 0, memory_order_relaxed);
	rec->skipped = 0;
	rec->returned = 0;
	rec->skip_reason[0] = '\0';
}

static enum outcome judge(void)
{
	if (atomic_load_explicit(&rec->failures, memory_order_relaxed))
		return FAILED;
	return rec->skipped ? SKIPPED : PASSED;
}

/*
 * The child: its own process group (so everything it starts can be killed
 * with it), killed if the runner dies, no stdin.  It leaves through exit(),
 * not _exit(), so atexit handlers and LeakSanitizer run.
 */
static void run_child(const struct test *t, pid_t runner)
{
	int fd;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != runner)
		_exit(127);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		if (fd != STDIN_FILENO)
			close(fd);
	}
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	current = t;
	t->fn();
	rec->returned = 1;
	exit(0);
}

static enum outcome run_forked(const struct test *t, double timeout)
{
	double start = now(), elapsed;
	long sleep_ns = 100 * 1000;
	bool timed_out = false;
	int status = 0, r;
	pid_t pid, runner = getpid();

	reset_record();
	/* Whatever is buffered now would be written again by the child. */
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		printf("# fork: %s\n", strerror(errno));
		return FAILED;
	}
	if (pid == 0)
		run_child(t, runner);
	setpgid(pid, pid); /* also here: no window before the child's own */
	child_pgid = pid;

	for (;;) {
		siginfo_t si;
		struct timespec ts;

		/* WNOWAIT: the zombie keeps the process group id ours until
		 * the stragglers in it are killed below. */
		memset(&si, 0, sizeof(si));
		r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
		if (r == 0 && si.si_pid == pid)
			break;
		if (r < 0 && errno != EINTR)
			break;
		if (timeout > 0 && now() - start >= timeout) {
			timed_out = true;
			break;
		}
		ts.tv_sec = 0;
		ts.tv_nsec = sleep_ns;
		nanosleep(&ts, NULL);
		if (sleep_ns < 20 * 1000 * 1000)
			sleep_ns *= 2;
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	child_pgid = 0;
	elapsed = now() - start;

	if (timed_out) {
		printf("# %s: timed out after %.0f s (WEFT_TEST_TIMEOUT)\n",
		       t->name, timeout);
		return FAILED;
	}
	if (WIFSIGNALED(status)) {
		printf("# %s: killed by signal %d (%s)\n", t->name,
		       WTERMSIG(status), strsignal(WTERMSIG(status)));
		return FAILED;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		printf("# %s: exited with status %d\n", t->name,
		       WEXITSTATUS(status));
		return FAILED;
	}
	if (!rec->returned && !rec->skipped) {
		printf("# %s: exited before the test function returned\n",
		       t->name);
		return FAILED;
	}
	if (elapsed >= SLOW_NOTE_SECONDS)
		printf("# %s took %.1f s\n", t->name, elapsed);
	return judge();
}

static enum outcome run_here(const struct test *t)
{
	reset_record();
	current = t;
	t->fn();
	current = NULL;
	rec->returned = 1;
	return judge();
}

/* On SIGTERM/SIGINT/SIGHUP take the running test's process group along. */
static void on_signal(int sig)
{
	pid_t pg = child_pgid;

	if (pg > 0)
		kill(-pg, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- main -------------------------------------------------------------- */

static bool is_hidden(const struct test *t)
{
	return t->name[0] == '_';
}

static bool selected(const struct test *t, int npat, char **pat)
{
	int i;

	if (npat == 0)
		return !is_hidden(t);
	for (i = 0; i < npat; i++)
		if (fnmatch(pat[i], t->name, 0) == 0 &&
		    (!is_hidden(t) || pat[i][0] == '_'))
			return true;
	return false;
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s [--list] [--no-fork] [NAME|PATTERN ...]\n"
		"  Runs the tests (all, or those named) and prints TAP.\n"
		"  --list     print the test names\n"
		"  --no-fork  run in this process, without timeout\n"
		"  env: WEFT_TEST_TIMEOUT (seconds per test, default %.0f,"
		" 0 = none), WEFT_TEST_SCALE\n",
		argv0, DEFAULT_TIMEOUT);
}

int main(int argc, char **argv)
{
	bool list = false, fork_each = true;
	size_t i, nsel = 0, passed = 0, failed = 0, skipped = 0, n = 0;
	/* The names are moved to the front of argv: no allocation that a
	 * forked child could report as leaked. */
	char **pat = argv + 1;
	int npat = 0, a;
	double timeout = weft_test_timeout();

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--list") == 0) {
			list = true;
		} else if (strcmp(argv[a], "--no-fork") == 0) {
			fork_each = false;
		} else if (strcmp(argv[a], "-h") == 0 ||
			   strcmp(argv[a], "--help") == 0) {
			usage(stdout, argv[0]);
			return 0;
		} else if (argv[a][0] == '-') {
			fprintf(stderr, "%s: unknown option %s\n", argv[0],
				argv[a]);
			usage(stderr, argv[0]);
			return 2;
		} else {
			pat[npat++] = argv[a];
		}
	}

	if (ntests)
		qsort(tests, ntests, sizeof(*tests), by_position);
	for (i = 0; i < ntests; i++)
		if ((tests[i].selected = selected(&tests[i], npat, pat)))
			nsel++;
	for (a = 0; a < npat; a++) {
		bool hit = false;

		for (i = 0; i < ntests && !hit; i++)
			hit = selected(&tests[i], 1, &pat[a]);
		if (!hit) {
			fprintf(stderr, "%s: no test matches '%s'\n", argv[0],
				pat[a]);
			return 2;
		}
	}

	if (list) {
		for (i = 0; i < ntests; i++)
			if (tests[i].selected)
				printf("%s\n", tests[i].name);
		return 0;
	}

	if (fork_each) {
		void *m = mmap(NULL, sizeof(struct record),
			       PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED) {
			fprintf(stderr, "harness: mmap: %s\n", strerror(errno));
			return 2;
		}
		rec = m;
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		signal(SIGHUP, on_signal);
	}

	printf("1..%zu\n", nsel);
	for (i = 0; i < ntests; i++) {
		const struct test *t = &tests[i];
		enum outcome o;

		if (!t->selected)
			continue;
		n++;
		o = fork_each ? run_forked(t, timeout) : run_here(t);
		switch (o) {
		case PASSED:
			passed++;
			printf("ok %zu - %s\n", n, t->name);
			break;
		case SKIPPED:
			skipped++;
			printf("ok %zu - %s # SKIP %s\n", n, t->name,
			       rec->skip_reason);
			break;
		case FAILED:
			failed++;
			printf("not ok %zu - %s\n", n, t->name);
			break;
		}
	}
	if (skipped)
		printf("%zu passed, %zu failed, %zu skipped\n", passed, failed,
		       skipped);
	else
		printf("%zu passed, %zu failed\n", passed, failed);
	fflush(stdout);
	return failed ? 1 : 0;
}
