package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != ":8080" || c.RedisPrefix != "aftermath" || c.PagerDutyAPIURL != DefaultPagerDutyAPIURL ||
		c.RedisURL != "" || c.RulesPath != "" || c.DryRun || c.AdminToken != "" || len(c.WebhookSecrets) != 0 || c.RetryHorizon != 48*time.Hour {
		t.Fatalf("defaults = %#v", c)
	}
	if err := c.ValidateServe(); err == nil || !strings.HasPrefix(err.Error(), "PAGERDUTY_WEBHOOK_SECRETS: required by serve") {
		t.Fatalf("serve without secrets: %v", err)
	}
}

func TestLoadValues(t *testing.T) {
	c, err := Load(map[string]string{
		"AFTERMATH_LISTEN_ADDR":     "127.0.0.1:9000",
		"AFTERMATH_RULES":           "/etc/aftermath/rules.yaml",
		"REDIS_URL":                 "rediss://:pw@redis.internal:6380/2",
		"AFTERMATH_REDIS_PREFIX":    "am-prod",
		"PAGERDUTY_WEBHOOK_SECRETS": " old-secret , new-secret ,",
		"PAGERDUTY_API_TOKEN":       "pd-token",
		"PAGERDUTY_API_URL":         "https://api.eu.pagerduty.com/",
		"PAGERDUTY_FROM_EMAIL":      "aftermath@example.com",
		"JIRA_BASE_URL":             "https://example.atlassian.net",
		"JIRA_EMAIL":                "bot@example.com",
		"JIRA_API_TOKEN":            "jira-token",
		"AFTERMATH_ADMIN_TOKEN":     "admin-token-of-at-least-32-characters",
		"AFTERMATH_DRY_RUN":         "TRUE",
		"AFTERMATH_RETRY_HORIZON":   "72h",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateServe(); err != nil {
		t.Fatal(err)
	}
	if len(c.WebhookSecrets) != 2 || c.WebhookSecrets[0].Reveal() != "old-secret" || c.WebhookSecrets[1].Reveal() != "new-secret" {
		t.Fatalf("secrets = %v", c.WebhookSecrets)
	}
	if c.PagerDutyAPIURL != "https://api.eu.pagerduty.com" || !c.DryRun || c.RedisURL.Reveal() != "rediss://:pw@redis.internal:6380/2" || c.RetryHorizon != 72*time.Hour {
		t.Fatalf("config = %#v", c)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"AFTERMATH_LISTEN_ADDR": "8080"}, "AFTERMATH_LISTEN_ADDR: \"8080\" is not host:port"},
		{map[string]string{"AFTERMATH_LISTEN_ADDR": ":http-alt"}, "AFTERMATH_LISTEN_ADDR: port \"http-alt\" is not a number"},
		{map[string]string{"AFTERMATH_LISTEN_ADDR": ":70000"}, "AFTERMATH_LISTEN_ADDR: port \"70000\" is not a number from 0 to 65535"},
		{map[string]string{"REDIS_URL": "localhost:6379"}, "REDIS_URL: not a valid redis:// or rediss:// URL"},
		{map[string]string{"REDIS_URL": "redis://a:6379?addr=b:6379"}, "REDIS_URL: not a valid redis:// or rediss:// URL; it lists more addresses (addr=): set REDIS_MODE=cluster or REDIS_MODE=sentinel"},
		{map[string]string{"REDIS_MODE": "replicated", "REDIS_URL": "redis://a:6379"}, "REDIS_MODE: \"replicated\" is not single, cluster or sentinel"},
		{map[string]string{"REDIS_MODE": "cluster"}, "REDIS_MODE: cluster needs REDIS_URL"},
		{map[string]string{"REDIS_MODE": "sentinel", "REDIS_SENTINEL_MASTER": "mymaster"}, "REDIS_MODE: sentinel needs REDIS_URL"},
		{map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": "redis://a:6379?addr=b"}, "REDIS_URL: not a valid Redis Cluster URL such as redis://host1:6379?addr=host2:6379&addr=host3:6379"},
		{map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": "redis://a:6379/2?addr=b:6379"}, "REDIS_URL: names a database other than 0, but Redis Cluster has only database 0"},
		{map[string]string{"REDIS_MODE": "sentinel", "REDIS_URL": "redis://s1:26379?addr=s2", "REDIS_SENTINEL_MASTER": "mymaster"}, "REDIS_URL: not a valid Sentinel URL"},
		{map[string]string{"REDIS_MODE": "sentinel", "REDIS_URL": "redis://s1:26379?master_name=other", "REDIS_SENTINEL_MASTER": "mymaster"}, "REDIS_URL: its master_name differs from REDIS_SENTINEL_MASTER \"mymaster\""},
		{map[string]string{"REDIS_MODE": "sentinel", "REDIS_URL": "redis://s1:26379?addr=s2:26379"}, "REDIS_SENTINEL_MASTER: required when REDIS_MODE=sentinel"},
		{map[string]string{"REDIS_URL": "redis://a:6379", "REDIS_SENTINEL_MASTER": "mymaster"}, "REDIS_SENTINEL_MASTER: set, but REDIS_MODE is \"single\""},
		{map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": "redis://a:6379", "REDIS_SENTINEL_MASTER": "mymaster"}, "REDIS_SENTINEL_MASTER: set, but REDIS_MODE is \"cluster\""},
		{map[string]string{"AFTERMATH_REDIS_PREFIX": " "}, "AFTERMATH_REDIS_PREFIX: must not be empty"},
		{map[string]string{"AFTERMATH_REDIS_PREFIX": "a{b}"}, "AFTERMATH_REDIS_PREFIX: \"a{b}\" must not contain"},
		{map[string]string{"PAGERDUTY_WEBHOOK_SECRETS": " , ,"}, "PAGERDUTY_WEBHOOK_SECRETS: holds only commas and spaces"},
		{map[string]string{"PAGERDUTY_API_URL": "api.pagerduty.com"}, "PAGERDUTY_API_URL: \"api.pagerduty.com\" is not an http:// or https:// URL"},
		{map[string]string{"PAGERDUTY_API_URL": "https://u:p@api.pagerduty.com"}, "PAGERDUTY_API_URL: must not carry credentials"},
		{map[string]string{"PAGERDUTY_FROM_EMAIL": "aftermath"}, "PAGERDUTY_FROM_EMAIL: \"aftermath\" is not an email address"},
		{map[string]string{"JIRA_BASE_URL": "ftp://jira"}, "JIRA_BASE_URL: \"ftp://jira\" is not an http:// or https:// URL"},
		{map[string]string{"JIRA_EMAIL": "bot@example.com"}, "JIRA_API_TOKEN: required when JIRA_EMAIL is set"},
		{map[string]string{"JIRA_API_TOKEN": "t"}, "JIRA_EMAIL: required when JIRA_API_TOKEN is set"},
		{map[string]string{"JIRA_PAT": "p", "JIRA_EMAIL": "a@b.c", "JIRA_API_TOKEN": "t"}, "JIRA_PAT: set either JIRA_PAT"},
		{map[string]string{"AFTERMATH_DRY_RUN": "maybe"}, "AFTERMATH_DRY_RUN: \"maybe\" is not true or false"},
		{map[string]string{"AFTERMATH_RETRY_HORIZON": "two days"}, "AFTERMATH_RETRY_HORIZON: \"two days\" is not a duration such as 48h or 90m"},
		{map[string]string{"AFTERMATH_RETRY_HORIZON": "30s"}, "AFTERMATH_RETRY_HORIZON: 30s is shorter than a minute"},
		{map[string]string{"JIRA_WEBHOOK_SECRET": "hunter2"}, "JIRA_WEBHOOK_SECRET: 7 characters is too short to be a secret"},
		{map[string]string{"AFTERMATH_ADMIN_TOKEN": "a"}, "AFTERMATH_ADMIN_TOKEN: too short (1 characters) to guard the admin API: use at least 32 characters; make one with: openssl rand -hex 32"},
		{map[string]string{"AFTERMATH_TRUSTED_PROXIES": "10.0.0.0/8, 10.0.0.300"}, `AFTERMATH_TRUSTED_PROXIES: "10.0.0.300" is not an IP address or a CIDR`},
		{map[string]string{"SMTP_FROM": "pm@example.com"}, "SMTP_ADDR: required when SMTP_USERNAME, SMTP_PASSWORD or SMTP_FROM is set"},
		{map[string]string{"SMTP_ADDR": "smtp.example.com", "SMTP_FROM": "pm@example.com"}, "SMTP_ADDR: \"smtp.example.com\" is not host:port"},
		{map[string]string{"SMTP_ADDR": "smtp.example.com:smtp", "SMTP_FROM": "pm@example.com"}, "SMTP_ADDR: port \"smtp\" is not a number"},
		{map[string]string{"SMTP_ADDR": "smtp.example.com:587"}, "SMTP_FROM: required when SMTP_ADDR is set"},
		{map[string]string{"SMTP_ADDR": "smtp.example.com:587", "SMTP_FROM": "pm"}, "SMTP_FROM: \"pm\" is not an email address"},
		{map[string]string{"SMTP_ADDR": "smtp.example.com:587", "SMTP_FROM": "pm@example.com", "SMTP_TLS": "ssl"}, "SMTP_TLS: \"ssl\" is not starttls, tls or none"},
		{map[string]string{"SMTP_ADDR": "smtp.example.com:587", "SMTP_FROM": "pm@example.com", "SMTP_USERNAME": "bot"}, "SMTP_PASSWORD: required when SMTP_USERNAME is set"},
		{map[string]string{"SMTP_ADDR": "smtp.example.com:587", "SMTP_FROM": "pm@example.com", "SMTP_PASSWORD": "pw"}, "SMTP_USERNAME: required when SMTP_PASSWORD is set"},
	}
	for _, tc := range cases {
		t.Run(tc.want[:strings.IndexByte(tc.want, ':')], func(t *testing.T) {
			_, err := Load(tc.env)
			ves := VarErrors(err)
			if len(ves) != 1 {
				t.Fatalf("got %d problems (%v), want 1", len(ves), err)
			}
			if got := ves[0].Error(); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got %q, want it to start with %q", got, tc.want)
			}
			if strings.Contains(ves[0].Error(), "\n") {
				t.Fatalf("a problem must fit on one line: %q", ves[0])
			}
		})
	}
}

// An admin token short enough to guess stops the start, with how to make a
// good one; the value itself is never shown.
func TestAdminTokenMustBeLongEnough(t *testing.T) {
	for _, tok := range []string{"a", "devtoken", "admin-token-for-tests", strings.Repeat("x", 31)} {
		_, err := Load(map[string]string{"AFTERMATH_ADMIN_TOKEN": tok})
		ve := VarErrors(err)
		if len(ve) != 1 || ve[0].Var != "AFTERMATH_ADMIN_TOKEN" || !strings.Contains(ve[0].Problem, "at least 32") ||
			!strings.Contains(ve[0].Problem, "openssl rand -hex 32") {
			t.Fatalf("AFTERMATH_ADMIN_TOKEN of %d characters: %v, want refused with how to make one", len(tok), err)
		}
		if len(tok) > 1 && strings.Contains(err.Error(), tok) {
			t.Fatalf("the error shows the token: %v", err)
		}
	}
	for _, tok := range []string{"", strings.Repeat("x", 32), "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"} {
		if c, err := Load(map[string]string{"AFTERMATH_ADMIN_TOKEN": tok}); err != nil || c.AdminToken.Reveal() != tok {
			t.Fatalf("AFTERMATH_ADMIN_TOKEN of %d characters: %v", len(tok), err)
		}
	}
}

// AFTERMATH_TRUSTED_PROXIES: CIDRs and single addresses, masked and
// unmapped; unset trusts no proxy; a bad entry or a range of every address
// is refused naming the variable and the entry.
func TestTrustedProxies(t *testing.T) {
	c, err := Load(map[string]string{})
	if err != nil || len(c.TrustedProxies) != 0 {
		t.Fatalf("unset: %v %v, want no trusted proxy", c.TrustedProxies, err)
	}
	c, err = Load(map[string]string{"AFTERMATH_TRUSTED_PROXIES": " 10.1.2.3/8 , 192.0.2.10,, 2001:db8::7, fe80::1%eth0, ::ffff:198.51.100.0/120 "})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.TrustedProxies {
		got = append(got, p.String())
	}
	if want := []string{"10.0.0.0/8", "192.0.2.10/32", "2001:db8::7/128", "fe80::1/128", "198.51.100.0/24"}; !slices.Equal(got, want) {
		t.Fatalf("trusted proxies %v, want %v", got, want)
	}
	for _, tc := range []struct{ value, want string }{
		{"proxy.internal", `"proxy.internal" is not an IP address or a CIDR`},
		{"10.0.0.0/33", `"10.0.0.0/33" is not a CIDR`},
		{"0.0.0.0/0", `"0.0.0.0/0" trusts every address`},
		{"10.0.0.1, ::/0", `"::/0" trusts every address`},
	} {
		_, err := Load(map[string]string{"AFTERMATH_TRUSTED_PROXIES": tc.value})
		ve := VarErrors(err)
		if len(ve) != 1 || ve[0].Var != "AFTERMATH_TRUSTED_PROXIES" || !strings.Contains(ve[0].Problem, tc.want) {
			t.Errorf("%q: %v, want AFTERMATH_TRUSTED_PROXIES: ...%s", tc.value, err, tc.want)
		}
	}
}

// Each mode reads REDIS_URL in its own form.
func TestLoadRedisModes(t *testing.T) {
	for _, tc := range []struct {
		env          map[string]string
		mode, master string
	}{
		{map[string]string{}, RedisSingle, ""},
		{map[string]string{"REDIS_URL": "redis://:pw@r:6379/1"}, RedisSingle, ""},
		{map[string]string{"REDIS_MODE": "Cluster", "REDIS_URL": "rediss://:pw@n1:6379?addr=n2:6379&addr=n3:6379"}, RedisCluster, ""},
		{map[string]string{"REDIS_MODE": "cluster", "REDIS_URL": "redis://n1:6379/0"}, RedisCluster, ""},
		{map[string]string{"REDIS_MODE": "sentinel", "REDIS_URL": "redis://s1:26379/2?addr=s2:26379&addr=s3:26379&password=pw", "REDIS_SENTINEL_MASTER": " mymaster "}, RedisSentinel, "mymaster"},
		{map[string]string{"REDIS_MODE": "sentinel", "REDIS_URL": "redis://s1:26379?master_name=mymaster", "REDIS_SENTINEL_MASTER": "mymaster"}, RedisSentinel, "mymaster"},
	} {
		c, err := Load(tc.env)
		if err != nil {
			t.Fatalf("%v: %v", tc.env["REDIS_MODE"], err)
		}
		if c.RedisMode != tc.mode || c.RedisSentinelMaster != tc.master {
			t.Errorf("%v: mode %q master %q, want %q %q", tc.env, c.RedisMode, c.RedisSentinelMaster, tc.mode, tc.master)
		}
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(map[string]string{"AFTERMATH_LISTEN_ADDR": "x", "AFTERMATH_DRY_RUN": "x", "REDIS_URL": "x"})
	var names []string
	for _, ve := range VarErrors(err) {
		names = append(names, ve.Var)
	}
	if got := strings.Join(names, ","); got != "AFTERMATH_LISTEN_ADDR,REDIS_URL,AFTERMATH_DRY_RUN" {
		t.Fatalf("problems = %s", got)
	}
}

// No secret value may appear in an error, a log line, fmt output or JSON.
func TestSecretsNeverShown(t *testing.T) {
	const (
		redisPW   = "redis-password-XYZZY"
		whSecret  = "webhook-secret-PLUGH"
		pdToken   = "pd-token-FROTZ"
		jiraToken = "jira-token-GNUSTO"
		admin     = "admin-token-REZROV-0123456789abcdef"
	)
	env := map[string]string{
		"REDIS_URL":                 "redis://:" + redisPW + "@127.0.0.1:6379/0",
		"PAGERDUTY_WEBHOOK_SECRETS": whSecret + ",second-" + whSecret,
		"PAGERDUTY_API_TOKEN":       pdToken,
		"JIRA_EMAIL":                "bot@example.com",
		"JIRA_API_TOKEN":            jiraToken,
		"AFTERMATH_ADMIN_TOKEN":     admin,
	}
	c, err := Load(env)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("config", "config", c, "token", c.PagerDutyAPIToken, "secrets", c.WebhookSecrets)
	log.Info("text", slog.Any("admin", c.AdminToken))
	js, _ := json.Marshal(c)
	out := strings.Join([]string{
		logs.String(), string(js),
		fmt.Sprintf("%v %+v %#v %s", c, c, c, c.JiraAPIToken),
	}, "\n")

	// URLs with credentials, well-formed or not, are refused without being echoed.
	for _, v := range []string{"JIRA_BASE_URL", "PAGERDUTY_API_URL"} {
		for _, u := range []string{"jira://bot:" + jiraToken + "@x", "https://bot:" + jiraToken + "@x/%zz", "https://bot:" + jiraToken + "@jira.example.com"} {
			_, err := Load(map[string]string{v: u})
			if err == nil {
				t.Fatalf("%s=%s was accepted", v, u)
			}
			out += "\n" + err.Error()
		}
	}

	// A malformed URL holding a password must not echo it either, in any
	// mode (a sentinel URL can carry the master's password as ?password=).
	for _, env := range []map[string]string{
		{"REDIS_URL": "redis://:" + redisPW + "@[::1"},
		{"REDIS_URL": "redis://:" + redisPW + "@a:6379?addr=b:6379"},
		{"REDIS_MODE": "cluster", "REDIS_URL": "redis://:" + redisPW + "@a:6379?addr=" + redisPW},
		{"REDIS_MODE": "cluster", "REDIS_URL": "redis://:" + redisPW + "@a:6379/3"},
		{"REDIS_MODE": "sentinel", "REDIS_URL": "redis://s:26379?password=" + redisPW + "&addr=" + redisPW, "REDIS_SENTINEL_MASTER": "m"},
	} {
		if _, err = Load(env); err == nil {
			t.Fatalf("a malformed REDIS_URL must fail (mode %q)", env["REDIS_MODE"])
		}
		out += "\n" + err.Error()
	}

	for _, s := range []string{redisPW, whSecret, pdToken, jiraToken, admin} {
		if strings.Contains(out, s) {
			t.Errorf("secret %q appears in output:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "[redacted]") {
		t.Fatalf("expected redaction markers in:\n%s", out)
	}
	if Secret("").String() != "" {
		t.Fatal("an empty secret prints as empty")
	}
}

func TestJiraBaseURLNeedsCredentials(t *testing.T) {
	_, err := Load(map[string]string{"JIRA_BASE_URL": "https://acme.atlassian.net"})
	ve := VarErrors(err)
	if len(ve) != 1 || ve[0].Var != "JIRA_BASE_URL" || !strings.Contains(ve[0].Problem, "no credentials") {
		t.Fatalf("errors = %v", err)
	}
	for _, env := range []map[string]string{
		{"JIRA_BASE_URL": "https://acme.atlassian.net", "JIRA_EMAIL": "bot@acme.com", "JIRA_API_TOKEN": "t"},
		{"JIRA_BASE_URL": "https://jira.acme.com", "JIRA_PAT": "p"},
	} {
		if _, err := Load(env); err != nil {
			t.Fatalf("%v: %v", env, err)
		}
	}
}

func TestLoadSMTP(t *testing.T) {
	c, err := Load(map[string]string{})
	if err != nil || c.SMTP.Addr != "" || c.SMTP.TLS != "starttls" {
		t.Fatalf("unset: got %+v, %v; want no mail, starttls", c.SMTP, err)
	}
	const pw = "smtp-pw-do-not-show-7Qz"
	c, err = Load(map[string]string{"SMTP_ADDR": "smtp.example.com:465", "SMTP_FROM": "pm@example.com", "SMTP_TLS": "TLS",
		"SMTP_USERNAME": "bot", "SMTP_PASSWORD": pw})
	if err != nil {
		t.Fatal(err)
	}
	want := SMTP{Addr: "smtp.example.com:465", Username: "bot", Password: Secret(pw), From: "pm@example.com", TLS: "tls"}
	if c.SMTP != want {
		t.Fatalf("got %+v, want %+v", c.SMTP, want)
	}
	if s := fmt.Sprintf("%v %+v %#v", c, c, c.SMTP); strings.Contains(s, pw) {
		t.Fatalf("the SMTP password is printed: %s", s)
	}
}

// AFTERMATH_PUBLIC_URL is an http(s) URL, kept without its trailing
// slash; anything else is refused by name.
func TestPublicURL(t *testing.T) {
	c, err := Load(map[string]string{"AFTERMATH_PUBLIC_URL": " https://aftermath.example.com/ "})
	if err != nil || c.PublicURL != "https://aftermath.example.com" {
		t.Fatalf("got %q, %v", c.PublicURL, err)
	}
	for _, bad := range []string{"aftermath.example.com", "ftp://x", "https://user:pw@x.example.com"} {
		_, err := Load(map[string]string{"AFTERMATH_PUBLIC_URL": bad})
		var ve *VarError
		if !errors.As(err, &ve) || ve.Var != "AFTERMATH_PUBLIC_URL" || strings.Contains(err.Error(), "pw@") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestVarsListsWhatLoadReads(t *testing.T) {
	vars := Vars()
	for _, want := range []string{"AFTERMATH_LISTEN_ADDR", "AFTERMATH_RULES", "REDIS_URL", "PAGERDUTY_WEBHOOK_SECRETS", "JIRA_WEBHOOK_SECRET", "SMTP_TLS"} {
		if !slices.Contains(vars, want) {
			t.Errorf("Vars() = %v, missing %s", vars, want)
		}
	}
	// A bad value under a name Vars gives is reported under that name: the
	// names are the ones Load reads.
	for _, name := range []string{"AFTERMATH_LISTEN_ADDR", "AFTERMATH_RETRY_HORIZON", "AFTERMATH_REDIS_PREFIX", "AFTERMATH_DRY_RUN"} {
		_, err := Load(map[string]string{name: "not valid {}"})
		if errs := VarErrors(err); len(errs) == 0 || errs[0].Var != name {
			t.Errorf("Load with a bad %s: %v", name, err)
		}
	}
}

// TestReadmeDocumentsEveryVariable keeps the README's configuration table
// complete: every variable Load reads is named there.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(b), "## Configuration")
	table, _, _ = strings.Cut(table, "\n## ")
	for _, v := range Vars() {
		if !strings.Contains(table, "`"+v+"`") {
			t.Errorf("README.md's Configuration section does not name %s", v)
		}
	}
}

func TestJiraAPIURL(t *testing.T) {
	cloud := map[string]string{"JIRA_BASE_URL": "https://acme.atlassian.net", "JIRA_EMAIL": "bot@acme.com", "JIRA_API_TOKEN": "t"}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range cloud {
			env[k] = v
		}
		for k, v := range extra {
			if v == "" {
				delete(env, k)
			} else {
				env[k] = v
			}
		}
		return env
	}
	c, err := Load(with(map[string]string{"JIRA_API_URL": " https://api.atlassian.com/ex/jira/1a2b3c/ "}))
	if err != nil || c.JiraAPIURL != "https://api.atlassian.com/ex/jira/1a2b3c" || c.JiraBaseURL != "https://acme.atlassian.net" {
		t.Fatalf("got %q, %q, %v", c.JiraAPIURL, c.JiraBaseURL, err)
	}
	if c, err := Load(cloud); err != nil || c.JiraAPIURL != "" {
		t.Fatalf("unset: got %q, %v", c.JiraAPIURL, err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{with(map[string]string{"JIRA_API_URL": "api.atlassian.com/ex/jira/1"}), `"api.atlassian.com/ex/jira/1" is not an http:// or https:// URL`},
		{with(map[string]string{"JIRA_API_URL": "https://u:secret-pw@api.atlassian.com"}), "must not carry credentials"},
		{with(map[string]string{"JIRA_API_URL": "https://api.atlassian.com/ex/jira/1", "JIRA_EMAIL": "", "JIRA_API_TOKEN": "", "JIRA_PAT": "p"}), "only for Jira Cloud's scoped API tokens"},
		{map[string]string{"JIRA_API_URL": "https://api.atlassian.com/ex/jira/1"}, "set without JIRA_BASE_URL"},
	} {
		_, err := Load(tc.env)
		ve := VarErrors(err)
		if len(ve) != 1 || ve[0].Var != "JIRA_API_URL" || !strings.Contains(ve[0].Problem, tc.want) {
			t.Errorf("%v: errors = %v, want JIRA_API_URL: %s", tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("the error shows the URL's password: %v", err)
		}
	}
}
