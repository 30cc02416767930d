# Dashboard figures (docs/benchmarks.md): 20 dashboards on 200 hollow nodes
# and 5,000 tasks against an `orch server` process, and the cost of one
# live update of a page. ui-screenshots refreshes docs/img/*.png.
.PHONY: bench-ui ui-screenshots
bench-ui:
	$(GO) test -run '^$$' -bench BenchmarkDashboard20 -benchtime 3x -timeout 30m ./test/bench/
	$(GO) test -run '^$$' -bench BenchmarkFragment ./pkg/ui/

ui-screenshots:
	ORCH_UI_SCREENSHOTS=$(CURDIR)/docs/img $(GO) test -count=1 -run 'TestDashboardIn(Chromium|Firefox)' ./test/ui/
