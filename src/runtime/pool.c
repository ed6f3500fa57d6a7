/*
 * pool.c - the work-stealing pool.
 *
 * Each worker owns a Chase-Lev deque.  Work pushed by a worker goes to its
 * own deque (LIFO for the owner, FIFO for thieves); work from other threads
 * and PREFER_FAIRNESS tasks go to one global FIFO.  LONG_RUNNING tasks get
 * a dedicated thread.
 *
 * Parking protocol (no thundering herd, no lost wake-up):
 *  - nsearching counts workers that are looking for work.  A push wakes a
 *    parked worker only when nobody is searching; the woken worker counts
 *    as searching from the moment it is chosen.
 *  - A searching worker that finds work stops searching; if it was the last
 *    one it wakes another, so parallelism ramps up without the pusher
 *    paying for more than one wake-up.
 *  - A worker that gives up puts itself on the idle list, stops searching,
 *    and then (after a full fence) looks at every queue once more before it
 *    sleeps; a pusher publishes its item before it checks nsearching/nidle.
 *    One of the two always sees the other.  Pushes to the global queue are
 *    fenced by its mutex; a worker's push to its own deque is not fenced,
 *    which can only delay a thief: the owner itself runs what it pushed.
 *  - A worker about to block in a wait asks for a replacement (a parked
 *    worker, or a new spare thread), so blocking never starves the pool.
 */
#define _GNU_SOURCE
#include "pool.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "futex.h"

#define SPIN_ROUNDS 64
#define YIELD_ROUNDS 16

static void *worker_main(void *arg);

static int start_worker(struct weft__pool *p, unsigned i)
{
	struct weft__worker *w = &p->workers[i];
	int rc = weft__deque_init(&w->dq, 256);
	if (rc)
		return rc;
	w->pool = p;
	w->index = i;
	w->rng = 0x9E3779B97F4A7C15ull * (i + 1);
	w->searching = false;
	atomic_init(&w->parked, 0);
	w->idle_next = NULL;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 8u << 20);
	rc = pthread_create(&w->thread, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	if (rc) {
		weft__deque_destroy(&w->dq);
		return -rc;
	}
	return 0;
}

int weft__pool_create(struct weft__pool **out, unsigned nthreads)
{
	if (nthreads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n > 0 ? (unsigned)n : 1;
	}
	if (nthreads > WEFT_POOL_MAX_THREADS)
		return -EINVAL;
	struct weft__pool *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->nthreads = nthreads;
	p->max_workers = nthreads + WEFT_POOL_MAX_SPARES;
	p->workers = calloc(p->max_workers, sizeof(*p->workers));
	if (!p->workers) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->gq_lock, NULL);
	pthread_mutex_init(&p->idle_lock, NULL);
	pthread_cond_init(&p->drain_cond, NULL);
	/* Workers read nworkers to pick victims; publish each slot only
	 * after it is initialised. */
	for (unsigned i = 0; i < nthreads; i++) {
		int rc = start_worker(p, i);
		if (rc) {
			weft__pool_shutdown(p);
			weft__pool_destroy(p);
			return rc == -ENOMEM ? -ENOMEM : -EAGAIN;
		}
		/* release: pairs with the acquire loads of nworkers by
		 * thieves, who then see an initialised deque */
		atomic_store_explicit(&p->nworkers, i + 1,
				      memory_order_release);
	}
	*out = p;
	return 0;
}

/* ---- queues -------------------------------------------------------------- */

static void gq_push(struct weft__pool *p, weft_task *t)
{
	t->act.next = NULL;
	pthread_mutex_lock(&p->gq_lock);
	if (p->gq_tail)
		p->gq_tail->act.next = &t->act;
	else
		p->gq_head = t;
	p->gq_tail = t;
	/* relaxed: a hint for the lock-free emptiness check; the mutex
	 * orders the list itself */
	atomic_fetch_add_explicit(&p->gq_len, 1, memory_order_relaxed);
	pthread_mutex_unlock(&p->gq_lock);
}

/*
 * The queue links tasks through act.next, which holds a struct weft__action
 * pointer; the task is recovered with container arithmetic.
 */
static inline weft_task *task_of_link(struct weft__action *a)
{
	return a ? (weft_task *)((char *)a - offsetof(weft_task, act)) : NULL;
}

static weft_task *gq_pop(struct weft__pool *p)
{
	if (atomic_load_explicit(&p->gq_len, memory_order_relaxed) == 0)
		return NULL;
	pthread_mutex_lock(&p->gq_lock);
	weft_task *t = p->gq_head;
	if (t) {
		p->gq_head = task_of_link(t->act.next);
		if (!p->gq_head)
			p->gq_tail = NULL;
		atomic_fetch_sub_explicit(&p->gq_len, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&p->gq_lock);
	return t;
}

static inline uint64_t next_rand(struct weft__worker *w)
{
	/* xorshift64: cheap, and good enough to spread thieves */
	uint64_t x = w->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return w->rng = x;
}

static weft_task *steal_any(struct weft__pool *p, struct weft__worker *self)
{
	/* acquire: pairs with the release store in weft__pool_create /
	 * start_spare; slots below it are initialised */
	unsigned n = atomic_load_explicit(&p->nworkers, memory_order_acquire);
	if (n < 2 && self)
		return NULL;
	for (int attempt = 0; attempt < 4; attempt++) {
		bool any_lost = false;
		unsigned start = self ? (unsigned)(next_rand(self) % n) : 0;
		for (unsigned k = 0; k < n; k++) {
			struct weft__worker *v = &p->workers[(start + k) % n];
			if (v == self)
				continue;
			bool lost;
			weft_task *t = weft__deque_steal(&v->dq, &lost);
			if (t)
				return t;
			any_lost |= lost;
		}
		if (!any_lost)
			break;
	}
	return NULL;
}

static weft_task *find_work(struct weft__worker *w)
{
	struct weft__pool *p = w->pool;
	weft_task *t = weft__deque_pop(&w->dq);
	if (!t)
		t = gq_pop(p);
	if (!t)
		t = steal_any(p, w);
	return t;
}

static bool work_visible(struct weft__pool *p)
{
	if (atomic_load_explicit(&p->gq_len, memory_order_relaxed))
		return true;
	unsigned n = atomic_load_explicit(&p->nworkers, memory_order_acquire);
	for (unsigned i = 0; i < n; i++)
		if (weft__deque_size(&p->workers[i].dq) > 0)
			return true;
	return false;
}

/* ---- waking and parking -------------------------------------------------- */

/* Wake one parked worker if nobody is searching.  Any thread. */
static void wake_one(struct weft__pool *p, bool even_if_searching)
{
	pthread_mutex_lock(&p->idle_lock);
	struct weft__worker *w = p->idle;
	if (w &&
	    (even_if_searching ||
	     atomic_load_explicit(&p->nsearching, memory_order_relaxed) == 0)) {
		p->idle = w->idle_next;
		w->idle_next = NULL;
		atomic_fetch_sub_explicit(&p->nidle, 1, memory_order_relaxed);
		/* counted as searching from now on: pushes that follow need
		 * not wake anyone else */
		atomic_fetch_add_explicit(&p->nsearching, 1,
					  memory_order_relaxed);
		/* release: pairs with the acquire load of parked in park() */
		atomic_store_explicit(&w->parked, 0, memory_order_release);
		weft__futex_wake(&w->parked, 1);
	}
	pthread_mutex_unlock(&p->idle_lock);
}

void weft__pool_wake(struct weft__pool *p)
{
	wake_one(p, false);
}

static inline void notify(struct weft__pool *p)
{
	weft__pool_notify(p);
}

/*
 * W found work and stops searching.  If it was the last searcher it wakes
 * another worker: more work may be queued behind what it found, and pushers
 * skipped waking anyone while it searched.
 */
static void stop_searching(struct weft__worker *w)
{
	if (!w->searching)
		return;
	w->searching = false;
	/* acq_rel: the last searcher to stop must see pushes that skipped
	 * waking because it was searching; pairs with notify()'s loads */
	if (atomic_fetch_sub_explicit(&w->pool->nsearching, 1,
				      memory_order_acq_rel) == 1)
		notify(w->pool);
}

/*
 * W gives up searching to park.  No wake-up here: the parking worker looks
 * at the queues once more after joining the idle list (park()), which
 * covers pushes that skipped waking while it searched.  Waking another
 * worker instead would hand the search around the idle workers forever.
 */
static void give_up_searching(struct weft__worker *w)
{
	if (!w->searching)
		return;
	w->searching = false;
	/* release: pairs with notify()'s loads of nsearching */
	atomic_fetch_sub_explicit(&w->pool->nsearching, 1,
				  memory_order_release);
}

static void start_searching(struct weft__worker *w)
{
	if (w->searching)
		return;
	w->searching = true;
	atomic_fetch_add_explicit(&w->pool->nsearching, 1,
				  memory_order_relaxed);
}

/* Remove W from the idle list if it is still there; true if removed. */
static bool unpark_self(struct weft__pool *p, struct weft__worker *w)
{
	bool removed = false;
	pthread_mutex_lock(&p->idle_lock);
	if (atomic_load_explicit(&w->parked, memory_order_relaxed)) {
		struct weft__worker **pp = &p->idle;
		while (*pp && *pp != w)
			pp = &(*pp)->idle_next;
		if (*pp) {
			*pp = w->idle_next;
			w->idle_next = NULL;
			atomic_fetch_sub_explicit(&p->nidle, 1,
						  memory_order_relaxed);
			atomic_store_explicit(&w->parked, 0,
					      memory_order_relaxed);
			removed = true;
		}
	}
	pthread_mutex_unlock(&p->idle_lock);
	return removed;
}

/* Park W until woken.  Returns false when the pool is stopping. */
static bool park(struct weft__worker *w)
{
	struct weft__pool *p = w->pool;
	pthread_mutex_lock(&p->idle_lock);
	atomic_store_explicit(&w->parked, 1, memory_order_relaxed);
	w->idle_next = p->idle;
	p->idle = w;
	atomic_fetch_add_explicit(&p->nidle, 1, memory_order_relaxed);
	/* a shutdown waiting for the pool to drain re-checks now */
	if (atomic_load_explicit(&p->closing, memory_order_relaxed))
		pthread_cond_broadcast(&p->drain_cond);
	pthread_mutex_unlock(&p->idle_lock);
	give_up_searching(w);

	/* seq_cst: pairs with the fence implied by the pusher's publication
	 * (global-queue mutex) so that either we see its work or it sees us
	 * on the idle list. */
	atomic_thread_fence(memory_order_seq_cst);
	if (work_visible(p) ||
	    atomic_load_explicit(&p->stop, memory_order_acquire)) {
		if (unpark_self(p, w)) {
			start_searching(w);
			return !atomic_load_explicit(&p->stop,
						     memory_order_acquire);
		}
		/* somebody woke us already: we are searching */
	}
	/* acquire: pairs with the release store in wake_one */
	while (atomic_load_explicit(&w->parked, memory_order_acquire))
		weft__futex_wait(&w->parked, 1, NULL);
	/* whoever woke us counted us in nsearching */
	w->searching = true;
	return !atomic_load_explicit(&p->stop, memory_order_acquire);
}

/* ---- workers ------------------------------------------------------------- */

static inline void run_task(weft_task *t)
{
	if ((uintptr_t)t & WEFT_JOB_TAG) {
		struct weft__job *j =
			(struct weft__job *)((uintptr_t)t & ~WEFT_JOB_TAG);
		j->run(j);
		return;
	}
	weft__task_execute(t);
	weft__unref(t); /* the queue's reference */
}

/*
 * A spare (started to stand in for a blocked worker) gives the pool back
 * its width once the blocked worker runs again: it parks when more workers
 * are runnable than the pool's size, and is woken like any idle worker.
 */
static bool spare_in_excess(struct weft__worker *w)
{
	struct weft__pool *p = w->pool;
	if (w->index < p->nthreads || weft__deque_size(&w->dq) > 0)
		return false;
	int n = (int)atomic_load_explicit(&p->nworkers, memory_order_relaxed);
	int runnable = n -
		       atomic_load_explicit(&p->nidle, memory_order_relaxed) -
		       atomic_load_explicit(&p->nblocked, memory_order_relaxed);
	return runnable > (int)p->nthreads;
}

static void *worker_main(void *arg)
{
	struct weft__worker *w = arg;
	struct weft__pool *p = w->pool;
	weft__tls.worker = w;
	/* after a wake-up, look for work once before retiring again: the
	 * wake-up may be for work nobody else will take */
	bool just_woken = false;
	for (;;) {
		if (!just_woken && spare_in_excess(w)) {
			if (!park(w))
				break;
			just_woken = true;
			continue;
		}
		just_woken = false;
		weft_task *t = find_work(w);
		if (t) {
			stop_searching(w);
			run_task(t);
			continue;
		}
		/* Nothing found: search a little longer before parking, but
		 * only if not half the pool is searching already. */
		int s = atomic_load_explicit(&p->nsearching,
					     memory_order_relaxed);
		if (w->searching || 2 * s < (int)p->nthreads) {
			start_searching(w);
			for (int i = 0; i < SPIN_ROUNDS && !t; i++) {
				weft__cpu_relax();
				t = find_work(w);
			}
			/* then yield a few times: work that an external thread
			 * is about to submit (a request/response loop) arrives
			 * within microseconds, and a futex round trip costs
			 * more than that */
			for (int i = 0; i < YIELD_ROUNDS && !t; i++) {
				sched_yield();
				t = find_work(w);
			}
			if (t) {
				stop_searching(w);
				run_task(t);
				continue;
			}
		}
		if (atomic_load_explicit(&p->stop, memory_order_acquire))
			break;
		if (!park(w))
			break;
		just_woken = true;
	}
	give_up_searching(w);
	weft__tls.worker = NULL;
	return NULL;
}

static void *long_running_main(void *arg)
{
	weft_task *t = arg;
	struct weft__pool *p = weft__task_sched(t)->pool;
	run_task(t);
	pthread_mutex_lock(&p->idle_lock);
	atomic_fetch_sub_explicit(&p->long_running, 1, memory_order_relaxed);
	pthread_cond_broadcast(&p->drain_cond);
	pthread_mutex_unlock(&p->idle_lock);
	return NULL;
}

int weft__pool_push(struct weft__pool *p, weft_task *t)
{
	struct weft__worker *w = weft__tls.worker;
	uint32_t opts = atomic_load_explicit(&t->state, memory_order_relaxed);
	bool own = w && w->pool == p;
	if (own &&
	    !(opts & (WEFT_TASK_LONG_RUNNING | WEFT_TASK_PREFER_FAIRNESS)) &&
	    weft__deque_push(&w->dq, t) == 0) {
		notify(p);
		return 0;
	}
	if (!own && atomic_load_explicit(&p->closing, memory_order_acquire))
		return -ESHUTDOWN;
	if (opts & WEFT_TASK_LONG_RUNNING) {
		pthread_attr_t attr;
		pthread_t th;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		atomic_fetch_add_explicit(&p->long_running, 1,
					  memory_order_relaxed);
		int rc = pthread_create(&th, &attr, long_running_main, t);
		pthread_attr_destroy(&attr);
		if (rc == 0)
			return 0;
		pthread_mutex_lock(&p->idle_lock);
		atomic_fetch_sub_explicit(&p->long_running, 1,
					  memory_order_relaxed);
		pthread_cond_broadcast(&p->drain_cond);
		pthread_mutex_unlock(&p->idle_lock);
		/* no thread to be had: run it on the pool instead */
	}
	if (own && !(opts & WEFT_TASK_PREFER_FAIRNESS) &&
	    weft__deque_push(&w->dq, t) == 0) {
		notify(p);
		return 0;
	}
	gq_push(p, t);
	notify(p);
	return 0;
}

bool weft__pool_push_job(struct weft__job *j)
{
	struct weft__worker *w = weft__tls.worker;
	if (weft__deque_push(&w->dq, (void *)((uintptr_t)j | WEFT_JOB_TAG)))
		return false;
	notify(w->pool);
	return true;
}

bool weft__pool_take_back_job(struct weft__job *j)
{
	struct weft__worker *w = weft__tls.worker;
	return weft__deque_pop_if(&w->dq,
				  (void *)((uintptr_t)j | WEFT_JOB_TAG));
}

static bool job_done(void *arg)
{
	/* acquire: pairs with the release store that finishes the job */
	return atomic_load_explicit((_Atomic uint32_t *)arg,
				    memory_order_acquire) != 0;
}

void weft__pool_wait_job(struct weft__job *j)
{
	struct weft__worker *w = weft__tls.worker;
	struct weft__pool *p = w->pool;
	weft__pool_help(p, job_done, &j->done);
	for (int i = 0; i < SPIN_ROUNDS && !job_done(&j->done); i++)
		weft__cpu_relax();
	if (job_done(&j->done))
		return;
	/* The thief is running it and there is nothing else to do: sleep,
	 * with a replacement so the pool keeps its width. */
	weft__pool_block_begin(p);
	while (!job_done(&j->done))
		weft__futex_wait(&j->done, 0, NULL);
	weft__pool_block_end(p);
}

struct weft__deque *weft__pool_local_deque(struct weft__pool *p)
{
	struct weft__worker *w = weft__tls.worker;
	return w && w->pool == p ? &w->dq : NULL;
}

bool weft__pool_help(struct weft__pool *p, bool (*done)(void *), void *arg)
{
	struct weft__worker *w = weft__tls.worker;
	if (!w || w->pool != p)
		return done(arg);
	while (!done(arg)) {
		weft_task *t = find_work(w);
		if (!t)
			return done(arg);
		run_task(t);
	}
	return true;
}

static int start_spare(struct weft__pool *p)
{
	pthread_mutex_lock(&p->idle_lock);
	unsigned n = atomic_load_explicit(&p->nworkers, memory_order_relaxed);
	int rc = -EAGAIN;
	if (n < p->max_workers && !atomic_load(&p->stop)) {
		rc = start_worker(p, n);
		if (rc == 0)
			/* release: pairs with the acquire loads of
			 * nworkers in steal_any */
			atomic_store_explicit(&p->nworkers, n + 1,
					      memory_order_release);
	}
	pthread_mutex_unlock(&p->idle_lock);
	return rc;
}

void weft__pool_block_begin(struct weft__pool *p)
{
	int blocked = atomic_fetch_add_explicit(&p->nblocked, 1,
						memory_order_relaxed) +
		      1;
	unsigned n = atomic_load_explicit(&p->nworkers, memory_order_relaxed);
	int idle = atomic_load_explicit(&p->nidle, memory_order_relaxed);
	/* Runnable workers left once we block: keep at least nthreads of
	 * them able to take work. */
	if ((int)n - blocked >= (int)p->nthreads + idle)
		return;
	if (idle > 0)
		wake_one(p, true);
	else if (work_visible(p))
		start_spare(p);
	else if ((int)n - blocked < (int)p->nthreads)
		/* nothing queued yet, but something may come that the
		 * awaited task depends on: have a worker ready for it */
		start_spare(p);
}

void weft__pool_block_end(struct weft__pool *p)
{
	atomic_fetch_sub_explicit(&p->nblocked, 1, memory_order_relaxed);
}

/* ---- shutdown ------------------------------------------------------------ */

static bool drained(struct weft__pool *p)
{
	unsigned n = atomic_load_explicit(&p->nworkers, memory_order_relaxed);
	return atomic_load_explicit(&p->nidle, memory_order_relaxed) ==
		       (int)n &&
	       atomic_load_explicit(&p->long_running, memory_order_relaxed) ==
		       0 &&
	       !work_visible(p);
}

int weft__pool_shutdown(struct weft__pool *p)
{
	struct weft__worker *w = weft__tls.worker;
	if (w && w->pool == p)
		return -EDEADLK;
	pthread_mutex_lock(&p->idle_lock);
	if (p->joined) {
		pthread_mutex_unlock(&p->idle_lock);
		return 0;
	}
	atomic_store_explicit(&p->closing, true, memory_order_release);
	while (!drained(p))
		pthread_cond_wait(&p->drain_cond, &p->idle_lock);
	atomic_store_explicit(&p->stop, true, memory_order_release);
	for (struct weft__worker *i = p->idle; i; i = i->idle_next) {
		/* counted as searching, as wake_one does */
		atomic_fetch_add_explicit(&p->nsearching, 1,
					  memory_order_relaxed);
		atomic_store_explicit(&i->parked, 0, memory_order_release);
		weft__futex_wake(&i->parked, 1);
	}
	p->idle = NULL;
	unsigned n = atomic_load_explicit(&p->nworkers, memory_order_relaxed);
	p->joined = true;
	pthread_mutex_unlock(&p->idle_lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(p->workers[i].thread, NULL);
	return 0;
}

void weft__pool_destroy(struct weft__pool *p)
{
	unsigned n = atomic_load_explicit(&p->nworkers, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++)
		weft__deque_destroy(&p->workers[i].dq);
	pthread_mutex_destroy(&p->gq_lock);
	pthread_mutex_destroy(&p->idle_lock);
	pthread_cond_destroy(&p->drain_cond);
	free(p->workers);
	free(p);
}
