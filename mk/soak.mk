# Soak (issue 12): an `orch server` process with 20 hollow agents and a
# service, under 200 API clients, a rogue agent and unsigned 8 MiB floods;
# checks RSS, no 5xx for client mistakes, heartbeats, placements and the
# service's count. `make test` runs it for 30 s (go test ./test/...).
#
#   make soak [SOAK_DURATION=3m]
SOAK_DURATION ?= 3m

.PHONY: soak
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -run '^TestSoak$$' -v -timeout 30m ./test/soak/
