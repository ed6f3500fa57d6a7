/*
 * task_result.c - tasks that return a value (Task<Double>.Factory.StartNew
 * and Task<TResult>.Result).
 *
 * A body hands its result to the task with weft_task_set_result(), together
 * with the function that frees it.  weft_task_get_result() blocks until the
 * task has finished, then gives the result (borrowed: it lives as long as
 * the task).  The tasks may finish in any order; the results are read in
 * array order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

static double do_computation(double start)
{
	double sum = 0;

	for (double value = start; value <= start + 10; value += .1)
		sum += value;
	return sum;
}

static weft_error *computation_task(weft_task *self, void *arg)
{
	const double *start = arg;
	double *result = malloc(sizeof(*result));

	if (result == NULL)
		return weft_error_new(-ENOMEM, NULL);
	*result = do_computation(*start);
	weft_task_set_result(self, result, free); /* the task owns it now */
	return NULL;
}

/* Format V with DECIMALS digits and thousands separators, as "{0:N1}". */
static const char *format_n(char *buf, size_t size, double v, int decimals)
{
	char digits[64];
	const char *p = digits;
	size_t int_len, out = 0;

	snprintf(digits, sizeof(digits), "%.*f", decimals, v);
	if (*p == '-')
		buf[out++] = *p++;
	int_len = strcspn(p, ".");
	for (size_t i = 0; i < int_len && out + 2 < size; i++) {
		if (i > 0 && (int_len - i) % 3 == 0)
			buf[out++] = ',';
		buf[out++] = p[i];
	}
	snprintf(buf + out, size - out, "%s", p + int_len);
	return buf;
}

int main(void)
{
	static const double starts[] = {1.0, 100.0, 1000.0};
	enum {
		N = sizeof(starts) / sizeof(starts[0])
	};
	weft_task *tasks[N];
	double results[N];
	double sum = 0;
	char buf[64];

	for (size_t i = 0; i < N; i++) {
		int rc = weft_task_start_new(&tasks[i], computation_task,
					     (void *)&starts[i], NULL);
		if (rc != 0) {
			fprintf(stderr, "start_new: %s\n", weft_strerror(rc));
			return 1;
		}
	}

	for (size_t i = 0; i < N; i++) {
		void *value;
		weft_error *err;
		int rc = weft_task_get_result(tasks[i], &value, &err);

		if (rc != 0) { /* the task faulted or was canceled */
			fprintf(stderr, "task %zu: %s\n", i, weft_strerror(rc));
			weft_error_unref(err);
			return 1;
		}
		results[i] = *(double *)value;
		printf("%s %s", format_n(buf, sizeof(buf), results[i], 1),
		       i == N - 1 ? "= " : "+ ");
		sum += results[i];
	}
	printf("%s\n", format_n(buf, sizeof(buf), sum, 1));

	for (size_t i = 0; i < N; i++)
		weft_task_unref(tasks[i]);
	return 0;
}
