package testserver

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"sync"
)

// refusedReason is the body of a 401 answered by RequireToken's check.
const refusedReason = "missing or invalid bearer token"

// authState is what RequireToken configures and what it counts. The
// Server's mutex guards it.
type authState struct {
	valid   func(token string) bool // nil: no token needed
	refused int                     // requests answered 401 by the check
	// tokens holds the token of the request being served on each
	// connection (a connection serves one request at a time), so that
	// DropUnauthorized can judge live streams.
	tokens map[net.Conn]string
}

// RequireToken makes every request on /ws (the upgrade request), /sse,
// /long, /poll and /send, sends included, carry a token for which valid
// returns true: either in the header "Authorization: Bearer <token>" (the
// scheme in any case) or in the query parameter access_token. The header is
// used when it holds a bearer token; the query parameter otherwise. A
// request without a token is refused without calling valid.
//
// A refused request is counted in Requests (and in Unauthorized) and
// answered 401 with the header `WWW-Authenticate: Bearer
// error="invalid_token"`. For subscriptions the check comes right after the
// method check, before every other fault; for sends, before FailSends.
//
// The token is checked once, when the request arrives: a WebSocket or SSE
// stream that is open, or a long poll that is held, stays up after its
// token becomes invalid; DropUnauthorized cuts those. valid is called
// without the server's lock held, from the handlers' goroutines, so it must
// be safe for concurrent use; it may call the Server's methods.
// [TokenRotator.Valid] fits. nil turns the check off.
func (s *Server) RequireToken(valid func(token string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth.valid = valid
	s.notifyLocked()
}

// Unauthorized returns how many requests, sends included, the token check
// of RequireToken has refused.
func (s *Server) Unauthorized() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auth.refused
}

// DropUnauthorized cuts, as DropAll does (no close frame, no final chunk, no
// answer), every request being served whose token the function given to
// RequireToken now refuses: open WebSockets and SSE streams, held long
// polls, stalled requests. A request that arrived without a token (before
// RequireToken, say) counts as refused. It returns how many it cut; with no
// check in force (RequireToken(nil)) it cuts nothing and returns 0. Tests
// use it to play a server that ends the sessions whose token has expired.
func (s *Server) DropUnauthorized() int {
	type candidate struct {
		st    *stream
		token string
	}
	s.mu.Lock()
	valid := s.auth.valid
	var cands []candidate
	for st := range s.streams {
		if !st.killed {
			cands = append(cands, candidate{st, s.auth.tokens[st.conn]})
		}
	}
	s.mu.Unlock()
	if valid == nil {
		return 0
	}

	// Judge outside the lock, since valid is the caller's code.
	var refused []*stream
	for _, c := range cands {
		if c.token == "" || !valid(c.token) {
			refused = append(refused, c.st)
		}
	}
	if len(refused) == 0 {
		return 0
	}

	s.mu.Lock()
	var victims []*stream
	for _, st := range refused {
		if _, ok := s.streams[st]; ok && !st.killed {
			st.killed = true
			s.paths[st.path].live--
			victims = append(victims, st)
		}
	}
	s.notifyLocked()
	s.mu.Unlock()

	// As in DropAll: the socket first, so that the woken handler cannot
	// write anything more.
	for _, st := range victims {
		if st.conn != nil {
			_ = st.conn.Close()
		}
		close(st.kill)
	}
	return len(victims)
}

// tokenOf returns the bearer token a request carries, "" when none.
func tokenOf(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			if tok = strings.TrimSpace(tok); tok != "" {
				return tok
			}
		}
	}
	return r.URL.Query().Get("access_token")
}

// checkToken returns the token r carries and whether RequireToken's check
// lets it through. It calls the check without holding the lock.
func (s *Server) checkToken(r *http.Request) (string, bool) {
	tok := tokenOf(r)
	s.mu.Lock()
	valid := s.auth.valid
	s.mu.Unlock()
	return tok, valid == nil || (tok != "" && valid(tok))
}

// serveWithToken runs serve with token recorded as that of the request
// being served on conn.
func (s *Server) serveWithToken(conn net.Conn, token string, serve func()) {
	if conn == nil {
		serve()
		return
	}
	s.mu.Lock()
	if s.auth.tokens == nil {
		s.auth.tokens = make(map[net.Conn]string)
	}
	s.auth.tokens[conn] = token
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.auth.tokens, conn)
		s.mu.Unlock()
	}()
	serve()
}

// setChallenge adds the header of a 401 answered by the token check.
func setChallenge(h http.Header) {
	h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
}

// writeUnauthorized answers a request refused by the token check.
func writeUnauthorized(w http.ResponseWriter) {
	setChallenge(w.Header())
	writeStatus(w, http.StatusUnauthorized, 0, refusedReason)
}

// TokenRotator issues bearer tokens one at a time, for tests of credentials
// that change: only the token issued last is valid. Pass its Valid method to
// [Server.RequireToken]. Tokens are 32 hexadecimal characters from
// crypto/rand. It is safe for concurrent use. Create one with
// NewTokenRotator; the zero value has no token until the first Rotate.
type TokenRotator struct {
	mu        sync.Mutex
	current   string
	rotations int
}

// NewTokenRotator returns a rotator holding a first token; Rotations is 0.
func NewTokenRotator() *TokenRotator {
	return &TokenRotator{current: newToken()}
}

// Rotate issues a new token and returns it. From then on the previous token
// is invalid: there is no grace period.
func (r *TokenRotator) Rotate() string {
	tok := newToken()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current = tok
	r.rotations++
	return tok
}

// Current returns the valid token.
func (r *TokenRotator) Current() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

// Valid reports whether tok is the current token. The empty string is never
// valid.
func (r *TokenRotator) Valid(tok string) bool {
	r.mu.Lock()
	cur := r.current
	r.mu.Unlock()
	return cur != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(cur)) == 1
}

// Rotations returns how many times Rotate has been called.
func (r *TokenRotator) Rotations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rotations
}

// newToken returns 16 random bytes in hexadecimal.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand aborts the program instead
	return hex.EncodeToString(b[:])
}
