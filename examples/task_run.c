/*
 * task_run.c - create and start a task in one call (Task.Run).
 *
 * weft_task_run() queues the body to the default scheduler at once, whatever
 * scheduler the calling code runs on.  It is the usual way to start a task
 * when no options are needed.
 */
#define _GNU_SOURCE /* pthread_setname_np, pthread_getname_np */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static weft_error *say_hello(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	printf("Hello from taskA.\n");
	return NULL;
}

static void must(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "%s: %s\n", what, weft_strerror(rc));
		exit(1);
	}
}

int main(void)
{
	weft_task *task_a;
	char name[16];

	pthread_setname_np(pthread_self(), "Main");

	/* Define and run the task. */
	must(weft_task_run(&task_a, say_hello, NULL), "weft_task_run");

	/* Output a message from the calling thread. */
	pthread_getname_np(pthread_self(), name, sizeof(name));
	printf("Hello from thread '%s'.\n", name);

	must(weft_task_wait(task_a, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
	     "weft_task_wait");
	weft_task_unref(task_a);
	return 0;
}
