/*
 * weft_mem.c - what one task object costs in memory: N tasks made with
 * weft_task_create (state Created, never started) are held at once; the
 * resident set grows by RSS delta, read from /proc/self/statm, and the
 * result line gives bytes per task (units = tasks, ns field = bytes).
 * mallinfo2's in-use heap delta is printed on a NOTE line for reference
 * (it misses memory the library maps itself).
 *
 * Usage: weft_mem mem WORKERS N   (WORKERS is ignored: nothing runs)
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <unistd.h>

#include <weft.h>

#include "../common/bench.h"

static long rss_bytes(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2) {
		fprintf(stderr, "weft_mem: cannot read /proc/self/statm\n");
		exit(1);
	}
	fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

static weft_error *never_runs(weft_task *self, void *arg)
{
	(void)self;
	(void)arg;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4 || strcmp(argv[1], "mem"))
		bench_usage(argv[0], "mem");
	int workers = atoi(argv[2]);
	long long n = atoll(argv[3]);
	weft_task **ts = malloc(sizeof(*ts) * (size_t)n);
	if (!ts)
		return 1;
	/* make the array resident before the baseline */
	memset(ts, 0, sizeof(*ts) * (size_t)n);

	/* one task first, so a one-time allocator setup is not counted */
	weft_task *w;
	if (weft_task_create(&w, never_runs, NULL, NULL)) {
		fprintf(stderr, "weft_mem: weft_task_create failed\n");
		return 1;
	}

	long rss0 = rss_bytes();
	struct mallinfo2 m0 = mallinfo2();
	for (long long i = 0; i < n; i++) {
		int rc = weft_task_create(&ts[i], never_runs, NULL, NULL);
		if (rc) {
			fprintf(stderr, "weft_mem: weft_task_create: %s\n",
				weft_strerror(rc));
			return 1;
		}
	}
	long rss1 = rss_bytes();
	struct mallinfo2 m1 = mallinfo2();
	long long created = 0;
	for (long long i = 0; i < n; i++)
		created += weft_task_get_status(ts[i]) == WEFT_STATUS_CREATED;
	bench_check("mem", "weft", created, n);
	printf("NOTE weft mem: mallinfo2 in-use heap grew %.1f bytes per task\n",
	       ((double)m1.uordblks - (double)m0.uordblks) / (double)n);
	bench_result("mem", "weft", workers, n, (double)n,
		     (uint64_t)(rss1 - rss0));
	for (long long i = 0; i < n; i++)
		weft_task_unref(ts[i]);
	weft_task_unref(w);
	free(ts);
	return 0;
}
