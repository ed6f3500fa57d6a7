/*
 * expect_match - compare a program's output with an expected-output file.
 *
 * usage: expect_match EXPECTED ACTUAL
 *
 * EXPECTED is read line by line:
 *   text              the output line must be exactly TEXT
 *   @re REGEX         the output line must match the POSIX extended regular
 *                     expression REGEX as a whole (it is anchored for you)
 *   @any-order        the lines up to the next @end (plain or @re) must
 *   ...               match the same number of output lines, in any order,
 *   @end              each expected line used exactly once
 *   @@text            a literal line that starts with "@text"
 *   @# comment        ignored
 *
 * Output that varies legitimately (thread numbers, task ids, clock values,
 * random data, the order in which concurrent tasks print) is written as @re
 * lines or @any-order blocks; everything else must be identical.
 *
 * Exit status: 0 when the output matches, 1 when it does not (the first
 * difference is printed, each line prefixed with "# "), 2 on usage errors or
 * a malformed expected file.
 */
#define _POSIX_C_SOURCE 200809L

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct pattern {
	bool is_regex;
	char *text; /* the literal line, or the regex source */
	regex_t re;
	int line; /* line number in the expected file */
};

/* An item is one pattern, or an any-order group of several. */
struct item {
	struct pattern *pats;
	size_t n;
	bool any_order;
};

struct lines {
	char **v;
	size_t n, cap;
};

static void die(const char *msg, const char *detail)
{
	fprintf(stderr, "expect_match: %s%s%s\n", msg, detail ? ": " : "",
		detail ? detail : "");
	exit(2);
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p)
		die("out of memory", NULL);
	return p;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		die("out of memory", NULL);
	return d;
}

static void lines_push(struct lines *l, char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = s;
}

static struct lines read_lines(const char *path)
{
	struct lines l = {0};
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;

	if (!f)
		die("cannot open", path);
	while ((len = getline(&buf, &cap, f)) >= 0) {
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		lines_push(&l, xstrdup(buf));
	}
	free(buf);
	fclose(f);
	return l;
}

static void make_pattern(struct pattern *p, const char *line, int lineno)
{
	p->line = lineno;
	if (strncmp(line, "@re ", 4) == 0) {
		/* Anchor the whole expression: the line must match in full. */
		size_t n = strlen(line + 4) + 5;
		char *src = xrealloc(NULL, n);
		int rc;

		snprintf(src, n, "^(%s)$", line + 4);
		rc = regcomp(&p->re, src, REG_EXTENDED | REG_NOSUB);
		free(src);
		if (rc != 0) {
			char msg[256];
			regerror(rc, &p->re, msg, sizeof(msg));
			fprintf(stderr,
				"expect_match: line %d: bad regex: %s\n",
				lineno, msg);
			exit(2);
		}
		p->is_regex = true;
		p->text = xstrdup(line + 4);
	} else if (strncmp(line, "@@", 2) == 0) {
		p->is_regex = false;
		p->text = xstrdup(line + 1);
	} else if (line[0] == '@') {
		fprintf(stderr,
			"expect_match: line %d: unknown directive: %s\n",
			lineno, line);
		exit(2);
	} else {
		p->is_regex = false;
		p->text = xstrdup(line);
	}
}

static bool pattern_matches(const struct pattern *p, const char *s)
{
	if (p->is_regex)
		return regexec(&p->re, s, 0, NULL, 0) == 0;
	return strcmp(p->text, s) == 0;
}

static struct item *parse_expected(const struct lines *l, size_t *nitems)
{
	struct item *items = NULL;
	size_t n = 0;
	struct item *group = NULL;

	for (size_t i = 0; i < l->n; i++) {
		const char *s = l->v[i];
		int lineno = (int)i + 1;

		if (strncmp(s, "@#", 2) == 0)
			continue;
		if (strcmp(s, "@any-order") == 0) {
			if (group)
				die("nested @any-order", NULL);
			items = xrealloc(items, (n + 1) * sizeof(*items));
			group = &items[n++];
			*group = (struct item){.any_order = true};
			continue;
		}
		if (strcmp(s, "@end") == 0) {
			if (!group)
				die("@end without @any-order", NULL);
			group = NULL;
			continue;
		}
		if (group) {
			group->pats =
				xrealloc(group->pats,
					 (group->n + 1) * sizeof(*group->pats));
			make_pattern(&group->pats[group->n++], s, lineno);
		} else {
			items = xrealloc(items, (n + 1) * sizeof(*items));
			items[n] = (struct item){.n = 1};
			items[n].pats = xrealloc(NULL, sizeof(struct pattern));
			make_pattern(&items[n].pats[0], s, lineno);
			n++;
		}
		/* realloc may have moved the array under GROUP */
		if (group)
			group = &items[n - 1];
	}
	if (group)
		die("@any-order without @end", NULL);
	*nitems = n;
	return items;
}

static void show(const char *what, const struct pattern *p)
{
	printf("#   %s (expected line %d): %s%s\n", what, p->line,
	       p->is_regex ? "regex " : "", p->text);
}

/*
 * Bipartite matching (augmenting paths) between the output lines of a group
 * and its patterns: a greedy choice could fail when two regexes overlap.
 */
static bool augment(size_t out, size_t k, bool **ok, size_t *owner, bool *seen)
{
	for (size_t p = 0; p < k; p++) {
		if (!ok[out][p] || seen[p])
			continue;
		seen[p] = true;
		if (owner[p] == (size_t)-1 ||
		    augment(owner[p], k, ok, owner, seen)) {
			owner[p] = out;
			return true;
		}
	}
	return false;
}

static bool match_group(const struct item *it, char **out, size_t first)
{
	size_t k = it->n;
	bool **ok = xrealloc(NULL, k * sizeof(*ok));
	size_t *owner = xrealloc(NULL, k * sizeof(*owner));
	bool *seen = xrealloc(NULL, k * sizeof(*seen));
	bool all = true;

	for (size_t o = 0; o < k; o++) {
		ok[o] = xrealloc(NULL, k * sizeof(**ok));
		for (size_t p = 0; p < k; p++)
			ok[o][p] = pattern_matches(&it->pats[p], out[o]);
	}
	for (size_t p = 0; p < k; p++)
		owner[p] = (size_t)-1;
	for (size_t o = 0; o < k; o++) {
		memset(seen, 0, k * sizeof(*seen));
		if (!augment(o, k, ok, owner, seen)) {
			printf("# output line %zu matches no unused line of "
			       "the any-order block:\n#   %s\n",
			       first + o + 1, out[o]);
			all = false;
			break;
		}
	}
	if (!all) {
		printf("# the block (expected lines %d-%d) is:\n",
		       it->pats[0].line, it->pats[k - 1].line);
		for (size_t p = 0; p < k; p++)
			show("block", &it->pats[p]);
		printf("# its output lines %zu-%zu are:\n", first + 1,
		       first + k);
		for (size_t o = 0; o < k; o++)
			printf("#   %s\n", out[o]);
	}
	for (size_t o = 0; o < k; o++)
		free(ok[o]);
	free(ok);
	free(owner);
	free(seen);
	return all;
}

int main(int argc, char **argv)
{
	struct lines exp, act;
	struct item *items;
	size_t nitems, pos = 0;
	bool good = true;

	if (argc != 3) {
		fprintf(stderr, "usage: expect_match EXPECTED ACTUAL\n");
		return 2;
	}
	exp = read_lines(argv[1]);
	act = read_lines(argv[2]);
	items = parse_expected(&exp, &nitems);

	for (size_t i = 0; i < nitems && good; i++) {
		const struct item *it = &items[i];

		if (pos + it->n > act.n) {
			printf("# output ended after %zu lines; still "
			       "expected:\n",
			       act.n);
			show("next", &it->pats[0]);
			good = false;
		} else if (it->any_order) {
			good = match_group(it, act.v + pos, pos);
			pos += it->n;
		} else if (!pattern_matches(&it->pats[0], act.v[pos])) {
			printf("# output line %zu differs:\n", pos + 1);
			show("expected", &it->pats[0]);
			printf("#   got: %s\n", act.v[pos]);
			good = false;
		} else {
			pos++;
		}
	}
	if (good && pos < act.n) {
		printf("# unexpected extra output from line %zu:\n#   %s\n",
		       pos + 1, act.v[pos]);
		good = false;
	}

	for (size_t i = 0; i < nitems; i++) {
		for (size_t p = 0; p < items[i].n; p++) {
			if (items[i].pats[p].is_regex)
				regfree(&items[i].pats[p].re);
			free(items[i].pats[p].text);
		}
		free(items[i].pats);
	}
	free(items);
	for (size_t i = 0; i < exp.n; i++)
		free(exp.v[i]);
	for (size_t i = 0; i < act.n; i++)
		free(act.v[i]);
	free(exp.v);
	free(act.v);
	return good ? 0 : 1;
}
