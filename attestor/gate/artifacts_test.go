package gate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestor/attestor/attestor/envelope"
	"github.com/attestor/attestor/attestor/fault"
	"github.com/attestor/attestor/attestor/hashing"

	"github.com/attestor/attestor/attestor"
	"github.com/attestor/attestor/attestor/store"
)

// stepWith records a step as chain.step does, with extra recorder options.
func (c *chain) stepWith(name string, opts []attestor.Option, materials, products, command []string, do func()) {
	c.t.Helper()
	ctx := context.Background()
	c.when = c.when.Add(time.Minute)
	when := c.when
	rec, err := attestor.NewRecorder(c.ws, c.key("ci"), append([]attestor.Option{
		attestor.WithHashOptions(hashing.WithBaseDir(c.base)),
		attestor.WithClock(func() time.Time { return when }),
	}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := rec.Start(ctx, attestor.Step{Name: name, Materials: materials}); err != nil {
		c.t.Fatal(err)
	}
	if do != nil {
		do()
	}
	if _, err := rec.Stop(ctx, attestor.Step{Name: name, Products: products, Command: command}); err != nil {
		c.t.Fatal(err)
	}
}

// tags is a registry's tags, for an ImageResolver: the Recorder does no
// network I/O (the CLI's e2e tests resolve against docker-registry).
type tags map[string]string

func (tg tags) resolve(_ context.Context, ref string) (string, error) {
	if d, ok := tg[ref]; ok {
		return d, nil
	}
	return "", fault.Invalid(fmt.Errorf("image %q not found", ref))
}

const artifactsPolicy = `version: 1
expires: 2027-12-31T00:00:00Z
functionaries:
  ci: {key: ci.pub}
steps:
  - name: install
    functionaries: [ci]
    materials: [[ALLOW, package.json], [DISALLOW, "*"]]
    products: [[CREATE, node_modules], [DISALLOW, "*"]]
  - name: package
    functionaries: [ci]
    materials: [[MATCH, node_modules, WITH, PRODUCTS, FROM, install], [ALLOW, "src/*"], [DISALLOW, "*"]]
    products: [[CREATE, "oci://r.test/team/app"], [DISALLOW, "*"]]
  - name: deploy
    functionaries: [ci]
    materials: [[MATCH, "oci://*", WITH, PRODUCTS, FROM, package], [DISALLOW, "*"]]
    products: [[ALLOW, "oci://r.test/team/app"], [DISALLOW, "*"]]
`

// artifactsChain records install (node_modules as one dirHash artifact)
// → package (pushes an image: a product oci://r.test/team/app) → deploy
// (the image as a material and, deployed, as its product). between runs
// after the named step.
func artifactsChain(t *testing.T, between map[string]func(c *chain, tg tags)) (*chain, store.Subject) {
	t.Helper()
	c := newChain(t)
	tg := tags{}
	opts := []attestor.Option{attestor.WithDirHash("node_modules"), attestor.WithImageResolver(tg.resolve)}
	c.write(map[string]string{"package.json": `{"dependencies":{"left-pad":"1"}}`, "src/index.js": "require('left-pad')\n"})
	c.stepWith("install", opts, []string{"package.json"}, []string{"node_modules"}, []string{"npm", "ci"}, func() {
		c.write(map[string]string{"node_modules/left-pad/index.js": "pad\n", "node_modules/left-pad/package.json": "{}\n", "node_modules/.package-lock.json": "{}\n"})
	})
	if f := between["install"]; f != nil {
		f(c, tg)
	}
	app := "sha256:" + strings.Repeat("a", 64)
	c.stepWith("package", opts, []string{"node_modules", "src"}, []string{"oci://r.test/team/app:v1"}, []string{"crane", "push"}, func() {
		tg["r.test/team/app:v1"] = app
	})
	if f := between["package"]; f != nil {
		f(c, tg)
	}
	c.stepWith("deploy", opts, []string{"oci://r.test/team/app:v1"}, []string{"oci://r.test/team/app:v1"}, []string{"kubectl", "apply"}, nil)
	return c, store.Subject{Name: "r.test/team/app", Digest: mustHash(app)}
}

func TestArtifactsImageAndDirHash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		between map[string]func(c *chain, tg tags)
		subject func(store.Subject) store.Subject
		policy  func(string) string
		want    []error // nil: passes
		say     string
	}{
		{name: "chain passes"},
		{
			name: "a file inside node_modules changed after install",
			between: map[string]func(*chain, tags){"install": func(c *chain, _ tags) {
				c.write(map[string]string{"node_modules/left-pad/index.js": "pad; evil()\n"})
			}},
			want: []error{ErrArtifactRule}, say: "node_modules",
		},
		{
			name: "a file added inside node_modules after install",
			between: map[string]func(*chain, tags){"install": func(c *chain, _ tags) {
				c.write(map[string]string{"node_modules/left-pad/postinstall.sh": "curl evil\n"})
			}},
			want: []error{ErrArtifactRule}, say: "node_modules",
		},
		{
			name: "the image was replaced between package and deploy",
			between: map[string]func(*chain, tags){"package": func(_ *chain, tg tags) {
				tg["r.test/team/app:v1"] = "sha256:" + strings.Repeat("e", 64)
			}},
			want: []error{ErrArtifactRule, ErrSubjectMismatch}, say: "oci://r.test/team/app",
		},
		{
			name: "another image than the chain's",
			subject: func(s store.Subject) store.Subject {
				s.Digest = mustHash("sha256:" + strings.Repeat("f", 64))
				return s
			},
			want: []error{ErrSubjectMismatch},
		},
		{
			name: "DISALLOW oci://* among package's products",
			policy: func(p string) string {
				return replaceOnce(p, `[[CREATE, "oci://r.test/team/app"], [DISALLOW, "*"]]`, `[[DISALLOW, "oci://*"]]`)
			},
			want: []error{ErrArtifactRule}, say: "oci://r.test/team/app",
		},
		{
			name: "CREATE of another repository",
			policy: func(p string) string {
				return replaceOnce(p, `[CREATE, "oci://r.test/team/app"]`, `[CREATE, "oci://r.test/team/other"]`)
			},
			want: []error{ErrArtifactRule},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, subject := artifactsChain(t, tt.between)
			if tt.subject != nil {
				subject = tt.subject(subject)
			}
			doc := artifactsPolicy
			if tt.policy != nil {
				doc = tt.policy(doc)
			}
			res, err := c.verify(c.policy(doc), subject)
			if res == nil {
				t.Fatalf("no result (err %v)", err)
			}
			if tt.want == nil {
				if err != nil || !res.Verified {
					t.Fatalf("want a pass, got %v\nresult: %s", err, dump(res))
				}
				return
			}
			if err == nil || res.Verified {
				t.Fatalf("want a failure, got a pass: %s", dump(res))
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("error does not match %v:\n%v", w, err)
				}
			}
			if !strings.Contains(err.Error(), tt.say) {
				t.Errorf("error does not name %q: %v", tt.say, err)
			}
		})
	}
}

// TestArtifactsDirHashNotPerFile: the records hold node_modules as one
// artifact, whatever number of files lies below it.
func TestArtifactsDirHashNotPerFile(t *testing.T) {
	t.Parallel()
	c, _ := artifactsChain(t, nil)
	names, err := c.ws.Envelopes()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(c.ws.Dir(), n))
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := env.DecodeB64Payload()
		if strings.Contains(string(payload), "left-pad") {
			t.Errorf("%s lists the files below node_modules: %s", n, payload)
		}
	}
}
