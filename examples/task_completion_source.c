/*
 * task_completion_source.c - a task without a body, completed by someone
 * else (Tasks without delegates: TaskCompletionSource<TResult>).
 *
 * legacy_read() stands for an external component with a callback API: it
 * does its work on a thread of its own and calls back when done.  read_async()
 * wraps it in a task with a promise: the callback completes the promise, and
 * the caller gets an ordinary task it can wait for, continue, or combine.
 * Only the first completion of a promise counts.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

/* ---- the external component ------------------------------------------- */

typedef void (*read_callback)(const char *data, int error, void *arg);

struct legacy_op {
	const char *name;
	read_callback done;
	void *arg;
};

static void *legacy_thread(void *p)
{
	struct legacy_op op = *(struct legacy_op *)p;
	struct timespec latency = {0, 20 * 1000 * 1000};

	free(p);
	nanosleep(&latency, NULL);
	if (strcmp(op.name, "missing.txt") == 0)
		op.done(NULL, ENOENT, op.arg);
	else
		op.done("hello from the legacy component", 0, op.arg);
	return NULL;
}

/* Starts reading NAME; DONE(data, errno, ARG) is called on another thread. */
static int legacy_read(const char *name, read_callback done, void *arg)
{
	struct legacy_op *op = malloc(sizeof(*op));
	pthread_t thread;
	int rc;

	if (op == NULL)
		return ENOMEM;
	*op = (struct legacy_op){name, done, arg};
	rc = pthread_create(&thread, NULL, legacy_thread, op);
	if (rc != 0) {
		free(op);
		return rc;
	}
	pthread_detach(thread);
	return 0;
}

/* ---- the task-based wrapper ------------------------------------------ */

static void read_done(const char *data, int error, void *arg)
{
	weft_promise *p = arg;

	if (error != 0) {
		weft_error *err = weft_error_new(-error, "cannot read: %s",
						 strerror(error));
		weft_promise_set_error(p, err); /* takes its own reference */
		weft_error_unref(err);
	} else {
		char *copy = strdup(data);

		if (copy == NULL) {
			weft_error *err = weft_error_new(-ENOMEM, NULL);
			weft_promise_set_error(p, err);
			weft_error_unref(err);
		} else {
			weft_promise_set_result(p, copy, free);
		}
	}
	weft_promise_unref(p); /* the reference read_async gave us */
}

/* A task whose result is the text of NAME (+1 in *OUT). */
static int read_async(weft_task **out, const char *name)
{
	weft_promise *p;
	int rc = weft_promise_new(&p, (void *)name, 0);

	if (rc != 0)
		return rc;
	/* The callback gets a reference of its own to complete it later. */
	rc = legacy_read(name, read_done, weft_promise_ref(p));
	if (rc != 0) {
		weft_promise_unref(p);
		weft_promise_unref(p);
		return -rc;
	}
	*out = weft_task_ref(weft_promise_task(p));
	weft_promise_unref(p); /* the callback now holds the only one */
	return 0;
}

static void show(const char *name)
{
	weft_task *t;
	void *text;
	weft_error *err = NULL;
	int rc = read_async(&t, name);

	if (rc != 0) {
		fprintf(stderr, "read_async: %s\n", weft_strerror(rc));
		exit(1);
	}
	rc = weft_task_get_result(t, &text, &err);
	if (rc == 0)
		printf("%s: \"%s\"\n", (const char *)weft_task_async_state(t),
		       (const char *)text);
	else
		printf("%s: %s\n", (const char *)weft_task_async_state(t),
		       weft_error_message(weft_error_inner(err, 0)));
	weft_error_unref(err);
	weft_task_unref(t);
}

int main(void)
{
	weft_promise *p;

	show("greeting.txt");
	show("missing.txt");

	if (weft_promise_new(&p, NULL, 0) != 0)
		return 1;
	/* The runtime starts nothing here: the promise completes the task. */
	printf("starting the promise's task: %s\n",
	       weft_task_start(weft_promise_task(p), NULL) == -EPERM ?
		       "-EPERM" :
		       "?");
	/* Only the first completion wins. */
	printf("try_set_result: %d\n",
	       weft_promise_try_set_result(p, NULL, NULL));
	printf("try_set_result again: %d\n",
	       weft_promise_try_set_result(p, NULL, NULL));
	printf("set_canceled afterwards: %s\n",
	       weft_promise_set_canceled(p, weft_cancel_token_canceled()) ==
			       -EALREADY ?
		       "-EALREADY" :
		       "?");
	weft_promise_unref(p);
	return 0;
}
