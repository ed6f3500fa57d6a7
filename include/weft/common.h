/*
 * weft/common.h - types shared by every part of the weft API.
 *
 * Every handle is opaque and reference-counted.  Fallible calls return 0 or a
 * negative errno (-EINVAL, -ETIMEDOUT, -ECANCELED, ...) or one of the
 * weft-specific codes below; weft_strerror() names any of them.  The library
 * never prints and never exits.
 */
#ifndef WEFT_COMMON_H
#define WEFT_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(WEFT_STATIC_BUILD)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

/* weft-specific result codes, outside the errno range (as libuv does). */
#define WEFT_EFAULTED (-4095) /* the task is Faulted: see its error object */

typedef struct weft_task weft_task;
typedef struct weft_error weft_error;
typedef struct weft_scheduler weft_scheduler;
typedef struct weft_cancel_source weft_cancel_source;
typedef struct weft_promise weft_promise;

/*
 * A cancellation token is a small value naming a cancellation source (or
 * none).  A token does not own its source: whoever stores a token beyond the
 * call that received it (tasks, registrations) takes a reference on the
 * source.  The zero value is the "none" token, which is never canceled.
 */
typedef struct weft_cancel_token {
	weft_cancel_source *source;
} weft_cancel_token;

#ifdef __cplusplus
#define WEFT_TOKEN_NONE (weft_cancel_token{nullptr})
#else
#define WEFT_TOKEN_NONE ((weft_cancel_token){0})
#endif

/* Infinite timeout for every wait. */
#define WEFT_INFINITE (-1)

/*
 * weft_strerror - a static, human-readable description of a result code.
 * Accepts 0, any negative errno and the WEFT_E* codes; never NULL.
 * Thread safety: safe from any thread.
 */
WEFT_API const char *weft_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
