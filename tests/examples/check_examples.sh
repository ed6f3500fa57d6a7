#!/bin/sh
# check_examples.sh - run every example and compare its output with
# examples/expected/<name>.txt (format: see expect_match.c).
#
# usage: check_examples.sh BIN_DIR EXPECTED_DIR MATCHER [NAME...]
#
#   BIN_DIR       where the example executables are
#   EXPECTED_DIR  examples/expected
#   MATCHER       the expect_match executable
#   NAME...       examples to run (default: one per EXPECTED_DIR/*.txt)
#
# An example passes when it exits with status 0 within the time limit
# (WEFT_TEST_TIMEOUT seconds, default 120) and its standard output matches.
# Output is TAP-like; the last line is "N passed, N failed".  The exit status
# is 0 only when every example passed.
set -u

if [ $# -lt 3 ]; then
	echo "usage: $0 BIN_DIR EXPECTED_DIR MATCHER [NAME...]" >&2
	exit 2
fi
bin_dir=$1
exp_dir=$2
matcher=$3
shift 3
limit=${WEFT_TEST_TIMEOUT:-120}

if [ $# -eq 0 ]; then
	for f in "$exp_dir"/*.txt; do
		[ -e "$f" ] || continue
		n=${f##*/}
		set -- "$@" "${n%.txt}"
	done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/weft-examples.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM

passed=0
failed=0
i=0
for name in "$@"; do
	i=$((i + 1))
	exe=$bin_dir/$name
	expected=$exp_dir/$name.txt
	out=$work/$name.out
	err=$work/$name.err
	why=""

	if [ ! -x "$exe" ]; then
		why="no executable $exe"
	elif [ ! -f "$expected" ]; then
		why="no expected output $expected"
	else
		timeout -k 5 "$limit" "$exe" >"$out" 2>"$err" </dev/null
		rc=$?
		if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
			why="timed out after ${limit}s"
		elif [ $rc -ne 0 ]; then
			why="exit status $rc"
		elif ! "$matcher" "$expected" "$out" >"$work/$name.diff"; then
			why="output differs from $name.txt"
		fi
	fi

	if [ -z "$why" ]; then
		passed=$((passed + 1))
		echo "ok $i - $name"
	else
		failed=$((failed + 1))
		echo "not ok $i - $name # $why"
		[ -s "$work/$name.diff" ] && cat "$work/$name.diff"
		if [ -s "$err" ]; then
			echo "# stderr:"
			sed 's/^/#   /' "$err" | head -n 40
		fi
		if [ -n "$why" ] && [ ! -s "$work/$name.diff" ] && [ -s "$out" ]; then
			echo "# stdout:"
			sed 's/^/#   /' "$out" | head -n 40
		fi
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
