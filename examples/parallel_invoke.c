/*
 * parallel_invoke.c - run two actions concurrently with weft_parallel_invoke
 * (Parallel.Invoke(() => DoSomeWork(), () => DoSomeOtherWork())).
 *
 * The call returns when both actions have finished.  How many tasks weft
 * creates behind the scenes is its own business: with two actions the
 * caller runs one itself and offers the other to idle workers.
 */
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static weft_error *do_some_work(void *arg)
{
	(void)arg;
	printf("DoSomeWork finished.\n");
	return NULL; /* no error */
}

static weft_error *do_some_other_work(void *arg)
{
	(void)arg;
	printf("DoSomeOtherWork finished.\n");
	return NULL;
}

int main(void)
{
	weft_action actions[] = {
		{do_some_work, NULL},
		{do_some_other_work, NULL},
	};
	weft_error *err = NULL;
	int rc;

	rc = weft_parallel_invoke(actions, 2, NULL, &err);
	if (rc != 0) {
		char msg[256] = "";

		if (err)
			weft_error_format(err, msg, sizeof(msg));
		fprintf(stderr, "parallel_invoke: %s %s\n", weft_strerror(rc),
			msg);
		weft_error_unref(err);
		return 1;
	}
	printf("Both actions have finished.\n");
	return 0;
}
