/*
 * wait_all.c - block until several tasks have finished (Waiting for tasks
 * to finish: Task.WaitAll).
 *
 * weft_task_wait_all() returns when every task is complete.  It returns 0
 * when all ran to completion; otherwise it hands back one aggregate error
 * holding the errors of all the tasks that failed (see exceptions.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static weft_error *method_a(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	printf("MethodA finished.\n");
	return NULL;
}

static weft_error *method_b(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	printf("MethodB finished.\n");
	return NULL;
}

static weft_error *method_c(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	printf("MethodC finished.\n");
	return NULL;
}

int main(void)
{
	weft_task_fn methods[3] = {method_a, method_b, method_c};
	weft_task *tasks[3];
	weft_error *err = NULL;
	int rc;

	for (int i = 0; i < 3; i++) {
		rc = weft_task_start_new(&tasks[i], methods[i], NULL, NULL);
		if (rc != 0) {
			fprintf(stderr, "start_new: %s\n", weft_strerror(rc));
			return 1;
		}
	}

	/* Block until all tasks complete. */
	rc = weft_task_wait_all(tasks, 3, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	if (rc != 0) {
		fprintf(stderr, "wait_all: %s\n", weft_strerror(rc));
		weft_error_unref(err);
	} else {
		/* Continue on this thread... */
		printf("All three tasks have finished.\n");
	}
	for (int i = 0; i < 3; i++)
		weft_task_unref(tasks[i]);
	return rc == 0 ? 0 : 1;
}
