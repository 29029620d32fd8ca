//go:build chaos

package chaos

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anysub/anysub/internal/leakcheck"
)

var (
	flagLong   = flag.Bool("chaos.long", os.Getenv("CHAOS_LONG") == "1", "run the long soak profile (also CHAOS_LONG=1)")
	flagSeed   = flag.Int64("chaos.seed", envInt64("CHAOS_SEED"), "seed of every random choice; 0 picks one from the clock (also CHAOS_SEED)")
	flagReport = flag.String("chaos.report", os.Getenv("CHAOS_REPORT"), "write the figures of the run as markdown to this file (also CHAOS_REPORT)")
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func envInt64(name string) int64 {
	n, _ := strconv.ParseInt(os.Getenv(name), 10, 64)
	return n
}

// Profile sizes a run. The short one is what CI runs: a few seconds per
// scenario. The long one is the soak whose figures go in
// docs/RELIABILITY.md.
type Profile struct {
	Name string
	Rate int // messages published per second

	// Scenarios 1 (resets, each transport alone), 2 and 8 (the ladders) and
	// 7 (Socket.IO): a soak ends once it has both this many faults and this
	// many messages.
	Faults, Messages int
	// MaxSoak bounds one soak's run whatever its counts.
	MaxSoak time.Duration

	BufferedMessages int // scenario 3: messages published while SSE is behind the buffering proxy
	HalfOpenFaults   int // scenario 4, per transport
	Restarts         int // scenario 5, per transport
	Crowd            int // scenario 6, subscriptions
}

var (
	shortProfile = Profile{Name: "short", Rate: 150, Faults: 4, Messages: 400, MaxSoak: 30 * time.Second,
		BufferedMessages: 400, HalfOpenFaults: 3, Restarts: 2, Crowd: 1000}
	longProfile = Profile{Name: "long", Rate: 100, Faults: 200, Messages: 10000, MaxSoak: 15 * time.Minute,
		BufferedMessages: 3000, HalfOpenFaults: 40, Restarts: 15, Crowd: 1000}
)

// Liveness settings every scenario uses unless it says otherwise: short, so
// that a stall is caught in well under a second.
const (
	hbInterval = 200 * time.Millisecond
	hbTimeout  = 200 * time.Millisecond
	// lpHold is both the node server's long-poll hold and LongPoll.Hold, so
	// a long poll's request deadline (Hold + Timeout) equals the heartbeat
	// budget of the streaming transports.
	lpHold = hbInterval
	// pollEvery is Poll.Interval: small against the budget, since a stall
	// can only be noticed by a request made after the pause.
	pollEvery = 5 * time.Millisecond
	// sseKeepAlive is the node server's comment interval, well inside the
	// SSE idle deadline so a quiet but healthy stream is never condemned.
	sseKeepAlive = 100 * time.Millisecond
	// budgetSlack is the allowance on a detection time.
	budgetSlack = 1.10
)

// heartbeatBudget is the longest a stall may go unnoticed.
func heartbeatBudget() time.Duration { return hbInterval + hbTimeout }

// run holds what is shared by every scenario of one test binary.
var run struct {
	once    sync.Once
	profile Profile
	seed    int64
	report  *Report
}

// setup returns the profile, the seed and the report, making them on first
// use and printing the seed so a failure can be replayed.
func setup(t *testing.T) (Profile, int64, *Report) {
	t.Helper()
	run.once.Do(func() {
		run.profile = shortProfile
		if *flagLong {
			run.profile = longProfile
		}
		run.seed = *flagSeed
		if run.seed == 0 {
			run.seed = time.Now().UnixNano() % 1_000_000_000
		}
		started := time.Now()
		run.report = NewReport(*flagReport, reportHeader(run.profile, run.seed, started))
		declareSections(run.report, run.profile)
		fmt.Fprintf(os.Stderr, "chaos: profile %s, seed %d (replay with -chaos.seed=%d)\n", run.profile.Name, run.seed, run.seed)
	})
	t.Logf("profile %s, seed %d", run.profile.Name, run.seed)
	return run.profile, run.seed, run.report
}
