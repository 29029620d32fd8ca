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
// The queue hands messages over in batches. Waking a parked Next costs more
// than decoding a small message, so a stream that says when it is about to
// wait for the network ([transport.ReadNotifier]: every built-in transport
// but Socket.IO does) has its messages queued without a wake-up, and the
// queue wakes Next once, before that wait, for all the messages the last
// read brought. Nothing is held back behind a wait: a full queue, the end of
// a stream and every read that may block hand over what is queued. Each
// stream is read by a goroutine started once it is open, which takes over
// as the driver, so the stack that connecting grew (TLS, HTTP, handshakes)
// is not kept for the life of the connection.
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
// Messages are pulled with Next or Messages and events read from a channel,
// so the subscription never calls user code to deliver. The hooks that adapt
// it to a server (Config.Decoder, Config.Credentials, and the WebSocket's
// Hello, Control and AppPing) run on the driver's or a probe's goroutine, or
// the heartbeat's timer, with none of the subscription's locks held (calls
// of Credentials are serialised by a mutex of their own); they may call the
// Subscription's methods.
//
// # Servers with protocols of their own
//
// One decoding mechanism serves every transport: a [transport.Decoder] (for
// instance one built by [transport.Fields] from field paths) given in
// Config.Decoder reaches every attempt in its [transport.Request], and each
// transport applies it to what it frames: a WebSocket frame, the data of an
// SSE event without id, a poll body. A decoder may also report a gap
// ([transport.Message] with Gap set), which becomes [EventGap].
//
// Credentials are fetched per attempt: the driver (and a probe) asks
// Config.Credentials before every Open, and once more, with the refusal, when
// the server answers 401; a stream refused later (a poll whose token expired)
// reconnects at once with refreshed credentials. Every value the hook returns
// is remembered (a bounded set) and scrubbed from the text of events, logs
// and errors.
//
// [Subscription.Send] uses whichever stream the driver reads (the link,
// updated when a stream starts or ends and when a probe takes over); while
// there is none it waits for the next. [Subscription.Pause] ends the
// driver's stream and probe and parks the driver until Resume, with the
// cursor and dedupe window kept.
//
// # Continuity
//
// Whenever the subscription cannot prove that nothing was lost, it says so:
// a message reusing the id of a different one (a server restarted with a
// fresh log) is delivered and reported ([EventReset]); an oversized message
// that fails every attempt at the same cursor is skipped by its id
// ([EventSkipped]) or, without an id, ends the subscription with a
// [*StuckError]; a server that reports it could not resume gives [EventGap].
// Before a rung whose streams only went silent is left, the long poll or
// poll below is asked for one answer from the same cursor, so that a quiet
// server keeps its best transport ([EventQuiet]) while a buffering proxy
// or a dead network is still left.
package client
