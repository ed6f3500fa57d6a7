/*
 * when_all.c - a task that completes when a group of tasks has
 * (Composing tasks: Task.WhenAll).
 *
 * Unlike weft_task_wait_all(), weft_task_when_all() does not block: it
 * returns a task, which can be waited for, or given a continuation like
 * any other.  It ends Faulted with the errors of every faulted task, else
 * Canceled if one was canceled, else RanToCompletion.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* Square ARG; refuse negative numbers. */
static weft_error *square(weft_task *self, void *arg)
{
	intptr_t n = (intptr_t)arg;

	if (n < 0)
		return weft_error_new(-EDOM, "cannot take %ld", (long)n);
	weft_task_set_result(self, (void *)(n * n), NULL);
	return NULL;
}

/* The continuation of when_all: the group, then each task's result. */
static weft_error *add_squares(weft_task *self, weft_task *group, void *arg)
{
	weft_task *const *tasks = arg;
	intptr_t sum = 0;

	(void)self;
	printf("  the group ran to completion: %s\n",
	       weft_task_is_completed_successfully(group) ? "yes" : "no");
	for (int i = 0; i < 3; i++)
		sum += (intptr_t)weft_task_result(tasks[i]);
	printf("  sum of squares: %ld\n", (long)sum);
	return NULL;
}

static int start_squares(weft_task *tasks[3], const intptr_t numbers[3])
{
	for (int i = 0; i < 3; i++) {
		int rc = weft_task_start_new(&tasks[i], square,
					     (void *)numbers[i], NULL);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int main(void)
{
	static const intptr_t good[3] = {1, 2, 3}, bad[3] = {4, -5, -6};
	weft_task *tasks[3], *all, *sum;
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	weft_error *err = NULL;
	int rc;

	/* All succeed: a continuation of the group adds the results. */
	printf("when_all of 1, 2, 3:\n");
	rc = start_squares(tasks, good);
	if (rc == 0)
		rc = weft_task_when_all(&all, tasks, 3);
	opts.flags = WEFT_CONT_ONLY_ON_RAN_TO_COMPLETION;
	if (rc == 0)
		rc = weft_task_continue_with(&sum, all, add_squares, tasks,
					     &opts);
	if (rc != 0) {
		fprintf(stderr, "setup: %s\n", weft_strerror(rc));
		return 1;
	}
	weft_task_wait(sum, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	weft_task_unref(sum);
	weft_task_unref(all);
	for (int i = 0; i < 3; i++)
		weft_task_unref(tasks[i]);

	/* Two fail: the group carries both errors, in array order. */
	printf("when_all of 4, -5, -6:\n");
	rc = start_squares(tasks, bad);
	if (rc == 0)
		rc = weft_task_when_all(&all, tasks, 3);
	if (rc != 0) {
		fprintf(stderr, "setup: %s\n", weft_strerror(rc));
		return 1;
	}
	rc = weft_task_wait(all, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	printf("  waiting for the group: %s, %zu errors\n",
	       rc == WEFT_EFAULTED ? "WEFT_EFAULTED" : weft_strerror(rc),
	       err ? weft_error_inner_count(err) : 0);
	for (size_t i = 0; err && i < weft_error_inner_count(err); i++)
		printf("  error %zu: %s\n", i,
		       weft_error_message(weft_error_inner(err, i)));
	weft_error_unref(err);
	weft_task_unref(all);
	for (int i = 0; i < 3; i++) {
		/* Mark each task's own errors observed as well. */
		weft_error_unref(weft_task_error(tasks[i]));
		weft_task_unref(tasks[i]);
	}
	return 0;
}
