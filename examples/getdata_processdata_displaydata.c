/*
 * getdata_processdata_displaydata.c - a chain of continuations, each one
 * using the result of the task before it (Creating task continuations:
 * getData -> processData -> displayData).
 *
 *   get_data      makes 100 random numbers          (a task)
 *   process_data  counts, sums and averages them    (continuation of get_data)
 *   display_data  formats the summary as text       (continuation of
 *                                                    process_data)
 *
 * Each continuation starts by itself when its antecedent finishes and reads
 * the antecedent's result.  The main thread only waits for the last one.
 *
 * The chain is built twice, as the seed does: once keeping a handle to every
 * step, and once in the chained style of Task.ContinueWith(...).ContinueWith
 * (...): C has no method chaining, but handing each new continuation's
 * handle on and dropping the previous one gives the same shape, because a
 * continuation keeps its antecedent alive for as long as it needs it.
 */
#define _POSIX_C_SOURCE 200809L /* rand_r */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

struct int_array {
	size_t n;
	int values[];
};

struct summary {
	size_t n;
	long long sum;
	double mean;
};

static weft_error *get_data(weft_task *self, void *arg)
{
	unsigned int *seed = arg;
	struct int_array *data = malloc(sizeof(*data) + 100 * sizeof(int));

	if (data == NULL)
		return weft_error_new(-ENOMEM, NULL);
	data->n = 100;
	for (size_t i = 0; i < data->n; i++)
		data->values[i] = rand_r(seed); /* 0 .. RAND_MAX */
	weft_task_set_result(self, data, free);
	return NULL;
}

/*
 * Read the antecedent's result.  If the antecedent faulted or was canceled
 * there is none: the error goes on to this continuation, as reading
 * Task.Result of a failed task throws in .NET.
 */
static weft_error *antecedent_result(weft_task *antecedent, void **value)
{
	weft_error *err = NULL;

	if (weft_task_get_result(antecedent, value, &err) != 0)
		return err;
	weft_error_unref(err);
	return NULL;
}

static weft_error *process_data(weft_task *self, weft_task *antecedent,
				void *arg)
{
	const struct int_array *data;
	struct summary *s;
	void *value;
	weft_error *err = antecedent_result(antecedent, &value);

	(void)arg;
	if (err != NULL)
		return err;
	data = value;
	s = malloc(sizeof(*s));
	if (s == NULL)
		return weft_error_new(-ENOMEM, NULL);
	s->n = data->n;
	s->sum = 0;
	for (size_t i = 0; i < data->n; i++)
		s->sum += data->values[i];
	s->mean = (double)s->sum / (double)s->n;
	weft_task_set_result(self, s, free);
	return NULL;
}

/* "{0:N<decimals>}": thousands separators, DECIMALS digits. */
static const char *format_n(char *buf, size_t size, double v, int decimals)
{
	char digits[64];
	size_t int_len, out = 0;

	snprintf(digits, sizeof(digits), "%.*f", decimals, v);
	int_len = strcspn(digits, ".");
	for (size_t i = 0; i < int_len && out + 2 < size; i++) {
		if (i > 0 && (int_len - i) % 3 == 0)
			buf[out++] = ',';
		buf[out++] = digits[i];
	}
	snprintf(buf + out, size - out, "%s", digits + int_len);
	return buf;
}

static weft_error *display_data(weft_task *self, weft_task *antecedent,
				void *arg)
{
	const struct summary *s;
	char n[32], total[32], mean[32], *text;
	void *value;
	weft_error *err = antecedent_result(antecedent, &value);

	(void)arg;
	if (err != NULL)
		return err;
	s = value;
	text = malloc(128);
	if (text == NULL)
		return weft_error_new(-ENOMEM, NULL);
	snprintf(text, 128, "N=%s, Total = %s, Mean = %s",
		 format_n(n, sizeof(n), (double)s->n, 0),
		 format_n(total, sizeof(total), (double)s->sum, 0),
		 format_n(mean, sizeof(mean), s->mean, 2));
	weft_task_set_result(self, text, free);
	return NULL;
}

/* Wait for the end of a chain and print what it made. */
static int show(weft_task *last)
{
	weft_error *err;
	void *text;
	int rc = weft_task_get_result(last, &text, &err);

	if (rc == 0) {
		printf("%s\n", (const char *)text);
	} else {
		char msg[256];

		weft_error_format(err, msg, sizeof(msg));
		fprintf(stderr, "displayData: %s\n", msg);
		weft_error_unref(err);
	}
	return rc;
}

/*
 * Append a continuation running FN to *CHAIN and make it the new end of the
 * chain: the caller's reference to the old end is dropped.
 */
static int then(weft_task **chain, weft_continuation_fn fn)
{
	weft_task *next;
	int rc = weft_task_continue_with(&next, *chain, fn, NULL, NULL);

	if (rc != 0)
		return rc;
	weft_task_unref(*chain);
	*chain = next;
	return 0;
}

int main(void)
{
	unsigned int seed = (unsigned int)time(NULL);
	weft_task *get, *process, *display, *chain = NULL;
	int rc;

	/* a handle to every step */
	rc = weft_task_start_new(&get, get_data, &seed, NULL);
	if (rc == 0)
		rc = weft_task_continue_with(&process, get, process_data, NULL,
					     NULL);
	if (rc == 0)
		rc = weft_task_continue_with(&display, process, display_data,
					     NULL, NULL);
	if (rc != 0) {
		fprintf(stderr, "setting up the chain: %s\n",
			weft_strerror(rc));
		return 1;
	}
	rc = show(display);
	weft_task_unref(get);
	weft_task_unref(process);
	weft_task_unref(display);

	/* the chained style: only the end of the chain is held */
	if (rc == 0)
		rc = weft_task_start_new(&chain, get_data, &seed, NULL);
	if (rc == 0 && (rc = then(&chain, process_data)) == 0 &&
	    (rc = then(&chain, display_data)) == 0)
		rc = show(chain);
	weft_task_unref(chain); /* the end of the chain, or NULL */
	return rc == 0 ? 0 : 1;
}
