package app

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/aftermath-dev/aftermath/config"
	"github.com/aftermath-dev/aftermath/internal/redistest"
	"github.com/aftermath-dev/aftermath/rules"
)

// The Kubernetes manifests are checked by their own module
// (deploy/kubernetes), against the Kubernetes types; these tests check them
// against the binary: the metrics the alerts read, the environment the pods
// get and the rules file they load.
const manifests = "../deploy/kubernetes/"

// alertMetric finds the metric names in a PromQL expression: every name
// aftermath exports starts with aftermath_ (deploy/kubernetes parses the
// expressions fully).
var alertMetric = regexp.MustCompile(`\baftermath_[a-zA-Z0-9_]*`)

// exportedFamilies reads the metric family names of a /metrics answer.
func exportedFamilies(t *testing.T, text string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = true
			if f[3] == "histogram" || f[3] == "summary" {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					out[f[2]+suffix] = true
				}
			}
		}
	}
	return out
}

// unknownMetrics returns, for each alert, the metric names its expression
// reads that are not exported.
func unknownMetrics(alerts map[string]string, exported map[string]bool) []string {
	var out []string
	for alert, expr := range alerts {
		for _, name := range alertMetric.FindAllString(expr, -1) {
			if !exported[name] {
				out = append(out, fmt.Sprintf("%s reads %s", alert, name))
			}
		}
	}
	slices.Sort(out)
	return out
}

// alertExprs reads the alert name and expression of every rule in the
// PrometheusRule manifest.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	var pr struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `yaml:"alert"`
					Expr  string `yaml:"expr"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		} `yaml:"spec"`
	}
	readYAML(t, manifests+"prometheusrule.yaml", &pr)
	out := map[string]string{}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r.Expr
		}
	}
	if len(out) < 5 {
		t.Fatalf("read %d alerts from prometheusrule.yaml", len(out))
	}
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestManifestAlertsUseExportedMetrics starts a process as the Deployment
// runs it (ingest and worker, PagerDuty configured so the catch-up sweep
// runs) and checks that every metric the alerts read is on its /metrics.
func TestManifestAlertsUseExportedMetrics(t *testing.T) {
	r := redistest.New(t)
	_, pdEnv := pagerDuty(t)
	a, _ := startApp(t, with(serveEnv(r), pdEnv))
	code, body := get(t, "http://"+a.Addr()+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics answered %d", code)
	}
	exported := exportedFamilies(t, body)
	alerts := alertExprs(t)
	if bad := unknownMetrics(alerts, exported); len(bad) > 0 {
		t.Errorf("alerts read metrics the binary does not export: %v", bad)
	}

	// The check can fail: a misspelt name, a histogram's real and made-up
	// suffixes.
	for _, tc := range []struct {
		expr string
		bad  bool
	}{
		{`sum(rate(aftermath_webhook_total[5m])) > 0`, true},
		{`max(aftermath_queue_dead_letter) > 0`, true},
		{`histogram_quantile(0.99, sum by (le) (rate(aftermath_processing_duration_seconds_bucket[5m])))`, false},
		{`rate(aftermath_processing_duration_seconds_total[5m])`, true},
		{`max(aftermath_queue_dead_letters) > 0`, false},
	} {
		if got := unknownMetrics(map[string]string{"A": tc.expr}, exported); (len(got) > 0) != tc.bad {
			t.Errorf("unknownMetrics(%q) = %v, want unknown: %v", tc.expr, got, tc.bad)
		}
	}
}

// envFile reads kustomize's NAME=value env file.
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: not NAME=value", path, i+1)
		}
		out[k] = v
	}
	return out
}

// manifestEnv is the environment a pod gets: the Deployment's env, the env
// ConfigMap (aftermath.env) and the Secret (its example's keys).
func manifestEnv(t *testing.T) (env map[string]string, from map[string]string) {
	t.Helper()
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct {
							Name  string `yaml:"name"`
							Value string `yaml:"value"`
						} `yaml:"env"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	readYAML(t, manifests+"deployment.yaml", &dep)
	var secret struct {
		StringData map[string]string `yaml:"stringData"`
	}
	readYAML(t, manifests+"secret.example.yaml", &secret)
	env, from = map[string]string{}, map[string]string{}
	add := func(src string, m map[string]string) {
		for k, v := range m {
			env[k], from[k] = v, src
		}
	}
	add("secret.example.yaml", secret.StringData)
	add("aftermath.env", envFile(t, manifests+"aftermath.env"))
	for _, c := range dep.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			add("deployment.yaml", map[string]string{e.Name: e.Value})
		}
	}
	return env, from
}

// unknownVars returns the names in env that aftermath does not read: not a
// configuration variable and not a Slack webhook variable the rules name.
func unknownVars(env map[string]string, known []string) []string {
	var out []string
	for name := range env {
		if !slices.Contains(known, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// TestManifestEnvironmentIsWhatServeReads checks every variable the manifests
// set against config.Vars and the rules' slack_webhook_env names, and that
// the whole environment, placeholders and all, passes serve's checks: an
// engineer who replaces the values gets a process that starts.
func TestManifestEnvironmentIsWhatServeReads(t *testing.T) {
	env, from := manifestEnv(t)
	rl, err := rules.LoadFile(manifests + "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	known := config.Vars()
	for _, n := range rl.Notify {
		if n.SlackWebhookEnv != "" {
			known = append(known, n.SlackWebhookEnv)
			if _, ok := env[n.SlackWebhookEnv]; !ok {
				t.Errorf("rules.yaml sends Slack messages through %s, which no manifest sets", n.SlackWebhookEnv)
			}
		}
	}
	for _, name := range unknownVars(env, known) {
		t.Errorf("%s sets %s, which aftermath does not read (a misspelling?)", from[name], name)
	}
	for _, must := range []string{"PAGERDUTY_WEBHOOK_SECRETS", "PAGERDUTY_API_TOKEN", "REDIS_URL", "AFTERMATH_ADMIN_TOKEN", "AFTERMATH_RULES"} {
		if _, ok := env[must]; !ok {
			t.Errorf("the manifests do not set %s", must)
		}
	}
	if from["REDIS_URL"] != "secret.example.yaml" || from["PAGERDUTY_API_TOKEN"] != "secret.example.yaml" {
		t.Error("REDIS_URL and PAGERDUTY_API_TOKEN hold secrets: they belong in the Secret")
	}
	cfg, err := config.Load(env)
	if err == nil {
		err = cfg.ValidateServe()
	}
	if err != nil {
		t.Errorf("the manifests' environment does not pass serve's checks: %v", err)
	}
	if cfg.RulesPath != "/etc/aftermath/rules/rules.yaml" {
		t.Errorf("AFTERMATH_RULES = %q", cfg.RulesPath)
	}

	// The check can fail.
	if got := unknownVars(map[string]string{"PAGERDUTY_WEBHOOK_SECRET": "x", "REDIS_URL": "x"}, known); !slices.Equal(got, []string{"PAGERDUTY_WEBHOOK_SECRET"}) {
		t.Errorf("unknownVars = %v, want the misspelt PAGERDUTY_WEBHOOK_SECRET", got)
	}
}
