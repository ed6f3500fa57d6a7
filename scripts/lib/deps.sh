# scripts/lib/deps.sh - sourced by the scripts in scripts/: makes sure the
# Debian packages the build needs are installed.
#
# weft_need_packages PKG...   returns when all are installed; as root it
#                             installs the missing ones (apt-get, no
#                             questions asked), otherwise it prints the
#                             apt-get line to run and exits 1.

# The library, the release build and the demo.
WEFT_PACKAGES_BUILD=(cmake ninja-build gcc g++ make pkg-config binutils libc6-dev)
# The tests: also clang with its sanitizer runtimes (the tsan preset) and
# llvm-symbolizer for readable sanitizer reports.
WEFT_PACKAGES_TEST=("${WEFT_PACKAGES_BUILD[@]}" clang llvm-14 libclang-rt-14-dev
	valgrind)
# Everything a developer uses: also the formatter.
WEFT_PACKAGES_DEV=("${WEFT_PACKAGES_TEST[@]}" clang-format gdb)

weft_need_packages() {
	local missing=() p
	if ! command -v dpkg-query >/dev/null 2>&1; then
		# Not a Debian system: check the commands only.
		for p in cmake ninja gcc g++ clang; do
			command -v "$p" >/dev/null 2>&1 || missing+=("$p")
		done
		if [ ${#missing[@]} -gt 0 ]; then
			echo "weft: missing commands: ${missing[*]} (install them with your package manager)" >&2
			exit 1
		fi
		return 0
	fi
	for p in "$@"; do
		dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -eq 0 ]; then
		echo "weft: installing ${missing[*]}" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q </dev/null
		apt-get install -y -q --no-install-recommends \
			-o Dpkg::Options::=--force-confdef \
			-o Dpkg::Options::=--force-confold \
			"${missing[@]}" </dev/null
	else
		echo "weft: these Debian packages are missing: ${missing[*]}" >&2
		echo "Install them as root, then run this again:" >&2
		echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi
}

weft_jobs() {
	nproc 2>/dev/null || echo 2
}
