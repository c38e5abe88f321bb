//go:build !linux

package main

// harden does nothing outside Linux: macOS does not let a process of the
// same user read another's environment or memory without privileges
// (task_for_pid), and Windows has no equivalent of PR_SET_DUMPABLE (see
// the README's threat model).
func harden() {}
