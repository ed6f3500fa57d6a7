/*
 * cancellation.c - cooperative cancellation (Canceling tasks:
 * CancellationTokenSource, CancellationToken).
 *
 * A cancellation source hands out tokens.  Give the token to the task (in
 * its options) and use the same token inside the body: the body polls it
 * and, when cancellation is requested, returns
 * weft_cancel_throw_if_requested()'s error, which ends the task Canceled.
 * A task whose token is canceled before it starts never runs.  A body that
 * ignores the request simply runs to completion: cancellation is a request,
 * never a forced stop.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

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

static const char *code_name(int rc)
{
	if (rc == 0)
		return "0";
	if (rc == -ECANCELED)
		return "-ECANCELED";
	return weft_strerror(rc);
}

/* Work in 1 ms slices until cancellation is requested; then acknowledge. */
static weft_error *cooperative(weft_task *self, void *arg)
{
	weft_promise *started = arg;
	weft_cancel_token token = weft_task_token(self);
	struct timespec slice = {0, 1000 * 1000};

	weft_promise_set_result(started, NULL, NULL);
	for (;;) {
		weft_error *err = weft_cancel_throw_if_requested(token);

		if (err != NULL)
			return err;
		nanosleep(&slice, NULL);
	}
}

/* Notices the request, but finishes its work anyway. */
static weft_error *stubborn(weft_task *self, void *arg)
{
	weft_promise *started = arg;

	weft_promise_set_result(started, NULL, NULL);
	weft_cancel_wait(weft_task_token(self), WEFT_INFINITE);
	return NULL;
}

static weft_error *never_runs(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	printf("this is never printed\n");
	return NULL;
}

static void on_cancel(void *arg)
{
	printf("callback: cancellation of %s was requested\n",
	       (const char *)arg);
}

/* Start BODY with a token, cancel once it runs, report how it ended. */
static int cancel_running(const char *label, weft_task_fn body)
{
	weft_cancel_source *cts;
	weft_promise *started;
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	weft_task *t;
	weft_error *err = NULL;
	int rc;

	if ((rc = weft_cancel_source_new(&cts)) != 0 ||
	    (rc = weft_promise_new(&started, NULL, 0)) != 0)
		return rc;
	weft_cancel_register(weft_cancel_source_token(cts), on_cancel,
			     (void *)label, NULL);
	opts.token = weft_cancel_source_token(cts);
	opts.flags = WEFT_TASK_LONG_RUNNING; /* it blocks: give it a thread */
	rc = weft_task_start_new(&t, body, started, &opts);
	if (rc != 0)
		return rc;

	weft_task_wait(weft_promise_task(started), WEFT_INFINITE,
		       WEFT_TOKEN_NONE, NULL);
	weft_cancel_source_cancel(cts);
	rc = weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	printf("%s: wait returned %s, the task is %s", label, code_name(rc),
	       status_name(weft_task_get_status(t)));
	if (err != NULL && weft_error_inner_count(err) == 1) {
		weft_error *inner = weft_error_inner(err, 0);

		printf(" (error kind %s)",
		       weft_error_get_kind(inner) == WEFT_ERROR_TASK_CANCELED ?
			       "TASK_CANCELED" :
			       "other");
	}
	printf("\n");

	weft_error_unref(err);
	weft_task_unref(t);
	weft_promise_unref(started);
	weft_cancel_source_unref(cts);
	return 0;
}

int main(void)
{
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	weft_task *t;
	int rc;

	rc = cancel_running("cooperative task", cooperative);
	if (rc == 0)
		rc = cancel_running("stubborn task", stubborn);

	/* A token canceled before the task starts: the body never runs. */
	opts.token = weft_cancel_token_canceled();
	if (rc == 0)
		rc = weft_task_create(&t, never_runs, NULL, &opts);
	if (rc != 0) {
		fprintf(stderr, "cancellation: %s\n", weft_strerror(rc));
		return 1;
	}
	printf("created with a canceled token: %s; start: %s\n",
	       status_name(weft_task_get_status(t)),
	       weft_task_start(t, NULL) == -EALREADY ? "-EALREADY" : "?");
	weft_task_unref(t);
	return 0;
}
