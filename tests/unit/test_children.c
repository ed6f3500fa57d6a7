/*
 * test_children.c - attached and detached child tasks (spec A.3, A.5):
 * a parent waits for its attached children (WaitingForChildrenToComplete),
 * their faults join the parent's as one aggregate each, canceled children
 * contribute nothing, detached children never matter, DENY_CHILD_ATTACH and
 * weft_task_run() refuse attachment, and a parent that already observed a
 * child's fault through a wait does not get it again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

#include "harness.h"
#include "task_util.h"

/* ---- support ------------------------------------------------------------ */

/* Gated tasks hold default-pool workers: have room for them anywhere. */
__attribute__((constructor)) static void widen_default_pool(void)
{
	weft_default_pool_configure(4);
}

/* Poll until T's status is S; false after a minute. */
static bool poll_status(weft_task *t, weft_task_status s)
{
	double end = now_s() + 60;
	while (weft_task_get_status(t) != s) {
		if (now_s() > end)
			return false;
		nap();
	}
	return true;
}

struct gate {
	atomic_int entered;
	atomic_int open;
	atomic_int left;
	weft_error *fail; /* returned (a new reference) once opened */
};

static void gate_init(struct gate *g)
{
	atomic_init(&g->entered, 0);
	atomic_init(&g->open, 0);
	atomic_init(&g->left, 0);
	g->fail = NULL;
}

static void gate_open(struct gate *g)
{
	atomic_store(&g->open, 1);
}

static weft_error *gate_body(weft_task *self, void *arg)
{
	struct gate *g = arg;
	(void)self;
	atomic_fetch_add(&g->entered, 1);
	if (!poll_until(&g->open, 1))
		return weft_error_new(-ETIMEDOUT, "the gate never opened");
	atomic_fetch_add(&g->left, 1);
	return g->fail ? weft_error_ref(g->fail) : NULL;
}

/*
 * A parent body driven by a description: it starts one child running
 * gate_body(CHILD_GATE) with CHILD_FLAGS, keeps a reference to it in
 * CHILD, and returns PARENT_ERR (a new reference) or NULL.
 */
struct family {
	struct gate child_gate;
	unsigned child_flags;
	weft_cancel_token child_token;
	bool create_only; /* weft_task_create, not started */
	_Atomic(weft_task *) child;
	weft_error *parent_err;
	atomic_int parent_done;
};

static void family_init(struct family *f, unsigned child_flags)
{
	gate_init(&f->child_gate);
	f->child_flags = child_flags;
	f->child_token = WEFT_TOKEN_NONE;
	f->create_only = false;
	atomic_init(&f->child, NULL);
	f->parent_err = NULL;
	atomic_init(&f->parent_done, 0);
}

static weft_error *family_parent(weft_task *self, void *arg)
{
	struct family *f = arg;
	weft_task *c = NULL;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	int rc;
	(void)self;
	o.flags = f->child_flags;
	o.token = f->child_token;
	if (f->create_only)
		rc = weft_task_create(&c, gate_body, &f->child_gate, &o);
	else
		rc = weft_task_start_new(&c, gate_body, &f->child_gate, &o);
	if (rc)
		return weft_error_new(rc, "could not make the child");
	atomic_store(&f->child, c);
	atomic_store(&f->parent_done, 1);
	return f->parent_err ? weft_error_ref(f->parent_err) : NULL;
}

static weft_task *start_parent(struct family *f, unsigned parent_flags)
{
	weft_task *t = NULL;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	o.flags = parent_flags;
	if (weft_task_start_new(&t, family_parent, f, &o) != 0)
		return NULL;
	return t;
}

static void family_cleanup(struct family *f, weft_task *parent)
{
	weft_task *c = atomic_load(&f->child);
	if (c) {
		/* observe whatever it did, then drop it */
		weft_task_wait(c, 60000, WEFT_TOKEN_NONE, NULL);
		weft_task_unref(c);
	}
	weft_task_unref(parent);
	weft_error_unref(f->child_gate.fail);
	weft_error_unref(f->parent_err);
}

/* ---- attached children ----------------------------------------------------
 */

TEST(parent_waits_for_attached_child)
{
	struct family f;
	weft_task *p;

	family_init(&f, WEFT_TASK_ATTACHED_TO_PARENT);
	p = start_parent(&f, 0);
	REQUIRE(p != NULL);
	REQUIRE(poll_until(&f.child_gate.entered, 1));
	REQUIRE(poll_until(&f.parent_done, 1));
	/* the body returned, the child runs: WaitingForChildrenToComplete */
	CHECK(poll_status(p, WEFT_STATUS_WAITING_FOR_CHILDREN));
	CHECK(!weft_task_is_completed(p));
	CHECK_PTR_EQ(weft_task_error(p), NULL);
	CHECK_EQ(weft_task_wait(p, 0, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	CHECK_EQ(weft_task_wait(p, 20, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	gate_open(&f.child_gate);
	CHECK_EQ(wait_inf(p), 0);
	/* the parent completed only after its child */
	CHECK_EQ(atomic_load(&f.child_gate.left), 1);
	CHECK(weft_task_is_completed(atomic_load(&f.child)));
	CHECK_EQ(weft_task_get_status(p), WEFT_STATUS_RAN_TO_COMPLETION);
	family_cleanup(&f, p);
}

TEST(faulted_child_faults_parent_with_its_aggregate)
{
	struct family f;
	weft_task *p;
	weft_error *err = NULL, *child_agg;

	family_init(&f, WEFT_TASK_ATTACHED_TO_PARENT);
	f.child_gate.fail = weft_error_new(-EIO, "child failed");
	gate_open(&f.child_gate);
	p = start_parent(&f, 0);
	REQUIRE(p != NULL);
	CHECK_EQ(weft_task_wait(p, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	CHECK_EQ(weft_task_get_status(p), WEFT_STATUS_FAULTED);
	REQUIRE(err != NULL);
	/* parent.Wait -> Aggregate[ Aggregate[childErr] ] */
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	REQUIRE(weft_error_inner_count(err) == 1);
	weft_error *inner = weft_error_inner(err, 0);
	CHECK_EQ(weft_error_get_kind(inner), WEFT_ERROR_AGGREGATE);
	REQUIRE(weft_error_inner_count(inner) == 1);
	CHECK_PTR_EQ(weft_error_inner(inner, 0), f.child_gate.fail);
	/* it is the child's own aggregate object */
	child_agg = weft_task_error(atomic_load(&f.child));
	CHECK_PTR_EQ(inner, child_agg);
	weft_error_unref(child_agg);
	/* GetBaseException descends to the child's aggregate */
	CHECK_PTR_EQ(weft_error_base(err), inner);
	weft_error_unref(err);
	family_cleanup(&f, p);
}

TEST(parent_body_error_comes_before_children_errors)
{
	struct family f;
	weft_task *p;
	weft_error *err = NULL;

	family_init(&f, WEFT_TASK_ATTACHED_TO_PARENT);
	f.child_gate.fail = weft_error_new(-EIO, "child failed");
	f.parent_err = weft_error_new(-EPIPE, "parent failed");
	p = start_parent(&f, 0);
	REQUIRE(p != NULL);
	REQUIRE(poll_until(&f.parent_done, 1));
	/* the body faulted, but the child still runs: not Faulted yet */
	CHECK(poll_status(p, WEFT_STATUS_WAITING_FOR_CHILDREN));
	CHECK_PTR_EQ(weft_task_error(p), NULL);
	gate_open(&f.child_gate);
	CHECK_EQ(weft_task_wait(p, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	REQUIRE(err != NULL);
	REQUIRE(weft_error_inner_count(err) == 2);
	CHECK_PTR_EQ(weft_error_inner(err, 0), f.parent_err);
	weft_error *inner = weft_error_inner(err, 1);
	CHECK_EQ(weft_error_get_kind(inner), WEFT_ERROR_AGGREGATE);
	CHECK_PTR_EQ(weft_error_inner(inner, 0), f.child_gate.fail);
	weft_error_unref(err);
	family_cleanup(&f, p);
}

struct many {
	int n;
	atomic_int ran;
	weft_error *fail_every_third;
};

static weft_error *many_child(weft_task *self, void *arg)
{
	struct many *m = arg;
	(void)self;
	int k = atomic_fetch_add(&m->ran, 1);
	if (m->fail_every_third && k % 3 == 0)
		return weft_error_ref(m->fail_every_third);
	return NULL;
}

static weft_error *many_parent(weft_task *self, void *arg)
{
	struct many *m = arg;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	(void)self;
	o.flags = WEFT_TASK_ATTACHED_TO_PARENT;
	for (int i = 0; i < m->n; i++)
		if (weft_task_start_new(NULL, many_child, m, &o) != 0)
			return weft_error_new(-ENOMEM, "start_new");
	return NULL;
}

TEST(parent_completes_after_all_of_many_children)
{
	struct many m;
	weft_task *p;
	weft_error *err = NULL;

	m.n = 1000;
	atomic_init(&m.ran, 0);
	m.fail_every_third = NULL;
	REQUIRE(weft_task_start_new(&p, many_parent, &m, NULL) == 0);
	CHECK_EQ(wait_inf(p), 0);
	/* the children are not referenced by anyone but the parent link */
	CHECK_EQ(atomic_load(&m.ran), 1000);
	weft_task_unref(p);

	/* with faults: one aggregate per faulted child */
	m.n = 30;
	atomic_store(&m.ran, 0);
	m.fail_every_third = weft_error_new(-EIO, "one in three");
	REQUIRE(weft_task_start_new(&p, many_parent, &m, NULL) == 0);
	CHECK_EQ(weft_task_wait(p, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	CHECK_EQ(atomic_load(&m.ran), 30);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_inner_count(err), 10);
	int good = 0;
	for (size_t i = 0; i < weft_error_inner_count(err); i++) {
		weft_error *in = weft_error_inner(err, i);
		good += weft_error_get_kind(in) == WEFT_ERROR_AGGREGATE &&
			weft_error_inner_count(in) == 1 &&
			weft_error_inner(in, 0) == m.fail_every_third;
	}
	CHECK_EQ(good, 10);
	weft_error_unref(err);
	weft_task_unref(p);
	weft_error_unref(m.fail_every_third);
}

static weft_error *chain_body(weft_task *self, void *arg)
{
	int *depth_left = arg;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	(void)self;
	if (*depth_left == 0)
		return weft_error_new(-EIO, "at the bottom");
	o.flags = WEFT_TASK_ATTACHED_TO_PARENT;
	return weft_task_start_new(NULL, chain_body, depth_left + 1, &o) ?
		       weft_error_new(-ENOMEM, "start_new") :
		       NULL;
}

TEST(grandchild_faults_nest_one_aggregate_per_level)
{
	/* depth counters: 2 -> 1 -> 0 (the leaf fails) */
	int depths[3] = {2, 1, 0};
	weft_task *p;
	weft_error *err = NULL;

	REQUIRE(weft_task_start_new(&p, chain_body, depths, NULL) == 0);
	CHECK_EQ(weft_task_wait(p, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	REQUIRE(err != NULL);
	/* agg[ agg[ agg[e] ] ] */
	weft_error *a1 = weft_error_inner(err, 0);
	REQUIRE(a1 != NULL);
	CHECK_EQ(weft_error_inner_count(err), 1);
	CHECK_EQ(weft_error_get_kind(a1), WEFT_ERROR_AGGREGATE);
	weft_error *a2 = weft_error_inner(a1, 0);
	REQUIRE(a2 != NULL);
	CHECK_EQ(weft_error_get_kind(a2), WEFT_ERROR_AGGREGATE);
	weft_error *e = weft_error_inner(a2, 0);
	REQUIRE(e != NULL);
	CHECK_EQ(weft_error_get_kind(e), WEFT_ERROR_PLAIN);
	CHECK_EQ(weft_error_code(e), -EIO);
	weft_error *flat = weft_error_flatten(err);
	CHECK_EQ(weft_error_inner_count(flat), 1);
	CHECK_PTR_EQ(weft_error_inner(flat, 0), e);
	weft_error_unref(flat);
	weft_error_unref(err);
	weft_task_unref(p);
}

TEST(wait_all_on_parent_flattens_one_level)
{
	struct family f;
	weft_task *p;
	weft_error *err = NULL;

	family_init(&f, WEFT_TASK_ATTACHED_TO_PARENT);
	f.child_gate.fail = weft_error_new(-EIO, "child failed");
	gate_open(&f.child_gate);
	p = start_parent(&f, 0);
	REQUIRE(p != NULL);
	CHECK_EQ(
		weft_task_wait_all(&p, 1, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		WEFT_EFAULTED);
	REQUIRE(err != NULL);
	REQUIRE(weft_error_inner_count(err) == 1);
	weft_error *inner = weft_error_inner(err, 0);
	CHECK_EQ(weft_error_get_kind(inner), WEFT_ERROR_AGGREGATE);
	CHECK_PTR_EQ(weft_error_inner(inner, 0), f.child_gate.fail);
	weft_error_unref(err);
	family_cleanup(&f, p);
}

/* ---- canceled children ------------------------------------------------------
 */

struct cancel_kids {
	atomic_int ran;
	weft_cancel_source *src;  /* canceled before the parent starts */
	weft_cancel_source *late; /* canceled while the ack child runs */
	atomic_int ack_entered;
};

static weft_error *ack_child(weft_task *self, void *arg)
{
	struct cancel_kids *k = arg;
	atomic_fetch_add(&k->ack_entered, 1);
	while (!weft_cancel_requested(weft_task_token(self)))
		nap();
	return weft_cancel_throw_if_requested(weft_task_token(self));
}

static weft_error *counting_child(weft_task *self, void *arg)
{
	(void)self;
	atomic_fetch_add(&((struct cancel_kids *)arg)->ran, 1);
	return NULL;
}

static weft_error *cancel_kids_parent(weft_task *self, void *arg)
{
	struct cancel_kids *k = arg;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *c;
	(void)self;
	o.flags = WEFT_TASK_ATTACHED_TO_PARENT;
	o.token = weft_cancel_source_token(k->src);
	/* Canceled at creation (never started) */
	if (weft_task_create(&c, counting_child, k, &o) != 0)
		return weft_error_new(-ENOMEM, "create");
	weft_task_unref(c);
	/* Canceled when dequeued */
	if (weft_task_start_new(NULL, counting_child, k, &o) != 0)
		return weft_error_new(-ENOMEM, "start_new");
	/* Canceled by acknowledging its own token */
	o.token = weft_cancel_source_token(k->late);
	if (weft_task_start_new(NULL, ack_child, k, &o) != 0)
		return weft_error_new(-ENOMEM, "start_new");
	return NULL;
}

TEST(canceled_attached_children_contribute_nothing)
{
	struct cancel_kids k;
	weft_task *p;
	weft_error *err = (weft_error *)&err;

	atomic_init(&k.ran, 0);
	atomic_init(&k.ack_entered, 0);
	REQUIRE(weft_cancel_source_new(&k.src) == 0);
	REQUIRE(weft_cancel_source_new(&k.late) == 0);
	weft_cancel_source_cancel(k.src);
	REQUIRE(weft_task_start_new(&p, cancel_kids_parent, &k, NULL) == 0);
	REQUIRE(poll_until(&k.ack_entered, 1));
	CHECK(!weft_task_is_completed(p));
	weft_cancel_source_cancel(k.late);
	CHECK_EQ(weft_task_wait(p, WEFT_INFINITE, WEFT_TOKEN_NONE, &err), 0);
	CHECK_PTR_EQ(err, NULL);
	CHECK_EQ(weft_task_get_status(p), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(atomic_load(&k.ran), 0);
	weft_task_unref(p);
	weft_cancel_source_unref(k.src);
	weft_cancel_source_unref(k.late);
}

static struct {
	atomic_int calls;
	_Atomic(weft_error *) inner_inner; /* err->inner[0]->inner[0] */
} unobserved;

static void unobserved_handler(weft_error *err, void *arg)
{
	(void)arg;
	atomic_fetch_add(&unobserved.calls, 1);
	weft_error *in = weft_error_inner(err, 0);
	if (in && weft_error_get_kind(in) == WEFT_ERROR_AGGREGATE)
		atomic_store(&unobserved.inner_inner, weft_error_inner(in, 0));
}

/* The parent reads its faulted child's errors: only the parent, if nobody
 * observes it, is reported as unobserved. */
TEST(unobserved_report_for_parent_only)
{
	struct family f;
	weft_task *p;
	size_t idx;

	atomic_init(&unobserved.calls, 0);
	atomic_init(&unobserved.inner_inner, NULL);
	weft_set_unobserved_error_handler(unobserved_handler, NULL);
	family_init(&f, WEFT_TASK_ATTACHED_TO_PARENT);
	f.child_gate.fail = weft_error_new(-EIO, "child failed");
	gate_open(&f.child_gate);
	p = start_parent(&f, 0);
	REQUIRE(p != NULL);
	/* wait without observing */
	CHECK_EQ(
		weft_task_wait_any(&p, 1, WEFT_INFINITE, WEFT_TOKEN_NONE, &idx),
		0);
	CHECK(weft_task_is_faulted(p));
	weft_task *c = atomic_load(&f.child);
	REQUIRE(c != NULL);
	/* drop both without observing anything */
	weft_task_unref(c);
	atomic_store(&f.child, NULL);
	weft_task_unref(p);
	CHECK(poll_until(&unobserved.calls, 1));
	sleep_ms(50);
	CHECK_EQ(atomic_load(&unobserved.calls), 1);
	CHECK_PTR_EQ(atomic_load(&unobserved.inner_inner), f.child_gate.fail);
	weft_set_unobserved_error_handler(NULL, NULL);
	weft_error_unref(f.child_gate.fail);
}

/* ---- children that do not attach --------------------------------------------
 */

static void check_parent_unaffected(struct family *f, weft_task *p)
{
	/* the parent completes while its (failing) child is still held */
	CHECK_EQ(weft_task_wait(p, 60000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(weft_task_get_status(p), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(atomic_load(&f->child_gate.left), 0);
	gate_open(&f->child_gate);
	weft_task *c = atomic_load(&f->child);
	REQUIRE(c != NULL);
	CHECK_EQ(weft_task_wait(c, 60000, WEFT_TOKEN_NONE, NULL),
		 WEFT_EFAULTED);
	/* and stays so after the child faulted */
	CHECK_EQ(weft_task_get_status(p), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_PTR_EQ(weft_task_error(p), NULL);
}

TEST(detached_child_never_affects_parent)
{
	struct family f;
	weft_task *p;

	family_init(&f, 0);
	f.child_gate.fail = weft_error_new(-EIO, "detached failure");
	p = start_parent(&f, 0);
	REQUIRE(p != NULL);
	check_parent_unaffected(&f, p);
	family_cleanup(&f, p);
}

TEST(deny_child_attach_parent_has_no_children)
{
	struct family f;
	weft_task *p;

	family_init(&f, WEFT_TASK_ATTACHED_TO_PARENT);
	f.child_gate.fail = weft_error_new(-EIO, "refused child failure");
	p = start_parent(&f, WEFT_TASK_DENY_CHILD_ATTACH);
	REQUIRE(p != NULL);
	check_parent_unaffected(&f, p);
	family_cleanup(&f, p);
}

TEST(task_run_denies_attachment)
{
	struct family f;
	weft_task *p;

	family_init(&f, WEFT_TASK_ATTACHED_TO_PARENT);
	f.child_gate.fail = weft_error_new(-EIO, "refused child failure");
	REQUIRE(weft_task_run(&p, family_parent, &f) == 0);
	check_parent_unaffected(&f, p);
	family_cleanup(&f, p);
}

/* ---- observation by the parent
 * ------------------------------------------------ */

struct observer {
	weft_error *child_err;
	int how; /* 0: wait with err, 1: wait_all with err, 2: wait, no err */
	atomic_int wait_rc;
	_Atomic(weft_error *) seen;
};

static weft_error *failing_child(weft_task *self, void *arg)
{
	(void)self;
	return weft_error_ref(((struct observer *)arg)->child_err);
}

static weft_error *observing_parent(weft_task *self, void *arg)
{
	struct observer *ob = arg;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *c;
	weft_error *err = NULL;
	int rc;
	(void)self;
	o.flags = WEFT_TASK_ATTACHED_TO_PARENT;
	if (weft_task_start_new(&c, failing_child, ob, &o) != 0)
		return weft_error_new(-ENOMEM, "start_new");
	switch (ob->how) {
	case 0:
		rc = weft_task_wait(c, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
		break;
	case 1:
		rc = weft_task_wait_all(&c, 1, WEFT_INFINITE, WEFT_TOKEN_NONE,
					&err);
		break;
	default:
		rc = weft_task_wait(c, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
		break;
	}
	atomic_store(&ob->wait_rc, rc);
	atomic_store(&ob->seen, err); /* handled: not rethrown */
	weft_task_unref(c);
	return NULL;
}

static void observed_case(int how)
{
	struct observer ob;
	weft_task *p;
	weft_error *err = (weft_error *)&err;

	ob.child_err = weft_error_new(-EIO, "seen by the parent");
	ob.how = how;
	atomic_init(&ob.wait_rc, 1);
	atomic_init(&ob.seen, NULL);
	REQUIRE(weft_task_start_new(&p, observing_parent, &ob, NULL) == 0);
	CHECK_EQ(weft_task_wait(p, WEFT_INFINITE, WEFT_TOKEN_NONE, &err), 0);
	CHECK_PTR_EQ(err, NULL);
	CHECK_EQ(weft_task_get_status(p), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(atomic_load(&ob.wait_rc), WEFT_EFAULTED);
	weft_error *seen = atomic_load(&ob.seen);
	if (how != 2) {
		REQUIRE(seen != NULL);
		CHECK_PTR_EQ(weft_error_inner(seen, 0), ob.child_err);
	}
	weft_error_unref(seen);
	weft_task_unref(p);
	weft_error_unref(ob.child_err);
}

TEST(parent_that_waited_on_faulted_child_does_not_get_it_again)
{
	observed_case(0);
}

TEST(parent_that_wait_alled_faulted_child_does_not_get_it_again)
{
	observed_case(1);
}

TEST(parent_that_waited_without_err_does_not_get_it_again)
{
	observed_case(2);
}

/* ---- children created but not started
 * ------------------------------------------- */

TEST(never_started_attached_child_keeps_parent_waiting)
{
	struct family f;
	weft_task *p, *c;

	family_init(&f, WEFT_TASK_ATTACHED_TO_PARENT);
	f.create_only = true;
	gate_open(&f.child_gate);
	p = start_parent(&f, 0);
	REQUIRE(p != NULL);
	REQUIRE(poll_until(&f.parent_done, 1));
	CHECK(poll_status(p, WEFT_STATUS_WAITING_FOR_CHILDREN));
	CHECK_EQ(weft_task_wait(p, 30, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	c = atomic_load(&f.child);
	REQUIRE(c != NULL);
	CHECK_EQ(weft_task_get_status(c), WEFT_STATUS_CREATED);
	/* starting it from outside finishes the family */
	CHECK_EQ(weft_task_start(c, NULL), 0);
	CHECK_EQ(weft_task_wait(p, 60000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(atomic_load(&f.child_gate.left), 1);
	family_cleanup(&f, p);
}

TEST(never_started_attached_child_canceled_releases_parent)
{
	struct family f;
	weft_cancel_source *src;
	weft_task *p;

	REQUIRE(weft_cancel_source_new(&src) == 0);
	family_init(&f, WEFT_TASK_ATTACHED_TO_PARENT);
	f.create_only = true;
	f.child_token = weft_cancel_source_token(src);
	p = start_parent(&f, 0);
	REQUIRE(p != NULL);
	REQUIRE(poll_until(&f.parent_done, 1));
	CHECK(poll_status(p, WEFT_STATUS_WAITING_FOR_CHILDREN));
	weft_cancel_source_cancel(src);
	CHECK_EQ(weft_task_wait(p, 60000, WEFT_TOKEN_NONE, NULL), 0);
	CHECK_EQ(weft_task_get_status(p), WEFT_STATUS_RAN_TO_COMPLETION);
	CHECK_EQ(weft_task_get_status(atomic_load(&f.child)),
		 WEFT_STATUS_CANCELED);
	CHECK_EQ(atomic_load(&f.child_gate.entered), 0);
	family_cleanup(&f, p);
	weft_cancel_source_unref(src);
}

/* ---- run_synchronously and promises
 * ---------------------------------------------- */

static void *open_after_entered(void *arg)
{
	struct gate *g = arg;
	if (poll_until(&g->entered, 1))
		sleep_ms(20);
	gate_open(g);
	return NULL;
}

TEST(run_synchronously_waits_for_attached_children)
{
	struct family f;
	weft_task *p;
	pthread_t opener;

	family_init(&f, WEFT_TASK_ATTACHED_TO_PARENT);
	REQUIRE(weft_task_create(&p, family_parent, &f, NULL) == 0);
	REQUIRE(pthread_create(&opener, NULL, open_after_entered,
			       &f.child_gate) == 0);
	CHECK_EQ(weft_task_run_synchronously(p, NULL), 0);
	/* returned only once the child finished */
	CHECK_EQ(atomic_load(&f.child_gate.left), 1);
	CHECK(weft_task_is_completed(p));
	CHECK(weft_task_is_completed(atomic_load(&f.child)));
	pthread_join(opener, NULL);
	family_cleanup(&f, p);
}

struct promise_kid {
	_Atomic(weft_promise *) p;
};

static weft_error *promise_parent(weft_task *self, void *arg)
{
	struct promise_kid *k = arg;
	weft_promise *p;
	(void)self;
	if (weft_promise_new(&p, NULL, WEFT_TASK_ATTACHED_TO_PARENT) != 0)
		return weft_error_new(-ENOMEM, "promise");
	atomic_store(&k->p, p);
	return NULL;
}

TEST(attached_promise_holds_parent_until_set)
{
	struct promise_kid k;
	weft_task *t;
	weft_error *e = weft_error_new(-EIO, "promise failed");
	weft_error *err = NULL;

	atomic_init(&k.p, NULL);
	REQUIRE(weft_task_start_new(&t, promise_parent, &k, NULL) == 0);
	CHECK(poll_status(t, WEFT_STATUS_WAITING_FOR_CHILDREN));
	REQUIRE(atomic_load(&k.p) != NULL);
	CHECK_EQ(weft_task_wait(t, 20, WEFT_TOKEN_NONE, NULL), -ETIMEDOUT);
	CHECK_EQ(weft_promise_set_error(atomic_load(&k.p), e), 0);
	CHECK_EQ(weft_task_wait(t, 60000, WEFT_TOKEN_NONE, &err),
		 WEFT_EFAULTED);
	REQUIRE(err != NULL);
	REQUIRE(weft_error_inner_count(err) == 1);
	CHECK_PTR_EQ(weft_error_inner(weft_error_inner(err, 0), 0), e);
	weft_error_unref(err);
	weft_promise_unref(atomic_load(&k.p));
	weft_task_unref(t);
	weft_error_unref(e);
}
