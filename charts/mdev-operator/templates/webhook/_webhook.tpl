{{/* One webhook entry for VMIM CREATE; pass (dict "ctx" $ "name" "..." "path" "..."). */}}
{{- define "mdev-operator.vmimWebhook" -}}
- name: {{ .name }}
  admissionReviewVersions: [v1]
  sideEffects: NoneOnDryRun
  failurePolicy: {{ .ctx.Values.webhook.failurePolicy }}
  timeoutSeconds: {{ .ctx.Values.webhook.timeoutSeconds }}
  matchPolicy: Equivalent
  # caBundle is patched in by the controller, which manages its own CA (DESIGN.md §6).
  clientConfig:
    service:
      name: {{ include "mdev-operator.webhookService" .ctx }}
      namespace: {{ .ctx.Release.Namespace }}
      path: {{ .path }}
      port: 443
  namespaceSelector:
    matchExpressions:
      - key: kubernetes.io/metadata.name
        operator: NotIn
        values:
          {{- range (concat .ctx.Values.webhook.excludedNamespaces (list .ctx.Release.Namespace .ctx.Values.agent.namespace) | uniq) }}
          - {{ . | quote }}
          {{- end }}
  rules:
    - apiGroups: [kubevirt.io]
      apiVersions: [v1]
      operations: [CREATE]
      resources: [virtualmachineinstancemigrations]
      scope: Namespaced
  {{- if .matchConditions }}
  # Only VMIMs the mutating webhook decided or that pin a node need re-checking (ADR 0005).
  matchConditions:
    - name: decided-or-pinned
      expression: "(has(object.metadata.annotations) && 'mdev-operator.io/migration' in object.metadata.annotations) || has(object.spec.addedNodeSelector)"
  {{- end }}
{{- end -}}
