/*
 * test_cancel.c - cancellation sources, tokens and registrations (spec
 * A.14): LIFO callbacks, register after cancel, unregister vs cancel,
 * dispose waiting, linked sources, cancel_after, try_reset, waiting.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

#include "harness.h"
#include "task_util.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait (generously) until *FLAG becomes nonzero; false on timeout. */
static bool wait_flag(atomic_int *flag, long timeout_ms)
{
	return wait_until(atomic_load(flag), timeout_ms / 1000.0);
}

static weft_cancel_source *new_source(void)
{
	weft_cancel_source *s = NULL;
	weft_cancel_source_new(&s);
	return s;
}

static void count_cb(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

/* ---- tokens -----------------------------------------------------------------
 */

TEST(cancel_source_new_bad_args)
{
	CHECK_EQ(weft_cancel_source_new(NULL), -EINVAL);
	CHECK_EQ(weft_cancel_source_cancel(NULL), -EINVAL);
	CHECK_EQ(weft_cancel_source_cancel_after(NULL, 10), -EINVAL);
	CHECK(!weft_cancel_source_try_reset(NULL));
	weft_cancel_source_unref(NULL);
	CHECK(weft_cancel_source_ref(NULL) == NULL);
}

TEST(cancel_none_token)
{
	weft_cancel_token none = WEFT_TOKEN_NONE;
	CHECK(!weft_cancel_requested(none));
	CHECK(!weft_cancel_can_be_canceled(none));
	CHECK(weft_cancel_token_equal(none, WEFT_TOKEN_NONE));
	CHECK(weft_cancel_throw_if_requested(none) == NULL);
	CHECK(weft_cancel_token_equal(weft_cancel_source_token(NULL), none));

	atomic_int n = 0;
	weft_cancel_registration reg;
	memset(&reg, 0xab, sizeof reg);
	CHECK_EQ(weft_cancel_register(none, count_cb, &n, &reg), 0);
	CHECK(reg.source == NULL && reg.node == NULL);
	CHECK(!weft_cancel_unregister(&reg));
	CHECK_EQ(atomic_load(&n), 0);
	/* A NULL callback is an error even on the none token. */
	CHECK_EQ(weft_cancel_register(none, NULL, NULL, &reg), -EINVAL);

	CHECK_EQ(weft_cancel_wait(none, WEFT_INFINITE), -EINVAL);
	CHECK_EQ(weft_cancel_wait(none, -2), -EINVAL);
	CHECK_EQ(weft_cancel_wait(none, 0), -ETIMEDOUT);
	CHECK_EQ(weft_cancel_wait(none, 20), -ETIMEDOUT);
}

TEST(cancel_canceled_singleton)
{
	weft_cancel_token c = weft_cancel_token_canceled();
	CHECK(weft_cancel_requested(c));
	CHECK(weft_cancel_can_be_canceled(c));
	CHECK(weft_cancel_token_equal(c, weft_cancel_token_canceled()));
	CHECK(!weft_cancel_token_equal(c, WEFT_TOKEN_NONE));
	CHECK_EQ(weft_cancel_wait(c, WEFT_INFINITE), 0);
	CHECK_EQ(weft_cancel_wait(c, 0), 0);

	atomic_int n = 0;
	weft_cancel_registration reg;
	CHECK_EQ(weft_cancel_register(c, count_cb, &n, &reg), 0);
	CHECK_EQ(atomic_load(&n), 1);
	CHECK(!weft_cancel_unregister(&reg));

	weft_error *e = weft_cancel_throw_if_requested(c);
	REQUIRE(e != NULL);
	CHECK_EQ(weft_error_get_kind(e), WEFT_ERROR_CANCELED);
	CHECK(weft_cancel_token_equal(weft_error_token(e), c));
	weft_error_unref(e);

	/* Its source ignores everything. */
	weft_cancel_source *s = c.source;
	CHECK_PTR_EQ(weft_cancel_source_ref(s), s);
	weft_cancel_source_unref(s);
	CHECK_EQ(weft_cancel_source_cancel(s), 0);
	CHECK(!weft_cancel_source_try_reset(s));
	CHECK(weft_cancel_requested(c));
}

TEST(cancel_token_identity)
{
	weft_cancel_source *a = new_source(), *b = new_source();
	REQUIRE(a && b);
	weft_cancel_token ta = weft_cancel_source_token(a);
	CHECK(weft_cancel_token_equal(ta, weft_cancel_source_token(a)));
	CHECK(!weft_cancel_token_equal(ta, weft_cancel_source_token(b)));
	CHECK(!weft_cancel_token_equal(ta, WEFT_TOKEN_NONE));
	CHECK(!weft_cancel_token_equal(ta, weft_cancel_token_canceled()));
	CHECK(weft_cancel_can_be_canceled(ta));
	CHECK(!weft_cancel_requested(ta));
	CHECK(weft_cancel_throw_if_requested(ta) == NULL);
	CHECK_PTR_EQ(weft_cancel_source_ref(a), a);
	weft_cancel_source_unref(a);
	weft_cancel_source_unref(a);
	weft_cancel_source_unref(b);
}

/* ---- cancel and callbacks -------------------------------------------------
 */

struct order {
	int seq[16];
	int n;
	pthread_t thread[16];
};

struct order_cb {
	struct order *o;
	int id;
};

static void order_cb(void *arg)
{
	struct order_cb *c = arg;
	c->o->thread[c->o->n] = pthread_self();
	c->o->seq[c->o->n++] = c->id;
}

TEST(cancel_runs_callbacks_lifo_on_canceling_thread)
{
	weft_cancel_source *s = new_source();
	REQUIRE(s);
	weft_cancel_token tok = weft_cancel_source_token(s);
	struct order o = {0};
	struct order_cb cbs[5];
	for (int i = 0; i < 5; i++) {
		cbs[i] = (struct order_cb){&o, i};
		CHECK_EQ(weft_cancel_register(tok, order_cb, &cbs[i], NULL), 0);
	}
	CHECK_EQ(o.n, 0);
	CHECK_EQ(weft_cancel_source_cancel(s), 0);
	REQUIRE(o.n == 5);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(o.seq[i], 4 - i);
		CHECK(pthread_equal(o.thread[i], pthread_self()));
	}
	CHECK(weft_cancel_requested(tok));
	CHECK_EQ(weft_cancel_wait(tok, 0), 0);

	/* Later cancels do nothing. */
	CHECK_EQ(weft_cancel_source_cancel(s), 0);
	CHECK_EQ(o.n, 5);

	weft_error *e = weft_cancel_throw_if_requested(tok);
	REQUIRE(e);
	CHECK(weft_cancel_token_equal(weft_error_token(e), tok));
	weft_error_unref(e);
	weft_cancel_source_unref(s);
}

TEST(cancel_register_after_cancel_runs_now)
{
	weft_cancel_source *s = new_source();
	weft_cancel_token tok = weft_cancel_source_token(s);
	weft_cancel_source_cancel(s);
	struct order o = {0};
	struct order_cb cb = {&o, 7};
	weft_cancel_registration reg;
	memset(&reg, 0xcd, sizeof reg);
	CHECK_EQ(weft_cancel_register(tok, order_cb, &cb, &reg), 0);
	REQUIRE(o.n == 1);
	CHECK_EQ(o.seq[0], 7);
	CHECK(pthread_equal(o.thread[0], pthread_self()));
	CHECK(reg.source == NULL && reg.node == NULL && reg.id == 0);
	CHECK(!weft_cancel_unregister(&reg));
	weft_cancel_registration_dispose(&reg);
	CHECK_EQ(weft_cancel_register(tok, NULL, NULL, NULL), -EINVAL);
	weft_cancel_source_unref(s);
}

TEST(cancel_unregister)
{
	weft_cancel_source *s = new_source();
	weft_cancel_token tok = weft_cancel_source_token(s);
	atomic_int a = 0, b = 0;
	weft_cancel_registration ra, rb;
	CHECK_EQ(weft_cancel_register(tok, count_cb, &a, &ra), 0);
	CHECK_EQ(weft_cancel_register(tok, count_cb, &b, &rb), 0);
	CHECK(ra.id != 0 && rb.id != 0 && ra.id != rb.id);
	CHECK(weft_cancel_unregister(&ra));
	CHECK(!weft_cancel_unregister(&ra)); /* already removed */
	CHECK(!weft_cancel_unregister(NULL));
	weft_cancel_registration_dispose(NULL);
	weft_cancel_source_cancel(s);
	CHECK_EQ(atomic_load(&a), 0);
	CHECK_EQ(atomic_load(&b), 1);
	CHECK(!weft_cancel_unregister(&rb)); /* it ran */
	weft_cancel_registration_dispose(&rb);
	weft_cancel_source_unref(s);
}

TEST(cancel_stale_registration_after_source_freed)
{
	/* A registration value stays safe to use after the last source
	 * reference is gone: it is simply not registered any more. */
	weft_cancel_source *s = new_source();
	atomic_int n = 0;
	weft_cancel_registration r1, r2;
	weft_cancel_register(weft_cancel_source_token(s), count_cb, &n, &r1);
	weft_cancel_register(weft_cancel_source_token(s), count_cb, &n, &r2);
	weft_cancel_source_unref(s);
	CHECK(!weft_cancel_unregister(&r1));
	weft_cancel_registration_dispose(&r2);
	CHECK_EQ(atomic_load(&n), 0);
}

struct self_unreg {
	weft_cancel_registration other;
	atomic_int ran_other;
	bool removed;
};

static void unreg_other_cb(void *arg)
{
	struct self_unreg *u = arg;
	u->removed = weft_cancel_unregister(&u->other);
}

TEST(cancel_unregister_during_cancel_prevents_callback)
{
	/* Registered first, so it would run last (LIFO); the callback that
	 * runs first unregisters it. */
	weft_cancel_source *s = new_source();
	weft_cancel_token tok = weft_cancel_source_token(s);
	struct self_unreg u = {0};
	CHECK_EQ(weft_cancel_register(tok, count_cb, &u.ran_other, &u.other),
		 0);
	CHECK_EQ(weft_cancel_register(tok, unreg_other_cb, &u, NULL), 0);
	weft_cancel_source_cancel(s);
	CHECK(u.removed);
	CHECK_EQ(atomic_load(&u.ran_other), 0);
	weft_cancel_source_unref(s);
}

struct reg_in_cb {
	weft_cancel_token tok;
	atomic_int inner_ran;
	int rc;
};

static void register_in_cb(void *arg)
{
	struct reg_in_cb *r = arg;
	r->rc = weft_cancel_register(r->tok, count_cb, &r->inner_ran, NULL);
	/* Already canceled: it ran inside the register call. */
	if (atomic_load(&r->inner_ran) != 1)
		r->rc = -1;
}

TEST(cancel_register_inside_callback)
{
	weft_cancel_source *s = new_source();
	struct reg_in_cb r = {.tok = weft_cancel_source_token(s)};
	weft_cancel_register(r.tok, register_in_cb, &r, NULL);
	weft_cancel_source_cancel(s);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(atomic_load(&r.inner_ran), 1);
	weft_cancel_source_unref(s);
}

static void unref_source_cb(void *arg)
{
	weft_cancel_source_unref(arg);
}

TEST(cancel_callback_drops_last_reference)
{
	/* The source must survive until cancel returns even when a callback
	 * drops the last reference (ASan checks the rest). */
	weft_cancel_source *s = new_source();
	atomic_int n = 0;
	weft_cancel_token tok = weft_cancel_source_token(s);
	weft_cancel_register(tok, count_cb, &n, NULL);
	weft_cancel_register(tok, unref_source_cb, s, NULL);
	weft_cancel_register(tok, count_cb, &n, NULL);
	weft_cancel_source_cancel(s);
	CHECK_EQ(atomic_load(&n), 2);
}

/* ---- unregister vs cancel race --------------------------------------------
 */

struct race {
	weft_cancel_source *s;
	weft_cancel_registration reg;
	atomic_int ran;
	atomic_int go;
	bool unregistered;
};

static void *race_cancel(void *arg)
{
	struct race *r = arg;
	while (!atomic_load(&r->go))
		;
	weft_cancel_source_cancel(r->s);
	return NULL;
}

static void *race_unregister(void *arg)
{
	struct race *r = arg;
	while (!atomic_load(&r->go))
		;
	r->unregistered = weft_cancel_unregister(&r->reg);
	return NULL;
}

TEST(cancel_unregister_vs_cancel_exactly_one)
{
	int iters = (int)(2000 * weft_test_scale());
	if (iters < 50)
		iters = 50;
	int both = 0, neither = 0, removed = 0;
	for (int i = 0; i < iters; i++) {
		struct race r = {0};
		r.s = new_source();
		REQUIRE(r.s);
		REQUIRE(weft_cancel_register(weft_cancel_source_token(r.s),
					     count_cb, &r.ran, &r.reg) == 0);
		pthread_t a, b;
		pthread_create(&a, NULL, race_cancel, &r);
		pthread_create(&b, NULL, race_unregister, &r);
		atomic_store(&r.go, 1);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		int ran = atomic_load(&r.ran);
		if (ran && r.unregistered)
			both++;
		if (!ran && !r.unregistered)
			neither++;
		removed += r.unregistered;
		weft_cancel_source_unref(r.s);
	}
	CHECK_EQ(both, 0);
	CHECK_EQ(neither, 0);
	/* (how often each side won varies; both must be possible) */
	CHECK(removed >= 0 && removed <= iters);
}

/* ---- dispose waits for a running callback ---------------------------------
 */

struct blocker {
	weft_cancel_source *s;
	weft_cancel_registration reg;
	atomic_int started, release, finished, dispose_returned;
	int finished_at_dispose_return;
};

static void blocking_cb(void *arg)
{
	struct blocker *b = arg;
	atomic_store(&b->started, 1);
	wait_flag(&b->release, 60000);
	atomic_store(&b->finished, 1);
}

static void *blocker_cancel(void *arg)
{
	struct blocker *b = arg;
	weft_cancel_source_cancel(b->s);
	return NULL;
}

static void *blocker_dispose(void *arg)
{
	struct blocker *b = arg;
	weft_cancel_registration_dispose(&b->reg);
	b->finished_at_dispose_return = atomic_load(&b->finished);
	atomic_store(&b->dispose_returned, 1);
	return NULL;
}

TEST(cancel_dispose_waits_for_running_callback)
{
	struct blocker b = {0};
	b.s = new_source();
	REQUIRE(weft_cancel_register(weft_cancel_source_token(b.s), blocking_cb,
				     &b, &b.reg) == 0);
	pthread_t c, d;
	pthread_create(&c, NULL, blocker_cancel, &b);
	REQUIRE(wait_flag(&b.started, 30000));

	pthread_create(&d, NULL, blocker_dispose, &b);
	sleep_ms(100);
	/* The callback is still blocked, so dispose must still be waiting. */
	CHECK_EQ(atomic_load(&b.dispose_returned), 0);
	atomic_store(&b.release, 1);
	pthread_join(d, NULL);
	pthread_join(c, NULL);
	CHECK_EQ(b.finished_at_dispose_return, 1);
	CHECK(b.reg.source == NULL);
	weft_cancel_source_unref(b.s);
}

TEST(cancel_unregister_does_not_wait)
{
	struct blocker b = {0};
	b.s = new_source();
	REQUIRE(weft_cancel_register(weft_cancel_source_token(b.s), blocking_cb,
				     &b, &b.reg) == 0);
	pthread_t c;
	pthread_create(&c, NULL, blocker_cancel, &b);
	REQUIRE(wait_flag(&b.started, 30000));
	/* Too late to remove, and it returns while the callback runs. */
	CHECK(!weft_cancel_unregister(&b.reg));
	CHECK_EQ(atomic_load(&b.finished), 0);
	CHECK(b.reg.source == NULL);
	atomic_store(&b.release, 1);
	pthread_join(c, NULL);
	weft_cancel_source_unref(b.s);
}

struct self_dispose {
	weft_cancel_registration reg;
	atomic_int done;
};

static void dispose_self_cb(void *arg)
{
	struct self_dispose *d = arg;
	/* Disposing our own registration from inside the callback must not
	 * wait for ourselves. */
	weft_cancel_registration_dispose(&d->reg);
	atomic_store(&d->done, 1);
}

TEST(cancel_dispose_inside_own_callback_does_not_deadlock)
{
	weft_cancel_source *s = new_source();
	struct self_dispose d = {0};
	REQUIRE(weft_cancel_register(weft_cancel_source_token(s),
				     dispose_self_cb, &d, &d.reg) == 0);
	weft_cancel_source_cancel(s);
	CHECK_EQ(atomic_load(&d.done), 1);
	CHECK(d.reg.source == NULL);
	weft_cancel_source_unref(s);
}

TEST(cancel_dispose_before_cancel_removes)
{
	weft_cancel_source *s = new_source();
	atomic_int n = 0;
	weft_cancel_registration reg;
	weft_cancel_register(weft_cancel_source_token(s), count_cb, &n, &reg);
	weft_cancel_registration_dispose(&reg);
	CHECK(reg.source == NULL);
	weft_cancel_registration_dispose(&reg); /* twice: harmless */
	weft_cancel_source_cancel(s);
	CHECK_EQ(atomic_load(&n), 0);
	weft_cancel_source_unref(s);
}

/* ---- linked sources ---------------------------------------------------------
 */

TEST(cancel_linked_bad_args)
{
	weft_cancel_source *l = (weft_cancel_source *)&l;
	weft_cancel_token toks[1] = {WEFT_TOKEN_NONE};
	CHECK_EQ(weft_cancel_source_new_linked(NULL, toks, 1), -EINVAL);
	CHECK_EQ(weft_cancel_source_new_linked(&l, NULL, 1), -EINVAL);
	CHECK(l == NULL);
	CHECK_EQ(weft_cancel_source_new_linked(&l, toks, 0), -EINVAL);
}

TEST(cancel_linked_follows_any_parent)
{
	weft_cancel_source *a = new_source(), *b = new_source();
	weft_cancel_token toks[3] = {weft_cancel_source_token(a),
				     WEFT_TOKEN_NONE,
				     weft_cancel_source_token(b)};
	for (int which = 0; which < 2; which++) {
		weft_cancel_source *l;
		REQUIRE(weft_cancel_source_new_linked(&l, toks, 3) == 0);
		weft_cancel_token lt = weft_cancel_source_token(l);
		CHECK(!weft_cancel_requested(lt));
		CHECK(weft_cancel_can_be_canceled(lt));
		atomic_int n = 0;
		weft_cancel_register(lt, count_cb, &n, NULL);
		if (which == 1) {
			weft_cancel_source_cancel(b);
			CHECK(weft_cancel_requested(lt));
			CHECK_EQ(atomic_load(&n), 1);
			CHECK(!weft_cancel_requested(toks[0]));
		}
		weft_cancel_source_unref(l);
	}
	weft_cancel_source_unref(a);
	weft_cancel_source_unref(b);
}

TEST(cancel_linked_does_not_cancel_parents)
{
	weft_cancel_source *a = new_source();
	weft_cancel_token ta = weft_cancel_source_token(a);
	weft_cancel_source *l;
	REQUIRE(weft_cancel_source_new_linked(&l, &ta, 1) == 0);
	weft_cancel_source_cancel(l);
	CHECK(weft_cancel_requested(weft_cancel_source_token(l)));
	CHECK(!weft_cancel_requested(ta));
	weft_cancel_source_unref(l);
	weft_cancel_source_unref(a);
}

TEST(cancel_linked_already_canceled_parent)
{
	weft_cancel_token toks[2] = {WEFT_TOKEN_NONE,
				     weft_cancel_token_canceled()};
	weft_cancel_source *l;
	REQUIRE(weft_cancel_source_new_linked(&l, toks, 2) == 0);
	CHECK(weft_cancel_requested(weft_cancel_source_token(l)));
	weft_cancel_source_unref(l);
}

TEST(cancel_linked_released_unregisters)
{
	/* Dropping the linked source removes its callback from the parent:
	 * canceling the parent afterwards touches nothing freed (ASan). */
	weft_cancel_source *a = new_source();
	weft_cancel_token ta = weft_cancel_source_token(a);
	for (int i = 0; i < 100; i++) {
		weft_cancel_source *l;
		REQUIRE(weft_cancel_source_new_linked(&l, &ta, 1) == 0);
		weft_cancel_source_unref(l);
	}
	atomic_int n = 0;
	weft_cancel_register(ta, count_cb, &n, NULL);
	weft_cancel_source_cancel(a);
	CHECK_EQ(atomic_load(&n), 1);
	weft_cancel_source_unref(a);
}

TEST(cancel_linked_parent_released_first)
{
	/* The parent goes away while still linked; the linked source keeps
	 * working (never canceled) and is released cleanly later. */
	weft_cancel_source *a = new_source();
	weft_cancel_token ta = weft_cancel_source_token(a);
	weft_cancel_source *l;
	REQUIRE(weft_cancel_source_new_linked(&l, &ta, 1) == 0);
	weft_cancel_source_unref(a);
	CHECK(!weft_cancel_requested(weft_cancel_source_token(l)));
	weft_cancel_source_cancel(l);
	CHECK(weft_cancel_requested(weft_cancel_source_token(l)));
	weft_cancel_source_unref(l);
}

TEST(cancel_linked_chain)
{
	weft_cancel_source *root = new_source();
	weft_cancel_source *chain[10];
	weft_cancel_token prev = weft_cancel_source_token(root);
	for (int i = 0; i < 10; i++) {
		REQUIRE(weft_cancel_source_new_linked(&chain[i], &prev, 1) ==
			0);
		prev = weft_cancel_source_token(chain[i]);
	}
	weft_cancel_source_cancel(root);
	for (int i = 0; i < 10; i++)
		CHECK(weft_cancel_requested(
			weft_cancel_source_token(chain[i])));
	for (int i = 9; i >= 0; i--)
		weft_cancel_source_unref(chain[i]);
	weft_cancel_source_unref(root);
}

struct linked_race {
	weft_cancel_source *parent;
	atomic_int go;
};

static void *linked_race_cancel(void *arg)
{
	struct linked_race *r = arg;
	while (!atomic_load(&r->go))
		;
	weft_cancel_source_cancel(r->parent);
	return NULL;
}

TEST(cancel_linked_release_races_parent_cancel)
{
	/* The linked source is released while its parent is being canceled
	 * on another thread: the release waits for the link callback if it
	 * is running, so nothing is used after free (ASan / TSan). */
	int iters = (int)(500 * weft_test_scale());
	if (iters < 20)
		iters = 20;
	for (int i = 0; i < iters; i++) {
		struct linked_race r = {0};
		r.parent = new_source();
		weft_cancel_token pt = weft_cancel_source_token(r.parent);
		weft_cancel_source *l;
		REQUIRE(weft_cancel_source_new_linked(&l, &pt, 1) == 0);
		atomic_int n = 0;
		weft_cancel_register(weft_cancel_source_token(l), count_cb, &n,
				     NULL);
		pthread_t th;
		pthread_create(&th, NULL, linked_race_cancel, &r);
		atomic_store(&r.go, 1);
		weft_cancel_source_unref(l);
		pthread_join(th, NULL);
		CHECK(atomic_load(&n) <= 1);
		weft_cancel_source_unref(r.parent);
	}
}

/* ---- cancel_after
 * ------------------------------------------------------------ */

TEST(cancel_after_bad_args)
{
	weft_cancel_source *s = new_source();
	CHECK_EQ(weft_cancel_source_cancel_after(s, -2), -EINVAL);
	CHECK_EQ(weft_cancel_source_cancel_after(s, 0xFFFFFFFFLL), -EINVAL);
	CHECK_EQ(weft_cancel_source_cancel_after(s, INT64_MIN), -EINVAL);
	CHECK(!weft_cancel_requested(weft_cancel_source_token(s)));
	/* The largest legal value is accepted (and never fires here). */
	CHECK_EQ(weft_cancel_source_cancel_after(s, 0xFFFFFFFELL), 0);
	weft_cancel_source_unref(s);
}

TEST(cancel_after_zero_cancels_now)
{
	weft_cancel_source *s = new_source();
	atomic_int n = 0;
	weft_cancel_register(weft_cancel_source_token(s), count_cb, &n, NULL);
	CHECK_EQ(weft_cancel_source_cancel_after(s, 0), 0);
	CHECK(weft_cancel_requested(weft_cancel_source_token(s)));
	CHECK_EQ(atomic_load(&n), 1);
	/* Already canceled: further calls are accepted and change nothing. */
	CHECK_EQ(weft_cancel_source_cancel_after(s, 10), 0);
	weft_cancel_source_unref(s);
}

TEST(cancel_after_fires)
{
	weft_cancel_source *s = new_source();
	weft_cancel_token tok = weft_cancel_source_token(s);
	atomic_int n = 0;
	weft_cancel_register(tok, count_cb, &n, NULL);
	int64_t t0 = now_ms();
	CHECK_EQ(weft_cancel_source_cancel_after(s, 30), 0);
	CHECK_EQ(weft_cancel_wait(tok, 30000), 0);
	CHECK(now_ms() - t0 >= 29); /* never early (1 ms rounding slack) */
	CHECK(wait_flag(&n, 30000));
	CHECK_EQ(atomic_load(&n), 1);
	weft_cancel_source_unref(s);
}

TEST(cancel_after_replaces_due_time)
{
	weft_cancel_source *s = new_source();
	weft_cancel_token tok = weft_cancel_source_token(s);
	/* Far away first, then soon: the second wins. */
	CHECK_EQ(weft_cancel_source_cancel_after(s, 1000000), 0);
	CHECK_EQ(weft_cancel_source_cancel_after(s, 10), 0);
	CHECK_EQ(weft_cancel_wait(tok, 30000), 0);
	weft_cancel_source_unref(s);

	/* Soon first, then never: it does not fire (judged only when the
	 * second call surely came before the first due time). */
	s = new_source();
	tok = weft_cancel_source_token(s);
	int64_t t0 = now_ms();
	CHECK_EQ(weft_cancel_source_cancel_after(s, 300), 0);
	CHECK_EQ(weft_cancel_source_cancel_after(s, WEFT_INFINITE), 0);
	if (now_ms() - t0 < 300) {
		CHECK_EQ(weft_cancel_wait(tok, 600), -ETIMEDOUT);
		CHECK(!weft_cancel_requested(tok));
	}
	weft_cancel_source_unref(s);
}

TEST(cancel_after_then_release_source)
{
	/* A pending timer must not keep the source alive nor fire into
	 * freed memory; a callback registered without a handle never runs
	 * once the source is gone. */
	atomic_int n = 0;
	for (int i = 0; i < 50; i++) {
		weft_cancel_source *s = new_source();
		weft_cancel_register(weft_cancel_source_token(s), count_cb, &n,
				     NULL);
		weft_cancel_source_cancel_after(s, i % 5);
		weft_cancel_source_unref(s);
	}
	sleep_ms(100);
	CHECK(atomic_load(&n) <= 50);
}

TEST(cancel_after_many_sources)
{
	enum {
		N = 200
	};
	weft_cancel_source *s[N];
	for (int i = 0; i < N; i++) {
		s[i] = new_source();
		REQUIRE(weft_cancel_source_cancel_after(s[i], 1 + i % 20) == 0);
	}
	for (int i = 0; i < N; i++) {
		CHECK_EQ(
			weft_cancel_wait(weft_cancel_source_token(s[i]), 30000),
			0);
		weft_cancel_source_unref(s[i]);
	}
}

/* ---- try_reset
 * ----------------------------------------------------------------- */

TEST(cancel_try_reset)
{
	weft_cancel_source *s = new_source();
	weft_cancel_token tok = weft_cancel_source_token(s);
	atomic_int n = 0;
	weft_cancel_registration reg;
	weft_cancel_register(tok, count_cb, &n, &reg);
	weft_cancel_register(tok, count_cb, &n, NULL);
	CHECK(weft_cancel_source_try_reset(s));
	/* Registrations are gone. */
	CHECK(!weft_cancel_unregister(&reg));
	weft_cancel_source_cancel(s);
	CHECK_EQ(atomic_load(&n), 0);
	/* Canceled: no reset. */
	CHECK(!weft_cancel_source_try_reset(s));
	CHECK(weft_cancel_requested(tok));
	weft_cancel_source_unref(s);
}

TEST(cancel_try_reset_drops_timer)
{
	weft_cancel_source *s = new_source();
	weft_cancel_token tok = weft_cancel_source_token(s);
	int64_t t0 = now_ms();
	CHECK_EQ(weft_cancel_source_cancel_after(s, 300), 0);
	bool reset = weft_cancel_source_try_reset(s);
	if (!reset) {
		/* Only possible when the timer already fired. */
		CHECK(now_ms() - t0 >= 299);
		weft_cancel_source_unref(s);
		return;
	}
	/* The timer was removed: it never cancels the source. */
	CHECK_EQ(weft_cancel_wait(tok, 600), -ETIMEDOUT);
	/* Still usable afterwards. */
	atomic_int n = 0;
	weft_cancel_register(tok, count_cb, &n, NULL);
	CHECK_EQ(weft_cancel_source_cancel_after(s, 5), 0);
	CHECK_EQ(weft_cancel_wait(tok, 30000), 0);
	CHECK(wait_flag(&n, 30000));
	weft_cancel_source_unref(s);
}

/* ---- waiting
 * --------------------------------------------------------------------- */

TEST(cancel_wait_timeouts)
{
	weft_cancel_source *s = new_source();
	weft_cancel_token tok = weft_cancel_source_token(s);
	CHECK_EQ(weft_cancel_wait(tok, -2), -EINVAL);
	CHECK_EQ(weft_cancel_wait(tok, 0), -ETIMEDOUT);
	int64_t t0 = now_ms();
	CHECK_EQ(weft_cancel_wait(tok, 30), -ETIMEDOUT);
	CHECK(now_ms() - t0 >= 29);
	weft_cancel_source_unref(s);
}

struct waiter {
	weft_cancel_token tok;
	int rc;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	w->rc = weft_cancel_wait(w->tok, WEFT_INFINITE);
	return NULL;
}

TEST(cancel_wait_woken_by_cancel)
{
	weft_cancel_source *s = new_source();
	enum {
		N = 6
	};
	struct waiter w[N];
	pthread_t th[N];
	for (int i = 0; i < N; i++) {
		w[i] = (struct waiter){weft_cancel_source_token(s), 1};
		pthread_create(&th[i], NULL, wait_thread, &w[i]);
	}
	sleep_ms(30);
	weft_cancel_source_cancel(s);
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(w[i].rc, 0);
	}
	weft_cancel_source_unref(s);
}

/* ---- concurrency
 * ------------------------------------------------------------------ */

struct churn {
	weft_cancel_source *s;
	atomic_int ran;
	atomic_int removed;
	atomic_int registered;
};

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	weft_cancel_token tok = weft_cancel_source_token(c->s);
	for (int i = 0; i < 2000; i++) {
		weft_cancel_registration reg;
		if (weft_cancel_register(tok, count_cb, &c->ran, &reg))
			continue;
		atomic_fetch_add(&c->registered, 1);
		if (i % 2) {
			if (weft_cancel_unregister(&reg))
				atomic_fetch_add(&c->removed, 1);
		} else {
			weft_cancel_registration_dispose(&reg);
			/* dispose cannot tell: count "removed" as what did
			 * not run; checked in total below */
		}
		(void)weft_cancel_requested(tok);
	}
	return NULL;
}

TEST(cancel_concurrent_register_unregister_cancel)
{
	struct churn c = {0};
	c.s = new_source();
	enum {
		N = 4
	};
	pthread_t th[N];
	for (int i = 0; i < N; i++)
		pthread_create(&th[i], NULL, churn_thread, &c);
	sleep_ms(2);
	weft_cancel_source_cancel(c.s);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	/* Every callback ran at most once: the callbacks that ran plus the
	 * ones unregister removed never exceed what was registered. */
	CHECK(atomic_load(&c.ran) + atomic_load(&c.removed) <=
	      atomic_load(&c.registered));
	weft_cancel_source_unref(c.s);
}

static void *requested_reader(void *arg)
{
	weft_cancel_token tok = *(weft_cancel_token *)arg;
	while (!weft_cancel_requested(tok))
		;
	return NULL;
}

TEST(cancel_requested_seen_by_other_threads)
{
	weft_cancel_source *s = new_source();
	weft_cancel_token tok = weft_cancel_source_token(s);
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, requested_reader, &tok);
	sleep_ms(5);
	weft_cancel_source_cancel(s);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	CHECK(weft_cancel_requested(tok));
	weft_cancel_source_unref(s);
}
