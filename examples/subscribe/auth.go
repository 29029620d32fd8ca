package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"github.com/anysub/anysub/client"
)

const (
	// authTimeout bounds one run of the -auth-cmd command.
	authTimeout = 30 * time.Second
	// authWaitDelay is how long the command's output may stay open once it
	// has exited (a background child holding it, say) before it is cut.
	authWaitDelay = time.Second
)

// authCommand returns the Credentials hook of -auth-cmd: it runs cmd with
// sh -c for every attempt and sends its trimmed output as a bearer token
// (and, for -socketio, as "token" in the CONNECT auth object).
// The token is handed to out so that nothing the command prints shows it;
// the command's own stderr is discarded, since it may hold the token too,
// and a failure says only how the command ended.
func authCommand(cmd string, out *printer) func(context.Context, error) (client.Credentials, error) {
	return func(ctx context.Context, _ error) (client.Credentials, error) {
		cctx, cancel := context.WithTimeout(ctx, authTimeout)
		defer cancel()
		c := exec.CommandContext(cctx, "sh", "-c", cmd)
		var stdout bytes.Buffer
		c.Stdout = &stdout // Stdin and Stderr stay nil: the null device
		c.WaitDelay = authWaitDelay
		err := c.Run()
		if errors.Is(err, exec.ErrWaitDelay) {
			err = nil // it succeeded; only a straggler kept its output open
		}
		switch {
		case ctx.Err() != nil:
			return client.Credentials{}, ctx.Err()
		case cctx.Err() != nil:
			return client.Credentials{}, fmt.Errorf("-auth-cmd did not finish within %s", authTimeout)
		case err != nil:
			// The error text is how it ended ("exit status 1"), never its output.
			return client.Credentials{}, fmt.Errorf("-auth-cmd failed: %v", err)
		}
		token := strings.TrimSpace(stdout.String())
		if token == "" {
			return client.Credentials{}, errors.New("-auth-cmd printed no token")
		}
		out.addSecret(token)
		return client.Credentials{Header: http.Header{"Authorization": {"Bearer " + token}}, Auth: tokenAuth(token)}, nil
	}
}
