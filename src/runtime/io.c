/*
 * io.c - tasks completed by operating-system events: fd readiness, process
 * exit and timers, all served by the event thread (evloop.c), built on the
 * public promise API.
 *
 * Ownership scheme.  Each task is backed by an "evop" holding the promise,
 * the token's source (a strong reference), the event-side handle (timer or
 * watch) and the cancel registration.  Two callbacks race to complete it:
 * the event side (on the event thread) and the cancel side (on the thread
 * that cancels the token).
 *
 *  - CLAIMED (atomic exchange) picks exactly one winner; only the winner
 *    completes the promise (try_set_* is first-wins anyway, and the claim
 *    also keeps a canceled pid task from reaping the child).
 *  - The loser's resource must then be released promptly (a canceled delay
 *    must not keep its timer; a finished one must not leave a node in the
 *    token's list).  That is done once, by release_sources(), which stops
 *    the timer/watch and unregisters the callback.  It runs when GATE
 *    reaches zero: GATE starts at 2 and is passed by the winner (after
 *    completing the promise) and by the creating thread (after storing both
 *    handles), so the handles it reads are always complete, whichever
 *    callback fires first, even inside the creating call.
 *  - REFS counts the setup (the creating call), the event side (taken
 *    before the timer/watch is started) and the cancel side (taken before
 *    registering).  A side's reference is dropped by its callback when it
 *    runs, or by release_sources when the timer/watch cancel or the
 *    unregister returns true (the callback will then never run).  Exactly
 *    one of the two happens for each side, so each reference, the promise,
 *    the source reference, the handles and the pidfd are released once.
 *
 * Tasks are completed on the event thread, so their synchronous
 * continuations run there too.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft/cancel.h>
#include <weft/compose.h>
#include <weft/io.h>
#include <weft/promise.h>
#include <weft/task.h>

#include "evloop.h"
#include "io_internal.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct evop {
	_Atomic int refs;    /* setup + event side + cancel side */
	atomic_bool claimed; /* the first callback to set it completes */
	_Atomic int gate;    /* 2: the winner and the setup pass it */
	weft_promise *promise;
	weft_cancel_source *src; /* strong reference, or NULL */
	weft_cancel_registration reg;
	weft__timer *timer;
	weft__watch *watch;
	int pidfd; /* weft_task_from_pid: ours, closed at free; else -1 */
};

static void evop_unref(struct evop *op)
{
	/* acq_rel: the last holder sees every other side's writes before
	 * freeing; pairs with the same fetch_sub on the other sides. */
	if (atomic_fetch_sub_explicit(&op->refs, 1, memory_order_acq_rel) != 1)
		return;
	weft_promise_unref(op->promise);
	weft_cancel_source_unref(op->src);
	if (op->pidfd >= 0)
		close(op->pidfd);
	free(op);
}

static void evop_take_ref(struct evop *op)
{
	/* relaxed: the setup reference keeps OP alive meanwhile. */
	atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
}

static bool evop_claim(struct evop *op)
{
	/* acq_rel: one winner; pairs with the other side's exchange. */
	return !atomic_exchange_explicit(&op->claimed, true,
					 memory_order_acq_rel);
}

/* Stop whichever side has not fired (see the top of the file). */
static void release_sources(struct evop *op)
{
	if (op->timer && weft__timer_cancel(op->timer))
		evop_unref(op); /* the event side: it will never run */
	if (op->watch && weft__watch_cancel(op->watch))
		evop_unref(op);
	op->timer = NULL;
	op->watch = NULL;
	if (weft_cancel_unregister(&op->reg))
		evop_unref(op); /* the cancel side: it will never run */
}

static void gate_pass(struct evop *op)
{
	/* acq_rel: the last one to pass reads the handles the setup stored
	 * before its own pass (release -> acquire). */
	if (atomic_fetch_sub_explicit(&op->gate, 1, memory_order_acq_rel) == 1)
		release_sources(op);
}

static void on_cancel(void *arg)
{
	struct evop *op = arg;
	if (evop_claim(op)) {
		weft_cancel_token tok = {op->src};
		weft_promise_try_set_canceled(op->promise, tok);
		gate_pass(op);
	}
	evop_unref(op);
}

static void on_timer(void *arg)
{
	struct evop *op = arg;
	if (evop_claim(op)) {
		weft_promise_try_set_result(op->promise, NULL, NULL);
		gate_pass(op);
	}
	evop_unref(op);
}

static void on_fd(void *arg, uint32_t revents)
{
	struct evop *op = arg;
	if (evop_claim(op)) {
		weft_promise_try_set_result(op->promise,
					    (void *)(uintptr_t)revents, NULL);
		gate_pass(op);
	}
	evop_unref(op);
}

/* The wait status of our child behind PIDFD, or 0 for anyone else's. */
static uintptr_t reap(int pidfd)
{
	siginfo_t si;
	si.si_pid = 0;
	if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) ||
	    si.si_pid == 0)
		return 0; /* ECHILD: not our child (or reaped elsewhere) */
	switch (si.si_code) {
	case CLD_EXITED:
		return (uintptr_t)((si.si_status & 0xff) << 8);
	case CLD_KILLED:
		return (uintptr_t)(si.si_status & 0x7f);
	case CLD_DUMPED:
		return (uintptr_t)((si.si_status & 0x7f) | 0x80);
	default:
		return 0;
	}
}

static void on_pid(void *arg, uint32_t revents)
{
	(void)revents;
	struct evop *op = arg;
	if (evop_claim(op)) {
		weft_promise_try_set_result(op->promise,
					    (void *)reap(op->pidfd), NULL);
		gate_pass(op);
	}
	evop_unref(op);
}

static int evop_new(struct evop **out, weft_cancel_token token)
{
	struct evop *op = calloc(1, sizeof *op);
	if (!op)
		return -ENOMEM;
	int rc = weft_promise_new(&op->promise, NULL, 0);
	if (rc) {
		free(op);
		return rc;
	}
	/* relaxed: OP is not shared yet. */
	atomic_init(&op->refs, 1);
	atomic_init(&op->claimed, false);
	atomic_init(&op->gate, 2);
	op->src = weft_cancel_source_ref(token.source);
	op->pidfd = -1;
	*out = op;
	return 0;
}

/*
 * The event side is armed (or there is none): register the cancel side,
 * hand out the task and pass the setup's gate.  Consumes the setup
 * reference.
 */
static int evop_finish(struct evop *op, weft_task **out)
{
	int rc = 0;
	if (op->src) {
		weft_cancel_token tok = {op->src};
		evop_take_ref(op); /* the cancel side */
		rc = weft_cancel_register(tok, on_cancel, op, &op->reg);
		if (rc)
			evop_unref(op); /* never registered; not the last */
	}
	if (rc) {
		/* Give up: win the claim if still open, so nothing completes
		 * the (discarded) promise, and release what is armed. */
		if (evop_claim(op))
			gate_pass(op);
		gate_pass(op);
		evop_unref(op);
		return rc;
	}
	*out = weft_task_ref(weft_promise_task(op->promise));
	gate_pass(op);
	evop_unref(op);
	return 0;
}

/* Undo evop_new when the event side could not be armed. */
static void evop_abort(struct evop *op)
{
	evop_unref(op); /* the setup reference: the last one */
}

int weft__evtask_timer(weft_task **out, int64_t ms, weft_cancel_token token)
{
	struct evop *op;
	int rc = evop_new(&op, token);
	if (rc)
		return rc;
	if (ms != WEFT_INFINITE) {
		evop_take_ref(op); /* the event side */
		rc = weft__timer_start(&op->timer, ms, on_timer, op);
		if (rc) {
			evop_unref(op);
			evop_abort(op);
			return rc;
		}
	}
	return evop_finish(op, out);
}

int weft_task_from_timer(weft_task **out, int64_t ms, weft_cancel_token token)
{
	return weft_task_delay(out, ms, token);
}

/* Flags that would change how the watch itself works. */
#define FD_CONTROL_BITS ((uint32_t)(EPOLLET | EPOLLEXCLUSIVE | EPOLLWAKEUP))

int weft_task_from_fd(weft_task **out, int fd, uint32_t events,
		      weft_cancel_token token)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (fd < 0 || (events & ~(uint32_t)EPOLLONESHOT) == 0 ||
	    (events & FD_CONTROL_BITS))
		return -EINVAL;
	if (fcntl(fd, F_GETFD) < 0)
		return -errno;
	if (weft_cancel_requested(token))
		return weft_task_from_canceled(out, token);

	struct evop *op;
	int rc = evop_new(&op, token);
	if (rc)
		return rc;
	evop_take_ref(op); /* the event side */
	rc = weft__watch_fd(&op->watch, fd, events, on_fd, op);
	if (rc) {
		evop_unref(op);
		evop_abort(op);
		return rc;
	}
	return evop_finish(op, out);
}

int weft_task_from_pid(weft_task **out, int pid, weft_cancel_token token)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (pid <= 0)
		return -EINVAL;
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pidfd < 0)
		return -errno;
	/* (pidfds are always close-on-exec.) */
	if (weft_cancel_requested(token)) {
		close(pidfd);
		return weft_task_from_canceled(out, token);
	}

	struct evop *op;
	int rc = evop_new(&op, token);
	if (rc) {
		close(pidfd);
		return rc;
	}
	op->pidfd = pidfd;
	evop_take_ref(op); /* the event side */
	rc = weft__watch_fd(&op->watch, pidfd, EPOLLIN, on_pid, op);
	if (rc) {
		evop_unref(op);
		evop_abort(op);
		return rc;
	}
	return evop_finish(op, out);
}
