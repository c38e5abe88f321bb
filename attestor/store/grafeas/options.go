package grafeas

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/workspace"

	"golang.org/x/oauth2"
)

// API is a dialect of the Grafeas REST API.
type API string

const (
	// V1Beta1 is the API of the open-source Grafeas server
	// (github.com/grafeas/grafeas, go/v1beta1).
	V1Beta1 API = "v1beta1"
	// V1 is the API of Google Container Analysis
	// (containeranalysis.googleapis.com/v1).
	V1 API = "v1"
)

// ParseAPI parses "v1beta1" or "v1".
func ParseAPI(s string) (API, error) {
	switch API(s) {
	case V1Beta1, V1:
		return API(s), nil
	}
	return "", fault.Invalid(fmt.Errorf("unknown Grafeas API %q: use v1beta1 (open-source server) or v1 (Container Analysis)", s))
}

// ContainerAnalysisURL is the default server of the V1 API.
const ContainerAnalysisURL = "https://containeranalysis.googleapis.com"

// Defaults.
const (
	// DefaultRetries is the number of retries after a failed request.
	DefaultRetries = 5
	// DefaultRetryWaitMin and DefaultRetryWaitMax bound the backoff
	// between retries.
	DefaultRetryWaitMin = 500 * time.Millisecond
	DefaultRetryWaitMax = 30 * time.Second
	// DefaultTimeout bounds one request attempt.
	DefaultTimeout = 60 * time.Second
	// DefaultPageSize is the page size of listings: the largest the
	// open-source server accepts.
	DefaultPageSize = 1000
	// DefaultMaxPages bounds one listing.
	DefaultMaxPages = 10000
	// DefaultMaxResponseSize bounds one response body.
	DefaultMaxResponseSize = 256 << 20
	// DefaultNotePrefix starts the ids of the notes the client creates.
	DefaultNotePrefix = "attestor"
)

// Option configures a Client.
type Option func(*options) error

type options struct {
	url             string
	api             API
	project         string
	noteProject     string
	httpClient      *http.Client
	tlsConfig       *tls.Config
	tokenSource     oauth2.TokenSource
	adc             bool
	retries         int
	retryWaitMin    time.Duration
	retryWaitMax    time.Duration
	timeout         time.Duration
	pageSize        int
	maxPages        int
	maxResponseSize int64
	logger          *slog.Logger
	dryRun          *workspace.Workspace
	dryRunOut       io.Writer
	notePrefix      string
	authorityNote   string // "" or a note id
	authorityProj   string // "" (the note project) or the authority note's project
	steps           map[string]StepNote
	userAgent       string
}

func defaultOptions() options {
	return options{
		api:             V1Beta1,
		retries:         DefaultRetries,
		retryWaitMin:    DefaultRetryWaitMin,
		retryWaitMax:    DefaultRetryWaitMax,
		timeout:         DefaultTimeout,
		pageSize:        DefaultPageSize,
		maxPages:        DefaultMaxPages,
		maxResponseSize: DefaultMaxResponseSize,
		logger:          slog.New(slog.DiscardHandler),
		notePrefix:      DefaultNotePrefix,
		userAgent:       "attestor",
	}
}

// WithURL sets the server's base URL, such as "http://127.0.0.1:8080" or
// "https://grafeas.example" (a trailing "/v1beta1" or "/v1" is ignored).
// It is required for V1Beta1; the default for V1 is ContainerAnalysisURL.
func WithURL(u string) Option {
	return func(o *options) error {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fault.Invalid(fmt.Errorf("grafeas URL %q: want http(s)://HOST[:PORT]", u))
		}
		if p.RawQuery != "" || p.Fragment != "" || p.User != nil {
			return fault.Invalid(fmt.Errorf("grafeas URL %q: no user, query or fragment allowed", u))
		}
		path := strings.TrimSuffix(p.Path, "/")
		path = strings.TrimSuffix(strings.TrimSuffix(path, "/"+string(V1Beta1)), "/"+string(V1))
		o.url = p.Scheme + "://" + p.Host + path
		return nil
	}
}

// WithAPI selects the dialect. The default is V1Beta1.
func WithAPI(api API) Option {
	return func(o *options) error {
		a, err := ParseAPI(string(api))
		o.api = a
		return err
	}
}

// WithProject sets the project that occurrences are written to and read
// from (required).
func WithProject(project string) Option {
	return func(o *options) error {
		if err := checkID("project", project); err != nil {
			return err
		}
		o.project = project
		return nil
	}
}

// WithNoteProject sets the project that holds the notes, when it is not
// the occurrences' project (the default).
func WithNoteProject(project string) Option {
	return func(o *options) error {
		if err := checkID("note project", project); err != nil {
			return err
		}
		o.noteProject = project
		return nil
	}
}

// WithTLSConfig sets the TLS configuration: server roots and client
// certificates (see TLSConfig).
func WithTLSConfig(c *tls.Config) Option {
	return func(o *options) error {
		if c == nil {
			return fault.Invalid(errors.New("grafeas: nil TLS config"))
		}
		o.tlsConfig = c
		return nil
	}
}

// WithToken sends the bearer token with every request.
func WithToken(token string) Option {
	return func(o *options) error {
		if token == "" {
			return fault.Invalid(errors.New("grafeas: empty token"))
		}
		o.tokenSource = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"})
		return nil
	}
}

// WithApplicationDefaultCredentials sends a bearer token from Google's
// application default credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud,
// the metadata server), found on the first request. Without a token
// option, no token is sent.
func WithApplicationDefaultCredentials() Option {
	return func(o *options) error {
		o.adc = true
		return nil
	}
}

// WithLogger logs requests, retries and ignored occurrences. The default
// logs nothing. Tokens are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fault.Invalid(errors.New("grafeas: nil logger"))
		}
		o.logger = l
		return nil
	}
}

// WithDryRun makes Put send nothing: it writes every note and occurrence
// body it would send under ws (_dry-run/grafeas/…) and prints each request
// with its body to w (nil: print nothing). Get still reads from the
// server.
func WithDryRun(ws *workspace.Workspace, w io.Writer) Option {
	return func(o *options) error {
		if ws == nil {
			return fault.Invalid(errors.New("grafeas: dry run needs a workspace"))
		}
		o.dryRun, o.dryRunOut = ws, w
		return nil
	}
}

// WithNotePrefix sets the prefix of the ids of the notes the client
// creates: PREFIX-step-STEP, PREFIX-provenance, PREFIX-attestation. The
// default is DefaultNotePrefix.
func WithNotePrefix(prefix string) Option {
	return func(o *options) error {
		if err := checkID("note prefix", prefix); err != nil {
			return err
		}
		o.notePrefix = prefix
		return nil
	}
}

// WithAuthorityNote sets the note of the attestation authority that
// PutAttestation writes Binary Authorization / Kritis attestations on: a
// note id (in the note project, WithNoteProject) or a full note name,
// projects/PROJECT/notes/NOTE (as a Kritis AttestationAuthority's
// noteReference or a Binary Authorization attestor's note names it; a
// leading "v1beta1/" or "v1/" is dropped). The note is got or created.
// The default is PREFIX-authority in the note project.
func WithAuthorityNote(note string) Option {
	return func(o *options) error {
		n := strings.TrimPrefix(strings.TrimPrefix(note, string(V1Beta1)+"/"), string(V1)+"/")
		if rest, ok := strings.CutPrefix(n, "projects/"); ok {
			project, id, ok := strings.Cut(rest, "/notes/")
			if !ok {
				return fault.Invalid(fmt.Errorf("grafeas: attestation authority note %q: want NOTE or projects/PROJECT/notes/NOTE", note))
			}
			if err := checkID("attestation authority note project", project); err != nil {
				return err
			}
			if err := checkID("attestation authority note", id); err != nil {
				return err
			}
			o.authorityProj, o.authorityNote = project, id
			return nil
		}
		if err := checkID("attestation authority note", n); err != nil {
			return err
		}
		o.authorityProj, o.authorityNote = "", n
		return nil
	}
}

// WithUserAgent sets the User-Agent header. The default is "attestor".
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		o.userAgent = ua
		return nil
	}
}

// StepNote is what a policy knows of a step, recorded in the step's
// in-toto note (v1beta1) when the note is created.
type StepNote struct {
	// Name is the step name.
	Name string
	// Keys are the functionaries' keys.
	Keys []SigningKey
	// ExpectedMaterials and ExpectedProducts are in-toto artifact rules,
	// such as ["MATCH", "*", "WITH", "PRODUCTS", "FROM", "checkout"].
	ExpectedMaterials, ExpectedProducts [][]string
	// ExpectedCommand is the command the step is expected to run.
	ExpectedCommand []string
	// Threshold is how many functionaries must sign (0: not known).
	Threshold int
}

// SigningKey is a functionary's key as in-toto describes it.
type SigningKey struct {
	KeyID     string
	KeyType   string // "ecdsa", "ed25519", "rsa"
	KeyScheme string // "ecdsa-sha2-nistp256", …
	PublicKey string // PEM
}

func checkID(what, id string) error {
	if id == "" || strings.ContainsAny(id, "/?#%\\ \t\r\n") {
		return fault.Invalid(fmt.Errorf("grafeas: invalid %s %q", what, id))
	}
	return nil
}
