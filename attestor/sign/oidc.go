package sign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/attestor/attestor/attestor/fault"

	"github.com/attestor/attestor/attestor/internal/retry"
	"github.com/hashicorp/go-retryablehttp"
)

// Environment variables IdentityToken reads.
const (
	// EnvGitHubTokenURL and EnvGitHubRequestToken are set by GitHub
	// Actions in jobs with `permissions: id-token: write`.
	EnvGitHubTokenURL     = "ACTIONS_ID_TOKEN_REQUEST_URL"
	EnvGitHubRequestToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
	// EnvSigstoreIDToken holds a ready identity token: GitLab CI sets it
	// from `id_tokens: SIGSTORE_ID_TOKEN: {aud: sigstore}`; any CI may.
	EnvSigstoreIDToken = "SIGSTORE_ID_TOKEN"
	// EnvMetadataHost overrides the GCP metadata server's host[:port]
	// (default metadata.google.internal), as the Google Cloud libraries do.
	EnvMetadataHost = "GCE_METADATA_HOST"
)

// DefaultAudience is the audience of the identity tokens Fulcio accepts.
const DefaultAudience = "sigstore"

// maxTokenResponse bounds a token endpoint's response.
const maxTokenResponse = 64 << 10

// TokenSource returns an OIDC identity token for Fulcio. Token is called
// each time a certificate is needed (tokens are short-lived); it must not
// log or return the token in an error.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenFunc adapts a function to a TokenSource.
type TokenFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// StaticToken is a TokenSource that returns a token given by the user
// (--identity-token). Its String never shows the token.
type StaticToken string

// Token returns the token, or ErrNoIdentityToken when it is empty.
func (t StaticToken) Token(context.Context) (string, error) {
	if t == "" {
		return "", ErrNoIdentityToken
	}
	return string(t), nil
}

// String hides the token.
func (t StaticToken) String() string { return "sign.StaticToken(redacted)" }

// GoString hides the token.
func (t StaticToken) GoString() string { return t.String() }

// TokenOption configures DetectTokenSource.
type TokenOption func(*tokenOptions) error

type tokenOptions struct {
	audience string
	lookup   func(string) (string, bool)
	client   *http.Client
	retries  int
	backoff  time.Duration
	mask     func(secret string)
}

func defaultTokenOptions() tokenOptions {
	return tokenOptions{
		audience: DefaultAudience,
		lookup:   os.LookupEnv,
		client:   &http.Client{Timeout: 30 * time.Second},
		retries:  3,
		backoff:  time.Second,
	}
}

// WithLookupEnv sets how environment variables are read. The default is
// os.LookupEnv; tests inject a map.
func WithLookupEnv(lookup func(string) (string, bool)) TokenOption {
	return func(o *tokenOptions) error {
		if lookup == nil {
			return fault.Invalid(errors.New("sign.WithLookupEnv: nil function"))
		}
		o.lookup = lookup
		return nil
	}
}

// WithMask sets a function called with every token fetched, before it is
// used, so that the CI hides it from its logs (in GitHub Actions, cmd
// prints "::add-mask::"). The default does nothing.
func WithMask(mask func(secret string)) TokenOption {
	return func(o *tokenOptions) error {
		o.mask = mask
		return nil
	}
}

// DetectTokenSource returns the TokenSource of the CI the process runs
// in, checked in this order:
//
//   - SIGSTORE_ID_TOKEN is set (GitLab CI id_tokens, or any CI): that
//     token;
//   - ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are
//     set (GitHub Actions with id-token: write): a token fetched from
//     that URL for the audience;
//   - GCE_METADATA_HOST is set, or metadata.google.internal resolves
//     (Cloud Build, GCE, GKE, Cloud Run): an identity token of the
//     default service account from the metadata server.
//
// Otherwise it returns an error matching ErrNoIdentityToken. Only the
// environment (and one DNS lookup) is checked here; tokens are fetched by
// Token, with retries, and a fetch that still fails matches
// fault.ErrUnavailable. Tokens never appear in errors or logs.
func DetectTokenSource(ctx context.Context, opts ...TokenOption) (TokenSource, error) {
	o := defaultTokenOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if tok, ok := o.lookup(EnvSigstoreIDToken); ok && tok != "" {
		return o.masked(StaticToken(tok)), nil
	}
	o.client = boundedClient(o.client, "")
	ghURL, _ := o.lookup(EnvGitHubTokenURL)
	ghTok, _ := o.lookup(EnvGitHubRequestToken)
	switch {
	case ghURL != "" && ghTok != "":
		u, err := url.Parse(ghURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fault.Invalid(fmt.Errorf("%s is not an http(s) URL", EnvGitHubTokenURL))
		}
		q := u.Query()
		q.Set("audience", o.audience)
		u.RawQuery = q.Encode()
		return o.masked(&httpToken{
			what:   "GitHub Actions OIDC token",
			url:    u.String(),
			header: http.Header{"Authorization": {"bearer " + ghTok}, "Accept": {"application/json; api-version=2.0"}},
			json:   true,
			o:      o,
		}), nil
	case ghURL != "" || ghTok != "":
		return nil, fmt.Errorf("%w: GitHub Actions sets %s and %s only with `permissions: id-token: write`", ErrNoIdentityToken, EnvGitHubTokenURL, EnvGitHubRequestToken)
	}
	host, _ := o.lookup(EnvMetadataHost)
	if host == "" {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := net.DefaultResolver.LookupHost(lctx, "metadata.google.internal"); err == nil {
			host = "metadata.google.internal"
		}
	}
	if host != "" {
		u := url.URL{Scheme: "http", Host: host, Path: "/computeMetadata/v1/instance/service-accounts/default/identity"}
		u.RawQuery = url.Values{"audience": {o.audience}, "format": {"full"}}.Encode()
		return o.masked(&httpToken{
			what:   "GCP metadata server identity token",
			url:    u.String(),
			header: http.Header{"Metadata-Flavor": {"Google"}},
			o:      o,
		}), nil
	}
	return nil, fmt.Errorf("%w: pass --identity-token, or run in GitHub Actions (permissions: id-token: write), GitLab CI (id_tokens: SIGSTORE_ID_TOKEN) or Cloud Build", ErrNoIdentityToken)
}

// masked wraps ts so that every token it returns is first given to the
// mask function.
func (o tokenOptions) masked(ts TokenSource) TokenSource {
	if o.mask == nil {
		return ts
	}
	return TokenFunc(func(ctx context.Context) (string, error) {
		tok, err := ts.Token(ctx)
		if err == nil {
			o.mask(tok)
		}
		return tok, err
	})
}

// httpToken fetches a token with a GET request: GitHub Actions (a JSON
// {"value": token}) or the GCP metadata server (the token itself).
type httpToken struct {
	what   string
	url    string
	header http.Header
	json   bool
	o      tokenOptions
}

// Token fetches the token, retrying as the retry policy says
// (attestor/internal/retry: no answer, 408, 429, 500, 502, 503, 504), 3
// times, the first wait 1 s, doubled at each retry. Errors name
// the host only: the URL's query may carry secrets, and no error includes
// a header or the response body; nothing is logged.
func (h *httpToken) Token(ctx context.Context) (string, error) {
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return "", fault.Invalid(fmt.Errorf("fetching %s: bad token URL", h.what))
	}
	req.Header = h.header.Clone()
	host := req.URL.Host
	var tok string
	// The answer is read within its attempt, so that one cut short is
	// asked again.
	req.SetResponseHandler(func(resp *http.Response) error {
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
		if err != nil {
			return fmt.Errorf("reading the response of %s failed: %w", host, causeOnly(err))
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s returned %s", host, resp.Status)
		}
		tok, err = h.parse(host, body)
		return err
	})
	pol := retry.Policy{Retries: h.o.retries, WaitMin: h.o.backoff, WaitMax: h.o.backoff << min(h.o.retries, 16)}
	resp, err := pol.NewClient(h.o.client).Do(req)
	switch {
	case err != nil && ctx.Err() != nil:
		return "", ctx.Err()
	case err != nil:
		return "", fault.Unavailable(fmt.Errorf("fetching %s: %w", h.what, causeOnly(err)))
	case tok == "":
		// The retries of a 408, 429 or 5xx answer are spent.
		resp.Body.Close()
		return "", fault.Unavailable(fmt.Errorf("fetching %s: %s returned %s", h.what, host, resp.Status))
	}
	return tok, nil
}

// causeOnly strips the *url.Error around err: it repeats the URL.
func causeOnly(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("request to %s: %w", hostOf(ue.URL), ue.Err)
	}
	return err
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return "token endpoint"
}

// parse reads the token out of a 200 answer's body: a JSON {"value":
// token} (GitHub Actions) or the token itself (the GCP metadata server).
func (h *httpToken) parse(host string, body []byte) (string, error) {
	tok := string(body)
	if h.json {
		var v struct {
			Value string `json:"value"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return "", fmt.Errorf("%s returned a response that is not {\"value\": token}", host)
		}
		tok = v.Value
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || strings.Count(tok, ".") != 2 {
		return "", fmt.Errorf("%s returned no JWT", host)
	}
	return tok, nil
}
