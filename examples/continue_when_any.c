/*
 * continue_when_any.c - one continuation for the first of several
 * antecedents to finish (Task.Factory.ContinueWhenAny).
 *
 * The continuation receives the antecedent that completed first.  The other
 * two tasks below wait for the main thread's go-ahead, so the first one is
 * certain.  Conditions such as WEFT_CONT_ONLY_ON_RAN_TO_COMPLETION apply to
 * one antecedent only: on a multi-task continuation they are refused.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

struct job {
	weft_task *go_ahead; /* NULL: no need to wait */
	intptr_t value;
};

static weft_error *produce(weft_task *self, void *arg)
{
	const struct job *job = arg;
	weft_error *err = NULL;

	if (job->go_ahead != NULL &&
	    weft_task_wait(job->go_ahead, WEFT_INFINITE, WEFT_TOKEN_NONE,
			   &err) != 0)
		return err;
	weft_task_set_result(self, (void *)job->value, NULL);
	return NULL;
}

static weft_error *first_done(weft_task *self, weft_task *first, void *arg)
{
	weft_task *const *tasks = arg;

	(void)self;
	for (int i = 0; i < 3; i++)
		if (tasks[i] == first)
			printf("task %d finished first, with %ld\n", i,
			       (long)(intptr_t)weft_task_result(first));
	return NULL;
}

static weft_error *unused(weft_task *self, weft_task *first, void *arg)
{
	(void)self;
	(void)first;
	(void)arg;
	return NULL;
}

int main(void)
{
	weft_promise *go_ahead;
	struct job jobs[3];
	weft_task *tasks[3], *continuation;
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	int rc;

	if (weft_promise_new(&go_ahead, NULL, 0) != 0)
		return 1;
	for (int i = 0; i < 3; i++) {
		jobs[i].go_ahead = i == 1 ? NULL : weft_promise_task(go_ahead);
		jobs[i].value = 10 * (i + 1);
		rc = weft_task_start_new(&tasks[i], produce, &jobs[i], NULL);
		if (rc != 0)
			return 1;
	}

	rc = weft_task_continue_when_any(&continuation, tasks, 3, first_done,
					 tasks, NULL);
	if (rc != 0) {
		fprintf(stderr, "continue_when_any: %s\n", weft_strerror(rc));
		return 1;
	}
	weft_task_wait(continuation, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);

	opts.flags = WEFT_CONT_ONLY_ON_RAN_TO_COMPLETION;
	rc = weft_task_continue_when_any(NULL, tasks, 3, unused, NULL, &opts);
	printf("with ONLY_ON_RAN_TO_COMPLETION: %s\n",
	       rc == -EINVAL ? "-EINVAL" : weft_strerror(rc));

	weft_promise_set_result(go_ahead, NULL, NULL);
	weft_task_wait_all(tasks, 3, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	weft_task_unref(continuation);
	for (int i = 0; i < 3; i++)
		weft_task_unref(tasks[i]);
	weft_promise_unref(go_ahead);
	return 0;
}
