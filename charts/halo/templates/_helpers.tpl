{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "halo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, with the chart name unless it already contains it. */}}
{{- define "halo.fullname" -}}
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

{{- define "halo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "halo.labels" -}}
helm.sh/chart: {{ include "halo.chart" . }}
{{ include "halo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: halo
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels: stable across upgrades, so never the chart version. */}}
{{- define "halo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "halo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "halo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "halo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "halo.secretName" -}}
{{- default (include "halo.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{- define "halo.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Pods at most: the HPA's ceiling (or the fixed count) plus the rolling update's surge. */}}
{{- define "halo.maxPods" -}}
{{- $pods := ternary .Values.autoscaling.maxReplicas .Values.replicaCount .Values.autoscaling.enabled }}
{{- add $pods .Values.rollingUpdate.maxSurge }}
{{- end }}

{{/* Refuse settings that would break the service at run time rather than at render time. */}}
{{- define "halo.validate" -}}
{{- $drain := add .Values.shutdown.preStopSleepSeconds .Values.shutdown.delaySeconds .Values.shutdown.timeoutSeconds }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $drain) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be longer than shutdown.preStopSleepSeconds + delaySeconds + timeoutSeconds (%v), or pods are killed mid-drain" .Values.terminationGracePeriodSeconds $drain) }}
{{- end }}
{{- $used := add (mul (include "halo.maxPods" . | int) .Values.workers .Values.database.poolMax) .Values.database.reservedConnections }}
{{- if and .Values.database.enforceConnectionBudget (gt (int $used) (int .Values.database.maxConnections)) }}
{{- fail (printf "connection budget broken: (max pods %s) x workers %v x database.poolMax %v + reservedConnections %v = %v > database.maxConnections %v" (include "halo.maxPods" .) .Values.workers .Values.database.poolMax .Values.database.reservedConnections $used .Values.database.maxConnections) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- range $name, $_ := .Values.config.extra }}
{{- if has $name (list "PORT" "METRICS_PORT" "WORKERS" "DATABASE_URL" "REDIS_URL" "JWT_SECRET" "JWT_PREVIOUS_SECRETS" "DATABASE_POOL_MIN" "DATABASE_POOL_MAX" "REDIS_POOL_MAX" "REDIS_CLUSTER" "SHUTDOWN_DELAY_SECONDS" "SHUTDOWN_TIMEOUT_SECONDS" "PROMETHEUS_MULTIPROC_DIR" "ENV" "LOG_LEVEL" "LOG_FORMAT") }}
{{- fail (printf "config.extra.%s is managed by the chart; set it through its own value (see README)" $name) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Non-secret environment: the ConfigMap's data (shared by the app and the migration hook). */}}
{{- define "halo.configData" -}}
ENV: {{ .Values.config.env | quote }}
HOST: "0.0.0.0"
PORT: {{ .Values.ports.http | quote }}
METRICS_PORT: {{ .Values.ports.metrics | quote }}
WORKERS: {{ .Values.workers | quote }}
DATABASE_POOL_MIN: {{ .Values.database.poolMin | quote }}
DATABASE_POOL_MAX: {{ .Values.database.poolMax | quote }}
REDIS_POOL_MAX: {{ .Values.redis.poolMax | quote }}
REDIS_CLUSTER: {{ .Values.redis.cluster | quote }}
SHUTDOWN_DELAY_SECONDS: {{ .Values.shutdown.delaySeconds | quote }}
SHUTDOWN_TIMEOUT_SECONDS: {{ .Values.shutdown.timeoutSeconds | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
LOG_FORMAT: {{ .Values.config.logFormat | quote }}
PROMETHEUS_MULTIPROC_DIR: "/tmp/halo-metrics"
{{- range $name, $value := .Values.config.extra }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/*
JWT_SECRET: the value given, else the one already in the cluster (upgrades keep
it), else one generated once per render (memoised so every object agrees).
*/}}
{{- define "halo.jwtSecret" -}}
{{- if .Values.secret.jwtSecret }}
{{- .Values.secret.jwtSecret }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "halo.fullname" .) }}
{{- $key := .Values.secret.keys.jwtSecret }}
{{- if and $existing $existing.data (hasKey $existing.data $key) }}
{{- index $existing.data $key | b64dec }}
{{- else }}
{{- if not (hasKey .Values.secret "generatedJwtSecret") }}
{{- $_ := set .Values.secret "generatedJwtSecret" (randAlphaNum 48) }}
{{- end }}
{{- .Values.secret.generatedJwtSecret }}
{{- end }}
{{- end }}
{{- end }}

{{/* Secret data (base64), shared by the app's Secret and the migration hook's. */}}
{{- define "halo.secretData" -}}
{{ .Values.secret.keys.jwtSecret }}: {{ include "halo.jwtSecret" . | b64enc | quote }}
{{ .Values.secret.keys.databaseUrl }}: {{ tpl .Values.database.url . | b64enc | quote }}
{{ .Values.secret.keys.redisUrl }}: {{ tpl .Values.redis.url . | b64enc | quote }}
{{- if .Values.secret.jwtPreviousSecrets }}
{{ .Values.secret.keys.jwtPreviousSecrets }}: {{ .Values.secret.jwtPreviousSecrets | b64enc | quote }}
{{- end }}
{{- end }}

{{/* Secret-backed environment of the app and the migration Job. */}}
{{- define "halo.secretEnv" -}}
{{- $secret := .secretName }}
{{- $keys := .root.Values.secret.keys -}}
- name: JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.jwtSecret }}
- name: JWT_PREVIOUS_SECRETS
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.jwtPreviousSecrets }}
      optional: true
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.databaseUrl }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.redisUrl }}
{{- end }}

{{/* The writable paths of a read-only root filesystem. */}}
{{- define "halo.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
- name: metrics
  emptyDir:
    sizeLimit: {{ .Values.metricsVolume.sizeLimit }}
    {{- with .Values.metricsVolume.medium }}
    medium: {{ . }}
    {{- end }}
{{- end }}

{{- define "halo.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: metrics
  mountPath: /tmp/halo-metrics
{{- end }}
