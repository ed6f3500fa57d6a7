/*
 * wait_any.c - the other ways to wait (Waiting for tasks to finish:
 * Task.WaitAny, and Wait/WaitAll with a time-out or a cancellation token).
 *
 * Two of the three tasks below wait for the main thread's go-ahead, so what
 * each wait returns is certain:
 *   - weft_task_wait_any() gives the index of the first task to finish;
 *   - a wait with a time-out returns -ETIMEDOUT and the task goes on;
 *   - a wait with a token returns -ECANCELED when the token is canceled,
 *     which ends the wait, not the tasks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static weft_error *quick(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	return NULL;
}

static weft_error *until_go_ahead(weft_task *self, void *arg)
{
	weft_error *err = NULL;

	(void)self;
	if (weft_task_wait(arg, WEFT_INFINITE, WEFT_TOKEN_NONE, &err) != 0)
		return err;
	return NULL;
}

int main(void)
{
	weft_promise *go_ahead;
	weft_cancel_source *cts;
	weft_task *tasks[3];
	weft_error *err = NULL;
	size_t index;
	int rc;

	if (weft_promise_new(&go_ahead, NULL, 0) != 0 ||
	    weft_cancel_source_new(&cts) != 0)
		return 1;
	rc = weft_task_start_new(&tasks[0], until_go_ahead,
				 weft_promise_task(go_ahead), NULL);
	if (rc == 0)
		rc = weft_task_start_new(&tasks[1], quick, NULL, NULL);
	if (rc == 0)
		rc = weft_task_start_new(&tasks[2], until_go_ahead,
					 weft_promise_task(go_ahead), NULL);
	if (rc != 0) {
		fprintf(stderr, "start_new: %s\n", weft_strerror(rc));
		return 1;
	}

	/* WaitAny: which task finished first? */
	rc = weft_task_wait_any(tasks, 3, WEFT_INFINITE, WEFT_TOKEN_NONE,
				&index);
	if (rc == 0)
		printf("wait_any: task %zu finished first\n", index);
	else
		printf("wait_any: %s\n", weft_strerror(rc));

	/* Wait with a time-out: the task is still running afterwards. */
	rc = weft_task_wait(tasks[0], 100, WEFT_TOKEN_NONE, &err);
	printf("wait(task 0, 100 ms): %s; task 0 completed: %s\n",
	       rc == -ETIMEDOUT ? "-ETIMEDOUT" : weft_strerror(rc),
	       weft_task_is_completed(tasks[0]) ? "yes" : "no");
	weft_error_unref(err);

	/* Wait with a token: canceling it ends the wait, not the tasks. */
	weft_cancel_source_cancel_after(cts, 100);
	rc = weft_task_wait_all(tasks, 3, WEFT_INFINITE,
				weft_cancel_source_token(cts), &err);
	printf("wait_all(token canceled after 100 ms): %s, error kind %s\n",
	       rc == -ECANCELED ? "-ECANCELED" : weft_strerror(rc),
	       err && weft_error_get_kind(err) == WEFT_ERROR_CANCELED ?
		       "CANCELED" :
		       "unexpected");
	weft_error_unref(err);

	/* Give the go-ahead; now everything finishes. */
	weft_promise_set_result(go_ahead, NULL, NULL);
	rc = weft_task_wait_all(tasks, 3, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	printf("wait_all after the go-ahead: %s\n",
	       rc == 0 ? "all three ran to completion" : weft_strerror(rc));
	weft_error_unref(err);

	for (int i = 0; i < 3; i++)
		weft_task_unref(tasks[i]);
	weft_cancel_source_unref(cts);
	weft_promise_unref(go_ahead);
	return 0;
}
