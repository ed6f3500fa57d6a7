/*
 * when_any.c - a task that completes when the first of a group does
 * (Composing tasks: Task.WhenAny and Task.Delay).
 *
 * Two of the uses the .NET documentation lists:
 *   - redundant operations: ask three mirrors, keep the first answer and
 *     cancel the others;
 *   - expired operations: race an operation against weft_task_delay() and
 *     give up when the delay wins.
 * The "downloads" are simulated without blocking any thread: a delay of a
 * mirror's response time, and a continuation that produces the reply.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static weft_error *reply(weft_task *self, weft_task *antecedent, void *arg)
{
	(void)antecedent;
	weft_task_set_result(self, arg, NULL); /* the mirror's number */
	return NULL;
}

/* A download from mirror NUMBER that takes MS milliseconds; TOKEN stops it. */
static int start_download(weft_task **out, intptr_t number, int64_t ms,
			  weft_cancel_token token)
{
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	weft_task *response_time;
	int rc = weft_task_delay(&response_time, ms, token);

	if (rc != 0)
		return rc;
	opts.token = token;
	rc = weft_task_continue_with(out, response_time, reply, (void *)number,
				     &opts);
	weft_task_unref(response_time); /* the continuation keeps it */
	return rc;
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

static int redundant_operations(void)
{
	static const int64_t response_ms[3] = {60000, 0, 60000};
	weft_cancel_source *cts;
	weft_task *mirrors[3], *first;
	weft_task *winner;
	int rc = weft_cancel_source_new(&cts);

	if (rc != 0)
		return rc;
	for (int i = 0; i < 3; i++) {
		rc = start_download(&mirrors[i], i, response_ms[i],
				    weft_cancel_source_token(cts));
		if (rc != 0)
			return rc;
	}

	rc = weft_task_when_any(&first, mirrors, 3);
	if (rc != 0)
		return rc;
	weft_task_wait(first, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	winner = weft_task_result(first); /* the first mirror to finish */
	printf("mirror %ld answered first\n",
	       (long)(intptr_t)weft_task_result(winner));

	/* Cancel the slower ones. */
	weft_cancel_source_cancel(cts);
	weft_task_wait_all(mirrors, 3, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	for (int i = 0; i < 3; i++) {
		printf("mirror %d: %s\n", i,
		       status_name(weft_task_get_status(mirrors[i])));
		weft_task_unref(mirrors[i]);
	}
	weft_task_unref(first);
	weft_cancel_source_unref(cts);
	return 0;
}

static int expired_operation(void)
{
	weft_cancel_source *cts;
	weft_task *pair[2], *first;
	int rc = weft_cancel_source_new(&cts);

	if (rc != 0)
		return rc;
	rc = start_download(&pair[0], 7, 60000, weft_cancel_source_token(cts));
	if (rc == 0)
		rc = weft_task_delay(&pair[1], 100, WEFT_TOKEN_NONE);
	if (rc == 0)
		rc = weft_task_when_any(&first, pair, 2);
	if (rc != 0)
		return rc;
	weft_task_wait(first, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	if (weft_task_result(first) == pair[1]) {
		printf("no answer within 100 ms: giving up\n");
		weft_cancel_source_cancel(cts);
	}
	weft_task_wait(pair[0], WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	printf("the operation: %s\n",
	       status_name(weft_task_get_status(pair[0])));

	weft_task_unref(first);
	weft_task_unref(pair[0]);
	weft_task_unref(pair[1]);
	weft_cancel_source_unref(cts);
	return 0;
}

int main(void)
{
	int rc = redundant_operations();

	if (rc == 0)
		rc = expired_operation();
	if (rc != 0) {
		fprintf(stderr, "when_any: %s\n", weft_strerror(rc));
		return 1;
	}
	return 0;
}
