/*
 * continue_with.c - the basic continuation pattern (Continuation tasks:
 * taskA.ContinueWith(antecedent => "Today is " + antecedent.Result)).
 *
 * The continuation receives its antecedent and can use its result; it may
 * produce a result of a different type.  It is created WaitingForActivation:
 * only the antecedent's completion starts it, and starting it by hand is an
 * error (-EPERM, InvalidOperationException in .NET).
 */
#define _POSIX_C_SOURCE 200809L /* localtime_r */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

static const char *const day_names[] = {"Sunday",    "Monday",	 "Tuesday",
					"Wednesday", "Thursday", "Friday",
					"Saturday"};

/* The antecedent: today's day of the week (0 = Sunday), as its result. */
static weft_error *day_of_week(weft_task *self, void *arg)
{
	time_t now = time(NULL);
	struct tm today;

	(void)arg;
	if (localtime_r(&now, &today) == NULL)
		return weft_error_new(-EOVERFLOW, "localtime_r failed");
	weft_task_set_result(self, (void *)(intptr_t)today.tm_wday, NULL);
	return NULL;
}

/* The continuation: takes the antecedent, returns a string. */
static weft_error *say_day(weft_task *self, weft_task *antecedent, void *arg)
{
	void *day;
	weft_error *err = NULL;
	char *text;

	(void)arg;
	if (weft_task_get_result(antecedent, &day, &err) != 0)
		return err; /* the antecedent failed: so does this task */
	text = malloc(32);
	if (text == NULL)
		return weft_error_new(-ENOMEM, NULL);
	snprintf(text, 32, "Today is %s.", day_names[(intptr_t)day]);
	weft_task_set_result(self, text, free);
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
	weft_task *task_a, *continuation;
	weft_error *err;
	void *text;
	int rc;

	/* The antecedent task (weft_task_start_new would also do). */
	rc = weft_task_create(&task_a, day_of_week, NULL, NULL);
	/* The continuation: its body takes the antecedent task. */
	if (rc == 0)
		rc = weft_task_continue_with(&continuation, task_a, say_day,
					     NULL, NULL);
	if (rc != 0) {
		fprintf(stderr, "setup: %s\n", weft_strerror(rc));
		return 1;
	}

	printf("The continuation is %s.\n",
	       status_name(weft_task_get_status(continuation)));
	rc = weft_task_start(continuation, NULL);
	printf("Starting it by hand: %s (%s).\n",
	       rc == -EPERM ? "-EPERM" : "unexpected result",
	       weft_strerror(rc));

	/* Start the antecedent. */
	rc = weft_task_start(task_a, NULL);
	if (rc != 0) {
		fprintf(stderr, "start: %s\n", weft_strerror(rc));
		return 1;
	}

	/* Use the continuation's result. */
	rc = weft_task_get_result(continuation, &text, &err);
	if (rc == 0) {
		printf("%s\n", (const char *)text);
	} else {
		fprintf(stderr, "continuation: %s\n", weft_strerror(rc));
		weft_error_unref(err);
	}
	weft_task_unref(continuation);
	weft_task_unref(task_a);
	return rc == 0 ? 0 : 1;
}
