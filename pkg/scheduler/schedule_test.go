package scheduler

import (
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/orch-project/orch/pkg/model"
)

const big = 1 << 20 // room for anything

type scheduleCase struct {
	name  string
	snap  Snapshot
	reqs  []Request
	want  map[string]string // task → node, "" for unplaced; only listed tasks are checked
	count string            // perNode(res), when set
	msgs  map[string]string // task → Unplaced.Message
	check func(t *testing.T, res Result)
}

func runCases(t *testing.T, cases []scheduleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Assertions must hold whatever the seed: ties are random.
			for seed := int64(1); seed <= 8; seed++ {
				res := Schedule(tc.snap, tc.reqs, seed)
				got := placed(res)
				for task, node := range tc.want {
					if got[task] != node {
						t.Errorf("seed %d: task %s on %q, want %q (all: %v; unplaced: %v)", seed, task, got[task], node, got, messages(res))
					}
				}
				if tc.count != "" {
					if c := perNode(res); c != tc.count {
						t.Errorf("seed %d: per node got %q, want %q", seed, c, tc.count)
					}
				}
				gotMsgs := messages(res)
				for task, msg := range tc.msgs {
					if gotMsgs[task] != msg {
						t.Errorf("seed %d: message for %s:\n got  %q\n want %q", seed, task, gotMsgs[task], msg)
					}
				}
				if tc.check != nil {
					tc.check(t, res)
				}
				if t.Failed() {
					return
				}
			}
		})
	}
}

func TestStrategies(t *testing.T) {
	runCases(t, []scheduleCase{
		{
			name: "binpack memory prefers least remaining memory",
			snap: nodes(n("a", big, 8192), n("b", big, 2048), n("c", big, 4096)),
			reqs: r("x", "service:web", 0, 1024).strategy("binpack", "memory").times(3),
			want: map[string]string{"x-0": "b", "x-1": "b", "x-2": "c"},
		},
		{
			name: "binpack cpu prefers least remaining cpu",
			snap: nodes(n("a", 1024, big), n("b", 2048, big), n("c", 512, big)),
			reqs: r("x", "service:web", 512, 0).strategy("binpack", "cpu").times(4),
			want: map[string]string{"x-0": "c", "x-1": "a", "x-2": "a", "x-3": "b"},
		},
		{
			name: "binpack counts tasks already on the node",
			snap: nodes(n("a", big, 8192).task("service:other", 0, 7000), n("b", big, 4096)),
			reqs: reqs(r("x", "service:web", 0, 1024).strategy("binpack", "memory")),
			want: map[string]string{"x": "a"},
		},
		{
			name:  "spread by instanceId evens out the group",
			snap:  nodes(n("a", big, big), n("b", big, big), n("c", big, big)),
			reqs:  r("x", "service:web", 1, 1).strategy("spread", "instanceId").times(6),
			count: "a=2 b=2 c=2",
		},
		{
			name: "spread by host counts only tasks of the same group",
			snap: nodes(
				n("a", big, big).task("service:web", 1, 1).task("service:web", 1, 1),
				n("b", big, big).task("service:other", 1, 1).task("service:other", 1, 1).task("service:other", 1, 1),
				n("c", big, big).task("service:web", 1, 1)),
			reqs:  r("x", "service:web", 1, 1).strategy("spread", "host").times(3),
			count: "b=2 c=1",
		},
		{
			name: "default strategy spreads by instance",
			snap: nodes(
				n("a", big, big).task("service:web", 1, 1).task("service:web", 1, 1),
				n("b", big, big),
				n("c", big, big).task("service:web", 1, 1)),
			reqs:  r("x", "service:web", 1, 1).times(3),
			count: "b=2 c=1",
		},
		{
			name: "default strategy falls back from probing when the group is everywhere",
			snap: nodes(
				n("a", big, big).task("service:web", 1, 1).task("service:web", 1, 1),
				n("b", big, big).task("service:web", 1, 1),
				n("c", big, big).task("service:web", 1, 1).task("service:web", 1, 1)),
			reqs: r("x", "service:web", 1, 1).times(1),
			want: map[string]string{"x-0": "b"},
		},
		{
			name: "spread by attribute balances values, then instances",
			snap: nodes(
				n("a", big, big).attr("zone", "z1"), n("b", big, big).attr("zone", "z1"),
				n("c", big, big).attr("zone", "z2"), n("d", big, big).attr("zone", "z2"),
				n("e", big, big).attr("zone", "z3")),
			reqs:  r("x", "service:web", 1, 1).strategy("spread", "attribute:zone").strategy("spread", "instanceId").times(6),
			count: "a=1 b=1 c=1 d=1 e=2",
		},
		{
			name: "spread by attribute counts the group's existing tasks per value",
			snap: nodes(
				n("a", big, big).attr("zone", "z1").task("service:web", 1, 1).task("service:web", 1, 1),
				n("b", big, big).attr("zone", "z1"),
				n("c", big, big).attr("zone", "z2").task("service:other", 1, 1)),
			reqs: r("x", "service:web", 1, 1).strategy("spread", "attribute:zone").times(2),
			want: map[string]string{"x-0": "c", "x-1": "c"},
		},
		{
			name:  "nodes without the attribute form a value of their own",
			snap:  nodes(n("a", big, big).attr("zone", "z1"), n("b", big, big)),
			reqs:  r("x", "service:web", 1, 1).strategy("spread", "attribute:zone").times(4),
			count: "a=2 b=2",
		},
		{
			name: "spread by zone, then binpack memory within the zone",
			snap: nodes(
				n("a", big, 4096).attr("zone", "z1"), n("b", big, 2048).attr("zone", "z1"),
				n("c", big, 8192).attr("zone", "z2"), n("d", big, 1024).attr("zone", "z2")),
			reqs: r("x", "service:web", 1, 512).strategy("spread", "attribute:zone").strategy("binpack", "memory").times(4),
			// x-0: zones tie, d has the least memory; x-1: z1 has fewer, b;
			// x-2: tie again, d (512 left); x-3: z1, b (1536 left).
			want: map[string]string{"x-0": "d", "x-1": "b", "x-2": "d", "x-3": "b"},
		},
		{
			name: "two attribute spreads: zone first, then rack",
			snap: nodes(
				n("a", big, big).attr("zone", "z1").attr("rack", "r1"),
				n("b", big, big).attr("zone", "z1").attr("rack", "r2"),
				n("c", big, big).attr("zone", "z2").attr("rack", "r1"),
				n("d", big, big).attr("zone", "z2").attr("rack", "r2")),
			reqs: r("x", "service:web", 1, 1).
				strategy("spread", "attribute:zone").strategy("spread", "attribute:rack").strategy("spread", "instanceId").times(4),
			// Whichever node comes first, the second lands in the other
			// zone and the other rack, and so on: one task per node.
			count: "a=1 b=1 c=1 d=1",
		},
		{
			name: "binpack then spread: ties on memory broken by instance spread",
			snap: nodes(n("a", big, 4096), n("b", big, 4096), n("c", big, 8192)),
			reqs: r("x", "service:web", 1, 1024).strategy("binpack", "memory").strategy("spread", "instanceId").times(4),
			// a and b tie at first; binpack then keeps filling the one chosen.
			check: func(t *testing.T, res Result) {
				c := perNode(res)
				if c != "a=4" && c != "b=4" {
					t.Errorf("per node %q, want all four on a or on b", c)
				}
			},
		},
		{
			name: "random uses feasible nodes only",
			snap: nodes(n("a", big, big), n("b", 1, 1), n("c", big, big)),
			reqs: r("x", "service:web", 64, 64).strategy("random", "").times(20),
			check: func(t *testing.T, res Result) {
				if len(res.Placements) != 20 {
					t.Fatalf("placed %d, want 20", len(res.Placements))
				}
				if strings.Contains(perNode(res), "b=") {
					t.Errorf("placed on b, which is too small: %s", perNode(res))
				}
			},
		},
		{
			name: "random spreads roughly evenly",
			snap: nodes(n("a", big, big), n("b", big, big), n("c", big, big), n("d", big, big)),
			reqs: r("x", "service:web", 1, 1).strategy("random", "").times(400),
			check: func(t *testing.T, res Result) {
				c := map[string]int{}
				for _, p := range res.Placements {
					c[p.Node]++
				}
				for _, node := range []string{"a", "b", "c", "d"} {
					if c[node] < 60 || c[node] > 140 {
						t.Errorf("node %s got %d of 400 tasks, want about 100: %v", node, c[node], c)
					}
				}
			},
		},
		{
			name: "random in the chain makes later strategies irrelevant and keeps earlier ones",
			snap: nodes(n("a", big, 1024), n("b", big, 1024), n("c", big, 8192)),
			reqs: r("x", "service:web", 1, 512).strategy("binpack", "memory").strategy("random", "").strategy("spread", "instanceId").times(4),
			check: func(t *testing.T, res Result) {
				if c := perNode(res); c != "a=2 b=2" {
					t.Errorf("per node %q, want a=2 b=2 (binpack first)", c)
				}
			},
		},
		{
			name: "strategy names are case-insensitive like field names",
			snap: nodes(n("a", big, 8192), n("b", big, 2048)),
			reqs: reqs(r("x", "g", 1, 1).strategy("BINPACK", "Memory")),
			want: map[string]string{"x": "b"},
		},
	})
}

func TestConstraints(t *testing.T) {
	runCases(t, []scheduleCase{
		{
			name: "distinctInstance allows one task of the group per node",
			snap: nodes(n("a", big, big), n("b", big, big), n("c", big, big)),
			reqs: r("x", "service:web", 1, 1).distinct().times(4),
			msgs: map[string]string{
				"x-3": "no node can take it: 3 nodes checked, 3 already run a task of group service:web (distinctInstance)",
			},
			check: func(t *testing.T, res Result) {
				if c := perNode(res); c != "a=1 b=1 c=1" {
					t.Errorf("per node %q", c)
				}
			},
		},
		{
			name: "distinctInstance counts tasks already placed",
			snap: nodes(n("a", big, big).task("service:web", 1, 1), n("b", big, big)),
			reqs: r("x", "service:web", 1, 1).distinct().strategy("binpack", "memory").times(2),
			want: map[string]string{"x-0": "b", "x-1": ""},
			msgs: map[string]string{
				"x-1": "no node can take it: 2 nodes checked, 2 already run a task of group service:web (distinctInstance)",
			},
		},
		{
			name: "memberOf on an attribute",
			snap: nodes(n("a", big, big).attr("os", "linux"), n("b", big, big).attr("os", "windows")),
			reqs: r("x", "g", 1, 1).memberOf("attribute:os == windows").times(3),
			want: map[string]string{"x-0": "b", "x-1": "b", "x-2": "b"},
		},
		{
			name: "memberOf with ECS attribute names and numbers",
			snap: nodes(
				n("a", big, big).attr("os", "linux").attr("gen", "9"),
				n("b", big, big).attr("os", "linux").attr("gen", "10"),
				n("c", big, big).attr("os", "windows").attr("gen", "12")),
			reqs: reqs(r("x", "g", 1, 1).memberOf("attribute:ecs.os-type == linux and attribute:gen >= 10")),
			want: map[string]string{"x": "b"},
		},
		{
			name: "memberOf built-ins: node name, hostname fallback, instanceId",
			snap: nodes(n("a", big, big), n("b", big, big).attr("hostname", "host-b"), n("c", big, big)),
			reqs: reqs(
				r("by-node", "g1", 1, 1).memberOf("attribute:node == c"),
				r("by-host", "g2", 1, 1).memberOf("attribute:hostname in (host-b, zzz)"),
				r("by-host-fallback", "g3", 1, 1).memberOf("attribute:hostname == a"),
				r("by-instance", "g4", 1, 1).memberOf("instanceId =~ 'c|d'"),
			),
			want: map[string]string{"by-node": "c", "by-host": "b", "by-host-fallback": "a", "by-instance": "c"},
		},
		{
			name: "memberOf task:group affinity",
			snap: nodes(n("a", big, big), n("b", big, big).task("service:db", 1, 1), n("c", big, big)),
			reqs: r("x", "service:web", 1, 1).memberOf("task:group == service:db").times(2),
			want: map[string]string{"x-0": "b", "x-1": "b"},
		},
		{
			name: "memberOf task:group anti-affinity with itself is re-evaluated as tasks land",
			snap: nodes(n("a", big, big), n("b", big, big), n("c", big, big)),
			reqs: r("x", "service:web", 1, 1).memberOf("task:group != service:web").strategy("binpack", "memory").times(4),
			msgs: map[string]string{
				"x-3": "no node can take it: 3 nodes checked, 3 do not match memberOf(task:group != service:web)",
			},
			check: func(t *testing.T, res Result) {
				if c := perNode(res); c != "a=1 b=1 c=1" {
					t.Errorf("per node %q", c)
				}
			},
		},
		{
			name: "memberOf task:group sees placements of earlier requests in the pass",
			snap: nodes(n("a", big, big), n("b", big, big), n("c", big, big)),
			reqs: reqs(
				r("db", "service:db", 1, 1).memberOf("attribute:node == c"),
				r("web", "service:web", 1, 1).memberOf("task:group == service:db"),
			),
			want: map[string]string{"db": "c", "web": "c"},
		},
		{
			name: "several constraints: the first failing one is counted",
			snap: nodes(
				n("a", big, big).attr("os", "windows"),
				n("b", big, big).attr("os", "linux").attr("gpu", "1").task("service:web", 1, 1),
				n("c", big, big).attr("os", "linux").attr("gpu", "0")),
			reqs: reqs(r("x", "service:web", 1, 1).memberOf("attribute:os == linux").distinct().memberOf("attribute:gpu > 0")),
			msgs: map[string]string{
				"x": "no node can take it: 3 nodes checked, 1 already runs a task of group service:web (distinctInstance), " +
					"1 does not match memberOf(attribute:gpu > 0), 1 does not match memberOf(attribute:os == linux)",
			},
		},
	})
}

func TestPortsAndNodeStates(t *testing.T) {
	runCases(t, []scheduleCase{
		{
			name: "static ports avoid reserved and used ports",
			snap: nodes(n("a", big, big).reserve("tcp/80"), n("b", big, big).task("g", 1, 1, "tcp/80"), n("c", big, big)),
			reqs: r("x", "service:web", 1, 1).ports("tcp/80").times(2),
			want: map[string]string{"x-0": "c", "x-1": ""},
			msgs: map[string]string{"x-1": "no node can take it: 3 nodes checked, 3 have port tcp/80 in use"},
		},
		{
			name: "protocols are distinct ports",
			snap: nodes(n("a", big, big).reserve("udp/53")),
			reqs: reqs(r("x", "g", 1, 1).ports("tcp/53")),
			want: map[string]string{"x": "a"},
		},
		{
			name: "ports are normalized: case and missing protocol",
			snap: nodes(n("a", big, big).reserve("80"), n("b", big, big).task("g", 1, 1, "TCP/80")),
			reqs: reqs(r("x", "g", 1, 1).ports("tcp/80")),
			msgs: map[string]string{"x": "no node can take it: 2 nodes checked, 2 have port tcp/80 in use"},
		},
		{
			name: "two ports: the first one in use is named",
			snap: nodes(n("a", big, big).reserve("tcp/443")),
			reqs: reqs(r("x", "g", 1, 1).ports("tcp/80", "tcp/443")),
			msgs: map[string]string{"x": "no node can take it: 1 node checked, 1 has port tcp/443 in use"},
		},
		{
			name:  "dead and draining nodes take nothing",
			snap:  nodes(n("a", big, big).dead(), n("b", big, big).draining(), n("c", big, big)),
			reqs:  r("x", "g", 1, 1).times(3),
			count: "c=3",
		},
		{
			name: "the example message",
			snap: nodes(n("a", big, 2048), n("b", big, 2048), n("c", big, big).draining()),
			reqs: reqs(r("x", "g", 1, 4096)),
			msgs: map[string]string{"x": "no node can take it: 3 nodes checked, 2 lack 4096 MiB memory, 1 is draining"},
		},
		{
			name: "capacity fits exactly, then not",
			snap: nodes(n("a", 1024, 2048).task("g", 512, 1024)),
			reqs: r("x", "g", 512, 1024).times(2),
			want: map[string]string{"x-0": "a", "x-1": ""},
			msgs: map[string]string{"x-1": "no node can take it: 1 node checked, 1 lacks 512 cpu units"},
		},
		{
			name: "zero requirements fit even on an over-committed node",
			snap: nodes(n("a", 1024, 1024).task("g", 2048, 2048)),
			reqs: reqs(r("x", "g", 0, 0), r("y", "g", 1, 0)),
			want: map[string]string{"x": "a", "y": ""},
		},
		{
			name: "no nodes registered",
			snap: Snapshot{},
			reqs: reqs(r("x", "g", 1, 1)),
			msgs: map[string]string{"x": "no node can take it: no nodes registered"},
		},
		{
			name: "shapes with the same filters share an explanation until placements change the cluster",
			snap: nodes(n("a", 1024, 1024), n("b", 1024, 4096)),
			reqs: reqs(
				r("A", "g1", 512, 8192),
				r("A2", "g4", 512, 8192).strategy("binpack", "memory"),
				r("C", "g3", 1024, 1).memberOf("attribute:node == a"),
				r("B", "g2", 512, 8192),
			),
			want: map[string]string{"C": "a"},
			msgs: map[string]string{
				"A":  "no node can take it: 2 nodes checked, 2 lack 8192 MiB memory",
				"A2": "no node can take it: 2 nodes checked, 2 lack 8192 MiB memory",
				"B":  "no node can take it: 2 nodes checked, 1 lacks 512 cpu units, 1 lacks 8192 MiB memory",
			},
		},
		{
			name: "earlier requests win scarce capacity",
			snap: nodes(n("a", 1024, 1024)),
			reqs: reqs(r("first", "g1", 1024, 1), r("second", "g2", 1024, 1)),
			want: map[string]string{"first": "a", "second": ""},
		},
	})
}

func TestReasonsCountEachNodeOnce(t *testing.T) {
	snap := nodes(
		n("dead", 1, 1).dead(),
		n("draining", 1, 1).draining(),
		n("inactive", 1, 1),
		n("port", 1, 1).reserve("tcp/80"),
		n("cpu", 512, big),
		n("mem", big, 1024))
	snap.Nodes[2].Status = "INACTIVE"
	res := Schedule(snap, reqs(r("x", "g", 1024, 2048).ports("tcp/80")), 1)
	if len(res.Unplaced) != 1 || len(res.Placements) != 0 {
		t.Fatalf("got %+v", res)
	}
	u := res.Unplaced[0]
	want := map[string]int{
		"is not heartbeating": 1, "is draining": 1, "is inactive": 1, "has port tcp/80 in use": 1,
		"lack 1024 cpu units": 1, "lack 2048 MiB memory": 1,
	}
	if !maps.Equal(u.Reasons, want) || u.NodesChecked != 6 || u.TaskID != "x" {
		t.Errorf("got %+v\nwant reasons %v, 6 nodes checked", u, want)
	}
	wantMsg := "no node can take it: 6 nodes checked, 1 has port tcp/80 in use, 1 is draining, 1 is inactive, " +
		"1 is not heartbeating, 1 lacks 1024 cpu units, 1 lacks 2048 MiB memory"
	if u.Message != wantMsg {
		t.Errorf("message\n got  %q\n want %q", u.Message, wantMsg)
	}
}

func TestInvalidRequestsAreExplained(t *testing.T) {
	snap := nodes(n("a", big, big))
	cases := []struct {
		name string
		req  *reqB
		want string
	}{
		{"bad expression", r("x", "g", 1, 1).memberOf("attribute:os == "),
			"cannot be placed: placementConstraints[0].expression: memberOf expression at column 17: expected value after '=='"},
		{"unknown constraint", r("x", "g", 1, 1), // type set below
			`cannot be placed: placementConstraints[0].type: unknown constraint type "sameHost"; use distinctInstance or memberOf`},
		{"unknown strategy", r("x", "g", 1, 1).strategy("pack", ""),
			`cannot be placed: placementStrategy[0].type: unknown strategy type "pack"; use binpack, spread or random`},
		{"bad binpack field", r("x", "g", 1, 1).strategy("binpack", "disk"),
			`cannot be placed: placementStrategy[0].field: binpack needs field cpu or memory, got "disk"`},
		{"bad spread field", r("x", "g", 1, 1).strategy("spread", "attribute:"),
			`cannot be placed: placementStrategy[0].field: spread needs field instanceId, host or attribute:NAME, got "attribute:"`},
		{"port twice", r("x", "g", 1, 1).ports("tcp/80", "TCP/80"),
			"cannot be placed: host port tcp/80 is mapped twice in the task"},
		{"negative", r("x", "g", -1, 1),
			"cannot be placed: requirements must not be negative (cpu -1, memory 1 MiB)"},
	}
	cases[1].req.Constraints = []model.PlacementConstraint{{Type: "sameHost"}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := Schedule(snap, []Request{tc.req.Request, r("ok", "g2", 1, 1).Request}, 1)
			if got := messages(res)["x"]; got != tc.want {
				t.Errorf("message\n got  %q\n want %q", got, tc.want)
			}
			if placed(res)["ok"] != "a" {
				t.Errorf("a valid request next to an invalid one was not placed: %+v", res)
			}
		})
	}
}

func TestDuplicateTaskIDPlacedOnce(t *testing.T) {
	res := Schedule(nodes(n("a", big, big)), reqs(r("x", "g", 1, 1), r("x", "g", 1, 1)), 1)
	if len(res.Placements) != 1 || len(res.Unplaced) != 0 {
		t.Errorf("got %+v, want one placement", res)
	}
}

func TestResultKeepsRequestOrder(t *testing.T) {
	rs := reqs(r("c", "g1", 1, 1), r("a", "g2", 1, 1), r("b", "g1", 1, 1), r("z", "g3", big*2, 1), r("d", "g2", 1, 1))
	res := Schedule(nodes(n("n1", big, big)), rs, 1)
	var ids []string
	for _, p := range res.Placements {
		ids = append(ids, p.TaskID)
	}
	if want := []string{"c", "a", "b", "d"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("placements in order %v, want %v", ids, want)
	}
}

func TestScheduleDoesNotModifyInput(t *testing.T) {
	snap := nodes(n("a", big, big).attr("zone", "z").task("g", 1, 1, "tcp/1"), n("b", big, big))
	rs := r("x", "g", 1, 1).ports("TCP/2").strategy("spread", "attribute:zone").times(3)
	before := deepCopy(t, snap, rs)
	Schedule(snap, rs, 1)
	if after := deepCopy(t, snap, rs); !reflect.DeepEqual(before, after) {
		t.Errorf("Schedule changed its input")
	}
}

func deepCopy(t *testing.T, snap Snapshot, rs []Request) any {
	t.Helper()
	type both struct {
		S Snapshot
		R []Request
	}
	b := both{S: snap, R: rs}
	var out both
	out.R = append([]Request(nil), b.R...)
	for _, nd := range b.S.Nodes {
		nd.Tasks = append([]PlacedTask(nil), nd.Tasks...)
		nd.Attributes = maps.Clone(nd.Attributes)
		nd.ReservedPorts = append([]string(nil), nd.ReservedPorts...)
		out.S.Nodes = append(out.S.Nodes, nd)
	}
	return out
}
