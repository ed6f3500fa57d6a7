#!/usr/bin/env bash
# bench/run.sh - build weft's benchmarks and its peers' (serial C, oneTBB,
# OpenMP with gcc/libgomp and clang/LLVM libomp, the .NET TPL under Mono),
# run them side by side in one run, and print one table.
#
# Usage: bench/run.sh [options]
#   --quick            2 rounds instead of 5 (same problem sizes)
#   --rounds N         N rounds (each round runs every implementation once,
#                      in a rotated order; the table shows the medians)
#   --only LIST        only these benchmarks, comma-separated, from:
#                      fib skynet nqueens pfor chain-async chain-sync pingpong
#                      fanout whenany cancel roundtrip mem callgrind
#   --no-callgrind     skip the instruction counts (valgrind)
#   --require-weft     fail when libweft cannot be built or linked (default)
#   --allow-no-weft    skip the weft rows ("weft: not built") instead
#   --no-install       never run apt-get; only print the command
#   -h, --help         this text
# Environment:
#   WEFT_LIB=FILE      link the weft programs with FILE (a libweft.a) instead
#                      of building build/release with cmake
#   WEFT_LINK_LIBS     libraries after libweft.a (default: -lpthread)
#   BENCH_TIMEOUT      seconds one program may run (default 300)
#
# Output: the table on stdout and, as markdown, in bench/out/latest.md
# (paste it into bench/RESULTS.md); every raw result line in
# bench/out/raw.txt; build logs in bench/out/logs/.  Every program checks its
# answer; a wrong answer, a crash or a timeout stops the run with exit 1.
# Worker counts are 1 and 2.  Compiler flags are -O2 only (no -march=native).
# Run as root it installs the Debian packages it needs; otherwise it prints
# the apt-get line.
set -uo pipefail

# 1: a weft that does not build or link fails the run (--allow-no-weft
# overrides); 0: its rows are skipped with a "weft: not built" line.
REQUIRE_WEFT_DEFAULT=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=$HERE/out
B=$OUT/build
LOGS=$OUT/logs
RAW=$OUT/raw.txt
TIMEOUT=${BENCH_TIMEOUT:-300}

ROUNDS=5
ONLY=""
CALLGRIND=1
REQUIRE_WEFT=$REQUIRE_WEFT_DEFAULT
INSTALL=1

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case $1 in
	--quick) ROUNDS=2 ;;
	--rounds)
		shift
		ROUNDS=${1:-}
		[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --rounds needs a positive number" >&2; exit 2; }
		;;
	--only) shift; ONLY=",${1:-},"; ;;
	--no-callgrind) CALLGRIND=0 ;;
	--require-weft) REQUIRE_WEFT=1 ;;
	--allow-no-weft) REQUIRE_WEFT=0 ;;
	--no-install) INSTALL=0 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

die() { echo "run.sh: $*" >&2; exit 1; }
want() { [ -z "$ONLY" ] || [[ $ONLY == *",$1,"* ]]; }

# ---- packages ---------------------------------------------------------------
PKGS=(gcc g++ clang libtbb-dev libomp-dev mono-mcs mono-runtime valgrind cmake)
missing=()
for p in "${PKGS[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && [ $INSTALL = 1 ]; then
		echo "run.sh: installing: ${missing[*]}"
		if ! apt-get update -qq; then
			die "apt-get update failed"
		fi
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "${missing[@]}" >/dev/null; then
			die "apt-get install ${missing[*]} failed"
		fi
	else
		echo "run.sh: missing packages. Install them with:" >&2
		echo "  sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
fi

mkdir -p "$B" "$LOGS"
: >"$RAW"

# ---- build the peers ------------------------------------------------------------
CFLAGS=(-O2 -std=c17 -Wall -Wextra)
CXXFLAGS=(-O2 -std=c++17 -Wall -Wextra)
build() { # name command...
	local name=$1
	shift
	if ! "$@" >"$LOGS/$name.log" 2>&1; then
		cat "$LOGS/$name.log" >&2
		die "building $name failed: $*"
	fi
}
echo "run.sh: building the peers (logs in ${LOGS#"$ROOT"/})"
build serial gcc "${CFLAGS[@]}" -o "$B/serial" "$HERE/serial/serial.c"
build tbb g++ "${CXXFLAGS[@]}" -o "$B/tbb_bench" "$HERE/tbb/tbb_bench.cpp" -ltbb -lpthread
build omp_gcc gcc "${CFLAGS[@]}" -fopenmp -o "$B/omp_gcc" "$HERE/omp/omp_bench.c"
build omp_clang clang "${CFLAGS[@]}" -fopenmp=libomp -o "$B/omp_clang" "$HERE/omp/omp_bench.c"
build mono mcs -optimize+ -nologo -out:"$B/Bench.exe" "$HERE/mono/Bench.cs"

# ---- build weft -------------------------------------------------------------------
WEFT=0
WEFT_WHY=""
build_weft() {
	local lib=${WEFT_LIB:-} log=$LOGS/libweft.log bdir
	: >"$log"
	if [ -z "$lib" ]; then
		[ -f "$ROOT/CMakeLists.txt" ] || { WEFT_WHY="no CMakeLists.txt"; return 1; }
		if (cd "$ROOT" && cmake --list-presets 2>/dev/null) | grep -q '"release"'; then
			(cd "$ROOT" && cmake --preset release) >>"$log" 2>&1 ||
				{ WEFT_WHY="cmake --preset release failed"; return 1; }
			bdir=$(sed -n 's/^-- Build files have been written to: //p' "$log" | tail -1)
			[ -n "$bdir" ] || bdir=$ROOT/build/release
		else
			bdir=$ROOT/build/release
			cmake -S "$ROOT" -B "$bdir" -DCMAKE_BUILD_TYPE=Release >>"$log" 2>&1 ||
				{ WEFT_WHY="cmake configure failed"; return 1; }
		fi
		# weft_static is the static library's target; fall back to everything
		cmake --build "$bdir" -j"$(nproc)" --target weft_static >>"$log" 2>&1 ||
			cmake --build "$bdir" -j"$(nproc)" >>"$log" 2>&1 ||
			{ WEFT_WHY="cmake --build failed"; return 1; }
		lib=$(find "$bdir" -name libweft.a -print -quit)
		[ -n "$lib" ] || { WEFT_WHY="no libweft.a under ${bdir#"$ROOT"/}"; return 1; }
	fi
	[ -f "$lib" ] || { WEFT_WHY="$lib does not exist"; return 1; }
	local p
	for p in weft_bench weft_tpl weft_mem; do
		# shellcheck disable=SC2086
		gcc "${CFLAGS[@]}" -I"$ROOT/include" -o "$B/$p" "$HERE/weft/$p.c" "$lib" \
			${WEFT_LINK_LIBS:--lpthread} >>"$log" 2>&1 ||
			{ WEFT_WHY="linking $p against ${lib#"$ROOT"/} failed"; return 1; }
	done
	WEFT_LIB_USED=$lib
	return 0
}
echo "run.sh: building libweft and the weft benchmarks"
if build_weft; then
	WEFT=1
	echo "STATUS weft=built from ${WEFT_LIB_USED#"$ROOT"/}" >>"$RAW"
else
	if [ "$REQUIRE_WEFT" = 1 ]; then
		tail -n 30 "$LOGS/libweft.log" >&2
		die "weft: not built ($WEFT_WHY; log: ${LOGS#"$ROOT"/}/libweft.log)"
	fi
	echo "weft: not built ($WEFT_WHY; log: ${LOGS#"$ROOT"/}/libweft.log); weft rows are skipped"
	echo "STATUS weft=not built: $WEFT_WHY" >>"$RAW"
fi

# ---- machine -----------------------------------------------------------------------------
tbbv=$(sed -n 's/^#define TBB_VERSION_\(MAJOR\|MINOR\) \([0-9]*\).*/\2/p' \
	/usr/include/oneapi/tbb/version.h 2>/dev/null | paste -sd. -)
{
	echo "META date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "META machine=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	echo "META cpus=$(nproc) online CPUs"
	echo "META kernel=$(uname -sr)"
	echo "META compilers=$(gcc --version | head -1); $(clang --version | head -1); flags -O2"
	echo "META peers=oneTBB ${tbbv:-?}; libgomp (gcc); LLVM libomp (clang); $(mono --version | head -1 | sed 's/ (.*//')"
	echo "META rounds=$ROUNDS"
} >>"$RAW"

# ---- the plan ----------------------------------------------------------------------------
# family impl program subcommand size.  Mono runs smaller sizes where the full
# size would take minutes; ns per unit is what the table compares.
PLAN=$(
	cat <<'EOF'
fib serial serial fib 35
fib weft-fj weft_bench fib-fj 35
fib weft-task weft_bench fib-task 35
fib tbb tbb_bench fib 35
fib omp-gcc omp_gcc fib 35
fib omp-clang omp_clang fib 35
fib mono-task mono fib 27
fib mono-invoke mono fib-invoke 27
skynet serial serial skynet 6
skynet weft-task weft_bench skynet-task 6
skynet weft-invoke weft_bench skynet-inv 6
skynet tbb tbb_bench skynet 6
skynet omp-gcc omp_gcc skynet 6
skynet omp-clang omp_clang skynet 6
skynet mono-task mono skynet 6
nqueens serial serial nqueens 13
nqueens weft-task weft_bench nqueens-task 13
nqueens weft-invoke weft_bench nqueens-inv 13
nqueens tbb tbb_bench nqueens 13
nqueens omp-gcc omp_gcc nqueens 13
nqueens omp-clang omp_clang nqueens 13
nqueens mono-task mono nqueens 11
pfor serial serial pfor 10000000
pfor weft weft_bench pfor 10000000
pfor tbb tbb_bench pfor 10000000
pfor omp-gcc omp_gcc pfor 10000000
pfor omp-clang omp_clang pfor 10000000
pfor mono-parallel-for mono pfor 10000000
chain-async weft weft_tpl chain-async 1000000
chain-async mono mono chain-async 200000
chain-sync weft weft_tpl chain-sync 1000000
chain-sync mono mono chain-sync 200000
pingpong weft weft_tpl pingpong 100000
pingpong mono mono pingpong 100000
fanout weft weft_tpl fanout 1000000
fanout mono mono fanout 200000
whenany weft weft_tpl whenany 1000
whenany mono mono whenany 1000
cancel weft weft_tpl cancel 1000000
cancel mono mono cancel 100000
roundtrip weft weft_tpl roundtrip 100000
roundtrip mono mono roundtrip 20000
mem weft weft_mem mem 1000000
EOF
)
FAMILIES="fib skynet nqueens pfor chain-async chain-sync pingpong fanout whenany cancel roundtrip mem"

# run_one FAMILY IMPL PROG SUB SIZE WORKERS: run one program, check it, record
run_one() {
	local fam=$1 impl=$2 prog=$3 sub=$4 size=$5 w=$6 cmd out rc line
	case $prog in
	mono)
		cmd=(mono "$B/Bench.exe")
		# Mono refuses SetMaxThreads below ProcessorCount: give it one CPU.
		[ "$w" = 1 ] && cmd=(taskset -c 0 "${cmd[@]}")
		;;
	*) cmd=("$B/$prog") ;;
	esac
	cmd+=("$sub" "$w" "$size")
	out=$(timeout "$TIMEOUT" "${cmd[@]}" 2>"$LOGS/last.err")
	rc=$?
	if [ $rc -ne 0 ]; then
		echo >&2
		echo "$out" >&2
		cat "$LOGS/last.err" >&2
		if [ $rc = 3 ]; then
			die "WRONG ANSWER from $impl ($fam, $w worker(s)): ${cmd[*]}"
		elif [ $rc = 124 ]; then
			die "TIMEOUT (${TIMEOUT}s) in $impl ($fam, $w worker(s)): ${cmd[*]}"
		fi
		die "FAILED (exit $rc) in $impl ($fam, $w worker(s)): ${cmd[*]}"
	fi
	line=$(grep '^RESULT ' <<<"$out" | tail -1)
	if [[ $line != *" impl=$impl "* ]] || [[ $line != *" workers=$w "* ]]; then
		echo "$out" >&2
		die "no RESULT line for $impl ($fam, $w worker(s)) from: ${cmd[*]}"
	fi
	echo "$line" >>"$RAW"
	grep '^NOTE ' <<<"$out" >>"$RAW"
	return 0
}

start=$(date +%s)
for ((r = 0; r < ROUNDS; r++)); do
	printf 'run.sh: round %d/%d:' $((r + 1)) "$ROUNDS"
	for fam in $FAMILIES; do
		want "$fam" || continue
		mapfile -t entries < <(awk -v f="$fam" '$1 == f' <<<"$PLAN")
		n=${#entries[@]}
		[ "$n" -gt 0 ] || continue
		printf ' %s' "$fam"
		for w in 1 2; do
			for ((i = 0; i < n; i++)); do
				# rotate the order every round so no implementation always runs first
				read -r _ impl prog sub size <<<"${entries[$(((i + r) % n))]}"
				[[ $prog == weft_* ]] && [ $WEFT = 0 ] && continue
				if [ "$w" = 2 ] && { [ "$impl" = serial ] || [ "$fam" = mem ]; }; then
					continue
				fi
				run_one "$fam" "$impl" "$prog" "$sub" "$size" "$w"
			done
		done
	done
	echo
done

# ---- instructions per call (callgrind) -------------------------------------------
fib_calls() { # 2 fib(n+1) - 1
	local a=0 b=1 i t
	for ((i = 0; i <= $1; i++)); do t=$((a + b)); a=$b; b=$t; done
	echo $((2 * a - 1))
}
instr() { # PROG SUB N -> instructions callgrind collected
	local log=$LOGS/callgrind.$1.$2.$3.log
	BENCH_NO_WARMUP=1 timeout "$TIMEOUT" valgrind --tool=callgrind \
		--callgrind-out-file=/dev/null "$B/$1" "$2" 1 "$3" >"$log" 2>&1 ||
		{ cat "$log" >&2; die "callgrind run of $1 $2 $3 failed"; }
	sed -n 's/^==[0-9]*== Collected : \([0-9]*\).*/\1/p' "$log" | tail -1
}
if [ $CALLGRIND = 1 ] && { want callgrind || want fib; }; then
	echo "run.sh: callgrind: instructions per fib call (1 worker, fib 20 and 25)"
	n1=20 n2=25
	dc=$(($(fib_calls $n2) - $(fib_calls $n1)))
	for spec in "serial serial fib" "weft-fj weft_bench fib-fj" "weft-task weft_bench fib-task" \
		"tbb tbb_bench fib" "omp-gcc omp_gcc fib" "omp-clang omp_clang fib"; do
		read -r impl prog sub <<<"$spec"
		[[ $prog == weft_* ]] && [ $WEFT = 0 ] && continue
		i1=$(instr "$prog" "$sub" $n1)
		i2=$(instr "$prog" "$sub" $n2)
		if [ -z "$i1" ] || [ -z "$i2" ]; then
			die "no instruction count from callgrind for $impl"
		fi
		per=$(awk -v a="$i1" -v b="$i2" -v c="$dc" 'BEGIN { printf "%.1f", (b - a) / c }')
		echo "CALLGRIND impl=$impl n1=$n1 n2=$n2 i1=$i1 i2=$i2 per=$per" >>"$RAW"
	done
fi

echo "run.sh: done in $(($(date +%s) - start)) s"
echo
python3 "$HERE/tools/report.py" --raw "$RAW" --md "$OUT/latest.md" || die "report failed"
echo
echo "run.sh: table written to ${OUT#"$ROOT"/}/latest.md"
