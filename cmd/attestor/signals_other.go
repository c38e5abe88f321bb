//go:build !unix

package main

import "os"

// stopSignals are the signals that cancel the command. On Windows, Ctrl-C
// and Ctrl-Break arrive as os.Interrupt (a console close, logoff or
// shutdown as SIGTERM in Go, which the runtime ends the process for
// anyway); there is no SIGTERM to send a process.
var stopSignals = []os.Signal{os.Interrupt}
