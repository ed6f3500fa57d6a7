/*
 * unwrap.c - a task whose result is another task (How to: Unwrap a Nested
 * Task).
 *
 * A body that starts more asynchronous work can hand that work's task out
 * as its own result.  Waiting for the outer task then only says that the
 * inner one was started.  weft_task_unwrap() gives a proxy that completes
 * when the inner task does, with its state, result and errors;
 * weft_task_run_unwrap() runs such a function and unwraps in one call.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static weft_error *compute_answer(weft_task *self, void *arg)
{
	(void)arg;
	weft_task_set_result(self, (void *)(intptr_t)42, NULL);
	return NULL;
}

/* Starts the real work and returns its task as this task's result. */
static weft_error *start_computation(weft_task *self, void *arg)
{
	weft_task *inner;
	int rc;

	(void)arg;
	rc = weft_task_start_new(&inner, compute_answer, NULL, NULL);
	if (rc != 0)
		return weft_error_new(rc, "starting the inner task");
	/* As weft/compose.h asks: a weft_task *, freed by weft_task_unref. */
	weft_task_set_result(self, inner, weft_task_unref_any);
	return NULL;
}

static weft_error *cannot_start(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	return weft_error_new(-EAGAIN, "no resources for the inner task");
}

static void report(const char *label, weft_task *proxy)
{
	void *value;
	weft_error *err = NULL;
	int rc = weft_task_get_result(proxy, &value, &err);

	if (rc == 0)
		printf("%s: the answer is %ld\n", label, (long)(intptr_t)value);
	else
		printf("%s: %s: %s\n", label,
		       rc == WEFT_EFAULTED ? "WEFT_EFAULTED" :
					     weft_strerror(rc),
		       weft_error_message(weft_error_inner(err, 0)));
	weft_error_unref(err);
}

int main(void)
{
	weft_task *outer, *proxy;
	int rc;

	/* Start the outer task, then unwrap it. */
	rc = weft_task_start_new(&outer, start_computation, NULL, NULL);
	if (rc == 0)
		rc = weft_task_unwrap(&proxy, outer);
	if (rc != 0) {
		fprintf(stderr, "unwrap: %s\n", weft_strerror(rc));
		return 1;
	}
	report("weft_task_unwrap", proxy);
	weft_task_unref(proxy);
	weft_task_unref(outer);

	/* The same in one call. */
	rc = weft_task_run_unwrap(&proxy, start_computation, NULL,
				  WEFT_TOKEN_NONE);
	if (rc != 0) {
		fprintf(stderr, "run_unwrap: %s\n", weft_strerror(rc));
		return 1;
	}
	report("weft_task_run_unwrap", proxy);
	weft_task_unref(proxy);

	/* The outer function fails: so does the proxy, with its error. */
	rc = weft_task_run_unwrap(&proxy, cannot_start, NULL, WEFT_TOKEN_NONE);
	if (rc != 0) {
		fprintf(stderr, "run_unwrap: %s\n", weft_strerror(rc));
		return 1;
	}
	report("a failing outer function", proxy);
	weft_task_unref(proxy);
	return 0;
}
