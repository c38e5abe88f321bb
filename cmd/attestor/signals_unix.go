//go:build unix

package main

import (
	"os"
	"syscall"
)

// stopSignals are the signals that cancel the command: SIGINT (Ctrl-C) and
// SIGTERM (what CI runners send to cancel a job).
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}
