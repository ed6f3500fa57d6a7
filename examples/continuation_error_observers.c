/*
 * continuation_error_observers.c - the other two ways to observe an error
 * raised in a continuation (Continuation tasks: handling exceptions thrown
 * from continuations, ways 2 and 3).
 *
 *  2. A second continuation, run only when the first one faulted, reads the
 *     first one's errors with weft_task_error().
 *  3. A continuation created inside a task with WEFT_CONT_ATTACHED_TO_PARENT
 *     is that task's child: its error reaches whoever waits for the parent.
 * (Way 1, waiting for the continuation, is continuation_exceptions.c.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static weft_error *nothing(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	return NULL;
}

static weft_error *throws(weft_task *self, weft_task *antecedent, void *arg)
{
	(void)self;
	(void)antecedent;
	return weft_error_new(-EINVAL, "%s", (const char *)arg);
}

static weft_error *observe(weft_task *self, weft_task *faulted, void *arg)
{
	weft_error *err = weft_task_error(faulted); /* marks it observed */

	(void)self;
	(void)arg;
	printf("2. the second continuation observed: %s\n",
	       weft_error_message(weft_error_inner(err, 0)));
	weft_error_unref(err);
	return NULL;
}

/* Inside this task, an attached continuation of another task. */
static weft_error *parent_body(weft_task *self, void *arg)
{
	weft_task *antecedent = arg;
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	int rc;

	(void)self;
	opts.flags = WEFT_CONT_ATTACHED_TO_PARENT;
	rc = weft_task_continue_with(NULL, antecedent, throws,
				     "failed in the attached continuation",
				     &opts);
	return rc == 0 ? NULL : weft_error_new(rc, "continue_with");
}

int main(void)
{
	weft_task_options only_on_faulted = WEFT_TASK_OPTIONS_INIT;
	weft_task *t, *c1, *c2, *parent;
	weft_error *err = NULL, *flat;
	int rc;

	/* 2. */
	only_on_faulted.flags = WEFT_CONT_ONLY_ON_FAULTED;
	rc = weft_task_start_new(&t, nothing, NULL, NULL);
	if (rc == 0)
		rc = weft_task_continue_with(&c1, t, throws,
					     "failed in the first continuation",
					     NULL);
	if (rc == 0)
		rc = weft_task_continue_with(&c2, c1, observe, NULL,
					     &only_on_faulted);
	if (rc != 0) {
		fprintf(stderr, "setup: %s\n", weft_strerror(rc));
		return 1;
	}
	weft_task_wait(c2, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	weft_task_unref(c2);
	weft_task_unref(c1);

	/* 3. The antecedent t has already run to completion. */
	rc = weft_task_start_new(&parent, parent_body, t, NULL);
	if (rc != 0) {
		fprintf(stderr, "start_new: %s\n", weft_strerror(rc));
		return 1;
	}
	rc = weft_task_wait(parent, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	/* parent -> [ aggregate of the child -> [ its error ] ] */
	flat = rc == WEFT_EFAULTED ? weft_error_flatten(err) : NULL;
	printf("3. waiting for the parent: %s, %s\n",
	       rc == WEFT_EFAULTED ? "WEFT_EFAULTED" : weft_strerror(rc),
	       flat ? weft_error_message(weft_error_inner(flat, 0)) : "");
	weft_error_unref(flat);
	weft_error_unref(err);
	weft_task_unref(parent);
	weft_task_unref(t);
	return 0;
}
