package github

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sethvargo/go-githubactions"
)

// Environment variables of a GitHub Actions step that the package reads.
const (
	EnvActions     = "GITHUB_ACTIONS"
	EnvOutput      = "GITHUB_OUTPUT"
	EnvStepSummary = "GITHUB_STEP_SUMMARY"
)

// Action is the I/O of one GitHub Actions step. Create it with New; the
// zero value is not usable.
type Action struct {
	gha    *githubactions.Action
	getenv func(string) string
	random io.Reader
}

// Option configures New.
type Option func(*options)

type options struct {
	getenv func(string) string
	w      io.Writer
	random io.Reader
}

// WithGetenv sets how the step's environment is read. The default is
// os.Getenv.
func WithGetenv(fn func(string) string) Option {
	return func(o *options) {
		if fn != nil {
			o.getenv = fn
		}
	}
}

// WithEnviron reads the step's environment from environ, "KEY=value"
// entries as os.Environ returns them (later entries win). It replaces
// WithGetenv.
func WithEnviron(environ []string) Option {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			m[k] = v
		}
	}
	return WithGetenv(func(k string) string { return m[k] })
}

// WithWriter sets where workflow commands (masks, groups, annotations) are
// written. The default is os.Stdout, which the runner reads them from.
func WithWriter(w io.Writer) Option {
	return func(o *options) {
		if w != nil {
			o.w = w
		}
	}
}

// New returns the I/O of the step whose environment the options describe.
func New(opts ...Option) *Action {
	o := options{getenv: os.Getenv, w: os.Stdout, random: rand.Reader}
	for _, opt := range opts {
		opt(&o)
	}
	return &Action{
		gha:    githubactions.New(githubactions.WithGetenv(o.getenv), githubactions.WithWriter(o.w)),
		getenv: o.getenv,
		random: o.random,
	}
}

// Enabled reports whether the step runs in GitHub Actions
// (GITHUB_ACTIONS=true).
func (a *Action) Enabled() bool { return a.getenv(EnvActions) == "true" }

// Getenv returns the value of the environment variable key.
func (a *Action) Getenv(key string) string { return a.getenv(key) }

// Input returns the input name, trimmed; "" when it is not set. The runner
// passes an input as INPUT_<NAME>, upper-cased with spaces replaced by
// underscores and hyphens kept (INPUT_DRY-RUN).
func (a *Action) Input(name string) string { return a.gha.GetInput(name) }

// BoolInput returns the boolean input name: true for true, True or TRUE,
// false for false, False, FALSE or an unset input (the YAML 1.2 core
// schema, as the actions toolkit's getBooleanInput reads it). Any other
// value is an *InputError.
func (a *Action) BoolInput(name string) (bool, error) {
	switch v := a.Input(name); v {
	case "true", "True", "TRUE":
		return true, nil
	case "", "false", "False", "FALSE":
		return false, nil
	default:
		return false, &InputError{Name: name, Value: v, Err: errors.New("want true or false")}
	}
}

// ListInput returns the input name split into lines, each trimmed, blank
// lines and lines starting with # dropped (a YAML block scalar, one item
// a line).
func (a *Action) ListInput(name string) []string {
	var out []string
	for _, line := range strings.Split(a.Input(name), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out
}

// SetOutput sets the step output name to value, appending to the file at
// GITHUB_OUTPUT as a heredoc whose delimiter is random, so that no value
// (a multi-line list, a string an attacker chose) can end it early and set
// another output. A value with a carriage return (which the runner reads as
// a line break) is refused with ErrDelimiter. Without GITHUB_OUTPUT it does
// nothing.
func (a *Action) SetOutput(name, value string) error {
	return a.fileCommand("output", EnvOutput, name, value)
}

func (a *Action) fileCommand(cmd, env, name, value string) error {
	if a.getenv(env) == "" {
		return nil
	}
	if name == "" || strings.ContainsAny(name, "\r\n") {
		return fmt.Errorf("%s %q: %w", cmd, name, ErrDelimiter)
	}
	delim, err := a.delimiter()
	if err != nil {
		return err
	}
	// The runner reads the file line by line, and a carriage return ends
	// a line too: a value holding one would not read back as written.
	if strings.Contains(name, delim) || strings.Contains(value, delim) || strings.Contains(value, "\r") {
		return fmt.Errorf("%s %q: %w", cmd, name, ErrDelimiter)
	}
	msg := name + "<<" + delim + "\n" + value + "\n" + delim
	return a.issueFileCommand(cmd, env, msg)
}

// issueFileCommand appends msg and an end of line to the file named by
// env.
// go-githubactions' own file command is not used: it opens the file
// blocking, so a FIFO planted at the runner's file (by anything running
// as the same user since the job began) would hang the step. The file is
// opened without blocking and must be a regular file.
func (a *Action) issueFileCommand(cmd, env, msg string) error {
	path := a.getenv(env)
	f, err := openAppendRegular(path)
	if err != nil {
		return fmt.Errorf("writing %s to %s: %w", cmd, env, err)
	}
	_, werr := f.WriteString(msg + githubactions.EOF)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("writing %s to %s: %w", cmd, env, err)
	}
	return nil
}

// openAppendRegular opens path for appending, creating it (0644) if it is
// missing, without blocking; anything but a regular file is refused.
func openAppendRegular(path string) (*os.File, error) {
	f, err := openAppendNonBlocking(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (%v)", path, fi.Mode().Type())
	}
	return f, nil
}

func (a *Action) delimiter() (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(a.random, b); err != nil {
		return "", fmt.Errorf("choosing an output delimiter: %w", err)
	}
	return "ghadelimiter_" + hex.EncodeToString(b), nil
}

// AddStepSummary appends markdown to the step summary (GITHUB_STEP_SUMMARY).
// Without GITHUB_STEP_SUMMARY it does nothing.
func (a *Action) AddStepSummary(markdown string) error {
	if a.getenv(EnvStepSummary) == "" {
		return nil
	}
	return a.issueFileCommand("step-summary", EnvStepSummary, markdown)
}

// AddMask asks the runner to mask secret in every later log line. Each
// line of a multi-line secret is masked on its own (the runner masks line
// by line). Outside GitHub Actions it does nothing: the secret is never
// printed there.
func (a *Action) AddMask(secret string) {
	if !a.Enabled() {
		return
	}
	for _, line := range strings.Split(secret, "\n") {
		if line = strings.TrimRight(line, "\r"); strings.TrimSpace(line) != "" {
			a.command(func() { a.gha.AddMask(line) })
		}
	}
}

// Group starts a collapsible group of log lines titled title and returns
// the function that ends it. Outside GitHub Actions both do nothing.
func (a *Action) Group(title string) (end func()) {
	if !a.Enabled() {
		return func() {}
	}
	a.command(func() { a.gha.Group(title) })
	return func() { a.command(a.gha.EndGroup) }
}

// Errorf writes an error annotation (::error::) in GitHub Actions; outside
// it does nothing.
func (a *Action) Errorf(format string, args ...any) {
	if a.Enabled() {
		a.command(func() { a.gha.Errorf(format, args...) })
	}
}

// command runs a go-githubactions workflow command, which panics when its
// writer fails: a lost log line must not fail the step.
func (a *Action) command(fn func()) {
	defer func() { _ = recover() }()
	fn()
}
