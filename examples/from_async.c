/*
 * from_async.c - tasks that wrap operating-system events (Tasks without
 * delegates: FromAsync-style adapters).
 *
 * The .NET FromAsync methods turn a Begin/End pair into a task.  On Linux
 * the natural asynchronous operations are file descriptors becoming ready
 * and processes exiting: weft_task_from_fd() and weft_task_from_pid() give
 * tasks that complete when that happens.  No thread waits for each of
 * them: one internal event thread watches all.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft.h>

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

/* A continuation that reads what arrived on the pipe. */
static weft_error *read_message(weft_task *self, weft_task *readable, void *arg)
{
	int fd = *(int *)arg;
	char *buf;
	ssize_t n;

	if (!weft_task_is_completed_successfully(readable))
		return weft_error_new(-EIO, "the pipe never became readable");
	buf = calloc(1, 64);
	if (buf == NULL)
		return weft_error_new(-ENOMEM, NULL);
	n = read(fd, buf, 63);
	if (n < 0) {
		free(buf);
		return weft_error_new(-errno, "read");
	}
	weft_task_set_result(self, buf, free);
	return NULL;
}

static int pipe_example(void)
{
	int fds[2];
	weft_task *readable, *message;
	void *ready, *text;
	int rc;

	if (pipe(fds) != 0)
		return -errno;
	rc = weft_task_from_fd(&readable, fds[0], EPOLLIN, WEFT_TOKEN_NONE);
	if (rc != 0)
		return rc;
	rc = weft_task_continue_with(&message, readable, read_message, &fds[0],
				     NULL);
	if (rc != 0)
		return rc;
	printf("pipe: before writing, the task is %s\n",
	       status_name(weft_task_get_status(readable)));

	if (write(fds[1], "ping", 4) != 4)
		return -EIO;
	rc = weft_task_get_result(readable, &ready, NULL);
	if (rc == 0)
		printf("pipe: ready for %s\n",
		       ((uintptr_t)ready & EPOLLIN) ? "EPOLLIN" : "?");
	if (rc == 0)
		rc = weft_task_get_result(message, &text, NULL);
	if (rc == 0)
		printf("pipe: the continuation read \"%s\"\n",
		       (const char *)text);

	weft_task_unref(message);
	weft_task_unref(readable);
	close(fds[0]);
	close(fds[1]);
	return rc;
}

static int process_example(void)
{
	weft_task *exited;
	void *status;
	pid_t pid = fork();
	int rc;

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(3); /* the child: exit at once, with status 3 */

	rc = weft_task_from_pid(&exited, pid, WEFT_TOKEN_NONE);
	if (rc != 0)
		return rc;
	rc = weft_task_get_result(exited, &status, NULL);
	if (rc == 0 && WIFEXITED((int)(uintptr_t)status))
		printf("process: the child exited with status %d\n",
		       WEXITSTATUS((int)(uintptr_t)status));
	weft_task_unref(exited);
	return rc;
}

int main(void)
{
	int rc = pipe_example();

	if (rc == 0)
		rc = process_example();
	if (rc != 0) {
		fprintf(stderr, "from_async: %s\n", weft_strerror(rc));
		return 1;
	}
	return 0;
}
