/*
 * task_id.c - every task has a unique id, assigned when first asked for
 * (Task ID: Task.Id and Task.CurrentId).
 *
 * The id is a number that names the task in logs and debuggers; it is
 * never 0 and no two tasks share one.  It is created lazily, so the same
 * program may give a task a different id on every run: print ids, but do
 * not depend on their values.  weft_task_current_id() is the id of the task
 * whose body runs on this thread, or 0 outside any task.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* The body reports its own id, as seen from inside. */
static weft_error *report_id(weft_task *self, void *arg)
{
	uint64_t *seen_inside = arg;

	(void)self;
	*seen_inside = weft_task_current_id();
	return NULL;
}

int main(void)
{
	enum {
		N = 3
	};
	weft_task *tasks[N];
	uint64_t inside[N] = {0};
	bool unique = true, nonzero = true, same = true;
	int rc;

	for (int i = 0; i < N; i++) {
		rc = weft_task_start_new(&tasks[i], report_id, &inside[i],
					 NULL);
		if (rc != 0) {
			fprintf(stderr, "start_new: %s\n", weft_strerror(rc));
			return 1;
		}
	}
	rc = weft_task_wait_all(tasks, N, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	if (rc != 0) {
		fprintf(stderr, "wait_all: %s\n", weft_strerror(rc));
		return 1;
	}

	for (int i = 0; i < N; i++) {
		uint64_t id = weft_task_id(tasks[i]);

		printf("task %d has id %llu\n", i, (unsigned long long)id);
		nonzero = nonzero && id != 0;
		same = same && id == inside[i] && id == weft_task_id(tasks[i]);
		for (int j = 0; j < i; j++)
			unique = unique && id != weft_task_id(tasks[j]);
	}
	printf("ids are non-zero: %s\n", nonzero ? "yes" : "no");
	printf("ids are unique: %s\n", unique ? "yes" : "no");
	printf("each body saw its own id: %s\n", same ? "yes" : "no");
	printf("id outside any task: %llu\n",
	       (unsigned long long)weft_task_current_id());

	for (int i = 0; i < N; i++)
		weft_task_unref(tasks[i]);
	return 0;
}
