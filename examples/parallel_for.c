/*
 * parallel_for.c - parallel loops over a range of indices (Data
 * Parallelism: Parallel.For).
 *
 *   weft_parallel_for        one call per index, with loop state (Break, Stop)
 *   weft_parallel_for_range  one call per chunk: the fastest form
 *   weft_parallel_for_local  a private accumulator per partition, combined
 *                            at the end (Parallel.For with localInit and
 *                            localFinally)
 * Each index in [from, to) is visited exactly once, on whichever worker
 * gets it; the call returns when the loop is done.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

enum {
	N = 1000
};

/* ---- one call per index ----------------------------------------------- */

static weft_error *square(int64_t i, weft_loop_state *st, void *arg)
{
	int64_t *squares = arg;

	(void)st;
	squares[i] = i * i;
	return NULL;
}

/* Stop at the first multiple of 97 above 500 (Break keeps the indices below).
 */
static weft_error *search(int64_t i, weft_loop_state *st, void *arg)
{
	(void)arg;
	if (i > 500 && i % 97 == 0)
		weft_loop_break(st);
	return NULL;
}

/* ---- one call per chunk ----------------------------------------------- */

static bool is_prime(int64_t n)
{
	if (n < 2)
		return false;
	for (int64_t d = 2; d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

static weft_error *count_primes(int64_t begin, int64_t end, void *arg)
{
	atomic_long *count = arg;
	long mine = 0;

	for (int64_t n = begin; n < end; n++)
		mine += is_prime(n);
	atomic_fetch_add_explicit(count, mine, memory_order_relaxed);
	return NULL;
}

/* ---- a private total per partition ------------------------------------ */

static void *local_init(void *arg)
{
	(void)arg;
	return calloc(1, sizeof(int64_t)); /* this partition's subtotal */
}

static void *local_add(int64_t i, weft_loop_state *st, void *local, void *arg)
{
	(void)st;
	(void)arg;
	*(int64_t *)local += i;
	return local;
}

static void local_finally(void *local, void *arg)
{
	_Atomic int64_t *total = arg;

	atomic_fetch_add_explicit(total, *(int64_t *)local,
				  memory_order_relaxed);
	free(local);
}

int main(void)
{
	int64_t *squares = malloc(N * sizeof(*squares));
	int64_t sum = 0;
	atomic_long primes = 0;
	_Atomic int64_t total = 0;
	weft_loop_result result;
	weft_error *err = NULL;
	int rc;

	if (squares == NULL)
		return 1;
	rc = weft_parallel_for(0, N, square, squares, NULL, &result, &err);
	if (rc != 0)
		goto failed;
	for (int i = 0; i < N; i++)
		sum += squares[i];
	printf("sum of i*i for i < %d: %lld (completed: %s)\n", N,
	       (long long)sum, result.completed ? "yes" : "no");

	rc = weft_parallel_for(0, N, search, NULL, NULL, &result, &err);
	if (rc != 0)
		goto failed;
	printf("search: completed: %s, lowest break: %lld\n",
	       result.completed ? "yes" : "no",
	       result.has_lowest_break ? (long long)result.lowest_break : -1LL);

	rc = weft_parallel_for_range(0, 100000, 0, count_primes, &primes, NULL,
				     &err);
	if (rc != 0)
		goto failed;
	printf("primes below 100000: %ld\n", atomic_load(&primes));

	rc = weft_parallel_for_local(1, 1000001, local_init, local_add,
				     local_finally, &total, NULL, NULL, &err);
	if (rc != 0)
		goto failed;
	printf("1 + 2 + ... + 1000000 = %lld\n",
	       (long long)atomic_load(&total));

	free(squares);
	return 0;

failed:
	fprintf(stderr, "parallel loop: %s\n", weft_strerror(rc));
	weft_error_unref(err);
	free(squares);
	return 1;
}
