/*
 * cancel_children.c - cancel a task and its children with one token
 * (How to: Cancel a Task and Its Children).
 *
 * The parent and its attached children all get the same token.  Each body
 * polls it and acknowledges cancellation; a child that had not started yet
 * is canceled without running.  Canceled children add no error to their
 * parent; the parent ends Canceled because its own body acknowledged.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

enum {
	NCHILDREN = 3
};

struct family {
	weft_promise *children_started;
	weft_task *children[NCHILDREN];
};

static const char *status_name(weft_task_status s)
{
	static const char *const names[] = {
		"Created",
		"WaitingForActivation",
		"WaitingToRun",
		"Running",
		"WaitingForChildrenToComplete",
		"RanToCompletion",
		"Canceled",
		"Faulted",
	};
	return (unsigned)s < 8 ? names[s] : "?";
}

/* Poll the task's token between 1 ms slices of work. */
static weft_error *work_until_canceled(weft_cancel_token token)
{
	struct timespec slice = {0, 1000 * 1000};

	for (;;) {
		weft_error *err = weft_cancel_throw_if_requested(token);

		if (err != NULL)
			return err;
		nanosleep(&slice, NULL);
	}
}

static weft_error *child(weft_task *self, void *arg)
{
	(void)arg;
	return work_until_canceled(weft_task_token(self));
}

static weft_error *parent(weft_task *self, void *arg)
{
	struct family *f = arg;
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;

	opts.flags = WEFT_TASK_ATTACHED_TO_PARENT;
	opts.token = weft_task_token(self); /* the parent's token */
	for (int i = 0; i < NCHILDREN; i++) {
		int rc = weft_task_start_new(&f->children[i], child, NULL,
					     &opts);
		if (rc != 0)
			return weft_error_new(rc, "starting child %d", i);
	}
	weft_promise_set_result(f->children_started, NULL, NULL);
	return work_until_canceled(weft_task_token(self));
}

int main(void)
{
	struct family f = {0};
	weft_cancel_source *cts;
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	weft_task *p;
	int rc;

	if (weft_cancel_source_new(&cts) != 0 ||
	    weft_promise_new(&f.children_started, NULL, 0) != 0)
		return 1;
	opts.token = weft_cancel_source_token(cts);
	rc = weft_task_start_new(&p, parent, &f, &opts);
	if (rc != 0) {
		fprintf(stderr, "start_new: %s\n", weft_strerror(rc));
		return 1;
	}

	weft_task_wait(weft_promise_task(f.children_started), WEFT_INFINITE,
		       WEFT_TOKEN_NONE, NULL);
	printf("the parent started %d children\n", NCHILDREN);
	weft_cancel_source_cancel(cts);
	printf("cancellation requested\n");

	rc = weft_task_wait(p, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	for (int i = 0; i < NCHILDREN; i++) {
		printf("child %d: %s\n", i,
		       status_name(weft_task_get_status(f.children[i])));
		weft_task_unref(f.children[i]);
	}
	printf("parent: %s (wait returned %s)\n",
	       status_name(weft_task_get_status(p)),
	       rc == -ECANCELED ? "-ECANCELED" : weft_strerror(rc));

	weft_task_unref(p);
	weft_promise_unref(f.children_started);
	weft_cancel_source_unref(cts);
	return 0;
}
