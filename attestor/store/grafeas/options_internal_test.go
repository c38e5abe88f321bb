package grafeas

import (
	"net/http"
	"testing"
)

func TestOptions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts []Option
	}{
		{"no project", []Option{WithURL("http://127.0.0.1:1")}},
		{"no URL for v1beta1", []Option{WithProject("p")}},
		{"bad URL", []Option{WithURL("ftp://x"), WithProject("p")}},
		{"bad project", []Option{WithURL("http://x"), WithProject("a/b")}},
		{"bad API", []Option{WithAPI("v2"), WithProject("p")}},
		{"conflict", []Option{WithURL("http://x"), WithProject("p"), WithHTTPClient(http.DefaultClient), WithTLSConfig(nil)}},
		{"page size", []Option{WithURL("http://x"), WithProject("p"), WithPageSize(1001)}},
	} {
		if _, err := New(tt.opts...); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	c, err := New(WithAPI(V1), WithProject("p"))
	if err != nil {
		t.Fatal(err)
	}
	if c.base != ContainerAnalysisURL+"/v1" {
		t.Errorf("v1 base = %q", c.base)
	}
	c, err = New(WithURL("http://127.0.0.1:8080/v1beta1/"), WithProject("p"))
	if err != nil {
		t.Fatal(err)
	}
	if c.base != "http://127.0.0.1:8080/v1beta1" {
		t.Errorf("base = %q", c.base)
	}
}
