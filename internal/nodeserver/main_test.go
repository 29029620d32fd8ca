//go:build interop

package nodeserver_test

import (
	"testing"

	"github.com/anysub/anysub/internal/leakcheck"
)

// The tests in this package need node and the pinned packages:
//
//	npm ci --prefix internal/nodeserver
//	go test -tags interop -race ./internal/nodeserver/
func TestMain(m *testing.M) { leakcheck.Main(m) }
