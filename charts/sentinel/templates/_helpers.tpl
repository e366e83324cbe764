{{/* The chart's name. */}}
{{- define "sentinel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the prefix of every object. */}}
{{- define "sentinel.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sentinel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sentinel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sentinel.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sentinel.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sentinel.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sentinel.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The port sentinel serves /metrics, /healthz and /readyz on: config.run.listen_address's. */}}
{{- define "sentinel.port" -}}
{{- $addr := .Values.config.run.listen_address | toString }}
{{- $port := regexFind ":[0-9]+$" $addr | trimPrefix ":" }}
{{- if not $port }}
{{- fail (printf "config.run.listen_address: must end in :PORT, got %q" $addr) }}
{{- end }}
{{- $port }}
{{- end }}

{{/* The namespace of the leader-election Lease. */}}
{{- define "sentinel.leaseNamespace" -}}
{{- default .Release.Namespace .Values.config.run.leader_election.namespace }}
{{- end }}

{{/* The Secret holding the PagerDuty routing key, and its key; empty when none. */}}
{{- define "sentinel.pagerdutySecret" -}}
{{- if .Values.pagerduty.existingSecret }}
{{- .Values.pagerduty.existingSecret }}
{{- else if .Values.pagerduty.routingKey }}
{{- printf "%s-pagerduty" (include "sentinel.fullname" .) }}
{{- end }}
{{- end }}

{{- define "sentinel.pagerdutySecretKey" -}}
{{- if .Values.pagerduty.existingSecret }}
{{- .Values.pagerduty.existingSecretKey }}
{{- else }}
{{- "routing-key" }}
{{- end }}
{{- end }}

{{/* The series of this release, for the alerts. */}}
{{- define "sentinel.alertSelector" -}}
{{- default (printf "job=%q,namespace=%q" (include "sentinel.fullname" .) .Release.Namespace) .Values.prometheusRule.selector }}
{{- end }}
