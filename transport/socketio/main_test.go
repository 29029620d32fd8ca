package socketio

import (
	"testing"

	"github.com/anysub/anysub/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }
