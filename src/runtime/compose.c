/*
 * compose.c - when_all, when_any, pre-computed tasks, unwrap.
 *
 * Each combinator is a promise task completed by internal completion
 * actions hooked onto its inputs (spec C5): nothing is scheduled and no
 * continuation task is allocated.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "error_internal.h"
#include "task_internal.h"

/* -EINVAL for a NULL array or element, else -EBADF for a released
 * element (debug builds), else 0. */
static int check_tasks(weft_task *const *tasks, size_t n)
{
	if (!tasks && n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!tasks[i])
			return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (weft__task_released(tasks[i]))
			return -EBADF;
	return 0;
}

/* ---- when_all ------------------------------------------------------------ */

static void when_all_complete(weft_task *p)
{
	struct weft_task_cold *c =
		atomic_load_explicit(&p->cold, memory_order_acquire);
	size_t n = c->nantecedents;
	weft_task **in = c->antecedents;
	size_t nf = 0;
	weft_task *first_canceled = NULL;
	for (size_t i = 0; i < n; i++) {
		uint32_t st = weft__task_state(in[i]);
		if (st & TS_FAULTED)
			nf++;
		else if ((st & TS_CANCELED) && !first_canceled)
			first_canceled = in[i];
	}
	if (nf) {
		weft_error **errs = malloc(nf * sizeof(*errs));
		if (!errs) {
			weft_error *oom = weft__error_oom();
			weft__task_try_complete(p, TS_FAULTED, NULL, NULL, &oom,
						1, WEFT_TOKEN_NONE);
			return;
		}
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (weft__task_state(in[i]) & TS_FAULTED)
				errs[k++] = weft__task_aggregate(in[i]);
		/* every inner error of every faulted input, in order */
		weft_error *flat = weft__error_aggregate_flat(errs, k);
		free(errs);
		size_t m = weft_error_inner_count(flat);
		weft_error **inner = malloc((m ? m : 1) * sizeof(*inner));
		if (inner) {
			for (size_t i = 0; i < m; i++)
				inner[i] = weft_error_inner(flat, i);
			weft__task_try_complete(p, TS_FAULTED, NULL, NULL,
						inner, m, WEFT_TOKEN_NONE);
			free(inner);
		} else {
			weft__task_try_complete(p, TS_FAULTED, NULL, NULL,
						&flat, 1, WEFT_TOKEN_NONE);
		}
		weft_error_unref(flat);
	} else if (first_canceled) {
		weft__task_try_complete(p, TS_CANCELED, NULL, NULL, NULL, 0,
					weft_task_token(first_canceled));
	} else {
		weft__task_try_complete(p, TS_RAN_TO_COMPLETION, NULL, NULL,
					NULL, 0, WEFT_TOKEN_NONE);
	}
}

static void when_all_hook(struct weft__action *a, weft_task *done)
{
	(void)done;
	weft_task *p = weft__hook_of(a)->owner;
	struct weft_task_cold *c =
		atomic_load_explicit(&p->cold, memory_order_acquire);
	/* acq_rel: the last input to finish sees all the others' states */
	if (atomic_fetch_sub_explicit(&c->countdown, 1,
				      memory_order_acq_rel) == 1)
		when_all_complete(p);
	weft_task_unref(p); /* the hook's reference */
}

/* A promise over copies of TASKS (referenced), with the inputs in cold. */
static weft_task *combinator_new(weft_task *const *tasks, size_t n)
{
	weft_task *p = weft__promise_new_task(NULL, 0);
	struct weft_task_cold *c = p ? weft__task_cold(p) : NULL;
	weft_task **arr = c && n ? malloc(n * sizeof(*arr)) : NULL;
	if (!c || (n && !arr)) {
		free(arr);
		weft_task_unref(p);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		arr[i] = weft_task_ref(tasks[i]);
	c->antecedents = arr;
	c->nantecedents = n;
	return p;
}

int weft_task_when_all(weft_task **out, weft_task *const *tasks, size_t n)
{
	if (!out)
		return -EINVAL;
	int bad = check_tasks(tasks, n);
	if (bad)
		return bad;
	if (n == 0)
		return weft_task_from_result(out, NULL, NULL);
	weft_task *p = combinator_new(tasks, n);
	if (!p)
		return -ENOMEM;
	struct weft_task_cold *c =
		atomic_load_explicit(&p->cold, memory_order_acquire);
	atomic_store_explicit(&c->countdown, n, memory_order_relaxed);
	int rc = weft__hook_all(p, c->antecedents, n, when_all_hook,
				ACTION_PROXY);
	if (rc) {
		weft_task_unref(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* ---- when_any ------------------------------------------------------------ */

static void when_any_hook(struct weft__action *a, weft_task *done)
{
	weft_task *p = weft__hook_of(a)->owner;
	struct weft_task_cold *c =
		atomic_load_explicit(&p->cold, memory_order_acquire);
	int expected = 0;
	/* acq_rel: exactly one input wins */
	if (atomic_compare_exchange_strong_explicit(&c->won, &expected, 1,
						    memory_order_acq_rel,
						    memory_order_relaxed)) {
		weft__unhook_rest(p);
		weft__task_try_complete(p, TS_RAN_TO_COMPLETION,
					weft_task_ref(done),
					weft_task_unref_any,
					NULL, 0, WEFT_TOKEN_NONE);
	}
	weft_task_unref(p); /* the hook's reference */
}

int weft_task_when_any(weft_task **out, weft_task *const *tasks, size_t n)
{
	if (!out || n == 0)
		return -EINVAL;
	int bad = check_tasks(tasks, n);
	if (bad)
		return bad;
	/* already complete: the first in argument order wins */
	for (size_t i = 0; i < n; i++)
		if (weft_task_is_completed(tasks[i]))
			return weft_task_from_result(
				out, weft_task_ref(tasks[i]),
				weft_task_unref_any);
	weft_task *p = combinator_new(tasks, n);
	if (!p)
		return -ENOMEM;
	struct weft_task_cold *c =
		atomic_load_explicit(&p->cold, memory_order_acquire);
	int rc = weft__hook_all(p, c->antecedents, n, when_any_hook,
				ACTION_PROXY);
	if (rc) {
		weft_task_unref(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* ---- pre-computed tasks -------------------------------------------------- */

int weft_task_from_result(weft_task **out, void *value, void (*dtor)(void *))
{
	if (!out)
		return -EINVAL;
	weft_task *t = weft__task_alloc(TS_RAN_TO_COMPLETION, NULL, NULL);
	if (!t) {
		if (dtor)
			dtor(value);
		return -ENOMEM;
	}
	t->result = value;
	t->result_dtor = dtor;
	atomic_store_explicit(&t->conts, CONTS_COMPLETED, memory_order_relaxed);
	*out = t;
	return 0;
}

int weft_task_from_error(weft_task **out, weft_error *err)
{
	if (!out || !err)
		return -EINVAL;
	weft_task *t = weft__promise_new_task(NULL, 0);
	if (!t)
		return -ENOMEM;
	weft__task_try_complete(t, TS_FAULTED, NULL, NULL, &err, 1,
				WEFT_TOKEN_NONE);
	*out = t;
	return 0;
}

int weft_task_from_canceled(weft_task **out, weft_cancel_token token)
{
	if (!out || !weft_cancel_requested(token))
		return -EINVAL;
	weft_task *t = weft__promise_new_task(NULL, 0);
	if (!t)
		return -ENOMEM;
	weft__task_try_complete(t, TS_CANCELED, NULL, NULL, NULL, 0, token);
	*out = t;
	return 0;
}

static weft_task completed_task;
static pthread_once_t completed_once = PTHREAD_ONCE_INIT;

static void completed_init(void)
{
	weft_task *t = &completed_task;
	atomic_init(&t->state, TS_RAN_TO_COMPLETION | TS_IMMORTAL);
	/* immortal: a count no sequence of balanced ref/unref reaches 0 */
	atomic_init(&t->refs, 1u << 31);
	atomic_init(&t->conts, CONTS_COMPLETED);
}

weft_task *weft_task_completed(void)
{
	pthread_once(&completed_once, completed_init);
	return &completed_task;
}

/* ---- unwrap -------------------------------------------------------------- */

/*
 * The proxy mirrors the outer task, then the inner one.  Its hook on the
 * outer task is hook 0; when the outer ran to completion with an inner
 * task, the same hook is re-armed on the inner.
 */
static void mirror(weft_task *p, weft_task *src)
{
	uint32_t st = weft__task_state(src);
	struct weft_task_cold *sc =
		atomic_load_explicit(&src->cold, memory_order_acquire);
	if (st & TS_FAULTED) {
		weft_error *agg = weft__task_aggregate(src);
		size_t n = weft_error_inner_count(agg);
		weft_error *inner[64];
		weft_error **errs = n <= 64 ? inner : malloc(n * sizeof(*errs));
		if (!errs) {
			weft_error *oom = weft__error_oom();
			weft__task_try_complete(p, TS_FAULTED, NULL, NULL, &oom,
						1, WEFT_TOKEN_NONE);
			return;
		}
		for (size_t i = 0; i < n; i++)
			errs[i] = weft_error_inner(agg, i);
		weft__task_try_complete(p, TS_FAULTED, NULL, NULL, errs, n,
					WEFT_TOKEN_NONE);
		if (errs != inner)
			free(errs);
	} else if (st & TS_CANCELED) {
		weft_cancel_token tok = sc && sc->cancel_error
						? weft_error_token(sc->cancel_error)
						: weft_task_token(src);
		weft__task_try_complete(p, TS_CANCELED, NULL, NULL, NULL, 0,
					tok);
	} else {
		/* the proxy shares the inner's result: it keeps the inner
		 * alive (hook's antecedent reference) instead of copying */
		struct weft_task_cold *pc =
			atomic_load_explicit(&p->cold, memory_order_acquire);
		if (!pc->winner)
			pc->winner = weft_task_ref(src);
		weft__task_try_complete(p, TS_RAN_TO_COMPLETION, src->result,
					NULL, NULL, 0, WEFT_TOKEN_NONE);
	}
}

static void unwrap_inner_hook(struct weft__action *a, weft_task *inner)
{
	weft_task *p = weft__hook_of(a)->owner;
	mirror(p, inner);
	weft_task_unref(p); /* the hook's reference */
}

/* look_for_oce: Task.Run(func-returning-task) treats any cancellation
 * error of the outer function as cancellation (spec A.13). */
static void unwrap_outer_hook_common(struct weft__action *a, weft_task *outer,
				     bool look_for_oce)
{
	weft_task *p = weft__hook_of(a)->owner;
	uint32_t st = weft__task_state(outer);
	if ((st & TS_COMPLETED) == TS_RAN_TO_COMPLETION) {
		weft_task *inner = outer->result;
		if (!inner) {
			weft__task_try_complete(p, TS_CANCELED, NULL, NULL,
						NULL, 0, WEFT_TOKEN_NONE);
		} else {
			struct weft_task_cold *pc = atomic_load_explicit(
				&p->cold, memory_order_acquire);
			struct weft__multi_hook *h = &pc->hooks[0];
			h->act.fn = unwrap_inner_hook;
			h->ante = inner;
			pc->winner = weft_task_ref(inner);
			weft_task_ref(p); /* the re-armed hook's */
			if (!weft__task_add_action(inner, &h->act))
				weft__run_inline_action(&h->act, inner);
		}
	} else if (look_for_oce && (st & TS_FAULTED)) {
		weft_error *agg = weft__task_aggregate(outer);
		weft_error *first = weft_error_inner(agg, 0);
		if (first && weft_error_is_cancellation(first))
			weft__task_try_complete(p, TS_CANCELED, NULL, NULL,
						NULL, 0,
						weft_error_token(first));
		else
			mirror(p, outer);
	} else {
		mirror(p, outer);
	}
	weft_task_unref(p); /* the hook's reference */
}

static void unwrap_outer_hook(struct weft__action *a, weft_task *outer)
{
	unwrap_outer_hook_common(a, outer, false);
}

static void run_unwrap_outer_hook(struct weft__action *a, weft_task *outer)
{
	unwrap_outer_hook_common(a, outer, true);
}

static int proxy_new(weft_task **out, weft_task *outer, weft__action_fn fn)
{
	unsigned flags = weft__task_state(outer) & WEFT_TASK_ATTACHED_TO_PARENT;
	weft_task *p = weft__promise_new_task(NULL, flags);
	if (!p)
		return -ENOMEM;
	int rc = weft__hook_all(p, &outer, 1, fn, ACTION_PROXY);
	if (rc) {
		weft_task_unref(p);
		return rc;
	}
	*out = p;
	return 0;
}

int weft_task_unwrap(weft_task **out, weft_task *outer)
{
	if (!out || !outer)
		return -EINVAL;
	if (weft__task_released(outer))
		return -EBADF;
	if ((weft__task_state(outer) & TS_COMPLETED) == TS_RAN_TO_COMPLETION) {
		weft_task *inner = outer->result;
		if (inner) {
			*out = weft_task_ref(inner);
			return 0;
		}
		weft_task *t = weft__promise_new_task(NULL, 0);
		if (!t)
			return -ENOMEM;
		weft__task_try_complete(t, TS_CANCELED, NULL, NULL, NULL, 0,
					WEFT_TOKEN_NONE);
		*out = t;
		return 0;
	}
	return proxy_new(out, outer, unwrap_outer_hook);
}

int weft_task_run_unwrap(weft_task **out, weft_task_fn fn, void *arg,
			 weft_cancel_token token)
{
	if (!out || !fn)
		return -EINVAL;
	if (weft_cancel_requested(token))
		return weft_task_from_canceled(out, token);
	weft_task *outer;
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	o.flags = WEFT_TASK_DENY_CHILD_ATTACH;
	o.token = token;
	o.scheduler = weft_scheduler_default();
	int rc = weft_task_start_new(&outer, fn, arg, &o);
	if (rc)
		return rc;
	rc = proxy_new(out, outer, run_unwrap_outer_hook);
	weft_task_unref(outer);
	return rc;
}
