/*
 * child_tasks_detached.c - a task that starts a detached child: the parent
 * does not wait for it (Creating detached child tasks).
 *
 * A task created inside another task without WEFT_TASK_ATTACHED_TO_PARENT
 * is not synchronized with that task in any way.  To make this visible the
 * child does not finish until the main thread has seen the outer task
 * complete; if the outer task waited for its child, weft_task_wait() below
 * would never return.  The main thread keeps a handle to the child (handed
 * out by the outer task) so that it can wait for it before exiting.
 */
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

struct outer_state {
	weft_promise
		*go_ahead; /* completed by main after "Outer task completed." */
	weft_task *child;  /* set by the outer task, for main */
};

static weft_error *detached_child(weft_task *self, void *arg)
{
	weft_task *go_ahead = arg;
	weft_error *err = NULL;

	(void)self;
	/* Wait until main says so (a wait inside a task helps the pool). */
	if (weft_task_wait(go_ahead, WEFT_INFINITE, WEFT_TOKEN_NONE, &err) != 0)
		return err;
	printf("Detached task completed.\n");
	return NULL;
}

static weft_error *outer_task(weft_task *self, void *arg)
{
	struct outer_state *st = arg;
	int rc;

	(void)self;
	printf("Outer task beginning.\n");
	/* No WEFT_TASK_ATTACHED_TO_PARENT: a detached child. */
	rc = weft_task_start_new(&st->child, detached_child,
				 weft_promise_task(st->go_ahead), NULL);
	if (rc != 0)
		return weft_error_new(rc, "starting the child");
	return NULL;
}

int main(void)
{
	struct outer_state st = {0};
	weft_task *outer;
	weft_error *err;
	int rc;

	rc = weft_promise_new(&st.go_ahead, NULL, 0);
	if (rc == 0)
		rc = weft_task_start_new(&outer, outer_task, &st, NULL);
	if (rc != 0) {
		fprintf(stderr, "setup: %s\n", weft_strerror(rc));
		return 1;
	}

	rc = weft_task_wait(outer, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	if (rc != 0) {
		fprintf(stderr, "outer: %s\n", weft_strerror(rc));
		return 1;
	}
	printf("Outer task completed.\n");

	/* Let the child finish, and wait for it before leaving main. */
	weft_promise_set_result(st.go_ahead, NULL, NULL);
	rc = weft_task_wait(st.child, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	if (rc != 0) {
		fprintf(stderr, "child: %s\n", weft_strerror(rc));
		weft_error_unref(err);
	}

	weft_task_unref(st.child);
	weft_task_unref(outer);
	weft_promise_unref(st.go_ahead);
	return rc == 0 ? 0 : 1;
}
