// Package faulttest damages HTTP answers for the fault-injection tests of
// the packages that talk to remotes (registries, Grafeas, Fulcio, Rekor,
// OIDC): answers that start and then go wrong, and servers that hang. It
// is imported by tests only.
package faulttest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"
)

// Fault is a way an answer goes wrong.
type Fault int

// Faults.
const (
	// TruncatedBody sends the promised Content-Length, half the body, then
	// closes the connection.
	TruncatedBody Fault = iota
	// StalledBody sends the headers and a few bytes, then nothing until
	// the client gives up (or the wait passes).
	StalledBody
	// SlowBody sends the body 2 bytes at a time, slowly at first: slow,
	// but well within a client's timeout.
	SlowBody
	// Hang sends nothing until the client gives up (or the wait passes).
	Hang
	// Unavailable answers 503 Service Unavailable.
	Unavailable
	// Dropped closes the connection without an answer (a reset).
	Dropped
)

func (f Fault) String() string {
	return [...]string{"truncated body", "stalled body", "slow body", "hang", "503", "dropped"}[f]
}

// Serve answers r with what upstream answers to it, damaged by f. wait
// bounds a stall or a hang; pass a few times the client's timeout. An
// answer to HEAD, or one with a body under 4 bytes, is sent whole after
// its headers (there is nothing to cut).
func Serve(w http.ResponseWriter, r *http.Request, upstream http.Handler, f Fault, wait time.Duration) {
	switch f {
	case Hang:
		waitFor(r, wait)
		return
	case Unavailable:
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	case Dropped:
		Reset(w)
		return
	}
	rec := httptest.NewRecorder()
	upstream.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	if r.Method == http.MethodHead || len(body) < 4 {
		w.Write(body)
		return
	}
	fl, _ := w.(http.Flusher)
	flush := func() {
		if fl != nil {
			fl.Flush()
		}
	}
	switch f {
	case TruncatedBody:
		w.Write(body[:len(body)/2])
		flush()
		Reset(w)
	case StalledBody:
		w.Write(body[:2])
		flush()
		waitFor(r, wait)
	case SlowBody:
		for i := 0; i < len(body); i += 2 {
			w.Write(body[i:min(i+2, len(body))])
			flush()
			if i < 16 {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// Reset closes the connection under w at once (a TCP reset where it can).
func Reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

func waitFor(r *http.Request, d time.Duration) {
	select {
	case <-r.Context().Done():
	case <-time.After(d):
	}
}
