package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// DefaultDir is the workspace directory used when none is given (--dir,
// ATTESTOR_DIR).
const DefaultDir = ".attestor"

// File name suffixes in a workspace.
const (
	// SuffixEnvelope ends the name of a signed DSSE envelope:
	// <step>.<keyid[:8]>.dsse.json for a step record.
	SuffixEnvelope = ".dsse.json"
	// SuffixLink ends the name of a classic in-toto link:
	// <step>.<keyid[:8]>.link, the name in-toto-verify looks for.
	SuffixLink = ".link"
	// SuffixPending ends the state a step keeps between record start and
	// record stop: <step>.pending.json.
	SuffixPending = ".pending.json"
	// ReservedPrefix starts the names of workspace files that are not step
	// records (provenance, verification summaries, dry-run output). Step
	// names cannot start with it.
	ReservedPrefix = "_"
)

// MaxFileSize bounds what is read back from a workspace file.
const MaxFileSize = 64 << 20

// Workspace is the directory that carries state between the phases of a
// build: signed step records, pending records, provenance. Every write is
// atomic.
type Workspace struct {
	dir string
}

// Open opens the workspace at dir, creating it if needed. An empty dir
// means DefaultDir.
func Open(dir string) (*Workspace, error) {
	if dir == "" {
		dir = DefaultDir
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fault.Invalidf("workspace %q is not a directory", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fault.Invalid(fmt.Errorf("creating workspace %q: %w", dir, err))
	}
	return &Workspace{dir: filepath.Clean(dir)}, nil
}

// Dir returns the workspace directory as given (cleaned).
func (w *Workspace) Dir() string { return w.dir }

// Path returns the path of the named file in the workspace.
func (w *Workspace) Path(name string) string { return filepath.Join(w.dir, name) }

// Write writes the named file atomically.
func (w *Workspace) Write(name string, data []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	if d := filepath.Dir(name); d != "." {
		if err := os.MkdirAll(w.Path(d), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", w.Path(d), err)
		}
	}
	return safefile.WriteAtomic(w.Path(name), data, 0o644)
}

// Start starts writing the named file atomically: it appears when the
// file is committed (nil publish: replacing a file of the name).
func (w *Workspace) Start(name string) (*safefile.File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return safefile.Create(w.Path(name), 0o644)
}

// Create writes the named file atomically, only if it does not exist yet:
// of two concurrent Creates of one name exactly one succeeds, the other
// returns an error matching fs.ErrExist.
func (w *Workspace) Create(name string, data []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	return safefile.CreateAtomic(w.Path(name), data, 0o644)
}

// Read reads the named file, a regular file of at most 64 MiB (see
// safefile.Read: a FIFO or device planted in the workspace is refused, never
// waited on).
func (w *Workspace) Read(name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return safefile.Read(w.Path(name), MaxFileSize)
}

// Remove removes the named file; a missing file is not an error.
func (w *Workspace) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.Remove(w.Path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", w.Path(name), err)
	}
	return nil
}

func checkName(name string) error {
	// filepath.IsLocal accepts "." and "a/..": the workspace itself.
	if name == "" || filepath.IsAbs(name) || !filepath.IsLocal(name) || filepath.Clean(name) == "." {
		return fault.Invalidf("invalid workspace file name %q", name)
	}
	return nil
}

// Envelopes returns the names of the signed DSSE envelopes at the top of the
// workspace (step records and, with the reserved prefix, provenance and
// other attestations), sorted.
func (w *Workspace) Envelopes() ([]string, error) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, fmt.Errorf("listing workspace %q: %w", w.dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), SuffixEnvelope) && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// ReadEnvelope reads and decodes the named DSSE envelope from the workspace.
func (w *Workspace) ReadEnvelope(name string) (*dsse.Envelope, error) {
	data, err := w.Read(name)
	if err != nil {
		return nil, err
	}
	return envelope.Parse(data)
}

// EnvelopeName returns the workspace file name of a signed step record:
// <step>.<keyid[:8]>.dsse.json.
func EnvelopeName(step, keyID string) string {
	return step + "." + shortKeyID(keyID) + SuffixEnvelope
}

// LinkName returns the file name of a classic in-toto link,
// <step>.<keyid[:8]>.link, as in-toto names it.
func LinkName(step, keyID string) string {
	return step + "." + shortKeyID(keyID) + SuffixLink
}

func shortKeyID(keyID string) string {
	if len(keyID) > 8 {
		return keyID[:8]
	}
	if keyID == "" {
		return "nokeyid"
	}
	return keyID
}

// AttestationName returns the workspace file name of a signed attestation
// that is not a step record, such as kind "provenance" or "vsa":
// _<kind>.<keyid[:8]>.dsse.json.
func AttestationName(kind, keyID string) string {
	return ReservedPrefix + kind + "." + shortKeyID(keyID) + SuffixEnvelope
}

// SuffixBundle ends the name of the sigstore bundle of a step record,
// written next to its envelope: <step>.<keyid[:8]>.sigstore.json.
const SuffixBundle = ".sigstore.json"

// BundleName returns the file name of the sigstore bundle of a step
// record signed by keyID: <step>.<keyid[:8]>.sigstore.json.
func BundleName(step, keyID string) string {
	return step + "." + shortKeyID(keyID) + SuffixBundle
}

// ValidateStepName reports whether name can name a step: 1 to 128 letters,
// digits, '.', '_' or '-', starting with a letter or digit, without "..".
// Step names become file names in the workspace, so nothing else is allowed.
func ValidateStepName(name string) error {
	if !validStepName(name) || strings.Contains(name, "..") {
		return fault.Invalidf("invalid step name %q: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, no '/' or '..'", name)
	}
	return nil
}

// validStepName matches ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ (by hand: the
// regular expression, its repetition unrolled, cost every command 0.3 ms
// and 1,700 allocations to compile at start-up).
func validStepName(name string) bool {
	if len(name) == 0 || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ImagePrefix starts the name of a material or product that is an image
// rather than a path, on the command line and in a step record: oci://REGISTRY/REPO[:TAG|@DIGEST].
const ImagePrefix = "oci://"
