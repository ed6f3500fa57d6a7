/*
 * continue_when_all.c - one continuation for several antecedents
 * (Task.Factory.ContinueWhenAll(tasks, antecedents => ...)).
 *
 * The continuation runs once every antecedent has completed, whatever their
 * final states, and receives all of them in the order given.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static weft_error *return_34(weft_task *self, void *arg)
{
	(void)arg;
	/* Do some work... */
	weft_task_set_result(self, (void *)(intptr_t)34, NULL);
	return NULL;
}

static weft_error *return_8(weft_task *self, void *arg)
{
	(void)arg;
	/* Do some work... */
	weft_task_set_result(self, (void *)(intptr_t)8, NULL);
	return NULL;
}

static weft_error *add_answers(weft_task *self, weft_task *const *antecedents,
			       size_t n, void *arg)
{
	intptr_t answer = 0;

	(void)self;
	(void)arg;
	for (size_t i = 0; i < n; i++) {
		void *value;
		weft_error *err = NULL;

		if (weft_task_get_result(antecedents[i], &value, &err) != 0)
			return err;
		answer += (intptr_t)value;
	}
	printf("The answer is %ld\n", (long)answer);
	return NULL;
}

int main(void)
{
	weft_task *tasks[2], *continuation;
	weft_error *err = NULL;
	int rc;

	rc = weft_task_create(&tasks[0], return_34, NULL, NULL);
	if (rc == 0)
		rc = weft_task_create(&tasks[1], return_8, NULL, NULL);
	if (rc == 0)
		rc = weft_task_continue_when_all(&continuation, tasks, 2,
						 add_answers, NULL, NULL);
	if (rc == 0)
		rc = weft_task_start(tasks[0], NULL);
	if (rc == 0)
		rc = weft_task_start(tasks[1], NULL);
	if (rc == 0)
		rc = weft_task_wait(continuation, WEFT_INFINITE,
				    WEFT_TOKEN_NONE, &err);
	if (rc != 0) {
		fprintf(stderr, "continue_when_all: %s\n", weft_strerror(rc));
		weft_error_unref(err);
		return 1;
	}
	weft_task_unref(continuation);
	weft_task_unref(tasks[0]);
	weft_task_unref(tasks[1]);
	return 0;
}
