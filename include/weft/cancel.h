/*
 * weft/cancel.h - cooperative cancellation: sources, tokens, registrations.
 *
 * A cancellation source is canceled once; its tokens observe it.  Tasks,
 * continuations, waits and delays accept a token.  Callbacks registered on a
 * token run exactly once when the source is canceled (LIFO order, on the
 * canceling thread), or at once inside weft_cancel_register() when it already
 * was.  Timeouts are milliseconds; WEFT_INFINITE (-1) means never.
 */
#ifndef WEFT_CANCEL_H
#define WEFT_CANCEL_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * weft_cancel_source_new - a new source, not canceled.
 * Ownership: +1 in *OUT.  Errors: -EINVAL (OUT NULL), -ENOMEM.
 */
WEFT_API int weft_cancel_source_new(weft_cancel_source **out);

/*
 * weft_cancel_source_new_linked - a source that is canceled when any of the
 * N TOKENS is canceled (at once if one already is).  Canceling the linked
 * source does not cancel the others; releasing it unregisters from them.
 * Errors: -EINVAL (OUT or TOKENS NULL, N == 0), -ENOMEM.
 */
WEFT_API int weft_cancel_source_new_linked(weft_cancel_source **out,
					   const weft_cancel_token *tokens,
					   size_t n);

/*
 * weft_cancel_source_ref / _unref - reference counting; NULL is ignored.
 * Dropping the last reference disposes the source: its pending timer and
 * its registrations on linked tokens are released.
 */
WEFT_API weft_cancel_source *weft_cancel_source_ref(weft_cancel_source *s);
WEFT_API void weft_cancel_source_unref(weft_cancel_source *s);

/*
 * weft_cancel_source_cancel - request cancellation.  The first call runs
 * every registered callback on this thread, last registered first, and
 * returns after them; later calls return at once.  Returns 0, or -EINVAL
 * for a NULL source.  Thread safety: any thread, concurrently.
 */
WEFT_API int weft_cancel_source_cancel(weft_cancel_source *s);

/*
 * weft_cancel_source_cancel_after - cancel after MS milliseconds (0: now,
 * WEFT_INFINITE: never).  Each call replaces the previous due time while the
 * source is not canceled.  Served by weft's single timer thread.
 * Errors: -EINVAL (NULL source, MS < -1 or > 0xFFFFFFFE), -ENOMEM.
 */
WEFT_API int weft_cancel_source_cancel_after(weft_cancel_source *s, int64_t ms);

/*
 * weft_cancel_source_try_reset - if the source is not canceled, drop its
 * pending timer and all registrations and return true; else false.
 */
WEFT_API bool weft_cancel_source_try_reset(weft_cancel_source *s);

/* weft_cancel_source_token - the token of S (borrowing S; see common.h). */
WEFT_API weft_cancel_token weft_cancel_source_token(weft_cancel_source *s);

/* weft_cancel_token_canceled - a token that is already canceled. */
WEFT_API weft_cancel_token weft_cancel_token_canceled(void);

/* True once the token's source was canceled; false for the none token. */
WEFT_API bool weft_cancel_requested(weft_cancel_token t);
/* False only for the none token. */
WEFT_API bool weft_cancel_can_be_canceled(weft_cancel_token t);
/* Same source (every none token equals every other). */
WEFT_API bool weft_cancel_token_equal(weft_cancel_token a, weft_cancel_token b);

/*
 * weft_cancel_throw_if_requested - the C form of ThrowIfCancellationRequested:
 * NULL when T is not canceled, else a new OperationCanceled error carrying T
 * (+1), ready to be returned from a task body.
 */
WEFT_API weft_error *weft_cancel_throw_if_requested(weft_cancel_token t);

/*
 * weft_cancel_wait - block until T is canceled or TIMEOUT_MS passes.
 * Returns 0 when canceled, -ETIMEDOUT, -EINVAL (TIMEOUT_MS < -1, or the none
 * token with an infinite timeout, which would never return).
 */
WEFT_API int weft_cancel_wait(weft_cancel_token t, int64_t timeout_ms);

/*
 * A registration: a value naming one callback on one source.  The id makes
 * a stale registration unable to remove a recycled node.  A non-empty
 * registration keeps the source's memory (not the source) alive, so it stays
 * safe to use after the source is released: release it exactly once with
 * weft_cancel_unregister() or weft_cancel_registration_dispose(), which
 * both clear it, also when the callback has already run.
 */
typedef struct weft_cancel_registration {
	void *node;
	uint64_t id;
	weft_cancel_source *source;
} weft_cancel_registration;

/*
 * weft_cancel_register - call FN(ARG) once when T is canceled.  If T is
 * already canceled FN runs now, on this thread, and *REG is empty.  On the
 * none token nothing is registered and *REG is empty.  REG may be NULL when
 * the caller never unregisters.
 * Errors: -EINVAL (FN NULL), -ENOMEM.
 */
WEFT_API int weft_cancel_register(weft_cancel_token t, void (*fn)(void *arg),
				  void *arg, weft_cancel_registration *reg);

/*
 * weft_cancel_unregister - remove the callback if it has not started; true
 * iff it was removed (then it will never run).  Never waits.  Clears *REG.
 * Harmless on an empty or already-removed registration.
 */
WEFT_API bool weft_cancel_unregister(weft_cancel_registration *reg);

/*
 * weft_cancel_registration_dispose - like unregister, but if the callback is
 * running on another thread, wait for it to finish (not when called from the
 * callback itself).  Clears *REG.
 */
WEFT_API void weft_cancel_registration_dispose(weft_cancel_registration *reg);

#ifdef __cplusplus
}
#endif
#endif
