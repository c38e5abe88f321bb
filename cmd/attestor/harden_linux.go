package main

import "golang.org/x/sys/unix"

// harden makes this process non-dumpable: its /proc/PID/environ and
// /proc/PID/mem are closed to other processes of the same user, and they
// cannot ptrace it (/proc/PID/cmdline stays readable to all: never put a
// secret on a command line). The command a step wraps runs as our user,
// and would otherwise read COSIGN_PASSWORD or the action's key input from
// /proc/$PPID/environ, or the decrypted key from our memory. Root can
// still read them: nothing a process does keeps root out. A failure leaves
// the process as it was: there is nothing else to do about it.
func harden() {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
