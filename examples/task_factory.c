/*
 * task_factory.c - a factory carries defaults for a family of tasks
 * (The TaskFactory class).
 *
 * A factory is made with a cancellation token, creation options,
 * continuation options and a scheduler; every task it starts gets them,
 * unless the call's own options override a field.  Here three workers share
 * the factory's token and PreferFairness, a fourth overrides the creation
 * options, and the factory's continue_when_all adds up the results.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static weft_error *times_ten(weft_task *self, void *arg)
{
	weft_task_set_result(self, (void *)((intptr_t)arg * 10), NULL);
	return NULL;
}

static weft_error *total(weft_task *self, weft_task *const *tasks, size_t n,
			 void *arg)
{
	intptr_t sum = 0;

	(void)arg;
	for (size_t i = 0; i < n; i++)
		sum += (intptr_t)weft_task_result(tasks[i]);
	weft_task_set_result(self, (void *)sum, NULL);
	return NULL;
}

static const char *flags_name(unsigned flags)
{
	switch (flags) {
	case WEFT_TASK_NONE:
		return "None";
	case WEFT_TASK_PREFER_FAIRNESS:
		return "PreferFairness";
	case WEFT_TASK_LONG_RUNNING:
		return "LongRunning";
	default:
		return "other";
	}
}

int main(void)
{
	weft_cancel_source *cts;
	weft_cancel_token token;
	weft_task_factory *factory;
	weft_task_options override = WEFT_TASK_OPTIONS_INIT;
	weft_task *tasks[4], *sum;
	void *result;
	int rc;

	if (weft_cancel_source_new(&cts) != 0)
		return 1;
	token = weft_cancel_source_token(cts);
	rc = weft_task_factory_new(&factory, token, WEFT_TASK_PREFER_FAIRNESS,
				   WEFT_CONT_NONE, NULL);
	if (rc != 0) {
		fprintf(stderr, "factory: %s\n", weft_strerror(rc));
		return 1;
	}

	for (intptr_t i = 0; i < 3 && rc == 0; i++)
		rc = weft_task_factory_start_new(factory, &tasks[i], times_ten,
						 (void *)(i + 1), NULL);
	override.flags = WEFT_TASK_LONG_RUNNING;
	if (rc == 0)
		rc = weft_task_factory_start_new(factory, &tasks[3], times_ten,
						 (void *)4, &override);
	if (rc == 0)
		rc = weft_task_factory_continue_when_all(factory, &sum, tasks,
							 4, total, NULL, NULL);
	if (rc != 0) {
		fprintf(stderr, "factory tasks: %s\n", weft_strerror(rc));
		return 1;
	}

	for (int i = 0; i < 4; i++)
		printf("task %d: options %s, the factory's token: %s\n", i,
		       flags_name(weft_task_creation_options(tasks[i])),
		       weft_cancel_token_equal(weft_task_token(tasks[i]),
					       token) ?
			       "yes" :
			       "no");
	rc = weft_task_get_result(sum, &result, NULL);
	printf("sum of the results: %ld\n",
	       rc == 0 ? (long)(intptr_t)result : -1L);

	weft_task_unref(sum);
	for (int i = 0; i < 4; i++)
		weft_task_unref(tasks[i]);
	weft_task_factory_free(factory);
	weft_cancel_source_unref(cts);
	return 0;
}
