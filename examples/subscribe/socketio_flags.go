package main

import (
	"flag"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/transport"
)

// socketioFlags are the Socket.IO flags. Their rung comes first in the
// ladder.
type socketioFlags struct{}

// register adds the flags to fs.
func (f *socketioFlags) register(fs *flag.FlagSet) {}

// validate returns what is wrong with the flags given.
func (f *socketioFlags) validate() []string { return nil }

// given reports whether a Socket.IO rung was asked for.
func (f *socketioFlags) given() bool { return false }

// rungs returns the Socket.IO transports, in ladder order.
func (f *socketioFlags) rungs(o *options) []transport.Transport { return nil }

// adjust makes any change the flags need in the config.
func (f *socketioFlags) adjust(o *options, cfg *client.Config) {}
