package envelope_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"empty":              "",
		"not JSON":           "{",
		"a list":             "[]",
		"no payloadType":     `{"payload":"e30=","signatures":[{"keyid":"k","sig":"c2ln"}]}`,
		"payload not base64": `{"payloadType":"t","payload":"*not base64*","signatures":[{"keyid":"k","sig":"c2ln"}]}`,
		"no signatures":      `{"payloadType":"t","payload":"e30=","signatures":[]}`,
		"signatures missing": `{"payloadType":"t","payload":"e30="}`,
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, err := envelope.Parse([]byte(data))
			if !errors.Is(err, fault.ErrInvalidInput) || env != nil {
				t.Errorf("envelope.Parse(%q) = %+v, %v; want an error matching fault.ErrInvalidInput", data, env, err)
			}
		})
	}
}

// FuzzParse: Parse never panics; an envelope it accepts
// has a payload type, a base64 payload and a signature, and re-encodes to
// an envelope that parses to the same value.
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "build.dsse.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"payloadType":"x","payload":"","signatures":[{"keyid":"","sig":""}]}`))
	f.Add([]byte(`{"payloadType":"x","payload":"AA==","signatures":[{}],"payloadType":"y"}`))
	f.Add([]byte(`{"payloadType":"x","payload":"AA","signatures":[null]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := envelope.Parse(data)
		if err != nil {
			return
		}
		if env.PayloadType == "" || len(env.Signatures) == 0 {
			t.Fatalf("accepted %+v", env)
		}
		if _, err := env.DecodeB64Payload(); err != nil {
			t.Fatalf("accepted a payload that does not decode: %v", err)
		}
		again, err := json.Marshal(env)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		env2, err := envelope.Parse(again)
		if err != nil {
			t.Fatalf("the re-encoding does not parse: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(env, env2) {
			t.Fatalf("round trip changed the envelope:\n%+v\n%+v", env, env2)
		}
	})
}
