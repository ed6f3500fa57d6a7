/*
 * evloop.h - weft's one internal event thread: timers and fd readiness.
 *
 * A single thread, started on first use, waits in epoll for (a) a timerfd
 * armed at the earliest deadline of a binary min-heap of timers
 * (CLOCK_MONOTONIC), (b) one-shot fd watches and (c) an eventfd used to wake
 * it.  Callbacks run ON THE EVENT THREAD, one at a time, with no weft lock
 * held; they must not block for long (everything else waits meanwhile).
 *
 * Handles: the start functions give the caller a handle (when OUT is not
 * NULL) that must be released exactly once with the matching _cancel call,
 * whether or not the callback has run.  With OUT NULL the timer or watch is
 * fire-and-forget.
 *
 * fork(): the child has no event thread.  Timers and watches inherited from
 * the parent stay pending in the child; the thread (with a new epoll
 * instance) is started again the next time the child calls any function
 * here, and they are served from then on.
 *
 * Process exit: the thread is left running; everything it owns stays
 * reachable from static storage (no leak is reported).
 */
#ifndef WEFT_EVLOOP_H
#define WEFT_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct weft__timer weft__timer;
typedef struct weft__watch weft__watch;

/*
 * weft__timer_start - call FN(ARG) on the event thread once MS milliseconds
 * (>= 0) have passed.  Timers fire in deadline order; equal deadlines fire
 * in the order they were started.
 * Errors: -EINVAL (FN NULL, MS < 0), -ENOMEM, or the errno of creating the
 * event thread or its descriptors (-EAGAIN, -EMFILE, ...).
 */
int weft__timer_start(weft__timer **out, int64_t ms, void (*fn)(void *arg),
		      void *arg);

/*
 * weft__timer_cancel - stop T and release the handle (T is invalid after
 * this call).  Returns true iff T was removed before it fired: FN will
 * never run.  False means FN has run or is running right now on the event
 * thread (a concurrent firing is not waited for).  Any thread, including
 * the event thread and FN itself.
 */
bool weft__timer_cancel(weft__timer *t);

/*
 * weft__watch_fd - call FN(ARG, REVENTS) on the event thread once, when FD
 * is ready for EVENTS (EPOLLIN, EPOLLOUT, ...; EPOLLONESHOT is implied).
 * FD is dup'ed (with FD_CLOEXEC): the caller may close its own FD at any
 * time, and several watches on the same fd work independently.  The dup is
 * closed once the watch fired or was canceled.
 * Errors: -EINVAL (FN NULL, FD < 0, EVENTS 0), -EBADF, -EPERM (FD cannot be
 * polled, e.g. a regular file), -EMFILE, -ENOMEM, or the errno of creating
 * the event thread.
 */
int weft__watch_fd(weft__watch **out, int fd, uint32_t events,
		   void (*fn)(void *arg, uint32_t revents), void *arg);

/*
 * weft__watch_cancel - stop W and release the handle, as
 * weft__timer_cancel: true iff FN will never run; false means it has run or
 * is running now on the event thread.
 */
bool weft__watch_cancel(weft__watch *w);

/*
 * weft__evloop_is_event_thread - true on the event thread (inside a timer or
 * watch callback).  Lets code that would block, or run long chains of user
 * code, hand work to the pool instead.
 */
bool weft__evloop_is_event_thread(void);

/* weft__monotonic_ns - CLOCK_MONOTONIC now, in nanoseconds. */
int64_t weft__monotonic_ns(void);

#endif
