// Package function is the domain side of Orch's functions: the event
// documents functions receive and the rules for what their answers mean.
// So far: the SQS event Lambda's queue event source sends (SQSEvent) and
// the reading of a batch's result, partial batch failures included
// (BatchOutcome). No HTTP and no AWS error codes here; the Runtime API and
// the environments are in pkg/agent/lambdart.
package function
