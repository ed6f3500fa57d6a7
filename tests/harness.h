/*
 * harness.h - the one test harness of weft.
 *
 *	#include "harness.h"
 *
 *	TEST(adds_up)
 *	{
 *		CHECK(1 + 1 == 2);           -- failure: recorded, goes on
 *		CHECK_EQ(x, 42);             -- integers, as long long
 *		CHECK_PTR_EQ(p, q);
 *		CHECK_STR_EQ(s, "abc");      -- strcmp; NULL-safe
 *		REQUIRE(p != NULL);          -- failure: returns from the test
 *		SKIP("no cgroup2: %s", why); -- the test is skipped; returns
 *	}
 *
 * There is no main() to write: harness.c provides it.  TEST() registers the
 * test before main runs (a constructor); tests run in the order of the
 * file.  Every test runs in its own forked child, in its own process group,
 * with a timeout (120 s; env WEFT_TEST_TIMEOUT, seconds, 0 = none).  A test
 * fails when a check fails, or when its child crashes, times out, exits
 * before the test function returned, or exits non-zero (LeakSanitizer).
 * When it ends, whatever it left running in its process group is killed.
 *
 * Output is TAP: "1..N", then "ok 1 - name", "not ok 2 - name",
 * "ok 3 - name # SKIP reason", failures as "# file:line: text" lines, and
 * a last line "N passed, N failed" (", N skipped" when any were).  The exit
 * status is 0 iff no test failed.
 *
 * Command line:  test_x [--list] [--no-fork] [NAME|PATTERN ...]
 *   no names      run every test
 *   NAME ...      run only these (shell patterns allowed: 'wait_*')
 *   --list        print the test names, one per line
 *   --no-fork     run in this process, no timeout (for gdb)
 * Tests whose name starts with '_' are hidden: they run only when a
 * pattern starting with '_' names them (the harness uses this to test
 * itself).
 *
 * Threads: call CHECK/REQUIRE/SKIP from the test's own thread (the main
 * thread of the child).  CHECK from another thread is counted, but REQUIRE
 * and SKIP there would return from the wrong function; let other threads
 * record what they saw in atomic variables and check those on the test's
 * thread after joining them.
 *
 * Scale: weft_test_scale() is 1.0, or env WEFT_TEST_SCALE (the sanitizer
 * builds set 0.1 or less).  Stress tests multiply iteration counts by it,
 * e.g. weft_test_scaled(1000000).  Never assert on absolute times; use
 * generous bounds only as sanity limits.
 */
#ifndef WEFT_TEST_HARNESS_H
#define WEFT_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1.0, or the positive number in env WEFT_TEST_SCALE. */
double weft_test_scale(void);
/* N * weft_test_scale(), at least 1 (for N >= 1). */
long long weft_test_scaled(long long n);
/* The per-test timeout in seconds (0: none). */
double weft_test_timeout(void);
/* The name of the test that is running, or NULL. */
const char *weft_test_name(void);

/* ---- the machinery behind the macros ---------------------------------- */

void weft_test__register(const char *name, void (*fn)(void), const char *file,
			 int line);
bool weft_test__check(bool ok, const char *file, int line, const char *text);
bool weft_test__check_eq(long long a, long long b, const char *file, int line,
			 const char *ta, const char *tb);
bool weft_test__check_ptr_eq(const void *a, const void *b, const char *file,
			     int line, const char *ta, const char *tb);
bool weft_test__check_str_eq(const char *a, const char *b, const char *file,
			     int line, const char *ta, const char *tb);
void weft_test__skip(const char *file, int line, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 3, 4)))
#endif
	;

#define TEST(name)                                                             \
	static void weft_test_fn_##name(void);                                 \
	__attribute__((constructor)) static void weft_test_reg_##name(void)    \
	{                                                                      \
		weft_test__register(#name, weft_test_fn_##name, __FILE__,      \
				    __LINE__);                                 \
	}                                                                      \
	static void weft_test_fn_##name(void)

#define CHECK(expr)                                                            \
	((void)weft_test__check((expr) ? true : false, __FILE__, __LINE__,     \
				#expr))

#define CHECK_EQ(a, b)                                                         \
	((void)weft_test__check_eq((long long)(a), (long long)(b), __FILE__,   \
				   __LINE__, #a, #b))

#define CHECK_PTR_EQ(a, b)                                                     \
	((void)weft_test__check_ptr_eq((const void *)(a), (const void *)(b),   \
				       __FILE__, __LINE__, #a, #b))

#define CHECK_STR_EQ(a, b)                                                     \
	((void)weft_test__check_str_eq((a), (b), __FILE__, __LINE__, #a, #b))

#define REQUIRE(expr)                                                          \
	do {                                                                   \
		if (!weft_test__check((expr) ? true : false, __FILE__,         \
				      __LINE__, "REQUIRE(" #expr ")"))         \
			return;                                                \
	} while (0)

#define SKIP(...)                                                              \
	do {                                                                   \
		weft_test__skip(__FILE__, __LINE__, __VA_ARGS__);              \
		return;                                                        \
	} while (0)

#ifdef __cplusplus
}
#endif
#endif
