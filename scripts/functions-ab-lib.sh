# Sourced by the function A/B scripts (bench-functions-c16.sh,
# bench-trigger-ab.sh): builds test/functions at BASE and at the work tree
# into $OUT/base.test and $OUT/head.test. The base tree gets this tree's
# benchmark code, so both sides run the same benchmark and only the
# code under test differs. Run from the repository's root.
build_function_tests() {
	git archive "$BASE" | (mkdir -p "$OUT/base-tree" && tar -x -C "$OUT/base-tree")
	cp test/functions/*.go "$OUT/base-tree/test/functions/"
	(cd "$OUT/base-tree" && go test -c -o "$OUT/base.test" ./test/functions/)
	go test -c -o "$OUT/head.test" ./test/functions/
	echo "base $(git rev-parse --short "$BASE"), head $(git describe --always --dirty), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(date -u +%FT%TZ)"
}
