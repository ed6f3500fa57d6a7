/*
 * omp_bench.c - OpenMP task versions of the issue #2 benchmarks.  Built
 * twice by bench/run.sh: with gcc (libgomp) and with clang -fopenmp=libomp
 * (LLVM's libomp).  Worker count: omp_set_num_threads(N); the root runs in
 * `omp parallel` + `omp single`, as OpenMP task programs are written.
 * Spawn structure as in the weft versions: fib spawns fib(n-1) and runs
 * fib(n-2) itself, skynet spawns 10 children per node, nqueens one task per
 * placement.
 */
#define _GNU_SOURCE /* clock_gettime, CLOCK_MONOTONIC under -std=c17 */
#include <omp.h>

#include "../common/bench.h"

#if defined(__clang__)
static const char *IMPL = "omp-clang";
#else
static const char *IMPL = "omp-gcc";
#endif

static long long fib(int n)
{
	if (n < 2)
		return n;
	long long x, y;
#pragma omp task shared(x) firstprivate(n)
	x = fib(n - 1);
	y = fib(n - 2);
#pragma omp taskwait
	return x + y;
}

static long long skynet(long long num, long long size)
{
	if (size == 1)
		return num;
	long long r[10];
	long long sub = size / 10;
	for (int i = 0; i < 10; i++) {
#pragma omp task shared(r) firstprivate(i, num, sub)
		r[i] = skynet(num + i * sub, sub);
	}
#pragma omp taskwait
	long long sum = 0;
	for (int i = 0; i < 10; i++)
		sum += r[i];
	return sum;
}

static long long nqueens(int n, unsigned cols, unsigned d1, unsigned d2,
			 int row)
{
	if (row == n)
		return 1;
	unsigned all = (1u << n) - 1, free_ = all & ~(cols | d1 | d2);
	long long r[32];
	int k = 0;
	while (free_) {
		unsigned bit = free_ & (0u - free_);
		free_ &= free_ - 1;
		int slot = k++;
		unsigned c = cols | bit, a = ((d1 | bit) << 1) & all,
			 b = (d2 | bit) >> 1;
#pragma omp task shared(r) firstprivate(slot, c, a, b, n, row)
		r[slot] = nqueens(n, c, a, b, row + 1);
	}
#pragma omp taskwait
	long long sum = 0;
	for (int i = 0; i < k; i++)
		sum += r[i];
	return sum;
}

static double pfor_sum(const double *a, long long n)
{
	double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
	for (long long i = 0; i < n; i++)
		s += a[i];
	return s;
}

int main(int argc, char **argv)
{
	const char *names = "fib skynet nqueens pfor";
	if (argc != 4)
		bench_usage(argv[0], names);
	const char *b = argv[1];
	int workers = atoi(argv[2]);
	long long size = atoll(argv[3]);
	uint64_t t0 = 0, t1 = 0;
	omp_set_dynamic(0);
	omp_set_num_threads(workers);

	if (!strcmp(b, "fib")) {
		int n = (int)size, w = n > 5 ? n - 5 : n;
		long long r = 0;
		if (bench_warmup()) {
#pragma omp parallel
#pragma omp single
			r = fib(w); /* threads exist afterwards */
			bench_check(b, IMPL, r, bench_fib_ref(w));
		}
#pragma omp parallel
#pragma omp single
		{
			t0 = bench_now_ns();
			r = fib(n);
			t1 = bench_now_ns();
		}
		bench_check(b, IMPL, r, bench_fib_ref(n));
		bench_result(b, IMPL, workers, size, bench_fib_calls(n),
			     t1 - t0);
	} else if (!strcmp(b, "skynet")) {
		int d = (int)size;
		long long r = 0;
#pragma omp parallel
#pragma omp single
		r = skynet(0, bench_skynet_leaves(d > 1 ? d - 1 : d));
#pragma omp parallel
#pragma omp single
		{
			t0 = bench_now_ns();
			r = skynet(0, bench_skynet_leaves(d));
			t1 = bench_now_ns();
		}
		bench_check(b, IMPL, r, bench_skynet_ref(d));
		bench_result(b, IMPL, workers, size, bench_skynet_tasks(d),
			     t1 - t0);
	} else if (!strcmp(b, "nqueens")) {
		int n = (int)size;
		long long sol = 0, pl = 0, r = 0;
		bench_nq_count(n, 0, 0, 0, 0, &sol, &pl);
#pragma omp parallel
#pragma omp single
		r = nqueens(n > 2 ? n - 2 : n, 0, 0, 0, 0);
#pragma omp parallel
#pragma omp single
		{
			t0 = bench_now_ns();
			r = nqueens(n, 0, 0, 0, 0);
			t1 = bench_now_ns();
		}
		bench_check(b, IMPL, r, bench_nq_known(n));
		bench_result(b, IMPL, workers, size, (double)pl, t1 - t0);
	} else if (!strcmp(b, "pfor")) {
		long long n = size;
		double *a = malloc(sizeof(double) * (size_t)n);
		if (!a)
			return 1;
		for (long long i = 0; i < n; i++)
			a[i] = bench_pfor_value(i);
		double s = pfor_sum(a, n); /* warm-up */
		t0 = bench_now_ns();
		s = pfor_sum(a, n);
		t1 = bench_now_ns();
		bench_check(b, IMPL, (long long)s, bench_pfor_ref(n));
		bench_result(b, IMPL, workers, size, (double)n, t1 - t0);
		free(a);
	} else {
		bench_usage(argv[0], names);
	}
	return 0;
}
