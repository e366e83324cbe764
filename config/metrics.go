package config

import "time"

// The metrics backends' configuration (metrics.*); mesh.go holds what
// metrics.mesh chooses of it.

// Metrics chooses and configures the metrics backend.
type Metrics struct {
	// Source is "prometheus" or "datadog". No other value is accepted.
	Source     string     `yaml:"source"`
	Prometheus Prometheus `yaml:"prometheus"`
	Datadog    Datadog    `yaml:"datadog"`
	// Mesh is the service mesh whose metrics are read: MeshIstio,
	// MeshIstioAmbient or MeshLinkerd. It chooses the defaults of the
	// query's metric, labels, selectors and revision labels (DefaultFor);
	// a key set in the file overrides its mesh's default.
	Mesh string `yaml:"mesh"`
	// QueryDelay is how long after each poll's instant the source is
	// asked about it, so samples scraped at that instant have landed and
	// every replica gets the same answer (and so the same onsets).
	QueryDelay time.Duration `yaml:"query_delay"`
	// BlindAfter is how many polls in a row without an answer make
	// sentinel blind: it logs, exports sentinel_blind 1 and, when
	// paging.pagerduty.page_when_blind is set, sends a low-urgency page.
	BlindAfter int `yaml:"blind_after"`
}

// Prometheus is the Prometheus HTTP API backend.
type Prometheus struct {
	URL             string        `yaml:"url"`
	BearerTokenFile string        `yaml:"bearer_token_file"`
	BasicAuth       BasicAuth     `yaml:"basic_auth"`
	TLS             TLS           `yaml:"tls"`
	Timeout         time.Duration `yaml:"timeout"`
	// Metric and the label names, for meshes and relabelings that differ.
	Metric         string `yaml:"metric"`
	NamespaceLabel string `yaml:"namespace_label"`
	WorkloadLabel  string `yaml:"workload_label"`
	CodeLabel      string `yaml:"code_label"`
	// GRPCCodeLabel carries a gRPC call's status (Envoy's
	// grpc_response_status, Linkerd's grpc_status); empty judges no gRPC
	// status.
	GRPCCodeLabel string `yaml:"grpc_code_label"`
	// ReporterSelector is added to the series selector; empty adds none.
	ReporterSelector string `yaml:"reporter_selector"`
	// FailureSelector (matchers without braces, e.g. Linkerd's
	// classification="failure") marks the series it selects as failed, as
	// well as those whose codes match; empty adds none.
	FailureSelector string `yaml:"failure_selector"`
	// RevisionLabel carries the serving pod's pod-template-hash (a
	// labelmap of __meta_kubernetes_pod_label_(.+) gives
	// pod_template_hash); PodLabel the pod's name, used where the hash is
	// missing. Either splits a workload's traffic by revision; empty
	// names none. Without both, workloads are judged as a whole.
	RevisionLabel string `yaml:"revision_label"`
	PodLabel      string `yaml:"pod_label"`
	// Query, when set, replaces the built-in query: a Go text/template
	// (see docs/metrics.md) that must return, per workload, one series with
	// sentinel_class="total" and one with sentinel_class="failed".
	Query string `yaml:"query"`
}

// BasicAuth for an HTTP backend; the password is read from a file.
type BasicAuth struct {
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

// TLS for an HTTP backend.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Datadog is the Datadog metrics API backend.
type Datadog struct {
	// Site is the Datadog site, e.g. datadoghq.com or datadoghq.eu.
	Site string `yaml:"site"`
	// URL overrides the API base URL (tests, proxies); empty uses Site.
	URL string `yaml:"url"`
	// Keys are read from these files, or else from DD_API_KEY and
	// DD_APP_KEY.
	APIKeyFile string        `yaml:"api_key_file"`
	AppKeyFile string        `yaml:"app_key_file"`
	Timeout    time.Duration `yaml:"timeout"`
	// Metric is a count of requests tagged with the names below.
	Metric       string `yaml:"metric"`
	NamespaceTag string `yaml:"namespace_tag"`
	WorkloadTag  string `yaml:"workload_tag"`
	CodeTag      string `yaml:"code_tag"`
	// GRPCCodeTag carries a gRPC call's status; empty judges none.
	GRPCCodeTag string `yaml:"grpc_code_tag"`
	// ReporterFilter is added to the query's scope; empty adds none.
	ReporterFilter string `yaml:"reporter_filter"`
	// RevisionTag splits a workload's traffic by the ReplicaSet of the
	// serving pod (the Datadog agent tags kube_replica_set); PodTag by the
	// pod's name where that tag is missing. Empty names none.
	RevisionTag string `yaml:"revision_tag"`
	PodTag      string `yaml:"pod_tag"`
}
