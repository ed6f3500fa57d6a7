/*
 * bench.h - what every C and C++ benchmark program shares: the clock, the
 * expected answers, the size of each problem in "units" (the denominator of
 * ns per unit), and the one-line result protocol that bench/run.sh parses.
 *
 * Protocol: a program is run as `PROG BENCH WORKERS SIZE`.  On success it
 * prints exactly one line
 *     RESULT bench=B impl=I workers=N size=S units=U ns=T per=P
 * (T = wall-clock nanoseconds of the timed run, P = T / U) and exits 0.  On a
 * wrong answer it prints "WRONG ANSWER ..." to stderr and exits 3; any other
 * failure exits 1 or 2.  The runner treats every non-zero exit as fatal.
 *
 * Header-only on purpose: each program is one translation unit plus this.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __cplusplus
#define BENCH_UNUSED [[maybe_unused]]
#else
#define BENCH_UNUSED __attribute__((unused))
#endif

BENCH_UNUSED static uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

BENCH_UNUSED static void bench_result(const char *bench, const char *impl,
				      int workers, long long size, double units,
				      uint64_t ns)
{
	printf("RESULT bench=%s impl=%s workers=%d size=%lld units=%.0f ns=%llu per=%.3f\n",
	       bench, impl, workers, size, units, (unsigned long long)ns,
	       (double)ns / units);
	fflush(stdout);
}

BENCH_UNUSED static void bench_check(const char *bench, const char *impl,
				     long long got, long long want)
{
	if (got != want) {
		fprintf(stderr,
			"WRONG ANSWER bench=%s impl=%s got=%lld want=%lld\n",
			bench, impl, got, want);
		exit(3);
	}
}

BENCH_UNUSED static void bench_usage(const char *prog, const char *benches)
{
	fprintf(stderr, "usage: %s BENCH WORKERS SIZE\n  BENCH: %s\n", prog,
		benches);
	exit(2);
}

/*
 * False when BENCH_NO_WARMUP is set (to anything but "" or "0"): bench/run.sh
 * sets it under callgrind, where it subtracts the instruction counts of two
 * sizes and a warm-up run would not cancel out.
 */
BENCH_UNUSED static int bench_warmup(void)
{
	const char *e = getenv("BENCH_NO_WARMUP");
	return !(e && *e && strcmp(e, "0"));
}

/* ---- fib -------------------------------------------------------------- */

/* fib(n) by iteration: the reference answer. */
BENCH_UNUSED static long long bench_fib_ref(int n)
{
	long long a = 0, b = 1;
	for (int i = 0; i < n; i++) {
		long long t = a + b;
		a = b;
		b = t;
	}
	return a;
}

/* Calls the naive recursion fib(n) = fib(n-1) + fib(n-2) makes: 2fib(n+1)-1 */
BENCH_UNUSED static double bench_fib_calls(int n)
{
	return 2.0 * (double)bench_fib_ref(n + 1) - 1.0;
}

/* ---- skynet ------------------------------------------------------------ */

/* Depth D, 10-way fan-out: leaves 0 .. 10^D-1; the answer is their sum. */
BENCH_UNUSED static long long bench_skynet_leaves(int depth)
{
	long long n = 1;
	for (int i = 0; i < depth; i++)
		n *= 10;
	return n;
}
BENCH_UNUSED static long long bench_skynet_ref(int depth)
{
	long long n = bench_skynet_leaves(depth);
	return n * (n - 1) / 2;
}
/* every node is a task: 1 + 10 + ... + 10^D */
BENCH_UNUSED static double bench_skynet_tasks(int depth)
{
	double t = 0, p = 1;
	for (int i = 0; i <= depth; i++, p *= 10)
		t += p;
	return t;
}

/* ---- nqueens ----------------------------------------------------------- */

/*
 * Bitmask n-queens.  A "placement" is one queen put on a free square of the
 * next row; every placement is a task in the parallel versions, so the number
 * of placements is the unit.  Both numbers are counted serially (outside the
 * timed region) by the same recursion, so they cannot disagree with the
 * parallel code about what a placement is.
 */
BENCH_UNUSED static void bench_nq_count(int n, unsigned cols, unsigned d1,
					unsigned d2, int row,
					long long *solutions,
					long long *placements)
{
	if (row == n) {
		(*solutions)++;
		return;
	}
	unsigned all = (1u << n) - 1;
	unsigned free_ = all & ~(cols | d1 | d2);
	while (free_) {
		unsigned bit = free_ & (0u - free_);
		free_ &= free_ - 1;
		(*placements)++;
		bench_nq_count(n, cols | bit, ((d1 | bit) << 1) & all,
			       (d2 | bit) >> 1, row + 1, solutions, placements);
	}
}

/* Published solution counts (OEIS A000170), an independent check. */
BENCH_UNUSED static long long bench_nq_known(int n)
{
	/* clang-format off */
	static const long long k[] = {
		1, 1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2680, 14200, 73712,
		365596, 2279184,
	};
	/* clang-format on */
	return (n >= 0 && n < 16) ? k[n] : -1;
}

/* ---- parallel for ------------------------------------------------------ */

/*
 * The array holds small integers as doubles (i & 1023), so every partial sum
 * is exact and any summation order gives exactly the reference.
 */
BENCH_UNUSED static double bench_pfor_value(long long i)
{
	return (double)(i & 1023);
}
BENCH_UNUSED static long long bench_pfor_ref(long long n)
{
	long long full = n / 1024, rest = n % 1024;
	return full * (1023LL * 1024 / 2) + rest * (rest - 1) / 2;
}

#endif
