package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestLoadConfluence(t *testing.T) {
	const (
		jiraToken = "ATATT-jira-token-reused-3f1c"
		cfToken   = "ATATT-confluence-token-9d2e"
		pat       = "confluence-pat-do-not-show-41"
	)
	jiraCloud := map[string]string{"JIRA_BASE_URL": "https://acme.atlassian.net", "JIRA_EMAIL": "bot@acme.com", "JIRA_API_TOKEN": jiraToken}
	with := func(base map[string]string, more map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	ok := []struct {
		name string
		env  map[string]string
		want Confluence
	}{
		{"unset", jiraCloud, Confluence{}},
		{"the Jira Cloud site: Jira's email and token reused", with(jiraCloud, map[string]string{"CONFLUENCE_BASE_URL": "https://ACME.atlassian.net/wiki/"}),
			Confluence{BaseURL: "https://ACME.atlassian.net/wiki", Email: "bot@acme.com", APIToken: jiraToken, FromJira: true}},
		{"own Cloud credentials win", with(jiraCloud, map[string]string{"CONFLUENCE_BASE_URL": "https://acme.atlassian.net/wiki", "CONFLUENCE_EMAIL": "wiki@acme.com", "CONFLUENCE_API_TOKEN": cfToken}),
			Confluence{BaseURL: "https://acme.atlassian.net/wiki", Email: "wiki@acme.com", APIToken: cfToken}},
		{"Data Center", map[string]string{"CONFLUENCE_BASE_URL": "https://wiki.acme.com", "CONFLUENCE_PAT": pat},
			Confluence{BaseURL: "https://wiki.acme.com", PAT: pat}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.env)
			if err != nil || c.Confluence != tc.want {
				t.Fatalf("got %+v, %v; want %+v", c.Confluence, err, tc.want)
			}
		})
	}
	bad := []struct {
		name     string
		env      map[string]string
		variable string
		problem  string
	}{
		{"another site, no credentials", with(jiraCloud, map[string]string{"CONFLUENCE_BASE_URL": "https://wiki.acme.com"}), "CONFLUENCE_BASE_URL", "no credentials"},
		{"Jira Data Center's PAT is not reused", map[string]string{"JIRA_BASE_URL": "https://jira.acme.com", "JIRA_PAT": "p", "CONFLUENCE_BASE_URL": "https://jira.acme.com/confluence"}, "CONFLUENCE_BASE_URL", "no credentials"},
		{"credentials without a site", map[string]string{"CONFLUENCE_PAT": pat}, "CONFLUENCE_BASE_URL", "required when"},
		{"both kinds", map[string]string{"CONFLUENCE_BASE_URL": "https://wiki.acme.com", "CONFLUENCE_PAT": pat, "CONFLUENCE_EMAIL": "a@acme.com", "CONFLUENCE_API_TOKEN": cfToken}, "CONFLUENCE_PAT", "not both"},
		{"email without token", map[string]string{"CONFLUENCE_BASE_URL": "https://acme.atlassian.net/wiki", "CONFLUENCE_EMAIL": "a@acme.com"}, "CONFLUENCE_API_TOKEN", "required when CONFLUENCE_EMAIL"},
		{"token without email", map[string]string{"CONFLUENCE_BASE_URL": "https://acme.atlassian.net/wiki", "CONFLUENCE_API_TOKEN": cfToken}, "CONFLUENCE_EMAIL", "required when CONFLUENCE_API_TOKEN"},
		{"not a URL", map[string]string{"CONFLUENCE_BASE_URL": "wiki.acme.com", "CONFLUENCE_PAT": pat}, "CONFLUENCE_BASE_URL", "not an http"},
		{"credentials in the URL", map[string]string{"CONFLUENCE_BASE_URL": "https://bot:" + cfToken + "@wiki.acme.com", "CONFLUENCE_PAT": pat}, "CONFLUENCE_BASE_URL", "must not carry credentials"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.env)
			ve := VarErrors(err)
			if len(ve) != 1 || ve[0].Var != tc.variable || !strings.Contains(ve[0].Problem, tc.problem) {
				t.Fatalf("errors = %v; want one on %s saying %q", err, tc.variable, tc.problem)
			}
			for _, s := range []string{cfToken, pat, jiraToken} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("a secret in the error: %v", err)
				}
			}
		})
	}

	// The credentials, reused or not, never show when the configuration is
	// logged, marshalled or printed.
	for _, env := range []map[string]string{
		with(jiraCloud, map[string]string{"CONFLUENCE_BASE_URL": "https://acme.atlassian.net/wiki"}),
		{"CONFLUENCE_BASE_URL": "https://wiki.acme.com", "CONFLUENCE_PAT": pat},
		with(jiraCloud, map[string]string{"CONFLUENCE_BASE_URL": "https://acme.atlassian.net/wiki", "CONFLUENCE_EMAIL": "wiki@acme.com", "CONFLUENCE_API_TOKEN": cfToken}),
	} {
		c, err := Load(env)
		if err != nil {
			t.Fatal(err)
		}
		var logs strings.Builder
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "config", c, "confluence", c.Confluence)
		js, _ := json.Marshal(c)
		out := logs.String() + string(js) + fmt.Sprintf("%v %+v %#v", c, c.Confluence, c.Confluence)
		for _, s := range []string{cfToken, pat, jiraToken} {
			if strings.Contains(out, s) {
				t.Fatalf("secret %q shown:\n%s", s, out)
			}
		}
		if !strings.Contains(out, "[redacted]") {
			t.Fatalf("no redaction marker in:\n%s", out)
		}
	}
}

func TestCheckConfluence(t *testing.T) {
	c, _ := Load(map[string]string{})
	if err := c.CheckConfluence("jira"); err != nil {
		t.Fatalf("page in the epic: %v", err)
	}
	err := c.CheckConfluence("confluence")
	ve := VarErrors(err)
	if len(ve) != 1 || ve[0].Var != "CONFLUENCE_BASE_URL" || !strings.Contains(ve[0].Problem, "page.target: confluence") {
		t.Fatalf("page in Confluence without Confluence: %v", err)
	}
	c, _ = Load(map[string]string{"CONFLUENCE_BASE_URL": "https://wiki.acme.com", "CONFLUENCE_PAT": "p"})
	if err := c.CheckConfluence("confluence"); err != nil {
		t.Fatalf("configured: %v", err)
	}
}
