// Package model holds Orch's domain types and their rules: task definitions,
// tasks, nodes, services and queues, the requests that act on them
// (RunTaskInput, TaskStatusReport, NodeRegistration), and the sentinel
// errors every layer shares. It is the bottom of the dependency graph and
// imports only the standard library and pkg/placement (the placement
// language, a standard-library leaf), whose Validate every placement passes
// when it is registered (see ValidatePlacement).
//
// Field names follow the matching AWS API (ECS RegisterTaskDefinition, RunTask,
// DescribeTasks, ...) so that JSON written by AWS tools reads unchanged.
//
// A task's observed status (LastStatus) only ever moves forward through
// TaskStatusOrder; use Task.Advance rather than assigning LastStatus.
package model
