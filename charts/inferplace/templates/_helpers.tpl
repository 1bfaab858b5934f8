{{- define "inferplace.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "inferplace.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "inferplace.selectorLabels" -}}
app.kubernetes.io/name: {{ include "inferplace.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "inferplace.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "inferplace.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "inferplace.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "inferplace.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "inferplace.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "inferplace.pricesConfigMap" -}}
{{- if .Values.prices.existingConfigMap -}}
{{- .Values.prices.existingConfigMap -}}
{{- else if .Values.prices.inline -}}
{{- printf "%s-prices" (include "inferplace.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "inferplace.instancesConfigMap" -}}
{{- if .Values.instances.existingConfigMap -}}
{{- .Values.instances.existingConfigMap -}}
{{- else if .Values.instances.inline -}}
{{- printf "%s-instances" (include "inferplace.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The access the operator uses on its own resources: watch them, write their status, post Events. */}}
{{- define "inferplace.rules" -}}
- apiGroups: ["inferplace.io"]
  resources: ["inferenceworkloads"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["inferplace.io"]
  resources: ["inferenceworkloads/status"]
  verbs: ["get", "patch"]
{{- if gt (int .Values.sharding.shards) 1 }}
# the label inferplace.io/shard=K-of-N on each workload (a merge patch of that one label)
- apiGroups: ["inferplace.io"]
  resources: ["inferenceworkloads"]
  verbs: ["patch"]
{{- end }}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{/* The ConfigMap holding the fleet's verification checks ("" when they are kept in memory). */}}
{{- define "inferplace.correctionsConfigMap" -}}
{{- if .Values.verification.correctionsConfigMap -}}
{{- printf "%s-corrections" (include "inferplace.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The Leases' name: leaderElection.id, else the release's full name (at most 40 characters). */}}
{{- define "inferplace.leaseId" -}}
{{- default (include "inferplace.fullname" .) .Values.leaderElection.id | trunc 40 | trimSuffix "-" -}}
{{- end -}}
