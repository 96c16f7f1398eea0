{{/* Names and labels shared by every template. */}}

{{- define "gitview.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 48 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 48 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gitview.labels" -}}
app.kubernetes.io/part-of: gitview
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "operator"). */}}
{{- define "gitview.selector" -}}
app.kubernetes.io/name: gitview-{{ .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{/* An image reference: (dict "ctx" $ "name" "gitview-operator"), with its digest when
image.digests pins it (images/build.sh writes them). */}}
{{- define "gitview.image" -}}
{{- $ref := printf "%s/%s:%s" .ctx.Values.image.registry .name (.ctx.Values.image.tag | default (printf "v%s" .ctx.Chart.AppVersion)) -}}
{{- $digest := index (.ctx.Values.image.digests | default dict) (trimPrefix "gitview-" .name) | default "" -}}
{{- if $digest }}{{ printf "%s@%s" $ref $digest }}{{ else }}{{ $ref }}{{ end -}}
{{- end -}}

{{- define "gitview.runnerImage" -}}
{{- .Values.runner.image | default (include "gitview.image" (dict "ctx" . "name" "gitview-runner")) -}}
{{- end -}}

{{- define "gitview.serviceAccount" -}}
{{ include "gitview.fullname" . }}-{{ .component }}
{{- end -}}

{{- define "gitview.gatewayUrl" -}}
{{- .Values.gateway.url | default (printf "http://%s-gateway.%s.svc:%d" (include "gitview.fullname" .) .Release.Namespace (int .Values.gateway.port)) -}}
{{- end -}}

{{- define "gitview.signingKeySecret" -}}
{{- .Values.operator.signingKey.existingSecret | default (printf "%s-signing-key" (include "gitview.fullname" .)) -}}
{{- end -}}

{{- define "gitview.adminTokenSecret" -}}
{{- .Values.gateway.adminToken.existingSecret | default (printf "%s-gateway-admin" (include "gitview.fullname" .)) -}}
{{- end -}}

{{- define "gitview.databaseSecret" -}}
{{- .Values.database.existingSecret | default (printf "%s-database" (include "gitview.fullname" .)) -}}
{{- end -}}

{{/* The restricted Pod Security Standard, for every container the chart runs. */}}
{{- define "gitview.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The artifacts volume's mount path (file:// object stores). */}}
{{- define "gitview.artifactsDir" -}}
{{- trimPrefix "file://" .Values.gateway.objectStore.url -}}
{{- end -}}

{{- define "gitview.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Fails the render on combinations the schema cannot express. */}}
{{- define "gitview.validate" -}}
{{- if and .Values.postgresql.bundled .Values.database.existingSecret -}}
{{- fail "values: set either database.existingSecret or postgresql.bundled=true, not both" -}}
{{- end -}}
{{- if and .Values.gateway.enabled (not .Values.postgresql.bundled) (not .Values.database.existingSecret) -}}
{{- fail "values: the gateway needs a database: set database.existingSecret (a Secret with keys url and owner-url) or postgresql.bundled=true" -}}
{{- end -}}
{{- if and .Values.runner.networkPolicy.enabled (not .Values.runner.networkPolicy.namespaces) (not .Values.operator.watchNamespaces) -}}
{{- fail "values: runner.networkPolicy.enabled needs the namespaces where Analyses run: set runner.networkPolicy.namespaces (or operator.watchNamespaces, which it defaults to)" -}}
{{- end -}}
{{- $objects := .Values.gateway.objectStore -}}
{{- if and .Values.gateway.enabled (hasPrefix "file://" $objects.url) (gt (int .Values.gateway.replicas) 1) (not $objects.volume.existingClaim) (not $objects.volume.ephemeral) (not (has "ReadWriteMany" $objects.volume.accessModes)) -}}
{{- fail "values: gateway.replicas > 1 share the artifacts volume: give gateway.objectStore.volume.accessModes ReadWriteMany, an existingClaim that is, or use an s3:// gateway.objectStore.url" -}}
{{- end -}}
{{- if and $objects.existingSecret (not (hasPrefix "s3://" $objects.url)) -}}
{{- fail "values: gateway.objectStore.existingSecret holds S3 credentials: set gateway.objectStore.url to s3://bucket[/prefix] too" -}}
{{- end -}}
{{- if and (not .Values.gateway.enabled) (not .Values.gateway.url) -}}
{{- fail "values: with gateway.enabled=false, set gateway.url to the gateway runner pods write to" -}}
{{- end -}}
{{- end -}}
