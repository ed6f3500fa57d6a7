/*
 * context.h - internal interface of the ambient context (weft/context.h).
 *
 * A context is an immutable, reference-counted snapshot of key/value
 * strings.  Each thread has a current snapshot (NULL when empty).  The task
 * core captures the creator's snapshot when a task is created and installs
 * it around the body:
 *
 *	t->ctx = weft__context_capture();          at creation
 *	saved = weft__context_enter(t->ctx);       before the body
 *	... body ...
 *	weft__context_leave(saved);                after the body
 *	weft__context_release(t->ctx);             when the task is freed
 *
 * All four are cheap when no context is in use: capture is one thread-local
 * load, enter/leave touch only thread-local state.
 */
#ifndef WEFT_RUNTIME_CONTEXT_H
#define WEFT_RUNTIME_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

/* An immutable snapshot. */
struct weft__context;

/* Each thread's current snapshot (context.c).  initial-exec: one load
 * from the thread pointer even inside the shared library, which is what
 * keeps capture/enter/leave cheap; they are inline for the task paths. */
struct weft__context_tls_state {
	struct weft__context *cur; /* NULL when empty */
	bool owned;	 /* cur holds a reference this thread must drop */
	bool registered; /* the exit destructor is armed for this thread */
};
extern _Thread_local struct weft__context_tls_state weft__context_tls
	__attribute__((tls_model("initial-exec")));

/* +1 on C; the out-of-line halves of the functions below. */
struct weft__context *weft__context_ref(struct weft__context *c);
struct weft__context *weft__context_enter_slow(struct weft__context *ctx);
void weft__context_leave_slow(struct weft__context *saved);

/*
 * weft__context_capture - +1 reference on this thread's current snapshot,
 * or NULL when the context is empty (then no atomic operation is done).
 */
static inline struct weft__context *weft__context_capture(void)
{
	struct weft__context *c = weft__context_tls.cur;
	return c ? weft__context_ref(c) : NULL;
}

/* weft__context_release - drop a reference from capture().  NULL is ok. */
void weft__context_release(struct weft__context *ctx);

/*
 * weft__context_enter - make CTX (borrowed: the caller keeps it alive until
 * the matching leave; may be NULL) this thread's current snapshot.  Returns
 * an opaque value to hand to weft__context_leave(); pairs must nest.
 */
static inline struct weft__context *weft__context_enter(
	struct weft__context *ctx)
{
	if (!ctx && !weft__context_tls.cur)
		return NULL; /* nothing to save, nothing to install */
	return weft__context_enter_slow(ctx);
}

/*
 * weft__context_leave - restore what enter() saved.  Whatever the body set
 * in the meantime is released.
 */
static inline void weft__context_leave(struct weft__context *saved)
{
	/* nothing saved and nothing set by the body (an owned snapshot is
	 * never NULL): the state is already what it was */
	if (!saved && !weft__context_tls.cur)
		return;
	weft__context_leave_slow(saved);
}

#endif
