package main

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/attestor/attestor/actions/github"
)

// TestActionArgsGolden records, for a broad set of inputs, what the
// action's entry point makes of them: the attestor command line
// (actionArgs: args, the args shown in the log, the key kept in memory) or
// the error, and the masks (::add-mask::) written first. Every input of
// every command, alone and all together; lists of several lines (blank
// and # lines, commas); booleans true, false and invalid; the key as a
// file, a KMS URI and a PEM; secrets; unknown inputs; inputs a command
// does not use; missing required inputs. testdata/action/args.golden is
// the reference; regenerate with -update.
func TestActionArgsGolden(t *testing.T) {
	t.Parallel()
	// The values, as a workflow would give them; names are action.yml's.
	values := map[string]string{
		"dir":             "ws dir",
		"verbose":         "true",
		"step":            "build",
		"materials":       "src\n\n# comment\n  go.mod  \nvendor",
		"products":        "bin/app\ndist",
		"exclude":         "*.tmp\n.git",
		"dirhash":         "node_modules\nvendor",
		"args":            `sh -c 'make all' "a b" c\ d`,
		"key":             "ci.key",
		"keyless":         "true",
		"identity-token":  "eyJ.token.sig",
		"fulcio-url":      "https://fulcio.example",
		"rekor-url":       "https://rekor.example",
		"format":          "in-toto",
		"subjects":        "oci://reg.example/app:v1\nbin/app",
		"slsa-version":    "1.1",
		"image":           "reg.example/app:v1",
		"artifact":        "bin/app",
		"destination":     "reg.example/prod/app:v1",
		"to":              "oci, grafeas\nreferrers",
		"from":            "dir,oci\n grafeas ",
		"oci-scheme":      "referrers",
		"dry-run":         "true",
		"insecure":        "TRUE",
		"policy":          "policy.yaml",
		"grafeas-url":     "http://127.0.0.1:9",
		"grafeas-project": "acme",
		"grafeas-api":     "v1beta1",
		"grafeas-token":   "grafeas-secret-token",
	}
	// The inputs each command reads, and those it needs, as of today.
	commands := map[string]struct{ reads, needs []string }{
		"run":          {[]string{"step", "materials", "products", "exclude", "dirhash", "args", "key", "keyless", "identity-token", "fulcio-url", "rekor-url", "format"}, []string{"step", "args"}},
		"record-start": {[]string{"step", "materials", "exclude", "dirhash", "key", "keyless", "identity-token", "fulcio-url", "rekor-url", "format"}, []string{"step"}},
		"record-stop":  {[]string{"step", "products", "exclude", "dirhash", "key", "keyless", "identity-token", "fulcio-url", "rekor-url", "format"}, []string{"step"}},
		"provenance":   {[]string{"subjects", "key", "keyless", "identity-token", "fulcio-url", "rekor-url", "slsa-version"}, nil},
		"push":         {[]string{"image", "to", "oci-scheme", "dry-run", "insecure", "grafeas-url", "grafeas-project", "grafeas-api", "grafeas-token"}, []string{"image"}},
		"verify":       {[]string{"image", "artifact", "policy", "from", "key", "insecure", "grafeas-url", "grafeas-project", "grafeas-api"}, []string{"policy"}},
		"promote":      {[]string{"image", "destination", "policy", "from", "key", "dry-run", "insecure", "grafeas-url", "grafeas-project", "grafeas-api"}, []string{"image", "destination", "policy"}},
	}
	all := slices.Sorted(maps.Keys(values))
	bools := []string{"verbose", "keyless", "dry-run", "insecure"}
	const pem = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nbm90IGEga2V5\nYWJj\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----"

	type testCase struct {
		name   string
		inputs map[string]string
	}
	var cases []testCase
	add := func(name string, inputs map[string]string) {
		cases = append(cases, testCase{name, inputs})
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	add("no command", map[string]string{})
	add("no command, other inputs", map[string]string{"step": "build", "image": "x"})
	add("unknown command", map[string]string{"command": "deploy"})
	add("command in another case", map[string]string{"command": "Run", "step": "build", "args": "true"})
	for _, cmd := range slices.Sorted(maps.Keys(commands)) {
		spec := commands[cmd]
		base := map[string]string{"command": cmd}
		for _, in := range spec.needs {
			base[in] = values[in]
		}
		add(cmd+": needed inputs only", base)
		for _, in := range spec.needs {
			m := maps.Clone(base)
			delete(m, in)
			add(cmd+": without "+in, m)
		}
		full := maps.Clone(base)
		for _, in := range append(spec.reads, "dir", "verbose") {
			full[in] = values[in]
		}
		add(cmd+": every input it reads", full)
		add(cmd+": every input it reads, unknown inputs too", with(full, "bogus", "x", "keys", "y"))
		add(cmd+": every input it reads, key as a PEM", with(full, "key", pem))
		for _, in := range append(slices.Clone(spec.reads), "dir", "verbose") {
			add(cmd+": "+in, with(base, in, values[in]))
		}
		var unused []string
		for _, in := range all {
			if !slices.Contains(spec.reads, in) && in != "dir" && in != "verbose" {
				unused = append(unused, in)
				add(cmd+": unused "+in, with(base, in, values[in]))
			}
		}
		everything := maps.Clone(full)
		for _, in := range unused {
			everything[in] = values[in]
		}
		add(cmd+": every input of action.yml", everything)
		for _, b := range bools {
			if !slices.Contains(spec.reads, b) && b != "verbose" {
				continue
			}
			for _, v := range []string{"true", "True", "TRUE", "false", "False", "FALSE", " true ", "yes", "1"} {
				add(fmt.Sprintf("%s: %s=%q", cmd, b, v), with(base, b, v))
				add(fmt.Sprintf("%s: every input, %s=%q", cmd, b, v), with(full, b, v))
			}
		}
		if slices.Contains(spec.reads, "key") {
			for _, k := range []string{
				"ci.key", "/abs/path/ci.key", "awskms:///arn:aws:kms:us-east-1:1:key/2", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
				"hashivault://transit-key", pem, pem + "\n", "  " + pem + "\n\n", "junk -----BEGIN X",
			} {
				add(fmt.Sprintf("%s: key=%q", cmd, k), with(base, "key", k))
			}
		}
		for _, in := range []string{"materials", "products", "exclude", "dirhash", "subjects", "to", "from"} {
			if !slices.Contains(spec.reads, in) {
				continue
			}
			for _, v := range []string{"one", "a\nb\nc", "a,b", " , \n# only a comment\n", "\n\n", "x, y,\nz"} {
				add(fmt.Sprintf("%s: %s=%q", cmd, in, v), with(base, in, v))
			}
		}
		if cmd == "run" {
			for _, v := range []string{"go build ./...", "  ", `sh -c 'echo`, `echo "a`, `a\`, `'' ""`, "make \\\n all", `--flag -- x`} {
				add(fmt.Sprintf("%s: args=%q", cmd, v), with(base, "args", v))
			}
		}
		// Which error comes first when several inputs are wrong.
		badBools := maps.Clone(full)
		for _, b := range bools {
			if _, ok := badBools[b]; ok {
				badBools[b] = "yes"
			}
		}
		add(cmd+": every boolean invalid", badBools)
		add(cmd+": every boolean invalid, an unused input", with(badBools, "bogus", "x", unused[0], values[unused[0]]))
		for _, in := range spec.needs {
			m := maps.Clone(badBools)
			delete(m, in)
			add(cmd+": every boolean invalid, without "+in, m)
			add(cmd+": booleans but verbose invalid, without "+in, with(m, "verbose", "false"))
		}
		if cmd == "run" {
			add(cmd+": keyless invalid, args unterminated", with(full, "keyless", "yes", "args", "'x"))
		}
		for _, in := range []string{"identity-token", "grafeas-token"} {
			if slices.Contains(spec.reads, in) {
				add(fmt.Sprintf("%s: %s on two lines", cmd, in), with(base, in, "line-one\nline-two"))
			}
		}
	}

	var out strings.Builder
	for _, c := range cases {
		env := []string{"GITHUB_ACTIONS=true", "COSIGN_PASSWORD=pw-secret", "VAULT_TOKEN="}
		for _, name := range slices.Sorted(maps.Keys(c.inputs)) {
			env = append(env, "INPUT_"+strings.ToUpper(name)+"="+c.inputs[name])
		}
		var log bytes.Buffer
		gh := github.New(github.WithEnviron(env), github.WithWriter(&log))
		maskSecrets(gh)
		fmt.Fprintf(&out, "== %s\n", c.name)
		for _, name := range slices.Sorted(maps.Keys(c.inputs)) {
			fmt.Fprintf(&out, "input %s=%q\n", name, c.inputs[name])
		}
		fmt.Fprintf(&out, "log %q\n", log.String())
		call, err := actionArgs(gh)
		if err != nil {
			fmt.Fprintf(&out, "error %q\n\n", err.Error())
			continue
		}
		fmt.Fprintf(&out, "command %q\nargs %q\nshown %q\nkeyPEM %q\ndir %q\n\n", call.command, call.args, call.shown, call.keyPEM, call.dir)
	}
	// attestor action -- COMMAND [FLAG]...: the command line as given.
	for _, g := range []*globals{{}, {dir: "ws", verbose: true}} {
		for _, args := range [][]string{
			{"run", "--step", "s", "--identity-token", "tok", "--", "sh", "--dir", "x"},
			{"record", "start", "--dir=other", "--grafeas-token=tok"},
			{"record", "stop", "--dir", "other"},
			{"record"}, {"record", "bogus"}, {"key", "generate"}, {"provenance", "--key", "k"},
			{"push", "--grafeas-token", "tok", "--image", "i"}, {"verify"}, {"promote", "a", "b"}, {"record-start"},
		} {
			fmt.Fprintf(&out, "== action --dir %q --verbose=%v -- %q\n", g.dir, g.verbose, args)
			call, err := passthroughArgs(g, args)
			if err != nil {
				fmt.Fprintf(&out, "error %q\n\n", err.Error())
				continue
			}
			fmt.Fprintf(&out, "command %q\nargs %q\nshown %q\nkeyPEM %q\ndir %q\n\n", call.command, call.args, call.shown, call.keyPEM, call.dir)
		}
	}
	golden(t, "action/args.golden", out.String())
}
