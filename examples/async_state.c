/*
 * async_state.c - pass a state object to weft_task_start_new and read it
 * back from the finished task with weft_task_async_state
 * (Task.Factory.StartNew(action, state) and Task.AsyncState).
 *
 * Each task gets its own CustomData.  The task records which thread ran it;
 * after all tasks finished, the main thread reads every task's state back
 * through the task handle.  The state belongs to the task: arg_free frees it
 * when the task is freed.
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

static weft_error *record_thread(weft_task *self, void *arg)
{
	struct custom_data *data = arg;

	(void)self;
	if (data == NULL)
		return NULL;
	data->thread_num = thread_number();
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

	thread_number();      /* the main thread is thread #1 */
	opts.arg_free = free; /* each task frees its own state */

	for (int i = 0; i < N; i++) {
		struct custom_data *data = malloc(sizeof(*data));

		if (data == NULL) {
			fprintf(stderr, "out of memory\n");
			return 1;
		}
		*data = (struct custom_data){.name = i,
					     .creation_time = now_ticks()};
		rc = weft_task_start_new(&tasks[i], record_thread, data, &opts);
		if (rc != 0) { /* data was freed by arg_free */
			fprintf(stderr, "start_new: %s\n", weft_strerror(rc));
			return 1;
		}
	}
	rc = weft_task_wait_all(tasks, N, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	if (rc != 0) {
		fprintf(stderr, "wait_all: %s\n", weft_strerror(rc));
		return 1;
	}

	for (int i = 0; i < N; i++) {
		const struct custom_data *data =
			weft_task_async_state(tasks[i]);

		if (data != NULL)
			printf("Task #%d created at %lld, ran on thread #%d.\n",
			       data->name, data->creation_time,
			       data->thread_num);
	}
	for (int i = 0; i < N; i++)
		weft_task_unref(tasks[i]); /* frees each custom_data */
	return 0;
}
