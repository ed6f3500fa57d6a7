/*
 * test_stress_deque.c - the Chase-Lev deque under contention: one owner
 * pushing and popping, one to four thieves stealing.  Every item must be
 * taken exactly once: each has its own atomic counter, and at the end all
 * counters must be 1 (none lost, none duplicated).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../src/runtime/deque.h"
#include "harness.h"

struct shared {
	struct weft__deque dq;
	atomic_uchar *taken; /* one counter per item */
	int64_t nitems;
	atomic_bool done;	 /* the owner finished */
	atomic_llong stolen;	 /* items taken by thieves */
	atomic_llong lost_races; /* steals that reported a lost race */
	atomic_int thieves_ready;
};

static void *item(int64_t i)
{
	return (void *)(uintptr_t)(i + 1);
}

static void take(struct shared *s, void *p)
{
	int64_t i = (int64_t)(uintptr_t)p - 1;
	if (i < 0 || i >= s->nitems) {
		/* an item that was never pushed: count it as a duplicate of
		 * item 0 so the final check fails */
		atomic_fetch_add_explicit(&s->taken[0], 2,
					  memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&s->taken[i], 1, memory_order_relaxed);
}

static void *thief(void *arg)
{
	struct shared *s = arg;
	long long mine = 0;
	atomic_fetch_add(&s->thieves_ready, 1);
	for (;;) {
		bool lost;
		/* read done before stealing: once the owner is done and the
		 * deque is seen empty after that, nothing more will come */
		bool fin = atomic_load_explicit(&s->done, memory_order_acquire);
		void *p = weft__deque_steal(&s->dq, &lost);
		if (p) {
			take(s, p);
			mine++;
			continue;
		}
		if (lost) {
			atomic_fetch_add_explicit(&s->lost_races, 1,
						  memory_order_relaxed);
			continue;
		}
		if (fin)
			break;
	}
	atomic_fetch_add(&s->stolen, mine);
	return NULL;
}

/* A tiny deterministic RNG for the owner's push/pop pattern. */
static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * The owner pushes all items, in bursts of random length, and pops a random
 * number after each burst (so pops race thieves for the last items often).
 */
static void run_round(int nthieves, size_t initial_capacity, int max_burst,
		      int64_t n)
{
	struct shared s;
	pthread_t th[4];
	long long popped = 0;
	uint64_t rng = 0x2545F4914F6CDD1Dull + (uint64_t)nthieves;

	REQUIRE(weft__deque_init(&s.dq, initial_capacity) == 0);
	s.nitems = n;
	s.taken = calloc((size_t)n, sizeof(*s.taken));
	REQUIRE(s.taken != NULL);
	atomic_init(&s.done, false);
	atomic_init(&s.stolen, 0);
	atomic_init(&s.lost_races, 0);
	atomic_init(&s.thieves_ready, 0);
	for (int k = 0; k < nthieves; k++)
		REQUIRE(pthread_create(&th[k], NULL, thief, &s) == 0);
	while (atomic_load(&s.thieves_ready) < nthieves)
		sched_yield();

	int64_t next = 0;
	while (next < n) {
		int burst = 1 + (int)(xorshift(&rng) % (uint64_t)max_burst);
		for (int k = 0; k < burst && next < n; k++) {
			if (weft__deque_push(&s.dq, item(next)) != 0) {
				CHECK(!"push failed");
				break;
			}
			next++;
		}
		int pops = (int)(xorshift(&rng) % (uint64_t)(burst + 1));
		for (int k = 0; k < pops; k++) {
			void *p = weft__deque_pop(&s.dq);
			if (!p)
				break;
			take(&s, p);
			popped++;
		}
	}
	/* drain what the thieves left */
	for (void *p; (p = weft__deque_pop(&s.dq)) != NULL;) {
		take(&s, p);
		popped++;
	}
	atomic_store_explicit(&s.done, true, memory_order_release);
	for (int k = 0; k < nthieves; k++)
		pthread_join(th[k], NULL);

	long long zero = 0, dup = 0;
	for (int64_t i = 0; i < n; i++) {
		unsigned c = atomic_load(&s.taken[i]);
		if (c == 0)
			zero++;
		else if (c > 1)
			dup++;
	}
	CHECK_EQ(zero, 0);
	CHECK_EQ(dup, 0);
	CHECK_EQ(popped + atomic_load(&s.stolen), n);
	CHECK_EQ(weft__deque_size(&s.dq), 0);
	free(s.taken);
	weft__deque_destroy(&s.dq);
}

/* 1e6 x scale items in ROUNDS rounds, each with a fresh deque. */
static void run(int nthieves, size_t initial_capacity, int max_burst,
		int rounds)
{
	int64_t n = weft_test_scaled(1000000);
	for (int r = 0; r < rounds; r++)
		run_round(nthieves, initial_capacity, max_burst,
			  n / rounds > 0 ? n / rounds : 1);
}

TEST(stress_deque_1_thief)
{
	run(1, 256, 64, 1);
}

TEST(stress_deque_2_thieves)
{
	run(2, 256, 64, 1);
}

TEST(stress_deque_3_thieves)
{
	run(3, 256, 64, 1);
}

TEST(stress_deque_4_thieves)
{
	run(4, 256, 64, 1);
}

/* Tiny bursts: nearly every pop is a race for the last item. */
TEST(stress_deque_last_item_races)
{
	run(4, 16, 2, 1);
}

/* A small initial buffer and long bursts, a fresh deque each round: the
 * buffer grows again and again while thieves read it. */
TEST(stress_deque_growth_under_steals)
{
	run(3, 16, 5000, 100);
}
