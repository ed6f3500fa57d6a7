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

/* An immutable snapshot. */
struct weft__context;

/*
 * weft__context_capture - +1 reference on this thread's current snapshot,
 * or NULL when the context is empty (then no atomic operation is done).
 */
struct weft__context *weft__context_capture(void);

/* weft__context_release - drop a reference from capture().  NULL is ok. */
void weft__context_release(struct weft__context *ctx);

/*
 * weft__context_enter - make CTX (borrowed: the caller keeps it alive until
 * the matching leave; may be NULL) this thread's current snapshot.  Returns
 * an opaque value to hand to weft__context_leave(); pairs must nest.
 */
struct weft__context *weft__context_enter(struct weft__context *ctx);

/*
 * weft__context_leave - restore what enter() saved.  Whatever the body set
 * in the meantime is released.
 */
void weft__context_leave(struct weft__context *saved);

#endif
