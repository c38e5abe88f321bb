package grafeas_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The open-source Grafeas server (go/v1beta1/main of github.com/grafeas/grafeas
// v0.2.3), built from the tools module in internal/tools.
const (
	serverPackage = "github.com/grafeas/grafeas/go/v1beta1/main"
	serverBinary  = "grafeas-server"
	serverVersion = "v0.2.3"
)

var (
	serverOnce sync.Once
	serverPath string
	serverErr  error
)

// grafeasServer returns the path of the server binary: $GRAFEAS_SERVER,
// $(go env GOPATH)/bin/grafeas-server (what .ci/setup builds), or one
// built here with go build in the tools module (cached in the user cache
// directory). It skips the test when there is none, unless
// ATTESTOR_REQUIRE_TOOLS=1.
func grafeasServer(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping the Grafeas server test in -short mode")
	}
	serverOnce.Do(func() { serverPath, serverErr = findServer() })
	if serverErr != nil {
		if os.Getenv("ATTESTOR_REQUIRE_TOOLS") == "1" {
			t.Fatalf("Grafeas server: %v (ATTESTOR_REQUIRE_TOOLS=1; run .ci/setup)", serverErr)
		}
		t.Skipf("no Grafeas server: %v (set GRAFEAS_SERVER or run .ci/setup)", serverErr)
	}
	return serverPath
}

func findServer() (string, error) {
	if p := os.Getenv("GRAFEAS_SERVER"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("GRAFEAS_SERVER: %w", err)
		}
		return p, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go command to build it: %w", err)
	}
	if out, err := exec.Command(goBin, "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", serverBinary)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	p := filepath.Join(cache, "attestor-test", serverBinary+"-"+serverVersion)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	tools, err := filepath.Abs(filepath.Join("internal", "tools"))
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tmp := fmt.Sprintf("%s.%d.tmp", p, os.Getpid())
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", tmp, serverPackage)
	cmd.Dir = tools
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s in %s: %v\n%s", serverPackage, tools, err, out)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", err
	}
	return p, nil
}

// server is a running Grafeas server with its memstore.
type server struct {
	URL string
	// Client is an HTTP client that trusts the server (and presents the
	// client certificate, when TLS is on).
	Client *http.Client
	TLS    *tlsFiles
}

// startServer starts the server with its memstore on a free loopback port
// and stops it when the test ends. With tlsOn, it requires client
// certificates (the server's only TLS mode).
func startServer(t *testing.T, tlsOn bool) *server {
	t.Helper()
	return startServerWith(t, tlsOn, "  storage_type: \"memstore\"\n")
}

// startServerWith starts the server with the given storage configuration
// (YAML lines under "grafeas:").
func startServerWith(t *testing.T, tlsOn bool, storage string) *server {
	t.Helper()
	bin := grafeasServer(t)
	dir := t.TempDir()
	var tf *tlsFiles
	if tlsOn {
		tf = newTLSFiles(t, dir)
	}
	var lastErr error
	for range 3 { // the free port may be taken before the server binds it
		s, err := tryStart(t, bin, dir, tf, storage)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("starting the Grafeas server: %v", lastErr)
	return nil
}

func tryStart(t *testing.T, bin, dir string, tf *tlsFiles, storage string) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("grafeas:\n  api:\n    address: %q\n", addr)
	scheme, hc := "http", &http.Client{Timeout: 5 * time.Second}
	if tf != nil {
		cfg += fmt.Sprintf("    cafile: %q\n    certfile: %q\n    keyfile: %q\n", tf.CA, tf.ServerCert, tf.ServerKey)
		scheme = "https"
		hc.Transport = &http.Transport{TLSClientConfig: tf.clientConfig(t)}
	}
	cfg += "    cors_allowed_origins:\n" + storage
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	cmd := exec.Command(bin, "-config", cfgPath)
	cmd.Stdout = lockedWriter{&logMu, &logs}
	cmd.Stderr = lockedWriter{&logMu, &logs}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
	}
	s := &server{URL: scheme + "://" + addr, Client: hc, TLS: tf}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			logMu.Lock()
			defer logMu.Unlock()
			return nil, fmt.Errorf("server exited (%v): %s", err, logs.String())
		default:
		}
		resp, err := hc.Get(s.URL + "/v1beta1/projects/probe/notes")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			logMu.Lock()
			defer logMu.Unlock()
			return nil, fmt.Errorf("server not ready after 30s (last error %v): %s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			logMu.Lock()
			t.Logf("Grafeas server log:\n%s", logs.String())
			logMu.Unlock()
		}
	})
	return s, nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// tlsFiles are a CA, a server certificate for 127.0.0.1 (also valid as a
// client certificate: the server's gateway dials the server with it) and
// a client certificate, as PEM files.
type tlsFiles struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

func newTLSFiles(t *testing.T, dir string) *tlsFiles {
	t.Helper()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "attestor test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
			DNSNames:     []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sDER, sKey := leaf(2, "127.0.0.1")
	cDER, cKey := leaf(3, "attestor test client")
	return &tlsFiles{
		CA:         write("ca.pem", "CERTIFICATE", caDER),
		ServerCert: write("server.pem", "CERTIFICATE", sDER),
		ServerKey:  write("server.key", "PRIVATE KEY", keyDER(sKey)),
		ClientCert: write("client.pem", "CERTIFICATE", cDER),
		ClientKey:  write("client.key", "PRIVATE KEY", keyDER(cKey)),
	}
}

func (f *tlsFiles) clientConfig(t *testing.T) *tls.Config {
	t.Helper()
	pemData, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatal(errors.New("bad CA"))
	}
	cert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
