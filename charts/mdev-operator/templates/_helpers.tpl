{{/* Names and labels shared by every template. */}}

{{- define "mdev-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mdev-operator.fullname" -}}
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

{{- define "mdev-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object; pass (dict "ctx" $ "component" "controller"). */}}
{{- define "mdev-operator.labels" -}}
helm.sh/chart: {{ include "mdev-operator.chart" .ctx }}
{{ include "mdev-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: mdev-operator
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "mdev-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mdev-operator.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mdev-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "mdev-operator.controllerServiceAccount" -}}
{{- default (printf "%s-controller" (include "mdev-operator.fullname" .)) .Values.controller.serviceAccount.name -}}
{{- end -}}

{{- define "mdev-operator.agentServiceAccount" -}}
{{- default (printf "%s-agent" (include "mdev-operator.fullname" .)) .Values.agent.serviceAccount.name -}}
{{- end -}}

{{/* The webhook objects the controller manages at runtime (caBundle patch, TLS Secret). */}}
{{- define "mdev-operator.webhookService" -}}
{{- printf "%s-webhook" (include "mdev-operator.fullname" .) -}}
{{- end -}}

{{- define "mdev-operator.webhookSecret" -}}
{{- printf "%s-webhook-tls" (include "mdev-operator.fullname" .) -}}
{{- end -}}

{{- define "mdev-operator.webhookConfiguration" -}}
{{- include "mdev-operator.fullname" . -}}
{{- end -}}

{{/* The ConfigMap that owns the Leases and the TLS Secret the operator creates (templates/owner-configmap.yaml). */}}
{{- define "mdev-operator.ownerConfigMap" -}}
{{- printf "%s-owner" (include "mdev-operator.fullname" .) -}}
{{- end -}}

{{/* The agent must not share the controller's namespace when the chart creates it. */}}
{{- define "mdev-operator.checkNamespaces" -}}
{{- if and .Values.agent.createNamespace (eq .Values.agent.namespace .Release.Namespace) -}}
{{- fail (printf "agent.namespace %q equals the release namespace: the agent needs its own namespace at the privileged Pod Security level; choose another agent.namespace, or set agent.createNamespace=false and label the namespace yourself" .Values.agent.namespace) -}}
{{- end -}}
{{- end -}}
