package testenv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// ports are the loopback ports the components listen on.
type ports struct {
	etcd, etcdPeer, apiserver, kcm, prometheus int
}

// portAllocator hands out ports in 20000–31999 that nothing on this
// machine is bound to: below the kernel's ephemeral range, so that no
// outgoing connection (the apiserver opens many to etcd) takes one between
// the choice and the bind. A port taken anyway is retried (startComponent).
type portAllocator struct {
	picked map[int]bool
}

func (a *portAllocator) next() (int, error) {
	for range 500 {
		p := 20000 + rand.IntN(12000)
		if a.picked[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		if err := l.Close(); err != nil {
			return 0, fmt.Errorf("release probed port %d: %w", p, err)
		}
		a.picked[p] = true
		return p, nil
	}
	return 0, errors.New("no free loopback port in 20000-31999 after 500 tries")
}

// component is how one program of the environment is started and when it
// counts as ready.
type component struct {
	name string
	bin  func(Binaries) string
	// pick chooses fresh ports (and writes what depends on them); a
	// restart keeps the old ones, so URLs stay valid.
	pick  func(e *Env) error
	args  func(e *Env) []string
	ready func(ctx context.Context, e *Env) error
}

// components, in start order. etcd goes last on the way down.
func components() []component {
	return []component{
		{name: "etcd", bin: func(b Binaries) string { return b.Etcd }, pick: pickEtcd, args: etcdArgs, ready: etcdReady},
		{name: "kube-apiserver", bin: func(b Binaries) string { return b.KubeAPIServer }, pick: pickAPIServer,
			args: apiserverArgs, ready: apiserverReady},
		{name: "kube-controller-manager", bin: func(b Binaries) string { return b.KubeControllerManager },
			pick: func(e *Env) error { return e.pickPorts(&e.ports.kcm) }, args: kcmArgs, ready: kcmReady},
		{name: "prometheus", bin: func(b Binaries) string { return b.Prometheus },
			pick: func(e *Env) error { return e.pickPorts(&e.ports.prometheus) }, args: prometheusArgs, ready: prometheusReady},
	}
}

func pickEtcd(e *Env) error { return e.pickPorts(&e.ports.etcd, &e.ports.etcdPeer) }

func etcdArgs(e *Env) []string {
	client := fmt.Sprintf("http://127.0.0.1:%d", e.ports.etcd)
	peer := fmt.Sprintf("http://127.0.0.1:%d", e.ports.etcdPeer)
	return []string{"--name=testenv", "--data-dir=" + e.path("etcd"),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=testenv=" + peer, "--initial-cluster-state=new",
		"--unsafe-no-fsync", "--log-level=warn"}
}

func etcdReady(ctx context.Context, e *Env) error {
	body, err := get(ctx, e.http, fmt.Sprintf("http://127.0.0.1:%d/health", e.ports.etcd))
	if err == nil && !strings.Contains(body, `"health":"true"`) {
		err = fmt.Errorf("unhealthy: %s", body)
	}
	return err
}

// pickAPIServer also writes the kubeconfig for the new URL, which the
// controller manager and the readiness check use.
func pickAPIServer(e *Env) error {
	if err := e.pickPorts(&e.ports.apiserver); err != nil {
		return err
	}
	if err := writeKubeconfig(e.path(kubeconfigFile), e.APIServerURL(), e.pki); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", e.path(kubeconfigFile))
	if err != nil {
		return fmt.Errorf("load %s: %w", e.path(kubeconfigFile), err)
	}
	cfg.Timeout = 5 * time.Second
	e.client, err = kubernetes.NewForConfig(cfg)
	return err
}

// apiserverArgs: RBAC and a static admin token as in a real cluster;
// --endpoint-reconciler-type=none because the default one rejects a
// loopback advertise address every few seconds (docs/testenv.md); a watch
// termination grace period so that an apiserver with open watches (the
// controller manager's) stops on SIGTERM instead of waiting out the stop
// grace to be killed, 10 s on every restart.
func apiserverArgs(e *Env) []string {
	pki := func(f string) string { return e.path(pkiDir, f) }
	return []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", e.ports.etcd),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", e.ports.apiserver),
		"--cert-dir=" + e.path("apiserver"),
		"--tls-cert-file=" + pki(apiserverCert), "--tls-private-key-file=" + pki(apiserverKey),
		"--client-ca-file=" + pki(caCert), "--token-auth-file=" + pki(tokensCSV),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki(saPub), "--service-account-signing-key-file=" + pki(saKey),
		"--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
		"--endpoint-reconciler-type=none", "--profiling=false", "--shutdown-watch-termination-grace-period=1s",
	}
}

func apiserverReady(ctx context.Context, e *Env) error {
	_, err := e.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err
}

// kcmArgs: only the controllers Deployments need, plus the ServiceAccount
// ones; --authentication-skip-lookup because there is no front-proxy CA.
func kcmArgs(e *Env) []string {
	kc := e.path(kubeconfigFile)
	return []string{"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--authentication-skip-lookup=true", "--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", e.ports.kcm), "--cert-dir=" + e.path("kcm"),
		"--controllers=deployment,replicaset,serviceaccount-token,serviceaccount,garbagecollector,namespace",
		"--use-service-account-credentials=false", "--leader-elect=false",
		"--service-account-private-key-file=" + e.path(pkiDir, saKey), "--root-ca-file=" + e.path(pkiDir, caCert),
		"--profiling=false"}
}

func kcmReady(ctx context.Context, e *Env) error {
	_, err := get(ctx, e.insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", e.ports.kcm))
	return err
}

func prometheusArgs(e *Env) []string {
	return []string{"--config.file=" + e.path(promConfigFile), "--storage.tsdb.path=" + e.path("prometheus"),
		"--storage.tsdb.retention.time=" + e.opts.Retention,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", e.ports.prometheus),
		"--web.enable-admin-api", "--web.enable-lifecycle"}
}

func prometheusReady(ctx context.Context, e *Env) error {
	_, err := get(ctx, e.http, e.PrometheusURL()+"/-/ready")
	return err
}

// serviceAccountReady: the serviceaccount controller has created
// default/default, without which admission rejects every Pod a
// ReplicaSet creates.
func serviceAccountReady(ctx context.Context, e *Env) error {
	_, err := e.client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
	return err
}

// get fetches url and fails on any status but 200.
func get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("get %s: %w", url, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("get %s: %s: %s", url, resp.Status, b)
	}
	return string(b), nil
}

// httpClients are the readiness probes' clients: plain, and one that
// skips verification for the controller manager's self-signed serving
// certificate.
func httpClients() (plain, insecure *http.Client) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	skip := http.DefaultTransport.(*http.Transport).Clone()
	skip.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback health check only
	return &http.Client{Timeout: 3 * time.Second, Transport: tr}, &http.Client{Timeout: 3 * time.Second, Transport: skip}
}
