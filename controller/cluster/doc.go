// Package cluster makes the controllers one Raft group
// (github.com/hashicorp/raft, its log and stable store in raft-boltdb, file
// snapshots, a TCP transport of its own). A single controller, and
// standalone, is a group of one.
//
// What is replicated is small and changes rarely (fsm.go): the controllers'
// addresses and whether the leader hears them (the balancers divide invoker
// memory by the live voters), the owner of each leader-only duty, and the
// last fired tick of each alarm schedule (committed before the trigger
// fires, so a new leader never repeats a tick). Activations, throttle
// counts, invoker pings and entities stay out of Raft: Kafka and the store
// hold them, and nothing on the invoke path waits for Raft.
//
// Leader-only duties (Duty) run on the leader alone, from the moment it has
// applied its predecessors' log until it loses the leadership.
package cluster
