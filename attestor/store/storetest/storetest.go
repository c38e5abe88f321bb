package storetest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/attestor/attestor/attestor/sign"
	"github.com/attestor/attestor/attestor/store"
)

// Config says how to run the suite against one implementation.
type Config struct {
	// New returns the store under test. It is called once per subtest,
	// and once per goroutine in the concurrency test: instances returned
	// for one test must share their storage (the same directory, the
	// same registry), as separate processes would. Required.
	New func(t *testing.T) store.Store
	// Subject returns a fresh subject that nothing was stored for. The
	// default is a file subject with a random name and digest; a
	// registry store returns an image it pushed.
	Subject func(t *testing.T) store.Subject
	// Concurrency is how many Puts the concurrency test runs at once. The
	// default is 8.
	Concurrency int
}

// Run runs the conformance suite. Subtests run in parallel.
func Run(t *testing.T, c Config) {
	t.Helper()
	if c.New == nil {
		t.Fatal("storetest: Config.New is required")
	}
	if c.Subject == nil {
		c.Subject = FileSubject
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Config)
	}{
		{"PutGet", testPutGet},
		{"Dedupe", testDedupe},
		{"DedupeReencoded", testDedupeReencoded},
		{"ConcurrentPut", testConcurrentPut},
		{"MissingSubject", testMissingSubject},
		{"OtherSubject", testOtherSubject},
		{"Oversize", testOversize},
		{"Malformed", testMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, c)
		})
	}
}

func testPutGet(t *testing.T, c Config) {
	ctx := t.Context()
	s, subj := c.New(t), c.Subject(t)
	a := Attestation(t, subj, "https://slsa.dev/provenance/v1", "a")
	b := Attestation(t, subj, envelope.PredicateTypeLink, "b")
	if err := s.Put(ctx, subj, a, b); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got := get(t, c.New(t), subj)
	Equal(t, got, a, b)
	for _, g := range got {
		want := a.PredicateType
		if bytes.Equal(g.Envelope, b.Envelope) {
			want = b.PredicateType
		}
		if g.PredicateType != want {
			t.Errorf("PredicateType = %q, want %q", g.PredicateType, want)
		}
	}
}

func testDedupe(t *testing.T, c Config) {
	ctx := t.Context()
	s, subj := c.New(t), c.Subject(t)
	a := Attestation(t, subj, "https://slsa.dev/provenance/v1", "a")
	b := Attestation(t, subj, "https://slsa.dev/provenance/v1", "b")
	if err := s.Put(ctx, subj, a, a); err != nil {
		t.Fatalf("Put(a, a): %v", err)
	}
	if err := s.Put(ctx, subj, a); err != nil {
		t.Fatalf("Put(a) again: %v", err)
	}
	if err := s.Put(ctx, subj, b, a); err != nil {
		t.Fatalf("Put(b, a): %v", err)
	}
	Equal(t, get(t, s, subj), a, b)
}

func testDedupeReencoded(t *testing.T, c Config) {
	ctx := t.Context()
	s, subj := c.New(t), c.Subject(t)
	a := Attestation(t, subj, "https://slsa.dev/provenance/v1", "a")
	re := Reencode(t, a)
	if err := s.Put(ctx, subj, a); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := s.Put(ctx, subj, re); err != nil {
		t.Fatalf("Put(re-encoded): %v", err)
	}
	got := get(t, s, subj)
	if len(got) != 1 {
		t.Fatalf("Get returned %d attestations after putting one twice (re-encoded), want 1", len(got))
	}
}

func testConcurrentPut(t *testing.T, c Config) {
	ctx := t.Context()
	subj := c.Subject(t)
	shared := Attestation(t, subj, "https://slsa.dev/provenance/v1", "shared")
	want := []store.Attestation{shared}
	var wg sync.WaitGroup
	errs := make([]error, c.Concurrency)
	for i := range c.Concurrency {
		a := Attestation(t, subj, envelope.PredicateTypeLink, fmt.Sprintf("writer-%d", i))
		want = append(want, a)
		s := c.New(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Put(ctx, subj, a, shared)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Put: %v", err)
	}
	Equal(t, get(t, c.New(t), subj), want...)
}

func testMissingSubject(t *testing.T, c Config) {
	got, err := c.New(t).Get(t.Context(), c.Subject(t))
	if err != nil {
		t.Fatalf("Get(subject with nothing stored) = %v, want no error", err)
	}
	if len(got) != 0 {
		t.Fatalf("Get(subject with nothing stored) returned %d attestations", len(got))
	}
}

func testOtherSubject(t *testing.T, c Config) {
	ctx := t.Context()
	s := c.New(t)
	s1, s2 := c.Subject(t), c.Subject(t)
	a := Attestation(t, s1, "https://slsa.dev/provenance/v1", "one")
	b := Attestation(t, s2, "https://slsa.dev/provenance/v1", "two")
	if err := s.Put(ctx, s1, a); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := s.Put(ctx, s2, b); err != nil {
		t.Fatalf("Put: %v", err)
	}
	Equal(t, get(t, s, s1), a)
	Equal(t, get(t, s, s2), b)
}

func testOversize(t *testing.T, c Config) {
	ctx := t.Context()
	s, subj := c.New(t), c.Subject(t)
	a := Attestation(t, subj, "https://slsa.dev/provenance/v1", "kept")
	if err := s.Put(ctx, subj, a); err != nil {
		t.Fatalf("Put: %v", err)
	}
	big := Attestation(t, subj, "https://slsa.dev/provenance/v1", strings.Repeat("x", store.MaxEnvelopeSize))
	small := Attestation(t, subj, "https://slsa.dev/provenance/v1", "with the big one")
	err := s.Put(ctx, subj, small, big)
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Put(oversize) = %v, want an error matching store.ErrTooLarge", err)
	}
	if !errors.Is(err, fault.ErrInvalidInput) {
		t.Errorf("Put(oversize) = %v, want an error matching fault.ErrInvalidInput", err)
	}
	Equal(t, get(t, s, subj), a)
}

func testMalformed(t *testing.T, c Config) {
	ctx := t.Context()
	s, subj := c.New(t), c.Subject(t)
	for _, env := range []string{"", "{", `{"payloadType":"x","payload":"e30=","signatures":[]}`} {
		err := s.Put(ctx, subj, store.Attestation{Envelope: []byte(env)})
		if !errors.Is(err, fault.ErrInvalidInput) {
			t.Errorf("Put(%q) = %v, want an error matching fault.ErrInvalidInput", env, err)
		}
	}
	if got := get(t, s, subj); len(got) != 0 {
		t.Errorf("Get after malformed Puts returned %d attestations", len(got))
	}
}

func get(t *testing.T, s store.Store, subj store.Subject) []store.Attestation {
	t.Helper()
	got, err := s.Get(t.Context(), subj)
	if err != nil {
		t.Fatalf("Get(%s): %v", subj, err)
	}
	return got
}

// Equal fails t unless got holds exactly the attestations want (compared
// by envelope digest, each once) with their envelopes byte for byte.
func Equal(t *testing.T, got []store.Attestation, want ...store.Attestation) {
	t.Helper()
	index := func(atts []store.Attestation) ([]string, map[string][]byte) {
		var ds []string
		m := map[string][]byte{}
		for _, a := range atts {
			d, err := a.Digest()
			if err != nil {
				t.Fatalf("attestation does not parse: %v", err)
			}
			ds = append(ds, d)
			m[d] = a.Envelope
		}
		sort.Strings(ds)
		return ds, m
	}
	gd, gm := index(got)
	wd, wm := index(want)
	if strings.Join(gd, ",") != strings.Join(wd, ",") {
		t.Fatalf("got %d attestations %v, want %d %v", len(gd), short(gd), len(wd), short(wd))
	}
	for d, env := range wm {
		if !bytes.Equal(gm[d], env) {
			t.Errorf("attestation %s: envelope bytes differ from what was put", d[:12])
		}
	}
}

func short(ds []string) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d[:12]
	}
	return out
}

// FileSubject returns a file subject with a random name and digest.
func FileSubject(t *testing.T) store.Subject {
	var sum [32]byte
	if _, err := rand.Read(sum[:]); err != nil {
		t.Fatal(err)
	}
	return store.Subject{
		Name:   "bin/app-" + hex.EncodeToString(sum[:4]),
		Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])},
	}
}

// Signer returns the deterministic ed25519 signer the suite signs with.
func Signer(t testing.TB) *sign.Signer {
	t.Helper()
	seed := sha256.Sum256([]byte("attestor storetest key"))
	s, err := sign.New(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	return s
}

// Attestation returns a signed in-toto statement about subj with the
// given predicate type; note makes it unique.
func Attestation(t testing.TB, subj store.Subject, predicateType, note string) store.Attestation {
	t.Helper()
	return SignedAttestation(t, Signer(t), subj, predicateType, note)
}

// SignedAttestation is Attestation signed by s.
func SignedAttestation(t testing.TB, s envelope.Signer, subj store.Subject, predicateType, note string) store.Attestation {
	t.Helper()
	st := map[string]any{
		"_type": "https://in-toto.io/Statement/v1",
		"subject": []any{map[string]any{
			"name":   subj.Name,
			"digest": map[string]string{subj.Digest.Algorithm: subj.Digest.Hex},
		}},
		"predicateType": predicateType,
		"predicate":     map[string]any{"note": note},
	}
	payload, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Sign(context.Background(), s, envelope.PayloadTypeInToto, payload)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return store.Attestation{Envelope: raw, PredicateType: predicateType}
}

// Reencode returns a with its envelope encoded differently (indented,
// fields reordered): other bytes, the same Digest.
func Reencode(t testing.TB, a store.Attestation) store.Attestation {
	t.Helper()
	env, err := envelope.Parse(a.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.WriteString("{\n  \"signatures\": ")
	sigs, _ := json.Marshal(env.Signatures)
	buf.Write(sigs)
	fmt.Fprintf(&buf, ",\n  \"payload\": %q,\n  \"payloadType\": %q\n}\n", env.Payload, env.PayloadType)
	out := a
	out.Envelope = buf.Bytes()
	if bytes.Equal(out.Envelope, a.Envelope) {
		t.Fatal("re-encoding did not change the bytes")
	}
	if _, err := base64.StdEncoding.DecodeString(env.Payload); err != nil {
		t.Fatal(err)
	}
	return out
}
