// Package scheduler decides where pending tasks run. It is a calculation,
// not a service: Schedule takes a Snapshot of the nodes (capacity, status,
// attributes, reserved ports and the tasks already on them), the pending
// Requests and a seed, and returns Placements plus, for every task it could
// not place, an Unplaced explanation. It reads no clock, starts no
// goroutine, does no I/O; randomness comes only from the seed, so a pass
// can be replayed exactly.
//
// # Semantics (Amazon ECS)
//
// A node takes a task when it is heartbeating, not DRAINING, has the cpu
// units and MiB of memory left (capacity minus the tasks on it and those
// placed earlier in the pass), none of the task's static host ports
// ("tcp/80") in use or reserved, and satisfies the placement constraints:
// distinctInstance (no other task of the same group on the node) and
// memberOf(expression) in the ECS cluster query language (package
// placement parses it and validates placements when they are registered).
// Filters run in this order, and an unplaced task counts every node under
// the first filter that rejected it:
//
//	no node can take it: 3 nodes checked, 2 lack 4096 MiB memory, 1 is draining
//
// Placement strategies order the nodes that pass, each one breaking the
// ties of the previous ones: binpack (cpu or memory: least remaining
// first), spread (instanceId or host: fewest tasks of the group on the
// node; attribute:NAME: fewest tasks of the group on nodes with the node's
// value) and random. The default is spread by instanceId. Remaining ties
// are broken at random, except that binpack prefers the node listed first.
//
// # How it stays fast
//
// Requests with the same group, requirements, ports, strategy and
// constraints form a shape and are placed together, shape after shape in
// the order of their first request. A shape never needs all nodes ranked:
//
//   - spread by instance, random, and both after one spread by attribute
//     (ECS's zone-balanced default) probe random nodes: a node running no
//     task of the group is already the best possible, so the first that
//     passes the filters wins (sampler, O(1) per task);
//   - binpack, alone or after one spread by attribute, walks a pass-wide
//     index of the nodes sorted by free cpu or memory, kept up to date with
//     a linear merge of the nodes placed on since (binpacker);
//   - anything else, and the rare case where probing keeps missing, builds
//     the exact ordering: heaps of candidates per attribute value, ordered
//     by the chain (placer, O(n) per shape, O(log n) per task).
//
// Each path gives the answer the strategy chain defines; the property
// tests check every decision against a naive reference model.
package scheduler
