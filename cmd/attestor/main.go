// Command attestor records, signs, pushes and verifies the attestations of
// a build: in-toto step records, SLSA provenance, promotion attestations.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// forcedExitAfter is how long after a stop signal (stopSignals) the process exits
// even if the command has not returned (something blocked that no context
// reaches). It leaves room for a wrapped command's group to get SIGTERM
// and, 5 s later, SIGKILL (runConfig.KillGrace). A second signal exits at
// once. Either way, every file is written atomically: what was not
// committed is not there.
const forcedExitAfter = 10 * time.Second

func main() {
	harden()
	environ, err := takeSecretEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "attestor: %v\n", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var signalled atomic.Int32 // the exit code of the signal received
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, stopSignals...)
	go func() {
		code := signalCode(<-sigs)
		signalled.Store(int32(code))
		cancel()
		select {
		case <-sigs:
		case <-time.After(forcedExitAfter):
		}
		os.Exit(code)
	}()
	code := executeWith(ctx, &globals{stdout: os.Stdout, stderr: os.Stderr, environ: environ}, os.Args[1:])
	if c := signalled.Load(); c != 0 {
		code = int(c)
	}
	os.Exit(code)
}

// signalCode is the exit code of a process stopped by sig, as a shell
// reports it: 130 for SIGINT, 143 for SIGTERM.
func signalCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}
