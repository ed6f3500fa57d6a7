/*
 * custom_scheduler.c - a scheduler of one's own (Custom schedulers:
 * TaskScheduler).
 *
 * A scheduler is a table of functions.  This one only keeps a FIFO queue;
 * the tasks run when the program "pumps" it, on the pumping thread, as a
 * UI message loop would.  Inside such a task the current scheduler is this
 * one, so work the task starts without naming a scheduler (here a
 * continuation) goes to the same queue.  weft also ships a limited-
 * concurrency scheduler (weft_scheduler_new_limited) and a run loop
 * (weft_runloop_new) built the same way.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* ---- the scheduler: a locked FIFO of tasks --------------------------- */

struct fifo {
	pthread_mutex_t lock;
	weft_task *items[64];
	size_t head, tail;
};

static int fifo_queue(weft_scheduler *s, weft_task *t, void *data)
{
	struct fifo *q = data;
	int rc = 0;

	(void)s;
	pthread_mutex_lock(&q->lock);
	if (q->tail - q->head == 64)
		rc = -EAGAIN; /* the task will fault with this error */
	else
		q->items[q->tail++ % 64] = t; /* keeps weft's reference */
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static weft_task *fifo_pop(struct fifo *q)
{
	weft_task *t = NULL;

	pthread_mutex_lock(&q->lock);
	if (q->head != q->tail)
		t = q->items[q->head++ % 64];
	pthread_mutex_unlock(&q->lock);
	return t;
}

/* Run everything queued, including what the tasks queue meanwhile. */
static int pump(weft_scheduler *s, struct fifo *q)
{
	weft_task *t;
	int ran = 0;

	while ((t = fifo_pop(q)) != NULL) {
		weft_scheduler_execute(s, t); /* drops the queue's reference */
		ran++;
	}
	return ran;
}

/* ---- the tasks -------------------------------------------------------- */

static pthread_t main_thread;
static weft_scheduler *ours;

static void where(const char *what)
{
	printf("  %s runs on the main thread: %s, current scheduler is ours: "
	       "%s\n",
	       what, pthread_equal(pthread_self(), main_thread) ? "yes" : "no",
	       weft_scheduler_current() == ours ? "yes" : "no");
}

static weft_error *follow_up(weft_task *self, weft_task *antecedent, void *arg)
{
	(void)self;
	(void)antecedent;
	(void)arg;
	where("the continuation");
	return NULL;
}

static weft_error *work(weft_task *self, void *arg)
{
	char what[16];

	snprintf(what, sizeof(what), "task %d", (int)(intptr_t)arg);
	where(what);
	if ((intptr_t)arg == 3) {
		/* No scheduler named: the current one, i.e. ours. */
		int rc = weft_task_continue_with(NULL, self, follow_up, NULL,
						 NULL);
		if (rc != 0)
			return weft_error_new(rc, "continue_with");
	}
	return NULL;
}

int main(void)
{
	static struct fifo q = {.lock = PTHREAD_MUTEX_INITIALIZER};
	weft_scheduler_ops ops = {.size = sizeof(ops), .queue = fifo_queue};
	weft_task_options opts = WEFT_TASK_OPTIONS_INIT;
	weft_task *tasks[3];
	int rc, pending = 0, ran;

	main_thread = pthread_self();
	rc = weft_scheduler_new(&ours, &ops, &q);
	if (rc != 0) {
		fprintf(stderr, "weft_scheduler_new: %s\n", weft_strerror(rc));
		return 1;
	}

	opts.scheduler = ours;
	for (intptr_t i = 0; i < 3; i++) {
		rc = weft_task_start_new(&tasks[i], work, (void *)(i + 1),
					 &opts);
		if (rc != 0) {
			fprintf(stderr, "start_new: %s\n", weft_strerror(rc));
			return 1;
		}
		pending += !weft_task_is_completed(tasks[i]);
	}
	printf("3 tasks queued, %d not run yet\n", pending);

	printf("pumping:\n");
	ran = pump(ours, &q);
	printf("the pump ran %d tasks\n", ran);

	rc = weft_task_wait_all(tasks, 3, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	printf("all tasks: %s\n",
	       rc == 0 ? "ran to completion" : weft_strerror(rc));
	for (int i = 0; i < 3; i++)
		weft_task_unref(tasks[i]);
	weft_scheduler_unref(ours);
	return 0;
}
