/*
 * continuation_child_tasks.c - continuations and child tasks
 * (Continuation tasks: "Continuations and child tasks").
 *
 * A continuation does not run until its antecedent and all of the
 * antecedent's attached children have completed, and the antecedent's final
 * state includes theirs: a faulted attached child faults it.  Detached
 * children are not waited for and do not affect it.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

struct setup {
	unsigned child_flags; /* attached or not */
	bool child_fails;
	weft_task *go_ahead; /* a detached child waits for it */
	atomic_bool child_done;
	weft_task *child;
};

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

static weft_error *child_body(weft_task *self, void *arg)
{
	struct setup *s = arg;
	struct timespec work = {0, 50 * 1000 * 1000};

	(void)self;
	if (s->go_ahead != NULL)
		weft_task_wait(s->go_ahead, WEFT_INFINITE, WEFT_TOKEN_NONE,
			       NULL);
	else
		nanosleep(&work, NULL);
	s->child_done = true;
	return s->child_fails ? weft_error_new(-EIO, "the child failed") : NULL;
}

static weft_error *antecedent_body(weft_task *self, void *arg)
{
	struct setup *s = arg;
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	int rc;

	(void)self;
	opts.flags = s->child_flags;
	rc = weft_task_start_new(&s->child, child_body, s, &opts);
	return rc == 0 ? NULL : weft_error_new(rc, "starting the child");
}

static weft_error *continuation_body(weft_task *self, weft_task *antecedent,
				     void *arg)
{
	struct setup *s = arg;

	(void)self;
	printf("  the continuation sees: antecedent %s, child finished: %s\n",
	       status_name(weft_task_get_status(antecedent)),
	       s->child_done ? "yes" : "no");
	/* The continuation observes the antecedent's errors, if any. */
	weft_error_unref(weft_task_error(antecedent));
	return NULL;
}

static int demo(const char *label, unsigned child_flags, bool child_fails,
		weft_task *go_ahead, weft_promise *release)
{
	struct setup s = {.child_flags = child_flags,
			  .child_fails = child_fails,
			  .go_ahead = go_ahead};
	weft_task *antecedent, *continuation;
	int rc;

	printf("%s:\n", label);
	rc = weft_task_start_new(&antecedent, antecedent_body, &s, NULL);
	if (rc == 0)
		rc = weft_task_continue_with(&continuation, antecedent,
					     continuation_body, &s, NULL);
	if (rc != 0)
		return rc;
	weft_task_wait(continuation, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	if (release != NULL)
		weft_promise_set_result(release, NULL, NULL);
	weft_task_wait(s.child, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	weft_task_unref(s.child);
	weft_task_unref(continuation);
	weft_task_unref(antecedent);
	return 0;
}

int main(void)
{
	weft_promise *go_ahead;
	int rc;

	if (weft_promise_new(&go_ahead, NULL, 0) != 0)
		return 1;
	rc = demo("an attached child", WEFT_TASK_ATTACHED_TO_PARENT, false,
		  NULL, NULL);
	if (rc == 0)
		rc = demo("an attached child that fails",
			  WEFT_TASK_ATTACHED_TO_PARENT, true, NULL, NULL);
	if (rc == 0)
		rc = demo("a detached child", WEFT_TASK_NONE, false,
			  weft_promise_task(go_ahead), go_ahead);
	weft_promise_unref(go_ahead);
	if (rc != 0) {
		fprintf(stderr, "continuation_child_tasks: %s\n",
			weft_strerror(rc));
		return 1;
	}
	return 0;
}
