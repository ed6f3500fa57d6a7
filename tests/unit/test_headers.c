/*
 * test_headers.c - the public headers as a C99 user sees them.
 *
 * Built with -std=c99 -pedantic-errors against the shared library: it
 * compiles only if the headers are plain C99, and links only if every
 * public function exists and is exported.  The runtime checks are about
 * what the headers themselves define (macros, enum values) and the few
 * calls whose result the headers promise outright.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <weft.h>

#include "harness.h"

/* External and read at run time, so it is emitted and every address in it
 * must be resolved by the linker. */
extern void (*weft_test_public_functions[])(void);
#define WEFT_API_FN(f) (void (*)(void)) f,
void (*weft_test_public_functions[])(void) = {
#include "public_api.inc"
};
#undef WEFT_API_FN

TEST(every_public_function_is_listed_and_links)
{
	size_t i, linked = 0;

	for (i = 0; i < sizeof(weft_test_public_functions) /
				sizeof(weft_test_public_functions[0]);
	     i++)
		linked += weft_test_public_functions[i] != NULL;
	/* WEFT_API_COUNT is what CMake counted in the headers; a mismatch
	 * means tests/public_api.inc misses (or keeps) a function. */
	CHECK_EQ(linked, WEFT_API_COUNT);
}

TEST(task_options_init)
{
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	CHECK_EQ(o.size, sizeof(weft_task_options));
	CHECK_EQ(o.flags, 0);
	CHECK_PTR_EQ(o.token.source, NULL);
	CHECK_PTR_EQ(o.scheduler, NULL);
	CHECK(o.arg_free == NULL);
	/* The macro is an expression too, not only an initializer. */
	CHECK_EQ(WEFT_TASK_OPTIONS_INIT.size, sizeof(weft_task_options));
}

TEST(parallel_options_init)
{
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;

	CHECK_EQ(o.size, sizeof(weft_parallel_options));
	CHECK_EQ(o.max_degree, -1);
	CHECK_PTR_EQ(o.token.source, NULL);
	CHECK_PTR_EQ(o.scheduler, NULL);
}

TEST(token_none_is_the_zero_token)
{
	weft_cancel_token zero;

	memset(&zero, 0, sizeof(zero));
	CHECK_PTR_EQ(WEFT_TOKEN_NONE.source, NULL);
	CHECK(!weft_cancel_can_be_canceled(WEFT_TOKEN_NONE));
	CHECK(!weft_cancel_requested(WEFT_TOKEN_NONE));
	CHECK(weft_cancel_token_equal(WEFT_TOKEN_NONE, zero));
}

TEST(status_values_are_dotnets)
{
	CHECK_EQ(WEFT_STATUS_CREATED, 0);
	CHECK_EQ(WEFT_STATUS_WAITING_FOR_ACTIVATION, 1);
	CHECK_EQ(WEFT_STATUS_WAITING_TO_RUN, 2);
	CHECK_EQ(WEFT_STATUS_RUNNING, 3);
	CHECK_EQ(WEFT_STATUS_WAITING_FOR_CHILDREN, 4);
	CHECK_EQ(WEFT_STATUS_RAN_TO_COMPLETION, 5);
	CHECK_EQ(WEFT_STATUS_CANCELED, 6);
	CHECK_EQ(WEFT_STATUS_FAULTED, 7);
}

TEST(option_bits_are_dotnets)
{
	CHECK_EQ(WEFT_TASK_PREFER_FAIRNESS, 0x01);
	CHECK_EQ(WEFT_TASK_LONG_RUNNING, 0x02);
	CHECK_EQ(WEFT_TASK_ATTACHED_TO_PARENT, 0x04);
	CHECK_EQ(WEFT_TASK_DENY_CHILD_ATTACH, 0x08);
	CHECK_EQ(WEFT_TASK_HIDE_SCHEDULER, 0x10);
	CHECK_EQ(WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY, 0x40);
	/* The shared low bits mean the same for tasks and continuations. */
	CHECK_EQ(WEFT_CONT_PREFER_FAIRNESS, WEFT_TASK_PREFER_FAIRNESS);
	CHECK_EQ(WEFT_CONT_LONG_RUNNING, WEFT_TASK_LONG_RUNNING);
	CHECK_EQ(WEFT_CONT_ATTACHED_TO_PARENT, WEFT_TASK_ATTACHED_TO_PARENT);
	CHECK_EQ(WEFT_CONT_DENY_CHILD_ATTACH, WEFT_TASK_DENY_CHILD_ATTACH);
	CHECK_EQ(WEFT_CONT_HIDE_SCHEDULER, WEFT_TASK_HIDE_SCHEDULER);
	CHECK_EQ(WEFT_CONT_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
		 WEFT_TASK_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
	CHECK_EQ(WEFT_CONT_LAZY_CANCELLATION, 0x20);
	CHECK_EQ(WEFT_CONT_EXECUTE_SYNCHRONOUSLY, 0x80000);
	/* ONLY_ON_X is "not on the two others". */
	CHECK_EQ(WEFT_CONT_ONLY_ON_RAN_TO_COMPLETION,
		 WEFT_CONT_NOT_ON_FAULTED | WEFT_CONT_NOT_ON_CANCELED);
	CHECK_EQ(WEFT_CONT_ONLY_ON_FAULTED, WEFT_CONT_NOT_ON_RAN_TO_COMPLETION |
						    WEFT_CONT_NOT_ON_CANCELED);
	CHECK_EQ(WEFT_CONT_ONLY_ON_CANCELED,
		 WEFT_CONT_NOT_ON_RAN_TO_COMPLETION | WEFT_CONT_NOT_ON_FAULTED);
}

TEST(result_codes)
{
	/* weft's own codes lie outside the errno range, as libuv's do. */
	CHECK(WEFT_EFAULTED < -4000);
	CHECK(WEFT_INFINITE == -1);
	CHECK(weft_strerror(0) != NULL);
	CHECK(weft_strerror(-EINVAL) != NULL);
	CHECK(weft_strerror(-123456) != NULL);
	REQUIRE(weft_strerror(WEFT_EFAULTED) != NULL);
	CHECK(strcmp(weft_strerror(WEFT_EFAULTED), weft_strerror(-EINVAL)) !=
	      0);
}
