/*
 * test_headers_cxx.cpp - the public headers as a C++ user sees them.
 *
 * Built as C++11 with -pedantic-errors against the static library: the
 * headers must compile as C++, give every function C linkage (or the link
 * fails on mangled names), and their C++ forms of the initializer macros
 * must fill the same fields as the C forms.
 */
#include <cstddef>
#include <cstring>

#include <weft.h>

#include "harness.h"

/* External and read at run time, so it is emitted and every address in it
 * must be resolved by the linker. */
extern void (*weft_test_public_functions_cxx[])();
#define WEFT_API_FN(f) reinterpret_cast<void (*)()>(&f),
void (*weft_test_public_functions_cxx[])() = {
#include "public_api.inc"
};
#undef WEFT_API_FN

TEST(every_public_function_links_with_c_linkage)
{
	std::size_t linked = 0;

	for (auto fn : weft_test_public_functions_cxx)
		linked += fn != nullptr;
	CHECK_EQ(linked, WEFT_API_COUNT);
}

TEST(task_options_init_cxx)
{
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;

	CHECK_EQ(o.size, sizeof(weft_task_options));
	CHECK_EQ(o.flags, 0);
	CHECK_PTR_EQ(o.token.source, nullptr);
	CHECK_PTR_EQ(o.scheduler, nullptr);
	CHECK(o.arg_free == nullptr);
	CHECK_EQ(WEFT_TASK_OPTIONS_INIT.size, sizeof(weft_task_options));
}

TEST(parallel_options_init_cxx)
{
	weft_parallel_options o = WEFT_PARALLEL_OPTIONS_INIT;

	CHECK_EQ(o.size, sizeof(weft_parallel_options));
	CHECK_EQ(o.max_degree, -1);
	CHECK_PTR_EQ(o.token.source, nullptr);
	CHECK_PTR_EQ(o.scheduler, nullptr);
}

TEST(token_none_cxx)
{
	weft_cancel_token zero;

	std::memset(&zero, 0, sizeof(zero));
	CHECK_PTR_EQ(WEFT_TOKEN_NONE.source, nullptr);
	CHECK(!weft_cancel_can_be_canceled(WEFT_TOKEN_NONE));
	CHECK(weft_cancel_token_equal(WEFT_TOKEN_NONE, zero));
}

TEST(enums_usable_as_flags_cxx)
{
	unsigned flags = WEFT_TASK_LONG_RUNNING | WEFT_TASK_DENY_CHILD_ATTACH;
	weft_task_status s = WEFT_STATUS_FAULTED;

	CHECK_EQ(flags, 0x0a);
	CHECK_EQ(s, 7);
	CHECK_EQ(WEFT_CONT_ONLY_ON_FAULTED, WEFT_CONT_NOT_ON_RAN_TO_COMPLETION |
						    WEFT_CONT_NOT_ON_CANCELED);
}
