/*
 * wait.c - waiting for tasks: wait, wait_all, wait_any.
 *
 * A wait goes through four phases, cheapest first: (1) already done;
 * (2) run the awaited task inline if it is still queued where this thread
 * can take it back; (3) on a pool worker, run other queued work while
 * waiting (helping), and elsewhere spin briefly; (4) block on a futex
 * after registering a waiter action at the task (a pool worker first asks
 * the pool to replace it while it blocks).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "error_internal.h"
#include "futex.h"
#include "pool.h"
#include "task_internal.h"

#define SPIN_LIMIT 40
#define WAKE_TASK 1u  /* set by the completing task */
#define WAKE_TOKEN 2u /* set by the wait's cancellation token */

struct waiter {
	struct weft__action act;
	_Atomic uint32_t *word; /* shared futex word (wait_any) */
	_Atomic uint32_t own;
	_Atomic size_t *first; /* wait_any: index of the first to finish */
	size_t index;
};

static void waiter_wake(struct weft__action *a, weft_task *done)
{
	(void)done;
	struct waiter *w = (struct waiter *)a;
	_Atomic uint32_t *word = w->word;
	bool shared = word != &w->own;
	if (w->first) {
		size_t none = SIZE_MAX;
		/* acq_rel: the first finisher records itself, once */
		atomic_compare_exchange_strong_explicit(
			w->first, &none, w->index, memory_order_acq_rel,
			memory_order_relaxed);
	}
	/* release: pairs with the waiter's acquire loads of the word.  Bit 0
	 * says "the completer is done with this waiter" for a private word;
	 * once it is set the waiter's frame may vanish, so nothing of W is
	 * touched after it (the futex call only uses the address). */
	atomic_fetch_or_explicit(word, WAKE_TASK, memory_order_release);
	weft__futex_wake(word, shared ? 1 << 30 : 1);
	if (shared)
		/* release: pairs with wait_any's acquire spin on OWN: the
		 * last touch of W */
		atomic_store_explicit(&w->own, WAKE_TASK, memory_order_release);
}

static void token_wake(void *arg)
{
	_Atomic uint32_t *word = arg;
	/* release: pairs with the waiter's acquire load of the word */
	atomic_fetch_or_explicit(word, WAKE_TOKEN, memory_order_release);
	weft__futex_wake(word, 1 << 30);
}

static bool is_done(void *arg)
{
	return weft__task_state(arg) & TS_COMPLETED;
}

struct help_ctx {
	weft_task *t;
	weft_cancel_token tok;
	const struct timespec *deadline;
	unsigned n;
};

static bool help_stop(void *arg)
{
	struct help_ctx *h = arg;
	if (is_done(h->t) || weft_cancel_requested(h->tok))
		return true;
	/* reading the clock costs more than checking a task: every 64 */
	return h->deadline && (++h->n & 63) == 0 &&
	       weft__deadline_passed(h->deadline);
}

/*
 * Phase 2 for the common case: T was queued by this very worker to its own
 * pool and is still at the bottom of its deque.  Fork-join code (a parent
 * waiting for the child it just spawned) lives on this path.
 */
static inline bool take_back_and_run(weft_task *t)
{
	struct weft__worker *w = weft__tls.worker;
	weft_scheduler *s = weft__task_sched(t);
	if (!w || !s || s->pool != w->pool ||
	    weft__tls.inline_depth >= WEFT_MAX_INLINE_DEPTH ||
	    !weft__deque_pop_if(&w->dq, t))
		return false;
	weft__task_execute(t);
	weft__unref(t); /* the queue's reference */
	return true;
}

/* Try phase 2: run T here if this thread can take it back. */
static void try_inline(weft_task *t)
{
	if (take_back_and_run(t))
		return;
	uint32_t st = weft__task_state(t);
	if (!(st & TS_STARTED) || (st & (TS_INVOKED | TS_RESERVED)) ||
	    !weft__task_sched(t) ||
	    weft__tls.inline_depth >= WEFT_MAX_INLINE_DEPTH)
		return;
	weft__sched_try_inline(weft__task_sched(t), t, true);
}

int weft__task_wait_done(weft_task *t, int64_t timeout_ms,
			 weft_cancel_token tok)
{
	if (is_done(t))
		return 0;
	if (tok.source && weft_cancel_requested(tok))
		return -ECANCELED;
	if (timeout_ms == 0)
		return -ETIMEDOUT;
	struct timespec deadline;
	const struct timespec *dl = NULL;
	if (timeout_ms > 0) {
		deadline = weft__deadline_after(timeout_ms);
		dl = &deadline;
	}
	if (timeout_ms < 0 && !tok.source) {
		try_inline(t);
		if (is_done(t))
			return 0;
	}
	struct weft__worker *w = weft__tls.worker;
	struct weft__pool *pool = w ? w->pool : NULL;
	if (pool && weft__tls.inline_depth < WEFT_MAX_INLINE_DEPTH) {
		struct help_ctx h = {t, tok, dl, 0};
		weft__tls.inline_depth++;
		weft__pool_help(pool, help_stop, &h);
		weft__tls.inline_depth--;
	}
	for (int i = 0; i < SPIN_LIMIT && !is_done(t); i++)
		weft__cpu_relax();
	if (is_done(t))
		return 0;

	struct waiter wt = {.act = {.fn = waiter_wake, .kind = ACTION_WAITER}};
	atomic_init(&wt.own, 0);
	wt.word = &wt.own;
	wt.first = NULL;
	weft_cancel_registration reg = {0};
	if (!weft__task_add_action(t, &wt.act))
		return 0;
	if (tok.source)
		weft_cancel_register(tok, token_wake, (void *)wt.word, &reg);
	if (pool)
		weft__pool_block_begin(pool);
	int rc = 0;
	/* acquire: pairs with the release stores in waiter_wake/token_wake */
	while (!atomic_load_explicit(wt.word, memory_order_acquire)) {
		if (weft_cancel_requested(tok)) {
			rc = -ECANCELED;
			break;
		}
		if (weft__futex_wait(wt.word, 0, dl) == -ETIMEDOUT &&
		    !atomic_load_explicit(wt.word, memory_order_acquire)) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	if (pool)
		weft__pool_block_end(pool);
	/* The word may have been set by the token: is the task done? */
	if (rc == 0 && !is_done(t))
		rc = weft_cancel_requested(tok) ? -ECANCELED : 0;
	if (tok.source)
		weft_cancel_registration_dispose(&reg);
	/* Unless the completer is done with our waiter (WAKE_TASK), take it
	 * back; if the completer already took the list, it will still write
	 * to the waiter, so stay until it has.  The task may look completed
	 * before its completer reaches the list: no shortcut on is_done. */
	if (!(atomic_load_explicit(wt.word, memory_order_acquire) &
	      WAKE_TASK) &&
	    !weft__task_remove_action(t, &wt.act)) {
		while (!(atomic_load_explicit(wt.word, memory_order_acquire) &
			 WAKE_TASK))
			weft__cpu_relax();
		if (rc == -ETIMEDOUT)
			rc = 0; /* it finished after all */
	}
	if (rc == 0 && !is_done(t))
		rc = -ECANCELED;
	return rc;
}

static weft_error *task_canceled_error(weft_task *t)
{
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	weft_cancel_token tok = WEFT_TOKEN_NONE;
	if (c && c->cancel_error)
		tok = weft_error_token(c->cancel_error);
	else if (c)
		tok = c->token;
	return weft__error_task_canceled(t, tok);
}

int weft__task_outcome(weft_task *t, weft_error **err)
{
	uint32_t st = weft__task_state(t);
	if (st & TS_FAULTED) {
		if (err)
			*err = weft_error_ref(weft__task_aggregate(t));
		else
			weft__task_aggregate(t); /* observed all the same */
		return WEFT_EFAULTED;
	}
	if (st & TS_CANCELED) {
		if (err) {
			weft_error *tc = task_canceled_error(t);
			*err = weft__error_aggregate_take(&tc, 1);
		}
		return -ECANCELED;
	}
	return 0;
}

/* A waiting parent that receives its attached child's error has observed
 * it: the child's error will not be added to the parent again. */
static void note_observed_by_parent(weft_task *t)
{
	weft_task *cur = weft__tls.current;
	struct weft_task_cold *c =
		atomic_load_explicit(&t->cold, memory_order_acquire);
	if (cur && c && c->parent == cur)
		atomic_fetch_or_explicit(&t->state, TS_OBSERVED_BY_PARENT,
					 memory_order_relaxed);
}

int weft_task_wait(weft_task *t, int64_t timeout_ms, weft_cancel_token token,
		   weft_error **err)
{
	if (err)
		*err = NULL;
	if (!t || timeout_ms < -1)
		return -EINVAL;
	if (weft__task_released(t))
		return -EBADF;
	uint32_t st = weft__task_state(t);
	if (st & TS_RAN_TO_COMPLETION)
		return 0;
	if (!(st & TS_COMPLETED) && timeout_ms < 0 && !token.source &&
	    take_back_and_run(t)) {
		st = weft__task_state(t);
		if (st & TS_RAN_TO_COMPLETION)
			return 0;
	}
	if (!(st & TS_COMPLETED)) {
		int rc = weft__task_wait_done(t, timeout_ms, token);
		if (rc == -ETIMEDOUT)
			return rc;
		if (rc == -ECANCELED) {
			if (err)
				*err = weft_error_canceled(token);
			return rc;
		}
	}
	st = weft__task_state(t);
	if ((st & TS_CANCELED) && !(st & TS_FAULTED) &&
	    weft_cancel_requested(token)) {
		if (err)
			*err = weft_error_canceled(token);
		return -ECANCELED;
	}
	if (st & TS_FAULTED)
		note_observed_by_parent(t);
	return weft__task_outcome(t, err);
}

int weft_task_get_result(weft_task *t, void **out, weft_error **err)
{
	if (out)
		*out = NULL;
	int rc = weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, err);
	if (rc == 0 && out)
		*out = t->result;
	return rc;
}

static int64_t remaining_ms(const struct timespec *dl)
{
	if (!dl)
		return WEFT_INFINITE;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ms = (int64_t)(dl->tv_sec - now.tv_sec) * 1000 +
		     (dl->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? ms : 0;
}

int weft_task_wait_all(weft_task *const *tasks, size_t n, int64_t timeout_ms,
		       weft_cancel_token token, weft_error **err)
{
	if (err)
		*err = NULL;
	if ((!tasks && n) || timeout_ms < -1)
		return -EINVAL;
	int bad = weft__check_tasks(tasks, n);
	if (bad)
		return bad;
	if (weft_cancel_requested(token)) {
		if (err)
			*err = weft_error_canceled(token);
		return -ECANCELED;
	}
	struct timespec deadline;
	const struct timespec *dl = NULL;
	if (timeout_ms > 0) {
		deadline = weft__deadline_after(timeout_ms);
		dl = &deadline;
	}
	/* Newest first: tasks pushed in array order sit on this worker's
	 * deque in reverse, so the last one is the one that can be popped. */
	if (timeout_ms < 0 && !token.source)
		for (size_t i = n; i-- > 0;)
			try_inline(tasks[i]);
	for (size_t i = 0; i < n; i++) {
		int rc = weft__task_wait_done(
			tasks[i], dl ? remaining_ms(dl) : timeout_ms, token);
		if (rc == -ETIMEDOUT)
			return rc;
		if (rc == -ECANCELED) {
			if (err)
				*err = weft_error_canceled(token);
			return rc;
		}
	}
	size_t nbad = 0;
	bool faulted = false;
	for (size_t i = 0; i < n; i++) {
		uint32_t st = weft__task_state(tasks[i]);
		if (st & TS_FAULTED) {
			faulted = true;
			note_observed_by_parent(tasks[i]);
		}
		if (st & (TS_FAULTED | TS_CANCELED))
			nbad++;
	}
	if (!nbad)
		return 0;
	if (!faulted && weft_cancel_requested(token)) {
		if (err)
			*err = weft_error_canceled(token);
		return -ECANCELED;
	}
	weft_error **errs = malloc(nbad * sizeof(*errs));
	if (!errs) {
		if (err)
			*err = weft__error_oom();
		return faulted ? WEFT_EFAULTED : -ECANCELED;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t st = weft__task_state(tasks[i]);
		if (st & TS_FAULTED)
			errs[k++] =
				weft_error_ref(weft__task_aggregate(tasks[i]));
		else if (st & TS_CANCELED)
			errs[k++] = task_canceled_error(tasks[i]);
	}
	if (err)
		*err = weft__error_aggregate_flat(errs, k);
	for (size_t i = 0; i < k; i++)
		weft_error_unref(errs[i]);
	free(errs);
	return faulted ? WEFT_EFAULTED : -ECANCELED;
}

int weft_task_wait_any(weft_task *const *tasks, size_t n, int64_t timeout_ms,
		       weft_cancel_token token, size_t *index)
{
	if (!tasks || !index || timeout_ms < -1)
		return -EINVAL;
	int bad = weft__check_tasks(tasks, n);
	if (bad)
		return bad;
	if (weft_cancel_requested(token))
		return -ECANCELED;
	for (size_t i = 0; i < n; i++)
		if (is_done(tasks[i])) {
			*index = i;
			return 0;
		}
	if (n == 0 || timeout_ms == 0)
		return -ETIMEDOUT;
	struct waiter local[8];
	struct waiter *ws = n <= 8 ? local : calloc(n, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	_Atomic uint32_t word;
	_Atomic size_t first;
	atomic_init(&word, 0);
	atomic_init(&first, SIZE_MAX);
	size_t added = 0;
	for (; added < n; added++) {
		ws[added].act = (struct weft__action){.fn = waiter_wake,
						      .kind = ACTION_WAITER};
		atomic_init(&ws[added].own, 0);
		ws[added].word = &word;
		ws[added].first = &first;
		ws[added].index = added;
		if (!weft__task_add_action(tasks[added], &ws[added].act)) {
			size_t none = SIZE_MAX;
			atomic_compare_exchange_strong(&first, &none, added);
			break;
		}
	}
	int rc = 0;
	if (added == n) {
		struct timespec deadline;
		const struct timespec *dl = NULL;
		if (timeout_ms > 0) {
			deadline = weft__deadline_after(timeout_ms);
			dl = &deadline;
		}
		weft_cancel_registration reg = {0};
		if (token.source)
			weft_cancel_register(token, token_wake, (void *)&word,
					     &reg);
		struct weft__worker *w = weft__tls.worker;
		if (w)
			weft__pool_block_begin(w->pool);
		while (!atomic_load_explicit(&word, memory_order_acquire)) {
			if (weft__futex_wait(&word, 0, dl) == -ETIMEDOUT &&
			    !atomic_load_explicit(&word,
						  memory_order_acquire)) {
				rc = -ETIMEDOUT;
				break;
			}
		}
		if (w)
			weft__pool_block_end(w->pool);
		if (token.source)
			weft_cancel_registration_dispose(&reg);
	}
	/* Take every waiter back; the ones already taken by a completer are
	 * touched by it once more, so wait until their wake-up is done. */
	for (size_t i = 0; i < added; i++) {
		if (!weft__task_remove_action(tasks[i], &ws[i].act)) {
			/* acquire: pairs with the last store of waiter_wake */
			while (!atomic_load_explicit(&ws[i].own,
						     memory_order_acquire))
				weft__cpu_relax();
		}
	}
	size_t f = atomic_load_explicit(&first, memory_order_acquire);
	if (ws != local)
		free(ws);
	if (f != SIZE_MAX) {
		*index = f;
		return 0;
	}
	if (rc == 0)
		rc = weft_cancel_requested(token) ? -ECANCELED : -ETIMEDOUT;
	return rc;
}
