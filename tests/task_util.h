/*
 * task_util.h - small helpers shared by the task tests: waits without a
 * timeout, option and promise shorthands, a counting body, and polling.
 * Everything is static inline, so a test includes what it uses for free.
 */
#ifndef WEFT_TEST_TASK_UTIL_H
#define WEFT_TEST_TASK_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include <weft.h>

/* Wait for T with no timeout and no token; the wait's return code. */
static inline int wait_inf(weft_task *t)
{
	return weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
}

/* The same, handing out the error (+1 or NULL) in *ERR. */
static inline int wait_err(weft_task *t, weft_error **err)
{
	return weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, err);
}

/* Task options with FLAGS and every other field at its default. */
static inline weft_task_options opt(unsigned flags)
{
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	o.flags = flags;
	return o;
}

/* A new promise with FLAGS and no state, or NULL. */
static inline weft_promise *promise(unsigned flags)
{
	weft_promise *p = NULL;

	if (weft_promise_new(&p, NULL, flags) != 0)
		return NULL;
	return p;
}

/* A body that counts its runs in the atomic_int ARG. */
static inline weft_error *count_body(weft_task *self, void *arg)
{
	(void)self;
	atomic_fetch_add((atomic_int *)arg, 1);
	return NULL;
}

/* Seconds on the monotonic clock. */
static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleep MS milliseconds, resuming after signals. */
static inline void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts))
		;
}

/* A short pause for polling loops. */
static inline void nap(void)
{
	struct timespec ts = {0, 200 * 1000};

	nanosleep(&ts, NULL);
}

/* Poll until *V >= AT_LEAST; false after a minute (a sanity bound). */
/*
 * Poll COND every millisecond until it holds: true, or false after SECS
 * seconds (a sanity bound only, never a timing assertion).
 */
#define wait_until(cond, secs)                                                 \
	({                                                                     \
		double wu_end_ = now_s() + (secs);                             \
		bool wu_ok_ = true;                                            \
		while (!(cond)) {                                              \
			if (now_s() > wu_end_) {                               \
				wu_ok_ = false;                                \
				break;                                         \
			}                                                      \
			sleep_ms(1);                                           \
		}                                                              \
		wu_ok_;                                                        \
	})

static inline bool poll_until(atomic_int *v, int at_least)
{
	return wait_until(atomic_load(v) >= at_least, 60);
}

/* A continuation that records the thread it ran on and counts its runs. */
struct ran_on {
	atomic_int ran;
	pthread_t thread;
};

static inline weft_error *ran_on_cont(weft_task *self, weft_task *ante,
				      void *arg)
{
	struct ran_on *r = arg;

	(void)self;
	(void)ante;
	r->thread = pthread_self();
	atomic_fetch_add(&r->ran, 1);
	return NULL;
}

#endif
