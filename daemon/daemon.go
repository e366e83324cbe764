// Package daemon is `sentinel run`: it wires the metrics source, the
// Kubernetes watcher, the engine, the pager and the rollback executor on
// one clock, elects a leader among replicas on a coordination.k8s.io
// Lease (client-go's leaderelection), and serves /metrics, /healthz and
// /readyz. main turns signals into the context; Run returns when it ends,
// after releasing the lease and finishing or abandoning in-flight work.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"

	"github.com/sentinel-sre/sentinel/config"
	"github.com/sentinel-sre/sentinel/detector"
	"github.com/sentinel-sre/sentinel/engine"
	"github.com/sentinel-sre/sentinel/guard"
	"github.com/sentinel-sre/sentinel/kube"
	"github.com/sentinel-sre/sentinel/source"
)

// Options are the daemon's dependencies; main builds them.
type Options struct {
	Config config.Config
	// Kube is the API server connection (in-cluster or a kubeconfig).
	Kube *rest.Config
	// Source answers the workloads' rates.
	Source engine.Source
	// Notifier reports actions (the pager, or only the log).
	Notifier engine.Notifier
	// Runners are background loops to run for the daemon's lifetime, such
	// as the pager's delivery queue.
	Runners []func(ctx context.Context) error
	// Drains run at shutdown, after the engine and the runners stopped,
	// each with a deadline: the pager delivering what is still queued.
	Drains []func(ctx context.Context) error
	// Registry receives every metric; it is what /metrics serves.
	Registry *prometheus.Registry
	Log      *zap.Logger
	Clock    clock.Clock
	// Identity names this replica in the Lease (the pod name).
	Identity string
	// LeaseNamespace is used when the config leaves it empty.
	LeaseNamespace string
	// Listener, when set, is used instead of listening on
	// run.listen_address (tests pass a loopback listener).
	Listener net.Listener
}

// Run runs sentinel until ctx ends. On the way out it stops in order:
// the engine first (no new decisions; a rollback being written finishes
// or is abandoned with the context), then the background runners, then
// the drains (the pager delivering what it has queued, within
// drainTimeout), and last the leader lease is released and the HTTP
// server stopped — so a standby takes over only once this replica can no
// longer act.
func Run(ctx context.Context, o Options) error {
	cfg, log := o.Config, o.Log
	logConfig(log, cfg)
	client, err := kubernetes.NewForConfig(o.Kube)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	leaseNS, err := preflight(ctx, o, client)
	if err != nil {
		return err
	}

	var leader atomic.Bool
	leaderGauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sentinel_leader",
		Help: "1 while this replica is the leader (pages and rolls back)."})
	o.Registry.MustRegister(leaderGauge)
	if !cfg.Run.LeaderElection.Enabled {
		leader.Store(true)
		leaderGauge.Set(1)
	}

	src := &lastAnswer{Source: o.Source}
	exec := kube.NewExecutor(client, o.Clock, log, cfg.Kubernetes.VerifyTimeout)
	defer exec.Close() // flushes the Events still being written
	eng, lw := newEngine(o, src, exec, client, leaseNS, leader.Load)
	watcher := kube.NewWatcher(client, kube.WatchOptions{Namespaces: cfg.Kubernetes.Namespaces,
		LabelSelector: cfg.Kubernetes.LabelSelector}, eng, o.Clock, log)
	var le *leaderelection.LeaderElector
	if cfg.Run.LeaderElection.Enabled {
		if le, err = elector(cfg.Run.LeaderElection, leaseNS, client, o, &leader, leaderGauge); err != nil {
			return err
		}
	}
	ln := o.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Run.ListenAddress); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Run.ListenAddress, err)
		}
	}
	pr := &probes{cfg: cfg, clock: o.Clock, engine: eng, synced: watcher.HasSynced, source: src, api: lw.probe()}
	srv := &http.Server{Handler: handler(o.Registry, pr.live, pr.ready), ReadHeaderTimeout: 5 * time.Second}

	st := newStages(ctx)
	defer st.stop()
	st.serve(srv, ln)
	if le != nil {
		st.run(&st.presence, st.presenceCtx, "leader election", func(c context.Context) error {
			// Run returns when leadership is lost; stand by and try again.
			for c.Err() == nil {
				le.Run(c)
			}
			return nil
		})
	}
	for _, r := range o.Runners {
		st.run(&st.support, st.supportCtx, "runner", r)
	}
	if lw != nil {
		st.run(&st.support, st.supportCtx, "lease watch", lw.Run)
	}
	st.run(&st.work, st.workCtx, "watcher", watcher.Run)
	st.run(&st.work, st.workCtx, "engine", func(c context.Context) error {
		// Evaluate only once the history is known.
		for !watcher.HasSynced() {
			select {
			case <-c.Done():
				return nil
			case <-o.Clock.After(100 * time.Millisecond):
			}
		}
		eng.WarmUp(c, o.Clock.Now())
		pr.started.Store(o.Clock.Now().UnixNano())
		return eng.Run(c, o.Clock)
	})
	log.Info("sentinel running", zap.String("identity", o.Identity), zap.String("listen", ln.Addr().String()),
		zap.Bool("leader_election", le != nil), zap.Bool("dry_run", cfg.Rollback.DryRun))
	return st.wait(ctx, o.Drains, log)
}

// newEngine builds the engine: it acts while this replica leads, rolls
// back off the poll loop and, with leader election, pages by itself when
// no leader is seen renewing the Lease (the API server is down), so
// paging never depends on the control plane. The lease watch, if any,
// must run for that.
func newEngine(o Options, src engine.Source, exec engine.Executor, client kubernetes.Interface, leaseNS string,
	leading func() bool) (*engine.Engine, *leaseWatch) {
	opts := []engine.Option{engine.WithMetrics(o.Registry), engine.WithActive(leading),
		engine.WithBackgroundRollbacks(), engine.WithClock(o.Clock)}
	var lw *leaseWatch
	if le := o.Config.Run.LeaderElection; le.Enabled {
		lw = newLeaseWatch(client.CoordinationV1().Leases(leaseNS), le.LeaseName, le.LeaseDuration, le.RetryPeriod, o.Clock)
		opts = append(opts, engine.WithPaging(lw.leaderless))
	}
	return engine.New(o.Config, src, exec, o.Notifier, o.Log, opts...), lw
}

// preflight refuses to start without the permissions sentinel needs,
// naming them, and reports whether an admission guard covers what it
// watches. It returns the Lease's namespace.
func preflight(ctx context.Context, o Options, client kubernetes.Interface) (string, error) {
	cfg := o.Config
	perms := kube.Needed(cfg.Kubernetes.Namespaces)
	leaseNS := cfg.Run.LeaderElection.Namespace
	if leaseNS == "" {
		leaseNS = o.LeaseNamespace
	}
	if cfg.Run.LeaderElection.Enabled {
		if leaseNS == "" {
			return "", errors.New("run.leader_election.namespace is empty and POD_NAMESPACE is not set")
		}
		perms = append(perms, kube.LeasePermissions(leaseNS)...)
	}
	if err := kube.CheckAccess(ctx, client, perms); err != nil {
		return "", err
	}
	// Reading bindings is not among the permissions above, so Forbidden
	// reports "unknown".
	guard.Report(ctx, client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings(),
		cfg.Kubernetes.Namespaces, o.Registry, o.Log)
	return leaseNS, nil
}

// probes answer /healthz and /readyz.
type probes struct {
	cfg     config.Config
	clock   clock.PassiveClock
	engine  *engine.Engine
	synced  func() bool
	source  *lastAnswer
	started atomic.Int64 // unix nanoseconds the engine loop started; 0 before

	// api reports when the API server last answered and whether that is
	// too long ago; nil without leader election, whose Lease reads are
	// the steady traffic that tells.
	api func() (time.Time, bool)
}

// live fails when the engine loop has run but completed no poll for
// several intervals: a poll stuck on a dependency, which a restart may
// clear.
func (p *probes) live() error {
	started := p.started.Load()
	if started == 0 {
		return nil
	}
	last := p.engine.LastPoll()
	if s := time.Unix(0, started); last.Before(s) {
		last = s
	}
	limit := 4*p.cfg.Detection.PollInterval + p.cfg.Metrics.QueryDelay + sourceTimeout(p.cfg)
	if since := p.clock.Since(last); since > limit {
		return fmt.Errorf("engine stuck: no poll completed for %s (limit %s)", since.Round(time.Second), limit)
	}
	return nil
}

// ready names what keeps this replica from judging or acting: caches
// not synced, a warm-up under way (a replica that would take over before
// it ends could not page an incident under way under its dedup key), a
// stuck engine, or else every dependency that has stopped answering (the
// API server, the metrics source), so an outage of one is never blamed
// on the other.
func (p *probes) ready() error {
	if !p.synced() {
		return errors.New("kubernetes caches not synced: the API server has not answered the Deployment and ReplicaSet lists")
	}
	if p.started.Load() == 0 {
		return errors.New("warming up: replaying run.warm_up of metrics history before the first poll")
	}
	if err := p.live(); err != nil {
		return err
	}
	var causes []error
	if p.api != nil {
		if at, silent := p.api(); silent {
			causes = append(causes, fmt.Errorf("the API server has not answered since %s: pages go out without the Lease, rollbacks wait for it",
				at.UTC().Format(time.RFC3339)))
		}
	}
	if at, err := p.source.last(); at.IsZero() || p.clock.Since(at) > 3*p.cfg.Detection.PollInterval {
		causes = append(causes, fmt.Errorf("the metrics source (%s) has not answered since %s: %v", p.cfg.Metrics.Source, at.UTC().Format(time.RFC3339), err))
	}
	return errors.Join(causes...)
}

// stages run the daemon's components in three stages, stopped in order:
// work (engine, watcher), support (runners such as the pager), presence
// (lease, HTTP). Any component that stops on its own stops the daemon.
type stages struct {
	workCtx, supportCtx, presenceCtx    context.Context
	stopWork, stopSupport, stopPresence context.CancelFunc
	work, support, presence             sync.WaitGroup
	once                                sync.Once
	fail                                error
}

func newStages(ctx context.Context) *stages {
	st := &stages{}
	st.workCtx, st.stopWork = context.WithCancel(ctx)
	st.supportCtx, st.stopSupport = context.WithCancel(context.WithoutCancel(ctx))
	st.presenceCtx, st.stopPresence = context.WithCancel(context.WithoutCancel(ctx))
	return st
}

func (st *stages) stop() { st.stopWork(); st.stopSupport(); st.stopPresence() }

func (st *stages) run(wg *sync.WaitGroup, c context.Context, name string, f func(context.Context) error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := f(c)
		if c.Err() == nil {
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			st.once.Do(func() { st.fail = fmt.Errorf("%s: %w", name, err) })
			st.stopWork()
		}
	}()
}

// serve runs the HTTP server in the presence stage.
func (st *stages) serve(srv *http.Server, ln net.Listener) {
	st.run(&st.presence, st.presenceCtx, "http server", func(c context.Context) error {
		go func() {
			<-c.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(c), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
}

// wait blocks until the work stage ends, then stops the stages in order,
// running the drains between support and presence.
func (st *stages) wait(ctx context.Context, drains []func(context.Context) error, log *zap.Logger) error {
	<-st.workCtx.Done()
	log.Info("stopping")
	st.work.Wait()
	st.stopSupport()
	st.support.Wait()
	for _, d := range drains {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
		if err := d(dctx); err != nil {
			log.Warn("drain", zap.Error(err))
		}
		cancel()
	}
	st.stopPresence()
	st.presence.Wait()
	log.Info("sentinel stopped")
	return st.fail
}

// drainTimeout bounds the drains at shutdown, well inside the pod's
// termination grace period.
const drainTimeout = 10 * time.Second

func elector(c config.LeaderElection, ns string, client kubernetes.Interface, o Options, leader *atomic.Bool, g prometheus.Gauge) (*leaderelection.LeaderElector, error) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: ns, Name: c.LeaseName},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: o.Identity},
	}
	return leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   c.LeaseDuration,
		RenewDeadline:   c.RenewDeadline,
		RetryPeriod:     c.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            "sentinel",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {
				o.Log.Info("became leader: paging and rolling back", zap.String("identity", o.Identity))
				leader.Store(true)
				g.Set(1)
			},
			OnStoppedLeading: func() {
				o.Log.Info("stopped leading: standing by", zap.String("identity", o.Identity))
				leader.Store(false)
				g.Set(0)
			},
			OnNewLeader: func(id string) {
				o.Log.Info("leader", zap.String("leader", id))
			},
		},
	})
}

// sourceTimeout is the configured source's query timeout.
func sourceTimeout(cfg config.Config) time.Duration {
	if cfg.Metrics.Source == "datadog" {
		return cfg.Metrics.Datadog.Timeout
	}
	return cfg.Metrics.Prometheus.Timeout
}

func handler(reg *prometheus.Registry, live, ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := live(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// lastAnswer remembers when the source last answered, and its last
// error, for readiness.
type lastAnswer struct {
	engine.Source
	mu  sync.Mutex
	at  time.Time
	err error
}

func (l *lastAnswer) Observe(ctx context.Context, at time.Time) ([]detector.Observation, error) {
	obs, err := l.Source.Observe(ctx, at)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case !source.Answered(err):
		l.err = err
	case at.After(l.at): // a look back's past instant is no news
		l.at, l.err = at, nil
	}
	return obs, err
}

func (l *lastAnswer) last() (time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.at, l.err
}
