package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestor/attestor/actions/spinnaker"
)

// TestSpinnakerProperties: in a Spinnaker Run Job, verify and promote
// print the outcome as SPINNAKER_PROPERTY_* lines (on stdout, or on
// stderr with --json, whose stdout stays one JSON document), pass or
// fail; elsewhere they print none.
func TestSpinnakerProperties(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	ci, release, other := filepath.Join(keys, "ci.key"), filepath.Join(keys, "release.key"), filepath.Join(keys, "other.key")
	for _, k := range []string{ci, release, other} {
		writeKey(t, k, "ed25519")
	}
	spin := []string{"SPINNAKER_EXECUTION_ID=01JDQ3Z8E2E0000000000000", "SPINNAKER_URL=https://spinnaker.acme.example"}

	t.Run("verify", func(t *testing.T) {
		t.Parallel()
		host, img, policy := promoteSetup(t, ci, ci)
		args := []string{"verify", "--dir", t.TempDir(), "--image", host + "/team/app:rc1", "--policy", policy}
		r := attestorProcess(t, t.TempDir(), spin, args...)
		if r.code != 0 {
			t.Fatalf("verify:\n%s", r)
		}
		want := map[string]string{
			spinnaker.PropertyVerdict:     "PASSED",
			spinnaker.PropertyVerified:    "true",
			spinnaker.PropertyImage:       host + "/team/app@" + img.DigestStr(),
			spinnaker.PropertyImageDigest: img.DigestStr(),
		}
		if got := spinnakerProps(r.stdout); !equalProps(got, want) {
			t.Errorf("verify: properties %v, want %v\n%s", got, want, r)
		}
		// --json: the JSON alone on stdout, the properties on stderr.
		r = attestorProcess(t, t.TempDir(), spin, append(args, "--json")...)
		var v map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 {
			t.Errorf("verify --json: exit %d, stdout is not one JSON document: %v\n%s", r.code, err, r)
		}
		if got := spinnakerProps(r.stderr); !equalProps(got, want) {
			t.Errorf("verify --json: properties on stderr %v, want %v", got, want)
		}
		// Outside Spinnaker: none.
		r = attestorProcess(t, t.TempDir(), nil, args...)
		if strings.Contains(r.stdout+r.stderr, spinnaker.PropertyPrefix) {
			t.Errorf("properties outside Spinnaker:\n%s", r)
		}
	})
	t.Run("verify fails", func(t *testing.T) {
		t.Parallel()
		host, img, policy := promoteSetup(t, other, ci)
		r := attestorProcess(t, t.TempDir(), spin, "verify", "--dir", t.TempDir(), "--image", host+"/team/app:rc1", "--policy", policy)
		if r.code != 1 {
			t.Fatalf("verify: exit %d, want 1\n%s", r.code, r)
		}
		want := map[string]string{
			spinnaker.PropertyVerdict:     "FAILED",
			spinnaker.PropertyVerified:    "false",
			spinnaker.PropertyImage:       host + "/team/app@" + img.DigestStr(),
			spinnaker.PropertyImageDigest: img.DigestStr(),
		}
		if got := spinnakerProps(r.stdout); !equalProps(got, want) {
			t.Errorf("verify: properties %v, want %v\n%s", got, want, r)
		}
	})
	t.Run("promote", func(t *testing.T) {
		t.Parallel()
		host, img, policy := promoteSetup(t, ci, ci)
		r := attestorProcess(t, t.TempDir(), spin, "promote", "--dir", t.TempDir(), host+"/team/app:rc1", host+"/prod/app:v1", "--policy", policy, "--key", release)
		if r.code != 0 {
			t.Fatalf("promote:\n%s", r)
		}
		want := map[string]string{
			spinnaker.PropertyVerdict:     "PASSED",
			spinnaker.PropertyVerified:    "true",
			spinnaker.PropertyImage:       host + "/team/app@" + img.DigestStr(),
			spinnaker.PropertyImageDigest: img.DigestStr(),
			spinnaker.PropertyPromoted:    host + "/prod/app@" + img.DigestStr(),
		}
		if got := spinnakerProps(r.stdout); !equalProps(got, want) {
			t.Errorf("promote: properties %v, want %v\n%s", got, want, r)
		}
	})
	t.Run("promote fails", func(t *testing.T) {
		t.Parallel()
		host, img, policy := promoteSetup(t, other, ci)
		r := attestorProcess(t, t.TempDir(), spin, "promote", "--dir", t.TempDir(), "--json", host+"/team/app:rc1", host+"/prod/app", "--policy", policy, "--key", release)
		if r.code != 1 {
			t.Fatalf("promote: exit %d, want 1\n%s", r.code, r)
		}
		want := map[string]string{
			spinnaker.PropertyVerdict:     "FAILED",
			spinnaker.PropertyVerified:    "false",
			spinnaker.PropertyImage:       host + "/team/app@" + img.DigestStr(),
			spinnaker.PropertyImageDigest: img.DigestStr(),
		}
		if got := spinnakerProps(r.stderr); !equalProps(got, want) {
			t.Errorf("promote: properties %v, want %v (no PROMOTED_IMAGE)\n%s", got, want, r)
		}
		if strings.Contains(r.stdout, spinnaker.PropertyPrefix) {
			t.Errorf("promote --json: properties on stdout:\n%s", r.stdout)
		}
	})
}

func equalProps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
