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
// A subscription owns one supervisor goroutine, which holds all connection
// state (the current rung of the ladder, consecutive failures, the backoff
// sequence, which transports answered "unsupported"), and one reader
// goroutine per open stream. A reader pulls messages from its stream, drops
// duplicates, and puts the rest in a bounded queue; [Subscription.Next]
// takes them out. When the queue is full the reader stops reading, so the
// server and the socket's buffers hold the rest (back-pressure); nothing is
// dropped.
//
// On a lower rung the supervisor starts an upgrade probe every
// UpgradeInterval: a second stream on a better transport, opened from the
// current cursor, whose reader is held back until the stream proves live
// (it delivers a message, or stays healthy for two heartbeat periods). Then
// the old stream is closed and waited for, and the new reader is released:
// make before break. The probe starts from the cursor at probe time, so the
// messages both streams carry are dropped by the dedupe window.
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
