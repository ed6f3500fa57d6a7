/*
 * child_tasks_attached.c - a parent task with ten attached children
 * (Creating child tasks; TaskCreationOptions.AttachedToParent).
 *
 * A task created inside a running task with WEFT_TASK_ATTACHED_TO_PARENT
 * becomes its child: the parent is not complete until every attached child
 * is, so waiting for the parent waits for all of them, without a handle to
 * any child.  (weft_task_run() would not do here: like Task.Run it denies
 * attachment.  weft_task_start_new() with default options allows it.)
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

static weft_error *child(weft_task *self, void *arg)
{
	int task_no = (int)(intptr_t)arg;
	struct timespec work = {0, 10 * 1000 * 1000}; /* 10 ms of "work" */

	(void)self;
	nanosleep(&work, NULL);
	printf("Attached child #%d completed.\n", task_no);
	return NULL;
}

static weft_error *parent(weft_task *self, void *arg)
{
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;

	(void)self;
	(void)arg;
	printf("Parent task beginning.\n");
	opts.flags = WEFT_TASK_ATTACHED_TO_PARENT;
	for (int ctr = 0; ctr < 10; ctr++) {
		/* No handle needed (OUT is NULL): the parent tracks its child.
		 */
		int rc = weft_task_start_new(NULL, child, (void *)(intptr_t)ctr,
					     &opts);
		if (rc != 0)
			return weft_error_new(rc, "starting child #%d", ctr);
	}
	return NULL;
}

int main(void)
{
	weft_task *p;
	weft_error *err = NULL;
	int rc;

	rc = weft_task_start_new(&p, parent, NULL, NULL);
	if (rc != 0) {
		fprintf(stderr, "start_new: %s\n", weft_strerror(rc));
		return 1;
	}
	rc = weft_task_wait(p, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	if (rc != 0) {
		fprintf(stderr, "parent: %s\n", weft_strerror(rc));
		weft_error_unref(err);
		weft_task_unref(p);
		return 1;
	}
	printf("Parent task completed.\n");
	weft_task_unref(p);
	return 0;
}
