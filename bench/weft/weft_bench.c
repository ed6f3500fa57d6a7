/*
 * weft_bench.c - weft versions of the issue #2 benchmarks.
 *
 * Every run makes its own pool with weft_pool_new(&pool, WORKERS) and runs
 * the benchmark's root as a task on that pool (the clock is read inside the
 * root, as the TBB and OpenMP versions read it inside their arena / single
 * region).  Spawn structure as in every peer: fib spawns fib(n-1) and runs
 * fib(n-2) itself; skynet spawns 10 children per node; nqueens one task per
 * placement.
 *
 * Benchmarks (impl names in parentheses):
 *   fib-fj       weft_parallel_invoke2 recursion (weft-fj)
 *   fib-task     weft_task_start_new + weft_task_wait, result through
 *                weft_task_set_result / weft_task_result (weft-task)
 *   skynet-task  10 x weft_task_start_new + weft_task_wait_all (weft-task)
 *   skynet-inv   weft_parallel_invoke of 10 actions (weft-invoke)
 *   nqueens-task weft_task_start_new per placement + wait_all (weft-task)
 *   nqueens-inv  weft_parallel_invoke per node (weft-invoke)
 *   pfor         weft_parallel_for_range, per-chunk partial sums (weft)
 * The bench= field of the result line is the family (fib, skynet, ...).
 *
 * BENCH_NO_WARMUP=1 skips the warm-up run (bench/run.sh sets it under
 * callgrind, where the instruction count of two sizes is subtracted).
 */
#define _GNU_SOURCE /* clock_gettime, CLOCK_MONOTONIC under -std=c17 */
#include <stdatomic.h>

#include <weft.h>

#include "../common/bench.h"

static weft_scheduler *pool;
static weft_task_options topts; /* WEFT_TASK_OPTIONS_INIT + scheduler = pool */

static void must(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "weft_bench: %s failed: %d (%s)\n", what, rc,
			weft_strerror(rc));
		exit(1);
	}
}

/* ---- fib: fork-join --------------------------------------------------- */

struct fj_arg {
	int n;
	long long r;
};

static long long fib_fj(int n);

static weft_error *fib_fj_action(void *p)
{
	struct fj_arg *a = p;
	a->r = fib_fj(a->n);
	return NULL;
}

static long long fib_fj(int n)
{
	if (n < 2)
		return n;
	/* A runs here, B (the bigger half) is offered to thieves. */
	struct fj_arg a = {n - 2, 0}, b = {n - 1, 0};
	must(weft_parallel_invoke2(fib_fj_action, &a, fib_fj_action, &b, NULL),
	     "weft_parallel_invoke2");
	return a.r + b.r;
}

/* ---- fib: task objects ------------------------------------------------- */

static long long fib_task(int n);

static weft_error *fib_task_body(weft_task *self, void *arg)
{
	long long r = fib_task((int)(intptr_t)arg);
	must(weft_task_set_result(self, (void *)(intptr_t)r, NULL),
	     "weft_task_set_result");
	return NULL;
}

static long long fib_task(int n)
{
	if (n < 2)
		return n;
	weft_task *t;
	must(weft_task_start_new(&t, fib_task_body, (void *)(intptr_t)(n - 1),
				 &topts),
	     "weft_task_start_new");
	long long y = fib_task(n - 2);
	must(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
	     "weft_task_wait");
	long long x = (intptr_t)weft_task_result(t);
	weft_task_unref(t);
	return x + y;
}

/* ---- skynet ------------------------------------------------------------ */

static long long pow10ll(int d)
{
	long long n = 1;
	while (d-- > 0)
		n *= 10;
	return n;
}

/* A node is (num, depth) packed as num << 3 | depth (depth <= 7). */
static long long skynet_task(long long num, int d);

static weft_error *skynet_body(weft_task *self, void *arg)
{
	uintptr_t a = (uintptr_t)arg;
	long long r = skynet_task((long long)(a >> 3), (int)(a & 7));
	must(weft_task_set_result(self, (void *)(intptr_t)r, NULL),
	     "weft_task_set_result");
	return NULL;
}

static long long skynet_task(long long num, int d)
{
	if (d == 0)
		return num;
	weft_task *ts[10];
	long long sub = pow10ll(d - 1);
	for (int i = 0; i < 10; i++)
		must(weft_task_start_new(
			     &ts[i], skynet_body,
			     (void *)(uintptr_t)(((num + i * sub) << 3) |
						 (uintptr_t)(d - 1)),
			     &topts),
		     "weft_task_start_new");
	must(weft_task_wait_all(ts, 10, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
	     "weft_task_wait_all");
	long long sum = 0;
	for (int i = 0; i < 10; i++) {
		sum += (intptr_t)weft_task_result(ts[i]);
		weft_task_unref(ts[i]);
	}
	return sum;
}

struct sk_arg {
	long long num;
	int d;
	long long r;
};

static long long skynet_inv(long long num, int d);

static weft_error *skynet_action(void *p)
{
	struct sk_arg *a = p;
	a->r = skynet_inv(a->num, a->d);
	return NULL;
}

static long long skynet_inv(long long num, int d)
{
	if (d == 0)
		return num;
	struct sk_arg a[10];
	weft_action acts[10];
	long long sub = pow10ll(d - 1);
	for (int i = 0; i < 10; i++) {
		a[i] = (struct sk_arg){num + i * sub, d - 1, 0};
		acts[i] = (weft_action){skynet_action, &a[i]};
	}
	must(weft_parallel_invoke(acts, 10, NULL, NULL),
	     "weft_parallel_invoke");
	long long sum = 0;
	for (int i = 0; i < 10; i++)
		sum += a[i].r;
	return sum;
}

/* ---- nqueens ----------------------------------------------------------- */

static int nq_n;

/* (cols, d1, d2, row) packed 15 + 15 + 15 + 5 bits (n <= 15). */
static uintptr_t nq_pack(unsigned c, unsigned a, unsigned b, int row)
{
	return (uintptr_t)c | (uintptr_t)a << 15 | (uintptr_t)b << 30 |
	       (uintptr_t)row << 45;
}

static long long nq_task(unsigned cols, unsigned d1, unsigned d2, int row);

static weft_error *nq_body(weft_task *self, void *arg)
{
	uintptr_t p = (uintptr_t)arg;
	long long r = nq_task(p & 0x7fff, (p >> 15) & 0x7fff,
			      (p >> 30) & 0x7fff, (int)(p >> 45));
	must(weft_task_set_result(self, (void *)(intptr_t)r, NULL),
	     "weft_task_set_result");
	return NULL;
}

static long long nq_task(unsigned cols, unsigned d1, unsigned d2, int row)
{
	if (row == nq_n)
		return 1;
	unsigned all = (1u << nq_n) - 1, free_ = all & ~(cols | d1 | d2);
	weft_task *ts[16];
	size_t k = 0;
	while (free_) {
		unsigned bit = free_ & (0u - free_);
		free_ &= free_ - 1;
		must(weft_task_start_new(
			     &ts[k++], nq_body,
			     (void *)nq_pack(cols | bit,
					     ((d1 | bit) << 1) & all,
					     (d2 | bit) >> 1, row + 1),
			     &topts),
		     "weft_task_start_new");
	}
	if (k == 0) /* a dead end: no placement in this row */
		return 0;
	must(weft_task_wait_all(ts, k, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
	     "weft_task_wait_all");
	long long sum = 0;
	for (size_t i = 0; i < k; i++) {
		sum += (intptr_t)weft_task_result(ts[i]);
		weft_task_unref(ts[i]);
	}
	return sum;
}

struct nq_arg {
	unsigned cols, d1, d2;
	int row;
	long long r;
};

static long long nq_inv(unsigned cols, unsigned d1, unsigned d2, int row);

static weft_error *nq_action(void *p)
{
	struct nq_arg *a = p;
	a->r = nq_inv(a->cols, a->d1, a->d2, a->row);
	return NULL;
}

static long long nq_inv(unsigned cols, unsigned d1, unsigned d2, int row)
{
	if (row == nq_n)
		return 1;
	unsigned all = (1u << nq_n) - 1, free_ = all & ~(cols | d1 | d2);
	struct nq_arg a[16];
	weft_action acts[16];
	size_t k = 0;
	while (free_) {
		unsigned bit = free_ & (0u - free_);
		free_ &= free_ - 1;
		a[k] = (struct nq_arg){cols | bit, ((d1 | bit) << 1) & all,
				       (d2 | bit) >> 1, row + 1, 0};
		acts[k] = (weft_action){nq_action, &a[k]};
		k++;
	}
	if (k == 0) /* a dead end: no placement in this row */
		return 0;
	must(weft_parallel_invoke(acts, k, NULL, NULL), "weft_parallel_invoke");
	long long sum = 0;
	for (size_t i = 0; i < k; i++)
		sum += a[i].r;
	return sum;
}

/* ---- parallel for ------------------------------------------------------ */

struct pfor_ctx {
	const double *a;
	_Atomic double sum;
};

static weft_error *pfor_body(int64_t begin, int64_t end, void *p)
{
	struct pfor_ctx *c = p;
	double s = 0;
	for (int64_t i = begin; i < end; i++)
		s += c->a[i];
	/* relaxed CAS loop: the loop's completion publishes the total */
	double cur = atomic_load_explicit(&c->sum, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&c->sum, &cur, cur + s,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
	return NULL;
}

static double pfor_run(const double *a, long long n)
{
	struct pfor_ctx c = {.a = a};
	atomic_init(&c.sum, 0.0);
	weft_parallel_options po = WEFT_PARALLEL_OPTIONS_INIT;
	po.scheduler = pool;
	must(weft_parallel_for_range(0, n, 0, pfor_body, &c, &po, NULL),
	     "weft_parallel_for_range");
	return atomic_load_explicit(&c.sum, memory_order_relaxed);
}

/* ---- the root task ------------------------------------------------------ */

enum kind {
	FIB_FJ,
	FIB_TASK,
	SKY_TASK,
	SKY_INV,
	NQ_TASK,
	NQ_INV,
	PFOR
};

struct root {
	enum kind k;
	long long size;
	const double *a;
	long long r;
	uint64_t ns;
};

static weft_error *root_body(weft_task *self, void *p)
{
	(void)self;
	struct root *rt = p;
	uint64_t t0 = bench_now_ns();
	switch (rt->k) {
	case FIB_FJ:
		rt->r = fib_fj((int)rt->size);
		break;
	case FIB_TASK:
		rt->r = fib_task((int)rt->size);
		break;
	case SKY_TASK:
		rt->r = skynet_task(0, (int)rt->size);
		break;
	case SKY_INV:
		rt->r = skynet_inv(0, (int)rt->size);
		break;
	case NQ_TASK:
		nq_n = (int)rt->size;
		rt->r = nq_task(0, 0, 0, 0);
		break;
	case NQ_INV:
		nq_n = (int)rt->size;
		rt->r = nq_inv(0, 0, 0, 0);
		break;
	case PFOR:
		rt->r = (long long)pfor_run(rt->a, rt->size);
		break;
	}
	rt->ns = bench_now_ns() - t0;
	return NULL;
}

static struct root run_root(enum kind k, long long size, const double *a)
{
	struct root rt = {k, size, a, 0, 0};
	weft_task *t;
	must(weft_task_start_new(&t, root_body, &rt, &topts),
	     "weft_task_start_new(root)");
	must(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
	     "weft_task_wait(root)");
	weft_task_unref(t);
	return rt;
}

int main(int argc, char **argv)
{
	const char *names =
		"fib-fj fib-task skynet-task skynet-inv nqueens-task nqueens-inv pfor";
	if (argc != 4)
		bench_usage(argv[0], names);
	const char *b = argv[1];
	int workers = atoi(argv[2]);
	long long size = atoll(argv[3]);
	int warm = bench_warmup();

	must(weft_pool_new(&pool, (unsigned)workers), "weft_pool_new");
	topts = WEFT_TASK_OPTIONS_INIT;
	topts.scheduler = pool;

	struct root r;
	if (!strcmp(b, "fib-fj") || !strcmp(b, "fib-task")) {
		enum kind k = !strcmp(b, "fib-fj") ? FIB_FJ : FIB_TASK;
		const char *impl = k == FIB_FJ ? "weft-fj" : "weft-task";
		int n = (int)size;
		if (warm) {
			r = run_root(k, n > 5 ? n - 5 : n, NULL);
			bench_check("fib", impl, r.r,
				    bench_fib_ref(n > 5 ? n - 5 : n));
		}
		r = run_root(k, n, NULL);
		bench_check("fib", impl, r.r, bench_fib_ref(n));
		bench_result("fib", impl, workers, size, bench_fib_calls(n),
			     r.ns);
	} else if (!strcmp(b, "skynet-task") || !strcmp(b, "skynet-inv")) {
		enum kind k = !strcmp(b, "skynet-task") ? SKY_TASK : SKY_INV;
		const char *impl = k == SKY_TASK ? "weft-task" : "weft-invoke";
		int d = (int)size;
		if (d < 1 || d > 7)
			bench_usage(argv[0], "skynet depth 1..7");
		if (warm)
			r = run_root(k, d - 1, NULL);
		r = run_root(k, d, NULL);
		bench_check("skynet", impl, r.r, bench_skynet_ref(d));
		bench_result("skynet", impl, workers, size,
			     bench_skynet_tasks(d), r.ns);
	} else if (!strcmp(b, "nqueens-task") || !strcmp(b, "nqueens-inv")) {
		enum kind k = !strcmp(b, "nqueens-task") ? NQ_TASK : NQ_INV;
		const char *impl = k == NQ_TASK ? "weft-task" : "weft-invoke";
		int n = (int)size;
		if (n < 4 || n > 15)
			bench_usage(argv[0], "nqueens n 4..15");
		long long sol = 0, pl = 0;
		bench_nq_count(n, 0, 0, 0, 0, &sol, &pl);
		if (warm)
			r = run_root(k, n - 2, NULL);
		r = run_root(k, n, NULL);
		bench_check("nqueens", impl, r.r, bench_nq_known(n));
		bench_result("nqueens", impl, workers, size, (double)pl, r.ns);
	} else if (!strcmp(b, "pfor")) {
		long long n = size;
		double *a = malloc(sizeof(double) * (size_t)n);
		if (!a)
			return 1;
		for (long long i = 0; i < n; i++)
			a[i] = bench_pfor_value(i);
		if (warm)
			r = run_root(PFOR, n, a);
		r = run_root(PFOR, n, a);
		bench_check("pfor", "weft", r.r, bench_pfor_ref(n));
		bench_result("pfor", "weft", workers, size, (double)n, r.ns);
		free(a);
	} else {
		bench_usage(argv[0], names);
	}
	must(weft_pool_shutdown(pool), "weft_pool_shutdown");
	weft_scheduler_unref(pool);
	return 0;
}
