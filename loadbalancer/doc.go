// Package loadbalancer places activations on invokers and follows each one
// to its end. It is upstream's sharding container-pool balancer: the home
// invoker by a hash of namespace and action, a coprime step to the next one
// with free memory slots, a random healthy invoker when all are full.
//
// It owns, for one controller:
//   - scheduling and memory bookings (balancer.go), shared containers of
//     actions with limits.concurrency above 1 counted as one booking;
//   - invoker health from pings on the health topic and test actions
//     (health.go), as upstream's InvokerPool and InvokerActor;
//   - publishing: Publish books an invoker, sends the ActivationMessage to
//     topic invoker<N> and returns a Promise a blocking caller waits on
//     (publish.go);
//   - the completion path: HandleAck consumes completed<C>, ends bookings
//     and delivers records to waiters;
//   - the lost path: a booking whose acknowledgement does not come in time,
//     or whose invoker stops pinging, is recorded as a whisk internal error
//     and delivered like any record (lost.go).
//
// Every booking ends once, in one place, which calls the publisher's
// release callback (the controller frees the namespace's throttle slot
// there). The balancer's goroutines are its own: Start begins them, Close
// stops and waits for them.
package loadbalancer
