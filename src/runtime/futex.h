/*
 * futex.h - the two futex operations weft parks threads with.
 *
 * Private futexes only: every waiter and waker lives in this process.  The
 * word is a C11 atomic; callers publish the value they wake on with a
 * release store before weft__futex_wake, and re-check it with an acquire
 * load after weft__futex_wait returns (wake-ups may be spurious).
 */
#ifndef WEFT_FUTEX_H
#define WEFT_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * Sleep while *WORD == EXPECTED, at most until the CLOCK_MONOTONIC
 * deadline ABS (NULL: no deadline).  Returns 0, -ETIMEDOUT, -EAGAIN (the
 * word had changed) or -EINTR.
 */
static inline int weft__futex_wait(_Atomic uint32_t *word, uint32_t expected,
				   const struct timespec *abs)
{
	/* FUTEX_WAIT_BITSET takes an absolute deadline, which keeps repeated
	 * spurious wake-ups from stretching the total wait. */
	long rc = syscall(SYS_futex, (uint32_t *)word,
			  FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, abs,
			  NULL, FUTEX_BITSET_MATCH_ANY);
	return rc == 0 ? 0 : -errno;
}

/* Wake up to N threads sleeping on WORD. */
static inline void weft__futex_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG,
		n, NULL, NULL, 0);
}

/* The CLOCK_MONOTONIC deadline MS milliseconds from now. */
static inline struct timespec weft__deadline_after(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* True when the CLOCK_MONOTONIC deadline D has passed. */
static inline int weft__deadline_passed(const struct timespec *d)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > d->tv_sec ||
	       (now.tv_sec == d->tv_sec && now.tv_nsec >= d->tv_nsec);
}

/* A polite busy-wait step for spin loops. */
static inline void weft__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif
