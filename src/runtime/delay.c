/*
 * delay.c - weft_task_delay (Task.Delay, spec A.11 / C12).
 *
 * Delay(0) is the shared completed task and an already-canceled token gives
 * a Canceled task without touching the timer thread; Delay(-1) arms no
 * timer at all and only cancellation completes it.  Everything else is a
 * promise task completed by the event thread's timer heap, or Canceled
 * synchronously inside the token's cancel call (io.c has the ownership
 * scheme for that race).
 */
#include <errno.h>

#include <weft/cancel.h>
#include <weft/compose.h>
#include <weft/task.h>

#include "io_internal.h"

int weft_task_delay(weft_task **out, int64_t ms, weft_cancel_token token)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (ms < -1 || ms > 0xFFFFFFFELL)
		return -EINVAL;
	if (weft_cancel_requested(token))
		return weft_task_from_canceled(out, token);
	if (ms == 0) {
		*out = weft_task_ref(weft_task_completed());
		return 0;
	}
	return weft__evtask_timer(out, ms, token);
}
