package grafeas

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	resp := func(code int, retryAfter string) *http.Response {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	tests := []struct {
		name     string
		attempt  int
		resp     *http.Response
		min, max time.Duration
	}{
		{"429 Retry-After seconds", 0, resp(429, "7"), 7 * time.Second, 7 * time.Second},
		{"503 Retry-After seconds", 3, resp(503, "2"), 2 * time.Second, 2 * time.Second},
		{"Retry-After capped", 0, resp(429, "3600"), time.Minute, time.Minute},
		{"Retry-After date", 0, resp(429, time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)), 0, 0},
		{"first attempt", 0, resp(500, ""), time.Second, time.Second},
		{"jitter grows", 3, resp(500, ""), time.Second, 8 * time.Second},
		{"bounded", 40, nil, time.Second, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 50 {
				got := backoff(time.Second, time.Minute, tt.attempt, tt.resp)
				if got < tt.min || got > tt.max {
					t.Fatalf("backoff = %s, want within [%s, %s]", got, tt.min, tt.max)
				}
			}
		})
	}
}

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
