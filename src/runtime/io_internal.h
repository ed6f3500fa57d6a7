/*
 * io_internal.h - promise tasks completed by the event thread (io.c), shared
 * by the fd / pid / timer tasks and weft_task_delay (delay.c).
 */
#ifndef WEFT_IO_INTERNAL_H
#define WEFT_IO_INTERNAL_H

#include <weft/common.h>

/*
 * weft__evtask_timer - a promise task that RanToCompletion (result NULL)
 * after MS milliseconds (MS > 0), or never (MS == WEFT_INFINITE), and is
 * Canceled by TOKEN (synchronously inside the cancel call).  The caller has
 * validated MS and handled an already-canceled TOKEN and MS == 0.
 * Ownership: +1 in *OUT.  Errors: -ENOMEM, or the event thread's start
 * error.
 */
int weft__evtask_timer(weft_task **out, int64_t ms, weft_cancel_token token);

#endif
