package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// The payload is signed where it lies: the header written in front of it
// makes dsse.PAE's bytes.
func TestInPlacePAE(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{"", "{}", strings.Repeat("x", 123457)} {
		for _, typ := range []string{PayloadTypeInToto, "t", strings.Repeat("y", 64)} {
			buf := append(make([]byte, PAEReserve), payload...)
			if got, want := InPlacePAE(buf, typ), dsse.PAE(typ, []byte(payload)); !bytes.Equal(got, want) {
				t.Errorf("type %q, payload of %d bytes: got %.80q, want %.80q", typ, len(payload), got, want)
			}
		}
	}
}

// The streamed envelope is byte for byte json.Marshal's.
func TestWriteEnvelope(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{"", "a", "ab", "abc", strings.Repeat("{\"k\":\"<v>\"}", 20000)} {
		sig := dsse.Signature{KeyID: "key<&>\u2028id", Sig: "c2ln+/=="}
		var got bytes.Buffer
		if err := writeEnvelope(&got, PayloadTypeInToto, []byte(payload), sig); err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(&dsse.Envelope{PayloadType: PayloadTypeInToto,
			Payload: base64.StdEncoding.EncodeToString([]byte(payload)), Signatures: []dsse.Signature{sig}})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("payload of %d bytes:\ngot  %.200s\nwant %.200s", len(payload), got.Bytes(), want)
		}
	}
}

// writeEnvelope writes the DSSE envelope of payload with one signature to
// w, streaming the payload's base64: byte for byte what json.Marshal makes
// of the dsse.Envelope.
func writeEnvelope(w io.Writer, payloadType string, payload []byte, sig dsse.Signature) error {
	body := WriteBody(w, payloadType, payload)
	if err := body.Wait(); err != nil {
		return err
	}
	return body.Finish(sig)
}
