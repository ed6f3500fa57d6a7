/*
 * lambda_capture.c - the loop-variable mistake: every task gets the ADDRESS
 * of the one loop counter instead of its value.
 *
 * In C# a lambda in a loop captures the variable, not its value, so the
 * tasks print the counter's final value (10).  The C analogue is passing &i:
 * all tasks share one counter, and by the time a task reads it the loop has
 * usually moved on, often to its end.  What each task prints depends on
 * timing; state_object.c shows the fix (copy the value into the task's own
 * state).
 *
 * The counter is atomic only so that this demonstration is a well-defined
 * program: reading a plain int that another thread is changing would be a
 * data race, which in C is undefined behaviour, not just a wrong number.
 * Because the tasks keep its address, it must outlive them: it is declared
 * outside the loop and the tasks are waited for before main returns.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

/* A small number per thread, like .NET's ManagedThreadId (main is 1). */
static int thread_number(void)
{
	static atomic_int next = 1;
	static _Thread_local int mine;

	if (mine == 0)
		mine = atomic_fetch_add_explicit(&next, 1,
						 memory_order_relaxed);
	return mine;
}

static long long now_ticks(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (ts.tv_sec + 62135596800LL) * 10000000LL + ts.tv_nsec / 100;
}

static weft_error *report(weft_task *self, void *arg)
{
	atomic_int *counter = arg; /* shared by every task: the mistake */
	int name = atomic_load(counter);

	(void)self;
	printf("Task #%d created at %lld on thread #%d.\n", name, now_ticks(),
	       thread_number());
	return NULL;
}

int main(void)
{
	enum {
		N = 10
	};
	weft_task *tasks[N];
	atomic_int i;
	int rc;

	thread_number(); /* the main thread is thread #1 */

	/* Every task receives &i: they all see whatever i holds when they run.
	 */
	for (i = 0; i < N; i++) {
		rc = weft_task_start_new(&tasks[i], report, &i, NULL);
		if (rc != 0) {
			fprintf(stderr, "start_new: %s\n", weft_strerror(rc));
			return 1;
		}
	}
	rc = weft_task_wait_all(tasks, N, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	for (int k = 0; k < N; k++)
		weft_task_unref(tasks[k]);
	if (rc != 0) {
		fprintf(stderr, "wait_all: %s\n", weft_strerror(rc));
		return 1;
	}
	return 0;
}
