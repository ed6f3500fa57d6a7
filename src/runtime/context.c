/*
 * context.c - ambient key/value context that flows into tasks.
 *
 * A snapshot is one allocation: a header, a sorted array of entries and the
 * strings they point to.  Snapshots never change after they are built, so
 * any thread may read one it holds a reference to without locking; setting
 * a key builds a new snapshot (copy on write).  The empty context is always
 * represented by NULL, which keeps the common case (nobody uses contexts)
 * down to a thread-local load in capture/enter/leave.
 *
 * Each thread's current snapshot is either owned (the thread set it and
 * holds a reference) or borrowed (a task body runs with its task's
 * snapshot, which the task keeps alive).  enter() saves the pair
 * (pointer, owned) in one tagged pointer; leave() drops whatever the body
 * set and restores it.
 */
#include "context.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/context.h"

struct entry {
	const char *key;
	const char *value;
};

struct weft__context {
	atomic_size_t refs;
	size_t n;
	struct entry e[]; /* sorted by strcmp(key); strings follow */
};

/* the thread's state (context.h): its short name here */
#define tls weft__context_tls
#define tls_state weft__context_tls_state

_Thread_local struct weft__context_tls_state weft__context_tls
	__attribute__((tls_model("initial-exec")));

/* The low bit of a saved value says the saved snapshot was owned. */
#define OWNED_TAG ((uintptr_t)1)

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static bool exit_key_ok;

struct weft__context *weft__context_ref(struct weft__context *c)
{
	/* relaxed: the caller already holds a reference (this thread's), so
	 * the object cannot go away; publication to other threads happens
	 * through the task queues' release/acquire. */
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void weft__context_release(struct weft__context *ctx)
{
	if (!ctx)
		return;
	/* acq_rel: release orders this thread's reads of the snapshot before
	 * the drop; acquire on the last drop pairs with the other threads'
	 * releases so the free happens after all of their reads. */
	if (atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) == 1)
		free(ctx);
}

__attribute__((noinline)) struct weft__context *weft__context_enter_slow(
	struct weft__context *ctx)
{
	struct tls_state *s = &tls;
	uintptr_t saved;

	saved = (uintptr_t)s->cur | (s->owned ? OWNED_TAG : 0);
	s->cur = ctx;
	s->owned = false;
	return (struct weft__context *)saved;
}

__attribute__((noinline)) void weft__context_leave_slow(
	struct weft__context *saved)
{
	struct tls_state *s = &tls;
	uintptr_t v = (uintptr_t)saved;

	if (s->owned)
		weft__context_release(s->cur);
	s->cur = (struct weft__context *)(v & ~OWNED_TAG);
	s->owned = (v & OWNED_TAG) != 0;
}

/* Thread exit: drop the snapshot the thread set for itself. */
static void exit_destructor(void *unused)
{
	(void)unused;
	if (tls.owned)
		weft__context_release(tls.cur);
	tls.cur = NULL;
	tls.owned = false;
	tls.registered = false;
}

static void make_exit_key(void)
{
	exit_key_ok = pthread_key_create(&exit_key, exit_destructor) == 0;
}

static void arm_exit_destructor(void)
{
	if (tls.registered)
		return;
	pthread_once(&key_once, make_exit_key);
	/* Any non-NULL value makes pthreads call the destructor. */
	if (exit_key_ok && pthread_setspecific(exit_key, &tls) == 0)
		tls.registered = true;
}

/* The index of the first entry whose key is >= KEY. */
static size_t lower_bound(const struct weft__context *c, const char *key)
{
	size_t lo = 0, hi = c ? c->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(c->e[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static char *put(char **p, const char *s)
{
	size_t len = strlen(s) + 1;
	char *r = *p;

	memcpy(r, s, len);
	*p += len;
	return r;
}

/*
 * A copy of OLD where the entry at POS (FOUND: that entry has KEY) is
 * replaced by KEY=VALUE, or inserted there, or removed (VALUE NULL).
 * Returns NULL on allocation failure; the caller handles the empty case.
 */
static struct weft__context *rebuild(const struct weft__context *old,
				     size_t pos, bool found, const char *key,
				     const char *value)
{
	size_t oldn = old ? old->n : 0;
	size_t n = oldn, bytes, i, k = 0;
	struct weft__context *c;
	char *p;

	if (value && !found)
		n++;
	else if (!value)
		n--;
	bytes = sizeof(*c) + n * sizeof(struct entry);
	for (i = 0; i < oldn; i++) {
		if (found && i == pos)
			continue;
		bytes += strlen(old->e[i].key) + strlen(old->e[i].value) + 2;
	}
	if (value)
		bytes += strlen(key) + strlen(value) + 2;

	c = malloc(bytes);
	if (!c)
		return NULL;
	/* relaxed: not yet visible to any other thread. */
	atomic_init(&c->refs, 1);
	c->n = n;
	p = (char *)&c->e[n];
	for (i = 0; i <= oldn; i++) {
		if (i == pos && value) {
			c->e[k].key = put(&p, key);
			c->e[k].value = put(&p, value);
			k++;
		}
		if (i == oldn || (found && i == pos))
			continue;
		c->e[k].key = put(&p, old->e[i].key);
		c->e[k].value = put(&p, old->e[i].value);
		k++;
	}
	return c;
}

/* Make C (owned, may be NULL) this thread's current snapshot. */
static void install(struct weft__context *c)
{
	if (tls.owned)
		weft__context_release(tls.cur);
	tls.cur = c;
	tls.owned = c != NULL;
	if (c)
		arm_exit_destructor();
}

int weft_context_set(const char *key, const char *value)
{
	struct weft__context *cur = tls.cur, *c = NULL;
	size_t pos;
	bool found;

	if (!key || !*key)
		return -EINVAL;
	pos = lower_bound(cur, key);
	found = cur && pos < cur->n && strcmp(cur->e[pos].key, key) == 0;
	if (!value && !found)
		return 0;
	if (value && found && strcmp(cur->e[pos].value, value) == 0)
		return 0;
	/* Removing the last key leaves the empty context, which is NULL. */
	if (value || cur->n > 1) {
		c = rebuild(cur, pos, found, key, value);
		if (!c)
			return -ENOMEM;
	}
	install(c);
	return 0;
}

const char *weft_context_get(const char *key)
{
	const struct weft__context *c = tls.cur;
	size_t pos;

	if (!key || !c)
		return NULL;
	pos = lower_bound(c, key);
	if (pos < c->n && strcmp(c->e[pos].key, key) == 0)
		return c->e[pos].value;
	return NULL;
}

void weft_context_clear(void)
{
	install(NULL);
}
