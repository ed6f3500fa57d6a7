/*
 * test_stress_tasks.c - the task runtime under load: a random tree of ten
 * million attached tasks (scaled), faults gathered from a random tree,
 * many external threads submitting and waiting, and waits, wait_any,
 * wait_all and cancellation racing completion.
 *
 * The random trees are reproducible without a shared RNG: every node
 * derives its own random numbers from its key, and a child's key from its
 * parent's key and its position, so the expected totals are computed
 * serially from the same function.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

#include "harness.h"

/*
 * Under AddressSanitizer, catch writes into a returned function's frame
 * (a waiter record the runtime still touches after the wait returned).
 */
#if defined(__SANITIZE_ADDRESS__)
#define WEFT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_TEST_ASAN 1
#endif
#endif
#ifdef WEFT_TEST_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_stack_use_after_return=1";
}
#endif

static void nap(void)
{
	struct timespec ts = {0, 100 * 1000};
	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool poll_until(atomic_int *v, int at_least)
{
	double end = now_s() + 120;
	while (atomic_load(v) < at_least) {
		if (now_s() > end)
			return false;
		nap();
	}
	return true;
}

/* ---- the random tree ---------------------------------------------------- */

/* splitmix64's finalizer: a good 64-bit mix */
static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/*
 * A node is (key, size): SIZE nodes in its subtree, itself included.  It
 * has 0 children when SIZE is 1, else 1 to 3 (fewer if SIZE is small),
 * among which SIZE - 1 is split at random, each child getting at least 1.
 */
struct shape {
	unsigned nkids;
	uint64_t key[3];
	uint64_t size[3];
	uint64_t value;
	bool fails; /* leaves only, about one in sixteen */
};

static void node_shape(uint64_t key, uint64_t size, struct shape *s)
{
	uint64_t h = mix(key);
	uint64_t rest = size - 1;
	s->value = h & 0xffff;
	s->fails = rest == 0 && ((h >> 20) & 15) == 0;
	s->nkids = rest == 0 ? 0 : 1 + (unsigned)((h >> 16) % 3);
	if (s->nkids > rest)
		s->nkids = (unsigned)rest;
	uint64_t r = h;
	for (unsigned i = 0; i < s->nkids; i++) {
		uint64_t left_for_others = s->nkids - 1 - i;
		uint64_t part;
		if (i == s->nkids - 1) {
			part = rest;
		} else {
			r = mix(r);
			part = 1 + r % (rest - left_for_others);
		}
		rest -= part;
		s->size[i] = part;
		s->key[i] = mix(key ^ (0x632BE59BD9B4E019ull * (i + 1)));
	}
}

/* The expected totals, serially, with an explicit stack. */
struct totals {
	uint64_t nodes, sum, failing_leaves;
};

static bool tree_totals(uint64_t key, uint64_t size, struct totals *t)
{
	size_t cap = 1024, n = 0;
	uint64_t(*stack)[2] = malloc(cap * sizeof(*stack));
	if (!stack)
		return false;
	t->nodes = t->sum = t->failing_leaves = 0;
	stack[n][0] = key;
	stack[n][1] = size;
	n++;
	while (n) {
		n--;
		uint64_t k = stack[n][0], sz = stack[n][1];
		struct shape s;
		node_shape(k, sz, &s);
		t->nodes++;
		t->sum += s.value;
		t->failing_leaves += s.fails;
		if (n + 3 > cap) {
			cap *= 2;
			void *m = realloc(stack, cap * sizeof(*stack));
			if (!m) {
				free(stack);
				return false;
			}
			stack = m;
		}
		for (unsigned i = 0; i < s.nkids; i++) {
			stack[n][0] = s.key[i];
			stack[n][1] = s.size[i];
			n++;
		}
	}
	free(stack);
	return true;
}

struct tree_run {
	atomic_ullong sum;
	atomic_ullong nodes;
	atomic_ullong spawn_failures;
	bool with_faults;
};

struct node_arg {
	struct tree_run *run;
	uint64_t key, size;
};

static void node_arg_free(void *arg)
{
	free(arg);
}

static weft_error *node_body(weft_task *self, void *arg)
{
	struct node_arg *a = arg;
	struct shape s;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	(void)self;
	node_shape(a->key, a->size, &s);
	atomic_fetch_add_explicit(&a->run->sum, s.value, memory_order_relaxed);
	atomic_fetch_add_explicit(&a->run->nodes, 1, memory_order_relaxed);
	o.flags = WEFT_TASK_ATTACHED_TO_PARENT;
	o.arg_free = node_arg_free;
	for (unsigned i = 0; i < s.nkids; i++) {
		struct node_arg *c = malloc(sizeof(*c));
		if (!c) {
			atomic_fetch_add(&a->run->spawn_failures, 1);
			continue;
		}
		c->run = a->run;
		c->key = s.key[i];
		c->size = s.size[i];
		if (weft_task_start_new(NULL, node_body, c, &o) != 0)
			atomic_fetch_add(&a->run->spawn_failures, 1);
	}
	if (a->run->with_faults && s.fails)
		return weft_error_new(-EIO, "leaf %llx",
				      (unsigned long long)a->key);
	return NULL;
}

static void run_tree(uint64_t root_key, uint64_t size, bool with_faults)
{
	struct totals want = {0, 0, 0};
	struct tree_run run;
	struct node_arg *root;
	weft_task *t;
	weft_error *err = NULL;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	REQUIRE(tree_totals(root_key, size, &want));
	REQUIRE(want.nodes == size);
	root = malloc(sizeof(*root));
	REQUIRE(root != NULL);
	atomic_init(&run.sum, 0);
	atomic_init(&run.nodes, 0);
	atomic_init(&run.spawn_failures, 0);
	run.with_faults = with_faults;
	root->run = &run;
	root->key = root_key;
	root->size = size;
	o.arg_free = node_arg_free;
	REQUIRE(weft_task_start_new(&t, node_body, root, &o) == 0);
	int rc = weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	/* the root completes only after every attached descendant */
	CHECK_EQ(atomic_load(&run.nodes), want.nodes);
	CHECK_EQ(atomic_load(&run.sum), want.sum);
	CHECK_EQ(atomic_load(&run.spawn_failures), 0);
	if (with_faults && want.failing_leaves) {
		CHECK_EQ(rc, WEFT_EFAULTED);
		CHECK_EQ(weft_task_get_status(t), WEFT_STATUS_FAULTED);
		REQUIRE(err != NULL);
		/* one leaf error per failing leaf, at the bottom of nested
		 * aggregates (one per level) */
		weft_error *flat = weft_error_flatten(err);
		CHECK_EQ(weft_error_inner_count(flat), want.failing_leaves);
		size_t plain = 0;
		for (size_t i = 0; i < weft_error_inner_count(flat); i++)
			plain += weft_error_code(weft_error_inner(flat, i)) ==
				 -EIO;
		CHECK_EQ(plain, want.failing_leaves);
		weft_error_unref(flat);
	} else {
		CHECK_EQ(rc, 0);
		CHECK_EQ(weft_task_get_status(t),
			 WEFT_STATUS_RAN_TO_COMPLETION);
		CHECK_PTR_EQ(err, NULL);
	}
	weft_error_unref(err);
	weft_task_unref(t);
}

TEST(stress_ten_million_attached_tasks)
{
	run_tree(0x5EED, (uint64_t)weft_test_scaled(10000000), false);
}

TEST(stress_tree_faults_are_all_gathered)
{
	run_tree(0xFA017, (uint64_t)weft_test_scaled(200000), true);
}

TEST(stress_many_small_trees)
{
	long rounds = (long)weft_test_scaled(200);
	for (long i = 0; i < rounds; i++)
		run_tree(mix((uint64_t)i), 1 + (uint64_t)(mix(i) % 300),
			 i % 2 == 0);
}

/* ---- external submitters --------------------------------------------------
 */

static weft_error *count_body(weft_task *self, void *arg)
{
	(void)self;
	atomic_fetch_add_explicit((atomic_llong *)arg, 1, memory_order_relaxed);
	return NULL;
}

/* A task that starts a child and waits for it (inline or helping). */
static weft_error *parent_body(weft_task *self, void *arg)
{
	weft_task *c;
	(void)self;
	atomic_fetch_add_explicit((atomic_llong *)arg, 1, memory_order_relaxed);
	if (weft_task_start_new(&c, count_body, arg, NULL) != 0)
		return weft_error_new(-ENOMEM, "start_new");
	int rc = weft_task_wait(c, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	weft_task_unref(c);
	return rc ? weft_error_new(rc, "child wait") : NULL;
}

struct submitter {
	atomic_llong *count;
	long n;
	int mode;
	atomic_long failures;
	atomic_long expected;
};

static void *submitter_main(void *arg)
{
	struct submitter *s = arg;
	weft_task *batch[32];
	for (long i = 0; i < s->n;) {
		int k = 0;
		for (; k < 32 && i < s->n; k++, i++) {
			weft_task_fn fn = (i + s->mode) % 3 == 0 ? parent_body :
								   count_body;
			atomic_fetch_add(&s->expected,
					 fn == parent_body ? 2 : 1);
			if (weft_task_run(&batch[k], fn, s->count) != 0) {
				atomic_fetch_add(&s->failures, 1);
				break;
			}
		}
		int rc;
		if (s->mode == 0) {
			rc = weft_task_wait_all(batch, (size_t)k, WEFT_INFINITE,
						WEFT_TOKEN_NONE, NULL);
		} else {
			rc = 0;
			for (int j = 0; j < k; j++)
				rc |= weft_task_wait(batch[j], WEFT_INFINITE,
						     WEFT_TOKEN_NONE, NULL);
		}
		if (rc)
			atomic_fetch_add(&s->failures, 1);
		for (int j = 0; j < k; j++) {
			if (!weft_task_is_completed_successfully(batch[j]))
				atomic_fetch_add(&s->failures, 1);
			weft_task_unref(batch[j]);
		}
	}
	return NULL;
}

TEST(stress_external_threads_submit_and_wait)
{
	enum {
		THREADS = 8
	};
	atomic_llong count;
	struct submitter s[THREADS];
	pthread_t th[THREADS];
	long per = (long)weft_test_scaled(100000);
	long expected = 0, failures = 0;

	atomic_init(&count, 0);
	for (int i = 0; i < THREADS; i++) {
		s[i].count = &count;
		s[i].n = per;
		s[i].mode = i % 2;
		atomic_init(&s[i].failures, 0);
		atomic_init(&s[i].expected, 0);
		REQUIRE(pthread_create(&th[i], NULL, submitter_main, &s[i]) ==
			0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		failures += atomic_load(&s[i].failures);
		expected += atomic_load(&s[i].expected);
	}
	CHECK_EQ(failures, 0);
	CHECK_EQ(atomic_load(&count), expected);
}

/* ---- waits racing completion --------------------------------------------- */

TEST(stress_short_timeouts_race_completion)
{
	long rounds = (long)weft_test_scaled(50000);
	atomic_llong count;
	long inconsistent = 0, zeros = 0, timeouts = 0;

	atomic_init(&count, 0);
	for (long i = 0; i < rounds; i++) {
		weft_task *t;
		REQUIRE(weft_task_run(&t, count_body, &count) == 0);
		int rc = weft_task_wait(t, i % 2, WEFT_TOKEN_NONE, NULL);
		if (rc == 0) {
			zeros++;
			inconsistent += !weft_task_is_completed(t);
		} else if (rc == -ETIMEDOUT) {
			timeouts++;
		} else {
			inconsistent++;
		}
		if (weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL) !=
		    0)
			inconsistent++;
		weft_task_unref(t);
	}
	CHECK_EQ(inconsistent, 0);
	CHECK_EQ(zeros + timeouts, rounds);
	CHECK_EQ(atomic_load(&count), rounds);
}

TEST(stress_wait_any_races_completion)
{
	long rounds = (long)weft_test_scaled(5000);
	atomic_llong count;
	long bad = 0;

	atomic_init(&count, 0);
	for (long i = 0; i < rounds; i++) {
		weft_task *ts[4];
		size_t idx = 99;
		for (int k = 0; k < 4; k++)
			REQUIRE(weft_task_run(&ts[k], count_body, &count) == 0);
		int rc = weft_task_wait_any(ts, 4, i % 3 == 0 ? 0 : -1,
					    WEFT_TOKEN_NONE, &idx);
		if (rc == 0) {
			bad += idx >= 4;
			bad += idx < 4 && !weft_task_is_completed(ts[idx]);
		} else if (rc != -ETIMEDOUT || i % 3 != 0) {
			bad++;
		}
		if (weft_task_wait_all(ts, 4, WEFT_INFINITE, WEFT_TOKEN_NONE,
				       NULL) != 0)
			bad++;
		for (int k = 0; k < 4; k++)
			weft_task_unref(ts[k]);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(atomic_load(&count), rounds * 4);
}

struct cancel_racer {
	weft_cancel_source *src;
	atomic_int go;
};

static void *cancel_racer_main(void *arg)
{
	struct cancel_racer *c = arg;
	while (!atomic_load(&c->go))
		;
	weft_cancel_source_cancel(c->src);
	return NULL;
}

TEST(stress_wait_all_token_races_completion)
{
	long rounds = (long)weft_test_scaled(5000);
	atomic_llong count;
	long bad = 0, canceled = 0;

	atomic_init(&count, 0);
	for (long i = 0; i < rounds; i++) {
		struct cancel_racer c;
		pthread_t th;
		weft_task *ts[3];
		weft_error *err = NULL;
		REQUIRE(weft_cancel_source_new(&c.src) == 0);
		atomic_init(&c.go, 0);
		REQUIRE(pthread_create(&th, NULL, cancel_racer_main, &c) == 0);
		for (int k = 0; k < 3; k++)
			REQUIRE(weft_task_run(&ts[k], count_body, &count) == 0);
		atomic_store(&c.go, 1);
		int rc = weft_task_wait_all(ts, 3, WEFT_INFINITE,
					    weft_cancel_source_token(c.src),
					    &err);
		if (rc == -ECANCELED) {
			canceled++;
			bad += !err ||
			       weft_error_get_kind(err) != WEFT_ERROR_CANCELED;
		} else if (rc != 0 || err) {
			bad++;
		}
		weft_error_unref(err);
		pthread_join(th, NULL);
		if (weft_task_wait_all(ts, 3, WEFT_INFINITE, WEFT_TOKEN_NONE,
				       NULL) != 0)
			bad++;
		for (int k = 0; k < 3; k++)
			weft_task_unref(ts[k]);
		weft_cancel_source_unref(c.src);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(atomic_load(&count), rounds * 3);
}

struct cancel_probe {
	atomic_llong ran;
	atomic_int freed;
};

static weft_error *probe_body(weft_task *self, void *arg)
{
	struct cancel_probe *p = arg;
	(void)self;
	atomic_fetch_add(&p->ran, 1);
	return NULL;
}

static void probe_free(void *arg)
{
	atomic_fetch_add(&((struct cancel_probe *)arg)->freed, 1);
}

/* Created tasks whose token is canceled while they start: each either ran
 * (RanToCompletion) or never ran (Canceled), and is freed exactly once. */
TEST(stress_cancellation_races_start)
{
	int rounds = (int)weft_test_scaled(20000);
	struct cancel_probe p;
	long ran_done = 0, canceled = 0, bad = 0;

	atomic_init(&p.ran, 0);
	atomic_init(&p.freed, 0);
	for (int i = 0; i < rounds; i++) {
		weft_cancel_source *src;
		weft_task *t;
		weft_task_options o = WEFT_TASK_OPTIONS_INIT;
		REQUIRE(weft_cancel_source_new(&src) == 0);
		o.token = weft_cancel_source_token(src);
		o.arg_free = probe_free;
		REQUIRE(weft_task_create(&t, probe_body, &p, &o) == 0);
		weft_task_start(t, NULL);
		if (i % 4 != 0)
			weft_cancel_source_cancel(src);
		int rc =
			weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
		weft_task_status st = weft_task_get_status(t);
		if (rc == 0 && st == WEFT_STATUS_RAN_TO_COMPLETION)
			ran_done++;
		else if (rc == -ECANCELED && st == WEFT_STATUS_CANCELED)
			canceled++;
		else
			bad++;
		weft_task_unref(t);
		weft_cancel_source_unref(src);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(ran_done + canceled, rounds);
	CHECK_EQ(atomic_load(&p.ran), ran_done);
	CHECK(poll_until(&p.freed, rounds));
	CHECK_EQ(atomic_load(&p.freed), rounds);
}

struct promise_race {
	weft_promise *p;
	atomic_int go;
	atomic_int ok;
};

static void *promise_waiter(void *arg)
{
	struct promise_race *r = arg;
	while (!atomic_load(&r->go))
		;
	if (weft_task_wait(weft_promise_task(r->p), WEFT_INFINITE,
			   WEFT_TOKEN_NONE, NULL) == 0)
		atomic_fetch_add(&r->ok, 1);
	return NULL;
}

TEST(stress_waiters_race_promise_completion)
{
	enum {
		WAITERS = 4
	};
	int rounds = (int)weft_test_scaled(5000);
	int bad = 0;

	for (int i = 0; i < rounds; i++) {
		struct promise_race r;
		pthread_t th[WAITERS];
		REQUIRE(weft_promise_new(&r.p, NULL, 0) == 0);
		atomic_init(&r.go, 0);
		atomic_init(&r.ok, 0);
		for (int k = 0; k < WAITERS; k++)
			REQUIRE(pthread_create(&th[k], NULL, promise_waiter,
					       &r) == 0);
		atomic_store(&r.go, 1);
		weft_promise_set_result(r.p, NULL, NULL);
		for (int k = 0; k < WAITERS; k++)
			pthread_join(th[k], NULL);
		bad += atomic_load(&r.ok) != WAITERS;
		weft_promise_unref(r.p);
	}
	CHECK_EQ(bad, 0);
}

/*
 * A wait with a token, woken by the token at the very moment the task
 * completes, must not return while the completer may still touch its
 * waiter record (which lives in the waiting function's frame).  Persistent
 * partner threads complete the promise and cancel the token together.
 */
struct wake_race {
	atomic_int round;  /* the round the partners should play */
	atomic_int played; /* partners done with the current round */
	atomic_int stop;
	weft_promise *p;
	weft_cancel_source *src;
};

static void *race_completer(void *arg)
{
	struct wake_race *w = arg;
	for (int r = 1;; r++) {
		while (atomic_load(&w->round) < r) {
			if (atomic_load(&w->stop))
				return NULL;
			sched_yield();
		}
		weft_promise_set_result(w->p, NULL, NULL);
		atomic_fetch_add(&w->played, 1);
	}
}

static void *race_canceler(void *arg)
{
	struct wake_race *w = arg;
	for (int r = 1;; r++) {
		while (atomic_load(&w->round) < r) {
			if (atomic_load(&w->stop))
				return NULL;
			sched_yield();
		}
		weft_cancel_source_cancel(w->src);
		atomic_fetch_add(&w->played, 1);
	}
}

/* Overwrite the stack below us, where the last wait's frame was. */
static __attribute__((noinline)) int scribble(int depth)
{
	volatile char buf[512];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i + (size_t)depth);
	return depth ? scribble(depth - 1) + buf[depth] : buf[0];
}

TEST(stress_wait_woken_by_token_as_task_completes)
{
	struct wake_race w;
	pthread_t a, b;
	int rounds = (int)weft_test_scaled(200000);
	long bad = 0, zeros = 0, canceled = 0;

	atomic_init(&w.round, 0);
	atomic_init(&w.played, 0);
	atomic_init(&w.stop, 0);
	REQUIRE(pthread_create(&a, NULL, race_completer, &w) == 0);
	REQUIRE(pthread_create(&b, NULL, race_canceler, &w) == 0);
	for (int r = 1; r <= rounds; r++) {
		weft_error *err = NULL;
		REQUIRE(weft_promise_new(&w.p, NULL, 0) == 0);
		REQUIRE(weft_cancel_source_new(&w.src) == 0);
		atomic_store(&w.played, 0);
		atomic_store(&w.round, r);
		int rc = weft_task_wait(weft_promise_task(w.p), WEFT_INFINITE,
					weft_cancel_source_token(w.src), &err);
		if (rc == 0)
			zeros++;
		else if (rc == -ECANCELED)
			canceled++;
		else
			bad++;
		weft_error_unref(err);
		scribble(8);
		while (atomic_load(&w.played) < 2)
			sched_yield();
		weft_promise_unref(w.p);
		weft_cancel_source_unref(w.src);
	}
	atomic_store(&w.stop, 1);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	CHECK_EQ(bad, 0);
	CHECK_EQ(zeros + canceled, rounds);
}
