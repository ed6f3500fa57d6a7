/*
 * parallel.c - fork-join: parallel_invoke and the parallel loops.
 *
 * Everything here is built on one primitive, fork2: offer the second half
 * of the work to thieves as a stack-allocated job, run the first half, then
 * take the second back (the common case: nobody stole it) or wait for its
 * thief while helping.  No heap allocation per fork.  Callers outside the
 * pool first move into it, so that the caller's work is stealable too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "error_internal.h"
#include "futex.h"
#include "pool.h"
#include "task_internal.h"

/* ---- the fork-join primitive --------------------------------------------- */

struct fork_job {
	struct weft__job job;
	weft_action_fn fn;
	void *arg;
	weft_error *err;
	weft_task *current; /* the forking task: a thief runs as part of it */
};

static void fork_job_run(struct weft__job *j)
{
	struct fork_job *f = (struct fork_job *)j;
	/* A stolen half is still the forking task's work: it sees that task
	 * as current (its id, its scheduler), as the owner's half does. */
	struct weft__tls *tls = &weft__tls;
	weft_task *prev = tls->current;
	tls->current = f->current;
	f->err = f->fn(f->arg);
	tls->current = prev;
	/* release: pairs with the acquire in job_done(); after this store
	 * the owner's frame may go, so only the address is used below */
	atomic_store_explicit(&j->done, 1, memory_order_release);
	weft__futex_wake(&j->done, 1);
}

/* Run A and B, B offered to thieves.  Must be called on a pool worker. */
static inline void fork2(weft_action_fn a, void *arg_a, weft_action_fn b,
			 void *arg_b, weft_error **err_a, weft_error **err_b)
{
	struct fork_job f;
	f.job.run = fork_job_run;
	atomic_init(&f.job.done, 0);
	f.fn = b;
	f.arg = arg_b;
	f.err = NULL;
	f.current = weft__tls.current;
	if (!weft__pool_push_job(&f.job)) {
		*err_a = a(arg_a);
		*err_b = b(arg_b);
		return;
	}
	*err_a = a(arg_a);
	if (weft__pool_take_back_job(&f.job)) {
		*err_b = b(arg_b);
		return;
	}
	weft__pool_wait_job(&f.job);
	*err_b = f.err;
}

/* Join two optional errors into one (aggregating when both are set). */
static weft_error *join_errors(weft_error *x, weft_error *y)
{
	if (!x)
		return y;
	if (!y)
		return x;
	weft_error *both[2] = { x, y };
	weft_error *agg = weft__error_aggregate_flat(both, 2);
	weft_error_unref(x);
	weft_error_unref(y);
	return agg;
}

/* Turn the gathered error of an invoke/loop into the return convention. */
static int report(weft_error *e, weft_error **err)
{
	if (!e) {
		if (err)
			*err = NULL;
		return 0;
	}
	int rc = WEFT_EFAULTED;
	if (weft_error_get_kind(e) == WEFT_ERROR_CANCELED) {
		rc = -ECANCELED;
	} else if (weft_error_get_kind(e) != WEFT_ERROR_AGGREGATE) {
		weft_error *agg = weft__error_aggregate_take(&e, 1);
		e = agg;
	}
	if (err)
		*err = e;
	else
		weft_error_unref(e);
	return rc;
}

/* Run FN(ARG) inside a task on SCHED when this thread is not one of its
 * workers; returns what FN returned. */
struct hop {
	weft_action_fn fn;
	void *arg;
};

static weft_error *hop_body(weft_task *self, void *arg)
{
	(void)self;
	struct hop *h = arg;
	return h->fn(h->arg);
}

static weft_error *run_in_pool(weft_scheduler *s, weft_action_fn fn,
			       void *arg)
{
	struct weft__worker *w = weft__tls.worker;
	if (w && w->pool == s->pool)
		return fn(arg);
	struct hop h = { fn, arg };
	weft_task *t;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	o.scheduler = s;
	o.flags = WEFT_TASK_DENY_CHILD_ATTACH;
	if (weft_task_start_new(&t, hop_body, &h, &o))
		return weft_error_new(-ENOMEM, NULL);
	weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	weft_error *e = NULL;
	if (weft_task_is_faulted(t)) {
		weft_error *agg = weft_task_error(t);
		e = weft_error_ref(weft_error_inner(agg, 0));
		weft_error_unref(agg);
	}
	weft_task_unref(t);
	return e;
}

/* The pool to fork on: the options' scheduler, else the current one; a
 * custom scheduler has no deques, so its loops run on the default pool. */
static weft_scheduler *fork_pool(const weft_parallel_options *o)
{
	weft_scheduler *s = o && o->scheduler ? o->scheduler
					      : weft_scheduler_current();
	return s->pool ? s : weft_scheduler_default();
}

static int check_popts(const weft_parallel_options *o)
{
	if (!o)
		return 0;
	if (o->size < sizeof(weft_parallel_options) || o->max_degree == 0 ||
	    o->max_degree < -1)
		return -EINVAL;
	return 0;
}

/* ---- invoke -------------------------------------------------------------- */

struct invoke2_ctx {
	weft_action_fn a, b;
	void *arg_a, *arg_b;
};

static weft_error *invoke2_body(void *arg)
{
	struct invoke2_ctx *c = arg;
	weft_error *ea, *eb;
	fork2(c->a, c->arg_a, c->b, c->arg_b, &ea, &eb);
	return join_errors(ea, eb);
}

int weft_parallel_invoke2(weft_action_fn a, void *arg_a, weft_action_fn b,
			  void *arg_b, weft_error **err)
{
	if (err)
		*err = NULL;
	if (!a || !b)
		return -EINVAL;
	struct weft__worker *w = weft__tls.worker;
	weft_error *e;
	if (w) {
		weft_error *ea, *eb;
		fork2(a, arg_a, b, arg_b, &ea, &eb);
		if (!ea && !eb)
			return 0;
		e = join_errors(ea, eb);
	} else {
		struct invoke2_ctx c = { a, b, arg_a, arg_b };
		e = run_in_pool(weft_scheduler_current(), invoke2_body, &c);
	}
	return report(e, err);
}

struct invoke_ctx {
	const weft_action *actions;
	weft_cancel_token token;
	_Atomic int budget; /* forks still allowed by max_degree */
	size_t lo, hi;
};

static weft_error *invoke_range(void *arg);

struct invoke_half {
	struct invoke_ctx *shared;
	size_t lo, hi;
};

static weft_error *invoke_half_run(void *arg)
{
	struct invoke_half *h = arg;
	struct invoke_ctx *c = h->shared;
	if (h->hi - h->lo == 1) {
		if (weft_cancel_requested(c->token))
			return NULL; /* skipped: reported once at the end */
		const weft_action *act = &c->actions[h->lo];
		return act->fn(act->arg);
	}
	size_t mid = h->lo + (h->hi - h->lo) / 2;
	struct invoke_half x = { c, h->lo, mid }, y = { c, mid, h->hi };
	/* relaxed: the budget only bounds parallelism, it orders nothing */
	if (atomic_fetch_sub_explicit(&c->budget, 1, memory_order_relaxed) <=
	    0) {
		atomic_fetch_add_explicit(&c->budget, 1, memory_order_relaxed);
		return join_errors(invoke_half_run(&x), invoke_half_run(&y));
	}
	weft_error *ex, *ey;
	fork2(invoke_half_run, &x, invoke_half_run, &y, &ex, &ey);
	atomic_fetch_add_explicit(&c->budget, 1, memory_order_relaxed);
	return join_errors(ex, ey);
}

static weft_error *invoke_range(void *arg)
{
	struct invoke_ctx *c = arg;
	struct invoke_half h = { c, c->lo, c->hi };
	return invoke_half_run(&h);
}

int weft_parallel_invoke(const weft_action *actions, size_t n,
			 const weft_parallel_options *opts, weft_error **err)
{
	if (err)
		*err = NULL;
	if ((!actions && n) || check_popts(opts))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!actions[i].fn)
			return -EINVAL;
	weft_cancel_token tok = opts ? opts->token : WEFT_TOKEN_NONE;
	if (weft_cancel_requested(tok))
		return report(weft_error_canceled(tok), err);
	if (n == 0)
		return 0;
	struct invoke_ctx c;
	c.actions = actions;
	c.token = tok;
	int degree = opts ? opts->max_degree : -1;
	atomic_init(&c.budget, degree < 0 ? INT_MAX : degree - 1);
	c.lo = 0;
	c.hi = n;
	weft_error *e = degree == 1 ? NULL
				    : run_in_pool(fork_pool(opts), invoke_range,
						  &c);
	if (degree == 1)
		for (size_t i = 0; i < n && !weft_cancel_requested(tok); i++)
			e = join_errors(e, actions[i].fn(actions[i].arg));
	if (weft_cancel_requested(tok))
		e = join_errors(e, weft_error_canceled(tok));
	return report(e, err);
}

/* ---- loops --------------------------------------------------------------- */

struct loop_shared {
	int64_t grain;
	weft_cancel_token token;
	_Atomic int budget;
	_Atomic bool stopped;
	_Atomic bool failed; /* a body error: leave early */
	_Atomic int64_t lowest_break; /* INT64_MAX: none */
	/* the three body forms */
	weft_range_fn range_body;
	weft_for_fn index_body;
	weft_local_init_fn init;
	weft_local_body_fn local_body;
	weft_local_finally_fn fin;
	void *arg;
	pthread_mutex_t lock; /* guards errs */
	weft_error *errs;
};

struct weft_loop_state {
	struct loop_shared *s;
	int64_t index;
	weft_error *local_err;
};

static void loop_fail(struct loop_shared *s, weft_error *e)
{
	pthread_mutex_lock(&s->lock);
	s->errs = join_errors(s->errs, e);
	pthread_mutex_unlock(&s->lock);
	/* relaxed: a hint for the others to leave early */
	atomic_store_explicit(&s->failed, true, memory_order_relaxed);
}

int weft_loop_break(weft_loop_state *st)
{
	if (!st)
		return -EINVAL;
	struct loop_shared *s = st->s;
	if (atomic_load_explicit(&s->stopped, memory_order_relaxed)) {
		loop_fail(s, weft_error_new(-EPERM, "Break after Stop"));
		return -EPERM;
	}
	int64_t cur = atomic_load_explicit(&s->lowest_break,
					   memory_order_relaxed);
	/* relaxed CAS loop: keeps the minimum; readers only compare */
	while (st->index < cur &&
	       !atomic_compare_exchange_weak_explicit(
		       &s->lowest_break, &cur, st->index, memory_order_relaxed,
		       memory_order_relaxed))
		;
	return 0;
}

int weft_loop_stop(weft_loop_state *st)
{
	if (!st)
		return -EINVAL;
	struct loop_shared *s = st->s;
	if (atomic_load_explicit(&s->lowest_break, memory_order_relaxed) !=
	    INT64_MAX) {
		loop_fail(s, weft_error_new(-EPERM, "Stop after Break"));
		return -EPERM;
	}
	atomic_store_explicit(&s->stopped, true, memory_order_relaxed);
	return 0;
}

bool weft_loop_should_exit(const weft_loop_state *st)
{
	struct loop_shared *s = st->s;
	return atomic_load_explicit(&s->stopped, memory_order_relaxed) ||
	       atomic_load_explicit(&s->failed, memory_order_relaxed) ||
	       weft_cancel_requested(s->token) ||
	       st->index > atomic_load_explicit(&s->lowest_break,
						memory_order_relaxed);
}

int64_t weft_loop_index(const weft_loop_state *st)
{
	return st ? st->index : -1;
}

void weft_loop_fail(weft_loop_state *st, weft_error *err)
{
	if (st && err)
		loop_fail(st->s, err);
}

/* Run one leaf chunk [lo, hi). */
static void loop_leaf(struct loop_shared *s, int64_t lo, int64_t hi)
{
	if (s->range_body) {
		if (atomic_load_explicit(&s->failed, memory_order_relaxed) ||
		    weft_cancel_requested(s->token))
			return;
		weft_error *e = s->range_body(lo, hi, s->arg);
		if (e)
			loop_fail(s, e);
		return;
	}
	struct weft_loop_state st = { s, lo, NULL };
	void *local = s->init ? s->init(s->arg) : NULL;
	for (int64_t i = lo; i < hi; i++) {
		st.index = i;
		if (atomic_load_explicit(&s->stopped, memory_order_relaxed) ||
		    atomic_load_explicit(&s->failed, memory_order_relaxed) ||
		    i > atomic_load_explicit(&s->lowest_break,
					     memory_order_relaxed) ||
		    weft_cancel_requested(s->token))
			break;
		if (s->local_body) {
			local = s->local_body(i, &st, local, s->arg);
		} else {
			weft_error *e = s->index_body(i, &st, s->arg);
			if (e)
				loop_fail(s, e);
		}
	}
	if (s->fin)
		s->fin(local, s->arg);
}

struct loop_part {
	struct loop_shared *s;
	int64_t lo, hi;
};

static weft_error *loop_split(void *arg)
{
	struct loop_part *p = arg;
	struct loop_shared *s = p->s;
	/* split in halves until a chunk is small enough: thieves take the
	 * big halves, which keeps the number of steals logarithmic */
	/* widths in unsigned arithmetic: [INT64_MIN, INT64_MAX) is wider
	 * than any int64_t */
	uint64_t width = (uint64_t)p->hi - (uint64_t)p->lo;
	/* reserve a fork from the budget first, so two threads cannot both
	 * take the last one; give it back when there was none */
	if (width > (uint64_t)s->grain &&
	    atomic_fetch_sub_explicit(&s->budget, 1, memory_order_relaxed) <=
		    0)
		atomic_fetch_add_explicit(&s->budget, 1, memory_order_relaxed);
	else if (width > (uint64_t)s->grain) {
		int64_t mid = (int64_t)((uint64_t)p->lo + width / 2);
		struct loop_part right = { s, mid, p->hi };
		struct loop_part left = { s, p->lo, mid };
		weft_error *el, *er;
		fork2(loop_split, &left, loop_split, &right, &el, &er);
		atomic_fetch_add_explicit(&s->budget, 1, memory_order_relaxed);
		(void)el;
		(void)er;
		return NULL;
	}
	loop_leaf(s, p->lo, p->hi);
	return NULL;
}

static int run_loop(struct loop_shared *s, int64_t from, int64_t to,
		    const weft_parallel_options *opts,
		    weft_loop_result *result, weft_error **err)
{
	if (result) {
		result->completed = true;
		result->has_lowest_break = false;
		result->lowest_break = 0;
	}
	if (err)
		*err = NULL;
	s->token = opts ? opts->token : WEFT_TOKEN_NONE;
	if (weft_cancel_requested(s->token)) {
		if (result)
			result->completed = false;
		return report(weft_error_canceled(s->token), err);
	}
	if (from >= to)
		return 0;
	weft_scheduler *sched = fork_pool(opts);
	unsigned workers = weft_pool_size(sched);
	uint64_t n = (uint64_t)to - (uint64_t)from;
	if (s->grain <= 0) {
		/* about eight chunks per worker: enough to balance load,
		 * few enough that the per-chunk cost disappears */
		uint64_t g = n / (8u * (workers ? workers : 1));
		s->grain = g ? (int64_t)g : 1;
	}
	int degree = opts ? opts->max_degree : -1;
	atomic_init(&s->budget, degree < 0 ? INT_MAX : degree - 1);
	atomic_init(&s->stopped, false);
	atomic_init(&s->failed, false);
	atomic_init(&s->lowest_break, INT64_MAX);
	pthread_mutex_init(&s->lock, NULL);
	s->errs = NULL;
	struct loop_part root = { s, from, to };
	weft_error *e = run_in_pool(sched, loop_split, &root);
	e = join_errors(e, s->errs);
	pthread_mutex_destroy(&s->lock);
	int64_t lb = atomic_load_explicit(&s->lowest_break,
					  memory_order_relaxed);
	bool stopped = atomic_load_explicit(&s->stopped, memory_order_relaxed);
	if (result) {
		result->completed = !stopped && lb == INT64_MAX && !e;
		result->has_lowest_break = lb != INT64_MAX;
		result->lowest_break = lb != INT64_MAX ? lb : 0;
	}
	if (!e && weft_cancel_requested(s->token)) {
		if (result)
			result->completed = false;
		e = weft_error_canceled(s->token);
	}
	return report(e, err);
}

int weft_parallel_for_range(int64_t from, int64_t to, int64_t grain,
			    weft_range_fn body, void *arg,
			    const weft_parallel_options *opts,
			    weft_error **err)
{
	if (err)
		*err = NULL;
	if (!body || grain < 0 || check_popts(opts))
		return -EINVAL;
	struct loop_shared s = { 0 };
	s.grain = grain;
	s.range_body = body;
	s.arg = arg;
	return run_loop(&s, from, to, opts, NULL, err);
}

int weft_parallel_for(int64_t from, int64_t to, weft_for_fn body, void *arg,
		      const weft_parallel_options *opts,
		      weft_loop_result *result, weft_error **err)
{
	if (err)
		*err = NULL;
	if (!body || check_popts(opts))
		return -EINVAL;
	struct loop_shared s = { 0 };
	s.index_body = body;
	s.arg = arg;
	return run_loop(&s, from, to, opts, result, err);
}

int weft_parallel_for_local(int64_t from, int64_t to, weft_local_init_fn init,
			    weft_local_body_fn body, weft_local_finally_fn fin,
			    void *arg, const weft_parallel_options *opts,
			    weft_loop_result *result, weft_error **err)
{
	if (err)
		*err = NULL;
	if (!init || !body || !fin || check_popts(opts))
		return -EINVAL;
	struct loop_shared s = { 0 };
	s.init = init;
	s.local_body = body;
	s.fin = fin;
	s.arg = arg;
	return run_loop(&s, from, to, opts, result, err);
}
