package attestor

import (
	"bytes"
	"strings"
)

// minSecretLen is the length below which a secret value is not redacted:
// replacing every "abc" or "1" in a build log would destroy the log and
// protect nothing.
const minSecretLen = 4

// redactedMark replaces a secret in captured output.
const redactedMark = "***"

// redact returns b with every occurrence of every secret replaced by "***".
// Secrets shorter than 4 bytes are ignored. Occurrences that overlap or touch
// (of one secret or of several) become a single "***", so no byte of any
// secret survives whatever the order of secrets. b is not modified; when
// nothing matches, b itself is returned. The result is never longer than b.
func redact(b []byte, secrets []string) []byte {
	return redactSpans(b, secrets, false)
}

// redactTruncated is redact for output that was cut at its end: it also
// redacts a trailing prefix of a secret, which is what is left of a secret
// that the cut went through. Such a partial secret of fewer than three bytes
// becomes as many asterisks as it had bytes, so the result is never longer
// than b.
func redactTruncated(b []byte, secrets []string) []byte {
	return redactSpans(b, secrets, true)
}

func redactSpans(b []byte, secrets []string, cut bool) []byte {
	var mask []bool // mask[i]: byte i belongs to a secret; nil while none does
	mark := func(from, to int) {
		if mask == nil {
			mask = make([]bool, len(b))
		}
		for i := from; i < to; i++ {
			mask[i] = true
		}
	}
	for _, s := range secrets {
		if len(s) < minSecretLen || (len(s) > len(b) && !cut) {
			continue
		}
		sb := []byte(s)
		for i := 0; i < len(b); {
			j := bytes.Index(b[i:], sb)
			if j < 0 {
				break
			}
			mark(i+j, i+j+len(sb))
			i += j + 1 // occurrences may overlap ("aaaa" in "aaaaa")
		}
		if cut {
			for k := min(len(sb)-1, len(b)); k > 0; k-- {
				if bytes.HasSuffix(b, sb[:k]) {
					mark(len(b)-k, len(b))
					break
				}
			}
		}
	}
	if mask == nil {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && mask[j] == mask[i] {
			j++
		}
		if mask[i] {
			out = append(out, redactedMark[:min(j-i, len(redactedMark))]...)
		} else {
			out = append(out, b[i:j]...)
		}
		i = j
	}
	return out
}

// SecretsFromEnv returns the values of the variables in environ (in the
// "NAME=value" form of [os.Environ]) whose names mark them as secrets, for
// redaction from recorded command output. A name is a secret's when, compared
// without regard to case, it ends in _TOKEN, _PASSWORD, _SECRET or _KEY, or is
// one of the well-known CI and signing credentials: COSIGN_PASSWORD,
// GITHUB_TOKEN, ACTIONS_ID_TOKEN_REQUEST_TOKEN, ACTIONS_RUNTIME_TOKEN,
// SIGSTORE_ID_TOKEN, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, VAULT_TOKEN and
// GOOGLE_OAUTH_ACCESS_TOKEN. Every value of such a name is returned, whatever
// it looks like (a key path too). Empty values and repeats are left out;
// values are in the order of environ. Values shorter than 4 bytes are
// returned but are not redacted.
func SecretsFromEnv(environ []string) []string {
	var secrets []string
	seen := make(map[string]bool)
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" || seen[value] || !isSecretEnvName(name) {
			continue
		}
		seen[value] = true
		secrets = append(secrets, value)
	}
	return secrets
}

// isSecretEnvName reports whether the environment variable name holds a
// secret. See SecretsFromEnv.
func isSecretEnvName(name string) bool {
	name = strings.ToUpper(name)
	switch name {
	case "COSIGN_PASSWORD",
		"GITHUB_TOKEN",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN",
		"ACTIONS_RUNTIME_TOKEN",
		"SIGSTORE_ID_TOKEN",
		"AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN",
		"VAULT_TOKEN",
		"GOOGLE_OAUTH_ACCESS_TOKEN":
		return true
	}
	for _, suffix := range []string{"_TOKEN", "_PASSWORD", "_SECRET", "_KEY"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}
