/*
 * creation_options.c - combine task creation options with | (new Task(...,
 * TaskCreationOptions.LongRunning | TaskCreationOptions.PreferFairness)).
 *
 * WEFT_TASK_LONG_RUNNING gives the task a thread of its own instead of a
 * pool worker, so a long or blocking body does not hold up the pool;
 * WEFT_TASK_PREFER_FAIRNESS queues it in FIFO order with other fair tasks.
 * The options are hints for the scheduler; the task is an ordinary task.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

static weft_error *my_long_running_method(weft_task *self, void *arg)
{
	struct timespec pause = {0, 20 * 1000 * 1000}; /* 20 ms of "work" */

	(void)self;
	(void)arg;
	nanosleep(&pause, NULL);
	printf("MyLongRunningMethod finished.\n");
	return NULL;
}

static void print_options(const char *label, unsigned flags)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{WEFT_TASK_PREFER_FAIRNESS, "PreferFairness"},
		{WEFT_TASK_LONG_RUNNING, "LongRunning"},
		{WEFT_TASK_ATTACHED_TO_PARENT, "AttachedToParent"},
		{WEFT_TASK_DENY_CHILD_ATTACH, "DenyChildAttach"},
		{WEFT_TASK_HIDE_SCHEDULER, "HideScheduler"},
		{WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
		 "RunContinuationsAsynchronously"},
	};
	const char *sep = "";

	printf("%s", label);
	if (flags == WEFT_TASK_NONE)
		printf("None");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (flags & names[i].bit) {
			printf("%s%s", sep, names[i].name);
			sep = ", ";
		}
	}
	printf("\n");
}

int main(void)
{
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	weft_task *task3;
	weft_error *err = NULL;
	int rc;

	opts.flags = WEFT_TASK_LONG_RUNNING | WEFT_TASK_PREFER_FAIRNESS;
	rc = weft_task_create(&task3, my_long_running_method, NULL, &opts);
	if (rc != 0) {
		fprintf(stderr, "weft_task_create: %s\n", weft_strerror(rc));
		return 1;
	}
	print_options("task3 options: ", weft_task_creation_options(task3));

	rc = weft_task_start(task3, NULL);
	if (rc == 0)
		rc = weft_task_wait(task3, WEFT_INFINITE, WEFT_TOKEN_NONE,
				    &err);
	if (rc != 0) {
		fprintf(stderr, "task3: %s\n", weft_strerror(rc));
		weft_error_unref(err);
		weft_task_unref(task3);
		return 1;
	}
	printf("task3 ran to completion.\n");
	weft_task_unref(task3);
	return 0;
}
