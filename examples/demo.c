/*
 * demo.c - a short tour of weft's tasks (built as weft_demo).
 *
 * Each step prints the calls it makes and what came out of them:
 *   1. run a task and wait for it
 *   2. tasks that return results
 *   3. parallel invoke
 *   4. a chain of continuations
 *   5. when_all: one task for a group
 *   6. cooperative cancellation
 *   7. a parallel_for sum
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

static void must(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "weft_demo: %s: %s\n", what, weft_strerror(rc));
		exit(1);
	}
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

/* ---- 1 ---------------------------------------------------------------- */

static weft_error *hello(weft_task *self, void *arg)
{
	(void)arg;
	printf("   the body runs as task %llu\n",
	       (unsigned long long)weft_task_id(self));
	return NULL;
}

static void step_run_and_wait(void)
{
	weft_task *t;

	printf("1. Run a task and wait for it\n");
	printf("   weft_task_run(&t, hello, NULL); weft_task_wait(t, ...)\n");
	must(weft_task_run(&t, hello, NULL), "weft_task_run");
	must(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
	     "weft_task_wait");
	printf("   -> %s\n", status_name(weft_task_get_status(t)));
	weft_task_unref(t);
}

/* ---- 2 ---------------------------------------------------------------- */

static weft_error *square(weft_task *self, void *arg)
{
	intptr_t n = (intptr_t)arg;

	weft_task_set_result(self, (void *)(n * n), NULL);
	return NULL;
}

static void step_results(void)
{
	weft_task *t[3];
	intptr_t sum = 0;

	printf("2. Tasks that return results\n");
	printf("   weft_task_start_new(&t[i], square, n, NULL) for n = 3, 4, "
	       "5;\n   weft_task_get_result(t[i], &value, &err)\n");
	for (int i = 0; i < 3; i++)
		must(weft_task_start_new(&t[i], square,
					 (void *)(intptr_t)(i + 3), NULL),
		     "weft_task_start_new");
	for (int i = 0; i < 3; i++) {
		void *value;

		must(weft_task_get_result(t[i], &value, NULL),
		     "weft_task_get_result");
		sum += (intptr_t)value;
		weft_task_unref(t[i]);
	}
	printf("   -> 9 + 16 + 25 = %ld\n", (long)sum);
}

/* ---- 3 ---------------------------------------------------------------- */

static weft_error *count_up(void *arg)
{
	atomic_int *n = arg;

	atomic_fetch_add(n, 1);
	return NULL;
}

static void step_parallel_invoke(void)
{
	atomic_int ran = 0;
	weft_action actions[4] = {
		{count_up, &ran},
		{count_up, &ran},
		{count_up, &ran},
		{count_up, &ran},
	};

	printf("3. Parallel invoke\n");
	printf("   weft_parallel_invoke(actions, 4, NULL, &err)\n");
	must(weft_parallel_invoke(actions, 4, NULL, NULL),
	     "weft_parallel_invoke");
	printf("   -> all %d actions ran before it returned\n",
	       atomic_load(&ran));
}

/* ---- 4 ---------------------------------------------------------------- */

static weft_error *fetch(weft_task *self, void *arg)
{
	(void)arg;
	weft_task_set_result(self, "tasks continue when their antecedents end",
			     NULL);
	return NULL;
}

static weft_error *count_words(weft_task *self, weft_task *antecedent,
			       void *arg)
{
	const char *text = weft_task_result(antecedent);
	intptr_t words = 0;

	(void)arg;
	for (const char *p = text; *p; p++)
		if (*p != ' ' && (p == text || p[-1] == ' '))
			words++;
	weft_task_set_result(self, (void *)words, NULL);
	return NULL;
}

static weft_error *report_words(weft_task *self, weft_task *antecedent,
				void *arg)
{
	(void)self;
	(void)arg;
	printf("   -> the last continuation got %ld words from the one "
	       "before\n",
	       (long)(intptr_t)weft_task_result(antecedent));
	return NULL;
}

static void step_continuations(void)
{
	weft_task_options only_on_success = WEFT_TASK_OPTIONS_INIT;
	weft_task *a, *b, *c;

	printf("4. A chain of continuations\n");
	printf("   fetch -> weft_task_continue_with(count_words) -> "
	       "weft_task_continue_with(report_words)\n");
	only_on_success.flags = WEFT_CONT_ONLY_ON_RAN_TO_COMPLETION;
	must(weft_task_start_new(&a, fetch, NULL, NULL), "weft_task_start_new");
	must(weft_task_continue_with(&b, a, count_words, NULL,
				     &only_on_success),
	     "weft_task_continue_with");
	must(weft_task_continue_with(&c, b, report_words, NULL,
				     &only_on_success),
	     "weft_task_continue_with");
	must(weft_task_wait(c, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
	     "weft_task_wait");
	weft_task_unref(c);
	weft_task_unref(b);
	weft_task_unref(a);
}

/* ---- 5 ---------------------------------------------------------------- */

static weft_error *maybe_fail(weft_task *self, void *arg)
{
	(void)self;
	if (arg != NULL)
		return weft_error_new(-EIO, "%s", (const char *)arg);
	return NULL;
}

static void step_when_all(void)
{
	weft_task *t[3], *all;
	weft_error *err = NULL;
	char text[256];
	int rc;

	printf("5. when_all: one task for a group\n");
	printf("   weft_task_when_all(&all, t, 3) over tasks of which two "
	       "fail\n");
	must(weft_task_start_new(&t[0], maybe_fail, NULL, NULL), "start_new");
	must(weft_task_start_new(&t[1], maybe_fail, "disk full", NULL),
	     "start_new");
	must(weft_task_start_new(&t[2], maybe_fail, "network down", NULL),
	     "start_new");
	must(weft_task_when_all(&all, t, 3), "weft_task_when_all");
	rc = weft_task_wait(all, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	weft_error_format(err, text, sizeof(text));
	printf("   -> %s, %s\n",
	       rc == WEFT_EFAULTED ? "WEFT_EFAULTED" : weft_strerror(rc), text);
	weft_error_unref(err);
	weft_task_unref(all);
	for (int i = 0; i < 3; i++) {
		weft_error_unref(weft_task_error(t[i]));
		weft_task_unref(t[i]);
	}
}

/* ---- 6 ---------------------------------------------------------------- */

static weft_error *poll_until_canceled(weft_task *self, void *arg)
{
	weft_promise *started = arg;
	struct timespec slice = {0, 1000 * 1000};
	weft_error *err;

	weft_promise_set_result(started, NULL, NULL);
	while ((err = weft_cancel_throw_if_requested(weft_task_token(self))) ==
	       NULL)
		nanosleep(&slice, NULL);
	return err; /* acknowledge: the task ends Canceled */
}

static void step_cancellation(void)
{
	weft_cancel_source *cts;
	weft_promise *started;
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	weft_task *t;
	int rc;

	printf("6. Cooperative cancellation\n");
	printf("   the body polls weft_cancel_throw_if_requested(token); main "
	       "calls weft_cancel_source_cancel()\n");
	must(weft_cancel_source_new(&cts), "weft_cancel_source_new");
	must(weft_promise_new(&started, NULL, 0), "weft_promise_new");
	opts.token = weft_cancel_source_token(cts);
	opts.flags = WEFT_TASK_LONG_RUNNING;
	must(weft_task_start_new(&t, poll_until_canceled, started, &opts),
	     "weft_task_start_new");
	weft_task_wait(weft_promise_task(started), WEFT_INFINITE,
		       WEFT_TOKEN_NONE, NULL);
	weft_cancel_source_cancel(cts);
	rc = weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	printf("   -> wait returned %s, the task is %s\n",
	       rc == -ECANCELED ? "-ECANCELED" : weft_strerror(rc),
	       status_name(weft_task_get_status(t)));
	weft_task_unref(t);
	weft_promise_unref(started);
	weft_cancel_source_unref(cts);
}

/* ---- 7 ---------------------------------------------------------------- */

static weft_error *add_range(int64_t begin, int64_t end, void *arg)
{
	_Atomic int64_t *total = arg;
	int64_t sum = 0;

	for (int64_t i = begin; i < end; i++)
		sum += i;
	atomic_fetch_add_explicit(total, sum, memory_order_relaxed);
	return NULL;
}

static void step_parallel_for(void)
{
	_Atomic int64_t total = 0;

	printf("7. A parallel_for sum\n");
	printf("   weft_parallel_for_range(1, 10000001, 0, add_range, &total, "
	       "NULL, &err)\n");
	must(weft_parallel_for_range(1, 10000001, 0, add_range, &total, NULL,
				     NULL),
	     "weft_parallel_for_range");
	printf("   -> 1 + 2 + ... + 10000000 = %lld\n",
	       (long long)atomic_load(&total));
}

int main(void)
{
	printf("weft %d.%d.%d: a tour of tasks (default pool: %u workers)\n\n",
	       WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR, WEFT_VERSION_PATCH,
	       weft_pool_size(weft_scheduler_default()));
	step_run_and_wait();
	step_results();
	step_parallel_invoke();
	step_continuations();
	step_when_all();
	step_cancellation();
	step_parallel_for();
	printf("\nDone: every task above was waited for and freed.\n");
	return 0;
}
