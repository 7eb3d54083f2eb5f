{{/*
Agent DaemonSets: the default one (agent.*) and one per agent.pools entry, each with its backend.
Each entry: name ("" for the default), backend, nodeSelector, runtimeClassName, env, extraArgs,
affinity. The default DaemonSet keeps off every pool's nodes: NOT (pool 1) AND ... AND NOT (pool n),
where NOT (k1=v1 AND k2=v2) is (k1 NotIn [v1]) OR (k2 NotIn [v2]); as nodeSelectorTerms (ORed
terms of ANDed expressions) that is one term per choice of one label from each pool.
*/}}
{{- define "mdev-operator.agentPools" -}}
{{- $agent := .Values.agent -}}
{{- $pools := list -}}
{{- $terms := list (list) -}}
{{- range $agent.pools }}
{{- $pool := . -}}
{{- $next := list -}}
{{- range $t := $terms }}
{{- range $k := keys $pool.nodeSelector | sortAlpha }}
{{- $next = append $next (append $t (dict "key" $k "operator" "NotIn" "values" (list (get $pool.nodeSelector $k)))) -}}
{{- end }}
{{- end }}
{{- $terms = $next -}}
{{- $pools = append $pools (dict
    "name" $pool.name
    "backend" $pool.backend
    "nodeSelector" (merge (dict) $pool.nodeSelector $agent.nodeSelector)
    "runtimeClassName" ($pool.runtimeClassName | default "")
    "env" ($pool.env | default list)
    "extraArgs" (concat $agent.extraArgs ($pool.extraArgs | default list))
    "affinity" $agent.affinity) -}}
{{- end }}
{{- $affinity := $agent.affinity -}}
{{- if $agent.pools }}
{{- if dig "nodeAffinity" "requiredDuringSchedulingIgnoredDuringExecution" nil $agent.affinity }}
{{- fail "agent.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution cannot be combined with agent.pools: the default agent DaemonSet's required node affinity keeps it off the pools' nodes; select the default agent's nodes with agent.nodeSelector instead" }}
{{- end }}
{{- $exclude := dict "nodeAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (dict "nodeSelectorTerms" (list))) -}}
{{- range $terms }}
{{- $_ := set $exclude.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution "nodeSelectorTerms" (append $exclude.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms (dict "matchExpressions" .)) -}}
{{- end }}
{{- $affinity = mergeOverwrite (deepCopy $agent.affinity) $exclude -}}
{{- end }}
{{- $default := dict "name" "" "backend" $agent.backend "nodeSelector" $agent.nodeSelector "runtimeClassName" ($agent.runtimeClassName | default "") "env" (list) "extraArgs" $agent.extraArgs "affinity" $affinity -}}
{{- toJson (prepend $pools $default) -}}
{{- end -}}

{{/* The environment NVML needs from the NVIDIA container toolkit: every GPU, the utility (NVML) libraries. */}}
{{- define "mdev-operator.nvmlEnv" -}}
- name: NVIDIA_VISIBLE_DEVICES
  value: all
- name: NVIDIA_DRIVER_CAPABILITIES
  value: utility
{{- end -}}
