// Package backoff makes the delays a subscription waits between connection
// attempts.
//
// A [Policy] is a shareable description of a delay sequence (how it starts,
// grows and is capped); its NewBackOff method hands each subscription its own
// [BackOff], the two-method interface of github.com/cenkalti/backoff/v4, so
// any BackOff from that package or elsewhere plugs in too. Two policies are
// built in:
//
//   - [Exponential], the default: 1s doubling up to 30s. It is cenkalti's
//     ExponentialBackOff with its 15-minute give-up switched off.
//   - [Linear]: 1s, 2s, 3s, ... up to 30s.
//
// Both spread each delay uniformly over ±50% by default, so that a crowd of
// clients dropped by one server restart do not all knock again at the same
// instant. The jitter math is the pure function [Jitter], and its random
// source is a field of the policy, so tests can pin it.
//
// Neither policy ever gives up: NextBackOff never returns [Stop]. A
// subscription ends on a permanent failure or when its owner closes it, not
// because it has been unlucky for a while. The client calls Reset once a
// connection has delivered a message, so the next outage starts again from
// the shortest delay. A server's own hint (an HTTP Retry-After header, an SSE
// retry field) is applied on top with [WithFloor].
package backoff
