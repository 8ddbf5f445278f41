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

{{/* No image is published for this chart: the repository is the operator's own. */}}
{{- define "halo.image" -}}
{{- $repository := required "image.repository is required: no HALO image is published for you. Build and push one from the repository (`make image`, then `make push REGISTRY=registry.example.com/team`) and set --set image.repository=registry.example.com/team/halo (and image.tag or image.digest)" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The metrics Service (ClusterIP, Prometheus only). */}}
{{- define "halo.metricsServiceName" -}}
{{- printf "%s-metrics" (include "halo.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Environment variables the chart sets itself: refused in config.extra and extraEnvVars. */}}
{{- define "halo.managedEnv" -}}
{{- list "HOST" "PORT" "METRICS_HOST" "METRICS_PORT" "WORKERS" "DATABASE_URL" "DATABASE_PASSWORD" "REDIS_URL" "JWT_SECRET" "JWT_PREVIOUS_SECRETS" "DATABASE_POOL_MIN" "DATABASE_POOL_MAX" "DATABASE_POOLER" "DATABASE_MIGRATION_URL" "DATABASE_REPLICA_URLS" "REPLICA_MAX_LAG_SECONDS" "REPLICA_PRIMARY_READ_SHARE" "REDIS_POOL_MAX" "REDIS_CLUSTER" "SHUTDOWN_DELAY_SECONDS" "SHUTDOWN_TIMEOUT_SECONDS" "PROMETHEUS_MULTIPROC_DIR" "ENV" "LOG_LEVEL" "LOG_FORMAT" "TRUSTED_PROXIES" | toJson }}
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
{{- $pools := mul (include "halo.maxPods" . | int) .Values.workers .Values.database.poolMax }}
{{- if eq .Values.database.pooler "none" }}
{{- $used := add $pools .Values.database.reservedConnections }}
{{- if and .Values.database.enforceConnectionBudget (gt (int $used) (int .Values.database.maxConnections)) }}
{{- fail (printf "connection budget broken: (max pods %s) x workers %v x database.poolMax %v + reservedConnections %v = %v > database.maxConnections %v" (include "halo.maxPods" .) .Values.workers .Values.database.poolMax .Values.database.reservedConnections $used .Values.database.maxConnections) }}
{{- end }}
{{- else }}
{{- /* Behind a pooler: the pods' pools are its clients; PostgreSQL sees its server connections. */}}
{{- $server := add .Values.database.poolerServerConnections .Values.database.reservedConnections }}
{{- if and .Values.database.enforceConnectionBudget (gt (int $pools) (int .Values.database.poolerMaxClientConnections)) }}
{{- fail (printf "connection budget broken: (max pods %s) x workers %v x database.poolMax %v = %v > database.poolerMaxClientConnections %v (the pooler's max_client_conn)" (include "halo.maxPods" .) .Values.workers .Values.database.poolMax $pools .Values.database.poolerMaxClientConnections) }}
{{- end }}
{{- if and .Values.database.enforceConnectionBudget (gt (int $server) (int .Values.database.maxConnections)) }}
{{- fail (printf "connection budget broken: database.poolerServerConnections %v + reservedConnections %v = %v > database.maxConnections %v" .Values.database.poolerServerConnections .Values.database.reservedConnections $server .Values.database.maxConnections) }}
{{- end }}
{{- if and .Values.migrations.enabled (not .Values.database.migrationUrl) (not .Values.database.existingSecret) }}
{{- fail (printf "database.pooler=%s needs a direct connection for the migration Job (its lock is a session's): set database.migrationUrl, or database.existingSecret with key database.existingSecretMigrationUrlKey" .Values.database.pooler) }}
{{- end }}
{{- end }}
{{- /* Each read replica: a pool and a probe connection per worker of every pod (directly, not behind a pooler). */}}
{{- if and .Values.database.replicaUrls (eq .Values.database.pooler "none") }}
{{- $replica := add (mul (include "halo.maxPods" . | int) .Values.workers (add .Values.database.poolMax 1)) .Values.database.reservedConnections }}
{{- if and .Values.database.enforceConnectionBudget (gt (int $replica) (int .Values.database.replicaMaxConnections)) }}
{{- fail (printf "connection budget broken on each read replica: (max pods %s) x workers %v x (database.poolMax %v + 1 probe) + reservedConnections %v = %v > database.replicaMaxConnections %v" (include "halo.maxPods" .) .Values.workers .Values.database.poolMax .Values.database.reservedConnections $replica .Values.database.replicaMaxConnections) }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- $managed := include "halo.managedEnv" . | fromJsonArray }}
{{- range $name, $_ := .Values.config.extra }}
{{- if has $name $managed }}
{{- fail (printf "config.extra.%s is managed by the chart; set it through its own value (see README)" $name) }}
{{- end }}
{{- end }}
{{- range .Values.extraEnvVars }}
{{- if has .name $managed }}
{{- fail (printf "extraEnvVars: %s is managed by the chart; set it through its own value (see README)" .name) }}
{{- end }}
{{- end }}
{{- if and .Values.ingress.enabled (empty .Values.trustedProxies) }}
{{- fail "ingress.enabled=true needs trustedProxies: the CIDRs of the ingress controller's pods (e.g. --set 'trustedProxies={10.0.0.0/8}'), so HALO takes the client address from X-Forwarded-For; without it every client shares the controller's address (one rate-limit bucket, one login-failure counter)" }}
{{- end }}
{{- if and .Values.database.host (not .Values.database.existingSecret) (not .Values.database.password) }}
{{- fail "database.host is set but no password: set database.existingSecret (key database.existingSecretPasswordKey) or database.password" }}
{{- end }}
{{- end }}

{{/* Non-secret environment: the ConfigMap's data (shared by the app and the migration hook). */}}
{{- define "halo.configData" -}}
ENV: {{ .Values.config.env | quote }}
HOST: "0.0.0.0"
PORT: {{ .Values.ports.http | quote }}
{{- if ne .Values.metrics.host "podIP" }}
METRICS_HOST: {{ .Values.metrics.host | quote }}
{{- end }}
METRICS_PORT: {{ .Values.ports.metrics | quote }}
WORKERS: {{ .Values.workers | quote }}
DATABASE_POOL_MIN: {{ .Values.database.poolMin | quote }}
DATABASE_POOL_MAX: {{ .Values.database.poolMax | quote }}
DATABASE_POOLER: {{ .Values.database.pooler | quote }}
REPLICA_MAX_LAG_SECONDS: {{ .Values.database.replicaMaxLagSeconds | quote }}
REPLICA_PRIMARY_READ_SHARE: {{ .Values.database.replicaPrimaryReadShare | quote }}
REDIS_POOL_MAX: {{ .Values.redis.poolMax | quote }}
REDIS_CLUSTER: {{ .Values.redis.cluster | quote }}
SHUTDOWN_DELAY_SECONDS: {{ .Values.shutdown.delaySeconds | quote }}
SHUTDOWN_TIMEOUT_SECONDS: {{ .Values.shutdown.timeoutSeconds | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
LOG_FORMAT: {{ .Values.config.logFormat | quote }}
PROMETHEUS_MULTIPROC_DIR: "/tmp/halo-metrics"
{{- with .Values.trustedProxies }}
TRUSTED_PROXIES: {{ join "," . | quote }}
{{- end }}
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

{{/*
The chart's Secret data (base64), shared by the app's Secret and the migration
hook's: only what no existing Secret supplies. Empty when every credential
comes from an existing Secret (the chart then creates no Secret).
*/}}
{{- define "halo.secretData" -}}
{{- $keys := .Values.secret.keys }}
{{- if not .Values.secret.existingSecret }}
{{ $keys.jwtSecret }}: {{ include "halo.jwtSecret" . | b64enc | quote }}
{{- if .Values.secret.jwtPreviousSecrets }}
{{ $keys.jwtPreviousSecrets }}: {{ .Values.secret.jwtPreviousSecrets | b64enc | quote }}
{{- end }}
{{- end }}
{{- if .Values.database.host }}
{{- if not .Values.database.existingSecret }}
{{ $keys.databasePassword }}: {{ .Values.database.password | b64enc | quote }}
{{- end }}
{{- else if not .Values.database.existingSecret }}
{{ $keys.databaseUrl }}: {{ tpl .Values.database.url . | b64enc | quote }}
{{- end }}
{{- if and (ne .Values.database.pooler "none") .Values.database.migrationUrl (not .Values.database.existingSecret) }}
{{ $keys.databaseMigrationUrl }}: {{ tpl .Values.database.migrationUrl . | b64enc | quote }}
{{- end }}
{{- if and .Values.database.replicaUrls (not .Values.database.existingSecret) }}
{{ $keys.databaseReplicaUrls }}: {{ join "," .Values.database.replicaUrls | b64enc | quote }}
{{- end }}
{{- if not .Values.redis.existingSecret }}
{{ $keys.redisUrl }}: {{ tpl .Values.redis.url . | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
Secret-backed environment of the app and the migration Job: each credential
from its own existing Secret when one is named, else from the chart's Secret
(.secretName: the app's or the hook's copy).
*/}}
{{- define "halo.secretEnv" -}}
{{- $root := .root }}
{{- $chart := .secretName }}
{{- $keys := $root.Values.secret.keys }}
{{- $jwt := $root.Values.secret.existingSecret | default $chart -}}
- name: JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $jwt }}
      key: {{ $keys.jwtSecret }}
- name: JWT_PREVIOUS_SECRETS
  valueFrom:
    secretKeyRef:
      name: {{ $jwt }}
      key: {{ $keys.jwtPreviousSecrets }}
      optional: true
{{- with $root.Values.database }}
{{- if .host }}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | default $chart }}
      key: {{ ternary .existingSecretPasswordKey $keys.databasePassword (not (empty .existingSecret)) }}
# Kubernetes expands $(DATABASE_PASSWORD), defined just above.
- name: DATABASE_URL
  value: {{ printf "postgres://%s:$(DATABASE_PASSWORD)@%s:%v/%s" .user (tpl .host $root) .port .database | quote }}
{{- else }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | default $chart }}
      key: {{ ternary .existingSecretUrlKey $keys.databaseUrl (not (empty .existingSecret)) }}
{{- end }}
{{- if .existingSecret }}
- name: DATABASE_REPLICA_URLS
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .existingSecretReplicaUrlsKey }}
      optional: true
{{- else if .replicaUrls }}
- name: DATABASE_REPLICA_URLS
  valueFrom:
    secretKeyRef:
      name: {{ $chart }}
      key: {{ $keys.databaseReplicaUrls }}
{{- end }}
{{- end }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.redis.existingSecret | default $chart }}
      key: {{ ternary $root.Values.redis.existingSecretUrlKey $keys.redisUrl (not (empty $root.Values.redis.existingSecret)) }}
{{- end }}

{{/*
The migration Job's direct connection behind a pooler (DATABASE_MIGRATION_URL):
from database.existingSecret when named, else from the hook's copy of the chart's Secret.
*/}}
{{- define "halo.migrationEnv" -}}
{{- $root := .root }}
{{- with $root.Values.database }}
{{- if ne .pooler "none" }}
- name: DATABASE_MIGRATION_URL
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | default $.secretName }}
      key: {{ ternary .existingSecretMigrationUrlKey $root.Values.secret.keys.databaseMigrationUrl (not (empty .existingSecret)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The operator's own environment (extraEnvVars, extraEnvVarsCM, extraEnvVarsSecret). */}}
{{- define "halo.extraEnv" -}}
{{- with .Values.extraEnvVars }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "halo.extraEnvFrom" -}}
{{- with .Values.extraEnvVarsCM }}
- configMapRef:
    name: {{ tpl . $ }}
{{- end }}
{{- with .Values.extraEnvVarsSecret }}
- secretRef:
    name: {{ tpl . $ }}
{{- end }}
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
{{- with .Values.extraVolumes }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end }}

{{- define "halo.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: metrics
  mountPath: /tmp/halo-metrics
{{- with .Values.extraVolumeMounts }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end }}
