module github.com/anysub/anysub/bench

go 1.26

replace github.com/anysub/anysub => ../

require (
	github.com/anysub/anysub v0.0.0-00010101000000-000000000000
	github.com/coder/websocket v1.8.15
	github.com/gorilla/websocket v1.5.3
	github.com/r3labs/sse/v2 v2.10.0
	github.com/tmaxmax/go-sse v0.12.0
	gopkg.in/cenkalti/backoff.v1 v1.1.0
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	golang.org/x/net v0.0.0-20191116160921-f9c825593386 // indirect
)
