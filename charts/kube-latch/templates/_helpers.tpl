{{/* Names. Kubernetes names of Services and labels stop at 63 characters. */}}
{{- define "kube-latch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kube-latch.fullname" -}}
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

{{- define "kube-latch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kube-latch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-latch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kube-latch.labels" -}}
helm.sh/chart: {{ include "kube-latch.chart" . }}
{{ include "kube-latch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kube-latch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kube-latch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The one MutatingWebhookConfiguration (cluster-scoped, so the release name keeps installs apart). */}}
{{- define "kube-latch.webhookConfigName" -}}
{{- include "kube-latch.fullname" . }}
{{- end }}

{{/* Self-signed mode: the Secret that holds the CA (shared by all replicas). */}}
{{- define "kube-latch.caSecretName" -}}
{{- printf "%s-self-signed-ca" (include "kube-latch.fullname" .) }}
{{- end }}

{{/* cert-manager mode: the serving Certificate and its Secret, mounted at /tls. */}}
{{- define "kube-latch.servingCertName" -}}
{{- printf "%s-serving" (include "kube-latch.fullname" .) }}
{{- end }}
{{- define "kube-latch.tlsSecretName" -}}
{{- printf "%s-tls" (include "kube-latch.fullname" .) }}
{{- end }}

{{/* The metrics Service: a Service name is a DNS label, 63 characters at most. */}}
{{- define "kube-latch.metricsServiceName" -}}
{{- printf "%s-metrics" (include "kube-latch.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/* The Lease that elects the one watcher allowed to write. */}}
{{- define "kube-latch.leaseName" -}}
{{- printf "%s-watcher" (include "kube-latch.fullname" .) }}
{{- end }}

{{- define "kube-latch.knownHostsConfigMap" -}}
{{- printf "%s-known-hosts" (include "kube-latch.fullname" .) }}
{{- end }}

{{- define "kube-latch.clusterName" -}}
{{- default .Release.Name .Values.clusterName }}
{{- end }}

{{- define "kube-latch.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
A value for an env var, as a quoted string. Helm reads numbers in values as float64, which would print
3600000 as "3.6e+06"; whole numbers are printed as integers.
*/}}
{{- define "kube-latch.envValue" -}}
{{- if kindIs "float64" . }}
{{- if eq . (floor .) }}{{ printf "%d" (int64 .) | quote }}{{ else }}{{ toString . | quote }}{{ end }}
{{- else if kindIs "int" . }}
{{- printf "%d" . | quote }}
{{- else if kindIs "int64" . }}
{{- printf "%d" . | quote }}
{{- else }}
{{- toString . | quote }}
{{- end }}
{{- end }}

{{/* The restricted-profile container securityContext shared by both containers. */}}
{{- define "kube-latch.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
terminationGracePeriodSeconds: at least the webhook's preStop sleep plus its 20 s drain plus 5 s to exit,
or a pod being stopped is killed in the middle of answering the apiserver.
*/}}
{{- define "kube-latch.terminationGracePeriodSeconds" -}}
{{- $grace := int .Values.terminationGracePeriodSeconds -}}
{{- $need := add (int (.Values.webhook.preStopSleepSeconds | default 0)) 25 -}}
{{- if lt $grace $need -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be at least webhook.preStopSleepSeconds + 25 (%d): the webhook drains in-flight reviews for up to 20 s after its preStop sleep" $grace $need) -}}
{{- end -}}
{{- $grace -}}
{{- end }}
