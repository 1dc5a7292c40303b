{{/*
Names, labels and the values the other templates share. "gofb" = genesys-offboarding-operator.
*/}}

{{- define "gofb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: the release name, plus the chart name unless it is already in it. */}}
{{- define "gofb.fullname" -}}
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

{{/* Cluster-scoped names carry the release namespace: two releases may share a release name. */}}
{{- define "gofb.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "gofb.fullname" .) -}}
{{- end -}}

{{- define "gofb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gofb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gofb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gofb.labels" -}}
helm.sh/chart: {{ include "gofb.chart" . }}
{{ include "gofb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: genesys-offboarding-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "gofb.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gofb.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gofb.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "gofb.leaseName" -}}
{{- default (include "gofb.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{/*
The watched namespaces as a JSON list (read it back with fromJsonArray): the release namespace in
single-namespace mode, else watchNamespaces; empty means every namespace.
*/}}
{{- define "gofb.watchNamespaces" -}}
{{- if .Values.singleNamespace -}}
{{- list .Release.Namespace | toJson -}}
{{- else -}}
{{- .Values.watchNamespaces | default list | uniq | toJson -}}
{{- end -}}
{{- end -}}

{{/*
What the operator may do where offboardings live. No wildcards: tests/integration/chart.rs
checks it.
Secrets: get, list and watch, because a change to a credentials Secret triggers a reconcile.
*/}}
{{- define "gofb.reconcileRules" -}}
- apiGroups: ["offboarding.genesys-operator.io"]
  resources: ["genesysuseroffboardings"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["offboarding.genesys-operator.io"]
  resources: ["genesysuseroffboardings/status"]
  verbs: ["patch"]
- apiGroups: ["offboarding.genesys-operator.io"]
  resources: ["genesysuseroffboardings/finalizers"]
  verbs: ["update"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
{{- end -}}

{{/* Checks the values cannot express in values.schema.json alone. */}}
{{- define "gofb.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) -}}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: two active operators would offboard the same users twice" -}}
{{- end -}}
{{- if and .Values.guardrails.approval.enabled (not .Values.guardrails.approval.approverGroups) -}}
{{- fail "guardrails.approval.enabled needs guardrails.approval.approverGroups: without approvers nothing could ever be approved" -}}
{{- end -}}
{{- if and .Values.singleNamespace .Values.watchNamespaces -}}
{{- fail "singleNamespace=true watches the release namespace only: leave watchNamespaces empty" -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) -}}
{{- fail "podDisruptionBudget.minAvailable must be below replicaCount, or no node could ever be drained" -}}
{{- end -}}
{{- end -}}

{{/*
The label matchers that pick this release's metrics out of everything Prometheus scrapes: the
ServiceMonitor's job is the Service's name unless prometheusRule.metricSelector says otherwise.
*/}}
{{- define "gofb.metricSelector" -}}
{{- .Values.prometheusRule.metricSelector | default (printf "job=%q" (include "gofb.fullname" .)) -}}
{{- end }}

{{/*
Where an alert's runbook lives: prometheusRule.runbookBaseUrl (the URL of the docs/ folder)
followed by a page and anchor; without a base URL, the path inside the repository.
*/}}
{{- define "gofb.runbook" -}}
{{- $base := .root.Values.prometheusRule.runbookBaseUrl | default "docs" | trimSuffix "/" -}}
{{- printf "%s/%s" $base .page -}}
{{- end }}

{{/*
The approval gate's annotations of an object, as CEL (empty string when absent). Plain
expressions, no policy variables, so that tests evaluate each rule as written.
*/}}
{{- define "gofb.requestedBy" -}}
(has({{ . }}.metadata.annotations) && 'offboarding.genesys-operator.io/requested-by' in {{ . }}.metadata.annotations ? {{ . }}.metadata.annotations['offboarding.genesys-operator.io/requested-by'] : '')
{{- end -}}
{{- define "gofb.approvedBy" -}}
(has({{ . }}.metadata.annotations) && 'offboarding.genesys-operator.io/approved-by' in {{ . }}.metadata.annotations ? {{ . }}.metadata.annotations['offboarding.genesys-operator.io/approved-by'] : '')
{{- end -}}
