package main

import (
	"flag"
	"fmt"

	"github.com/anysub/anysub/client"
	"github.com/anysub/anysub/transport"
)

// streamFlags are the HTTP streaming and whole-state polling flags. The
// stream rung comes between SSE and long polling.
//
//   - -stream URL: a response body of JSON values (transport.HTTPStream),
//     resuming with -cursor-param like -ws, -longpoll and -poll;
//   - -stream-format: how that body separates its values;
//   - -h2c: cleartext HTTP/2 with prior knowledge for an http:// -stream
//     URL and its sends (over https, HTTP/2 is negotiated anyway);
//   - -items-field PATH: the array of items inside each JSON value of a
//     poll, long poll or stream, each item one message;
//   - -key FIELDS|content: the dedupe key of items without an id, so that a
//     server answering its whole state every time delivers each item once.
type streamFlags struct {
	url    string
	format string
	h2c    bool
	items  string
	key    string

	parsed transport.StreamFormat // format, once validated
}

// register adds the flags to fs.
func (f *streamFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "stream", "", "HTTP streaming URL: one response whose body is JSON values (NDJSON, concatenated JSON, JSON text sequences)")
	fs.StringVar(&f.format, "stream-format", "auto", "how -stream separates its values: auto (any JSON values separated by whitespace or RS, or by nothing), ndjson, json or json-seq")
	fs.BoolVar(&f.h2c, "h2c", false, "speak cleartext HTTP/2 with prior knowledge to an http:// -stream URL (and its sends)")
	fs.StringVar(&f.items, "items-field", "", "dot-separated path of the array of items inside each JSON value of -poll, -longpoll or -stream (e.g. msg, results); each item is one message")
	fs.StringVar(&f.key, "key", "", "dedupe key of items without an id: comma-separated field paths, or content for a hash of the item; a key never moves the cursor")
}

// validate returns what is wrong with the flags given.
func (f *streamFlags) validate() []string {
	var bad []string
	format, err := transport.ParseStreamFormat(f.format)
	if err != nil {
		bad = append(bad, fmt.Sprintf("-stream-format must be auto, ndjson, json or json-seq, not %q", f.format))
	}
	f.parsed = format
	if f.h2c && f.url == "" {
		bad = append(bad, "-h2c applies to -stream: give -stream too")
	}
	if err := (transport.Fields{Items: f.items, Key: f.key}).Validate(); err != nil {
		bad = append(bad, fmt.Sprintf("bad -items-field or -key: %v", err))
	}
	return bad
}

// given reports whether a stream rung was asked for.
func (f *streamFlags) given() bool { return f.url != "" }

// rungs returns the stream transports, in ladder order.
func (f *streamFlags) rungs(o *options) []transport.Transport {
	if f.url == "" {
		return nil
	}
	return []transport.Transport{&transport.HTTPStream{
		URL:         f.url,
		SendURL:     o.sendURL,
		CursorParam: o.cursorParam,
		Format:      f.parsed,
		H2C:         f.h2c,
	}}
}

// adjust makes any change the flags need in the config: -items-field and
// -key join the field paths of -id-field, -event-field and -data-field in
// the one decoder every transport uses.
func (f *streamFlags) adjust(o *options, cfg *client.Config) {
	if f.items == "" && f.key == "" {
		return
	}
	var fields transport.Fields
	if o.fields != nil {
		fields = *o.fields
	}
	if f.items != "" {
		fields.Items = f.items
	}
	fields.Key = f.key
	cfg.Decoder = fields.Decoder()
}
