/*
 * serial.c - the serial C reference for every benchmark of issue #2.
 * Same recursions as the parallel versions, with the task spawns removed.
 */
#define _GNU_SOURCE /* clock_gettime, CLOCK_MONOTONIC under -std=c17 */
#include "../common/bench.h"

static const char *IMPL = "serial";

static long long fib(int n)
{
	if (n < 2)
		return n;
	return fib(n - 1) + fib(n - 2);
}

static long long skynet(long long num, long long size)
{
	if (size == 1)
		return num;
	long long sum = 0, sub = size / 10;
	for (int i = 0; i < 10; i++)
		sum += skynet(num + i * sub, sub);
	return sum;
}

static long long nqueens(int n, unsigned cols, unsigned d1, unsigned d2,
			 int row)
{
	if (row == n)
		return 1;
	unsigned all = (1u << n) - 1, free_ = all & ~(cols | d1 | d2);
	long long sum = 0;
	while (free_) {
		unsigned bit = free_ & (0u - free_);
		free_ &= free_ - 1;
		sum += nqueens(n, cols | bit, ((d1 | bit) << 1) & all,
			       (d2 | bit) >> 1, row + 1);
	}
	return sum;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		bench_usage(argv[0], "fib skynet nqueens pfor");
	const char *b = argv[1];
	int workers = atoi(argv[2]);
	long long size = atoll(argv[3]);
	uint64_t t0, t1;

	if (!strcmp(b, "fib")) {
		int n = (int)size;
		if (bench_warmup())
			bench_check(b, IMPL, fib(n > 5 ? n - 5 : n),
				    bench_fib_ref(n > 5 ? n - 5 : n));
		t0 = bench_now_ns();
		long long r = fib(n);
		t1 = bench_now_ns();
		bench_check(b, IMPL, r, bench_fib_ref(n));
		bench_result(b, IMPL, workers, size, bench_fib_calls(n),
			     t1 - t0);
	} else if (!strcmp(b, "skynet")) {
		int d = (int)size;
		long long leaves = bench_skynet_leaves(d);
		t0 = bench_now_ns();
		long long r = skynet(0, leaves);
		t1 = bench_now_ns();
		bench_check(b, IMPL, r, bench_skynet_ref(d));
		bench_result(b, IMPL, workers, size, bench_skynet_tasks(d),
			     t1 - t0);
	} else if (!strcmp(b, "nqueens")) {
		int n = (int)size;
		long long sol = 0, pl = 0;
		bench_nq_count(n, 0, 0, 0, 0, &sol, &pl);
		t0 = bench_now_ns();
		long long r = nqueens(n, 0, 0, 0, 0);
		t1 = bench_now_ns();
		bench_check(b, IMPL, r, bench_nq_known(n));
		bench_result(b, IMPL, workers, size, (double)pl, t1 - t0);
	} else if (!strcmp(b, "pfor")) {
		long long n = size;
		double *a = malloc(sizeof(double) * (size_t)n);
		if (!a)
			return 1;
		for (long long i = 0; i < n; i++)
			a[i] = bench_pfor_value(i);
		volatile double sink = 0;
		/* one untimed pass, as the others' warm-up runs */
		for (long long i = 0; i < n; i++)
			sink += a[i];
		t0 = bench_now_ns();
		double s = 0;
		for (long long i = 0; i < n; i++)
			s += a[i];
		t1 = bench_now_ns();
		(void)sink;
		bench_check(b, IMPL, (long long)s, bench_pfor_ref(n));
		bench_result(b, IMPL, workers, size, (double)n, t1 - t0);
		free(a);
	} else {
		bench_usage(argv[0], "fib skynet nqueens pfor");
	}
	return 0;
}
