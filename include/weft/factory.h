/*
 * weft/factory.h - task factories: defaults for a family of tasks.
 */
#ifndef WEFT_FACTORY_H
#define WEFT_FACTORY_H

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_task_factory weft_task_factory;

/*
 * weft_task_factory_new - a factory with a default TOKEN, CREATION flags
 * (WEFT_TASK_*), CONTINUATION flags (WEFT_CONT_*, NOT_ON/ONLY_ON not
 * allowed) and SCHEDULER (NULL: the current scheduler at each call).
 * Errors: -EINVAL for invalid flags, -ENOMEM.
 */
WEFT_API int weft_task_factory_new(weft_task_factory **out,
				   weft_cancel_token token, unsigned creation,
				   unsigned continuation,
				   weft_scheduler *scheduler);
WEFT_API void weft_task_factory_free(weft_task_factory *f);

/*
 * The factory forms of start_new, continue_when_all and continue_when_any:
 * the factory's defaults apply; OPTS (may be NULL) overrides them field by
 * field when a field is non-zero.  Errors as the plain forms (-EBADF in
 * debug builds for a released element of TASKS).
 */
WEFT_API int weft_task_factory_start_new(const weft_task_factory *f,
					 weft_task **out, weft_task_fn fn,
					 void *arg,
					 const weft_task_options *opts);
WEFT_API int weft_task_factory_continue_when_all(
	const weft_task_factory *f, weft_task **out, weft_task *const *tasks,
	size_t n, weft_continuation_all_fn fn, void *arg,
	const weft_task_options *opts);
WEFT_API int weft_task_factory_continue_when_any(
	const weft_task_factory *f, weft_task **out, weft_task *const *tasks,
	size_t n, weft_continuation_fn fn, void *arg,
	const weft_task_options *opts);

#ifdef __cplusplus
}
#endif
#endif
