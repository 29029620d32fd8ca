// Package client follows a live data source over the best transport that
// works, behind one Subscribe call.
//
// The caller lists the transports a server offers, best first. A
// [Subscription] connects with the first that works, resumes from the last
// message id after every reconnect and every switch of transport, drops
// duplicates by id, detects dead connections through heartbeats, backs off
// between attempts, moves down the list when a transport fails and probes its
// way back up when a better one works again.
//
// # How the pieces fit
//
// A subscription has one driver: the goroutine that holds all connection
// state (the current rung of the ladder, consecutive failures, the backoff
// sequence, which transports answered "unsupported"), reads the stream in
// use itself, drops duplicates, and puts the rest in a bounded queue;
// [Subscription.Next] takes them out. When the stream ends the driver
// reconnects, backs off or moves down the ladder. When the queue is full the
// driver stops reading, so the server and the socket's buffers hold the rest
// (back-pressure); nothing is dropped. A stream that can push its messages
// ([transport.Pusher]) is consumed that way, which saves the goroutine that
// pulling from a push-style parser would need.
//
// On a lower rung the driver schedules an upgrade probe every
// UpgradeInterval, on a timer's goroutine: a second stream on a better
// transport, opened from the current cursor, whose messages are held back
// until it proves live (it delivers a message, or stays healthy for two
// heartbeat periods). It then takes over: the driver's stream is closed, its
// goroutine lets go, and the probe's goroutine carries on as the driver:
// make before break. The probe starts from the cursor at probe time, so the
// messages both streams carry are dropped by the dedupe window. If the
// driver's stream ends first, the probe is abandoned and waited for before
// the driver reconnects. An idle subscription thus costs one goroutine of its
// own, plus whatever its transport needs.
//
// Only one reader at a time may put messages in the queue, and it commits a
// message's id to the cursor and the dedupe window only once the message is in
// the queue, so closing a reader at any moment loses nothing.
//
// The resume cursor is the id of the last message accepted into the queue;
// every queued message is delivered before anything else, so resuming from it
// is the same as resuming from the last message delivered, without fetching
// the queued messages again.
//
// User code is never called by the subscription: messages are pulled with
// Next or Messages, events read from a channel, so no lock is ever held
// while user code runs.
package client
