/*
 * weft/context.h - ambient context that flows into tasks.
 *
 * Each thread has a small key/value context (strings).  A task captures its
 * creator's context at creation and installs it while its body runs, even
 * on a pool thread (the seed's "culture" example); continuations capture
 * the context current when they are created.  Contexts are immutable
 * snapshots: setting a key on a thread never changes what running tasks see.
 */
#ifndef WEFT_CONTEXT_H
#define WEFT_CONTEXT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * weft_context_set - set KEY to VALUE (copied; NULL removes KEY) in this
 * thread's context.  Errors: -EINVAL (KEY NULL or empty), -ENOMEM.
 */
WEFT_API int weft_context_set(const char *key, const char *value);

/*
 * weft_context_get - KEY's value in this thread's context, or NULL.  The
 * string stays valid until this thread changes its context or its task ends.
 */
WEFT_API const char *weft_context_get(const char *key);

/* weft_context_clear - empty this thread's context. */
WEFT_API void weft_context_clear(void);

#ifdef __cplusplus
}
#endif
#endif
