package grafeas_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/store"
	"github.com/attestor/attestor/attestor/store/grafeas"
	"github.com/attestor/attestor/attestor/store/storetest"
)

func newOSSClient(t *testing.T, s *server, project string, opts ...grafeas.Option) *grafeas.Client {
	t.Helper()
	base := []grafeas.Option{
		grafeas.WithURL(s.URL),
		grafeas.WithProject(project),
		grafeas.WithRetry(2, 10*time.Millisecond, 100*time.Millisecond),
		grafeas.WithTimeout(30 * time.Second),
	}
	if s.TLS != nil {
		cfg, err := grafeas.TLSConfig(s.TLS.CA, s.TLS.ClientCert, s.TLS.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		base = append(base, grafeas.WithTLSConfig(cfg))
	}
	c, err := grafeas.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConformanceOSS runs the store conformance suite against the real
// open-source Grafeas server, with its memstore.
func TestConformanceOSS(t *testing.T) {
	s := startServer(t, false)
	storetest.Run(t, storetest.Config{
		New:     func(t *testing.T) store.Store { return newOSSClient(t, s, "conformance") },
		Subject: imageSubject,
	})
}

// TestConformanceOSSNoteProject keeps notes in another project than the
// occurrences.
func TestConformanceOSSNoteProject(t *testing.T) {
	s := startServer(t, false)
	storetest.Run(t, storetest.Config{
		New: func(t *testing.T) store.Store {
			return newOSSClient(t, s, "occurrences", grafeas.WithNoteProject("notes"))
		},
		Subject: func(t *testing.T) store.Subject { return storetest.FileSubject(t) },
	})
}

// TestConformanceOSSMutualTLS runs the suite over TLS with a client
// certificate.
func TestConformanceOSSMutualTLS(t *testing.T) {
	s := startServer(t, true)
	storetest.Run(t, storetest.Config{
		New:     func(t *testing.T) store.Store { return newOSSClient(t, s, "mtls") },
		Subject: imageSubject,
	})
	t.Run("NoClientCertificate", func(t *testing.T) {
		cfg, err := grafeas.TLSConfig(s.TLS.CA, "", "")
		if err != nil {
			t.Fatal(err)
		}
		c, err := grafeas.New(grafeas.WithURL(s.URL), grafeas.WithProject("mtls"), grafeas.WithTLSConfig(cfg), grafeas.WithRetry(0, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(t.Context(), imageSubject(t)); err == nil {
			t.Fatal("Get without a client certificate succeeded")
		}
	})
}

// TestOSSOccurrences checks what the server holds: one occurrence per
// attestation, of the right kind, on the https resource URI, with the
// envelope; and that the scheme-less resource form is read too.
func TestOSSOccurrences(t *testing.T) {
	s := startServer(t, false)
	c := newOSSClient(t, s, "shape", grafeas.WithStepNotes(grafeas.StepNote{
		Name:      "build",
		Keys:      []grafeas.SigningKey{{KeyID: "abc", KeyType: "ed25519", KeyScheme: "ed25519", PublicKey: "-----BEGIN PUBLIC KEY-----"}},
		Threshold: 1,
	}))
	subj := imageSubject(t)
	link := linkAttestation(t, subj, "build")
	prov := storetest.Attestation(t, subj, "https://slsa.dev/provenance/v1", "p")
	other := storetest.Attestation(t, subj, "https://attestor.dev/promotion/v1", "promo")
	for range 2 {
		if err := c.Put(t.Context(), subj, link, prov, other); err != nil {
			t.Fatal(err)
		}
	}
	occs := listRaw(t, s, "shape")
	kinds := map[string]int{}
	for _, o := range occs {
		if o.Resource.URI != store.ResourceURI(subj) {
			t.Errorf("occurrence on %q, want %q", o.Resource.URI, store.ResourceURI(subj))
		}
		if o.Envelope == nil {
			t.Errorf("occurrence %s has no envelope", o.Name)
		}
		kinds[o.Kind]++
	}
	if want := map[string]int{"INTOTO": 1, "BUILD": 1, "ATTESTATION": 1}; !equalCounts(kinds, want) {
		t.Errorf("occurrence kinds %v, want %v", kinds, want)
	}
	var note struct {
		Kind   string `json:"kind"`
		Intoto struct {
			StepName    string `json:"stepName"`
			SigningKeys []struct {
				KeyID string `json:"keyId"`
			} `json:"signingKeys"`
			Threshold string `json:"threshold"`
		} `json:"intoto"`
	}
	getJSON(t, s, "/v1beta1/projects/shape/notes/attestor-step-build", &note)
	if note.Kind != "INTOTO" || note.Intoto.StepName != "build" || len(note.Intoto.SigningKeys) != 1 || note.Intoto.Threshold != "1" {
		t.Errorf("step note = %+v", note)
	}

	// An occurrence written by another tool on the scheme-less resource.
	other2 := storetest.Attestation(t, subj, "https://attestor.dev/promotion/v1", "scheme-less")
	env, _ := envelope.Parse(other2.Envelope)
	body := `{"resource":{"uri":"` + subj.Name + "@" + subj.Digest.String() + `"},"noteName":"projects/shape/notes/attestor-attestation","kind":"ATTESTATION",` +
		`"attestation":{"attestation":{"genericSignedAttestation":{}}},` +
		`"envelope":{"payload":"` + env.Payload + `","payloadType":"` + env.PayloadType + `","signatures":[{"keyid":"` + env.Signatures[0].KeyID + `","sig":"` + env.Signatures[0].Sig + `"}]}}`
	resp, err := s.Client.Post(s.URL+"/v1beta1/projects/shape/occurrences", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("creating a scheme-less occurrence: %s: %s", resp.Status, data)
	}
	got, err := c.Get(t.Context(), subj)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, got, link, prov, other, other2)
}

type rawOccurrence struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Resource struct {
		URI string `json:"uri"`
	} `json:"resource"`
	Envelope *json.RawMessage `json:"envelope"`
}

func listRaw(t *testing.T, s *server, project string) []rawOccurrence {
	t.Helper()
	var r struct {
		Occurrences []rawOccurrence `json:"occurrences"`
	}
	getJSON(t, s, "/v1beta1/projects/"+project+"/occurrences?pageSize=1000", &r)
	return r.Occurrences
}

func getJSON(t *testing.T, s *server, path string, v any) {
	t.Helper()
	resp, err := s.Client.Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func equalCounts(a, b map[string]int) bool {
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
