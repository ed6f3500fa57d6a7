/*
 * weft/error.h - error objects with identity.
 *
 * A task body reports failure by returning a weft_error; the very same object
 * is what a waiter receives (inside an aggregate, as .NET's
 * AggregateException.InnerExceptions).  Errors are immutable after creation
 * and reference-counted, so they may be shared between threads freely.
 *
 * Allocation failure never yields NULL from the constructors: they return a
 * shared static "out of memory" error (code -ENOMEM) instead, so a body can
 * always `return weft_error_new(...)`.
 */
#ifndef WEFT_ERROR_H
#define WEFT_ERROR_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_error_kind {
	WEFT_ERROR_PLAIN = 0,	      /* a code and a message */
	WEFT_ERROR_CANCELED = 1,      /* OperationCanceled: carries a token */
	WEFT_ERROR_TASK_CANCELED = 2, /* a task was canceled: token + task */
	WEFT_ERROR_AGGREGATE = 3,     /* an ordered list of inner errors */
	WEFT_ERROR_SCHEDULER = 4,     /* a scheduler failed: one inner error */
} weft_error_kind;

/*
 * weft_error_new - a plain error with CODE (a negative errno or any
 * application code) and a printf-style message (FMT may be NULL: the message
 * is then weft_strerror(code)).
 * Ownership: returns +1.  Thread safety: any thread.
 */
WEFT_API weft_error *weft_error_new(int code, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 2, 3)))
#endif
	;

/*
 * weft_error_canceled - an OperationCanceled error carrying TOKEN (code
 * -ECANCELED).  A task body that returns this for its own canceled token
 * acknowledges cancellation: the task becomes Canceled, not Faulted.
 * Ownership: returns +1; takes its own reference on the token's source.
 */
WEFT_API weft_error *weft_error_canceled(weft_cancel_token token);

/*
 * weft_error_aggregate - an aggregate of N inner errors, in order, with
 * message MSG (NULL: "One or more errors occurred.").
 * Ownership: returns +1 in *OUT; takes its own references on the inners (the
 * caller keeps its own).
 * Errors: -EINVAL if OUT is NULL, INNER is NULL while N > 0, or an element is
 * NULL (nothing is created); -ENOMEM.
 */
WEFT_API int weft_error_aggregate(weft_error **out, const char *msg,
				  weft_error *const *inner, size_t n);

/*
 * weft_error_ref / weft_error_unref - take / drop a reference.  NULL is
 * accepted and ignored by both.  Thread safety: any thread.
 */
WEFT_API weft_error *weft_error_ref(weft_error *e);
WEFT_API void weft_error_unref(weft_error *e);

/* Accessors.  All are safe from any thread; E must not be NULL. */
WEFT_API weft_error_kind weft_error_get_kind(const weft_error *e);
WEFT_API int weft_error_code(const weft_error *e);
/* Borrowed string, valid while E lives. */
WEFT_API const char *weft_error_message(const weft_error *e);
WEFT_API size_t weft_error_inner_count(const weft_error *e);
/* Borrowed; NULL when I is out of range. */
WEFT_API weft_error *weft_error_inner(const weft_error *e, size_t i);
/* The token of a CANCELED or TASK_CANCELED error, else the none token. */
WEFT_API weft_cancel_token weft_error_token(const weft_error *e);
/* The task of a TASK_CANCELED error (borrowed), else NULL. */
WEFT_API weft_task *weft_error_task(const weft_error *e);
/* True for CANCELED and TASK_CANCELED errors. */
WEFT_API bool weft_error_is_cancellation(const weft_error *e);

/*
 * weft_error_flatten - a new aggregate whose inners are E's inners with every
 * nested aggregate replaced by its own inners, recursively, depth first,
 * order preserved.  A non-aggregate E gives an aggregate of [E].
 * Ownership: returns +1 (never NULL; see the note on allocation above).
 */
WEFT_API weft_error *weft_error_flatten(weft_error *e);

/*
 * weft_error_base - GetBaseException: while E is an aggregate with exactly
 * one inner that is itself an aggregate, descend; return where it stops.
 * Ownership: borrowed from E.
 */
WEFT_API weft_error *weft_error_base(weft_error *e);

/*
 * weft_error_handle - call PRED on every inner error of the aggregate E.
 * Returns 0 when PRED returned true for all; otherwise WEFT_EFAULTED and,
 * when UNHANDLED is not NULL, *UNHANDLED = +1 aggregate of the inners PRED
 * returned false for.  Errors: -EINVAL for NULL E or PRED.
 */
WEFT_API int weft_error_handle(weft_error *e,
			       bool (*pred)(weft_error *inner, void *arg),
			       void *arg, weft_error **unhandled);

/*
 * weft_error_format - write "message (inner 1) (inner 2)" into BUF (always
 * NUL-terminated when SIZE > 0).  Returns the length the full text needs,
 * like snprintf.
 */
WEFT_API size_t weft_error_format(const weft_error *e, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
