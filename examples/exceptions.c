/*
 * exceptions.c - errors in tasks (Handling exceptions in tasks).
 *
 * A body fails by returning an error object.  Whoever joins the task (a
 * wait, weft_task_get_result, a wait for several tasks) receives an
 * aggregate whose inner errors are the very objects the bodies returned;
 * attached children add their own aggregates, which weft_error_flatten()
 * unnests.  weft_error_handle() sorts out the errors a caller knows how to
 * deal with.  Reading the errors (by a wait or weft_task_error) marks them
 * observed; an error nobody observed is reported to the handler installed
 * with weft_set_unobserved_error_handler() when its task is freed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static weft_error *fail_with(weft_task *self, void *arg)
{
	weft_error **returned = arg;
	weft_error *err = weft_error_new(-EIO, "the disk is on fire");

	(void)self;
	if (returned)
		*returned = weft_error_ref(err); /* kept to compare below */
	return err; /* the task takes this reference */
}

static weft_error *pipe_breaks(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	return weft_error_new(-EPIPE, "the pipe broke");
}

static weft_error *disk_fills(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	return weft_error_new(-ENOSPC, "the disk is full");
}

/* A parent whose two attached children fail. */
static weft_error *parent_body(weft_task *self, void *arg)
{
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	int rc;

	(void)self;
	(void)arg;
	opts.flags = WEFT_TASK_ATTACHED_TO_PARENT;
	rc = weft_task_start_new(NULL, pipe_breaks, NULL, &opts);
	if (rc == 0)
		rc = weft_task_start_new(NULL, disk_fills, NULL, &opts);
	return rc == 0 ? NULL : weft_error_new(rc, "starting a child");
}

static bool is_pipe_error(weft_error *e, void *arg)
{
	(void)arg;
	return weft_error_code(e) == -EPIPE;
}

static void on_unobserved(weft_error *err, void *arg)
{
	weft_promise *reported = arg;

	/* ERR may be the task's aggregate: report what the body returned. */
	while (weft_error_get_kind(err) == WEFT_ERROR_AGGREGATE &&
	       weft_error_inner_count(err) > 0)
		err = weft_error_inner(err, 0);
	printf("unobserved error reported: %s\n", weft_error_message(err));
	weft_promise_try_set_result(reported, NULL, NULL);
}

int main(void)
{
	weft_task *t, *parent;
	weft_error *returned = NULL, *err = NULL, *flat, *unhandled = NULL;
	weft_promise *reported;
	char text[256];
	size_t index;
	bool nested;
	int rc;

	/* 1. One error: the waiter gets it, wrapped in an aggregate. */
	if (weft_task_start_new(&t, fail_with, &returned, NULL) != 0)
		return 1;
	rc = weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	weft_error_format(err, text, sizeof(text));
	printf("wait: %s: %s\n", rc == WEFT_EFAULTED ? "WEFT_EFAULTED" : "?",
	       text);
	printf("the inner error is the object the body returned: %s\n",
	       weft_error_inner(err, 0) == returned ? "yes" : "no");
	weft_error_unref(err);
	/* Reading the result of a faulted task is an error too. */
	{
		void *value;

		rc = weft_task_get_result(t, &value, &err);
		printf("get_result: %s\n",
		       rc == WEFT_EFAULTED ? "WEFT_EFAULTED" : "?");
		weft_error_unref(err);
	}
	weft_error_unref(returned);
	weft_task_unref(t);

	/* 2. Attached children: one aggregate per faulted child. */
	if (weft_task_start_new(&parent, parent_body, NULL, NULL) != 0)
		return 1;
	rc = weft_task_wait(parent, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	nested = weft_error_inner_count(err) > 0;
	for (size_t i = 0; i < weft_error_inner_count(err); i++)
		if (weft_error_get_kind(weft_error_inner(err, i)) !=
		    WEFT_ERROR_AGGREGATE)
			nested = false;
	printf("parent: %s, %zu inner errors, each an aggregate: %s\n",
	       rc == WEFT_EFAULTED ? "WEFT_EFAULTED" : "?",
	       weft_error_inner_count(err), nested ? "yes" : "no");
	flat = weft_error_flatten(err);
	printf("flattened: %zu errors\n", weft_error_inner_count(flat));

	/* 3. Handle what we know (-EPIPE), pass on the rest. */
	rc = weft_error_handle(flat, is_pipe_error, NULL, &unhandled);
	if (rc == WEFT_EFAULTED) {
		for (size_t i = 0; i < weft_error_inner_count(unhandled); i++)
			printf("not handled: %s\n",
			       weft_error_message(
				       weft_error_inner(unhandled, i)));
	}
	weft_error_unref(unhandled);
	weft_error_unref(flat);
	weft_error_unref(err);
	weft_task_unref(parent);

	/* 4. Nobody looks at the error: the handler hears about it. */
	if (weft_promise_new(&reported, NULL, 0) != 0)
		return 1;
	weft_set_unobserved_error_handler(on_unobserved, reported);
	if (weft_task_start_new(&t, fail_with, NULL, NULL) != 0)
		return 1;
	/* wait_any never reports errors, so this does not observe them. */
	weft_task_wait_any(&t, 1, WEFT_INFINITE, WEFT_TOKEN_NONE, &index);
	weft_task_unref(t); /* the last reference may be weft's own */
	rc = weft_task_wait(weft_promise_task(reported), 10000, WEFT_TOKEN_NONE,
			    NULL);
	if (rc != 0)
		printf("no unobserved error was reported\n");
	weft_set_unobserved_error_handler(NULL, NULL);
	weft_promise_unref(reported);
	return 0;
}
