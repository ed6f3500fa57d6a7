/*
 * error_internal.h - constructors for the error kinds that only the runtime
 * makes (TASK_CANCELED, SCHEDULER, aggregates built from stolen references),
 * and the shared "out of memory" error.
 *
 * Like the public constructors, none of these ever returns NULL: when memory
 * runs out they return weft__error_oom() instead.
 */
#ifndef WEFT_ERROR_INTERNAL_H
#define WEFT_ERROR_INTERNAL_H

#include <weft/error.h>

/*
 * weft__error_oom - the static, immortal "out of memory" error (PLAIN, code
 * -ENOMEM).  weft_error_ref/_unref on it do nothing, so it may be handed out
 * and dropped like any other error.  Borrowed (immortal).
 */
weft_error *weft__error_oom(void);

/* weft__error_is_oom - true iff E is the static out-of-memory error. */
bool weft__error_is_oom(const weft_error *e);

/*
 * weft__error_task_canceled - a TASK_CANCELED error (code -ECANCELED)
 * naming TASK (may be NULL) and carrying TOK.  Takes its own reference on
 * TASK (weft_task_ref, dropped with weft_task_unref when the error is freed)
 * and on TOK's source (weft_cancel_source_ref).  Returns +1.
 */
weft_error *weft__error_task_canceled(weft_task *task, weft_cancel_token tok);

/*
 * weft__error_scheduler - a SCHEDULER error wrapping INNER (not NULL): its
 * code is INNER's code, weft_error_inner(e, 0) is INNER.  Takes its own
 * reference on INNER (the caller keeps its own).  Returns +1.
 */
weft_error *weft__error_scheduler(weft_error *inner);

/*
 * weft__error_aggregate_take - an aggregate of the N errors in INNER (none
 * NULL), with the default message.  STEALS the N references: the caller
 * must not drop them.  Never fails: when memory runs out the N references
 * are dropped and the out-of-memory error is returned.  INNER itself (the
 * array) stays the caller's.  Returns +1.
 */
weft_error *weft__error_aggregate_take(weft_error **inner, size_t n);

/*
 * weft__error_aggregate_take_msg - the same with message MSG (NULL: the
 * default "One or more errors occurred.").
 */
weft_error *weft__error_aggregate_take_msg(const char *msg, weft_error **inner,
					   size_t n);

/*
 * weft__error_aggregate_flat - an aggregate of ERRS[0..N) in which every
 * element that is itself an aggregate contributes its inners (one level)
 * instead of itself; WaitAll and WhenAll collect faulted tasks' errors this
 * way.  Takes its own references (the caller keeps its own).  Returns +1;
 * the out-of-memory error on failure.
 */
weft_error *weft__error_aggregate_flat(weft_error *const *errs, size_t n);

#endif
