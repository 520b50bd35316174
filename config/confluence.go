package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Confluence is the Confluence site the post-mortem pages go to when the
// rules say page.target: confluence.
type Confluence struct {
	// BaseURL is the site people browse (https://<site>.atlassian.net/wiki
	// on Cloud, the server on Data Center); "" when Confluence is not set.
	BaseURL string
	// Cloud: an account's email and API token.
	Email    string
	APIToken Secret
	// Data Center: a personal access token, instead.
	PAT Secret
	// FromJira is true when Email and APIToken are Jira Cloud's, reused
	// because CONFLUENCE_BASE_URL is on the Jira site and no Confluence
	// credentials were given (one Atlassian account's token works for
	// both products of a site).
	FromJira bool
}

// Configured reports whether Confluence is set up.
func (c Confluence) Configured() bool { return c.BaseURL != "" }

// confluenceOf reads and checks the Confluence variables. Jira Cloud's
// email and token are reused when CONFLUENCE_BASE_URL is on the same host
// as JIRA_BASE_URL and no Confluence credentials are set; a Jira Data
// Center PAT never is (Data Center tokens belong to one server).
func confluenceOf(r raw, c Config, bad func(name, problem string)) Confluence {
	cf := Confluence{
		BaseURL:  strings.TrimRight(strings.TrimSpace(r.ConfluenceBaseURL), "/"),
		Email:    strings.TrimSpace(r.ConfluenceEmail),
		APIToken: Secret(strings.TrimSpace(r.ConfluenceAPIToken)),
		PAT:      Secret(strings.TrimSpace(r.ConfluencePAT)),
	}
	anyCredential := cf.Email != "" || cf.APIToken != "" || cf.PAT != ""
	if cf.BaseURL == "" {
		if anyCredential {
			bad("CONFLUENCE_BASE_URL", "required when CONFLUENCE_EMAIL, CONFLUENCE_API_TOKEN or CONFLUENCE_PAT is set: the Confluence site, e.g. https://example.atlassian.net/wiki")
		}
		return cf
	}
	if err := checkHTTPURL(cf.BaseURL); err != nil {
		bad("CONFLUENCE_BASE_URL", err.Error())
		return cf
	}
	switch {
	case cf.PAT != "" && (cf.Email != "" || cf.APIToken != ""):
		bad("CONFLUENCE_PAT", "set either CONFLUENCE_PAT (Data Center) or CONFLUENCE_EMAIL with CONFLUENCE_API_TOKEN (Cloud), not both")
	case cf.Email != "" && cf.APIToken == "":
		bad("CONFLUENCE_API_TOKEN", "required when CONFLUENCE_EMAIL is set (Confluence Cloud signs in with email and API token)")
	case cf.APIToken != "" && cf.Email == "":
		bad("CONFLUENCE_EMAIL", "required when CONFLUENCE_API_TOKEN is set (Confluence Cloud signs in with email and API token)")
	case cf.Email != "" && !looksLikeEmail(cf.Email):
		bad("CONFLUENCE_EMAIL", fmt.Sprintf("%q is not an email address", cf.Email))
	case !anyCredential && sameSite(cf.BaseURL, c.JiraBaseURL) && c.JiraEmail != "" && c.JiraAPIToken != "":
		cf.Email, cf.APIToken, cf.FromJira = c.JiraEmail, c.JiraAPIToken, true
	case !anyCredential:
		bad("CONFLUENCE_BASE_URL", "set, but no credentials: set CONFLUENCE_EMAIL and CONFLUENCE_API_TOKEN (Cloud) or CONFLUENCE_PAT (Data Center); on the Jira Cloud site (the host of JIRA_BASE_URL) JIRA_EMAIL and JIRA_API_TOKEN are reused")
	}
	return cf
}

// sameSite reports whether two site URLs are on one host.
func sameSite(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return errors.Join(err1, err2) == nil && ua.Host != "" && strings.EqualFold(ua.Host, ub.Host)
}

// CheckConfluence says what is missing when the rules put the post-mortem
// page in Confluence (page.target: confluence) and Confluence is not set:
// the process would make epics pointing at pages it cannot write.
func (c Config) CheckConfluence(pageTarget string) error {
	if pageTarget != "confluence" || c.Confluence.Configured() {
		return nil
	}
	return &VarError{Var: "CONFLUENCE_BASE_URL", Problem: "the rules say page.target: confluence, but Confluence is not set: set CONFLUENCE_BASE_URL with CONFLUENCE_EMAIL and CONFLUENCE_API_TOKEN (Cloud; on the Jira Cloud site Jira's are reused) or CONFLUENCE_PAT (Data Center), or set page.target: jira"}
}
