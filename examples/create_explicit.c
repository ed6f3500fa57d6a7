/*
 * create_explicit.c - create a task, start it, wait for it
 * (new Task(...); taskA.Start(); taskA.Wait()).
 *
 * weft_task_create() gives a task in state Created; nothing runs until
 * weft_task_start() queues it to the scheduler.  The main thread goes on
 * while the task runs, then waits so that the program does not end first.
 * Which of the two lines comes first is up to the scheduler.
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

	/* Create a task and supply its body. */
	must(weft_task_create(&task_a, say_hello, NULL, NULL),
	     "weft_task_create");
	/* Start the task (NULL: the current scheduler, here the default pool).
	 */
	must(weft_task_start(task_a, NULL), "weft_task_start");

	/* Output a message from the calling thread. */
	pthread_getname_np(pthread_self(), name, sizeof(name));
	printf("Hello from thread '%s'.\n", name);

	must(weft_task_wait(task_a, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL),
	     "weft_task_wait");
	weft_task_unref(task_a);
	return 0;
}
