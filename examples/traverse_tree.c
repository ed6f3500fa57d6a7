/*
 * traverse_tree.c - visit every node of a binary tree with tasks (How to:
 * Traverse a Binary Tree with Parallel Tasks).
 *
 * do_tree() starts a task for each subtree, processes its own node, then
 * waits for both subtasks.  A wait inside a task does not block its worker:
 * the worker runs the awaited task itself if it is still queued there, or
 * other work meanwhile, so the recursion does not need a thread per level.
 * (weft_parallel_invoke2() is the allocation-free way to write this fork
 * and join; tasks are used here to follow the original.)
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

struct tree {
	struct tree *left, *right;
	long data;
};

static atomic_long visited, total;

static void action(long data)
{
	atomic_fetch_add_explicit(&visited, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&total, data, memory_order_relaxed);
}

static weft_error *do_tree(weft_task *self, void *arg);

/* Process TREE and everything below it; returns the first error. */
static weft_error *walk(struct tree *tree)
{
	weft_task *sub[2];
	weft_error *err = NULL;
	int rc;

	if (tree == NULL)
		return NULL;
	rc = weft_task_start_new(&sub[0], do_tree, tree->left, NULL);
	if (rc != 0)
		return weft_error_new(rc, "starting a subtree task");
	rc = weft_task_start_new(&sub[1], do_tree, tree->right, NULL);
	if (rc != 0) {
		weft_task_wait(sub[0], WEFT_INFINITE, WEFT_TOKEN_NONE, NULL);
		weft_task_unref(sub[0]);
		return weft_error_new(rc, "starting a subtree task");
	}
	action(tree->data);
	weft_task_wait_all(sub, 2, WEFT_INFINITE, WEFT_TOKEN_NONE, &err);
	weft_task_unref(sub[0]);
	weft_task_unref(sub[1]);
	return err; /* NULL, or an aggregate of the subtrees' errors */
}

static weft_error *do_tree(weft_task *self, void *arg)
{
	(void)self;
	return walk(arg);
}

/* A complete tree of DEPTH levels, numbered breadth first from INDEX. */
static struct tree *build(int depth, long index)
{
	struct tree *t;

	if (depth == 0)
		return NULL;
	t = malloc(sizeof(*t));
	if (t == NULL)
		abort();
	t->data = index;
	t->left = build(depth - 1, 2 * index + 1);
	t->right = build(depth - 1, 2 * index + 2);
	return t;
}

static void destroy(struct tree *t)
{
	if (t != NULL) {
		destroy(t->left);
		destroy(t->right);
		free(t);
	}
}

int main(void)
{
	struct tree *root = build(12, 0);
	weft_error *err = walk(root);

	if (err != NULL) {
		char msg[256];

		weft_error_format(err, msg, sizeof(msg));
		fprintf(stderr, "traversal failed: %s\n", msg);
		weft_error_unref(err);
		destroy(root);
		return 1;
	}
	printf("visited %ld nodes, sum of their values %ld\n",
	       atomic_load(&visited), atomic_load(&total));
	destroy(root);
	return 0;
}
