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

/* ---- when_all ------------------------------------------------------------ */

/*
 * when_all hooks one action on each input.  They come in blocks from a
 * slab class rather than in one array per call: a when_all over a million
 * tasks would otherwise map, fault in and unmap 48 MiB every time.  The
 * blocks are freed as soon as the last hook has fired.
 *
 * References: the hooks hold one reference on the promise between them,
 * dropped by whoever brings the countdown to zero (no hook touches the
 * promise after its countdown decrement, and the countdown reaches zero
 * only after every hook's).  The inputs are kept alive until they complete
 * (weft_task(3), Lifetime): a task its creator started on a pool (TS_ON_POOL)
 * is, by the pool, which runs all it was given before it shuts down; any other
 * input (a promise, a task not started yet or queued to a custom scheduler,
 * which may drop it) is held by its hook (h->ante, else NULL) until the
 * hook fires.  When it fires, an input that ran to completion is of no
 * further use; a faulted or canceled one is held (h->ante) for
 * when_all_complete, which reads its errors or token in array order, and
 * flags the promise (cold->won) so that a when_all whose inputs all
 * succeeded never walks its hooks again.
 */
#define HOOK_BLOCK_SIZE 2048

struct weft__hook_block {
	struct weft__hook_block *next;
	size_t n; /* hooks used in this block */
	struct weft__multi_hook h[];
};

#define HOOKS_PER_BLOCK                                                        \
	((HOOK_BLOCK_SIZE - sizeof(struct weft__hook_block)) /                 \
	 sizeof(struct weft__multi_hook))

static struct weft__slab hook_slab =
	WEFT__SLAB_INIT(HOOK_BLOCK_SIZE, WEFT__SLAB_HOOKS);

static void hook_blocks_free(struct weft__hook_block *b)
{
	while (b) {
		struct weft__hook_block *next = b->next;
		weft__slab_free(&hook_slab, b);
		b = next;
	}
}

/* Blocks for N hooks, linked in order, each with its count set; NULL on
 * ENOMEM. */
static struct weft__hook_block *hook_blocks_new(size_t n)
{
	struct weft__hook_block *head = NULL, **tail = &head;
	while (n) {
		struct weft__hook_block *b = weft__slab_alloc(&hook_slab);
		if (!b) {
			*tail = NULL;
			hook_blocks_free(head);
			return NULL;
		}
		b->n = n < HOOKS_PER_BLOCK ? n : HOOKS_PER_BLOCK;
		n -= b->n;
		*tail = b;
		tail = &b->next;
	}
	*tail = NULL;
	return head;
}

/* Some input faulted or was canceled: complete P from those (held by
 * their hooks, in array order). */
static void when_all_complete_failed(weft_task *p,
				     struct weft__hook_block *blocks)
{
	size_t nf = 0;
	weft_task *first_canceled = NULL;
	for (struct weft__hook_block *b = blocks; b; b = b->next)
		for (size_t i = 0; i < b->n; i++) {
			weft_task *in = b->h[i].ante;
			if (!in)
				continue; /* ran to completion */
			if (weft__task_state(in) & TS_FAULTED)
				nf++;
			else if (!first_canceled)
				first_canceled = in;
		}
	if (!nf) {
		weft__task_try_complete(p, TS_CANCELED, NULL, NULL, NULL, 0,
					weft_task_token(first_canceled));
		return;
	}
	weft_error **errs = malloc(nf * sizeof(*errs));
	if (!errs) {
		weft_error *oom = weft__error_oom();
		weft__task_try_complete(p, TS_FAULTED, NULL, NULL, &oom, 1,
					WEFT_TOKEN_NONE);
		return;
	}
	size_t k = 0;
	for (struct weft__hook_block *b = blocks; b; b = b->next)
		for (size_t i = 0; i < b->n; i++) {
			weft_task *in = b->h[i].ante;
			if (in && (weft__task_state(in) & TS_FAULTED))
				errs[k++] = weft__task_aggregate(in);
		}
	/* every inner error of every faulted input, in order */
	weft_error *flat = weft__error_aggregate_flat(errs, k);
	free(errs);
	size_t m = weft_error_inner_count(flat);
	weft_error **inner = malloc((m ? m : 1) * sizeof(*inner));
	if (inner) {
		for (size_t i = 0; i < m; i++)
			inner[i] = weft_error_inner(flat, i);
		weft__task_try_complete(p, TS_FAULTED, NULL, NULL, inner, m,
					WEFT_TOKEN_NONE);
		free(inner);
	} else {
		weft__task_try_complete(p, TS_FAULTED, NULL, NULL, &flat, 1,
					WEFT_TOKEN_NONE);
	}
	weft_error_unref(flat);
}

/* Every hook fired: complete P, then release the inputs still held and
 * the blocks. */
static void when_all_complete(weft_task *p, struct weft_task_cold *c)
{
	struct weft__hook_block *blocks = c->hook_blocks;
	c->hook_blocks = NULL;
	/* relaxed: the countdown's acq_rel ordered the hooks' stores */
	if (!atomic_load_explicit(&c->won, memory_order_relaxed)) {
		weft__task_try_complete(p, TS_RAN_TO_COMPLETION, NULL, NULL,
					NULL, 0, WEFT_TOKEN_NONE);
		hook_blocks_free(blocks);
		return;
	}
	when_all_complete_failed(p, blocks);
	for (struct weft__hook_block *b = blocks; b; b = b->next)
		for (size_t i = 0; i < b->n; i++)
			if (b->h[i].ante)
				weft__unref(b->h[i].ante);
	hook_blocks_free(blocks);
}

static void when_all_hook(struct weft__action *a, weft_task *done)
{
	struct weft__multi_hook *h = weft__hook_of(a);
	weft_task *p = h->owner;
	struct weft_task_cold *c =
		atomic_load_explicit(&p->cold, memory_order_acquire);
	/* DONE is our input; its completer holds a reference while we run */
	if ((weft__task_state(done) & TS_COMPLETED) != TS_RAN_TO_COMPLETION) {
		if (!h->ante)
			h->ante = weft_task_ref(done);
		/* relaxed: ordered by the countdown decrement below */
		atomic_store_explicit(&c->won, 1, memory_order_relaxed);
	} else if (h->ante) {
		h->ante = NULL;
		weft__unref(done);
	}
	/* acq_rel: the last input to finish sees the other hooks' writes
	 * (h->ante, won) and the inputs' final states; pairs with the
	 * release half of every other hook's decrement */
	if (atomic_fetch_sub_explicit(&c->countdown, 1, memory_order_acq_rel) ==
	    1) {
		when_all_complete(p, c);
		weft__unref(p); /* the hooks' reference */
	}
}

int weft_task_when_all(weft_task **out, weft_task *const *tasks, size_t n)
{
	if (!out)
		return -EINVAL;
	int bad = weft__check_tasks(tasks, n);
	if (bad)
		return bad;
	if (n == 0)
		return weft_task_from_result(out, NULL, NULL);
	weft_task *p = weft__promise_new_task(NULL, 0);
	struct weft_task_cold *c = p ? weft__task_cold(p) : NULL;
	struct weft__hook_block *blocks = c ? hook_blocks_new(n) : NULL;
	if (!blocks) {
		weft_task_unref(p);
		return -ENOMEM;
	}
	c->hook_blocks = blocks;
	atomic_store_explicit(&c->countdown, n, memory_order_relaxed);
	/* relaxed: nobody else knows P yet; one count for the caller, one
	 * for the hooks.  The first hook's registration (a release CAS)
	 * publishes this and everything above. */
	atomic_store_explicit(&p->refs, 2, memory_order_relaxed);
	/* One pass over the inputs, each hook set up just before it is
	 * registered.  Inputs that already ran to completion get no hook:
	 * they are counted here and taken off the countdown in one step at
	 * the end, so until then it cannot reach zero.  Without them, once
	 * the last hook is registered it may fire and free the blocks:
	 * nothing of them is read after that. */
	size_t done = 0;
	struct weft__hook_block *b = blocks;
	size_t j = 0;
	for (size_t i = 0; i < n; i++, j++) {
		if (j == b->n) {
			b = b->next;
			j = 0;
		}
		weft_task *in = tasks[i];
		struct weft__multi_hook *h = &b->h[j];
		uint32_t st = weft__task_state(in);
		if ((st & TS_COMPLETED) == TS_RAN_TO_COMPLETION) {
			h->ante = NULL; /* read by when_all_complete_failed */
			done++;
			continue;
		}
		h->act.fn = when_all_hook;
		h->act.kind = ACTION_PROXY;
		h->owner = p;
		/* TS_ON_POOL is set when the task is created */
		h->ante = (st & TS_ON_POOL) ? NULL : weft_task_ref(in);
		if (!weft__task_add_action(in, &h->act))
			weft__run_inline_action(&h->act, in);
	}
	/* acq_rel: as a hook's decrement (when_all_hook) */
	if (done && atomic_fetch_sub_explicit(&c->countdown, done,
					      memory_order_acq_rel) == done) {
		when_all_complete(p, c);
		weft__unref(p); /* the hooks' reference */
	}
	*out = p;
	return 0;
}

/* ---- when_any ------------------------------------------------------------ */

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
		weft__task_try_complete(
			p, TS_RAN_TO_COMPLETION, weft_task_ref(done),
			weft_task_unref_any, NULL, 0, WEFT_TOKEN_NONE);
	}
	weft_task_unref(p); /* the hook's reference */
}

int weft_task_when_any(weft_task **out, weft_task *const *tasks, size_t n)
{
	if (!out || n == 0)
		return -EINVAL;
	int bad = weft__check_tasks(tasks, n);
	if (bad)
		return bad;
	/* already complete: the first in argument order wins */
	for (size_t i = 0; i < n; i++)
		if (weft_task_is_completed(tasks[i]))
			return weft_task_from_result(out,
						     weft_task_ref(tasks[i]),
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
		weft_cancel_token tok =
			sc && sc->cancel_error ?
				weft_error_token(sc->cancel_error) :
				weft_task_token(src);
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
