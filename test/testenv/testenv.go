// Package testenv starts and stops sentinel's end-to-end test
// environment — a real etcd, kube-apiserver, kube-controller-manager and
// Prometheus on loopback ports — and supervises them so that none is ever
// left behind. scripts/testenv.sh runs it as cmd/testenv; tests find the
// running environment with Lookup and restart a component with Restart.
// See docs/testenv.md.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// Env is a running environment.
type Env struct {
	// Dir holds all its state: pki/, etcd/, prometheus/, kubeconfig, env,
	// logs/ (kept after Stop).
	Dir string

	opts     Options
	pki      pki
	client   kubernetes.Interface // admin, for readiness checks
	http     *http.Client
	insecure *http.Client

	mu      sync.Mutex // guards everything below and serialises Restart and Stop
	ports   ports
	alloc   portAllocator
	procs   map[string]*process
	stopped bool
}

// Start brings an environment up in dir (created if missing; it must be
// empty but for an old logs/). On error, whatever was started is stopped
// again and the logs are kept.
func Start(ctx context.Context, dir string, opts Options) (*Env, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	dir, err := prepareDir(dir)
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, opts: opts, alloc: portAllocator{picked: map[int]bool{}}, procs: map[string]*process{}}
	e.http, e.insecure = httpClients()
	t0 := opts.Clock.Now()
	e.logf("starting in %s", dir)
	if err := e.start(ctx); err != nil {
		if stopErr := e.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, fmt.Errorf("start test environment in %s (logs kept in %s): %w", dir, e.path(logsDir), err)
	}
	e.logf("up in %s: apiserver %s, prometheus %s", since(opts.Clock, t0), e.APIServerURL(), e.PrometheusURL())
	return e, nil
}

func (e *Env) start(ctx context.Context) error {
	var err error
	if e.pki, err = makePKI(e.path(pkiDir), e.opts.Clock.Now()); err != nil {
		return err
	}
	if err := writeFile(e.Dir, promConfigFile, []byte(prometheusConfig)); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range components() {
		if err := e.startComponent(ctx, c, true); err != nil {
			return err
		}
	}
	kcm := e.procs["kube-controller-manager"]
	sa := component{name: "serviceaccount", ready: serviceAccountReady}
	if err := e.waitReady(ctx, sa, kcm, e.opts.timeout("serviceaccount")); err != nil {
		return fmt.Errorf("controller manager did not create ServiceAccount default/default: %w\n%s",
			err, logTail(e.Dir, kcm.name, 40))
	}
	return e.writeEnvFile()
}

// prepareDir makes dir absolute and marks it as an environment's. A dir
// holding anything but logs/ is refused, so that Stop never removes what
// it did not create. Old component logs are removed; logs/ itself may
// already hold the supervisor's own log.
func prepareDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, logsDir), 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", abs, err)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", abs, err)
	}
	for _, de := range entries {
		if de.Name() != logsDir {
			return "", fmt.Errorf("%s is not empty (has %s): pick a new or empty directory, or run down on it", abs, de.Name())
		}
	}
	for _, c := range components() {
		if err := os.Remove(filepath.Join(abs, logsDir, c.name+".log")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("remove old log: %w", err)
		}
	}
	return abs, writeFile(abs, marker, nil)
}

// Clean removes the runtime state an environment left in dir when its
// supervisor died without stopping it (its components died with it).
// A dir without the environment's marker is refused.
func Clean(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
		return fmt.Errorf("%s has no %s: refusing to touch it", dir, marker)
	}
	e := &Env{Dir: dir}
	return e.removeState()
}

// startComponent starts c and waits until it is ready, with fresh ports
// if pick (retried up to three times when a port was taken between the
// choice and the bind). The caller holds e.mu.
func (e *Env) startComponent(ctx context.Context, c component, pick bool) error {
	for attempt := 1; ; attempt++ {
		if pick {
			if err := c.pick(e); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		}
		logStart := logSize(e.Dir, c.name)
		t0 := e.opts.Clock.Now()
		p, err := startProcess(e.Dir, c.name, c.bin(e.opts.Binaries), c.args(e))
		if err != nil {
			return err
		}
		e.procs[c.name] = p
		err = e.waitReady(ctx, c, p, e.opts.timeout(c.name))
		if err == nil {
			e.logf("%s ready (%s)", c.name, since(e.opts.Clock, t0))
			return nil
		}
		p.stop(stopGrace)
		delete(e.procs, c.name)
		if pick && attempt < 3 && portTaken(e.Dir, c.name, logStart) {
			e.logf("%s: port taken meanwhile, retrying with another port", c.name)
			continue
		}
		return fmt.Errorf("%s did not start: %w\n%s", c.name, err, logTail(e.Dir, c.name, 40))
	}
}

// waitReady polls c.ready until it succeeds, p exits or timeout passes.
func (e *Env) waitReady(ctx context.Context, c component, p *process, timeout time.Duration) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if gone, err := p.exited(); gone {
			return false, fmt.Errorf("%w: %v", errExited, err)
		}
		last = c.ready(ctx, e)
		return last == nil, nil
	})
	if err != nil && last != nil && !errors.Is(err, errExited) {
		return fmt.Errorf("%w (last check: %v)", err, last)
	}
	return err
}

// Restart stops one component (a name from components: etcd,
// kube-apiserver, kube-controller-manager, prometheus) and starts it again
// on the same ports and data, e.g. to make Prometheus load blocks
// backfilled behind its back, or to cut every watch on the apiserver.
func (e *Env) Restart(ctx context.Context, name string) error {
	i := slices.IndexFunc(components(), func(c component) bool { return c.name == name })
	if i < 0 {
		return fmt.Errorf("restart %q: no such component (want etcd, kube-apiserver, kube-controller-manager or prometheus)", name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return fmt.Errorf("restart %s: the environment in %s is stopped", name, e.Dir)
	}
	t0 := e.opts.Clock.Now()
	if p := e.procs[name]; p != nil {
		p.stop(stopGrace)
	}
	if err := e.startComponent(ctx, components()[i], false); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	e.logf("%s restarted in %s", name, since(e.opts.Clock, t0))
	return nil
}

// Freeze stops one component with SIGSTOP, as a machine that hangs
// would: its sockets stay open and nothing answers them. Thaw resumes
// it. Fault tests use the pair to freeze kube-apiserver mid-request.
func (e *Env) Freeze(name string) error { return e.signal("freeze", name, syscall.SIGSTOP) }

// Thaw resumes a component stopped by Freeze; a component that is not
// frozen is left as it is.
func (e *Env) Thaw(name string) error { return e.signal("thaw", name, syscall.SIGCONT) }

func (e *Env) signal(verb, name string, sig syscall.Signal) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.procs[name]
	if p == nil {
		return fmt.Errorf("%s %q: no such component running (want etcd, kube-apiserver, kube-controller-manager or prometheus)", verb, name)
	}
	signalGroup(p.cmd.Process.Pid, sig)
	e.logf("%s %s (%s)", verb, name, sig)
	return nil
}

// Stop stops every component (clients first, etcd last, so etcd logs no
// lost connections), waits until each has been reaped and removes the
// runtime state from Dir, keeping logs/. Calling it again does nothing.
func (e *Env) Stop() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil
	}
	e.stopped = true
	if e.opts.Clock != nil { // nil for Clean's Env
		t0 := e.opts.Clock.Now()
		defer func() { e.logf("down in %s", since(e.opts.Clock, t0)) }()
	}
	var wg sync.WaitGroup
	for name, p := range e.procs {
		if name != "etcd" {
			wg.Go(func() { p.stop(stopGrace) })
		}
	}
	wg.Wait()
	if p := e.procs["etcd"]; p != nil {
		p.stop(stopGrace)
	}
	e.procs = map[string]*process{}
	return e.removeState()
}

// removeState removes everything but logs/ from Dir, and Dir itself if
// that leaves it empty.
func (e *Env) removeState() error {
	var errs []error
	for _, f := range runtimeState() {
		if err := os.RemoveAll(e.path(f)); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", e.path(f), err))
		}
	}
	_ = os.Remove(e.path(logsDir)) // only if empty
	_ = os.Remove(e.Dir)           // likewise
	return errors.Join(errs...)
}

// APIServerURL is the kube-apiserver's address.
func (e *Env) APIServerURL() string { return fmt.Sprintf("https://127.0.0.1:%d", e.ports.apiserver) }

// PrometheusURL is Prometheus's address.
func (e *Env) PrometheusURL() string { return fmt.Sprintf("http://127.0.0.1:%d", e.ports.prometheus) }

// Pids are the components' process ids, by name (for tests that check
// nothing outlives Stop).
func (e *Env) Pids() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for name, p := range e.procs {
		out[name] = p.cmd.Process.Pid
	}
	return out
}

func (e *Env) pickPorts(ps ...*int) error {
	for _, p := range ps {
		var err error
		if *p, err = e.alloc.next(); err != nil {
			return err
		}
	}
	return nil
}

func (e *Env) path(elem ...string) string { return filepath.Join(append([]string{e.Dir}, elem...)...) }

func (e *Env) logf(format string, args ...any) {
	if e.opts.Log != nil {
		fmt.Fprintf(e.opts.Log, "testenv: "+format+"\n", args...)
	}
}
