// Package config reads aftermath's process settings from the environment and
// validates them before anything starts.
//
// Secrets are held in the Secret type, whose every printed form is redacted, so
// that a log line or an error that includes a Config never shows one.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/redis/go-redis/v9"
)

// The values of REDIS_MODE.
const (
	// RedisSingle is one Redis server: REDIS_URL is redis://[:password@]host:port/db.
	RedisSingle = "single"
	// RedisCluster is a Redis Cluster: REDIS_URL names one or more nodes,
	// redis://[:password@]host1:port?addr=host2:port&addr=host3:port.
	RedisCluster = "cluster"
	// RedisSentinel is a master found through Redis Sentinel: REDIS_URL names
	// the sentinels in the cluster form, REDIS_SENTINEL_MASTER the master.
	RedisSentinel = "sentinel"
)

// MinAdminTokenLen is the shortest AFTERMATH_ADMIN_TOKEN accepted: 32
// characters, what `openssl rand -hex 32` makes half of, so that guessing it
// is hopeless even without the failed-attempt lockout.
const MinAdminTokenLen = 32

// DefaultPagerDutyAPIURL is the REST API PagerDuty serves for every account.
const DefaultPagerDutyAPIURL = "https://api.pagerduty.com"

// Config is the validated process configuration. Field names follow the
// environment variables of design.md section 2.
type Config struct {
	ListenAddr  string
	RulesPath   string
	RedisURL    Secret // may carry a password; empty means embedded Redis
	RedisPrefix string
	// RedisMode is how REDIS_URL is read: RedisSingle, RedisCluster or
	// RedisSentinel.
	RedisMode string
	// RedisSentinelMaster is the master name the sentinels monitor
	// (RedisSentinel only).
	RedisSentinelMaster string

	WebhookSecrets []Secret

	PagerDutyAPIToken  Secret
	PagerDutyAPIURL    string
	PagerDutyFromEmail string

	JiraBaseURL string
	// JiraAPIURL is where REST calls go: JiraBaseURL, or Atlassian's API
	// gateway for scoped tokens (https://api.atlassian.com/ex/jira/{cloudId}).
	// Links people open always use JiraBaseURL.
	JiraAPIURL   string
	JiraEmail    string
	JiraAPIToken Secret
	JiraPAT      Secret
	// JiraWebhookSecret authenticates POST /webhooks/jira.
	JiraWebhookSecret Secret

	// AdminToken guards the admin API and the overview page: at least
	// MinAdminTokenLen characters, or empty (those routes off).
	AdminToken Secret
	// TrustedProxies are the proxies whose X-Forwarded-For hops are
	// believed when finding a request's client address; none: the socket's
	// peer is the client.
	TrustedProxies []netip.Prefix
	DryRun         bool
	// RetryHorizon is how long an event whose processing keeps failing for
	// reasons a retry can fix (5xx, 429, timeouts) is retried before it is
	// dead-lettered.
	RetryHorizon time.Duration

	// SMTP sends the notification mail; SMTP.Addr "" sends none.
	SMTP SMTP

	// Confluence is where the post-mortem page goes with page.target:
	// confluence (confluence.go); BaseURL "" when unset.
	Confluence Confluence
	// PublicURL is where people reach this deployment
	// (AFTERMATH_PUBLIC_URL, without a trailing slash): the managers'
	// digest links to its overview page. "" links nothing.
	PublicURL string
}

// SMTP is the mail relay of the notifications.
type SMTP struct {
	Addr     string // host:port
	Username string
	Password Secret
	From     string
	TLS      string // starttls, tls or none
}

// raw is what caarlos0/env reads: plain strings, so that every conversion and
// every message is ours and no message can echo a secret's value.
type raw struct {
	ListenAddr         string `env:"AFTERMATH_LISTEN_ADDR" envDefault:":8080"`
	RulesPath          string `env:"AFTERMATH_RULES"`
	RedisURL           string `env:"REDIS_URL"`
	RedisPrefix        string `env:"AFTERMATH_REDIS_PREFIX" envDefault:"aftermath"`
	RedisMode          string `env:"REDIS_MODE" envDefault:"single"`
	SentinelMaster     string `env:"REDIS_SENTINEL_MASTER"`
	WebhookSecrets     string `env:"PAGERDUTY_WEBHOOK_SECRETS"`
	PagerDutyAPIToken  string `env:"PAGERDUTY_API_TOKEN"`
	PagerDutyAPIURL    string `env:"PAGERDUTY_API_URL" envDefault:"https://api.pagerduty.com"`
	PagerDutyFromEmail string `env:"PAGERDUTY_FROM_EMAIL"`
	JiraBaseURL        string `env:"JIRA_BASE_URL"`
	JiraAPIURL         string `env:"JIRA_API_URL"`
	JiraEmail          string `env:"JIRA_EMAIL"`
	JiraAPIToken       string `env:"JIRA_API_TOKEN"`
	JiraPAT            string `env:"JIRA_PAT"`
	JiraWebhookSecret  string `env:"JIRA_WEBHOOK_SECRET"`
	AdminToken         string `env:"AFTERMATH_ADMIN_TOKEN"`
	TrustedProxies     string `env:"AFTERMATH_TRUSTED_PROXIES"`
	DryRun             string `env:"AFTERMATH_DRY_RUN" envDefault:"false"`
	RetryHorizon       string `env:"AFTERMATH_RETRY_HORIZON" envDefault:"48h"`
	SMTPAddr           string `env:"SMTP_ADDR"`
	SMTPUsername       string `env:"SMTP_USERNAME"`
	SMTPPassword       string `env:"SMTP_PASSWORD"`
	SMTPFrom           string `env:"SMTP_FROM"`
	SMTPTLS            string `env:"SMTP_TLS" envDefault:"starttls"`
	ConfluenceBaseURL  string `env:"CONFLUENCE_BASE_URL"`
	ConfluenceEmail    string `env:"CONFLUENCE_EMAIL"`
	ConfluenceAPIToken string `env:"CONFLUENCE_API_TOKEN"`
	ConfluencePAT      string `env:"CONFLUENCE_PAT"`
	PublicURL          string `env:"AFTERMATH_PUBLIC_URL"`
}

// VarError says which environment variable is wrong and how. Its message never
// contains the variable's value.
type VarError struct {
	Var     string
	Problem string
}

func (e *VarError) Error() string { return e.Var + ": " + e.Problem }

// Load reads the configuration from environ (os.Environ() form is not needed:
// a map of name to value) and checks the values every command relies on.
// Requirements of a single command, such as serve's webhook secrets, are
// checked by that command's own method (see ValidateServe).
func Load(environ map[string]string) (Config, error) {
	var r raw
	if err := env.ParseWithOptions(&r, env.Options{Environment: environ}); err != nil {
		// Only string fields exist, so parsing cannot fail on a value; keep the
		// error anyway rather than hide it.
		return Config{}, fmt.Errorf("read environment: %w", err)
	}

	var errs []error
	bad := func(name, problem string) { errs = append(errs, &VarError{Var: name, Problem: problem}) }

	c := Config{
		ListenAddr:         strings.TrimSpace(r.ListenAddr),
		RulesPath:          strings.TrimSpace(r.RulesPath),
		RedisURL:           Secret(strings.TrimSpace(r.RedisURL)),
		RedisPrefix:        strings.TrimSpace(r.RedisPrefix),
		WebhookSecrets:     splitSecrets(r.WebhookSecrets),
		PagerDutyAPIToken:  Secret(strings.TrimSpace(r.PagerDutyAPIToken)),
		PagerDutyAPIURL:    strings.TrimRight(strings.TrimSpace(r.PagerDutyAPIURL), "/"),
		PagerDutyFromEmail: strings.TrimSpace(r.PagerDutyFromEmail),
		JiraBaseURL:        strings.TrimRight(strings.TrimSpace(r.JiraBaseURL), "/"),
		JiraAPIURL:         strings.TrimRight(strings.TrimSpace(r.JiraAPIURL), "/"),
		JiraEmail:          strings.TrimSpace(r.JiraEmail),
		JiraAPIToken:       Secret(strings.TrimSpace(r.JiraAPIToken)),
		JiraPAT:            Secret(strings.TrimSpace(r.JiraPAT)),
		JiraWebhookSecret:  Secret(strings.TrimSpace(r.JiraWebhookSecret)),
		AdminToken:         Secret(strings.TrimSpace(r.AdminToken)),
	}

	checkListenAddr(c.ListenAddr, bad)
	c.RedisMode, c.RedisSentinelMaster = redisOf(r, c.RedisURL, bad)
	checkRedisPrefix(c.RedisPrefix, bad)
	checkPagerDuty(c, r.WebhookSecrets, bad)
	checkJira(c, bad)
	c.DryRun = dryRunOf(r.DryRun, bad)
	checkSecretLengths(c, bad)
	var err error
	if c.TrustedProxies, err = trustedProxies(r.TrustedProxies); err != nil {
		bad("AFTERMATH_TRUSTED_PROXIES", err.Error())
	}
	c.RetryHorizon, err = retryHorizon(r.RetryHorizon)
	if err != nil {
		bad("AFTERMATH_RETRY_HORIZON", err.Error())
	}
	c.SMTP = smtpOf(r, bad)
	c.Confluence = confluenceOf(r, c, bad)
	if c.PublicURL = strings.TrimRight(strings.TrimSpace(r.PublicURL), "/"); c.PublicURL != "" {
		if err := checkHTTPURL(c.PublicURL); err != nil {
			bad("AFTERMATH_PUBLIC_URL", err.Error())
		}
	}
	return c, errors.Join(errs...)
}

// checkListenAddr checks AFTERMATH_LISTEN_ADDR: host:port, the port a
// number (0: any free port).
func checkListenAddr(addr string, bad func(name, problem string)) {
	if _, port, err := net.SplitHostPort(addr); err != nil {
		bad("AFTERMATH_LISTEN_ADDR", fmt.Sprintf("%q is not host:port (for example :8080 or 127.0.0.1:8080)", addr))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("AFTERMATH_LISTEN_ADDR", fmt.Sprintf("port %q is not a number from 0 to 65535", port))
	}
}

// checkRedisPrefix checks AFTERMATH_REDIS_PREFIX: every key starts with
// it, so it must not be empty nor hold what a key pattern or a hash tag
// would read.
func checkRedisPrefix(prefix string, bad func(name, problem string)) {
	if prefix == "" {
		bad("AFTERMATH_REDIS_PREFIX", "must not be empty")
	} else if strings.ContainsAny(prefix, " \t\r\n{}*?[]") {
		bad("AFTERMATH_REDIS_PREFIX", fmt.Sprintf("%q must not contain white space, braces or glob characters", prefix))
	}
}

// checkPagerDuty checks the PagerDuty variables: the signing secrets as
// written (rawSecrets), the API URL and the From email.
func checkPagerDuty(c Config, rawSecrets string, bad func(name, problem string)) {
	if rawSecrets != "" && len(c.WebhookSecrets) == 0 {
		bad("PAGERDUTY_WEBHOOK_SECRETS", "holds only commas and spaces; give at least one signing secret")
	}
	if err := checkHTTPURL(c.PagerDutyAPIURL); err != nil {
		bad("PAGERDUTY_API_URL", err.Error())
	}
	if c.PagerDutyFromEmail != "" && !looksLikeEmail(c.PagerDutyFromEmail) {
		bad("PAGERDUTY_FROM_EMAIL", fmt.Sprintf("%q is not an email address", c.PagerDutyFromEmail))
	}
}

// checkJira checks the Jira variables together: the site, the API URL and
// one way of signing in, Cloud's or Data Center's.
func checkJira(c Config, bad func(name, problem string)) {
	if c.JiraBaseURL != "" {
		if err := checkHTTPURL(c.JiraBaseURL); err != nil {
			bad("JIRA_BASE_URL", err.Error())
		} else if c.JiraPAT == "" && c.JiraEmail == "" && c.JiraAPIToken == "" {
			bad("JIRA_BASE_URL", "set, but no credentials: set JIRA_EMAIL and JIRA_API_TOKEN (Jira Cloud) or JIRA_PAT (Data Center)")
		}
	}
	if c.JiraAPIURL != "" {
		switch err := checkHTTPURL(c.JiraAPIURL); {
		case err != nil:
			bad("JIRA_API_URL", err.Error())
		case c.JiraBaseURL == "":
			bad("JIRA_API_URL", "set without JIRA_BASE_URL: set JIRA_BASE_URL to the site people browse (https://<site>.atlassian.net)")
		case c.JiraPAT != "":
			bad("JIRA_API_URL", "only for Jira Cloud's scoped API tokens (JIRA_EMAIL with JIRA_API_TOKEN); Data Center (JIRA_PAT) is called at JIRA_BASE_URL")
		}
	}
	if c.JiraEmail != "" && !looksLikeEmail(c.JiraEmail) {
		bad("JIRA_EMAIL", fmt.Sprintf("%q is not an email address", c.JiraEmail))
	}
	if c.JiraPAT != "" && (c.JiraEmail != "" || c.JiraAPIToken != "") {
		bad("JIRA_PAT", "set either JIRA_PAT (Data Center) or JIRA_EMAIL with JIRA_API_TOKEN (Cloud), not both")
	} else if (c.JiraEmail == "") != (c.JiraAPIToken == "") {
		if c.JiraEmail == "" {
			bad("JIRA_EMAIL", "required when JIRA_API_TOKEN is set (Jira Cloud signs in with email and API token)")
		} else {
			bad("JIRA_API_TOKEN", "required when JIRA_EMAIL is set (Jira Cloud signs in with email and API token)")
		}
	}
}

// dryRunOf reads AFTERMATH_DRY_RUN.
func dryRunOf(s string, bad func(name, problem string)) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "0", "no":
	case "true", "1", "yes":
		return true
	default:
		bad("AFTERMATH_DRY_RUN", fmt.Sprintf("%q is not true or false", s))
	}
	return false
}

// checkSecretLengths refuses secrets too short to guard anything; the
// messages give the length, never the value.
func checkSecretLengths(c Config, bad func(name, problem string)) {
	if n := len(c.JiraWebhookSecret); n > 0 && n < 16 {
		bad("JIRA_WEBHOOK_SECRET", fmt.Sprintf("%d characters is too short to be a secret: use at least 16 (e.g. openssl rand -hex 24)", n))
	}
	if n := len(c.AdminToken); n > 0 && n < MinAdminTokenLen {
		bad("AFTERMATH_ADMIN_TOKEN", fmt.Sprintf("too short (%d characters) to guard the admin API: use at least %d characters; make one with: openssl rand -hex 32", n, MinAdminTokenLen))
	}
}

// redisOf checks REDIS_MODE, REDIS_URL in the form of that mode and
// REDIS_SENTINEL_MASTER. go-redis's parse errors can quote the URL, password
// included: the messages say only which part is wrong.
func redisOf(r raw, u Secret, bad func(name, problem string)) (mode, master string) {
	mode = strings.ToLower(strings.TrimSpace(r.RedisMode))
	master = strings.TrimSpace(r.SentinelMaster)
	const hidden = " (the value is not shown: it may hold a password)"
	switch mode {
	case "", RedisSingle:
		mode = RedisSingle
		if u == "" {
			break
		}
		if _, err := redis.ParseURL(u.Reveal()); err != nil {
			hint := ""
			if pu, perr := url.Parse(u.Reveal()); perr == nil && pu.Query().Has("addr") {
				hint = "; it lists more addresses (addr=): set REDIS_MODE=cluster or REDIS_MODE=sentinel"
			}
			bad("REDIS_URL", "not a valid redis:// or rediss:// URL"+hint+hidden)
		}
	case RedisCluster:
		if u == "" {
			bad("REDIS_MODE", "cluster needs REDIS_URL: without it aftermath runs an embedded single Redis")
			break
		}
		if _, err := redis.ParseClusterURL(u.Reveal()); err != nil {
			bad("REDIS_URL", "not a valid Redis Cluster URL such as redis://host1:6379?addr=host2:6379&addr=host3:6379"+hidden)
		} else if pu, _ := url.Parse(u.Reveal()); strings.Trim(pu.Path, "/") != "" && strings.Trim(pu.Path, "/") != "0" {
			bad("REDIS_URL", "names a database other than 0, but Redis Cluster has only database 0"+hidden)
		}
	case RedisSentinel:
		if u == "" {
			bad("REDIS_MODE", "sentinel needs REDIS_URL (the sentinels' addresses): without it aftermath runs an embedded single Redis")
		} else if o, err := redis.ParseFailoverURL(u.Reveal()); err != nil {
			bad("REDIS_URL", "not a valid Sentinel URL such as redis://sentinel1:26379/0?addr=sentinel2:26379&addr=sentinel3:26379"+hidden)
		} else if o.MasterName != "" && master != "" && o.MasterName != master {
			bad("REDIS_URL", fmt.Sprintf("its master_name differs from REDIS_SENTINEL_MASTER %q: give the master name once, in REDIS_SENTINEL_MASTER", master))
		}
		if master == "" {
			bad("REDIS_SENTINEL_MASTER", "required when REDIS_MODE=sentinel: the master name the sentinels monitor (the name in `sentinel monitor <name> ...`)")
		}
	default:
		bad("REDIS_MODE", fmt.Sprintf("%q is not single, cluster or sentinel", r.RedisMode))
		return mode, master
	}
	if master != "" && mode != RedisSentinel {
		bad("REDIS_SENTINEL_MASTER", fmt.Sprintf("set, but REDIS_MODE is %q: it is only read with REDIS_MODE=sentinel", mode))
	}
	return mode, master
}

// smtpOf reads the SMTP_* variables. Without SMTP_ADDR no mail is sent, and
// the others must then be unset too (a half-configured relay is a mistake).
func smtpOf(r raw, bad func(name, problem string)) SMTP {
	s := SMTP{
		Addr: strings.TrimSpace(r.SMTPAddr), Username: strings.TrimSpace(r.SMTPUsername),
		Password: Secret(r.SMTPPassword), From: strings.TrimSpace(r.SMTPFrom),
		TLS: strings.ToLower(strings.TrimSpace(r.SMTPTLS)),
	}
	if s.Addr == "" {
		if s.Username != "" || s.Password != "" || s.From != "" {
			bad("SMTP_ADDR", "required when SMTP_USERNAME, SMTP_PASSWORD or SMTP_FROM is set (host:port of the mail relay, e.g. smtp.example.com:587)")
		}
		return s
	}
	if host, port, err := net.SplitHostPort(s.Addr); err != nil || host == "" {
		bad("SMTP_ADDR", fmt.Sprintf("%q is not host:port (for example smtp.example.com:587)", s.Addr))
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		bad("SMTP_ADDR", fmt.Sprintf("port %q is not a number from 1 to 65535", port))
	}
	switch s.From {
	case "":
		bad("SMTP_FROM", "required when SMTP_ADDR is set: the sender address of the notifications")
	default:
		if !looksLikeEmail(s.From) {
			bad("SMTP_FROM", fmt.Sprintf("%q is not an email address", s.From))
		}
	}
	switch s.TLS {
	case "", "starttls":
		s.TLS = "starttls"
	case "tls", "none":
	default:
		bad("SMTP_TLS", fmt.Sprintf("%q is not starttls, tls or none", r.SMTPTLS))
	}
	if (s.Username == "") != (s.Password == "") {
		if s.Username == "" {
			bad("SMTP_USERNAME", "required when SMTP_PASSWORD is set")
		} else {
			bad("SMTP_PASSWORD", "required when SMTP_USERNAME is set")
		}
	}
	return s
}

// trustedProxies reads AFTERMATH_TRUSTED_PROXIES: comma-separated CIDRs
// (10.0.0.0/8) or single addresses (192.0.2.10, 2001:db8::7). A range that
// holds every address is refused: believing X-Forwarded-For from anyone lets
// any client choose its address, and so dodge the admin lockout.
func trustedProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []string
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(part, "/") {
			pp, err := netip.ParsePrefix(part)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%q is not a CIDR such as 10.0.0.0/8 or fd00::/8", part))
				continue
			}
			p = pp.Masked()
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
		} else {
			a, err := netip.ParseAddr(part)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%q is not an IP address or a CIDR (for example 192.0.2.10 or 10.0.0.0/8)", part))
				continue
			}
			a = a.WithZone("").Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Bits() == 0 {
			errs = append(errs, fmt.Sprintf("%q trusts every address, so any client could choose its own: name your proxies' addresses or ranges", part))
			continue
		}
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}

// retryHorizon reads AFTERMATH_RETRY_HORIZON: a Go duration of a minute or
// more (PagerDuty itself retries a webhook for 48 hours).
func retryHorizon(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration such as 48h or 90m", v)
	case d < time.Minute:
		return 0, fmt.Errorf("%s is shorter than a minute: a Jira or PagerDuty outage of a few minutes would dead-letter events", d)
	}
	return d, nil
}

// ValidateServe checks what `aftermath serve` needs beyond Load's checks.
func (c Config) ValidateServe() error {
	if len(c.WebhookSecrets) == 0 {
		return &VarError{Var: "PAGERDUTY_WEBHOOK_SECRETS", Problem: "required by serve: the comma-separated signing secrets of your PagerDuty webhook subscriptions"}
	}
	return nil
}

// VarErrors flattens an error returned by Load or ValidateServe into its
// per-variable problems, in the order they were found.
func VarErrors(err error) []*VarError {
	var out []*VarError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var ve *VarError
		if errors.As(e, &ve) {
			out = append(out, ve)
		}
	}
	walk(err)
	return out
}

func splitSecrets(s string) []Secret {
	var out []Secret
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, Secret(p))
		}
	}
	return out
}

// checkHTTPURL checks an API base URL. A value that may hold credentials
// (anything with an @) is never quoted back.
func checkHTTPURL(s string) error {
	if strings.Contains(s, "@") {
		return errors.New("must not carry credentials in the URL (the value is not shown); use the token variables")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%q is not an http:// or https:// URL", s)
	}
	return nil
}

func looksLikeEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t<>")
}
