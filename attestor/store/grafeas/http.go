package grafeas

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"

	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/safefile"

	"github.com/hashicorp/go-retryablehttp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/attestor/attestor/attestor/internal/redirect"
	"github.com/attestor/attestor/attestor/internal/retry"
)

// maxPEMFile bounds the CA, certificate and key files read.
const maxPEMFile = 1 << 20

// TLSConfig returns the TLS configuration for a server with a private CA
// (caFile, PEM; empty: the system roots) and, for mutual TLS, the client
// certificate and key (PEM files; both or neither). The files are opened
// without blocking (a FIFO there is an error) and read up to 1 MiB.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := safefile.Read(caFile, maxPEMFile)
		if err != nil {
			return nil, fault.Invalid(fmt.Errorf("reading CA file: %w", err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fault.Invalid(fmt.Errorf("CA file %q holds no PEM certificate", caFile))
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fault.Invalid(errors.New("a client certificate needs both a certificate and a key file"))
	}
	if certFile != "" {
		certPEM, err := safefile.Read(certFile, maxPEMFile)
		if err != nil {
			return nil, fault.Invalid(fmt.Errorf("reading client certificate: %w", err))
		}
		keyPEM, err := safefile.Read(keyFile, maxPEMFile)
		if err != nil {
			return nil, fault.Invalid(fmt.Errorf("reading client key %q: %w", keyFile, err))
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		clear(keyPEM)
		if err != nil {
			return nil, fault.Invalid(fmt.Errorf("loading client certificate %q: %w", certFile, err))
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// retryHookKey carries, in a request's context, a check run before each
// retry of the request: it returns errCommitted when the write that the
// request makes is found on the server, which ends the retries.
type retryHookKey struct{}

var errCommitted = errors.New("write already committed")

// unknownCommit is the error of a retry hook that could not look whether
// the write landed: the write is not sent again, and the push fails as
// unavailable (a push run again lists what is there first).
func unknownCommit(err error) error {
	return fault.Unavailable(fmt.Errorf("a create got no answer, and looking whether it landed failed (not sent again, so as not to make a duplicate): %w", err))
}

func newRetryClient(o *options) *retryablehttp.Client {
	hc := o.httpClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if o.tlsConfig != nil {
			tr.TLSClientConfig = o.tlsConfig.Clone()
		}
		hc = &http.Client{Transport: tr}
	} else {
		c := *hc
		hc = &c
	}
	hc.Timeout = o.timeout
	hc.Transport = &readingTransport{base: hc.Transport, limit: o.maxResponseSize}
	hc.CheckRedirect = redirect.Policy(hc.CheckRedirect)
	rc := retry.Policy{Retries: o.retries, WaitMin: o.retryWaitMin, WaitMax: o.retryWaitMax, Logger: o.logger, Name: "grafeas"}.NewClient(hc)
	rc.PrepareRetry = func(req *http.Request) error {
		if hook, ok := req.Context().Value(retryHookKey{}).(func(context.Context) error); ok && hook != nil {
			return hook(context.WithValue(req.Context(), retryHookKey{}, nil))
		}
		return nil
	}
	return rc
}

// maxErrorBody bounds what is read of an answer that is not a success (a
// redirect or an error status): its status says what went wrong, and
// apiError quotes at most 1 KiB of it.
const maxErrorBody = 64 << 10

// success reports whether resp has a 2xx status.
func success(resp *http.Response) bool {
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// readingTransport reads the whole answer to a read (GET or HEAD: a
// listing or a lookup, which are idempotent) within the request, so that a
// body cut short or stalled past the request's time limit fails the
// attempt and is retried like an answer that never came. At most limit+1
// bytes are read: call fails an answer longer than limit, without a retry.
// Of an answer that is not a success (to a read or a write), at most
// maxErrorBody bytes are ever read. Writes are otherwise untouched: their
// answers are read by call, and a lost answer is settled by the retry
// hook's look-before-create, not by sending the write again.
type readingTransport struct {
	base  http.RoundTripper // nil: http.DefaultTransport
	limit int64
}

func (t *readingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if !success(resp) {
		// Only the start of a redirect or an error is read, by
		// anyone: the status says what went wrong.
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, maxErrorBody), resp.Body}
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return resp, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, t.limit+1))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, nil
}

var (
	marshalOpts   = protojson.MarshalOptions{}
	unmarshalOpts = protojson.UnmarshalOptions{DiscardUnknown: true}
)

// call sends one request with retries: body (if any) encoded with
// protojson, a 2xx response decoded into out (if any). A retry is
// preceded by hook (if any); a hook that returns errCommitted ends the
// call with that error.
func (c *Client) call(ctx context.Context, method, url string, body, out proto.Message, hook func(context.Context) error) error {
	var data []byte
	if body != nil {
		var err error
		if data, err = marshalOpts.Marshal(body); err != nil {
			return fmt.Errorf("encoding %s request: %w", method, err)
		}
	}
	// The hook belongs to this request only: requests that it makes, or
	// that a caller makes with this context, must not inherit it.
	if hook != nil {
		ctx = context.WithValue(ctx, retryHookKey{}, hook)
	} else if ctx.Value(retryHookKey{}) != nil {
		ctx = context.WithValue(ctx, retryHookKey{}, nil)
	}
	var rbody any
	if data != nil {
		rbody = data
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, url, rbody)
	if err != nil {
		return fmt.Errorf("grafeas: %s %s: %w", method, url, err)
	}
	req.Header.Set("Accept", "application/json")
	if data != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.opts.userAgent != "" {
		req.Header.Set("User-Agent", c.opts.userAgent)
	}
	ts, err := c.tokenSource(ctx)
	if err != nil {
		return err
	}
	var secret []byte // the token: never in an error, whatever the server quotes
	if ts != nil {
		tok, err := ts.Token()
		if err != nil {
			return fault.Unavailable(fmt.Errorf("grafeas: getting an access token: %w", err))
		}
		tok.SetAuthHeader(req.Request)
		secret = []byte(tok.AccessToken)
	}
	c.opts.logger.DebugContext(ctx, "grafeas request", "method", method, "url", url, "bytes", len(data))
	resp, err := c.http.Do(req)
	url = withoutQuery(url) // errors name the endpoint; the query is in the debug log
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		if errors.Is(err, errCommitted) {
			return errCommitted
		}
		if ctx.Err() != nil {
			return fmt.Errorf("grafeas: %s %s: %w", method, url, ctx.Err())
		}
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL again
		}
		return fault.Unavailable(fmt.Errorf("grafeas: %s %s: %w", method, url, err))
	}
	defer resp.Body.Close()
	limit := c.opts.maxResponseSize
	respData, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fault.Unavailable(fmt.Errorf("grafeas: %s %s: reading response: %w", method, url, err))
	}
	if int64(len(respData)) > limit {
		return fault.Unavailable(fmt.Errorf("grafeas: %s %s: more than %d bytes: %w", method, url, limit, ErrResponseTooLarge))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if len(secret) >= 4 {
			respData = bytes.ReplaceAll(respData, secret, []byte("***"))
		}
		return apiError(method, url, resp.StatusCode, respData)
	}
	if out != nil {
		if err := unmarshalOpts.Unmarshal(respData, out); err != nil {
			return fault.Unavailable(fmt.Errorf("grafeas: %s %s: decoding response: %w", method, url, err))
		}
	}
	return nil
}

// apiError decodes an error body: grpc-gateway's {"code","message"} or
// Google's {"error":{"code","message","status"}}.
func apiError(method, url string, code int, body []byte) *APIError {
	e := &APIError{Method: method, URL: url, StatusCode: code}
	var b struct {
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
		Error   *struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &b) == nil {
		e.Message = b.Message
		if b.Error != nil {
			e.Message, e.Status = b.Error.Message, b.Error.Status
		}
		if e.Status == "" {
			var n int
			if json.Unmarshal(b.Code, &n) == nil && n > 0 {
				e.Status = grpcCodeName(n)
			}
		}
	} else {
		e.Message = string(bytes.TrimSpace(body[:min(len(body), 512)]))
	}
	if len(e.Message) > 1024 {
		e.Message = e.Message[:1024] + "…"
	}
	return e
}

func grpcCodeName(n int) string {
	names := []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
		"OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}
	if n >= 0 && n < len(names) {
		return names[n]
	}
	return strconv.Itoa(n)
}

func withoutQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
