package attestor

import (
	"os"
	"os/exec"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// On Windows a command runs in a new console process group
// (CREATE_NEW_PROCESS_GROUP) and in a job object that attestor creates
// once it started: stopping it sends CTRL_BREAK_EVENT to the group (the
// closest to SIGTERM: a console program may handle it), and once the grace
// has passed, terminates every process of the job. A process the command
// started before it was put in the job (in the instant after the start)
// is not in it.

func inNewGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP}
}

// processGroup is the job object of a started command (0: none could be
// made; then only the command itself is stopped) and its process.
type processGroup struct {
	job windows.Handle
	p   *os.Process
}

func groupOf(p *os.Process) *processGroup {
	g := &processGroup{p: p}
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return g
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(p.Pid))
	if err != nil {
		windows.CloseHandle(job)
		return g
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		windows.CloseHandle(job)
		return g
	}
	g.job = job
	return g
}

func (g *processGroup) release() {
	if g.job != 0 {
		windows.CloseHandle(g.job)
	}
}

// stop stops the command whose Wait result arrives on waited:
// CTRL_BREAK_EVENT to its group, then, once grace has passed, every
// process of its job terminated. It returns the command's Wait result.
func (g *processGroup) stop(grace time.Duration, waited <-chan error) error {
	_ = windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(g.p.Pid))
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
			if g.job != 0 {
				_ = windows.TerminateJobObject(g.job, 1)
			}
			_ = g.p.Kill()
			if !exited {
				err = <-waited
			}
			return err
		}
	}
}

// jobAccounting is JOBOBJECT_BASIC_ACCOUNTING_INFORMATION.
type jobAccounting struct {
	TotalUserTime, TotalKernelTime, ThisPeriodTotalUserTime, ThisPeriodTotalKernelTime int64
	TotalPageFaultCount, TotalProcesses, ActiveProcesses, TotalTerminatedProcesses     uint32
}

// alive reports whether a process of the job is running.
func (g *processGroup) alive() bool {
	if g.job == 0 {
		return false
	}
	var info jobAccounting
	if err := windows.QueryInformationJobObject(g.job, windows.JobObjectBasicAccountingInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), nil); err != nil {
		return false
	}
	return info.ActiveProcesses > 0
}
