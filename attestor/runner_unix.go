//go:build unix

package attestor

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// inNewGroup makes cmd start in a process group of its own, so that
// stopping it reaches what it started.
func inNewGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// processGroup is the process group of a started command: its leader's
// pid.
type processGroup int

func groupOf(p *os.Process) processGroup { return processGroup(p.Pid) }

func (processGroup) release() {}

// stop stops the process group whose leader's Wait result arrives on
// waited: SIGTERM, then SIGKILL once grace has passed if the leader or any
// other member is still there. It returns the leader's Wait result.
func (g processGroup) stop(grace time.Duration, waited <-chan error) error {
	pgid := int(g)
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	_ = syscall.Kill(-pgid, syscall.SIGCONT)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	poll := time.NewTicker(groupPollInterval)
	defer poll.Stop()

	var err error
	exited := false
	for {
		if exited && !g.alive() {
			return err
		}
		select {
		case err = <-waited:
			exited, waited = true, nil
		case <-poll.C:
		case <-deadline.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			if !exited {
				// Bounded: the group is dead, and exec closes pipes held
				// by escaped processes WaitDelay after the leader exits.
				err = <-waited
			}
			return err
		}
	}
}

// alive reports whether the process group has a member. A member that is
// a zombie counts: an init that does not reap orphans makes a stop wait
// for the whole grace.
func (g processGroup) alive() bool {
	err := syscall.Kill(-int(g), 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
