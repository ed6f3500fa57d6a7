/*
 * weft_tpl.c - weft versions of the issue #3 benchmarks (the ones compared
 * with Mono's TPL): continuations, promises, when_all / when_any,
 * cancellation, external submit + wait.
 *
 * The default pool is configured with weft_default_pool_configure(WORKERS)
 * and every task below runs on it.  The driver of each benchmark (the code
 * that creates the tasks and waits) runs as a root task on that pool, as in
 * weft_bench.c; WEFT_BENCH_DRIVER=main runs it on the main thread instead
 * (an external thread, as the Mono versions do).  roundtrip always drives
 * from the main thread and pingpong uses two WEFT_TASK_LONG_RUNNING tasks,
 * by definition.
 *
 * Benchmarks (unit in parentheses):
 *   chain-async  N weft_task_continue_with links, default options (link)
 *   chain-sync   the same with WEFT_CONT_EXECUTE_SYNCHRONOUSLY (link)
 *   pingpong     two long-running tasks complete N promises in turn (hop)
 *   fanout       N trivial tasks + weft_task_when_all + wait (task)
 *   whenany      N rounds of weft_task_when_any over 1000 pending promise
 *                tasks; the clock covers when_any + one set + wait (call)
 *   cancel       N tasks started with a token while every other worker is
 *                busy, cancel, wait_all (task); all N must be Canceled or,
 *                if they ran anyway, reported on a NOTE line
 *   roundtrip    N x (weft_task_run + weft_task_wait) from the main thread
 *                (round trip)
 */
#define _GNU_SOURCE /* clock_gettime, CLOCK_MONOTONIC, sched_yield */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>

#include <weft.h>

#include "../common/bench.h"

static const char *IMPL = "weft";
static int workers;
static int driver_in_pool = 1;

static void must(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "weft_tpl: %s failed: %d (%s)\n", what, rc,
			weft_strerror(rc));
		exit(1);
	}
}

/* A counter bumped by bodies; relaxed: the waits that follow publish it. */
static atomic_long counter;

static void bump_plain(void)
{
	/* links run one after another: no read-modify-write needed */
	long v = atomic_load_explicit(&counter, memory_order_relaxed);
	atomic_store_explicit(&counter, v + 1, memory_order_relaxed);
}

static weft_error *trivial_body(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
	return NULL;
}

/* ---- chain ------------------------------------------------------------- */

static weft_error *link_body(weft_task *self, weft_task *ante, void *arg)
{
	(void)self;
	(void)ante;
	(void)arg;
	bump_plain();
	return NULL;
}

static long long chain(long long n, int sync)
{
	atomic_store(&counter, 0);
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	o.flags = sync ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY : WEFT_CONT_NONE;
	weft_promise *p;
	must(weft_promise_new(&p, NULL, 0), "weft_promise_new");
	weft_task *prev = weft_task_ref(weft_promise_task(p));
	for (long long i = 0; i < n; i++) {
		weft_task *c;
		must(weft_task_continue_with(&c, prev, link_body, NULL, &o),
		     "weft_task_continue_with");
		weft_task_unref(prev);
		prev = c;
	}
	must(weft_promise_set_result(p, NULL, NULL), "weft_promise_set_result");
	must(weft_task_wait(prev, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
	     "weft_task_wait(chain)");
	weft_task_unref(prev);
	weft_promise_unref(p);
	return atomic_load(&counter);
}

/* ---- ping-pong ------------------------------------------------------------
 */

struct pp {
	weft_promise **p;
	long long n;
	int first;
	atomic_long bad;
};

static weft_error *pp_side(weft_task *self, void *arg)
{
	(void)self;
	struct pp *pp = arg;
	for (long long i = pp->first; i < pp->n; i += 2) {
		if (i > 0) {
			weft_task *t = weft_promise_task(pp->p[i - 1]);
			must(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE,
					    NULL),
			     "weft_task_wait(pingpong)");
			if ((intptr_t)weft_task_result(t) != i - 1)
				atomic_fetch_add(&pp->bad, 1);
		}
		must(weft_promise_set_result(pp->p[i], (void *)(intptr_t)i,
					     NULL),
		     "weft_promise_set_result");
	}
	return NULL;
}

static long long pingpong(long long n, uint64_t *ns)
{
	weft_promise **p = malloc(sizeof(*p) * (size_t)n);
	if (!p)
		exit(1);
	for (long long i = 0; i < n; i++)
		must(weft_promise_new(&p[i], NULL, 0), "weft_promise_new");
	struct pp a = {p, n, 0, 0}, b = {p, n, 1, 0};
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	o.flags = WEFT_TASK_LONG_RUNNING;
	weft_task *ts[2];
	uint64_t t0 = bench_now_ns();
	must(weft_task_start_new(&ts[0], pp_side, &a, &o),
	     "weft_task_start_new");
	must(weft_task_start_new(&ts[1], pp_side, &b, &o),
	     "weft_task_start_new");
	must(weft_task_wait_all(ts, 2, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
	     "weft_task_wait_all(pingpong)");
	*ns = bench_now_ns() - t0;
	long long r =
		(intptr_t)weft_task_result(weft_promise_task(p[n - 1])) + 1;
	if (atomic_load(&a.bad) || atomic_load(&b.bad))
		r = -1;
	weft_task_unref(ts[0]);
	weft_task_unref(ts[1]);
	for (long long i = 0; i < n; i++)
		weft_promise_unref(p[i]);
	free(p);
	return r;
}

/* ---- fan-out + when_all -----------------------------------------------------
 */

static long long fanout(long long n)
{
	atomic_store(&counter, 0);
	weft_task **ts = malloc(sizeof(*ts) * (size_t)n);
	if (!ts)
		exit(1);
	for (long long i = 0; i < n; i++)
		must(weft_task_start_new(&ts[i], trivial_body, NULL, NULL),
		     "weft_task_start_new");
	weft_task *all;
	must(weft_task_when_all(&all, ts, (size_t)n), "weft_task_when_all");
	must(weft_task_wait(all, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
	     "weft_task_wait(when_all)");
	weft_task_unref(all);
	for (long long i = 0; i < n; i++)
		weft_task_unref(ts[i]);
	free(ts);
	return atomic_load(&counter);
}

/* ---- when_any -------------------------------------------------------------
 */

enum {
	ANY_K = 1000
};

static long long whenany(long long iters, uint64_t *ns)
{
	weft_promise *p[ANY_K];
	weft_task *tasks[ANY_K];
	long long ok = 0;
	*ns = 0;
	for (long long it = 0; it < iters; it++) {
		for (int i = 0; i < ANY_K; i++) {
			must(weft_promise_new(&p[i], NULL, 0),
			     "weft_promise_new");
			tasks[i] = weft_promise_task(p[i]);
		}
		int win = (int)((it * 7919) % ANY_K);
		uint64_t t0 = bench_now_ns();
		weft_task *w;
		must(weft_task_when_any(&w, tasks, ANY_K),
		     "weft_task_when_any");
		must(weft_promise_set_result(p[win], (void *)(intptr_t)win,
					     NULL),
		     "weft_promise_set_result");
		must(weft_task_wait(w, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
		     "weft_task_wait(when_any)");
		weft_task *first = weft_task_result(w);
		*ns += bench_now_ns() - t0;
		if (first == tasks[win] &&
		    (intptr_t)weft_task_result(first) == win)
			ok++;
		weft_task_unref(w);
		for (int i = 0; i < ANY_K; i++) {
			weft_promise_try_set_result(p[i], (void *)(intptr_t)i,
						    NULL);
			weft_promise_unref(p[i]);
		}
	}
	return ok;
}

/* ---- cancel queued tasks
 * ----------------------------------------------------- */

static atomic_int release_flag, started;

static weft_error *blocker_body(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	atomic_fetch_add_explicit(&started, 1, memory_order_relaxed);
	/* acquire: pairs with the release store in cancel_queued() */
	while (!atomic_load_explicit(&release_flag, memory_order_acquire))
		sched_yield();
	return NULL;
}

static long long cancel_queued(long long n, long long *ran)
{
	atomic_store(&counter, 0);
	atomic_store(&release_flag, 0);
	atomic_store(&started, 0);
	/* Keep every worker but the driver's busy so the N tasks stay queued.
	 */
	int nb = workers - driver_in_pool;
	weft_task *blk[64];
	if (nb > 64)
		nb = 64;
	for (int i = 0; i < nb; i++)
		must(weft_task_start_new(&blk[i], blocker_body, NULL, NULL),
		     "weft_task_start_new(blocker)");
	while (atomic_load_explicit(&started, memory_order_relaxed) < nb)
		sched_yield();

	weft_cancel_source *src;
	must(weft_cancel_source_new(&src), "weft_cancel_source_new");
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	o.token = weft_cancel_source_token(src);
	weft_task **ts = malloc(sizeof(*ts) * (size_t)n);
	if (!ts)
		exit(1);
	for (long long i = 0; i < n; i++)
		must(weft_task_start_new(&ts[i], trivial_body, NULL, &o),
		     "weft_task_start_new");
	must(weft_cancel_source_cancel(src), "weft_cancel_source_cancel");
	/* release: pairs with the acquire load in blocker_body() */
	atomic_store_explicit(&release_flag, 1, memory_order_release);
	weft_error *err = NULL;
	int rc = weft_task_wait_all(ts, (size_t)n, WEFT_INFINITE,
				    WEFT_TOKEN_NONE, &err);
	long long canceled = 0;
	if (rc == -ECANCELED && err)
		canceled = (long long)weft_error_inner_count(err);
	else if (rc != 0)
		must(rc, "weft_task_wait_all(cancel)");
	weft_error_unref(err);
	if (nb > 0)
		must(weft_task_wait_all(blk, (size_t)nb, WEFT_INFINITE,
					WEFT_TOKEN_NONE, NULL),
		     "weft_task_wait_all(blockers)");
	for (int i = 0; i < nb; i++)
		weft_task_unref(blk[i]);
	for (long long i = 0; i < n; i++)
		weft_task_unref(ts[i]);
	free(ts);
	weft_cancel_source_unref(src);
	*ran = atomic_load(&counter);
	return canceled;
}

/* ---- external round trip ---------------------------------------------------
 */

static long long roundtrip(long long n)
{
	atomic_store(&counter, 0);
	for (long long i = 0; i < n; i++) {
		weft_task *t;
		must(weft_task_run(&t, trivial_body, NULL), "weft_task_run");
		must(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
		     "weft_task_wait(roundtrip)");
		weft_task_unref(t);
	}
	return atomic_load(&counter);
}

/* ---- driver ---------------------------------------------------------------
 */

enum kind {
	CHAIN_ASYNC,
	CHAIN_SYNC,
	FANOUT,
	WHENANY,
	CANCEL
};

struct job {
	enum kind k;
	long long n;
	long long r, aux;
	uint64_t ns;
};

static void job_run(struct job *j)
{
	uint64_t t0 = bench_now_ns();
	switch (j->k) {
	case CHAIN_ASYNC:
		j->r = chain(j->n, 0);
		break;
	case CHAIN_SYNC:
		j->r = chain(j->n, 1);
		break;
	case FANOUT:
		j->r = fanout(j->n);
		break;
	case WHENANY: {
		uint64_t ns;
		j->r = whenany(j->n, &ns);
		j->ns = ns;
		return;
	}
	case CANCEL:
		j->r = cancel_queued(j->n, &j->aux);
		break;
	}
	j->ns = bench_now_ns() - t0;
}

static weft_error *job_body(weft_task *self, void *arg)
{
	(void)self;
	job_run(arg);
	return NULL;
}

static struct job drive(enum kind k, long long n)
{
	struct job j = {k, n, 0, 0, 0};
	if (!driver_in_pool) {
		job_run(&j);
		return j;
	}
	weft_task *t;
	must(weft_task_run(&t, job_body, &j), "weft_task_run(root)");
	must(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
	     "weft_task_wait(root)");
	weft_task_unref(t);
	return j;
}

int main(int argc, char **argv)
{
	const char *names =
		"chain-async chain-sync pingpong fanout whenany cancel roundtrip";
	if (argc != 4)
		bench_usage(argv[0], names);
	const char *b = argv[1];
	workers = atoi(argv[2]);
	long long n = atoll(argv[3]);
	const char *dv = getenv("WEFT_BENCH_DRIVER");
	if (dv && !strcmp(dv, "main"))
		driver_in_pool = 0;
	if (n < 10)
		bench_usage(argv[0], "SIZE >= 10");
	must(weft_default_pool_configure((unsigned)workers),
	     "weft_default_pool_configure");
	const char *impl = IMPL;
	if (!driver_in_pool)
		printf("NOTE weft: issue #3 drivers ran on the main thread (WEFT_BENCH_DRIVER=main)\n");
	struct job j;

	if (!strcmp(b, "chain-async") || !strcmp(b, "chain-sync")) {
		enum kind k =
			!strcmp(b, "chain-sync") ? CHAIN_SYNC : CHAIN_ASYNC;
		/* warm-up at full size: see WARM-UP in bench/README.md */
		j = drive(k, n);
		bench_check(b, impl, j.r, n);
		j = drive(k, n);
		bench_check(b, impl, j.r, n);
		bench_result(b, impl, workers, n, (double)n, j.ns);
	} else if (!strcmp(b, "pingpong")) {
		uint64_t ns;
		bench_check(b, IMPL, pingpong(n / 10, &ns), n / 10);
		bench_check(b, IMPL, pingpong(n, &ns), n);
		bench_result(b, IMPL, workers, n, (double)n, ns);
	} else if (!strcmp(b, "fanout")) {
		j = drive(FANOUT, n);
		bench_check(b, impl, j.r, n);
		j = drive(FANOUT, n);
		bench_check(b, impl, j.r, n);
		bench_result(b, impl, workers, n, (double)n, j.ns);
	} else if (!strcmp(b, "whenany")) {
		j = drive(WHENANY, n / 10);
		bench_check(b, impl, j.r, n / 10);
		j = drive(WHENANY, n);
		bench_check(b, impl, j.r, n);
		bench_result(b, impl, workers, n, (double)n, j.ns);
	} else if (!strcmp(b, "cancel")) {
		/*
		 * Every task must be accounted for: Canceled, or (when more
		 * threads than the busy workers' were running tasks) run before
		 * the cancel.  The second case is reported, not hidden: it
		 * means the pool ran more than WORKERS threads at once.
		 */
		j = drive(CANCEL, n);
		bench_check(b, impl, j.r + j.aux, n);
		j = drive(CANCEL, n);
		bench_check(b, impl, j.r + j.aux, n);
		if (j.aux > 0) /* bench/tools/report.py gathers these */
			printf("NOTE cancel-ran impl=weft workers=%d ran=%lld n=%lld\n",
			       workers, j.aux, n);
		bench_result(b, impl, workers, n, (double)n, j.ns);
	} else if (!strcmp(b, "roundtrip")) {
		bench_check(b, IMPL, roundtrip(n / 10), n / 10);
		uint64_t t0 = bench_now_ns();
		long long r = roundtrip(n);
		uint64_t t1 = bench_now_ns();
		bench_check(b, IMPL, r, n);
		bench_result(b, IMPL, workers, n, (double)n, t1 - t0);
	} else {
		bench_usage(argv[0], names);
	}
	return 0;
}
