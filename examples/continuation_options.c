/*
 * continuation_options.c - run a continuation only when its antecedent ran
 * to completion (TaskContinuationOptions.OnlyOnRanToCompletion).
 *
 * Reading the result of a faulted or canceled task is an error, so a
 * continuation that needs the result can ask to run only after a success.
 * When the condition is not met the continuation does not run at all: it
 * becomes Canceled, and its own continuations go on from there.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static weft_error *return_54(weft_task *self, void *arg)
{
	(void)arg;
	weft_task_set_result(self, (void *)(intptr_t)54, NULL);
	return NULL;
}

static weft_error *fail(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	return weft_error_new(-EIO, "the antecedent failed");
}

static weft_error *print_result(weft_task *self, weft_task *antecedent,
				void *arg)
{
	(void)self;
	(void)arg;
	/* Only runs after a success, so the result is there: no wait needed. */
	printf("continuation %ld\n",
	       (long)(intptr_t)weft_task_result(antecedent));
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

/* Start BODY, hang an OnlyOnRanToCompletion continuation on it, wait. */
static int run(const char *label, weft_task_fn body)
{
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	weft_task *t, *c;
	int rc;

	opts.flags = WEFT_CONT_ONLY_ON_RAN_TO_COMPLETION;
	rc = weft_task_start_new(&t, body, NULL, NULL);
	if (rc != 0)
		return rc;
	rc = weft_task_continue_with(&c, t, print_result, NULL, &opts);
	if (rc != 0) {
		weft_task_unref(t);
		return rc;
	}
	/* Wait for the continuation; it never faults here, so no error. */
	weft_task_wait(c, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	/* Observe the antecedent's error, if any, so it is not left unseen. */
	weft_error_unref(weft_task_error(t));
	printf("%s: antecedent %s, continuation %s\n", label,
	       status_name(weft_task_get_status(t)),
	       status_name(weft_task_get_status(c)));
	weft_task_unref(c);
	weft_task_unref(t);
	return 0;
}

int main(void)
{
	int rc = run("success", return_54);

	if (rc == 0)
		rc = run("failure", fail);
	if (rc != 0) {
		fprintf(stderr, "continuation_options: %s\n",
			weft_strerror(rc));
		return 1;
	}
	return 0;
}
