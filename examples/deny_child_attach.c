/*
 * deny_child_attach.c - a parent can refuse attached children
 * (TaskCreationOptions.DenyChildAttach).
 *
 * Both parents below start a child with WEFT_TASK_ATTACHED_TO_PARENT, and
 * both children wait for the main thread's go-ahead before finishing.  The
 * first parent accepts the attachment: it cannot complete while its child
 * waits, so a timed wait for it runs out.  The second parent was created
 * with WEFT_TASK_DENY_CHILD_ATTACH: its child is detached despite asking to
 * attach, and the parent completes at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

struct family {
	weft_task *go_ahead; /* the children finish once this completes */
	weft_task *child;    /* set by the parent */
};

static weft_error *child_body(weft_task *self, void *arg)
{
	weft_error *err = NULL;

	(void)self;
	if (weft_task_wait(arg, WEFT_INFINITE, WEFT_TOKEN_NONE, &err) != 0)
		return err;
	return NULL;
}

static weft_error *parent_body(weft_task *self, void *arg)
{
	struct family *f = arg;
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	int rc;

	(void)self;
	opts.flags = WEFT_TASK_ATTACHED_TO_PARENT;
	rc = weft_task_start_new(&f->child, child_body, f->go_ahead, &opts);
	return rc == 0 ? NULL : weft_error_new(rc, "starting the child");
}

static int demo(const char *label, unsigned parent_flags)
{
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	weft_promise *go_ahead;
	struct family f = {0};
	weft_task *parent;
	int rc;

	rc = weft_promise_new(&go_ahead, NULL, 0);
	if (rc != 0)
		return rc;
	f.go_ahead = weft_promise_task(go_ahead);
	opts.flags = parent_flags;
	rc = weft_task_start_new(&parent, parent_body, &f, &opts);
	if (rc != 0) {
		weft_promise_unref(go_ahead);
		return rc;
	}

	if (parent_flags & WEFT_TASK_DENY_CHILD_ATTACH) {
		/* If the child had attached, this wait would never return. */
		rc = weft_task_wait(parent, WEFT_INFINITE, WEFT_TOKEN_NONE,
				    NULL);
		printf("%s: completed (%s) while its child still waits: %s\n",
		       label, rc == 0 ? "ok" : weft_strerror(rc),
		       weft_task_is_completed(f.child) ? "no" : "yes");
	} else {
		rc = weft_task_wait(parent, 200, WEFT_TOKEN_NONE, NULL);
		printf("%s: a 200 ms wait for it %s\n", label,
		       rc == -ETIMEDOUT ? "timed out: it waits for its child" :
					  weft_strerror(rc));
	}

	/* Let the child finish; now the parent completes either way. */
	weft_promise_set_result(go_ahead, NULL, NULL);
	rc = weft_task_wait(parent, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	if (rc == 0)
		rc = weft_task_wait(f.child, WEFT_INFINITE, WEFT_TOKEN_NONE,
				    NULL);
	printf("%s: after the go-ahead, parent and child %s\n", label,
	       rc == 0 ? "ran to completion" : weft_strerror(rc));

	weft_task_unref(f.child);
	weft_task_unref(parent);
	weft_promise_unref(go_ahead);
	return 0;
}

int main(void)
{
	int rc = demo("default parent", WEFT_TASK_NONE);

	if (rc == 0)
		rc = demo("DenyChildAttach parent",
			  WEFT_TASK_DENY_CHILD_ATTACH);
	if (rc != 0) {
		fprintf(stderr, "deny_child_attach: %s\n", weft_strerror(rc));
		return 1;
	}
	return 0;
}
