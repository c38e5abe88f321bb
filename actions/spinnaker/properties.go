package spinnaker

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/attestor/attestor/actions"
)

// PropertyPrefix starts each line of a Run Job's log that Spinnaker reads
// into the stage's outputs, when the stage captures output from logs
// (propertyFile set to the container's name). Spinnaker strips the prefix
// and lower-cases the rest of the name: SPINNAKER_PROPERTY_VERDICT=PASSED is
// ${#stage('Verify')['outputs']['verdict']}.
const PropertyPrefix = "SPINNAKER_PROPERTY_"

// Properties that attestor verify, promote and action emit.
const (
	// PropertyVerdict is the gate's verdict: PASSED or FAILED.
	PropertyVerdict = "VERDICT"
	// PropertyVerified is "true" or "false".
	PropertyVerified = "VERIFIED"
	// PropertyImageDigest is the digest (sha256:...) of the image verified
	// or promoted.
	PropertyImageDigest = "IMAGE_DIGEST"
	// PropertyImage is the image by digest (REGISTRY/REPO@sha256:...).
	PropertyImage = "IMAGE"
	// PropertyPromoted is the promoted image by digest.
	PropertyPromoted = "PROMOTED_IMAGE"
	// PropertyProvenanceDigest is the sha256 of the signed provenance
	// envelope.
	PropertyProvenanceDigest = "PROVENANCE_DIGEST"
)

// ErrProperty means a property's name or value cannot be written as a
// Spinnaker property line.
var ErrProperty = errors.New("not a valid Spinnaker property")

var propertyNameRE = regexp.MustCompile(`^[A-Z0-9_]+$`)

// WriteProperties writes props to w as SPINNAKER_PROPERTY_<NAME>=<value>
// lines, sorted by name. Names are upper-case letters, digits and
// underscores; values are one line without "=" (Spinnaker splits the line
// at each "="). An empty value is skipped. Nothing is written when any
// property is invalid.
func WriteProperties(w io.Writer, props map[string]string) error {
	names := make([]string, 0, len(props))
	for name, v := range props {
		if !propertyNameRE.MatchString(name) {
			return fmt.Errorf("property name %q: %w", name, ErrProperty)
		}
		if strings.ContainsAny(v, "\r\n=") {
			return fmt.Errorf("property %s: value %q: %w", name, v, ErrProperty)
		}
		if v != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		b.WriteString(PropertyPrefix + name + "=" + props[name] + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Emit writes props to w (see WriteProperties) when environ, "KEY=value"
// entries as os.Environ returns them, is a Spinnaker Run Job's
// (actions.DetectPlatform says Spinnaker: SPINNAKER_EXECUTION_ID is set),
// and reports whether it did. Elsewhere it writes nothing.
//
// This is the hook for commands whose result a later stage reads: call it
// with the command's stdout after the result is known, whether or not the
// gate passed, e.g.
//
//	spinnaker.Emit(stdout, os.Environ(), map[string]string{
//		spinnaker.PropertyVerdict:     res.Verdict,
//		spinnaker.PropertyVerified:    strconv.FormatBool(res.Verified),
//		spinnaker.PropertyImageDigest: res.Subject.Digest,
//	})
func Emit(w io.Writer, environ []string, props map[string]string) (bool, error) {
	if actions.DetectPlatform(environ) != actions.Spinnaker {
		return false, nil
	}
	return true, WriteProperties(w, props)
}
