/*
 * weft/io.h - tasks that wrap operating-system events (FromAsync-style).
 *
 * All of them are served by one internal event thread (epoll), never by a
 * thread per wait.  The tasks are promise-style: WaitingForActivation until
 * the event happens, Canceled when TOKEN is canceled first.
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * weft_task_from_fd - completes when FD is ready for EVENTS (EPOLLIN,
 * EPOLLOUT, ... as in <sys/epoll.h>); the result is the ready event mask,
 * cast to a pointer (uintptr_t).  The fd is not closed or consumed.  An fd
 * may be watched by several tasks at once (the fd is dup'ed internally).
 * Errors: -EINVAL (FD < 0, EVENTS 0), -EBADF, -EPERM (fd not pollable,
 * e.g. a regular file), -ENOMEM.
 */
WEFT_API int weft_task_from_fd(weft_task **out, int fd, uint32_t events,
			       weft_cancel_token token);

/*
 * weft_task_from_pid - completes when process PID (a child of this process
 * or any process this user may signal) exits.  For a child of the calling
 * process the result is its wait status (as waitpid; the child is reaped),
 * cast to uintptr_t; for other processes 0.  Uses a pidfd.
 * Errors: -ESRCH (no such process), -EINVAL, -ENOSYS (kernel < 5.3).
 */
WEFT_API int weft_task_from_pid(weft_task **out, int pid,
				weft_cancel_token token);

/*
 * weft_task_from_timer - completes after MS milliseconds; the same as
 * weft_task_delay (kept for symmetry with the other event sources).
 */
WEFT_API int weft_task_from_timer(weft_task **out, int64_t ms,
				  weft_cancel_token token);

#ifdef __cplusplus
}
#endif
#endif
