module github.com/anysub/anysub

go 1.26

require (
	github.com/cenkalti/backoff/v4 v4.3.0
	github.com/coder/websocket v1.8.15
	github.com/tmaxmax/go-sse v0.12.0
)
