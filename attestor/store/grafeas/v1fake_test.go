package grafeas_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	gv1 "google.golang.org/genproto/googleapis/grafeas/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const testToken = "test-token-0123456789"

// fakeV1 speaks the REST contract of Container Analysis' v1 API. It
// decodes every request body into genproto's grafeas/v1 types with
// protojson (unknown fields rejected) and rejects what the API rejects:
// a missing resource URI, note or details, a kind that does not match the
// details, an unknown note, an occurrence without an envelope (but a
// Binary Authorization attestation: a serialized payload with signatures
// and their public key ids).
type fakeV1 struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	notes    map[string]*gv1.Note
	occs     []*gv1.Occurrence
	requests []string
	// fault, when set, sees each request first (with its body) and
	// returns true when it has answered it.
	fault func(w http.ResponseWriter, r *http.Request, n int) bool
}

func newFakeV1(t *testing.T) *fakeV1 {
	f := &fakeV1{t: t, notes: map[string]*gv1.Note{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeV1) setFault(fn func(w http.ResponseWriter, r *http.Request, n int) bool) {
	f.mu.Lock()
	f.fault = fn
	f.mu.Unlock()
}

func (f *fakeV1) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeV1) occurrences() []*gv1.Occurrence {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*gv1.Occurrence(nil), f.occs...)
}

func (f *fakeV1) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	n := len(f.requests)
	fault := f.fault
	f.mu.Unlock()
	if fault != nil && fault(w, r, n) {
		return
	}
	f.handle(w, r)
}

func (f *fakeV1) handle(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		apiErr(w, http.StatusUnauthorized, "UNAUTHENTICATED", "missing or bad token")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		apiErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error())
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	// v1 projects P (notes|occurrences) [ID]
	if len(parts) < 4 || parts[0] != "v1" || parts[1] != "projects" || parts[2] == "" {
		apiErr(w, http.StatusNotFound, "NOT_FOUND", "no route "+r.URL.Path)
		return
	}
	project, coll := parts[2], parts[3]
	strict := protojson.UnmarshalOptions{DiscardUnknown: false}
	switch {
	case coll == "notes" && len(parts) == 5 && r.Method == http.MethodGet:
		f.mu.Lock()
		n, ok := f.notes["projects/"+project+"/notes/"+parts[4]]
		f.mu.Unlock()
		if !ok {
			apiErr(w, http.StatusNotFound, "NOT_FOUND", "note not found")
			return
		}
		reply(w, n)
	case coll == "notes" && len(parts) == 4 && r.Method == http.MethodPost:
		id := r.URL.Query().Get("noteId")
		note := &gv1.Note{}
		if err := strict.Unmarshal(body, note); err != nil {
			apiErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "decoding note: "+err.Error())
			return
		}
		if id == "" || strings.Contains(id, "/") {
			apiErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "noteId required")
			return
		}
		if note.GetKind() == gv1.NoteKind_NOTE_KIND_UNSPECIFIED || note.GetType() == nil {
			apiErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "note kind and type required")
			return
		}
		if !kindMatches(note.GetKind(), note.GetType()) {
			apiErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf("note kind %s does not match its type %T", note.GetKind(), note.GetType()))
			return
		}
		if b := note.GetBuild(); b != nil && b.GetBuilderVersion() == "" {
			apiErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "build.builder_version required")
			return
		}
		name := "projects/" + project + "/notes/" + id
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.notes[name]; ok {
			apiErr(w, http.StatusConflict, "ALREADY_EXISTS", "note exists")
			return
		}
		note.Name = name
		f.notes[name] = note
		reply(w, note)
	case coll == "occurrences" && len(parts) == 4 && r.Method == http.MethodPost:
		o := &gv1.Occurrence{}
		if err := strict.Unmarshal(body, o); err != nil {
			apiErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "decoding occurrence: "+err.Error())
			return
		}
		if msg := checkOccurrence(o); msg != "" {
			apiErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", msg)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.notes[o.GetNoteName()]; !ok {
			apiErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "unknown note "+o.GetNoteName())
			return
		}
		o.Name = fmt.Sprintf("projects/%s/occurrences/%d", project, len(f.occs)+1)
		f.occs = append(f.occs, o)
		reply(w, o)
	case coll == "occurrences" && len(parts) == 4 && r.Method == http.MethodGet:
		q := r.URL.Query()
		size, err := strconv.Atoi(q.Get("pageSize"))
		if err != nil || size < 1 || size > 1000 {
			apiErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "bad pageSize")
			return
		}
		start := 0
		if tok := q.Get("pageToken"); tok != "" {
			if start, err = strconv.Atoi(tok); err != nil {
				apiErr(w, http.StatusBadRequest, "INVALID_ARGUMENT", "bad pageToken")
				return
			}
		}
		f.mu.Lock()
		var mine []*gv1.Occurrence
		for _, o := range f.occs {
			if strings.HasPrefix(o.GetName(), "projects/"+project+"/") {
				mine = append(mine, o)
			}
		}
		f.mu.Unlock()
		end := min(start+size, len(mine))
		resp := &gv1.ListOccurrencesResponse{Occurrences: mine[min(start, end):end]}
		if end < len(mine) {
			resp.NextPageToken = strconv.Itoa(end)
		}
		reply(w, resp)
	default:
		apiErr(w, http.StatusNotFound, "NOT_FOUND", "no route "+r.Method+" "+r.URL.Path)
	}
}

func checkOccurrence(o *gv1.Occurrence) string {
	switch {
	case o.GetName() != "":
		return "name is output only"
	case o.GetResourceUri() == "":
		return "resource_uri required"
	case o.GetNoteName() == "":
		return "note_name required"
	case o.GetDetails() == nil:
		return "details required"
	case !kindMatches(o.GetKind(), o.GetDetails()):
		return fmt.Sprintf("kind %s does not match details %T", o.GetKind(), o.GetDetails())
	case o.GetEnvelope() == nil && o.GetAttestation() != nil:
		// A Binary Authorization attestation: what the API reads is the
		// serialized payload and the signatures with their key ids.
		a := o.GetAttestation()
		if len(a.GetSerializedPayload()) == 0 || len(a.GetSignatures()) == 0 {
			return "attestation: serialized_payload and signatures required"
		}
		for _, s := range a.GetSignatures() {
			if len(s.GetSignature()) == 0 || s.GetPublicKeyId() == "" {
				return "attestation: signature and public_key_id required"
			}
		}
	case o.GetEnvelope() == nil || len(o.GetEnvelope().GetSignatures()) == 0 || len(o.GetEnvelope().GetPayload()) == 0:
		return "envelope with payload and signatures required"
	}
	return ""
}

func kindMatches(k gv1.NoteKind, details any) bool {
	switch details.(type) {
	case *gv1.Occurrence_Attestation, *gv1.Note_Attestation:
		return k == gv1.NoteKind_ATTESTATION
	case *gv1.Occurrence_Build, *gv1.Note_Build:
		return k == gv1.NoteKind_BUILD
	case *gv1.Occurrence_DsseAttestation, *gv1.Note_DsseAttestation:
		return k == gv1.NoteKind_DSSE_ATTESTATION
	}
	return false
}

func reply(w http.ResponseWriter, m proto.Message) {
	data, err := protojson.Marshal(m)
	if err != nil {
		apiErr(w, http.StatusInternalServerError, "INTERNAL", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

func apiErr(w http.ResponseWriter, code int, status, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}
