/*
 * cont.c - what happens when a task completes: the continuation word,
 * the trampoline for synchronous actions, and continuation tasks
 * (continue_with, continue_when_all, continue_when_any).
 *
 * The continuation word moves only forward: empty -> list of actions ->
 * CONTS_COMPLETED.  Adding is a lock-free push.  Removing (a waiter that
 * timed out, a canceled continuation, a when_any loser) sets bit 0 as a
 * short lock so the list can be unlinked; adders and the completer wait
 * for that bit to clear.  Completion swaps in CONTS_COMPLETED and so takes
 * the whole list: user code never runs under a lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "error_internal.h"
#include "evloop.h"
#include "futex.h"
#include "task_internal.h"

static inline weft_task *task_of_act(struct weft__action *a)
{
	return (weft_task *)((char *)a - offsetof(weft_task, act));
}

/* T's continuation word once no remover holds its lock bit.  acquire:
 * pairs with the release that unlocks it or pushes an action. */
static inline uintptr_t conts_unlocked(weft_task *t)
{
	uintptr_t w;
	while ((w = atomic_load_explicit(&t->conts, memory_order_acquire)) &
	       CONTS_LOCKED)
		weft__cpu_relax();
	return w;
}

bool weft__task_add_action(weft_task *t, struct weft__action *a)
{
	for (;;) {
		uintptr_t old = conts_unlocked(t);
		if (old == CONTS_COMPLETED)
			return false;
		a->next = (struct weft__action *)old;
		/* release: pairs with the acq_rel exchange in close_actions,
		 * which then sees A's fields */
		if (atomic_compare_exchange_weak_explicit(
			    &t->conts, &old, (uintptr_t)a, memory_order_release,
			    memory_order_relaxed))
			return true;
	}
}

bool weft__task_remove_action(weft_task *t, struct weft__action *a)
{
	uintptr_t old;
	for (;;) {
		old = conts_unlocked(t);
		if (old == CONTS_COMPLETED)
			return false;
		/* acquire: pairs with the adders' release pushes, so the
		 * list we walk is complete */
		if (atomic_compare_exchange_weak_explicit(
			    &t->conts, &old, old | CONTS_LOCKED,
			    memory_order_acquire, memory_order_relaxed))
			break;
	}
	struct weft__action *head = (struct weft__action *)old;
	bool found = false;
	for (struct weft__action **pp = &head; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			found = true;
			break;
		}
	}
	/* release: pairs with the acquire loads of adders/completer waiting
	 * for the lock bit, publishing the unlinked list */
	atomic_store_explicit(&t->conts, (uintptr_t)head, memory_order_release);
	return found;
}

/* Swap CONTS_COMPLETED into T's continuation word; the list it held,
 * newest first. */
static struct weft__action *close_word(weft_task *t)
{
	uintptr_t old;
	do
		old = conts_unlocked(t);
	/* acq_rel: acquire pairs with the adders' release pushes; release
	 * publishes the final state to adders that fail */
	while (!atomic_compare_exchange_weak_explicit(
		&t->conts, &old, CONTS_COMPLETED, memory_order_acq_rel,
		memory_order_relaxed));
	return (struct weft__action *)old;
}

/* pushed newest first: reverse into registration order */
static struct weft__action *reverse(struct weft__action *in)
{
	struct weft__action *out = NULL;
	while (in) {
		struct weft__action *n = in->next;
		in->next = out;
		out = in;
		in = n;
	}
	return out;
}

struct weft__action *weft__task_close_actions(weft_task *t)
{
	return reverse(close_word(t));
}

void weft__actions_wake_waiters(struct weft__action **list, weft_task *t)
{
	struct weft__action **pp = list;
	while (*pp) {
		struct weft__action *a = *pp;
		if (a->kind == ACTION_WAITER) {
			*pp = a->next; /* read before: A may vanish */
			a->fn(a, t);
		} else {
			pp = &a->next;
		}
	}
}

struct deferred_action {
	struct weft__action *a;
	weft_task *done;
};

static weft_error *deferred_action_body(weft_task *self, void *arg)
{
	(void)self;
	struct deferred_action *d = arg;
	d->a->fn(d->a, d->done);
	weft_task_unref(d->done);
	free(d);
	return NULL;
}

/* Run proxy hook A for DONE on the default pool instead of here. */
static void defer_action(struct weft__action *a, weft_task *done)
{
	struct deferred_action *d = malloc(sizeof(*d));
	if (d) {
		d->a = a;
		d->done = weft_task_ref(done);
		if (weft_task_run(NULL, deferred_action_body, d) == 0)
			return;
		weft_task_unref(done);
		free(d);
	}
	/* no memory to defer: completing late on this thread beats never */
	weft__run_inline_action(a, done);
}

void weft__actions_run(struct weft__action *list, weft_task *t)
{
	/* A task that promised never to run continuations on its completing
	 * thread keeps that promise through proxies (when_all, when_any,
	 * unwrap): their hooks may complete a task with synchronous
	 * continuations of its own (spec A.9). */
	bool async_only =
		atomic_load_explicit(&t->state, memory_order_relaxed) &
		WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY;
	/* Continuations that will be queued go first, so they get the
	 * parallelism before synchronous ones occupy this thread. */
	struct weft__action **pp = &list;
	while (*pp) {
		struct weft__action *a = *pp;
		if (a->kind == ACTION_ASYNC) {
			*pp = a->next;
			a->fn(a, t);
		} else {
			pp = &a->next;
		}
	}
	while (list) {
		struct weft__action *a = list;
		list = a->next;
		if (async_only && a->kind == ACTION_PROXY)
			defer_action(a, t);
		else
			weft__run_inline_action(a, t);
	}
}

static inline void run_inline(struct weft__tls *tls, struct weft__action *a,
			      weft_task *done);

void weft__task_run_closed(struct weft__action *list, weft_task *t)
{
	if (!list->next) {
		/* One action, the common case (a waiter, a continuation, a
		 * combinator's hook): nothing to order against, so the
		 * passes of the general path reduce to its own kind's. */
		if (list->kind & (ACTION_WAITER | ACTION_ASYNC))
			list->fn(list, t);
		else if (list->kind == ACTION_PROXY &&
			 (atomic_load_explicit(&t->state,
					       memory_order_relaxed) &
			  WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY))
			defer_action(list, t);
		else
			run_inline(&weft__tls, list, t);
		return;
	}
	list = reverse(list);
	weft__actions_wake_waiters(&list, t);
	weft__actions_run(list, t);
}

void weft__task_run_actions(weft_task *t)
{
	struct weft__action *list = close_word(t);
	if (list)
		weft__task_run_closed(list, t);
}

void weft__run_inline_action(struct weft__action *a, weft_task *done)
{
	run_inline(&weft__tls, a, done);
}

static inline void run_inline(struct weft__tls *tls, struct weft__action *a,
			      weft_task *done)
{
	if (tls->tramp_active) {
		/* Inside another synchronous action on this thread: run this
		 * one after it returns, so a chain of a million synchronous
		 * continuations runs in a loop, not a million frames deep. */
		/* the completed task must outlive the wait in the queue: its
		 * completer may drop it as soon as we return */
		a->done = weft_task_ref(done);
		a->next = NULL;
		if (tls->tramp_tail)
			tls->tramp_tail->next = a;
		else
			tls->tramp_head = a;
		tls->tramp_tail = a;
		return;
	}
	tls->tramp_active = true;
	a->fn(a, done);
	while ((a = tls->tramp_head) != NULL) {
		tls->tramp_head = a->next;
		if (!tls->tramp_head)
			tls->tramp_tail = NULL;
		weft_task *d = a->done;
		a->fn(a, d); /* A may be gone after this */
		weft_task_unref(d);
	}
	tls->tramp_active = false;
}

/* ---- multi-task hooks ---------------------------------------------------- */

int weft__hook_all(weft_task *owner, weft_task *const *tasks, size_t n,
		   weft__action_fn fn, unsigned kind)
{
	struct weft_task_cold *c = weft__task_cold(owner);
	if (!c)
		return -ENOMEM;
	struct weft__multi_hook *h = calloc(n ? n : 1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	c->hooks = h;
	c->nhooks = n;
	for (size_t i = 0; i < n; i++) {
		h[i].act.fn = fn;
		h[i].act.kind = kind;
		h[i].owner = owner;
		h[i].ante = tasks[i];
	}
	/* release: pairs with the acquire in cont_token_canceled, which may
	 * run on a canceling thread while we hook */
	atomic_store_explicit(&c->hooks_ready, true, memory_order_release);
	for (size_t i = 0; i < n; i++) {
		/* a when_any already decided, or an owner already canceled,
		 * needs no more hooks */
		if (atomic_load_explicit(&c->won, memory_order_acquire) ||
		    (weft__task_state(owner) & TS_COMPLETED))
			break;
		weft_task_ref(owner); /* the hook's */
		if (!weft__task_add_action(tasks[i], &h[i].act)) {
			if (kind != ACTION_ASYNC)
				weft__run_inline_action(&h[i].act, tasks[i]);
			else
				fn(&h[i].act, tasks[i]);
		}
	}
	return 0;
}

void weft__unhook_rest(weft_task *owner)
{
	struct weft_task_cold *c =
		atomic_load_explicit(&owner->cold, memory_order_acquire);
	for (size_t i = 0; i < c->nhooks; i++)
		if (weft__task_remove_action(c->hooks[i].ante,
					     &c->hooks[i].act))
			weft_task_unref(owner); /* that hook's reference */
}

/* ---- continuation tasks -------------------------------------------------- */

#define CONT_CREATION                                                          \
	(WEFT_CONT_PREFER_FAIRNESS | WEFT_CONT_LONG_RUNNING |                  \
	 WEFT_CONT_ATTACHED_TO_PARENT | WEFT_CONT_DENY_CHILD_ATTACH |          \
	 WEFT_CONT_HIDE_SCHEDULER |                                            \
	 WEFT_CONT_RUN_CONTINUATIONS_ASYNCHRONOUSLY)
#define CONT_NOT_ON                                                            \
	(WEFT_CONT_NOT_ON_RAN_TO_COMPLETION | WEFT_CONT_NOT_ON_FAULTED |       \
	 WEFT_CONT_NOT_ON_CANCELED)
#define CONT_ALLOWED                                                           \
	(CONT_CREATION | WEFT_CONT_LAZY_CANCELLATION | CONT_NOT_ON |           \
	 WEFT_CONT_EXECUTE_SYNCHRONOUSLY)

static int check_cont_flags(unsigned f, bool multi)
{
	if (f & ~CONT_ALLOWED)
		return -EINVAL;
	if ((f & CONT_NOT_ON) == CONT_NOT_ON)
		return -EINVAL;
	if (multi && (f & CONT_NOT_ON))
		return -EINVAL;
	if ((f & WEFT_CONT_EXECUTE_SYNCHRONOUSLY) &&
	    (f & WEFT_CONT_LONG_RUNNING))
		return -EINVAL;
	return 0;
}

bool weft__continuation_activate(weft_task *t, weft_task *ante, bool single)
{
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	weft_cancel_token tok = c ? c->token : WEFT_TOKEN_NONE;
	uint32_t as = ante ? weft__task_state(ante) : 0;
	uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
	bool unmet = ((as & TS_RAN_TO_COMPLETION) && (st & TS_NOT_ON_RAN)) ||
		     ((as & TS_FAULTED) && (st & TS_NOT_ON_FAULTED)) ||
		     ((as & TS_CANCELED) && !(as & TS_FAULTED) &&
		      (st & TS_NOT_ON_CANCELED));
	if (unmet || weft_cancel_requested(tok)) {
		weft__task_cancel_now(t, tok);
		return false;
	}
	if (st & (TS_RESERVED | TS_COMPLETED | TS_STARTED))
		return false;
	if (!c) {
		/* no cold block: no token, no parent, one antecedent (us), so
		 * no other thread writes the state word (see execute) */
		st |= TS_STARTED;
		atomic_store_explicit(&t->state, st, memory_order_relaxed);
	} else {
		/* acq_rel: pairs with the token callback's cancel CAS */
		while (!atomic_compare_exchange_weak_explicit(
			&t->state, &st, st | TS_STARTED, memory_order_acq_rel,
			memory_order_relaxed))
			if (st & (TS_RESERVED | TS_COMPLETED | TS_STARTED))
				return false;
	}
	/* Synchronous continuations run here, unless the antecedent asked
	 * for asynchronous ones, the stack is deep, or this is the event
	 * thread (a blocking continuation there would stall every timer and
	 * fd wait of the process). */
	bool sync = (st & TS_EXEC_SYNC) &&
		    !(as & WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY) &&
		    weft__tls.inline_depth < WEFT_MAX_INLINE_DEPTH &&
		    !weft__evloop_is_event_thread();
	if (sync) {
		/* the antecedent is alive while its completer runs us: lend
		 * it to the body instead of counting a reference */
		if (single && !t->ante)
			t->ante = weft__ante_borrowed(ante);
		weft__task_execute(t);
		if (weft__ante_is_borrowed(t->ante)) /* the body never ran */
			t->ante = NULL;
		return false;
	}
	if (single && !t->ante)
		t->ante = weft_task_ref(ante);
	/* the caller's reference becomes the queue's */
	int rc = weft__sched_queue(weft__task_sched(t), t);
	if (rc) {
		weft_error *e = weft_error_new(rc, "the scheduler refused "
						   "the continuation");
		weft_error *se = weft__error_scheduler(e);
		weft_error_unref(e);
		weft__task_fault_now(t, se);
		weft_task_unref(t);
	}
	return true;
}

/* The single-antecedent hook: T's own action on its antecedent. */
static void cont_action(struct weft__action *a, weft_task *ante)
{
	weft_task *t = task_of_act(a);
	if (!weft__continuation_activate(t, ante, true))
		weft_task_unref(t); /* the action list's reference */
}

void weft__actions_drop(uintptr_t list)
{
	struct weft__action *a = (struct weft__action *)(list & ~CONTS_LOCKED);
	while (a) {
		struct weft__action *next = a->next;
		/* Waiters hold a reference on the task they wait for, so
		 * only continuations and hooks can be here; each holds a
		 * reference on its owner for the list.  when_all's hooks,
		 * which share one reference, never are: their inputs are
		 * held by the hook or by the pool they were started on until
		 * they complete (compose.c). */
		if (a->fn == cont_action)
			weft_task_unref(task_of_act(a));
		else
			weft_task_unref(weft__hook_of(a)->owner);
		a = next;
	}
}

static void all_hook(struct weft__action *a, weft_task *ante)
{
	weft_task *t = weft__hook_of(a)->owner;
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	/* acq_rel: the last antecedent to finish sees all the others */
	if (atomic_fetch_sub_explicit(&c->countdown, 1, memory_order_acq_rel) ==
	    1)
		/* the last antecedent decides where it runs (its
		 * RUN_CONTINUATIONS_ASYNCHRONOUSLY); multi-task continuations
		 * have no NOT_ON conditions to check against it */
		if (weft__continuation_activate(t, ante, false))
			return; /* the hook's reference went to the queue */
	weft_task_unref(t);	/* the hook's reference */
}

static void any_hook(struct weft__action *a, weft_task *ante)
{
	weft_task *t = weft__hook_of(a)->owner;
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	int expected = 0;
	/* acq_rel: exactly one antecedent wins */
	if (atomic_compare_exchange_strong_explicit(&c->won, &expected, 1,
						    memory_order_acq_rel,
						    memory_order_relaxed)) {
		c->winner = weft_task_ref(ante);
		/* unhook the losers first: once the body has run, the
		 * continuation drops its references on them */
		weft__unhook_rest(t);
		if (weft__continuation_activate(t, ante, false))
			return; /* the hook's reference went to the queue */
	}
	weft_task_unref(t); /* the hook's reference */
}

/* A canceled continuation token: complete the continuation at once.  The
 * registration holds the continuation weakly (see task.c). */
static void cont_token_canceled(void *arg)
{
	weft_task *t = arg;
	if (!weft__task_try_ref(t))
		return;
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	if (weft__task_cancel_now(t, c->token)) {
		/* acquire: pairs with the release store in weft__hook_all */
		if (atomic_load_explicit(&c->hooks_ready, memory_order_acquire))
			weft__unhook_rest(t);
		else if (t->ante && weft__task_remove_action(t->ante, &t->act))
			weft_task_unref(t); /* the action list's reference */
	}
	weft__unref(t);
}

weft_error *weft__continuation_invoke(weft_task *t)
{
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
	weft_error *err;
	if (st & TS_CONT_ALL)
		err = t->fn.cont_all(t, c->antecedents, c->nantecedents,
				     t->arg);
	else if (c && c->winner)
		err = t->fn.cont(t, c->winner, t->arg);
	else
		err = t->fn.cont(t, weft__ante_get(t->ante), t->arg);
	/* The antecedents are not needed any more: dropping them now keeps a
	 * long chain's memory constant. */
	if (!weft__ante_is_borrowed(t->ante))
		weft_task_unref(t->ante);
	t->ante = NULL;
	if (c) {
		for (size_t i = 0; i < c->nantecedents; i++)
			weft_task_unref(c->antecedents[i]);
		c->nantecedents = 0;
	}
	return err;
}

enum cont_kind {
	CONT_ONE,
	CONT_ALL,
	CONT_ANY
};

static int cont_new(weft_task **out, weft_task *const *antes, size_t n,
		    void *fn, void *arg, const weft_task_options *opts,
		    enum cont_kind kind)
{
	unsigned f = opts ? opts->flags : 0;
	int rc = 0;
	if (opts && opts->size < sizeof(weft_task_options))
		rc = -EINVAL;
	else if (!fn || !antes || n == 0)
		rc = -EINVAL;
	else
		rc = check_cont_flags(f, kind != CONT_ONE);
	if (!rc)
		rc = weft__check_tasks(antes, n);
	if (rc) {
		if (opts && opts->arg_free)
			opts->arg_free(arg);
		return rc;
	}
	uint32_t state = (f & CONT_CREATION) | TS_CONTINUATION |
			 TS_WAITING_FOR_ACTIVATION;
	if (f & WEFT_CONT_LAZY_CANCELLATION)
		state |= TS_LAZY_CANCEL;
	if (f & WEFT_CONT_EXECUTE_SYNCHRONOUSLY)
		state |= TS_EXEC_SYNC;
	if (kind == CONT_ALL)
		state |= TS_CONT_ALL;
	if (f & WEFT_CONT_NOT_ON_RAN_TO_COMPLETION)
		state |= TS_NOT_ON_RAN;
	if (f & WEFT_CONT_NOT_ON_FAULTED)
		state |= TS_NOT_ON_FAULTED;
	if (f & WEFT_CONT_NOT_ON_CANCELED)
		state |= TS_NOT_ON_CANCELED;
	weft_cancel_token tok = opts ? opts->token : WEFT_TOKEN_NONE;
	void (*arg_free)(void *) = opts ? opts->arg_free : NULL;
	/* A single-antecedent continuation keeps everything in the task;
	 * the cold block is for tokens, argument destructors and lists. */
	bool cold = kind != CONT_ONE || tok.source || arg_free;
	weft_task *t = weft__task_alloc(state, fn, arg);
	struct weft_task_cold *c = t && cold ? weft__task_cold(t) : NULL;
	weft_task **arr = NULL;
	if (c && n > 1 && !(arr = malloc(n * sizeof(*arr))))
		c = NULL;
	if (!t || (cold && !c)) {
		if (t) {
			t->arg = NULL;
			weft_task_unref(t);
		}
		if (arg_free)
			arg_free(arg);
		return -ENOMEM;
	}
	/* With a token, the cancel callback needs the antecedent to unhook
	 * from, so it is held from now on.  Without one it is taken when the
	 * antecedent completes (cont_action): a continuation does not keep
	 * a task alive that nothing else holds and that can no longer run,
	 * and when such a task is freed it releases us (weft__actions_drop). */
	if (kind == CONT_ONE && tok.source)
		t->ante = weft_task_ref(antes[0]);
	if (c) {
		c->arg_free = arg_free;
		if (kind != CONT_ONE) {
			c->antecedents = n == 1 ? &c->antecedent_inline : arr;
			for (size_t i = 0; i < n; i++)
				c->antecedents[i] = weft_task_ref(antes[i]);
			c->nantecedents = n;
		}
		if (tok.source)
			c->token.source = weft_cancel_source_ref(tok.source);
	}
	weft__task_set_sched(t, opts && opts->scheduler ?
					opts->scheduler :
					weft_scheduler_current());
	rc = weft__task_attach_to_current(t, f);
	if (rc) {
		weft_task_unref(t);
		return rc;
	}
	bool lazy = f & WEFT_CONT_LAZY_CANCELLATION;
	if (!lazy && weft_cancel_requested(tok)) {
		/* canceled before it could even wait: complete it now */
		weft__task_cancel_now(t, tok);
		*out = t;
		return 0;
	}
	/* Registered before the hooks: until a hook is in place nothing can
	 * complete the continuation on another thread, so the registration
	 * is written before anyone reads it.  A callback that runs before the
	 * hooks are published finds hooks_ready clear and leaves them be. */
	if (!lazy && tok.source)
		/* weak: see cont_token_canceled */
		weft_cancel_register(c->token, cont_token_canceled, t, &c->reg);
	unsigned akind = (f & WEFT_CONT_EXECUTE_SYNCHRONOUSLY) ? ACTION_INLINE :
								 ACTION_ASYNC;
	if (kind == CONT_ONE) {
		t->act.fn = cont_action;
		t->act.kind = akind;
		/* the action list's reference.  Without a cold block (no
		 * token, no parent) nobody else has seen T yet: a plain store
		 * spares an atomic RMW that would wait for T's fresh stores */
		if (!atomic_load_explicit(&t->cold, memory_order_relaxed))
			atomic_store_explicit(&t->refs, 2,
					      memory_order_relaxed);
		else
			weft_task_ref(t);
		if (!weft__task_add_action(antes[0], &t->act)) {
			if (akind == ACTION_INLINE)
				weft__run_inline_action(&t->act, antes[0]);
			else
				cont_action(&t->act, antes[0]);
		}
	} else {
		atomic_store_explicit(&c->countdown, n, memory_order_relaxed);
		rc = weft__hook_all(t, antes, n,
				    kind == CONT_ALL ? all_hook : any_hook,
				    akind);
		if (rc) {
			/* no hook was set: nothing will ever start it */
			weft__task_cancel_now(t, WEFT_TOKEN_NONE);
			weft_task_unref(t);
			return rc;
		}
	}
	*out = t;
	return 0;
}

int weft_task_continue_with(weft_task **out, weft_task *antecedent,
			    weft_continuation_fn fn, void *arg,
			    const weft_task_options *opts)
{
	weft_task *t;
	int rc = cont_new(&t, &antecedent, 1, (void *)fn, arg, opts, CONT_ONE);
	if (rc)
		return rc;
	if (out)
		*out = t;
	else
		weft_task_unref(t);
	return 0;
}

int weft_task_continue_when_all(weft_task **out, weft_task *const *tasks,
				size_t n, weft_continuation_all_fn fn,
				void *arg, const weft_task_options *opts)
{
	weft_task *t;
	int rc = cont_new(&t, tasks, n, (void *)fn, arg, opts, CONT_ALL);
	if (rc)
		return rc;
	if (out)
		*out = t;
	else
		weft_task_unref(t);
	return 0;
}

int weft_task_continue_when_any(weft_task **out, weft_task *const *tasks,
				size_t n, weft_continuation_fn fn, void *arg,
				const weft_task_options *opts)
{
	weft_task *t;
	int rc = cont_new(&t, tasks, n, (void *)fn, arg, opts, CONT_ANY);
	if (rc)
		return rc;
	if (out)
		*out = t;
	else
		weft_task_unref(t);
	return 0;
}
