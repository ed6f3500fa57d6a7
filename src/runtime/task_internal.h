/*
 * task_internal.h - the task object and the runtime's internal interfaces.
 *
 * A task is one 32-bit state word (options + state bits, updated with
 * atomic RMW), one continuation word, the body, and a lazily allocated cold
 * block for everything rare (token, parent, children countdown, errors).
 * A plain weft_task_run() task never allocates the cold block.
 */
#ifndef WEFT_TASK_INTERNAL_H
#define WEFT_TASK_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "slab.h"
#include "weft.h"

/* ---- the state word ---------------------------------------------------- */

/* options: public creation bits (0xff) and internal kind bits */
#define TS_PUBLIC_OPTIONS 0x000000ffu
#define TS_CONTINUATION 0x00000200u /* started by its antecedent(s) */
#define TS_PROMISE 0x00000400u	    /* completed by set calls, never runs */
#define TS_LAZY_CANCEL 0x00001000u
#define TS_EXEC_SYNC 0x00002000u /* continuation: run on completer */
#define TS_CONT_ALL 0x00004000u	 /* continuation over several antecedents */
#define TS_IMMORTAL 0x00000800u
/* started on a pool by its creator, before anyone else could see it: the
 * pool holds it until it completes */
#define TS_ON_POOL 0x00000100u
/* state bits */
#define TS_STARTED 0x00010000u
#define TS_INVOKED 0x00020000u
#define TS_OBSERVED 0x00040000u /* errors were read */
#define TS_OBSERVED_BY_PARENT 0x00080000u
#define TS_CANCEL_ACK 0x00100000u
#define TS_FAULTED 0x00200000u
#define TS_CANCELED 0x00400000u
#define TS_WAITING_ON_CHILDREN 0x00800000u
#define TS_RAN_TO_COMPLETION 0x01000000u
#define TS_WAITING_FOR_ACTIVATION 0x02000000u
#define TS_RESERVED 0x04000000u		/* the final state is being written */
#define TS_CANCEL_REQUESTED 0x08000000u /* internal cancel before start */
/* a single-antecedent continuation's conditions (WEFT_CONT_NOT_ON_*) */
#define TS_NOT_ON_RAN 0x10000000u
#define TS_NOT_ON_FAULTED 0x20000000u
#define TS_NOT_ON_CANCELED 0x40000000u

/* The state word of a released task in debug builds: no live state has
 * all three final bits at once. */
#define WEFT__TASK_POISON 0xdeadbeefu

#define TS_COMPLETED (TS_FAULTED | TS_CANCELED | TS_RAN_TO_COMPLETION)

/* ---- completion actions ------------------------------------------------ */

/*
 * A completion action runs when a task completes: waiters, continuation
 * tasks, when_all/when_any/unwrap promises.  It lives inside its owner (a
 * continuation task embeds one) so registering allocates nothing.
 */
struct weft__action;
typedef void (*weft__action_fn)(struct weft__action *a, weft_task *done);

enum {
	ACTION_WAITER = 1, /* wake a thread: run before everything else */
	ACTION_INLINE = 2, /* cheap internal action: run on the completer */
	ACTION_ASYNC = 4,  /* a continuation to queue, not run inline */
	/* a combinator's hook (when_all, when_any, unwrap): inline, unless the
	 * completed task runs continuations asynchronously */
	ACTION_PROXY = 8,
};

struct weft__action {
	weft__action_fn fn;
	struct weft__action *next; /* action list; queue link when queued */
	weft_task *done;	   /* the completed task, while deferred */
	unsigned kind;
};

/* ---- the task ---------------------------------------------------------- */

struct weft__context;
struct weft__hook_block;

struct weft_task_cold {
	weft_cancel_token token;      /* a reference on token.source is held */
	weft_cancel_registration reg; /* weft_task_create's registration */
	weft_task *parent;	      /* attached parent (referenced) */
	/* 1 for the body + 1 per attached child not yet completed; the one
	 * who brings it to 0 finishes the task */
	_Atomic int32_t pending;
	void (*arg_free)(void *);
	pthread_mutex_t lock;	  /* guards the fields below */
	weft_error **errors;	  /* faults, in the order they happened */
	weft_error *error_inline; /* storage for the first one */
	size_t nerrors, cap;
	weft_error *cancel_error; /* the acknowledged cancellation, if any */
	weft_error *aggregate;	  /* built once, on first read */
	/* faulted attached children, referenced; their errors join ours at
	 * the end unless our body observed them */
	weft_task **faulted_children;
	size_t nfaulted, faulted_cap;
	/* continuations over several antecedents: one hook each */
	struct weft__multi_hook *hooks;
	size_t nhooks;
	/* when_all: its hooks, in slab blocks until it completes */
	struct weft__hook_block *hook_blocks;
	_Atomic bool hooks_ready; /* hooks and nhooks are published */
	weft_task *winner;	  /* when_any: the first to complete (ref) */
	_Atomic size_t countdown; /* when_all: antecedents still running */
	/* when_any: set once; when_all: set by the hook of an input that
	 * did not run to completion */
	_Atomic int won;
	/* continuations: the antecedents they hold (referenced) */
	weft_task **antecedents;
	size_t nantecedents;
	weft_task *antecedent_inline; /* storage for the single case */
};

struct weft_task {
	_Atomic uint32_t state;
	_Atomic uint32_t refs;
	/* 0 (none), an action list head (bit 0: list locked for removal),
	 * or CONTS_COMPLETED once the task completed */
	_Atomic uintptr_t conts;
	union {
		weft_task_fn task;
		weft_continuation_fn cont;
		weft_continuation_all_fn cont_all;
		void *any;
	} fn;
	void *arg;
	void *result;
	void (*result_dtor)(void *);
	/* set when started; not referenced: a scheduler must outlive the
	 * tasks queued to it (a shared count would be contended by every
	 * worker on every task) */
	_Atomic(weft_scheduler *) sched;
	_Atomic(struct weft_task_cold *) cold;
	_Atomic uint64_t id;
	/* a single-antecedent continuation's antecedent (referenced) until
	 * its body ran or it was canceled */
	weft_task *ante;
	struct weft__context *ctx; /* captured ambient context */
	struct weft__action act;   /* our own hook / queue link */
};

#define CONTS_LOCKED ((uintptr_t)1)
#define CONTS_COMPLETED ((uintptr_t)2)

/* ---- thread-local state ------------------------------------------------ */

struct weft__worker;
struct weft__tls {
	weft_task *current;	     /* the task whose body runs here */
	struct weft__worker *worker; /* non-NULL on a pool worker */
	unsigned inline_depth;	     /* nested inline executions */
	/* the trampoline that runs synchronous completion actions one after
	 * another instead of one inside another (cont.c) */
	bool tramp_active;
	struct weft__action *tramp_head, *tramp_tail;
};
/* initial-exec: the hot paths read this on every spawn and join; the
 * general-dynamic model of a shared library would add a call each time */
extern _Thread_local struct weft__tls weft__tls
	__attribute__((tls_model("initial-exec")));

/* Inline executions nest at most this deep; beyond it work is queued. */
#define WEFT_MAX_INLINE_DEPTH 256

/* ---- task internals (task.c) ------------------------------------------- */

/* The cold block, allocated on first need.  NULL on ENOMEM. */
struct weft_task_cold *weft__task_cold(weft_task *t);
/* Allocate and initialise a task (+1).  NULL on ENOMEM. */
weft_task *weft__task_alloc(unsigned state, void *fn, void *arg);
/*
 * Run T's body (or complete it Canceled if cancellation was requested)
 * on this thread.  The caller holds a reference for the duration.
 * Returns false when T was already executed or completed.
 */
bool weft__task_execute(weft_task *t);
/* Record an error and complete a task that has not run (scheduler failure). */
void weft__task_fault_now(weft_task *t, weft_error *err);
/*
 * Complete a not-yet-completed task Canceled (token may be none).  Returns
 * false when it already completed or its body already started.
 */
bool weft__task_cancel_now(weft_task *t, weft_cancel_token tok);
/*
 * Promise completion: first caller wins.  STATE is one of TS_RAN_TO_COMPLETION
 * (RESULT/DTOR), TS_FAULTED (ERRS, N: references are taken), TS_CANCELED
 * (TOK).  Returns true when this call completed T.
 */
bool weft__task_try_complete(weft_task *t, uint32_t state, void *result,
			     void (*dtor)(void *), weft_error *const *errs,
			     size_t n, weft_cancel_token tok);
/* Queue T (already marked started) to its scheduler; on failure fault it. */
int weft__task_queue(weft_task *t);
/*
 * A continuation task's antecedent completed: activate it (cont.c).
 * SINGLE: CONT is a single-antecedent continuation, which receives
 * ANTECEDENT.  The caller holds a reference on CONT; returns true when it
 * was handed on (to the queue), false when the caller still drops it.
 */
bool weft__continuation_activate(weft_task *cont, weft_task *antecedent,
				 bool single);
/* weft_task.ante: bit 0 set while a synchronous continuation's body borrows
 * its antecedent from the completer instead of holding a reference. */
static inline weft_task *weft__ante_borrowed(weft_task *a)
{
	return (weft_task *)((uintptr_t)a | 1);
}
static inline bool weft__ante_is_borrowed(const weft_task *a)
{
	return (uintptr_t)a & 1;
}
static inline weft_task *weft__ante_get(weft_task *a)
{
	return (weft_task *)((uintptr_t)a & ~(uintptr_t)1);
}

/* ---- continuation word (cont.c) ---------------------------------------- */

/* Add A to T's actions; false when T already completed (run it yourself). */
bool weft__task_add_action(weft_task *t, struct weft__action *a);
/* Remove A; true when removed before T completed (it will not run). */
bool weft__task_remove_action(weft_task *t, struct weft__action *a);
/* Close T's action list and run the actions (T just completed). */
void weft__task_run_actions(weft_task *t);
/* Run LIST, the non-empty action list T's continuation word held when its
 * completer swapped in CONTS_COMPLETED (newest first), as
 * weft__task_run_actions does. */
void weft__task_run_closed(struct weft__action *list, weft_task *t);
/* The three steps of weft__task_run_actions, for completions that do
 * more between waking waiters and running continuations (spec A.5). */
struct weft__action *weft__task_close_actions(weft_task *t);
void weft__actions_wake_waiters(struct weft__action **list, weft_task *t);
void weft__actions_run(struct weft__action *list, weft_task *t);
/*
 * T is being freed before it completed: release what its action list
 * (LIST, T's continuation word) holds.  The continuations and combinators
 * hooked there can never be activated any more; they stay
 * WaitingForActivation for whoever still holds them.
 */
void weft__actions_drop(uintptr_t list);
/* Run a continuation task's body against its antecedent(s). */
weft_error *weft__continuation_invoke(weft_task *t);

/* One hook per antecedent of a multi-task continuation or combinator. */
struct weft__multi_hook {
	struct weft__action act;
	weft_task *owner; /* the continuation or promise (referenced) */
	weft_task *ante;  /* the antecedent hooked (not referenced here) */
};
/*
 * Hook OWNER onto every task of TASKS with FN.  Allocates OWNER's hooks,
 * takes one reference on OWNER per hook registered, and calls FN at once
 * for tasks already completed.  Returns 0 or -ENOMEM (before any hook).
 */
int weft__hook_all(weft_task *owner, weft_task *const *tasks, size_t n,
		   weft__action_fn fn, unsigned kind);
/* Remove OWNER's hooks that have not fired (when_any losers). */
void weft__unhook_rest(weft_task *owner);
static inline struct weft__multi_hook *weft__hook_of(struct weft__action *a)
{
	return (struct weft__multi_hook *)a;
}

/* ---- waiting (wait.c) -------------------------------------------------- */

/* Wait for completion (no error reporting).  0, -ETIMEDOUT, -ECANCELED. */
int weft__task_wait_done(weft_task *t, int64_t timeout_ms,
			 weft_cancel_token tok);
/* The return code and error a finished wait reports (see weft_task_wait). */
int weft__task_outcome(weft_task *t, weft_error **err);

/* ---- schedulers (sched.c, pool.c) -------------------------------------- */

struct weft__pool;
struct weft_scheduler {
	_Atomic uint32_t refs;
	_Atomic uint64_t id;
	struct weft__pool *pool; /* non-NULL: the work-stealing pool */
	weft_scheduler_ops ops;	 /* custom schedulers */
	void *data;
};

/* Queue T to S (a reference for the queue has been taken). */
int weft__sched_queue(weft_scheduler *s, weft_task *t);
/* Try to run T inline on this thread through S. */
bool weft__sched_try_inline(weft_scheduler *s, weft_task *t,
			    bool previously_queued);

int weft__pool_push(struct weft__pool *p, weft_task *t);
/* This thread is a worker of P: run queued work until DONE(arg) or no work
 * is found.  Returns true when DONE became true. */
bool weft__pool_help(struct weft__pool *p, bool (*done)(void *), void *arg);
/* Called by a worker about to block: keep the pool's parallelism. */
void weft__pool_block_begin(struct weft__pool *p);
void weft__pool_block_end(struct weft__pool *p);
/* The deque of this thread if it is a worker of P, else NULL. */
struct weft__deque *weft__pool_local_deque(struct weft__pool *p);

/* Run an inline completion action, through this thread's trampoline. */
void weft__run_inline_action(struct weft__action *a, weft_task *done);
/* Complete T with final state FINAL (T reserved its completion). */
void weft__task_complete_final(weft_task *t, uint32_t final);
/* The cached aggregate of a faulted task (borrowed), marking it observed. */
weft_error *weft__task_aggregate(weft_task *t);
/* Attach a just-allocated task to the running task if FLAGS ask for it. */
int weft__task_attach_to_current(weft_task *t, unsigned flags);

/* A new promise task (promise.c), +1. */
weft_task *weft__promise_new_task(void *state, unsigned flags);

/* Unobserved-error hook (task.c). */
void weft__report_unobserved(weft_error *err);

/* The scheduler T was queued to (NULL before it started).  relaxed: the
 * scheduler's queue orders everything the runner needs; waiters read it
 * only to decide whether they can take the task back. */
static inline weft_scheduler *weft__task_sched(const weft_task *t)
{
	return atomic_load_explicit(&((weft_task *)t)->sched,
				    memory_order_relaxed);
}

static inline void weft__task_set_sched(weft_task *t, weft_scheduler *s)
{
	atomic_store_explicit(&t->sched, s, memory_order_relaxed);
}

void weft__task_free(weft_task *t);

/* weft_task_unref, inline for the runtime's own hot paths. */
static inline void weft__unref(weft_task *t)
{
	/* A count of 1 means we hold the only reference: nobody else can
	 * change it, so the atomic decrement can be skipped.  acquire: pairs
	 * with the release half of other threads' decrements, so their
	 * writes to the task happen before we free it. */
	/* The shortcut is only for tasks without a cold block: a token
	 * registration (which needs one) holds a weak reference that may
	 * still be upgraded while we look (weft__task_try_ref). */
	if ((atomic_load_explicit(&t->refs, memory_order_acquire) == 1 &&
	     !atomic_load_explicit(&t->cold, memory_order_relaxed)) ||
	    atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		weft__task_free(t);
}

/*
 * Take a reference unless the count already reached zero (the task is
 * being freed).  Used by token callbacks, which hold the task weakly: a
 * task nobody else references must not be kept alive by its token.
 */
static inline bool weft__task_try_ref(weft_task *t)
{
	uint32_t n = atomic_load_explicit(&t->refs, memory_order_relaxed);
	do {
		if (n == 0)
			return false;
		/* acquire: pairs with the release half of the decrements */
	} while (!atomic_compare_exchange_weak_explicit(&t->refs, &n, n + 1,
							memory_order_acquire,
							memory_order_relaxed));
	return true;
}

/*
 * Debug builds (WEFT_DEBUG_CHECKS): true when T is a task that was released
 * and whose memory was not reused yet (slab.h keeps the last objects each
 * thread freed out of reuse).  The public entry points return -EBADF for
 * such a task.  Always false in other builds.
 */
static inline bool weft__task_released(const weft_task *t)
{
#ifdef WEFT_DEBUG_CHECKS
	/* relaxed: pairs with nothing; see weft__task_free */
	return weft__slab_poisoned(t) ||
	       atomic_load_explicit(&((weft_task *)t)->state,
				    memory_order_relaxed) == WEFT__TASK_POISON;
#else
	(void)t;
	return false;
#endif
}

/*
 * The elements of a task array argument: -EINVAL for a NULL array (with N
 * > 0) or a NULL element, else -EBADF for a released element (debug
 * builds), else 0.
 */
static inline int weft__check_tasks(weft_task *const *tasks, size_t n)
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

static inline uint32_t weft__task_state(const weft_task *t)
{
	/* acquire: pairs with the release RMW that publishes a final state,
	 * so a reader who sees it completed sees its result and errors */
	return atomic_load_explicit(&((weft_task *)t)->state,
				    memory_order_acquire);
}

#endif
