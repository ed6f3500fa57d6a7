/*
 * test_stress_continuations.c - continuations under pressure: very long
 * chains (stack depth and memory), continuations added while their
 * antecedents complete, cancellation racing completion, and when_any /
 * when_all with concurrent completions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

#include "harness.h"
#include "task_util.h"

static bool wait_count_l(atomic_long *n, long want, double secs)
{
	return wait_until(atomic_load(n) == want, secs);
}

/* A tiny xorshift so each thread varies its timing without libc rand. */
static uint32_t rnd(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x ? x : 0x9e3779b9u;
}

static void spin(uint32_t n)
{
	for (volatile uint32_t i = 0; i < n; i++)
		;
}

/* ---- long chains ------------------------------------------------------------
 */

struct chain {
	long n;
	atomic_long ran;
	atomic_long freed;
	long freed_at_last; /* freed count seen by the last body */
	long bad_order;
};

static weft_error *chain_body(weft_task *self, weft_task *ante, void *arg)
{
	struct chain *c = arg;
	long k = atomic_fetch_add(&c->ran, 1) + 1;

	(void)self;
	/* each link runs after the one before it */
	if (!weft_task_is_completed(ante))
		c->bad_order++;
	if (k == c->n)
		c->freed_at_last = atomic_load(&c->freed);
	return NULL;
}

static void chain_free(void *arg)
{
	struct chain *c = arg;

	atomic_fetch_add(&c->freed, 1);
}

/* Build N continuations on ROOT (handles dropped as we go); returns the
 * last one. */
static weft_task *build_chain(weft_task *root, struct chain *c, unsigned flags)
{
	weft_task *prev = weft_task_ref(root);
	weft_task_options o = opt(flags);

	o.arg_free = chain_free;
	for (long i = 0; i < c->n; i++) {
		weft_task *t = NULL;

		if (weft_task_continue_with(&t, prev, chain_body, c, &o) != 0) {
			weft_task_unref(prev);
			return NULL;
		}
		weft_task_unref(prev);
		prev = t;
	}
	return prev;
}

static long chain_length(void)
{
	long n = (long)weft_test_scaled(1000000);

	return n < 100000 ? 100000 : n;
}

static void run_chain_test(unsigned flags)
{
	struct chain c = {0};
	weft_promise *root = promise(0);
	weft_task *last;

	REQUIRE(root);
	c.n = chain_length();
	last = build_chain(weft_promise_task(root), &c, flags);
	REQUIRE(last != NULL);
	CHECK_EQ(atomic_load(&c.ran), 0);
	CHECK_EQ(weft_promise_set_result(root, NULL, NULL), 0);
	CHECK_EQ(wait_inf(last), 0);
	CHECK_EQ(atomic_load(&c.ran), c.n);
	CHECK_EQ(c.bad_order, 0);
	/* memory stays bounded while the chain runs: a finished link is
	 * released before long (only the last two may still be held) */
	CHECK(c.freed_at_last >= c.n - 16);
	weft_task_unref(last);
	weft_promise_unref(root);
	CHECK(wait_count_l(&c.freed, c.n, 60));
}

TEST(synchronous_chain_of_a_million_does_not_overflow)
{
	run_chain_test(WEFT_CONT_EXECUTE_SYNCHRONOUSLY);
}

TEST(asynchronous_chain_of_a_million)
{
	run_chain_test(0);
}

TEST(mixed_chain)
{
	/* alternate synchronous and asynchronous links */
	struct chain c = {0};
	weft_promise *root = promise(0);
	weft_task *prev;

	REQUIRE(root);
	c.n = chain_length() / 2;
	prev = weft_task_ref(weft_promise_task(root));
	for (long i = 0; i < c.n; i++) {
		weft_task_options o =
			opt(i % 3 ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY : 0);
		weft_task *t = NULL;

		o.arg_free = chain_free;
		REQUIRE(weft_task_continue_with(&t, prev, chain_body, &c, &o) ==
			0);
		weft_task_unref(prev);
		prev = t;
	}
	CHECK_EQ(weft_promise_set_result(root, NULL, NULL), 0);
	CHECK_EQ(wait_inf(prev), 0);
	CHECK_EQ(atomic_load(&c.ran), c.n);
	CHECK_EQ(c.bad_order, 0);
	weft_task_unref(prev);
	weft_promise_unref(root);
	CHECK(wait_count_l(&c.freed, c.n, 60));
}

/* The synchronous chain triggered from inside a pool worker. */
static weft_error *complete_root(weft_task *self, void *arg)
{
	(void)self;
	weft_promise_set_result(arg, NULL, NULL);
	return NULL;
}

TEST(synchronous_chain_triggered_on_a_worker)
{
	struct chain c = {0};
	weft_promise *root = promise(0);
	weft_task *last, *t = NULL;

	REQUIRE(root);
	c.n = chain_length();
	last = build_chain(weft_promise_task(root), &c,
			   WEFT_CONT_EXECUTE_SYNCHRONOUSLY);
	REQUIRE(last != NULL);
	REQUIRE(weft_task_run(&t, complete_root, root) == 0);
	CHECK_EQ(wait_inf(last), 0);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_EQ(atomic_load(&c.ran), c.n);
	weft_task_unref(t);
	weft_task_unref(last);
	weft_promise_unref(root);
	CHECK(wait_count_l(&c.freed, c.n, 60));
}

/* Chains built while they run: each link added to a task that may be
 * finishing at that very moment. */
TEST(chain_grown_while_it_runs)
{
	struct chain c = {0};
	weft_task *prev = NULL;
	long n = weft_test_scaled(200000);

	c.n = n;
	REQUIRE(weft_task_from_result(&prev, NULL, NULL) == 0);
	for (long i = 0; i < n; i++) {
		weft_task_options o =
			opt(i % 2 ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY : 0);
		weft_task *t = NULL;

		o.arg_free = chain_free;
		REQUIRE(weft_task_continue_with(&t, prev, chain_body, &c, &o) ==
			0);
		weft_task_unref(prev);
		prev = t;
	}
	CHECK_EQ(wait_inf(prev), 0);
	CHECK_EQ(atomic_load(&c.ran), n);
	CHECK_EQ(c.bad_order, 0);
	weft_task_unref(prev);
	CHECK(wait_count_l(&c.freed, n, 60));
}

/* ---- adding continuations while the antecedent completes ------------------
 */

enum {
	ADDERS = 3,
	PER_ADDER = 24
};

struct add_round {
	weft_task *ante;
	atomic_int go;
	atomic_int ran[ADDERS][PER_ADDER];
	weft_task *c[ADDERS][PER_ADDER];
	weft_cancel_source *cts;
	bool with_tokens;
	atomic_int added;
};

struct adder {
	struct add_round *r;
	int idx;
	uint32_t seed;
};

static weft_error *slot_body(weft_task *self, weft_task *ante, void *arg)
{
	(void)self;
	(void)ante;
	atomic_fetch_add((atomic_int *)arg, 1);
	return NULL;
}

static void *adder_main(void *arg)
{
	struct adder *a = arg;
	struct add_round *r = a->r;

	while (!atomic_load(&r->go))
		sched_yield();
	for (int k = 0; k < PER_ADDER; k++) {
		unsigned f = 0;

		switch (rnd(&a->seed) % 4) {
		case 1:
			f = WEFT_CONT_EXECUTE_SYNCHRONOUSLY;
			break;
		case 2:
			f = WEFT_CONT_LAZY_CANCELLATION;
			break;
		case 3:
			f = WEFT_CONT_EXECUTE_SYNCHRONOUSLY |
			    WEFT_CONT_LAZY_CANCELLATION;
			break;
		}
		weft_task_options o = opt(f);
		if (r->with_tokens)
			o.token = weft_cancel_source_token(r->cts);
		if (weft_task_continue_with(&r->c[a->idx][k], r->ante,
					    slot_body, &r->ran[a->idx][k],
					    &o) != 0)
			r->c[a->idx][k] = NULL;
		atomic_fetch_add(&r->added, 1);
		spin(rnd(&a->seed) % 2000);
	}
	return NULL;
}

static void run_add_rounds(bool with_tokens)
{
	long rounds = weft_test_scaled(400);
	uint32_t seed = 12345;
	long canceled = 0, completed = 0;

	for (long it = 0; it < rounds; it++) {
		struct add_round *r = calloc(1, sizeof(*r));
		struct adder ad[ADDERS];
		pthread_t th[ADDERS];
		weft_promise *p = promise(0);

		REQUIRE(r && p);
		r->ante = weft_promise_task(p);
		r->with_tokens = with_tokens;
		if (with_tokens)
			REQUIRE(weft_cancel_source_new(&r->cts) == 0);
		for (int i = 0; i < ADDERS; i++) {
			ad[i] = (struct adder){r, i, rnd(&seed)};
			REQUIRE(pthread_create(&th[i], NULL, adder_main,
					       &ad[i]) == 0);
		}
		atomic_store(&r->go, 1);
		/* complete it while the adders are busy: once some are in */
		double end = now_s() + 30;
		while (atomic_load(&r->added) < ADDERS * PER_ADDER / 3 &&
		       now_s() < end)
			sched_yield();
		spin(rnd(&seed) % 20000);
		if (with_tokens && rnd(&seed) % 2)
			weft_cancel_source_cancel(r->cts);
		weft_promise_set_result(p, NULL, NULL);
		if (with_tokens)
			weft_cancel_source_cancel(r->cts);
		for (int i = 0; i < ADDERS; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < ADDERS; i++) {
			for (int k = 0; k < PER_ADDER; k++) {
				weft_task *c = r->c[i][k];

				CHECK(c != NULL);
				if (!c)
					continue;
				int rc = wait_inf(c);
				int ran = atomic_load(&r->ran[i][k]);
				if (rc == 0) {
					completed++;
					CHECK_EQ(ran, 1);
				} else {
					canceled++;
					CHECK(with_tokens);
					CHECK_EQ(rc, -ECANCELED);
					CHECK_EQ(ran, 0);
				}
				weft_task_unref(c);
			}
		}
		/* nothing ran twice, even later */
		for (int i = 0; i < ADDERS; i++)
			for (int k = 0; k < PER_ADDER; k++)
				CHECK(atomic_load(&r->ran[i][k]) <= 1);
		weft_promise_unref(p);
		weft_cancel_source_unref(r->cts);
		free(r);
	}
	CHECK(completed > 0);
	if (!with_tokens)
		CHECK_EQ(canceled, 0);
}

TEST(continuations_added_while_the_antecedent_completes)
{
	run_add_rounds(false);
}

TEST(continuations_canceled_while_the_antecedent_completes)
{
	run_add_rounds(true);
}

/* Cancellation racing activation on many antecedents sharing one token. */
struct cancel_race {
	weft_promise *p[64];
	weft_cancel_source *cts;
	atomic_int go;
};

static void *completer_main(void *arg)
{
	struct cancel_race *cr = arg;

	while (!atomic_load(&cr->go))
		sched_yield();
	for (int i = 0; i < 64; i++)
		weft_promise_set_result(cr->p[i], NULL, NULL);
	return NULL;
}

static void *canceler_main(void *arg)
{
	struct cancel_race *cr = arg;

	while (!atomic_load(&cr->go))
		sched_yield();
	spin(5000);
	weft_cancel_source_cancel(cr->cts);
	return NULL;
}

TEST(cancel_races_activation)
{
	long rounds = weft_test_scaled(300);
	long ran_total = 0, canceled_total = 0;

	for (long it = 0; it < rounds; it++) {
		struct cancel_race cr = {0};
		static atomic_int ran[64];
		weft_task *c[64];
		pthread_t a, b;

		REQUIRE(weft_cancel_source_new(&cr.cts) == 0);
		for (int i = 0; i < 64; i++) {
			weft_task_options o = opt(
				i % 2 ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY : 0);

			cr.p[i] = promise(0);
			REQUIRE(cr.p[i]);
			atomic_store(&ran[i], 0);
			o.token = weft_cancel_source_token(cr.cts);
			REQUIRE(weft_task_continue_with(
					&c[i], weft_promise_task(cr.p[i]),
					slot_body, &ran[i], &o) == 0);
		}
		REQUIRE(pthread_create(&a, NULL, completer_main, &cr) == 0);
		REQUIRE(pthread_create(&b, NULL, canceler_main, &cr) == 0);
		atomic_store(&cr.go, 1);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		for (int i = 0; i < 64; i++) {
			int rc = wait_inf(c[i]);

			if (rc == 0) {
				CHECK_EQ(atomic_load(&ran[i]), 1);
				ran_total++;
			} else {
				CHECK_EQ(rc, -ECANCELED);
				CHECK_EQ(atomic_load(&ran[i]), 0);
				canceled_total++;
			}
			weft_task_unref(c[i]);
			weft_promise_unref(cr.p[i]);
		}
		weft_cancel_source_unref(cr.cts);
	}
	CHECK_EQ(ran_total + canceled_total, rounds * 64);
}

/* A token canceled by another thread while a multi-task continuation is
 * being created: it ends Canceled (the antecedents finish only after the
 * cancellation), and its body never runs. */
struct create_cancel {
	weft_cancel_source *cts;
	atomic_int go;
	uint32_t delay;
};

static void *delayed_canceler(void *arg)
{
	struct create_cancel *x = arg;

	while (!atomic_load(&x->go))
		sched_yield();
	spin(x->delay);
	weft_cancel_source_cancel(x->cts);
	return NULL;
}

static weft_error *all_slot_body(weft_task *self, weft_task *const *ante,
				 size_t n, void *arg)
{
	(void)self;
	(void)ante;
	(void)n;
	atomic_fetch_add((atomic_int *)arg, 1);
	return NULL;
}

TEST(token_canceled_while_multi_continuations_are_created)
{
	long rounds = weft_test_scaled(4000);
	uint32_t seed = 4242;

	for (long it = 0; it < rounds; it++) {
		struct create_cancel x = {0};
		weft_promise *p[4];
		weft_task *arr[4], *c = NULL;
		atomic_int ran = 0;
		pthread_t th;
		weft_task_options o =
			opt(it % 4 < 2 ? 0 : WEFT_CONT_EXECUTE_SYNCHRONOUSLY);

		REQUIRE(weft_cancel_source_new(&x.cts) == 0);
		o.token = weft_cancel_source_token(x.cts);
		x.delay = rnd(&seed) % 3000;
		for (int i = 0; i < 4; i++) {
			p[i] = promise(0);
			REQUIRE(p[i]);
			arr[i] = weft_promise_task(p[i]);
		}
		REQUIRE(pthread_create(&th, NULL, delayed_canceler, &x) == 0);
		atomic_store(&x.go, 1);
		if (it % 2)
			REQUIRE(weft_task_continue_when_any(
					&c, arr, 4, slot_body, &ran, &o) == 0);
		else
			REQUIRE(weft_task_continue_when_all(&c, arr, 4,
							    all_slot_body, &ran,
							    &o) == 0);
		pthread_join(th, NULL);
		CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_CANCELED);
		for (int i = 0; i < 4; i++)
			weft_promise_set_result(p[i], NULL, NULL);
		CHECK_EQ(wait_inf(c), -ECANCELED);
		CHECK_EQ(atomic_load(&ran), 0);
		weft_task_unref(c);
		for (int i = 0; i < 4; i++)
			weft_promise_unref(p[i]);
		weft_cancel_source_unref(x.cts);
	}
}

/* Registrations of finished continuations are released: a source that
 * outlives thousands of continuations does not keep them alive. */
static atomic_long reg_freed;
static void reg_free(void *arg)
{
	(void)arg;
	atomic_fetch_add(&reg_freed, 1);
}

TEST(finished_continuations_release_their_token_registrations)
{
	long n = weft_test_scaled(100000);
	weft_cancel_source *cts = NULL;
	atomic_int ran = 0;

	REQUIRE(weft_cancel_source_new(&cts) == 0);
	for (long i = 0; i < n; i++) {
		weft_task *c = NULL;
		weft_task_options o =
			opt(i % 2 ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY : 0);

		o.token = weft_cancel_source_token(cts);
		o.arg_free = reg_free;
		REQUIRE(weft_task_continue_with(&c, weft_task_completed(),
						slot_body, &ran, &o) == 0);
		wait_inf(c);
		weft_task_unref(c);
	}
	CHECK_EQ(atomic_load(&ran), n);
	/* freed before the source is canceled or dropped */
	CHECK(wait_count_l(&reg_freed, n, 60));
	weft_cancel_source_cancel(cts);
	weft_cancel_source_unref(cts);
}

/* ---- when_any / when_all with concurrent completions ------------------------
 */

enum {
	RACERS = 4
};

struct any_round {
	weft_promise *p[RACERS];
	atomic_int go;
};

struct racer {
	struct any_round *r;
	int idx;
};

static void *racer_main(void *arg)
{
	struct racer *x = arg;

	while (!atomic_load(&x->r->go))
		sched_yield();
	if (x->idx % 2)
		weft_promise_set_result(x->r->p[x->idx], NULL, NULL);
	else
		weft_promise_set_canceled(x->r->p[x->idx], WEFT_TOKEN_NONE);
	return NULL;
}

struct any_rec {
	atomic_int ran;
	weft_task *ante;
	bool ante_done;
};

static weft_error *any_rec_body(weft_task *self, weft_task *ante, void *arg)
{
	struct any_rec *a = arg;

	(void)self;
	a->ante = ante;
	a->ante_done = weft_task_is_completed(ante);
	atomic_fetch_add(&a->ran, 1);
	return NULL;
}

static weft_error *all_count_body(weft_task *self, weft_task *const *ante,
				  size_t n, void *arg)
{
	(void)self;
	for (size_t i = 0; i < n; i++)
		if (!weft_task_is_completed(ante[i]))
			return weft_error_new(-EINVAL, "not done");
	atomic_fetch_add((atomic_int *)arg, 1);
	return NULL;
}

TEST(when_any_and_when_all_with_concurrent_completions)
{
	long rounds = weft_test_scaled(1000);

	for (long it = 0; it < rounds; it++) {
		struct any_round r = {0};
		struct racer x[RACERS];
		pthread_t th[RACERS];
		weft_task *arr[RACERS];
		weft_task *wany = NULL, *wall = NULL, *cany = NULL,
			  *call = NULL;
		struct any_rec ar = {0};
		atomic_int all_ran = 0;
		weft_task_options o =
			opt(it % 2 ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY : 0);

		for (int i = 0; i < RACERS; i++) {
			r.p[i] = promise(0);
			REQUIRE(r.p[i]);
			arr[i] = weft_promise_task(r.p[i]);
		}
		REQUIRE(weft_task_when_any(&wany, arr, RACERS) == 0);
		REQUIRE(weft_task_when_all(&wall, arr, RACERS) == 0);
		REQUIRE(weft_task_continue_when_any(&cany, arr, RACERS,
						    any_rec_body, &ar,
						    &o) == 0);
		REQUIRE(weft_task_continue_when_all(&call, arr, RACERS,
						    all_count_body, &all_ran,
						    &o) == 0);
		for (int i = 0; i < RACERS; i++) {
			x[i] = (struct racer){&r, i};
			REQUIRE(pthread_create(&th[i], NULL, racer_main,
					       &x[i]) == 0);
		}
		atomic_store(&r.go, 1);
		for (int i = 0; i < RACERS; i++)
			pthread_join(th[i], NULL);

		CHECK_EQ(wait_inf(wany), 0);
		weft_task *winner = weft_task_result(wany);
		bool found = false;
		for (int i = 0; i < RACERS; i++)
			found |= winner == arr[i];
		CHECK(found);
		CHECK(weft_task_is_completed(winner));
		CHECK_EQ(wait_inf(cany), 0);
		CHECK_EQ(atomic_load(&ar.ran), 1);
		CHECK(ar.ante_done);
		found = false;
		for (int i = 0; i < RACERS; i++)
			found |= ar.ante == arr[i];
		CHECK(found);
		/* two of the four were canceled */
		CHECK_EQ(wait_inf(wall), -ECANCELED);
		CHECK_EQ(wait_inf(call), 0);
		CHECK_EQ(atomic_load(&all_ran), 1);
		weft_task_unref(wany);
		weft_task_unref(wall);
		weft_task_unref(cany);
		weft_task_unref(call);
		for (int i = 0; i < RACERS; i++)
			weft_promise_unref(r.p[i]);
	}
}

/* when_any over tasks that finish on the pool while the caller drops its
 * own references to them. */
static weft_error *short_body(weft_task *self, void *arg)
{
	(void)self;
	spin((uint32_t)(uintptr_t)arg);
	return NULL;
}

TEST(when_any_over_running_tasks_dropped_by_the_caller)
{
	long rounds = weft_test_scaled(2000);
	uint32_t seed = 777;

	for (long it = 0; it < rounds; it++) {
		weft_task *t[RACERS], *w = NULL, *c = NULL;
		struct any_rec ar = {0};
		weft_task_options o =
			opt(it % 2 ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY : 0);

		for (int i = 0; i < RACERS; i++)
			REQUIRE(weft_task_run(&t[i], short_body,
					      (void *)(uintptr_t)(rnd(&seed) %
								  5000)) == 0);
		REQUIRE(weft_task_when_any(&w, t, RACERS) == 0);
		REQUIRE(weft_task_continue_when_any(&c, t, RACERS, any_rec_body,
						    &ar, &o) == 0);
		for (int i = 0; i < RACERS; i++)
			weft_task_unref(t[i]);
		CHECK_EQ(wait_inf(w), 0);
		CHECK(weft_task_is_completed(weft_task_result(w)));
		CHECK_EQ(wait_inf(c), 0);
		CHECK_EQ(atomic_load(&ar.ran), 1);
		CHECK(ar.ante_done);
		weft_task_unref(c);
		weft_task_unref(w);
	}
}

/* Waiters and continuations on one task at the same time. */
struct mixed {
	weft_promise *p;
	atomic_int go;
	atomic_int waited;
};

static void *mixed_waiter(void *arg)
{
	struct mixed *m = arg;

	while (!atomic_load(&m->go))
		sched_yield();
	if (wait_inf(weft_promise_task(m->p)) == 0)
		atomic_fetch_add(&m->waited, 1);
	return NULL;
}

TEST(waiters_and_continuations_together)
{
	long rounds = weft_test_scaled(500);

	for (long it = 0; it < rounds; it++) {
		struct mixed m = {0};
		pthread_t th[3];
		weft_task *c[16];
		static atomic_int ran[16];

		m.p = promise(0);
		REQUIRE(m.p);
		for (int i = 0; i < 3; i++)
			REQUIRE(pthread_create(&th[i], NULL, mixed_waiter,
					       &m) == 0);
		atomic_store(&m.go, 1);
		for (int i = 0; i < 16; i++) {
			weft_task_options o = opt(
				i % 2 ? WEFT_CONT_EXECUTE_SYNCHRONOUSLY : 0);

			atomic_store(&ran[i], 0);
			REQUIRE(weft_task_continue_with(
					&c[i], weft_promise_task(m.p),
					slot_body, &ran[i], &o) == 0);
			if (i == 8)
				weft_promise_set_result(m.p, NULL, NULL);
		}
		for (int i = 0; i < 3; i++)
			pthread_join(th[i], NULL);
		CHECK_EQ(atomic_load(&m.waited), 3);
		for (int i = 0; i < 16; i++) {
			CHECK_EQ(wait_inf(c[i]), 0);
			CHECK_EQ(atomic_load(&ran[i]), 1);
			weft_task_unref(c[i]);
		}
		weft_promise_unref(m.p);
	}
}
