/*
 * cancel_continuation.c - one token for an antecedent and its continuation
 * (Canceling a continuation: both tasks are given cts.Token and both check
 * it with ThrowIfCancellationRequested).
 *
 * When the two tasks are two halves of one logical operation they can share
 * a cancellation token.  Canceling it cancels whichever half is pending or
 * running: the running antecedent acknowledges it by returning
 * weft_cancel_throw_if_requested()'s error, and the waiting continuation is
 * canceled without ever running.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

static atomic_bool some_condition = true;
static atomic_bool continuation_ran = false;

static void do_the_work(void)
{
	struct timespec slice = {0, 1000 * 1000}; /* 1 ms */

	nanosleep(&slice, NULL);
}

static weft_error *antecedent_body(weft_task *self, void *arg)
{
	weft_cancel_token ct = weft_task_token(self);

	(void)arg;
	while (some_condition) {
		weft_error *err = weft_cancel_throw_if_requested(ct);

		if (err != NULL)
			return err; /* acknowledges cancellation */
		do_the_work();
	}
	return NULL;
}

static weft_error *continuation_body(weft_task *self, weft_task *antecedent,
				     void *arg)
{
	weft_cancel_token ct = weft_task_token(self);

	(void)antecedent;
	(void)arg;
	continuation_ran = true;
	while (some_condition) {
		weft_error *err = weft_cancel_throw_if_requested(ct);

		if (err != NULL)
			return err;
		do_the_work();
	}
	return NULL;
}

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

int main(void)
{
	weft_cancel_source *cts;
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	weft_task *task, *task2;
	struct timespec a_while = {0, 50 * 1000 * 1000};
	int rc;

	rc = weft_cancel_source_new(&cts);
	if (rc != 0)
		return 1;
	opts.token = weft_cancel_source_token(cts);

	rc = weft_task_create(&task, antecedent_body, NULL, &opts);
	if (rc == 0)
		rc = weft_task_continue_with(&task2, task, continuation_body,
					     NULL, &opts);
	if (rc == 0)
		rc = weft_task_start(task, NULL);
	if (rc != 0) {
		fprintf(stderr, "setup: %s\n", weft_strerror(rc));
		return 1;
	}

	nanosleep(&a_while, NULL); /* ... */

	/*
	 * Antecedent and/or continuation will respond to this request,
	 * depending on when it is made.
	 */
	weft_cancel_source_cancel(cts);

	/* Both waits report -ECANCELED; the errors are not needed here. */
	weft_task_wait(task, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	weft_task_wait(task2, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	printf("task: %s\n", status_name(weft_task_get_status(task)));
	printf("task2: %s\n", status_name(weft_task_get_status(task2)));
	printf("task2's body ran: %s\n", continuation_ran ? "yes" : "no");

	weft_task_unref(task2);
	weft_task_unref(task);
	weft_cancel_source_unref(cts);
	return 0;
}
