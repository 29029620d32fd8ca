package transport

import (
	"testing"

	"github.com/anysub/anysub/internal/leakcheck"
)

// TestMain fails the package's tests when any of them leaves a goroutine
// behind: every stream must be fully shut down by its Close.
func TestMain(m *testing.M) { leakcheck.Main(m) }
