/*
 * error.c - immutable, reference-counted error objects, and weft_strerror.
 *
 * One allocation per error: the header, then the inner-error pointers, then
 * the message text.  Errors never change after construction, so the only
 * shared mutable state is the reference count.  Nested aggregates can be
 * arbitrarily deep (attached children nest one level per generation), so
 * nothing here recurses on the nesting: freeing, flattening and formatting
 * walk with explicit work lists.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/cancel.h>
#include <weft/error.h>
#include <weft/task.h>

#include "error_internal.h"

struct weft_error {
	/* Reference count; unused when IMMORTAL. */
	_Atomic long refs;
	bool immortal;
	weft_error_kind kind;
	int code;
	const char *message;	      /* into this allocation, or static text */
	weft_cancel_source *source;   /* CANCELED, TASK_CANCELED: +1 on it */
	weft_task *task;	      /* TASK_CANCELED: +1 on it, or NULL */
	struct weft_error *free_next; /* work list while being freed */
	size_t n_inner;
	weft_error *inner[]; /* +1 on each */
};

static const char default_aggregate_msg[] = "One or more errors occurred.";
static const char canceled_msg[] = "The operation was canceled.";
static const char task_canceled_msg[] = "A task was canceled.";
static const char scheduler_msg[] =
	"An error was reported by a task scheduler.";

static weft_error oom_error = {
	.immortal = true,
	.kind = WEFT_ERROR_PLAIN,
	.code = -ENOMEM,
	.message = "out of memory",
};

weft_error *weft__error_oom(void)
{
	return &oom_error;
}

bool weft__error_is_oom(const weft_error *e)
{
	return e == &oom_error;
}

/* ---- weft_strerror --------------------------------------------------- */

/*
 * Texts for -1 .. -4094, filled lazily.  Each slot is written once with a
 * CAS and never freed, so the pointer handed out stays valid for the life
 * of the process and concurrent callers need no lock.  The table keeps the
 * texts reachable (no leak reports).
 */
#define ERRNO_TABLE_SIZE 4095
static _Atomic(const char *) errno_text[ERRNO_TABLE_SIZE];

/* strerror_r comes in two flavours: GNU (returns the text) and XSI. */
static const char *errno_text_of(int e, char *buf, size_t n)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(e, buf, n);
#else
	return strerror_r(e, buf, n) == 0 ? buf : NULL;
#endif
}

const char *weft_strerror(int code)
{
	if (code == 0)
		return "success";
	if (code == WEFT_EFAULTED)
		return "task faulted";
	if (code > 0 || code <= -ERRNO_TABLE_SIZE)
		return "unknown error";

	_Atomic(const char *) *slot = &errno_text[-code];
	/* acquire: pairs with the release CAS below, so the text is seen. */
	const char *text = atomic_load_explicit(slot, memory_order_acquire);
	if (text)
		return text;

	char buf[256];
	const char *s = errno_text_of(-code, buf, sizeof buf);
	if (!s || !*s)
		return "unknown error";
	char *copy = strdup(s);
	if (!copy)
		return "unknown error";
	const char *expected = NULL;
	/* acq_rel: release publishes COPY's bytes to the acquire load above;
	 * acquire (on failure) makes the winner's text visible to us. */
	if (atomic_compare_exchange_strong_explicit(slot, &expected, copy,
						    memory_order_acq_rel,
						    memory_order_acquire))
		return copy;
	free(copy);
	return expected;
}

/* ---- construction ------------------------------------------------------ */

/*
 * Allocate an error with room for N inner pointers and MSG_LEN + 1 bytes of
 * message (MSG_LEN 0 and no text: the caller points MESSAGE elsewhere).
 */
static weft_error *error_alloc(weft_error_kind kind, int code, size_t n,
			       size_t msg_len)
{
	if (n > (SIZE_MAX - sizeof(weft_error) - msg_len - 1) /
			sizeof(weft_error *))
		return NULL;
	size_t size = sizeof(weft_error) + n * sizeof(weft_error *) +
		      (msg_len ? msg_len + 1 : 0);
	weft_error *e = malloc(size);
	if (!e)
		return NULL;
	/* relaxed: nobody else can see E yet. */
	atomic_init(&e->refs, 1);
	e->immortal = false;
	e->kind = kind;
	e->code = code;
	e->message = "";
	e->source = NULL;
	e->task = NULL;
	e->free_next = NULL;
	e->n_inner = n;
	return e;
}

static char *error_text(weft_error *e)
{
	return (char *)&e->inner[e->n_inner];
}

static weft_error *error_new_v(int code, const char *fmt, va_list ap)
{
	if (!fmt) {
		weft_error *e = error_alloc(WEFT_ERROR_PLAIN, code, 0, 0);
		if (!e)
			return &oom_error;
		e->message = weft_strerror(code); /* static, never freed */
		return e;
	}
	va_list ap2;
	va_copy(ap2, ap);
	int len = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (len < 0)
		len = 0; /* an encoding error: keep the code, empty text */
	weft_error *e = error_alloc(WEFT_ERROR_PLAIN, code, 0, (size_t)len + 1);
	if (!e)
		return &oom_error;
	char *text = error_text(e);
	if (len > 0)
		vsnprintf(text, (size_t)len + 1, fmt, ap);
	else
		text[0] = '\0';
	e->message = text;
	return e;
}

weft_error *weft_error_new(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	weft_error *e = error_new_v(code, fmt, ap);
	va_end(ap);
	return e;
}

weft_error *weft_error_canceled(weft_cancel_token token)
{
	weft_error *e = error_alloc(WEFT_ERROR_CANCELED, -ECANCELED, 0, 0);
	if (!e)
		return &oom_error;
	e->message = canceled_msg;
	e->source = weft_cancel_source_ref(token.source);
	return e;
}

weft_error *weft__error_task_canceled(weft_task *task, weft_cancel_token tok)
{
	weft_error *e = error_alloc(WEFT_ERROR_TASK_CANCELED, -ECANCELED, 0, 0);
	if (!e)
		return &oom_error;
	e->message = task_canceled_msg;
	e->source = weft_cancel_source_ref(tok.source);
	e->task = task ? weft_task_ref(task) : NULL;
	return e;
}

weft_error *weft__error_scheduler(weft_error *inner)
{
	if (!inner)
		return &oom_error; /* a caller bug; never NULL out */
	weft_error *e = error_alloc(WEFT_ERROR_SCHEDULER, inner->code, 1, 0);
	if (!e)
		return &oom_error;
	e->message = scheduler_msg;
	e->inner[0] = weft_error_ref(inner);
	return e;
}

/*
 * An aggregate of N slots with message MSG (copied; NULL: default).  The
 * caller fills the inner slots.  NULL on allocation failure.
 */
static weft_error *aggregate_alloc(const char *msg, size_t n)
{
	size_t len = msg ? strlen(msg) : 0;
	weft_error *e = error_alloc(WEFT_ERROR_AGGREGATE, WEFT_EFAULTED, n,
				    msg ? len + 1 : 0);
	if (!e)
		return NULL;
	if (msg) {
		char *text = error_text(e);
		memcpy(text, msg, len + 1);
		e->message = text;
	} else {
		e->message = default_aggregate_msg;
	}
	return e;
}

int weft_error_aggregate(weft_error **out, const char *msg,
			 weft_error *const *inner, size_t n)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (n > 0 && !inner)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!inner[i])
			return -EINVAL;
	weft_error *e = aggregate_alloc(msg, n);
	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		e->inner[i] = weft_error_ref(inner[i]);
	*out = e;
	return 0;
}

weft_error *weft__error_aggregate_take_msg(const char *msg, weft_error **inner,
					   size_t n)
{
	weft_error *e = aggregate_alloc(msg, n);
	if (!e) {
		for (size_t i = 0; i < n; i++)
			weft_error_unref(inner[i]);
		return &oom_error;
	}
	for (size_t i = 0; i < n; i++)
		e->inner[i] = inner[i];
	return e;
}

weft_error *weft__error_aggregate_take(weft_error **inner, size_t n)
{
	return weft__error_aggregate_take_msg(NULL, inner, n);
}

weft_error *weft__error_aggregate_flat(weft_error *const *errs, size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += errs[i]->kind == WEFT_ERROR_AGGREGATE ?
				 errs[i]->n_inner :
				 1;
	weft_error *e = aggregate_alloc(NULL, total);
	if (!e)
		return &oom_error;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (errs[i]->kind == WEFT_ERROR_AGGREGATE) {
			for (size_t j = 0; j < errs[i]->n_inner; j++)
				e->inner[k++] =
					weft_error_ref(errs[i]->inner[j]);
		} else {
			e->inner[k++] = weft_error_ref(errs[i]);
		}
	}
	return e;
}

/* ---- references -------------------------------------------------------- */

weft_error *weft_error_ref(weft_error *e)
{
	if (e && !e->immortal)
		/* relaxed: taking a reference needs no ordering; the caller
		 * already holds one (as every refcount increment). */
		atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
	return e;
}

/* Drop one reference; true when it was the last. */
static bool error_release(weft_error *e)
{
	if (!e || e->immortal)
		return false;
	/* acq_rel: release orders our uses of E before the free; acquire (for
	 * the last one) makes every other holder's uses happen before it.
	 * Pairs with the same operation on the other holders. */
	return atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) ==
	       1;
}

void weft_error_unref(weft_error *e)
{
	if (!error_release(e))
		return;
	/* Free iteratively: each inner whose count drops to zero joins the
	 * work list instead of being freed by a recursive call. */
	weft_error *work = e;
	e->free_next = NULL;
	while (work) {
		weft_error *cur = work;
		work = cur->free_next;
		for (size_t i = 0; i < cur->n_inner; i++) {
			weft_error *in = cur->inner[i];
			if (error_release(in)) {
				in->free_next = work;
				work = in;
			}
		}
		weft_cancel_source_unref(cur->source);
		if (cur->task)
			weft_task_unref(cur->task);
		free(cur);
	}
}

/* ---- accessors --------------------------------------------------------- */

weft_error_kind weft_error_get_kind(const weft_error *e)
{
	return e->kind;
}

int weft_error_code(const weft_error *e)
{
	return e->code;
}

const char *weft_error_message(const weft_error *e)
{
	return e->message;
}

size_t weft_error_inner_count(const weft_error *e)
{
	return e->n_inner;
}

weft_error *weft_error_inner(const weft_error *e, size_t i)
{
	return i < e->n_inner ? e->inner[i] : NULL;
}

weft_cancel_token weft_error_token(const weft_error *e)
{
	weft_cancel_token t = WEFT_TOKEN_NONE;
	if (e->kind == WEFT_ERROR_CANCELED ||
	    e->kind == WEFT_ERROR_TASK_CANCELED)
		t.source = e->source;
	return t;
}

weft_task *weft_error_task(const weft_error *e)
{
	return e->kind == WEFT_ERROR_TASK_CANCELED ? e->task : NULL;
}

bool weft_error_is_cancellation(const weft_error *e)
{
	return e->kind == WEFT_ERROR_CANCELED ||
	       e->kind == WEFT_ERROR_TASK_CANCELED;
}

/* ---- walking nested aggregates ---------------------------------------- */

/* A depth-first walk with an explicit stack of (error, next inner). */
struct walk_frame {
	const weft_error *e;
	size_t next;
};

struct walk {
	struct walk_frame *frames;
	size_t depth, cap;
};

static bool walk_push(struct walk *w, const weft_error *e)
{
	if (w->depth == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		struct walk_frame *f = realloc(w->frames, cap * sizeof(*f));
		if (!f)
			return false;
		w->frames = f;
		w->cap = cap;
	}
	w->frames[w->depth].e = e;
	w->frames[w->depth].next = 0;
	w->depth++;
	return true;
}

/*
 * Call LEAF on every non-aggregate reached from the inners of aggregate
 * ROOT, depth first, in order.  False on allocation failure.
 */
static bool walk_leaves(const weft_error *root,
			void (*leaf)(weft_error *e, void *ctx), void *ctx)
{
	struct walk w = {0};
	bool ok = walk_push(&w, root);
	while (ok && w.depth) {
		struct walk_frame *f = &w.frames[w.depth - 1];
		if (f->next == f->e->n_inner) {
			w.depth--;
			continue;
		}
		weft_error *in = f->e->inner[f->next++];
		if (in->kind == WEFT_ERROR_AGGREGATE)
			ok = walk_push(&w, in);
		else
			leaf(in, ctx);
	}
	free(w.frames);
	return ok;
}

static void count_leaf(weft_error *e, void *ctx)
{
	(void)e;
	(*(size_t *)ctx)++;
}

struct fill_ctx {
	weft_error *agg;
	size_t k;
};

static void fill_leaf(weft_error *e, void *ctx)
{
	struct fill_ctx *c = ctx;
	c->agg->inner[c->k++] = weft_error_ref(e);
}

weft_error *weft_error_flatten(weft_error *e)
{
	if (!e)
		return &oom_error; /* contract: never NULL */
	if (e->kind != WEFT_ERROR_AGGREGATE) {
		weft_error *one[1] = {weft_error_ref(e)};
		return weft__error_aggregate_take(one, 1);
	}
	size_t n = 0;
	if (!walk_leaves(e, count_leaf, &n))
		return &oom_error;
	weft_error *agg = aggregate_alloc(
		e->message == default_aggregate_msg ? NULL : e->message, n);
	if (!agg)
		return &oom_error;
	struct fill_ctx c = {agg, 0};
	if (!walk_leaves(e, fill_leaf, &c)) {
		/* Only the slots filled so far hold references. */
		agg->n_inner = c.k;
		weft_error_unref(agg);
		return &oom_error;
	}
	return agg;
}

weft_error *weft_error_base(weft_error *e)
{
	while (e && e->kind == WEFT_ERROR_AGGREGATE && e->n_inner == 1 &&
	       e->inner[0]->kind == WEFT_ERROR_AGGREGATE)
		e = e->inner[0];
	return e;
}

int weft_error_handle(weft_error *e, bool (*pred)(weft_error *inner, void *arg),
		      void *arg, weft_error **unhandled)
{
	if (unhandled)
		*unhandled = NULL;
	if (!e || !pred || e->kind != WEFT_ERROR_AGGREGATE)
		return -EINVAL;
	size_t n = e->n_inner, k = 0;
	weft_error **left = n ? malloc(n * sizeof(*left)) : NULL;
	bool oom = n && !left;
	/* PRED runs on every inner even when the list cannot be built. */
	for (size_t i = 0; i < n; i++) {
		if (pred(e->inner[i], arg))
			continue;
		if (left)
			left[k] = weft_error_ref(e->inner[i]);
		k++;
	}
	if (k == 0) {
		free(left);
		return 0;
	}
	if (unhandled) {
		*unhandled = oom ? &oom_error :
				   weft__error_aggregate_take_msg(
					   e->message == default_aggregate_msg ?
						   NULL :
						   e->message,
					   left, k);
	} else if (left) {
		for (size_t i = 0; i < k; i++)
			weft_error_unref(left[i]);
	}
	free(left);
	return WEFT_EFAULTED;
}

/* ---- formatting -------------------------------------------------------- */

struct out {
	char *buf;
	size_t size, len;
};

static void out_put(struct out *o, const char *s)
{
	size_t n = strlen(s);
	if (o->len < o->size) {
		size_t room = o->size - 1 - o->len; /* keep the NUL's byte */
		size_t c = n < room ? n : room;
		memcpy(o->buf + o->len, s, c);
		o->buf[o->len + c] = '\0';
	}
	o->len += n;
}

size_t weft_error_format(const weft_error *e, char *buf, size_t size)
{
	struct out o = {buf, size, 0};
	if (size)
		buf[0] = '\0';
	if (!e)
		return 0;
	/* "message (inner) (inner)", where each inner is formatted the same
	 * way: an explicit stack, one frame per nesting level. */
	struct walk w = {0};
	out_put(&o, e->message);
	if (!walk_push(&w, e)) {
		free(w.frames);
		return o.len;
	}
	while (w.depth) {
		struct walk_frame *f = &w.frames[w.depth - 1];
		if (f->next == f->e->n_inner) {
			w.depth--;
			if (w.depth)
				out_put(&o, ")");
			continue;
		}
		const weft_error *in = f->e->inner[f->next++];
		out_put(&o, " (");
		out_put(&o, in->message);
		if (!walk_push(&w, in)) {
			out_put(&o, ")"); /* no memory: this inner's inners */
		}
	}
	free(w.frames);
	return o.len;
}
