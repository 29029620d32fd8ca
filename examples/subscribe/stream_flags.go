package main

import (
	"flag"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/transport"
)

// streamFlags are the HTTP streaming and whole-state polling flags. The stream rung
// comes between SSE and long polling.
type streamFlags struct{}

// register adds the flags to fs.
func (f *streamFlags) register(fs *flag.FlagSet) {}

// validate returns what is wrong with the flags given.
func (f *streamFlags) validate() []string { return nil }

// given reports whether a stream rung was asked for.
func (f *streamFlags) given() bool { return false }

// rungs returns the stream transports, in ladder order.
func (f *streamFlags) rungs(o *options) []transport.Transport { return nil }

// adjust makes any change the flags need in the config.
func (f *streamFlags) adjust(o *options, cfg *client.Config) {}
