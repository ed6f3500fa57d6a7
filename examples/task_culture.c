/*
 * task_culture.c - the creator's context flows into its tasks, even on a
 * pool thread (Tasks, threads, and culture).
 *
 * .NET tasks inherit the calling thread's CultureInfo.  weft's equivalent is
 * the ambient context (weft/context.h): string keys per thread, captured
 * when a task is created and installed while its body runs.  This program
 * keeps its "culture" there and formats currency by it, then runs the same
 * formatting function directly, as a task on the pool and as a task run
 * synchronously; all three see the culture the main thread set.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

/* A small number per thread, like .NET's ManagedThreadId (main is 1). */
static int thread_number(void)
{
	static atomic_int next = 1;
	static _Thread_local int mine;

	if (mine == 0)
		mine = atomic_fetch_add_explicit(&next, 1,
						 memory_order_relaxed);
	return mine;
}

static const char *current_culture(void)
{
	const char *name = weft_context_get("culture");

	return name ? name : "en-US"; /* the "system" culture */
}

/* CENTS as currency ("C2") in CULTURE: en-US $1,234.56; fr-FR 1 234,56 €. */
static void format_currency(char *buf, size_t size, long long cents,
			    const char *culture)
{
	bool fr = strcmp(culture, "fr-FR") == 0;
	char digits[32], grouped[48];
	size_t len, out = 0;

	snprintf(digits, sizeof(digits), "%lld", cents / 100);
	len = strlen(digits);
	for (size_t i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			grouped[out++] = fr ? ' ' : ',';
		grouped[out++] = digits[i];
	}
	grouped[out] = '\0';
	if (fr)
		snprintf(buf, size, "%s,%02lld €", grouped, cents % 100);
	else
		snprintf(buf, size, "$%s.%02lld", grouped, cents % 100);
}

/* The "formatDelegate": a new string, to be freed by the caller. */
static char *format_values(void)
{
	static const long long values[] = {16302541232, 1890536559};
	char *output = malloc(256);
	size_t len;

	if (output == NULL)
		return NULL;
	len = (size_t)snprintf(
		output, 256, "Formatting using the %s culture on thread %d.\n",
		current_culture(), thread_number());
	for (size_t i = 0; i < 2; i++) {
		char money[64];

		format_currency(money, sizeof(money), values[i],
				current_culture());
		len += (size_t)snprintf(output + len, 256 - len, "%s%s",
					i > 0 ? "   " : "", money);
	}
	snprintf(output + len, 256 - len, "\n");
	return output;
}

static weft_error *format_task(weft_task *self, void *arg)
{
	char *output = format_values();

	(void)arg;
	if (output == NULL)
		return weft_error_new(-ENOMEM, NULL);
	weft_task_set_result(self, output, free);
	return NULL;
}

static void print_result(weft_task *t)
{
	void *output;
	weft_error *err;
	int rc = weft_task_get_result(t, &output, &err);

	if (rc != 0) {
		fprintf(stderr, "task: %s\n", weft_strerror(rc));
		weft_error_unref(err);
		exit(1);
	}
	printf("%s\n", (const char *)output);
}

int main(void)
{
	weft_task *t1, *t2;
	char *output;
	int rc;

	printf("The example is running on thread %d\n", thread_number());
	/* Make the current culture different from the system culture. */
	printf("The current culture is %s\n", current_culture());
	if (strcmp(current_culture(), "fr-FR") == 0)
		rc = weft_context_set("culture", "en-US");
	else
		rc = weft_context_set("culture", "fr-FR");
	if (rc != 0) {
		fprintf(stderr, "weft_context_set: %s\n", weft_strerror(rc));
		return 1;
	}
	printf("Changed the current culture to %s.\n\n", current_culture());

	/* Execute the function synchronously. */
	printf("Executing the delegate synchronously:\n");
	output = format_values();
	if (output == NULL)
		return 1;
	printf("%s\n", output);
	free(output);

	/* Run it as a task on the pool: the culture goes with it. */
	printf("Executing a task asynchronously:\n");
	rc = weft_task_run(&t1, format_task, NULL);
	if (rc != 0) {
		fprintf(stderr, "weft_task_run: %s\n", weft_strerror(rc));
		return 1;
	}
	print_result(t1);

	/* Create a task and run it on this thread. */
	printf("Executing a task synchronously:\n");
	rc = weft_task_create(&t2, format_task, NULL, NULL);
	if (rc == 0)
		rc = weft_task_run_synchronously(t2, NULL);
	if (rc != 0) {
		fprintf(stderr, "run_synchronously: %s\n", weft_strerror(rc));
		return 1;
	}
	print_result(t2);

	weft_task_unref(t1);
	weft_task_unref(t2);
	weft_context_clear();
	return 0;
}
