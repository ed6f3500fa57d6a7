/*
 * pool.h - the work-stealing pool behind weft's default scheduler.
 */
#ifndef WEFT_POOL_H
#define WEFT_POOL_H

#include <pthread.h>
#include <stdatomic.h>

#include "deque.h"
#include "task_internal.h"

/* Spare workers a pool may start to replace workers blocked in waits. */
#define WEFT_POOL_MAX_SPARES 256u
#define WEFT_POOL_MAX_THREADS 4096u

struct weft__worker {
	struct weft__deque dq;
	struct weft__pool *pool;
	pthread_t thread;
	/* futex word: 1 while parked on the idle list, 0 once woken */
	_Atomic uint32_t parked;
	struct weft__worker *idle_next; /* guarded by pool->idle_lock */
	uint64_t rng;
	unsigned index;
	bool searching; /* counted in pool->nsearching (owner only) */
};

struct weft__pool {
	weft_scheduler *sched; /* the scheduler wrapping this pool */
	unsigned nthreads;     /* the configured parallelism */
	unsigned max_workers;
	/* workers [0, nworkers) are running; release-published */
	_Atomic unsigned nworkers;
	struct weft__worker *workers;

	/* global FIFO for external threads and PREFER_FAIRNESS; linked
	 * through task->act.next */
	pthread_mutex_t gq_lock;
	weft_task *gq_head, *gq_tail;
	_Atomic size_t gq_len;

	/* parking: see the protocol in pool.c */
	_Atomic int nsearching;
	_Atomic int nidle;
	_Atomic int nblocked;
	pthread_mutex_t idle_lock;
	pthread_cond_t drain_cond; /* shutdown waits on it, idle_lock */
	struct weft__worker *idle;

	_Atomic int long_running; /* dedicated threads alive */
	_Atomic bool closing;	  /* shutdown requested: refuse externals */
	_Atomic bool stop;	  /* workers exit */
	bool joined;
};

/*
 * A light job: a stack-allocated unit of fork-join work.  It travels
 * through the deques as a pointer tagged with bit 0, and is never
 * referenced-counted: its owner waits for DONE before its frame goes.
 */
#define WEFT_JOB_TAG ((uintptr_t)1)
struct weft__job {
	void (*run)(struct weft__job *j);
	_Atomic uint32_t done; /* futex word: 1 once run by a thief */
};
/* On a worker: offer J to thieves; false if it could not be queued. */
bool weft__pool_push_job(struct weft__job *j);
/* On the same worker: take J back if no thief has; true if taken. */
bool weft__pool_take_back_job(struct weft__job *j);
/* J was stolen: help and then sleep until its thief finishes it. */
void weft__pool_wait_job(struct weft__job *j);

/* Wake a parked worker if nobody is searching (pool.c's protocol). */
void weft__pool_wake(struct weft__pool *p);

/* After a push: wake a worker if one is parked and nobody searches. */
static inline void weft__pool_notify(struct weft__pool *p)
{
	/* Plain loads on the push path: see the protocol in pool.c. */
	if (atomic_load_explicit(&p->nsearching, memory_order_relaxed) > 0)
		return;
	if (atomic_load_explicit(&p->nidle, memory_order_relaxed) == 0)
		return;
	weft__pool_wake(p);
}

/*
 * weft__pool_push's common case, inline for the spawn path: T (queue
 * reference taken, no LONG_RUNNING or PREFER_FAIRNESS) goes to this
 * thread's deque if this thread is a worker of P.  False when it did not
 * (not a worker of P, or no memory to grow the deque): use
 * weft__pool_push.
 */
static inline bool weft__pool_push_local(struct weft__pool *p, weft_task *t)
{
	struct weft__worker *w = weft__tls.worker;
	if (!w || w->pool != p || weft__deque_push(&w->dq, t))
		return false;
	weft__pool_notify(p);
	return true;
}

int weft__pool_create(struct weft__pool **out, unsigned nthreads);
int weft__pool_shutdown(struct weft__pool *p);
void weft__pool_destroy(struct weft__pool *p);

#endif
