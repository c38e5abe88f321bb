//go:build !unix

package main

import (
	"errors"
	"os/exec"
)

// mkfifo: no FIFOs in the file system here.
func mkfifo(string) error { return errors.ErrUnsupported }

// mknodNull: no device files here.
func mknodNull(string) error { return errors.ErrUnsupported }

// runAs: no user switch here; cmd runs as this process's user.
func runAs(*exec.Cmd, uint32, uint32) {}
