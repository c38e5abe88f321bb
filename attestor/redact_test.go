package attestor

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		secrets []string
		want    string
	}{
		{"no secrets", "token=hunter22", nil, "token=hunter22"},
		{"no match", "nothing here", []string{"hunter22"}, "nothing here"},
		{"empty input", "", []string{"hunter22"}, ""},
		{"one", "token=hunter22\n", []string{"hunter22"}, "token=***\n"},
		{"every occurrence", "hunter22 and hunter22, hunter22", []string{"hunter22"}, "*** and ***, ***"},
		{"several secrets", "user=alice pass=hunter22 key=AKIA1234", []string{"hunter22", "AKIA1234"}, "user=alice pass=*** key=***"},
		{"whole input", "hunter22", []string{"hunter22"}, "***"},
		{"back to back", "hunter22hunter22", []string{"hunter22"}, "***"},
		{"overlapping occurrences", "xaaaaay", []string{"aaaa"}, "x***y"},
		// "abcd" first would leave "***ef" exposing "ef" of "cdef".
		{"overlapping secrets", "-abcdef-", []string{"abcd", "cdef"}, "-***-"},
		// The shorter first would leave "***word".
		{"secret inside a secret", "pw=password1", []string{"pass", "password1"}, "pw=***"},
		{"short secrets ignored", "abc abc 123", []string{"abc", "", "1", "12"}, "abc abc 123"},
		{"exactly four bytes", "pin 1234.", []string{"1234"}, "pin ***."},
		{"longer than input", "hunt", []string{"hunter22"}, "hunt"},
		{"no trailing prefix unless cut", "token=hunt", []string{"hunter22"}, "token=hunt"},
		{"multi-byte", "clé=sécurité!", []string{"sécurité"}, "clé=***!"},
		{"binary", "\x00\xffsecret\x00", []string{"\xffsecret"}, "\x00***\x00"},
		{"repeated secret", "hunter22", []string{"hunter22", "hunter22"}, "***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tt.in)
			got := redact(in, tt.secrets)
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("redact(%q) (-want +got):\n%s", tt.in, diff)
			}
			if string(in) != tt.in {
				t.Errorf("redact modified its input to %q", in)
			}
		})
	}
}

func TestRedactTruncated(t *testing.T) {
	t.Parallel()
	secrets := []string{"hunter22", "s3cr3t"}
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"whole secret at the end", "token=hunter22", "token=***"},
		{"cut after most of it", "token=hunter2", "token=***"},
		{"cut after three bytes", "token=hun", "token=***"},
		// Never longer than the input: fewer asterisks than "***".
		{"cut after two bytes", "token=hu", "token=**"},
		{"cut after one byte", "token=h", "token=*"},
		{"longest prefix wins", "s3cr3t s3cr", "*** ***"},
		{"nothing at the end", "token=hunter22 ok", "token=*** ok"},
		{"not a prefix", "token=unter2", "token=unter2"},
		{"all of it a prefix", "hunter2", "***"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := redactTruncated([]byte(tt.in), secrets)
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("redactTruncated(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// FuzzRedact checks the invariants: no secret (of 4 bytes or more and
// without '*') survives anywhere, nor a prefix of one at the end of cut
// output, and the output is never longer than the input.
func FuzzRedact(f *testing.F) {
	f.Add("token=hunter22 hunter22", "hunter22", "unter")
	f.Add("-abcdef-", "abcd", "cdef")
	f.Add("aaaaaaa", "aaaa", "aaa")
	f.Add("pw=pass", "password", "x")
	f.Fuzz(func(t *testing.T, in, s1, s2 string) {
		secrets := []string{s1, s2}
		for _, cut := range []bool{false, true} {
			var got []byte
			if cut {
				got = redactTruncated([]byte(in), secrets)
			} else {
				got = redact([]byte(in), secrets)
			}
			if len(got) > len(in) {
				t.Fatalf("redact(%q, %q, cut %t) = %q, longer than its input", in, secrets, cut, got)
			}
			for _, s := range secrets {
				if len(s) < minSecretLen || strings.Contains(s, "*") {
					continue
				}
				if bytes.Contains(got, []byte(s)) {
					t.Fatalf("redact(%q, %q, cut %t) = %q, still holds %q", in, secrets, cut, got, s)
				}
				if !cut {
					continue
				}
				for k := 1; k < len(s); k++ {
					if bytes.HasSuffix(got, []byte(s[:k])) {
						t.Fatalf("redactTruncated(%q, %q) = %q, ends with %q of %q", in, secrets, got, s[:k], s)
					}
				}
			}
		}
	})
}

func TestSecretsFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"none", nil, nil},
		{"not secrets", []string{"PATH=/usr/bin", "HOME=/root", "TOKENIZER=bpe", "KEYBOARD=us", "GITHUB_SHA=abc123"}, nil},
		{"well-known names", []string{
			"COSIGN_PASSWORD=cosign-pw",
			"GITHUB_TOKEN=ghs_1",
			"ACTIONS_ID_TOKEN_REQUEST_TOKEN=req-tok",
			"ACTIONS_RUNTIME_TOKEN=rt-tok",
			"SIGSTORE_ID_TOKEN=eyJhbGci",
			"AWS_SECRET_ACCESS_KEY=wJalrXUt",
			"AWS_SESSION_TOKEN=FwoGZXIv",
			"VAULT_TOKEN=hvs.1234",
			"GOOGLE_OAUTH_ACCESS_TOKEN=ya29.abc",
		}, []string{"cosign-pw", "ghs_1", "req-tok", "rt-tok", "eyJhbGci", "wJalrXUt", "FwoGZXIv", "hvs.1234", "ya29.abc"}},
		{"suffixes", []string{"NPM_TOKEN=npm-1", "DOCKER_PASSWORD=dock-pw", "WEBHOOK_SECRET=whsec", "API_KEY=key-1"},
			[]string{"npm-1", "dock-pw", "whsec", "key-1"}},
		{"any value, even a path", []string{"ATTESTOR_KEY=keys/ci.key"}, []string{"keys/ci.key"}},
		{"any case", []string{"github_token=lower-1", "My_Secret=mixed-1"}, []string{"lower-1", "mixed-1"}},
		{"value with =", []string{"DB_PASSWORD=a=b=c"}, []string{"a=b=c"}},
		{"empty values left out", []string{"NPM_TOKEN=", "GITHUB_TOKEN=ghs_2"}, []string{"ghs_2"}},
		{"short values kept", []string{"PIN_SECRET=123"}, []string{"123"}},
		{"repeats left out", []string{"A_TOKEN=same", "B_TOKEN=same", "C_TOKEN=other"}, []string{"same", "other"}},
		{"malformed entries", []string{"GITHUB_TOKEN", "=x_TOKEN", "_TOKEN=bare"}, []string{"bare"}},
		{"suffix only at the end", []string{"TOKEN_URL=https://x", "KEY_ID=abc", "SECRET_NAME=foo", "PASSWORD_FILE=/run/pw"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, SecretsFromEnv(tt.environ)); diff != "" {
				t.Errorf("SecretsFromEnv(%q) (-want +got):\n%s", tt.environ, diff)
			}
		})
	}
}
