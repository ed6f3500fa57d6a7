/*
 * from_result.c - pre-computed tasks (Task.FromResult; How to: Create
 * Pre-Computed Tasks).
 *
 * get_page_size() is asynchronous: it returns a task.  The first time a URL
 * is asked for it starts a (simulated) download; afterwards the size is in
 * a cache and the function returns weft_task_from_result(): a task that is
 * already RanToCompletion, so callers treat both cases the same way.
 * weft_task_from_error() and weft_task_from_canceled() make the other two
 * final states the same way.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

static const struct {
	const char *url;
	intptr_t size;
} web[] = {
	{"http://example.com/index.html", 1256},
	{"http://example.com/tasks.html", 40321},
	{"http://example.com/news.html", 7788},
};
enum {
	NURLS = sizeof(web) / sizeof(web[0])
};

static struct {
	pthread_mutex_t lock;
	bool known[NURLS];
	intptr_t size[NURLS];
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static atomic_int downloads;

static weft_error *download(weft_task *self, void *arg)
{
	size_t i = (size_t)(intptr_t)arg;
	struct timespec latency = {0, 20 * 1000 * 1000};

	nanosleep(&latency, NULL); /* the network */
	atomic_fetch_add(&downloads, 1);
	pthread_mutex_lock(&cache.lock);
	cache.known[i] = true;
	cache.size[i] = web[i].size;
	pthread_mutex_unlock(&cache.lock);
	weft_task_set_result(self, (void *)web[i].size, NULL);
	return NULL;
}

/* A task whose result is the size of the page at URL I. */
static int get_page_size(weft_task **out, size_t i)
{
	bool known;
	intptr_t size;

	pthread_mutex_lock(&cache.lock);
	known = cache.known[i];
	size = cache.size[i];
	pthread_mutex_unlock(&cache.lock);
	if (known)
		return weft_task_from_result(out, (void *)size, NULL);
	return weft_task_start_new(out, download, (void *)(intptr_t)i, NULL);
}

static int pass(int number)
{
	weft_task *tasks[NURLS], *all;
	int already_complete = 0, before = atomic_load(&downloads);
	intptr_t total = 0;
	int rc;

	for (size_t i = 0; i < NURLS; i++) {
		rc = get_page_size(&tasks[i], i);
		if (rc != 0)
			return rc;
		already_complete += weft_task_is_completed(tasks[i]);
	}
	rc = weft_task_when_all(&all, tasks, NURLS);
	if (rc != 0)
		return rc;
	rc = weft_task_wait(all, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	for (size_t i = 0; i < NURLS; i++) {
		total += (intptr_t)weft_task_result(tasks[i]);
		weft_task_unref(tasks[i]);
	}
	weft_task_unref(all);
	printf("pass %d: %ld bytes in %zu pages, %d downloads, %d tasks "
	       "complete when returned\n",
	       number, (long)total, (size_t)NURLS,
	       atomic_load(&downloads) - before, already_complete);
	return rc;
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

int main(void)
{
	weft_task *failed, *canceled;
	weft_error *err;
	int rc = pass(1);

	if (rc == 0)
		rc = pass(2);
	if (rc != 0) {
		fprintf(stderr, "from_result: %s\n", weft_strerror(rc));
		return 1;
	}

	/* The other pre-computed tasks. */
	err = weft_error_new(-ENOENT, "no such page");
	rc = weft_task_from_error(&failed, err);
	weft_error_unref(err); /* the task took its own reference */
	if (rc == 0)
		rc = weft_task_from_canceled(&canceled,
					     weft_cancel_token_canceled());
	if (rc != 0) {
		fprintf(stderr, "from_error/from_canceled: %s\n",
			weft_strerror(rc));
		return 1;
	}
	printf("weft_task_completed(): %s\n",
	       status_name(weft_task_get_status(weft_task_completed())));
	printf("weft_task_from_error(): %s\n",
	       status_name(weft_task_get_status(failed)));
	printf("weft_task_from_canceled(): %s\n",
	       status_name(weft_task_get_status(canceled)));
	weft_error_unref(weft_task_error(failed)); /* observe the error */
	weft_task_unref(failed);
	weft_task_unref(canceled);
	return 0;
}
