{{/*
Names and labels shared by every template.

Cluster-scoped objects (the ClusterRoles, the admission policy) keep fixed names such as voicectl-approver:
users bind those names, the admission policy's messages name them, and the CRDs they govern are cluster-wide
anyway, so one release per cluster is the model. Namespaced objects are named after the release.
*/}}

{{- define "voicectl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's name, or release-chart when the release name does not already contain the chart's. */}}
{{- define "voicectl.fullname" -}}
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

{{- define "voicectl.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. part-of=voicectl is what `kubectl get ... -l app.kubernetes.io/part-of=voicectl` finds. */}}
{{- define "voicectl.labels" -}}
helm.sh/chart: {{ include "voicectl.chart" . }}
{{ include "voicectl.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: voicectl
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the operator's pods: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "voicectl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "voicectl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "voicectl.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "voicectl.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "voicectl.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The Prometheus URL is the one value without a sensible default: the operator cannot judge a canary without
metrics, so rendering stops here with a message naming the value rather than installing an operator that
would pause every rollout.
*/}}
{{- define "voicectl.prometheusUrl" -}}
{{- $url := .Values.prometheus.url | default "" | trim }}
{{- if not $url }}
{{- fail "prometheus.url is required: the base URL of the Prometheus that holds the fleet's metrics, e.g. --set prometheus.url=http://prometheus-operated.monitoring:9090" }}
{{- end }}
{{- if not (regexMatch "^https?://[^/]+" $url) }}
{{- fail (printf "prometheus.url must be an http:// or https:// URL, got %q" $url) }}
{{- end }}
{{- $url }}
{{- end }}

{{/* The leader Lease's name. */}}
{{- define "voicectl.leaseName" -}}
{{- .Values.leaderElection.leaseName | default (printf "%s-operator" (include "voicectl.fullname" .)) }}
{{- end }}
