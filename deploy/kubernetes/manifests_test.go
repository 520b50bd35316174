// Package manifests checks aftermath's Kubernetes manifests without a cluster:
// kustomize builds the directory as `kubectl apply -k` would, and every
// resource it yields is decoded strictly (an unknown or misspelt field fails)
// into the Kubernetes API types and the Prometheus Operator's, then checked
// for what the deployment relies on. Every alert's expression is parsed as
// PromQL.
//
// The main module's tests check what needs the binary: that the alerts name
// metrics it exports, that the environment variables are ones it reads and
// that rules.yaml loads (app/manifests_test.go).
package manifests

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/prometheus/promql/parser"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// stopTimeout is serve's --stop-timeout default, which the Deployment names.
const stopTimeout = 30 * time.Second

// built is what kustomize made of this directory, decoded.
type built struct {
	deployment     *appsv1.Deployment
	services       map[string]*corev1.Service
	configMaps     map[string]*corev1.ConfigMap
	pdb            *policyv1.PodDisruptionBudget
	serviceMonitor *monitoringv1.ServiceMonitor
	rule           *monitoringv1.PrometheusRule
}

// decodeStrict decodes one manifest into the type its kind names; a field the
// type does not have is an error.
func decodeStrict(kind string, doc []byte) (any, error) {
	var obj any
	switch kind {
	case "Deployment":
		obj = &appsv1.Deployment{}
	case "Service":
		obj = &corev1.Service{}
	case "ConfigMap":
		obj = &corev1.ConfigMap{}
	case "Secret":
		obj = &corev1.Secret{}
	case "PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	case "ServiceMonitor":
		obj = &monitoringv1.ServiceMonitor{}
	case "PrometheusRule":
		obj = &monitoringv1.PrometheusRule{}
	default:
		return nil, fmt.Errorf("kind %q: no type to check it against; add one to decodeStrict", kind)
	}
	// YAMLToJSONStrict refuses duplicate keys; sigs.k8s.io/json (what the API
	// server's strict field validation uses) names each unknown field by path.
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	strict, err := kjson.UnmarshalStrict(js, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err = errors.Join(append([]error{err}, strict...)...); err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return obj, nil
}

// build runs kustomize on dir of fs and decodes every resource strictly.
func build(fs filesys.FileSystem, dir string) (*built, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(fs, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build: %w", err)
	}
	b := &built{services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{}}
	for _, r := range m.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		obj, err := decodeStrict(r.GetKind(), doc)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", r.GetKind(), r.GetName(), err)
		}
		if ns := r.GetNamespace(); ns != "" {
			return nil, fmt.Errorf("%s/%s names namespace %q: the manifests are namespace-agnostic (kubectl -n)", r.GetKind(), r.GetName(), ns)
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			b.deployment = o
		case *corev1.Service:
			b.services[o.Name] = o
		case *corev1.ConfigMap:
			b.configMaps[o.Name] = o
		case *policyv1.PodDisruptionBudget:
			b.pdb = o
		case *monitoringv1.ServiceMonitor:
			b.serviceMonitor = o
		case *monitoringv1.PrometheusRule:
			b.rule = o
		case *corev1.Secret:
			return nil, fmt.Errorf("Secret/%s is a kustomize resource: applying the directory would overwrite the real tokens", o.Name)
		}
	}
	return b, nil
}

func buildHere(t *testing.T) *built {
	t.Helper()
	b, err := build(filesys.MakeFsOnDisk(), ".")
	if err != nil {
		t.Fatal(err)
	}
	if b.deployment == nil || b.pdb == nil || b.serviceMonitor == nil || b.rule == nil || len(b.services) != 2 || len(b.configMaps) != 2 {
		t.Fatalf("kustomize built %+v: want a Deployment, 2 Services, 2 ConfigMaps, a PodDisruptionBudget, a ServiceMonitor and a PrometheusRule", b)
	}
	return b
}

func TestDeployment(t *testing.T) {
	b := buildHere(t)
	d := b.deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update %+v: want maxUnavailable 0, so a pod that cannot start never replaces a working one", ru)
	}
	sel, err := metaSelector(d.Spec.Selector.MatchLabels)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("selector %v does not match the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "serve" || !slices.Contains(c.Args, "--stop-timeout="+stopTimeout.String()) {
		t.Errorf("args %q: want serve --stop-timeout=%s", c.Args, stopTimeout)
	}

	// Probes: the routes handlers/ serves, on the named port.
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe %+v: want GET %s on port http", name, p, path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports %+v: want http 8080 (AFTERMATH_LISTEN_ADDR :8080)", c.Ports)
	}

	// Shutdown: the kubelet waits preStop + the app's stop timeout.
	pre := int64(0)
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		pre = c.Lifecycle.PreStop.Sleep.Seconds
	} else {
		t.Error("no preStop sleep: SIGTERM would arrive while endpoints still route webhooks to the pod")
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g-pre)*time.Second <= stopTimeout {
		t.Errorf("terminationGracePeriodSeconds %v with a %d s preStop: want more than %s left for serve's stop", g, pre, stopTimeout)
	}

	// Security: non-root by number, read-only, no capabilities, seccomp.
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and runAsUser 65532 (distroless nonroot)", psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("want seccompProfile RuntimeDefault")
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext %+v: want readOnlyRootFilesystem, no privilege escalation, drop ALL", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	if len(pod.TopologySpreadConstraints) == 0 {
		t.Error("no topologySpreadConstraints: three replicas could land on one node")
	}
	for _, tsc := range pod.TopologySpreadConstraints {
		if s, err := metaSelector(tsc.LabelSelector.MatchLabels); err != nil || !s.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("topology spread on %s selects %v, not the pods", tsc.TopologyKey, tsc.LabelSelector.MatchLabels)
		}
	}
}

// TestRulesAndEnvironment follows the generated ConfigMaps into the pod: the
// rules are mounted as a directory (a subPath mount would never see an
// update) where AFTERMATH_RULES points, and the env ConfigMap and the Secret
// are read whole.
func TestRulesAndEnvironment(t *testing.T) {
	b := buildHere(t)
	pod := b.deployment.Spec.Template.Spec
	c := pod.Containers[0]
	var rulesPath string
	for _, e := range c.Env {
		if e.Name == "AFTERMATH_RULES" {
			rulesPath = e.Value
		}
	}
	var vol *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == "rules" {
			vol = &pod.Volumes[i]
		}
	}
	if vol == nil || vol.ConfigMap == nil {
		t.Fatal("no volume rules from a ConfigMap")
	}
	cm, ok := b.configMaps[vol.ConfigMap.Name]
	if !ok || !strings.HasPrefix(vol.ConfigMap.Name, "aftermath-rules-") {
		t.Fatalf("volume rules names ConfigMap %q; kustomize made %v (the name must carry the content hash)", vol.ConfigMap.Name, keys(b.configMaps))
	}
	want, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["rules.yaml"] != string(want) {
		t.Error("the rules ConfigMap does not hold rules.yaml as it is")
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		if m.Name == "rules" {
			if m.SubPath != "" {
				t.Errorf("rules mounted with subPath %q: the file would never be updated", m.SubPath)
			}
			mounted = rulesPath == strings.TrimSuffix(m.MountPath, "/")+"/rules.yaml" && m.ReadOnly
		}
	}
	if !mounted {
		t.Errorf("AFTERMATH_RULES=%q is not rules.yaml in the read-only rules mount", rulesPath)
	}

	var fromCM, fromSecret string
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			fromCM = ef.ConfigMapRef.Name
		case ef.SecretRef != nil:
			fromSecret = ef.SecretRef.Name
		}
	}
	envCM, ok := b.configMaps[fromCM]
	if !ok || !strings.HasPrefix(fromCM, "aftermath-env-") {
		t.Fatalf("envFrom ConfigMap %q is not the generated aftermath-env", fromCM)
	}
	// kustomize read aftermath.env's NAME=value lines and skipped its comments.
	if envCM.Data["PAGERDUTY_FROM_EMAIL"] == "" || envCM.Data["AFTERMATH_REDIS_PREFIX"] != "aftermath" {
		t.Errorf("aftermath-env holds %v", envCM.Data)
	}
	for k := range envCM.Data {
		if strings.ContainsAny(k, "# ") {
			t.Errorf("aftermath-env has the key %q: a comment or a malformed line", k)
		}
	}
	secret := readSecretExample(t)
	if fromSecret != secret.Name {
		t.Errorf("envFrom Secret %q, but secret.example.yaml is %q", fromSecret, secret.Name)
	}
	for k := range secret.StringData {
		if !strings.Contains(secret.StringData[k], "REPLACE") && !strings.Contains(secret.StringData[k], "replace-me") {
			t.Errorf("secret.example.yaml %s=%q is not an obvious placeholder", k, secret.StringData[k])
		}
	}
}

func readSecretExample(t *testing.T) *corev1.Secret {
	t.Helper()
	doc, err := os.ReadFile("secret.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := decodeStrict("Secret", doc)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*corev1.Secret)
}

func TestServicesAndDisruptionBudget(t *testing.T) {
	b := buildHere(t)
	podLabels := labels.Set(b.deployment.Spec.Template.Labels)
	for name, svc := range b.services {
		if s, err := metaSelector(svc.Spec.Selector); err != nil || len(svc.Spec.Selector) == 0 || !s.Matches(podLabels) {
			t.Errorf("Service %s selects %v, not the pods %v", name, svc.Spec.Selector, podLabels)
		}
		for _, p := range svc.Spec.Ports {
			if p.TargetPort.String() != "http" {
				t.Errorf("Service %s port %s targets %s, not the container's http port", name, p.Name, p.TargetPort.String())
			}
		}
	}
	metrics, ok := b.services["aftermath-metrics"]
	if !ok || !metrics.Spec.PublishNotReadyAddresses {
		t.Error("aftermath-metrics must publish not-ready pods: they are unready exactly while Redis is down")
	}
	if web, ok := b.services["aftermath"]; !ok || web.Spec.PublishNotReadyAddresses {
		t.Error("Service aftermath must route to ready pods only")
	}

	pdb := b.pdb
	if s, err := metaSelector(pdb.Spec.Selector.MatchLabels); err != nil || !s.Matches(podLabels) {
		t.Errorf("PodDisruptionBudget selects %v, not the pods", pdb.Spec.Selector.MatchLabels)
	}
	okBudget := (pdb.Spec.MaxUnavailable != nil && pdb.Spec.MaxUnavailable.IntValue() == 1) ||
		(pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.IntValue() == 2)
	if !okBudget {
		t.Errorf("PodDisruptionBudget %+v: want maxUnavailable 1 or minAvailable 2", pdb.Spec)
	}

	sm := b.serviceMonitor
	if s, err := metaSelector(sm.Spec.Selector.MatchLabels); err != nil || !s.Matches(labels.Set(metrics.Labels)) {
		t.Errorf("ServiceMonitor selects %v, not aftermath-metrics %v", sm.Spec.Selector.MatchLabels, metrics.Labels)
	}
	for name, svc := range b.services {
		if s, _ := metaSelector(sm.Spec.Selector.MatchLabels); name != metrics.Name && s.Matches(labels.Set(svc.Labels)) {
			t.Errorf("ServiceMonitor also selects Service %s: every pod would be scraped twice", name)
		}
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != metrics.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v: want port %s path /metrics", sm.Spec.Endpoints, metrics.Spec.Ports[0].Name)
	}
}

// TestAlerts parses every expression and checks each alert says what to do.
// Whether the metrics exist is the main module's test.
func TestAlerts(t *testing.T) {
	b := buildHere(t)
	want := []string{
		"AftermathDeadLetters", "AftermathWebhooksRefused", "AftermathMissedWebhooks",
		"AftermathPostmortemsOverdue", "AftermathRedisDown", "AftermathDigestFailed",
	}
	var got []string
	for _, g := range b.rule.Spec.Groups {
		for _, r := range g.Rules {
			got = append(got, r.Alert)
			names, err := metricNames(r.Expr.String())
			if err != nil {
				t.Errorf("%s: %v", r.Alert, err)
				continue
			}
			if len(names) == 0 {
				t.Errorf("%s: expr %q reads no metric", r.Alert, r.Expr.String())
			}
			for _, n := range names {
				if !strings.HasPrefix(n, "aftermath_") {
					t.Errorf("%s reads %s, not one of aftermath's metrics", r.Alert, n)
				}
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: want a severity label and summary and description annotations", r.Alert)
			}
			if r.For != nil {
				if _, err := time.ParseDuration(string(*r.For)); err != nil {
					t.Errorf("%s: for %q: %v", r.Alert, *r.For, err)
				}
			}
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("no alert %s (have %v)", w, got)
		}
	}
}

// metricNames parses expr as PromQL and returns the metric names it selects.
func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("expr %q: %w", expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names, nil
}

// TestCheckerRefusesMistakes proves the checks above can fail: a misspelt
// field, a field in the wrong place, a misspelt kustomization key and a
// broken expression are each refused.
func TestCheckerRefusesMistakes(t *testing.T) {
	cases := []struct {
		name, kind, doc, wantErr string
	}{
		{"misspelt field", "Deployment", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  replica: 3
  selector: {matchLabels: {a: b}}
  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}
`, `unknown field "spec.replica"`},
		{"probe field misspelt", "Deployment", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: c
          image: i
          readinessProbe: {httpGet: {pth: /readyz, port: http}}
`, `unknown field "spec.template.spec.containers[0].readinessProbe.httpGet.pth"`},
		{"field in the wrong place", "Service", `
apiVersion: v1
kind: Service
metadata: {name: x, selector: {a: b}}
spec: {ports: [{port: 80}]}
`, `unknown field "metadata.selector"`},
		{"ServiceMonitor endpoint misspelt", "ServiceMonitor", `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  endpoints: [{port: metrics, pathh: /metrics}]
`, `unknown field "spec.endpoints[0].pathh"`},
		{"alert key misspelt", "PrometheusRule", `
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: x}
spec:
  groups: [{name: g, rules: [{alert: A, expresion: "up == 0"}]}]
`, `unknown field "spec.groups[0].rules[0].expresion"`},
		{"kind without a type", "Ingress", "apiVersion: networking.k8s.io/v1\nkind: Ingress\n", "no type to check it against"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeStrict(tc.kind, []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
			}
		})
	}

	t.Run("kustomization key misspelt", func(t *testing.T) {
		fs := filesys.MakeFsInMemory()
		must(t, fs.WriteFile("/k/kustomization.yaml", []byte("resources: [svc.yaml]\nconfigMapGenerater: []\n")))
		must(t, fs.WriteFile("/k/svc.yaml", []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80}]}\n")))
		if _, err := build(fs, "/k"); err == nil || !strings.Contains(err.Error(), "configMapGenerater") {
			t.Fatalf("got %v, want kustomize to refuse configMapGenerater", err)
		}
	})
	t.Run("misspelt field through kustomize", func(t *testing.T) {
		fs := filesys.MakeFsInMemory()
		must(t, fs.WriteFile("/k/kustomization.yaml", []byte("resources: [svc.yaml]\n")))
		must(t, fs.WriteFile("/k/svc.yaml", []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {portz: [{port: 80}]}\n")))
		if _, err := build(fs, "/k"); err == nil || !strings.Contains(err.Error(), `unknown field "spec.portz"`) {
			t.Fatalf("got %v, want the misspelt spec.portz refused", err)
		}
	})
	t.Run("a Secret among the resources", func(t *testing.T) {
		fs := filesys.MakeFsInMemory()
		must(t, fs.WriteFile("/k/kustomization.yaml", []byte("resources: [s.yaml]\n")))
		must(t, fs.WriteFile("/k/s.yaml", []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: aftermath}\nstringData: {A: b}\n")))
		if _, err := build(fs, "/k"); err == nil || !strings.Contains(err.Error(), "overwrite the real tokens") {
			t.Fatalf("got %v, want a Secret resource refused", err)
		}
	})
	for _, expr := range []string{`sum(rate(aftermath_webhooks_total[5m]) > 0`, `max(aftermath_queue_dead_letters) >> 0`, `rate(aftermath_webhooks_total[5x])`} {
		t.Run("bad expr "+expr, func(t *testing.T) {
			if _, err := metricNames(expr); err == nil {
				t.Fatalf("%q parsed", expr)
			}
		})
	}
	if names, err := metricNames(`sum(increase(aftermath_webhooks_total{outcome="x"}[10m])) / max(aftermath_queue_length)`); err != nil ||
		!slices.Equal(names, []string{"aftermath_webhooks_total", "aftermath_queue_length"}) {
		t.Errorf("metricNames = %v, %v", names, err)
	}
}

func metaSelector(m map[string]string) (labels.Selector, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("empty selector")
	}
	return labels.SelectorFromSet(m), nil
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
