/*
 * continuation_exceptions.c - an error raised by a continuation is seen by
 * whoever waits for the continuation (Handling exceptions thrown from
 * continuations: wait for the antecedent and the continuation in one try).
 *
 * An antecedent and its continuation are not parent and child: the
 * continuation's error does not flow back to the antecedent, which ran to
 * completion.  The wait on the continuation returns WEFT_EFAULTED and an
 * aggregate whose inner errors are the very objects the body returned.
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

static weft_error *continuation_body(weft_task *self, weft_task *antecedent,
				     void *arg)
{
	void *value;
	weft_error *err = NULL;

	(void)self;
	(void)arg;
	if (weft_task_get_result(antecedent, &value, &err) != 0)
		return err;
	printf("continuation %ld\n", (long)(intptr_t)value);
	/* throw new InvalidOperationException(); */
	return weft_error_new(-EINVAL, "Operation is not valid due to the "
				       "current state of the object.");
}

int main(void)
{
	weft_task *t, *c;
	weft_error *err = NULL;
	int rc;

	rc = weft_task_start_new(&t, return_54, NULL, NULL);
	if (rc == 0)
		rc = weft_task_continue_with(&c, t, continuation_body, NULL,
					     NULL);
	if (rc != 0) {
		fprintf(stderr, "setup: %s\n", weft_strerror(rc));
		return 1;
	}

	/* try { t.Wait(); c.Wait(); } */
	rc = weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	if (rc == 0)
		rc = weft_task_wait(c, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	/* catch (AggregateException ae) */
	if (rc == WEFT_EFAULTED) {
		for (size_t i = 0; i < weft_error_inner_count(err); i++)
			printf("%s\n",
			       weft_error_message(weft_error_inner(err, i)));
	} else if (rc != 0) {
		fprintf(stderr, "unexpected: %s\n", weft_strerror(rc));
	}
	weft_error_unref(err);
	printf("Exception handled. Let's move on.\n");

	weft_task_unref(c);
	weft_task_unref(t);
	return 0;
}
