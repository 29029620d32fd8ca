package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/transport"
	"github.com/anysub/anysub/transport/socketio"
)

// socketioFlags are the Socket.IO flags. Their rung comes first in the
// ladder.
//
//	-socketio URL             http, https, ws or wss; the path is the namespace (default /)
//	-socketio-path PATH       the Engine.IO path on the server (default /socket.io/)
//	-socketio-auth JSON       the CONNECT auth object; the token of -auth-cmd is
//	                          added to it as "token"
//	-socketio-transports LIST polling,websocket (polling first, upgraded in
//	                          place), websocket, or polling
//
// A Socket.IO message prints with its event name, the JSON array of its
// other arguments as data, and its recovery offset (when the server has
// connection state recovery) as id. The engine transport in use, and each
// upgrade, print as "carrier" state lines.
type socketioFlags struct {
	url        string
	path       string
	auth       string
	transports string
	set        []string // the flags given besides -socketio
}

// register adds the flags to fs.
func (f *socketioFlags) register(fs *flag.FlagSet) {
	f.path, f.transports = socketio.DefaultPath, "polling,websocket"
	fs.StringVar(&f.url, "socketio", "", "Socket.IO server URL (http, https, ws or wss); its path is the namespace")
	fs.Func("socketio-path", "Engine.IO path of the Socket.IO server (default "+socketio.DefaultPath+")", func(v string) error {
		f.path = v
		f.set = append(f.set, "-socketio-path")
		return nil
	})
	fs.Func("socketio-auth", "Socket.IO CONNECT auth object, JSON; the token of -auth-cmd is added as \"token\"", func(v string) error {
		f.auth = v
		f.set = append(f.set, "-socketio-auth")
		return nil
	})
	fs.Func("socketio-transports", "Socket.IO engine transports: polling,websocket (default; upgraded in place), websocket, or polling", func(v string) error {
		f.transports = v
		f.set = append(f.set, "-socketio-transports")
		return nil
	})
}

// validate returns what is wrong with the flags given.
func (f *socketioFlags) validate() []string {
	var bad []string
	if f.url == "" {
		for _, name := range f.set {
			bad = append(bad, name+" needs -socketio")
		}
		return bad
	}
	if err := f.transport(0).Validate(); err != nil {
		bad = append(bad, "-socketio: "+err.Error())
	}
	if strings.TrimSpace(f.path) == "" {
		bad = append(bad, "-socketio-path must not be empty")
	}
	return bad
}

// given reports whether a Socket.IO rung was asked for.
func (f *socketioFlags) given() bool { return f.url != "" }

// rungs returns the Socket.IO transports, in ladder order.
func (f *socketioFlags) rungs(o *options) []transport.Transport {
	if f.url == "" {
		return nil
	}
	return []transport.Transport{f.transport(o.upgradeInterval)}
}

// transport builds the transport; retry is the pause between upgrade
// attempts while a proxy blocks WebSocket (zero: the default).
func (f *socketioFlags) transport(retry time.Duration) *socketio.Transport {
	t := &socketio.Transport{URL: f.url, Path: f.path, Transports: strings.Split(f.transports, ","), UpgradeRetry: retry}
	if f.auth != "" {
		t.Auth = json.RawMessage(f.auth)
	}
	return t
}

// adjust makes any change the flags need in the config.
func (f *socketioFlags) adjust(o *options, cfg *client.Config) {}

// tokenAuth is the CONNECT auth that carries the token of -auth-cmd.
func tokenAuth(token string) []byte {
	b, err := json.Marshal(map[string]string{"token": token})
	if err != nil {
		panic(fmt.Sprintf("marshalling a string: %v", err)) // cannot happen
	}
	return b
}
