/*
 * test_deque.c - the Chase-Lev work-stealing deque, single-threaded:
 * LIFO pops, FIFO steals, growth past the initial capacity (also with the
 * live items wrapped around the ring), pop_if and the size estimate.
 */
#include <stdint.h>
#include <stdlib.h>

#include "../../src/runtime/deque.h"
#include "harness.h"

/* Items are small integers made into non-NULL pointers. */
static void *item(int64_t i)
{
	return (void *)(uintptr_t)(i + 1);
}

static int64_t index_of(void *p)
{
	return (int64_t)(uintptr_t)p - 1;
}

TEST(deque_empty)
{
	struct weft__deque dq;
	bool lost = true;

	REQUIRE(weft__deque_init(&dq, 0) == 0);
	CHECK_PTR_EQ(weft__deque_pop(&dq), NULL);
	CHECK_PTR_EQ(weft__deque_steal(&dq, &lost), NULL);
	CHECK(!lost);
	CHECK(!weft__deque_pop_if(&dq, item(0)));
	CHECK_EQ(weft__deque_size(&dq), 0);
	/* popping an empty deque must leave it usable */
	CHECK_PTR_EQ(weft__deque_pop(&dq), NULL);
	REQUIRE(weft__deque_push(&dq, item(7)) == 0);
	CHECK_EQ(weft__deque_size(&dq), 1);
	CHECK_PTR_EQ(weft__deque_pop(&dq), item(7));
	CHECK_PTR_EQ(weft__deque_pop(&dq), NULL);
	CHECK_EQ(weft__deque_size(&dq), 0);
	weft__deque_destroy(&dq);
}

TEST(deque_push_pop_is_lifo)
{
	struct weft__deque dq;

	REQUIRE(weft__deque_init(&dq, 16) == 0);
	for (int64_t i = 0; i < 10; i++)
		REQUIRE(weft__deque_push(&dq, item(i)) == 0);
	CHECK_EQ(weft__deque_size(&dq), 10);
	for (int64_t i = 9; i >= 0; i--)
		CHECK_EQ(index_of(weft__deque_pop(&dq)), i);
	CHECK_PTR_EQ(weft__deque_pop(&dq), NULL);
	weft__deque_destroy(&dq);
}

TEST(deque_steal_is_fifo)
{
	struct weft__deque dq;
	bool lost;

	REQUIRE(weft__deque_init(&dq, 16) == 0);
	for (int64_t i = 0; i < 10; i++)
		REQUIRE(weft__deque_push(&dq, item(i)) == 0);
	for (int64_t i = 0; i < 10; i++) {
		lost = true;
		CHECK_EQ(index_of(weft__deque_steal(&dq, &lost)), i);
		CHECK(!lost);
	}
	CHECK_PTR_EQ(weft__deque_steal(&dq, &lost), NULL);
	CHECK(!lost);
	CHECK_PTR_EQ(weft__deque_pop(&dq), NULL);
	weft__deque_destroy(&dq);
}

TEST(deque_pop_and_steal_meet_in_the_middle)
{
	struct weft__deque dq;
	bool lost;

	REQUIRE(weft__deque_init(&dq, 16) == 0);
	for (int64_t i = 0; i < 8; i++)
		REQUIRE(weft__deque_push(&dq, item(i)) == 0);
	/* thieves take the oldest, the owner the newest, alternating */
	for (int64_t k = 0; k < 4; k++) {
		CHECK_EQ(index_of(weft__deque_steal(&dq, &lost)), k);
		CHECK_EQ(index_of(weft__deque_pop(&dq)), 7 - k);
	}
	CHECK_PTR_EQ(weft__deque_pop(&dq), NULL);
	CHECK_PTR_EQ(weft__deque_steal(&dq, &lost), NULL);
	/* the last item, taken by the owner through the top CAS */
	REQUIRE(weft__deque_push(&dq, item(42)) == 0);
	CHECK_PTR_EQ(weft__deque_pop(&dq), item(42));
	CHECK_PTR_EQ(weft__deque_steal(&dq, &lost), NULL);
	/* the last item, taken by a thief */
	REQUIRE(weft__deque_push(&dq, item(43)) == 0);
	CHECK_PTR_EQ(weft__deque_steal(&dq, &lost), item(43));
	CHECK_PTR_EQ(weft__deque_pop(&dq), NULL);
	weft__deque_destroy(&dq);
}

TEST(deque_grows_past_initial_capacity)
{
	struct weft__deque dq;
	const int64_t n = 100000;
	bool lost;

	REQUIRE(weft__deque_init(&dq, 1) == 0);
	for (int64_t i = 0; i < n; i++)
		REQUIRE(weft__deque_push(&dq, item(i)) == 0);
	CHECK_EQ(weft__deque_size(&dq), n);
	/* the oldest half through steal (FIFO), the rest through pop */
	for (int64_t i = 0; i < n / 2; i++) {
		void *p = weft__deque_steal(&dq, &lost);
		if (index_of(p) != i) {
			CHECK_EQ(index_of(p), i);
			break;
		}
	}
	for (int64_t i = n - 1; i >= n / 2; i--) {
		void *p = weft__deque_pop(&dq);
		if (index_of(p) != i) {
			CHECK_EQ(index_of(p), i);
			break;
		}
	}
	CHECK_PTR_EQ(weft__deque_pop(&dq), NULL);
	CHECK_PTR_EQ(weft__deque_steal(&dq, &lost), NULL);
	weft__deque_destroy(&dq);
}

/*
 * Growth while the live items straddle the end of the ring: top has moved
 * (steals), so the copy must move items by their logical index, not by
 * their slot.
 */
TEST(deque_grows_with_wrapped_items)
{
	struct weft__deque dq;
	bool lost;
	int64_t next = 0, expect_steal = 0;

	REQUIRE(weft__deque_init(&dq, 16) == 0);
	for (int round = 0; round < 12; round++) {
		/* push more than we steal: the ring fills and wraps */
		for (int k = 0; k < 23; k++)
			REQUIRE(weft__deque_push(&dq, item(next++)) == 0);
		for (int k = 0; k < 11; k++) {
			void *p = weft__deque_steal(&dq, &lost);
			CHECK_EQ(index_of(p), expect_steal);
			expect_steal++;
		}
	}
	CHECK_EQ(weft__deque_size(&dq), next - expect_steal);
	/* what is left comes out newest first */
	for (int64_t i = next - 1; i >= expect_steal; i--)
		CHECK_EQ(index_of(weft__deque_pop(&dq)), i);
	CHECK_PTR_EQ(weft__deque_pop(&dq), NULL);
	weft__deque_destroy(&dq);
}

TEST(deque_pop_if_takes_only_the_bottom_item)
{
	struct weft__deque dq;
	bool lost;

	REQUIRE(weft__deque_init(&dq, 16) == 0);
	CHECK(!weft__deque_pop_if(&dq, item(1)));
	REQUIRE(weft__deque_push(&dq, item(1)) == 0);
	REQUIRE(weft__deque_push(&dq, item(2)) == 0);
	REQUIRE(weft__deque_push(&dq, item(3)) == 0);
	/* not at the bottom: untouched */
	CHECK(!weft__deque_pop_if(&dq, item(1)));
	CHECK(!weft__deque_pop_if(&dq, item(2)));
	CHECK(!weft__deque_pop_if(&dq, item(99)));
	CHECK_EQ(weft__deque_size(&dq), 3);
	/* at the bottom: taken */
	CHECK(weft__deque_pop_if(&dq, item(3)));
	CHECK(!weft__deque_pop_if(&dq, item(3)));
	CHECK(weft__deque_pop_if(&dq, item(2)));
	CHECK_EQ(weft__deque_size(&dq), 1);
	/* the last item */
	CHECK(weft__deque_pop_if(&dq, item(1)));
	CHECK_EQ(weft__deque_size(&dq), 0);
	CHECK_PTR_EQ(weft__deque_pop(&dq), NULL);
	/* an item a thief already took is not there any more */
	REQUIRE(weft__deque_push(&dq, item(4)) == 0);
	CHECK_PTR_EQ(weft__deque_steal(&dq, &lost), item(4));
	CHECK(!weft__deque_pop_if(&dq, item(4)));
	/* the deque still works after all that */
	REQUIRE(weft__deque_push(&dq, item(5)) == 0);
	REQUIRE(weft__deque_push(&dq, item(6)) == 0);
	CHECK_PTR_EQ(weft__deque_steal(&dq, &lost), item(5));
	CHECK_PTR_EQ(weft__deque_pop(&dq), item(6));
	weft__deque_destroy(&dq);
}

TEST(deque_many_cycles_reuse_slots)
{
	struct weft__deque dq;
	bool lost;
	long bad = 0;

	REQUIRE(weft__deque_init(&dq, 16) == 0);
	/* top and bottom run far past the capacity: indices are masked */
	for (int64_t i = 0; i < 100000; i++) {
		REQUIRE(weft__deque_push(&dq, item(i)) == 0);
		REQUIRE(weft__deque_push(&dq, item(i + 1000000)) == 0);
		if (weft__deque_steal(&dq, &lost) != item(i))
			bad++;
		if (weft__deque_pop(&dq) != item(i + 1000000))
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(weft__deque_size(&dq), 0);
	weft__deque_destroy(&dq);
}
