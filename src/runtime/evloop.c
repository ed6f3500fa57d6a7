/*
 * evloop.c - the event thread behind timers, delays, cancel_after and the
 * fd / pid tasks (see evloop.h for the contract).
 *
 * Everything shared lives in one static struct guarded by one mutex, which
 * is never held while a callback runs.  The heap and the list of live
 * watches are reachable from that struct, so a thread left running at exit
 * leaks nothing.
 *
 * Lifetimes.  A timer or watch has two references: the loop's (dropped
 * after the callback returned, or when it is canceled) and the caller's
 * handle (dropped by the _cancel call).  A canceled watch is special: the
 * event thread may be holding its pointer, fetched by epoll_wait just before
 * the cancel, so the loop's reference moves to a "zombie" list that only
 * the event thread empties, at the top of its loop, when no pointer from an
 * earlier epoll_wait is left in its hands.  A removed epoll registration is
 * never reported by a later epoll_wait, so that is safe.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"

enum {
	ST_PENDING,
	ST_FIRED,
	ST_CANCELED
};

struct weft__timer {
	int64_t deadline; /* CLOCK_MONOTONIC ns */
	uint64_t seq;	  /* start order: ties fire first-started first */
	size_t idx;	  /* heap index while pending (under loop.lock) */
	int state;	  /* ST_* (under loop.lock) */
	void (*fn)(void *arg);
	void *arg;
	_Atomic int refs; /* the loop's + the handle's */
};

struct weft__watch {
	int fd;	   /* our dup; -1 once closed (under loop.lock) */
	int state; /* ST_* (under loop.lock) */
	uint32_t events;
	void (*fn)(void *arg, uint32_t revents);
	void *arg;
	_Atomic int refs; /* the loop's + the handle's */
	/* On loop.live while pending, on loop.zombies once canceled. */
	struct weft__watch *prev, *next;
};

static struct {
	pthread_mutex_t lock;
	int epfd, evfd, tfd; /* -1 until created (again, after fork) */
	bool running;	     /* the event thread exists */
	weft__timer **heap;
	size_t n, cap;
	uint64_t seq;
	struct weft__watch *live;
	struct weft__watch *zombies;
} loop = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.epfd = -1,
	.evfd = -1,
	.tfd = -1,
};

/* epoll data tags for our own descriptors (watches use their address). */
static char tag_wake, tag_timer;

static _Thread_local bool on_event_thread;

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

int64_t weft__monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool weft__evloop_is_event_thread(void)
{
	return on_event_thread;
}

/* ---- references -------------------------------------------------------- */

static void timer_unref(weft__timer *t)
{
	/* acq_rel: the last holder must see every other holder's writes
	 * before freeing; pairs with the same fetch_sub of the other ref. */
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		free(t);
}

static void watch_unref(weft__watch *w)
{
	/* acq_rel: as timer_unref. */
	if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) == 1)
		free(w);
}

/* ---- the heap (all under loop.lock) ------------------------------------ */

static bool heap_less(const weft__timer *a, const weft__timer *b)
{
	return a->deadline < b->deadline ||
	       (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_set(size_t i, weft__timer *t)
{
	loop.heap[i] = t;
	t->idx = i;
}

static void sift_up(size_t i)
{
	weft__timer *t = loop.heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!heap_less(t, loop.heap[p]))
			break;
		heap_set(i, loop.heap[p]);
		i = p;
	}
	heap_set(i, t);
}

static void sift_down(size_t i)
{
	weft__timer *t = loop.heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= loop.n)
			break;
		if (c + 1 < loop.n && heap_less(loop.heap[c + 1], loop.heap[c]))
			c++;
		if (!heap_less(loop.heap[c], t))
			break;
		heap_set(i, loop.heap[c]);
		i = c;
	}
	heap_set(i, t);
}

static void heap_remove(size_t i)
{
	weft__timer *last = loop.heap[--loop.n];
	if (i == loop.n)
		return;
	heap_set(i, last);
	sift_down(i);
	sift_up(last->idx);
}

/* Arm the timerfd for DEADLINE (0: disarm).  Under loop.lock. */
static void arm(int64_t deadline)
{
	if (loop.tfd < 0)
		return;
	struct itimerspec its = {0};
	if (deadline > 0) {
		its.it_value.tv_sec = deadline / 1000000000;
		its.it_value.tv_nsec = deadline % 1000000000;
	}
	timerfd_settime(loop.tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void arm_top(void)
{
	arm(loop.n ? loop.heap[0]->deadline : 0);
}

/* ---- fork -------------------------------------------------------------- */

static void atfork_prepare(void)
{
	/* Hold the lock across fork so the child's copy is consistent. */
	pthread_mutex_lock(&loop.lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&loop.lock);
}

static void atfork_child(void)
{
	/* The event thread did not come along.  The epoll instance is shared
	 * with the parent (same open file description), so the child must
	 * not touch it: close ours and build new ones on next use.  Pending
	 * timers and watches stay; ensure_started() re-registers them. */
	if (loop.epfd >= 0)
		close(loop.epfd);
	if (loop.evfd >= 0)
		close(loop.evfd);
	if (loop.tfd >= 0)
		close(loop.tfd);
	loop.epfd = loop.evfd = loop.tfd = -1;
	loop.running = false;
	on_event_thread = false;
	pthread_mutex_unlock(&loop.lock);
}

static void register_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ---- the event thread -------------------------------------------------- */

static void wake_thread(void)
{
	if (loop.evfd >= 0) {
		uint64_t one = 1;
		ssize_t rc = write(loop.evfd, &one, sizeof one);
		(void)rc; /* EAGAIN: the counter is saturated, still awake */
	}
}

static void reclaim_zombies(void)
{
	pthread_mutex_lock(&loop.lock);
	weft__watch *z = loop.zombies;
	loop.zombies = NULL;
	pthread_mutex_unlock(&loop.lock);
	while (z) {
		weft__watch *next = z->next;
		watch_unref(z); /* the loop's reference */
		z = next;
	}
}

static void run_due_timers(void)
{
	for (;;) {
		pthread_mutex_lock(&loop.lock);
		if (!loop.n || loop.heap[0]->deadline > weft__monotonic_ns()) {
			/* The timerfd is one-shot: always re-arm for the new
			 * earliest deadline. */
			arm_top();
			pthread_mutex_unlock(&loop.lock);
			return;
		}
		weft__timer *t = loop.heap[0];
		heap_remove(0);
		t->state = ST_FIRED;
		pthread_mutex_unlock(&loop.lock);
		t->fn(t->arg);
		timer_unref(t); /* the loop's reference */
	}
}

static void fire_watch(weft__watch *w, uint32_t revents)
{
	pthread_mutex_lock(&loop.lock);
	if (w->state != ST_PENDING) {
		/* Canceled after epoll_wait returned it: a zombie now. */
		pthread_mutex_unlock(&loop.lock);
		return;
	}
	w->state = ST_FIRED;
	epoll_ctl(loop.epfd, EPOLL_CTL_DEL, w->fd, NULL);
	close(w->fd);
	w->fd = -1;
	if (w->prev)
		w->prev->next = w->next;
	else
		loop.live = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	pthread_mutex_unlock(&loop.lock);
	w->fn(w->arg, revents);
	watch_unref(w); /* the loop's reference */
}

static void *event_main(void *arg)
{
	int epfd = (int)(intptr_t)arg;
	struct epoll_event evs[64];

	on_event_thread = true;
	for (;;) {
		reclaim_zombies();
		int n = epoll_wait(epfd, evs, 64, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &tag_wake) {
				uint64_t v;
				ssize_t rc = read(loop.evfd, &v, sizeof v);
				(void)rc;
			} else if (p == &tag_timer) {
				uint64_t v;
				ssize_t rc = read(loop.tfd, &v, sizeof v);
				(void)rc;
				run_due_timers();
			} else {
				fire_watch(p, evs[i].events);
			}
		}
	}
	/* Not reached in practice (epoll_wait only fails on a bad epfd). */
	pthread_mutex_lock(&loop.lock);
	loop.running = false;
	pthread_mutex_unlock(&loop.lock);
	return NULL;
}

static int add_own_fd(int fd, void *tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
	return epoll_ctl(loop.epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* Create what is missing and start the thread.  Under loop.lock. */
static int ensure_started(void)
{
	if (loop.running)
		return 0;
	if (loop.epfd < 0) {
		int fd = epoll_create1(EPOLL_CLOEXEC);
		if (fd < 0)
			return -errno;
		loop.epfd = fd;
		/* A new instance (first use, or a child after fork): register
		 * the watches that are still pending. */
		for (weft__watch *w = loop.live; w; w = w->next) {
			struct epoll_event ev = {
				.events = w->events | EPOLLONESHOT,
				.data.ptr = w,
			};
			epoll_ctl(loop.epfd, EPOLL_CTL_ADD, w->fd, &ev);
		}
	}
	if (loop.evfd < 0) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0)
			return -errno;
		int rc = add_own_fd(fd, &tag_wake);
		if (rc) {
			close(fd);
			return rc;
		}
		loop.evfd = fd;
	}
	if (loop.tfd < 0) {
		int fd = timerfd_create(CLOCK_MONOTONIC,
					TFD_CLOEXEC | TFD_NONBLOCK);
		if (fd < 0)
			return -errno;
		int rc = add_own_fd(fd, &tag_timer);
		if (rc) {
			close(fd);
			return rc;
		}
		loop.tfd = fd;
		arm_top();
	}

	/* The thread takes no signals: they belong to the application. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t th;
	int rc = pthread_create(&th, &attr, event_main,
				(void *)(intptr_t)loop.epfd);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return -rc;
#ifdef __GLIBC__
	pthread_setname_np(th, "weft-events");
#endif
	loop.running = true;
	return 0;
}

/* ---- timers ------------------------------------------------------------ */

int weft__timer_start(weft__timer **out, int64_t ms, void (*fn)(void *arg),
		      void *arg)
{
	if (out)
		*out = NULL;
	if (!fn || ms < 0)
		return -EINVAL;
	/* ~31 years: keeps the nanosecond arithmetic far from overflow. */
	if (ms > 1000000000000LL)
		ms = 1000000000000LL;
	pthread_once(&atfork_once, register_atfork);

	weft__timer *t = malloc(sizeof *t);
	if (!t)
		return -ENOMEM;
	t->deadline = weft__monotonic_ns() + ms * 1000000;
	t->state = ST_PENDING;
	t->fn = fn;
	t->arg = arg;
	/* relaxed: T is published to other threads under loop.lock. */
	atomic_init(&t->refs, out ? 2 : 1);

	pthread_mutex_lock(&loop.lock);
	int rc = ensure_started();
	if (!rc && loop.n == loop.cap) {
		size_t cap = loop.cap ? loop.cap * 2 : 64;
		weft__timer **h = realloc(loop.heap, cap * sizeof(*h));
		if (h) {
			loop.heap = h;
			loop.cap = cap;
		} else {
			rc = -ENOMEM;
		}
	}
	if (rc) {
		pthread_mutex_unlock(&loop.lock);
		free(t);
		return rc;
	}
	t->seq = loop.seq++;
	heap_set(loop.n++, t);
	sift_up(t->idx);
	if (t->idx == 0)
		arm(t->deadline); /* a new earliest deadline */
	if (out)
		*out = t;
	pthread_mutex_unlock(&loop.lock);
	return 0;
}

bool weft__timer_cancel(weft__timer *t)
{
	if (!t)
		return false;
	bool removed = false;
	pthread_mutex_lock(&loop.lock);
	if (t->state == ST_PENDING) {
		heap_remove(t->idx);
		t->state = ST_CANCELED;
		removed = true;
		/* The timerfd may stay armed for T's deadline: a harmless
		 * early wake-up re-arms it for the real earliest one. */
	}
	pthread_mutex_unlock(&loop.lock);
	if (removed)
		timer_unref(t); /* the loop's reference */
	timer_unref(t);		/* the handle */
	return removed;
}

/* ---- fd watches ---------------------------------------------------------- */

int weft__watch_fd(weft__watch **out, int fd, uint32_t events,
		   void (*fn)(void *arg, uint32_t revents), void *arg)
{
	if (out)
		*out = NULL;
	if (!fn || fd < 0 || !events)
		return -EINVAL;
	pthread_once(&atfork_once, register_atfork);

	weft__watch *w = malloc(sizeof *w);
	if (!w)
		return -ENOMEM;
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup < 0) {
		int err = -errno;
		free(w);
		return err;
	}
	w->fd = dup;
	w->state = ST_PENDING;
	w->events = events & ~(uint32_t)EPOLLONESHOT;
	w->fn = fn;
	w->arg = arg;
	w->prev = NULL;
	/* relaxed: W is published to the event thread under loop.lock. */
	atomic_init(&w->refs, out ? 2 : 1);

	pthread_mutex_lock(&loop.lock);
	int rc = ensure_started();
	if (!rc) {
		struct epoll_event ev = {
			.events = w->events | EPOLLONESHOT,
			.data.ptr = w,
		};
		if (epoll_ctl(loop.epfd, EPOLL_CTL_ADD, dup, &ev))
			rc = -errno;
	}
	if (rc) {
		pthread_mutex_unlock(&loop.lock);
		close(dup);
		free(w);
		return rc;
	}
	w->next = loop.live;
	if (loop.live)
		loop.live->prev = w;
	loop.live = w;
	if (out)
		*out = w;
	pthread_mutex_unlock(&loop.lock);
	return 0;
}

bool weft__watch_cancel(weft__watch *w)
{
	if (!w)
		return false;
	bool removed = false;
	pthread_mutex_lock(&loop.lock);
	if (w->state == ST_PENDING) {
		w->state = ST_CANCELED;
		if (loop.epfd >= 0)
			epoll_ctl(loop.epfd, EPOLL_CTL_DEL, w->fd, NULL);
		close(w->fd);
		w->fd = -1;
		if (w->prev)
			w->prev->next = w->next;
		else
			loop.live = w->next;
		if (w->next)
			w->next->prev = w->prev;
		/* The loop's reference goes to the zombie list (see top). */
		w->prev = NULL;
		w->next = loop.zombies;
		if (!loop.zombies)
			wake_thread(); /* so it is reclaimed soon */
		loop.zombies = w;
		removed = true;
	}
	pthread_mutex_unlock(&loop.lock);
	watch_unref(w); /* the handle */
	return removed;
}
