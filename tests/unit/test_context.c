/*
 * test_context.c - the ambient context (weft/context.h): per-thread
 * key/value snapshots that tasks capture at creation and install while
 * their body runs (the seed's "Tasks, threads, and culture").
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#include "harness.h"
#include "task_util.h"

/* What a task body saw. */
struct seen {
	char culture[32]; /* "" when the key was absent */
	pthread_t thread;
	atomic_int ran;
};

static void record(struct seen *s)
{
	const char *c = weft_context_get("culture");

	snprintf(s->culture, sizeof(s->culture), "%s", c ? c : "");
	s->thread = pthread_self();
	atomic_fetch_add(&s->ran, 1);
}

static weft_error *record_body(weft_task *self, void *arg)
{
	(void)self;
	record(arg);
	return NULL;
}

static weft_error *record_cont(weft_task *self, weft_task *ante, void *arg)
{
	(void)self;
	(void)ante;
	record(arg);
	return NULL;
}

TEST(set_get_remove)
{
	CHECK(weft_context_get("culture") == NULL);
	CHECK_EQ(weft_context_set("culture", "fr-FR"), 0);
	CHECK_STR_EQ(weft_context_get("culture"), "fr-FR");
	CHECK_EQ(weft_context_set("ui", "de-DE"), 0);
	CHECK_EQ(weft_context_set("culture", "en-US"), 0);
	CHECK_STR_EQ(weft_context_get("culture"), "en-US");
	CHECK_STR_EQ(weft_context_get("ui"), "de-DE");
	/* setting the same value again changes nothing */
	CHECK_EQ(weft_context_set("ui", "de-DE"), 0);
	CHECK_STR_EQ(weft_context_get("ui"), "de-DE");
	/* empty strings are values like any other */
	CHECK_EQ(weft_context_set("empty", ""), 0);
	CHECK_STR_EQ(weft_context_get("empty"), "");
	CHECK_EQ(weft_context_set("culture", NULL), 0);
	CHECK(weft_context_get("culture") == NULL);
	CHECK_STR_EQ(weft_context_get("ui"), "de-DE");
	/* removing a key that is not there is not an error */
	CHECK_EQ(weft_context_set("culture", NULL), 0);
	CHECK_EQ(weft_context_set("ui", NULL), 0);
	CHECK_EQ(weft_context_set("empty", NULL), 0);
	CHECK(weft_context_get("ui") == NULL);
	CHECK_EQ(weft_context_set("a", "1"), 0);
	weft_context_clear();
	CHECK(weft_context_get("a") == NULL);
	weft_context_clear(); /* clearing an empty context is fine */
}

TEST(many_keys_any_order)
{
	enum {
		N = 200
	};
	char key[16], val[16];
	int order[N];

	for (int i = 0; i < N; i++)
		order[i] = i;
	srand(7);
	for (int i = N - 1; i > 0; i--) {
		int j = rand() % (i + 1), tmp = order[i];

		order[i] = order[j];
		order[j] = tmp;
	}
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%d", order[i]);
		snprintf(val, sizeof(val), "v%d", order[i]);
		REQUIRE(weft_context_set(key, val) == 0);
	}
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		CHECK_STR_EQ(weft_context_get(key), val);
	}
	/* remove the even keys; the odd ones stay */
	for (int i = 0; i < N; i += 2) {
		snprintf(key, sizeof(key), "k%d", i);
		CHECK_EQ(weft_context_set(key, NULL), 0);
	}
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		if (i % 2)
			CHECK_STR_EQ(weft_context_get(key), val);
		else
			CHECK(weft_context_get(key) == NULL);
	}
	CHECK(weft_context_get("k") == NULL);
	CHECK(weft_context_get("k1000") == NULL);
	weft_context_clear();
}

TEST(bad_input)
{
	CHECK_EQ(weft_context_set(NULL, "x"), -EINVAL);
	CHECK_EQ(weft_context_set("", "x"), -EINVAL);
	CHECK_EQ(weft_context_set(NULL, NULL), -EINVAL);
	CHECK(weft_context_get(NULL) == NULL);
	CHECK(weft_context_get("") == NULL);
	CHECK_EQ(weft_context_set("k", "v"), 0);
	CHECK(weft_context_get(NULL) == NULL);
	CHECK(weft_context_get("") == NULL);
	/* a failed set leaves the context alone */
	CHECK_EQ(weft_context_set("", "x"), -EINVAL);
	CHECK_STR_EQ(weft_context_get("k"), "v");
	weft_context_clear();
}

/* The value is copied: changing the caller's buffer changes nothing. */
TEST(values_are_copied)
{
	char key[8] = "culture", val[8] = "fr-FR";

	REQUIRE(weft_context_set(key, val) == 0);
	strcpy(val, "xx-XX");
	strcpy(key, "zzzzzzz");
	CHECK_STR_EQ(weft_context_get("culture"), "fr-FR");
	weft_context_clear();
}

static void *thread_reads(void *arg)
{
	record(arg);
	return NULL;
}

/* A plain new thread does not inherit its creator's context. */
TEST(threads_do_not_inherit)
{
	struct seen s = {.ran = 0};
	pthread_t th;

	REQUIRE(weft_context_set("culture", "fr-FR") == 0);
	REQUIRE(pthread_create(&th, NULL, thread_reads, &s) == 0);
	pthread_join(th, NULL);
	CHECK_EQ(atomic_load(&s.ran), 1);
	CHECK_STR_EQ(s.culture, "");
	weft_context_clear();
}

/* The seed's example: the creator's culture goes with its tasks. */
TEST(culture_flows_into_pool_task)
{
	struct seen direct = {.ran = 0}, async = {.ran = 0}, sync = {.ran = 0};
	weft_task *t1, *t2;

	REQUIRE(weft_context_set("culture", "fr-FR") == 0);
	record(&direct);
	CHECK_STR_EQ(direct.culture, "fr-FR");

	REQUIRE(weft_task_run(&t1, record_body, &async) == 0);
	CHECK_EQ(wait_inf(t1), 0);
	CHECK_EQ(atomic_load(&async.ran), 1);
	CHECK_STR_EQ(async.culture, "fr-FR");
	CHECK(!pthread_equal(async.thread, pthread_self()));

	REQUIRE(weft_task_create(&t2, record_body, &sync, NULL) == 0);
	CHECK_EQ(weft_task_run_synchronously(t2, NULL), 0);
	CHECK_EQ(atomic_load(&sync.ran), 1);
	CHECK_STR_EQ(sync.culture, "fr-FR");
	CHECK(pthread_equal(sync.thread, pthread_self()));

	/* the pool thread went back to its own (empty) context */
	weft_context_clear();
	struct seen after = {.ran = 0};
	weft_task *t3;
	REQUIRE(weft_task_run(&t3, record_body, &after) == 0);
	CHECK_EQ(wait_inf(t3), 0);
	CHECK_STR_EQ(after.culture, "");

	weft_task_unref(t1);
	weft_task_unref(t2);
	weft_task_unref(t3);
}

/* The snapshot is taken at creation, not when the task starts. */
TEST(changes_after_creation_not_seen)
{
	struct seen a = {.ran = 0}, b = {.ran = 0};
	weft_task *ta, *tb;

	REQUIRE(weft_context_set("culture", "fr-FR") == 0);
	REQUIRE(weft_task_create(&ta, record_body, &a, NULL) == 0);
	REQUIRE(weft_context_set("culture", "en-US") == 0);
	REQUIRE(weft_task_create(&tb, record_body, &b, NULL) == 0);
	weft_context_clear();

	CHECK_EQ(weft_task_start(ta, weft_scheduler_default()), 0);
	CHECK_EQ(weft_task_start(tb, weft_scheduler_default()), 0);
	CHECK_EQ(wait_inf(ta), 0);
	CHECK_EQ(wait_inf(tb), 0);
	CHECK_STR_EQ(a.culture, "fr-FR");
	CHECK_STR_EQ(b.culture, "en-US");
	/* and the creating thread has what it set last */
	CHECK(weft_context_get("culture") == NULL);
	weft_task_unref(ta);
	weft_task_unref(tb);
}

/* A continuation captures the context current when it is created. */
TEST(continuation_captures_at_creation)
{
	struct seen ante = {.ran = 0}, cont = {.ran = 0};
	weft_promise *gate;
	weft_task *t, *c, *c2;
	struct seen cont2 = {.ran = 0};

	REQUIRE(weft_promise_new(&gate, NULL, 0) == 0);
	REQUIRE(weft_context_set("culture", "fr-FR") == 0);
	REQUIRE(weft_task_continue_with(&t, weft_promise_task(gate),
					record_cont, &ante, NULL) == 0);
	REQUIRE(weft_context_set("culture", "de-DE") == 0);
	REQUIRE(weft_task_continue_with(&c, t, record_cont, &cont, NULL) == 0);
	REQUIRE(weft_context_set("culture", "en-US") == 0);
	CHECK_EQ(weft_promise_set_result(gate, NULL, NULL), 0);
	CHECK_EQ(wait_inf(c), 0);
	CHECK_STR_EQ(ante.culture, "fr-FR");
	CHECK_STR_EQ(cont.culture, "de-DE");

	/* on an already completed antecedent too */
	REQUIRE(weft_context_set("culture", "it-IT") == 0);
	REQUIRE(weft_task_continue_with(&c2, t, record_cont, &cont2, NULL) ==
		0);
	weft_context_clear();
	CHECK_EQ(wait_inf(c2), 0);
	CHECK_STR_EQ(cont2.culture, "it-IT");

	weft_task_unref(t);
	weft_task_unref(c);
	weft_task_unref(c2);
	weft_promise_unref(gate);
}

struct change_arg {
	const char *set_to; /* NULL: clear */
	char saw_inside[32];
	char saw_after_set[32];
	pthread_t thread;
};

static weft_error *change_body(weft_task *self, void *arg)
{
	struct change_arg *a = arg;
	const char *c = weft_context_get("culture");

	(void)self;
	snprintf(a->saw_inside, sizeof(a->saw_inside), "%s", c ? c : "");
	if (a->set_to) {
		if (weft_context_set("culture", a->set_to) != 0)
			return weft_error_new(-ENOMEM, "set failed");
		/* more keys, so the snapshot is a new allocation */
		if (weft_context_set("extra", "1") != 0)
			return weft_error_new(-ENOMEM, "set failed");
	} else {
		weft_context_clear();
	}
	c = weft_context_get("culture");
	snprintf(a->saw_after_set, sizeof(a->saw_after_set), "%s", c ? c : "");
	a->thread = pthread_self();
	return NULL;
}

/*
 * What a body sets is its own: it does not leak to the next task on the
 * same pool thread, nor to other tasks that share its snapshot.
 */
TEST(body_changes_do_not_leak)
{
	weft_scheduler *pool;
	struct change_arg a = {.set_to = "zz-ZZ"}, b = {.set_to = "yy-YY"},
			  c = {.set_to = NULL};
	struct seen d = {.ran = 0}, e = {.ran = 0};
	weft_task_options o = WEFT_TASK_OPTIONS_INIT;
	weft_task *ta, *tb, *tc, *td, *te;

	REQUIRE(weft_pool_new(&pool, 1) == 0); /* one thread: same worker */
	o.scheduler = pool;

	/* A and B share the fr-FR snapshot; each changes its own */
	REQUIRE(weft_context_set("culture", "fr-FR") == 0);
	REQUIRE(weft_task_start_new(&ta, change_body, &a, &o) == 0);
	REQUIRE(weft_task_start_new(&tb, change_body, &b, &o) == 0);
	/* C clears it inside; E (created with fr-FR) still sees fr-FR */
	REQUIRE(weft_task_start_new(&tc, change_body, &c, &o) == 0);
	REQUIRE(weft_task_start_new(&te, record_body, &e, &o) == 0);
	weft_context_clear();
	/* D was created with an empty context: sees nothing */
	REQUIRE(weft_task_start_new(&td, record_body, &d, &o) == 0);

	CHECK_EQ(wait_inf(ta), 0);
	CHECK_EQ(wait_inf(tb), 0);
	CHECK_EQ(wait_inf(tc), 0);
	CHECK_EQ(wait_inf(td), 0);
	CHECK_EQ(wait_inf(te), 0);
	CHECK_STR_EQ(a.saw_inside, "fr-FR");
	CHECK_STR_EQ(a.saw_after_set, "zz-ZZ");
	CHECK_STR_EQ(b.saw_inside, "fr-FR");
	CHECK_STR_EQ(b.saw_after_set, "yy-YY");
	CHECK_STR_EQ(c.saw_inside, "fr-FR");
	CHECK_STR_EQ(c.saw_after_set, "");
	CHECK_STR_EQ(e.culture, "fr-FR");
	CHECK_STR_EQ(d.culture, "");
	CHECK(pthread_equal(a.thread, d.thread));
	CHECK(pthread_equal(a.thread, b.thread));
	CHECK(weft_context_get("culture") == NULL);

	weft_task_unref(ta);
	weft_task_unref(tb);
	weft_task_unref(tc);
	weft_task_unref(td);
	weft_task_unref(te);
	CHECK_EQ(weft_pool_shutdown(pool), 0);
	weft_scheduler_unref(pool);
}

/* run_synchronously restores the caller's own context afterwards. */
TEST(run_synchronously_restores_caller)
{
	struct change_arg a = {.set_to = "zz-ZZ"};
	weft_task *t;

	REQUIRE(weft_context_set("culture", "fr-FR") == 0);
	REQUIRE(weft_task_create(&t, change_body, &a, NULL) == 0);
	REQUIRE(weft_context_set("culture", "en-US") == 0);
	CHECK_EQ(weft_task_run_synchronously(t, NULL), 0);
	CHECK_EQ(wait_inf(t), 0);
	CHECK_STR_EQ(a.saw_inside, "fr-FR");
	CHECK_STR_EQ(a.saw_after_set, "zz-ZZ");
	CHECK(pthread_equal(a.thread, pthread_self()));
	CHECK_STR_EQ(weft_context_get("culture"), "en-US");
	CHECK(weft_context_get("extra") == NULL);
	weft_task_unref(t);
	weft_context_clear();
}

struct nest_arg {
	struct seen inner_inherited;
	struct seen inner_after_set;
};

static weft_error *nest_body(weft_task *self, void *arg)
{
	struct nest_arg *n = arg;
	weft_task *a, *b;
	weft_error *err = NULL;

	(void)self;
	/* a task created inside a body captures the body's context */
	if (weft_task_run(&a, record_body, &n->inner_inherited) != 0)
		return weft_error_new(-ENOMEM, "run");
	weft_task_wait(a, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	weft_task_unref(a);
	if (weft_context_set("culture", "nested") != 0)
		return weft_error_new(-ENOMEM, "set");
	if (weft_task_run(&b, record_body, &n->inner_after_set) != 0)
		return weft_error_new(-ENOMEM, "run");
	weft_task_wait(b, WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
	weft_task_unref(b);
	return err;
}

TEST(nested_tasks_inherit_the_body_context)
{
	struct nest_arg n;
	weft_task *t;

	memset(&n, 0, sizeof(n));
	REQUIRE(weft_context_set("culture", "fr-FR") == 0);
	REQUIRE(weft_task_run(&t, nest_body, &n) == 0);
	weft_context_clear();
	CHECK_EQ(wait_inf(t), 0);
	CHECK_STR_EQ(n.inner_inherited.culture, "fr-FR");
	CHECK_STR_EQ(n.inner_after_set.culture, "nested");
	weft_task_unref(t);
}

/*
 * Many threads, each with its own culture, each creating many tasks that
 * all land on the same pool: every task sees its creator's culture.  The
 * threads exit without clearing their context (the thread-exit cleanup
 * must free it; LeakSanitizer checks under the asan build).
 */
enum {
	MT_THREADS = 8
};

struct mt_arg {
	int id;
	int ntasks;
	atomic_int *mismatches;
	atomic_int *ran;
};

struct mt_task {
	char want[16];
	atomic_int *mismatches;
	atomic_int *ran;
};

static weft_error *mt_body(weft_task *self, void *arg)
{
	struct mt_task *m = arg;
	const char *c = weft_context_get("culture");

	(void)self;
	if (!c || strcmp(c, m->want) != 0)
		atomic_fetch_add(m->mismatches, 1);
	atomic_fetch_add(m->ran, 1);
	return NULL;
}

static void *mt_thread(void *arg)
{
	struct mt_arg *a = arg;
	struct mt_task *tasks = calloc((size_t)a->ntasks, sizeof(*tasks));
	weft_task **ts = calloc((size_t)a->ntasks, sizeof(*ts));
	char culture[16];

	if (!tasks || !ts) {
		atomic_fetch_add(a->mismatches, 1000000);
		free(tasks);
		free(ts);
		return NULL;
	}
	for (int i = 0; i < a->ntasks; i++) {
		/* a new value every few tasks: snapshots keep changing */
		snprintf(culture, sizeof(culture), "c%d-%d", a->id, i / 4);
		if (weft_context_set("culture", culture) != 0)
			atomic_fetch_add(a->mismatches, 1);
		snprintf(tasks[i].want, sizeof(tasks[i].want), "%s", culture);
		tasks[i].mismatches = a->mismatches;
		tasks[i].ran = a->ran;
		if (weft_task_run(&ts[i], mt_body, &tasks[i]) != 0) {
			ts[i] = NULL;
			atomic_fetch_add(a->mismatches, 1);
		}
	}
	weft_task_wait_all(ts, (size_t)a->ntasks, WEFT_INFINITE,
			   WEFT_TOKEN_NONE, NULL);
	for (int i = 0; i < a->ntasks; i++)
		weft_task_unref(ts[i]);
	free(ts);
	free(tasks);
	return NULL; /* context left set on purpose */
}

TEST(many_threads)
{
	pthread_t th[MT_THREADS];
	struct mt_arg args[MT_THREADS];
	atomic_int mismatches = 0, ran = 0;
	int per = (int)weft_test_scaled(2000);

	for (int i = 0; i < MT_THREADS; i++) {
		args[i] = (struct mt_arg){i, per, &mismatches, &ran};
		REQUIRE(pthread_create(&th[i], NULL, mt_thread, &args[i]) == 0);
	}
	for (int i = 0; i < MT_THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(atomic_load(&mismatches), 0);
	CHECK_EQ(atomic_load(&ran), MT_THREADS * per);
}

static void *set_and_exit(void *arg)
{
	char v[16];

	snprintf(v, sizeof(v), "t%d", *(int *)arg);
	weft_context_set("culture", v);
	weft_context_set("other", v);
	return NULL;
}

/* Threads that exit with a context set do not leak it (LeakSanitizer). */
TEST(thread_exit_frees_context)
{
	pthread_t th[16];
	int ids[16];

	for (int i = 0; i < 16; i++) {
		ids[i] = i;
		REQUIRE(pthread_create(&th[i], NULL, set_and_exit, &ids[i]) ==
			0);
	}
	for (int i = 0; i < 16; i++)
		pthread_join(th[i], NULL);
	CHECK(weft_context_get("culture") == NULL);
}
