package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/utils/clock"
)

// stopGrace is how long a component has to exit after SIGTERM before it
// is killed.
const stopGrace = 10 * time.Second

// process is one component, started in its own process group and with a
// parent-death signal, so that it never outlives whoever started it: not
// after a test timeout, a panic, or a SIGKILL of the supervisor.
// (Pdeathsig fires when the starting OS thread exits; Go only ends threads
// of goroutines that exit locked to them, which nothing here does.)
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // Wait's result, set before done is closed
}

// startProcess starts bin in dir with its output appended to
// dir/logs/name.log.
func startProcess(dir, name, bin string, args []string) (*process, error) {
	logPath := filepath.Join(dir, logsDir, name+".log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	defer log.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		if p.err == nil {
			return true, errors.New("exited with status 0")
		}
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, SIGKILL after grace, and
// returns once the process has been reaped. A process that had to be
// killed is no error: it is gone either way, and saying so is only noise.
func (p *process) stop(grace time.Duration) {
	signalGroup(p.cmd.Process.Pid, syscall.SIGTERM)
	signalGroup(p.cmd.Process.Pid, syscall.SIGCONT) // a frozen process must run to see it
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		signalGroup(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	// Anything the component forked into its group goes with it.
	signalGroup(p.cmd.Process.Pid, syscall.SIGKILL)
}

// signalGroup signals the process group led by pid; a group already gone
// (ESRCH) is what we wanted.
func signalGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}

// logTail is the end of a component's log, for error messages.
func logTail(dir, name string, lines int) string {
	path := filepath.Join(dir, logsDir, name+".log")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return fmt.Sprintf("----- last lines of %s -----\n%s\n----- end of %s -----", path, strings.Join(all, "\n"), path)
}

// errExited: a component ended while it was awaited.
var errExited = errors.New("exited during startup")

// logSize is the current length of a component's log.
func logSize(dir, name string) int64 {
	fi, err := os.Stat(filepath.Join(dir, logsDir, name+".log"))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// portTaken reports whether the log, from offset on, says a listen
// failed because the port was in use.
func portTaken(dir, name string, offset int64) bool {
	b, err := os.ReadFile(filepath.Join(dir, logsDir, name+".log"))
	if err != nil || int64(len(b)) < offset {
		return false
	}
	return strings.Contains(strings.ToLower(string(b[offset:])), "address already in use")
}

func since(clk clock.PassiveClock, t0 time.Time) string {
	return clk.Since(t0).Round(time.Millisecond).String()
}
