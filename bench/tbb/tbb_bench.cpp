// tbb_bench.cpp - oneTBB versions of the issue #2 benchmarks.
// Worker count: tbb::global_control(max_allowed_parallelism, N) plus a
// task_arena(N) that runs the root, so no more than N threads ever work.
// Every recursion spawns the same tasks as the weft versions: fib spawns
// fib(n-1) and runs fib(n-2) itself; skynet spawns 10 children per node;
// nqueens spawns one task per placement.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_reduce.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <vector>

#include "../common/bench.h"

static const char *IMPL = "tbb";

static long long fib(int n)
{
	if (n < 2)
		return n;
	long long x, y;
	tbb::task_group g;
	g.run([&] { x = fib(n - 1); });
	y = fib(n - 2);
	g.wait();
	return x + y;
}

static long long skynet(long long num, long long size)
{
	if (size == 1)
		return num;
	long long r[10];
	long long sub = size / 10;
	tbb::task_group g;
	for (int i = 0; i < 10; i++)
		g.run([&r, i, num, sub] { r[i] = skynet(num + i * sub, sub); });
	g.wait();
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
	tbb::task_group g;
	while (free_) {
		unsigned bit = free_ & (0u - free_);
		free_ &= free_ - 1;
		long long *slot = &r[k++];
		unsigned c = cols | bit, a = ((d1 | bit) << 1) & all,
			 b = (d2 | bit) >> 1;
		g.run([=] { *slot = nqueens(n, c, a, b, row + 1); });
	}
	g.wait();
	long long sum = 0;
	for (int i = 0; i < k; i++)
		sum += r[i];
	return sum;
}

int main(int argc, char **argv)
{
	const char *names = "fib skynet nqueens pfor";
	if (argc != 4)
		bench_usage(argv[0], names);
	const char *b = argv[1];
	int workers = atoi(argv[2]);
	long long size = atoll(argv[3]);
	tbb::global_control gc(tbb::global_control::max_allowed_parallelism,
			       (size_t)workers);
	tbb::task_arena arena(workers);
	uint64_t t0 = 0, t1 = 0;

	if (!strcmp(b, "fib")) {
		int n = (int)size;
		long long r = 0;
		if (bench_warmup()) {
			arena.execute([&] { r = fib(n > 5 ? n - 5 : n); });
			bench_check(b, IMPL, r,
				    bench_fib_ref(n > 5 ? n - 5 : n));
		}
		arena.execute([&] {
			t0 = bench_now_ns();
			r = fib(n);
			t1 = bench_now_ns();
		});
		bench_check(b, IMPL, r, bench_fib_ref(n));
		bench_result(b, IMPL, workers, size, bench_fib_calls(n),
			     t1 - t0);
	} else if (!strcmp(b, "skynet")) {
		int d = (int)size;
		long long r = 0;
		arena.execute([&] {
			r = skynet(0, bench_skynet_leaves(d > 1 ? d - 1 : d));
		});
		arena.execute([&] {
			t0 = bench_now_ns();
			r = skynet(0, bench_skynet_leaves(d));
			t1 = bench_now_ns();
		});
		bench_check(b, IMPL, r, bench_skynet_ref(d));
		bench_result(b, IMPL, workers, size, bench_skynet_tasks(d),
			     t1 - t0);
	} else if (!strcmp(b, "nqueens")) {
		int n = (int)size;
		long long sol = 0, pl = 0, r = 0;
		bench_nq_count(n, 0, 0, 0, 0, &sol, &pl);
		arena.execute(
			[&] { r = nqueens(n > 2 ? n - 2 : n, 0, 0, 0, 0); });
		arena.execute([&] {
			t0 = bench_now_ns();
			r = nqueens(n, 0, 0, 0, 0);
			t1 = bench_now_ns();
		});
		bench_check(b, IMPL, r, bench_nq_known(n));
		bench_result(b, IMPL, workers, size, (double)pl, t1 - t0);
	} else if (!strcmp(b, "pfor")) {
		long long n = size;
		std::vector<double> a((size_t)n);
		for (long long i = 0; i < n; i++)
			a[(size_t)i] = bench_pfor_value(i);
		auto run = [&] {
			return tbb::parallel_reduce(
				tbb::blocked_range<long long>(0, n), 0.0,
				[&](const tbb::blocked_range<long long> &r,
				    double s) {
					for (long long i = r.begin();
					     i < r.end(); i++)
						s += a[(size_t)i];
					return s;
				},
				[](double x, double y) { return x + y; });
		};
		double s = 0;
		arena.execute([&] { s = run(); }); // warm-up
		arena.execute([&] {
			t0 = bench_now_ns();
			s = run();
			t1 = bench_now_ns();
		});
		bench_check(b, IMPL, (long long)s, bench_pfor_ref(n));
		bench_result(b, IMPL, workers, size, (double)n, t1 - t0);
	} else {
		bench_usage(argv[0], names);
	}
	return 0;
}
