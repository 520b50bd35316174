package commands

import (
	"testing"

	"github.com/aftermath-dev/aftermath/config"
	"github.com/aftermath-dev/aftermath/integrations/pagerduty/pagerdutytest"
)

// pagerDuty starts a PagerDuty simulator holding the incident of the signed
// webhook samples (resolved, P1: a SEV-1 under the built-in rules) and
// returns the environment that points aftermath at it.
func pagerDuty(t *testing.T) (*pagerdutytest.Server, map[string]string) {
	t.Helper()
	sim := pagerdutytest.New(t)
	sim.SeedWebhookSample("aftermath@example.com")
	return sim, map[string]string{
		"PAGERDUTY_API_URL":    sim.URL(),
		"PAGERDUTY_API_TOKEN":  sim.Token(),
		"PAGERDUTY_FROM_EMAIL": "aftermath@example.com",
	}
}

// with merges environments; later ones win.
func with(envs ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, env := range envs {
		for k, v := range env {
			out[k] = v
		}
	}
	return out
}

func loadConfig(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	c, err := config.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
