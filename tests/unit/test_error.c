/*
 * test_error.c - error objects: construction, identity, aggregates
 * (flatten / base / handle, spec A.7), formatting and weft_strerror.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#include "harness.h"

TEST(error_new_with_message)
{
	weft_error *e = weft_error_new(-EIO, "disk %d of %s", 3, "four");
	REQUIRE(e != NULL);
	CHECK_EQ(weft_error_get_kind(e), WEFT_ERROR_PLAIN);
	CHECK_EQ(weft_error_code(e), -EIO);
	CHECK_STR_EQ(weft_error_message(e), "disk 3 of four");
	CHECK_EQ(weft_error_inner_count(e), 0);
	CHECK(weft_error_inner(e, 0) == NULL);
	CHECK(!weft_error_is_cancellation(e));
	CHECK(weft_error_task(e) == NULL);
	CHECK(weft_cancel_token_equal(weft_error_token(e), WEFT_TOKEN_NONE));
	weft_error_unref(e);
}

TEST(error_new_without_format_uses_strerror)
{
	weft_error *e = weft_error_new(-ENOENT, NULL);
	REQUIRE(e != NULL);
	CHECK_STR_EQ(weft_error_message(e), weft_strerror(-ENOENT));
	CHECK_STR_EQ(weft_error_message(e), strerror(ENOENT));
	weft_error_unref(e);

	/* Application codes are kept as given. */
	e = weft_error_new(12345, NULL);
	CHECK_EQ(weft_error_code(e), 12345);
	CHECK(weft_error_message(e) != NULL);
	weft_error_unref(e);
}

TEST(error_new_long_and_empty_messages)
{
	static char big[5000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	weft_error *e = weft_error_new(1, "%s", big);
	CHECK(strcmp(weft_error_message(e), big) == 0);
	weft_error_unref(e);

	e = weft_error_new(0, "%s", "");
	CHECK_STR_EQ(weft_error_message(e), "");
	weft_error_unref(e);
}

TEST(error_ref_unref)
{
	weft_error *e = weft_error_new(-EPERM, "x");
	CHECK_PTR_EQ(weft_error_ref(e), e);
	weft_error_unref(e);
	CHECK_STR_EQ(weft_error_message(e), "x"); /* still alive */
	weft_error_unref(e);
	CHECK(weft_error_ref(NULL) == NULL);
	weft_error_unref(NULL);
}

static void *ref_churn(void *arg)
{
	weft_error *e = arg;
	for (int i = 0; i < 100000; i++) {
		weft_error_ref(e);
		if (strcmp(weft_error_message(e), "shared") != 0)
			return (void *)1;
		weft_error_unref(e);
	}
	return NULL;
}

TEST(error_shared_between_threads)
{
	weft_error *e = weft_error_new(-EIO, "shared");
	enum {
		N = 4
	};
	pthread_t th[N];
	for (int i = 0; i < N; i++)
		REQUIRE(pthread_create(&th[i], NULL, ref_churn, e) == 0);
	for (int i = 0; i < N; i++) {
		void *r;
		pthread_join(th[i], &r);
		CHECK(r == NULL);
	}
	CHECK_EQ(weft_error_code(e), -EIO);
	weft_error_unref(e);
}

TEST(error_canceled_carries_token)
{
	weft_cancel_source *src;
	REQUIRE(weft_cancel_source_new(&src) == 0);
	weft_cancel_token tok = weft_cancel_source_token(src);
	weft_error *e = weft_error_canceled(tok);
	CHECK_EQ(weft_error_get_kind(e), WEFT_ERROR_CANCELED);
	CHECK_EQ(weft_error_code(e), -ECANCELED);
	CHECK(weft_error_is_cancellation(e));
	CHECK(weft_cancel_token_equal(weft_error_token(e), tok));
	CHECK(weft_error_task(e) == NULL);
	CHECK(weft_error_message(e)[0] != '\0');

	/* The error holds its own reference on the source. */
	weft_cancel_source_unref(src);
	CHECK(!weft_cancel_requested(weft_error_token(e)));
	CHECK(weft_cancel_can_be_canceled(weft_error_token(e)));
	weft_error_unref(e);

	e = weft_error_canceled(WEFT_TOKEN_NONE);
	CHECK(weft_cancel_token_equal(weft_error_token(e), WEFT_TOKEN_NONE));
	CHECK(weft_error_is_cancellation(e));
	weft_error_unref(e);

	e = weft_error_canceled(weft_cancel_token_canceled());
	CHECK(weft_cancel_requested(weft_error_token(e)));
	weft_error_unref(e);
}

TEST(error_aggregate_bad_arguments)
{
	weft_error *a = weft_error_new(1, "a");
	weft_error *list[2] = {a, NULL};
	weft_error *out = (weft_error *)&out; /* must be overwritten */
	CHECK_EQ(weft_error_aggregate(NULL, NULL, list, 1), -EINVAL);
	CHECK_EQ(weft_error_aggregate(&out, NULL, NULL, 1), -EINVAL);
	CHECK(out == NULL);
	out = (weft_error *)&out;
	CHECK_EQ(weft_error_aggregate(&out, NULL, list, 2), -EINVAL);
	CHECK(out == NULL);
	weft_error_unref(a);
}

TEST(error_aggregate_identity_and_order)
{
	weft_error *a = weft_error_new(1, "A");
	weft_error *b = weft_error_new(2, "B");
	weft_error *list[3] = {a, b, a};
	weft_error *agg;
	REQUIRE(weft_error_aggregate(&agg, NULL, list, 3) == 0);
	CHECK_EQ(weft_error_get_kind(agg), WEFT_ERROR_AGGREGATE);
	CHECK_EQ(weft_error_inner_count(agg), 3);
	CHECK_PTR_EQ(weft_error_inner(agg, 0), a);
	CHECK_PTR_EQ(weft_error_inner(agg, 1), b);
	CHECK_PTR_EQ(weft_error_inner(agg, 2), a);
	CHECK(weft_error_inner(agg, 3) == NULL);
	CHECK(weft_error_inner(agg, (size_t)-1) == NULL);
	CHECK_STR_EQ(weft_error_message(agg), "One or more errors occurred.");
	CHECK(!weft_error_is_cancellation(agg));

	/* The aggregate holds its own references. */
	weft_error_unref(a);
	weft_error_unref(b);
	CHECK_STR_EQ(weft_error_message(weft_error_inner(agg, 0)), "A");
	CHECK_STR_EQ(weft_error_message(weft_error_inner(agg, 1)), "B");
	weft_error_unref(agg);
}

TEST(error_aggregate_empty_and_custom_message)
{
	weft_error *agg;
	REQUIRE(weft_error_aggregate(&agg, NULL, NULL, 0) == 0);
	CHECK_EQ(weft_error_inner_count(agg), 0);
	weft_error_unref(agg);

	char msg[] = "custom";
	REQUIRE(weft_error_aggregate(&agg, msg, NULL, 0) == 0);
	msg[0] = 'X'; /* the message was copied */
	CHECK_STR_EQ(weft_error_message(agg), "custom");
	weft_error_unref(agg);
}

static weft_error *agg_of(weft_error *const *list, size_t n)
{
	weft_error *agg = NULL;
	weft_error_aggregate(&agg, NULL, list, n);
	return agg;
}

TEST(error_flatten_spec_example)
{
	/* AE(AE(A,B,C), AE(A,B,C)) -> [A,B,C,A,B,C] */
	weft_error *a = weft_error_new(1, "A"), *b = weft_error_new(2, "B"),
		   *c = weft_error_new(3, "C");
	weft_error *abc[3] = {a, b, c};
	weft_error *x = agg_of(abc, 3), *y = agg_of(abc, 3);
	weft_error *xy[2] = {x, y};
	weft_error *top = agg_of(xy, 2);
	REQUIRE(top != NULL);

	weft_error *flat = weft_error_flatten(top);
	REQUIRE(flat != NULL);
	CHECK_EQ(weft_error_get_kind(flat), WEFT_ERROR_AGGREGATE);
	REQUIRE(weft_error_inner_count(flat) == 6);
	weft_error *want[6] = {a, b, c, a, b, c};
	for (size_t i = 0; i < 6; i++)
		CHECK_PTR_EQ(weft_error_inner(flat, i), want[i]);
	CHECK(flat != top);

	weft_error_unref(top);
	weft_error_unref(x);
	weft_error_unref(y);
	weft_error_unref(a);
	weft_error_unref(b);
	weft_error_unref(c);
	/* The flattened aggregate keeps the leaves alive on its own. */
	CHECK_STR_EQ(weft_error_message(weft_error_inner(flat, 5)), "C");
	weft_error_unref(flat);
}

TEST(error_flatten_mixed_and_non_aggregate)
{
	weft_error *a = weft_error_new(1, "A"), *b = weft_error_new(2, "B");
	weft_error *inner_list[1] = {b};
	weft_error *inner = agg_of(inner_list, 1);
	weft_error *empty = agg_of(NULL, 0);
	weft_error *top_list[3] = {a, inner, empty};
	weft_error *top;
	REQUIRE(weft_error_aggregate(&top, "top msg", top_list, 3) == 0);

	weft_error *flat = weft_error_flatten(top);
	REQUIRE(weft_error_inner_count(flat) == 2);
	CHECK_PTR_EQ(weft_error_inner(flat, 0), a);
	CHECK_PTR_EQ(weft_error_inner(flat, 1), b);
	CHECK_STR_EQ(weft_error_message(flat), "top msg");
	weft_error_unref(flat);

	/* A plain error flattens to [E]. */
	flat = weft_error_flatten(a);
	CHECK_EQ(weft_error_get_kind(flat), WEFT_ERROR_AGGREGATE);
	REQUIRE(weft_error_inner_count(flat) == 1);
	CHECK_PTR_EQ(weft_error_inner(flat, 0), a);
	weft_error_unref(flat);

	weft_error_unref(top);
	weft_error_unref(inner);
	weft_error_unref(empty);
	weft_error_unref(a);
	weft_error_unref(b);
}

TEST(error_deep_nesting_does_not_recurse)
{
	/* 100000 nested aggregates: flatten, format and the final unref must
	 * all work without blowing the stack. */
	weft_error *leaf = weft_error_new(7, "leaf");
	weft_error *cur = weft_error_ref(leaf);
	for (int i = 0; i < 100000; i++) {
		weft_error *next = agg_of(&cur, 1);
		REQUIRE(next != NULL);
		weft_error_unref(cur);
		cur = next;
	}
	weft_error *flat = weft_error_flatten(cur);
	REQUIRE(weft_error_inner_count(flat) == 1);
	CHECK_PTR_EQ(weft_error_inner(flat, 0), leaf);
	weft_error_unref(flat);

	char buf[64];
	size_t need = weft_error_format(cur, buf, sizeof buf);
	CHECK(need > sizeof buf);
	CHECK_EQ(strlen(buf), sizeof buf - 1);

	CHECK(weft_error_base(cur) != cur);
	CHECK_EQ(weft_error_inner_count(weft_error_base(cur)), 1);
	CHECK_PTR_EQ(weft_error_inner(weft_error_base(cur), 0), leaf);

	weft_error_unref(cur);
	weft_error_unref(leaf);
}

TEST(error_base)
{
	weft_error *a = weft_error_new(1, "A"), *b = weft_error_new(2, "B");
	/* A plain error is its own base. */
	CHECK_PTR_EQ(weft_error_base(a), a);

	weft_error *ae1 = agg_of(&a, 1);   /* AE[A] */
	weft_error *ae2 = agg_of(&ae1, 1); /* AE[AE[A]] */
	weft_error *ae3 = agg_of(&ae2, 1); /* AE[AE[AE[A]]] */
	CHECK_PTR_EQ(weft_error_base(ae3), ae1);
	CHECK_PTR_EQ(weft_error_base(ae1), ae1);

	weft_error *two_list[2] = {ae1, b};
	weft_error *two = agg_of(two_list, 2); /* two inners: stops */
	CHECK_PTR_EQ(weft_error_base(two), two);
	weft_error *wrap = agg_of(&two, 1);
	CHECK_PTR_EQ(weft_error_base(wrap), two);

	weft_error_unref(wrap);
	weft_error_unref(two);
	weft_error_unref(ae3);
	weft_error_unref(ae2);
	weft_error_unref(ae1);
	weft_error_unref(a);
	weft_error_unref(b);
}

struct pred_state {
	int calls;
	weft_error *reject[4];
};

static bool pred(weft_error *inner, void *arg)
{
	struct pred_state *st = arg;
	st->calls++;
	for (int i = 0; i < 4; i++)
		if (st->reject[i] == inner)
			return false;
	return true;
}

TEST(error_handle)
{
	weft_error *a = weft_error_new(1, "A"), *b = weft_error_new(2, "B"),
		   *c = weft_error_new(3, "C");
	weft_error *list[4] = {a, b, c, b};
	weft_error *agg;
	REQUIRE(weft_error_aggregate(&agg, "handled?", list, 4) == 0);

	struct pred_state st = {0};
	weft_error *left = (weft_error *)&left;
	CHECK_EQ(weft_error_handle(agg, pred, &st, &left), 0);
	CHECK_EQ(st.calls, 4);
	CHECK(left == NULL);

	/* B rejected (twice): the unhandled aggregate has [B, B]. */
	st = (struct pred_state){.reject = {b}};
	CHECK_EQ(weft_error_handle(agg, pred, &st, &left), WEFT_EFAULTED);
	CHECK_EQ(st.calls, 4); /* every inner is offered */
	REQUIRE(left != NULL);
	CHECK_EQ(weft_error_get_kind(left), WEFT_ERROR_AGGREGATE);
	REQUIRE(weft_error_inner_count(left) == 2);
	CHECK_PTR_EQ(weft_error_inner(left, 0), b);
	CHECK_PTR_EQ(weft_error_inner(left, 1), b);
	CHECK(left != agg);
	weft_error_unref(left);

	/* Without an out-parameter. */
	st = (struct pred_state){.reject = {a, c}};
	CHECK_EQ(weft_error_handle(agg, pred, &st, NULL), WEFT_EFAULTED);
	CHECK_EQ(st.calls, 4);

	/* Bad arguments. */
	CHECK_EQ(weft_error_handle(NULL, pred, &st, &left), -EINVAL);
	CHECK_EQ(weft_error_handle(agg, NULL, &st, &left), -EINVAL);
	CHECK_EQ(weft_error_handle(a, pred, &st, &left), -EINVAL);
	CHECK(left == NULL);

	weft_error_unref(agg);
	weft_error_unref(a);
	weft_error_unref(b);
	weft_error_unref(c);
}

TEST(error_handle_empty_aggregate)
{
	weft_error *agg = agg_of(NULL, 0);
	struct pred_state st = {0};
	weft_error *left = NULL;
	CHECK_EQ(weft_error_handle(agg, pred, &st, &left), 0);
	CHECK_EQ(st.calls, 0);
	CHECK(left == NULL);
	weft_error_unref(agg);
}

TEST(error_format)
{
	weft_error *a = weft_error_new(1, "A"), *b = weft_error_new(2, "B");
	weft_error *ab[2] = {a, b};
	weft_error *agg;
	REQUIRE(weft_error_aggregate(&agg, "msg", ab, 2) == 0);
	char buf[128];
	size_t n = weft_error_format(agg, buf, sizeof buf);
	CHECK_STR_EQ(buf, "msg (A) (B)");
	CHECK_EQ(n, strlen("msg (A) (B)"));

	/* Nested: each inner is formatted the same way. */
	weft_error *outer_list[2] = {agg, a};
	weft_error *outer;
	REQUIRE(weft_error_aggregate(&outer, "top", outer_list, 2) == 0);
	weft_error_format(outer, buf, sizeof buf);
	CHECK_STR_EQ(buf, "top (msg (A) (B)) (A)");

	/* Truncation: always terminated, returns the full length. */
	char small[5];
	n = weft_error_format(agg, small, sizeof small);
	CHECK_EQ(n, strlen("msg (A) (B)"));
	CHECK_STR_EQ(small, "msg ");
	char one[1] = {'z'};
	CHECK_EQ(weft_error_format(agg, one, 1), n);
	CHECK_EQ(one[0], '\0');
	CHECK_EQ(weft_error_format(agg, NULL, 0), n);

	/* A plain error is just its message. */
	weft_error_format(a, buf, sizeof buf);
	CHECK_STR_EQ(buf, "A");

	weft_error_unref(outer);
	weft_error_unref(agg);
	weft_error_unref(a);
	weft_error_unref(b);
}

TEST(strerror_values)
{
	CHECK(weft_strerror(0) != NULL);
	CHECK_STR_EQ(weft_strerror(-EINVAL), strerror(EINVAL));
	CHECK_STR_EQ(weft_strerror(-ETIMEDOUT), strerror(ETIMEDOUT));
	CHECK_STR_EQ(weft_strerror(-ECANCELED), strerror(ECANCELED));
	CHECK_STR_EQ(weft_strerror(WEFT_EFAULTED), "task faulted");
	/* The same pointer every time (static storage). */
	CHECK_PTR_EQ(weft_strerror(-ENOMEM), weft_strerror(-ENOMEM));
	/* Anything at all gives a string. */
	int odd[] = {1, 4096, INT_MAX, INT_MIN, -4094, -4096, -1000};
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		const char *s = weft_strerror(odd[i]);
		CHECK(s != NULL && s[0] != '\0');
	}
}

static char *expected_text[200];

static void *strerror_worker(void *arg)
{
	(void)arg;
	for (int round = 0; round < 20; round++)
		for (int e = 1; e < 200; e++)
			if (strcmp(weft_strerror(-e), expected_text[e]) != 0)
				return (void *)1;
	return NULL;
}

TEST(strerror_thread_safe)
{
	for (int e = 1; e < 200; e++)
		expected_text[e] = strdup(strerror(e));
	enum {
		N = 8
	};
	pthread_t th[N];
	for (int i = 0; i < N; i++)
		REQUIRE(pthread_create(&th[i], NULL, strerror_worker, NULL) ==
			0);
	for (int i = 0; i < N; i++) {
		void *r;
		pthread_join(th[i], &r);
		CHECK(r == NULL);
	}
	for (int e = 1; e < 200; e++)
		free(expected_text[e]);
}

/* ---- with the task core: TASK_CANCELED errors --------------------------- */

TEST(error_task_canceled_from_promise)
{
	weft_cancel_source *src;
	REQUIRE(weft_cancel_source_new(&src) == 0);
	weft_cancel_token tok = weft_cancel_source_token(src);
	weft_cancel_source_cancel(src);

	weft_promise *p;
	REQUIRE(weft_promise_new(&p, NULL, 0) == 0);
	weft_task *t = weft_task_ref(weft_promise_task(p));
	CHECK_EQ(weft_promise_try_set_canceled(p, tok), 1);
	weft_promise_unref(p);

	weft_error *err = NULL;
	CHECK_EQ(weft_task_wait(t, WEFT_INFINITE, WEFT_TOKEN_NONE, &err),
		 -ECANCELED);
	REQUIRE(err != NULL);
	CHECK_EQ(weft_error_get_kind(err), WEFT_ERROR_AGGREGATE);
	REQUIRE(weft_error_inner_count(err) == 1);
	weft_error *tc = weft_error_inner(err, 0);
	CHECK_EQ(weft_error_get_kind(tc), WEFT_ERROR_TASK_CANCELED);
	CHECK_EQ(weft_error_code(tc), -ECANCELED);
	CHECK(weft_error_is_cancellation(tc));
	CHECK_PTR_EQ(weft_error_task(tc), t);
	CHECK(weft_cancel_token_equal(weft_error_token(tc), tok));

	weft_error_unref(err);
	weft_task_unref(t);
	weft_cancel_source_unref(src);
}
