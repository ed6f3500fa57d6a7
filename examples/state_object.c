/*
 * state_object.c - give each task its own state object so that it sees the
 * loop counter's value at the time the task was created
 * (Task.Factory.StartNew((Object obj) => ..., new CustomData() {...})).
 *
 * This is the fix for the mistake shown in lambda_capture.c: the value is
 * copied into a CustomData owned by the task, so every task prints its own
 * number.  The tasks run concurrently, so the lines come in any order.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

struct custom_data {
	long long creation_time; /* 100 ns ticks since 0001-01-01, as .NET */
	int name;
	int thread_num;
};

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
	struct custom_data *data = arg;

	(void)self;
	if (data == NULL)
		return NULL;
	data->thread_num = thread_number();
	printf("Task #%d created at %lld on thread #%d.\n", data->name,
	       data->creation_time, data->thread_num);
	return NULL;
}

int main(void)
{
	enum {
		N = 10
	};
	weft_task *tasks[N];
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	int rc;

	thread_number(); /* the main thread is thread #1 */
	opts.arg_free = free;

	/* Pass the loop counter's current value inside a state object. */
	for (int i = 0; i < N; i++) {
		struct custom_data *data = malloc(sizeof(*data));

		if (data == NULL) {
			fprintf(stderr, "out of memory\n");
			return 1;
		}
		*data = (struct custom_data){.name = i,
					     .creation_time = now_ticks()};
		rc = weft_task_start_new(&tasks[i], report, data, &opts);
		if (rc != 0) {
			fprintf(stderr, "start_new: %s\n", weft_strerror(rc));
			return 1;
		}
	}
	rc = weft_task_wait_all(tasks, N, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	for (int i = 0; i < N; i++)
		weft_task_unref(tasks[i]);
	if (rc != 0) {
		fprintf(stderr, "wait_all: %s\n", weft_strerror(rc));
		return 1;
	}
	return 0;
}
