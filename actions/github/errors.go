package github

import (
	"errors"
	"fmt"
)

// ErrDelimiter means an output's value contains the heredoc delimiter
// chosen for it (which a random delimiter makes practically impossible) or
// a carriage return, or its name contains a line break.
var ErrDelimiter = errors.New("output would break out of its delimiter")

// InputError is an input whose value is not valid.
type InputError struct {
	// Name is the input's name, as action.yml declares it.
	Name string
	// Value is the value given.
	Value string
	// Err says what is wrong with it.
	Err error
}

func (e *InputError) Error() string {
	return fmt.Sprintf("input %s: %q: %v", e.Name, e.Value, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }
